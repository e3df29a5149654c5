// Queries on items and their history.
import { and, asc, eq, inArray, isNull, sql } from 'drizzle-orm';
import { attachments, itemEvents, items, messages, type ItemKind, type ItemStatus } from './schema.ts';
import type { Queryable } from './messages.ts';
import { insertRows } from './bulk.ts';
import type { MessageFacts } from '../core/facts.ts';

export async function pendingUnderstanding(q: Queryable, limit: number, afterId = 0) {
  return q
    .select({ id: messages.id })
    .from(messages)
    .where(and(eq(messages.status, 'parsed'), isNull(messages.understoodAt), sql`${messages.id} > ${afterId}`))
    .orderBy(asc(messages.id))
    .limit(limit);
}

export async function loadFacts(q: Queryable, id: number): Promise<MessageFacts | null> {
  return (await loadFactsOf(q, [id])).get(id) ?? null;
}

/** loadFacts for several messages in two queries: id -> facts (ids not found are absent). */
export async function loadFactsOf(q: Queryable, ids: number[]): Promise<Map<number, MessageFacts>> {
  const out = new Map<number, MessageFacts>();
  if (!ids.length) return out;
  // Only the columns the decisions read: mapping a row costs per column.
  const rows = await q
    .select({
      id: messages.id,
      headers: messages.headers,
      fromAddress: messages.fromAddress,
      fromName: messages.fromName,
      envelopeSender: messages.envelopeSender,
      to: messages.to,
      cc: messages.cc,
      replyTo: messages.replyTo,
      subject: messages.subject,
      rfcMessageId: messages.rfcMessageId,
      inReplyTo: messages.inReplyTo,
      references: messages.references,
      textBody: messages.textBody,
      htmlBody: messages.htmlBody,
    })
    .from(messages)
    .where(inArray(messages.id, ids));
  const atts = await q
    .select({ messageId: attachments.messageId, id: attachments.id, contentType: attachments.contentType, filename: attachments.filename, size: attachments.size })
    .from(attachments)
    .where(inArray(attachments.messageId, ids))
    .orderBy(asc(attachments.messageId), asc(attachments.partIndex));
  const attsOf = new Map<number, MessageFacts['attachments']>();
  for (const { messageId, ...a } of atts) {
    const list = attsOf.get(messageId) ?? [];
    list.push(a);
    attsOf.set(messageId, list);
  }
  for (const m of rows) out.set(m.id, factsOf(m, attsOf.get(m.id) ?? []));
  return out;
}

/** The columns of a message row the facts come from. */
export type FactsRow = Pick<
  typeof messages.$inferSelect,
  'headers' | 'fromAddress' | 'fromName' | 'envelopeSender' | 'to' | 'cc' | 'replyTo' | 'subject' | 'rfcMessageId' | 'inReplyTo' | 'references' | 'textBody' | 'htmlBody'
>;

/** A message's facts from its row and its attachments (in part order). */
export function factsOf(m: FactsRow, attachments: MessageFacts['attachments']): MessageFacts {
  return {
    headers: m.headers ?? [],
    from: m.fromAddress !== null || m.fromName !== null ? { name: m.fromName ?? '', address: m.fromAddress } : null,
    envelopeSender: m.envelopeSender,
    to: m.to ?? [],
    cc: m.cc ?? [],
    replyTo: m.replyTo ?? [],
    subject: m.subject,
    rfcMessageId: m.rfcMessageId,
    inReplyTo: m.inReplyTo,
    references: m.references ?? [],
    text: m.textBody,
    html: m.htmlBody,
    attachments,
  };
}

export interface NewItem {
  key: string;
  kind: ItemKind;
  text?: string | null;
  quoted?: string | null;
  signature?: string | null;
  language?: string | null;
  url?: string | null;
  attachmentId?: number | null;
  story: number | null;
  linkMethod: string | null;
  linkConfidence: number;
  linkReason: string;
  displayName?: string | null;
}

/** The classification of several messages in one statement, marking them understood. */
export async function setClassifications(
  q: Queryable,
  list: Array<{ id: number; classification: string; reason: string | null; ackBlock: string | null }>,
  at: Date,
): Promise<void> {
  if (!list.length) return;
  await q.execute(sql`
    update ${messages} as m set classification = r.classification, classification_reason = r.reason,
      ack_block = r.ack_block, understood_at = ${at}
    from jsonb_to_recordset(${JSON.stringify(list.map((x) => ({ id: x.id, classification: x.classification, reason: x.reason, ack_block: x.ackBlock })))}::jsonb)
      as r(id bigint, classification text, reason text, ack_block text)
    where m.id = r.id`);
}

/** An item's row with every column given (the shape insertRows needs). */
function itemRow(messageId: number, i: NewItem) {
  return {
    messageId,
    key: i.key,
    kind: i.kind,
    text: i.text ?? null,
    quoted: i.quoted ?? null,
    signature: i.signature ?? null,
    language: i.language ?? null,
    url: i.url ?? null,
    attachmentId: i.attachmentId ?? null,
    story: i.story,
    linkMethod: i.linkMethod,
    linkConfidence: i.linkConfidence,
    linkReason: i.linkReason,
    displayName: i.displayName ?? null,
  };
}

/** insertItems for several messages in one statement; returns the new items with their ids. */
export async function insertItemsOf<T extends NewItem>(
  q: Queryable,
  list: Array<{ messageId: number; item: T }>,
): Promise<Array<{ id: number; messageId: number; item: T }>> {
  if (!list.length) return [];
  const rows = await insertRows(q, items, list.map(({ messageId, item }) => itemRow(messageId, item)), {
    onConflict: sql`ON CONFLICT (message_id, key) DO NOTHING`,
    returning: { id: items.id, messageId: items.messageId, key: items.key },
  });
  const byKey = new Map(list.map((x) => [`${x.messageId}\n${x.item.key}`, x.item]));
  return rows.map((r) => ({ id: r.id, messageId: r.messageId, item: byKey.get(`${r.messageId}\n${r.key}`)! }));
}

/** Inserts the items a message has not got yet; returns the new ones' ids and keys. */
export async function insertItems(q: Queryable, messageId: number, list: NewItem[]): Promise<Array<{ id: number; key: string }>> {
  if (!list.length) return [];
  const rows = await q
    .insert(items)
    .values(list.map((i) => ({ ...i, messageId })))
    .onConflictDoNothing({ target: [items.messageId, items.key] })
    .returning({ id: items.id, key: items.key });
  return rows;
}

/** Several events in one statement. */
export async function recordEvents(
  q: Queryable,
  list: Array<{ itemId: number; actor: string; action: string; from?: unknown; to?: unknown; reason?: string | null; at?: Date }>,
) {
  if (!list.length) return;
  const at = new Date();
  await insertRows(
    q,
    itemEvents,
    list.map((e) => ({ itemId: e.itemId, actor: e.actor, action: e.action, from: e.from ?? null, to: e.to ?? null, reason: e.reason ?? null, at: e.at ?? at })),
  );
}

export async function recordEvent(
  q: Queryable,
  e: { itemId: number; actor: string; action: string; from?: unknown; to?: unknown; reason?: string | null; at?: Date },
) {
  await q.insert(itemEvents).values({ ...e, from: e.from ?? null, to: e.to ?? null, reason: e.reason ?? null });
}

export async function getItems(q: Queryable, ids: number[]) {
  if (!ids.length) return [];
  return q.select().from(items).where(inArray(items.id, ids)).orderBy(asc(items.id));
}

export async function listItems(q: Queryable, f: { story?: number | null; status?: ItemStatus } = {}) {
  const conds = [];
  if (f.story !== undefined) conds.push(f.story === null ? isNull(items.story) : eq(items.story, f.story));
  if (f.status) conds.push(eq(items.status, f.status));
  return q
    .select()
    .from(items)
    .where(conds.length ? and(...conds) : undefined)
    .orderBy(asc(items.id));
}

export async function itemHistory(q: Queryable, itemId: number) {
  return q.select().from(itemEvents).where(eq(itemEvents.itemId, itemId)).orderBy(asc(itemEvents.id));
}

export async function itemsOfMessages(q: Queryable, messageIds: number[]) {
  if (!messageIds.length) return [];
  return q
    .select({ id: items.id, messageId: items.messageId, story: items.story, linkMethod: items.linkMethod, kind: items.kind })
    .from(items)
    .where(inArray(items.messageId, messageIds))
    .orderBy(asc(items.id));
}
