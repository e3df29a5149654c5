// The parse stage when the database refuses every write: the error comes out of parsePending once every parse
// and save has ended, never as a rejection that nobody awaits (which would end the process), and the messages
// stay `stored` for the next pass.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asc, eq, sql } from 'drizzle-orm';
import { backends } from '../helpers/db.ts';
import { eml, makeTestApp, tempDir, type TestApp } from '../helpers/app.ts';
import { ingestMessage } from '../../src/pipeline/ingest.ts';
import { parsePending } from '../../src/pipeline/parse.ts';
import { understandPending } from '../../src/pipeline/understand.ts';
import { attachments, items, messages } from '../../src/db/schema.ts';
import { attachmentPlace } from '../../src/adapters/mime.ts';
import { IntakeError } from '../../src/errors.ts';

describe.each(backends)('parse with a database that refuses the writes, on %s', (backend) => {
  let app: TestApp;
  let dir: string;
  beforeAll(async () => {
    app = await makeTestApp(backend);
    dir = tempDir('intake-parse-err-');
  });
  afterAll(async () => {
    await app?.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('rejects once, after all saves, with no unhandled rejection; the messages stay stored', async () => {
    for (let i = 0; i < 150; i++) {
      const f = path.join(dir, `${i}.eml`);
      fs.writeFileSync(f, eml({ subject: `m${i}`, body: `message ${i}\r\n` }));
      await ingestMessage(app.deps, { source: f, origin: f }, { file: f, start: 0, end: fs.statSync(f).size });
    }
    // Every parse result and every record of a parse error is refused, as by a database gone read-only.
    await app.db.orm.execute(sql`alter table messages add constraint refuse_parse check (status <> 'parsed' and parse_error is null) not valid`);
    const unhandled: unknown[] = [];
    const onUnhandled = (r: unknown) => unhandled.push(r);
    process.on('unhandledRejection', onUnhandled);
    try {
      await expect(parsePending(app.deps)).rejects.toThrow(/Failed query: update "messages"/);
      await new Promise((r) => setTimeout(r, 100));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await app.db.orm.execute(sql`alter table messages drop constraint refuse_parse`);
    }
    const rows = await app.db.orm.select({ status: messages.status }).from(messages);
    expect(rows).toHaveLength(150);
    expect(rows.every((r) => r.status === 'stored')).toBe(true);
    // With the database writable again, the next pass parses them all.
    expect(await parsePending(app.deps)).toMatchObject({ parsed: 150, quarantined: 0 });
  });

  it('rejects when a batch fails before parsing anything (its attempts cannot be counted), rather than waiting for it', async () => {
    for (let i = 0; i < 3; i++) {
      const f = path.join(dir, `early${i}.eml`);
      fs.writeFileSync(f, eml({ subject: `early ${i}`, body: `message ${i}\r\n` }));
      await ingestMessage(app.deps, { source: f, origin: f }, { file: f, start: 0, end: fs.statSync(f).size });
    }
    await app.db.orm.execute(sql`alter table messages add constraint refuse_attempts check (parse_attempts = 0) not valid`);
    try {
      await expect(parsePending(app.deps)).rejects.toThrow(/Failed query: update "messages"/);
    } finally {
      await app.db.orm.execute(sql`alter table messages drop constraint refuse_attempts`);
    }
    expect(await parsePending(app.deps)).toMatchObject({ parsed: 3 });
  }, 30_000);

  it('saves the parse alone when the understanding cannot be saved with it; the understand stage takes those messages later', async () => {
    const before = (await app.db.orm.select({ id: messages.id }).from(messages)).length;
    const itemsBefore = (await app.db.orm.select({ id: items.id }).from(items)).length;
    for (let i = 0; i < 5; i++) {
      const f = path.join(dir, `items${i}.eml`);
      fs.writeFileSync(f, eml({ subject: `for story 8, ${i}`, body: `Khurshed, we are with you. ${i}\r\n` }));
      await ingestMessage(app.deps, { source: f, origin: f }, { file: f, start: 0, end: fs.statSync(f).size });
    }
    await app.db.orm.execute(sql`alter table items add constraint refuse_items check (false) not valid`);
    try {
      // Each message's items are refused: the group's transaction fails, and each parse is saved on its own.
      expect(await parsePending(app.deps)).toMatchObject({ parsed: 5, quarantined: 0, retry: 0, understood: 0 });
    } finally {
      await app.db.orm.execute(sql`alter table items drop constraint refuse_items`);
    }
    const rows = await app.db.orm
      .select({ status: messages.status, at: messages.understoodAt, classification: messages.classification })
      .from(messages)
      .orderBy(asc(messages.id));
    expect(rows).toHaveLength(before + 5);
    expect(rows.slice(-5)).toEqual(Array(5).fill({ status: 'parsed', at: null, classification: null }));
    expect(await understandPending(app.deps)).toBe(5);
    expect(await app.db.orm.select({ id: items.id }).from(items)).toHaveLength(itemsBefore + 5);
  }, 30_000);
});

// RELIABILITY A13: ENOSPC while writing an attachment. The message is not charged for the disk: it stays
// `stored` with its attempt given back, nothing of it is saved, the pass says the disk is full; once there is
// room, the next pass parses it with its attachment.
describe.each(backends)('parse with the disk full, on %s', (backend) => {
  let app: TestApp;
  let dir: string;
  beforeAll(async () => {
    app = await makeTestApp(backend);
    dir = tempDir('intake-parse-full-');
  });
  afterAll(async () => {
    await app?.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('an attachment that cannot be written for want of space: the message waits, uncharged, and is parsed once there is room', async () => {
    const f = path.join(dir, 'photo.eml');
    const png = Buffer.alloc(5000, 7).toString('base64').replace(/.{76}/g, '$&\r\n');
    fs.writeFileSync(
      f,
      eml({
        contentType: 'multipart/mixed; boundary=b',
        body: `--b\r\nContent-Type: text/plain\r\n\r\nFor Khurshed.\r\n--b\r\nContent-Type: image/png; name="p.png"\r\nContent-Transfer-Encoding: base64\r\n\r\n${png}\r\n--b--\r\n`,
      }),
    );
    const other = path.join(dir, 'plain.eml');
    fs.writeFileSync(other, eml({ subject: 'plain', body: 'Stay strong.\r\n' }));
    const { id } = (await ingestMessage(app.deps, { source: f, origin: f }, { file: f, start: 0, end: fs.statSync(f).size })) as { id: number };
    await ingestMessage(app.deps, { source: other, origin: other }, { file: other, start: 0, end: fs.statSync(other).size });
    // The attachment's file is written where /dev/full is: every write fails with ENOSPC.
    const { dir: rel, stem } = attachmentPlace(id);
    fs.mkdirSync(app.rawStore.absolute(rel), { recursive: true });
    fs.symlinkSync('/dev/full', path.join(app.rawStore.absolute(rel), `.${stem}0.tmp`));

    const err = await parsePending(app.deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntakeError);
    expect((err as Error).message).toMatch(/^the disk is full \(ENOSPC, writing an attachment of message \d+\): parsing waits until there is room/);
    const rowOf = async (mid: number) => (await app.db.orm.select().from(messages).where(eq(messages.id, mid)))[0];
    const waiting = await rowOf(id);
    expect(waiting).toMatchObject({ status: 'stored', parseAttempts: 0, quarantineReason: null });
    expect(await app.db.orm.select().from(attachments).where(eq(attachments.messageId, id))).toHaveLength(0);
    // The message beside it was not held up.
    expect((await app.db.orm.select({ status: messages.status }).from(messages).where(eq(messages.source, other)))[0].status).toBe('parsed');

    // Room again (the failed save removed what it wrote, the link with it): the next pass parses it.
    expect(fs.existsSync(path.join(app.rawStore.absolute(rel), `.${stem}0.tmp`))).toBe(false);
    expect(await parsePending(app.deps)).toMatchObject({ parsed: 1, quarantined: 0 });
    expect(await rowOf(id)).toMatchObject({ status: 'parsed', parseAttempts: 1 });
    const [a] = await app.db.orm.select().from(attachments).where(eq(attachments.messageId, id));
    expect(a.size).toBe(5000);
  });
});
