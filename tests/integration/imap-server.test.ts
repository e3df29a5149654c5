// Proves tests/helpers/imap-server.ts against the real client the adapter uses: every assertion here
// goes over a socket through imapflow, so a helper that lies about IMAP fails these tests. Also pins
// down the imapflow behaviour the adapter relies on (what download() gives for a vanished UID, which
// events a dropped connection fires), so an imapflow upgrade that changes it shows up here first.
import { createHash } from 'node:crypto';
import net from 'node:net';
import type { Readable } from 'node:stream';
import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startTestImapServer, type TestImapServer } from '../helpers/imap-server.ts';

const crlf = (...lines: string[]) => lines.join('\r\n');

// 8-bit UTF-8 headers and body, plus what a byte-exact store must not "fix": a bare LF, a lone CR and
// a byte that is not valid UTF-8.
const utf8Message = Buffer.concat([
  Buffer.from(
    crlf(
      'From: Zoë Müller <zoe@example.org>',
      'To: intake@example.org',
      'Subject: Grüße aus Köln — 東京 🚀',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      'Première ligne, 中文, emoji 🌍',
      'bare LF follows\nthen a lone CR\rthen latin1: ',
    ),
    'utf8',
  ),
  Buffer.from([0xe9, 0x0d, 0x0a]),
]);

// Every byte value but NUL, which IMAP4rev1 literals cannot carry (CHAR8 is %x01-ff).
const allBytesMessage = Buffer.concat([
  Buffer.from(crlf('Subject: all bytes', 'Content-Type: application/octet-stream', '', '')),
  Buffer.from(Array.from({ length: 255 }, (_, i) => i + 1)),
  Buffer.from('\r\n'),
]);

/** Deterministic pseudo-random bytes without NUL, so a failure is reproducible. */
function bigMessage(size: number): Buffer {
  const head = Buffer.from(crlf('Subject: five megabytes', 'Content-Type: application/octet-stream', '', ''));
  const body = Buffer.alloc(size - head.length);
  let x = 0x2545f491;
  for (let i = 0; i < body.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    body[i] = ((x >>> 0) % 255) + 1;
  }
  return Buffer.concat([head, body]);
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Resolves with the first emission of `event`, or rejects after `ms` (so a missing event fails fast). */
function nextEvent<T = unknown>(client: ImapFlow, event: string, ms = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' within ${ms} ms`)), ms);
    client.once(event, (value: T) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

let server: TestImapServer;
let clients: ImapFlow[];

/** A client configured from the helper's URL, the way the adapter gets its settings. */
function newClient(extra: Partial<ImapFlowOptions> = {}): ImapFlow {
  const url = new URL(server.url);
  const client = new ImapFlow({
    host: url.hostname,
    port: Number(url.port),
    secure: false,
    auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) },
    logger: false,
    ...extra,
  });
  // imapflow emits 'error' on socket failures; without a listener that would crash the worker.
  client.on('error', () => {});
  clients.push(client);
  return client;
}

async function download(client: ImapFlow, uid: number): Promise<Buffer> {
  const { content } = await client.download(String(uid), undefined, { uid: true });
  if (!content) throw new Error(`download of UID ${uid} returned no content`);
  return readAll(content);
}

beforeEach(async () => {
  clients = [];
  server = await startTestImapServer({ messages: [utf8Message, allBytesMessage], mailboxes: ['Processed'] });
});

afterEach(async () => {
  for (const c of clients) c.close();
  await server.close();
});

describe('test IMAP server, driven by imapflow', () => {
  it('logs in with the URL credentials, refuses others, and lists UIDs with byte sizes', async () => {
    expect(server.url).toBe(`imap://intake:intake-secret@127.0.0.1:${server.port}/INBOX`);

    const intruder = newClient({ auth: { user: 'intake', pass: 'wrong' } });
    await expect(intruder.connect()).rejects.toMatchObject({ authenticationFailed: true });

    const client = newClient();
    await client.connect();
    const lock = await client.getMailboxLock('INBOX');
    try {
      const listed: Array<[number, number | undefined]> = [];
      for await (const m of client.fetch('1:*', { uid: true, size: true })) listed.push([m.uid, m.size]);
      expect(listed).toEqual([
        [1, utf8Message.length],
        [2, allBytesMessage.length],
      ]);
    } finally {
      lock.release();
    }
  });

  it('downloads 8-bit UTF-8, every byte value and bare CR/LF byte for byte', async () => {
    const client = newClient();
    await client.connect();
    await client.mailboxOpen('INBOX', { readOnly: true });
    expect((await download(client, 1)).toString('hex')).toBe(utf8Message.toString('hex'));
    expect((await download(client, 2)).toString('hex')).toBe(allBytesMessage.toString('hex'));
  });

  it('serves a 5 MB message appended by the helper, byte for byte', async () => {
    const big = bigMessage(5 * 1024 * 1024);
    expect(await server.append('INBOX', big)).toBe(3);

    const client = newClient();
    await client.connect();
    await client.mailboxOpen('INBOX', { readOnly: true });
    const meta = await client.fetchOne('3', { uid: true, size: true }, { uid: true });
    expect(meta && meta.size).toBe(big.length);
    const got = await download(client, 3);
    expect(got.length).toBe(big.length);
    expect(sha(got)).toBe(sha(big));
  });

  it('wakes an idling client with EXISTS when the helper appends', async () => {
    const client = newClient({ autoIdleDelay: 100 });
    await client.connect();
    await client.mailboxOpen('INBOX', { readOnly: true });
    // Appending before IDLE starts would only prove EXISTS on the next command, not the IDLE push.
    await vi.waitFor(() => expect(client.idling).toBe(true), { timeout: 3000 });

    const exists = nextEvent<{ path: string; count: number; prevCount: number }>(client, 'exists', 3000);
    const uid = await server.append('INBOX', 'Subject: late\r\n\r\narrived while idling\r\n');
    expect(await exists).toEqual({ path: 'INBOX', count: 3, prevCount: 2 });
    expect(await client.search({ all: true }, { uid: true })).toEqual([1, 2, uid]);
  });

  // Raw protocol, since imapflow copes either way: pins the IDLE override (hoodiecrow's own plugin kept
  // pushing notifications after DONE, which no real server does between commands).
  it('after IDLE ends, an EXPUNGE from another client waits for the next command', async () => {
    const socket = net.connect(server.port, '127.0.0.1');
    let wire = '';
    socket.on('data', (d: Buffer) => (wire += d.toString('latin1')));
    const sent = async (line: string, reply: RegExp) => {
      socket.write(`${line}\r\n`);
      await vi.waitFor(() => expect(wire).toMatch(reply), { timeout: 2000 });
    };
    try {
      await vi.waitFor(() => expect(wire).toMatch(/^\* OK/), { timeout: 2000 });
      await sent(`a LOGIN ${server.user} ${server.pass}`, /a OK/);
      await sent('b SELECT INBOX', /b OK/);
      await sent('c IDLE', /\+ idling/);
      await sent('DONE', /c OK/);
      const mark = wire.length;
      await server.expunge('INBOX', 1);
      await new Promise((r) => setTimeout(r, 200));
      expect(wire.slice(mark)).toBe('');
      await sent('d NOOP', /d OK/);
      expect(wire.slice(mark)).toMatch(/^\* 1 EXPUNGE\r\n\* 1 EXISTS\r\nd OK/);
    } finally {
      socket.destroy();
    }
  });

  it('expunge after UID SEARCH: download() resolves to {} and UID FETCH leaves the UID out', async () => {
    const client = newClient();
    await client.connect();
    await client.mailboxOpen('INBOX', { readOnly: true });
    expect(await client.search({ all: true }, { uid: true })).toEqual([1, 2]);

    const expunged = nextEvent<{ path: string; seq: number }>(client, 'expunge');
    await server.expunge('INBOX', 1);
    // No throw: imapflow asks three times (logging warnings), then gives an empty object.
    const d = await client.download('1', undefined, { uid: true });
    expect(d).toEqual({});
    expect(await expunged).toMatchObject({ path: 'INBOX', seq: 1 });

    const sizes = await client.fetchAll('1:2', { uid: true, size: true }, { uid: true });
    expect(sizes.map((m) => [m.seq, m.uid, m.size])).toEqual([[1, 2, allBytesMessage.length]]);
  });

  it('expunge in the middle of a download makes the stream fail, never end short', async () => {
    const uid = await server.append('INBOX', bigMessage(1024 * 1024));
    const client = newClient();
    await client.connect();
    await client.mailboxOpen('INBOX', { readOnly: true });
    const { content } = await client.download(String(uid), undefined, { uid: true });
    if (!content) throw new Error('no content');
    let received = 0;
    const consume = (async () => {
      for await (const chunk of content) {
        if (received === 0) await server.expunge('INBOX', uid);
        received += (chunk as Buffer).length;
      }
    })();
    await expect(consume).rejects.toMatchObject({ code: 'DownloadIncomplete' });
    expect(received).toBeLessThan(1024 * 1024);
  });

  it('resetUidValidity: the selected session gets BYE, a new one sees the new UIDVALIDITY and UIDs from 1', async () => {
    await server.expunge('INBOX', 1);
    expect(server.uids('INBOX')).toEqual([2]);

    const before = newClient();
    await before.connect();
    expect((await before.mailboxOpen('INBOX')).uidValidity).toBe(1000n);
    const closed = nextEvent(before, 'close');
    expect(await server.resetUidValidity('INBOX')).toBe(1001);
    await closed;
    expect(server.uidValidity('INBOX')).toBe(1001);

    const after = newClient();
    await after.connect();
    const lock = await after.getMailboxLock('INBOX');
    try {
      expect(after.mailbox && after.mailbox.uidValidity).toBe(1001n);
      expect(await after.search({ all: true }, { uid: true })).toEqual([1]);
      expect((await download(after, 1)).equals(allBytesMessage)).toBe(true);
    } finally {
      lock.release();
    }
  });

  it('dropConnections: the client emits close, becomes unusable, and can reconnect', async () => {
    const client = newClient();
    await client.connect();
    await client.mailboxOpen('INBOX');
    const closed = nextEvent(client, 'close');
    server.dropConnections();
    await closed;
    expect(client.usable).toBe(false);
    await expect(client.mailboxOpen('INBOX')).rejects.toMatchObject({ code: 'NoConnection' });

    // imapflow never reconnects an instance: recovery is a new ImapFlow.
    const again = newClient();
    await again.connect();
    expect((await again.mailboxOpen('INBOX')).exists).toBe(2);
  });

  it('dropConnections({ reset: true }): error ECONNRESET comes before close', async () => {
    const client = newClient();
    await client.connect();
    await client.mailboxOpen('INBOX');
    const events: string[] = [];
    client.on('error', (err: NodeJS.ErrnoException) => events.push(`error ${err.code}`));
    const closed = nextEvent(client, 'close').then(() => events.push('close'));
    server.dropConnections({ reset: true });
    await closed;
    expect(events).toEqual(['error ECONNRESET', 'close']);
  });

  it("serves the adapter's command set: EXAMINE, UID SEARCH UID n:*, headers, UID MOVE", async () => {
    const client = newClient();
    await client.connect();
    const box = await client.mailboxOpen('INBOX', { readOnly: true });
    expect(box.readOnly).toBe(true);
    expect(await client.search({ uid: '2:*' }, { uid: true })).toEqual([2]);
    // n:* past the last UID still matches the highest UID (RFC 3501): callers must filter.
    expect(await client.search({ uid: '7:*' }, { uid: true })).toEqual([2]);
    const headers = await client.fetchOne('1', { uid: true, headers: true }, { uid: true });
    expect(headers && headers.headers?.toString('utf8')).toContain('Subject: Grüße aus Köln');

    await client.mailboxOpen('INBOX');
    const moved = await client.messageMove('1', 'Processed', { uid: true });
    expect(moved && moved.uidMap && [...moved.uidMap]).toEqual([[1, 1]]);
    expect(server.uids('INBOX')).toEqual([2]);
    expect(server.uids('Processed')).toEqual([1]);
  });
});
