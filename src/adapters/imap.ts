import type { ImapConfig } from '../config.ts';
import type { Inbox } from '../domain.ts';
import type { IngestDeps } from '../pipeline/ingest.ts';
import { IntakeError } from '../errors.ts';
export function makeImapInbox(_deps: IngestDeps, _cfg: ImapConfig): Inbox {
  throw new IntakeError('CONFIG', 'IMAP_URL: the IMAP inbox is not available in this build');
}
