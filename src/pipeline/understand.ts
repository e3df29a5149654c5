// Stage 3: understand each parsed message: classify it, and for a submission extract its items and link them
// to a story. Decisions come from the pure core; this file only loads facts and stores results, in one
// transaction per chunk of messages, so a replay changes nothing (items are unique per message and key).
import type { IngestDeps } from './ingest.ts';
import { insertItemsOf, loadFactsOf, pendingUnderstanding, recordEvents, setClassifications, type NewItem } from '../db/items.ts';
import { saveParsed, type Classified, type Tx } from '../db/messages.ts';
import type { ParsedMessage } from '../adapters/mime.ts';
import { enqueueVideos } from '../db/media.ts';
import { classify } from '../core/classify.ts';
import { extractItems } from '../core/items.ts';
import { detectLanguage, signOff, splitReply } from '../core/text.ts';
import { linkStory, type LinkResult } from '../core/link.ts';
import { headerValues, type MessageFacts } from '../core/facts.ts';
import type { Campaign } from '../config.ts';

/** Below this, a link is not trusted: the item goes to triage. */
export const MIN_LINK_CONFIDENCE = 0.6;

function ownContext(c: Campaign) {
  const own = [...c.addresses, c.ackFrom].map((a) => a.toLowerCase());
  return { ownAddresses: own, ownDomains: [...new Set(own.map((a) => a.split('@')[1]))] };
}

function recipientsOf(f: MessageFacts): string[] {
  const list = [...f.to, ...f.cc].map((a) => a.address).filter((a): a is string => Boolean(a));
  for (const h of [...headerValues(f, 'delivered-to'), ...headerValues(f, 'x-original-to')])
    for (const m of h.matchAll(/[^\s<>,;"]+@[^\s<>,;"]+/g)) list.push(m[0].toLowerCase());
  return [...new Set(list)];
}

/** The pure decision for one message: classification, and items with their links. */
export function understand(f: MessageFacts, campaign: Campaign) {
  const c = classify(f, ownContext(campaign));
  if (c.classification !== 'submission') return { classification: c, items: [] as NewItem[] };
  const split = splitReply(f.text ?? '');
  const body = split.body.trim();
  const displayName = signOff(body);
  let link: LinkResult = linkStory(
    { recipients: recipientsOf(f), inReplyTo: f.inReplyTo, references: f.references, subject: f.subject, body, signOff: displayName },
    campaign,
  );
  if (link.story !== null && link.confidence < MIN_LINK_CONFIDENCE)
    link = { ...link, story: null, method: null, reason: `not sure enough (${link.reason})` };
  const language = detectLanguage([f.subject ?? '', body].join('\n'));
  const items: NewItem[] = extractItems(f, body).map((d) => ({
    key: d.key,
    kind: d.kind,
    text: d.kind === 'message' ? d.text : null,
    quoted: d.kind === 'message' ? split.quoted : null,
    signature: d.kind === 'message' ? split.signature : null,
    language: d.kind === 'message' ? language : null,
    url: d.url ?? null,
    attachmentId: d.attachmentId ?? null,
    story: link.story,
    linkMethod: link.story === null ? null : link.method,
    linkConfidence: link.confidence,
    linkReason: link.reason,
    displayName: d.kind === 'message' ? displayName : null,
  }));
  return { classification: c, items };
}

type Decision = ReturnType<typeof understand>;
type Decided = Array<{ id: number; d: Decision }>;

/** Stores the decisions of several messages: classifications, then what saveItemsOf stores. */
async function saveUnderstanding(tx: Tx, list: Decided, now: Date): Promise<void> {
  await setClassifications(tx, [...classificationsOf(list)].map(([id, c]) => ({ id, ...c })), now);
  await saveItemsOf(tx, list, now);
}

function classificationsOf(list: Decided): Map<number, Classified> {
  return new Map(list.map(({ id, d: { classification: c } }) => [id, { classification: c.classification, reason: c.reason, ackBlock: c.ackBlock }]));
}

/** New items with their media jobs and link events. */
async function saveItemsOf(tx: Tx, list: Decided, now: Date): Promise<void> {
  const created = await insertItemsOf(tx, list.flatMap(({ id, d }) => d.items.map((item) => ({ messageId: id, item }))));
  // A video's media job is born with its item: nothing waits for it, and no video item is ever without one.
  const videos = created.flatMap(({ id: itemId, item: it }) =>
    it.kind === 'video' ? [{ itemId, attachmentId: it.attachmentId ?? null }] : [],
  );
  await enqueueVideos(tx, videos);
  await recordEvents(
    tx,
    created.map(({ id: itemId, item: it }) => ({
      itemId,
      actor: 'intake',
      action: 'link',
      to: { story: it.story, method: it.linkMethod, confidence: it.linkConfidence, reason: it.linkReason },
      at: now,
    })),
  );
}

/**
 * Saves parsed messages and understands them in the same transaction, from the facts saveParsed writes:
 * nothing is read back, the classification goes into the UPDATE that writes the parse, and the understand
 * stage finds them done. Returns the decisions, to log once committed.
 */
export async function saveParsedUnderstood(deps: IngestDeps, tx: Tx, list: Array<{ id: number; parsed: ParsedMessage }>, now: Date) {
  let decided: Decided = [];
  await saveParsed(
    tx,
    list,
    (facts) => classificationsOf((decided = [...facts].map(([id, f]) => ({ id, d: understand(f, deps.campaign) })))),
    now,
  );
  await saveItemsOf(tx, decided, now);
  return decided;
}

export function logUnderstood(deps: IngestDeps, decided: Decided): void {
  for (const { id, d } of decided)
    deps.log.debug({ id, classification: d.classification.classification, items: d.items.length }, 'message understood');
}

export async function understandOne(deps: IngestDeps, id: number): Promise<void> {
  await understandMany(deps, [id]);
}

/** Loads the facts of several messages at once, decides each, and stores them all in one transaction. */
async function understandMany(deps: IngestDeps, ids: number[]): Promise<void> {
  const facts = await loadFactsOf(deps.db.orm, ids);
  const now = deps.clock?.now() ?? new Date();
  const decided = ids.flatMap((id) => {
    const f = facts.get(id);
    return f ? [{ id, d: understand(f, deps.campaign) }] : [];
  });
  if (!decided.length) return;
  try {
    await deps.db.orm.transaction((tx) => saveUnderstanding(tx, decided, now));
  } catch (err) {
    if (decided.length === 1) throw err;
    // One message the database refuses must not hold back the others of its chunk: each on its own.
    let first: unknown = null;
    for (const { id, d } of decided)
      await deps.db.orm.transaction((tx) => saveUnderstanding(tx, [{ id, d }], now)).catch((e) => void (first ??= e));
    if (first) throw first;
  }
  logUnderstood(deps, decided);
}

/** Messages understood per transaction. */
const UNDERSTAND_CHUNK = 100;

export async function understandPending(deps: IngestDeps, opts: { signal?: AbortSignal } = {}) {
  let n = 0;
  let afterId = 0;
  for (;;) {
    if (opts.signal?.aborted) break;
    const batch = await pendingUnderstanding(deps.db.orm, 200, afterId);
    if (!batch.length) break;
    for (let i = 0; i < batch.length && !opts.signal?.aborted; i += UNDERSTAND_CHUNK) {
      const ids = batch.slice(i, i + UNDERSTAND_CHUNK).map((b) => b.id);
      await understandMany(deps, ids);
      afterId = ids[ids.length - 1];
      n += ids.length;
    }
  }
  return n;
}
