// insertRows (src/db/bulk.ts): many rows in one statement with one JSON parameter, on both backends. The values
// read back must be those drizzle's own insert would have stored: numbers, times, json, nulls, defaults, text
// with characters JSON escapes, a lone surrogate, and a conflict clause.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq, inArray, sql } from 'drizzle-orm';
import fs from 'node:fs';
import { backends, freshPostgres } from '../helpers/db.ts';
import { makeTestApp, tempDir, type TestApp } from '../helpers/app.ts';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { PROJECT_ROOT } from '../../src/config.ts';
import { insertRows, jsonbText } from '../../src/db/bulk.ts';
import { itemEvents, items, messages, outbox } from '../../src/db/schema.ts';

describe('jsonbText', () => {
  it('writes well-formed JSON as JSON.stringify does, and replaces a lone surrogate', () => {
    const v = { a: 'plain "quoted" \\ back\nslash', b: [1, null, true] };
    expect(jsonbText(v)).toBe(JSON.stringify(v));
    expect(jsonbText({ s: 'cut \ud83d' })).toBe(JSON.stringify({ s: 'cut \ufffd' }));
    // A backslash the writer typed before "ud800" is text, not an escape: the value is unchanged.
    expect(JSON.parse(jsonbText({ s: '\\ud800' }))).toEqual({ s: '\\ud800' });
  });
});

describe.each(backends)('insertRows on %s', (backend) => {
  let app: TestApp;
  let messageId: number;
  beforeAll(async () => {
    app = await makeTestApp(backend);
    const [m] = await insertRows(
      app.db.orm,
      messages,
      [
        {
          source: 's',
          origin: 'bulk-test',
          sha256: 'a'.repeat(64),
          size: 2 ** 40,
          rawPath: 'raw/x.eml',
          rawComplete: true,
          receivedAt: new Date('2026-12-08T10:00:00.123Z'),
          status: 'stored',
        },
      ],
      { returning: { id: messages.id, size: messages.size, receivedAt: messages.receivedAt } },
    );
    messageId = m.id;
    expect(m.size).toBe(2 ** 40);
    expect(typeof m.id).toBe('number');
    expect(m.receivedAt).toEqual(new Date('2026-12-08T10:00:00.123Z'));
  });
  afterAll(async () => {
    await app?.cleanup();
  });

  it('stores every kind of value as given, defaults for the columns left out, and returns the ids', async () => {
    const texts = ['Хуршед, "ҷон" \\ \n\t end', 'emoji 🙂 and ’quotes’', 'cut \ud83d'];
    const rows = await insertRows(
      app.db.orm,
      items,
      texts.map((text, i) => ({
        messageId,
        key: `k${i}`,
        kind: 'message' as const,
        text,
        story: i === 0 ? null : 8,
        linkMethod: null,
        linkConfidence: 0.85,
        linkReason: 'r',
      })),
      { returning: { id: items.id, key: items.key, story: items.story } },
    );
    expect(rows.map((r) => r.key).sort()).toEqual(['k0', 'k1', 'k2']);
    expect(rows.every((r) => typeof r.id === 'number')).toBe(true);
    const back = await app.db.orm.select().from(items).where(eq(items.messageId, messageId)).orderBy(items.key);
    expect(back.map((r) => r.text)).toEqual([texts[0], texts[1], 'cut \ufffd']);
    expect(back.map((r) => r.story)).toEqual([null, 8, 8]);
    expect(back[0].linkConfidence).toBeCloseTo(0.85, 5);
    expect(back.every((r) => r.status === 'pending' && r.createdAt instanceof Date)).toBe(true);

    await insertRows(app.db.orm, itemEvents, [
      { itemId: back[0].id, actor: 'intake', action: 'link', from: null, to: { story: 8, list: [1, 'два'] }, reason: null, at: new Date('2026-12-08T11:00:00Z') },
    ]);
    const [ev] = await app.db.orm.select().from(itemEvents).where(eq(itemEvents.itemId, back[0].id));
    expect(ev.to).toEqual({ story: 8, list: [1, 'два'] });
    expect(ev.from).toBeNull();
    expect(ev.at).toEqual(new Date('2026-12-08T11:00:00Z'));
  });

  it('keeps the conflict clause: a second insert of the same keys returns only the new ones', async () => {
    const row = (key: string) => ({ key, kind: 'ack' as const, to: 'a@example.org', subject: 's', textBody: 't', htmlBody: null, headers: { 'X-A': '1' }, rfcMessageId: `<${key}@x>` });
    const first = await insertRows(app.db.orm, outbox, [row('bulk:1'), row('bulk:2')], {
      onConflict: sql`ON CONFLICT (key) DO NOTHING`,
      returning: { key: outbox.key },
    });
    expect(first.map((r) => r.key).sort()).toEqual(['bulk:1', 'bulk:2']);
    const again = await insertRows(app.db.orm, outbox, [row('bulk:2'), row('bulk:3')], {
      onConflict: sql`ON CONFLICT (key) DO NOTHING`,
      returning: { key: outbox.key },
    });
    expect(again.map((r) => r.key)).toEqual(['bulk:3']);
    const stored = await app.db.orm.select().from(outbox).where(inArray(outbox.key, ['bulk:1', 'bulk:2', 'bulk:3']));
    expect(stored).toHaveLength(3);
    expect(stored.every((r) => r.state === 'queued')).toBe(true);
    expect(stored[0].headers).toEqual({ 'X-A': '1' });
  });

  it('refuses rows of different shapes, naming the column', async () => {
    await expect(
      insertRows(app.db.orm, items, [
        { messageId, key: 'x1', kind: 'message', text: 'a', story: null, linkMethod: null, linkConfidence: 0, linkReason: '' },
        { messageId, key: 'x2', kind: 'message', story: null, linkMethod: null, linkConfidence: 0, linkReason: '' },
      ]),
    ).rejects.toThrow(/same columns \(text\)/);
  });
});

describe.each(backends)('value compression on %s', (backend) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await makeTestApp(backend);
  });
  afterAll(() => app?.cleanup());

  it('every pooled connection compresses large values with lz4 where the server has it, else keeps pglz', async () => {
    const clients = await Promise.all([0, 1, 2].map(() => app.db.pool.connect()));
    try {
      for (const c of clients) {
        const has = (await c.query(`SELECT 'lz4' = ANY (enumvals) AS lz4 FROM pg_settings WHERE name = 'default_toast_compression'`)).rows[0].lz4;
        const now = (await c.query('SHOW default_toast_compression')).rows[0].default_toast_compression;
        expect(now).toBe(has ? 'lz4' : 'pglz');
        if (backend === 'postgres') expect(has).toBe(true); // Debian's PostgreSQL is built with lz4
      }
    } finally {
      for (const c of clients) c.release();
    }
    // A large body is stored and read back whole, whichever method compressed it.
    const body = 'Ҷасорат '.repeat(50_000);
    const [row] = await insertRows(
      app.db.orm,
      outbox,
      [{ key: 'compression-test', kind: 'ack', rfcMessageId: '<c@example.org>', to: 'a@example.org', subject: 's', textBody: body, htmlBody: null, headers: {} }],
      { returning: { id: outbox.id } },
    );
    const [back] = await app.db.orm.select({ t: outbox.textBody }).from(outbox).where(eq(outbox.id, row.id));
    expect(back.t).toBe(body);
  });
});

describe.each(backends)('a new connection on %s', (backend) => {
  it('is lent out idle, its setting made: two queries sent at once on it draw no warning from pg', async () => {
    const dir = tempDir('intake-conn-');
    const pgdb = backend === 'postgres' ? await freshPostgres() : null;
    // In a process of its own: pg warns once a process, through Node's warnings, of a query sent while
    // another is queued on the same connection.
    const script = `
      import { openDb } from ${JSON.stringify(path.join(PROJECT_ROOT, 'src/db/client.ts'))};
      import { silentLogger } from ${JSON.stringify(path.join(PROJECT_ROOT, 'src/adapters/logger.ts'))};
      const db = await openDb({ databaseUrl: process.env.DATABASE_URL || undefined, dataDir: process.env.DIR, log: silentLogger });
      const c = await db.pool.connect();
      const r = await Promise.all([c.query('SELECT 1 AS one'), c.query('SHOW default_toast_compression')]);
      c.release();
      await db.close();
      console.log(JSON.stringify(r.map((x) => x.rows[0])));`;
    try {
      const out = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        cwd: PROJECT_ROOT,
        env: { ...process.env, DATABASE_URL: pgdb?.url ?? '', DIR: dir },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(out.status, out.stderr).toBe(0);
      const [one, setting] = JSON.parse(out.stdout.trim().split('\n').pop()!);
      expect(one).toEqual({ one: 1 });
      expect(setting.default_toast_compression).toBe(backend === 'postgres' ? 'lz4' : 'pglz');
      expect(out.stderr).not.toMatch(/Warning/);
    } finally {
      await pgdb?.drop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
