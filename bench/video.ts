// Video benchmark (part of `npm run bench`; alone: `node --import tsx bench/video.ts [--runs 2]`): a generated
// 10-minute 720p H.264/AAC video trimmed to 120 s by the media JOB STAGE (src/pipeline/media.ts: claim, probe,
// judge, transcode, probe of the result, poster, commit; the same code as the daemon's media loop, in a child
// process of its own on PostgreSQL or, without one, PGlite), against the matching bare ffmpeg command in the
// same run:
//   copy:      the MP4 (H.264 without B-frames, like phone recordings; AAC)  vs  ffmpeg -t 120 -c copy
//   re-encode: the same streams in Matroska (the stage re-encodes: libx264 veryfast CRF 23, AAC 128k)
//              vs  a bare ffmpeg with those encoder settings
// Times: the stage's is measured inside the child around the job (process start, migrations and the database
// open are the daemon's once-per-life costs, not the video's); bare ffmpeg's is its process wall time. Best of
// --runs for each. Peak RSS: of the child's Node process (VmHWM, includes the database client or PGlite), and
// of its whole tree (GNU time: ffmpeg included), next to bare ffmpeg's.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createHash } from 'node:crypto';
import { measure, childEnv, type Measured } from './proc.ts';
import type { BenchRow } from './row.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE_SECONDS = 600;


export interface VideoBenchOptions {
  tmp: string;
  runs: number;
  log: (s: string) => void;
  rows: BenchRow[];
  /** A fresh PostgreSQL database per measured job run; undefined: PGlite in the child. */
  freshDatabase?: (label: string) => Promise<string>;
}

interface StageResult {
  jobMs: number;
  steps: Record<string, number>;
  nodeVmHwmKb: number;
  job: { state: string; seconds: number; trimmed: boolean; copied: boolean };
}

// ---- the source video ---------------------------------------------------------------------------------------

/** 60 s of 720p30 made once and looped to 10 minutes by stream copy; cached in the temp dir between runs. */
function sourceVideos(log: (s: string) => void): { mp4: string; mkv: string } {
  const recipe = ['testsrc2=size=1280x720:rate=30', 'sine=frequency=440:sample_rate=48000', 'superfast', '-bf0', '-g60', '2M', 'v1'];
  const key = createHash('sha256').update(recipe.join('|')).digest('hex').slice(0, 10);
  const mp4 = path.join(os.tmpdir(), `intake-bench-720p-600s-${key}.mp4`);
  const mkv = mp4.replace(/\.mp4$/, '.mkv');
  const ff = (args: string[]) => execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args], { stdio: 'inherit' });
  if (!fs.existsSync(mp4)) {
    log('video: generating a 10-minute 720p H.264/AAC source (once; cached in the temp dir)');
    const minute = `${mp4}.60s.mp4`;
    ff(['-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-t', '60', '-c:v', 'libx264', '-preset', 'superfast', '-bf', '0', '-g', '60', '-crf', '23', '-maxrate', '2M', '-bufsize', '4M',
      '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '128k', '-shortest', minute]);
    ff(['-stream_loop', String(SOURCE_SECONDS / 60 - 1), '-i', minute, '-c', 'copy', '-movflags', '+faststart', `${mp4}.tmp.mp4`]);
    fs.renameSync(`${mp4}.tmp.mp4`, mp4);
    fs.rmSync(minute);
  }
  if (!fs.existsSync(mkv)) {
    ff(['-i', mp4, '-map', '0', '-c', 'copy', `${mkv}.tmp.mkv`]);
    fs.renameSync(`${mkv}.tmp.mkv`, mkv);
  }
  return { mp4, mkv };
}

// ---- the bare commands --------------------------------------------------------------------------------------

const bareCopy = (input: string, output: string) => ['ffmpeg', '-hide_banner', '-loglevel', 'error', '-nostdin', '-y', '-i', input, '-t', '120', '-c', 'copy', '-avoid_negative_ts', 'make_zero', output];
// The encoder settings of src/core/video-policy.ts ffmpegArgs(), without our guards and metadata stripping.
const bareReencode = (input: string, output: string) => [
  'ffmpeg', '-hide_banner', '-loglevel', 'error', '-nostdin', '-y', '-i', input, '-t', '120', '-map', '0:V:0', '-map', '0:a:0?',
  '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '23', '-maxrate', '8M', '-bufsize', '16M', '-pix_fmt', 'yuv420p',
  '-c:a', 'aac', '-b:a', '128k', '-ac', '2', '-movflags', '+faststart', output,
];

/** The same four processes the job stage runs, bare and one after the other: probe, ffmpeg, probe, poster. */
async function bareSequence(input: string, output: string, ffmpegArgv: string[]): Promise<number> {
  const env = childEnv({});
  const cwd = path.dirname(output);
  const probe = (f: string) => ['ffprobe', '-v', 'error', '-show_entries', 'format=format_name,duration:stream=codec_name', '-of', 'json', f];
  const poster = ['ffmpeg', '-hide_banner', '-loglevel', 'error', '-nostdin', '-y', '-ss', '1', '-i', output, '-frames:v', '1', '-an', '-update', '1', `${output}.jpg`];
  let ms = 0;
  for (const argv of [probe(input), ffmpegArgv, probe(output), poster]) {
    const m = await measure(argv, { cwd, env });
    mustSucceed(m, argv[0]);
    ms += m.wallMs;
  }
  fs.rmSync(output, { force: true });
  fs.rmSync(`${output}.jpg`, { force: true });
  return ms;
}

// ---- the job stage, in a child ------------------------------------------------------------------------------

function stage(dataDir: string, video: string, databaseUrl: string | undefined): Promise<Measured> {
  return measure([process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url), '--video-child', dataDir, video], {
    cwd: ROOT,
    env: childEnv({ LOG_LEVEL: 'warn', INTAKE_DATA_DIR: dataDir, DATABASE_URL: databaseUrl }),
    timeoutMs: 15 * 60_000,
  });
}

/** Child: one message with the video as its attachment, its item and media job; then the job stage, timed. */
async function child(dataDir: string, video: string): Promise<void> {
  const { loadConfig } = await import('../src/config.ts');
  const { makeApp } = await import('../src/app.ts');
  const { attachments, items, messages } = await import('../src/db/schema.ts');
  const { enqueueVideos, jobsOfItems } = await import('../src/db/media.ts');
  const { drainMedia, mediaDepsOf } = await import('../src/pipeline/media.ts');
  const app = await makeApp(loadConfig());
  try {
    // The attachment as the parse stage leaves it: a file under attachments/<message>/ (a hard link here, so
    // the 160 MB are not copied), and rows for it; the media job as understanding creates it.
    const [m] = await app.db.orm
      .insert(messages)
      .values({ source: 'bench', origin: 'bench', sha256: 'bench', size: 0, rawPath: 'raw/bench.eml', status: 'parsed', understoodAt: new Date() })
      .returning({ id: messages.id });
    const rel = path.join('attachments', String(m.id), '0.bin');
    fs.mkdirSync(path.join(dataDir, path.dirname(rel)), { recursive: true });
    fs.linkSync(video, path.join(dataDir, rel));
    const size = fs.statSync(video).size;
    const [a] = await app.db.orm
      .insert(attachments)
      .values({ messageId: m.id, partIndex: 0, contentType: 'video/mp4', size, sha256: 'bench', path: rel })
      .returning({ id: attachments.id });
    const [it] = await app.db.orm
      .insert(items)
      .values({ messageId: m.id, key: `att:${a.id}`, kind: 'video', attachmentId: a.id, story: 8, linkConfidence: 1, linkReason: 'bench' })
      .returning({ id: items.id });
    await enqueueVideos(app.db.orm, [{ itemId: it.id, attachmentId: a.id }]);

    const steps: Record<string, number> = {};
    const timed = <A extends unknown[], R>(name: string, f: (...a: A) => Promise<R>) => async (...a: A): Promise<R> => {
      const t = performance.now();
      try {
        return await f(...a);
      } finally {
        steps[name] = (steps[name] ?? 0) + (performance.now() - t);
      }
    };
    const tool = app.media;
    let copied = false;
    const media = {
      ...tool,
      probe: timed('probeMs', tool.probe),
      transcode: timed('transcodeMs', async (...a: Parameters<typeof tool.transcode>) => {
        const r = await tool.transcode(...a);
        copied = r.plan.copyVideo;
        return r;
      }),
      poster: timed('posterMs', tool.poster),
    };
    await tool.version(); // finds the binaries (once per daemon life, not per video)
    const t0 = performance.now();
    const c = await drainMedia({ ...mediaDepsOf(app), media }, new AbortController().signal);
    const jobMs = performance.now() - t0;
    const job = (await jobsOfItems(app.db.orm, [it.id])).get(it.id)!;
    if (c.ready !== 1) throw new Error(`the job ended ${job.state}: ${job.reason ?? job.lastError}`);
    const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0);
    const out: StageResult = {
      jobMs,
      steps: Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, Math.round(v)])),
      nodeVmHwmKb: hwm,
      job: { state: job.state, seconds: job.seconds ?? 0, trimmed: Boolean(job.trimmed), copied },
    };
    process.stdout.write(JSON.stringify(out) + '\n');
  } finally {
    await app.close();
  }
}

// ---- the benchmark ------------------------------------------------------------------------------------------

const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const mb = (kb: number) => `${Math.round(kb / 1024)} MB`;

function mustSucceed(m: Measured, what: string): void {
  if (m.code !== 0) throw new Error(`${what} exited with ${m.code}\n${m.stderr.slice(-3000)}`);
}

function seconds(file: string): number {
  return Number(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file], { encoding: 'utf8' }).trim());
}

export async function benchVideo(o: VideoBenchOptions): Promise<Record<string, unknown>> {
  const src = sourceVideos(o.log);
  const dir = fs.mkdtempSync(path.join(o.tmp, 'video-'));
  const cases = [
    { name: 'copy', input: src.mp4, bare: bareCopy },
    { name: 're-encode', input: src.mkv, bare: bareReencode },
  ] as const;
  const results: Record<string, { bare: Measured[]; sequence: number[]; stage: Array<{ measured: Measured; result: StageResult }> }> = {};
  for (const c of cases) results[c.name] = { bare: [], sequence: [], stage: [] };

  for (let run = 1; run <= o.runs; run++) {
    for (const c of cases) {
      const out = path.join(dir, `bare-${c.name}-${run}.mp4`);
      o.log(`video: run ${run}/${o.runs}, ${c.name}: bare ffmpeg`);
      const b = await measure(c.bare(c.input, out), { cwd: dir, env: childEnv({}) });
      mustSucceed(b, `bare ffmpeg (${c.name})`);
      if (run === 1) o.log(`video: bare ${c.name} gave ${seconds(out).toFixed(3)} s`);
      fs.rmSync(out);
      results[c.name].bare.push(b);
      if (c.name === 'copy') results[c.name].sequence.push(await bareSequence(c.input, out, c.bare(c.input, out)));

      o.log(`video: run ${run}/${o.runs}, ${c.name}: the job stage`);
      const dataDir = fs.mkdtempSync(path.join(dir, `data-${c.name}-${run}-`));
      const url = o.freshDatabase ? await o.freshDatabase(`video_${c.name.replace(/\W/g, '')}_${run}`) : undefined;
      const s = await stage(dataDir, c.input, url);
      mustSucceed(s, `the job stage (${c.name})`);
      const result = JSON.parse(s.stdout.trim().split('\n').at(-1)!) as StageResult;
      results[c.name].stage.push({ measured: s, result });
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });

  const summary: Record<string, unknown> = {
    source: { seconds: SOURCE_SECONDS, size: '1280x720', fps: 30, mp4Bytes: fs.statSync(src.mp4).size },
    database: o.freshDatabase ? 'postgres' : 'pglite',
    stageTimeIs: 'job stage only (claim .. ready), measured inside the child',
  };
  for (const c of cases) {
    const r = results[c.name];
    const bare = Math.min(...r.bare.map((m) => m.wallMs));
    const best = r.stage.reduce((x, y) => (y.result.jobMs < x.result.jobMs ? y : x));
    const ratio = best.result.jobMs / bare;
    const transcodeRatio = (best.result.steps.transcodeMs ?? 0) / bare;
    o.rows.push({
      name: `video trim 600 s -> 120 s, ${c.name}: job stage vs bare ffmpeg`,
      value: secs(best.result.jobMs),
      baseline: secs(bare),
      ratio: `${ratio.toFixed(2)}x`,
      goal: '<= 1.2x',
      pass: ratio <= 1.2,
    });
    if (r.sequence.length) {
      const seq = Math.min(...r.sequence);
      o.rows.push({
        name: `video ${c.name}: job stage vs the same 4 bare processes (probe, ffmpeg, probe, poster)`,
        value: secs(best.result.jobMs),
        baseline: secs(seq),
        ratio: `${(best.result.jobMs / seq).toFixed(2)}x`,
        goal: '',
        pass: null,
      });
    }
    o.rows.push({
      name: `video ${c.name}: of which transcode (+ check of the result)`,
      value: secs(best.result.steps.transcodeMs ?? 0),
      baseline: secs(bare),
      ratio: `${transcodeRatio.toFixed(2)}x`,
      goal: '',
      pass: null,
    });
    o.rows.push({
      name: `video ${c.name}: peak RSS, stage node process / whole tree / bare ffmpeg`,
      value: `${mb(Math.max(...r.stage.map((x) => x.result.nodeVmHwmKb)))} / ${mb(Math.max(...r.stage.map((x) => x.measured.maxRssKb)))}`,
      baseline: mb(Math.max(...r.bare.map((m) => m.maxRssKb))),
      ratio: '',
      goal: '',
      pass: null,
    });
    summary[c.name] = {
      bareWallMs: r.bare.map((m) => Math.round(m.wallMs)),
      bareMaxRssKb: r.bare.map((m) => m.maxRssKb),
      bareSequenceMs: r.sequence.map(Math.round),
      stage: r.stage.map((x) => ({ ...x.result, jobMs: Math.round(x.result.jobMs), childWallMs: Math.round(x.measured.wallMs), treeMaxRssKb: x.measured.maxRssKb })),
      ratio: Math.round(ratio * 100) / 100,
      transcodeRatio: Math.round(transcodeRatio * 100) / 100,
    };
  }
  return summary;
}

// ---- standalone -----------------------------------------------------------------------------------------------

const isMain = process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url;
if (isMain && process.argv[2] === '--video-child') {
  await child(process.argv[3], process.argv[4]);
} else if (isMain) {
  const runsAt = process.argv.indexOf('--runs');
  const rows: BenchRow[] = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'intake-bench-video-'));
  // With TEST_DATABASE_URL, a fresh PostgreSQL database per job run (as `npm run bench` does); else PGlite.
  const admin = process.env.TEST_DATABASE_URL;
  const made: string[] = [];
  const sql = async (q: string) => {
    const { default: pg } = await import('pg');
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    await c.query(q).finally(() => c.end());
  };
  const freshDatabase = admin
    ? async (label: string) => {
        const name = `intake_bench_video_${Date.now().toString(36)}_${label}`.replace(/[^a-z0-9_]/g, '_');
        await sql(`CREATE DATABASE ${name}`);
        made.push(name);
        const u = new URL(admin);
        u.pathname = `/${name}`;
        return u.toString();
      }
    : undefined;
  try {
    const runs = runsAt > 0 ? Number(process.argv[runsAt + 1]) : 2;
    const summary = await benchVideo({ tmp, runs, log: (s) => process.stderr.write(`bench: ${s}\n`), rows, freshDatabase });
    console.log(JSON.stringify(summary, null, 2));
    for (const r of rows) console.log(`${r.name}: ${r.value} vs ${r.baseline} ${r.ratio} ${r.goal} ${r.pass === null ? '' : r.pass ? 'PASS' : 'FAIL'}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
    for (const name of made) await sql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
}
