// Store first, parse, budgets, charsets: through the real import path on PGlite (and PostgreSQL in CI).
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import iconv from 'iconv-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { backends } from '../helpers/db.ts';
import { eml, makeTestApp, tempDir, writeCampaign, type TestApp } from '../helpers/app.ts';
import { importPaths } from '../../src/pipeline/import.ts';
import { attachments, messages } from '../../src/db/schema.ts';
import { listMessages } from '../../src/db/messages.ts';

function write(dir: string, name: string, data: Buffer | string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, data);
  return p;
}

async function row(app: TestApp, source: string) {
  const r = await app.db.orm.select().from(messages).where(eq(messages.source, source));
  expect(r).toHaveLength(1);
  return r[0];
}

describe.each(backends)('ingest on %s', (backend) => {
  let app: TestApp;
  let dir: string;
  beforeAll(async () => {
    app = await makeTestApp(backend);
    dir = tempDir('intake-eml-');
  });
  afterAll(async () => {
    await app?.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('stores a message durably with its sha256, and importing it again stores nothing', async () => {
    const data = eml({ subject: 'Hello Khurshed' });
    const file = write(dir, 'one.eml', data);
    const first = await importPaths(app, [file]);
    expect(first).toMatchObject({ total: 1, stored: 1, duplicates: 0 });
    const second = await importPaths(app, [file]);
    expect(second).toMatchObject({ total: 1, stored: 0, duplicates: 1 });
    const m = await row(app, file);
    expect(m.sha256).toBe(createHash('sha256').update(data).digest('hex'));
    expect(fs.readFileSync(app.rawStore.absolute(m.rawPath)).equals(data)).toBe(true);
    expect(m.status).toBe('parsed');
    expect(m.subject).toBe('Hello Khurshed');
    // the duplicate's raw copy was removed: one raw file per row
    const raws = fs.readdirSync(path.dirname(app.rawStore.absolute(m.rawPath))).filter((n) => n.endsWith('.eml'));
    const rows = await app.db.orm.select({ p: messages.rawPath }).from(messages);
    expect(raws.length).toBe(rows.length);
  });

  it('keeps two different messages that share a Message-ID', async () => {
    const a = write(dir, 'mid-a.eml', eml({ messageId: '<same@x>', body: 'first' }));
    const b = write(dir, 'mid-b.eml', eml({ messageId: '<same@x>', body: 'second' }));
    const s = await importPaths(app, [a, b]);
    expect(s.stored).toBe(2);
    expect((await row(app, a)).rfcMessageId).toBe('same@x');
    expect((await row(app, b)).rfcMessageId).toBe('same@x');
  });

  it('decodes windows-1251, koi8-r and encoded-word subjects', async () => {
    const ru = 'Держись, Хуршед! Мы с тобой.';
    const f1 = write(dir, 'cp1251.eml', eml({ contentType: 'text/plain; charset=windows-1251', body: iconv.encode(ru, 'win1251') }));
    const f2 = write(dir, 'koi8.eml', eml({ contentType: 'text/plain; charset=koi8-r', body: iconv.encode(ru, 'koi8-r') }));
    const tj = 'Барои Хуршед: қиссаи 8, ҷасорат';
    const f3 = write(
      dir,
      'subject.eml',
      eml({ subject: `=?utf-8?B?${Buffer.from(tj).toString('base64')}?=`, body: 'Ҳамеша дар ёди мо.' }),
    );
    await importPaths(app, [f1, f2, f3]);
    expect((await row(app, f1)).textBody?.trim()).toBe(ru);
    expect((await row(app, f2)).textBody?.trim()).toBe(ru);
    const m3 = await row(app, f3);
    expect(m3.subject).toBe(tj);
    expect(m3.textBody?.trim()).toBe('Ҳамеша дар ёди мо.');
  });

  it('stores NUL bytes and invalid UTF-8 without a database error', async () => {
    const body = Buffer.concat([Buffer.from('before\0after '), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from(' end')]);
    const f = write(dir, 'nul.eml', eml({ subject: 'a\0b', body }));
    const s = await importPaths(app, [f]);
    expect(s.stored).toBe(1);
    const m = await row(app, f);
    expect(m.status).toBe('parsed');
    expect(m.textBody).toContain('beforeafter');
    expect(m.textBody).not.toContain('\0');
    expect(m.subject).toBe('ab');
  });

  it('streams attachments to generated names with sha256, keeping the sanitised sender name as data', async () => {
    const payload = Buffer.alloc(300_000, 7);
    const boundary = 'b1';
    const body = [
      `--${boundary}`,
      'Content-Type: text/plain; charset=utf-8',
      '',
      'video attached',
      `--${boundary}`,
      'Content-Type: video/mp4',
      'Content-Transfer-Encoding: base64',
      `Content-Disposition: attachment; filename="../../etc/\u202Epasswd.mp4"`,
      '',
      payload.toString('base64').replace(/.{76}/g, '$&\r\n'),
      `--${boundary}`,
      'Content-Type: application/octet-stream',
      'Content-Disposition: attachment; filename="../../etc/\u202Epasswd.mp4"',
      '',
      'second with the same name',
      `--${boundary}--`,
      '',
    ].join('\r\n');
    const f = write(dir, 'att.eml', eml({ contentType: `multipart/mixed; boundary="${boundary}"`, body }));
    await importPaths(app, [f]);
    const m = await row(app, f);
    const atts = await app.db.orm.select().from(attachments).where(eq(attachments.messageId, m.id));
    expect(atts).toHaveLength(2);
    const video = atts.find((a) => a.partIndex === 0)!;
    expect(video.filename).toBe('passwd.mp4');
    expect(video.size).toBe(payload.length);
    expect(video.sha256).toBe(createHash('sha256').update(payload).digest('hex'));
    const abs = app.rawStore.absolute(video.path);
    // Generated names, a folder per thousand messages: attachments/<id / 1000>/<id>.<n>.bin
    expect(video.path).toBe(path.join('attachments', String(Math.floor(m.id / 1000)), `${m.id}.0.bin`));
    expect(fs.readFileSync(abs).equals(payload)).toBe(true);
    // Supporters may be at risk: nothing readable by other local users.
    expect(fs.statSync(abs).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(abs)).mode & 0o777).toBe(0o700);
    expect(fs.statSync(app.rawStore.absolute(m.rawPath)).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(app.rawStore.absolute(m.rawPath))).mode & 0o777).toBe(0o700);
    expect(atts[1].filename).toBe('passwd.mp4'); // both kept, under different generated names
    expect(atts[1].path).not.toBe(video.path);
  });

  it('caps an attachment at the byte limit and marks it truncated', async () => {
    const small = await makeTestApp(backend, { INTAKE_CAMPAIGN: writeCampaign(dir, { attachmentBytes: 1000 }) });
    try {
      const body = ['--x', 'Content-Type: application/pdf', 'Content-Disposition: attachment; filename=a.pdf', 'Content-Transfer-Encoding: base64', '', Buffer.alloc(5000, 1).toString('base64'), '--x--', ''].join('\r\n');
      const f = write(dir, 'cap.eml', eml({ contentType: 'multipart/mixed; boundary=x', body }));
      await importPaths(small, [f]);
      const [a] = await small.db.orm.select().from(attachments);
      expect(a.truncated).toBe(true);
      expect(a.size).toBe(1000);
      expect(fs.statSync(small.rawStore.absolute(a.path)).size).toBe(1000);
    } finally {
      await small.cleanup();
    }
  });

  it('quarantines a message past a budget, keeping its raw bytes, and goes on', async () => {
    const big = Buffer.from(`X-Long: ${'a'.repeat(600 * 1024)}`);
    const hdr = write(dir, 'long-header.eml', Buffer.concat([big, Buffer.from('\r\n'), eml({})]));
    let parts = '';
    for (let i = 0; i < 600; i++) parts += `--p\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=f${i}\r\n\r\nx\r\n`;
    const many = write(dir, 'many-parts.eml', eml({ contentType: 'multipart/mixed; boundary=p', body: parts + '--p--\r\n' }));
    const ok = write(dir, 'fine.eml', eml({ subject: 'fine' }));
    const s = await importPaths(app, [hdr, many, ok]);
    expect(s).toMatchObject({ total: 3, quarantined: 2, stored: 1 });
    const h = await row(app, hdr);
    expect(h.status).toBe('quarantined');
    expect(h.classification).toBe('quarantined');
    expect(h.quarantineReason).toMatch(/header block is larger than 512 KiB/);
    expect(fs.existsSync(app.rawStore.absolute(h.rawPath))).toBe(true);
    expect((await row(app, many)).quarantineReason).toMatch(/more than 500 attachments/);
    expect((await row(app, ok)).status).toBe('parsed');
  });

  it('keeps only the start of a message over the size limit and quarantines it', async () => {
    const small = await makeTestApp(backend, { INTAKE_CAMPAIGN: writeCampaign(dir, { messageBytes: 2000 }) });
    try {
      const f = write(dir, 'huge.eml', eml({ body: 'x'.repeat(10_000) }));
      const s = await importPaths(small, [f]);
      expect(s.quarantined).toBe(1);
      const [m] = await small.db.orm.select().from(messages);
      expect(m.rawComplete).toBe(false);
      expect(m.size).toBe(2000);
      expect(m.quarantineReason).toMatch(/larger than/);
      const start = fs.readFileSync(f).subarray(0, 2000);
      expect(fs.readFileSync(small.rawStore.absolute(m.rawPath)).equals(start)).toBe(true);
      expect(m.sha256).toBe(createHash('sha256').update(start).digest('hex'));
    } finally {
      await small.cleanup();
    }
  });

  it('quarantines a message whose parse runs past the time budget', async () => {
    const slow = await makeTestApp(backend, { INTAKE_CAMPAIGN: writeCampaign(dir, { parseSeconds: 0.001 }) });
    try {
      const body = ['--x', 'Content-Type: application/octet-stream', 'Content-Transfer-Encoding: base64', '', Buffer.alloc(3_000_000, 3).toString('base64').replace(/.{76}/g, '$&\r\n'), '--x--', ''].join('\r\n');
      const f = write(dir, 'slow.eml', eml({ contentType: 'multipart/mixed; boundary=x', body }));
      const s = await importPaths(slow, [f]);
      expect(s.quarantined).toBe(1);
      const [m] = await slow.db.orm.select().from(messages);
      expect(m.quarantineReason).toBe('parsing took longer than 1 ms');
      // no half-written attachment left behind as a row
      expect(await slow.db.orm.select().from(attachments)).toHaveLength(0);
    } finally {
      await slow.cleanup();
    }
  });

  it('survives MIME nesting a thousand levels deep within bounded time', async () => {
    let body = 'innermost\r\n';
    for (let i = 0; i < 1200; i++) body = `--b${i}\r\nContent-Type: multipart/mixed; boundary=b${i + 1}\r\n\r\n${body}\r\n--b${i}--\r\n`;
    const f = write(dir, 'deep.eml', eml({ contentType: 'multipart/mixed; boundary=b0', body }));
    const s = await importPaths(app, [f]);
    expect(s.failed).toBe(0);
    expect(s.stored + s.quarantined).toBe(1);
    const m = await row(app, f);
    expect(['parsed', 'quarantined']).toContain(m.status);
  });

  it('splits an mbox into its messages, each with its own source', async () => {
    const second = eml({ subject: 'm2' }).toString();
    const mbox = [
      'From a@example.org Tue Dec  8 10:00:00 2026',
      eml({ subject: 'm1', body: 'one\r\n\r\nFrom the heart.' }).toString(),
      '',
      'From b@example.org Tue Dec  8 10:01:00 2026',
      second,
      '',
    ].join('\n');
    const f = write(dir, 'box.mbox', mbox);
    const s = await importPaths(app, [f]);
    expect(s.total).toBe(2);
    expect((await row(app, `${f}#1`)).subject).toBe('m1');
    expect((await row(app, `${f}#2`)).subject).toBe('m2');
    expect((await row(app, `${f}#1`)).textBody).toContain('From the heart.');
    // each stored raw file is exactly its byte range of the mbox, and its sha256 is of those bytes
    const m2 = await row(app, `${f}#2`);
    expect(fs.readFileSync(app.rawStore.absolute(m2.rawPath), 'utf8')).toBe(second);
    expect(m2.sha256).toBe(createHash('sha256').update(second).digest('hex'));
  });

  it('lists messages with the fields scripts rely on', async () => {
    const rows = await listMessages(app.db.orm);
    expect(rows.length).toBeGreaterThan(5);
    for (const r of rows) {
      expect(r.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(r.receivedAt).toBeInstanceOf(Date);
    }
  });
});
