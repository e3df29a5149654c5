// Stage 4: media jobs. Every video item has a job row (created with the item); workers claim due jobs one at a
// time with a lease, probe the stored original, judge it (src/core/video-policy.ts), transcode it to
// <data>/media/<item id>/video.mp4 with a poster.jpg beside it, and record the result. ffmpeg never runs inside
// a database transaction. The original attachment is never touched.
//
// Outcomes: ready; rejected (a property of the file, in staff words: "not a video", "the file is cut off");
// retried later with backoff (a timeout, a crash: the attempt is counted at the claim); failed after the last
// attempt, or at once when retrying cannot help (the original is missing). Shutdown kills ffmpeg and gives the
// job back without counting the attempt.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Db } from '../db/client.ts';
import type { Log } from '../adapters/logger.ts';
import { MediaError, type MediaTool } from '../adapters/ffmpeg.ts';
import { defaultVideoLimits, judgeVideo, posterSeconds, type VideoLimits } from '../core/video-policy.ts';
import type { App } from '../app.ts';
import {
  claimJob,
  enqueueMissing,
  jobInput,
  markAttemptFailed,
  markReady,
  markRejected,
  nextDue,
  postpone,
  recoverExpired,
  release,
  renewLease,
  type MediaJob,
} from '../db/media.ts';
import { abortableDelay, backoffMs } from '../runtime/loop.ts';
import { failpoint } from '../runtime/failpoints.ts';
import { errorMessage } from '../errors.ts';

export interface MediaDeps {
  db: Db;
  media: MediaTool;
  log: Log;
  dataDir: string;
  limits: VideoLimits;
  /** How many jobs run at once (MEDIA_CONCURRENCY). */
  concurrency: number;
  /** A claimed job is ours this long, renewed every third of it while we work (MEDIA_LEASE_SECONDS). */
  leaseMs: number;
  maxAttempts: number;
  /** Who holds a lease: host and process. */
  worker: string;
  /** When a failed attempt runs again; the stage's schedule (retryDelayMs) when unset. */
  retryDelayMs?: (attempts: number) => number;
  /** Per-run ffmpeg timeouts; the adapter's defaults when unset. */
  timeouts?: { probeMs?: number; transcodeMs?: number; posterMs?: number };
}

export const MEDIA_ATTEMPTS = 3;

/** The stage's dependencies from the composition root. */
export function mediaDepsOf(app: App): MediaDeps {
  const { config } = app;
  return {
    db: app.db,
    media: app.media,
    log: app.log,
    dataDir: config.dataDir,
    limits: { ...defaultVideoLimits, maxSeconds: config.campaign.limits.videoSeconds, maxBytes: config.campaign.limits.attachmentBytes },
    concurrency: config.mediaConcurrency,
    leaseMs: config.mediaLeaseSeconds * 1000,
    maxAttempts: MEDIA_ATTEMPTS,
    worker: `${os.hostname()}:${process.pid}`,
  };
}

/** `waiting`: given back, attempt not counted, until ffmpeg is there (see WAIT_FOR_FFMPEG_MS). */
export type JobOutcome = 'ready' | 'rejected' | 'retry' | 'failed' | 'released' | 'lost' | 'waiting';
export type MediaCounts = Record<JobOutcome, number> & { recovered: number };
export const emptyMediaCounts = (): MediaCounts => ({ ready: 0, rejected: 0, retry: 0, failed: 0, released: 0, lost: 0, waiting: 0, recovered: 0 });

/** How long a job waits when ffmpeg is missing before it looks again (staff may install it meanwhile). */
export const WAIT_FOR_FFMPEG_MS = 5 * 60_000;

/** The retry schedule: a few seconds, doubling, at most ten minutes. */
export const retryDelayMs = (attempts: number) => backoffMs(attempts, 5_000, 10 * 60_000);

/** Where a job's results go, relative to the data directory. */
export function mediaPaths(itemId: number) {
  const dir = path.join('media', String(itemId));
  return { dir, video: path.join(dir, 'video.mp4'), poster: path.join(dir, 'poster.jpg') };
}

/** Removes what a killed ffmpeg left: the `.part` files of a job. */
function sweepParts(absDir: string): void {
  let names: string[] = [];
  try {
    names = fs.readdirSync(absDir);
  } catch {
    return;
  }
  for (const n of names) if (n.endsWith('.part')) fs.rmSync(path.join(absDir, n), { force: true });
}

function removeOutputs(deps: MediaDeps, itemId: number): void {
  const p = mediaPaths(itemId);
  sweepParts(path.join(deps.dataDir, p.dir));
  for (const f of [p.video, p.poster]) fs.rmSync(path.join(deps.dataDir, f), { force: true });
}

/** Databases whose video items without a job were looked for by this process (once is enough, see below). */
const missingLookedFor = new WeakSet<Db>();

/**
 * Jobs a dead process left `processing`, on every pass; and, once per process and database, jobs for video
 * items made before this stage existed. Every item made since gets its job in its own transaction, so the
 * scan of all items (no index serves it) need not run on each pass of a campaign's growing table.
 */
export async function recoverMedia(deps: MediaDeps): Promise<number> {
  if (!missingLookedFor.has(deps.db)) {
    await enqueueMissing(deps.db.orm);
    missingLookedFor.add(deps.db);
  }
  const items = await recoverExpired(deps.db.orm, {
    maxAttempts: deps.maxAttempts,
    retryDelayMs: deps.retryDelayMs ?? retryDelayMs,
    error: 'interrupted: the process stopped while working on it',
    failedReason: `could not be processed after ${deps.maxAttempts} attempts (the work was interrupted)`,
  });
  for (const itemId of items) sweepParts(path.join(deps.dataDir, mediaPaths(itemId).dir));
  if (items.length) deps.log.warn({ items }, 'media jobs recovered from a stopped process');
  return items.length;
}

export async function processJob(deps: MediaDeps, job: MediaJob, signal: AbortSignal): Promise<JobOutcome> {
  const { db, media, log, dataDir } = deps;
  const p = mediaPaths(job.itemId);
  const absDir = path.join(dataDir, p.dir);

  // The work stops on shutdown, and when our lease turns out to be gone (another worker has the job now).
  const work = new AbortController();
  const stop = () => work.abort();
  signal.addEventListener('abort', stop, { once: true });
  let lost = false;
  let injected: unknown;
  const heartbeat = setInterval(() => {
    renewLease(db.orm, job.id, deps.worker, deps.leaseMs).then(
      (held) => {
        if (!held && !lost) {
          lost = true;
          log.warn({ job: job.id, item: job.itemId }, 'media job lease lost: stopping');
          work.abort();
        }
      },
      (err) => log.warn({ job: job.id, err: errorMessage(err) }, 'media job lease not renewed'),
    );
  }, Math.max(200, deps.leaseMs / 3));
  const t = deps.timeouts ?? {};

  try {
    failpoint('media.after-claim');
    const input = await jobInput(db.orm, job);
    if (!input) throw new MediaError('FAILED', 'the original file is missing', { retryable: false });
    if (input.truncated) {
      const mb = Math.round(input.size / (1024 * 1024));
      const done = await markRejected(db.orm, job.id, deps.worker, { reason: `the file is too large (more than ${mb} MB)` });
      return done ? 'rejected' : 'lost';
    }
    const original = path.join(dataDir, input.path);
    const info = await media.probe(original, { signal: work.signal, timeoutMs: t.probeMs });
    const verdict = judgeVideo(info, deps.limits);
    if (!verdict.ok) {
      removeOutputs(deps, job.itemId);
      const done = await markRejected(db.orm, job.id, deps.worker, { reason: verdict.reason, probe: info, originalSeconds: info.durationSeconds });
      log.info({ job: job.id, item: job.itemId, reason: verdict.reason }, 'video rejected');
      return done ? 'rejected' : 'lost';
    }

    // Made only now: a video turned away leaves no folder behind (each new directory costs an inode).
    fs.mkdirSync(absDir, { recursive: true, mode: 0o700 });
    sweepParts(absDir);
    let running = false;
    const out = await media.transcode(original, path.join(dataDir, p.video), verdict.plan, {
      signal: work.signal,
      timeoutMs: t.transcodeMs,
      onProgress: () => {
        if (running) return;
        running = true; // ffmpeg is writing: the point where a crash test kills us
        try {
          failpoint('media.during-transcode');
        } catch (err) {
          injected = err;
          work.abort();
        }
      },
    });
    const seconds = out.info.durationSeconds ?? 0;
    await media.poster(path.join(dataDir, p.video), path.join(dataDir, p.poster), posterSeconds(seconds), {
      signal: work.signal,
      timeoutMs: t.posterMs,
    });
    failpoint('media.before-commit');
    const done = await markReady(db.orm, job.id, deps.worker, {
      probe: info,
      originalSeconds: info.durationSeconds ?? 0,
      seconds,
      trimmed: out.plan.trim,
      outputPath: p.video,
      posterPath: p.poster,
    });
    log.info({ job: job.id, item: job.itemId, seconds, trimmed: out.plan.trim, copied: out.plan.copyVideo }, 'video ready');
    return done ? 'ready' : 'lost';
  } catch (err) {
    if (lost) return 'lost';
    if (signal.aborted && !injected) {
      await release(db.orm, job.id, deps.worker);
      log.info({ job: job.id, item: job.itemId }, 'media job stopped by shutdown; it will run again');
      return 'released';
    }
    return await failed(deps, job, injected ?? err);
  } finally {
    clearInterval(heartbeat);
    signal.removeEventListener('abort', stop);
  }
}

async function failed(deps: MediaDeps, job: MediaJob, err: unknown): Promise<JobOutcome> {
  const { db, log } = deps;
  const me = err instanceof MediaError ? err : null;
  if (me?.code === 'UNAVAILABLE') {
    // ffmpeg is missing: not the video's fault, and no attempt of its is spent; `intake doctor` says so.
    removeOutputs(deps, job.itemId);
    const done = await postpone(db.orm, job.id, deps.worker, WAIT_FOR_FFMPEG_MS, `waiting for ffmpeg: ${errorMessage(err)}`);
    log.warn({ job: job.id, item: job.itemId, err: errorMessage(err), retryInMs: WAIT_FOR_FFMPEG_MS }, 'media job waits for ffmpeg');
    return done ? 'waiting' : 'lost';
  }
  if (me && (me.code === 'NOT_MEDIA' || me.code === 'TRUNCATED')) {
    removeOutputs(deps, job.itemId);
    const done = await markRejected(db.orm, job.id, deps.worker, { reason: me.reason });
    log.info({ job: job.id, item: job.itemId, reason: me.reason }, 'video rejected');
    return done ? 'rejected' : 'lost';
  }
  const retryable = me ? me.retryable : true;
  const last = !retryable || job.attempts >= deps.maxAttempts;
  const words = me?.reason ?? 'an internal error';
  const reason = retryable ? `could not be processed after ${job.attempts} attempts (${words})` : `could not be processed: ${words}`;
  if (last) removeOutputs(deps, job.itemId);
  const retryInMs = last ? null : (deps.retryDelayMs ?? retryDelayMs)(job.attempts);
  const done = await markAttemptFailed(db.orm, job.id, deps.worker, { error: errorMessage(err).slice(0, 1000), retryInMs, reason });
  log.warn({ job: job.id, item: job.itemId, attempt: job.attempts, err: me?.reason ?? errorMessage(err), retryInMs }, last ? 'media job failed' : 'media job will be retried');
  return !done ? 'lost' : last ? 'failed' : 'retry';
}

/** Runs due jobs, `concurrency` at a time, until none is due. */
export async function runDueJobs(deps: MediaDeps, signal: AbortSignal): Promise<MediaCounts> {
  const counts = emptyMediaCounts();
  counts.recovered = await recoverMedia(deps);
  const worker = async () => {
    while (!signal.aborted) {
      const job = await claimJob(deps.db.orm, deps.worker, deps.leaseMs);
      if (!job) return;
      counts[await processJob(deps, job, signal)]++;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, deps.concurrency) }, worker));
  return counts;
}

/**
 * `intake run --once`: every queued job to its end, waiting out retry delays; but not for ffmpeg to appear:
 * jobs that wait for it stay queued for the next run or the daemon.
 */
export async function drainMedia(deps: MediaDeps, signal: AbortSignal): Promise<MediaCounts> {
  const total = emptyMediaCounts();
  while (!signal.aborted) {
    const c = await runDueJobs(deps, signal);
    for (const k of Object.keys(total) as Array<keyof MediaCounts>) total[k] += c[k];
    if (c.waiting) break;
    const next = await nextDue(deps.db.orm);
    if (!next) break;
    await abortableDelay(Math.max(100, next.getTime() - Date.now()), signal);
  }
  return total;
}

/** How long the daemon's media loop may sleep: until the next retry is due, at most `maxMs`. */
export async function mediaIdleMs(deps: MediaDeps, maxMs: number): Promise<number> {
  const next = await nextDue(deps.db.orm);
  if (!next) return maxMs;
  return Math.min(maxMs, Math.max(250, next.getTime() - Date.now()));
}

export const anyWork = (c: MediaCounts) => c.ready + c.rejected + c.retry + c.failed + c.recovered > 0;
