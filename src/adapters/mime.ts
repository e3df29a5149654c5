// mailparser's streaming MailParser, kept behind this file: nothing else sees mailparser's objects.
// Attachments are piped to files under generated names as they arrive (simpleParser would hold them all in
// memory), each with a byte cap and a sha256 computed on the way. Each attachment stream must be read to
// its end and released, or the parser stalls.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import type { AddressObject, EmailAddress } from 'mailparser';
import type { AddressEntry, HeaderLine } from '../db/schema.ts';
import { sanitizeFilename, sanitizeText, singleLine } from '../core/sanitize.ts';

export interface ParsedAttachment {
  partIndex: number;
  filename: string | null;
  contentType: string;
  disposition: string | null;
  contentId: string | null;
  size: number;
  sha256: string;
  relPath: string;
  truncated: boolean;
}

export interface ParsedMessage {
  headers: HeaderLine[];
  rfcMessageId: string | null;
  inReplyTo: string | null;
  references: string[];
  from: AddressEntry | null;
  /** How many addresses the From header held (a second From, or a list, is suspicious). */
  fromCount: number;
  envelopeSender: string | null;
  to: AddressEntry[];
  cc: AddressEntry[];
  replyTo: AddressEntry[];
  subject: string | null;
  sentAt: Date | null;
  text: string | null;
  html: string | null;
  attachments: ParsedAttachment[];
}

export interface ParseBudgets {
  headerBytes: number;
  mimeParts: number;
  attachmentBytes: number;
  parseMs: number;
}

/**
 * How many messages the parse worker parses at once (src/adapters/mime-worker.ts); more wait there, in the order
 * they came. A few at once let one message's file I/O overlap another's decoding.
 */
export const PARSE_CONCURRENCY = 8;

/** A message past one of its budgets: quarantined with this reason, raw kept. */
export class BudgetExceeded extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'BudgetExceeded';
  }
}

/** A parse past its time budget, worded the same by the worker and by the pool that ends a stuck one. */
export function tookTooLong(parseMs: number): BudgetExceeded {
  return new BudgetExceeded(`parsing took longer than ${parseMs >= 1000 ? `${Math.round(parseMs / 1000)} s` : `${parseMs} ms`}`);
}

const MAX_HEADER_LINES = 500;
const MAX_HEADER_VALUE = 8192;
const MAX_TEXT_CHARS = 2_000_000;

/** Where the header block of `view` ends; null when it does not end within it. */
function headerEnd(view: Buffer): number | null {
  const ends = [view.indexOf('\r\n\r\n'), view.indexOf('\n\n')].filter((i) => i >= 0);
  return ends.length ? Math.min(...ends) : null;
}

/** Where a stored message's bytes are: a whole file (end null), or a byte range of one (a group's pack). */
export interface RawSource {
  file: string;
  start: number;
  end: number | null;
}

/** Messages up to this size are read in one call and parsed from memory; larger ones are streamed. */
const WHOLE_FILE_BYTES = 1024 * 1024;

/** The pack file read last, kept open: a group's messages are parsed one after another from the same pack. */
let openPack: { file: string; fd: number; timer: NodeJS.Timeout } | null = null;
/** An open pack is closed when no message has been read from it for this long. */
const PACK_IDLE_MS = 2000;

/**
 * A descriptor of a pack (a group's file, written once under a name never reused), opened once for the messages
 * read from it in a row: an open per message was ~10 % of the parse worker's system calls in a bench run.
 */
function packFd(file: string): number {
  if (openPack?.file === file) {
    openPack.timer.refresh();
    return openPack.fd;
  }
  closePack();
  const fd = fs.openSync(file, 'r');
  const timer = setTimeout(closePack, PACK_IDLE_MS);
  timer.unref();
  openPack = { file, fd, timer };
  return fd;
}

function closePack(): void {
  if (!openPack) return;
  clearTimeout(openPack.timer);
  fs.closeSync(openPack.fd);
  openPack = null;
}

/**
 * Opens a raw message: its bytes when small (one read), else a stream; and the size of its header block, found
 * without parsing (mailparser fails only past 1 MiB, with a vague error), or null when past the limit.
 */
async function openRaw(raw: RawSource, limit: number): Promise<{ headerSize: number | null; whole: Buffer | null }> {
  const { file, start } = raw;
  // A small file is read with one synchronous call (tens of microseconds from the page cache): four round
  // trips through the thread pool cost more than that, and the parse worker has nothing else to do meanwhile.
  // The messages of a pack come one after another: its file stays open for the next (see packFd).
  const pack = raw.end !== null ? packFd(file) : null;
  const fd = pack ?? fs.openSync(file, 'r');
  let size: number;
  try {
    size = (raw.end ?? fs.fstatSync(fd).size) - start;
    if (size <= WHOLE_FILE_BYTES) {
      const whole = Buffer.allocUnsafe(Math.max(0, size));
      let got = 0;
      while (got < whole.length) {
        const n = fs.readSync(fd, whole, got, whole.length - got, start + got);
        if (n === 0) break;
        got += n;
      }
      const bytes = got < whole.length ? whole.subarray(0, got) : whole;
      const view = bytes.subarray(0, limit + 4);
      const end = headerEnd(view);
      return { headerSize: end ?? (view.length < limit + 4 ? view.length : null), whole: bytes };
    }
  } catch (err) {
    if (pack !== null) closePack(); // the next read opens the file again
    throw err;
  } finally {
    if (pack === null) fs.closeSync(fd);
  }
  const fh = await fsp.open(file, 'r');
  try {
    // Almost every header block ends in the first 64 KiB: look there before reading up to the limit.
    for (const probe of [Math.min(64 * 1024, limit + 4), limit + 4]) {
      // Never past the message's end: in a pack, the next message follows.
      const buf = Buffer.allocUnsafe(Math.min(probe, size));
      const { bytesRead } = await fh.read(buf, 0, buf.length, start);
      const end = headerEnd(buf.subarray(0, bytesRead));
      if (end !== null) return { headerSize: end, whole: null };
      if (bytesRead < probe) return { headerSize: bytesRead, whole: null }; // no body at all
    }
    return { headerSize: null, whole: null };
  } finally {
    await fh.close();
  }
}

function addressList(obj: AddressObject | AddressObject[] | undefined): AddressEntry[] {
  if (!obj) return [];
  const out: AddressEntry[] = [];
  const walk = (list: EmailAddress[]) => {
    for (const a of list) {
      if (a.group) walk(a.group);
      else
        out.push({
          name: singleLine(a.name ?? '', 200),
          address: a.address && isPlausibleAddress(a.address) ? sanitizeText(a.address.toLowerCase(), 320) : null,
        });
    }
  };
  for (const o of Array.isArray(obj) ? obj : [obj]) walk(o.value ?? []);
  return out;
}

export function isPlausibleAddress(a: string): boolean {
  return /^[^\s@<>()",;:\\[\]]+@[^\s@<>()",;:\\[\]]+$/.test(a) && a.length <= 320;
}

function bracketed(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  const m = /<([^<>\s]*)>/.exec(v);
  if (m) return sanitizeText(m[1], 998); // '<>' is the null sender: '' (present but empty), not null
  const raw = v.trim();
  return raw ? sanitizeText(raw, 998) : null;
}

function listOfIds(v: unknown): string[] {
  const s = Array.isArray(v) ? v.join(' ') : typeof v === 'string' ? v : '';
  return (s.match(/<[^<>\s]+>/g) ?? [])
    .slice(0, 100)
    .map((x) => sanitizeText(x.slice(1, -1), 998));
}

/**
 * The headers whose parsed values anything reads: ours (the 'headers' event below), and mailparser's own (the
 * root's fields, the From/Subject/Date/To/Cc/Bcc of an attached message, an attachment's Content-ID). Every line
 * is still stored as it came ('headerLines'); mailparser takes its MIME decisions from the splitter's nodes.
 */
const PARSED_HEADERS = new Set(['message-id', 'in-reply-to', 'references', 'from', 'to', 'cc', 'bcc', 'reply-to', 'subject', 'date', 'content-id']);

/** The fields of mailparser's MailParser that LeanParser's readData and processChunk use (not in its types). */
interface LeanState {
  splitter: { read(): { type: string; value?: Buffer } | null };
  curnode: { decoder?: NodeJS.WritableStream & { writable: boolean } } | false;
  hasFailed: boolean;
  reading: boolean;
  endReceived: boolean;
  waitUntilAttachmentEnd: boolean;
  attachmentCallback: ((err?: Error | null) => void) | false;
  waitingEnd: ((err?: Error) => void) | false;
  endStream(): void;
}

/** mailparser's module, imported on the first parse (see parseMessageFile). */
let mailparser: typeof import('mailparser') | undefined;
let LeanParser: typeof import('mailparser').MailParser | undefined;

/**
 * Parses one stored raw message. Attachments go to <attachmentsDir>/<stem><partIndex>.bin (tmp name, then
 * rename), so a re-parse after a crash overwrites the same files rather than leaving orphans. The stem lets
 * many messages share one folder: a new folder per message cost a directory inode each (see attachmentPlace).
 */
export async function parseMessageFile(
  rawFile: string | RawSource,
  attachmentsDir: string,
  attachmentsRel: string,
  budgets: ParseBudgets,
  stem = '',
): Promise<ParsedMessage> {
  const raw: RawSource = typeof rawFile === 'string' ? { file: rawFile, start: 0, end: null } : rawFile;
  const { headerSize, whole } = await openRaw(raw, budgets.headerBytes);
  if (headerSize === null)
    throw new BudgetExceeded(`the header block is larger than ${Math.round(budgets.headerBytes / 1024)} KiB`);

  // Loaded on first use (commands that never parse do without its memory), and kept: an import() per message
  // goes through the module loader each time.
  const { MailParser } = (mailparser ??= await import('mailparser'));
  // Of the root's From, To, Cc... only the parsed addresses are read (addressList), never the HTML and text
  // renderings mailparser makes of every address header (~3 % of the parse worker's samples in a bench run).
  // An attached message's are rendered as mailparser does: its text shows them ("From: ...", "To: ...").
  LeanParser ??= class extends MailParser {
    private atRoot = false;
    createNode(node: { root?: boolean }) {
      this.atRoot = Boolean(node.root);
      // @ts-expect-error mailparser's own method, not in its types
      return super.createNode(node);
    }
    getAddressesHTML(value: EmailAddress[]) {
      return this.atRoot ? '' : super.getAddressesHTML(value);
    }
    getAddressesText(value: EmailAddress[]) {
      return this.atRoot ? '' : super.getAddressesText(value);
    }
    // mailparser decodes and parses every header of every part (Received, DKIM-Signature, X-…): ~5 % of a
    // parse, for values nothing reads.
    processHeaders(lines: Array<{ key: string }> | undefined) {
      // @ts-expect-error mailparser's own method, not in its types
      return super.processHeaders((lines ?? []).filter((l) => PARSED_HEADERS.has(l.key)));
    }
    // The bytes go to the splitter itself: mailparser's ChunkedPassthrough in front of it copies every write
    // into a buffer of its own to hand on 64 KiB chunks, and a message read whole is one chunk already (a
    // streamed one comes in 64 KiB reads). The passthrough stays piped to the splitter, empty: its end
    // (mailparser's _flush) ends the splitter after the last write.
    _transform(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void) {
      const self = this as unknown as { splitter: NodeJS.WritableStream };
      if (!chunk?.length) return done();
      if (self.splitter.write(chunk) === false) self.splitter.once('drain', () => done());
      else done();
    }
    // mailparser hands each of the splitter's chunks on through two setImmediate turns (processChunk's
    // callback, then the next read): a message's body and boundary chunks are handled here as it handles them,
    // and the next chunk is read at once. A part's header ('node') still goes through mailparser's own code.
    processChunk(data: { type: string; value?: Buffer }, done: (err?: Error | null) => void) {
      const self = this as unknown as LeanState;
      if (data.type === 'body') {
        const decoder = self.curnode ? self.curnode.decoder : undefined;
        if (decoder && decoder.writable && decoder.write(data.value as Buffer) === false) decoder.once('drain', () => done());
        else done();
        return;
      }
      if (data.type === 'data') {
        if (self.curnode && self.curnode.decoder) self.curnode.decoder.end();
        if (self.waitUntilAttachmentEnd) {
          self.attachmentCallback = done; // released by the attachment's release()
          return;
        }
        done();
        return;
      }
      // @ts-expect-error mailparser's own method, not in its types
      super.processChunk(data, done);
    }
    readData() {
      const self = this as unknown as LeanState;
      if (self.hasFailed) return false;
      self.reading = true;
      for (;;) {
        const data = self.splitter.read();
        if (data === null) {
          self.reading = false;
          if (self.endReceived) self.endStream();
          return;
        }
        let inline = true;
        let next = false;
        this.processChunk(data, (err) => {
          if (err) {
            if (typeof self.waitingEnd === 'function') return self.waitingEnd(err);
            this.emit('error', err);
            return;
          }
          if (inline) next = true; // handled at once: the loop reads on
          else this.readData();
        });
        inline = false;
        if (!next) return; // the callback reads on when it comes
      }
    }
  };
  // checksumAlgo false: mailparser would hash every attachment with MD5 (~50 ms of the worker per bench run);
  // saveAttachment hashes what it keeps with SHA-256 already.
  const parser = new LeanParser({
    skipImageLinks: true,
    skipTextToHtml: true,
    skipTextLinks: true,
    checksumAlgo: false,
  } as unknown as ConstructorParameters<typeof MailParser>[0]);
  const result: ParsedMessage = {
    headers: [],
    rfcMessageId: null,
    inReplyTo: null,
    references: [],
    from: null,
    fromCount: 0,
    envelopeSender: null,
    to: [],
    cc: [],
    replyTo: [],
    subject: null,
    sentAt: null,
    text: null,
    html: null,
    attachments: [],
  };
  let parts = 0;
  let failure: Error | null = null;
  const pending: Promise<void>[] = [];
  const input = whole ? null : fs.createReadStream(raw.file, { start: raw.start, ...(raw.end !== null ? { end: raw.end - 1 } : {}) });

  /** Attachment streams begun: a parse that fails ends them too, or their saves would wait for bytes forever. */
  const contents: Array<{ destroy(err?: Error): void }> = [];
  const fail = (err: Error) => {
    if (!failure) failure = err;
    input?.destroy();
    parser.destroy();
    for (const c of contents.splice(0)) c.destroy(err);
  };

  parser.on('headerLines', (lines: { key: string; line: string }[]) => {
    result.headers = lines.slice(0, MAX_HEADER_LINES).map((l) => ({
      key: sanitizeText(l.key, 200),
      value: sanitizeText(l.line.replace(/^[^:]*:\s?/, '').replace(/\r?\n[ \t]+/g, ' '), MAX_HEADER_VALUE),
    }));
    // The envelope sender, from the topmost Return-Path (the delivering server's): as written, since '<>', the
    // null sender, must stay told apart from no header at all. (mailparser's parsed value is an address list,
    // which has no '<>'.)
    const rp = bracketed(result.headers.find((h) => h.key === 'return-path')?.value);
    result.envelopeSender = rp === null ? null : rp && isPlausibleAddress(rp) ? rp.toLowerCase() : '';
    // The first Date line, read here: mailparser puts the time of parsing in place of a date it cannot read,
    // and a message with no readable date has none (null), not the hour it was parsed.
    const date = result.headers.find((h) => h.key === 'date');
    const sent = date ? new Date(date.value.trim()) : null;
    result.sentAt = sent && !Number.isNaN(sent.getTime()) ? sent : null;
  });
  parser.on('headers', (h: Map<string, unknown>) => {
    result.rfcMessageId = bracketed(h.get('message-id')) || null;
    result.inReplyTo = bracketed(h.get('in-reply-to')) || null;
    result.references = listOfIds(h.get('references'));
    const from = addressList(h.get('from') as AddressObject | undefined);
    result.fromCount = from.length;
    result.from = from[0] ?? null;
    result.to = addressList(h.get('to') as AddressObject | undefined).slice(0, 500);
    result.cc = addressList(h.get('cc') as AddressObject | undefined).slice(0, 500);
    result.replyTo = addressList(h.get('reply-to') as AddressObject | undefined).slice(0, 50);
    const subject = h.get('subject');
    result.subject = typeof subject === 'string' ? singleLine(subject, 998) : null;
  });
  parser.on('data', (data: any) => {
    if (data.type === 'text') {
      if (typeof data.text === 'string') result.text = sanitizeText(data.text, MAX_TEXT_CHARS);
      if (typeof data.html === 'string') result.html = sanitizeText(data.html, MAX_TEXT_CHARS);
      return;
    }
    if (data.type !== 'attachment') return;
    const partIndex = parts++;
    if (parts > budgets.mimeParts) {
      data.content.resume();
      data.release();
      fail(new BudgetExceeded(`more than ${budgets.mimeParts} attachments`));
      return;
    }
    if (failure) {
      data.content.destroy(failure);
      data.release();
      return;
    }
    contents.push(data.content);
    pending.push(
      saveAttachment(data, partIndex, stem, attachmentsDir, attachmentsRel, budgets.attachmentBytes).then(
        (a) => void result.attachments.push(a),
        (err) => fail(err),
      ),
    );
  });

  const timer = setTimeout(
    () => fail(tookTooLong(budgets.parseMs)),
    budgets.parseMs,
  );
  try {
    if (input) await pipeline(input, parser);
    else await finished(parser.end(whole)); // bytes in memory: no source stream to pipe from
  } catch (err) {
    if (!failure) {
      const e = err as NodeJS.ErrnoException;
      failure =
        e.code === 'EMAXLEN'
          ? new BudgetExceeded('too many MIME parts or a header block too large for the parser')
          : (err as Error);
    }
  } finally {
    clearTimeout(timer);
  }
  await Promise.allSettled(pending);
  if (failure) throw failure;
  result.attachments.sort((a, b) => a.partIndex - b.partIndex);
  return result;
}

/** Messages whose attachments share one folder under attachments/. */
const ATTACHMENT_FOLDER_SPAN = 1000;

/**
 * Where a message's attachments go: attachments/<id / 1000>/<id>.<n>.bin. A folder per message cost a new
 * directory inode for each message with an attachment (ext4 allocates those slowly: ~0.1-0.8 ms here, on the
 * parse worker's path); one folder per thousand messages keeps listings short as well.
 */
export function attachmentPlace(messageId: number): { dir: string; stem: string } {
  return { dir: path.join('attachments', String(Math.floor(messageId / ATTACHMENT_FOLDER_SPAN))), stem: `${messageId}.` };
}

/** The message an attachment file (path relative to the data dir) belongs to, in this layout or the earlier attachments/<id>/<n>.bin. */
export function attachmentOwner(rel: string): number {
  const parts = rel.split(path.sep);
  const m = /^\.?(\d+)\.\d+\.(?:bin|tmp)$/.exec(parts[parts.length - 1] ?? '');
  return m && parts.length === 3 ? Number(m[1]) : Number(parts[1]);
}

/** Attachments up to this size are gathered in memory and written with one call; larger ones are streamed. */
const SMALL_ATTACHMENT_BYTES = 1024 * 1024;

async function saveAttachment(
  data: any,
  partIndex: number,
  stem: string,
  dir: string,
  relDir: string,
  cap: number,
): Promise<ParsedAttachment> {
  const finalName = `${stem}${partIndex}.bin`;
  const tmp = path.join(dir, `.${stem}${partIndex}.tmp`);
  const hash = createHash('sha256');
  let size = 0;
  let kept = 0;
  // Chunks are held until SMALL_ATTACHMENT_BYTES; past that the file is opened and written as they come.
  let held: Buffer[] | null = [];
  let out: fs.WriteStream | null = null;
  // The file's errors (a full disk) end the save through the sink; after the sink has ended otherwise (the
  // parse failed), a write still in flight on the destroyed file reports here too, and is dropped with it.
  let sink: Writable | null = null;
  const open = () => {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    out = fs.createWriteStream(tmp, { mode: 0o600 });
    out.on('error', (err) => sink?.destroy(err));
    for (const c of held!) out.write(c);
    held = null;
    return out;
  };
  try {
    await pipeline(
      data.content,
      (sink = new Writable({
        write(chunk: Buffer, _enc, cb) {
          size += chunk.length;
          const room = cap - kept;
          if (room <= 0) return cb(); // keep draining: the parser waits for the stream to end
          const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
          kept += part.length;
          hash.update(part);
          if (held && kept <= SMALL_ATTACHMENT_BYTES) {
            held.push(part);
            return cb();
          }
          const w = out ?? open();
          if (!w.write(part)) w.once('drain', () => cb());
          else cb();
        },
        final(cb) {
          if (out) out.end(cb);
          else cb();
        },
      })),
    );
    if (held) {
      // Small: one synchronous write, microseconds, where a stream costs several round trips.
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      fs.writeFileSync(tmp, Buffer.concat(held), { mode: 0o600 });
    } else {
      const w = out!;
      await new Promise<void>((resolve, reject) => {
        if (w.closed) return resolve();
        w.once('close', resolve);
        w.once('error', reject);
      });
    }
    fs.renameSync(tmp, path.join(dir, finalName));
  } catch (err) {
    (out as fs.WriteStream | null)?.destroy();
    await fsp.rm(tmp, { force: true });
    throw err;
  } finally {
    data.release();
  }
  return {
    partIndex,
    filename: sanitizeFilename(data.filename),
    contentType: sanitizeText(String(data.contentType ?? 'application/octet-stream').toLowerCase(), 200),
    disposition: data.contentDisposition ? sanitizeText(String(data.contentDisposition), 50) : null,
    contentId: data.contentId ? sanitizeText(String(data.contentId), 998) : null,
    size: kept,
    sha256: hash.digest('hex'),
    relPath: path.join(relDir, finalName),
    truncated: size > cap,
  };
}
