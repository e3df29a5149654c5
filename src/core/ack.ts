// The acknowledgement: whether one goes out, to whom, and what it says (SPEC: "Never a duplicate
// acknowledgement, never a loop", "Privacy"; RELIABILITY G and H). Pure: the pipeline hands in the message's
// facts and the counts it read from the outbox, and stores what comes back.
//
// What the supporter gets is built only from our own words and the campaign's data (story number and title,
// hashtag). Nothing the sender wrote appears in it: not their subject, name, text, attachment names or any other
// address, so a hostile message cannot make us mail its words to anyone, and nobody learns who else was copied.
import type { Language } from './text.ts';

export type AckLanguage = Language;

/** What the decision needs to know of a message. */
export interface AckSubject {
  classification: string | null;
  /** Set by classification when no acknowledgement may be sent (auto-reply, list, no usable sender...). */
  ackBlock: string | null;
  /** Return-Path: null when absent, '' for the null sender or an unusable value. */
  envelopeSender: string | null;
  /** The decoded From address; null when none was accepted (an encoded-word that hides an address). */
  fromAddress: string | null;
}

export interface AckLimits {
  ackWindowDays: number;
  acksPerHour: number;
}

export type AckDecision = { action: 'queue'; to: string } | { action: 'suppress'; to: string | null; reason: string };

// RFC 5321 mailbox, restricted to what we are willing to write in an envelope: dot-atom local part (no quoted
// strings, no spaces, no CR/LF), a dotted domain of LDH labels (IDN domains arrive as punycode).
const LOCAL = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

export function isSendableAddress(a: string | null | undefined): a is string {
  if (!a || a.length > 254) return false;
  const at = a.lastIndexOf('@');
  if (at <= 0 || at === a.length - 1) return false;
  const local = a.slice(0, at);
  const labels = a.slice(at + 1).split('.');
  return local.length <= 64 && LOCAL.test(local) && labels.length >= 2 && labels.every((l) => LABEL.test(l));
}

/**
 * The one address an acknowledgement may go to: the envelope sender when the message has one, else its single
 * From address. Never Reply-To (it can name a third party), never To or Cc.
 */
export function ackRecipient(m: Pick<AckSubject, 'envelopeSender' | 'fromAddress'>): string | null {
  if (m.envelopeSender !== null) return isSendableAddress(m.envelopeSender) ? m.envelopeSender.toLowerCase() : null;
  return isSendableAddress(m.fromAddress) ? m.fromAddress.toLowerCase() : null;
}

/**
 * Queue or suppress, with the reason staff see. `previousToSender` counts acknowledgements to the same address
 * within the window (queued, sending, sent, uncertain or failed: anything that may have reached it or may bounce);
 * `lastHour` counts every acknowledgement created in the past hour.
 */
export function decideAck(
  m: AckSubject,
  counts: { previousToSender: number; lastHour: number },
  limits: AckLimits,
): AckDecision {
  const to = ackRecipient(m);
  if (m.classification !== 'submission') {
    const what = m.classification ?? 'not classified';
    return { action: 'suppress', to, reason: m.ackBlock && m.ackBlock !== what ? `${what}: ${m.ackBlock}` : what };
  }
  if (m.ackBlock) return { action: 'suppress', to, reason: m.ackBlock };
  if (!to) return { action: 'suppress', to: null, reason: 'no valid address to reply to' };
  if (counts.previousToSender > 0)
    return { action: 'suppress', to, reason: `sender already acknowledged within ${limits.ackWindowDays} days` };
  if (counts.lastHour >= limits.acksPerHour)
    return { action: 'suppress', to, reason: `hourly acknowledgement limit reached (${limits.acksPerHour})` };
  return { action: 'queue', to };
}

// --- content ----------------------------------------------------------------------------------------------------

export type VideoOutcome = 'received' | 'trimmed' | 'unusable' | 'link';

export interface AckContent {
  language: AckLanguage;
  /** The story the message was linked to, from the campaign file; null: the team will match it. */
  story: { number: number; title: string } | null;
  /** One entry per video attachment and video link, in message order. */
  videos: VideoOutcome[];
  /** The campaign's hashtag (campaign data, not the sender's). */
  hashtag: string;
  /** The longest video kept, in seconds (limits.videoSeconds). */
  videoSeconds: number;
}

export interface RenderedAck {
  subject: string;
  text: string;
  html: string;
}

interface Words {
  subject(story: number | null): string;
  thanks(hashtag: string): string;
  linked(n: number, title: string): string;
  unlinked: string;
  videosHeading: string;
  video(i: number, o: VideoOutcome, limit: string): string;
  limit(seconds: number): string;
  automatic: string;
  signature(hashtag: string): string;
}

const WORDS: Record<AckLanguage, Words> = {
  en: {
    subject: (n) => (n === null ? 'Thank you for your message' : `Thank you: story ${n}`),
    thanks: (h) => `Thank you for supporting the ${h} campaign.`,
    linked: (n, t) => `We have received your message for story ${n}: “${t}”.`,
    unlinked: 'We have received your message. Our team will match it to the right story.',
    videosHeading: 'Your videos:',
    video: (i, o, limit) =>
      ({
        received: `Video ${i}: received.`,
        trimmed: `Video ${i}: received and shortened to ${limit}, the longest we can use.`,
        unusable: `Video ${i}: unfortunately it could not be used.`,
        link: `Video link ${i}: received; our team will look at it.`,
      })[o],
    limit: (s) => (s % 60 === 0 ? `${s / 60} minute${s === 60 ? '' : 's'}` : `${s} seconds`),
    automatic: 'This is an automatic reply; there is no need to answer it.',
    signature: (h) => `The ${h} campaign team`,
  },
  ru: {
    subject: (n) => (n === null ? 'Спасибо за ваше письмо' : `Спасибо: история ${n}`),
    thanks: (h) => `Спасибо, что поддержали кампанию ${h}.`,
    linked: (n, t) => `Мы получили ваше письмо к истории ${n}: «${t}».`,
    unlinked: 'Мы получили ваше письмо. Наша команда отнесёт его к нужной истории.',
    videosHeading: 'Ваши видео:',
    video: (i, o, limit) =>
      ({
        received: `Видео ${i}: получено.`,
        trimmed: `Видео ${i}: получено и сокращено до ${limit}: это наибольшая длина, которую мы можем использовать.`,
        unusable: `Видео ${i}: к сожалению, его не удалось использовать.`,
        link: `Ссылка на видео ${i}: получена, наша команда её посмотрит.`,
      })[o],
    // After "до": genitive. 1 минуты, 2-4 минут(ы)... "до N минут" reads right for every N but 1 (and 21, 31...).
    limit: (s) => (s % 60 === 0 ? `${s / 60} ${(s / 60) % 10 === 1 && (s / 60) % 100 !== 11 ? 'минуты' : 'минут'}` : `${s} секунд`),
    automatic: 'Это автоматический ответ, отвечать на него не нужно.',
    signature: (h) => `Команда кампании ${h}`,
  },
  tg: {
    subject: (n) => (n === null ? 'Ташаккур барои номаи шумо' : `Ташаккур: қиссаи ${n}`),
    thanks: (h) => `Ташаккур, ки маъракаи ${h}-ро дастгирӣ кардед.`,
    linked: (n, t) => `Мо номаи шуморо барои қиссаи ${n} гирифтем: «${t}».`,
    unlinked: 'Мо номаи шуморо гирифтем. Гурӯҳи мо онро ба қиссаи дахлдор пайваст мекунад.',
    videosHeading: 'Видеоҳои шумо:',
    video: (i, o, limit) =>
      ({
        received: `Видеои ${i}: гирифта шуд.`,
        trimmed: `Видеои ${i}: гирифта шуд ва то ${limit} кӯтоҳ карда шуд: ин дарозии ҳадди аксарест, ки мо истифода бурда метавонем.`,
        unusable: `Видеои ${i}: мутаассифона, онро истифода бурда натавонистем.`,
        link: `Пайванди видеои ${i}: гирифта шуд, гурӯҳи мо онро тамошо мекунад.`,
      })[o],
    limit: (s) => (s % 60 === 0 ? `${s / 60} дақиқа` : `${s} сония`),
    automatic: 'Ин ҷавоби худкор аст, ба он ҷавоб додан лозим нест.',
    signature: (h) => `Гурӯҳи маъракаи ${h}`,
  },
};

const SUBJECT_MAX = 120;

/** One line, no control characters, capped: a header can never be split, whatever goes into it. */
export function safeSubject(s: string): string {
  // eslint-disable-next-line no-control-regex
  const line = s.replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' ').replace(/\s+/g, ' ').trim();
  return line.length > SUBJECT_MAX ? line.slice(0, SUBJECT_MAX - 1) + '…' : line;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Campaign titles are ours, but still one line each: a title cannot add lines or markup to the mail. */
const oneLine = (s: string) => safeSubject(s);

export function renderAck(c: AckContent): RenderedAck {
  const w = WORDS[c.language];
  const hashtag = oneLine(c.hashtag);
  const limit = w.limit(c.videoSeconds);
  const opening = [w.thanks(hashtag), c.story ? w.linked(c.story.number, oneLine(c.story.title)) : w.unlinked];
  const videos = c.videos.map((o, i) => w.video(i + 1, o, limit));
  const closing = [w.automatic, w.signature(hashtag)];

  const text = [
    opening.join('\n'),
    ...(videos.length ? [[w.videosHeading, ...videos.map((v) => `- ${v}`)].join('\n')] : []),
    closing.join('\n'),
  ].join('\n\n');

  const p = (lines: string[]) => `<p>${lines.map(escapeHtml).join('<br>\n')}</p>`;
  const html = [
    '<!DOCTYPE html>',
    `<html lang="${c.language}"><head><meta charset="utf-8"><title>${escapeHtml(w.subject(c.story?.number ?? null))}</title></head><body>`,
    p(opening),
    ...(videos.length
      ? [`<p>${escapeHtml(w.videosHeading)}</p>`, `<ul>\n${videos.map((v) => `<li>${escapeHtml(v)}</li>`).join('\n')}\n</ul>`]
      : []),
    p(closing),
    '</body></html>',
  ].join('\n');

  return { subject: safeSubject(w.subject(c.story?.number ?? null)), text: text + '\n', html: html + '\n' };
}

/**
 * A Message-ID we are willing to copy into In-Reply-To/References, as `<...>`: printable ASCII, no spaces, no
 * CR/LF, no brackets inside. The stored id may come with or without its brackets (messages.rfc_message_id has none).
 */
export function validMessageId(id: string | null | undefined): string | null {
  if (!id) return null;
  const t = id.trim();
  const inner = t.startsWith('<') && t.endsWith('>') ? t.slice(1, -1) : t;
  return /^[\x21-\x3b\x3d\x3f-\x7e]{1,250}$/.test(inner) ? `<${inner}>` : null;
}

/** The loop-breaking headers every acknowledgement carries (RFC 3834), and the thread headers when safe. */
export function ackHeaders(originalMessageId: string | null): Record<string, string> {
  const h: Record<string, string> = {
    'Auto-Submitted': 'auto-replied',
    'X-Auto-Response-Suppress': 'All',
    Precedence: 'bulk',
  };
  const id = validMessageId(originalMessageId);
  if (id) {
    h['In-Reply-To'] = id;
    h['References'] = id;
  }
  return h;
}

/** The language to answer in: the detected one when we know it, else the campaign's fallback. */
export function ackLanguage(detected: string | null | undefined, fallback: AckLanguage): AckLanguage {
  return detected === 'tg' || detected === 'ru' || detected === 'en' ? detected : fallback;
}

/** One video item's outcome, from its media job (null: no job yet, or still running: we have it). */
export function videoOutcome(
  kind: 'video' | 'video_link',
  job: { state: string; trimmed: boolean | null } | null,
): VideoOutcome {
  if (kind === 'video_link') return 'link';
  if (!job) return 'received';
  if (job.state === 'rejected' || job.state === 'failed') return 'unusable';
  if (job.state === 'ready' && job.trimmed) return 'trimmed';
  return 'received';
}

/** Media job states after which the job will not change again. */
export const ENDED_MEDIA_STATES = ['ready', 'rejected', 'failed'] as const;
