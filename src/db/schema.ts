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
