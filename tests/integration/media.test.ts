// The media stage on real ffmpeg and the real database: mail with every test clip attached goes through import,
// parse and understand (which queues one job per video), then the job stage; each clip ends ready or rejected
// with its reason. Then the job mechanics: recovery of a job a dead process left `processing`, attempts running
// out, a lease taken over by another worker, shutdown in the middle of ffmpeg, bounded concurrency.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import { backends } from '../helpers/db.ts';
import { makeTestApp, tempDir, type TestApp } from '../helpers/app.ts';
import { CANARY, testVideos, topBoxes, videoMail, type TestVideos, type VideoName } from '../helpers/videos.ts';
import { importPaths } from '../../src/pipeline/import.ts';
import { attachments, items, mediaJobs, messages } from '../../src/db/schema.ts';
import { claimJob, enqueueMissing, getJob, jobsOfItems, type MediaJob } from '../../src/db/media.ts';
import { drainMedia, mediaDepsOf, processJob, recoverMedia, runDueJobs, WAIT_FOR_FFMPEG_MS, type MediaDeps } from '../../src/pipeline/media.ts';
import { understandOne } from '../../src/pipeline/understand.ts';
import { makeMediaTool, type MediaTool } from '../../src/adapters/ffmpeg.ts';

const TYPES: Record<string, string> = { mp4: 'video/mp4', mov: 'video/quicktime', '3gp': 'video/3gpp', webm: 'video/webm' };

const READY: Array<[VideoName, { trimmed: boolean; original: number }]> = [
  ['ok10.mp4', { trimmed: false, original: 10 }],
  ['long150.mp4', { trimmed: true, original: 150 }],
  ['bframes150.mp4', { trimmed: true, original: 150 }],
  ['iphone150.mov', { trimmed: true, original: 150 }],
  ['clip.3gp', { trimmed: false, original: 5 }],
  ['clip.webm', { trimmed: false, original: 5 }],
];
const REJECTED: Array<[VideoName, string]> = [
  ['sound.mp4', 'not a video (sound only)'],
  ['picture.mp4', 'not a video'],
  ['cut.mp4', 'the file is cut off'],
  ['tail-cut.mp4', 'the file is cut off'],
  ['empty.mp4', 'the file is empty'],
  ['text.mp4', 'not a video'],
  ['playlist.mp4', 'not a video'],
  ['concat.mp4', 'not a video'],
];

function ffprobe(file: string) {
  const r = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration:stream=codec_name,codec_type', '-of', 'json', file], { encoding: 'utf8' });
  const j = JSON.parse(r.stdout) as { format: { duration: string }; streams: Array<{ codec_type: string; codec_name: string }> };
  return { seconds: Number(j.format.duration), codecs: j.streams.map((s) => `${s.codec_type}:${s.codec_name}`) };
}

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => path.join(d.parentPath, d.name));
}

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

describe.each(backends)('media jobs on %s', (backend) => {
  let app: TestApp;
  let videos: TestVideos;
  let mailDir: string;
  let deps: MediaDeps;
  /** Item id of each clip's video item. */
  const itemOf = new Map<VideoName, number>();
  const inFlight = { now: 0, max: 0 };

  /** The real tool, counting how many ffmpeg runs overlap. */
  function counting(tool: MediaTool): MediaTool {
    const track = async <T>(p: () => Promise<T>) => {
      inFlight.max = Math.max(inFlight.max, ++inFlight.now);
      try {
        return await p();
      } finally {
        inFlight.now--;
      }
    };
    return { ...tool, transcode: (...a) => track(() => tool.transcode(...a)), poster: (...a) => track(() => tool.poster(...a)) };
  }

  async function mailClip(name: VideoName, messageId: string): Promise<number> {
    const file = path.join(mailDir, `${messageId}.eml`);
    fs.writeFileSync(file, videoMail(videos.path(name), { contentType: TYPES[name.split('.').pop()!], messageId: `<${messageId}@example.tj>` }));
    const s = await importPaths(app, [file]);
    const [it] = await app.db.orm
      .select({ id: items.id })
      .from(items)
      .where(sql`${items.messageId} = ${s.ids[0]} AND ${items.kind} = 'video'`);
    return it.id;
  }

  const job = async (itemId: number) => (await jobsOfItems(app.db.orm, [itemId])).get(itemId)!;

  beforeAll(async () => {
    videos = await testVideos();
    app = await makeTestApp(backend);
    mailDir = tempDir('intake-media-mail-');
    deps = { ...mediaDepsOf(app), media: counting(app.media) };
    for (const [name] of [...READY, ...REJECTED]) itemOf.set(name, await mailClip(name, name.replace(/\W/g, '-')));
  });
  afterAll(async () => {
    await app?.cleanup();
    if (mailDir) fs.rmSync(mailDir, { recursive: true, force: true });
  });

  it('understanding queues one job per video item, and a replay adds none', async () => {
    const all = await app.db.orm.select().from(mediaJobs);
    expect(all).toHaveLength(READY.length + REJECTED.length);
    expect(all.every((j) => j.state === 'queued' && j.attempts === 0)).toBe(true);
    const [m] = await app.db.orm.select({ id: messages.id }).from(messages).limit(1);
    await app.db.orm.update(messages).set({ understoodAt: null }).where(eq(messages.id, m.id));
    await understandOne(app.deps, m.id);
    expect(await enqueueMissing(app.db.orm)).toBe(0);
    expect(await app.db.orm.select().from(mediaJobs)).toHaveLength(all.length);
  });

  it('a video item without a job (made before this stage) gets one when a process first passes', async () => {
    const [victim] = await app.db.orm.select({ itemId: mediaJobs.itemId }).from(mediaJobs).limit(1);
    await app.db.orm.delete(mediaJobs).where(eq(mediaJobs.itemId, victim.itemId));
    // a new process: its own database handle (the look for such items runs once per process and database)
    expect(await recoverMedia({ ...deps, db: { ...app.db } })).toBe(0);
    const [job] = await app.db.orm.select().from(mediaJobs).where(eq(mediaJobs.itemId, victim.itemId));
    expect(job).toMatchObject({ state: 'queued', attempts: 0 });
  });

  it('every clip ends ready or rejected; one ffmpeg at a time', async () => {
    const originals = await app.db.orm.select({ path: attachments.path }).from(attachments);
    const before = originals.map((a) => sha256(path.join(app.dataDir, a.path)));

    const c = await drainMedia(deps, new AbortController().signal);
    expect(c).toMatchObject({ ready: READY.length, rejected: REJECTED.length, retry: 0, failed: 0 });
    expect(inFlight.max).toBe(1);

    for (const [name, reason] of REJECTED) {
      expect(await job(itemOf.get(name)!), name).toMatchObject({ state: 'rejected', reason, attempts: 1, outputPath: null, lockedBy: null });
    }
    // The originals are kept as they came.
    expect(originals.map((a) => sha256(path.join(app.dataDir, a.path)))).toEqual(before);
    expect(filesUnder(path.join(app.dataDir, 'media')).filter((f) => f.endsWith('.part'))).toEqual([]);
  });

  it.each(READY)('%s: ready, at most 120 s, H.264/AAC with faststart, no canary', async (name, want) => {
    const j = await job(itemOf.get(name)!);
    expect(j).toMatchObject({
      state: 'ready',
      reason: null,
      trimmed: want.trimmed,
      outputPath: `media/${itemOf.get(name)}/video.mp4`,
      posterPath: `media/${itemOf.get(name)}/poster.jpg`,
    });
    expect(j.originalSeconds).toBeCloseTo(want.original, 0);
    const video = path.join(app.dataDir, j.outputPath!);
    const probed = ffprobe(video);
    // One frame of tolerance: the clips run at 10-15 frames per second.
    expect(probed.seconds).toBeLessThanOrEqual(120 + 1 / 10 + 0.001);
    expect(probed.seconds).toBeCloseTo(Math.min(want.original, 120), 0);
    expect(j.seconds).toBeCloseTo(probed.seconds, 2);
    expect(probed.codecs).toEqual(['video:h264', 'audio:aac']);
    const boxes = topBoxes(video);
    expect(boxes.indexOf('moov')).toBeGreaterThan(-1);
    expect(boxes.indexOf('moov')).toBeLessThan(boxes.indexOf('mdat'));
    const poster = fs.readFileSync(path.join(app.dataDir, j.posterPath!));
    expect(poster.subarray(0, 2).toString('hex')).toBe('ffd8');
    for (const f of filesUnder(path.dirname(video))) expect(fs.readFileSync(f).includes(CANARY), f).toBe(false);
    expect((j.probe as { container: string }).container).toBeTruthy();
  });

  it('the canary was really in the originals that carry it', async () => {
    for (const name of ['iphone150.mov', 'long150.mp4'] as const) {
      const [a] = await app.db.orm
        .select({ path: attachments.path })
        .from(attachments)
        .innerJoin(items, eq(items.attachmentId, attachments.id))
        .where(eq(items.id, itemOf.get(name)!));
      expect(fs.readFileSync(path.join(app.dataDir, a.path)).includes(CANARY)).toBe(true);
    }
  });

  /** Puts a finished job back as if a process had claimed it and died; its lease ran out a second ago. */
  async function leftProcessing(name: VideoName, attempts: number): Promise<MediaJob> {
    const itemId = itemOf.get(name)!;
    const dir = path.join(app.dataDir, 'media', String(itemId));
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'video.mp4.part'), 'half a video');
    await app.db.orm
      .update(mediaJobs)
      .set({
        state: 'processing',
        attempts,
        lockedBy: 'elsewhere:1',
        lockedUntil: sql`now() - interval '1 second'`,
        outputPath: null,
        posterPath: null,
        seconds: null,
      })
      .where(eq(mediaJobs.itemId, itemId));
    return job(itemId);
  }

  it('a job a dead process left `processing` is retried with its attempt counted, and its temp file swept', async () => {
    const j = await leftProcessing('ok10.mp4', 1);
    const dir = path.join(app.dataDir, 'media', String(j.itemId));
    const fast = { ...deps, retryDelayMs: () => 0 };
    const c = await drainMedia(fast, new AbortController().signal);
    expect(c).toMatchObject({ recovered: 1, ready: 1 });
    expect(await getJob(app.db.orm, j.id)).toMatchObject({ state: 'ready', attempts: 2, lastError: expect.stringMatching(/interrupted/) });
    expect(fs.readdirSync(dir).sort()).toEqual(['poster.jpg', 'video.mp4']);
  });

  it('a job still leased by a live worker is left alone', async () => {
    const j = await leftProcessing('clip.3gp', 1);
    await app.db.orm.update(mediaJobs).set({ lockedUntil: sql`now() + interval '1 hour'` }).where(eq(mediaJobs.id, j.id));
    const c = await runDueJobs(deps, new AbortController().signal);
    expect(c).toMatchObject({ recovered: 0, ready: 0 });
    expect(await getJob(app.db.orm, j.id)).toMatchObject({ state: 'processing', lockedBy: 'elsewhere:1', attempts: 1 });
    await app.db.orm.update(mediaJobs).set({ state: 'ready', lockedBy: null, lockedUntil: null }).where(eq(mediaJobs.id, j.id));
  });

  it('a job interrupted on its last attempt fails, the original kept', async () => {
    const j = await leftProcessing('clip.webm', 3);
    const c = await runDueJobs(deps, new AbortController().signal);
    expect(c.recovered).toBe(1);
    expect(await getJob(app.db.orm, j.id)).toMatchObject({
      state: 'failed',
      reason: 'could not be processed after 3 attempts (the work was interrupted)',
      lockedBy: null,
    });
    expect(fs.readdirSync(path.join(app.dataDir, 'media', String(j.itemId)))).toEqual([]);
    const [a] = await app.db.orm.select({ path: attachments.path }).from(attachments).where(eq(attachments.id, j.attachmentId!));
    expect(fs.existsSync(path.join(app.dataDir, a.path))).toBe(true);
  });

  it('a failure that may pass is retried with backoff, then fails after 3 attempts', async () => {
    const itemId = await mailClip('ok10.mp4', 'timeout-clip');
    const slow = { ...deps, timeouts: { probeMs: 1 }, retryDelayMs: () => 0 };
    const c = await drainMedia(slow, new AbortController().signal);
    expect(c).toMatchObject({ retry: 2, failed: 1, ready: 0 });
    expect(await job(itemId)).toMatchObject({
      state: 'failed',
      attempts: 3,
      reason: 'could not be processed after 3 attempts (the file took too long to process)',
      lastError: expect.stringMatching(/timeout/),
    });
  });

  it('with ffmpeg missing, a job waits for it without spending attempts, and runs once it is there', async () => {
    const itemId = await mailClip('ok10.mp4', 'no-ffmpeg');
    const missing = { ...deps, media: makeMediaTool({ ffmpegPath: '/nonexistent/ffmpeg', ffprobePath: '/nonexistent/ffprobe' }) };
    for (let pass = 0; pass < 4; pass++) {
      // run --once does not sit waiting for ffmpeg to be installed: it stops and leaves the job queued
      const c = await drainMedia(missing, new AbortController().signal);
      expect(c).toMatchObject({ waiting: 1, failed: 0, retry: 0 });
      const j = await job(itemId);
      expect(j).toMatchObject({ state: 'queued', attempts: 0, lastError: expect.stringMatching(/^waiting for ffmpeg: /) });
      const [{ wait }] = (await app.db.orm.execute<{ wait: number }>(sql`select extract(epoch from run_after - now())::float as wait from media_jobs where id = ${j.id}`)).rows;
      expect(wait).toBeGreaterThan(WAIT_FOR_FFMPEG_MS / 1000 - 30);
      await app.db.orm.update(mediaJobs).set({ runAfter: sql`now()` }).where(eq(mediaJobs.id, j.id));
    }
    // ffmpeg installed: the same job goes through, on its first counted attempt
    expect(await drainMedia(deps, new AbortController().signal)).toMatchObject({ ready: 1, waiting: 0 });
    expect(await job(itemId)).toMatchObject({ state: 'ready', attempts: 1 });
  });

  it('a worker whose lease was taken over changes nothing', async () => {
    const itemId = await mailClip('ok10.mp4', 'lost-lease');
    const claimed = (await claimJob(app.db.orm, deps.worker, deps.leaseMs))!;
    expect(claimed.itemId).toBe(itemId);
    // Another worker took the job over after our lease ran out.
    await app.db.orm.update(mediaJobs).set({ lockedBy: 'other:2' }).where(eq(mediaJobs.id, claimed.id));
    expect(await processJob(deps, claimed, new AbortController().signal)).toBe('lost');
    expect(await getJob(app.db.orm, claimed.id)).toMatchObject({ state: 'processing', lockedBy: 'other:2', outputPath: null });
    await app.db.orm.update(mediaJobs).set({ state: 'ready', lockedBy: null }).where(eq(mediaJobs.id, claimed.id));
  });

  it('shutdown in the middle of ffmpeg kills it and gives the job back, attempt not counted', async () => {
    const itemId = await mailClip('iphone150.mov', 'shutdown');
    const ac = new AbortController();
    const part = path.join(app.dataDir, 'media', String(itemId), 'video.mp4.part');
    const watch = setInterval(() => fs.existsSync(part) && ac.abort(), 20);
    try {
      const c = await runDueJobs(deps, ac.signal);
      expect(c).toMatchObject({ released: 1, ready: 0 });
    } finally {
      clearInterval(watch);
    }
    expect(await job(itemId)).toMatchObject({ state: 'queued', attempts: 0, lockedBy: null });
    expect(fs.existsSync(part)).toBe(false);
    // And it runs to the end next time.
    await drainMedia(deps, new AbortController().signal);
    expect(await job(itemId)).toMatchObject({ state: 'ready', attempts: 1, trimmed: true });
  });
});
