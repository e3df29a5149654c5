// Digests and publication against the database, with the clock injected: the daily digest goes out once a day at
// 19:00 in Asia/Dushanbe, a restart or a clock jump back repeats nothing, a daemon down at the hour sends once
// when it is back, the final digest goes once, families only when asked; the website bundle holds approved items
// only and no address. Items come from real mail through the real pipeline, videos through real ffmpeg.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { and, eq, like } from 'drizzle-orm';
import { backends } from '../helpers/db.ts';
import { eml, makeTestApp, tempDir, type TestApp } from '../helpers/app.ts';
import { testVideos, videoMail } from '../helpers/videos.ts';
import { DEFAULT_CAMPAIGN } from '../../src/config.ts';
import { importPaths } from '../../src/pipeline/import.ts';
import { processPending } from '../../src/pipeline/process.ts';
import { drainMedia, mediaDepsOf } from '../../src/pipeline/media.ts';
import { digestDepsOf, previewFinal, queueFinal, sendDueDigests, type DigestDeps } from '../../src/pipeline/digest.ts';
import { publish } from '../../src/pipeline/publish.ts';
import { assignStory, review, setDisplayName } from '../../src/pipeline/review.ts';
import { digestRuns, items, messages, outbox } from '../../src/db/schema.ts';
import { insertMessage } from '../../src/db/messages.ts';
import { queueMail } from '../../src/db/outbox.ts';
import { itemHistory } from '../../src/db/items.ts';
import { setFailpoints } from '../../src/runtime/failpoints.ts';
import { ANY_ADDRESS, attr, byClass, elements, strictParse, textOf } from '../helpers/html.ts';

const STAFF = ['staff.one@notorture.example.org', 'staff.two@notorture.example.org'];
const FAMILY = 'saodat.family@example.tj';
const SUPPORTERS = ['nodira@example.tj', 'alisher@example.ru', 'anna@example.com', 'triage@example.org', 'late@example.org'];

/** The example campaign with two staff recipients and a family contact for story 8. */
function campaignFile(dir: string): string {
  const c = JSON.parse(fs.readFileSync(DEFAULT_CAMPAIGN, 'utf8'));
  c.staff = STAFF;
  c.stories.find((s: { number: number }) => s.number === 8).familyContact = FAMILY;
  const p = path.join(dir, 'campaign.json');
  fs.writeFileSync(p, JSON.stringify(c));
  return p;
}

/** A clock the test moves. Asia/Dushanbe is UTC+5: 19:00 there is 14:00 UTC. */
function testClock(iso: string) {
  let t = new Date(iso);
  return { now: () => t, set: (s: string) => (t = new Date(s)) };
}

describe.each(backends)('digests and publication on %s', (backend) => {
  let app: TestApp;
  let dir: string;
  const clock = testClock('2026-12-01T13:59:00Z');
  let deps: DigestDeps;
  const ids: Record<string, number> = {};

  const mail = (name: string, data: Buffer) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, data);
    return p;
  };
  const itemOf = async (rfcId: string, kind: string) => {
    const [r] = await app.db.orm
      .select({ id: items.id })
      .from(items)
      .innerJoin(messages, eq(messages.id, items.messageId))
      .where(and(eq(messages.rfcMessageId, rfcId.replace(/^<|>$/g, '')), eq(items.kind, kind as 'message')));
    if (!r) throw new Error(`no ${kind} item for ${rfcId}: ${JSON.stringify(await app.db.orm.select({ id: messages.id, rfc: messages.rfcMessageId, c: messages.classification, r: messages.classificationReason, s: messages.status }).from(messages))}`);
    return r.id;
  };
  const rows = (prefix: string) => app.db.orm.select().from(outbox).where(like(outbox.key, `${prefix}%`)).orderBy(outbox.id);
  /** A fresh set of deps on the same database: what a restarted daemon has. */
  const restart = () => (deps = { ...digestDepsOf(app), clock });

  beforeAll(async () => {
    dir = tempDir('intake-digest-');
    app = await makeTestApp(backend, { INTAKE_CAMPAIGN: campaignFile(dir) });
    restart();
    const videos = await testVideos();
    await importPaths(app, [
      mail(
        'nodira.eml',
        eml({
          from: 'Nodira <nodira@example.tj>',
          to: 'campaign+story8@notorture.example.org',
          messageId: '<nodira@example.tj>',
          body: 'Бародарон, мо бо шумо ҳастем. Ба ман нависед: nodira@example.tj\r\n<script>alert(1)</script>\r\n\r\nНодира, Хуҷанд\r\n',
        }),
      ),
      mail(
        'alisher.eml',
        eml({ from: 'alisher@example.ru', to: 'campaign+story8@notorture.example.org', messageId: '<alisher@example.ru>', body: 'Мы помним Хуршеда. Держитесь.\r\n' }),
      ),
      mail(
        'anna.eml',
        eml({ from: 'Anna <anna@example.com>', to: 'campaign+story8@notorture.example.org', messageId: '<anna@example.com>', body: 'Not for publication, please.\r\n\r\nAnna\r\n' }),
      ),
      mail('triage.eml', eml({ from: 'triage@example.org', subject: 'hello', messageId: '<triage@example.org>', body: 'For the family, with love.\r\n' })),
      mail('video.eml', videoMail(videos.path('ok10.mp4'), { messageId: '<video@example.tj>' })),
      mail('notvideo.eml', videoMail(videos.path('text.mp4'), { messageId: '<notvideo@example.tj>' })),
    ]);
    await processPending(app.deps);
    await drainMedia(mediaDepsOf(app), new AbortController().signal);
    for (const [k, rfc, kind] of [
      ['nodira', '<nodira@example.tj>', 'message'],
      ['alisher', '<alisher@example.ru>', 'message'],
      ['anna', '<anna@example.com>', 'message'],
      ['triage', '<triage@example.org>', 'message'],
      ['video', '<video@example.tj>', 'video'],
      ['notvideo', '<notvideo@example.tj>', 'video'],
    ] as const)
      ids[k] = await itemOf(rfc, kind);
    // A quarantined message and a failed acknowledgement whose error quotes the supporter's address.
    await insertMessage(app.db.orm, {
      source: 'test:quarantined',
      origin: 'test:quarantined',
      sha256: 'q'.repeat(64),
      size: 1,
      rawPath: 'raw/none.eml',
      rawComplete: true,
      receivedAt: clock.now(),
      quarantineReason: 'header block over 512 KiB',
    });
    const ack = await queueMail(app.db.orm, { key: 'ack:test', kind: 'ack', to: 'alisher@example.ru', subject: 's', textBody: 't', htmlBody: null });
    await app.db.orm.update(outbox).set({ state: 'failed', lastError: '550 5.1.1 <alisher@example.ru>: no such user' }).where(eq(outbox.id, ack.id));
  }, 120_000);

  afterAll(async () => {
    setFailpoints(undefined);
    await app?.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('sends nothing before 19:00 in Asia/Dushanbe on the first day', async () => {
    const r = await sendDueDigests(deps);
    expect(r).toEqual({ daily: null, final: null });
    expect(await rows('daily:')).toHaveLength(0);
  });

  it('a failure before the commit leaves neither the run nor any of its mail; the retry sends once', async () => {
    clock.set('2026-12-01T14:00:00Z');
    setFailpoints('digest.before-commit=throw');
    await expect(sendDueDigests(deps)).rejects.toThrow(/failpoint digest.before-commit/);
    setFailpoints(undefined);
    expect(await rows('daily:')).toHaveLength(0);
    expect(await app.db.orm.select().from(digestRuns)).toHaveLength(0);
  });

  it('at 19:00 sends one daily digest to each staff recipient, with the day\'s content and no address', async () => {
    const r = await sendDueDigests(deps);
    expect(r.daily).toEqual({ day: '2026-12-01', queued: 2, already: false });
    const sent = await rows('daily:');
    expect(sent.map((o) => o.key)).toEqual(STAFF.map((s) => `daily:2026-12-01:${s}`));
    expect(sent.map((o) => o.to)).toEqual(STAFF);
    for (const o of sent) {
      expect(o.kind).toBe('daily_digest');
      expect(o.headers).toMatchObject({ 'Auto-Submitted': 'auto-generated' });
      const doc = strictParse(o.htmlBody!);
            expect(textOf(byClass(doc, 'count-new')[0])).toBe('8');
      const table = elements(doc, 'tr').map((tr) => elements(tr, 'td').map(textOf));
      expect(table).toContainEqual(['8. Khurshed Bobokalonov', '7', '7', '0', '0']);
      expect(table).toContainEqual(['Triage (no story yet)', '1', '1', '0', '0']);
      const text = textOf(doc);
      expect(text).toContain('Videos rejected or failed (1)');
      expect(text).toContain('Acknowledgements failed or uncertain (1)');
      expect(text).toContain('Quarantined messages (1)');
      expect(text).toContain('header block over 512 KiB');
      expect(text).toContain('<script>alert(1)</script>');
      expect(elements(doc, 'script')).toHaveLength(0);
      expect(o.textBody).toContain('TRIAGE QUEUE (1)');
      expect(o.textBody).toContain('rejected — not a video');
      for (const body of [o.htmlBody!, o.textBody!, o.subject!]) {
        for (const a of SUPPORTERS) expect(body).not.toContain(a);
        expect(body.match(ANY_ADDRESS)).toBeNull();
      }
    }
    const [run] = await app.db.orm.select().from(digestRuns);
    expect(run).toMatchObject({ kind: 'daily', day: '2026-12-01', items: 8 });
  });

  it('a restart after sending sends nothing', async () => {
    restart();
    clock.set('2026-12-01T14:01:00Z');
    expect((await sendDueDigests(deps)).daily).toBeNull();
    clock.set('2026-12-01T18:59:00Z');
    expect((await sendDueDigests(deps)).daily).toBeNull();
    expect(await rows('daily:')).toHaveLength(2);
  });

  it('a clock jumping back a day does not repeat a digest', async () => {
    clock.set('2026-11-30T15:00:00Z');
    expect((await sendDueDigests(deps)).daily).toBeNull();
    clock.set('2026-12-01T16:00:00Z');
    expect((await sendDueDigests(deps)).daily).toBeNull();
    expect(await rows('daily:')).toHaveLength(2);
  });

  it('a daemon down at the hour sends once when it is back, with only what is new', async () => {
    await importPaths(app, [mail('late.eml', eml({ from: 'late@example.org', to: 'campaign+story8@notorture.example.org', messageId: '<late@example.org>', body: 'Late, but with you.\r\n' }))]);
    await processPending(app.deps);
    restart();
    clock.set('2026-12-03T03:00:00Z'); // 08:00 on the 3rd: the 2nd's hour passed while down
    const r = await sendDueDigests(deps);
    expect(r.daily).toEqual({ day: '2026-12-02', queued: 2, already: false });
    // Two daemons (or a restart racing a retry) at the same moment: the run's key lets one through.
    const again = await Promise.all([sendDueDigests(deps), sendDueDigests({ ...deps })]);
    expect(again.map((a) => a.daily)).toEqual([null, null]);
    const ninth = await rows('daily:2026-12-02:');
    expect(ninth).toHaveLength(2);
    expect(ninth[0].textBody).toContain('1 new since the last digest');
    expect(ninth[0].textBody).toContain('Late, but with you.');
    expect(ninth[0].textBody).not.toContain('Держитесь');
    // The triage queue still holds the item from the 1st's window that no story was given yet.
    expect(ninth[0].textBody).toContain('TRIAGE QUEUE (1)');
    expect(ninth[0].textBody).toContain('For the family, with love.');
  });

  it('runs on the digest day itself afterwards, also in parallel, exactly once', async () => {
    clock.set('2026-12-03T14:00:00Z');
    const both = await Promise.all([sendDueDigests(deps), sendDueDigests({ ...digestDepsOf(app), clock })]);
    expect(both.filter((b) => b.daily && !b.daily.already)).toHaveLength(1);
    expect(await rows('daily:2026-12-03:')).toHaveLength(2);
    expect((await app.db.orm.select().from(digestRuns)).map((r) => r.day).sort()).toEqual(['2026-12-01', '2026-12-02', '2026-12-03']);
  });

  it('intake name is recorded and shown; staff review decides what is compiled', async () => {
    await review(app.db, [ids.nodira, ids.alisher, ids.video], 'approve', 'tester');
    await review(app.db, [ids.anna], 'reject', 'tester', 'asked not to publish');
    await assignStory(app.db, app.config.campaign, [ids.triage], 8, 'tester');
    await setDisplayName(app.db, ids.alisher, 'Алишер из Худжанда', 'tester');
    const h = await itemHistory(app.db.orm, ids.alisher);
    expect(h.at(-1)).toMatchObject({ action: 'name', actor: 'tester', from: { displayName: null }, to: { displayName: 'Алишер из Худжанда' } });
    await expect(setDisplayName(app.db, ids.alisher, 'alisher@example.ru', 'tester')).rejects.toThrow(/address/);
  });

  it('the final digest goes to staff once on the final day at the hour, never to families by itself', async () => {
    clock.set('2026-12-12T13:59:00Z');
    expect((await sendDueDigests(deps)).final).toBeNull();
    clock.set('2026-12-12T14:00:00Z');
    const r = await sendDueDigests(deps);
    expect(r.final?.staff).toEqual({ queued: 2, already: false });
    restart();
    clock.set('2026-12-13T15:00:00Z');
    expect((await sendDueDigests(deps)).final).toBeNull();
    const finals = await rows('final:');
    expect(finals.map((o) => o.key)).toEqual(STAFF.map((s) => `final:2026-12-12:${s}`));
    expect(await rows('family:')).toHaveLength(0);
    const doc = strictParse(finals[0].htmlBody!);
    const s8 = elements(doc, 'section').find((s) => attr(s, 'id') === 'story-8')!;
    expect(textOf(byClass(s8, 'counts')[0])).toBe('2 messages, 1 video');
    const text = textOf(s8);
    expect(text).toContain('— Нодира, Хуҷанд');
    expect(text).toContain('— Алишер из Худжанда');
    expect(text).not.toContain('Not for publication'); // rejected
    expect(text).not.toContain('For the family, with love'); // not approved
  });

  it('families get their story only with --family, once, and without any address', async () => {
    const first = await queueFinal(deps, { family: true });
    expect(first.staff.already).toBe(true);
    expect(first.families).toEqual([{ story: 8, queued: true, already: false }]);
    const second = await queueFinal(deps, { family: true });
    expect(second.families).toEqual([{ story: 8, queued: false, already: true }]);
    const fam = await rows('family:');
    expect(fam).toHaveLength(1);
    expect(fam[0]).toMatchObject({ key: 'family:8', kind: 'family', to: FAMILY, story: 8 });
    for (const body of [fam[0].htmlBody!, fam[0].textBody!]) {
      for (const a of SUPPORTERS) expect(body).not.toContain(a);
      expect(body.match(ANY_ADDRESS)).toBeNull();
    }
    const doc = strictParse(fam[0].htmlBody!);
    expect(elements(doc, 'article')).toHaveLength(3);
    expect(textOf(doc)).toContain('A video, 0:10');
  });

  it('--preview DIR writes one HTML and one text file per story, with the video beside them', async () => {
    const out = path.join(dir, 'preview');
    const p = await previewFinal(deps, out);
    expect(p.files.filter((f) => f.endsWith('.html'))).toHaveLength(12);
    const doc = strictParse(fs.readFileSync(path.join(out, 'story-8.html'), 'utf8'));
    const v = elements(doc, 'video')[0];
    expect(fs.statSync(path.join(out, attr(v, 'src')!)).size).toBeGreaterThan(1000);
    expect(fs.existsSync(path.join(out, attr(v, 'poster')!))).toBe(true);
    expect(fs.readFileSync(path.join(out, 'story-8.txt'), 'utf8')).toContain('Мы помним Хуршеда');
    scanForAddresses(out);
  });

  it('publish writes the bundle of approved items, relative links only, no address in any file', async () => {
    const out = path.join(dir, 'site');
    const r = await publish(deps, out);
    expect(r).toMatchObject({ stories: 12, messages: 2, videos: 1, links: 0, videosNotReady: [] });
    const index = strictParse(fs.readFileSync(path.join(out, 'index.html'), 'utf8'));
    expect(elements(index, 'a').map((a) => attr(a, 'href'))).toContain('story-8.html');
    const page = strictParse(fs.readFileSync(path.join(out, 'story-8.html'), 'utf8'));
    expect(elements(page, 'article')).toHaveLength(3);
    const v = elements(page, 'video')[0];
    expect(attr(v, 'src')).toBe(`media/${ids.video}/video.mp4`);
    expect(attr(v, 'poster')).toBe(`media/${ids.video}/poster.jpg`);
    for (const f of r.files.filter((f) => f.endsWith('.html'))) {
      const d = strictParse(fs.readFileSync(path.join(out, f), 'utf8'));
      for (const e of [...elements(d, 'a'), ...elements(d, 'video')])
        for (const a of ['href', 'src', 'poster']) {
          const u = attr(e, a);
          if (u !== undefined) expect(u, `${f}: ${a}=${u}`).not.toMatch(/^(\/|[a-z]+:)/i);
        }
    }
    const feed = JSON.parse(fs.readFileSync(path.join(out, 'feed.json'), 'utf8'));
    expect(feed.items).toHaveLength(3);
    scanForAddresses(out);
    // Publishing again replaces it; a folder that holds anything else is refused.
    fs.writeFileSync(path.join(out, 'stale.html'), 'old');
    await publish(deps, out);
    expect(fs.existsSync(path.join(out, 'stale.html'))).toBe(false);
    const foreign = path.join(dir, 'foreign');
    fs.mkdirSync(foreign);
    fs.writeFileSync(path.join(foreign, 'keep.txt'), 'mine');
    await expect(publish(deps, foreign)).rejects.toThrow(/not made by intake publish/);
    expect(fs.readFileSync(path.join(foreign, 'keep.txt'), 'utf8')).toBe('mine');
  });

  function scanForAddresses(root: string) {
    const files = fs.readdirSync(root, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    expect(files.length).toBeGreaterThan(3);
    for (const e of files) {
      const p = path.join(e.parentPath, e.name);
      const bytes = fs.readFileSync(p);
      const text = bytes.toString('latin1');
      for (const a of [...SUPPORTERS, FAMILY]) expect(text, p).not.toContain(a);
      if (/\.(html|txt|json)$/.test(p)) expect(bytes.toString('utf8').match(ANY_ADDRESS), p).toBeNull();
    }
  }
});
