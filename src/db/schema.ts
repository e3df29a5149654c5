// The database schema. Migrations in migrations/ are generated from this file by drizzle-kit
// (`npm run db:generate`) and applied identically to PGlite and PostgreSQL.
import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  index,
  integer,
  jsonb,
  real,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

export type MessageStatus = 'stored' | 'parsed' | 'quarantined';

export interface HeaderLine {
  key: string;
  value: string;
}
export interface AddressEntry {
  name: string;
  address: string | null;
}

/**
 * One row per stored message. Identity is (origin, sha256): origin is the source's dedup scope
 * (`imap:<account>/<mailbox>` for a mailbox, so a UIDVALIDITY change does not create copies; the source itself
 * for files). Message-ID is sender-controlled data and deliberately not unique.
 */
export const messages = pgTable(
  'messages',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    source: text('source').notNull(),
    origin: text('origin').notNull(),
    sha256: text('sha256').notNull(),
    size: bigint('size', { mode: 'number' }).notNull(),
    rawPath: text('raw_path').notNull(),
    rawComplete: boolean('raw_complete').notNull().default(true),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull().defaultNow(),
    status: text('status').$type<MessageStatus>().notNull().default('stored'),
    parseAttempts: integer('parse_attempts').notNull().default(0),
    parseError: text('parse_error'),
    quarantineReason: text('quarantine_reason'),
    classification: text('classification'),
    classificationReason: text('classification_reason'),
    /** Why no acknowledgement may be sent for this message (null: allowed), decided with the classification. */
    ackBlock: text('ack_block'),
    /** Set once classification, items and links are done; reset to re-run them. */
    understoodAt: timestamp('understood_at', { withTimezone: true }),
    rfcMessageId: text('rfc_message_id'),
    inReplyTo: text('in_reply_to'),
    references: jsonb('references').$type<string[]>(),
    fromAddress: text('from_address'),
    fromName: text('from_name'),
    envelopeSender: text('envelope_sender'),
    to: jsonb('to').$type<AddressEntry[]>(),
    cc: jsonb('cc').$type<AddressEntry[]>(),
    replyTo: jsonb('reply_to').$type<AddressEntry[]>(),
    subject: text('subject'),
    sentAt: timestamp('sent_at', { withTimezone: true }),
    headers: jsonb('headers').$type<HeaderLine[]>(),
    textBody: text('text_body'),
    htmlBody: text('html_body'),
    parsedAt: timestamp('parsed_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('messages_origin_sha256').on(t.origin, t.sha256),
    index('messages_status').on(t.status),
    index('messages_rfc_message_id').on(t.rfcMessageId),
    index('messages_raw_path').on(t.rawPath),
  ],
);

/** Attachments live in files under generated names; the sender's filename is sanitised display data. */
export const attachments = pgTable(
  'attachments',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    messageId: bigint('message_id', { mode: 'number' })
      .notNull()
      .references(() => messages.id, { onDelete: 'cascade' }),
    partIndex: integer('part_index').notNull(),
    filename: text('filename'),
    contentType: text('content_type').notNull(),
    disposition: text('disposition'),
    contentId: text('content_id'),
    size: bigint('size', { mode: 'number' }).notNull(),
    sha256: text('sha256').notNull(),
    path: text('path').notNull(),
    truncated: boolean('truncated').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('attachments_message_part').on(t.messageId, t.partIndex)],
);

/** Inbox position: per (mailbox, UIDVALIDITY) the highest UID whose message is committed. */
export const mailboxCheckpoints = pgTable(
  'mailbox_checkpoints',
  {
    mailbox: text('mailbox').notNull(),
    uidValidity: bigint('uid_validity', { mode: 'number' }).notNull(),
    lastUid: bigint('last_uid', { mode: 'number' }).notNull().default(0),
    updatedAt: timestamp('updated_at', { withTimezone: true })
      .notNull()
      .default(sql`now()`),
  },
  (t) => [primaryKey({ columns: [t.mailbox, t.uidValidity] })],
);

export type ItemKind = 'message' | 'video' | 'video_link';
export type ItemStatus = 'pending' | 'approved' | 'rejected';

/**
 * What a submission brings: its text, each video attachment, each video link. `key` makes extraction
 * idempotent per message ('text', 'att:<part>', 'url:<url>').
 */
export const items = pgTable(
  'items',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    messageId: bigint('message_id', { mode: 'number' })
      .notNull()
      .references(() => messages.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    kind: text('kind').$type<ItemKind>().notNull(),
    text: text('text'),
    quoted: text('quoted'),
    signature: text('signature'),
    language: text('language'),
    url: text('url'),
    attachmentId: bigint('attachment_id', { mode: 'number' }).references(() => attachments.id, { onDelete: 'set null' }),
    story: integer('story'),
    linkMethod: text('link_method'),
    linkConfidence: real('link_confidence'),
    linkReason: text('link_reason'),
    status: text('status').$type<ItemStatus>().notNull().default('pending'),
    displayName: text('display_name'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('items_message_key').on(t.messageId, t.key),
    index('items_story').on(t.story),
    index('items_status').on(t.status),
  ],
);

/** Every change to an item, by whom and when, from what to what. */
export const itemEvents = pgTable(
  'item_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    itemId: bigint('item_id', { mode: 'number' })
      .notNull()
      .references(() => items.id, { onDelete: 'cascade' }),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
    actor: text('actor').notNull(),
    action: text('action').notNull(),
    from: jsonb('from'),
    to: jsonb('to'),
    reason: text('reason'),
  },
  (t) => [index('item_events_item').on(t.itemId)],
);

export type MediaState = 'queued' | 'processing' | 'ready' | 'rejected' | 'failed';

/**
 * One media job per video item (unique item_id: creating it twice is a no-op). Claimed with
 * FOR UPDATE SKIP LOCKED; a row left `processing` by a crash is queued again once `locked_until` has passed.
 * `reason` is written for staff ("not a video", "longer than 30 minutes").
 */
export const mediaJobs = pgTable(
  'media_jobs',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    itemId: bigint('item_id', { mode: 'number' })
      .notNull()
      .references(() => items.id, { onDelete: 'cascade' }),
    attachmentId: bigint('attachment_id', { mode: 'number' }).references(() => attachments.id, { onDelete: 'set null' }),
    state: text('state').$type<MediaState>().notNull().default('queued'),
    attempts: integer('attempts').notNull().default(0),
    runAfter: timestamp('run_after', { withTimezone: true }).notNull().defaultNow(),
    lockedBy: text('locked_by'),
    lockedUntil: timestamp('locked_until', { withTimezone: true }),
    reason: text('reason'),
    lastError: text('last_error'),
    originalSeconds: real('original_seconds'),
    seconds: real('seconds'),
    trimmed: boolean('trimmed'),
    outputPath: text('output_path'),
    posterPath: text('poster_path'),
    probe: jsonb('probe'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [uniqueIndex('media_jobs_item').on(t.itemId), index('media_jobs_due').on(t.state, t.runAfter)],
);

export type OutboxKind = 'ack' | 'daily_digest' | 'final_digest' | 'family';
export type OutboxState = 'queued' | 'sending' | 'sent' | 'failed' | 'uncertain' | 'suppressed';

/**
 * Every outgoing mail, fully rendered when queued. `key` makes queueing idempotent ('ack:<message id>',
 * 'daily:<day>:<recipient>', ...). `rfc_message_id` is created with the row and never changes. A row is set
 * `sending` in its own commit before the SMTP transaction; one found `sending` after a crash becomes `uncertain`
 * and is not sent again. A suppressed acknowledgement is a row too, with its reason.
 */
export const outbox = pgTable(
  'outbox',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    key: text('key').notNull(),
    kind: text('kind').$type<OutboxKind>().notNull(),
    /** The message this acknowledges (acks only). */
    messageId: bigint('message_id', { mode: 'number' }).references(() => messages.id, { onDelete: 'set null' }),
    story: integer('story'),
    to: text('to'),
    envelopeFrom: text('envelope_from'),
    subject: text('subject'),
    textBody: text('text_body'),
    htmlBody: text('html_body'),
    headers: jsonb('headers').$type<Record<string, string>>(),
    rfcMessageId: text('rfc_message_id').notNull(),
    state: text('state').$type<OutboxState>().notNull().default('queued'),
    reason: text('reason'),
    attempts: integer('attempts').notNull().default(0),
    runAfter: timestamp('run_after', { withTimezone: true }).notNull().defaultNow(),
    lastError: text('last_error'),
    /**
     * The claim that marked the row `sending` (a token of the sender's): when the answer to that COMMIT never
     * came, the sender gives back the rows of its claim, which it never handed to the mailer.
     */
    claim: text('claim'),
    sentAt: timestamp('sent_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('outbox_key').on(t.key),
    index('outbox_due').on(t.state, t.runAfter),
    index('outbox_to_kind').on(t.to, t.kind, t.createdAt),
    index('outbox_message').on(t.messageId),
  ],
);

/** A digest that was built and queued: one row per (kind, local day), so a restart or clock jump never repeats one. */
export const digestRuns = pgTable(
  'digest_runs',
  {
    kind: text('kind').notNull(),
    day: text('day').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    items: integer('items').notNull().default(0),
    /**
     * High-water marks of what this digest covered: the next one shows items and quarantined messages with a
     * higher id. Ids, not times: the database's clock and the daemon's may differ, and either may jump.
     */
    lastItemId: bigint('last_item_id', { mode: 'number' }).notNull().default(0),
    lastMessageId: bigint('last_message_id', { mode: 'number' }).notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.kind, t.day] })],
);
