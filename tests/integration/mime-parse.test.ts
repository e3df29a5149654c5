// parseMessageFile (src/adapters/mime.ts): mailparser parses only the headers whose values are read; the fields
// taken from those are all there, every header line still comes back as it was (those nothing parses too), an
// attachment keeps its Content-ID, and the envelope sender comes from the Return-Path line.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/app.ts';
import { parseMessageFile } from '../../src/adapters/mime.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
const budgets = { headerBytes: 64 * 1024, mimeParts: 100, attachmentBytes: 1 << 20, parseMs: 10_000 };

describe('parseMessageFile', () => {
  it('reads the fields it uses and keeps every header line as it came', async () => {
    const dir = tempDir('intake-mime-');
    dirs.push(dir);
    const raw = [
      'Received: from mx.example.tj (mx.example.tj [192.0.2.1]) by mail.example.org; Tue, 8 Dec 2026 10:00:00 +0500',
      'DKIM-Signature: v=1; a=rsa-sha256; d=example.tj; s=s1; b=AAAA (not a comment)',
      'X-Mailer: =?utf-8?B?0J/QvtGH0YLQsA==?=',
      'List-Id: <supporters.example.tj>',
      'Return-Path: <Nigora@Example.TJ>',
      'From: =?utf-8?B?0J3QuNCz0L7RgNCw?= <nigora@example.tj>',
      'To: campaign+story8@notorture.example.org, Other <other@example.org>',
      'Cc: cc@example.org',
      'Reply-To: reply@example.tj',
      'Subject: =?utf-8?B?0JjRgdGC0L7RgNC40Y8gOA==?=',
      'Date: Tue, 08 Dec 2026 10:00:00 +0500',
      'Message-ID: <m1@example.tj>',
      'In-Reply-To: <m0@example.org>',
      'References: <a@example.org> <m0@example.org>',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Мы с вами.',
      '--b1',
      'Content-Type: image/png',
      'Content-ID: <img1@example.tj>',
      'Content-Disposition: inline; filename="a.png"',
      'Content-Transfer-Encoding: base64',
      '',
      Buffer.from('not really a png').toString('base64'),
      '--b1--',
      '',
    ].join('\r\n');
    const file = path.join(dir, 'm.eml');
    fs.writeFileSync(file, raw);
    const p = await parseMessageFile(file, path.join(dir, 'att'), 'att', budgets, '1.');
    expect(p.subject).toBe('История 8');
    expect(p.from).toEqual({ name: 'Нигора', address: 'nigora@example.tj' });
    expect(p.to.map((a) => a.address)).toEqual(['campaign+story8@notorture.example.org', 'other@example.org']);
    expect(p.cc.map((a) => a.address)).toEqual(['cc@example.org']);
    expect(p.replyTo.map((a) => a.address)).toEqual(['reply@example.tj']);
    expect(p.envelopeSender).toBe('nigora@example.tj');
    expect(p.rfcMessageId).toBe('m1@example.tj');
    expect(p.inReplyTo).toBe('m0@example.org');
    expect(p.references).toEqual(['a@example.org', 'm0@example.org']);
    expect(p.sentAt?.toISOString()).toBe('2026-12-08T05:00:00.000Z');
    expect(p.text?.trim()).toBe('Мы с вами.');
    // Every header line, those left unparsed too, as it was.
    expect(p.headers.map((h) => h.key)).toEqual([
      'received', 'dkim-signature', 'x-mailer', 'list-id', 'return-path', 'from', 'to', 'cc', 'reply-to', 'subject',
      'date', 'message-id', 'in-reply-to', 'references', 'mime-version', 'content-type',
    ]);
    expect(p.headers.find((h) => h.key === 'x-mailer')?.value).toBe('=?utf-8?B?0J/QvtGH0YLQsA==?=');
    expect(p.attachments).toHaveLength(1);
    expect(p.attachments[0]).toMatchObject({ contentType: 'image/png', contentId: '<img1@example.tj>', filename: 'a.png' });
  });
});

describe('the envelope sender', () => {
  const parse = async (returnPath: string | null) => {
    const dir = tempDir('intake-mime-');
    dirs.push(dir);
    const file = path.join(dir, 'm.eml');
    fs.writeFileSync(file, `${returnPath === null ? '' : `Return-Path: ${returnPath}\r\n`}From: a@example.org\r\nSubject: s\r\n\r\nbody\r\n`);
    return (await parseMessageFile(file, path.join(dir, 'att'), 'att', budgets)).envelopeSender;
  };
  it('is the Return-Path, lowercased; the null sender is the empty string; no header is null', async () => {
    expect(await parse('<Nigora@Example.TJ>')).toBe('nigora@example.tj');
    expect(await parse('bookings@easyHotel.com')).toBe('bookings@easyhotel.com');
    expect(await parse('<>')).toBe('');
    expect(await parse('<not an address>')).toBe('');
    expect(await parse(null)).toBeNull();
  });
});

describe('the date sent', () => {
  const parse = async (dates: string[]) => {
    const dir = tempDir('intake-mime-');
    dirs.push(dir);
    const file = path.join(dir, 'm.eml');
    fs.writeFileSync(file, `From: a@example.org\r\n${dates.map((d) => `Date: ${d}\r\n`).join('')}Subject: s\r\n\r\nbody\r\n`);
    return (await parseMessageFile(file, path.join(dir, 'att'), 'att', budgets)).sentAt;
  };
  it('is the first Date header; one that cannot be read, or none, is null (not the time of parsing)', async () => {
    expect((await parse(['Tue, 08 Dec 2026 10:00:00 +0500']))?.toISOString()).toBe('2026-12-08T05:00:00.000Z');
    expect((await parse(['Wed, 09 Dec 2026 10:00:00 +0000', 'Tue, 08 Dec 2026 10:00:00 +0500']))?.toISOString()).toBe('2026-12-09T10:00:00.000Z');
    expect(await parse(['    Malformed Date.'])).toBeNull();
    expect(await parse(['Whenever'])).toBeNull();
    expect(await parse([])).toBeNull();
  });
});

describe('a parse past its time budget while an attachment streams', () => {
  it('ends at once with the budget as reason, and leaves no temporary file', async () => {
    const dir = tempDir('intake-mime-');
    dirs.push(dir);
    const body = Buffer.alloc(3_000_000, 3).toString('base64').replace(/.{76}/g, '$&\r\n');
    const file = path.join(dir, 'slow.eml');
    // Over 1 MiB: streamed from the file, so the budget can run out while the attachment's bytes are flowing.
    fs.writeFileSync(
      file,
      `From: a@example.org\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n${body}\r\n--x--\r\n`,
    );
    const att = path.join(dir, 'att');
    // Budgets that end the parse before, during and after the attachment began: none may leave it waiting
    // for bytes (before the fix, 5 to 40 ms waited until the worker was ended 5 s later), nor leave a write to
    // the destroyed file to throw later (an uncaught error, which fails the run: ~half of these before).
    for (const parseMs of [1, ...Array.from({ length: 40 }, (_, i) => 5 + i)]) {
      const outcome = await Promise.race([
        parseMessageFile(file, att, 'att', { ...budgets, attachmentBytes: 8 << 20, parseMs }).then(
          () => 'parsed',
          (e: Error) => e.message,
        ),
        new Promise<string>((resolve) => setTimeout(() => resolve('still waiting after 3 s'), 3000).unref()),
      ]);
      expect(['parsed', `parsing took longer than ${parseMs} ms`], `parseMs ${parseMs}`).toContain(outcome);
      const left = fs.existsSync(att) ? fs.readdirSync(att) : [];
      expect(left.filter((f) => f.endsWith('.tmp')), `parseMs ${parseMs}`).toEqual([]);
    }
  });
});
