// Letters and words of a supporter's text, found by code point instead of by Unicode-property regexes (which
// cost most of the time spent on every body), and a map looked up by where a word is in a text, so the words
// that are looked up need not be cut out of it. Pure, no dependencies.

/** What a code point is for word scanning: neither, a mark (\p{M}) or a letter (\p{L}). */
const NONE = 0;
const MARK = 1;
const LETTER = 2;

const LETTER_RE = /^\p{L}$/u;
const MARK_RE = /^\p{M}$/u;
/** The kind of code points the ranges below do not cover, by the Unicode properties; kept up to a bound. */
const otherKinds = new Map<number, number>();

/**
 * The kind of a code point: by range for Basic Latin, Latin-1 and the Latin extensions (letters but × and ÷),
 * and Cyrillic with its supplement (letters but ҂ and the combining marks U+0483-U+0489); by the Unicode
 * properties for the rest.
 */
function kindOf(cp: number): number {
  if (cp < 0x80) return (cp | 0x20) >= 0x61 && (cp | 0x20) <= 0x7a ? LETTER : NONE;
  if (cp >= 0x400 && cp <= 0x52f) return cp < 0x482 || cp > 0x489 ? LETTER : cp === 0x482 ? NONE : MARK;
  if (cp >= 0xc0 && cp <= 0x24f) return cp !== 0xd7 && cp !== 0xf7 ? LETTER : NONE;
  let kind = otherKinds.get(cp);
  if (kind === undefined) {
    const c = String.fromCodePoint(cp);
    kind = LETTER_RE.test(c) ? LETTER : MARK_RE.test(c) ? MARK : NONE;
    if (otherKinds.size < 4096) otherKinds.set(cp, kind);
  }
  return kind;
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
    const c = text.charCodeAt(i);
    // ASCII that is not a letter is most of what lies between words: no code point to read.
    if (c < 0x80 ? (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a : kindOf(text.codePointAt(i)!) !== NONE) return i;
    i += c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00 ? 2 : 1;
  }
  return i;
}

const APOSTROPHES = new Set(["'", '’', 'ʼ', '`'].map((c) => c.charCodeAt(0)));

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
    while (i + 1 < text.length && APOSTROPHES.has(text.charCodeAt(i)) && isLetterOrMark(text.codePointAt(i + 1)!))
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
    const c = text.charCodeAt(i);
    if ((c === 0x27 || c === 0x2019) && i + 1 < text.length && isLetter(text.codePointAt(i + 1)!)) i = letterRunEnd(text, i + 1);
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

interface Entry<V> {
  word: string;
  value: V;
  /** The next entry with the same hash. */
  next: Entry<V> | null;
}

/**
 * A map from words to values, looked up by a span of a text: get(text, start, end) is get(text.slice(start, end))
 * without the new string (most words of a body are looked up and not found, or found again and again).
 */
export class WordMap<V> {
  private readonly byHash = new Map<number, Entry<V>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(text: string, start: number, end: number): V | undefined {
    for (let e: Entry<V> | null = this.byHash.get(spanHash(text, start, end)) ?? null; e; e = e.next)
      if (e.word.length === end - start && text.startsWith(e.word, start)) return e.value;
    return undefined;
  }

  /** Adds a word (first value kept: a word already in the map is left as it is). */
  add(word: string, value: V): void {
    const h = spanHash(word, 0, word.length);
    const first = this.byHash.get(h);
    for (let e: Entry<V> | null = first ?? null; e; e = e.next) if (e.word === word) return;
    this.byHash.set(h, { word, value, next: first ?? null });
    this.count++;
  }

  clear(): void {
    this.byHash.clear();
    this.count = 0;
  }
}
