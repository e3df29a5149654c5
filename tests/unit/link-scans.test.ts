// The scans of src/core/link.ts that stand in for slower regexes: each must give what its regex gives.
import { describe, expect, it } from 'vitest';
import { numberWord, storyWords, tokenBefore } from '../../src/core/link.ts';

/** A small random generator with a fixed seed: the same texts on every run. */
function rng(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
}

function randomTexts(pool: string[], n: number, seed: number, maxPieces = 12): string[] {
  const rand = rng(seed);
  return Array.from({ length: n }, () => {
    let text = '';
    const len = Math.floor(rand() * maxPieces);
    for (let i = 0; i < len; i++) text += pool[Math.floor(rand() * pool.length)];
    return text;
  });
}

const STORY_WORD = String.raw`(?:stor(?:y|ies|y's|y’s)|истори(?:я|и|ю|ей|й|ям|ями|ях)|рассказ(?:а|у|е|ом|ы|ов)?|[қк]исса(?:и|ҳо|хо|ҳои|хои|ро|е)?|[ҳх]икоя(?:и|ҳо|хо|ҳои|хои|ро|е|т|ти)?)`;
const DIGIT_ORD = String.raw`(?:-?(?:я|й|ая|ой|ую|ом|ый|ей|ого|ий|th|st|nd|rd|ум|ӯм|уми|ӯми|умин|ӯмин))`;

const PIECES = [
  'story', 'STORY', 'stories', "story's", 'story’s', 'ſtory', 'история', 'Истории', 'рассказ', 'қиссаи', 'кисса',
  'ҳикоят', 'хикоя', 'иᲃтория', '8', '12', '123', '-', '-я', 'th', 'TH', 'ſt', 'ая', 'ум', 'ӯмин', 'восьмая',
  'x', 'ж', '_', '1', ' ', '  ', '\n', '\t', '\u00a0', '\u2028', '.', ',', "'", '’', '\u0301', '\u0483', '\u0482',
  '😀', '𝐀', '\ud800', '\udc00', 'é', '٣', 'Ⅷ',
];

describe('numberWord', () => {
  // The patterns as written: one per entry, tried in order.
  const patterns: Array<[RegExp, number, string]> = [];
  const en: Array<[string, string, number]> = [
    ['two', 'second', 2], ['three', 'third', 3], ['four', 'fourth', 4], ['five', 'fifth', 5], ['six', 'sixth', 6],
    ['seven', 'seventh', 7], ['eight', 'eighth', 8], ['nine', 'ninth', 9], ['ten', 'tenth', 10],
    ['eleven', 'eleventh', 11], ['twelve', 'twelfth', 12],
  ];
  for (const [c, o, n] of en) patterns.push([new RegExp(`^${c}$`, 'i'), n, 'cardinal'], [new RegExp(`^${o}$`, 'i'), n, 'ordinal']);
  const ruCard: Array<[string, number]> = [
    ['два|две', 2], ['три', 3], ['четыре', 4], ['пять', 5], ['шесть', 6], ['семь', 7], ['восемь', 8],
    ['девять', 9], ['десять', 10], ['одиннадцать', 11], ['двенадцать', 12],
  ];
  for (const [c, n] of ruCard) patterns.push([new RegExp(`^(?:${c})$`, 'iu'), n, 'cardinal']);
  const ruOrd: Array<[string, number]> = [
    ['втор', 2], ['трет', 3], ['четв[её]рт', 4], ['пят', 5], ['шест', 6], ['седьм', 7], ['восьм', 8],
    ['девят', 9], ['десят', 10], ['одиннадцат', 11], ['двенадцат', 12],
  ];
  for (const [o, n] of ruOrd)
    patterns.push([new RegExp(`^${o}(?:ая|ой|ую|ый|ое|ого|ом|ья|ью|ьей|ий|ье|ьего|ьем|ьей)$`, 'iu'), n, 'ordinal']);
  const tg: Array<[string, number]> = [
    ['ду', 2], ['се', 3], ['чор', 4], ['панҷ|панч', 5], ['шаш', 6], ['ҳафт|хафт', 7], ['ҳашт|хашт', 8],
    ['нӯҳ|нух|нуҳ|нӯх', 9], ['даҳ|дах', 10], ['ёздаҳ|ёздах', 11], ['дувоздаҳ|дувоздах', 12],
  ];
  for (const [c, n] of tg) {
    patterns.push([new RegExp(`^(?:${c})$`, 'iu'), n, 'cardinal']);
    patterns.push([new RegExp(`^(?:${c})(?:ум|ӯм|уми|ӯми|умин|ӯмин)$`, 'iu'), n, 'ordinal']);
  }
  const byPatterns = (w: string) => {
    for (const [re, n, kind] of patterns) if (re.test(w)) return { n, kind };
    return null;
  };

  it('gives what the patterns give on their spellings in any case, with stray letters, and on random words', () => {
    const spellings = [
      'two', 'second', 'twelfth', 'два', 'две', 'три', 'двенадцать', 'вторая', 'четвёртой', 'четвертого', 'седьмье',
      'ду', 'дуум', 'ҳаштумин', 'хаштӯм', 'нӯҳ', 'нух', 'ёздаҳ', 'дувоздахуми', 'се', 'сеум',
    ];
    const variants = spellings.flatMap((w) => [
      w, w.toUpperCase(), w[0].toUpperCase() + w.slice(1), w + 'x', w.slice(1), `${w}\u0301`,
      w.replace('s', 'ſ').replace('с', 'ᲃ').replace('в', 'ᲀ').replace('о', 'ᲂ').replace('т', 'ᲄ'),
    ]);
    const letters = [...'twoseciondhfrvuxyzабвгдеёжзийклмнопрстуфхцчшщъыьэюяҳӯҷқғӣАВЁҲӮſᲃᲀK\u0301'];
    const random = randomTexts(letters, 20_000, 3, 9);
    for (const w of [...variants, ...random]) expect(numberWord(w), w).toEqual(byPatterns(w));
  });
});

describe('storyWords', () => {
  const STORY_THEN_NUMBER = new RegExp(`(?<![\\p{L}\\p{M}\\p{N}_])${STORY_WORD}(?![\\p{L}\\p{M}_])`, 'giu');
  const spans = (ms: Iterable<RegExpExecArray | RegExpMatchArray>) => [...ms].map((m) => [m.index, m[0]]);

  it('finds the matches of the lookbehind regex', () => {
    for (const text of randomTexts(PIECES, 30_000, 11))
      expect(spans(storyWords(text)), JSON.stringify(text)).toEqual(spans(text.matchAll(STORY_THEN_NUMBER)));
  });
});

describe('tokenBefore', () => {
  const TOKEN_BEFORE = new RegExp(String.raw`(\d{1,2}${DIGIT_ORD}|[\p{L}\p{M}]+)\s+$`, 'iu');

  // Windows that end as the regex wants more often: a number, a dash, an ending or a word, then spaces.
  const rand = rng(17);
  const ends = ['1', '12', '123', '-', 'я', 'th', 'TH', 'ſt', 'ая', 'ӯмин', 'восьмая', 'x', '\u0301', '𝐀', '\ud800', '.', '_'];
  const spaces = ['', ' ', '  ', '\n', '\t', '\u00a0', '\u2028', '\u3000'];
  const windows = randomTexts(PIECES, 30_000, 13).map((text, i) => {
    if (i % 2) return text;
    let end = '';
    for (let k = Math.floor(rand() * 5); k > 0; k--) end += ends[Math.floor(rand() * ends.length)];
    return text + end + spaces[Math.floor(rand() * spaces.length)] + spaces[Math.floor(rand() * spaces.length)];
  });

  it('matches as the regex does on the whole window', () => {
    for (const text of windows) {
      const a = TOKEN_BEFORE.exec(text);
      const b = tokenBefore(text);
      expect(b && [b[0], b[1]], JSON.stringify(text)).toEqual(a && [a[0], a[1]]);
    }
  });
});
