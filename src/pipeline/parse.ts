// Stage 2: parse every stored message. Re-runnable from the raw file; budgets end in quarantine, never a
// crash loop: the attempt is counted before parsing, so a message that kills the process runs out of tries.
import path from 'node:path';
import type { IngestDeps } from './ingest.ts';
import { countParseAttempt, pendingParse, quarantine, recordParseError, saveParsed } from '../db/messages.ts';
import { BudgetExceeded, parseMessageFile } from '../adapters/mime.ts';
import { errorMessage } from '../errors.ts';
import { failpoint } from '../runtime/failpoints.ts';

export type ParseOutcome = 'parsed' | 'quarantined' | 'retry';

export async function parseOne(deps: IngestDeps, msg: { id: number; rawPath: string }): Promise<ParseOutcome> {
  const { db, limits, log } = deps;
  const attempt = await countParseAttempt(db.orm, msg.id);
  if (attempt > limits.parseAttempts) {
    await quarantine(db.orm, msg.id, `could not be parsed after ${limits.parseAttempts} attempts`);
    log.warn({ id: msg.id }, 'message quarantined: out of parse attempts');
    return 'quarantined';
  }
  const attachmentsRel = path.join('attachments', String(msg.id));
  try {
    const parsed = await parseMessageFile(
      deps.rawStore.absolute(msg.rawPath),
      deps.rawStore.absolute(attachmentsRel),
      attachmentsRel,
      {
        headerBytes: limits.headerBytes,
        mimeParts: limits.mimeParts,
        attachmentBytes: limits.attachmentBytes,
        parseMs: limits.parseSeconds * 1000,
      },
    );
    failpoint('parse.before-commit');
    await db.orm.transaction((tx) => saveParsed(tx, msg.id, parsed));
    log.debug({ id: msg.id, attachments: parsed.attachments.length }, 'message parsed');
    return 'parsed';
  } catch (err) {
    if (err instanceof BudgetExceeded) {
      await quarantine(db.orm, msg.id, err.reason);
      log.warn({ id: msg.id, reason: err.reason }, 'message quarantined');
      return 'quarantined';
    }
    const text = errorMessage(err).slice(0, 500);
    await recordParseError(db.orm, msg.id, text);
    if (attempt >= limits.parseAttempts) {
      await quarantine(db.orm, msg.id, `could not be parsed: ${text}`);
      log.warn({ id: msg.id }, 'message quarantined: parse failed');
      return 'quarantined';
    }
    log.warn({ id: msg.id, attempt, err: text }, 'parse failed, will retry');
    return 'retry';
  }
}

/** Parses everything pending, in batches, oldest first. Returns counts. */
export async function parsePending(deps: IngestDeps, opts: { batch?: number; signal?: AbortSignal } = {}) {
  const counts = { parsed: 0, quarantined: 0, retry: 0 };
  let afterId = 0;
  for (;;) {
    if (opts.signal?.aborted) break;
    const batch = await pendingParse(deps.db.orm, opts.batch ?? 100, afterId);
    if (!batch.length) break;
    for (const m of batch) {
      if (opts.signal?.aborted) break;
      counts[await parseOne(deps, m)]++;
      afterId = m.id;
    }
  }
  return counts;
}
