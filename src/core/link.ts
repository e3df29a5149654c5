// Which story a submission is about. Pure: from the recipients, the reply headers, the subject and the body
// (quotes already removed by splitReply) and the campaign's stories. Signals, strongest first: a per-story
// address, a reply to the story's announcement, an explicit story number, the victim's name; the campaign
// hashtag raises the confidence of any of them. Two stories named, an ambiguous name or nothing at all goes to
// triage: a wrong story is worse than a staff member's minute.
import type { Campaign } from '../config.ts';
import { signOff } from './text.ts';
import { isLetterOrMark, WordMap, wordSpans } from './words.ts';

export type LinkMethod = 'address' | 'reply' | 'number' | 'name' | 'hashtag';

export interface LinkInput {
  /** To + Cc + Delivered-To/X-Original-To addresses, lowercased. */
  recipients: string[];
  /** Message-IDs without <>. */
  inReplyTo: string | null;
  references: string[];
  subject: string | null;
  /** The body after splitReply (quotes removed). */
  body: string;
  /** signOff(body), when the caller has it already; computed here otherwise. */
  signOff?: string | null;
}

export interface LinkResult {
  /** null = triage */
  story: number | null;
  method: LinkMethod | null;
  /** 0..1 */
  confidence: number;
  /** For staff: why this story, or why triage. */
  reason: string;
  /** Stories that were considered. */
  candidates: number[];
}

type CampaignView = Pick<Campaign, 'addresses' | 'hashtag' | 'stories'>;
type StoryView = CampaignView['stories'][number];

/** Below this a link is not trusted (the pipeline uses the same bound): such a message goes to triage. */
export const MIN_CONFIDENCE = 0.6;

export const CONFIDENCE = {
  address: 1.0,
  reply: 0.95,
  replyReferences: 0.9,
  numberSubject: 0.9,
  numberBody: 0.8,
  hashtagNumber: 0.85,
  fullName: 0.85,
  surname: 0.75,
  givenName: 0.6,
  hashtagBonus: 0.05,
  /** A name spelled one letter away from the configured one. */
  fuzzyPenalty: 0.05,
  /** A name found only in the last line, where the sender may have signed with their own name. */
  signOffPenalty: 0.1,
} as const;

const METHOD_ORDER: LinkMethod[] = ['address', 'reply', 'number', 'hashtag', 'name'];

interface Signal {
  story: number;
  method: LinkMethod;
  confidence: number;
  reason: string;
}

const q = (s: string) => `“${s.replace(/\s+/g, ' ').trim()}”`;
const round2 = (x: number) => Math.round(x * 100) / 100;

function listNumbers(ns: number[]): string {
  if (ns.length <= 1) return ns.join('');
  return `${ns.slice(0, -1).join(', ')} and ${ns[ns.length - 1]}`;
}

// ---------------------------------------------------------------------------------------------------------
// 1. addresses

const STORY_TAG = /^(?:story|stories|s|st|no|nr|istoriya|istoriia|istoria|qissa|kissa|hikoya|xikoya)?[-_.]?0*(\d{1,3})$/;

function addressSignals(recipients: string[], campaign: CampaignView, numbers: Set<number>, notes: string[]): Signal[] {
  const ours = campaign.addresses.map((a) => {
    const lower = a.toLowerCase();
    const at = lower.lastIndexOf('@');
    return { local: lower.slice(0, at), domain: lower.slice(at + 1) };
  });
  const out: Signal[] = [];
  for (const raw of new Set(recipients.map((r) => r.trim().toLowerCase()))) {
    const at = raw.lastIndexOf('@');
    if (at <= 0) continue;
    const local = raw.slice(0, at);
    const domain = raw.slice(at + 1);
    for (const o of ours) {
      if (domain !== o.domain) continue;
      let tag: string | null = null;
      let kind = 'per-story address';
      if (local.startsWith(`${o.local}+`) || local.startsWith(`${o.local}-`)) {
        tag = local.slice(o.local.length + 1);
        if (local[o.local.length] === '+') kind = 'plus-address';
      } else if (/^(?:story|istoriya|istoria|qissa|kissa|hikoya)[-_.]?\d{1,3}$/.test(local)) {
        tag = local;
      }
      if (tag === null) continue;
      const m = STORY_TAG.exec(tag);
      if (!m) continue;
      const n = Number(m[1]);
      if (numbers.has(n)) out.push({ story: n, method: 'address', confidence: CONFIDENCE.address, reason: `${kind} ${raw}` });
      else notes.push(`${kind} ${raw} names story ${n}, which this campaign does not have`);
      break;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// 2. replies to an announcement

const normId = (id: string) => id.trim().replace(/^<+|>+$/g, '').trim().toLowerCase();

function replySignals(input: LinkInput, stories: StoryView[]): Signal[] {
  const byId = new Map<string, number>();
  for (const s of stories) if (s.announcementMessageId) byId.set(normId(s.announcementMessageId), s.number);
  if (!byId.size) return [];
  if (input.inReplyTo) {
    const n = byId.get(normId(input.inReplyTo));
    if (n !== undefined)
      return [{ story: n, method: 'reply', confidence: CONFIDENCE.reply, reason: `reply to the announcement of story ${n}` }];
  }
  const seen = new Set<number>();
  const out: Signal[] = [];
  for (const r of input.references) {
    const n = byId.get(normId(r));
    if (n === undefined || seen.has(n)) continue;
    seen.add(n);
    out.push({
      story: n,
      method: 'reply',
      confidence: CONFIDENCE.replyReferences,
      reason: `in the thread of the announcement of story ${n} (References)`,
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// 3. explicit numbers

const B1 = String.raw`(?![\p{L}\p{M}\p{N}_])`;

const STORY_WORD = String.raw`(?:stor(?:y|ies|y's|y’s)|истори(?:я|и|ю|ей|й|ям|ями|ях)|рассказ(?:а|у|е|ом|ы|ов)?|[қк]исса(?:и|ҳо|хо|ҳои|хои|ро|е)?|[ҳх]икоя(?:и|ҳо|хо|ҳои|хои|ро|е|т|ти)?)`;
const NUM_MARK = String.raw`(?:\s*(?:№|#|no\.?|nr\.?|number|num\.?|номер|рақами|раками|рақам|ракам|номери)\s*)?`;
const DIGIT_ORD = String.raw`(?:-?(?:я|й|ая|ой|ую|ом|ый|ей|ого|ий|th|st|nd|rd|ум|ӯм|уми|ӯми|умин|ӯмин))`;

type NumberWordKind = 'cardinal' | 'ordinal';

/**
 * Number words, cardinal and ordinal, in the three languages ("one"/"first" left out: too common): per entry,
 * its pattern and every spelling the pattern matches, in lower case.
 */
const NUMBER_WORDS: Array<{ re: RegExp; spellings: string[]; n: number; kind: NumberWordKind }> = [];
{
  /** Stems and endings are '|'-separated alternatives; en patterns are ASCII-case-insensitive (i), the others iu. */
  const add = (stems: string, endings: string, flags: string, n: number, kind: NumberWordKind) => {
    const re = new RegExp(`^(?:${stems})${endings ? `(?:${endings})` : ''}$`, flags);
    const spellings = stems.split('|').flatMap((stem) => endings.split('|').map((e) => stem + e));
    NUMBER_WORDS.push({ re, spellings, n, kind });
  };
  const en: Array<[string, string, number]> = [
    ['two', 'second', 2], ['three', 'third', 3], ['four', 'fourth', 4], ['five', 'fifth', 5], ['six', 'sixth', 6],
    ['seven', 'seventh', 7], ['eight', 'eighth', 8], ['nine', 'ninth', 9], ['ten', 'tenth', 10],
    ['eleven', 'eleventh', 11], ['twelve', 'twelfth', 12],
  ];
  for (const [c, o, n] of en) {
    add(c, '', 'i', n, 'cardinal');
    add(o, '', 'i', n, 'ordinal');
  }
  const ruCard: Array<[string, number]> = [
    ['два|две', 2], ['три', 3], ['четыре', 4], ['пять', 5], ['шесть', 6], ['семь', 7], ['восемь', 8],
    ['девять', 9], ['десять', 10], ['одиннадцать', 11], ['двенадцать', 12],
  ];
  for (const [c, n] of ruCard) add(c, '', 'iu', n, 'cardinal');
  const ruOrd: Array<[string, number]> = [
    ['втор', 2], ['трет', 3], ['четвёрт|четверт', 4], ['пят', 5], ['шест', 6], ['седьм', 7], ['восьм', 8],
    ['девят', 9], ['десят', 10], ['одиннадцат', 11], ['двенадцат', 12],
  ];
  for (const [o, n] of ruOrd) add(o, 'ая|ой|ую|ый|ое|ого|ом|ья|ью|ьей|ий|ье|ьего|ьем|ьей', 'iu', n, 'ordinal');
  const tg: Array<[string, number]> = [
    ['ду', 2], ['се', 3], ['чор', 4], ['панҷ|панч', 5], ['шаш', 6], ['ҳафт|хафт', 7], ['ҳашт|хашт', 8],
    ['нӯҳ|нух|нуҳ|нӯх', 9], ['даҳ|дах', 10], ['ёздаҳ|ёздах', 11], ['дувоздаҳ|дувоздах', 12],
  ];
  for (const [c, n] of tg) {
    add(c, '', 'iu', n, 'cardinal');
    add(c, 'ум|ӯм|уми|ӯми|умин|ӯмин', 'iu', n, 'ordinal');
  }
}

/** Every spelling of NUMBER_WORDS, lowercased; a spelling of two entries is the first one's, as in the list. */
const NUMBER_WORD_SPELLINGS = new Map<string, { n: number; kind: NumberWordKind }>();
for (const { spellings, n, kind } of NUMBER_WORDS)
  for (const w of spellings) if (!NUMBER_WORD_SPELLINGS.has(w)) NUMBER_WORD_SPELLINGS.set(w, { n, kind });

/**
 * Basic Latin and Cyrillic letters only: such a word matches a pattern above exactly when its lower case is one
 * of the pattern's spellings (the case-insensitive match folds these letters as toLowerCase does).
 */
const PLAIN_LETTERS = /^[a-zA-Z\u0400-\u04ff]*$/;

/** The number a word spells, if it is one of NUMBER_WORDS: by one lookup, or by the patterns for other letters. */
export function numberWord(w: string): { n: number; kind: NumberWordKind } | null {
  if (PLAIN_LETTERS.test(w)) return NUMBER_WORD_SPELLINGS.get(w.toLowerCase()) ?? null;
  // Letters that fold to these under Unicode case rules (ſ for s, ᲃ for с): as the patterns say.
  for (const { re, n, kind } of NUMBER_WORDS) if (re.test(w)) return { n, kind };
  return null;
}

/** Words after a number that make it a quantity, a date or a time, not a story. */
const NOT_A_STORY_AFTER = new RegExp(
  String.raw`^\s*-?\s*(?:` +
    [
      String.raw`years?|yrs?|year-old|y\.?o\.?|months?|weeks?|days?|hours?|hrs?|minutes?|mins?|seconds?|secs?`,
      String.raw`times|people|persons|men|women|children|am|pm|a\.m\.|p\.m\.|o'clock|percent|kg|km|more|others|may|fan|fans`,
      String.raw`лет|год[а-я]*|г\.|мес[а-я]*|недел[а-я]*|дн[а-я]*|день|час[а-я]*|мин[а-я]*|сек[а-я]*|раза?|человек|людей|процент[а-я]*`,
      String.raw`сол[а-яӣ]*|моҳ[а-яҳ]*|мох[а-я]*|ҳафта[а-я]*|хафта[а-я]*|рӯз[а-яӣ]*|руз[а-я]*|соат[а-я]*|дақиқа[а-я]*|дакика[а-я]*|нафар[а-я]*|бор|маротиба`,
      String.raw`jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?`,
      String.raw`январ[а-яи]*|феврал[а-яи]*|март[а-яи]*|апрел[а-яи]*|ма[йяеи]|июн[а-яи]*|июл[а-яи]*|август[а-яи]*|сентябр[а-яи]*|октябр[а-яи]*|ноябр[а-яи]*|декабр[а-яи]*`,
    ].join('|') +
    String.raw`)(?![\p{L}\p{M}])`,
  'iu',
);
/** "8:30", "8.12.2026", "8/12", "8,5", "1-12": a time, a date, a decimal or a range. */
const DATE_OR_TIME_AFTER = /^(?:\s?[:./]\s?\d|,\d|\s?[-–—]\s?\d)/;

/** The word before a bare "#8"/"№8" may only be a preposition or nothing ("для №8", "Re: #8"), not "school", "my". */
const ALLOWED_BEFORE_BARE = new Set(
  'для к ко о об про по в во на из барои ба дар аз оид ва и to for about re fwd fw on and from of'.split(' '),
);
const BARE_FOLLOWERS = /^\s+(?:fan|fans|priority|choice|thing|spot|rule|seed|pick|hit|best|place|most|in|on|at|for|cause|song|reason)(?![\p{L}])/iu;

/** How far after a story word (or before a bare number) the number and its context are looked for. */
const WINDOW = 120;
/** Supporters write a few paragraphs: past this, a body is read no further for linking. */
export const MAX_LINK_CHARS = 20_000;

interface NumberHit {
  n: number;
  text: string;
}

function afterIsQuantity(rest: string): boolean {
  return NOT_A_STORY_AFTER.test(rest) || DATE_OR_TIME_AFTER.test(rest);
}

function wordBefore(text: string, index: number): { word: string | null; char: string } {
  const from = Math.max(0, index - WINDOW);
  const lineStart = Math.max(from, text.lastIndexOf('\n', index - 1) + 1);
  const before = text.slice(lineStart, index).replace(/\s+$/, '');
  if (!before) return { word: null, char: '' };
  const m = /([\p{L}\p{M}]+)$/u.exec(before);
  return { word: m ? m[1].toLowerCase() : null, char: before[before.length - 1] };
}

const LEADING_DIGITS = new RegExp(String.raw`^(\d{1,3})(?!\d)(${DIGIT_ORD})?${B1}`, 'iu');
/** A story word and the boundary after it; the one before it is checked per match (storyWords). */
const STORY_WORD_AHEAD = new RegExp(`${STORY_WORD}(?![\\p{L}\\p{M}_])`, 'giu');
/** What may not come before a story word (a letter, mark, digit or _), as the last code point of a string. */
const WORD_CHAR_LAST = /[\p{L}\p{M}\p{N}_]$/iu;
const LEADING_MARK = new RegExp(`^${NUM_MARK}`, 'iu');
/** The token right before a story word ("8-я", "восьмая", "8th"), to be checked as an ordinal. */
const TOKEN_BEFORE = new RegExp(String.raw`(\d{1,2}${DIGIT_ORD}|[\p{L}\p{M}]+)\s+$`, 'iu');
const WORD_CHAR = /[\p{L}\p{M}\p{N}_]/u;
/** Any story word, no boundaries: a text without one needs no story-word scan. */
const STORY_WORD_ANY = new RegExp(STORY_WORD, 'iu');
// (\p{…} outside a class: built here once, see UPPERCASE)
const NUMBER_CHAR = /\p{N}/u;
const SPACES_THEN_LOWERCASE = /^\s+\p{Ll}/u;
const SPACE = /\s/;
/** Something like the "8. " of "8. Khurshed" (a digit, then "." or ")" and a space): titleNumbers needs one. */
const TITLE_NUMBER = /\d[ \t]*[.)][ \t]/;
const NO_DOT = /no\./i;

/**
 * The story words of a text that do not follow a letter, mark, digit or _: the matches of
 * (?<![\p{L}\p{M}\p{N}_])${STORY_WORD}(?![\p{L}\p{M}_]) (flags giu). That lookbehind, tried at every position of
 * the text, cost more than the rest of the number search: here the story word is found first, and one that
 * follows such a character is passed over, the search going on from its next character.
 */
export function storyWords(text: string): RegExpExecArray[] {
  const out: RegExpExecArray[] = [];
  STORY_WORD_AHEAD.lastIndex = 0;
  for (let m = STORY_WORD_AHEAD.exec(text); m; m = STORY_WORD_AHEAD.exec(text)) {
    // The code point before the match (two code units when a surrogate pair).
    if (m.index > 0 && WORD_CHAR_LAST.test(text.slice(Math.max(0, m.index - 2), m.index)))
      STORY_WORD_AHEAD.lastIndex = m.index + 1; // a story word starts with a BMP letter: a code point boundary
    else out.push(m);
  }
  return out;
}

const isSurrogate = (c: number) => (c & 0xf800) === 0xd800;

/**
 * TOKEN_BEFORE.exec(before), tried only near its end. The match ends in spaces at the end, and before them is a
 * run of letters and marks, or digits, a dash and an ordinal ending (letters again): it cannot start more than 3
 * before that run. So the regex, slow when tried at every position of a 120-character window, is given the
 * window from there on: found by going back over spaces, then over letters, marks and surrogates (an astral
 * letter is two; going past too far is only slower).
 */
export function tokenBefore(before: string): RegExpExecArray | null {
  let i = before.length;
  while (i > 0 && SPACE.test(before[i - 1])) i--;
  while (i > 0) {
    const c = before.charCodeAt(i - 1);
    if (!isSurrogate(c) && !isLetterOrMark(c)) break;
    i--;
  }
  return TOKEN_BEFORE.exec(before.slice(Math.max(0, i - 3)));
}

const DIGITS_ORDINAL = new RegExp(`^(\\d{1,2})${DIGIT_ORD}$`, 'iu');
const WHOLE_STORY_WORD = new RegExp(`^${STORY_WORD}$`, 'iu');

/** A number word or digits right at the start of `s`; returns its value and length. */
function leadingNumber(s: string): { n: number; len: number; kind: 'digits' | 'cardinal' | 'ordinal' } | null {
  const d = LEADING_DIGITS.exec(s);
  if (d) {
    if (d[1].length === 3) return null;
    return { n: Number(d[1]), len: d[0].length, kind: d[2] ? 'ordinal' : 'digits' };
  }
  const w = /^[\p{L}\p{M}]+/u.exec(s);
  if (!w) return null;
  const nw = numberWord(w[0]);
  return nw ? { n: nw.n, len: w[0].length, kind: nw.kind } : null;
}

/**
 * Explicit story numbers in one text (subject or body), with the words that carry them. Each kind of mention
 * has its own function, run only on texts that may hold one (a small function also costs less to compile).
 */
function findNumbers(text: string, nameTokenKeys: (key: string) => boolean): NumberHit[] {
  const hits: NumberHit[] = [];
  // Most texts hold no story word at all: one quick test spares both scans that need one.
  if (STORY_WORD_ANY.test(text)) {
    const words = storyWords(text);
    for (const m of words) numbersAfter(text, m, hits);
    for (const m of words) ordinalBefore(text, m, hits);
  }
  // Each needs a "#", a "№" or a "no.": most texts have none.
  if (text.includes('#') || text.includes('№') || NO_DOT.test(text)) bareNumbers(text, hits);
  if (TITLE_NUMBER.test(text)) titleNumbers(text, nameTokenKeys, hits);
  return hits;
}

/** "story 8", "история № 8", "истории 3 и 8", "қиссаи 8", "қиссаи ҳаштум", "story eight": after story word m. */
function numbersAfter(text: string, m: RegExpExecArray, hits: NumberHit[]): void {
  // A window after the word: a story number follows within a few characters (and a long text stays linear).
  const pos = m.index + m[0].length;
  const win = text.slice(pos, pos + WINDOW);
  const mark = LEADING_MARK.exec(win);
  const markLen = mark ? mark[0].length : 0;
  let rest = win.slice(markLen).replace(/^\s+/, '');
  const first = leadingNumber(rest);
  if (!first) return;
  const numbers: number[] = [];
  let cur: typeof first | null = first;
  while (cur) {
    const tail = rest.slice(cur.len);
    if (afterIsQuantity(tail)) break;
    // "story eight about…" is fine with digits, but a cardinal word followed by more words reads as a count
    if (cur.kind === 'cardinal' && SPACES_THEN_LOWERCASE.test(tail)) break;
    numbers.push(cur.n);
    const sep = /^\s*(?:,|&|\+|and|or|и|или|ва|ё)\s*(?:#|№)?\s*/iu.exec(tail);
    if (!sep) {
      rest = tail;
      break;
    }
    const next = leadingNumber(tail.slice(sep[0].length));
    if (!next) {
      rest = tail;
      break;
    }
    rest = tail.slice(sep[0].length);
    cur = next;
  }
  if (numbers.length) {
    const end = pos + win.length - rest.length;
    for (const n of numbers) hits.push({ n, text: text.slice(m.index, end) });
  }
}

/** "8-я история", "8th story", "восьмая история", "ҳаштумин қисса": the word before story word m. */
function ordinalBefore(text: string, m: RegExpExecArray, hits: NumberHit[]): void {
  if (NUMBER_CHAR.test(text[m.index + m[0].length] ?? '')) return; // "story8" is not "8th story"
  const before = text.slice(Math.max(0, m.index - WINDOW), m.index);
  const t = tokenBefore(before);
  if (!t || WORD_CHAR.test(text[m.index - t[0].length - 1] ?? '')) return;
  const token = t[1];
  let n: number | null = null;
  const d = DIGITS_ORDINAL.exec(token);
  if (d) n = Number(d[1]);
  else {
    const w = numberWord(token);
    if (w && w.kind === 'ordinal') n = w.n;
  }
  if (n !== null) hits.push({ n, text: text.slice(m.index - t[0].length, m.index + m[0].length) });
}

/** Bare "#8", "№ 8", "No. 8": only after nothing or a preposition, never "my #1 fan" or "школа №8". */
function bareNumbers(text: string, hits: NumberHit[]): void {
  const bare = /(?<![&\w#])(#|№|No\.)\s?(\d{1,2})(?!\d)(?![\p{L}\p{M}_])/giu;
  for (const m of text.matchAll(bare)) {
    const tail = text.slice(m.index! + m[0].length, m.index! + m[0].length + WINDOW);
    if (afterIsQuantity(tail) || BARE_FOLLOWERS.test(tail)) continue;
    const b = wordBefore(text, m.index!);
    if (b.word !== null && !ALLOWED_BEFORE_BARE.has(b.word) && !WHOLE_STORY_WORD.test(b.word)) continue;
    if (b.word === null && /[\p{N}]/u.test(b.char)) continue;
    hits.push({ n: Number(m[2]), text: m[0] });
  }
}

/** "8. Khurshed" at the start of a line or of the subject (after "Re:"/"Fwd:"): the announcement's title. */
function titleNumbers(text: string, nameTokenKeys: (key: string) => boolean, hits: NumberHit[]): void {
  const titled =
    /^[ \t]*(?:(?:re|fwd?|fw|aw|tr|wg|ответ|отв|пересл|ҷавоб|чавоб)[ \t]*(?:\[\d+\])?[ \t]*:[ \t]*)*(\d{1,2})[ \t]*[.)][ \t]+([\p{L}\p{M}]+)/gimu;
  for (const m of text.matchAll(titled)) {
    if (nameTokenKeys(m[2])) hits.push({ n: Number(m[1]), text: m[0].replace(/^.*?(\d)/su, '$1') });
  }
}

// ---------------------------------------------------------------------------------------------------------
// 4. names: one spelling-independent key for Latin and Cyrillic, suffixes for Russian and Tajik inflection

const CYR: Record<string, string> = {
  а: 'a', б: 'b', в: 'v', г: 'g', ғ: 'g', д: 'd', е: 'e', ё: 'yo', ж: 'zh', з: 'z', и: 'i', ӣ: 'i', й: 'y',
  к: 'k', қ: 'q', л: 'l', м: 'm', н: 'n', о: 'o', п: 'p', р: 'r', с: 's', т: 't', у: 'u', ӯ: 'u', ф: 'f',
  х: 'kh', ҳ: 'h', ч: 'ch', ҷ: 'j', ш: 'sh', щ: 'sh', ъ: '', ы: 'y', ь: '', э: 'e', ю: 'yu', я: 'ya', ц: 'ts',
  ә: 'a', ө: 'o', ү: 'u', ң: 'n', і: 'i', ӗ: 'e',
};

/**
 * A spelling-independent key: Khurshed, Hurshed, Xurshed, Хуршед, Khurshid -> "hurshid"; Bobokalonov,
 * Бобокалонов, Бабакаланов -> "babakalanav"; Jamshed, Джамшед, Ҷамшед -> "jamshid".
 */
export function nameKey(s: string): string {
  // Pure, and called for every word of every body: the same words recur, so keep the last few thousand.
  const known = keyCache.get(s);
  if (known !== undefined) return known;
  const k = computeNameKey(s);
  if (keyCache.size >= KEY_CACHE_SIZE) keyCache.clear();
  keyCache.set(s, k);
  return k;
}

const KEY_CACHE_SIZE = 20_000;
const keyCache = new Map<string, string>();

function computeNameKey(s: string): string {
  let t = s.toLowerCase().normalize('NFC');
  t = Array.from(t, (c) => CYR[c] ?? c).join('');
  t = t.normalize('NFD').replace(/\p{M}/gu, '');
  t = t.replace(/[^a-z]/g, '');
  t = t
    .replace(/dzh|dj|zh/g, 'j')
    .replace(/kh|x/g, 'h')
    .replace(/gh/g, 'g')
    .replace(/q/g, 'k')
    .replace(/ch/g, 'c')
    .replace(/ph/g, 'f')
    .replace(/w/g, 'v')
    .replace(/iy/g, 'i')
    .replace(/([aeiou])y(?=[aeiou])/g, '$1')
    .replace(/(.)\1+/g, '$1')
    // Tajik o/a and e/i are spelled either way in Russian and Latin transcriptions
    .replace(/o/g, 'a')
    .replace(/e/g, 'i');
  return t;
}

const keys = (list: string) => [...new Set(list.split(' ').map((s) => (s === '-' ? '' : nameKey(s))))];

/** Endings after a name: Russian cases, Tajik object/izofat/plural/possessive markers, -ҷон, English 's. */
const RU_ENDINGS = keys('- а у ом ем е ы ым ых ыми ой ою ей ую');
const TG_ENDINGS = keys('- ро ба и ӣ е ам ат аш амон атон ашон ака акаро');
const TG_PLURAL = keys('ҳо ҳои ҳоро ҳоба');
const JON = keys('ҷон джон jon jan');
const EN_ENDINGS = keys('s');
/** Feminine names in -а (Дилноза, Ситора, Умарова): Дилнозы, Дилнозе, Дилнозу, Дилнозой. */
const FEM_STEM_ENDINGS = keys('ы и е у ой ою ей');

const GIVEN_SUFFIXES = new Set([
  ...RU_ENDINGS,
  ...TG_ENDINGS,
  ...EN_ENDINGS,
  ...JON.flatMap((j) => [...RU_ENDINGS, ...TG_ENDINGS].map((e) => j + e)),
]);
const JON_SUFFIXES = new Set(JON.flatMap((j) => [...RU_ENDINGS, ...TG_ENDINGS].map((e) => j + e)));
const SURNAME_SUFFIXES = new Set([...GIVEN_SUFFIXES, ...TG_PLURAL, ...keys('а ой ою у')]);

/** Damerau-Levenshtein distance, stopping early above `max`. */
function editDistance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    let rowMin = Infinity;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      rowMin = Math.min(rowMin, d[i][j]);
    }
    if (rowMin > max) return max + 1;
  }
  return d[a.length][b.length];
}

type Part = 'given' | 'surname';
type Quality = 'exact' | 'fuzzy';

interface NameForm {
  key: string;
  part: Part;
  /** The key and the stems it may be written with, each with the endings that may follow it. */
  stems: Array<[string, Set<string>]>;
}

interface StoryNames {
  story: number;
  forms: NameForm[];
  /** Multi-word names (the victim's, multi-word aliases) as key sequences. */
  fulls: string[][];
}

const SURNAME_SHAPE = /(?:ov|ova|ev|eva|zoda|zod|zade|zada|yon|iyon|ovich|evich|ов|ова|ев|ева|зода|зод|ён)$/i;

function looksLikeSurname(word: string): boolean {
  const k = nameKey(word);
  return /(?:av|ava|iv|iva|zada|zad)$/.test(k) || SURNAME_SHAPE.test(word);
}

const nameWords = (s: string) => (s.match(/[\p{L}\p{M}]+(?:['’ʼ`-][\p{L}\p{M}]+)*/gu) ?? []).flatMap((w) => w.split('-'));

function storyNames(s: StoryView): StoryNames | null {
  if (!s.victim || !s.victim.trim()) return null;
  const forms = new Map<string, NameForm>();
  const fulls: string[][] = [];
  const add = (word: string, part: Part) => {
    const key = nameKey(word);
    if (key.length < 3) return;
    if (!forms.has(key)) forms.set(key, { key, part, stems: stemsOf(key, part) });
  };
  const addFull = (text: string) => {
    let w = nameWords(text.replace(/\([^)]*\)/g, ' '));
    if (w.length >= 2 && looksLikeSurname(w[0]) && !looksLikeSurname(w[w.length - 1])) w = [...w.slice(1), w[0]];
    if (w.length >= 2) {
      w.slice(0, -1).forEach((g) => add(g, 'given'));
      add(w[w.length - 1], 'surname');
      fulls.push(w.map(nameKey));
    } else if (w.length === 1) {
      add(w[0], looksLikeSurname(w[0]) ? 'surname' : 'given');
    }
  };
  addFull(s.victim);
  for (const alias of s.aliases ?? []) {
    const w = nameWords(alias);
    if (w.length >= 2) addFull(alias);
    else if (w.length === 1 && !forms.has(nameKey(w[0]))) add(w[0], looksLikeSurname(w[0]) ? 'surname' : 'given');
  }
  return { story: s.number, forms: [...forms.values()], fulls };
}

function stemsOf(key: string, part: Part): NameForm['stems'] {
  const stems: NameForm['stems'] = [[key, part === 'surname' ? SURNAME_SUFFIXES : GIVEN_SUFFIXES]];
  if (key.endsWith('a')) stems.push([key.slice(0, -1), new Set(FEM_STEM_ENDINGS)]);
  // Хуршед + джон is written Хуршеджон, Khurshedjon: the key's "dj" became "j".
  if (key.endsWith('d')) stems.push([key.slice(0, -1), JON_SUFFIXES]);
  return stems;
}

function matchForm(tokenKey: string, form: NameForm): Quality | null {
  const { stems } = form;
  for (const [stem, sfx] of stems)
    if (tokenKey.startsWith(stem) && sfx.has(tokenKey.slice(stem.length))) return 'exact';
  // One typo (a letter left out, doubled, swapped or wrong) in a name of 7 letters or more, same first letter.
  if (form.key.length >= 7 && tokenKey[0] === form.key[0]) {
    for (const [stem, sfx] of stems)
      for (const e of sfx) {
        if (!tokenKey.endsWith(e)) continue;
        const core = tokenKey.slice(0, tokenKey.length - e.length);
        if (core.length >= stem.length - 1 && editDistance(core, stem, 1) <= 1) return 'fuzzy';
      }
  }
  return null;
}

interface Token {
  text: string;
  index: number;
  capitalized: boolean;
  /** Every (story, part) the word fits; never empty. */
  fits: Fit[];
}

// A regex literal with \p{…} outside a class is compiled to `new RegExp(…)` where it stands (esbuild, for the
// bundle and for tsx): in a function, that is a new regex per call. Such regexes live here, built once.
const UPPERCASE = /\p{Lu}/u;
const UPPERCASE_FIRST = /^\p{Lu}/u;
const CAMEL_HUMP = /(\p{Ll})(\p{Lu})/gu;

/** "#JusticeForKhurshed" -> " Justice For Khurshed"; the same few hashtags recur, so they are kept. */
function hashtagWords(tag: string): string {
  let words = knownHashtags.get(tag);
  if (words === undefined) {
    words = tag.replace(CAMEL_HUMP, '$1 $2').replace(/[#_]/g, ' ');
    if (knownHashtags.size >= 1000) knownHashtags.clear();
    knownHashtags.set(tag, words);
  }
  return words;
}
const knownHashtags = new Map<string, string>();

/**
 * The words of a text that fit a victim's name, in text order. Most words fit none: those are looked up by
 * their place in the text (WordMap) and dropped, without a string or a token of their own.
 */
function nameTokensOf(text: string, c: CompiledCampaign): Token[] {
  // Links and addresses are not names; "#JusticeForKhurshed" holds one.
  // (The address and hashtag patterns only where an @ or a # is: most texts have neither.)
  let masked = text.replace(/https?:\/\/\S+|www\.\S+/gi, (m) => ' '.repeat(m.length));
  if (masked.includes('@')) masked = masked.replace(/[\w.+'-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+/g, (m) => ' '.repeat(m.length));
  if (masked.includes('#')) masked = masked.replace(/#[\p{L}\p{M}\p{N}_]+/gu, hashtagWords);
  const out: Token[] = [];
  const spans = wordSpans(masked);
  for (let k = 0; k < spans.length; k += 2) {
    const fits = wordFits(c, masked, spans[k], spans[k + 1]);
    if (!fits.length) continue;
    const word = masked.slice(spans[k], spans[k + 1]);
    out.push({ text: word, index: spans[k], capitalized: UPPERCASE_FIRST.test(word), fits });
  }
  return out;
}

interface NameEvidence {
  story: number;
  level: 'full' | 'surname' | 'given';
  quality: Quality;
  words: string[];
}

interface NameScan {
  /** Per story, the best evidence. */
  evidence: Map<number, NameEvidence>;
  /** Words that fit several stories, and which. */
  ambiguous: Array<{ word: string; stories: number[]; part: Part }>;
}

const SELF_INTRO = /(?:my name is|i am called|меня зовут|зовут меня|номи ман|номам)\s*[,:]?\s*$/i;
const SELF_INTRO_ANYWHERE = /my name is|i am called|меня зовут|зовут меня|номи ман|номам/i;

function scanNames(text: string, c: CompiledCampaign, opts: { exclude?: [number, number] | null }): NameScan {
  const candidates = nameTokensOf(text, c);
  if (!candidates.length) return { evidence: new Map(), ambiguous: [] };
  const lowercaseWriter = !UPPERCASE.test(text);
  const selfIntro = SELF_INTRO_ANYWHERE.test(text);
  const tokens = candidates.filter((t) => {
    if (opts.exclude && t.index >= opts.exclude[0] && t.index < opts.exclude[1]) return false;
    if (!selfIntro) return true;
    const from = Math.max(0, t.index - 40);
    const lineStart = Math.max(from, text.lastIndexOf('\n', t.index - 1) + 1);
    return !SELF_INTRO.test(text.slice(lineStart, t.index));
  });

  // For each token, every (story, part) it fits.
  const fits = tokens.map((t) => {
    const all = t.fits;
    // A near-miss spelling counts only for a word written as a name (сафарам "my journey" is not Сафаров).
    if (t.capitalized || lowercaseWriter || !all.some((f) => f.quality === 'fuzzy')) return all;
    return all.filter((f) => f.quality !== 'fuzzy');
  });

  const evidence = storyEvidence(c.names, tokens, fits, lowercaseWriter);
  const ambiguous = ambiguousWords(tokens, fits, lowercaseWriter);
  // Evidence resting only on an ambiguous word is not evidence for either story.
  for (const [story, e] of [...evidence]) {
    if (e.level === 'full') continue;
    const word = e.words[0];
    if (ambiguous.some((a) => a.word === word && a.stories.includes(story))) evidence.delete(story);
  }
  return { evidence, ambiguous };
}

const LEVEL_RANK = { full: 3, surname: 2, given: 1 };
const rank = (x: NameEvidence) => LEVEL_RANK[x.level] * 2 + (x.quality === 'exact' ? 1 : 0);
const bestQuality = (xs: Array<{ q: Quality }>): Quality => (xs.some((x) => x.q === 'exact') ? 'exact' : 'fuzzy');

/** Keeps e for its story unless the story has better evidence already. */
function keepBetter(evidence: Map<number, NameEvidence>, e: NameEvidence): void {
  const old = evidence.get(e.story);
  if (!old || rank(e) > rank(old)) evidence.set(e.story, e);
}

type Hit = { t: Token; q: Quality };

/** Per story, the best evidence its name is in the tokens (fits[i]: what tokens[i] fits). */
function storyEvidence(names: StoryNames[], tokens: Token[], fits: Fit[][], lowercaseWriter: boolean): Map<number, NameEvidence> {
  // Per story, the tokens that fit its given names and its surname, in text order.
  const hitsOf = new Map<number, { given: Hit[]; surname: Hit[] }>();
  for (let i = 0; i < tokens.length; i++) {
    for (const f of fits[i]) {
      let h = hitsOf.get(f.story);
      if (!h) hitsOf.set(f.story, (h = { given: [], surname: [] }));
      h[f.part].push({ t: tokens[i], q: f.quality });
    }
  }
  const evidence = new Map<number, NameEvidence>();
  for (const sn of names) {
    const h = hitsOf.get(sn.story);
    if (!h) continue;
    const { given, surname } = h;
    if (given.length && surname.length) {
      keepBetter(evidence, {
        story: sn.story,
        level: 'full',
        quality: bestQuality(given) === 'exact' && bestQuality(surname) === 'exact' ? 'exact' : 'fuzzy',
        words: [given[0].t.text, surname[0].t.text],
      });
    } else if (surname.length) {
      keepBetter(evidence, { story: sn.story, level: 'surname', quality: bestQuality(surname), words: [surname[0].t.text] });
    } else if (given.length) {
      // A given name alone must look like a name: capitalised (хуршед is also "the sun", ситора "a star"),
      // unless the writer types everything in lower case.
      const usable = given.filter((g) => g.t.capitalized || lowercaseWriter);
      if (usable.length)
        keepBetter(evidence, { story: sn.story, level: 'given', quality: bestQuality(usable), words: [usable[0].t.text] });
    }
  }
  return evidence;
}

/** The tokens that fit several stories: such a word names none of them by itself. */
function ambiguousWords(tokens: Token[], fits: Fit[][], lowercaseWriter: boolean): NameScan['ambiguous'] {
  const ambiguous: NameScan['ambiguous'] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (fits[i].length < 2) continue; // one fit is one story
    const stories = [...new Set(fits[i].map((f) => f.story))];
    if (stories.length < 2) continue;
    if (!t.capitalized && !lowercaseWriter && fits[i].every((f) => f.part === 'given')) continue;
    ambiguous.push({ word: t.text, stories: stories.sort((a, b) => a - b), part: fits[i][0].part });
  }
  return ambiguous;
}

function nameConfidence(e: NameEvidence): number {
  const base = { full: CONFIDENCE.fullName, surname: CONFIDENCE.surname, given: CONFIDENCE.givenName }[e.level];
  return base - (e.quality === 'fuzzy' ? CONFIDENCE.fuzzyPenalty : 0);
}

function describeName(e: NameEvidence, where: string): string {
  const what = { full: "victim's name", surname: 'surname', given: 'first name only' }[e.level];
  const spelled = e.quality === 'fuzzy' ? ' (spelled differently)' : '';
  return `${what} in ${where}: ${q(e.words.join(' … '))}${spelled}`;
}

// ---------------------------------------------------------------------------------------------------------
// 5. the hashtag

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// ---------------------------------------------------------------------------------------------------------

type Fit = { story: number; part: Part; quality: Quality };

interface CompiledCampaign {
  numbers: Set<number>;
  names: StoryNames[];
  tagRe: RegExp;
  /** Name key -> every (story, part) it fits: the same words recur from message to message. */
  fits: Map<string, Fit[]>;
  /** Word as written -> its fits (fitsOf its nameKey), so a word seen before costs one lookup. */
  wordFits: WordMap<Fit[]>;
}

const FIT_CACHE_SIZE = 20_000;

function fitsOf(c: CompiledCampaign, key: string): Fit[] {
  let out = c.fits.get(key);
  if (out === undefined) {
    out = [];
    for (const sn of c.names)
      for (const f of sn.forms) {
        const quality = matchForm(key, f);
        if (quality) out.push({ story: sn.story, part: f.part, quality });
      }
    if (c.fits.size >= FIT_CACHE_SIZE) c.fits.clear();
    c.fits.set(key, out);
  }
  return out;
}

/** fitsOf(c, nameKey(text.slice(start, end))), by the word's place in the text. */
function wordFits(c: CompiledCampaign, text: string, start: number, end: number): Fit[] {
  let fits = c.wordFits.get(text, start, end);
  if (fits === undefined) {
    const word = text.slice(start, end);
    fits = fitsOf(c, nameKey(word));
    if (c.wordFits.size >= FIT_CACHE_SIZE) c.wordFits.clear();
    c.wordFits.add(word, fits);
  }
  return fits;
}

/** What linking derives from a campaign (name forms, the hashtag pattern), built once per campaign object. */
const compiledCampaigns = new WeakMap<CampaignView, CompiledCampaign>();

function compiled(campaign: CampaignView): CompiledCampaign {
  let c = compiledCampaigns.get(campaign);
  if (!c) {
    c = {
      numbers: new Set(campaign.stories.map((s) => s.number)),
      names: campaign.stories.map(storyNames).filter((x): x is StoryNames => x !== null),
      tagRe: new RegExp(`${escapeRe(campaign.hashtag)}(?:[-_]?(\\d{1,2}))?(?![\\p{L}\\p{M}\\p{N}_])`, 'giu'),
      fits: new Map(),
      wordFits: new WordMap(),
    };
    compiledCampaigns.set(campaign, c);
  }
  return c;
}

/** Signals (or notes, for a story the campaign does not have) for the explicit numbers of one text. */
function numberSignals(where: string, text: string, conf: number, c: CompiledCampaign, signals: Signal[], notes: string[]): void {
  const seen = new Set<number>();
  for (const h of findNumbers(text, (w) => fitsOf(c, nameKey(w)).length > 0)) {
    if (seen.has(h.n)) continue;
    seen.add(h.n);
    if (!c.numbers.has(h.n)) {
      notes.push(`${q(h.text)} names story ${h.n}, which this campaign does not have`);
      continue;
    }
    signals.push({ story: h.n, method: 'number', confidence: conf, reason: `explicit number in ${where}: ${q(h.text)}` });
  }
}

/** Signals (or notes) for the "#notorturetj8" style tags of one text; whether it holds the campaign hashtag. */
function hashtagSignals(text: string, c: CompiledCampaign, signals: Signal[], notes: string[]): boolean {
  let hashtag = false;
  for (const m of text.matchAll(c.tagRe)) {
    hashtag = true;
    if (m[1] === undefined) continue;
    const n = Number(m[1]);
    if (c.numbers.has(n))
      signals.push({ story: n, method: 'hashtag', confidence: CONFIDENCE.hashtagNumber, reason: `campaign hashtag with a story number: ${q(m[0])}` });
    else notes.push(`${q(m[0])} names story ${n}, which this campaign does not have`);
  }
  return hashtag;
}

type NameScans = Array<{ where: string; scan: NameScan; penalty: number }>;

function nameSignals(list: NameScans): Signal[] {
  return list.flatMap(({ where, scan, penalty }) =>
    [...scan.evidence.values()].map((e) => ({
      story: e.story,
      method: 'name' as const,
      confidence: nameConfidence(e) - penalty,
      reason: describeName(e, where) + (penalty ? ' (only in the last line, which may be the sender signing)' : ''),
    })),
  );
}

/** Which story a submission is about, or triage (story null) when that is not clear. */
export function linkStory(input: LinkInput, campaign: CampaignView): LinkResult {
  const stories = campaign.stories;
  const c = compiled(campaign);
  const { numbers } = c;
  const notes: string[] = [];
  const signals: Signal[] = [];
  const subject = (input.subject ?? '').slice(0, 2000);
  const body = (input.body ?? '').slice(0, MAX_LINK_CHARS);
  if ((input.body ?? '').length > MAX_LINK_CHARS) notes.push(`only the first ${MAX_LINK_CHARS} characters were read`);

  signals.push(...addressSignals(input.recipients ?? [], campaign, numbers, notes));
  signals.push(...replySignals(input, stories));

  numberSignals('subject', subject, CONFIDENCE.numberSubject, c, signals, notes);
  numberSignals('body', body, CONFIDENCE.numberBody, c, signals, notes);

  // The campaign hashtag, and "#notorturetj8" style tags.
  const tag = campaign.hashtag;
  const hashtagInSubject = hashtagSignals(subject, c, signals, notes);
  const hashtag = hashtagSignals(body, c, signals, notes) || hashtagInSubject;

  // Names. The sender's own sign-off ("Rustam, Dushanbe") is not a mention of a victim who shares the name.
  const sign = input.signOff !== undefined && body === input.body ? input.signOff : signOff(body);
  let exclude: [number, number] | null = null;
  let bareSignOff = false;
  if (sign) {
    const at = body.lastIndexOf(sign);
    if (at >= 0) {
      const lineStart = body.lastIndexOf('\n', at) + 1;
      exclude = [lineStart, body.length];
      const lineEnd = body.indexOf('\n', at);
      bareSignOff = body.slice(lineStart, lineEnd < 0 ? body.length : lineEnd).trim() === sign;
    }
  }
  const scans: NameScans = [];
  scans.push({ where: 'subject', scan: scanNames(subject, c, {}), penalty: 0 });
  const bodyScan = scanNames(body, c, { exclude });
  scans.push({ where: 'body', scan: bodyScan, penalty: 0 });
  let named = nameSignals(scans);
  if (exclude && bareSignOff && !named.length && !signals.length) {
    // Nothing else points anywhere, and the last line is a bare name with no "Regards," or dash before it: it
    // may name the victim after all ("Светлая память\nХуршед Бобокалонов").
    const full = scanNames(body, c, {});
    if (full.evidence.size) {
      scans[1] = { where: 'body', scan: full, penalty: CONFIDENCE.signOffPenalty };
      named = nameSignals(scans);
    }
  }
  signals.push(...named);

  // Decide.
  const pointed = [...new Set(signals.map((s) => s.story))].sort((a, b) => a - b);
  const ambiguous = scans.flatMap((s) => s.scan.ambiguous).filter((a) => !a.stories.some((n) => pointed.includes(n)));
  const candidates = [...new Set([...pointed, ...ambiguous.flatMap((a) => a.stories)])].sort((a, b) => a - b);
  const hashNote = hashtag ? `; campaign hashtag ${tag}` : '';
  const noteText = notes.length ? `; ${notes.join('; ')}` : '';
  const triage = (reason: string): LinkResult => ({ story: null, method: null, confidence: 0, reason, candidates });

  if (ambiguous.length) {
    const a = ambiguous[0];
    const others = pointed.length ? `; also ${pointed.length === 1 ? 'story' : 'stories'} ${listNumbers(pointed)}` : '';
    return triage(`${q(a.word)} fits stories ${listNumbers(a.stories)}${others}${noteText}`);
  }
  if (pointed.length > 1) {
    const why = pointed
      .map((n) => {
        const s = signals.filter((x) => x.story === n).sort((a, b) => METHOD_ORDER.indexOf(a.method) - METHOD_ORDER.indexOf(b.method))[0];
        return `${n}: ${s.reason}`;
      })
      .join('; ');
    return triage(`${pointed.length === 2 ? 'two' : 'several'} stories named: ${listNumbers(pointed)} (${why})${noteText}`);
  }
  if (!pointed.length) {
    return triage(`nothing points to a story${hashtag ? ` (only the campaign hashtag ${tag})` : ''}${noteText}`);
  }

  const story = pointed[0];
  const mine = signals.sort((a, b) => METHOD_ORDER.indexOf(a.method) - METHOD_ORDER.indexOf(b.method) || b.confidence - a.confidence);
  const best = mine[0];
  let confidence = Math.max(...mine.map((s) => s.confidence));
  if (hashtag) confidence += CONFIDENCE.hashtagBonus;
  confidence = round2(Math.min(1, confidence));
  const also = [...new Set(mine.slice(1).map((s) => s.reason))].filter((r) => r !== best.reason);
  const reason = `${best.reason}${also.length ? `; also ${also.join('; ')}` : ''}${hashNote}${noteText}`;
  if (confidence < MIN_CONFIDENCE)
    return { story: null, method: null, confidence, reason: `not sure enough: ${reason}`, candidates };
  return { story, method: best.method, confidence, reason, candidates };
}
