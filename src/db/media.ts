// Queries on media_jobs: one job per video item. The row is the queue entry; a worker claims it with
// FOR UPDATE SKIP LOCKED and a lease (locked_by / locked_until), renews the lease while ffmpeg runs, and every
// state change after the claim is conditional on still holding it, so a worker that lost its lease changes
// nothing. Times are the database's own (now()), so workers on different hosts agree on leases.
import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import { attachments, mediaJobs, type MediaState } from './schema.ts';
import type { Queryable } from './messages.ts';
import { insertRows } from './bulk.ts';
import type { VideoInfo } from '../core/video-policy.ts';

export type MediaJob = typeof mediaJobs.$inferSelect;

/** Creates the jobs of new video items (inside the transaction that creates the items); a replay adds nothing. */
export async function enqueueVideos(q: Queryable, videos: Array<{ itemId: number; attachmentId: number | null }>): Promise<void> {
  if (!videos.length) return;
  await insertRows(
    q,
    mediaJobs,
    videos.map((v) => ({ itemId: v.itemId, attachmentId: v.attachmentId })),
    { onConflict: sql`ON CONFLICT (item_id) DO NOTHING` },
  );
}

/** Jobs for any video item that has none (items made before this stage existed, or by another path). */
export async function enqueueMissing(q: Queryable): Promise<number> {
  const r = await q.execute(sql`
    INSERT INTO media_jobs (item_id, attachment_id)
    SELECT i.id, i.attachment_id FROM items i
    WHERE i.kind = 'video' AND NOT EXISTS (SELECT 1 FROM media_jobs j WHERE j.item_id = i.id)
    ON CONFLICT (item_id) DO NOTHING`);
  return r.rowCount ?? 0;
}

/**
 * Takes the next due job: queued and due, oldest first. The attempt is counted here, before any work, so a
 * video that kills the process every time runs out of attempts instead of crash-looping.
 */
export async function claimJob(q: Queryable, worker: string, leaseMs: number): Promise<MediaJob | null> {
  const [job] = await q
    .update(mediaJobs)
    .set({
      state: 'processing',
      attempts: sql`${mediaJobs.attempts} + 1`,
      lockedBy: worker,
      lockedUntil: sql`now() + make_interval(secs => ${leaseMs / 1000})`,
      updatedAt: sql`now()`,
    })
    .where(
      sql`${mediaJobs.id} = (SELECT id FROM media_jobs WHERE state = 'queued' AND run_after <= now()
        ORDER BY run_after, id LIMIT 1 FOR UPDATE SKIP LOCKED)`,
    )
    .returning();
  return job ?? null;
}

/** Extends the lease; false when the job is no longer ours (taken over after our lease ran out). */
export async function renewLease(q: Queryable, id: number, worker: string, leaseMs: number): Promise<boolean> {
  const r = await q
    .update(mediaJobs)
    .set({ lockedUntil: sql`now() + make_interval(secs => ${leaseMs / 1000})` })
    .where(and(eq(mediaJobs.id, id), eq(mediaJobs.state, 'processing'), eq(mediaJobs.lockedBy, worker)))
    .returning({ id: mediaJobs.id });
  return r.length === 1;
}

/**
 * Jobs left `processing` whose lease ran out (the process died while working on them): back to the queue with
 * the attempt they used counted, or `failed` when that was the last one. Returns their item ids, so their
 * temporary files can be swept.
 */
export async function recoverExpired(
  q: Queryable,
  o: { maxAttempts: number; retryDelayMs: (attempts: number) => number; error: string; failedReason: string },
): Promise<number[]> {
  const expired = await q
    .select({ id: mediaJobs.id, itemId: mediaJobs.itemId, attempts: mediaJobs.attempts })
    .from(mediaJobs)
    .where(and(eq(mediaJobs.state, 'processing'), sql`${mediaJobs.lockedUntil} < now()`));
  for (const j of expired) {
    const last = j.attempts >= o.maxAttempts;
    await q
      .update(mediaJobs)
      .set({
        state: last ? 'failed' : 'queued',
        reason: last ? o.failedReason : null,
        lastError: o.error,
        lockedBy: null,
        lockedUntil: null,
        runAfter: sql`now() + make_interval(secs => ${o.retryDelayMs(j.attempts) / 1000})`,
        updatedAt: sql`now()`,
        finishedAt: last ? sql`now()` : null,
      })
      .where(and(eq(mediaJobs.id, j.id), eq(mediaJobs.state, 'processing'), sql`${mediaJobs.lockedUntil} < now()`));
  }
  return expired.map((j) => j.itemId);
}

const ours = (id: number, worker: string) =>
  and(eq(mediaJobs.id, id), eq(mediaJobs.state, 'processing'), eq(mediaJobs.lockedBy, worker));
const unlocked = { lockedBy: null, lockedUntil: null, updatedAt: sql`now()` };

export interface ReadyFields {
  probe: VideoInfo;
  originalSeconds: number;
  seconds: number;
  trimmed: boolean;
  /** Relative to the data directory. */
  outputPath: string;
  posterPath: string;
}

/** The end states. Each returns false if the job was not ours any more (nothing is changed then). */
export async function markReady(q: Queryable, id: number, worker: string, f: ReadyFields): Promise<boolean> {
  const r = await q
    .update(mediaJobs)
    .set({ ...f, ...unlocked, state: 'ready', reason: null, finishedAt: sql`now()` })
    .where(ours(id, worker))
    .returning({ id: mediaJobs.id });
  return r.length === 1;
}

export async function markRejected(
  q: Queryable,
  id: number,
  worker: string,
  f: { reason: string; probe?: VideoInfo | null; originalSeconds?: number | null },
): Promise<boolean> {
  const r = await q
    .update(mediaJobs)
    .set({
      ...unlocked,
      state: 'rejected',
      reason: f.reason,
      probe: f.probe ?? null,
      originalSeconds: f.originalSeconds ?? null,
      finishedAt: sql`now()`,
    })
    .where(ours(id, worker))
    .returning({ id: mediaJobs.id });
  return r.length === 1;
}

/** A failed attempt: queued again after `retryInMs`, or `failed` for good with the reason (retryInMs null). */
export async function markAttemptFailed(
  q: Queryable,
  id: number,
  worker: string,
  f: { error: string; retryInMs: number | null; reason: string },
): Promise<boolean> {
  const final = f.retryInMs === null;
  const r = await q
    .update(mediaJobs)
    .set({
      ...unlocked,
      state: final ? 'failed' : 'queued',
      reason: final ? f.reason : null,
      lastError: f.error,
      runAfter: sql`now() + make_interval(secs => ${(f.retryInMs ?? 0) / 1000})`,
      finishedAt: final ? sql`now()` : null,
    })
    .where(ours(id, worker))
    .returning({ id: mediaJobs.id });
  return r.length === 1;
}

/**
 * Gives a job back for later without counting the attempt it used: ffmpeg is not there to run it (not
 * installed, or its configured path is wrong). It waits `delayMs`, with the reason as its last error.
 */
export async function postpone(q: Queryable, id: number, worker: string, delayMs: number, error: string): Promise<boolean> {
  const r = await q
    .update(mediaJobs)
    .set({
      ...unlocked,
      state: 'queued',
      attempts: sql`greatest(${mediaJobs.attempts} - 1, 0)`,
      lastError: error,
      runAfter: sql`now() + make_interval(secs => ${delayMs / 1000})`,
    })
    .where(ours(id, worker))
    .returning({ id: mediaJobs.id });
  return r.length === 1;
}

/** Gives a job back untouched (shutdown stopped it): the attempt it used is not counted. */
export async function release(q: Queryable, id: number, worker: string): Promise<boolean> {
  const r = await q
    .update(mediaJobs)
    .set({ ...unlocked, state: 'queued', attempts: sql`greatest(${mediaJobs.attempts} - 1, 0)`, runAfter: sql`now()` })
    .where(ours(id, worker))
    .returning({ id: mediaJobs.id });
  return r.length === 1;
}

/** The stored original of a job: its attachment's path (relative to the data dir) and whether it was cut at the cap. */
export async function jobInput(q: Queryable, job: MediaJob) {
  if (job.attachmentId === null) return null;
  const [a] = await q
    .select({ path: attachments.path, truncated: attachments.truncated, size: attachments.size })
    .from(attachments)
    .where(eq(attachments.id, job.attachmentId));
  return a ?? null;
}

/** When the next queued job becomes due (null: none queued); lets a loop sleep exactly until then. */
export async function nextDue(q: Queryable): Promise<Date | null> {
  const r = await q.execute(sql`SELECT min(run_after) AS at FROM media_jobs WHERE state = 'queued'`);
  const at = (r.rows[0] as { at?: string | Date | null } | undefined)?.at;
  return at ? new Date(at) : null;
}

export async function countByState(q: Queryable): Promise<Partial<Record<MediaState, number>>> {
  const rows = await q
    .select({ state: mediaJobs.state, n: sql<number>`count(*)::int` })
    .from(mediaJobs)
    .groupBy(mediaJobs.state);
  return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
}

export async function jobsOfItems(q: Queryable, itemIds: number[]): Promise<Map<number, MediaJob>> {
  if (!itemIds.length) return new Map();
  const rows = await q.select().from(mediaJobs).where(inArray(mediaJobs.itemId, itemIds)).orderBy(asc(mediaJobs.id));
  return new Map(rows.map((r) => [r.itemId, r]));
}

export async function getJob(q: Queryable, id: number): Promise<MediaJob | null> {
  const [j] = await q.select().from(mediaJobs).where(eq(mediaJobs.id, id));
  return j ?? null;
}
