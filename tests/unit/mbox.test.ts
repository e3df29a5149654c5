import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findMessages, mboxRanges } from '../../src/adapters/mail-files.ts';
import { tempDir } from '../helpers/app.ts';

function ranges(content: string | Buffer) {
  const dir = tempDir('intake-mbox-');
  const f = path.join(dir, 'x.mbox');
  fs.writeFileSync(f, content);
  return { f, dir, data: fs.readFileSync(f) };
}

describe('mbox splitting', () => {
  it('splits at From_ lines after an empty line, and drops the separator and the blank line', async () => {
    const { f, data } = ranges('From a@b Mon Jan  1 00:00:00 2024\nSubject: one\n\nbody one\n\nFrom b@c Mon Jan  1 00:00:01 2024\nSubject: two\n\nbody two\n');
    const r = await mboxRanges(f);
    expect(r.map((x) => data.subarray(x.start, x.end).toString())).toEqual(['Subject: one\n\nbody one\n', 'Subject: two\n\nbody two\n']);
  });

  it('does not split at a body line starting with "From " that is not a separator', async () => {
    const { f } = ranges('From a@b Mon Jan  1 00:00:00 2024\nSubject: one\n\nFrom the heart\nFrom me too\n');
    expect(await mboxRanges(f)).toHaveLength(1);
  });

  it('works with CRLF and with separators split across read chunks', async () => {
    const big = 'x'.repeat((1 << 20) - 3);
    const { f, data } = ranges(`From a@b Mon Jan  1 00:00:00 2024\r\nSubject: one\r\n\r\n${big}\r\n\r\nFrom b@c Mon Jan  1 00:00:01 2024\r\nSubject: two\r\n\r\nend\r\n`);
    const r = await mboxRanges(f);
    expect(r).toHaveLength(2);
    expect(data.subarray(r[1].start, r[1].end).toString()).toBe('Subject: two\r\n\r\nend\r\n');
    expect(data.subarray(r[0].start, r[0].end).toString().endsWith(big + '\r\n')).toBe(true);
  });

  it('treats a Maildir folder as its cur/ and new/ messages, never tmp/', async () => {
    const dir = tempDir('intake-md-');
    for (const sub of ['cur', 'new', 'tmp']) fs.mkdirSync(path.join(dir, sub));
    fs.writeFileSync(path.join(dir, 'cur', '1:2,S'), 'Subject: a\n\nx');
    fs.writeFileSync(path.join(dir, 'new', '2'), 'Subject: b\n\ny');
    fs.writeFileSync(path.join(dir, 'tmp', '3'), 'Subject: partial');
    const found = await findMessages([dir]);
    expect(found.map((e) => path.relative(dir, e.source)).sort()).toEqual(['cur/1:2,S', 'new/2']);
  });
});
