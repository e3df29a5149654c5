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
import { ackItems, ackKey, acksSince, acksTo, lockAckDecisions, mailDomain, pendingAcks, queueMail } from '../db/outbox.ts';

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
type ItemRow = Awaited<ReturnType<typeof ackItems>>[number];

const HOUR = 3600_000;
const DAY = 24 * HOUR;

function storyOf(its: ItemRow[], campaign: Campaign): { number: number; title: string } | null {
  const stories = [...new Set(its.map((i) => i.story))];
  if (stories.length !== 1 || stories[0] === null) return null;
  const s = campaign.stories.find((x) => x.number === stories[0]);
  return s ? { number: s.number, title: s.title } : null;
}

/** Video items whose job has not ended: the acknowledgement waits for them (up to ackWaitMinutes). */
function videosRunning(its: ItemRow[]): boolean {
  return its.some((i) => i.kind === 'video' && !(ENDED_MEDIA_STATES as readonly string[]).includes(i.jobState ?? ''));
}

/** Decides one message; returns what was stored, or 'waiting' when its videos are still being processed. */
export async function ackOne(deps: AckDeps, m: Pending): Promise<'queued' | 'suppressed' | 'waiting'> {
  const now = deps.clock?.now() ?? new Date();
  const { campaign } = deps;
  const limits = campaign.limits;
  const its = m.classification === 'submission' && !m.ackBlock ? await ackItems(deps.db.orm, m.id) : [];
  if (videosRunning(its)) {
    const since = m.understoodAt ?? m.receivedAt;
    if (now.getTime() - since.getTime() < limits.ackWaitMinutes * 60_000) return 'waiting';
  }

  return deps.db.orm.transaction(async (tx) => {
    await lockAckDecisions(tx);
    const subject = {
      classification: m.classification,
      ackBlock: m.ackBlock,
      envelopeSender: m.envelopeSender,
      fromAddress: m.fromAddress,
    };
    let decision: AckDecision = decideAck(subject, { previousToSender: 0, lastHour: 0 }, limits);
    if (decision.action === 'queue') {
      const counts = {
        previousToSender: await acksTo(tx, decision.to, new Date(now.getTime() - limits.ackWindowDays * DAY)),
        lastHour: await acksSince(tx, new Date(now.getTime() - HOUR)),
      };
      decision = decideAck(subject, counts, limits);
    }
    const key = ackKey(m.id);
    if (decision.action === 'suppress') {
      await queueMail(tx, {
        key,
        kind: 'ack',
        messageId: m.id,
        to: decision.to,
        subject: '',
        textBody: '',
        htmlBody: null,
        state: 'suppressed',
        reason: decision.reason,
        domain: mailDomain(campaign.ackFrom),
        at: now,
      });
      deps.log.debug({ message: m.id, reason: decision.reason }, 'acknowledgement suppressed');
      return 'suppressed';
    }
    const story = storyOf(its, campaign);
    const language = ackLanguage(its.find((i) => i.kind === 'message')?.language, campaign.ackLanguage);
    const videos = its
      .filter((i) => i.kind === 'video' || i.kind === 'video_link')
      .map((i) =>
        videoOutcome(i.kind as 'video' | 'video_link', i.jobState ? { state: i.jobState, trimmed: i.trimmed } : null),
      );
    const content = renderAck({ language, story, videos, hashtag: campaign.hashtag, videoSeconds: limits.videoSeconds });
    await queueMail(tx, {
      key,
      kind: 'ack',
      messageId: m.id,
      story: story?.number ?? null,
      to: decision.to,
      envelopeFrom: campaign.bounceAddress ?? null,
      subject: content.subject,
      textBody: content.text,
      htmlBody: content.html,
      headers: ackHeaders(m.rfcMessageId),
      domain: mailDomain(campaign.ackFrom),
      at: now,
    });
    deps.log.info({ message: m.id, language, story: story?.number ?? null, videos: videos.length }, 'acknowledgement queued');
    return 'queued';
  });
}

/** Decides every message that is ready for it. Re-runnable: a message with an ack row is never looked at again. */
export async function ackPending(deps: AckDeps, opts: { signal?: AbortSignal } = {}): Promise<AckCounts> {
  const counts: AckCounts = { queued: 0, suppressed: 0, waiting: 0 };
  let afterId = 0;
  for (;;) {
    if (opts.signal?.aborted) break;
    const batch = await pendingAcks(deps.db.orm, 200, afterId);
    if (!batch.length) break;
    for (const m of batch) {
      if (opts.signal?.aborted) break;
      counts[await ackOne(deps, m)]++;
      afterId = m.id;
    }
  }
  return counts;
}

export function ackDepsOf(app: App): AckDeps {
  return { db: app.db, campaign: app.config.campaign, log: app.log, clock: app.clock };
}
