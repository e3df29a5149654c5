// `intake run`: the inbox loop (drain, then wait for IDLE / a file watch / the poll interval) and the processing
// loop (parse what is stored), both runLoop-shaped so an error never ends the daemon.
import type { App } from '../app.ts';
import { recoverRaw } from './ingest.ts';
import { warmParseWorker } from '../adapters/mime-pool.ts';
import { emptyProcessCounts, followChain, processPending, processStages } from './process.ts';
import { abortableDelay, makeWakeup, runLoop } from '../runtime/loop.ts';
import type { IngestCounts } from '../domain.ts';
import { anyWork, drainMedia, emptyMediaCounts, mediaDepsOf, mediaIdleMs, runDueJobs, type MediaCounts } from './media.ts';
import { digestDepsOf, sendDueDigests } from './digest.ts';
import { makeInboxLeader } from './leader.ts';
import type { ImapSession } from '../adapters/imap.ts';
import { ackDepsOf, ackPending, type AckCounts } from './ack.ts';
import { anySent, outboxDepsOf, outboxIdleMs, recoverOutbox, sendDue, type OutboxDeps, type SendCounts } from './outbox.ts';
import { IntakeError, errorMessage } from '../errors.ts';
import { compileCacheReady } from '../runtime/loader.ts';

export interface RunResult {
  inbox: IngestCounts;
  parse: { parsed: number; quarantined: number; retry: number; understood: number };
  media: MediaCounts;
  digests: Awaited<ReturnType<typeof sendDueDigests>>;
  acks: AckCounts;
  /** null when sending is paused (the SMTP server refused our login): see `intake doctor`. */
  outbox: SendCounts | null;
}

/** Sends what is due; a refused login is logged and ends this pass's sending, not the pass. */
async function sendOnce(deps: OutboxDeps, signal: AbortSignal): Promise<SendCounts | null> {
  try {
    return await sendDue(deps, signal);
  } catch (err) {
    if (!(err instanceof IntakeError && err.code === 'SMTP')) throw err;
    deps.log.error({ err: errorMessage(err) }, 'sending paused');
    return null;
  }
}

/**
 * One full pass: recover, take every message now in the inbox, process it; then return. The stages follow one
 * another as the daemon's loops do, each taking what the one before has finished: parsing, understanding and
 * videos run while the inbox is still being read, acknowledgements and sending once it has been. Digests come
 * after all of it, and their mail goes out last. `started`: an IMAP session begun while the app was made.
 */
export async function runOnce(app: App, signal: AbortSignal, started?: ImapSession): Promise<RunResult> {
  warmParseWorker();
  await recoverRaw(app.deps);
  const inbox = app.makeInbox(started);
  try {
    const parse = emptyProcessCounts();
    const mediaDeps = mediaDepsOf(app);
    const media = emptyMediaCounts();
    const addMedia = (c: MediaCounts) => {
      for (const k of Object.keys(media) as Array<keyof MediaCounts>) media[k] += c[k];
      return anyWork(c) ? 1 : 0;
    };
    const ackDeps = ackDepsOf(app);
    const acks: AckCounts = { queued: 0, suppressed: 0, waiting: 0 };
    const ackFloor = { id: 0 }; // passes while the inbox is read start above what is decided; the last from the start
    const addAcks = (c: AckCounts) => {
      acks.queued += c.queued;
      acks.suppressed += c.suppressed;
      acks.waiting = c.waiting; // still waiting after the latest pass
      return c.queued + c.suppressed;
    };
    const outboxDeps = outboxDepsOf(app);
    await recoverOutbox(outboxDeps);
    let outbox: SendCounts | null = { sent: 0, retry: 0, failed: 0, uncertain: 0, stale: 0 };
    const send = async () => {
      if (!outbox) return 0; // paused: the SMTP server refused our login
      const c = await sendOnce(outboxDeps, signal);
      if (!c) {
        outbox = null;
        return 0;
      }
      for (const k of Object.keys(outbox) as Array<keyof SendCounts>) outbox[k] += c[k];
      return anySent(c) ? 1 : 0;
    };
    // Acknowledgements are decided, and mail sent, once the inbox has been read: until then both cores are
    // busy fetching, storing and parsing, and each pass would take from the parse worker, which sets the pace;
    // after it, the worker's backlog leaves the main thread room. Replies go out a few seconds later; none is left out.
    let read = false;
    const counts = await followChain(
      inbox.drain(signal).finally(() => (read = true)),
      [
        ...processStages(app.deps, parse, { signal }),
        // Every queued job to its end at the last, waiting out retry delays (drainMedia).
        { pass: async () => addMedia(await runDueJobs(mediaDeps, signal)), last: async () => void addMedia(await drainMedia(mediaDeps, signal)) },
        // A submission whose videos have not ended waits (ackPending counts it `waiting`): its last pass comes
        // after the media stage has ended, so the reply says what became of each video.
        {
          pass: async () => (read ? addAcks(await ackPending(ackDeps, { signal, floor: ackFloor })) : 0),
          last: async () => void addAcks(await ackPending(ackDeps, { signal })),
        },
        { pass: async () => (read ? send() : 0) },
      ],
      { signal },
    );
    // After media, so the digest shows this pass's video states; queued before the outbox is sent.
    const digests = await sendDueDigests(digestDepsOf(app));
    // Last: send what the outbox holds now (the digests).
    await send();
    return { inbox: counts, parse, media, digests, acks, outbox };
  } finally {
    await inbox.close();
  }
}

export async function runDaemon(app: App, signal: AbortSignal): Promise<void> {
  const { log } = app;
  warmParseWorker();
  await recoverRaw(app.deps);
  const inbox = app.makeInbox();
  log.info({ inbox: inbox.kind, db: app.db.kind }, 'daemon started');

  const stored = makeWakeup();
  const media = makeWakeup();
  const acks = makeWakeup();
  const outbox = makeWakeup();
  const wakeProcessing = () => stored.wake();

  // One inbox reader (and parser) per database: the others wait to take over (see leader.ts).
  const leader = makeInboxLeader(app.db, log);
  const inboxLoop = runLoop({
    name: 'inbox',
    log,
    signal,
    step: async (s) => {
      const was = leader.held;
      if (!(await leader.acquire(s))) return;
      if (!was) {
        wakeProcessing(); // a new reader also parses what the last one left
        outbox.wake(); // and takes over sending
      }
      const c = await inbox.drain(AbortSignal.any([s, leader.lost]));
      if (c.stored || c.quarantined) {
        log.info({ ...c }, 'inbox drained');
        wakeProcessing();
      }
    },
    wait: async (s) => (leader.held ? inbox.waitForMail(AbortSignal.any([s, leader.lost])) : undefined),
  });

  let handled = 0;
  const processLoop = runLoop({
    name: 'process',
    log,
    signal,
    step: async (s) => {
      stored.clear();
      if (!leader.held) return;
      const c = await processPending(app.deps, { signal: s });
      if (c.parsed || c.quarantined || c.understood) {
        log.info({ ...c }, 'messages processed');
        handled += c.parsed + c.quarantined;
        compileCacheReady(handled); // the bundle's code cache, once enough has run
      }
      if (c.understood) media.wake();
      if (c.understood || c.quarantined) acks.wake();
    },
    wait: (s) => stored.wait(30_000, s),
  });

  // Videos: their own loop, so ingestion never waits for ffmpeg. Woken when messages are understood (new
  // items), otherwise it sleeps until the next retry is due, and at most 30 s (a dead worker's lease).
  const mediaDeps = mediaDepsOf(app);
  app.media.version().then(
    (v) => log.info({ ffmpeg: v.ffmpeg, ffprobe: v.ffprobe, source: v.source }, 'ffmpeg found'),
    (err) => log.error({ err: errorMessage(err) }, 'ffmpeg not found: video jobs wait until it is installed'),
  );
  const mediaLoop = runLoop({
    name: 'media',
    log,
    signal,
    step: async (s) => {
      media.clear();
      const c = await runDueJobs(mediaDeps, s);
      if (anyWork(c)) log.info({ ...c }, 'media jobs run');
      if (anyWork(c)) acks.wake();
    },
    wait: async (s) => media.wait(await mediaIdleMs(mediaDeps, 30_000), s),
  });

  // Digests: due is a question of the clock and the digest_runs table, so a look once a minute is enough; a
  // restart, downtime or a clock jump changes nothing (see core/digest.ts dueDaily).
  const digestDeps = digestDepsOf(app);
  const digestLoop = runLoop({
    name: 'digest',
    log,
    signal,
    step: async () => {
      const d = await sendDueDigests(digestDeps);
      if (d.daily || d.final) outbox.wake();
    },
    wait: (s) => abortableDelay(60_000, s),
  });

  // Acknowledgements: decided when messages are understood or videos end; a look each minute too, for those
  // whose wait for their videos (ackWaitMinutes) has run out.
  const ackDeps = ackDepsOf(app);
  const ackLoop = runLoop({
    name: 'ack',
    log,
    signal,
    step: async (s) => {
      acks.clear();
      const c = await ackPending(ackDeps, { signal: s });
      if (c.queued || c.suppressed) log.info({ ...c }, 'acknowledgements decided');
      if (c.queued) outbox.wake();
    },
    wait: (s) => acks.wait(60_000, s),
  });

  // The outbox: every kind of mail, one row at a time, sent by the inbox leader only. When this daemon becomes
  // the leader, rows left `sending` (by a crashed leader: no other process sends) become `uncertain` first; a
  // daemon that merely starts beside a live leader never touches the rows that leader is sending.
  // A refused SMTP login throws with a long retryAfterMs: this loop pauses, the others go on.
  const outboxDeps = outboxDepsOf(app);
  let recovered = false;
  const outboxLoop = runLoop({
    name: 'outbox',
    log,
    signal,
    step: async (s) => {
      outbox.clear();
      if (!leader.held) {
        recovered = false;
        return;
      }
      if (!recovered) {
        await recoverOutbox(outboxDeps);
        recovered = true;
      }
      const c = await sendDue(outboxDeps, s);
      if (anySent(c)) log.info({ ...c }, 'outbox sent');
    },
    wait: async (s) => outbox.wait(await outboxIdleMs(outboxDeps, 30_000), s),
  });

  await Promise.all([inboxLoop, processLoop, mediaLoop, digestLoop, ackLoop, outboxLoop]);
  await inbox.close();
  await leader.release();
  log.info('daemon stopped');
}
