// Stage: send what the outbox holds, every kind the same way (acknowledgements, digests, family mail).
//
// Row by row: claim it (state `sending`, committed before any byte goes out), send, then record the outcome
// (`sent`, back to `queued` with a later run_after, `failed`, or `uncertain`), as src/core/delivery.ts decides;
// the outcome is committed in the same transaction as the next row's claim. As many rows go out at once as the
// mailer takes (its `concurrency`: one for SMTP, a few for the .eml folder), each in its own lane of claim, send
// and outcome. A row still `sending` when a sender starts was interrupted by a crash at an unknown point,
// possibly after the server took the message: it becomes `uncertain` and is never sent again automatically
// (RFC 1047). A crash leaves at most `concurrency` rows so: those whose send had begun.
// A refused SMTP login pauses sending (recorded for `intake doctor`) without touching the row's attempts.
import type { App } from '../app.ts';
import type { Db } from '../db/client.ts';
import type { Campaign } from '../config.ts';
import type { Log } from '../adapters/logger.ts';
import type { Clock } from '../domain.ts';
import { MailError, readSmtpStatus, writeSmtpStatus, type Mailer } from '../adapters/smtp.ts';
import { DEFAULT_DELIVERY_POLICY, decideDelivery, type DeliveryPolicy } from '../core/delivery.ts';
import {
  claimDue,
  dropStaleAcks,
  markEnded,
  markRetry,
  markSent,
  nextDue,
  releaseClaim,
  releaseLostClaim,
  sendingToUncertain,
  type OutboxRow,
} from '../db/outbox.ts';
import type { Queryable } from '../db/messages.ts';
import { failpoint } from '../runtime/failpoints.ts';
import { IntakeError } from '../errors.ts';
import { randomUUID } from 'node:crypto';

export interface OutboxDeps {
  db: Db;
  mailer: Mailer;
  campaign: Campaign;
  log: Log;
  clock?: Clock;
  /** Where the sending state (paused after a refused login) is recorded for `intake doctor`. */
  dataDir: string;
  policy?: DeliveryPolicy;
}

export interface SendCounts {
  sent: number;
  retry: number;
  failed: number;
  uncertain: number;
  stale: number;
}

const now = (d: OutboxDeps) => d.clock?.now() ?? new Date();

/**
 * Claims of this process whose COMMIT went unanswered (the connection died with it): whether the server made
 * their rows `sending` is unknown, and none was handed to the mailer. They are given back as soon as the
 * database answers again (releaseLostClaims), before anything could take such a row for a send cut short.
 */
const lostClaims = new Set<string>();

async function releaseLostClaims(deps: OutboxDeps): Promise<void> {
  for (const claim of [...lostClaims]) {
    const n = await releaseLostClaim(deps.db.orm, claim, now(deps));
    lostClaims.delete(claim);
    if (n) deps.log.warn({ rows: n }, 'a claim whose commit went unanswered was given back: its mail is sent again later, never twice');
  }
}

/** Call once when a sender starts, before the first send: interrupted sends become `uncertain`. */
export async function recoverOutbox(deps: OutboxDeps): Promise<number> {
  await releaseLostClaims(deps);
  const n = await sendingToUncertain(deps.db.orm, now(deps));
  if (n) deps.log.warn({ rows: n }, 'outbox rows interrupted mid-send marked uncertain; they are not resent (intake outbox)');
  return n;
}

function mailOf(row: OutboxRow, campaign: Campaign, date: Date) {
  return {
    id: row.id,
    kind: row.kind,
    from: { name: campaign.name, address: campaign.ackFrom },
    to: row.to!,
    envelopeFrom: row.envelopeFrom,
    subject: row.subject ?? '',
    text: row.textBody ?? '',
    html: row.htmlBody,
    messageId: row.rfcMessageId,
    headers: row.headers ?? {},
    date,
    notifyNever: row.kind === 'ack',
  };
}

/**
 * Sends every due row until none is due or the signal is aborted, in up to `mailer.concurrency` lanes (one
 * to begin with, another each time a lane finds a row due). In a lane, a
 * send's outcome is committed together with the lane's next claim (one commit per mail instead of two); either
 * way the claim (`sending`) is committed before its send starts, and a crash before that commit leaves the sent
 * row `sending` (then `uncertain`, never resent), as a crash before a commit of its own would. An error in one
 * lane (a refused login pauses sending) stops the others after their current send; it is thrown once all have
 * written their last outcome.
 */
export async function sendDue(deps: OutboxDeps, signal?: AbortSignal): Promise<SendCounts> {
  const policy = deps.policy ?? DEFAULT_DELIVERY_POLICY;
  const counts: SendCounts = { sent: 0, retry: 0, failed: 0, uncertain: 0, stale: 0 };
  const { db, log } = deps;
  const t0 = now(deps);
  counts.stale = await dropStaleAcks(
    db.orm,
    new Date(t0.getTime() - deps.campaign.limits.ackMaxAgeHours * 3600_000),
    t0,
    `not sent within ${deps.campaign.limits.ackMaxAgeHours} hours; dropped rather than sent late`,
  );
  await releaseLostClaims(deps);
  let wasPaused = readSmtpStatus(deps.dataDir)?.state === 'paused';
  let stopped = false;

  const lane = async () => {
    /** The lane's last send's outcome, not yet written: it goes in with the lane's next claim. */
    let outcome: ((q: Queryable) => Promise<void>) | null = null;
    const settle = async () => {
      if (outcome) await outcome(db.orm);
    };
    try {
      while (!signal?.aborted && !stopped) {
        const claim = randomUUID();
        const row = await db.orm
          .transaction(async (tx) => {
            if (outcome) await outcome(tx);
            const [r] = await claimDue(tx, now(deps), 1, claim);
            return r;
          })
          .catch((err: unknown) => {
            lostClaims.add(claim); // its row, if the server has it, is given back (releaseLostClaims)
            throw err;
          });
        outcome = null;
        if (!row) break;
        more(); // a row was due: another lane may find the next one
        failpoint('outbox.after-claim');
        if (!row.to) {
          outcome = (q) => markEnded(q, row.id, 'failed', 'no recipient', now(deps));
          counts.failed++;
          continue;
        }
        failpoint('outbox.before-send');
        let response: string;
        try {
          response = (await deps.mailer.send(mailOf(row, deps.campaign, now(deps)))).response;
        } catch (err) {
          if (!(err instanceof MailError)) throw err;
          const d = decideDelivery(err, row.attempts, policy);
          const at = now(deps);
          if (d.outcome === 'paused') {
            await releaseClaim(db.orm, row.id, at);
            const until = new Date(at.getTime() + d.pauseMs);
            writeSmtpStatus(deps.dataDir, { state: 'paused', at: at.toISOString(), until: until.toISOString(), error: d.error });
            throw new IntakeError('SMTP', `the SMTP server refused our login; sending paused until ${until.toISOString()}: ${d.error}`, {
              cause: err,
              retryAfterMs: d.pauseMs,
            });
          }
          if (d.outcome === 'retry') {
            outcome = (q) => markRetry(q, row.id, new Date(at.getTime() + d.delayMs), d.error, at);
            counts.retry++;
          } else {
            const ended = d.outcome;
            outcome = (q) => markEnded(q, row.id, ended, d.error, at);
            counts[ended]++;
          }
          log.warn({ outbox: row.id, kind: row.kind, outcome: d.outcome, attempts: row.attempts, code: err.code, reply: err.responseCode }, 'send failed');
          continue;
        }
        failpoint('outbox.after-send');
        const at = now(deps);
        outcome = (q) => markSent(q, row.id, at);
        counts.sent++;
        log.info({ outbox: row.id, kind: row.kind, reply: response.slice(0, 3) }, 'mail sent');
        if (wasPaused) {
          writeSmtpStatus(deps.dataDir, { state: 'ok', at: at.toISOString() });
          wasPaused = false;
        }
      }
    } catch (err) {
      stopped = true;
      throw err;
    } finally {
      // Aborted, or stopped by an error: the last outcome is still written (a failed write leaves the row
      // `sending`, which recovery turns into `uncertain`).
      await settle();
    }
  };
  // One lane first; each row a lane claims opens another, up to the mailer's concurrency: a pass that finds
  // nothing due costs one claim, not one per lane.
  // A lane's error is caught as the lane starts (it may end before the ones opened earlier are awaited).
  const lanes: Array<Promise<void>> = [];
  let failure: { err: unknown } | null = null;
  const more = () => {
    if (lanes.length < Math.max(1, deps.mailer.concurrency) && !stopped && !signal?.aborted)
      lanes.push(lane().catch((err: unknown) => void (failure ??= { err })));
  };
  more();
  for (let i = 0; i < lanes.length; i++) await lanes[i];
  if (failure) throw (failure as { err: unknown }).err;
  return counts;
}

/** How long the sender may sleep: until the next queued row is due, at most maxMs. */
export async function outboxIdleMs(deps: OutboxDeps, maxMs: number): Promise<number> {
  const due = await nextDue(deps.db.orm);
  if (!due) return maxMs;
  return Math.max(0, Math.min(maxMs, due.getTime() - now(deps).getTime()));
}

export const anySent = (c: SendCounts) => c.sent + c.retry + c.failed + c.uncertain + c.stale > 0;

export function outboxDepsOf(app: App): OutboxDeps {
  return { db: app.db, mailer: app.mailer, campaign: app.config.campaign, log: app.log, clock: app.clock, dataDir: app.config.dataDir };
}
