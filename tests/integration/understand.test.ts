// Classification, items and links end to end (import -> parse -> understand), and staff review with history.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { backends } from '../helpers/db.ts';
import { eml, makeTestApp, tempDir, type TestApp } from '../helpers/app.ts';
import { importPaths } from '../../src/pipeline/import.ts';
import { items, messages } from '../../src/db/schema.ts';
import { itemHistory, listItems } from '../../src/db/items.ts';
import { assignStory, review } from '../../src/pipeline/review.ts';
import { IntakeError } from '../../src/errors.ts';

const video = Buffer.from('not really a video, the media stage decides').toString('base64');

describe.each(backends)('understanding and review on %s', (backend) => {
  let app: TestApp;
  let dir: string;
  const file = (name: string, data: Buffer) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, data);
    return p;
  };
  beforeAll(async () => {
    app = await makeTestApp(backend);
    dir = tempDir('intake-understand-');
    await importPaths(app, [
      file(
        'story8.eml',
        eml({
          from: 'Nodira <nodira@example.tj>',
          subject: 'Барои Хуршед Бобокалонов #notorturetj',
          messageId: '<s8@example.tj>',
          contentType: 'multipart/mixed; boundary=z',
          body: [
            '--z',
            'Content-Type: text/plain; charset=utf-8',
            '',
            'Мо ҳамеша дар ёди Хуршед ҳастем. Видео: https://youtu.be/abc123',
            '',
            'Нодира, Хуҷанд',
            '--z',
            'Content-Type: video/mp4',
            'Content-Disposition: attachment; filename=clip.mp4',
            'Content-Transfer-Encoding: base64',
            '',
            video,
            '--z--',
            '',
          ].join('\r\n'),
        }),
      ),
      file('ooo.eml', eml({ from: 'boss@example.org', subject: 'Automatic reply: story 8', headers: { 'Auto-Submitted': 'auto-replied' } })),
      file(
        'second.eml',
        eml({ from: 'Nodira <nodira@example.tj>', subject: 'Re: Барои Хуршед', headers: { 'In-Reply-To': '<s8@example.tj>' }, body: 'И ещё раз спасибо всем вам.' }),
      ),
    ]);
  });
  afterAll(async () => {
    await app?.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const messageBySubject = async (s: string) => (await app.db.orm.select().from(messages).where(eq(messages.subject, s)))[0];

  it('classifies every message, with the rule as the reason', async () => {
    const sub = await messageBySubject('Барои Хуршед Бобокалонов #notorturetj');
    expect(sub.classification).toBe('submission');
    expect(sub.ackBlock).toBeNull();
    const ooo = await messageBySubject('Automatic reply: story 8');
    expect(ooo.classification).toBe('auto_reply');
    expect(ooo.classificationReason).toMatch(/auto-replied/i);
    expect(await app.db.orm.select().from(items).where(eq(items.messageId, ooo.id))).toHaveLength(0);
  });

  it('extracts the text, the video and the video link, each linked to story 8 with method and confidence', async () => {
    const sub = await messageBySubject('Барои Хуршед Бобокалонов #notorturetj');
    const its = await app.db.orm.select().from(items).where(eq(items.messageId, sub.id)).orderBy(items.id);
    expect(its.map((i) => i.kind)).toEqual(['message', 'video', 'video_link']);
    for (const i of its) {
      expect(i.story).toBe(8);
      expect(i.linkMethod).toBeTruthy();
      expect(i.linkConfidence).toBeGreaterThanOrEqual(0.6);
    }
    expect(its[0].language).toBe('tg');
    expect(its[0].text).toContain('Мо ҳамеша дар ёди Хуршед');
    expect(its[0].displayName).toMatch(/Нодира/);
    expect(its[2].url).toBe('https://youtu.be/abc123');
  });

  it('treats a second message from the same sender as its own submission, not a reply to the first', async () => {
    const second = await messageBySubject('Re: Барои Хуршед');
    expect(second.classification).toBe('submission');
    const [it] = await app.db.orm.select().from(items).where(eq(items.messageId, second.id));
    expect(it.kind).toBe('message');
    // "Хуршед" names story 8 here on its own merits; the reply to the first message adds nothing.
    expect(it.linkMethod).not.toBe('reply');
  });

  it('re-running the stages changes nothing', async () => {
    const before = await app.db.orm.select().from(items);
    await app.db.orm.update(messages).set({ understoodAt: null });
    const { understandPending } = await import('../../src/pipeline/understand.ts');
    await understandPending(app.deps);
    expect(await app.db.orm.select().from(items)).toEqual(before);
  });

  it('lets staff assign, approve and reject, refuses invalid transitions, and records every change', async () => {
    const [text] = await listItems(app.db.orm, { story: 8 });
    await review(app.db, [text.id], 'approve', 'farida');
    await expect(review(app.db, [text.id], 'approve', 'farida')).rejects.toThrow(/already approved/);
    await expect(review(app.db, [text.id], 'reject', 'farida')).rejects.toThrow(/reason/);
    await expect(review(app.db, [999_999], 'approve', 'farida')).rejects.toThrow(/no item 999999/);
    await expect(assignStory(app.db, app.config.campaign, [text.id], 42, 'farida')).rejects.toBeInstanceOf(IntakeError);
    await assignStory(app.db, app.config.campaign, [text.id], 3, 'farida');
    await review(app.db, [text.id], 'reject', 'karim', 'duplicate of an earlier message');

    const h = await itemHistory(app.db.orm, text.id);
    expect(h.map((e) => [e.actor, e.action, e.from, e.to])).toEqual([
      ['intake', 'link', null, expect.objectContaining({ story: 8 })],
      ['farida', 'approve', { status: 'pending' }, { status: 'approved' }],
      ['farida', 'assign', { story: 8, method: expect.any(String) }, { story: 3, method: 'staff' }],
      ['karim', 'reject', { status: 'approved' }, { status: 'rejected' }],
    ]);
    expect(h[3].reason).toBe('duplicate of an earlier message');
    const [after] = await app.db.orm.select().from(items).where(eq(items.id, text.id));
    expect(after).toMatchObject({ story: 3, status: 'rejected', linkMethod: 'staff' });
  });
});
