// A story's compilation: its approved items as supporters will read them, shared by the final digest, the
// families' copies and the website's story pages. Pure: the pipeline loads the rows and resolves file paths.
import { html, safeUrl, type Html } from './html.ts';
import { redactAddresses } from './privacy.ts';
import { signOff, type Language } from './text.ts';

/** "a supporter" in the language of the message it stands under. */
export const ANONYMOUS: Record<Language, string> = {
  en: 'a supporter',
  ru: 'один из сторонников',
  tg: 'яке аз ҷонибдорон',
};

const isLanguage = (l: string | null | undefined): l is Language => l === 'en' || l === 'ru' || l === 'tg';

/**
 * The name shown under a contribution: the one staff set or the supporter signed with; "a supporter" when there is
 * none, when staff cleared it (''), or when it could be an address.
 */
export function supporterName(displayName: string | null | undefined, language: string | null | undefined): string {
  const n = (displayName ?? '').replace(/\s+/g, ' ').trim();
  // Any address has an @, so the test for one is the @ alone (no regex per item of a 10,000-item digest).
  if (!n || n.includes('@')) return ANONYMOUS[isLanguage(language) ? language : 'en'];
  return n;
}

/**
 * The text without its sign-off lines ("Nodira, Khujand", "Бо эҳтиром,\nФарзона"): the name is shown under the
 * text as staff set it, so a name staff changed or removed does not stay in the text above it.
 */
export function withoutSignOff(text: string): string {
  const name = signOff(text);
  const lines = text.replace(/\r\n?/g, '\n').trimEnd().split('\n');
  if (!name || lines.length < 2) return text.trim();
  const last = lines[lines.length - 1];
  const parts = name.split(/\s*,\s*/);
  if (!parts.every((p) => last.includes(p))) return text.trim();
  lines.pop();
  // A closing on its own line above the name ("Love,", "С уважением,").
  const above = lines[lines.length - 1]?.trim() ?? '';
  if (lines.length > 1 && above.length <= 40 && /[,—–-]$/.test(above)) lines.pop();
  return lines.join('\n').trim() || text.trim();
}

export interface Entry {
  itemId: number;
  kind: 'message' | 'video' | 'video_link';
  /** Already resolved with supporterName. */
  name: string;
  language: Language | null;
  text: string | null;
  url: string | null;
  /** Paths relative to the page (files) or null when the processed video is not ready. */
  video: { file: string; poster: string | null; seconds: number | null } | null;
  receivedAt: Date;
}

export interface StoryCompilation {
  number: number;
  title: string;
  victim: string | null;
  entries: Entry[];
}

export interface Counts {
  messages: number;
  videos: number;
  links: number;
}

export function countsOf(entries: Entry[]): Counts {
  return {
    messages: entries.filter((e) => e.kind === 'message').length,
    videos: entries.filter((e) => e.kind === 'video' && e.video).length,
    links: entries.filter((e) => e.kind === 'video_link').length,
  };
}

export function plural(n: number, one: string, many = one + 's'): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function countsLine(c: Counts): string {
  const parts = [plural(c.messages, 'message')];
  if (c.videos) parts.push(plural(c.videos, 'video'));
  if (c.links) parts.push(plural(c.links, 'video link'));
  return parts.join(', ');
}

export function duration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '';
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** How videos appear: as playable files next to the page, or (in mail, which cannot carry them) as a note. */
export type MediaMode = 'files' | 'mail';

const S = {
  entry: 'margin:0 0 18px;padding:12px 14px;border-left:4px solid #8a6d3b;background:#faf7f0;break-inside:avoid;page-break-inside:avoid',
  text: 'margin:0 0 8px;white-space:pre-wrap;font-size:17px;line-height:1.5',
  name: 'margin:0;color:#555;font-style:italic',
  video: 'display:block;width:100%;max-width:640px;height:auto;background:#000;margin:0 0 8px',
  note: 'margin:0 0 8px;color:#555',
};

export function entryHtml(e: Entry, mode: MediaMode): Html {
  const lang = e.language ?? undefined;
  const sign = html`<p class="name" style="${S.name}">— ${e.name}</p>`;
  if (e.kind === 'message')
    return html`<article class="entry message" id="item-${e.itemId}" lang="${lang ?? ''}" style="${S.entry}"><p class="text" style="${S.text}">${redactAddresses(withoutSignOff(e.text ?? ''))}</p>${sign}</article>`;
  if (e.kind === 'video_link') {
    const href = safeUrl(e.url ?? '#');
    return html`<article class="entry video-link" id="item-${e.itemId}" style="${S.entry}"><p style="${S.note}">Video link: <a href="${href}" rel="noopener noreferrer nofollow">${e.url ?? ''}</a></p>${sign}</article>`;
  }
  const v = e.video;
  if (!v) return html``;
  if (mode === 'mail')
    return html`<article class="entry video" id="item-${e.itemId}" style="${S.entry}"><p style="${S.note}">A video, ${duration(v.seconds)} (video files are shared separately)</p>${sign}</article>`;
  return html`<article class="entry video" id="item-${e.itemId}" style="${S.entry}"><video controls preload="metadata" playsinline src="${v.file}"${v.poster ? html` poster="${v.poster}"` : ''} style="${S.video}"></video><p class="print-only" style="${S.note}">Video, ${duration(v.seconds)}</p>${sign}</article>`;
}

export function entryText(e: Entry, mode: MediaMode): string {
  if (e.kind === 'message') return `${redactAddresses(withoutSignOff(e.text ?? ''))}\n  — ${e.name}`;
  if (e.kind === 'video_link') return `Video link: ${e.url}\n  — ${e.name}`;
  if (!e.video) return '';
  const where = mode === 'mail' ? ' (video files are shared separately)' : `: ${e.video.file}`;
  return `A video, ${duration(e.video.seconds)}${where}\n  — ${e.name}`;
}

/** Entries that can be shown: a video only once its processed file exists. */
export function shown(entries: Entry[]): Entry[] {
  return entries.filter((e) => e.kind !== 'video' || e.video);
}

/**
 * A display name staff give (`intake name`): one line, at most 80 characters, no address. null clears it to
 * "a supporter" (stored as '', which does not fall back to the sign-off of the message's text).
 */
export function checkDisplayName(input: string | null): { ok: true; name: string } | { ok: false; error: string } {
  if (input === null) return { ok: true, name: '' };
  const name = input.replace(/[\p{Cc}\p{Cf}]/gu, ' ').replace(/\s+/g, ' ').trim();
  if (!name) return { ok: false, error: 'the name is empty (use --anonymous for "a supporter")' };
  if (name.length > 80) return { ok: false, error: `the name is ${name.length} characters long; at most 80` };
  if (name.includes('@')) return { ok: false, error: 'a display name may not hold an email address' };
  return { ok: true, name };
}
