// `run --once`'s order of work: acknowledgements are decided, and mail sent, only once the inbox has been read
// (while it is, the parse worker sets the pace and must not be slowed); every message still ends acknowledged.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq, isNotNull, sql } from 'drizzle-orm';
import { backends } from '../helpers/db.ts';
import { eml, makeTestApp, type TestApp } from '../helpers/app.ts';
import { runOnce } from '../../src/pipeline/daemon.ts';
import { messages, outbox } from '../../src/db/schema.ts';

describe.each(backends)('run --once on %s', (backend) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await makeTestApp(backend);
  });
  afterAll(() => app?.cleanup());

  it('decides acknowledgements only after the inbox is read, then one for every message', async () => {
    const n = 6;
    const dir = path.join(app.dataDir, 'inbox', 'new');
    fs.mkdirSync(dir, { recursive: true });
    const past = new Date(Date.now() - 60_000); // settled: the drop folder leaves files still being written
    for (let i = 0; i < n; i++) {
      const file = path.join(dir, `m${i}.eml`);
      fs.writeFileSync(
        file,
        eml({ from: `s${i}@example.tj`, subject: 'Story 8', headers: { 'Return-Path': `<s${i}@example.tj>` }, body: `Dear family, we are with you (${i}).\r\n` }),
      );
      fs.utimesSync(file, past, past);
    }
    const understood = async () =>
      (await app.db.orm.select({ n: sql<number>`count(*)::int` }).from(messages).where(isNotNull(messages.understoodAt)))[0].n;
    const acks = async () => (await app.db.orm.select({ n: sql<number>`count(*)::int` }).from(outbox).where(eq(outbox.kind, 'ack')))[0].n;
    // The inbox's read is held open, its messages stored, until every message is understood: the stages after
    // it run meanwhile, and the acknowledgements must not.
    let seenWhileOpen = -1;
    const makeInbox = app.makeInbox;
    app.makeInbox = (started) => {
      const inner = makeInbox(started);
      return {
        ...inner,
        async drain(signal) {
          const c = await inner.drain(signal);
          await expect.poll(understood, { timeout: 30_000, interval: 50 }).toBe(n);
          seenWhileOpen = await acks();
          return c;
        },
      };
    };
    try {
      const r = await runOnce(app, new AbortController().signal);
      expect(r.inbox.stored).toBe(n);
    } finally {
      app.makeInbox = makeInbox;
    }
    expect(seenWhileOpen).toBe(0);
    expect(await acks()).toBe(n);
  });
});
