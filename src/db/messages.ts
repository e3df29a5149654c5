// Queries on messages and attachments.
import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import type { Orm } from './client.ts';
import { attachments, messages } from './schema.ts';
import type { ParsedMessage } from '../adapters/mime.ts';

export type Tx = Parameters<Parameters<Orm['transaction']>[0]>[0];
export type Queryable = Orm | Tx;

export interface NewMessage {
  source: string;
  origin: string;
  sha256: string;
  size: number;
  rawPath: string;
  rawComplete: boolean;
  receivedAt: Date;
  quarantineReason?: string;
}

function messageRow(m: NewMessage) {
  const quarantined = m.quarantineReason !== undefined;
  return {
    source: m.source,
    origin: m.origin,
    sha256: m.sha256,
    size: m.size,
    rawPath: m.rawPath,
    rawComplete: m.rawComplete,
    receivedAt: m.receivedAt,
    status: quarantined ? ('quarantined' as const) : ('stored' as const),
    quarantineReason: m.quarantineReason ?? null,
    classification: quarantined ? 'quarantined' : null,
    classificationReason: m.quarantineReason ?? null,
  };
}

/**
 * Inserts each message unless (origin, sha256) is already stored: one statement for the list (plus one lookup
 * when some are duplicates). Returns, in the order given, the id and whether this call created the row. Two
 * equal messages in one list: the first is created, the second is its duplicate.
 */
export async function insertMessages(q: Queryable, list: NewMessage[]): Promise<Array<{ id: number; created: boolean }>> {
  if (!list.length) return [];
  const rows = await q
    .insert(messages)
    .values(list.map(messageRow))
    .onConflictDoNothing({ target: [messages.origin, messages.sha256] })
    .returning({ id: messages.id, rawPath: messages.rawPath });
  const created = new Map(rows.map((r) => [r.rawPath, r.id]));
  const missing = list.filter((m) => !created.has(m.rawPath));
  const existing = new Map<string, number>();
  if (missing.length) {
    const found = await q
      .select({ id: messages.id, origin: messages.origin, sha256: messages.sha256 })
      .from(messages)
      .where(
        and(
          inArray(messages.sha256, [...new Set(missing.map((m) => m.sha256))]),
          inArray(messages.origin, [...new Set(missing.map((m) => m.origin))]),
        ),
      );
    for (const f of found) existing.set(`${f.origin}\n${f.sha256}`, f.id);
  }
  return list.map((m) => {
    const id = created.get(m.rawPath);
    return id !== undefined ? { id, created: true } : { id: existing.get(`${m.origin}\n${m.sha256}`)!, created: false };
  });
}

export async function allRawPaths(q: Queryable): Promise<Set<string>> {
  const rows = await q.select({ p: messages.rawPath }).from(messages);
  return new Set(rows.map((r) => r.p));
}

export async function pendingParse(q: Queryable, limit: number, afterId = 0) {
  return q
    .select({ id: messages.id, rawPath: messages.rawPath, parseAttempts: messages.parseAttempts })
    .from(messages)
    .where(and(eq(messages.status, 'stored'), sql`${messages.id} > ${afterId}`))
    .orderBy(asc(messages.id))
    .limit(limit);
}

/** Counted before the parse starts, so a message that kills the process every time still runs out of tries. */
export async function countParseAttempt(q: Queryable, id: number): Promise<number> {
  const rows = await q
    .update(messages)
    .set({ parseAttempts: sql`${messages.parseAttempts} + 1` })
    .where(eq(messages.id, id))
    .returning({ n: messages.parseAttempts });
  return rows[0]?.n ?? 0;
}

export async function quarantine(q: Queryable, id: number, reason: string): Promise<void> {
  await q
    .update(messages)
    .set({ status: 'quarantined', quarantineReason: reason, classification: 'quarantined', classificationReason: reason })
    .where(eq(messages.id, id));
}

export async function recordParseError(q: Queryable, id: number, error: string): Promise<void> {
  await q.update(messages).set({ parseError: error }).where(eq(messages.id, id));
}

export async function saveParsed(q: Queryable, id: number, p: ParsedMessage): Promise<void> {
  await q
    .update(messages)
    .set({
      status: 'parsed',
      parseError: null,
      rfcMessageId: p.rfcMessageId,
      inReplyTo: p.inReplyTo,
      references: p.references,
      fromAddress: p.from?.address ?? null,
      fromName: p.from?.name || null,
      envelopeSender: p.envelopeSender,
      to: p.to,
      cc: p.cc,
      replyTo: p.replyTo,
      subject: p.subject,
      sentAt: p.sentAt,
      headers: p.headers,
      textBody: p.text,
      htmlBody: p.html,
      parsedAt: new Date(),
    })
    .where(eq(messages.id, id));
  if (p.attachments.length) {
    await q
      .insert(attachments)
      .values(
        p.attachments.map((a) => ({
          messageId: id,
          partIndex: a.partIndex,
          filename: a.filename,
          contentType: a.contentType,
          disposition: a.disposition,
          contentId: a.contentId,
          size: a.size,
          sha256: a.sha256,
          path: a.relPath,
          truncated: a.truncated,
        })),
      )
      .onConflictDoUpdate({
        target: [attachments.messageId, attachments.partIndex],
        set: { size: sql`excluded.size`, sha256: sql`excluded.sha256`, truncated: sql`excluded.truncated` },
      });
  }
}

export interface MessageListing {
  id: number;
  source: string;
  rfcMessageId: string | null;
  sha256: string;
  receivedAt: Date;
  from: string | null;
  subject: string | null;
  status: string;
  classification: string | null;
  classificationReason: string | null;
  size: number;
  attachments: number;
}

export async function listMessages(q: Queryable, ids?: number[]): Promise<MessageListing[]> {
  const rows = await q
    .select({
      id: messages.id,
      source: messages.source,
      rfcMessageId: messages.rfcMessageId,
      sha256: messages.sha256,
      receivedAt: messages.receivedAt,
      from: messages.fromAddress,
      subject: messages.subject,
      status: messages.status,
      classification: messages.classification,
      classificationReason: messages.classificationReason,
      size: messages.size,
      attachments: sql<number>`(select count(*)::int from ${attachments} a where a.message_id = ${messages.id})`,
    })
    .from(messages)
    .where(ids ? inArray(messages.id, ids) : undefined)
    .orderBy(asc(messages.id));
  return rows;
}

export async function countByStatus(q: Queryable): Promise<Record<string, number>> {
  const rows = await q
    .select({ status: messages.status, n: sql<number>`count(*)::int` })
    .from(messages)
    .groupBy(messages.status);
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}
