// Pure text handling for a supporter's message: what they wrote (without the quoted mail they answered and
// their mail client's signature), which language it is in, and the name they signed with.
// No I/O: everything here is recomputable from the stored message.
import { languageWordSpans, WordMap } from './words.ts';

export type Language = 'tg' | 'ru' | 'en';

export interface SplitText {
  /** What the supporter wrote: quotes and signature removed (or, for a bare forward, the forwarded text). */
  body: string;
  /** Quoted replies, attribution lines, Outlook header blocks, forwarded headers: kept aside for staff. */
  quoted: string | null;
  /** "-- " signature blocks and "Sent from my iPhone"-style lines. */
  signature: string | null;
}

// ---------------------------------------------------------------------------------------------------------
// splitReply

const isBlank = (l: string) => l.trim() === '';
const isQuoteLine = (l: string) => /^[ \t]*>/.test(l);

/** A line holding an email address, e.g. the end of an attribution line. */
const EMAIL = /[\w.+'-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+/;

/** Attribution verbs that end a "…, X wrote:" line: English, Russian, Tajik, and a few others phones send. */
const WROTE = new RegExp(
  '(?:' +
  [
    String.raw`\bwrote\s*:`,
    String.raw`\bwrites\s*:`,
    String.raw`написал(?:а|\(а\))?\s*:`,
    String.raw`пишет\s*:`,
    String.raw`писал(?:а|\(а\))?\s*:`,
    String.raw`навишт(?:а|ааст|аанд|анд)?\s*:`,
    String.raw`\bschrieb\s*:`,
    String.raw`a écrit\s*:`,
  ].join('|') + String.raw`)\s*$`,
  'i',
);

/** Number of lines (1-3) forming an attribution line that starts at `i` ("On …, X <x@y> wrote:"), else 0. */
function attributionAt(lines: string[], i: number): number {
  // Every form below ends in a colon: none in the (up to) three lines, as in most places, is no attribution.
  if (!lines[i].includes(':') && !lines[i + 1]?.includes(':') && !lines[i + 2]?.includes(':')) return 0;
  const first = lines[i].trim();
  if (!first || first.length > 300) return 0;
  const parts: string[] = [];
  let length = -1;
  for (let k = 1; k <= 3 && i + k <= lines.length; k++) {
    if (k > 1 && isBlank(lines[i + k - 1])) break;
    const part = k === 1 ? first : lines[i + k - 1].trim();
    parts.push(part);
    length += part.length + 1;
    if (length > 400) break;
    // Every form below ends in a colon: without one (most lines) there is nothing to look for.
    if (!part.endsWith(':')) continue;
    const joined = parts.join(' ');
    // "On Mon, 8 Dec 2026 at 10:00, Campaign <campaign@…> wrote:", "В понедельник, 8 декабря 2026 г. … написал:"
    // A time or an address, not just "В 2009 году мама написала:".
    if (WROTE.test(joined) && (/\d{1,2}:\d{2}/.test(joined) || EMAIL.test(joined))) return k;
    // Yandex "08.12.2026, 10:00, "Campaign" <campaign@…>:", Mail.ru "Понедельник, 8 декабря 2026, 10:00 +05:00
    // от Campaign <campaign@…>:", Gmail (ru) "пн, 8 дек. 2026 г. в 10:00, Campaign <campaign@…>:"
    const m = /<?([\w.+'-]+@[\w-]+(?:\.[\w-]+)+)>?\s*:\s*$/.exec(joined);
    if (m && /\d/.test(joined.slice(0, m.index)) && /\d{1,2}[:.]\d{2}|\d{4}/.test(joined)) return k;
  }
  return 0;
}

const ORIGINAL_MESSAGE =
  /^\s*-{2,}\s*(original message|исходное сообщение|оригинальное сообщение|паёми аслӣ|паёми асли)\s*-{2,}\s*$/i;

const FORWARD_MARKER = new RegExp(
  [
    // Gmail "---------- Forwarded message ---------", Thunderbird "-------- Forwarded Message --------",
    // Yandex/Mail.ru "-------- Пересылаемое сообщение --------", "----- Пересланное сообщение -----"
    String.raw`^\s*-{2,}\s*(?:forwarded message|пересылаемое сообщение|пересланное сообщение|переадресованное сообщение|паёми\s+(?:бозфиристодашуда|фиристодашуда|ирсолшуда))\s*-*\s*$`,
    // Apple Mail "Begin forwarded message:", "Начало переадресованного сообщения:"
    String.raw`^\s*(?:begin forwarded message|начало переадресованного сообщения|начало пересылаемого сообщения)\s*:\s*$`,
  ].join('|'),
  'i',
);

/** Yandex and Mail.ru close a forward with "-------- Конец пересылаемого сообщения --------". */
const FORWARD_END =
  /^\s*-{2,}\s*(?:конец пересылаемого сообщения|конец пересланного сообщения|end of forwarded message)\s*-*\s*$/i;

const HEADER_LABEL =
  /^\s*\*?(from|sent|date|to|cc|subject|от|отправлено|дата|кому|копия|тема|аз|сана|ба|нусха|мавзӯъ|мавзуъ|фиристода шуд)\s*:\s*\*?/i;
const FROM_LABEL = /^\s*\*?(from|от|аз)\s*:\s*\*?\s*\S/i;
const FW_SUBJECT = /^\s*\*?(subject|тема|мавзӯъ|мавзуъ)\s*:\s*\*?\s*(fw|fwd|tr|wg|пересл|пересылка|fwd?\[\d+\])\s*:/i;

/** An Outlook-style header block ("From: … / Sent: … / To: … / Subject: …") starting at `i`: its length, else 0. */
function headerBlockAt(lines: string[], i: number): number {
  if (!FROM_LABEL.test(lines[i])) return 0;
  let j = i + 1;
  let labels = 1;
  while (j < lines.length && j <= i + 7 && HEADER_LABEL.test(lines[j])) {
    labels++;
    j++;
  }
  return labels >= 2 ? j - i : 0;
}

const MOBILE_SIGNATURE = new RegExp(
  [
    String.raw`^sent (?:from|with|via) .{1,60}$`,
    String.raw`^get outlook for .{1,30}$`,
    String.raw`^(?:отправлено|послано|отправлено мной) (?:с|со|из|через) .{1,60}$`,
    String.raw`^(?:аз .{1,40} фиристода шуд|фиристода шуд аз .{1,40})\.?$`,
    String.raw`^envoyé de mon .{1,30}$`,
    String.raw`^von meinem .{1,30} gesendet$`,
  ].join('|'),
  'i',
);
const SIG_DASHES = /^--[ \u00a0]?$/;

/** Short notes people put above a forward ("FYI", "Пересылаю"): not a message of their own. */
const FORWARD_NOTE =
  /^(fyi|fw|fwd|see below|forwarding|forwarded|for you|пересылаю(?: вам)?(?: письмо)?|см\.? ниже|смотрите ниже|для вас|вот|фиристодам|мефиристам|барои шумо)[\s.!:]*$/i;

function joinOrNull(parts: string[]): string | null {
  const s = parts.join('\n').replace(/^\s*\n|\s+$/g, '');
  return s.trim() ? s : null;
}

/** Whether a line ends in a space, a tab or a no-break space (most do not: no regex for those). */
function endsInSpace(l: string): boolean {
  if (l.length === 0) return false;
  const c = l.charCodeAt(l.length - 1);
  return c === 0x20 || c === 0x09 || c === 0xa0;
}

function trimLines(lines: string[]): string {
  // Most messages have no signature: its empty list (an array of another kind to V8) never reaches the rest.
  if (!lines.length) return '';
  let a = 0;
  let b = lines.length;
  while (a < b && isBlank(lines[a])) a++;
  while (b > a && isBlank(lines[b - 1])) b--;
  return lines
    .slice(a, b)
    .map((l) => (endsInSpace(l) ? l.replace(/[ \t\u00a0]+$/, '') : l))
    .join('\n');
}

/** Takes the signature out of the supporter's own lines. */
function cutSignature(body: string[]): { body: string[]; signature: string[] } {
  const dash = body.findIndex((l) => SIG_DASHES.test(l));
  let kept = body;
  let signature: string[] = [];
  if (dash >= 0) {
    kept = body.slice(0, dash);
    signature = body.slice(dash);
  }
  const mobile = kept.findIndex((l) => MOBILE_SIGNATURE.test(l.trim()));
  if (mobile >= 0) {
    const after = kept.slice(mobile + 1).filter((l) => !isBlank(l)).length;
    if (after <= 3) {
      signature = [...kept.slice(mobile), ...signature];
      kept = kept.slice(0, mobile);
    } else {
      signature = [kept[mobile], ...signature];
      kept = [...kept.slice(0, mobile), ...kept.slice(mobile + 1)];
    }
  }
  return { body: kept, signature };
}

/** \s of a regex: the characters a line's markers may be indented with. */
const isSpaceCode = (c: number) =>
  (c >= 0x09 && c <= 0x0d) || c === 0x20 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
  c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;

/**
 * The first characters the line markers of splitReply can start with, past any indent: ">" (a quote), "-"
 * (forward, original message), "*" and f, о, а (From:, От:, Аз:), b and н (Begin forwarded message, Начало …),
 * in either case, and ᲂ (U+1C82, a narrow о that the case-insensitive match takes for О).
 */
const MARKER_STARTS = new Set([...'>-*fFоОаАbBнН\u1c82'].map((c) => c.charCodeAt(0)));

/** Whether a line may be a quote, a forward or original-message marker or a header block's From: line. */
export function mayStartMarker(l: string): boolean {
  if (l.length === 0) return true; // (no charCodeAt past the end: V8 recompiles a function that reads one)
  const c = l.charCodeAt(0);
  return isSpaceCode(c) || MARKER_STARTS.has(c);
}

/**
 * Splits a plain-text body into what the supporter wrote, the quoted mail below (or between) it, and the
 * signature. Interleaved answers between "> " blocks stay in the body. A forward whose new part is empty (or
 * only "FYI") keeps the forwarded text as the body: that text is the supporter's message.
 */
export function splitReply(text: string): SplitText {
  const lines = (text ?? '').replace(/\r\n?/g, '\n').split('\n');
  const body: string[] = [];
  const quoted: string[] = [];
  let forward: string[] | null = null;

  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    // Most lines start with a letter that begins none of the markers: only an attribution can start there.
    if (!mayStartMarker(l)) {
      const attribution = attributionAt(lines, i);
      if (!attribution) {
        body.push(l);
        continue;
      }
    }
    if (isQuoteLine(l)) {
      quoted.push(l);
      continue;
    }
    if (FORWARD_MARKER.test(l)) {
      forward = lines.slice(i);
      break;
    }
    const block = headerBlockAt(lines, i);
    if (block) {
      const separator = body.length && /^\s*[_\-=*]{5,}\s*$/.test(body[body.length - 1]) ? [body.pop()!] : [];
      const isForward = lines.slice(i, i + block).some((h) => FW_SUBJECT.test(h));
      if (isForward) {
        forward = [...separator, ...lines.slice(i)];
      } else {
        quoted.push(...separator, ...lines.slice(i));
      }
      break;
    }
    if (ORIGINAL_MESSAGE.test(l)) {
      quoted.push(...lines.slice(i));
      break;
    }
    const attribution = attributionAt(lines, i);
    if (attribution) {
      let j = i + attribution;
      while (j < lines.length && isBlank(lines[j])) j++;
      if (j < lines.length && isQuoteLine(lines[j])) {
        // Bottom-posting or interleaving: only the "> " lines below are quoted; answers after them stay.
        quoted.push(...lines.slice(i, i + attribution));
        i += attribution - 1;
        continue;
      }
      quoted.push(...lines.slice(i));
      break;
    }
    body.push(l);
  }

  const own = cutSignature(body);
  const ownText = trimLines(own.body);

  if (forward) {
    // Marker and forwarded header lines aside; what follows is the forwarded message itself.
    let k = 0;
    const head: string[] = [];
    for (;;) {
      if (k >= forward.length) break;
      const l = forward[k];
      const isHead =
        k === 0 || isBlank(l) || HEADER_LABEL.test(l) || FORWARD_MARKER.test(l) || /^\s*[_\-=*]{5,}\s*$/.test(l);
      // Yandex puts an attribution line ("08.12.2026, 10:00, "Мадина" <m@x>:") where others put headers.
      const attribution = isHead ? 0 : attributionAt(forward, k);
      if (!isHead && !attribution) break;
      const n = attribution || 1;
      head.push(...forward.slice(k, k + n));
      k += n;
    }
    let rest = forward.slice(k);
    const end = rest.findIndex((l) => FORWARD_END.test(l));
    const tail = end >= 0 ? rest.slice(end) : [];
    if (end >= 0) rest = rest.slice(0, end);
    const inner = splitReply(rest.join('\n'));
    if (!ownText || FORWARD_NOTE.test(ownText)) {
      return {
        body: inner.body,
        quoted: joinOrNull([
          ...(ownText ? [ownText] : []),
          ...quoted,
          ...head,
          ...(inner.quoted ? [inner.quoted] : []),
          ...tail,
        ]),
        signature: joinOrNull([...own.signature, ...(inner.signature ? [inner.signature] : [])]),
      };
    }
    quoted.push(...forward);
  }

  return {
    body: ownText,
    quoted: joinOrNull(quoted),
    signature: joinOrNull(trimLines(own.signature) ? [trimLines(own.signature)] : []),
  };
}

// ---------------------------------------------------------------------------------------------------------
// detectLanguage

const CYRILLIC = /^\p{Script=Cyrillic}$/u;
/**
 * Per code point of U+0400..U+052F: 1 for the letters of the Tajik Cyrillic alphabet that Russian does not
 * have, 2 for the letters of Russian that modern Tajik spelling does not use, 0 else (a lookup per letter).
 */
const CYR_KIND = new Uint8Array(0x130);
for (const ch of 'ғӣқӯҳҷҒӢҚӮҲҶ') CYR_KIND[ch.charCodeAt(0) - 0x400] = 1;
for (const ch of 'ыщцьЫЩЦЬ') CYR_KIND[ch.charCodeAt(0) - 0x400] = 2;

const words = (s: string) => s.split(/\s+/).filter(Boolean);
/** A text's words are looked up with ё written е (as many type it), so the lists are folded the same way. */
const folded = (list: string[]) => list.map((w) => w.replaceAll('ё', 'е'));

// Function words and frequent words of supporters' messages, as typed with and without the Tajik letters
// (many type Tajik on a Russian keyboard: х for ҳ, ч for ҷ, к for қ, у for ӯ, и for ӣ).
const TG_WORDS = new Set(
  folded(words(`ва барои барон аст ман шумо мо ки дар бо ба аз ин ҳамеша хамеша ҳастем хастем ҳастам хастам ҳастед
  хастед ҳастанд хастанд нест ҳам хам хеле бисёр бисер мекунем мекунам мекунанд мекунад медиҳем медихем мехоҳем
  мехохем мехоҳам мехохам медонем мебинем намегузорем фаромӯш фаромуш фаромӯшнашаванда худо худованд худоё
  раҳмат рахмат ташаккур оила оилаи оилаатон оилаашон модар модари модараш падар падари бародар бародари ҷон чон
  ҷони чони азиз азизи азизам ёд ёди хотира хотираи рӯҳ рух рӯҳаш рухаш рӯҳи рухи пойдор бошад бошед бошем шуд
  шавад мешавад бигзор сабр адолат ҳақ хак ҳақиқат хакикат зулм шиканҷа шиканча шиканҷаи шиканчаи мардум кишвар
  ватан вай онҳо онхо ҳамроҳ хамрох ҳамроҳем хамрохем дорем дорам кунед кунем кунам ҳеҷ хеч гоҳ гох ҳеҷгоҳ
  хеччох ҳеҷ вақт вакт ӯ у рӯзи рузи бахшед ассалому салом дӯст дуст дӯстон дустон ҳамдардӣ хамдарди ҳамдардии
  духтур ҷавон чавон шаҳид шахид ғамгин гамгин дуо дуои омин қисса кисса ҳикоя хикоя барояш ҳамаи хамаи ҳама
  хама бояд мехоҳед ҳаст хаст буд будааст кард карданд чунин ҳамин хамин шуморо моро`)),
);

const RU_WORDS = new Set(
  folded(words(`и в не на я что с со мы вы она они это как для все всё вас вам ваш вашей вашего вашу вашему семье семья
  семьи семью память помним очень спасибо держитесь сил сочувствую соболезную соболезнования пусть будет был
  была его её ее их по за к от о у так но же бы ли только когда мне меня наша наши наш нас уважением светлая
  вечная справедливость пытки пыток пытках против нет тебя тебе ты маме мамы сына сын доктор врач история
  истории историю будем помнить никогда забудем вами любовью мира мир добра правда правды горе скорбим земля
  пухом царствие небесное бог господь аминь желаю желаем здоровья терпения мужества молимся мать матери
  человек людей который которая которые был была были есть этого этой эту тем том чтобы если даже может
  хочу хотим хотела хотел вместе всегда сердцем сердце слова слов поддержку поддержки`)),
);

const EN_WORDS = new Set(
  words(`the and you to of for we with are is in your our family my his her he she it be not this that all will
  never forget strength love prayers thoughts justice sorry thank thanks stand stay strong rest peace from was
  were have has i me us they them mother son brother doctor story remember hope heart so very dear please
  together against torture support solidarity memory what who at on by an a no can do did must should would
  remembered forgotten prayer pray condolences deepest`),
);

/** Tajik written in Latin letters (the diaspora, phones without a Cyrillic keyboard). No word that is also English. */
const TG_LATIN_WORDS = new Set(
  words(`va baroi ast shumo hamesha xamesha hastem xastem hastam mekunem mekunam bo dar az ki mo xudo khudo hudo
  duo oila oilai modar modari rahmat raxmat rakhmat tashakkur nest hame bisyor khele xele hele ruhash rukhash
  ruhi joni aziz azizi bigzor boshad boshed hastand namegzorem faromush adolat shikanja mardum hamroh hamrohem
  dorem salom assalomu`),
);

/** Which of the lists above hold a word, as bits: one lookup per word of a text, found where it stands. */
const TG = 1;
const RU = 2;
const EN = 4;
const TG_LATIN = 8;
const LANGUAGE_WORDS = (() => {
  const bits = new Map<string, number>();
  const lists: Array<[Set<string>, number]> = [
    [TG_WORDS, TG],
    [RU_WORDS, RU],
    [EN_WORDS, EN],
    [TG_LATIN_WORDS, TG_LATIN],
  ];
  for (const [list, bit] of lists) for (const w of list) bits.set(w, (bits.get(w) ?? 0) | bit);
  const map = new WordMap<number>();
  for (const [w, b] of bits) map.add(w, b);
  return map;
})();

/** Tajik verbs: the progressive prefix ме-/наме- on a verb stem (мекунем, намегузорем, мефаҳмем). */
const TG_VERB = /(на)?ме(кун|диҳ|дих|хоҳ|хох|дон|бин|фаҳм|фахм|гӯ|гу|шав|бош|мон|рас|гир|ов|бахш|тарс|навис|гузор|фирист|хон)/y;

/** Letters counted by script in one pass (called for every message: no array of matches). */
function letterCounts(s: string): { cyr: number; lat: number; tg: number; ru: number } {
  let cyr = 0;
  let lat = 0;
  let tg = 0;
  let ru = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      const l = c | 0x20;
      if (l >= 0x61 && l <= 0x7a) lat++;
    } else if (c >= 0xc0 && c <= 0x24f) lat++;
    else if (c >= 0x400 && c <= 0x52f) {
      if (c === 0x485 || c === 0x486) continue; // combining marks of the Inherited script
      cyr++;
      const kind = CYR_KIND[c - 0x400];
      if (kind === 1) tg++;
      else if (kind === 2) ru++;
    } else if (c > 0x52f) {
      // the rest of Cyrillic (extensions, and astral ones as surrogate pairs) by the Unicode property
      const cp = s.codePointAt(i)!;
      if (cp > 0xffff) i++;
      if (CYRILLIC.test(String.fromCodePoint(cp))) cyr++;
    }
  }
  return { cyr, lat, tg, ru };
}

/**
 * The language of a supporter's text: Tajik is told from Russian by its own letters and words, Russian is
 * Cyrillic without them, English is Latin (Tajik written in Latin letters is recognised by its words).
 * null when the text is too short to tell (a name, an emoji, "ok").
 */
export function detectLanguage(text: string): Language | null {
  let clean = (text ?? '').slice(0, 20_000);
  if (/https?:\/\/|www\./i.test(clean)) clean = clean.replace(/https?:\/\/\S+|www\.\S+/gi, ' ');
  if (clean.includes('@')) clean = clean.replace(/[\w.+'-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+/g, ' ');
  if (clean.includes('#')) clean = clean.replace(/#[\p{L}\p{N}_]+/gu, ' ');
  const { cyr, lat, tg: tgLetters, ru: ruLetters } = letterCounts(clean);
  if (cyr + lat < 4) return null;
  let lower = clean.toLowerCase();
  if (lower.includes('ё')) lower = lower.replaceAll('ё', 'е');
  const tokens = languageWordSpans(lower);
  return lat > cyr ? latinLanguage(lower, tokens, lat) : cyrillicLanguage(lower, tokens, cyr, tgLetters, ruLetters);
}

// The words of a text are looked up where they stand (tokens: languageWordSpans). The lists hold no apostrophes:
// a word with one ("we're") is in none of them, but English counts the part before it ("we").

/** English, or Tajik in Latin letters, by the words of a lowercased text. */
function latinLanguage(lower: string, tokens: number[], lat: number): Language | null {
  let en = 0;
  let tg = 0;
  for (let k = 0; k < tokens.length; k += 3) {
    const bits = LANGUAGE_WORDS.get(lower, tokens[k], tokens[k + 1]) ?? 0;
    if (bits & EN) en++;
    if (bits & TG_LATIN && tokens[k + 1] === tokens[k + 2]) tg++;
  }
  if (tg >= 1 && tg > en) return 'tg';
  if (en >= 1 || lat >= 15) return 'en';
  return null;
}

/** Tajik or Russian, by the letters (counted before) and the words of a lowercased text. */
function cyrillicLanguage(lower: string, tokens: number[], cyr: number, tgLetters: number, ruLetters: number): Language | null {
  let tgWords = 0;
  let ruWords = 0;
  for (let k = 0; k < tokens.length; k += 3) {
    const start = tokens[k];
    const bits = tokens[k + 1] === tokens[k + 2] ? (LANGUAGE_WORDS.get(lower, start, tokens[k + 1]) ?? 0) : 0;
    if (bits & TG) tgWords++;
    if (bits & RU) ruWords++;
    // only a word that starts with м or н can have the verb prefix (most do not, and the test is per word)
    else if (lower.charCodeAt(start) === 0x43c || lower.charCodeAt(start) === 0x43d) {
      TG_VERB.lastIndex = start;
      if (TG_VERB.test(lower)) tgWords++;
    }
  }
  return tajikOrRussian(cyr, tgLetters, ruLetters, tgWords, ruWords);
}

/** The weighing of Tajik against Russian (its own function: a rare outcome recompiles only this). */
function tajikOrRussian(cyr: number, tgLetters: number, ruLetters: number, tgWords: number, ruWords: number): Language | null {
  const tg = 3 * tgLetters + 2 * tgWords;
  const ru = ruLetters + 2 * ruWords;
  if (tg > ru) return 'tg';
  if (ru > tg) return 'ru';
  if (tg > 0) return tgLetters > 0 ? 'tg' : 'ru';
  return cyr >= 20 ? 'ru' : null;
}

// ---------------------------------------------------------------------------------------------------------
// signOff

/** Closings that precede a name, on the same line ("С уважением, Мария") or the line above. */
const CLOSING = new RegExp(
  '^(' +
    [
      // English
      String.raw`(?:best|kind|warm|warmest|kindest|many)?\s*regards`,
      'best wishes',
      'all the best',
      'best',
      'sincerely(?: yours)?',
      'yours(?: sincerely| truly| faithfully)?',
      '(?:with |lots of |much )?love',
      'in solidarity',
      'solidarity',
      'warmly',
      'cheers',
      '(?:many )?thanks',
      'thank you',
      'with respect',
      'respectfully',
      'hugs',
      'with hope',
      'with prayers',
      'your friends?',
      // Russian
      'с уважением',
      'с любовью',
      'искренне(?: ваш[аи]?)?',
      'обнимаю(?: вас)?',
      'с теплом',
      'с наилучшими пожеланиями',
      'ваш[аи]?',
      'с надеждой',
      'всегда с вами',
      'с молитвой',
      'с сочувствием',
      'с поддержкой',
      'от всего сердца',
      'спасибо',
      'ваш(?:а)? (?:друг|подруга)',
      // Tajik
      'бо (?:эҳтиром|эхтиром|эҳтироми самимӣ|эхтироми самими|ҳурмат|хурмат|муҳаббат|мухаббат|самимият|дуо|умед|сипос|ташаккур)',
      'раҳмат|рахмат|ташаккур',
      'дӯсти шумо|дусти шумо|дӯстони шумо|дустони шумо',
      // Latin-script Tajik
      'bo ehtirom|bo ehtirom|bo hurmat|bo muhabbat',
    ].join('|') +
    String.raw`)\s*[,.:!—–-]*\s*`,
  'i',
);

/** Words that end messages but are not names ("Держитесь", "Amen", "Stay strong"). */
const NOT_NAMES = new Set(
  words(`thanks thank you amen amin stay strong love peace justice hope solidarity we never forget rest in with
  for and all together always forever remember respect regards best wishes dear free freedom truth
  спасибо аминь держитесь помним скорбим мы с вами вечная светлая память справедливость правда мир свобода
  навсегда всегда вместе любим обнимаю сил терпения надежда царствие небесное
  раҳмат рахмат ташаккур омин мо бо шумо ҳастем хастем ҳамеша хамеша ҳамроҳем хамрохем дуо адолат озодӣ озоди
  салом ассалому алейкум хайр рӯҳаш рухаш шод`),
);

const CONNECTORS = new Set(words('from of and & из и с ва аз'));
// A regex literal with \p{…} outside a class is compiled to `new RegExp(…)` where it stands (esbuild, for the
// bundle and for tsx): in a function, a new regex per call. These are built once, here.
const UPPERCASE_FIRST = /^\p{Lu}/u;
const CONTACT_LABEL = /(?<!\p{L})(tel|phone|mob|mobile|email|e-mail|тел|моб|почта)(?!\p{L})\.?/giu;
const PHONE = /\+?\d[\d\s().-]{5,25}\d/g;

/** The parts of a sign-off that are a name or a place: no address, phone, link or sentence. */
function cleanName(s: string, strict: boolean): string | null {
  let t = s.replace(/https?:\/\/\S+|www\.\S+/gi, ' ').replace(/<?[\w.+'-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+>?/g, ' ').replace(PHONE, ' ');
  t = t.replace(/^[\s—–-]+/, '').replace(/[\s,;:.]+$/, '').replace(/\s+/g, ' ').trim();
  if (!t || t.length > 60 || /\d/.test(t)) return null;
  if (/[!?:;"«»<>@/\\|=]/.test(t)) return null;
  const parts = t.split(/\s*,\s*/).filter(Boolean);
  const tokens = parts.flatMap((p) => p.replace(/[()]/g, ' ').split(/\s+/)).filter(Boolean);
  if (!tokens.length || tokens.length > 5) return null;
  for (const tok of tokens) {
    const lower = tok.toLowerCase();
    if (CONNECTORS.has(lower)) continue;
    if (!/^[\p{L}][\p{L}\p{M}'’.-]*$/u.test(tok)) return null;
    if (strict) {
      if (!UPPERCASE_FIRST.test(tok)) return null;
      if (NOT_NAMES.has(lower.replace(/[.']+$/, ''))) return null;
    }
  }
  if (strict && CONNECTORS.has(tokens[0].toLowerCase())) return null;
  return parts.join(', ');
}

/** CONTACT_LABEL's words without the boundaries: where none occurs, CONTACT_LABEL has nothing to take out. */
const CONTACT_WORD = /tel|phone|mob|mobile|email|e-mail|тел|моб|почта/iu;

/** Trailing blank lines, hashtags, links, and lines holding only a phone number or an address. */
function skippable(l: string): boolean {
  if (l === '' || /^(#[\p{L}\p{N}_]+[\s,]*)+$/u.test(l) || /^(https?:\/\/|www\.)\S+$/i.test(l)) return true;
  // Addresses, phone numbers and their labels out: nothing but punctuation left?
  let rest = l.includes('@') ? l.replace(/<?[\w.+'-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+>?/g, '') : l;
  rest = rest.replace(PHONE, '');
  // (the label regex, with its lookbehind tried at every position, only where a label word is)
  if (CONTACT_WORD.test(rest)) rest = rest.replace(CONTACT_LABEL, '');
  return !rest.replace(/[\s,.;:()+/|-]+/g, '');
}

/**
 * The name a supporter signed with: the last short line(s) of the body ("Nodira, Khujand", "— Алишер",
 * "С уважением, Мария", "Бо эҳтиром,\nФарзона"). null when there is none; never an address or a phone number.
 */
export function signOff(text: string): string | null {
  // Only the end of the text matters (and a very long text stays cheap).
  const all = (text ?? '').replace(/\r\n?/g, '\n');
  const tail = all.length > 4000 ? all.slice(all.indexOf('\n', all.length - 4000) + 1 || all.length - 4000) : all;
  const lines = tail
    .split('\n')
    .map((l) => (l.length > 500 ? l.slice(-500) : l))
    .map((l) => l.trim());
  let end = lines.length;
  while (end > 0 && skippable(lines[end - 1])) end--;
  if (end === 0) return null;
  const last = lines[end - 1];
  let prev = end - 2;
  while (prev >= 0 && lines[prev] === '') prev--;
  const prevLine = prev >= 0 ? lines[prev] : null;
  const contentLines = lines.slice(0, end).filter((l) => l !== '').length;

  // "С уважением, Мария" / "Love, Anna" on one line
  const same = CLOSING.exec(last);
  if (same && same[0].length < last.length) {
    const rest = last.slice(same[0].length);
    const name = cleanName(rest, false);
    if (name && !NOT_NAMES.has(name.toLowerCase())) return name;
  }
  // "С уважением,\nМария"
  if (prevLine) {
    const above = CLOSING.exec(prevLine);
    if (above && above[0].length >= prevLine.replace(/[\s,.:!—–-]+$/, '').length) {
      const name = cleanName(last, false);
      if (name) return name;
    }
  }
  // "— Алишер", "- Nodira"
  const dash = /^[—–-]{1,2}\s*(\S.*)$/.exec(last);
  if (dash) {
    const name = cleanName(dash[1], false);
    if (name && !NOT_NAMES.has(name.toLowerCase())) return name;
  }
  // "Держитесь! — Алишер" at the end of the only line
  const inline = /\S\s+[—–]\s*([^—–]{2,40})$/.exec(last);
  if (inline) {
    const name = cleanName(inline[1], true);
    if (name) return name;
  }
  // "Nodira, Khujand" alone on the last line, below the message
  const sentenceEnd = /[!?…:]$/.test(last) || (/\.$/.test(last) && last.split(/\s+/).length > 2);
  if (contentLines >= 2 && !sentenceEnd) {
    const name = cleanName(last, true);
    if (name) return name;
  }
  return null;
}
