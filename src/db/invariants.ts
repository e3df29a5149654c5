// `intake doctor --invariants`: what must hold on any installation, after any crash.
//  - every message row has its raw file, of the stored size (and, with `deep`, of the stored sha256), and its
//    sidecar; no raw file (or lone sidecar) without a row; nothing left in raw/tmp;
//  - every attachment row has its file; no attachment file without a row once its message is parsed;
//  - every media job's output and poster exist; no media file without its job;
//  - at most one acknowledgement per message, and never two that may have gone out (sent, sending, uncertain);
//  - IMAP: no UID stored twice, nothing stored above its checkpoint, no mailbox position without a checkpoint.
// The comparison is a pure function of a snapshot (rows + files); gathering it is the only I/O here.
// A running daemon writes files before their rows commit: files younger than `graceMs` are "in flight".
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Queryable } from './messages.ts';
import { attachments, mailboxCheckpoints, mediaJobs, messages } from './schema.ts';
import { GROUP_SIDECAR, memberPath, rawRange, type GroupSidecar } from '../adapters/raw-store.ts';
import { attachmentOwner } from '../adapters/mime.ts';

export interface FileFacts {
  size: number;
  mtimeMs: number;
  /** Only with `deep`, and only for files a row points at. */
  sha256?: string;
}

export interface StoreSnapshot {
  messages: Array<{ id: number; rawPath: string; size: number; sha256: string; status: string; source: string }>;
  /** Every file under raw/<day>/, by path relative to the data directory (both .eml and .json). */
  rawFiles: Map<string, FileFacts>;
  /** Each group sidecar under raw/<day>/ with the .eml files it names (relative to the data directory). */
  groups: Map<string, string[]>;
  /** Files in raw/tmp. */
  tmpFiles: Map<string, FileFacts>;
  attachments: Array<{ id: number; messageId: number; path: string; size: number }>;
  /** Every file under attachments/ (tmp names included). */
  attachmentFiles: Map<string, FileFacts>;
  mediaJobs: Array<{ id: number; itemId: number; outputPath: string | null; posterPath: string | null }>;
  /** Every file under media/ (`.part` files included). */
  mediaFiles: Map<string, FileFacts>;
  acks: Array<{ messageId: number; rows: number; outgoing: number }>;
  checkpoints: Array<{ mailbox: string; uidValidity: number; lastUid: number }>;
}

export interface Problem {
  check: 'raw' | 'tmp' | 'attachments' | 'media' | 'acks' | 'imap';
  detail: string;
}

export interface InvariantReport {
  ok: boolean;
  checked: { messages: number; rawFiles: number; attachments: number; mediaJobs: number; acks: number; checkpoints: number };
  /** Files younger than the grace period without their row: a write in progress, not counted as a problem. */
  inFlight: number;
  problems: Problem[];
}

const IMAP_SOURCE = /^imap:(.*)\/(\d+)\/(\d+)$/;

/** The pure comparison. `now` and `graceMs` decide which unreferenced files count as writes in progress. */
export function findProblems(s: StoreSnapshot, now: number, graceMs: number): { problems: Problem[]; inFlight: number } {
  const problems: Problem[] = [];
  let inFlight = 0;
  const young = (f: FileFacts) => now - f.mtimeMs < graceMs;
  const stray = (check: Problem['check'], what: string, rel: string, f: FileFacts) => {
    if (young(f)) inFlight++;
    else problems.push({ check, detail: `${what} without a row: ${rel}` });
  };

  // Raw messages.
  const rowPaths = new Set<string>();
  const grouped = new Set([...s.groups.values()].flat());
  for (const m of s.messages) {
    rowPaths.add(m.rawPath);
    const f = s.rawFiles.get(m.rawPath);
    if (!f) {
      problems.push({ check: 'raw', detail: `message ${m.id}: raw file missing: ${m.rawPath}` });
      continue;
    }
    if (f.size !== m.size) problems.push({ check: 'raw', detail: `message ${m.id}: raw file is ${f.size} bytes, row says ${m.size}: ${m.rawPath}` });
    else if (f.sha256 && f.sha256 !== m.sha256) problems.push({ check: 'raw', detail: `message ${m.id}: raw file sha256 differs from the row: ${m.rawPath}` });
    if (!s.rawFiles.has(sidecarOf(m.rawPath)) && !grouped.has(m.rawPath))
      problems.push({ check: 'raw', detail: `message ${m.id}: sidecar missing (recovery could not re-ingest it): ${sidecarOf(m.rawPath)}` });
  }
  for (const [rel, f] of s.rawFiles) {
    if (rel.endsWith('.eml') || rawRange(rel).end !== null) {
      if (!rowPaths.has(rel)) stray('raw', 'raw file', rel, f);
    } else if (rel.endsWith(GROUP_SIDECAR)) {
      // Needed while any message it names is on disk or has a row.
      if (!(s.groups.get(rel) ?? []).some((eml) => s.rawFiles.has(eml) || rowPaths.has(eml))) stray('raw', 'group sidecar', rel, f);
    } else if (rel.endsWith('.json')) {
      const eml = rel.replace(/\.json$/, '.eml');
      // A row whose .eml is gone is reported above; its sidecar is not a stray on top of that.
      if (!s.rawFiles.has(eml) && !rowPaths.has(eml)) stray('raw', 'sidecar', rel, f);
    } else stray('raw', 'unexpected file', rel, f);
  }
  for (const [rel, f] of s.tmpFiles) {
    if (young(f)) inFlight++;
    else problems.push({ check: 'tmp', detail: `unfinished write left in raw/tmp (swept on the next start): ${rel}` });
  }

  // Attachments: files are written before their rows commit, and rewritten by a re-parse, so a file of a
  // message still waiting to be parsed is not a stray.
  const statusOf = new Map(s.messages.map((m) => [m.id, m.status]));
  const attPaths = new Set<string>();
  for (const a of s.attachments) {
    attPaths.add(a.path);
    const f = s.attachmentFiles.get(a.path);
    if (!f) problems.push({ check: 'attachments', detail: `attachment ${a.id} of message ${a.messageId}: file missing: ${a.path}` });
    else if (f.size !== a.size)
      problems.push({ check: 'attachments', detail: `attachment ${a.id} of message ${a.messageId}: file is ${f.size} bytes, row says ${a.size}: ${a.path}` });
  }
  for (const [rel, f] of s.attachmentFiles) {
    if (attPaths.has(rel)) continue;
    const owner = attachmentOwner(rel);
    if (statusOf.get(owner) === 'stored') continue;
    stray('attachments', statusOf.has(owner) ? 'attachment file' : 'attachment file of no message', rel, f);
  }

  // Media.
  const mediaPaths = new Set<string>();
  for (const j of s.mediaJobs) {
    for (const p of [j.outputPath, j.posterPath]) {
      if (!p) continue;
      mediaPaths.add(p);
      if (!s.mediaFiles.has(p)) problems.push({ check: 'media', detail: `media job ${j.id} (item ${j.itemId}): file missing: ${p}` });
    }
  }
  for (const [rel, f] of s.mediaFiles) if (!mediaPaths.has(rel)) stray('media', 'media file', rel, f);

  // Acknowledgements.
  for (const a of s.acks) {
    if (a.outgoing > 1) problems.push({ check: 'acks', detail: `message ${a.messageId}: ${a.outgoing} acknowledgements sent or possibly sent` });
    else if (a.rows > 1) problems.push({ check: 'acks', detail: `message ${a.messageId}: ${a.rows} acknowledgement rows` });
  }

  // IMAP positions.
  const cps = new Map(s.checkpoints.map((c) => [`${c.mailbox}\u0000${c.uidValidity}`, c.lastUid]));
  const seen = new Map<string, number>();
  for (const m of s.messages) {
    const x = IMAP_SOURCE.exec(m.source);
    if (!x) continue;
    const [, mailbox, validity, uid] = x;
    const prev = seen.get(m.source);
    if (prev !== undefined) problems.push({ check: 'imap', detail: `${mailbox} UIDVALIDITY ${validity} UID ${uid} stored twice: messages ${prev} and ${m.id}` });
    seen.set(m.source, m.id);
    const last = cps.get(`${mailbox}\u0000${validity}`);
    if (last === undefined) problems.push({ check: 'imap', detail: `message ${m.id}: ${mailbox} UIDVALIDITY ${validity} has no checkpoint` });
    else if (Number(uid) > last)
      problems.push({ check: 'imap', detail: `message ${m.id}: UID ${uid} is above the checkpoint ${last} of ${mailbox} UIDVALIDITY ${validity}` });
  }
  return { problems, inFlight };
}

function sidecarOf(rawPath: string): string {
  return rawPath.replace(/\.eml$/, '.json');
}

async function sha256Of(file: string, start = 0, end: number | null = null): Promise<string> {
  const h = createHash('sha256');
  if (end === start) return h.digest('hex');
  for await (const chunk of fs.createReadStream(file, { start, ...(end !== null ? { end: end - 1 } : {}) })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Every regular file under <dataDir>/<top>, by path relative to dataDir; `skip` names subfolders left out. */
async function walk(dataDir: string, top: string, skip: string[] = []): Promise<Map<string, FileFacts>> {
  const out = new Map<string, FileFacts>();
  async function visit(rel: string) {
    let entries: fs.Dirent[];
    try {
      entries = await fsp.readdir(path.join(dataDir, rel), { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const e of entries) {
      const child = path.join(rel, e.name);
      if (e.isDirectory()) {
        if (!skip.includes(child)) await visit(child);
      } else {
        const st = await fsp.stat(path.join(dataDir, child)).catch(() => null);
        if (st?.isFile()) out.set(child, { size: st.size, mtimeMs: st.mtimeMs });
      }
    }
  }
  await visit(top);
  return out;
}

/** Reads the rows and lists the files. Files are listed before the rows are read, so a write that commits in
 * between is seen complete rather than as a stray. */
export async function snapshotStore(q: Queryable, dataDir: string, o: { deep?: boolean } = {}): Promise<StoreSnapshot> {
  const rawFiles = await walk(dataDir, 'raw', [path.join('raw', 'tmp')]);
  const groups = new Map<string, string[]>();
  // A message in a pack is listed as a file of its own (its range, with the pack's mtime); the pack itself,
  // once a sidecar names it, is not listed.
  const packs = new Set<string>();
  const readGroup = async (rel: string) => {
    const g = await fsp.readFile(path.join(dataDir, rel), 'utf8').then((t) => JSON.parse(t) as GroupSidecar, () => null);
    const dir = path.dirname(rel);
    groups.set(rel, (g?.group ?? []).map((e) => memberPath(dir, e)));
    for (const e of g?.group ?? []) {
      if (e.start === undefined || e.end === undefined) continue;
      const pack = path.join(dir, e.eml);
      const st = rawFiles.get(pack) ?? (await fsp.stat(path.join(dataDir, pack)).catch(() => null));
      if (!st) continue;
      packs.add(pack);
      rawFiles.set(memberPath(dir, e), { size: e.end - e.start, mtimeMs: st.mtimeMs });
    }
  };
  for (const rel of [...rawFiles.keys()]) if (rel.endsWith(GROUP_SIDECAR)) await readGroup(rel);
  for (const p of packs) rawFiles.delete(p);
  const tmpFiles = await walk(dataDir, path.join('raw', 'tmp'));
  const attachmentFiles = await walk(dataDir, 'attachments');
  const mediaFiles = await walk(dataDir, 'media');

  const msgs = await q
    .select({
      id: messages.id,
      rawPath: messages.rawPath,
      size: messages.size,
      sha256: messages.sha256,
      status: messages.status,
      source: messages.source,
    })
    .from(messages);
  const atts = await q
    .select({ id: attachments.id, messageId: attachments.messageId, path: attachments.path, size: attachments.size })
    .from(attachments);
  const jobs = await q
    .select({ id: mediaJobs.id, itemId: mediaJobs.itemId, outputPath: mediaJobs.outputPath, posterPath: mediaJobs.posterPath })
    .from(mediaJobs);
  const acks = (
    await q.execute<{ message_id: number; rows: number; outgoing: number }>(sql`
      select message_id, count(*)::int as rows,
             count(*) filter (where state in ('sent', 'sending', 'uncertain'))::int as outgoing
        from outbox where kind = 'ack' and message_id is not null
       group by message_id`)
  ).rows.map((r) => ({ messageId: Number(r.message_id), rows: r.rows, outgoing: r.outgoing }));
  const checkpoints = await q
    .select({ mailbox: mailboxCheckpoints.mailbox, uidValidity: mailboxCheckpoints.uidValidity, lastUid: mailboxCheckpoints.lastUid })
    .from(mailboxCheckpoints);

  // Files written after the listing are not in it; files whose rows appeared since are fine either way.
  // Deleted since listing (a duplicate removed): re-stat before calling a row's file missing.
  for (const m of msgs) {
    const f = rawFiles.get(m.rawPath);
    if (!f) {
      const inPack = rawRange(m.rawPath);
      const st = await fsp.stat(path.join(dataDir, inPack.rel)).catch(() => null);
      if (st && inPack.end === null) rawFiles.set(m.rawPath, { size: st.size, mtimeMs: st.mtimeMs });
      const side = sidecarOf(m.rawPath);
      if (st && inPack.end === null && !rawFiles.has(side) && fs.existsSync(path.join(dataDir, side)))
        rawFiles.set(side, { size: 0, mtimeMs: st.mtimeMs });
      // or a group sidecar written after the listing, in the same folder
      if (st) {
        const dir = path.dirname(m.rawPath);
        for (const name of await fsp.readdir(path.join(dataDir, dir)).catch(() => [] as string[])) {
          const rel = path.join(dir, name);
          if (!name.endsWith(GROUP_SIDECAR) || groups.has(rel)) continue;
          rawFiles.set(rel, { size: 0, mtimeMs: st.mtimeMs });
          await readGroup(rel);
        }
      }
    }
    const g = rawFiles.get(m.rawPath);
    const at = rawRange(m.rawPath);
    if (o.deep && g && g.size === m.size) g.sha256 = await sha256Of(path.join(dataDir, at.rel), at.start, at.end);
  }
  for (const a of atts) {
    if (attachmentFiles.has(a.path)) continue;
    const st = await fsp.stat(path.join(dataDir, a.path)).catch(() => null);
    if (st) attachmentFiles.set(a.path, { size: st.size, mtimeMs: st.mtimeMs });
  }
  for (const j of jobs) {
    for (const p of [j.outputPath, j.posterPath]) {
      if (!p || mediaFiles.has(p)) continue;
      const st = await fsp.stat(path.join(dataDir, p)).catch(() => null);
      if (st) mediaFiles.set(p, { size: st.size, mtimeMs: st.mtimeMs });
    }
  }
  return { messages: msgs, rawFiles, groups, tmpFiles, attachments: atts, attachmentFiles, mediaJobs: jobs, mediaFiles, acks, checkpoints };
}

export async function checkInvariants(
  q: Queryable,
  dataDir: string,
  o: { deep?: boolean; graceMs?: number; now?: number } = {},
): Promise<InvariantReport> {
  const s = await snapshotStore(q, dataDir, o);
  const { problems, inFlight } = findProblems(s, o.now ?? Date.now(), o.graceMs ?? 10 * 60_000);
  return {
    ok: problems.length === 0,
    checked: {
      messages: s.messages.length,
      rawFiles: [...s.rawFiles.keys()].filter((k) => k.endsWith('.eml') || rawRange(k).end !== null).length,
      attachments: s.attachments.length,
      mediaJobs: s.mediaJobs.length,
      acks: s.acks.length,
      checkpoints: s.checkpoints.length,
    },
    inFlight,
    problems,
  };
}
