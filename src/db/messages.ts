// Queries on messages and attachments.
import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import type { Orm } from './client.ts';
import { attachments, messages } from './schema.ts';
import { insertRows } from './bulk.ts';
import type { ParsedMessage } from '../adapters/mime.ts';
import type { MessageFacts } from '../core/facts.ts';
import { factsOf } from './items.ts';

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

/** Inserts unless (origin, sha256) is already stored; returns the id and whether this call created it. */
export async function insertMessage(q: Queryable, m: NewMessage): Promise<{ id: number; created: boolean }> {
  return (await insertMessages(q, [m]))[0];
}

/**
 * Inserts each message unless (origin, sha256) is already stored: one statement for the list (plus one lookup
 * when some are duplicates). Returns, in the order given, the id and whether this call created the row. Two
 * equal messages in one list: the first is created, the second is its duplicate.
 */
export async function insertMessages(q: Queryable, list: NewMessage[]): Promise<Array<{ id: number; created: boolean }>> {
  if (!list.length) return [];
  const rows = await insertRows(q, messages, list.map(messageRow), {
    onConflict: sql`ON CONFLICT (origin, sha256) DO NOTHING`,
    returning: { id: messages.id, rawPath: messages.rawPath },
  });
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
    .select({ id: messages.id, rawPath: messages.rawPath, size: messages.size, parseAttempts: messages.parseAttempts })
    .from(messages)
    .where(and(eq(messages.status, 'stored'), sql`${messages.id} > ${afterId}`))
    .orderBy(asc(messages.id))
    .limit(limit);
}

/** Counted before the parse starts, so a message that kills the process every time still runs out of tries. */
export async function countParseAttempts(q: Queryable, ids: number[]): Promise<Map<number, number>> {
  if (!ids.length) return new Map();
  const rows = await q
    .update(messages)
    .set({ parseAttempts: sql`${messages.parseAttempts} + 1` })
    .where(inArray(messages.id, ids))
    .returning({ id: messages.id, n: messages.parseAttempts });
  return new Map(rows.map((r) => [r.id, r.n]));
}

/** An attempt given back: the parse failed for want of disk space, which is not the message's doing. */
export async function giveBackParseAttempt(q: Queryable, id: number): Promise<void> {
  await q
    .update(messages)
    .set({ parseAttempts: sql`greatest(${messages.parseAttempts} - 1, 0)` })
    .where(eq(messages.id, id));
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

/** A message's classification, as setClassifications writes it. */
export interface Classified {
  classification: string;
  reason: string | null;
  ackBlock: string | null;
}

/**
 * The parse results of several messages and their attachments: one INSERT, one UPDATE (rows as one JSON
 * value). `classify`, when given, is handed each message's facts as loadFactsOf would read them back from what
 * is written (the same JSON, read back; attachment ids from the INSERT), and its classifications go into the
 * same UPDATE, marking those messages understood: a message row is written once for both. Returns the facts.
 */
export async function saveParsed(
  q: Queryable,
  list: Array<{ id: number; parsed: ParsedMessage }>,
  classify?: (facts: Map<number, MessageFacts>) => Map<number, Classified>,
  at: Date = new Date(),
): Promise<Map<number, MessageFacts>> {
  const facts = new Map<number, MessageFacts>();
  if (!list.length) return facts;
  // Keyed as the drizzle row is (the recordset below names its columns so), for factsOf.
  const rows = list.map(({ id, parsed: p }) => ({
    id,
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
  }));
  // Strings are sanitised upstream; toWellFormed again because a cut at a length limit can split a pair, and
  // jsonb (unlike a text parameter) rejects the lone surrogate that JSON.stringify would write.
  const json = JSON.stringify(rows, (_k, v) => (typeof v === 'string' ? v.toWellFormed() : v));
  const atts = list.flatMap(({ id, parsed }) =>
    parsed.attachments.map((a) => ({
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
  );
  const attIds = atts.length
    ? await insertRows(q, attachments, atts, {
        onConflict: sql`ON CONFLICT (message_id, part_index) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256, truncated = excluded.truncated`,
        returning: { id: attachments.id, messageId: attachments.messageId, partIndex: attachments.partIndex },
      })
    : [];
  let classified: Map<number, Classified> | undefined;
  if (classify) {
    // atts is in part order within each message (as the parser returns them); the ids come by (message, part).
    const idOf = new Map(attIds.map((a) => [`${a.messageId}:${a.partIndex}`, a.id]));
    const attsOf = new Map<number, MessageFacts['attachments']>();
    for (const a of atts) {
      const own = attsOf.get(a.messageId) ?? [];
      own.push({ id: idOf.get(`${a.messageId}:${a.partIndex}`)!, contentType: a.contentType.toWellFormed(), filename: a.filename?.toWellFormed() ?? null, size: a.size });
      attsOf.set(a.messageId, own);
    }
    // What the rows will hold: the JSON they are written from, read back (the same strings, made well-formed).
    for (const r of JSON.parse(json) as typeof rows) facts.set(r.id, factsOf(r, attsOf.get(r.id) ?? []));
    classified = classify(facts);
  }
  const cls = JSON.stringify([...(classified ?? [])].map(([id, c]) => ({ id, classification: c.classification, reason: c.reason, ack_block: c.ackBlock })));
  // A message without a classification here keeps its columns (null: the understand stage takes it).
  await q.execute(sql`
    update ${messages} as m set
      status = 'parsed', parse_error = null, parsed_at = ${new Date()},
      rfc_message_id = r."rfcMessageId", in_reply_to = r."inReplyTo", "references" = r."references",
      from_address = r."fromAddress", from_name = r."fromName", envelope_sender = r."envelopeSender",
      "to" = r."to", cc = r.cc, reply_to = r."replyTo", subject = r.subject, sent_at = r."sentAt",
      headers = r.headers, text_body = r."textBody", html_body = r."htmlBody",
      classification = case when c.id is null then m.classification else c.classification end,
      classification_reason = case when c.id is null then m.classification_reason else c.reason end,
      ack_block = case when c.id is null then m.ack_block else c.ack_block end,
      understood_at = case when c.id is null then m.understood_at else ${at} end
    from jsonb_to_recordset(${json}::jsonb) as r(
      id bigint, "rfcMessageId" text, "inReplyTo" text, "references" jsonb, "fromAddress" text, "fromName" text,
      "envelopeSender" text, "to" jsonb, cc jsonb, "replyTo" jsonb, subject text, "sentAt" timestamptz,
      headers jsonb, "textBody" text, "htmlBody" text)
    left join jsonb_to_recordset(${cls}::jsonb) as c(id bigint, classification text, reason text, ack_block text) on c.id = r.id
    where m.id = r.id`);
  return facts;
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
