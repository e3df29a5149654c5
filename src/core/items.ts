// What a submission brings, as items: its text, each video attachment, each video link. Pure.
import type { MessageFacts } from './facts.ts';
import type { ItemKind } from '../db/schema.ts';

export interface ItemDraft {
  key: string;
  kind: ItemKind;
  text?: string;
  url?: string;
  attachmentId?: number;
}

const VIDEO_EXT = /\.(mp4|m4v|mov|qt|3gp|3g2|webm|mkv|avi|wmv|mpe?g|ts|mts|flv|ogv|hevc)$/i;

export function isVideoAttachment(a: { contentType: string; filename: string | null }): boolean {
  if (a.contentType.startsWith('video/')) return true;
  // Phones and webmail often send videos as application/octet-stream: trust the extension there only.
  return /^application\/(octet-stream|x-octet-stream|binary)$/.test(a.contentType) && VIDEO_EXT.test(a.filename ?? '');
}

/** Hosts where supporters put videos too large to attach. */
const VIDEO_HOSTS: Array<[RegExp, string]> = [
  [/^(www\.)?(drive|docs)\.google\.com$/, 'Google Drive'],
  [/^(www\.|m\.)?youtube\.com$|^youtu\.be$/, 'YouTube'],
  [/^(www\.)?dropbox\.com$|^db\.tt$/, 'Dropbox'],
  [/^(www\.)?wetransfer\.com$|^we\.tl$/, 'WeTransfer'],
  [/^t\.me$|^telegram\.me$/, 'Telegram'],
  [/^(www\.)?icloud\.com$|^share\.icloud\.com$/, 'iCloud'],
  [/^1drv\.ms$|^onedrive\.live\.com$/, 'OneDrive'],
  [/^(www\.|player\.)?vimeo\.com$/, 'Vimeo'],
  [/^(www\.)?instagram\.com$/, 'Instagram'],
  [/^(www\.|m\.)?facebook\.com$|^fb\.watch$/, 'Facebook'],
  [/^(www\.|vm\.)?tiktok\.com$/, 'TikTok'],
  [/^cloud\.mail\.ru$/, 'Mail.ru Cloud'],
  [/^disk\.yandex\.(ru|com|tj)$|^yadi\.sk$/, 'Yandex Disk'],
];

export function videoHost(url: string): string | null {
  try {
    const u = new URL(url);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return null;
    const host = u.hostname.toLowerCase();
    return VIDEO_HOSTS.find(([re]) => re.test(host))?.[1] ?? null;
  } catch {
    return null;
  }
}

const URL_RE = /\bhttps?:\/\/[^\s<>"'()\[\]{}]+/gi;

/** Video links in text and in the href attributes of HTML; never fetched, only recorded. */
export function findVideoLinks(text: string | null, html: string | null): string[] {
  const found = new Set<string>();
  const sources = [text ?? '', (html ?? '').replace(/&amp;/g, '&')];
  for (const s of sources)
    for (const m of s.matchAll(URL_RE)) {
      const url = m[0].replace(/[.,;:!?»”’)]+$/, '');
      if (videoHost(url)) found.add(url.slice(0, 2000));
    }
  return [...found];
}

export function extractItems(m: Pick<MessageFacts, 'text' | 'html' | 'attachments'>, body: string): ItemDraft[] {
  const out: ItemDraft[] = [];
  if (body.trim()) out.push({ key: 'text', kind: 'message', text: body });
  for (const a of m.attachments) if (isVideoAttachment(a)) out.push({ key: `att:${a.id}`, kind: 'video', attachmentId: a.id });
  for (const url of findVideoLinks(m.text, m.html)) out.push({ key: `url:${url}`, kind: 'video_link', url });
  return out;
}
