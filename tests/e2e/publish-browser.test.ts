// The website bundle in a real browser: Debian's Chromium, driven by playwright-core, opens the index and a
// story page from disk (file://), finds the messages and a video element that plays the processed MP4 with its
// poster, and saves screenshots. Without Chromium the test fails and says how to install it.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext } from 'playwright-core';
import { eml, makeTestApp, tempDir, type TestApp } from '../helpers/app.ts';
import { testVideos, videoMail } from '../helpers/videos.ts';
import { importPaths } from '../../src/pipeline/import.ts';
import { processPending } from '../../src/pipeline/process.ts';
import { drainMedia, mediaDepsOf } from '../../src/pipeline/media.ts';
import { digestDepsOf } from '../../src/pipeline/digest.ts';
import { publish } from '../../src/pipeline/publish.ts';
import { review } from '../../src/pipeline/review.ts';
import { listItems } from '../../src/db/items.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FLAGS = [
  '--no-sandbox', // root in CI containers
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The parts of HTMLVideoElement used in the page (the project's tsconfig has no DOM library). */
interface VideoLike {
  readyState: number;
  duration: number;
  error: { code: number } | null;
  addEventListener(type: string, fn: () => void, opts?: { once: boolean }): void;
  load(): void;
}

describe('the publication in Chromium', () => {
  let app: TestApp;
  let dir: string;
  let site: string;
  let context: BrowserContext;
  const remoteRequests: string[] = [];

  beforeAll(async () => {
    if (!fs.existsSync(CHROMIUM))
      throw new Error(
        `Chromium is missing at ${CHROMIUM}: install Debian's package (apt-get install -y chromium; ci/ensure-tools.sh does it), or set CHROMIUM_PATH`,
      );
    dir = tempDir('intake-browser-');
    app = await makeTestApp('pglite');
    const videos = await testVideos();
    const write = (name: string, data: Buffer) => (fs.writeFileSync(path.join(dir, name), data), path.join(dir, name));
    await importPaths(app, [
      write(
        'a.eml',
        eml({
          from: 'Nodira <nodira@example.tj>',
          to: 'campaign+story8@notorture.example.org',
          body: 'Модари азиз, мо ҳамеша дар ёди Хуршед ҳастем. Шумо танҳо нестед.\r\n\r\nНодира, Хуҷанд\r\n',
        }),
      ),
      write(
        'b.eml',
        eml({
          from: 'alisher@example.ru',
          to: 'campaign+story8@notorture.example.org',
          body: 'Мы помним Хуршеда Бобокалонова. <b>Держитесь</b>, Саодат-апа.\r\n\r\n— Алишер\r\n',
        }),
      ),
      write('v.eml', videoMail(videos.path('ok10.mp4'))),
    ]);
    await processPending(app.deps);
    await drainMedia(mediaDepsOf(app), new AbortController().signal);
    const all = await listItems(app.db.orm, { story: 8 });
    await review(app.db, all.map((i) => i.id), 'approve', 'tester');
    site = path.join(dir, 'site');
    const r = await publish(digestDepsOf(app), site);
    expect(r.videos).toBe(1);

    const profile = path.join(dir, 'chromium-profile');
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true, // adds --headless
      args: FLAGS,
      viewport: { width: 420, height: 900 }, // a phone-sized window
    });
    // Pages opened from disk must not reach out anywhere.
    await context.route(/^(?!file:)/, (route) => {
      remoteRequests.push(route.request().url());
      return route.abort();
    });
  }, 180_000);

  afterAll(async () => {
    await context?.close();
    await app?.cleanup();
    if (dir) fs.rmSync(path.join(dir, 'chromium-profile'), { recursive: true, force: true });
  });

  it('opens the index from disk and follows the link to the story', async () => {
    const page = await context.newPage();
    await page.goto(pathToFileURL(path.join(site, 'index.html')).href);
    await expect.poll(() => page.title()).toContain('No torture in Tajikistan');
    const link = page.locator('a[href="story-8.html"]');
    expect(await link.textContent()).toBe('8. Khurshed Bobokalonov');
    await page.screenshot({ path: path.join(dir, 'index.png'), fullPage: true });
    await link.click();
    await page.waitForURL(/story-8\.html$/);
    expect(await page.locator('h1').textContent()).toBe('8. Khurshed Bobokalonov');
    await page.close();
  });

  it('the story page shows the messages and plays the processed video with its poster', async () => {
    const page = await context.newPage();
    await page.goto(pathToFileURL(path.join(site, 'story-8.html')).href);
    const texts = await page.locator('article.message .text').allTextContents();
    expect(texts).toHaveLength(3); // two messages and the video mail's own words
    expect(texts.join('\n')).toContain('Шумо танҳо нестед.');
    expect(texts.join('\n')).toContain('<b>Держитесь</b>'); // sender markup stays text
    expect(await page.locator('article.message b').count()).toBe(0);
    expect(await page.locator('article .name').allTextContents()).toContain('— Нодира, Хуҷанд');

    const video = page.locator('video');
    expect(await video.count()).toBe(1);
    expect(await video.getAttribute('controls')).not.toBeNull();
    const poster = await video.getAttribute('poster');
    expect(poster).toMatch(/^media\/\d+\/poster\.jpg$/);
    expect(fs.existsSync(path.join(site, poster!))).toBe(true);
    // The browser reads the MP4 itself: its metadata loads and the duration is the clip's.
    const duration = await video.evaluate(
      (v: VideoLike) =>
        new Promise<number>((resolve, reject) => {
          if (v.readyState >= 1) return resolve(v.duration);
          v.addEventListener('loadedmetadata', () => resolve(v.duration), { once: true });
          v.addEventListener('error', () => reject(new Error(`video error ${v.error?.code}`)), { once: true });
          v.load();
        }),
    );
    expect(duration).toBeGreaterThan(9);
    expect(duration).toBeLessThan(11);
    const shot = path.join(dir, 'story-8.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(fs.statSync(shot).size).toBeGreaterThan(10_000);
    if (process.env.KEEP_SCREENSHOTS) fs.copyFileSync(shot, path.join(process.env.KEEP_SCREENSHOTS, 'story-8.png'));
    if (process.env.KEEP_SCREENSHOTS) fs.copyFileSync(path.join(dir, 'index.png'), path.join(process.env.KEEP_SCREENSHOTS, 'index.png'));
    expect(remoteRequests).toEqual([]);
    await page.close();
  });
});
