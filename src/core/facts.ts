// What the pure core knows of a stored message: built from the messages row and its attachments, so every
// decision (classification, linking, items) can be recomputed from the database without re-parsing.
import type { AddressEntry, HeaderLine } from '../db/schema.ts';

export type { AddressEntry, HeaderLine };

export interface MessageFacts {
  /** Header lines in order; key lowercased, value unfolded but not decoded (encoded-words stay as sent). */
  headers: HeaderLine[];
  /** The first From address, decoded; address null when it held none we accept (an encoded-word trick). */
  from: AddressEntry | null;
  /** Return-Path: null when absent; '' for the null sender `<>` or an unusable value; else the address. */
  envelopeSender: string | null;
  to: AddressEntry[];
  cc: AddressEntry[];
  replyTo: AddressEntry[];
  /** Decoded subject, single line. */
  subject: string | null;
  rfcMessageId: string | null;
  inReplyTo: string | null;
  references: string[];
  /** The plain-text body as decoded by the parser (HTML-only mail: null). */
  text: string | null;
  html: string | null;
  /** Content types of the stored attachments (lowercased), in part order. */
  attachments: Array<{ id: number; contentType: string; filename: string | null; size: number }>;
}

/** All values of a header, by lowercased name. */
export function headerValues(facts: Pick<MessageFacts, 'headers'>, name: string): string[] {
  const n = name.toLowerCase();
  return facts.headers.filter((h) => h.key === n).map((h) => h.value);
}
