// src/core/words.ts stands in for Unicode-property regexes on every body: each scan must find exactly what its
// regex finds, on every code point and on any mix of them; WordMap must answer as a Map of the cut-out words.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isLetter, isLetterOrMark, languageWordSpans, letterRunEnd, WordMap } from '../../src/core/words.ts';

/** A small random generator with a fixed seed: the same texts on every run. */
function rng(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
}

/** Every code point below U+3000 and every seventh above. */
function* codePoints() {
  for (let cp = 0; cp <= 0x10ffff; cp += cp < 0x3000 ? 1 : 7) yield cp;
}

const POOL = [
  ...'abzAZ09 \t\n.,-_#@', "'", '’', 'ʼ', '`', '‘', 'Жжҳҷқғӣӯ', '\u0482', '\u0483', '\u0489', '\u0301', 'é×÷ª', '中', 'ب',
  '\u{1d400}', '\u{1f600}', '\u{1e944}', '\ud800', '\udc00', '\u200d', '\u00a0', 'ǅ', 'ⅷ', 'İ', 'ſ',
].flatMap((s) => Array.from(s));

function randomTexts(n: number, seed: number): string[] {
  const rand = rng(seed);
  return Array.from({ length: n }, () => {
    let text = '';
    const len = Math.floor(rand() * 24);
    for (let i = 0; i < len; i++) text += POOL[Math.floor(rand() * POOL.length)];
    return text;
  });
}

function corpusTexts(): string[] {
  const dir = path.join(import.meta.dirname, '../../../shared/corpus');
  const files = fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }) : [];
  return files.flatMap((f) => {
    const file = path.join(dir, f);
    if (!fs.statSync(file).isFile()) return [];
    const bytes = fs.readFileSync(file).subarray(0, 64 * 1024);
    return [`${bytes.toString('latin1')}\n${bytes.toString('utf8')}`.toLowerCase()];
  });
}

describe('isLetter, isLetterOrMark', () => {
  it('agree with \\p{L} and [\\p{L}\\p{M}] on every code point below U+3000 and every seventh above', () => {
    const differ: number[] = [];
    for (const cp of codePoints()) {
      const c = String.fromCodePoint(cp);
      if (isLetter(cp) !== /^\p{L}$/u.test(c) || isLetterOrMark(cp) !== /^[\p{L}\p{M}]$/u.test(c)) differ.push(cp);
    }
    expect(differ).toEqual([]);
  });

  it('letterRunEnd ends where \\p{L}* does', () => {
    for (const text of randomTexts(5000, 7)) {
      for (let i = 0; i <= text.length; i++) {
        const re = /\p{L}*/uy;
        re.lastIndex = i;
        const m = re.exec(text)!;
        // a start inside a surrogate pair is not a place the scans start from
        if (m.index !== i) continue;
        expect(letterRunEnd(text, i), JSON.stringify([text, i])).toBe(i + m[0].length);
      }
    }
  });
});

describe('languageWordSpans', () => {
  const WORDS = /[\p{L}\p{M}]+(?:['’][\p{L}]+)?/gu;
  const byRegex = (text: string) =>
    [...text.matchAll(WORDS)].flatMap((m) => {
      const base = /^[\p{L}\p{M}]+/u.exec(m[0])![0].length;
      return [m.index!, m.index! + base, m.index! + m[0].length];
    });

  it('agrees with the regex on every code point, alone, between letters and after an apostrophe', () => {
    const differ: number[] = [];
    for (const cp of codePoints()) {
      const c = String.fromCodePoint(cp);
      for (const text of [c, `a${c}b`, `Ж'${c}`, `d’${c}x`, `${c}'s`]) {
        if (JSON.stringify(languageWordSpans(text)) !== JSON.stringify(byRegex(text))) {
          differ.push(cp);
          break;
        }
      }
    }
    expect(differ).toEqual([]);
  });

  it('agrees with the regex on random mixes of letters, marks, apostrophes, surrogates and the rest', () => {
    for (const text of randomTexts(20_000, 20261201)) expect(languageWordSpans(text), JSON.stringify(text)).toEqual(byRegex(text));
  });

  it('agrees with the regex on every text of the corpus, lowercased', () => {
    const texts = corpusTexts();
    const differ = texts.filter((t) => JSON.stringify(languageWordSpans(t)) !== JSON.stringify(byRegex(t)));
    expect(differ.length).toBe(0);
    expect(texts.length === 0 || texts.length > 100).toBe(true);
  });
});

describe('WordMap', () => {
  it('finds a word by its place in a text, as a Map of the cut-out words does', () => {
    const rand = rng(99);
    const words = randomTexts(2000, 5).map((t) => t.slice(0, 1 + Math.floor(rand() * 6)));
    const map = new WordMap<number>();
    const ref = new Map<string, number>();
    words.forEach((w, i) => {
      if (i % 2) return;
      map.add(w, i);
      if (!ref.has(w)) ref.set(w, i);
    });
    expect(map.size).toBe(ref.size);
    const text = words.join(' ');
    let at = 0;
    for (const w of words) {
      expect(map.get(text, at, at + w.length)).toBe(ref.get(w));
      at += w.length + 1;
    }
  });

  it('tells apart words with the same hash, keeps the first value, and empties on clear', () => {
    const map = new WordMap<string>();
    map.add('Aa', 'first');
    map.add('BB', 'second'); // same hash as "Aa"
    map.add('Aa', 'again');
    expect([map.get('xAaBB', 1, 3), map.get('xAaBB', 3, 5), map.get('xAaBB', 0, 2), map.size]).toEqual(['first', 'second', undefined, 2]);
    map.clear();
    expect([map.get('Aa', 0, 2), map.size]).toEqual([undefined, 0]);
  });
});
