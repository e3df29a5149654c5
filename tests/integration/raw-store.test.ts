// The raw store's group write (writeMany): every file durable under raw/<day>/, one sidecar for the group, and
// recovery's listing (list) finding each message with its meta, whatever a crash or a duplicate left.
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { makeRawStore, GROUP_SIDECAR } from '../../src/adapters/raw-store.ts';
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
  it('writes each message as its own file with one sidecar per day, and list finds each with its meta', async () => {
    const { dir, raw } = store();
    const bodies = [1, 2, 3].map((n) => Buffer.from(`Subject: ${n}\r\n\r\nbody ${n}\r\n`));
    const out = await raw.writeMany(
      bodies.map((bytes, i) => ({ bytes, meta: meta(i + 1, i === 2 ? '2026-12-09' : '2026-12-08') })),
      1 << 20,
    );
    out.forEach((r, i) => {
      expect(fs.readFileSync(raw.absolute(r.relPath)).equals(bodies[i])).toBe(true);
      expect(r.sha256).toBe(createHash('sha256').update(bodies[i]).digest('hex'));
    });
    const names = (day: string) => fs.readdirSync(path.join(dir, 'raw', day));
    expect(names('2026-12-08').filter((n) => n.endsWith(GROUP_SIDECAR))).toHaveLength(1);
    expect(names('2026-12-08').filter((n) => n.endsWith('.eml'))).toHaveLength(2);
    expect(names('2026-12-09').filter((n) => n.endsWith(GROUP_SIDECAR))).toHaveLength(1);
    expect(fs.readdirSync(path.join(dir, 'raw', 'tmp'))).toEqual([]);
    expect(await listAll(raw)).toEqual(out.map((r, i) => ({ relPath: r.relPath, source: `imap:INBOX/7/${i + 1}` })));
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

  it('lists only the messages still on disk, and drops a sidecar once none of its messages is', async () => {
    const { dir, raw } = store();
    const out = await raw.writeMany([1, 2, 3].map((n) => ({ bytes: Buffer.from(`m${n}`), meta: meta(n) })), 1 << 20);
    await raw.remove(out[1].relPath); // a duplicate
    fs.rmSync(raw.absolute(out[2].relPath)); // as if the crash came before its rename
    expect((await listAll(raw)).map((e) => e.source)).toEqual(['imap:INBOX/7/1']);
    await raw.remove(out[0].relPath);
    expect(await listAll(raw)).toEqual([]);
    expect(fs.readdirSync(path.join(dir, 'raw', '2026-12-08'))).toEqual([]);
  });
});
