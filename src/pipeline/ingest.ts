// Stage 1: store first. Raw bytes are made durable, then the row is committed (with the inbox checkpoint when
// the source has one, in the same transaction). Identity is (origin, sha256), so a replay stores nothing twice.
// ingestMany does the same for a group already in memory: all files durable first, then one transaction for
// all the rows and the checkpoint (one commit per group instead of one per message).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { FileRange } from '../domain.ts';
import type { Db } from '../db/client.ts';
import { allRawPaths, insertMessages, type Tx } from '../db/messages.ts';
import type { RawMeta, RawStore } from '../adapters/raw-store.ts';
import type { Campaign, Limits } from '../config.ts';
import type { Log } from '../adapters/logger.ts';
import { failpoint } from '../runtime/failpoints.ts';

export interface IngestDeps {
  db: Db;
  rawStore: RawStore;
  limits: Limits;
  campaign: Campaign;
  log: Log;
  clock?: { now(): Date };
}

export interface Incoming {
  source: string;
  origin: string;
  receivedAt?: Date;
  /** The size announced before download (IMAP RFC822.SIZE); over the budget only the headers are fetched. */
  announcedSize?: number;
}

export type IngestOutcome =
  | { status: 'stored'; id: number; quarantined: boolean }
  | { status: 'duplicate'; id: number };

function quarantineReasonFor(meta: RawMeta, limits: Limits): string | undefined {
  if (meta.truncatedFrom === undefined) return undefined;
  const mb = (n: number) => `${Math.round(n / 1024 / 1024)} MB`;
  return `message is ${mb(meta.truncatedFrom)}, larger than the ${mb(limits.messageBytes)} limit (only the start is kept)`;
}

function metaOf(deps: IngestDeps, incoming: Incoming): RawMeta {
  const receivedAt = incoming.receivedAt ?? deps.clock?.now() ?? new Date();
  const meta: RawMeta = { source: incoming.source, origin: incoming.origin, receivedAt: receivedAt.toISOString() };
  if (incoming.announcedSize !== undefined && incoming.announcedSize > deps.limits.messageBytes)
    meta.truncatedFrom = incoming.announcedSize;
  return meta;
}

/**
 * Stores one message. `inTx` runs inside the transaction that inserts the row (the IMAP checkpoint advances
 * there), whether the message is new or a duplicate.
 */
export async function ingestMessage(
  deps: IngestDeps,
  incoming: Incoming,
  body: Readable | FileRange,
  inTx?: (tx: Tx) => Promise<void>,
): Promise<IngestOutcome> {
  const meta = metaOf(deps, incoming);
  const raw = await deps.rawStore.write(body, meta, deps.limits.messageBytes);
  if (!raw.complete && meta.truncatedFrom === undefined) meta.truncatedFrom = raw.size + 1;
  failpoint('ingest.after-raw');
  return (await commitRaw(deps, [meta], [raw], inTx))[0];
}

/**
 * Stores several messages held in memory: every raw file durable, then one transaction with every row and
 * `inTx` (the checkpoint past the last of them). Outcomes in the order given.
 */
export async function ingestMany(
  deps: IngestDeps,
  list: Array<{ incoming: Incoming; bytes: Buffer }>,
  inTx?: (tx: Tx) => Promise<void>,
): Promise<IngestOutcome[]> {
  if (!list.length) return [];
  const metas = list.map((x) => metaOf(deps, x.incoming));
  const raws = await deps.rawStore.writeMany(
    list.map((x, i) => ({ bytes: x.bytes, meta: metas[i] })),
    deps.limits.messageBytes,
  );
  raws.forEach((raw, i) => {
    if (!raw.complete && metas[i].truncatedFrom === undefined) metas[i].truncatedFrom = raw.size + 1;
    failpoint('ingest.after-raw');
  });
  return commitRaw(deps, metas, raws, inTx);
}

async function commitRaw(
  deps: IngestDeps,
  metas: RawMeta[],
  raws: Array<{ relPath: string; sha256: string; size: number; complete: boolean }>,
  inTx?: (tx: Tx) => Promise<void>,
): Promise<IngestOutcome[]> {
  const results = await deps.db.orm.transaction(async (tx) => {
    const r = await insertMessages(
      tx,
      metas.map((meta, i) => ({
        source: meta.source,
        origin: meta.origin,
        sha256: raws[i].sha256,
        size: raws[i].size,
        rawPath: raws[i].relPath,
        rawComplete: raws[i].complete,
        receivedAt: new Date(meta.receivedAt),
        quarantineReason: quarantineReasonFor(meta, deps.limits),
      })),
    );
    if (inTx) await inTx(tx);
    return r;
  });
  const out: IngestOutcome[] = [];
  for (const [i, result] of results.entries()) {
    failpoint('ingest.after-commit');
    if (!result.created) {
      await deps.rawStore.remove(raws[i].relPath);
      deps.log.debug({ id: result.id }, 'duplicate message');
      out.push({ status: 'duplicate', id: result.id });
      continue;
    }
    deps.log.info({ id: result.id, size: raws[i].size }, 'message stored');
    out.push({ status: 'stored', id: result.id, quarantined: metas[i].truncatedFrom !== undefined });
  }
  return out;
}

/**
 * On start: sweep unfinished writes, and ingest again every durable raw file that has no row (the embedded
 * database runs without fsync, so after a power cut the files are the record).
 */
export async function recoverRaw(deps: IngestDeps): Promise<{ swept: number; recovered: number }> {
  const swept = await deps.rawStore.sweepTmp();
  const known = await allRawPaths(deps.db.orm);
  let recovered = 0;
  for await (const { relPath, meta } of deps.rawStore.list()) {
    if (known.has(relPath)) continue;
    const hash = createHash('sha256');
    let size = 0;
    const at = deps.rawStore.locate(relPath);
    // An empty message in a pack is an empty range, which a read stream cannot express: nothing to read.
    const chunks = at.end === at.start ? [] : createReadStream(at.file, { start: at.start, ...(at.end === null ? {} : { end: at.end - 1 }) });
    for await (const chunk of chunks) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    const [out] = await commitRaw(deps, [meta], [{ relPath, sha256: hash.digest('hex'), size, complete: meta.truncatedFrom === undefined }]);
    if (out.status === 'stored') recovered++;
  }
  if (swept || recovered) deps.log.info({ swept, recovered }, 'raw store recovered');
  return { swept, recovered };
}
