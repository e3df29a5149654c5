// The whole daemon (`intake run` as a child process) under faults of its own process and of its database:
//  A10 SIGTERM while a backlog is being stored: exits 0 within its deadline, nothing half-done, a rerun
//      completes everything exactly once;
//  D1  PostgreSQL down at start, then cut off mid-run (through a TCP proxy in front of 127.0.0.1:5432: the
//      machine's server itself is never restarted): the daemon waits, reconnects, loses and doubles nothing;
//  D2  COMMITs whose answer never comes (the connection dies once the server has it): the retries find the
//      work done; every message, item and acknowledgement exists once;
//  C8  a tarpit SMTP server holding a send: mail dropped in the inbox meanwhile is stored and parsed.
import fs from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { eml, tempDir } from '../helpers/app.ts';
import { exited, runCli, startCli } from '../helpers/cli.ts';
import { backends, freshPostgres } from '../helpers/db.ts';
import { bestPeer } from '../helpers/imap-peer.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { startSmtpSink } from '../helpers/smtp-sink.ts';

function logOf(child: ChildProcess) {
  const log = { text: '' };
  child.stderr!.on('data', (d) => (log.text += d));
  return log;
}

async function until(what: string, fn: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function listed(env: Record<string, string>): Promise<Array<{ subject: string; status: string; source: string }>> {
  const r = await runCli(['messages', '--json'], env);
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

const letters = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => eml({ subject: `letter ${from + i}`, body: `For Khurshed, ${from + i}.\r\n` }));

const BACKLOG = 600;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

async function setup(backend: string) {
  const peer = await bestPeer();
  cleanups.push(() => peer.close());
  const dataDir = tempDir('intake-df-');
  cleanups.push(async () => fs.rmSync(dataDir, { recursive: true, force: true }));
  const env: Record<string, string> = { INTAKE_DATA_DIR: dataDir, IMAP_URL: peer.url, IMAP_POLL_SECONDS: '5' };
  let dbUrl: string | undefined;
  if (backend === 'postgres') {
    const db = await freshPostgres();
    cleanups.push(() => db.drop());
    dbUrl = db.url;
    env.DATABASE_URL = db.url;
  }
  return { peer, env, dataDir, dbUrl };
}

/** setup('postgres'), with a TCP proxy in front of the server for the daemon and a direct client for the test. */
async function setupBehindProxy() {
  const s = await setup('postgres');
  const target = new URL(s.dbUrl!);
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  cleanups.push(() => proxy.close());
  const direct = new pg.Client({ connectionString: s.dbUrl });
  await direct.connect();
  cleanups.push(() => direct.end());
  return { ...s, proxy, direct };
}

function spawnDaemon(env: Record<string, string>) {
  const child = startCli(['run'], env);
  cleanups.push(async () => void child.kill('SIGKILL'));
  return { child, log: logOf(child) };
}

describe.each(backends)('A10: SIGTERM under load on %s', (backend) => {
  it('stops fetching, finishes what is in flight, exits 0; nothing half-done; the rerun completes exactly once', async () => {
    const { peer, env } = await setup(backend);
    await peer.appendMany(letters(0, BACKLOG));
    const d = spawnDaemon(env);
    await until('the first messages stored', () => /message stored/.test(d.log.text), 90_000);
    d.child.kill('SIGTERM');
    // The shutdown deadline exits 1; 0 means everything in flight ended before it.
    const end = await exited(d.child);
    expect(end, d.log.text.slice(-3000)).toEqual({ code: 0, signal: null });
    expect(d.log.text).toMatch(/"signal":"SIGTERM".*"msg":"stopping"/);
    expect(d.log.text).toMatch(/daemon stopped/);

    // Nothing half-done: every row has its file and no file is without its row, before any recovery ran.
    const now = await runCli(['doctor', '--invariants', '--grace', '0'], env);
    expect({ code: now.code, out: now.stdout + now.stderr.slice(-2000) }).toMatchObject({ code: 0, out: expect.stringMatching(/^ok +invariants/) });
    // The backlog was really interrupted: not everything was stored, or not everything processed.
    const partial = await listed(env);
    expect(partial.length < BACKLOG || partial.some((m) => m.status !== 'parsed')).toBe(true);

    const rerun = await runCli(['run', '--once'], env);
    expect(rerun.code, rerun.stderr).toBe(0);
    const rows = await listed(env);
    expect(rows).toHaveLength(BACKLOG);
    expect(new Set(rows.map((m) => m.subject)).size).toBe(BACKLOG);
    expect(rows.every((m) => m.status === 'parsed')).toBe(true);
    const after = await runCli(['doctor', '--invariants', '--grace', '0'], env);
    expect(after.code, after.stdout).toBe(0);
  }, 240_000);
});

describe.each(backends.filter((b) => b === 'postgres'))('D1: the database goes away (%s behind a TCP proxy)', () => {
  it('down at start: waits; cut off mid-run: reconnects; no loss, no duplicates, the daemon survives', async () => {
    const { peer, env, dbUrl, proxy, direct } = await setupBehindProxy();
    const count = async (status?: string) => {
      const q = `select count(*)::int as n from messages ${status ? 'where status = $1' : ''}`;
      // Before the daemon's first migration there is no table yet.
      const r = await direct.query(q, status ? [status] : []).catch((err) => (err.code === '42P01' ? { rows: [{ n: 0 }] } : Promise.reject(err)));
      return Number(r.rows[0].n);
    };

    await proxy.refuse();
    await peer.appendMany(letters(0, 10));
    const d = spawnDaemon({ ...env, DATABASE_URL: proxy.url(dbUrl!) });
    await until('the daemon to wait for the database', () => /database unreachable; waiting for it/.test(d.log.text), 60_000);
    expect(d.child.exitCode).toBeNull();
    await proxy.accept();
    await until('the first 10 parsed', async () => (await count('parsed')) === 10, 90_000);

    // Mid-run: every connection is cut and new ones are refused while mail keeps arriving.
    await proxy.refuse();
    await peer.appendMany(letters(10, 10));
    const errorsBefore = (d.log.text.match(/failed; retrying/g) ?? []).length;
    await until('the loops to notice', () => (d.log.text.match(/failed; retrying/g) ?? []).length > errorsBefore, 30_000);
    expect(await count()).toBe(10); // nothing could be stored meanwhile
    await proxy.accept();
    await until('all 20 parsed', async () => (await count('parsed')) === 20, 90_000);
    expect(d.child.exitCode).toBeNull();

    // Once more, the other way round: the connections die (FIN) while idle, the server comes back at once.
    proxy.dropAll();
    await peer.appendMany(letters(20, 5));
    await until('all 25 parsed', async () => (await count('parsed')) === 25, 90_000);

    d.child.kill('SIGTERM');
    expect((await exited(d.child)).code).toBe(0);
    const subjects = (await direct.query('select subject from messages')).rows.map((r) => r.subject);
    expect(subjects).toHaveLength(25);
    expect(new Set(subjects).size).toBe(25);
    // A message whose commit was cut off may have left its durable raw file: the next start takes it in.
    const once = await runCli(['run', '--once'], env);
    expect(once.code, once.stderr).toBe(0);
    expect(await count()).toBe(25);
    const inv = await runCli(['doctor', '--invariants', '--grace', '0'], env);
    expect(inv.code, inv.stdout).toBe(0);
  }, 300_000);
});

describe.each(backends.filter((b) => b === 'postgres'))('D2: a COMMIT whose answer never comes (%s behind a TCP proxy)', () => {
  it('the retries find the work done: every message, item and acknowledgement once; the invariants hold', async () => {
    const { peer, env, dbUrl, proxy, direct } = await setupBehindProxy();
    const one = async (q: string) => Number((await direct.query(q)).rows[0].n);

    const d = spawnDaemon({ ...env, DATABASE_URL: proxy.url(dbUrl!), LOG_LEVEL: 'debug' });
    await until('the daemon to start', () => /daemon started/.test(d.log.text), 90_000);
    // The next four COMMITs the daemon sends (storing a group with its checkpoint, saving a parse with its
    // understanding, queueing acknowledgements, marking sends) are done by the server and never answered.
    proxy.loseReplyTo('commit', 4);
    const supporters = Array.from({ length: 20 }, (_, i) => `s${i}@example.org`);
    await peer.appendMany(supporters.map((a, i) => eml({ from: `Supporter ${i} <${a}>`, subject: `letter ${i}`, body: `For Khurshed, ${i}.\r\n` })));
    await until('all 20 parsed, and their acknowledgements gone out', async () =>
      (await one(`select count(*)::int as n from messages where status = 'parsed' and understood_at is not null`)) === 20 &&
      (await one(`select count(*)::int as n from outbox where kind = 'ack'`)) === 20 &&
      (await one(`select count(*)::int as n from outbox where state in ('queued', 'sending')`)) === 0,
    120_000);
    expect(proxy.stats.cuts).toBe(4);
    expect(d.log.text).toMatch(/failed; retrying/);

    expect(await one('select count(*)::int as n from messages')).toBe(20);
    expect(await one('select count(distinct subject)::int as n from messages')).toBe(20);
    expect(await one(`select count(*)::int as n from items where kind = 'message'`)).toBe(20);
    expect(await one(`select count(*)::int as n from (select message_id from items group by message_id having count(*) > 1) x`)).toBe(0);
    expect(await one(`select count(*)::int as n from outbox where kind = 'ack'`)).toBe(20);
    expect(await one(`select count(distinct message_id)::int as n from outbox where kind = 'ack'`)).toBe(20);
    d.child.kill('SIGTERM');
    expect((await exited(d.child)).code).toBe(0);
    // Every row sent (a claim whose commit went unanswered was given back and sent later, a lost 'sent' mark
    // written again), and each acknowledgement written once.
    expect((await direct.query(`select state, count(*)::int as n from outbox group by state`)).rows).toEqual([{ state: 'sent', n: await one('select count(*)::int as n from outbox') }]);
    const sentDir = path.join(env.INTAKE_DATA_DIR, 'sent');
    const to = fs.readdirSync(sentDir).flatMap((f) => /^To: (.*)$/m.exec(fs.readFileSync(path.join(sentDir, f), 'utf8'))?.[1] ?? []);
    expect(to.filter((a) => supporters.includes(a)).sort()).toEqual([...supporters].sort());
    const inv = await runCli(['doctor', '--invariants', '--grace', '0'], env);
    expect(inv.code, inv.stdout).toBe(0);
  }, 240_000);
});

describe('C8: a tarpit SMTP server', () => {
  it('a send the server holds does not hold up ingestion; once the server answers, every row goes out once', async () => {
    const sink = await startSmtpSink();
    cleanups.push(() => sink.close());
    // The answer to RCPT TO is held until the test lets go; the socket timeout (600 s) outlasts the test, so
    // the send stays stuck for as long as the test looks.
    sink.tarpit = { replies: ['rcpt'] };
    const dataDir = tempDir('intake-tarpit-');
    cleanups.push(async () => fs.rmSync(dataDir, { recursive: true, force: true }));
    const env = { INTAKE_DATA_DIR: dataDir, INBOX_POLL_SECONDS: '1', SMTP_URL: sink.url, SMTP_SOCKET_TIMEOUT_SECONDS: '600' };
    const drop = (name: string, from: string, subject: string) => {
      // the way an MTA delivers: write in tmp/, rename into new/
      const tmp = path.join(dataDir, 'inbox/tmp', name);
      fs.writeFileSync(tmp, eml({ from, subject, headers: { 'Return-Path': `<${from.replace(/.*<|>/g, '')}>` }, body: 'For Khurshed.\r\n' }));
      fs.renameSync(tmp, path.join(dataDir, 'inbox/new', name));
    };
    const d = spawnDaemon(env);
    await until('the daemon to start', () => /daemon started/.test(d.log.text), 90_000);
    const outboxRows = async () => JSON.parse((await runCli(['outbox', '--json'], env)).stdout) as Array<{ to: string; state: string }>;
    drop('a.eml', 'Nigora <nigora@example.tj>', 'Story 8');
    drop('a2.eml', 'Farrukh <farrukh@example.tj>', 'Story 8 too');
    // One send is held at RCPT TO (an acknowledgement, or a daily digest due at start), and another row waits
    // behind it: a loop that sent before storing or parsing would now be stuck too.
    await until('a send held at RCPT TO, another row queued', async () => sink.held === 1 && (await outboxRows()).some((r) => r.state === 'queued'), 90_000);

    drop('b.eml', 'Sitora <sitora@example.tj>', 'Story 8, again');
    await until('the next message to be stored and parsed', async () =>
      (await listed(env)).some((m) => m.subject === 'Story 8, again' && m.status === 'parsed'),
    );
    // ...while that send is still held: nothing has gone out, its row is still mid-send, the rest wait.
    expect(sink.held).toBe(1);
    expect(sink.received).toHaveLength(0);
    expect((await outboxRows()).filter((r) => r.state !== 'queued').map((r) => r.state)).toEqual(['sending']);

    sink.tarpit = null;
    sink.release();
    const acked = ['farrukh@example.tj', 'nigora@example.tj', 'sitora@example.tj'];
    const to = () => sink.received.map((r) => r.rcptTo[0]);
    await until('the three acknowledgements to arrive', () => acked.every((a) => to().includes(a)));
    await until('every row sent', async () => (await outboxRows()).every((r) => r.state === 'sent'));
    expect(to().sort()).toEqual((await outboxRows()).map((r) => r.to).sort()); // each one once
    d.child.kill('SIGTERM');
    expect((await exited(d.child)).code, d.log.text.slice(-3000)).toBe(0);
  }, 240_000);
});
