// Bodies as the common clients write them (attribution lines and header blocks copied from what Gmail,
// Outlook, Apple Mail, Thunderbird, Yandex and Mail.ru put above a quote or a forward), and supporters' texts.
import { describe, expect, it } from 'vitest';
import { detectLanguage, mayStartMarker, signOff, splitReply, type Language } from '../../src/core/text.ts';

const OURS = 'No Torture TJ <campaign@notorture.example.org>';
const QUOTE = ['> 8. Khurshed Bobokalonov', '> A young oncologist, beaten by police in Dushanbe.', '> Tomorrow: story 9.'];
const lines = (...ls: string[]) => ls.join('\n');

interface SplitCase {
  name: string;
  text: string;
  body: string;
  /** Substrings the quoted part must hold (null: no quoted part). */
  quoted: string[] | null;
  /** Substrings the signature must hold (null: no signature). */
  signature: string[] | null;
}

const SPLIT: SplitCase[] = [
  {
    name: 'plain text, nothing to strip',
    text: 'Khurshed, we will never forget you.\n\nNodira, Khujand\n',
    body: 'Khurshed, we will never forget you.\n\nNodira, Khujand',
    quoted: null,
    signature: null,
  },
  {
    name: 'Gmail (en) reply',
    text: lines('Rest in peace, doctor.', '', `On Tue, Dec 8, 2026 at 9:00 AM ${OURS} wrote:`, '', ...QUOTE, ''),
    body: 'Rest in peace, doctor.',
    quoted: ['wrote:', 'Tomorrow: story 9.'],
    signature: null,
  },
  {
    name: 'Gmail attribution wrapped over two lines',
    text: lines('Stay strong.', '', 'On Tue, Dec 8, 2026 at 9:00 AM No Torture TJ <', 'campaign@notorture.example.org> wrote:', '', ...QUOTE),
    body: 'Stay strong.',
    quoted: ['campaign@notorture.example.org> wrote:', '8. Khurshed'],
    signature: null,
  },
  {
    name: 'Gmail (ru) reply: "вт, 8 дек. 2026 г. в 09:00, Name <addr>:"',
    text: lines('Светлая память.', '', `вт, 8 дек. 2026 г. в 09:00, ${OURS}:`, '', ...QUOTE),
    body: 'Светлая память.',
    quoted: ['вт, 8 дек.', '8. Khurshed'],
    signature: null,
  },
  {
    name: 'Outlook reply: separator and From/Sent/To/Subject, no ">"',
    text: lines(
      'Thank you for sharing this story.',
      '',
      '________________________________',
      `From: ${OURS}`,
      'Sent: Tuesday, December 8, 2026 9:00 AM',
      'To: supporter@example.com',
      'Subject: 8. Khurshed Bobokalonov',
      '',
      '8. Khurshed Bobokalonov',
    ),
    body: 'Thank you for sharing this story.',
    quoted: ['________', 'From: No Torture TJ', 'Subject: 8. Khurshed'],
    signature: null,
  },
  {
    name: 'Outlook "-----Original Message-----"',
    text: lines('Count me in.', '', '-----Original Message-----', `From: ${OURS}`, 'Sent: 08 December 2026 09:00', 'Subject: 8'),
    body: 'Count me in.',
    quoted: ['-----Original Message-----'],
    signature: null,
  },
  {
    name: 'Outlook (ru): От:/Отправлено:/Кому:/Тема:',
    text: lines(
      'Спасибо за вашу работу.',
      '',
      `От: ${OURS}`,
      'Отправлено: 8 декабря 2026 г. 9:00',
      'Кому: me@example.ru',
      'Тема: 8. Хуршед Бобокалонов',
      '',
      'Завтра — история 9.',
    ),
    body: 'Спасибо за вашу работу.',
    quoted: ['От: No Torture TJ', 'Завтра — история 9.'],
    signature: null,
  },
  {
    name: 'Apple Mail (en) with "Sent from my iPhone"',
    text: lines('Praying for his mother.', '', 'Sent from my iPhone', '', `> On 8 Dec 2026, at 09:00, ${OURS} wrote:`, '> ', ...QUOTE),
    body: 'Praying for his mother.',
    quoted: ['> On 8 Dec 2026', 'Tomorrow: story 9.'],
    signature: ['Sent from my iPhone'],
  },
  {
    name: 'Apple Mail (ru): "… написал(а):" and "Отправлено с iPhone"',
    text: lines('Вечная память.', '', 'Отправлено с iPhone', '', `8 дек. 2026 г., в 09:00, ${OURS} написал(а):`, '', ...QUOTE),
    body: 'Вечная память.',
    quoted: ['написал(а):', '8. Khurshed'],
    signature: ['Отправлено с iPhone'],
  },
  {
    name: 'Yandex: "08.12.2026, 09:00, "Name" <addr>:"',
    text: lines('Держитесь!', '', '08.12.2026, 09:00, "No Torture TJ" <campaign@notorture.example.org>:', ...QUOTE),
    body: 'Держитесь!',
    quoted: ['08.12.2026, 09:00', 'Tomorrow: story 9.'],
    signature: null,
  },
  {
    name: 'Mail.ru: "Вторник, 8 декабря 2026, 9:00 +05:00 от Name <addr>:" and its mobile signature',
    text: lines(
      'Мы с вами.',
      '',
      '--',
      'Отправлено из мобильной Почты Mail.ru',
      '',
      `Вторник, 8 декабря 2026, 9:00 +05:00 от ${OURS}:`,
      '',
      ...QUOTE,
    ),
    body: 'Мы с вами.',
    quoted: ['от No Torture TJ', '8. Khurshed'],
    signature: ['Отправлено из мобильной Почты Mail.ru'],
  },
  {
    name: 'Thunderbird (ru): "08.12.2026 9:00, Name пишет:"',
    text: lines('Помним.', '', '08.12.2026 9:00, No Torture TJ пишет:', ...QUOTE),
    body: 'Помним.',
    quoted: ['пишет:'],
    signature: null,
  },
  {
    name: 'Tajik: "… навишт:"',
    text: lines('Мо ҳамеша бо шумо ҳастем.', '', `Дар 8 декабри 2026, соати 09:00, ${OURS} навишт:`, '', ...QUOTE),
    body: 'Мо ҳамеша бо шумо ҳастем.',
    quoted: ['навишт:', '8. Khurshed'],
    signature: null,
  },
  {
    name: 'bottom-posting: the answer below the quote stays',
    text: lines(`On Tue, Dec 8, 2026 at 9:00 AM ${OURS} wrote:`, ...QUOTE, '', 'My answer is below your mail.', 'Anna'),
    body: 'My answer is below your mail.\nAnna',
    quoted: ['wrote:', '8. Khurshed'],
    signature: null,
  },
  {
    name: 'interleaved answers',
    text: lines('> Will you send a video?', 'Yes, tomorrow.', '> For which story?', 'For Khurshed.'),
    body: 'Yes, tomorrow.\nFor Khurshed.',
    quoted: ['> Will you send a video?', '> For which story?'],
    signature: null,
  },
  {
    name: '"-- " signature block',
    text: lines('Ситора, вы не одна.', '', '-- ', 'Рустам Назаров', '+992 90 123 45 67'),
    body: 'Ситора, вы не одна.',
    quoted: null,
    signature: ['Рустам Назаров', '+992 90'],
  },
  {
    name: 'Yahoo and Outlook mobile signatures',
    text: lines('Solidarity from Almaty.', '', 'Sent from Yahoo Mail for Android'),
    body: 'Solidarity from Almaty.',
    quoted: null,
    signature: ['Sent from Yahoo Mail for Android'],
  },
  {
    name: 'Gmail forward with nothing above: the forwarded text is the message',
    text: lines(
      '',
      '---------- Forwarded message ---------',
      'From: Malika <malika@example.com>',
      'Date: Thu, 10 Dec 2026 at 18:02',
      'Subject: for Parviz',
      'To: <me@example.com>',
      '',
      'Parviz, my whole class signed this letter for you.',
      'Malika',
    ),
    body: 'Parviz, my whole class signed this letter for you.\nMalika',
    quoted: ['Forwarded message', 'From: Malika'],
    signature: null,
  },
  {
    name: 'Apple Mail forward under "Sent from my iPhone" only',
    text: lines(
      'Sent from my iPhone',
      '',
      'Begin forwarded message:',
      '',
      'From: Zafar <zafar@example.tj>',
      'Date: 9 December 2026 at 20:11:03 GMT+5',
      'To: me@example.tj',
      'Subject: Барои Хуршед',
      '',
      'Хуршед, рӯҳат шод бошад.',
    ),
    body: 'Хуршед, рӯҳат шод бошад.',
    quoted: ['Begin forwarded message:', 'From: Zafar'],
    signature: ['Sent from my iPhone'],
  },
  {
    name: 'forward under "FYI": the note is put aside, the forwarded text kept',
    text: lines('FYI', '', '-------- Forwarded Message --------', 'Subject: Video', 'Date: Wed, 9 Dec 2026 10:00:00 +0500', 'From: A <a@example.org>', '', 'Video for story 8 attached.'),
    body: 'Video for story 8 attached.',
    quoted: ['FYI', 'Forwarded Message'],
    signature: null,
  },
  {
    name: 'forward with an own message: the forward is quoted',
    text: lines('Это для истории 11.', '', '-------- Пересылаемое сообщение --------', '08.12.2026, 10:00, "News" <news@example.org>:', '', 'Our event on 8 December.', '-------- Конец пересылаемого сообщения --------'),
    body: 'Это для истории 11.',
    quoted: ['Пересылаемое сообщение', 'Our event on 8 December.'],
    signature: null,
  },
  {
    name: 'Yandex forward with nothing above, end marker set aside',
    text: lines('-------- Пересылаемое сообщение --------', '08.12.2026, 10:00, "Мадина" <madina@example.ru>:', '', 'Хуршед, светлая память.', '', '-------- Конец пересылаемого сообщения --------'),
    body: 'Хуршед, светлая память.',
    quoted: ['Мадина', 'Конец пересылаемого сообщения'],
    signature: null,
  },
  {
    name: 'Outlook FW: with nothing above',
    text: lines('________________________________', 'From: Nilufar <nilufar@example.tj>', 'Sent: Tuesday, December 1, 2026 20:15', 'To: me@example.tj', 'Subject: FW: Фарруху', '', 'Фаррух, Худо ёрат бошад.'),
    body: 'Фаррух, Худо ёрат бошад.',
    quoted: ['From: Nilufar'],
    signature: null,
  },
  {
    name: 'CRLF line ends',
    text: 'Stay strong.\r\n\r\nOn Tue, Dec 8, 2026 at 9:00 AM x@y.org wrote:\r\n> quoted\r\n',
    body: 'Stay strong.',
    quoted: ['> quoted'],
    signature: null,
  },
  {
    name: 'a story told in the message is not an attribution ("В 2009 году мама написала:")',
    text: lines('В 2009 году его мама написала:', '«Мой сын ни в чём не виноват».', 'Мы помним.'),
    body: 'В 2009 году его мама написала:\n«Мой сын ни в чём не виноват».\nМы помним.',
    quoted: null,
    signature: null,
  },
  {
    name: 'a "wrote:" inside a sentence is not an attribution (the verb must end the line)',
    text: lines('My brother wrote: at 10:30 they took him away.', 'Написал: в 09:00 его увели, мы ждём.', 'Stay strong.'),
    body: 'My brother wrote: at 10:30 they took him away.\nНаписал: в 09:00 его увели, мы ждём.\nStay strong.',
    quoted: null,
    signature: null,
  },
  {
    name: 'a "From:" inside the text is not a header block',
    text: lines('From: all of us at the clinic', 'we send our love.'),
    body: 'From: all of us at the clinic\nwe send our love.',
    quoted: null,
    signature: null,
  },
];

describe('splitReply', () => {
  it.each(SPLIT.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const r = splitReply(c.text);
    expect(r.body).toBe(c.body);
    if (c.quoted === null) expect(r.quoted).toBeNull();
    else for (const s of c.quoted) expect(r.quoted ?? '').toContain(s);
    if (c.signature === null) expect(r.signature).toBeNull();
    else for (const s of c.signature) expect(r.signature ?? '').toContain(s);
  });

  it('an empty or whitespace body', () => {
    expect(splitReply('')).toEqual({ body: '', quoted: null, signature: null });
    expect(splitReply('\n \n')).toEqual({ body: '', quoted: null, signature: null });
  });

  it('a reply with nothing written above the quote has an empty body (the quote is ours, not theirs)', () => {
    const r = splitReply(lines(`On Tue, Dec 8, 2026 at 9:00 AM ${OURS} wrote:`, ...QUOTE));
    expect(r.body).toBe('');
    expect(r.quoted).toContain('8. Khurshed');
  });
});

const LANG: Array<[string, Language | null]> = [
  // Tajik
  ['Мо ҳамеша бо шумо ҳастем.', 'tg'],
  ['Хуршед, рӯҳат шод бошад.', 'tg'],
  ['Модари азиз, сабр кунед. Мо ҳамроҳи шумо ҳастем.', 'tg'],
  ['Мо хамеша бо шумо хастем', 'tg'],
  ['Рахмат барои ин кор', 'tg'],
  ['Адолат ғолиб мешавад!', 'tg'],
  ['Ассалому алейкум! Мо аз Хуҷанд барои оилаи Бобокалоновҳо дуо мекунем.', 'tg'],
  ['Шиканҷа ҷиноят аст.', 'tg'],
  ['Салом! Мо бо шумо ҳастем. Держитесь!', 'tg'],
  ['Khurshed, mo hamesha bo shumo hastem.', 'tg'],
  ['Қиссаи ҳаштум дили маро сӯзонд.', 'tg'],
  ['ёди Хуршед', 'tg'], // its only Tajik word is written with ё
  // Russian
  ['Держитесь! Мы с вами.', 'ru'],
  ['Светлая память Хуршеду. Соболезную его маме.', 'ru'],
  ['Спасибо за вашу работу.', 'ru'],
  ['Пытки должны прекратиться. Мы требуем справедливости для всех.', 'ru'],
  ['Ассалому алейкум! Мы очень скорбим вместе с семьёй Хуршеда.', 'ru'],
  ['Вечная память', 'ru'],
  ['Сил вам и терпения, родные.', 'ru'],
  ['Я врач из Худжанда, училась с Хуршедом. Никогда не забуду его улыбку.', 'ru'],
  ['Помним. #notorturetj #JusticeForKhurshed', 'ru'],
  ['Это для истории 11. Stay strong!', 'ru'],
  // English
  ['Stay strong!', 'en'],
  ['We will never forget Khurshed.', 'en'],
  ['My thoughts are with his mother.', 'en'],
  ['Thank you for this campaign. Torture must end.', 'en'],
  ['Solidarity from Berlin ✊', 'en'],
  ['Rest in peace, doctor.', 'en'],
  ['Stay strong, we are all with you. Держитесь!', 'en'],
  ['Justice for Khurshed Bobokalonov #notorturetj', 'en'],
  ['Sending love and strength from Toronto', 'en'],
  // too little to tell
  ['', null],
  ['ok', null],
  ['👍🙏', null],
  ['Хуршед', null],
  ['Khurshed', null],
  ['+992 93 123 45 67', null],
  ['#notorturetj', null],
];

describe('detectLanguage', () => {
  it.each(LANG)('%j -> %j', (text, lang) => {
    expect(detectLanguage(text)).toBe(lang);
  });

  it('has at least eight texts per language', () => {
    for (const l of ['tg', 'ru', 'en'] as const) expect(LANG.filter(([, x]) => x === l).length).toBeGreaterThanOrEqual(8);
  });
});

const SIGN: Array<[string, string | null]> = [
  ['We are with you.\n\nNodira, Khujand', 'Nodira, Khujand'],
  ['Держитесь!\n— Алишер', 'Алишер'],
  ['Держитесь! — Алишер', 'Алишер'],
  ['Сил вам.\n\nС уважением, Мария', 'Мария'],
  ['Сил вам.\n\nС уважением,\nМария Иванова', 'Мария Иванова'],
  ['Мо бо шумо ҳастем.\n\nБо эҳтиром,\nФарзона', 'Фарзона'],
  ['Бо эҳтиром, Фарзона', 'Фарзона'],
  ['Stay strong.\n\nLove,\nAnna & Tom', 'Anna & Tom'],
  ['Stay strong.\n\nYour friend,\nAnna from Berlin', 'Anna from Berlin'],
  ['Stay strong!\n\nDilshod\n+992 90 123 45 67', 'Dilshod'],
  ['Never forget.\n\nAnna\n#notorturetj', 'Anna'],
  ['Thanks,\nnodira@example.com', null],
  ['Regards,\n+992 93 555 55 55', null],
  ['Stay strong!', null],
  ['Мы с вами.\nДержитесь', null],
  ['We are with you.\nJustice for Khurshed', null],
  ['Мы помним.\nСветлая память', null],
  ['Мы с тобой, Хуршед!', null],
  ['Khurshed, we will never forget you.', null],
  ['Помним.\nThis is for his mother and all the families.', null],
  ['', null],
];

describe('signOff', () => {
  it.each(SIGN)('%j -> %j', (text, name) => {
    expect(signOff(text)).toBe(name);
  });

  it('never returns an address or a phone number', () => {
    for (const t of ['Hi\n\n— nodira@example.com', 'Hi\n\nС уважением, +992 93 555 55 55', 'Hi\n\nBest,\nNodira <nodira@example.com>']) {
      const s = signOff(t);
      expect(s ?? '').not.toMatch(/@|\d{3}/);
    }
    expect(signOff('Hi\n\nBest,\nNodira <nodira@example.com>')).toBe('Nodira');
  });
});

describe('hostile lengths', () => {
  it('signOff reads only the end of a very long text and still finds the name', () => {
    const text = `${'a@b.c 1234567 '.repeat(100_000)}\n\nС уважением,\nМария`;
    expect(signOff(text)).toBe('Мария');
  });
  it('detectLanguage on a megabyte of mixed text gives an answer', () => {
    expect(detectLanguage('Салом, ман аз Хуҷанд ҳастам. '.repeat(40_000))).toBe('tg');
  });
});

describe('mayStartMarker', () => {
  // How splitReply's markers begin: a quote, a dashed marker, a From:/От:/Аз: line, Begin…/Начало… (flag i).
  const MARKER_START = /^(?:[ \t]*>|\s*-{2,}|\s*\*?(?:from|от|аз)|\s*(?:begin|начало))/i;

  it('is true for every line a marker can start, whatever its first character', () => {
    const tails = ['', 'rom: x', 'т: x', 'з: x', 'egin forwarded message:', 'ачало пересылаемого сообщения:', '-- x', '> x'];
    const missed: string[] = [];
    for (let c = 0; c < 0x10000; c++) {
      for (const tail of tails) {
        const line = String.fromCharCode(c) + tail;
        if (MARKER_START.test(line) && !mayStartMarker(line)) missed.push(line);
      }
    }
    expect(missed).toEqual([]);
  });
});
