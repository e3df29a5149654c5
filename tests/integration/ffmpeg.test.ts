// The real ffprobe/ffmpeg on videos made at test time: probe -> judge -> transcode -> check -> poster, as the media
// worker does it; then the hostile cases: playlists, timeouts, a killed daemon, the size cap, foreign paths.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import ffmpeg from 'fluent-ffmpeg';
import { makeMediaTool, MediaError, type MediaTool } from '../../src/adapters/ffmpeg.ts';
import {
  defaultVideoLimits,
  judgeVideo,
  posterSeconds,
  type TranscodePlan,
  type VideoInfo,
} from '../../src/core/video-policy.ts';
import { CANARY, processesNaming, testVideos, topBoxes, type TestVideos, type VideoName } from '../helpers/videos.ts';

let videos: TestVideos;
let media: MediaTool;
let out: string;

beforeAll(async () => {
  videos = await testVideos();
  media = makeMediaTool({});
  out = fs.mkdtempSync(path.join(os.tmpdir(), 'intake-media-out-'));
});

afterAll(() => {
  videos?.remove();
  if (out) fs.rmSync(out, { recursive: true, force: true });
});

type Outcome =
  | { state: 'rejected'; reason: string; code?: string }
  | { state: 'ready'; plan: TranscodePlan; info: VideoInfo; output: string; poster: string; progress: number[] };

/** What the media worker does with one file. */
async function processVideo(name: VideoName): Promise<Outcome> {
  const base = path.join(out, name.replace(/\W/g, '-'));
  try {
    const verdict = judgeVideo(await media.probe(videos.path(name)), defaultVideoLimits);
    if (!verdict.ok) return { state: 'rejected', reason: verdict.reason };
    const progress: number[] = [];
    const { plan, info } = await media.transcode(videos.path(name), `${base}.mp4`, verdict.plan, { onProgress: (s) => progress.push(s) });
    await media.poster(`${base}.mp4`, `${base}.jpg`, posterSeconds(info.durationSeconds!));
    return { state: 'ready', plan, info, output: `${base}.mp4`, poster: `${base}.jpg`, progress };
  } catch (err) {
    // The file's own fault: rejected with the reason. Anything else is a failure (retried if err.retryable).
    if (err instanceof MediaError && (err.code === 'NOT_MEDIA' || err.code === 'TRUNCATED')) {
      return { state: 'rejected', reason: err.reason, code: err.code };
    }
    throw err;
  }
}

function tagsOf(file: string): Record<string, string> {
  const r = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'format_tags:stream_tags', '-of', 'json', file], { encoding: 'utf8' });
  const j = JSON.parse(r.stdout) as { format?: { tags?: Record<string, string> }; streams?: Array<{ tags?: Record<string, string> }> };
  return Object.assign({}, j.format?.tags, ...(j.streams ?? []).map((s) => s.tags));
}

const partFiles = () => fs.readdirSync(out).filter((f) => f.endsWith('.part'));

// Tags a muxer writes by itself and that say nothing about the sender: brand, track handler names and language,
// and the encoder name in the sample description ("Lavc libx264" with bitexact, no version).
const ESSENTIAL_TAGS = new Set(['major_brand', 'minor_version', 'compatible_brands', 'handler_name', 'vendor_id', 'language', 'encoder']);

describe('each test video ends in the right state', () => {
  const ready: Array<[VideoName, { copyVideo: boolean; copyAudio: boolean; trim: boolean; size: [number, number] }]> = [
    ['ok10.mp4', { copyVideo: true, copyAudio: true, trim: false, size: [160, 120] }],
    ['long150.mp4', { copyVideo: true, copyAudio: true, trim: true, size: [160, 120] }],
    // The copy came out 120.134 s long: redone as a re-encode.
    ['bframes150.mp4', { copyVideo: false, copyAudio: false, trim: true, size: [160, 120] }],
    // Shot sideways: re-encoded upright, so every player shows it the right way up.
    ['iphone150.mov', { copyVideo: false, copyAudio: true, trim: true, size: [120, 160] }],
    ['clip.3gp', { copyVideo: false, copyAudio: true, trim: false, size: [176, 144] }],
    ['clip.webm', { copyVideo: false, copyAudio: false, trim: false, size: [160, 120] }],
  ];

  it.each(ready)('%s: ready', async (name, want) => {
    const r = await processVideo(name);
    expect(r.state).toBe('ready');
    if (r.state !== 'ready') return;
    expect(r.plan).toMatchObject({ copyVideo: want.copyVideo, copyAudio: want.copyAudio, trim: want.trim });

    // At most 120 s by ffprobe, a frame's tolerance; H.264/AAC in MP4 with nothing else in it.
    expect(r.info.durationSeconds!).toBeLessThanOrEqual(defaultVideoLimits.maxSeconds + r.plan.toleranceSeconds);
    expect(r.info.durationSeconds!).toBeCloseTo(r.plan.outputSeconds, 1);
    expect(r.info).toMatchObject({ container: 'mov,mp4,m4a,3gp,3g2,mj2', streamCount: 2, otherStreams: [] });
    expect(r.info.video).toMatchObject({ codec: 'h264', pixFmt: 'yuv420p', rotation: 0, width: want.size[0], height: want.size[1] });
    expect(r.info.audio?.codec).toBe('aac');

    // Faststart: the index before the media data, so browsers play while downloading.
    const boxes = topBoxes(r.output);
    expect(boxes.indexOf('moov')).toBeGreaterThan(-1);
    expect(boxes.indexOf('moov')).toBeLessThan(boxes.indexOf('mdat'));

    // No metadata beyond what the muxer itself writes; the GPS canary nowhere in the bytes.
    const tags = tagsOf(r.output);
    expect(Object.keys(tags).filter((k) => !ESSENTIAL_TAGS.has(k))).toEqual([]);
    expect(tags.handler_name === undefined || /^(Video|Sound)Handler$/.test(tags.handler_name)).toBe(true);
    expect(tags.encoder === undefined || tags.encoder === 'Lavc libx264').toBe(true);
    expect(fs.readFileSync(r.output).includes(CANARY)).toBe(false);

    // A poster: a JPEG of the picture as shown, without the canary either.
    const jpeg = fs.readFileSync(r.poster);
    expect(jpeg.subarray(0, 2).toString('hex')).toBe('ffd8');
    expect(jpeg.includes(CANARY)).toBe(false);

    // Progress is seconds of output (the timemark), climbing to the end, not a percentage of the input.
    expect(r.progress.length).toBeGreaterThan(0);
    expect(r.progress.at(-1)!).toBeGreaterThan(r.plan.outputSeconds - 1);
    expect(r.progress).toEqual([...r.progress].sort((a, b) => a - b));
    expect(partFiles()).toEqual([]);
  });

  it('the planted canary was really there in the originals', () => {
    expect(fs.readFileSync(videos.path('iphone150.mov')).includes(CANARY)).toBe(true);
    expect(fs.readFileSync(videos.path('long150.mp4')).includes(CANARY)).toBe(true);
    expect(tagsOf(videos.path('iphone150.mov'))['com.apple.quicktime.location.ISO6709']).toContain(CANARY);
    // In long150.mp4 it also sits in the H.264 bitstream, which a copy with -map_metadata -1 alone keeps.
    const control = path.join(out, 'control.mp4');
    spawnSync('ffmpeg', ['-v', 'error', '-i', videos.path('long150.mp4'), '-map', '0:V:0', '-c', 'copy', '-map_metadata', '-1', '-t', '1', '-f', 'mp4', control]);
    expect(fs.readFileSync(control).includes(CANARY)).toBe(true);
    fs.rmSync(control);
  });

  const rejected: Array<[VideoName, string, string | undefined]> = [
    ['sound.mp4', 'not a video (sound only)', undefined],
    ['picture.mp4', 'not a video', 'NOT_MEDIA'],
    ['cut.mp4', 'the file is cut off', 'TRUNCATED'],
    ['tail-cut.mp4', 'the file is cut off', 'TRUNCATED'],
    ['empty.mp4', 'the file is empty', 'NOT_MEDIA'],
    ['text.mp4', 'not a video', 'NOT_MEDIA'],
    ['playlist.mp4', 'not a video', 'NOT_MEDIA'],
    ['concat.mp4', 'not a video', 'NOT_MEDIA'],
  ];

  it.each(rejected)('%s: rejected, "%s"', async (name, reason, code) => {
    expect(await processVideo(name)).toEqual(code ? { state: 'rejected', reason, code } : { state: 'rejected', reason });
    expect(fs.readdirSync(out).filter((f) => f.startsWith(name.replace(/\W/g, '-')))).toEqual([]);
  });
});

describe('an MP4 cut off before its index', () => {
  it('is rejected without starting ffprobe; one whose index survived still goes to ffprobe', async () => {
    // No ffprobe at this path: any run of it would fail with "could not start ffmpeg".
    const noProbe = makeMediaTool({ ffprobePath: '/nonexistent/ffprobe', ffmpegPath: '/nonexistent/ffmpeg' });
    await expect(noProbe.probe(videos.path('cut.mp4'))).rejects.toMatchObject({ code: 'TRUNCATED', reason: 'the file is cut off' });
    await expect(noProbe.probe(videos.path('tail-cut.mp4'))).rejects.not.toMatchObject({ reason: 'the file is cut off' });
    await expect(noProbe.probe(videos.path('text.mp4'))).rejects.not.toMatchObject({ code: 'TRUNCATED' });
  });
});

describe('playlists are refused before anything they name is opened', () => {
  it.each(['playlist.mp4', 'concat.mp4'] as const)('%s', async (name) => {
    // relatime updates the access time of a file read after its last change: make that so, then watch it.
    const old = new Date('2001-01-01T00:00:00Z');
    fs.utimesSync(videos.target, old, new Date());
    await expect(media.probe(videos.path(name))).rejects.toMatchObject({ code: 'NOT_MEDIA' });
    expect(fs.statSync(videos.target).atime).toEqual(old);
    // Control: a plain ffprobe, without our allow-lists, follows the playlist and reads the target.
    const plain = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'format=format_name', '-of', 'csv=p=0', videos.path(name)], { encoding: 'utf8' });
    expect(plain.stdout.trim()).toMatch(/^(hls|concat)$/);
    expect(fs.statSync(videos.target).atime).not.toEqual(old);
  });
});

describe('running ffmpeg safely', () => {
  /** A re-encode that takes far longer than the tests wait: the 150 s clip, upscaled to 1080p. */
  async function slowPlan(): Promise<TranscodePlan> {
    const v = judgeVideo(await media.probe(videos.path('iphone150.mov')), defaultVideoLimits);
    if (!v.ok) throw new Error(v.reason);
    return { ...v.plan, copyVideo: false, scaleTo: { width: 1080, height: 1920 } };
  }

  it('a timeout kills the process group and leaves no file behind', async () => {
    const plan = await slowPlan();
    const output = path.join(out, 'timeout.mp4');
    let sawTemp = false;
    const started = Date.now();
    const err = await media
      .transcode(videos.path('iphone150.mov'), output, plan, {
        timeoutMs: 3000,
        onProgress: () => (sawTemp ||= fs.existsSync(`${output}.part`)),
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MediaError);
    expect(err).toMatchObject({ code: 'TIMEOUT', retryable: true });
    expect(Date.now() - started).toBeLessThan(7000);
    expect(sawTemp).toBe(true);
    expect(fs.existsSync(output)).toBe(false);
    expect(partFiles()).toEqual([]);
    expect(processesNaming(output)).toEqual([]);
  });

  it('ffmpeg runs through fluent-ffmpeg, which never starts an ffprobe of its own; ffmpeg leads its own group', async () => {
    const run = vi.spyOn(ffmpeg.prototype, 'run');
    const probe = vi.spyOn(ffmpeg.prototype, 'ffprobe');
    try {
      const plan = await slowPlan();
      const output = path.join(out, 'group.mp4');
      const groups: Array<{ pid: number; pgrp: number; session: number }> = [];
      await media
        .transcode(videos.path('iphone150.mov'), output, plan, {
          timeoutMs: 2000,
          onProgress: () => {
            for (const p of processesNaming(output)) {
              const pid = Number(p.split(' ')[0]);
              const f = /^\d+ \(.*\) \S (\d+) (\d+) (\d+)/.exec(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))!;
              groups.push({ pid, pgrp: Number(f[2]), session: Number(f[3]) });
            }
          },
        })
        .catch(() => {});
      expect(run).toHaveBeenCalled();
      expect(probe).not.toHaveBeenCalled();
      expect(groups.length).toBeGreaterThan(0);
      // setsid under the same pid: a session and process group of its own, which the timeout killed whole.
      for (const g of groups) expect(g).toEqual({ pid: g.pid, pgrp: g.pid, session: g.pid });
      expect(processesNaming(output)).toEqual([]);
    } finally {
      run.mockRestore();
      probe.mockRestore();
    }
  });

  it('ffprobe has a timeout too', async () => {
    await expect(media.probe(videos.path('ok10.mp4'), { timeoutMs: 1 })).rejects.toMatchObject({ code: 'TIMEOUT', retryable: true });
  });

  it('an abort (daemon shutdown) stops it the same way', async () => {
    const plan = await slowPlan();
    const output = path.join(out, 'aborted.mp4');
    const ac = new AbortController();
    const err = await media
      .transcode(videos.path('iphone150.mov'), output, plan, { signal: ac.signal, onProgress: () => ac.abort() })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FAILED', reason: 'stopped' });
    expect(fs.existsSync(output)).toBe(false);
    expect(partFiles()).toEqual([]);
    expect(processesNaming(output)).toEqual([]);
  });

  it('ffmpeg dies with the daemon when the daemon is killed with SIGKILL', async () => {
    const plan = await slowPlan();
    const output = path.join(out, 'orphan.mp4');
    const script = path.join(out, 'daemon.mts');
    fs.writeFileSync(
      script,
      `import { makeMediaTool } from ${JSON.stringify(path.resolve('src/adapters/ffmpeg.ts'))};\n` +
        `await makeMediaTool({}).transcode(${JSON.stringify(videos.path('iphone150.mov'))}, ${JSON.stringify(output)}, ${JSON.stringify(plan)});\n`,
    );
    const daemon = spawn(process.execPath, ['--import', 'tsx', script], { stdio: 'ignore' });
    try {
      const deadline = Date.now() + 20_000;
      while (processesNaming(output).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(processesNaming(output)).toHaveLength(1);
      daemon.kill('SIGKILL');
      await new Promise((r) => daemon.once('exit', r));
      const gone = Date.now() + 3000;
      while (processesNaming(output).length > 0 && Date.now() < gone) await new Promise((r) => setTimeout(r, 50));
      expect(processesNaming(output)).toEqual([]);
      // What a SIGKILL leaves is the temporary file: the worker sweeps `*.part` on start (a retry overwrites it).
      expect(fs.existsSync(output)).toBe(false);
    } finally {
      daemon.kill('SIGKILL');
      fs.rmSync(`${output}.part`, { force: true });
      fs.rmSync(script, { force: true });
    }
  });

  it('a result past the size cap (-fs) is a failure, and nothing is left', async () => {
    const v = judgeVideo(await media.probe(videos.path('long150.mp4')), defaultVideoLimits);
    if (!v.ok) throw new Error(v.reason);
    const output = path.join(out, 'capped.mp4');
    await expect(media.transcode(videos.path('long150.mp4'), output, { ...v.plan, maxOutputBytes: 100_000 })).rejects.toMatchObject({
      code: 'FAILED',
      retryable: false,
      reason: 'the result would be larger than the size limit',
    });
    expect(fs.existsSync(output)).toBe(false);
    expect(partFiles()).toEqual([]);
  });

  it('works in a data directory named with spaces, Cyrillic and what looks like ffmpeg syntax', async () => {
    const dir = path.join(out, 'Кампания 2026', 'concat:a.mp4|b.mp4 -i http:x');
    fs.mkdirSync(dir, { recursive: true });
    const input = path.join(dir, 'видео 1.mp4');
    fs.copyFileSync(videos.path('ok10.mp4'), input);
    const info = await media.probe(input);
    const plan = judgeVideo(info, defaultVideoLimits);
    if (!plan.ok) throw new Error(plan.reason);
    const r = await media.transcode(input, path.join(dir, 'video.mp4'), plan.plan);
    await media.poster(path.join(dir, 'video.mp4'), path.join(dir, 'poster.jpg'), 1);
    expect(r.info.durationSeconds).toBeGreaterThan(9);
    expect(fs.readdirSync(dir).sort()).toEqual(['poster.jpg', 'video.mp4', 'видео 1.mp4']);
    expect(fs.statSync(path.join(dir, 'poster.jpg')).size).toBeGreaterThan(1000);
    expect(fs.existsSync(path.join(out, 'Кампания 2026', 'concat:a.mp4|b.mp4 -i http:x', 'http:x'))).toBe(false);
  });

  it.each([
    'relative/video.mp4',
    '-i',
    '/tmp/x/../../etc/passwd',
    '/tmp/./a.mp4',
    '/tmp/a.mp4\n-y',
    '/tmp/a\u0000b.mp4',
    '/tmp/dir/',
  ])('refuses a path that is not one of ours: %j', async (p) => {
    await expect(media.probe(p)).rejects.toMatchObject({ code: 'FAILED', retryable: false });
    const plan = judgeVideo(await media.probe(videos.path('ok10.mp4')), defaultVideoLimits);
    if (!plan.ok) throw new Error(plan.reason);
    await expect(media.transcode(videos.path('ok10.mp4'), p, plan.plan)).rejects.toMatchObject({ code: 'FAILED', retryable: false });
    await expect(media.poster(p, path.join(out, 'p.jpg'), 1)).rejects.toMatchObject({ code: 'FAILED' });
  });
});

describe('version and binaries', () => {
  it('names the binaries found on PATH and their version', async () => {
    const v = await media.version();
    expect(v.source).toBe('path');
    expect(v.ffmpeg).toMatch(/^\d+\.\d+/);
    expect(v.ffprobe).toBe(v.ffmpeg);
    expect(v.ffmpegPath).toMatch(/\/ffmpeg$/);
    expect(v.ffprobePath).toMatch(/\/ffprobe$/);
  });

  it('prefers FFMPEG_PATH/FFPROBE_PATH', async () => {
    const bin = (await media.version()).ffmpegPath;
    const v = await makeMediaTool({ ffmpegPath: bin, ffprobePath: bin.replace(/ffmpeg$/, 'ffprobe') }).version();
    expect(v).toMatchObject({ source: 'env', ffmpegPath: bin });
  });

  it('with no ffmpeg on PATH, falls back on the bundled binaries with a warning, and makes them executable', async () => {
    // The platform package's postinstall (chmod u+x) does not run here: the adapter sets the bit itself.
    const { createRequire } = await import('node:module');
    const bundledProbe = (createRequire(import.meta.url)('@ffprobe-installer/ffprobe') as { path: string }).path;
    fs.chmodSync(bundledProbe, 0o644);
    const saved = process.env.PATH;
    process.env.PATH = '/nonexistent';
    const warnings: string[] = [];
    try {
      const tool = makeMediaTool({ log: { warn: (_o: object, msg: string) => void warnings.push(msg) } });
      const v = await tool.version();
      expect(v.source).toBe('bundled');
      expect(v.ffmpegPath).toContain('@ffmpeg-installer');
      expect(v.ffprobePath).toBe(bundledProbe);
      expect(v.ffmpeg).toMatch(/\S/);
      expect(warnings.join('\n')).toMatch(/no ffmpeg on PATH: using the one bundled in @ffmpeg-installer\/ffmpeg, an old build/);
      expect(fs.statSync(bundledProbe).mode & 0o100).toBe(0o100);
      const info = await tool.probe(videos.path('ok10.mp4'));
      expect(info.video?.codec).toBe('h264');
      expect(info.durationSeconds).toBeCloseTo(10, 0);
    } finally {
      process.env.PATH = saved;
      fs.chmodSync(bundledProbe, 0o755);
    }
  });

  it('a configured path that does not exist fails, it does not fall back silently', async () => {
    await expect(makeMediaTool({ ffmpegPath: '/nonexistent/ffmpeg' }).version()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });
});
