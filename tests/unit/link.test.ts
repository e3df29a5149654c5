import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CampaignSchema, DEFAULT_CAMPAIGN, PROJECT_ROOT, type Campaign } from '../../src/config.ts';
import { linkStory, nameKey, type LinkInput, type LinkResult } from '../../src/core/link.ts';
import { splitReply } from '../../src/core/text.ts';
import { cases, type LinkCase } from '../../fixtures/link-cases/cases.ts';

const campaign: Campaign = CampaignSchema.parse(
  JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'fixtures/link-cases/campaign.json'), 'utf8')),
);
const example: Campaign = CampaignSchema.parse(JSON.parse(readFileSync(DEFAULT_CAMPAIGN, 'utf8')));
const OURS = 'campaign@notorture.example.org';

function run(c: LinkCase, camp: Campaign = campaign): LinkResult {
  const split = splitReply(c.text);
  return linkStory(
    {
      recipients: c.recipients ?? [OURS],
      inReplyTo: c.inReplyTo ?? null,
      references: c.references ?? [],
      subject: c.subject,
      body: split.body.trim(),
    },
    camp,
  );
}

function input(body: string, more: Partial<LinkInput> = {}): LinkInput {
  return { recipients: [OURS], inReplyTo: null, references: [], subject: null, body, ...more };
}

describe('link cases (fixtures/link-cases)', () => {
  const tally = { linked: 0, triage: 0, total: 0 };
  afterAll(() => {
    console.log(
      `link cases: ${tally.total} submissions: ${tally.linked} linked, ${tally.triage} to triage ` +
        `(expected ${cases.filter((c) => c.expect !== null).length} linked, ${cases.filter((c) => c.expect === null).length} triage)`,
    );
  });

  it('has enough cases in each language and kind', () => {
    expect(cases.length).toBeGreaterThanOrEqual(45);
    expect(new Set(cases.map((c) => c.id)).size).toBe(cases.length);
    expect(cases.filter((c) => c.expect === null).length).toBeGreaterThanOrEqual(15);
  });

  it.each(cases.map((c) => [c.id, c] as const))('%s', (_id, c) => {
    const r = run(c);
    tally.total++;
    if (r.story === null) tally.triage++;
    else tally.linked++;
    const where = `${c.note}\n  -> ${JSON.stringify(r)}`;
    if (c.expect === null) {
      // Linking what should be triage is a wrong story.
      expect(r.story, `wrong link: ${where}`).toBeNull();
    } else {
      expect(r.story, `expected story ${c.expect}: ${where}`).toBe(c.expect);
      expect(r.confidence).toBeGreaterThanOrEqual(0.6);
      if (c.method) expect(r.method, where).toBe(c.method);
    }
    expect(r.reason.length).toBeGreaterThan(5);
    expect(r.confidence).toBeGreaterThanOrEqual(0);
    expect(r.confidence).toBeLessThanOrEqual(1);
    if (r.story !== null) expect(r.candidates).toContain(r.story);
  });
});

describe('linkStory: signals and confidences', () => {
  it('addresses: 1.0, with the address in the reason', () => {
    const r = linkStory(input('hi', { recipients: ['campaign+story8@notorture.example.org'] }), campaign);
    expect(r).toMatchObject({ story: 8, method: 'address', confidence: 1 });
    expect(r.reason).toContain('campaign+story8@notorture.example.org');
  });

  it('accepts several tag spellings at our domain only', () => {
    for (const a of ['campaign+story8@', 'campaign+8@', 'campaign+story-8@', 'campaign+s08@', 'story8@', 'story-8@'])
      expect(linkStory(input('x', { recipients: [`${a}notorture.example.org`] }), campaign).story, a).toBe(8);
    expect(linkStory(input('x', { recipients: ['story8@elsewhere.example.org'] }), campaign).story).toBeNull();
    expect(linkStory(input('x', { recipients: ['campaign+hello@notorture.example.org'] }), campaign).story).toBeNull();
  });

  it('two per-story addresses for different stories: triage', () => {
    const r = linkStory(
      input('x', { recipients: ['campaign+story3@notorture.example.org', 'campaign+story8@notorture.example.org'] }),
      campaign,
    );
    expect(r.story).toBeNull();
    expect(r.reason).toMatch(/^two stories named: 3 and 8/);
    expect(r.candidates).toEqual([3, 8]);
  });

  it('reply: 0.95 by In-Reply-To, with or without <> and case', () => {
    const r = linkStory(input('thanks', { inReplyTo: '<ANNOUNCE-story-8.20261201@notorture.example.org>' }), campaign);
    expect(r).toMatchObject({ story: 8, method: 'reply', confidence: 0.95 });
  });

  it('confidences by method, and the hashtag adds 0.05', () => {
    expect(linkStory(input('x', { subject: 'Story 8' }), campaign).confidence).toBe(0.9);
    expect(linkStory(input('For story 8.'), campaign).confidence).toBe(0.8);
    expect(linkStory(input('For Khurshed Bobokalonov.'), campaign).confidence).toBe(0.85);
    expect(linkStory(input('For the Bobokalonov family.'), campaign).confidence).toBe(0.75);
    expect(linkStory(input('For Khurshed.'), campaign).confidence).toBe(0.6);
    expect(linkStory(input('For Khurshed. #notorturetj'), campaign).confidence).toBe(0.65);
    expect(linkStory(input('For Khurshed. #NoTortureTJ'), campaign).reason).toContain('hashtag');
  });

  it('readable reasons', () => {
    expect(linkStory(input('x', { subject: 'история 8' }), campaign).reason).toBe('explicit number in subject: “история 8”');
    expect(linkStory(input('nothing here'), campaign).reason).toBe('nothing points to a story');
    expect(linkStory(input('Firuz!'), campaign).reason).toBe('“Firuz” fits stories 4 and 9');
  });

  it.each([
    ['Story 8', 8],
    ['story #8', 8],
    ['#8', 8],
    ['№ 8', 8],
    ['№8', 8],
    ['история 8', 8],
    ['истории №8', 8],
    ['историю номер 8', 8],
    ['қиссаи 8', 8],
    ['ҳикояи 8', 8],
    ['8. Khurshed', 8],
    ['8-я история', 8],
    ['8th story', 8],
    ['twelfth story', 12],
    ['двенадцатая история', 12],
    ['ҳикояи даҳум', 10],
    ['Story 13', null],
    ['story 8:30', null],
    ['story 08.12.2026', null],
    ['story 8 years ago', null],
    ['история 27 июня', null],
    ['история 8 марта', null],
    ['my #1 fan', null],
    ['школа №8', null],
    ['8 лет', null],
    ['2009', null],
    ['27 June', null],
    ['just 8', null],
    ['the first story I read', null],
    ['the story of two brothers', null],
    ['қиссаи ду бародар', null],
    ['&#8; entity', null],
  ])('number in body %j -> %j', (text, story) => {
    expect(linkStory(input(text), campaign).story).toBe(story);
  });

  it.each([
    ['Khurshed', 8],
    ['Hurshed', 8],
    ['Xurshed', 8],
    ['Хуршед', 8],
    ['Бобокалонов', 8],
    ['Bobokalonova', 8],
    ['Бобокалонова', 8],
    ['Бобокалонову', 8],
    ['Хуршеду', 8],
    ['Хуршеда', 8],
    ['Хуршедом', 8],
    ['Хуршедро', 8],
    ['Хуршедба', 8],
    ['Хуршеджон', 8],
    ["Khurshed's", 8],
    ['Ҷамшед', 5],
    ['Джамшед', 5],
    ['Jamshid', 5],
    ['Бахтиёр', 7],
    ['Baxtiyor', 7],
    ['Қодиров', 7],
    ['Qodirov', 7],
    ['Kodirova', 7],
    ['Ситорой', 6],
    ['Умаровой', 6],
    ['Зарины Ходжаевой', 11],
    ['Фирузу', null],
    ['Фирузу Давлатову', 9],
    ['Safar', null],
    ['сафарам', null],
    ['Rustamov', null],
  ])('name %j -> %j', (text, story) => {
    expect(linkStory(input(`Слова поддержки: ${text}.`), campaign).story).toBe(story);
  });

  it('a victim without a name (example campaign) cannot be matched by name, only by number', () => {
    expect(linkStory(input('For Khurshed.'), example).story).toBe(8);
    expect(linkStory(input('For Rustam.'), example).story).toBeNull();
    expect(linkStory(input('This is for story 3.'), example).story).toBe(3);
    expect(linkStory(input('x', { subject: 'Re: 8. Khurshed Bobokalonov' }), example).story).toBe(8);
  });

  it('a bare last line naming the victim is used when nothing else points anywhere, at lower confidence', () => {
    const r = linkStory(input('Светлая память.\nХуршед Бобокалонов'), campaign);
    expect(r.story).toBe(8);
    expect(r.confidence).toBe(0.75);
    expect(linkStory(input('Светлая память.\nС уважением, Хуршед Бобокалонов'), campaign).story).toBeNull();
  });
});

describe('nameKey', () => {
  it.each([
    ['Khurshed', 'Хуршед', 'Xurshed', 'Hurshed', 'Khurshid'],
    ['Jamshed', 'Джамшед', 'Ҷамшед', 'Dzhamshed', 'Djamshed'],
    ['Bakhtiyor', 'Бахтиёр', 'Baxtiyor', 'Bakhtior'],
    ['Khojaeva', 'Ходжаева', 'Хоҷаева', 'Xojayeva', 'Khodjaeva'],
    ['Qodirov', 'Қодиров', 'Кодиров', 'Kodirov'],
  ])('%s and its spellings share one key', (...spellings) => {
    expect(new Set(spellings.map(nameKey)).size).toBe(1);
  });
});

describe('hostile lengths', () => {
  it('a huge body is read only up to MAX_LINK_CHARS, and a number near the top still links', () => {
    const filler = 'story story #1 № история қиссаи Khurshed@x.tj '.repeat(60_000);
    const r = linkStory(input(`Story 8. ${filler}`), campaign);
    expect(r.reason).toMatch(/only the first \d+ characters were read/);
    // the filler names story 1 too, so the result must be triage, never a guess
    expect(r.story).toBeNull();
    const r2 = linkStory(input(`Story 8, for Khurshed.\n${'лорем ипсум '.repeat(200_000)}`), campaign);
    expect(r2.story).toBe(8);
  });
});
