// Queries for the digests and the publication: digest runs (one per kind and day), and the rows a digest shows.
// Read-only apart from insertRun; media_jobs and outbox are read as their owners write them.
import { and, asc, desc, eq, gt, inArray, isNotNull, isNull, lt, lte, max, sql } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import { digestRuns, items, mediaJobs, messages, outbox } from './schema.ts';
import type { Queryable } from './messages.ts';

export type DigestKind = 'daily' | 'final';
export type DigestRun = typeof digestRuns.$inferSelect;

export async function lastRunDay(q: Queryable, kind: DigestKind): Promise<string | null> {
  const [r] = await q.select({ day: max(digestRuns.day) }).from(digestRuns).where(eq(digestRuns.kind, kind));
  return r?.day ?? null;
}

export async function getRun(q: Queryable, kind: DigestKind, day: string): Promise<DigestRun | null> {
  const [r] = await q.select().from(digestRuns).where(and(eq(digestRuns.kind, kind), eq(digestRuns.day, day)));
  return r ?? null;
}

/** The run of the latest day before `day`: where the next digest's window starts. */
export async function previousRun(q: Queryable, kind: DigestKind, day: string): Promise<DigestRun | null> {
  const [r] = await q
    .select()
    .from(digestRuns)
    .where(and(eq(digestRuns.kind, kind), lt(digestRuns.day, day)))
    .orderBy(desc(digestRuns.day))
    .limit(1);
  return r ?? null;
}

/** Records a run unless (kind, day) exists; true when this call created it. Use in the transaction that queues its mail. */
export async function insertRun(
  q: Queryable,
  r: { kind: DigestKind; day: string; items: number; lastItemId: number; lastMessageId: number; at: Date },
): Promise<boolean> {
  const rows = await q
    .insert(digestRuns)
    .values({ kind: r.kind, day: r.day, items: r.items, lastItemId: r.lastItemId, lastMessageId: r.lastMessageId, createdAt: r.at })
    .onConflictDoNothing()
    .returning({ day: digestRuns.day });
  return rows.length > 0;
}

export async function highWater(q: Queryable): Promise<{ itemId: number; messageId: number }> {
  const [i] = await q.select({ v: max(items.id) }).from(items);
  const [m] = await q.select({ v: max(messages.id) }).from(messages);
  return { itemId: Number(i?.v ?? 0), messageId: Number(m?.v ?? 0) };
}

// The message's own text item, for the name and language a video or link from the same mail is shown with.
const textItem = alias(items, 'text_item');

function itemColumns() {
  return {
    id: items.id,
    messageId: items.messageId,
    kind: items.kind,
    story: items.story,
    status: items.status,
    text: items.text,
    url: items.url,
    // '' is a name staff cleared on purpose: it does not fall back to the sibling's.
    displayName: sql<string | null>`coalesce(${items.displayName}, ${textItem.displayName})`,
    language: sql<string | null>`coalesce(${items.language}, ${textItem.language})`,
    videoState: mediaJobs.state,
    videoReason: mediaJobs.reason,
    videoSeconds: mediaJobs.seconds,
    videoTrimmed: mediaJobs.trimmed,
    outputPath: mediaJobs.outputPath,
    posterPath: mediaJobs.posterPath,
    receivedAt: messages.receivedAt,
  };
}

export type ItemRow = Awaited<ReturnType<typeof selectItems>>[number];

function selectItems(q: Queryable, where: ReturnType<typeof and>) {
  return q
    .select(itemColumns())
    .from(items)
    .innerJoin(messages, eq(messages.id, items.messageId))
    .leftJoin(mediaJobs, eq(mediaJobs.itemId, items.id))
    .leftJoin(textItem, and(eq(textItem.messageId, items.messageId), eq(textItem.kind, 'message')))
    .where(where)
    .orderBy(asc(items.id));
}

/** Items with an id in (afterId, throughId]: the ones no earlier digest showed. */
export function itemsBetween(q: Queryable, afterId: number, throughId: number) {
  return selectItems(q, and(gt(items.id, afterId), lte(items.id, throughId)));
}

export function triageItems(q: Queryable, throughId: number) {
  return selectItems(q, and(isNull(items.story), eq(items.status, 'pending'), lte(items.id, throughId)));
}

export function approvedItems(q: Queryable) {
  return selectItems(q, and(eq(items.status, 'approved'), isNotNull(items.story)));
}

export async function itemTotals(q: Queryable, throughId: number) {
  const rows = await q
    .select({ story: items.story, status: items.status, n: sql<number>`count(*)::int` })
    .from(items)
    .where(lte(items.id, throughId))
    .groupBy(items.story, items.status);
  const by = new Map<number | null, { story: number | null; pending: number; approved: number; rejected: number }>();
  for (const r of rows) {
    const t = by.get(r.story) ?? { story: r.story, pending: 0, approved: 0, rejected: 0 };
    t[r.status] += Number(r.n);
    by.set(r.story, t);
  }
  return [...by.values()];
}

/** Videos rejected or failed since `since` (null: ever). */
export async function videoProblems(q: Queryable, since: Date | null) {
  return q
    .select({ itemId: mediaJobs.itemId, story: items.story, state: mediaJobs.state, reason: mediaJobs.reason })
    .from(mediaJobs)
    .innerJoin(items, eq(items.id, mediaJobs.itemId))
    .where(and(inArray(mediaJobs.state, ['rejected', 'failed']), since ? gt(mediaJobs.updatedAt, since) : undefined))
    .orderBy(asc(mediaJobs.itemId));
}

/** Acknowledgements failed or uncertain since `since` (null: ever). lastError may quote an address: redact it. */
export async function ackProblems(q: Queryable, since: Date | null) {
  return q
    .select({ outboxId: outbox.id, messageId: outbox.messageId, state: outbox.state, error: outbox.lastError })
    .from(outbox)
    .where(and(eq(outbox.kind, 'ack'), inArray(outbox.state, ['failed', 'uncertain']), since ? gt(outbox.updatedAt, since) : undefined))
    .orderBy(asc(outbox.id));
}

export async function quarantinedBetween(q: Queryable, afterId: number, throughId: number) {
  return q
    .select({ messageId: messages.id, receivedAt: messages.receivedAt, reason: messages.quarantineReason })
    .from(messages)
    .where(and(eq(messages.status, 'quarantined'), gt(messages.id, afterId), lte(messages.id, throughId)))
    .orderBy(asc(messages.id));
}
