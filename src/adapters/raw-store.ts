// Durable storage of raw messages: the fsynced files are the record (PGlite runs without fsync).
// Write order: bytes to raw/tmp (hashing on the way), fsync; a sidecar with the source, fsynced; both renamed
// into raw/<day>/ (the sidecar first); directory fsynced. A crash leaves either nothing visible (tmp is swept
// on start) or a complete file that recovery ingests again if its row is missing.
// writeMany does the same for a group of messages already in memory (the IMAP inbox fetches small mail in
// groups): the group's messages one after another in one pack file (`<uuid>.pack`), with one sidecar naming
// each message's byte range (`<uuid>.group.json`), one of each per day. Every fsync of a new file is a
// journal commit, and under load one cost milliseconds: a group of 100 messages needs two instead of 100.
// A message in a pack is `raw/<day>/<uuid>.pack#<start>-<end>` (end exclusive). The caller commits the rows
// only after it returns.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { createHash, randomUUID } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable } from 'node:stream';
import { eachLimited } from '../runtime/each-limited.ts';
import type { FileRange } from '../domain.ts';
import type { RawSource } from './mime.ts';

export interface RawMeta {
  source: string;
  origin: string;
  receivedAt: string;
  /** Set when only part of the message was kept (over the size budget): the size it announced or had. */
  truncatedFrom?: number;
}

export interface StoredRaw {
  relPath: string;
  sha256: string;
  size: number;
  /** False when the message was larger than the cap: only the first maxBytes are kept. */
  complete: boolean;
}

export interface RawStore {
  root: string;
  /** A stream, or a byte range of a file (copied through one reused buffer). */
  write(body: Readable | FileRange, meta: RawMeta, maxBytes: number): Promise<StoredRaw>;
  /** Several messages held in memory, durable together; results in the order given. */
  writeMany(items: Array<{ bytes: Buffer; meta: RawMeta }>, maxBytes: number): Promise<StoredRaw[]>;
  remove(relPath: string): Promise<void>;
  /** The file holding a stored message (for a message in a pack, the pack). */
  absolute(relPath: string): string;
  /** The file and byte range of a stored message. */
  locate(relPath: string): RawSource;
  sweepTmp(): Promise<number>;
  /** Every stored raw file with its sidecar, for recovery. */
  list(): AsyncGenerator<{ relPath: string; meta: RawMeta }>;
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function writeDurable(file: string, data: Buffer | string): Promise<void> {
  const fh = await fsp.open(file, 'wx', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Counts, hashes and caps bytes in one pass. Bytes past the cap are read and dropped, so the source drains. */
function meter(maxBytes: number) {
  const hash = createHash('sha256');
  const state = { seen: 0, kept: 0 };
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      state.seen += chunk.length;
      const room = maxBytes - state.kept;
      if (room <= 0) return cb();
      const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
      state.kept += part.length;
      hash.update(part);
      cb(null, part);
    },
  });
  return { t, state, digest: () => hash.digest('hex') };
}

/** A stream to a new file, metered, then fsynced. */
async function copyStream(body: Readable, file: string, maxBytes: number) {
  const m = meter(maxBytes);
  await pipeline(body, m.t, fs.createWriteStream(file, { flags: 'wx', mode: 0o600 }));
  const fh = await fsp.open(file, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  return { seen: m.state.seen, kept: m.state.kept, sha256: m.digest() };
}

const COPY_BUFFER = 256 * 1024;

/**
 * A byte range of a file to a new file, hashed on the way, then fsynced: one buffer, reused for every read,
 * so a 300 MB message leaves no trail of dead chunks for the garbage collector (a stream allocates each one).
 */
async function copyRange(range: FileRange, file: string, maxBytes: number) {
  const seen = Math.max(0, range.end - range.start);
  const keep = Math.min(seen, maxBytes);
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(Math.min(COPY_BUFFER, Math.max(1, keep)));
  const src = await fsp.open(range.file, 'r');
  try {
    const out = await fsp.open(file, 'wx', 0o600);
    try {
      let kept = 0;
      while (kept < keep) {
        const { bytesRead } = await src.read(buf, 0, Math.min(buf.length, keep - kept), range.start + kept);
        if (bytesRead === 0) break; // the file shrank under us: keep what was there
        hash.update(buf.subarray(0, bytesRead));
        await out.write(buf, 0, bytesRead);
        kept += bytesRead;
      }
      await out.sync();
      return { seen: kept < keep ? kept : seen, kept, sha256: hash.digest('hex') };
    } finally {
      await out.close();
    }
  } finally {
    await src.close();
  }
}

/** The name ending of a group's sidecar, and its content: each message's file (and range in it) with its meta. */
export const GROUP_SIDECAR = '.group.json';
export const PACK = '.pack';
export interface GroupSidecar {
  group: Array<{ eml: string; meta: RawMeta; start?: number; end?: number }>;
}

/** A raw path's file (relative, as stored) and byte range: `….pack#<start>-<end>` is a range, anything else the whole file. */
export function rawRange(relPath: string): { rel: string; start: number; end: number | null } {
  const m = /^(.*\.pack)#(\d+)-(\d+)$/.exec(relPath);
  return m ? { rel: m[1], start: Number(m[2]), end: Number(m[3]) } : { rel: relPath, start: 0, end: null };
}

/** The raw path of a sidecar entry: its file, with the range when it is a pack member. */
export function memberPath(dirRel: string, e: GroupSidecar['group'][number]): string {
  const file = path.join(dirRel, e.eml);
  return e.start !== undefined && e.end !== undefined ? `${file}#${e.start}-${e.end}` : file;
}

export function makeRawStore(dataDir: string): RawStore {
  const root = path.join(dataDir, 'raw');
  const tmpDir = path.join(root, 'tmp');
  fs.mkdirSync(tmpDir, { recursive: true, mode: 0o700 });

  return {
    root,
    absolute: (rel) => path.join(dataDir, rawRange(rel).rel),
    locate: (rel) => {
      const r = rawRange(rel);
      return { file: path.join(dataDir, r.rel), start: r.start, end: r.end };
    },

    async write(body, meta, maxBytes) {
      const id = randomUUID();
      const tmpFile = path.join(tmpDir, `${id}.eml`);
      let copied: { seen: number; kept: number; sha256: string };
      try {
        copied = 'file' in body ? await copyRange(body, tmpFile, maxBytes) : await copyStream(body, tmpFile, maxBytes);
      } catch (err) {
        await fsp.rm(tmpFile, { force: true });
        throw err;
      }
      const complete = copied.seen <= maxBytes && meta.truncatedFrom === undefined;
      const fullMeta: RawMeta = complete ? meta : { ...meta, truncatedFrom: meta.truncatedFrom ?? copied.seen };

      const day = meta.receivedAt.slice(0, 10);
      const dir = path.join(root, day);
      await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
      const tmpMeta = path.join(tmpDir, `${id}.json`);
      const fhm = await fsp.open(tmpMeta, 'wx', 0o600);
      await fhm.writeFile(JSON.stringify(fullMeta));
      await fhm.sync();
      await fhm.close();
      await fsp.rename(tmpMeta, path.join(dir, `${id}.json`));
      await fsp.rename(tmpFile, path.join(dir, `${id}.eml`));
      await fsyncDir(dir);
      return { relPath: path.join('raw', day, `${id}.eml`), sha256: copied.sha256, size: copied.kept, complete };
    },

    async writeMany(items, maxBytes) {
      const staged = items.map(({ bytes, meta }) => {
        const kept = bytes.length > maxBytes ? bytes.subarray(0, maxBytes) : bytes;
        const complete = bytes.length <= maxBytes && meta.truncatedFrom === undefined;
        const fullMeta: RawMeta = complete ? meta : { ...meta, truncatedFrom: meta.truncatedFrom ?? bytes.length };
        const day = meta.receivedAt.slice(0, 10);
        return { kept, complete, fullMeta, day, sha256: createHash('sha256').update(kept).digest('hex') };
      });
      const days = [...new Set(staged.map((s) => s.day))];
      // Per day: one pack with the messages in order, one sidecar with each one's range and meta.
      const relPaths = new Map<(typeof staged)[number], string>();
      const packs = days.map((day) => {
        const id = randomUUID();
        const members = staged.filter((s) => s.day === day);
        let at = 0;
        const group: GroupSidecar['group'] = members.map((s) => {
          const e = { eml: `${id}${PACK}`, start: at, end: at + s.kept.length, meta: s.fullMeta };
          relPaths.set(s, memberPath(path.join('raw', day), e));
          at = e.end;
          return e;
        });
        return {
          day,
          pack: { name: `${id}${PACK}`, data: Buffer.concat(members.map((s) => s.kept)) },
          sidecar: { name: `${id}${GROUP_SIDECAR}`, data: JSON.stringify({ group } satisfies GroupSidecar) },
        };
      });
      const files = packs.flatMap((p) => [p.pack as { name: string; data: Buffer | string }, p.sidecar]);
      try {
        await eachLimited(files, 8, (f) => writeDurable(path.join(tmpDir, f.name), f.data));
      } catch (err) {
        await Promise.all(files.map((f) => fsp.rm(path.join(tmpDir, f.name), { force: true })));
        throw err;
      }
      for (const day of days) await fsp.mkdir(path.join(root, day), { recursive: true, mode: 0o700 });
      // Sidecars first, as in write(): a sidecar without its pack is an unfinished write.
      for (const p of packs) await fsp.rename(path.join(tmpDir, p.sidecar.name), path.join(root, p.day, p.sidecar.name));
      for (const p of packs) await fsp.rename(path.join(tmpDir, p.pack.name), path.join(root, p.day, p.pack.name));
      for (const day of days) await fsyncDir(path.join(root, day));
      return staged.map((s) => ({
        relPath: relPaths.get(s)!,
        sha256: s.sha256,
        size: s.kept.length,
        complete: s.complete,
      }));
    },

    async remove(relPath) {
      const r = rawRange(relPath);
      if (r.end !== null) {
        // A message in a pack: its bytes stay in the pack with the others', and its entry leaves the sidecar
        // (rewritten whole, durably), so neither recovery nor a check takes it for a message without a row.
        // The last entry to go takes the pack and the sidecar with it.
        const pack = path.join(dataDir, r.rel);
        const sidecar = pack.slice(0, -PACK.length) + GROUP_SIDECAR;
        const g = await fsp.readFile(sidecar, 'utf8').then((t) => JSON.parse(t) as GroupSidecar, () => null);
        if (!g) return;
        const left = g.group.filter((e) => !(e.start === r.start && e.end === r.end));
        if (left.length === g.group.length) return;
        if (!left.length) {
          await fsp.rm(pack, { force: true });
          await fsp.rm(sidecar, { force: true });
          return;
        }
        const tmp = path.join(tmpDir, `${randomUUID()}${GROUP_SIDECAR}`);
        await writeDurable(tmp, JSON.stringify({ group: left } satisfies GroupSidecar));
        await fsp.rename(tmp, sidecar);
        await fsyncDir(path.dirname(sidecar));
        return;
      }
      const abs = path.join(dataDir, relPath);
      await fsp.rm(abs, { force: true });
      await fsp.rm(abs.replace(/\.eml$/, '.json'), { force: true });
    },

    async sweepTmp() {
      const names = await fsp.readdir(tmpDir);
      await Promise.all(names.map((n) => fsp.rm(path.join(tmpDir, n), { force: true })));
      return names.length;
    },

    async *list() {
      const days = (await fsp.readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory() && d.name !== 'tmp');
      for (const d of days.sort((a, b) => a.name.localeCompare(b.name))) {
        const dir = path.join(root, d.name);
        const rel = (eml: string) => path.join('raw', d.name, eml);
        for (const name of (await fsp.readdir(dir)).sort()) {
          if (!name.endsWith('.json')) continue;
          const sidecar = path.join(dir, name);
          if (name.endsWith(GROUP_SIDECAR)) {
            const { group } = JSON.parse(await fsp.readFile(sidecar, 'utf8')) as GroupSidecar;
            const present = group.filter((e) => fs.existsSync(path.join(dir, e.eml)));
            // Every message of the group removed (duplicates) or never renamed in (a crash): nothing to keep.
            if (!present.length) await fsp.rm(sidecar, { force: true });
            for (const e of present) yield { relPath: memberPath(path.join('raw', d.name), e), meta: e.meta };
            continue;
          }
          const eml = path.join(dir, name.replace(/\.json$/, '.eml'));
          if (!fs.existsSync(eml)) {
            // The sidecar is renamed first; without its .eml it belongs to a write that never finished.
            await fsp.rm(sidecar, { force: true });
            continue;
          }
          const meta = JSON.parse(await fsp.readFile(sidecar, 'utf8')) as RawMeta;
          yield { relPath: rel(name.replace(/\.json$/, '.eml')), meta };
        }
      }
    },
  };
}
