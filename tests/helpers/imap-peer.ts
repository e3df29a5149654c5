// One mailbox on a real IMAP peer for whole-daemon tests: Dovecot when TEST_IMAP_URL is set (a fresh mailbox
// per test), else the in-process server. `peers` lists every peer configured, for suites that run on each.
import { startTestImapServer } from './imap-server.ts';
import { dovecotConfigured, dovecotCreateMailbox, dovecotDeleteMailbox, dovecotSave, dovecotSaveMany } from './dovecot.ts';

export interface ImapPeer {
  name: string;
  /** imap://user:pass@host:port/<mailbox> */
  url: string;
  append(raw: Buffer): Promise<void>;
  appendMany(raws: Buffer[]): Promise<void>;
  close(): Promise<void>;
}

export async function inProcessPeer(): Promise<ImapPeer> {
  const s = await startTestImapServer();
  return {
    name: 'in-process IMAP server',
    url: s.url,
    append: async (raw) => void (await s.append('INBOX', raw)),
    async appendMany(raws) {
      for (const r of raws) await s.append('INBOX', r);
    },
    close: () => s.close(),
  };
}

export async function dovecotPeer(): Promise<ImapPeer> {
  const mailbox = `F${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  await dovecotCreateMailbox(mailbox);
  const u = new URL(process.env.TEST_IMAP_URL!);
  u.pathname = `/${mailbox}`;
  return {
    name: 'Dovecot',
    url: u.toString(),
    append: (raw) => dovecotSave(mailbox, raw),
    appendMany: (raws) => dovecotSaveMany(mailbox, raws),
    close: () => dovecotDeleteMailbox(mailbox).catch(() => {}),
  };
}

export const peers: Array<[string, () => Promise<ImapPeer>]> = [['in-process IMAP server', inProcessPeer]];
if (dovecotConfigured()) peers.push(['Dovecot', dovecotPeer]);

/** The most real peer configured: Dovecot when set, else the in-process server. */
export const bestPeer = (): Promise<ImapPeer> => (dovecotConfigured() ? dovecotPeer() : inProcessPeer());
