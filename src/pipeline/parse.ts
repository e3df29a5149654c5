// Stage 2: parse every stored message. Re-runnable from the raw file; budgets end in quarantine, never a
// crash loop: the attempt is counted before parsing, so a message that kills the worker or the process runs
// out of tries. mailparser runs in a worker thread (src/adapters/mime-pool.ts): several messages are in its
// hands at once, and parsed results are saved a chunk per transaction while the next ones are parsed.
import type { IngestDeps } from './ingest.ts';
import { countParseAttempts, giveBackParseAttempt, pendingParse, quarantine, recordParseError, saveParsed } from '../db/messages.ts';
import { BudgetExceeded, attachmentPlace, parseMessageFile, type ParsedMessage } from '../adapters/mime.ts';
import { parseInWorker } from '../adapters/mime-pool.ts';
import { IntakeError, errorMessage } from '../errors.ts';
import { failpoint } from '../runtime/failpoints.ts';
import { eachLimited } from '../runtime/each-limited.ts';
import { logUnderstood, saveParsedUnderstood } from './understand.ts';

/** 'understood': parsed, and understood in the same transaction (see saveGroup). */
export type ParseOutcome = 'parsed' | 'understood' | 'quarantined' | 'retry';

/**
 * Parsed messages saved per transaction, and how many parses of a batch are in the worker's hands at once (it
 * begins PARSE_CONCURRENCY of them, the rest wait there): enough that it has the next at hand while this thread
 * is busy saving a group (tens of milliseconds), which would otherwise leave it idle.
 */
const CHUNK = 64;
const IN_FLIGHT = 96;
/** Larger messages are parsed alone: their streams hold more memory. */
const SOLO_BYTES = 4 * 1024 * 1024;

interface Pending {
  id: number;
  rawPath: string;
  size: number;
}

/**
 * Small messages are parsed in the worker; a large one (over SOLO_BYTES, so alone) in this thread: its
 * attachment streams through either way, and a second heap busy with it would cost ~40 MB more at its peak.
 */
function parseFile(deps: IngestDeps, msg: Pending): Promise<ParsedMessage> {
  const { limits } = deps;
  const { dir, stem } = attachmentPlace(msg.id);
  const parse = msg.size > SOLO_BYTES ? parseMessageFile : parseInWorker;
  const budgets = {
    headerBytes: limits.headerBytes,
    mimeParts: limits.mimeParts,
    attachmentBytes: limits.attachmentBytes,
    parseMs: limits.parseSeconds * 1000,
  };
  return parse(deps.rawStore.locate(msg.rawPath), deps.rawStore.absolute(dir), dir, budgets, stem);
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
  return (await parseMany(deps, [msg]))[0];
}

/**
 * Parses messages with IN_FLIGHT at a time in the worker and saves the results CHUNK at a time, each save
 * running while the next parses go on. Attempts are counted for all of them first, in one statement.
 * `hooks.sent` is called once every message has been handed to the parser (or has failed), `hooks.parsed`
 * once every parse has ended. Outcomes in order.
 */
async function parseMany(
  deps: IngestDeps,
  msgs: Pending[],
  hooks: { sent?: () => void; parsed?: () => void; understood?: (n: number) => void } = {},
): Promise<ParseOutcome[]> {
  const { db, limits } = deps;
  const attempts = await countParseAttempts(db.orm, msgs.map((m) => m.id));
  const outcomes: ParseOutcome[] = new Array(msgs.length);
  let diskFull: { err: unknown; id: number } | null = null;
  let ready: Array<{ i: number; id: number; parsed: ParsedMessage }> = [];
  // Saves run one after another while later parses go on. An error (the database gone) is kept, not left
  // as a rejection nobody awaits yet, and thrown once every parse and save has ended.
  let saving: Promise<void> = Promise.resolve();
  let saveError: { err: unknown } | null = null;
  const flush = () => {
    const group = ready;
    ready = [];
    if (group.length)
      saving = saving.then(() => saveGroup(deps, group, attempts, outcomes, hooks.understood)).catch((err) => void (saveError ??= { err }));
    return saving;
  };
  await eachLimited(msgs, IN_FLIGHT, async (m, i) => {
    if (i === msgs.length - 1) hooks.sent?.();
    const attempt = attempts.get(m.id) ?? 0;
    if (attempt > limits.parseAttempts) {
      outcomes[i] = await outOfAttempts(deps, m.id);
      return;
    }
    let parsed: ParsedMessage;
    try {
      parsed = await parseFile(deps, m);
    } catch (err) {
      if (diskFullCode(err)) {
        // Not the message's fault: it waits, with its attempt given back, and the pass reports the disk.
        diskFull ??= { err, id: m.id };
        await giveBackParseAttempt(db.orm, m.id);
        outcomes[i] = 'retry';
        return;
      }
      outcomes[i] = await failed(deps, m.id, attempt, err);
      return;
    }
    ready.push({ i, id: m.id, parsed });
    if (ready.length >= CHUNK) void flush();
  }).finally(() => {
    hooks.sent?.();
    hooks.parsed?.();
  });
  await flush();
  if (saveError) throw (saveError as { err: unknown }).err;
  if (diskFull) {
    const { err, id } = diskFull as { err: unknown; id: number };
    throw new IntakeError(
      'STORE',
      `the disk is full (${diskFullCode(err)}, writing an attachment of message ${id}): parsing waits until there is room; no message is charged an attempt for it`,
      { cause: err, retryable: true },
    );
  }
  return outcomes;
}

/** ENOSPC or EDQUOT, when that is what `err` (or its cause) is; else null. */
function diskFullCode(err: unknown): string | null {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') return code;
  }
  return null;
}

/**
 * Saves parsed messages in one transaction, and understands them in it from what was saved (nothing read
 * back). When the database refuses one row, each is saved on its own, parsed only: the understand stage
 * then takes it, with its own fallback.
 */
async function saveGroup(
  deps: IngestDeps,
  group: Array<{ i: number; id: number; parsed: ParsedMessage }>,
  attempts: Map<number, number>,
  outcomes: ParseOutcome[],
  onUnderstood?: (n: number) => void,
): Promise<void> {
  const { db, log } = deps;
  try {
    for (const _ of group) failpoint('parse.before-commit');
    const now = deps.clock?.now() ?? new Date();
    const decided = await db.orm.transaction((tx) => saveParsedUnderstood(deps, tx, group, now));
    for (const g of group) {
      log.debug({ id: g.id, attachments: g.parsed.attachments.length }, 'message parsed');
      outcomes[g.i] = 'understood';
    }
    logUnderstood(deps, decided);
    onUnderstood?.(group.length);
    return;
  } catch (err) {
    log.debug({ ids: group.map((g) => g.id), err: errorMessage(err) }, 'saving parsed messages together failed: one by one');
  }
  for (const g of group) {
    try {
      await db.orm.transaction((tx) => saveParsed(tx, [{ id: g.id, parsed: g.parsed }]));
      outcomes[g.i] = 'parsed';
    } catch (err) {
      outcomes[g.i] = await failed(deps, g.id, attempts.get(g.id) ?? 0, err);
    }
  }
}

/**
 * Parses everything pending, in batches, oldest first. Fresh small messages go together; a message tried
 * before, or a large one, is parsed on its own, so one that ends the worker (or the process) in company costs
 * its neighbours one attempt at most, and never their quarantine. Returns counts. `onUnderstood` hears, as each
 * group is committed, how many of its messages were understood with their parse.
 */
export async function parsePending(deps: IngestDeps, opts: { batch?: number; signal?: AbortSignal; onUnderstood?: (n: number) => void } = {}) {
  const counts = { parsed: 0, quarantined: 0, retry: 0, understood: 0 };
  // parsed counts every message parsed; understood those of them understood in the same transaction
  const add = (outs: ParseOutcome[]) =>
    outs.forEach((o) => {
      if (o === 'understood') counts.understood++;
      counts[o === 'understood' ? 'parsed' : o]++;
    });
  const size = opts.batch ?? 128;
  // The next batch is looked up, its attempts counted and its messages handed to the worker while the last of
  // the batch before are still being parsed, and its saves run while later batches parse: the worker waits for
  // none of it. Each batch's outcome is held, with its error, until all have ended; a batch is begun only when
  // the saves of all but the two before it have ended (what waits to be saved stays bounded).
  const saving: Array<Promise<{ outs: ParseOutcome[] } | { err: unknown }>> = [];
  const inParser: Promise<unknown>[] = [];
  let saved: Awaited<(typeof saving)[number]>[] = [];
  let next = pendingParse(deps.db.orm, size, 0);
  try {
    for (;;) {
      if (opts.signal?.aborted) break;
      const batch = await next;
      if (!batch.length) break;
      const afterId = batch[batch.length - 1].id;
      next = pendingParse(deps.db.orm, size, afterId);
      if (saving.length >= 3) await saving[saving.length - 3];
      const alone = (m: (typeof batch)[number]) => m.parseAttempts > 0 || m.size > SOLO_BYTES;
      const lone = batch.filter(alone);
      let sent!: () => void;
      let parsed!: () => void;
      const handedOver = new Promise<void>((resolve) => (sent = resolve));
      const ended = new Promise<void>((resolve) => (parsed = resolve));
      const run = parseMany(deps, batch.filter((m) => !alone(m)), { sent, parsed, understood: opts.onUnderstood }).then(
        (outs) => ({ outs }),
        (err: unknown) => ({ err }),
      );
      saving.push(run);
      // a batch that fails before parsing anything (its attempts not counted) ends too
      inParser.push(Promise.race([ended, run]));
      await Promise.race([handedOver, run]);
      if (!lone.length) continue;
      // Alone means alone in the parser: every parse handed over before has ended first.
      await Promise.all(inParser);
      for (const m of lone) {
        if (opts.signal?.aborted) break;
        add(await parseMany(deps, [m], { understood: opts.onUnderstood }));
      }
    }
  } finally {
    // Nothing is left running against a closing database, whatever ended the loop.
    await next.catch(() => {}); // looked up ahead and not needed (aborted, or an error): its failure is not ours
    saved = await Promise.all(saving);
  }
  let first: { err: unknown } | null = null;
  for (const r of saved) {
    if ('err' in r) first ??= r;
    else add(r.outs);
  }
  if (first) throw first.err;
  return counts;
}
