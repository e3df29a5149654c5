// The words of the pipeline.
//
// message     one email as received: raw bytes stored durably, identity (origin, sha256), then parsed.
// source      where a message came from: a file path, `<mbox>#<n>`, `imap:<mailbox>/<uidvalidity>/<uid>`.
// origin      the dedup scope of a source: the mailbox for IMAP (survives a UIDVALIDITY change), else the source.
// quarantine  a message past a budget (size, headers, parts, parse time) or unparseable: raw kept, reason recorded.
// inbox       what new mail comes from: an IMAP mailbox, or the Maildir drop folder under the data directory.
// checkpoint  per (mailbox, UIDVALIDITY) the highest UID whose message row is committed.

export interface IngestCounts {
  stored: number;
  duplicates: number;
  quarantined: number;
  failed: number;
}

export const emptyCounts = (): IngestCounts => ({ stored: 0, duplicates: 0, quarantined: 0, failed: 0 });

/** A source of new mail that the daemon drains and waits on. */
export interface Inbox {
  readonly kind: 'imap' | 'maildir';
  /** Takes every message now in the inbox through ingest. */
  drain(signal: AbortSignal): Promise<IngestCounts>;
  /** Resolves when new mail may have arrived (IDLE, a file watch) or when the poll interval has passed. */
  waitForMail(signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
  /** For `intake doctor`: can we reach it? */
  check(): Promise<string>;
}

/** One message found by `intake import`. */
/** Bytes [start, end) of a file on disk: a message that `intake import` copies without a stream. */
export interface FileRange {
  file: string;
  start: number;
  end: number;
}

export interface ImportEntry {
  source: string;
  origin: string;
  size: number;
  /** Where the bytes are: the raw store copies them through one reused buffer. */
  range: FileRange;
}

export interface Clock {
  now(): Date;
}
export const systemClock: Clock = { now: () => new Date() };
