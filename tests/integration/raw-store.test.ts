// The raw store's group write (writeMany): per day one pack holding the group's messages and one sidecar naming
// each one's byte range, durable under raw/<day>/; recovery's listing (list) finding each message with its meta,
// whatever a crash or a duplicate left.
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { makeRawStore, GROUP_SIDECAR, PACK } from '../../src/adapters/raw-store.ts';
import { tempDir } from '../helpers/app.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
const store = () => {
  const d = tempDir('intake-raw-');
  dirs.push(d);
  return { dir: d, raw: makeRawStore(d) };
};
const meta = (n: number, day = '2026-12-08') => ({ source: `imap:INBOX/7/${n}`, origin: 'imap:u@h/INBOX', receivedAt: `${day}T10:00:0${n}.000Z` });
const listAll = async (raw: ReturnType<typeof makeRawStore>) => {
  const out: Array<{ relPath: string; source: string }> = [];
  for await (const e of raw.list()) out.push({ relPath: e.relPath, source: e.meta.source });
  return out.sort((a, b) => a.source.localeCompare(b.source));
};

describe('writeMany', () => {
  it('writes one pack and one sidecar per day, each message a range of the pack, and list finds each with its meta', async () => {
    const { dir, raw } = store();
    const bodies = [1, 2, 3].map((n) => Buffer.from(`Subject: ${n}\r\n\r\nbody ${n}\r\n`));
    const out = await raw.writeMany(
      bodies.map((bytes, i) => ({ bytes, meta: meta(i + 1, i === 2 ? '2026-12-09' : '2026-12-08') })),
      1 << 20,
    );
    out.forEach((r, i) => {
      const at = raw.locate(r.relPath);
      expect(at.end).not.toBeNull();
      expect(fs.readFileSync(at.file).subarray(at.start, at.end!).equals(bodies[i])).toBe(true);
      expect(r.size).toBe(bodies[i].length);
      expect(r.sha256).toBe(createHash('sha256').update(bodies[i]).digest('hex'));
    });
    expect(raw.locate(out[0].relPath).file).toBe(raw.locate(out[1].relPath).file);
    const names = (day: string) => fs.readdirSync(path.join(dir, 'raw', day)).sort();
    expect(names('2026-12-08').map((n) => n.slice(36))).toEqual([PACK, GROUP_SIDECAR].sort());
    expect(names('2026-12-09').map((n) => n.slice(36))).toEqual([PACK, GROUP_SIDECAR].sort());
    expect(fs.readFileSync(raw.absolute(out[0].relPath)).equals(Buffer.concat(bodies.slice(0, 2)))).toBe(true);
    expect(fs.readdirSync(path.join(dir, 'raw', 'tmp'))).toEqual([]);
    expect(await listAll(raw)).toEqual(out.map((r, i) => ({ relPath: r.relPath, source: `imap:INBOX/7/${i + 1}` })));
  });

  it('parses a message from its range of the pack', async () => {
    const { dir, raw } = store();
    const bodies = ['first', 'second', 'third'].map((w) => Buffer.from(`Subject: ${w}\r\nFrom: a@example.org\r\n\r\n${w} body\r\n`));
    const out = await raw.writeMany(bodies.map((bytes, i) => ({ bytes, meta: meta(i + 1) })), 1 << 20);
    const { parseMessageFile } = await import('../../src/adapters/mime.ts');
    const budgets = { headerBytes: 64 * 1024, mimeParts: 100, attachmentBytes: 1 << 20, parseMs: 10_000 };
    const parsed = await parseMessageFile(raw.locate(out[1].relPath), path.join(dir, 'att'), 'att', budgets);
    expect(parsed.subject).toBe('second');
    expect(parsed.text?.trim()).toBe('second body');
  });

  it('parses messages of two packs in any order, each from its own range (the pack read last stays open)', async () => {
    const { dir, raw } = store();
    const mk = (w: string) => Buffer.from(`Subject: ${w}\r\nFrom: a@example.org\r\n\r\n${w} body\r\n`);
    const a = await raw.writeMany(['a1', 'a2', 'a3'].map((w, i) => ({ bytes: mk(w), meta: meta(i + 1) })), 1 << 20);
    const b = await raw.writeMany(['b1', 'b2'].map((w, i) => ({ bytes: mk(w), meta: meta(i + 4) })), 1 << 20);
    expect(raw.locate(a[0].relPath).file).not.toBe(raw.locate(b[0].relPath).file);
    const { parseMessageFile } = await import('../../src/adapters/mime.ts');
    const budgets = { headerBytes: 64 * 1024, mimeParts: 100, attachmentBytes: 1 << 20, parseMs: 10_000 };
    const order: Array<[typeof a, number, string]> = [
      [a, 0, 'a1'], [a, 1, 'a2'], [b, 0, 'b1'], [a, 2, 'a3'], [b, 1, 'b2'], [b, 1, 'b2'], [a, 0, 'a1'],
    ];
    const got: string[] = [];
    for (const [pack, i] of order) got.push((await parseMessageFile(raw.locate(pack[i].relPath), path.join(dir, 'att'), 'att', budgets)).subject ?? '');
    expect(got).toEqual(order.map(([, , w]) => w));
  });

  it('writes an attachment even when its folder was removed after an earlier one was written there', async () => {
    const { dir, raw } = store();
    const withAttachment = (n: number) =>
      Buffer.from(
        `Subject: att ${n}\r\nFrom: a@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n` +
          `--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=x.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n` +
          `${Buffer.from(`payload ${n}`).toString('base64')}\r\n--b--\r\n`,
      );
    const out = await raw.writeMany([1, 2].map((n) => ({ bytes: withAttachment(n), meta: meta(n) })), 1 << 20);
    const { parseMessageFile } = await import('../../src/adapters/mime.ts');
    const budgets = { headerBytes: 64 * 1024, mimeParts: 100, attachmentBytes: 1 << 20, parseMs: 10_000 };
    const attDir = path.join(dir, 'att');
    const first = await parseMessageFile(raw.locate(out[0].relPath), attDir, 'att', budgets, '1.');
    expect(fs.readFileSync(path.join(dir, first.attachments[0].relPath), 'utf8')).toBe('payload 1');
    fs.rmSync(attDir, { recursive: true });
    const second = await parseMessageFile(raw.locate(out[1].relPath), attDir, 'att', budgets, '2.');
    expect(fs.readFileSync(path.join(dir, second.attachments[0].relPath), 'utf8')).toBe('payload 2');
  });

  it('keeps the start of a message over the cap, marked with the size it had', async () => {
    const { raw } = store();
    const [r] = await raw.writeMany([{ bytes: Buffer.alloc(100, 0x41), meta: meta(1) }], 10);
    expect(r).toMatchObject({ size: 10, complete: false });
    const [listed] = await (async () => {
      const l = [];
      for await (const e of raw.list()) l.push(e);
      return l;
    })();
    expect(listed.meta.truncatedFrom).toBe(100);
  });

  it('a removed message (a duplicate) leaves the sidecar, the last one takes pack and sidecar with it', async () => {
    const { dir, raw } = store();
    const out = await raw.writeMany([1, 2, 3].map((n) => ({ bytes: Buffer.from(`m${n}`), meta: meta(n) })), 1 << 20);
    await raw.remove(out[1].relPath); // a duplicate
    expect((await listAll(raw)).map((e) => e.source)).toEqual(['imap:INBOX/7/1', 'imap:INBOX/7/3']);
    // the others' bytes are where they were
    const at = raw.locate(out[2].relPath);
    expect(fs.readFileSync(at.file).subarray(at.start, at.end!).toString()).toBe('m3');
    await raw.remove(out[0].relPath);
    await raw.remove(out[2].relPath);
    expect(await listAll(raw)).toEqual([]);
    expect(fs.readdirSync(path.join(dir, 'raw', '2026-12-08'))).toEqual([]);
  });

  it('lists nothing of a group whose pack never arrived (a crash between the renames), and drops its sidecar', async () => {
    const { dir, raw } = store();
    const out = await raw.writeMany([1, 2].map((n) => ({ bytes: Buffer.from(`m${n}`), meta: meta(n) })), 1 << 20);
    fs.rmSync(raw.absolute(out[0].relPath));
    expect(await listAll(raw)).toEqual([]);
    expect(fs.readdirSync(path.join(dir, 'raw', '2026-12-08'))).toEqual([]);
  });
});
