// wordSpans (src/core/words.ts) is a scan standing in for a Unicode regex on every body: it must find exactly
// what the regex finds, on every code point and on any mix of them (astral letters, marks, lone surrogates).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { wordSpans as flatSpans } from '../../src/core/words.ts';

const WORDS = /[\p{L}\p{M}]+(?:['’ʼ`][\p{L}\p{M}]+)*/gu;
/** The flat [start0, end0, start1, end1, …] of wordSpans as pairs, as the regex gives them. */
const wordSpans = (text: string) => {
  const flat = flatSpans(text);
  return Array.from({ length: flat.length / 2 }, (_, i): [number, number] => [flat[2 * i], flat[2 * i + 1]]);
};
const byRegex = (text: string) => [...text.matchAll(WORDS)].map((m): [number, number] => [m.index!, m.index! + m[0].length]);

/** A small random generator with a fixed seed: the same texts on every run. */
function rng(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
}

describe('wordSpans', () => {
  it('agrees with the regex on every code point below U+3000 and every seventh above, alone and between letters', () => {
    const differ: number[] = [];
    for (let cp = 0; cp <= 0x10ffff; cp += cp < 0x3000 ? 1 : 7) {
      const c = String.fromCodePoint(cp);
      for (const text of [c, `a${c}b`, `Ж${c}`]) {
        if (JSON.stringify(wordSpans(text)) !== JSON.stringify(byRegex(text))) {
          differ.push(cp);
          break;
        }
      }
    }
    expect(differ).toEqual([]);
  });

  it('agrees with the regex on random mixes of letters, marks, apostrophes, surrogates and the rest', () => {
    const pool = [
      ...'abzAZ09 \t\n.,-_#@', "'", '’', 'ʼ', '`', '‘', 'Жжҳҷқғӣӯ', '\u0482', '\u0483', '\u0489', '\u0301', 'é×÷ª', '中', 'ب',
      '\u{1d400}', '\u{1f600}', '\ud800', '\udc00', '\u200d', '\u00a0', 'ǅ', 'ⅷ',
    ].flatMap((s) => Array.from(s));
    const rand = rng(20261201);
    for (let n = 0; n < 20_000; n++) {
      let text = '';
      const len = Math.floor(rand() * 24);
      for (let i = 0; i < len; i++) text += pool[Math.floor(rand() * pool.length)];
      expect(wordSpans(text), JSON.stringify(text)).toEqual(byRegex(text));
    }
  });

  it('agrees with the regex on every text of the corpus', () => {
    const dir = path.join(import.meta.dirname, '../../../shared/corpus');
    const files = fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }) : [];
    let checked = 0;
    const differ: string[] = [];
    for (const f of files) {
      const file = path.join(dir, f);
      if (!fs.statSync(file).isFile()) continue;
      const bytes = fs.readFileSync(file).subarray(0, 64 * 1024); // the start is where the words are
      const text = `${bytes.toString('latin1')}\n${bytes.toString('utf8')}`;
      if (JSON.stringify(wordSpans(text)) !== JSON.stringify(byRegex(text))) differ.push(f);
      checked++;
    }
    expect(differ).toEqual([]);
    expect(checked === 0 || checked > 100).toBe(true);
  });
});
