// Letters and words of a supporter's text, found by code point instead of by Unicode-property regexes (which
// cost most of the time spent on every body), and a map looked up by where a word is in a text, so the words
// that are looked up need not be cut out of it. Pure, no dependencies.

/** What a code point is for word scanning: neither, a mark (\p{M}) or a letter (\p{L}); UNKNOWN: not learnt yet. */
const UNKNOWN = 0;
const NONE = 1;
const MARK = 2;
const LETTER = 3;

/**
 * The kind of every BMP code point, one lookup per character. Basic Latin, Latin-1 and the Latin extensions
 * (letters but × and ÷), and Cyrillic with its supplement (letters but ҂ and the combining marks U+0483-U+0489)
 * are filled in here; any other code point is learnt from the Unicode properties the first time it is met.
 */
const BMP_KINDS = new Uint8Array(0x10000);
for (let c = 0; c < 0x80; c++) BMP_KINDS[c] = (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a ? LETTER : NONE;
for (let c = 0xc0; c <= 0x24f; c++) BMP_KINDS[c] = c === 0xd7 || c === 0xf7 ? NONE : LETTER;
for (let c = 0x400; c <= 0x52f; c++) BMP_KINDS[c] = c === 0x482 ? NONE : c >= 0x483 && c <= 0x489 ? MARK : LETTER;
/** The kinds of astral code points met so far, up to a bound. */
const astralKinds = new Map<number, number>();

const LETTER_RE = /^\p{L}$/u;
const MARK_RE = /^\p{M}$/u;

function learnKind(cp: number): number {
  const c = String.fromCodePoint(cp);
  const kind = LETTER_RE.test(c) ? LETTER : MARK_RE.test(c) ? MARK : NONE;
  if (cp <= 0xffff) BMP_KINDS[cp] = kind;
  else if (astralKinds.size < 4096) astralKinds.set(cp, kind);
  return kind;
}

function kindOf(cp: number): number {
  if (cp <= 0xffff) {
    const kind = BMP_KINDS[cp];
    return kind !== UNKNOWN ? kind : learnKind(cp);
  }
  return astralKinds.get(cp) ?? learnKind(cp);
}

/** Whether a code point is a letter or a mark: `[\p{L}\p{M}]`. */
export const isLetterOrMark = (cp: number): boolean => kindOf(cp) !== NONE;
/** Whether a code point is a letter: `\p{L}`. */
export const isLetter = (cp: number): boolean => kindOf(cp) === LETTER;

/** The end of the run of letters and marks that starts at `i` (`[\p{L}\p{M}]*`, flag u). */
export function letterOrMarkRunEnd(text: string, i: number): number {
  while (i < text.length) {
    const cp = text.codePointAt(i)!;
    if (kindOf(cp) === NONE) break;
    i += cp > 0xffff ? 2 : 1;
  }
  return i;
}

/** The end of the run of letters that starts at `i` (`\p{L}*`, flag u). */
export function letterRunEnd(text: string, i: number): number {
  while (i < text.length) {
    const cp = text.codePointAt(i)!;
    if (kindOf(cp) !== LETTER) break;
    i += cp > 0xffff ? 2 : 1;
  }
  return i;
}

/** The first letter or mark at or after `i`, or text.length. */
export function nextLetterOrMark(text: string, i: number): number {
  while (i < text.length) {
    const cp = text.codePointAt(i)!;
    if (kindOf(cp) !== NONE) return i;
    i += cp > 0xffff ? 2 : 1;
  }
  return i;
}

/** ' ’ ʼ ` */
const isApostrophe = (c: number) => c === 0x27 || c === 0x2019 || c === 0x2bc || c === 0x60;

/**
 * The words of a text as offsets, flat: [start0, end0, start1, end1, …]. The matches of
 * [\p{L}\p{M}]+(?:['’ʼ`][\p{L}\p{M}]+)* (flags gu), letters and marks joined by apostrophes, found by a scan.
 */
export function wordSpans(text: string): number[] {
  const spans: number[] = [];
  let i = nextLetterOrMark(text, 0);
  while (i < text.length) {
    const start = i;
    i = letterOrMarkRunEnd(text, i);
    while (i + 1 < text.length && isApostrophe(text.charCodeAt(i)) && isLetterOrMark(text.codePointAt(i + 1)!))
      i = letterOrMarkRunEnd(text, i + 1);
    spans.push(start, i);
    i = nextLetterOrMark(text, i);
  }
  return spans;
}

/**
 * The words as language detection reads them, as [start, baseEnd, end] triples, flat: the matches of
 * [\p{L}\p{M}]+(?:['’][\p{L}]+)? (flags gu), found by a scan. [start, baseEnd) is the run of letters and marks;
 * end > baseEnd when an apostrophe and letters follow it ("don't", "qur’on").
 */
export function languageWordSpans(text: string): number[] {
  const out: number[] = [];
  let i = nextLetterOrMark(text, 0);
  while (i < text.length) {
    const start = i;
    const baseEnd = letterOrMarkRunEnd(text, i);
    i = baseEnd;
    if (i + 1 < text.length) {
      const c = text.charCodeAt(i);
      if ((c === 0x27 || c === 0x2019) && isLetter(text.codePointAt(i + 1)!)) i = letterRunEnd(text, i + 1);
    }
    out.push(start, baseEnd, i);
    i = nextLetterOrMark(text, i);
  }
  return out;
}

/** A hash of the code units of text[start, end): how a WordMap finds a word without cutting it out. */
function spanHash(text: string, start: number, end: number): number {
  let h = end - start;
  for (let i = start; i < end; i++) h = (Math.imul(h, 31) + text.charCodeAt(i)) | 0;
  return h;
}

/**
 * A map from words to values, looked up by a span of a text: get(text, start, end) is get(text.slice(start, end))
 * without the new string (most words of a body are looked up and not found, or found again and again).
 */
export class WordMap<V> {
  /** Per hash, its words and values: [word0, value0, word1, value1, …] (a second word only on a collision). */
  private readonly byHash = new Map<number, Array<string | V>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(text: string, start: number, end: number): V | undefined {
    const list = this.byHash.get(spanHash(text, start, end));
    if (list === undefined) return undefined;
    for (let k = 0; k < list.length; k += 2) {
      const word = list[k] as string;
      if (word.length === end - start && text.startsWith(word, start)) return list[k + 1] as V;
    }
    return undefined;
  }

  /** Adds a word (first value kept: a word already in the map is left as it is). */
  add(word: string, value: V): void {
    const h = spanHash(word, 0, word.length);
    const list = this.byHash.get(h);
    if (list === undefined) this.byHash.set(h, [word, value]);
    else if (list.some((w, k) => k % 2 === 0 && w === word)) return;
    else list.push(word, value);
    this.count++;
  }

  clear(): void {
    this.byHash.clear();
    this.count = 0;
  }
}
