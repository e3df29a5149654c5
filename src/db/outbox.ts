// Queries on the outbox: queueing (idempotent by key), claiming due rows, recording each send's outcome.
import { randomUUID } from 'node:crypto';
import { and, asc, desc, eq, inArray, sql } from 'drizzle-orm';
import { items, mediaJobs, messages, outbox, type OutboxKind, type OutboxState } from './schema.ts';
import type { Queryable } from './messages.ts';
import { insertRows } from './bulk.ts';

export interface QueuedMail {
  /** Idempotency key: 'ack:<message id>', 'daily:<day>:<recipient>', ... A second call with the same key is a no-op. */
  key: string;
  kind: OutboxKind;
  /** The single recipient; null only for a suppressed row that has none. */
  to: string | null;
  subject: string;
  textBody: string;
  htmlBody: string | null;
  /** Extra headers (Auto-Submitted, In-Reply-To, ...). From, To, Subject, Date and Message-ID are set by the sender. */
  headers?: Record<string, string>;
  story?: number | null;
  messageId?: number | null;
  /** SMTP MAIL FROM: null is the null sender `<>`. */
  envelopeFrom?: string | null;
  state?: 'queued' | 'suppressed';
  reason?: string | null;
  runAfter?: Date;
  /** When the row is made (the injected clock); the per-sender window counts from it. Default: the database's now(). */
  at?: Date;
  /**
   * The Message-ID to give this mail, `<...>`. When omitted one is made as `<uuid@domain>`, with `domain`
   * (pass the domain of campaign.ackFrom: `mailDomain(campaign.ackFrom)`), else `intake.invalid`.
   */
  rfcMessageId?: string;
  domain?: string;
}

/** The domain part of an address ('campaign@notorture.example.org' -> 'notorture.example.org'). */
export function mailDomain(address: string): string {
  const at = address.lastIndexOf('@');
  const d = at >= 0 ? address.slice(at + 1) : '';
  return /^[A-Za-z0-9.-]+$/.test(d) ? d.toLowerCase() : 'intake.invalid';
}

export function newRfcMessageId(domain: string): string {
  return `<${randomUUID()}@${mailDomain('x@' + domain)}>`;
}

function rowOf(m: QueuedMail) {
  return {
    key: m.key,
    kind: m.kind,
    messageId: m.messageId ?? null,
    story: m.story ?? null,
    to: m.to,
    envelopeFrom: m.envelopeFrom ?? null,
    subject: m.subject,
    textBody: m.textBody,
    htmlBody: m.htmlBody,
    headers: m.headers ?? {},
    rfcMessageId: m.rfcMessageId ?? newRfcMessageId(m.domain ?? 'intake.invalid'),
    state: m.state ?? 'queued',
    reason: m.reason ?? null,
    ...(m.runAfter ? { runAfter: m.runAfter } : m.at ? { runAfter: m.at } : {}),
    ...(m.at ? { createdAt: m.at, updatedAt: m.at } : {}),
  };
}

/**
 * Queues one mail, fully rendered, unless a row with the same key exists (INSERT ... ON CONFLICT (key) DO NOTHING).
 * Usable inside a transaction. Returns the row's id and whether this call created it.
 */
export async function queueMail(q: Queryable, m: QueuedMail): Promise<{ id: number; created: boolean }> {
  const rows = await q.insert(outbox).values(rowOf(m)).onConflictDoNothing({ target: outbox.key }).returning({ id: outbox.id });
  if (rows.length) return { id: rows[0].id, created: true };
  const existing = await q.select({ id: outbox.id }).from(outbox).where(eq(outbox.key, m.key));
  return { id: existing[0].id, created: false };
}

/**
 * Queues many mails in one statement, each unless a row with its key exists (ON CONFLICT (key) DO NOTHING).
 * Every mail must carry the same optional fields (`at`, `runAfter`), so the rows have one shape. Returns the keys
 * this call created.
 */
export async function queueMails(q: Queryable, ms: QueuedMail[]): Promise<Set<string>> {
  if (!ms.length) return new Set();
  const rows = await insertRows(q, outbox, ms.map(rowOf), { onConflict: sql`ON CONFLICT (key) DO NOTHING`, returning: { key: outbox.key } });
  return new Set(rows.map((r) => r.key));
}

export type OutboxRow = typeof outbox.$inferSelect;

/** The states of a mail that may have gone out (or may still): what the per-sender window and the hourly cap count. */
const SENDABLE: OutboxState[] = ['queued', 'sending', 'sent', 'uncertain', 'failed'];

/**
 * Claims up to `limit` due queued rows and marks them `sending`, in one statement (FOR UPDATE SKIP LOCKED, so two
 * senders never take the same row). Run it outside any other transaction: the `sending` mark must be committed
 * before the SMTP transaction starts.
 */
export async function claimDue(q: Queryable, now: Date, limit: number, claim: string | null = null): Promise<OutboxRow[]> {
  const rows = await q
    .update(outbox)
    .set({ state: 'sending', attempts: sql`${outbox.attempts} + 1`, updatedAt: now, claim })
    .where(
      inArray(
        outbox.id,
        sql`(SELECT id FROM outbox WHERE state = 'queued' AND run_after <= ${now} ORDER BY run_after, id LIMIT ${limit} FOR UPDATE SKIP LOCKED)`,
      ),
    )
    .returning();
  return rows.sort((a, b) => a.runAfter.getTime() - b.runAfter.getTime() || a.id - b.id);
}

export async function markSent(q: Queryable, id: number, at: Date): Promise<void> {
  await q
    .update(outbox)
    .set({ state: 'sent', sentAt: at, lastError: null, updatedAt: at })
    .where(and(eq(outbox.id, id), eq(outbox.state, 'sending')));
}

/**
 * The rows of a claim whose COMMIT went unanswered (committed or not, the sender cannot tell), which it never
 * handed to the mailer: `queued` again, the attempt not counted. Returns how many there were.
 */
export async function releaseLostClaim(q: Queryable, claim: string, at: Date): Promise<number> {
  const rows = await q
    .update(outbox)
    .set({ state: 'queued', attempts: sql`greatest(${outbox.attempts} - 1, 0)`, claim: null, updatedAt: at })
    .where(and(eq(outbox.claim, claim), eq(outbox.state, 'sending')))
    .returning({ id: outbox.id });
  return rows.length;
}

/** A claim given back untried (sending paused): `queued` again, the attempt not counted. */
export async function releaseClaim(q: Queryable, id: number, at: Date): Promise<void> {
  await q
    .update(outbox)
    .set({ state: 'queued', attempts: sql`greatest(${outbox.attempts} - 1, 0)`, updatedAt: at })
    .where(and(eq(outbox.id, id), eq(outbox.state, 'sending')));
}

/** Back to `queued` for another try at `runAfter`. */
export async function markRetry(q: Queryable, id: number, runAfter: Date, error: string, at: Date): Promise<void> {
  await q
    .update(outbox)
    .set({ state: 'queued', runAfter, lastError: error, updatedAt: at })
    .where(and(eq(outbox.id, id), eq(outbox.state, 'sending')));
}

export async function markEnded(
  q: Queryable,
  id: number,
  state: 'failed' | 'uncertain',
  error: string,
  at: Date,
): Promise<void> {
  await q
    .update(outbox)
    .set({ state, lastError: error, updatedAt: at })
    .where(and(eq(outbox.id, id), eq(outbox.state, 'sending')));
}

/**
 * Every row left `sending` (a crash between the claim and the outcome) becomes `uncertain`: the mail may have
 * gone out, so it is never resent automatically. Call once when the sender starts, before the first claim.
 */
export async function sendingToUncertain(q: Queryable, at: Date): Promise<number> {
  const rows = await q
    .update(outbox)
    .set({ state: 'uncertain', lastError: 'the sender stopped during this send; it may or may not have been delivered', updatedAt: at })
    .where(eq(outbox.state, 'sending'))
    .returning({ id: outbox.id });
  return rows.length;
}

/**
 * Staff retry: a failed row (or an uncertain one with force) goes back to `queued`, due now, with a fresh count of
 * attempts (a row that gave up after maxAttempts would otherwise give up again at once). Same Message-ID.
 */
export async function requeue(
  q: Queryable,
  id: number,
  allowed: OutboxState[],
  at: Date,
): Promise<{ found: boolean; state: OutboxState | null; requeued: boolean }> {
  const [row] = await q.select({ state: outbox.state }).from(outbox).where(eq(outbox.id, id));
  if (!row) return { found: false, state: null, requeued: false };
  const upd = await q
    .update(outbox)
    .set({ state: 'queued', runAfter: at, attempts: 0, updatedAt: at })
    .where(and(eq(outbox.id, id), inArray(outbox.state, allowed)))
    .returning({ id: outbox.id });
  return { found: true, state: row.state, requeued: upd.length > 0 };
}

/**
 * Acknowledgements to each of these addresses since `since`, by lower-cased address: queued, sending, sent,
 * uncertain or failed (anything that may have reached it, or bounced from it). Suppressed rows do not count:
 * nothing was sent. An address with none is absent from the map.
 */
export async function acksToEach(q: Queryable, to: string[], since: Date): Promise<Map<string, number>> {
  const lower = [...new Set(to.map((t) => t.toLowerCase()))];
  if (!lower.length) return new Map();
  const rows = await q
    .select({ to: sql<string>`lower(${outbox.to})`, n: sql<number>`count(*)::int` })
    .from(outbox)
    .where(
      and(
        eq(outbox.kind, 'ack'),
        inArray(sql`lower(${outbox.to})`, lower),
        inArray(outbox.state, SENDABLE),
        sql`${outbox.createdAt} >= ${since}`,
      ),
    )
    .groupBy(sql`lower(${outbox.to})`);
  return new Map(rows.map((r) => [r.to, r.n]));
}

/** Acknowledgements created to be sent (not suppressed) since `since`, for the global hourly cap. */
export async function acksSince(q: Queryable, since: Date): Promise<number> {
  const rows = await q
    .select({ n: sql<number>`count(*)::int` })
    .from(outbox)
    .where(
      and(
        eq(outbox.kind, 'ack'),
        inArray(outbox.state, SENDABLE),
        sql`${outbox.createdAt} >= ${since}`,
      ),
    );
  return rows[0]?.n ?? 0;
}

export async function listOutbox(q: Queryable, limit = 200): Promise<OutboxRow[]> {
  return q.select().from(outbox).orderBy(desc(outbox.id)).limit(limit);
}

export async function getOutbox(q: Queryable, id: number): Promise<OutboxRow | null> {
  const [row] = await q.select().from(outbox).where(eq(outbox.id, id));
  return row ?? null;
}

export async function outboxCounts(q: Queryable): Promise<Record<string, number>> {
  const rows = await q
    .select({ state: outbox.state, n: sql<number>`count(*)::int` })
    .from(outbox)
    .groupBy(outbox.state);
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}

// --- acknowledgements ---------------------------------------------------------------------------------------------

export const ackKey = (messageId: number) => `ack:${messageId}`;

/**
 * Messages that have no acknowledgement row yet and are ready for the decision: understood (classified, items
 * made), or quarantined (they get a suppressed row too, so every message shows why it got no reply).
 */
export async function pendingAcks(q: Queryable, limit: number, afterId = 0) {
  return q
    .select({
      id: messages.id,
      status: messages.status,
      classification: messages.classification,
      ackBlock: messages.ackBlock,
      envelopeSender: messages.envelopeSender,
      fromAddress: messages.fromAddress,
      rfcMessageId: messages.rfcMessageId,
      understoodAt: messages.understoodAt,
      receivedAt: messages.receivedAt,
    })
    .from(messages)
    .where(
      and(
        sql`${messages.id} > ${afterId}`,
        sql`(${messages.understoodAt} IS NOT NULL OR ${messages.status} = 'quarantined')`,
        sql`NOT EXISTS (SELECT 1 FROM outbox o WHERE o.key = 'ack:' || ${messages.id}::text)`,
      ),
    )
    .orderBy(asc(messages.id))
    .limit(limit);
}

/**
 * The highest message id at or above `floor` below which every message has its acknowledgement row: the id
 * before the first one without (floor itself when that is the next), or the last id when all have one.
 */
export async function ackFloorAfter(q: Queryable, floor: number): Promise<number> {
  const rows = await q
    .select({ id: messages.id })
    .from(messages)
    .where(and(sql`${messages.id} > ${floor}`, sql`NOT EXISTS (SELECT 1 FROM outbox o WHERE o.key = 'ack:' || ${messages.id}::text)`))
    .orderBy(asc(messages.id))
    .limit(1);
  if (rows.length) return rows[0].id - 1;
  const last = await q.select({ id: sql<number | null>`max(${messages.id})` }).from(messages);
  return Math.max(floor, Number(last[0]?.id ?? floor));
}

function ackItemRows(q: Queryable, messageIds: number[]) {
  return q
    .select({
      messageId: items.messageId,
      kind: items.kind,
      story: items.story,
      language: items.language,
      jobState: mediaJobs.state,
      trimmed: mediaJobs.trimmed,
    })
    .from(items)
    .leftJoin(mediaJobs, eq(mediaJobs.itemId, items.id))
    .where(inArray(items.messageId, messageIds))
    .orderBy(asc(items.messageId), asc(items.id));
}

/** An item with its video job (if any): what an acknowledgement reports. */
export type AckItem = Awaited<ReturnType<typeof ackItemRows>>[number];

/** The items of these messages with their video job, by message id, in item order. */
export async function ackItemsOf(q: Queryable, messageIds: number[]): Promise<Map<number, AckItem[]>> {
  const by = new Map<number, AckItem[]>();
  for (const r of messageIds.length ? await ackItemRows(q, messageIds) : []) {
    const list = by.get(r.messageId);
    if (list) list.push(r);
    else by.set(r.messageId, [r]);
  }
  return by;
}

/** Which of these messages already have their acknowledgement row (read under lockAckDecisions: then it is final). */
export async function ackedAmong(q: Queryable, messageIds: number[]): Promise<Set<number>> {
  if (!messageIds.length) return new Set();
  const rows = await q
    .select({ key: outbox.key })
    .from(outbox)
    .where(inArray(outbox.key, messageIds.map(ackKey)));
  return new Set(rows.map((r) => Number(r.key.slice('ack:'.length))));
}

/**
 * Serialises acknowledgement decisions for the rest of the transaction (two senders never both see "no ack to
 * this address yet"). Held until commit.
 */
export async function lockAckDecisions(q: Queryable): Promise<void> {
  await q.execute(sql`SELECT pg_advisory_xact_lock(727005)`);
}

/** The acknowledgement state of each message (for `intake messages`). */
export async function ackStates(q: Queryable, messageIds: number[]) {
  if (!messageIds.length) return new Map<number, { state: OutboxState; reason: string | null }>();
  const rows = await q
    .select({ messageId: outbox.messageId, state: outbox.state, reason: outbox.reason, lastError: outbox.lastError })
    .from(outbox)
    .where(and(eq(outbox.kind, 'ack'), inArray(outbox.messageId, messageIds)));
  // A failed or uncertain acknowledgement's reason is its last error: what staff need to see.
  return new Map(rows.map((r) => [r.messageId!, { state: r.state, reason: r.reason ?? r.lastError }]));
}

/** Queued acknowledgements created before `before`: too late to send (SMTP was down for days). */
export async function dropStaleAcks(q: Queryable, before: Date, at: Date, reason: string): Promise<number> {
  const rows = await q
    .update(outbox)
    .set({ state: 'failed', lastError: reason, updatedAt: at })
    .where(and(eq(outbox.kind, 'ack'), eq(outbox.state, 'queued'), sql`${outbox.createdAt} < ${before}`))
    .returning({ id: outbox.id });
  return rows.length;
}

/** When the next queued row is due (null: none), so the sender can sleep until then. */
export async function nextDue(q: Queryable): Promise<Date | null> {
  const rows = await q
    .select({ at: sql<Date | null>`min(${outbox.runAfter})` })
    .from(outbox)
    .where(eq(outbox.state, 'queued'));
  const v = rows[0]?.at;
  return v ? new Date(v) : null;
}
