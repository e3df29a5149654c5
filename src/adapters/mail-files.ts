// Finding messages on disk for `intake import`: .eml files, folders of them, Maildir folders and mbox files.
// An mbox is split into its messages by scanning for "From " separator lines; each message is then read as
// a byte range of the file, so a large mbox never sits in memory.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { ImportEntry } from '../domain.ts';

const FROM_ = Buffer.from('From ');
const PREFIX = 256;
// "From sender@example.org Tue Dec  8 10:00:00 2026": a body line "From the heart..." after an empty line,
// which mbox writers should have escaped but often did not, is not mistaken for a separator.
const FROM_LINE = /^From \S+ +.*\d{1,2}:\d{2}/;

function isFromLine(prefix: Buffer): boolean {
  return prefix.subarray(0, 5).equals(FROM_) && FROM_LINE.test(prefix.toString('latin1'));
}

async function startsWithFrom(file: string): Promise<boolean> {
  const fh = await fsp.open(file, 'r');
  try {
    const buf = Buffer.alloc(PREFIX);
    const { bytesRead } = await fh.read(buf, 0, PREFIX, 0);
    const first = buf.subarray(0, bytesRead);
    const nl = first.indexOf(0x0a);
    return isFromLine(nl >= 0 ? first.subarray(0, nl) : first);
  } finally {
    await fh.close();
  }
}

/**
 * Byte ranges [start, end) of the messages in an mbox. A separator is a line starting with "From " at the
 * start of the file or after an empty line; the separator line and the empty line before it are not part
 * of any message.
 */
export async function mboxRanges(file: string): Promise<Array<{ start: number; end: number }>> {
  const ranges: Array<{ start: number; end: number }> = [];
  let pos = 0; // absolute offset of the current chunk's first byte
  let lineStart = 0;
  let prefix = Buffer.alloc(0); // first bytes of the current line, up to PREFIX
  let prevLineLen = -1; // length of the previous line including its newline; -1 before the first line
  let prevEmpty = true;
  let msgStart = -1;

  const endLine = (nlPos: number) => {
    const len = nlPos + 1 - lineStart;
    const isSep = (lineStart === 0 || prevEmpty) && isFromLine(prefix);
    if (isSep) {
      if (msgStart >= 0) ranges.push({ start: msgStart, end: lineStart - (prevLineLen > 0 ? prevLineLen : 0) });
      msgStart = nlPos + 1;
    }
    prevEmpty = len === 1 || (len === 2 && prefix[0] === 0x0d);
    prevLineLen = len;
    lineStart = nlPos + 1;
    prefix = Buffer.alloc(0);
  };

  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    let i = 0;
    while (i < chunk.length) {
      if (prefix.length < PREFIX) {
        const take = Math.min(PREFIX - prefix.length, chunk.length - i);
        const slice = chunk.subarray(i, i + take);
        const nlInSlice = slice.indexOf(0x0a);
        if (nlInSlice >= 0) {
          prefix = Buffer.concat([prefix, slice.subarray(0, nlInSlice)]);
          endLine(pos + i + nlInSlice);
          i += nlInSlice + 1;
          continue;
        }
        prefix = Buffer.concat([prefix, slice]);
        i += take;
        continue;
      }
      const nl = chunk.indexOf(0x0a, i);
      if (nl < 0) {
        i = chunk.length;
        break;
      }
      endLine(pos + nl);
      i = nl + 1;
    }
    pos += chunk.length;
  }
  if (msgStart >= 0 && msgStart < pos) {
    // Trailing empty line after the last message belongs to the mbox format.
    ranges.push({ start: msgStart, end: prevEmpty && prevLineLen > 0 && lineStart === pos ? pos - prevLineLen : pos });
  }
  return ranges;
}

async function* walk(dir: string): AsyncGenerator<string> {
  const entries = (await fsp.readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
  const names = new Set(entries.map((e) => e.name));
  const isMaildir = names.has('cur') && names.has('new');
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (isMaildir && e.name === 'tmp') continue; // messages still being delivered
      yield* walk(p);
    } else if (e.isFile()) yield p;
  }
}

/** Expands the given paths into messages; mbox files become one entry per message. */
export async function findMessages(paths: string[]): Promise<ImportEntry[]> {
  const out: ImportEntry[] = [];
  for (const given of paths) {
    const abs = path.resolve(given);
    const st = await fsp.stat(abs);
    const files: string[] = [];
    if (st.isDirectory()) for await (const f of walk(abs)) files.push(f);
    else files.push(abs);
    for (const file of files) {
      const size = (await fsp.stat(file)).size;
      if (size >= 5 && (await startsWithFrom(file))) {
        const ranges = await mboxRanges(file);
        ranges.forEach((r, n) => {
          const source = `${file}#${n + 1}`;
          out.push({
            source,
            origin: source,
            size: r.end - r.start,
            range: { file, start: r.start, end: r.end },
          });
        });
      } else {
        out.push({ source: file, origin: file, size, range: { file, start: 0, end: size } });
      }
    }
  }
  return out;
}
