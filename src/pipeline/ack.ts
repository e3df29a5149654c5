// Stage: decide each message's acknowledgement, exactly once. Every message ends with one outbox row keyed
// `ack:<message id>`: a queued acknowledgement, or a suppressed row whose reason says why none goes out. The
// decision comes from the pure core (src/core/ack.ts); this file reads the facts and the counts and stores it.
//
// A submission with videos waits until their jobs have ended, so the reply can say what became of each video;
// after ackWaitMinutes it goes anyway (a stuck job must not leave a supporter unanswered).
import type { App } from '../app.ts';
import type { Db } from '../db/client.ts';
import type { Campaign } from '../config.ts';
import type { Log } from '../adapters/logger.ts';
import type { Clock } from '../domain.ts';
import {
  ENDED_MEDIA_STATES,
  ackHeaders,
  ackLanguage,
  decideAck,
  renderAck,
  videoOutcome,
  type AckDecision,
} from '../core/ack.ts';
import {
  ackFloorAfter,
  ackItemsOf,
  ackKey,
  ackedAmong,
  acksSince,
  acksToEach,
  lockAckDecisions,
  mailDomain,
  pendingAcks,
  queueMails,
  type AckItem,
  type QueuedMail,
} from '../db/outbox.ts';

export interface AckDeps {
  db: Db;
  campaign: Campaign;
  log: Log;
  clock?: Clock;
}

export interface AckCounts {
  queued: number;
  suppressed: number;
  waiting: number;
}

type Pending = Awaited<ReturnType<typeof pendingAcks>>[number];

const HOUR = 3600_000;
const DAY = 24 * HOUR;
/** Messages decided per transaction. */
const CHUNK = 200;

function storyOf(its: AckItem[], campaign: Campaign): { number: number; title: string } | null {
  const stories = [...new Set(its.map((i) => i.story))];
  if (stories.length !== 1 || stories[0] === null) return null;
  const s = campaign.stories.find((x) => x.number === stories[0]);
  return s ? { number: s.number, title: s.title } : null;
}

/** Video items whose job has not ended: the acknowledgement waits for them (up to ackWaitMinutes). */
function videosRunning(its: AckItem[]): boolean {
  return its.some((i) => i.kind === 'video' && !(ENDED_MEDIA_STATES as readonly string[]).includes(i.jobState ?? ''));
}

const subjectOf = (m: Pending) => ({
  classification: m.classification,
  ackBlock: m.ackBlock,
  envelopeSender: m.envelopeSender,
  fromAddress: m.fromAddress,
});

/** The queued acknowledgement's row: rendered from the campaign's words, the story and the videos' outcomes. */
function queuedRow(deps: AckDeps, m: Pending, to: string, its: AckItem[], now: Date) {
  const { campaign } = deps;
  const story = storyOf(its, campaign);
  const language = ackLanguage(its.find((i) => i.kind === 'message')?.language, campaign.ackLanguage);
  const videos = its
    .filter((i) => i.kind === 'video' || i.kind === 'video_link')
    .map((i) => videoOutcome(i.kind as 'video' | 'video_link', i.jobState ? { state: i.jobState, trimmed: i.trimmed } : null));
  const content = renderAck({ language, story, videos, hashtag: campaign.hashtag, videoSeconds: campaign.limits.videoSeconds });
  const row: QueuedMail = {
    key: ackKey(m.id),
    kind: 'ack',
    messageId: m.id,
    story: story?.number ?? null,
    to,
    envelopeFrom: campaign.bounceAddress ?? null,
    subject: content.subject,
    textBody: content.text,
    htmlBody: content.html,
    headers: ackHeaders(m.rfcMessageId),
    domain: mailDomain(campaign.ackFrom),
    at: now,
  };
  return { row, log: { message: m.id, language, story: story?.number ?? null, videos: videos.length } };
}

/**
 * Decides a chunk of messages (in id order) in one transaction under the decision lock: their items and video jobs,
 * the window counts and the hourly count are read in a few queries, each decision then adds to the counts in
 * memory (as if the rows before it were already stored), and every row is inserted in one statement. Under the
 * lock no other process decides, so the counts stay exact until the commit.
 */
async function ackChunk(deps: AckDeps, chunk: Pending[]): Promise<AckCounts> {
  const now = deps.clock?.now() ?? new Date();
  const { campaign } = deps;
  const limits = campaign.limits;
  const counts: AckCounts = { queued: 0, suppressed: 0, waiting: 0 };
  const itemsOf = await ackItemsOf(
    deps.db.orm,
    chunk.filter((m) => m.classification === 'submission' && !m.ackBlock).map((m) => m.id),
  );
  const ready = chunk.filter((m) => {
    if (!videosRunning(itemsOf.get(m.id) ?? [])) return true;
    const since = m.understoodAt ?? m.receivedAt;
    if (now.getTime() - since.getTime() >= limits.ackWaitMinutes * 60_000) return true;
    counts.waiting++;
    return false;
  });
  if (!ready.length) return counts;

  const logs: Array<{ queued: boolean; fields: { message: number } & Record<string, unknown> }> = [];
  let created = new Set<string>();
  await deps.db.orm.transaction(async (tx) => {
    logs.length = 0;
    await lockAckDecisions(tx);
    // Decided by another process since pendingAcks read them: theirs stands.
    const done = await ackedAmong(tx, ready.map((m) => m.id));
    const todo = ready.filter((m) => !done.has(m.id));
    const first = todo.map((m) => decideAck(subjectOf(m), { previousToSender: 0, lastHour: 0 }, limits));
    const tos = first.flatMap((d) => (d.action === 'queue' ? [d.to] : []));
    const toSender = tos.length ? await acksToEach(tx, tos, new Date(now.getTime() - limits.ackWindowDays * DAY)) : new Map<string, number>();
    let lastHour = tos.length ? await acksSince(tx, new Date(now.getTime() - HOUR)) : 0;
    const rows: QueuedMail[] = [];
    todo.forEach((m, i) => {
      let decision: AckDecision = first[i];
      if (decision.action === 'queue') {
        const to = decision.to.toLowerCase();
        decision = decideAck(subjectOf(m), { previousToSender: toSender.get(to) ?? 0, lastHour }, limits);
        if (decision.action === 'queue') {
          toSender.set(to, (toSender.get(to) ?? 0) + 1);
          lastHour++;
        }
      }
      if (decision.action === 'suppress') {
        rows.push({
          key: ackKey(m.id),
          kind: 'ack',
          messageId: m.id,
          story: null,
          to: decision.to,
          envelopeFrom: null,
          subject: '',
          textBody: '',
          htmlBody: null,
          headers: {},
          state: 'suppressed',
          reason: decision.reason,
          domain: mailDomain(campaign.ackFrom),
          at: now,
        });
        logs.push({ queued: false, fields: { message: m.id, reason: decision.reason } });
        return;
      }
      const q = queuedRow(deps, m, decision.to, itemsOf.get(m.id) ?? [], now);
      rows.push(q.row);
      logs.push({ queued: true, fields: q.log });
    });
    created = await queueMails(tx, rows);
  });
  for (const l of logs) {
    if (!created.has(ackKey(l.fields.message))) continue;
    if (l.queued) {
      counts.queued++;
      deps.log.info(l.fields, 'acknowledgement queued');
    } else {
      counts.suppressed++;
      deps.log.debug(l.fields, 'acknowledgement suppressed');
    }
  }
  return counts;
}

/**
 * Where a caller that runs many passes (run --once while the inbox is read) may start the next: every message at
 * or below `id` had its acknowledgement decided when the pass before ended. A pass from here looks only at the
 * messages after it, where one from the start read every message (a look-up of its row for each) each time.
 */
export interface AckFloor {
  id: number;
}

/**
 * Decides every message that is ready for it, a chunk of up to 200 at a time. Re-runnable: a message with an ack
 * row is never looked at again. With `floor`, the pass starts above it and moves it on; a message committed
 * below it later (another process's transaction that ended after a later id's) is seen by the next pass without
 * one, as every run's last pass is.
 */
export async function ackPending(deps: AckDeps, opts: { signal?: AbortSignal; floor?: AckFloor } = {}): Promise<AckCounts> {
  const counts: AckCounts = { queued: 0, suppressed: 0, waiting: 0 };
  let afterId = opts.floor?.id ?? 0;
  while (!opts.signal?.aborted) {
    const chunk = await pendingAcks(deps.db.orm, CHUNK, afterId);
    if (!chunk.length) break;
    const c = await ackChunk(deps, chunk);
    counts.queued += c.queued;
    counts.suppressed += c.suppressed;
    counts.waiting += c.waiting;
    afterId = chunk[chunk.length - 1].id;
  }
  if (opts.floor && !opts.signal?.aborted) opts.floor.id = await ackFloorAfter(deps.db.orm, opts.floor.id);
  return counts;
}

export function ackDepsOf(app: App): AckDeps {
  return { db: app.db, campaign: app.config.campaign, log: app.log, clock: app.clock };
}
