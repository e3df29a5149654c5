// The IMAP inbox against real IMAP peers: the in-process server always, Dovecot when TEST_IMAP_URL is set.
// Each case runs the adapter (and, for IDLE and reconnects, the whole daemon loop) over PGlite.
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ImapFlow } from 'imapflow';
import { eq, sql } from 'drizzle-orm';
import { eml, makeTestApp, tempDir, writeCampaign, type TestApp } from '../helpers/app.ts';
import { startTestImapServer, type TestImapServer, type TestImapServerOptions } from '../helpers/imap-server.ts';
import {
  doveadm,
  dovecotConfigured,
  dovecotCreateMailbox,
  dovecotDeleteMailbox,
  dovecotExpunge,
  dovecotMailboxStatus,
  dovecotRecreateMailbox,
  dovecotSave,
} from '../helpers/dovecot.ts';
import { makeImapInbox, startImapSession, type ImapHooks } from '../../src/adapters/imap.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { runDaemon } from '../../src/pipeline/daemon.ts';
import { messages, mailboxCheckpoints } from '../../src/db/schema.ts';
import { emptyCounts } from '../../src/domain.ts';
import { parsePending } from '../../src/pipeline/parse.ts';

interface Peer {
  url: string;
  mailbox: string;
  append(raw: Buffer): Promise<void>;
  expunge(uid: number): Promise<void>;
  /** Recreates the mailbox under a new UIDVALIDITY holding the same messages (as a restore or migration does). */
  resetUidValidity(raws: Buffer[]): Promise<void>;
  dropConnections(): Promise<void>;
  doneMailbox: string;
  count(mailbox: string): Promise<number>;
  close(): Promise<void>;
}

async function inProcessPeer(): Promise<Peer> {
  const s: TestImapServer = await startTestImapServer({ mailboxes: ['Processed'] });
  return {
    url: s.url,
    mailbox: 'INBOX',
    append: async (raw) => void (await s.append('INBOX', raw)),
    expunge: (uid) => s.expunge('INBOX', uid),
    resetUidValidity: async () => void (await s.resetUidValidity('INBOX')), // keeps and renumbers them
    dropConnections: async () => s.dropConnections({ reset: true }),
    doneMailbox: 'Processed',
    count: async (box) => s.uids(box).length,
    close: () => s.close(),
  };
}

async function dovecotPeer(): Promise<Peer> {
  const mailbox = `T${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  await dovecotCreateMailbox(mailbox);
  await dovecotCreateMailbox(`${mailbox}Done`);
  const u = new URL(process.env.TEST_IMAP_URL!);
  u.pathname = `/${mailbox}`;
  return {
    url: u.toString(),
    mailbox,
    append: (raw) => dovecotSave(mailbox, raw),
    expunge: (uid) => dovecotExpunge(mailbox, uid),
    async resetUidValidity(raws) {
      await dovecotRecreateMailbox(mailbox);
      for (const r of raws) await dovecotSave(mailbox, r);
    },
    dropConnections: async () => void (await doveadm(['kick', u.username]).catch(() => '')),
    doneMailbox: `${mailbox}Done`,
    count: async (box) => (await dovecotMailboxStatus(box)).messages,
    async close() {
      await dovecotDeleteMailbox(mailbox).catch(() => {});
      await dovecotDeleteMailbox(`${mailbox}Done`).catch(() => {});
    },
  };
}

const peers: Array<[string, () => Promise<Peer>]> = [['in-process IMAP server', inProcessPeer]];
if (dovecotConfigured()) peers.push(['Dovecot', dovecotPeer]);

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const count = async (app: TestApp) => (await app.db.orm.select({ n: sql<number>`count(*)::int` }).from(messages))[0].n;
const parsedCount = async (app: TestApp) =>
  (await app.db.orm.select({ n: sql<number>`count(*)::int` }).from(messages).where(eq(messages.status, 'parsed')))[0].n;

describe.each(peers)('IMAP inbox on %s', (_name, makePeer) => {
  let peer: Peer;
  let app: TestApp;
  const inboxes: Array<{ close(): Promise<void> }> = [];

  async function setup(env: Record<string, string> = {}) {
    app = await makeTestApp('pglite', { IMAP_URL: peer.url, IMAP_POLL_SECONDS: '30', ...env });
  }
  function inbox(hooks?: ImapHooks) {
    const i = makeImapInbox(app.deps, app.config.imap!, hooks);
    inboxes.push(i);
    return i;
  }

  beforeEach(async () => {
    peer = await makePeer();
  });
  afterEach(async () => {
    for (const i of inboxes.splice(0)) await i.close();
    await app?.cleanup();
    await peer.close();
  });

  it('stores every message once, advances the checkpoint, and leaves the mailbox unmodified', async () => {
    await setup();
    for (let i = 0; i < 3; i++) await peer.append(eml({ subject: `m${i}`, body: `Ҷасорат ${i}\r\n` }));
    const ib = inbox();
    const ac = new AbortController();
    expect(await ib.drain(ac.signal)).toMatchObject({ stored: 3, duplicates: 0 });
    expect(await ib.drain(ac.signal)).toEqual(emptyCounts());
    const rows = await app.db.orm.select().from(messages).orderBy(messages.id);
    expect(rows.map((r) => r.source)).toEqual([1, 2, 3].map((u) => expect.stringMatching(new RegExp(`^imap:${peer.mailbox}/\\d+/${u}$`))));
    const [cp] = await app.db.orm.select().from(mailboxCheckpoints);
    expect(cp.lastUid).toBe(3);

    // Polling the same mailbox again from scratch (a second installation of the checkpoint) stores nothing new.
    await app.db.orm.delete(mailboxCheckpoints);
    expect(await inbox().drain(ac.signal)).toMatchObject({ stored: 0, duplicates: 3 });

    // Nothing was flagged: staff still see the mail as unread.
    const c = new ImapFlow({ ...imapOptions(peer.url), logger: false });
    await c.connect();
    await c.mailboxOpen(peer.mailbox, { readOnly: true });
    // \Recent is a session flag some servers report; \Seen would mean we marked the mail read.
    const flags = (await c.fetchAll('1:*', { uid: true, flags: true })).map((m) => [...(m.flags ?? [])].filter((f) => f !== '\\Recent'));
    await c.logout();
    expect(flags).toEqual([[], [], []]);
  });

  it('E9: a message that is really an mbox of several messages is stored raw as one message, not split', async () => {
    await setup();
    const one = (n: number) => eml({ subject: `inside ${n}`, body: `For Khurshed, ${n}.\r\n` }).toString();
    const mbox = Buffer.from(`From a@example.org Tue Dec  8 10:00:00 2026\r\n${one(1)}\r\nFrom b@example.org Tue Dec  8 10:01:00 2026\r\n${one(2)}`);
    await peer.append(mbox);
    const ac = new AbortController();
    expect(await inbox().drain(ac.signal)).toMatchObject({ stored: 1, duplicates: 0, quarantined: 0 });
    await parsePending(app.deps);
    const rows = await app.db.orm.select().from(messages);
    expect(rows).toHaveLength(1);
    const at = app.rawStore.locate(rows[0].rawPath);
    const raw = fs.readFileSync(at.file).subarray(at.start, at.start + 64).toString('latin1');
    expect(raw.startsWith('From a@example.org')).toBe(true);
    expect(rows[0].size).toBeGreaterThanOrEqual(mbox.length - 4); // whole (a server may end it with a line break of its own)
    expect(['parsed', 'quarantined']).toContain(rows[0].status);
  });

  it('stores a backlog of several fetch groups, with a large message between them, once each and in UID order', async () => {
    await setup();
    const n = 230; // groups of 100 small messages; the large one (over 1 MiB) is streamed alone between them
    for (let i = 1; i <= n; i++)
      await peer.append(eml({ subject: `b${i}`, body: i === 120 ? `${'Ж'.repeat(700_000)}\r\n` : `message ${i}\r\n` }));
    const ac = new AbortController();
    expect(await inbox().drain(ac.signal)).toMatchObject({ stored: n, duplicates: 0 });
    const rows = await app.db.orm.select({ id: messages.id, source: messages.source, size: messages.size }).from(messages).orderBy(messages.id);
    expect(rows.map((r) => Number(r.source.split('/').pop()))).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(rows[119].size).toBeGreaterThan(1024 * 1024);
    const [cp] = await app.db.orm.select().from(mailboxCheckpoints);
    expect(cp.lastUid).toBe(n);
    expect(await inbox().drain(ac.signal)).toEqual(emptyCounts());
  });

  it('picks up mail appended while idling, and catches up after a dropped connection', async () => {
    await setup({ IMAP_POLL_SECONDS: '60' });
    await peer.append(eml({ subject: 'before' }));
    const ac = new AbortController();
    const daemon = runDaemon(app, ac.signal);
    try {
      await until('first message', async () => (await count(app)) === 1);
      await new Promise((r) => setTimeout(r, 2500)); // long enough for IDLE to start
      await peer.append(eml({ subject: 'while idling' }));
      await until('message appended while idling', async () => (await count(app)) === 2, 15_000);

      await peer.dropConnections();
      await peer.append(eml({ subject: 'after the cut' }));
      await until('message after reconnect', async () => (await parsedCount(app)) === 3, 30_000);
    } finally {
      ac.abort();
      await daemon;
    }
    const subjects = (await app.db.orm.select({ s: messages.subject }).from(messages)).map((r) => r.s).sort();
    expect(subjects).toEqual(['after the cut', 'before', 'while idling']);
  }, 90_000);

  it('adds no duplicates when UIDVALIDITY changes', async () => {
    await setup();
    const old = [0, 1, 2].map((i) => eml({ subject: `old ${i}`, messageId: `<old${i}@x>` }));
    for (const m of old) await peer.append(m);
    const ac = new AbortController();
    expect((await inbox().drain(ac.signal)).stored).toBe(3);
    await peer.resetUidValidity(old);
    await peer.append(eml({ subject: 'new after resync' }));
    const second = await inbox().drain(ac.signal);
    expect(second).toMatchObject({ stored: 1, duplicates: 3 });
    expect(await count(app)).toBe(4);
    const cps = await app.db.orm.select().from(mailboxCheckpoints);
    expect(cps).toHaveLength(2); // one per UIDVALIDITY
  });

  it('skips a message expunged by another client between SEARCH and FETCH', async () => {
    await setup();
    for (let i = 1; i <= 3; i++) await peer.append(eml({ subject: `m${i}` }));
    const ac = new AbortController();
    let expunged = false;
    const counts = await inbox({
      afterSearch: async () => {
        if (expunged) return;
        expunged = true;
        await peer.expunge(2);
      },
    }).drain(ac.signal);
    expect(counts).toMatchObject({ stored: 2, failed: 0 });
    await parsePending(app.deps);
    const subjects = (await app.db.orm.select({ s: messages.subject }).from(messages)).map((r) => r.s).sort();
    expect(subjects).toEqual(['m1', 'm3']);
    const [cp] = await app.db.orm.select().from(mailboxCheckpoints);
    expect(cp.lastUid).toBe(3);
    expect(await inbox().drain(ac.signal)).toEqual(emptyCounts());
  });

  it('asks the size only of the messages SEARCH LARGER names, and stores small, medium and large ones alike', async () => {
    const target = new URL(peer.url);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
    try {
      await setup({ IMAP_URL: proxy.url(peer.url) });
      const bodies = ['small one', 'м'.repeat(60_000), 'small two', 'ж'.repeat(700_000), 'small three'];
      for (const [i, b] of bodies.entries()) await peer.append(eml({ subject: `s${i + 1}`, body: `${b}\r\n` }));
      expect(await inbox().drain(new AbortController().signal)).toMatchObject({ stored: 5, duplicates: 0 });
      const rows = await app.db.orm.select({ size: messages.size }).from(messages).orderBy(messages.id);
      expect(rows).toHaveLength(5);
      expect(rows[1].size).toBeGreaterThan(100_000);
      expect(rows[3].size).toBeGreaterThan(1024 * 1024);
      // The two over 64 KiB (UIDs 2 and 4) are sized; the small ones never are. (download() asks the size of the
      // one it streams again.)
      const said = proxy.fromClients();
      expect(said).toMatch(/UID SEARCH UID 1:5 LARGER 65536/i);
      const sizeFetches = [...said.matchAll(/UID FETCH ([\d,:]+) \([^)]*RFC822\.SIZE[^)]*\)/gi)].map((m) => m[1]);
      expect(sizeFetches[0]).toBe('2,4');
      expect(sizeFetches.flatMap((set) => set.split(',')).every((u) => u === '2' || u === '4')).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  it('checks the size before download: an oversized message keeps only its headers and is quarantined', async () => {
    const dir = tempDir('intake-imap-');
    await setup({ INTAKE_CAMPAIGN: writeCampaign(dir, { messageBytes: 4000 }) });
    await peer.append(eml({ subject: 'too big', body: 'x'.repeat(20_000) }));
    await peer.append(eml({ subject: 'small' }));
    const counts = await inbox().drain(new AbortController().signal);
    expect(counts).toMatchObject({ stored: 1, quarantined: 1 });
    const [big] = await app.db.orm.select().from(messages).where(eq(messages.status, 'quarantined'));
    expect(big.rawComplete).toBe(false);
    expect(big.size).toBeLessThan(1000);
    expect(big.quarantineReason).toMatch(/larger than/);
  });

  it('moves committed mail to IMAP_MOVE_TO when asked', async () => {
    await setup({ IMAP_MOVE_TO: peer.doneMailbox });
    for (let i = 0; i < 2; i++) await peer.append(eml({ subject: `m${i}` }));
    expect((await inbox().drain(new AbortController().signal)).stored).toBe(2);
    expect(await peer.count(peer.mailbox)).toBe(0);
    expect(await peer.count(peer.doneMailbox)).toBe(2);
    // Moved mail is not seen again.
    expect(await inbox().drain(new AbortController().signal)).toEqual(emptyCounts());
  });
});

function imapOptions(url: string) {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port),
    secure: false,
    auth: { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) },
  };
}

/**
 * One inbox over the in-process server with these options and settings, for servers that behave as Dovecot
 * does not (no MOVE, quota refusals, throttling); server, app and inbox are closed after `fn`.
 */
async function withServer(
  opts: TestImapServerOptions & { mailbox?: string },
  env: Record<string, string>,
  fn: (s: { server: TestImapServer; app: TestApp; inbox: ReturnType<typeof makeImapInbox>; signal: AbortSignal }) => Promise<void>,
) {
  const server = await startTestImapServer(opts);
  const url = new URL(server.url);
  if (opts.mailbox) url.pathname = `/${opts.mailbox}`;
  const app = await makeTestApp('pglite', { IMAP_URL: url.toString(), ...env });
  const inbox = makeImapInbox(app.deps, app.config.imap!);
  try {
    await fn({ server, app, inbox, signal: new AbortController().signal });
  } finally {
    await inbox.close();
    await app.cleanup();
    await server.close();
  }
}

describe('IMAP servers that refuse', () => {
  it('a mailbox that cannot be opened fails the drain and leaves no session logged in, however often it is retried', () =>
    withServer({ mailbox: 'NoSuchFolder' }, {}, async ({ server, inbox, signal }) => {
      for (let i = 0; i < 3; i++) await expect(inbox.drain(signal)).rejects.toThrow();
      await until('the sessions to end', async () => server.connectionCount() === 0, 5_000);
    }));

  it("B7: with no MOVE or UIDPLUS, IMAP_MOVE_TO leaves the mail where it is and never expunges, so another client's deleted-marked mail survives", () =>
    withServer(
      { mailboxes: ['Processed'], noMove: true, messages: [eml({ subject: 'a' }), eml({ subject: 'b' })] },
      { IMAP_MOVE_TO: 'Processed' },
      async ({ server, inbox, signal }) => {
        // Another client (staff) marks the second message deleted, without expunging it.
        const staff = new ImapFlow({ ...imapOptions(server.url), logger: false });
        await staff.connect();
        try {
          await staff.mailboxOpen('INBOX');
          await staff.messageFlagsAdd('2', ['\\Deleted'], { uid: true });
          expect(capabilities(staff)).not.toContain('MOVE');
          expect(capabilities(staff)).not.toContain('UIDPLUS');
          expect(await inbox.drain(signal)).toMatchObject({ stored: 2 });
          expect(await inbox.drain(signal)).toEqual(emptyCounts());
          expect(server.uids('INBOX')).toEqual([1, 2]); // nothing moved, nothing expunged
          expect(server.uids('Processed')).toEqual([]);
        } finally {
          await staff.logout();
        }
      },
    ));

  it('B8: a move refused for quota keeps the mail stored once, and moves it on a later pass once the server takes it', () =>
    withServer(
      { mailboxes: ['Processed'], messages: [eml({ subject: 'a' }), eml({ subject: 'b' })] },
      { IMAP_MOVE_TO: 'Processed' },
      async ({ server, app, inbox, signal }) => {
        server.refuseMoves(true);
        expect(await inbox.drain(signal)).toMatchObject({ stored: 2 });
        expect(server.uids('INBOX')).toEqual([1, 2]);
        expect(await inbox.drain(signal)).toEqual(emptyCounts()); // tried again, refused again, nothing stored twice
        expect(server.uids('Processed')).toEqual([]);
        server.refuseMoves(false);
        expect(await inbox.drain(signal)).toEqual(emptyCounts());
        expect(server.uids('INBOX')).toEqual([]);
        expect(server.uids('Processed')).toHaveLength(2);
        expect(await count(app)).toBe(2);
      },
    ));

  it('B11: a login refused with [THROTTLED] is a wait of a minute or more and a retry, not a wrong password; the next try reads the mailbox', () =>
    withServer({ messages: [eml({ subject: 'a' })] }, {}, async ({ server, inbox, signal }) => {
      server.throttleLogins(true);
      const err = await inbox.drain(signal).then(
        () => null,
        (e: unknown) => e as { message: string; retryable?: boolean; retryAfterMs?: number },
      );
      expect(err?.message).toBe('IMAP: the server asks us to wait (THROTTLED); trying again later');
      expect(err?.retryable).toBe(true);
      expect(err?.retryAfterMs).toBeGreaterThanOrEqual(60_000);
      server.throttleLogins(false);
      expect(await inbox.drain(signal)).toMatchObject({ stored: 1 });
    }));
});

describe('an IMAP session started ahead of its inbox (run --once logs in while the database migrates)', () => {
  it('is the inbox\'s first session: one login, and the mail is read through it', () =>
    withServer({ messages: [eml({ subject: 'a' }), eml({ subject: 'b' })] }, {}, async ({ server, app, signal }) => {
      const started = startImapSession(app.config.imap!, app.config.campaign.limits.messageBytes);
      await until('the session to be open', async () => server.connectionCount() === 1, 5_000);
      const inbox = makeImapInbox(app.deps, app.config.imap!, {}, started);
      try {
        expect(await inbox.drain(signal)).toMatchObject({ stored: 2 });
        expect(server.connectionCount()).toBe(1);
        await started.close(); // taken: not the caller's to end
        expect(await inbox.drain(signal)).toEqual(emptyCounts());
        expect(server.connectionCount()).toBe(1);
      } finally {
        await inbox.close();
      }
      await until('the session to end', async () => server.connectionCount() === 0, 5_000);
    }));

  it('a refused login is what the first drain reports, without logging in again; the next drain tries anew', () =>
    withServer({ messages: [eml({ subject: 'a' })] }, {}, async ({ server, app, signal }) => {
      server.throttleLogins(true);
      const started = startImapSession(app.config.imap!, app.config.campaign.limits.messageBytes);
      const inbox = makeImapInbox(app.deps, app.config.imap!, {}, started);
      try {
        await expect(inbox.drain(signal)).rejects.toThrow(/THROTTLED/);
        expect(server.loginCount()).toBe(1);
        server.throttleLogins(false);
        expect(await inbox.drain(signal)).toMatchObject({ stored: 1 });
        expect(server.loginCount()).toBe(2);
      } finally {
        await inbox.close();
      }
    }));

  it('logs out when no inbox took it', () =>
    withServer({}, {}, async ({ server, app }) => {
      const started = startImapSession(app.config.imap!, app.config.campaign.limits.messageBytes);
      await until('the session to be open', async () => server.connectionCount() === 1, 5_000);
      await started.close();
      await until('the session to end', async () => server.connectionCount() === 0, 5_000);
    }));
});

const capabilities = (c: ImapFlow) => [...c.capabilities.keys()];
