// `intake doctor --invariants` on a real installation: clean after a normal run; after breaking it by hand
// (a raw file deleted, a stray file, a corrupted file, an attachment gone, a second ack, a UID past its
// checkpoint) every break is named and the exit code is 1.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { backends } from '../helpers/db.ts';
import { eml, makeTestApp, tempDir } from '../helpers/app.ts';
import { runCli } from '../helpers/cli.ts';
import { ingestMany, ingestMessage, recoverRaw } from '../../src/pipeline/ingest.ts';
import { processPending } from '../../src/pipeline/process.ts';
import { checkInvariants, findProblems, type StoreSnapshot } from '../../src/db/invariants.ts';
import { Readable } from 'node:stream';
import { attachments, messages, outbox } from '../../src/db/schema.ts';
import { advanceCheckpoint } from '../../src/db/checkpoints.ts';

function withAttachment(i: number): Buffer {
  const b = 'b0undary';
  return eml({
    subject: `with attachment ${i}`,
    contentType: `multipart/mixed; boundary="${b}"`,
    body:
      `--${b}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nA letter ${i}.\r\n` +
      `--${b}\r\nContent-Type: application/pdf; name="letter.pdf"\r\nContent-Disposition: attachment; filename="letter.pdf"\r\n` +
      `Content-Transfer-Encoding: base64\r\n\r\n${Buffer.from(`%PDF-1.4 letter ${i}`).toString('base64')}\r\n--${b}--\r\n`,
  });
}

const longAgo = new Date(Date.now() - 3600_000);

describe.each(backends)('invariants on %s', (backend) => {
  it('hold after a normal run, and every deliberate break is reported', async () => {
    const app = await makeTestApp(backend);
    try {
      for (let i = 0; i < 4; i++)
        await ingestMessage(app.deps, { source: `test:${i}`, origin: `test:${i}` }, Readable.from([withAttachment(i)]));
      // Two IMAP messages with their checkpoint, as the inbox stores them.
      for (const uid of [1, 2])
        await ingestMessage(
          app.deps,
          { source: `imap:INBOX/7/${uid}`, origin: 'imap:x@y/INBOX' },
          Readable.from([eml({ subject: `imap ${uid}` })]),
          (tx) => advanceCheckpoint(tx, 'INBOX', 7, uid),
        );
      await processPending(app.deps);
      const clean = await checkInvariants(app.db.orm, app.dataDir, { deep: true, graceMs: 0 });
      expect(clean.problems).toEqual([]);
      expect(clean.checked).toMatchObject({ messages: 6, rawFiles: 6, attachments: 4, checkpoints: 1 });

      const rows = await app.db.orm.select().from(messages).orderBy(messages.id);
      const atts = await app.db.orm.select().from(attachments).orderBy(attachments.id);
      const abs = (rel: string) => path.join(app.dataDir, rel);
      // 1. a raw file deleted
      fs.rmSync(abs(rows[0].rawPath));
      // 2. a raw file corrupted in place (same size: only --deep sees it)
      const b = fs.readFileSync(abs(rows[1].rawPath));
      b[b.length - 3] ^= 0x20;
      fs.writeFileSync(abs(rows[1].rawPath), b);
      // 3. a stray raw file and a stray attachment, old enough not to be a write in progress
      const stray = path.join(path.dirname(abs(rows[2].rawPath)), '00000000-stray.eml');
      fs.writeFileSync(stray, 'From: nobody\r\n\r\nstray\r\n');
      fs.writeFileSync(stray.replace(/\.eml$/, '.json'), '{}');
      const strayAtt = path.join(path.dirname(abs(atts[0].path)), `${atts[0].messageId}.9.bin`);
      fs.writeFileSync(strayAtt, 'x');
      for (const f of [stray, stray.replace(/\.eml$/, '.json'), strayAtt]) fs.utimesSync(f, longAgo, longAgo);
      // 4. an attachment file gone
      fs.rmSync(abs(atts[3].path));
      // 5. a fresh file: a write in progress, not a problem
      fs.writeFileSync(path.join(app.dataDir, 'raw/tmp/in-progress.eml'), 'x');
      // 6. two acknowledgements that may both have gone out for one message
      for (const [key, state] of [[`ack:${rows[2].id}`, 'sent'], [`ack:${rows[2].id}:again`, 'uncertain']] as const)
        await app.db.orm.insert(outbox).values({ key, kind: 'ack', messageId: rows[2].id, rfcMessageId: `<${key}@t>`, state });
      // 7. an IMAP message above its checkpoint, and one UID stored twice
      await app.db.orm.execute(sql`update messages set source = 'imap:INBOX/7/9' where id = ${rows[3].id}`);
      await app.db.orm.execute(sql`update messages set source = 'imap:INBOX/7/1' where id = ${rows[5].id}`);

      const r = await checkInvariants(app.db.orm, app.dataDir, { deep: true });
      const details = r.problems.map((p) => `${p.check}: ${p.detail}`);
      expect(r.ok).toBe(false);
      expect(r.inFlight).toBe(1);
      const expected = [
        `raw: message ${rows[0].id}: raw file missing: ${rows[0].rawPath}`,
        `raw: message ${rows[1].id}: raw file sha256 differs from the row: ${rows[1].rawPath}`,
        `raw: raw file without a row: ${path.relative(app.dataDir, stray)}`,
        `attachments: attachment file without a row: ${path.relative(app.dataDir, strayAtt)}`,
        `attachments: attachment ${atts[3].id} of message ${atts[3].messageId}: file missing: ${atts[3].path}`,
        `acks: message ${rows[2].id}: 2 acknowledgements sent or possibly sent`,
        `imap: message ${rows[3].id}: UID 9 is above the checkpoint 2 of INBOX UIDVALIDITY 7`,
        expect.stringMatching(/^imap: INBOX UIDVALIDITY 7 UID 1 stored twice: messages \d+ and \d+$/),
      ];
      expect(details).toEqual(expect.arrayContaining(expected));
      expect(details).toHaveLength(expected.length);

      // Without --deep the corrupted file passes (same size), everything else is still found.
      const shallow = await checkInvariants(app.db.orm, app.dataDir);
      expect(shallow.problems).toHaveLength(expected.length - 1);
    } finally {
      await app.cleanup();
    }
  }, 120_000);
});

describe('the pure comparison', () => {
  const empty = (): StoreSnapshot => ({
    messages: [],
    rawFiles: new Map(),
    groups: new Map(),
    tmpFiles: new Map(),
    attachments: [],
    attachmentFiles: new Map(),
    mediaJobs: [],
    mediaFiles: new Map(),
    acks: [],
    checkpoints: [],
  });
  const file = (size = 1, mtimeMs = 0) => ({ size, mtimeMs });

  it('names media outputs that are missing and media files without a job', () => {
    const s = empty();
    s.mediaJobs = [{ id: 1, itemId: 5, outputPath: 'media/5/video.mp4', posterPath: 'media/5/poster.jpg' }];
    s.mediaFiles.set('media/5/video.mp4', file());
    s.mediaFiles.set('media/6/video.mp4', file());
    s.mediaFiles.set('media/7/video.mp4.part', file(1, 1000));
    expect(findProblems(s, 1500, 1000)).toEqual({
      problems: [
        { check: 'media', detail: 'media job 1 (item 5): file missing: media/5/poster.jpg' },
        { check: 'media', detail: 'media file without a row: media/6/video.mp4' },
      ],
      inFlight: 1,
    });
  });

  it('lets a parse in progress write attachments before its rows, but not a parsed message', () => {
    const s = empty();
    s.messages = [
      { id: 1, rawPath: 'raw/d/a.eml', size: 1, sha256: 'x', status: 'stored', source: 'f:1' },
      { id: 2, rawPath: 'raw/d/b.eml', size: 1, sha256: 'y', status: 'parsed', source: 'f:2' },
    ];
    for (const p of ['raw/d/a.eml', 'raw/d/a.json', 'raw/d/b.eml', 'raw/d/b.json']) s.rawFiles.set(p, file());
    // attachments/<id / 1000>/<id>.<n>.bin, and the earlier attachments/<id>/<n>.bin
    s.attachmentFiles.set(path.join('attachments', '0', '.1.0.tmp'), file());
    s.attachmentFiles.set(path.join('attachments', '0', '2.0.bin'), file());
    s.attachmentFiles.set(path.join('attachments', '0', '3.0.bin'), file());
    s.attachmentFiles.set(path.join('attachments', '1', '.0.tmp'), file());
    s.attachmentFiles.set(path.join('attachments', '2', '0.bin'), file());
    s.attachmentFiles.set(path.join('attachments', '3', '0.bin'), file());
    expect(findProblems(s, 10_000, 0).problems.map((p) => p.detail)).toEqual([
      `attachment file without a row: ${path.join('attachments', '0', '2.0.bin')}`,
      `attachment file of no message without a row: ${path.join('attachments', '0', '3.0.bin')}`,
      `attachment file without a row: ${path.join('attachments', '2', '0.bin')}`,
      `attachment file of no message without a row: ${path.join('attachments', '3', '0.bin')}`,
    ]);
  });

  it('names a row whose sidecar is gone and a sidecar left alone', () => {
    const s = empty();
    s.messages = [{ id: 1, rawPath: 'raw/d/a.eml', size: 1, sha256: 'x', status: 'parsed', source: 'f:1' }];
    s.rawFiles.set('raw/d/a.eml', file());
    s.rawFiles.set('raw/d/z.json', file());
    expect(findProblems(s, 10_000, 0).problems.map((p) => p.detail)).toEqual([
      'message 1: sidecar missing (recovery could not re-ingest it): raw/d/a.json',
      'sidecar without a row: raw/d/z.json',
    ]);
  });

  it('takes a group sidecar for each message it names, and names one that names nothing left', () => {
    const s = empty();
    s.messages = [
      { id: 1, rawPath: 'raw/d/a.eml', size: 1, sha256: 'x', status: 'parsed', source: 'f:1' },
      { id: 2, rawPath: 'raw/d/b.eml', size: 1, sha256: 'y', status: 'parsed', source: 'f:2' },
    ];
    for (const p of ['raw/d/a.eml', 'raw/d/b.eml', 'raw/d/g1.group.json', 'raw/d/g2.group.json']) s.rawFiles.set(p, file());
    s.groups.set('raw/d/g1.group.json', ['raw/d/a.eml']); // b is in no sidecar at all
    s.groups.set('raw/d/g2.group.json', ['raw/d/gone1.eml', 'raw/d/gone2.eml']); // both removed as duplicates
    expect(findProblems(s, 10_000, 0).problems.map((p) => p.detail)).toEqual([
      'message 2: sidecar missing (recovery could not re-ingest it): raw/d/b.json',
      'group sidecar without a row: raw/d/g2.group.json',
    ]);
  });
});

describe.each(backends)('invariants of messages stored in a pack, on %s', (backend) => {
  it('hold after a grouped store with a duplicate in it, and a corrupted range names only its message', async () => {
    const app = await makeTestApp(backend);
    try {
      const bytes = [1, 2, 3].map((i) => withAttachment(i));
      // As the IMAP inbox stores a group: in memory, one pack per day; the fourth is the first one again.
      const outs = await ingestMany(
        app.deps,
        [...bytes, bytes[0]].map((b, i) => ({ incoming: { source: `imap:INBOX/7/${i + 1}`, origin: 'imap:x@y/INBOX' }, bytes: b })),
        (tx) => advanceCheckpoint(tx, 'INBOX', 7, 4),
      );
      expect(outs.map((o) => o.status)).toEqual(['stored', 'stored', 'stored', 'duplicate']);
      await processPending(app.deps);
      const rows = await app.db.orm.select().from(messages).orderBy(messages.id);
      expect(rows.every((r) => /\.pack#\d+-\d+$/.test(r.rawPath) && r.status === 'parsed')).toBe(true);
      const clean = await checkInvariants(app.db.orm, app.dataDir, { deep: true, graceMs: 0 });
      expect(clean.problems).toEqual([]);
      expect(clean.checked).toMatchObject({ messages: 3, rawFiles: 3, attachments: 3, checkpoints: 1 });

      // One byte of the second message's range flipped: the deep check names that message, and no other.
      const at = app.deps.rawStore.locate(rows[1].rawPath);
      const pack = fs.readFileSync(at.file);
      pack[at.start + 10] ^= 0x20;
      fs.writeFileSync(at.file, pack);
      const broken = await checkInvariants(app.db.orm, app.dataDir, { deep: true, graceMs: 0 });
      expect(broken.problems.map((p) => p.detail)).toEqual([`message ${rows[1].id}: raw file sha256 differs from the row: ${rows[1].rawPath}`]);
    } finally {
      await app.cleanup();
    }
  }, 60_000);
});

describe.each(backends)('recovery of messages stored in a pack, on %s', (backend) => {
  it('ingests again every message of a pack whose rows were lost, an empty one too', async () => {
    const app = await makeTestApp(backend);
    try {
      const bytes = [Buffer.alloc(0), withAttachment(7)];
      await ingestMany(app.deps, bytes.map((b, i) => ({ incoming: { source: `imap:INBOX/9/${i + 1}`, origin: 'imap:x@y/INBOX' }, bytes: b })));
      const before = await app.db.orm.select().from(messages).orderBy(messages.id);
      // As after a power cut with the embedded database (no fsync): the rows are gone, the files are the record.
      await app.db.orm.execute(sql`delete from messages`);
      expect(await recoverRaw(app.deps)).toMatchObject({ recovered: 2 });
      const after = await app.db.orm.select().from(messages).orderBy(messages.id);
      expect(after.map((m) => [m.source, m.rawPath, m.sha256, m.size])).toEqual(before.map((m) => [m.source, m.rawPath, m.sha256, m.size]));
      expect(after[0].sha256).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    } finally {
      await app.cleanup();
    }
  }, 60_000);
});

describe('intake doctor --invariants', () => {
  const dir = tempDir('intake-inv-');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('exits 0 on a clean installation and 1 with the list of what is wrong', async () => {
    const src = path.join(dir, 'in');
    fs.mkdirSync(src);
    for (let i = 0; i < 3; i++) fs.writeFileSync(path.join(src, `m${i}.eml`), withAttachment(i));
    const env = { INTAKE_DATA_DIR: path.join(dir, 'data') };
    const imported = await runCli(['import', src], env);
    expect(imported.code, imported.stderr).toBe(0);
    const once = await runCli(['run', '--once'], env);
    expect(once.code, once.stderr).toBe(0);

    const ok = await runCli(['doctor', '--invariants', '--deep'], env);
    expect(ok.stdout).toMatch(/^ok +invariants \(deep: sha256 of every raw file\): 3 messages, 3 raw files, 3 attachments/);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);

    const day = fs.readdirSync(path.join(env.INTAKE_DATA_DIR, 'raw')).find((d) => d !== 'tmp')!;
    const dayDir = path.join(env.INTAKE_DATA_DIR, 'raw', day);
    const victim = fs.readdirSync(dayDir).find((n) => n.endsWith('.eml'))!;
    fs.rmSync(path.join(dayDir, victim));
    fs.writeFileSync(path.join(dayDir, 'stray.eml'), 'stray');

    // A fresh stray file is a write in progress by default; --grace 0 says nothing is running.
    const lenient = await runCli(['doctor', '--invariants'], env);
    expect(lenient.code).toBe(1);
    expect(lenient.stdout).toMatch(/1 files younger than 600 s taken as writes in progress/);
    expect(lenient.stdout).not.toMatch(/stray\.eml/);

    const strict = await runCli(['doctor', '--invariants', '--grace', '0', '--json'], env);
    expect(strict.code).toBe(1);
    const report = JSON.parse(strict.stdout);
    expect(report.ok).toBe(false);
    expect(report.problems.map((p: { detail: string }) => p.detail)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`raw file missing: raw/${day}/${victim.replace('.', '\\.')}$`)),
        `raw file without a row: raw/${day}/stray.eml`,
      ]),
    );
    expect(report.problems).toHaveLength(2);
  }, 180_000);
});
