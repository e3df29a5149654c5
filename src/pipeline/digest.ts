// The digests as a stage: build from the database, queue through the outbox, record the run. A daily run
// (kind, day) is inserted in the same transaction as its outbox rows, so a crash leaves both or neither, and a
// second daemon (or a restart) finds the run and queues nothing. The sender loop delivers the rows.
import fs from 'node:fs';
import path from 'node:path';
import type { Db } from '../db/client.ts';
import type { Campaign } from '../config.ts';
import type { Clock } from '../domain.ts';
import type { Log } from '../adapters/logger.ts';
import type { Queryable } from '../db/messages.ts';
import { mailDomain, queueMail } from '../db/outbox.ts';
import {
  ackProblems,
  approvedItems,
  getRun,
  highWater,
  insertRun,
  itemTotals,
  itemsBetween,
  lastRunDay,
  previousRun,
  quarantinedBetween,
  triageItems,
  videoProblems,
  type ItemRow,
} from '../db/digest.ts';
import {
  dueDaily,
  dueFinal,
  localDay,
  renderCompilation,
  renderDailyDigest,
  renderFinalDigest,
  type DailyDigestData,
  type DigestItem,
} from '../core/digest.ts';
import { shown, supporterName, type Entry, type StoryCompilation } from '../core/compilation.ts';
import type { Language } from '../core/text.ts';
import { IntakeError } from '../errors.ts';
import { failpoint } from '../runtime/failpoints.ts';

export interface DigestDeps {
  db: Db;
  campaign: Campaign;
  clock: Clock;
  log: Log;
  /** media_jobs paths are relative to it. */
  dataDir: string;
}

/** RFC 3834: a digest is machine-made, so staff vacation replies stay quiet. */
const DIGEST_HEADERS = { 'Auto-Submitted': 'auto-generated', 'X-Auto-Response-Suppress': 'All' };

/** A digest or a compilation to one person, queued in the caller's transaction: the same envelope for every kind. */
function queueDigest(
  tx: Parameters<typeof queueMail>[0],
  campaign: Campaign,
  at: Date,
  m: { key: string; kind: 'daily_digest' | 'final_digest' | 'family'; to: string; story?: number; rendered: { subject: string; text: string; html: string } },
) {
  return queueMail(tx, {
    key: m.key,
    kind: m.kind,
    to: m.to,
    story: m.story ?? null,
    subject: m.rendered.subject,
    textBody: m.rendered.text,
    htmlBody: m.rendered.html,
    headers: DIGEST_HEADERS,
    envelopeFrom: campaign.ackFrom,
    domain: mailDomain(campaign.ackFrom),
    at,
  });
}

function digestItem(r: ItemRow): DigestItem {
  return {
    id: r.id,
    kind: r.kind,
    story: r.story,
    status: r.status,
    displayName: r.displayName,
    language: r.language,
    text: r.text,
    url: r.url,
    video:
      r.kind === 'video' && r.videoState
        ? { state: r.videoState, seconds: r.videoSeconds, trimmed: r.videoTrimmed, reason: r.videoReason }
        : null,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Daily

/**
 * The daily digest of `day`. Its window: items and quarantined messages after the previous run's high-water
 * marks, up to this run's (an existing run is rebuilt as it was); problems since the previous run's time.
 */
export async function buildDaily(q: Queryable, campaign: Campaign, day: string, through?: { itemId: number; messageId: number }) {
  const prev = await previousRun(q, 'daily', day);
  const run = await getRun(q, 'daily', day);
  const hw = through ?? (run ? { itemId: run.lastItemId, messageId: run.lastMessageId } : await highWater(q));
  const since = prev?.createdAt ?? null;
  const after = prev?.lastItemId ?? 0;
  const newItems = (await itemsBetween(q, after, hw.itemId)).map(digestItem);
  // Triage: the new items without a story, and those from before the window still without one (read apart).
  const triage = [...(await triageItems(q, after)).map(digestItem), ...newItems.filter((i) => i.story === null && i.status === 'pending')];
  const data: DailyDigestData = {
    campaign: { name: campaign.name, hashtag: campaign.hashtag, timezone: campaign.timezone },
    day,
    stories: campaign.stories.map((s) => ({ number: s.number, title: s.title })),
    newItems,
    totals: await itemTotals(q, hw.itemId),
    triage,
    videoProblems: await videoProblems(q, since),
    ackProblems: await ackProblems(q, since),
    quarantined: await quarantinedBetween(q, prev?.lastMessageId ?? 0, hw.messageId),
  };
  return { data, rendered: renderDailyDigest(data), highWater: hw };
}

export type QueueOutcome = { day: string; queued: number; already: boolean };

/** Queues the daily digest of `day` to every staff recipient, once: a second call finds the run and does nothing. */
export async function queueDaily(deps: DigestDeps, day: string): Promise<QueueOutcome> {
  const { campaign } = deps;
  const at = deps.clock.now();
  return deps.db.orm.transaction(async (tx) => {
    const hw = await highWater(tx);
    const { data, rendered } = await buildDaily(tx, campaign, day, hw);
    // The primary key (kind, day) is the guard: a concurrent second insert waits for this commit, then does nothing.
    const created = await insertRun(tx, { kind: 'daily', day, items: data.newItems.length, lastItemId: hw.itemId, lastMessageId: hw.messageId, at });
    if (!created) return { day, queued: 0, already: true };
    for (const to of campaign.staff)
      await queueDigest(tx, campaign, at, { key: `daily:${day}:${to.toLowerCase()}`, kind: 'daily_digest', to, rendered });
    failpoint('digest.before-commit');
    deps.log.info({ digest: 'daily', day, items: data.newItems.length, recipients: campaign.staff.length }, 'daily digest queued');
    return { day, queued: campaign.staff.length, already: false };
  });
}

export async function previewDaily(deps: DigestDeps, day: string, file: string) {
  const { data, rendered } = await buildDaily(deps.db.orm, deps.campaign, day);
  const target = path.resolve(file);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(target, rendered.html);
  const textFile = target.replace(/\.html?$/i, '') + '.txt';
  fs.writeFileSync(textFile, rendered.text);
  return { file: target, textFile, subject: rendered.subject, items: data.newItems.length };
}

export function today(deps: DigestDeps): string {
  return localDay(deps.clock.now(), deps.campaign.timezone);
}

// ---------------------------------------------------------------------------------------------------------
// Compilations (final digest, families, publication)

export const mediaName = (itemId: number) => ({ file: `media/${itemId}/video.mp4`, poster: `media/${itemId}/poster.jpg` });

/** A path from media_jobs, relative to the data dir, as an absolute path that stays inside it (else null). */
export function dataFile(dataDir: string, rel: string | null): string | null {
  if (!rel) return null;
  const root = path.resolve(dataDir);
  const abs = path.resolve(root, rel);
  if (!abs.startsWith(root + path.sep)) return null;
  return fs.existsSync(abs) ? abs : null;
}

/**
 * Every story of the campaign with its approved items, in campaign order. `videoOf` decides whether a processed
 * video is shown (and may copy it next to the pages); a video without one is left out.
 */
export async function loadCompilations(
  q: Queryable,
  campaign: Campaign,
  videoOf: (r: ItemRow) => Entry['video'],
): Promise<StoryCompilation[]> {
  const rows = await approvedItems(q);
  return campaign.stories.map((s) => ({
    number: s.number,
    title: s.title,
    victim: s.victim,
    entries: rows
      .filter((r) => r.story === s.number)
      .map(
        (r): Entry => ({
          itemId: r.id,
          kind: r.kind,
          name: supporterName(r.displayName, r.language),
          language: (r.language as Language | null) ?? null,
          text: r.text,
          url: r.url,
          video: r.kind === 'video' && r.videoState === 'ready' ? videoOf(r) : null,
          receivedAt: r.receivedAt,
        }),
      ),
  }));
}

/** For mail: a ready video is named by where the bundle puts it; nothing is copied. */
export function namedVideo(dataDir: string) {
  return (r: ItemRow): Entry['video'] =>
    dataFile(dataDir, r.outputPath) ? { ...mediaName(r.id), poster: dataFile(dataDir, r.posterPath) ? mediaName(r.id).poster : null, seconds: r.videoSeconds } : null;
}

/** For files: the processed video and poster copied under `<dir>/media/<item>/`. */
export function copiedVideo(dataDir: string, dir: string) {
  return (r: ItemRow): Entry['video'] => {
    const src = dataFile(dataDir, r.outputPath);
    if (!src) return null;
    const names = mediaName(r.id);
    fs.mkdirSync(path.join(dir, 'media', String(r.id)), { recursive: true });
    fs.copyFileSync(src, path.join(dir, names.file));
    const poster = dataFile(dataDir, r.posterPath);
    if (poster) fs.copyFileSync(poster, path.join(dir, names.poster));
    return { file: names.file, poster: poster ? names.poster : null, seconds: r.videoSeconds };
  };
}

export interface FinalOutcome {
  staff: { queued: number; already: boolean };
  families: Array<{ story: number; queued: boolean; already: boolean }>;
  /** Stories with a family contact that were not sent: no approved item yet. */
  familiesSkipped: number[];
}

/**
 * The final digest to staff, once (digest run 'final' on the final date). With `family`, also each story's
 * compilation to its family contact, once per story (outbox key `family:<story>`): never automatic.
 */
export async function queueFinal(deps: DigestDeps, opts: { family: boolean }): Promise<FinalOutcome> {
  const { campaign } = deps;
  const at = deps.clock.now();
  return deps.db.orm.transaction(async (tx) => {
    const comps = await loadCompilations(tx, campaign, namedVideo(deps.dataDir));
    const total = comps.reduce((n, c) => n + shown(c.entries).length, 0);
    const hw = await highWater(tx);
    const created = await insertRun(tx, { kind: 'final', day: campaign.finalDate, items: total, lastItemId: hw.itemId, lastMessageId: hw.messageId, at });
    const out: FinalOutcome = { staff: { queued: 0, already: !created }, families: [], familiesSkipped: [] };
    if (created) {
      const r = renderFinalDigest(campaign, comps);
      for (const to of campaign.staff)
        await queueDigest(tx, campaign, at, { key: `final:${campaign.finalDate}:${to.toLowerCase()}`, kind: 'final_digest', to, rendered: r });
      out.staff.queued = campaign.staff.length;
      deps.log.info({ digest: 'final', items: total, recipients: campaign.staff.length }, 'final digest queued');
    }
    if (opts.family) {
      for (const c of comps) {
        const story = campaign.stories.find((s) => s.number === c.number)!;
        if (!story.familyContact) continue;
        if (!shown(c.entries).length) {
          out.familiesSkipped.push(c.number);
          continue;
        }
        const r = renderCompilation(campaign, c, 'mail');
        const q = await queueDigest(tx, campaign, at, { key: `family:${c.number}`, kind: 'family', to: story.familyContact, story: c.number, rendered: r });
        out.families.push({ story: c.number, queued: q.created, already: !q.created });
        if (q.created) deps.log.info({ digest: 'family', story: c.number, outbox: q.id }, 'family compilation queued');
      }
    }
    failpoint('digest.before-commit');
    return out;
  });
}

/** `--preview DIR`: each story's compilation as HTML and text, videos copied beside them; nothing is sent. */
export async function previewFinal(deps: DigestDeps, dir: string) {
  const target = path.resolve(dir);
  fs.mkdirSync(target, { recursive: true });
  const comps = await loadCompilations(deps.db.orm, deps.campaign, copiedVideo(deps.dataDir, target));
  const files: string[] = [];
  for (const c of comps) {
    const r = renderCompilation(deps.campaign, c, 'files');
    const base = path.join(target, `story-${c.number}`);
    fs.writeFileSync(base + '.html', r.html);
    fs.writeFileSync(base + '.txt', r.text);
    files.push(base + '.html', base + '.txt');
  }
  return { dir: target, files, items: comps.reduce((n, c) => n + shown(c.entries).length, 0) };
}

// ---------------------------------------------------------------------------------------------------------
// The daemon's step

/** Queues any digest that is due by the clock: the day's daily digest, the final digest on the final day. */
export async function sendDueDigests(deps: DigestDeps): Promise<{ daily: QueueOutcome | null; final: FinalOutcome | null }> {
  const { campaign } = deps;
  const now = deps.clock.now();
  const common = { now, timeZone: campaign.timezone, digestHour: campaign.digestHour };
  const day = dueDaily({ ...common, startDate: campaign.startDate, lastSent: await lastRunDay(deps.db.orm, 'daily') });
  const daily = day ? await queueDaily(deps, day) : null;
  const sent = (await getRun(deps.db.orm, 'final', campaign.finalDate)) !== null;
  const final = dueFinal({ ...common, finalDate: campaign.finalDate, sent }) ? await queueFinal(deps, { family: false }) : null;
  return { daily, final };
}

export function requireDay(s: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s) || Number.isNaN(Date.parse(`${s}T00:00:00Z`)))
    throw new IntakeError('USAGE', `--date: expected a day written YYYY-MM-DD, got "${s}"`);
  return s;
}

export function digestDepsOf(app: { db: Db; config: { campaign: Campaign; dataDir: string }; clock: Clock; log: Log }): DigestDeps {
  return { db: app.db, campaign: app.config.campaign, clock: app.clock, log: app.log, dataDir: app.config.dataDir };
}
