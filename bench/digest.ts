// The daily digest for 10,000 new items, rendered by src/core/digest.ts (renderDailyDigest: HTML + text), against
// a baseline that does the least any renderer of the same content must do: one pass over the items, grouped by
// story with a Map, every sender-controlled string escaped with one regex replace, the same fields written. What
// the ratio shows is the price of the escaping template, the excerpts, address redaction and the per-section
// structure. It matters because the digest is built on the daemon's one thread: while it renders, IMAP and
// the outbox wait.
import { performance } from 'node:perf_hooks';
import { renderDailyDigest, type DailyDigestData, type DigestItem } from '../src/core/digest.ts';
import type { BenchRow } from './row.ts';


const TEXTS = [
  'Мо ҳамроҳи Хуршед ҳастем. Озодӣ барои ҳама! Ин паёмро аз Хуҷанд мефиристем, бо умеди он ки садои моро мешунавед.',
  'Мы с Хуршедом. Свободу всем политзаключённым! Пишу из Душанбе, пожалуйста передайте семье, что мы помним.',
  'We stand with Khurshed Bobokalonov. Please pass our love to his family; write to me at friend@example.org if needed.',
  'Видео с акции в поддержку, <b>смотрите</b> & делитесь: https://drive.google.com/file/d/abc/view?usp=sharing',
];

/** A deterministic digest of `n` new items over the campaign's stories, a fifth of them in triage. */
export function digestFixture(n: number, seed = 20261208): DailyDigestData {
  let s = seed;
  const rnd = () => ((s = (s * 48271) % 2147483647) / 2147483647);
  const stories = Array.from({ length: 12 }, (_, i) => ({ number: i + 1, title: `Story ${i + 1}: a prisoner's name` }));
  const items: DigestItem[] = Array.from({ length: n }, (_, i) => {
    const r = rnd();
    const kind = r < 0.7 ? 'message' : r < 0.9 ? 'video' : 'video_link';
    const story = rnd() < 0.2 ? null : 1 + Math.floor(rnd() * stories.length);
    return {
      id: i + 1,
      kind,
      story,
      status: 'pending',
      displayName: rnd() < 0.8 ? `Supporter ${i}` : null,
      language: ['tg', 'ru', 'en'][i % 3],
      text: kind === 'message' ? `${TEXTS[i % TEXTS.length]} ${'Ҷасорат! '.repeat(1 + (i % 20))}` : null,
      url: kind === 'video_link' ? `https://youtu.be/v${i}` : null,
      video: kind === 'video' ? { state: i % 7 === 0 ? 'rejected' : 'ready', seconds: 95 + (i % 40), trimmed: i % 3 === 0, reason: i % 7 === 0 ? 'not a video' : null } : null,
    };
  });
  const totals = [...stories.map((x) => x.number), null].map((story) => ({ story, pending: items.filter((i) => i.story === story).length, approved: 0, rejected: 0 }));
  return {
    campaign: { name: 'No torture in Tajikistan', hashtag: '#notorturetj', timezone: 'Asia/Dushanbe' },
    day: '2026-12-08',
    stories,
    newItems: items,
    totals,
    triage: items.filter((i) => i.story === null),
    videoProblems: items.filter((i) => i.video?.state === 'rejected').map((i) => ({ itemId: i.id, story: i.story, state: 'rejected', reason: 'not a video' })),
    ackProblems: [],
    quarantined: [],
  };
}

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (v: string) => v.replace(/[&<>"']/g, (c) => ESC[c]);

/** The floor: the same sections and fields, one pass, one escape per string, no excerpts or redaction. */
export function naiveDigest(d: DailyDigestData): { html: string; text: string } {
  const groups = new Map<number | null, DigestItem[]>();
  for (const i of d.newItems) {
    const g = groups.get(i.story);
    if (g) g.push(i);
    else groups.set(i.story, [i]);
  }
  const title = (n: number | null) => (n === null ? 'Triage' : (d.stories.find((s) => s.number === n)?.title ?? `Story ${n}`));
  const line = (i: DigestItem) => `#${i.id} ${i.kind} from ${i.displayName ?? 'a supporter'} [${i.status}] ${i.text ?? i.url ?? i.video?.state ?? ''}`;
  const h: string[] = [`<h1>${esc(d.campaign.name)}</h1><table>`];
  const t: string[] = [d.campaign.name];
  for (const r of d.totals) {
    h.push(`<tr><td>${esc(title(r.story))}</td><td>${groups.get(r.story)?.length ?? 0}</td><td>${r.pending}</td><td>${r.approved}</td><td>${r.rejected}</td></tr>`);
    t.push(`${title(r.story)}: ${r.pending}`);
  }
  h.push('</table>');
  for (const [story, list] of groups) {
    h.push(`<h3>${esc(title(story))}</h3><ul>`);
    t.push(title(story));
    for (const i of list) {
      const l = line(i);
      h.push(`<li>${esc(l)}</li>`);
      t.push(`  - ${l}`);
    }
    h.push('</ul>');
  }
  h.push('<ul>');
  for (const i of d.triage) h.push(`<li>${esc(line(i))}</li>`);
  h.push('</ul>');
  for (const v of d.videoProblems) h.push(`<li>#${v.itemId}: ${esc(v.state)} ${esc(v.reason ?? '')}</li>`);
  return { html: h.join('\n'), text: t.join('\n') };
}

function bestMs(fn: () => unknown, reps: number): { best: number; all: number[] } {
  const all: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    fn();
    all.push(performance.now() - t0);
  }
  return { best: Math.min(...all), all };
}

export async function benchDigest(o: { n: number; reps: number; log: (s: string) => void; rows: BenchRow[] }): Promise<Record<string, unknown>> {
  const d = digestFixture(o.n);
  // Warm both up (JIT), then alternate so that machine noise hits both alike.
  renderDailyDigest(d);
  naiveDigest(d);
  const ours: number[] = [];
  const base: number[] = [];
  let rendered = renderDailyDigest(d);
  let floor = naiveDigest(d);
  for (let r = 0; r < o.reps; r++) {
    ours.push(bestMs(() => (rendered = renderDailyDigest(d)), 1).best);
    base.push(bestMs(() => (floor = naiveDigest(d)), 1).best);
  }
  const b = Math.min(...ours);
  const f = Math.min(...base);
  const ratio = b / f;
  const heapMb = Math.round(process.memoryUsage().heapUsed / 1024 / 1024);
  o.log(`digest ${o.n} items: renderDailyDigest best ${b.toFixed(1)} ms, naive floor ${f.toFixed(1)} ms (${ratio.toFixed(2)}x); html ${rendered.html.length} chars`);
  o.rows.push({
    name: `digest build, ${o.n} new items (html + text), best of ${o.reps}; ratio = time ours/naive floor`,
    value: `${b.toFixed(1)} ms`,
    baseline: `${f.toFixed(1)} ms`,
    ratio: `${ratio.toFixed(2)}x`,
    // The floor skips excerpts, redaction and the template's escaping of every value: a few times its cost is
    // the price of those; much more would mean a quadratic step (a filter per item, a re-scan per group).
    goal: '<= 10x',
    pass: ratio <= 10,
  });
  o.rows.push({
    name: '  digest output size (html chars); ratio = ours/naive',
    value: String(rendered.html.length),
    baseline: String(floor.html.length),
    ratio: `${(rendered.html.length / floor.html.length).toFixed(2)}x`,
    goal: '',
    pass: null,
  });
  return { n: o.n, reps: o.reps, oursMs: ours, naiveMs: base, ratio, htmlChars: rendered.html.length, textChars: rendered.text.length, heapUsedMbAfter: heapMb };
}
