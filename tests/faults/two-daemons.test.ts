// A11: two `intake run` processes on one database, one data directory and one inbox, mail arriving while
// both run. One reads the inbox (and parses); the other waits. On PostgreSQL the waiting one takes over when
// the reader is killed; on the embedded database the process that owns it is the only reader.
// Afterwards every message is stored once and `intake doctor --invariants` holds.
import fs from 'node:fs';
import pg from 'pg';
import type { ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { eml, tempDir } from '../helpers/app.ts';
import { exited, runCli, startCli } from '../helpers/cli.ts';
import { backends, freshPostgres } from '../helpers/db.ts';
import { bestPeer, type ImapPeer } from '../helpers/imap-peer.ts';

function logOf(child: ChildProcess) {
  const log = { text: '' };
  child.stderr!.on('data', (d) => (log.text += d));
  return log;
}

async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function listed(env: Record<string, string>): Promise<Array<{ subject: string; status: string; source: string }>> {
  const r = await runCli(['messages', '--json'], env);
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

describe.each(backends)('two daemons on one %s database and one inbox', (backend) => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  });

  it('one reads the inbox, the other waits (and takes over on PostgreSQL); each message is stored once', async () => {
    const peer: ImapPeer = await bestPeer();
    cleanups.push(() => peer.close());
    const dataDir = tempDir('intake-two-');
    cleanups.push(async () => fs.rmSync(dataDir, { recursive: true, force: true }));
    const env: Record<string, string> = { INTAKE_DATA_DIR: dataDir, IMAP_URL: peer.url, IMAP_POLL_SECONDS: '5' };
    if (backend === 'postgres') {
      const db = await freshPostgres();
      cleanups.push(() => db.drop());
      env.DATABASE_URL = db.url;
    } else {
      // The first process creates the embedded database; the second must find it owned.
      const migrated = await runCli(['db', 'migrate'], env);
      expect(migrated.code, migrated.stderr).toBe(0);
    }
    const batch = (from: number, n: number) => Array.from({ length: n }, (_, i) => eml({ subject: `m${from + i}`, body: `letter ${from + i}\r\n` }));
    await peer.appendMany(batch(0, 10));

    const a = startCli(['run'], env);
    const aLog = logOf(a);
    cleanups.push(async () => void a.kill('SIGKILL'));
    await until('the first daemon to start', async () => /daemon started/.test(aLog.text));
    // A mail the reader is sending right now (its row is `sending`): a daemon that starts beside it must not
    // mark it uncertain; only the one that takes over from a dead reader does.
    const outboxState = async (): Promise<string> => {
      const c = new pg.Client({ connectionString: env.DATABASE_URL });
      await c.connect();
      try {
        const r = await c.query(`SELECT state FROM outbox WHERE key = 'test:in-flight'`);
        return r.rows[0]?.state;
      } finally {
        await c.end();
      }
    };
    if (backend === 'postgres') {
      // Once the reader has parsed the first mail it has led for a while (its own start-up recovery is done).
      await until('10 messages parsed', async () => (await listed(env)).filter((m) => m.status === 'parsed').length === 10);
      const c = new pg.Client({ connectionString: env.DATABASE_URL });
      await c.connect();
      await c.query(
        `INSERT INTO outbox (key, kind, "to", subject, text_body, rfc_message_id, state)
         VALUES ('test:in-flight', 'daily_digest', 'staff@notorture.example.org', 'digest', 'text', '<in-flight@test>', 'sending')`,
      );
      await c.end();
    }
    const b = startCli(['run'], env);
    const bLog = logOf(b);
    cleanups.push(async () => void b.kill('SIGKILL'));
    await until('the second daemon to start', async () => /daemon started/.test(bLog.text));

    await peer.appendMany(batch(10, 10));
    await until('20 messages parsed', async () => (await listed(env)).filter((m) => m.status === 'parsed').length === 20);

    const leads = (log: { text: string }) => /inbox leader: this daemon reads the inbox/.test(log.text);
    const connected = (log: { text: string }) => /imap connected/.test(log.text);
    expect(connected(aLog)).toBe(true);
    expect(connected(bLog)).toBe(false);
    if (backend === 'postgres') expect(leads(aLog) && !leads(bLog)).toBe(true);
    expect(bLog.text).toMatch(
      backend === 'postgres' ? /another daemon reads the inbox; waiting to take over/ : /another process owns the embedded database and reads the inbox/,
    );

    let survivor = a;
    if (backend === 'postgres') {
      expect(await outboxState()).toBe('sending');
      // The reader dies; its session ends, the lock goes with it, the other takes over and catches up.
      a.kill('SIGKILL');
      await exited(a);
      await peer.appendMany(batch(20, 10));
      await until('the second daemon to take over', async () => leads(bLog), 30_000);
      await until('30 messages parsed', async () => (await listed(env)).filter((m) => m.status === 'parsed').length === 30);
      await until('the dead reader\'s send to be marked uncertain', async () => (await outboxState()) === 'uncertain', 30_000);
      survivor = b;
    } else {
      b.kill('SIGTERM');
      expect((await exited(b)).code).toBe(0);
    }
    survivor.kill('SIGTERM');
    expect((await exited(survivor)).code).toBe(0);

    const total = backend === 'postgres' ? 30 : 20;
    const rows = await listed(env);
    expect(rows).toHaveLength(total);
    expect(new Set(rows.map((m) => m.subject)).size).toBe(total);
    expect(new Set(rows.map((m) => m.source)).size).toBe(total);
    // A killed reader may leave a durable raw file whose row never committed: the next start takes it in.
    const once = await runCli(['run', '--once'], env);
    expect(once.code, once.stderr).toBe(0);
    expect(await listed(env)).toHaveLength(total);
    const inv = await runCli(['doctor', '--invariants', '--grace', '0'], env);
    expect(inv.code, inv.stdout).toBe(0);
  }, 240_000);
});
