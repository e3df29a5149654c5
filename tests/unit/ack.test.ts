// The acknowledgement's decision and content, as tables of cases. Content tests read the text for what must be
// there (thanks, the story title, each video's fate, in the right language) and plant canaries for what must
// never be: nothing a supporter wrote reaches the reply.
import { describe, expect, it } from 'vitest';
import {
  ackHeaders,
  ackLanguage,
  ackRecipient,
  decideAck,
  isSendableAddress,
  renderAck,
  safeSubject,
  validMessageId,
  videoOutcome,
  type AckContent,
  type AckSubject,
} from '../../src/core/ack.ts';

const limits = { ackWindowDays: 7, acksPerHour: 100 };
const human: AckSubject = {
  classification: 'submission',
  ackBlock: null,
  envelopeSender: 'nigora@example.tj',
  fromAddress: 'nigora@example.tj',
};
const none = { previousToSender: 0, lastHour: 0 };

describe('who gets the acknowledgement', () => {
  it.each([
    ['the envelope sender when present', { envelopeSender: 'bounce+x@mail.example.tj', fromAddress: 'a@example.tj' }, 'bounce+x@mail.example.tj'],
    ['the From address when there is no envelope sender', { envelopeSender: null, fromAddress: 'A@Example.TJ' }, 'a@example.tj'],
    ['nobody for the null sender, whatever From says', { envelopeSender: '', fromAddress: 'a@example.tj' }, null],
    ['nobody when From held no address (an encoded-word trick)', { envelopeSender: null, fromAddress: null }, null],
    ['nobody for an address with CR/LF', { envelopeSender: null, fromAddress: 'a@example.tj\r\nBcc: x@y.org' }, null],
    ['nobody for a quoted local part', { envelopeSender: null, fromAddress: '"a b"@example.tj' }, null],
    ['nobody for a domain without a dot', { envelopeSender: null, fromAddress: 'root@localhost' }, null],
    ['nobody for two addresses in one', { envelopeSender: null, fromAddress: 'a@example.tj,b@example.tj' }, null],
    ['nobody for an address with angle brackets', { envelopeSender: '<a@example.tj>', fromAddress: 'a@example.tj' }, null],
  ])('%s', (_name, m, expected) => {
    expect(ackRecipient(m)).toBe(expected);
  });

  it('rejects over-long addresses', () => {
    expect(isSendableAddress(`${'a'.repeat(65)}@example.tj`)).toBe(false);
    expect(isSendableAddress(`a@${'b'.repeat(250)}.tj`)).toBe(false);
    expect(isSendableAddress('a.b-c+d@mail.example-1.tj')).toBe(true);
  });
});

describe('queue or suppress', () => {
  it('queues a first human submission to the sender', () => {
    expect(decideAck(human, none, limits)).toEqual({ action: 'queue', to: 'nigora@example.tj' });
  });

  it.each([
    ['auto_reply', 'Auto-Submitted: auto-replied', 'auto_reply: Auto-Submitted: auto-replied'],
    ['bounce', 'delivery status notification', 'bounce: delivery status notification'],
    ['list', 'list', 'list'],
    ['own', null, 'own'],
    ['spoofed', null, 'spoofed'],
    ['quarantined', null, 'quarantined'],
  ])('suppresses a %s message, naming the classification', (classification, ackBlock, reason) => {
    const d = decideAck({ ...human, classification, ackBlock }, none, limits);
    expect(d).toMatchObject({ action: 'suppress', reason });
  });

  it('suppresses a submission whose classification blocked the ack, with that reason', () => {
    const d = decideAck({ ...human, ackBlock: 'X-Auto-Response-Suppress on the message' }, none, limits);
    expect(d).toEqual({ action: 'suppress', to: 'nigora@example.tj', reason: 'X-Auto-Response-Suppress on the message' });
  });

  it('suppresses when there is no address to reply to', () => {
    const d = decideAck({ ...human, envelopeSender: null, fromAddress: null }, none, limits);
    expect(d).toEqual({ action: 'suppress', to: null, reason: 'no valid address to reply to' });
  });

  it('suppresses a sender already acknowledged within the window', () => {
    const d = decideAck(human, { previousToSender: 1, lastHour: 0 }, limits);
    expect(d).toMatchObject({ action: 'suppress', reason: 'sender already acknowledged within 7 days' });
  });

  it('suppresses past the hourly cap, and not one below it', () => {
    expect(decideAck(human, { previousToSender: 0, lastHour: 99 }, limits).action).toBe('queue');
    expect(decideAck(human, { previousToSender: 0, lastHour: 100 }, limits)).toMatchObject({
      action: 'suppress',
      reason: 'hourly acknowledgement limit reached (100)',
    });
  });
});

describe('headers', () => {
  it('carries the loop-breaking headers and threads on a valid Message-ID', () => {
    expect(ackHeaders('<CAF8x1@mail.example.tj>')).toEqual({
      'Auto-Submitted': 'auto-replied',
      'X-Auto-Response-Suppress': 'All',
      Precedence: 'bulk',
      'In-Reply-To': '<CAF8x1@mail.example.tj>',
      References: '<CAF8x1@mail.example.tj>',
    });
  });

  it.each([
    ['a CR/LF inside', '<a@b>\r\nBcc: x@y.org'],
    ['one bracket', '<a@b'],
    ['a space', '<a b@c>'],
    ['nested brackets', '<a<b>@c>'],
    ['empty', '<>'],
    ['too long', `<${'a'.repeat(300)}@b>`],
  ])('omits In-Reply-To and References for a Message-ID with %s', (_n, id) => {
    expect(validMessageId(id)).toBeNull();
    const h = ackHeaders(id);
    expect(h['In-Reply-To']).toBeUndefined();
    expect(h.References).toBeUndefined();
    expect(h['Auto-Submitted']).toBe('auto-replied');
  });

  it('brackets a stored Message-ID that has none', () => {
    expect(ackHeaders('CAF8x1@mail.example.tj')['In-Reply-To']).toBe('<CAF8x1@mail.example.tj>');
  });

  it('makes any subject one capped line', () => {
    const s = safeSubject('Thank you\r\nBcc: victim@example.org\u0000' + 'x'.repeat(500));
    expect(s).not.toMatch(/[\r\n\u0000]/);
    expect(s.length).toBeLessThanOrEqual(120);
  });
});

describe('language and video outcomes', () => {
  it('answers in the detected language, else the fallback', () => {
    expect(ackLanguage('ru', 'en')).toBe('ru');
    expect(ackLanguage('tg', 'en')).toBe('tg');
    expect(ackLanguage(null, 'ru')).toBe('ru');
    expect(ackLanguage('de', 'tg')).toBe('tg');
  });

  it.each([
    ['video', { state: 'ready', trimmed: false }, 'received'],
    ['video', { state: 'ready', trimmed: true }, 'trimmed'],
    ['video', { state: 'rejected', trimmed: null }, 'unusable'],
    ['video', { state: 'failed', trimmed: null }, 'unusable'],
    ['video', { state: 'processing', trimmed: null }, 'received'],
    ['video', null, 'received'],
    ['video_link', null, 'link'],
  ] as const)('a %s with job %j is %s', (kind, job, outcome) => {
    expect(videoOutcome(kind, job)).toBe(outcome);
  });
});

describe('content', () => {
  const story = { number: 8, title: '8. Khurshed Bobokalonov' };
  const base: AckContent = { language: 'en', story, videos: [], hashtag: '#notorturetj', videoSeconds: 120 };

  // What each language must say: the story, and each outcome in its own words.
  const expected = {
    en: { story: 'story 8', received: 'received.', trimmed: 'shortened to 2 minutes', unusable: 'could not be used', link: 'Video link 1', unlinked: 'match it to the right story', subject: 'Thank you: story 8' },
    ru: { story: 'истории 8', received: 'получено.', trimmed: 'сокращено до 2 минут', unusable: 'не удалось использовать', link: 'Ссылка на видео 1', unlinked: 'отнесёт его к нужной истории', subject: 'Спасибо: история 8' },
    tg: { story: 'қиссаи 8', received: 'гирифта шуд.', trimmed: 'то 2 дақиқа кӯтоҳ карда шуд', unusable: 'истифода бурда натавонистем', link: 'Пайванди видеои 1', unlinked: 'ба қиссаи дахлдор пайваст', subject: 'Ташаккур: қиссаи 8' },
  } as const;

  for (const language of ['en', 'ru', 'tg'] as const) {
    const w = expected[language];
    it(`${language}: names the story and its title, in text and HTML`, () => {
      const r = renderAck({ ...base, language });
      expect(r.subject).toBe(w.subject);
      for (const body of [r.text, r.html]) {
        expect(body).toContain(w.story);
        expect(body).toContain('8. Khurshed Bobokalonov');
        expect(body).toContain('#notorturetj');
      }
      expect(r.html).toContain(`lang="${language}"`);
    });

    it(`${language}: says what happened to each video`, () => {
      const r = renderAck({ ...base, language, videos: ['received', 'trimmed', 'unusable'] });
      expect(r.text).toContain(w.received);
      expect(r.text).toContain(w.trimmed);
      expect(r.text).toContain(w.unusable);
      expect(r.html).toContain(w.trimmed);
      const links = renderAck({ ...base, language, videos: ['link'] });
      expect(links.text).toContain(w.link);
    });

    it(`${language}: without a story, says the team will match it`, () => {
      const r = renderAck({ ...base, language, story: null });
      expect(r.text).toContain(w.unlinked);
      expect(r.text).not.toContain('8. Khurshed');
      expect(r.subject).not.toMatch(/\d/);
    });
  }

  it('says nothing of videos when there were none', () => {
    const r = renderAck(base);
    expect(r.text).not.toMatch(/video/i);
  });

  it('escapes the campaign title in HTML and keeps it on one line', () => {
    const r = renderAck({ ...base, story: { number: 3, title: 'A <b>bold</b> & "quoted"\r\nBcc: x' } });
    expect(r.html).toContain('A &lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot; Bcc: x');
    expect(r.html).not.toContain('<b>');
    expect(r.text).toContain('A <b>bold</b> & "quoted" Bcc: x');
  });

  it('is the same for every sender: nothing in it depends on who wrote', () => {
    // renderAck takes no sender data at all; two renders of the same outcome are byte-identical (H3).
    expect(renderAck({ ...base, videos: ['trimmed'] })).toEqual(renderAck({ ...base, videos: ['trimmed'] }));
  });

  it('uses other limits in plain words', () => {
    expect(renderAck({ ...base, videos: ['trimmed'], videoSeconds: 90 }).text).toContain('shortened to 90 seconds');
    expect(renderAck({ ...base, language: 'ru', videos: ['trimmed'], videoSeconds: 60 }).text).toContain('до 1 минуты');
  });
});
