// How listings look: JSON shapes of the SPEC for scripts, short aligned lines for people.
import type { MessageListing } from '../db/messages.ts';
import path from 'node:path';
import type { items as itemsTable, itemEvents } from '../db/schema.ts';
import type { MediaJob } from '../db/media.ts';
import type { OutboxRow } from '../db/outbox.ts';

type ItemRow = typeof itemsTable.$inferSelect;
type EventRow = typeof itemEvents.$inferSelect;
export interface ItemRef {
  id: number;
  messageId: number;
  story: number | null;
  linkMethod: string | null;
}

export interface AckRef {
  state: string;
  reason: string | null;
}

export function messageJson(m: MessageListing, its: ItemRef[] = [], ack: AckRef | null = null) {
  // The message's story: the one its items share (null when none or when they differ).
  const stories = [...new Set(its.map((i) => i.story))];
  const story = stories.length === 1 ? stories[0] : null;
  return {
    id: m.id,
    source: m.source,
    rfcMessageId: m.rfcMessageId,
    sha256: m.sha256,
    receivedAt: m.receivedAt.toISOString(),
    from: m.from,
    subject: m.subject,
    status: m.status,
    classification: m.classification,
    classificationReason: m.classificationReason,
    story,
    linkMethod: story === null ? null : (its.find((i) => i.story === story)?.linkMethod ?? null),
    items: its.map((i) => i.id),
    attachments: m.attachments,
    size: m.size,
    ack: ack?.state ?? null,
    ackReason: ack?.reason ?? null,
  };
}

function cut(s: string | null | undefined, n: number): string {
  const t = (s ?? '').replace(/\s+/g, ' ');
  return t.length > n ? t.slice(0, n - 1) + '…' : t.padEnd(n);
}

export function renderMessages(rows: MessageListing[], acks: Map<number, AckRef> = new Map()): string {
  if (!rows.length) return 'no messages stored yet';
  const lines = rows.map((m) => {
    const state = m.classification ?? m.status;
    const reason = m.status === 'quarantined' && m.classificationReason ? `  (${m.classificationReason})` : '';
    const a = acks.get(m.id);
    const ack = a ? (a.state === 'suppressed' && a.reason ? `no ack: ${a.reason}` : `ack ${a.state}`) : '';
    return `${String(m.id).padStart(6)}  ${m.receivedAt.toISOString().slice(0, 16).replace('T', ' ')}  ${cut(state, 12)}  ${cut(m.from, 30)}  ${cut(m.subject, 50)}  ${ack}${reason}`;
  });
  return [`${'id'.padStart(6)}  ${'received (UTC)'.padEnd(16)}  ${'state'.padEnd(12)}  ${'from'.padEnd(30)}  ${'subject'.padEnd(50)}  acknowledgement`, ...lines].join(
    '\n',
  );
}

/** `intake outbox --json` (SPEC): { id, kind, to, subject, state, attempts, lastError, messageId }, plus reason. */
export function outboxJson(r: OutboxRow) {
  return {
    id: r.id,
    kind: r.kind,
    to: r.to,
    subject: r.subject,
    state: r.state,
    attempts: r.attempts,
    lastError: r.lastError,
    messageId: r.messageId,
    reason: r.reason,
    story: r.story,
    rfcMessageId: r.rfcMessageId,
    createdAt: r.createdAt.toISOString(),
    sentAt: r.sentAt?.toISOString() ?? null,
  };
}

export function renderOutbox(rows: OutboxRow[]): string {
  if (!rows.length) return 'the outbox is empty';
  const lines = rows.map((r) => {
    const why = r.state === 'suppressed' ? (r.reason ?? '') : (r.lastError ?? '');
    return `${String(r.id).padStart(6)}  ${cut(r.kind, 12)}  ${cut(r.state, 10)}  ${String(r.attempts).padStart(3)}  ${cut(r.to, 30)}  ${cut(r.subject, 30)}  ${why}`;
  });
  return [`${'id'.padStart(6)}  ${'kind'.padEnd(12)}  ${'state'.padEnd(10)}  try  ${'to'.padEnd(30)}  ${'subject'.padEnd(30)}  reason / last error`, ...lines].join('\n');
}

const sec = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 1000);

/** The `video` field of an item (SPEC): paths are absolute, under the data directory. */
export function videoJson(j: MediaJob, dataDir: string) {
  return {
    state: j.state,
    reason: j.reason,
    originalSeconds: sec(j.originalSeconds),
    seconds: sec(j.seconds),
    trimmed: j.trimmed,
    path: j.outputPath ? path.join(dataDir, j.outputPath) : null,
    poster: j.posterPath ? path.join(dataDir, j.posterPath) : null,
    attempts: j.attempts,
  };
}
export type VideoJson = ReturnType<typeof videoJson>;

export function itemJson(i: ItemRow, video: VideoJson | null = null) {
  return {
    id: i.id,
    messageId: i.messageId,
    kind: i.kind,
    story: i.story,
    linkMethod: i.linkMethod,
    linkConfidence: i.linkConfidence === null ? null : Math.round(i.linkConfidence * 100) / 100,
    linkReason: i.linkReason,
    status: i.status,
    text: i.kind === 'message' ? i.text : null,
    language: i.language,
    displayName: i.displayName,
    url: i.kind === 'video_link' ? i.url : null,
    video: i.kind === 'video' ? video : null,
  };
}

function videoLine(j: MediaJob | undefined): string {
  if (!j) return 'video attachment';
  const s = (x: number | null) => `${Math.round(x ?? 0)} s`;
  if (j.state === 'ready') return `video ready, ${s(j.seconds)}${j.trimmed ? ` (trimmed from ${s(j.originalSeconds)})` : ''}`;
  if (j.state === 'rejected' || j.state === 'failed') return `video ${j.state}: ${j.reason ?? ''}`;
  return `video ${j.state}${j.attempts ? ` (attempt ${j.attempts})` : ''}`;
}

export function renderItems(rows: ItemRow[], videos: Map<number, MediaJob> = new Map()): string {
  if (!rows.length) return 'no items';
  const lines = rows.map((i) => {
    const what = i.kind === 'message' ? (i.text ?? '') : i.kind === 'video_link' ? (i.url ?? '') : videoLine(videos.get(i.id));
    const story = i.story === null ? 'triage' : `story ${i.story}`;
    return `${String(i.id).padStart(6)}  ${cut(i.kind, 10)}  ${cut(story, 9)}  ${cut(i.linkMethod ?? '', 8)}  ${cut(i.status, 8)}  ${cut(what, 60)}`;
  });
  return [`${'id'.padStart(6)}  ${'kind'.padEnd(10)}  ${'story'.padEnd(9)}  ${'how'.padEnd(8)}  ${'status'.padEnd(8)}  content`, ...lines].join('\n');
}

export function eventJson(e: EventRow) {
  return { at: e.at.toISOString(), actor: e.actor, action: e.action, from: e.from, to: e.to, reason: e.reason };
}

export function renderHistory(itemId: number, rows: EventRow[]): string {
  if (!rows.length) return `item ${itemId}: no recorded changes`;
  return rows
    .map((e) => `${e.at.toISOString().slice(0, 19).replace('T', ' ')}  ${e.actor.padEnd(12)}  ${e.action.padEnd(8)}  ${JSON.stringify(e.from)} -> ${JSON.stringify(e.to)}${e.reason ? `  (${e.reason})` : ''}`)
    .join('\n');
}
