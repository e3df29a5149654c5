// The digests as pure functions: when one is due (of the clock's time, the campaign's time zone and hour, and
// what was already sent), and what it says, as HTML (inline styles, a single narrow column for phones) with a
// plain-text alternative. No addresses: excerpts are redacted, names come from sign-offs or staff.
import { Html, html } from './html.ts';
import { excerpt, redactAddresses } from './privacy.ts';
import {
  countsLine,
  countsOf,
  duration,
  entryHtml,
  entryText,
  plural,
  shown,
  supporterName,
  type StoryCompilation,
} from './compilation.ts';

// ---------------------------------------------------------------------------------------------------------
// Time

const formats = new Map<string, Intl.DateTimeFormat>();

function wallClock(at: Date, timeZone: string) {
  let f = formats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formats.set(timeZone, f);
  }
  const p = Object.fromEntries(f.formatToParts(at).map((x) => [x.type, x.value]));
  return { y: Number(p.year), m: Number(p.month), d: Number(p.day), h: Number(p.hour), min: Number(p.minute) };
}

/** The local calendar day (YYYY-MM-DD) in the time zone. */
export function localDay(at: Date, timeZone: string): string {
  const w = wallClock(at, timeZone);
  return `${w.y}-${String(w.m).padStart(2, '0')}-${String(w.d).padStart(2, '0')}`;
}

export function addDays(day: string, n: number): string {
  const [y, m, d] = day.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

/** The instant at which clocks in the time zone show `day` at `hour`:00. */
export function zonedInstant(day: string, hour: number, timeZone: string): Date {
  const [y, m, d] = day.split('-').map(Number);
  const want = Date.UTC(y, m - 1, d, hour);
  let t = want;
  // Two corrections settle any offset, DST edges included.
  for (let i = 0; i < 2; i++) {
    const w = wallClock(new Date(t), timeZone);
    t += want - Date.UTC(w.y, w.m - 1, w.d, w.h, w.min);
  }
  return new Date(t);
}

/** The latest local day whose digest hour has come as of `now`. */
export function latestDigestDay(now: Date, timeZone: string, digestHour: number): string {
  const w = wallClock(now, timeZone);
  const today = localDay(now, timeZone);
  return w.h >= digestHour ? today : addDays(today, -1);
}

/**
 * Which day's daily digest to send now, if any. Only the latest day whose hour has passed: after downtime the
 * one digest sent covers everything since the previous one (its window is by id, not by day), so staff get one
 * message, not a pile of stale ones. `lastSent` is the latest day already sent: a clock that jumps back finds
 * that day ahead of it and sends nothing.
 */
export function dueDaily(o: {
  now: Date;
  timeZone: string;
  digestHour: number;
  startDate: string;
  lastSent: string | null;
}): string | null {
  const day = latestDigestDay(o.now, o.timeZone, o.digestHour);
  if (day < o.startDate) return null;
  if (o.lastSent !== null && o.lastSent >= day) return null;
  return day;
}

/** The final digest: once, from the final day's digest hour on (late, once, when the daemon was down then). */
export function dueFinal(o: { now: Date; timeZone: string; digestHour: number; finalDate: string; sent: boolean }): boolean {
  return !o.sent && latestDigestDay(o.now, o.timeZone, o.digestHour) >= o.finalDate;
}

// ---------------------------------------------------------------------------------------------------------
// Daily digest

export interface DigestItem {
  id: number;
  kind: 'message' | 'video' | 'video_link';
  story: number | null;
  status: 'pending' | 'approved' | 'rejected';
  displayName: string | null;
  language: string | null;
  text: string | null;
  url: string | null;
  video: { state: string; seconds: number | null; trimmed: boolean | null; reason: string | null } | null;
}

export interface DailyDigestData {
  campaign: { name: string; hashtag: string; timezone: string };
  day: string;
  stories: Array<{ number: number; title: string }>;
  /** Items not in any earlier digest. */
  newItems: DigestItem[];
  /** Every item by story (null: triage) and review status. */
  totals: Array<{ story: number | null; pending: number; approved: number; rejected: number }>;
  /** Every item still waiting for a story. */
  triage: DigestItem[];
  videoProblems: Array<{ itemId: number; story: number | null; state: string; reason: string | null }>;
  ackProblems: Array<{ outboxId: number; messageId: number | null; state: string; error: string | null }>;
  quarantined: Array<{ messageId: number; receivedAt: Date; reason: string | null }>;
}

export interface Rendered {
  subject: string;
  html: string;
  text: string;
}

const FONT = "-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,'Noto Sans',Arial,sans-serif";
const D = {
  body: `margin:0;padding:0;background:#f2f2f2;color:#222;font-family:${FONT}`,
  wrap: 'max-width:640px;margin:0 auto;padding:16px;background:#fff;font-size:16px;line-height:1.45',
  h1: 'font-size:22px;margin:0 0 4px',
  h2: 'font-size:18px;margin:24px 0 8px;padding-bottom:4px;border-bottom:2px solid #ddd',
  h3: 'font-size:16px;margin:16px 0 6px',
  muted: 'color:#666;margin:0 0 12px',
  table: 'border-collapse:collapse;width:100%;font-size:14px',
  th: 'text-align:left;padding:6px 4px;border-bottom:1px solid #ccc',
  td: 'padding:6px 4px;border-bottom:1px solid #eee;vertical-align:top',
  num: 'padding:6px 4px;border-bottom:1px solid #eee;text-align:right',
  ul: 'margin:0;padding:0 0 0 18px',
  li: 'margin:0 0 10px',
  tag: 'display:inline-block;padding:0 6px;border-radius:3px;background:#eee;font-size:13px;color:#444',
};

function storyTitle(d: DailyDigestData, n: number | null): string {
  if (n === null) return 'Triage (no story yet)';
  return d.stories.find((s) => s.number === n)?.title ?? `Story ${n}`;
}

function itemSummary(i: DigestItem): { label: string; body: string } {
  const name = supporterName(i.displayName, i.language);
  if (i.kind === 'message') return { label: `#${i.id} message from ${name}`, body: excerpt(i.text ?? '') };
  if (i.kind === 'video_link') return { label: `#${i.id} video link from ${name}`, body: redactAddresses(i.url ?? '') };
  const v = i.video;
  const state = !v
    ? 'waiting for processing'
    : v.state === 'ready'
      ? `ready, ${duration(v.seconds)}${v.trimmed ? ' (trimmed)' : ''}`
      : `${v.state}${v.reason ? `: ${redactAddresses(v.reason)}` : ''}`;
  return { label: `#${i.id} video from ${name}`, body: state };
}

function itemLi(i: DigestItem, s: { label: string; body: string }): Html {
  return html`<li style="${D.li}"><strong>${s.label}</strong> <span style="${D.tag}">${i.status}</span><br>${s.body}</li>`;
}

function section(title: string, count: number, body: Html | null, empty: string): Html {
  return html`<h2 style="${D.h2}">${title} (${count})</h2>${count ? body : html`<p style="${D.muted}">${empty}</p>`}`;
}

/** Stories in campaign order, then triage; only groups that have items. */
function byStory(d: DailyDigestData, list: DigestItem[]): Array<{ story: number | null; items: DigestItem[] }> {
  const keys: Array<number | null> = [...d.stories.map((s) => s.number), null];
  const known = new Set(keys);
  for (const i of list) if (!known.has(i.story)) (keys.push(i.story), known.add(i.story));
  return keys.map((story) => ({ story, items: list.filter((i) => i.story === story) })).filter((g) => g.items.length);
}

export function renderDailyDigest(d: DailyDigestData): Rendered {
  // Each item is summarised once, for the HTML and the text alike (an excerpt per message).
  const summaries = new Map<DigestItem, { label: string; body: string }>();
  const summary = (i: DigestItem) => {
    let s = summaries.get(i);
    if (!s) summaries.set(i, (s = itemSummary(i)));
    return s;
  };
  const li = (i: DigestItem) => itemLi(i, summary(i));
  const newCount = d.newItems.length;
  const subject = `${d.campaign.hashtag} daily digest ${d.day}: ${plural(newCount, 'new item')}, ${d.triage.length} in triage`;
  const all = d.totals.reduce((a, t) => a + t.pending + t.approved + t.rejected, 0);
  const groups = byStory(d, d.newItems);
  const totalsRows = d.totals
    .slice()
    .sort((a, b) => (a.story ?? Infinity) - (b.story ?? Infinity))
    .map((t) => {
      const fresh = d.newItems.filter((i) => i.story === t.story).length;
      return html`<tr><td style="${D.td}">${storyTitle(d, t.story)}</td><td style="${D.num}">${fresh}</td><td style="${D.num}">${t.pending}</td><td style="${D.num}">${t.approved}</td><td style="${D.num}">${t.rejected}</td></tr>`;
    });

  const body = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${subject}</title></head>
<body style="${D.body}"><div style="${D.wrap}">
<h1 style="${D.h1}">${d.campaign.name}</h1>
<p style="${D.muted}">Daily digest for ${d.day} (${d.campaign.timezone}): <strong class="count-new">${newCount}</strong> new since the last digest, <strong class="count-all">${all}</strong> in all.</p>
<h2 style="${D.h2}">Totals by story</h2>
<table style="${D.table}" role="presentation"><thead><tr><th style="${D.th}">Story</th><th style="${D.th}">New</th><th style="${D.th}">Pending</th><th style="${D.th}">Approved</th><th style="${D.th}">Rejected</th></tr></thead>
<tbody>${totalsRows.length ? totalsRows : html`<tr><td style="${D.td}" colspan="5">Nothing has arrived yet.</td></tr>`}</tbody></table>
${section(
  'New items',
  newCount,
  html`${groups.map((g) => html`<h3 style="${D.h3}">${storyTitle(d, g.story)} (${g.items.length} new)</h3><ul style="${D.ul}">${g.items.map(li)}</ul>`)}`,
  'Nothing new since the last digest.',
)}
${section('Triage queue: items waiting for a story', d.triage.length, html`<p style="${D.muted}">Link each with <code>intake assign &lt;item&gt; &lt;story&gt;</code>.</p><ul style="${D.ul}">${d.triage.map(li)}</ul>`, 'Empty.')}
${section(
  'Videos rejected or failed',
  d.videoProblems.length,
  html`<ul style="${D.ul}">${d.videoProblems.map((v) => html`<li style="${D.li}"><strong>#${v.itemId}</strong> (${storyTitle(d, v.story)}): ${v.state}${v.reason ? html` — ${redactAddresses(v.reason)}` : ''}</li>`)}</ul>`,
  'None since the last digest.',
)}
${section(
  'Acknowledgements failed or uncertain',
  d.ackProblems.length,
  html`<p style="${D.muted}">Uncertain means the mail may have gone out: it is not resent automatically.</p><ul style="${D.ul}">${d.ackProblems.map((a) => html`<li style="${D.li}"><strong>outbox #${a.outboxId}</strong> (message ${a.messageId ?? '?'}): ${a.state}${a.error ? html` — ${redactAddresses(a.error)}` : ''}</li>`)}</ul>`,
  'None since the last digest.',
)}
${section(
  'Quarantined messages',
  d.quarantined.length,
  html`<ul style="${D.ul}">${d.quarantined.map((q) => html`<li style="${D.li}"><strong>message ${q.messageId}</strong>, received ${q.receivedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC: ${redactAddresses(q.reason ?? 'no reason recorded')}</li>`)}</ul>`,
  'None since the last digest.',
)}
<p style="${D.muted};margin-top:24px;font-size:13px">Sent by campaign-intake. <code>intake items --status pending</code> lists what waits for review.</p>
</div></body></html>
`;

  const t: string[] = [];
  t.push(d.campaign.name, `Daily digest for ${d.day} (${d.campaign.timezone}): ${newCount} new since the last digest, ${all} in all.`, '');
  t.push('TOTALS BY STORY (new / pending / approved / rejected)');
  for (const r of d.totals.slice().sort((a, b) => (a.story ?? Infinity) - (b.story ?? Infinity)))
    t.push(`  ${storyTitle(d, r.story)}: ${d.newItems.filter((i) => i.story === r.story).length} / ${r.pending} / ${r.approved} / ${r.rejected}`);
  if (!d.totals.length) t.push('  Nothing has arrived yet.');
  const textItem = (i: DigestItem) => {
    const s = summary(i);
    return `  - ${s.label} [${i.status}]\n    ${s.body}`;
  };
  t.push('', `NEW ITEMS (${newCount})`);
  for (const g of groups) t.push(`${storyTitle(d, g.story)} (${g.items.length} new)`, ...g.items.map(textItem));
  if (!newCount) t.push('  Nothing new since the last digest.');
  t.push('', `TRIAGE QUEUE (${d.triage.length}): link each with intake assign <item> <story>`, ...d.triage.map(textItem));
  t.push('', `VIDEOS REJECTED OR FAILED (${d.videoProblems.length})`);
  for (const v of d.videoProblems) t.push(`  - #${v.itemId} (${storyTitle(d, v.story)}): ${v.state}${v.reason ? ` — ${redactAddresses(v.reason)}` : ''}`);
  t.push('', `ACKNOWLEDGEMENTS FAILED OR UNCERTAIN (${d.ackProblems.length})`);
  for (const a of d.ackProblems) t.push(`  - outbox #${a.outboxId} (message ${a.messageId ?? '?'}): ${a.state}${a.error ? ` — ${redactAddresses(a.error)}` : ''}`);
  t.push('', `QUARANTINED MESSAGES (${d.quarantined.length})`);
  for (const q of d.quarantined) t.push(`  - message ${q.messageId}: ${redactAddresses(q.reason ?? 'no reason recorded')}`);
  return { subject, html: body.value, text: t.join('\n') + '\n' };
}

// ---------------------------------------------------------------------------------------------------------
// Final digest and the families' compilations

const PRINT_CSS = `@media print{body{background:#fff!important}.wrap{max-width:none!important;padding:0!important}.story{break-before:page;page-break-before:always}.story:first-of-type{break-before:auto;page-break-before:auto}video{display:none!important}a{color:#000}}@media screen{.print-only{display:none}}`;

function compilationSection(c: StoryCompilation, mode: 'files' | 'mail'): Html {
  const entries = shown(c.entries);
  const counts = countsOf(entries);
  return html`<section class="story" id="story-${c.number}">
<h2 style="font-size:22px;margin:24px 0 4px">${c.title}</h2>
<p class="counts" style="${D.muted}">${countsLine(counts)}</p>
${entries.length ? entries.map((e) => entryHtml(e, mode)) : html`<p style="${D.muted}">No approved messages yet.</p>`}
</section>`;
}

function compilationText(c: StoryCompilation, mode: 'files' | 'mail'): string {
  const entries = shown(c.entries);
  const head = `${c.title}\n${'='.repeat(Math.min(60, c.title.length))}\n${countsLine(countsOf(entries))}\n`;
  if (!entries.length) return head + '\nNo approved messages yet.\n';
  return head + '\n' + entries.map((e) => entryText(e, mode)).join('\n\n') + '\n';
}

function page(title: string, intro: Html, sections: Html[]): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${title}</title><style>${new Html(PRINT_CSS)}</style></head>
<body style="${D.body}"><div class="wrap" style="${D.wrap}">
<h1 style="${D.h1}">${title}</h1>
${intro}
${sections}
</div></body></html>
`.value;
}

/** One story's compilation as the family receives it (and as `--preview DIR` writes it). */
export function renderCompilation(campaign: { name: string; hashtag: string }, c: StoryCompilation, mode: 'files' | 'mail'): Rendered {
  const counts = countsOf(shown(c.entries));
  const subject = `${campaign.name}: words of support for ${c.title}`;
  const intro = html`<p style="${D.muted}">During the campaign ${campaign.hashtag}, people wrote to support ${c.victim ?? c.title} and the family. Here is every message (${countsLine(counts)}).</p>`;
  return {
    subject,
    html: page(subject, intro, [compilationSection(c, mode)]),
    text: `${subject}\n\nDuring the campaign ${campaign.hashtag}, people wrote to support ${c.victim ?? c.title} and the family.\n\n${compilationText(c, mode)}`,
  };
}

/** The staff's final digest: every story's compilation in one document, a story per printed page. */
export function renderFinalDigest(campaign: { name: string; hashtag: string }, all: StoryCompilation[]): Rendered {
  const total = countsOf(all.flatMap((c) => shown(c.entries)));
  const subject = `${campaign.hashtag} final digest: ${countsLine(total)} for ${plural(all.length, 'story', 'stories')}`;
  const intro = html`<p style="${D.muted}">The approved contributions of the campaign, story by story: ${countsLine(total)}. Families receive their story's part only when staff send it (<code>intake digest final --send --family</code>).</p>`;
  return {
    subject,
    html: page(`${campaign.name}: final digest`, intro, all.map((c) => compilationSection(c, 'mail'))),
    text: `${campaign.name}: final digest\n${countsLine(total)}\n\n` + all.map((c) => compilationText(c, 'mail')).join('\n\n'),
  };
}
