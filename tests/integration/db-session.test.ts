// RELIABILITY D6, on PostgreSQL: a transaction left idle (a peer awaited inside it) is ended by the server
// after IDLE_IN_TRANSACTION_MS, its locks with it, and the pool goes on with a new connection. Each new
// connection is given the limit (and lz4, tests/integration/bulk.test.ts) in the statement that opens it.
// Not on PGlite: its one session is shared by every client of the socket server, and the limit would end them all.
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { backends, freshPglite, freshPostgres } from '../helpers/db.ts';
import { tempDir } from '../helpers/app.ts';
import { IDLE_IN_TRANSACTION_MS, openDb } from '../../src/db/client.ts';
import { silentLogger } from '../../src/adapters/logger.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(backends.filter((b) => b === 'postgres'))('database sessions on %s', () => {
  const open = async (idleInTransactionMs?: number) => {
    const pg = await freshPostgres();
    cleanups.push(() => pg.drop());
    const dataDir = tempDir('intake-session-');
    cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    const db = await openDb({ databaseUrl: pg.url, dataDir, log: silentLogger, idleInTransactionMs });
    cleanups.push(() => db.close());
    return db;
  };

  it('every connection has the idle-in-transaction limit', async () => {
    const db = await open();
    const clients = await Promise.all([db.pool.connect(), db.pool.connect()]);
    for (const c of clients) {
      const r = await c.query(`SELECT setting::int AS ms FROM pg_settings WHERE name = 'idle_in_transaction_session_timeout'`);
      expect(r.rows[0].ms).toBe(IDLE_IN_TRANSACTION_MS);
    }
    clients.forEach((c) => c.release());
  });

  it('a transaction left idle past the limit is ended and its lock freed; the pool goes on', async () => {
    const db = await open(300);
    let locked!: () => void;
    const holding = new Promise<void>((r) => (locked = r));
    const stuck = db.orm.transaction(async (tx) => {
      await tx.execute(sql`SELECT pg_advisory_xact_lock(424242)`);
      locked();
      await delay(1500); // a hung peer awaited inside the transaction
      await tx.execute(sql`SELECT 1`);
    });
    const failed = stuck.then(
      () => null,
      (e: Error) => e,
    );
    await holding;
    const other = await db.pool.connect();
    try {
      expect((await other.query('SELECT pg_try_advisory_lock(424242) AS got')).rows[0].got).toBe(false);
      await delay(800); // past the limit: the server has ended the idle transaction
      expect((await other.query('SELECT pg_try_advisory_lock(424242) AS got')).rows[0].got).toBe(true);
      await other.query('SELECT pg_advisory_unlock(424242)');
    } finally {
      other.release();
    }
    const err = await failed;
    expect(err).toBeInstanceOf(Error);
    expect(`${err?.message} ${(err?.cause as Error | undefined)?.message ?? ''}`).toMatch(/idle-in-transaction|terminat|not queryable/i);
    // The pool drops the dead connection and lends a working one.
    expect((await db.orm.execute(sql`SELECT 2 AS two`)).rows[0]).toEqual({ two: 2 });
  });
});

describe('database sessions on pglite', () => {
  it('the embedded database keeps no idle-in-transaction limit: its one session serves every client', async () => {
    const dataDir = tempDir('intake-session-');
    cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    const db = await openDb({ dataDir, log: silentLogger, pglite: await freshPglite(), idleInTransactionMs: 300 });
    cleanups.push(() => db.close());
    const r = await db.pool.query(`SELECT setting::int AS ms FROM pg_settings WHERE name = 'idle_in_transaction_session_timeout'`);
    expect(r.rows[0].ms).toBe(0);
    // A transaction idle longer than the limit asked for still commits.
    await db.orm.transaction(async (tx) => {
      await tx.execute(sql`SELECT 1`);
      await delay(600);
      await tx.execute(sql`SELECT 2`);
    });
  });
});
