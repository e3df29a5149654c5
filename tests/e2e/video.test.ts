// Videos as a user meets them: mail with a phone video dropped into the folder of a running `intake run` ends
// as a ready video item in `intake items --json`; and `intake run --once` killed while ffmpeg runs leaves no
// ffmpeg behind, and the next run retries the job (its attempt counted) and leaves no temporary file.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/app.ts';
import { exited, runCli, startCli, waitForOutput } from '../helpers/cli.ts';
import { CANARY, processesNaming, testVideos, videoMail, type TestVideos } from '../helpers/videos.ts';

let videos: TestVideos;
beforeAll(async () => {
  videos = await testVideos();
});
afterAll(() => videos?.remove());

/** Delivers the way an MTA does: write in tmp/, rename into new/. */
function drop(dataDir: string, name: string, data: Buffer) {
  fs.mkdirSync(path.join(dataDir, 'inbox/tmp'), { recursive: true });
  fs.mkdirSync(path.join(dataDir, 'inbox/new'), { recursive: true });
  const tmp = path.join(dataDir, 'inbox/tmp', name);
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, path.join(dataDir, 'inbox/new', name));
}

async function videoItems(env: Record<string, string>): Promise<any[]> {
  const r = await runCli(['items', '--json'], env);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as any[]).filter((i) => i.kind === 'video');
}

const FFMPEG = /ffmpeg|ffprobe/;
const partFiles = (dataDir: string) =>
  fs.existsSync(path.join(dataDir, 'media'))
    ? (fs.readdirSync(path.join(dataDir, 'media'), { recursive: true }) as string[]).filter((f) => f.endsWith('.part'))
    : [];

describe('a video mailed to the drop folder of a running daemon', () => {
  const dataDir = tempDir('intake-video-daemon-');
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('ends as a ready video item: trimmed to 120 s, with a poster, listed with its state', async () => {
    const env = { INTAKE_DATA_DIR: dataDir, INBOX_POLL_SECONDS: '5' };
    const daemon = startCli(['run'], env);
    try {
      await waitForOutput(daemon, /daemon started/, 90_000);
      drop(dataDir, 'iphone.eml', videoMail(videos.path('iphone150.mov'), { contentType: 'video/quicktime', filename: 'IMG_0042.MOV' }));

      let list: any[] = [];
      for (let i = 0; i < 240 && list[0]?.video?.state !== 'ready'; i++) {
        list = await videoItems(env);
        if (list[0]?.video?.state !== 'ready') await new Promise((r) => setTimeout(r, 500));
      }
      expect(list).toHaveLength(1);
      const v = list[0].video;
      expect(v).toMatchObject({ state: 'ready', reason: null, trimmed: true, originalSeconds: 150 });
      expect(v.seconds).toBeGreaterThan(119);
      expect(v.seconds).toBeLessThanOrEqual(120.1);
      expect(list[0]).toMatchObject({ kind: 'video', story: 8 });
      expect(v.path).toBe(path.join(dataDir, `media/${list[0].id}/video.mp4`));
      expect(fs.readFileSync(v.path).includes(CANARY)).toBe(false);
      expect(fs.readFileSync(v.poster).subarray(0, 2).toString('hex')).toBe('ffd8');

      const plain = await runCli(['items'], env);
      expect(plain.stdout).toMatch(/video ready, 120 s \(trimmed from 150 s\)/);
    } finally {
      daemon.kill('SIGTERM');
    }
    expect((await exited(daemon)).code).toBe(0);
  }, 240_000);
});

describe('intake run --once killed while ffmpeg runs', () => {
  const dataDir = tempDir('intake-video-crash-');
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('leaves no ffmpeg behind; the next run retries the job, attempt counted, and leaves no temporary file', async () => {
    // A short lease, so the second run may take over the dead run's job after a second.
    const env = { INTAKE_DATA_DIR: dataDir, MEDIA_LEASE_SECONDS: '1' };
    drop(dataDir, 'iphone.eml', videoMail(videos.path('iphone150.mov'), { contentType: 'video/quicktime' }));

    const crashed = await runCli(['run', '--once'], { ...env, INTAKE_FAILPOINTS: 'media.during-transcode=crash' });
    expect(crashed.signal, crashed.stderr).toBe('SIGKILL');
    // ffmpeg was started with the parent-death signal: it died with us.
    const deadline = Date.now() + 5000;
    while (processesNaming(dataDir, FFMPEG).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(processesNaming(dataDir, FFMPEG)).toEqual([]);

    const [left] = await videoItems(env);
    expect(left.video).toMatchObject({ state: 'processing', attempts: 1, path: null });
    // Killed mid-transcode: what it leaves is ffmpeg's temporary output, never a file under the final name.
    expect(partFiles(dataDir)).toEqual([`${left.id}/video.mp4.part`]);
    await new Promise((r) => setTimeout(r, 1500)); // the dead run's lease runs out

    const again = await runCli(['run', '--once'], env);
    expect(again.code, again.stderr).toBe(0);
    const [done] = await videoItems(env);
    expect(done.video).toMatchObject({ state: 'ready', attempts: 2, trimmed: true });
    expect(fs.existsSync(done.video.path)).toBe(true);
    expect(partFiles(dataDir)).toEqual([]);
  }, 240_000);
});
