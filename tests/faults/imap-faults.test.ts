// IMAP network faults through a loopback TCP proxy, against the in-process IMAP server and against Dovecot
// when TEST_IMAP_URL is set: the whole daemon loop runs (runDaemon over PGlite), the proxy misbehaves, and
// afterwards every message is stored exactly once and the invariants hold.
//  B1 connection cut in the middle of a large message; B6 a silently dead IDLE; B9 a server that never greets;
//  B2 a server down at start.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { sql } from 'drizzle-orm';
import { eml, makeTestApp, tempDir, type TestApp } from '../helpers/app.ts';
import { peers, type ImapPeer } from '../helpers/imap-peer.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { runDaemon } from '../../src/pipeline/daemon.ts';
import { messages } from '../../src/db/schema.ts';
import { checkInvariants } from '../../src/db/invariants.ts';
import { makeApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { freshPglite } from '../helpers/db.ts';

type Peer = ImapPeer;

async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A logger that keeps its records, to count what the loop did. */
function recordingLog() {
  const records: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void records.push(JSON.parse(line)) });
  return { log, records };
}

/** About 3 MB of base64: larger than the grouped-fetch limit, so it is streamed on its own. */
function largeMessage(subject: string): Buffer {
  const b = 'big-b0undary';
  const payload = Buffer.alloc(2_200_000);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7919) & 0xff;
  const base64 = payload.toString('base64').replace(/.{76}/g, '$&\r\n');
  return eml({
    subject,
    contentType: `multipart/mixed; boundary="${b}"`,
    body: `--${b}\r\nContent-Type: text/plain\r\n\r\nA long video.\r\n--${b}\r\nContent-Type: application/octet-stream; name="v.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n${base64}\r\n--${b}--\r\n`,
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.each(peers)('IMAP faults on %s', (_name, makePeer) => {
  let peer: Peer;
  let proxy: TcpProxy;
  let app: TestApp | null = null;

  async function daemonApp(env: Record<string, string>, log?: pino.Logger): Promise<TestApp> {
    const full = { IMAP_URL: proxy.url(peer.url), ...env };
    if (!log) return makeTestApp('pglite', full);
    const dataDir = tempDir();
    const a = await makeApp(loadConfig({ INTAKE_DATA_DIR: dataDir, ...full }), { log, pglite: await freshPglite() });
    return Object.assign(a, {
      dataDir,
      async cleanup() {
        await a.close();
        fs.rmSync(dataDir, { recursive: true, force: true });
      },
    });
  }

  beforeEach(async () => {
    peer = await makePeer();
    const u = new URL(peer.url);
    proxy = await startTcpProxy({ host: u.hostname, port: Number(u.port) });
  });
  afterEach(async () => {
    await app?.cleanup();
    app = null;
    await proxy.close();
    await peer.close();
  });

  async function subjects(a: TestApp) {
    return (await a.db.orm.select({ s: messages.subject }).from(messages)).map((r) => r.s).sort();
  }
  async function storedCount(a: TestApp) {
    return (await a.db.orm.execute<{ n: number }>(sql`select count(*)::int as n from messages`)).rows[0].n;
  }
  async function parsedCount(a: TestApp) {
    return (await a.db.orm.execute<{ n: number }>(sql`select count(*)::int as n from messages where status = 'parsed'`)).rows[0].n;
  }
  async function expectInvariants(a: TestApp) {
    const r = await checkInvariants(a.db.orm, a.dataDir, { deep: true, graceMs: 0 });
    expect(r.problems).toEqual([]);
  }

  it('B1: a connection cut in the middle of a large message: reconnect, refetch, one complete copy', async () => {
    const big = largeMessage('the big one');
    await peer.append(eml({ subject: 'small before' }));
    await peer.append(big);
    await peer.append(eml({ subject: 'small after' }));
    proxy.cutAfter(1_200_000); // well inside the 3 MB literal of the first connection
    app = await daemonApp({ IMAP_POLL_SECONDS: '60' });
    const ac = new AbortController();
    const daemon = runDaemon(app, ac.signal);
    try {
      await until('all three parsed', async () => (await parsedCount(app!)) === 3, 60_000);
    } finally {
      ac.abort();
      await daemon;
    }
    expect(proxy.stats.cuts).toBe(1);
    expect(proxy.stats.accepted).toBeGreaterThanOrEqual(2);
    expect(await subjects(app)).toEqual(['small after', 'small before', 'the big one']);
    const [row] = (await app.db.orm.select().from(messages)).filter((m) => m.subject === 'the big one');
    expect(row.size).toBe(big.length);
    expect(row.sha256).toBe(sha(big));
    expect(row.rawComplete).toBe(true);
    expect(fs.readdirSync(`${app.dataDir}/raw/tmp`)).toEqual([]);
    await expectInvariants(app);
  }, 120_000);

  it('B6: a silently dead IDLE (no FIN, no RST) is detected by the socket timeout; mail sent meanwhile arrives', async () => {
    await peer.append(eml({ subject: 'before' }));
    // The poll interval (the other watchdog) is far beyond the test: only the socket timeout can save us.
    app = await daemonApp({ IMAP_POLL_SECONDS: '600', IMAP_SOCKET_TIMEOUT_SECONDS: '3' });
    const ac = new AbortController();
    const daemon = runDaemon(app, ac.signal);
    try {
      await until('first message', async () => (await storedCount(app!)) === 1);
      await new Promise((r) => setTimeout(r, 2500)); // IDLE starts 1 s after the last command
      const before = proxy.stats.accepted;
      proxy.stallOpen();
      await peer.append(eml({ subject: 'sent while the line was dead' }));
      await until('the message sent while stalled', async () => (await storedCount(app!)) === 2, 40_000);
      expect(proxy.stats.accepted).toBeGreaterThan(before);
      await until('both parsed', async () => (await parsedCount(app!)) === 2);
    } finally {
      ac.abort();
      await daemon;
    }
    expect(await subjects(app)).toEqual(['before', 'sent while the line was dead']);
    await expectInvariants(app);
  }, 90_000);

  it('B9: a server that accepts and never greets: the greeting timeout fires, retries back off, no hang', async () => {
    await peer.append(eml({ subject: 'waiting' }));
    proxy.setMode('stall');
    const { log, records } = recordingLog();
    app = await daemonApp({ IMAP_POLL_SECONDS: '600', IMAP_SOCKET_TIMEOUT_SECONDS: '2' }, log);
    const ac = new AbortController();
    const daemon = runDaemon(app, ac.signal);
    try {
      await until('two failed attempts', async () => records.filter((r) => r.loop === 'inbox' && r.failures).length >= 2, 30_000);
      expect(proxy.stats.accepted).toBeGreaterThanOrEqual(2);
      proxy.setMode('forward');
      await until('the message', async () => (await parsedCount(app!)) === 1, 40_000);
    } finally {
      ac.abort();
      await daemon;
    }
    const failures = records.filter((r) => r.loop === 'inbox' && r.failures);
    expect(String(failures[0].err)).toMatch(/greeting|timeout/i);
    expect(await subjects(app)).toEqual(['waiting']);
  }, 90_000);

  it('B2: a server down at start: capped backoff (no busy loop), then it catches up', async () => {
    for (let i = 0; i < 3; i++) await peer.append(eml({ subject: `queued ${i}` }));
    await proxy.refuse();
    const { log, records } = recordingLog();
    app = await daemonApp({ IMAP_POLL_SECONDS: '600' }, log);
    const ac = new AbortController();
    const daemon = runDaemon(app, ac.signal);
    try {
      await until('three refused attempts', async () => records.filter((r) => r.loop === 'inbox' && r.failures).length >= 3, 30_000);
      const failures = records.filter((r) => r.loop === 'inbox' && r.failures);
      expect(String(failures[0].err)).toMatch(/ECONNREFUSED/);
      // Each wait is longer than the one before it on average (exponential, jittered): the third is past 1 s.
      expect(failures.map((f) => f.failures)).toEqual([1, 2, 3]);
      expect(Number(failures[2].retryInMs)).toBeGreaterThanOrEqual(2000);
      await proxy.accept();
      await until('all three', async () => (await parsedCount(app!)) === 3, 40_000);
    } finally {
      ac.abort();
      await daemon;
    }
    expect(await subjects(app)).toEqual(['queued 0', 'queued 1', 'queued 2']);
    await expectInvariants(app);
  }, 90_000);
});
