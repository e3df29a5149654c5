// Stage 2: parse every stored message. Re-runnable from the raw file; budgets end in quarantine, never a
// crash loop: the attempt is counted before parsing, so a message that kills the process runs out of tries.
// Fresh messages go in chunks: attempts counted in one statement, a few parsed at once (file reads and
// attachment writes of one overlap the parsing of another), results saved in one transaction. A message
// tried before, or a large one, is parsed on its own, so a message that killed the process in a chunk costs
// its neighbours one attempt at most, and never their quarantine.
import path from 'node:path';
import type { IngestDeps } from './ingest.ts';
import { countParseAttempts, pendingParse, quarantine, recordParseError, saveParsed } from '../db/messages.ts';
import { BudgetExceeded, parseMessageFile, type ParsedMessage } from '../adapters/mime.ts';
import { errorMessage } from '../errors.ts';
import { failpoint } from '../runtime/failpoints.ts';
import { eachLimited } from '../runtime/each-limited.ts';

export type ParseOutcome = 'parsed' | 'quarantined' | 'retry';

/** Fresh messages per chunk (one commit each), and how many of them are parsed at once. */
const CHUNK = 32;
const CONCURRENCY = 4;
/** Larger messages are parsed alone: their streams hold more memory. */
const SOLO_BYTES = 4 * 1024 * 1024;

interface Pending {
  id: number;
  rawPath: string;
}

function parseFile(deps: IngestDeps, msg: Pending): Promise<ParsedMessage> {
  const { limits } = deps;
  const attachmentsRel = path.join('attachments', String(msg.id));
  return parseMessageFile(deps.rawStore.absolute(msg.rawPath), deps.rawStore.absolute(attachmentsRel), attachmentsRel, {
    headerBytes: limits.headerBytes,
    mimeParts: limits.mimeParts,
    attachmentBytes: limits.attachmentBytes,
    parseMs: limits.parseSeconds * 1000,
  });
}

/** What a failed parse (or save) leads to: quarantine past a budget or out of tries, else a retry later. */
async function failed(deps: IngestDeps, id: number, attempt: number, err: unknown): Promise<ParseOutcome> {
  const { db, limits, log } = deps;
  if (err instanceof BudgetExceeded) {
    await quarantine(db.orm, id, err.reason);
    log.warn({ id, reason: err.reason }, 'message quarantined');
    return 'quarantined';
  }
  const text = errorMessage(err).slice(0, 500);
  await recordParseError(db.orm, id, text);
  if (attempt >= limits.parseAttempts) {
    await quarantine(db.orm, id, `could not be parsed: ${text}`);
    log.warn({ id }, 'message quarantined: parse failed');
    return 'quarantined';
  }
  log.warn({ id, attempt, err: text }, 'parse failed, will retry');
  return 'retry';
}

async function outOfAttempts(deps: IngestDeps, id: number): Promise<ParseOutcome> {
  await quarantine(deps.db.orm, id, `could not be parsed after ${deps.limits.parseAttempts} attempts`);
  deps.log.warn({ id }, 'message quarantined: out of parse attempts');
  return 'quarantined';
}

export async function parseOne(deps: IngestDeps, msg: Pending): Promise<ParseOutcome> {
  return (await parseChunk(deps, [msg]))[0];
}

/** Parses a few messages (at most CONCURRENCY at once) and saves the results together. Outcomes in order. */
async function parseChunk(deps: IngestDeps, msgs: Pending[]): Promise<ParseOutcome[]> {
  const { db, limits, log } = deps;
  const attempts = await countParseAttempts(db.orm, msgs.map((m) => m.id));
  const outcomes: ParseOutcome[] = new Array(msgs.length);
  const results: Array<{ parsed: ParsedMessage } | { err: unknown } | null> = new Array(msgs.length).fill(null);
  await eachLimited(msgs, CONCURRENCY, async (m, i) => {
    if ((attempts.get(m.id) ?? 0) > limits.parseAttempts) return;
    try {
      results[i] = { parsed: await parseFile(deps, m) };
    } catch (err) {
      results[i] = { err };
    }
  });
  const ok: Array<{ i: number; id: number; parsed: ParsedMessage }> = [];
  for (const [i, r] of results.entries()) if (r && 'parsed' in r) ok.push({ i, id: msgs[i].id, parsed: r.parsed });
  let saveError: unknown = null;
  try {
    for (const _ of ok) failpoint('parse.before-commit');
    await db.orm.transaction((tx) => saveParsed(tx, ok));
  } catch (err) {
    saveError = err;
  }
  for (const [i, m] of msgs.entries()) {
    const r = results[i];
    const attempt = attempts.get(m.id) ?? 0;
    if (r === null) outcomes[i] = await outOfAttempts(deps, m.id);
    else if ('err' in r) outcomes[i] = await failed(deps, m.id, attempt, r.err);
    else if (saveError === null) {
      log.debug({ id: m.id, attachments: r.parsed.attachments.length }, 'message parsed');
      outcomes[i] = 'parsed';
    } else if (msgs.length === 1) outcomes[i] = await failed(deps, m.id, attempt, saveError);
    else {
      // One row the database refused fails the whole chunk: save each on its own, so only that one fails.
      try {
        await db.orm.transaction((tx) => saveParsed(tx, [{ id: m.id, parsed: r.parsed }]));
        outcomes[i] = 'parsed';
      } catch (err) {
        outcomes[i] = await failed(deps, m.id, attempt, err);
      }
    }
  }
  return outcomes;
}

/** Parses everything pending, in batches, oldest first. Returns counts. */
export async function parsePending(deps: IngestDeps, opts: { batch?: number; signal?: AbortSignal } = {}) {
  const counts = { parsed: 0, quarantined: 0, retry: 0 };
  const add = (outs: ParseOutcome[]) => outs.forEach((o) => counts[o]++);
  let afterId = 0;
  for (;;) {
    if (opts.signal?.aborted) break;
    const batch = await pendingParse(deps.db.orm, opts.batch ?? 128, afterId);
    if (!batch.length) break;
    let chunk: Pending[] = [];
    for (const m of batch) {
      if (opts.signal?.aborted) break;
      if (m.parseAttempts > 0 || m.size > SOLO_BYTES) {
        if (chunk.length) add(await parseChunk(deps, chunk));
        chunk = [];
        add(await parseChunk(deps, [m]));
      } else {
        chunk.push(m);
        if (chunk.length >= CHUNK) {
          add(await parseChunk(deps, chunk));
          chunk = [];
        }
      }
      afterId = m.id;
    }
    if (chunk.length && !opts.signal?.aborted) add(await parseChunk(deps, chunk));
  }
  return counts;
}
