// The embedded database served over its socket to several connections at once: each parameterised query (an
// extended-protocol batch) gets its own answer, and a failing one fails alone (src/db/pglite-queue.ts).
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb, type Db } from '../../src/db/client.ts';
import { keepsTurn } from '../../src/db/pglite-queue.ts';
import { silentLogger } from '../../src/adapters/logger.ts';
import { freshPglite } from '../helpers/db.ts';
import { tempDir } from '../helpers/app.ts';

describe('embedded database over its socket', () => {
  let db: Db;
  let dir: string;
  beforeAll(async () => {
    dir = tempDir('intake-sock-');
    db = await openDb({ dataDir: dir, log: silentLogger, pglite: await freshPglite(), poolSize: 6 });
  });
  afterAll(async () => {
    await db?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers every concurrent parameterised query with its own rows', async () => {
    const n = 400;
    const got = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        // Different statements with different columns: a Bind or Execute of one connection's batch that lands on
        // another's statement shows as a wrong row, a missing row or an error.
        i % 2
          ? db.pool.query<{ n: number; s: string }>(`SELECT $1::int AS n, repeat($2::text, $1::int % 7) AS s`, [i, 'x'])
          : db.pool.query<{ n: number; s: string }>(`SELECT g AS n, repeat('x', g % 7) AS s FROM generate_series($1::int, $1::int) g`, [i]),
      ),
    );
    const wrong = got.map((r, i) => ({ i, rows: r.rows })).filter(({ i, rows }) => rows.length !== 1 || rows[0].n !== i || rows[0].s !== 'x'.repeat(i % 7));
    expect(wrong.slice(0, 5)).toEqual([]);
  });

  it('answers every query while other connections run transactions of parameterised statements', async () => {
    // A transaction that begins while another connection is inside its Parse..Sync batch takes the session; the
    // batch's Bind then ran against the transaction's last statement (another query's rows, or none).
    await db.pool.query('CREATE TABLE IF NOT EXISTS sock_t (k int PRIMARY KEY, v text)');
    const txs = Array.from({ length: 30 }, async (_, t) => {
      const c = await db.pool.connect();
      try {
        await c.query('BEGIN');
        await c.query('INSERT INTO sock_t (k, v) VALUES ($1, $2)', [t, `v${t}`]);
        const r = await c.query<{ v: string }>('UPDATE sock_t SET v = v || $2 WHERE k = $1 RETURNING v', [t, '!']);
        await c.query('COMMIT');
        return r.rows[0]?.v === `v${t}!`;
      } finally {
        c.release();
      }
    });
    const reads = Array.from({ length: 300 }, async (_, i) => {
      const r = await db.pool.query<{ n: number }>('SELECT $1::int AS n, count(*)::int AS c FROM sock_t WHERE k >= $2', [i, -1]);
      return r.rows.length === 1 && r.rows[0].n === i;
    });
    const ok = await Promise.all([...txs, ...reads]);
    expect(ok.filter((x) => !x).length).toBe(0);
    expect((await db.pool.query('SELECT count(*)::int AS c FROM sock_t')).rows[0].c).toBe(30);
  });

  it('a failing query fails alone; the others and later ones are answered', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 60 }, (_, i) => db.pool.query<{ n: number }>('SELECT 10 / $1::int AS n', [i % 10])),
    );
    results.forEach((r, i) => {
      if (i % 10 === 0) expect(r.status).toBe('rejected');
      else expect(r.status === 'fulfilled' && r.value.rows[0].n).toBe(Math.trunc(10 / (i % 10)));
    });
    expect((await db.pool.query('SELECT $1::int AS n', [7])).rows).toEqual([{ n: 7 }]);
  });

  it('keeps a connection its turn from Parse to Sync', () => {
    const msg = (c: string) => new Uint8Array([c.charCodeAt(0), 0, 0, 0, 4]);
    expect(['P', 'B', 'D', 'E', 'C', 'H'].map((c) => keepsTurn(msg(c)))).toEqual([true, true, true, true, true, true]);
    expect(['S', 'Q', 'X'].map((c) => keepsTurn(msg(c)))).toEqual([false, false, false]);
  });
});
