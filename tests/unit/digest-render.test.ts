// What the digests, compilations and pages say, parsed as a browser parses them (parse5, the HTML standard's
// algorithm): no parse error, the story titles and the right counts, the text alternative, no address, and
// hostile sender text only ever as text.
import { describe, expect, it } from 'vitest';
import { renderCompilation, renderDailyDigest, renderFinalDigest, type DailyDigestData, type DigestItem } from '../../src/core/digest.ts';
import { checkDisplayName, supporterName, withoutSignOff, type Entry, type StoryCompilation } from '../../src/core/compilation.ts';
import { feed, renderIndex, renderStoryPage } from '../../src/core/publish.ts';
import { esc, html, safeUrl } from '../../src/core/html.ts';
import { ANY_ADDRESS, attr, byClass, elements, strictParse, textOf } from '../helpers/html.ts';

const HOSTILE = '<img src=x onerror=alert(1)><script>alert(2)</script>"\' &amp;';
const campaign = { name: 'No torture in Tajikistan', hashtag: '#notorturetj', timezone: 'Asia/Dushanbe' };
const stories = [
  { number: 8, title: '8. Khurshed Bobokalonov' },
  { number: 9, title: '9. A <b>fictional</b> story' },
];

const item = (o: Partial<DigestItem> & { id: number }): DigestItem => ({
  kind: 'message',
  story: 8,
  status: 'pending',
  displayName: null,
  language: 'en',
  text: 'Stay strong.',
  url: null,
  video: null,
  ...o,
});

const daily: DailyDigestData = {
  campaign,
  day: '2026-12-08',
  stories,
  newItems: [
    item({ id: 1, text: `Держитесь! Пишите мне: nodira@example.tj ${HOSTILE}`, displayName: 'Нодира, Хуҷанд', language: 'ru' }),
    item({ id: 2, kind: 'video', text: null, video: { state: 'ready', seconds: 119.6, trimmed: true, reason: null } }),
    item({ id: 3, story: 9, kind: 'video_link', text: null, url: 'https://youtu.be/abc' }),
    item({ id: 4, story: null, text: 'Which story? from anon@example.com' }),
  ],
  totals: [
    { story: 8, pending: 2, approved: 5, rejected: 1 },
    { story: 9, pending: 1, approved: 0, rejected: 0 },
    { story: null, pending: 1, approved: 0, rejected: 0 },
  ],
  triage: [item({ id: 4, story: null, text: 'Which story? from anon@example.com' })],
  videoProblems: [{ itemId: 7, story: 8, state: 'rejected', reason: 'longer than 30 minutes' }],
  ackProblems: [{ outboxId: 11, messageId: 5, state: 'failed', error: '550 5.1.1 <victim@example.org>: user unknown' }],
  quarantined: [{ messageId: 6, receivedAt: new Date('2026-12-08T05:00:00Z'), reason: 'header block over 512 KiB' }],
};

function noAddress(s: string) {
  expect(s.match(ANY_ADDRESS)).toBeNull();
}

describe('daily digest', () => {
  const r = renderDailyDigest(daily);
  const doc = strictParse(r.html);

  it('parses without error and shows the titles and counts', () => {
    const text = textOf(doc);
    expect(text).toContain('8. Khurshed Bobokalonov');
    expect(text).toContain('9. A <b>fictional</b> story');
    expect(textOf(byClass(doc, 'count-new')[0])).toBe('4');
    expect(textOf(byClass(doc, 'count-all')[0])).toBe('10');
    const rows = elements(doc, 'tr').map((tr) => elements(tr, 'td').map(textOf));
    expect(rows).toContainEqual(['8. Khurshed Bobokalonov', '2', '2', '5', '1']);
    expect(rows).toContainEqual(['Triage (no story yet)', '1', '1', '0', '0']);
    expect(r.subject).toBe('#notorturetj daily digest 2026-12-08: 4 new items, 1 in triage');
  });

  it('has every section, in HTML and in the text alternative', () => {
    const h2 = elements(doc, 'h2').map(textOf);
    expect(h2).toEqual([
      'Totals by story',
      'New items (4)',
      'Triage queue: items waiting for a story (1)',
      'Videos rejected or failed (1)',
      'Acknowledgements failed or uncertain (1)',
      'Quarantined messages (1)',
    ]);
    for (const s of ['NEW ITEMS (4)', 'TRIAGE QUEUE (1)', 'VIDEOS REJECTED OR FAILED (1)', 'ACKNOWLEDGEMENTS FAILED OR UNCERTAIN (1)', 'QUARANTINED MESSAGES (1)'])
      expect(r.text).toContain(s);
    expect(r.text).toContain('longer than 30 minutes');
    expect(r.text).toContain('#2 video from a supporter');
    expect(r.text).toContain('ready, 2:00 (trimmed)');
  });

  it('never renders sender text as markup and holds no address', () => {
    expect(elements(doc, 'img')).toHaveLength(0);
    expect(elements(doc, 'script')).toHaveLength(0);
    expect(elements(doc, 'b')).toHaveLength(0);
    expect(textOf(doc)).toContain('<script>alert(2)</script>');
    noAddress(r.html);
    noAddress(r.text);
  });

  it('is readable on a phone: a viewport and one narrow column', () => {
    const meta = elements(doc, 'meta').find((m) => attr(m, 'name') === 'viewport');
    expect(attr(meta!, 'content')).toContain('width=device-width');
    expect(r.html).toContain('max-width:640px');
  });

  it('says so when there is nothing', () => {
    const empty = renderDailyDigest({ ...daily, newItems: [], totals: [], triage: [], videoProblems: [], ackProblems: [], quarantined: [] });
    strictParse(empty.html);
    expect(empty.text).toContain('Nothing new since the last digest.');
  });
});

const entry = (o: Partial<Entry> & { itemId: number }): Entry => ({
  kind: 'message',
  name: 'a supporter',
  language: 'en',
  text: 'We are with you.',
  url: null,
  video: null,
  receivedAt: new Date('2026-12-08T05:00:00Z'),
  ...o,
});

const story8: StoryCompilation = {
  number: 8,
  title: '8. Khurshed Bobokalonov',
  victim: 'Khurshed Bobokalonov',
  entries: [
    entry({ itemId: 1, text: `Мы помним. ${HOSTILE}\nmail me at nodira@example.tj\n\nНодира, Хуҷанд`, name: 'Нодира', language: 'ru' }),
    entry({ itemId: 2, kind: 'video', text: null, video: { file: 'media/2/video.mp4', poster: 'media/2/poster.jpg', seconds: 42 } }),
    entry({ itemId: 3, kind: 'video', text: null, video: null }),
    entry({ itemId: 4, kind: 'video_link', text: null, url: 'javascript:alert(1)' }),
    entry({ itemId: 5, kind: 'video_link', text: null, url: 'https://youtu.be/abc' }),
  ],
};
const story9: StoryCompilation = { number: 9, title: '9. Another', victim: null, entries: [] };

describe('compilations', () => {
  it('a family compilation with playable videos (files) parses and counts what it shows', () => {
    const r = renderCompilation(campaign, story8, 'files');
    const doc = strictParse(r.html);
    expect(textOf(elements(doc, 'h2')[0])).toBe('8. Khurshed Bobokalonov');
    expect(textOf(byClass(doc, 'counts')[0])).toBe('1 message, 1 video, 2 video links');
    const videos = elements(doc, 'video');
    expect(videos).toHaveLength(1);
    expect(attr(videos[0], 'src')).toBe('media/2/video.mp4');
    expect(attr(videos[0], 'poster')).toBe('media/2/poster.jpg');
    expect(attr(videos[0], 'controls')).toBe('');
    expect(elements(doc, 'article')).toHaveLength(4); // the video not ready is left out
    const links = elements(doc, 'a').map((a) => attr(a, 'href'));
    expect(links).toEqual(['#', 'https://youtu.be/abc']);
    expect(elements(doc, 'script')).toHaveLength(0);
    const msg = byClass(doc, 'message')[0];
    expect(attr(msg, 'lang')).toBe('ru');
    expect(textOf(msg)).toContain('<script>alert(2)</script>');
    expect(textOf(msg)).not.toContain('Нодира, Хуҷанд'); // the sign-off gives way to the name shown
    expect(textOf(byClass(msg, 'name')[0])).toBe('— Нодира');
    noAddress(r.html);
    noAddress(r.text);
    expect(r.text).toContain('— Нодира');
    expect(r.text).toContain('1 message, 1 video, 2 video links');
  });

  it('prints a story per page and hides players on paper', () => {
    const r = renderFinalDigest(campaign, [story8, story9]);
    const doc = strictParse(r.html);
    expect(elements(doc, 'section')).toHaveLength(2);
    expect(r.html).toMatch(/@media print\{[^}]*\}?.*page-break-before:always/);
    expect(elements(doc, 'video')).toHaveLength(0); // mail carries no video files
    expect(r.text).toContain('9. Another');
    expect(r.text).toContain('No approved messages yet.');
    expect(r.subject).toContain('for 2 stories');
    noAddress(r.html);
  });
});

describe('website pages', () => {
  it('index and story pages parse, link relatively, and the feed matches', () => {
    const site = { name: campaign.name, hashtag: campaign.hashtag };
    const index = strictParse(renderIndex(site, [story8, story9]));
    const hrefs = elements(index, 'a').map((a) => attr(a, 'href'));
    expect(hrefs).toEqual(['story-8.html', 'story-9.html']);
    expect(byClass(index, 'counts').map(textOf)).toEqual(['1 message, 1 video, 2 video links', '0 messages']);
    const page = strictParse(renderStoryPage(site, story8));
    expect(attr(elements(page, 'a')[0], 'href')).toBe('index.html');
    const f = feed(site, [story8, story9]);
    expect(f.items.map((i) => i.id)).toEqual(['item-1', 'item-2', 'item-4', 'item-5']);
    expect(f.items[1].attachments).toEqual([{ url: 'media/2/video.mp4', mime_type: 'video/mp4', duration_in_seconds: 42 }]);
    noAddress(JSON.stringify(f));
  });
});

describe('names and escaping', () => {
  it.each<[string | null, string | null, string]>([
    ['Nodira, Khujand', 'en', 'Nodira, Khujand'],
    [null, 'en', 'a supporter'],
    [null, 'ru', 'один из сторонников'],
    [null, 'tg', 'яке аз ҷонибдорон'],
    ['', 'tg', 'яке аз ҷонибдорон'],
    ['x@example.org', 'ru', 'один из сторонников'],
    [null, null, 'a supporter'],
  ])('supporterName(%j, %j) = %j', (name, lang, expected) => {
    expect(supporterName(name, lang)).toBe(expected);
  });

  it.each<[string | null, string | false]>([
    ['  Nodira,\tKhujand ', 'Nodira, Khujand'],
    [null, ''],
    ['', false],
    ['nodira@example.tj', false],
    ['a'.repeat(81), false],
    ['Али\u202eЕВ', 'Али ЕВ'],
  ])('checkDisplayName(%j)', (input, expected) => {
    const r = checkDisplayName(input);
    if (expected === false) expect(r.ok).toBe(false);
    else expect(r).toEqual({ ok: true, name: expected });
  });

  it('withoutSignOff drops the signed lines only', () => {
    expect(withoutSignOff('Stay strong.\n\nNodira, Khujand')).toBe('Stay strong.');
    expect(withoutSignOff('Мы с вами.\nС уважением,\nМария')).toBe('Мы с вами.');
    expect(withoutSignOff('Мы с вами. Держитесь.')).toBe('Мы с вами. Держитесь.');
  });

  it('the template escapes every interpolation; URLs keep to http(s) and relative paths', () => {
    expect(html`<p title="${'"x"'}">${HOSTILE}</p>`.value).toBe(`<p title="&quot;x&quot;">${esc(HOSTILE)}</p>`);
    expect(html`${[html`<i>`, '<b>']}`.value).toBe('<i>&lt;b&gt;');
    expect(safeUrl('javascript:alert(1)')).toBe('#');
    expect(safeUrl('data:text/html,x')).toBe('#');
    expect(safeUrl('//evil.example')).toBe('#');
    expect(safeUrl('https://youtu.be/x')).toBe('https://youtu.be/x');
    expect(safeUrl('media/1/video.mp4')).toBe('media/1/video.mp4');
  });
});
