// What may leave the coalition: text that staff, families and the public read never carries an email address.

/** Anything that looks like an address, also with spaces or brackets around the @ ("nodira [at] mail.ru" is left). */
const ADDRESS = /[\p{L}\p{N}._%+'-]{1,64}\s?@\s?[\p{L}\p{N}-]{1,63}(?:\.[\p{L}\p{N}-]{1,63})+/gu;

export const ADDRESS_PLACEHOLDER = '[address removed]';

/** One character of an address's local part, as in ADDRESS, and the space it allows before the @. */
const LOCAL_CHAR = /^[\p{L}\p{N}._%+'-]$/u;
const SPACE = /\s/;

/**
 * Where a match of ADDRESS that has its @ at `at` would start: the run of local-part characters (at most 64)
 * before it, and an optional space. No match with this @ can start earlier, and none with a later @ either
 * (a local part holds no @).
 */
function localPartStart(text: string, at: number, floor: number): number {
  let i = at;
  if (i > floor && SPACE.test(text[i - 1])) i--;
  for (let n = 0; n < 64 && i > floor; n++) {
    let j = i - 1;
    if (j > floor && (text.charCodeAt(j) & 0xfc00) === 0xdc00 && (text.charCodeAt(j - 1) & 0xfc00) === 0xd800) j--;
    if (!LOCAL_CHAR.test(text.slice(j, i))) break;
    i = j;
  }
  return i;
}

export function redactAddresses(text: string): string {
  // Most text holds no @ at all: skip the Unicode-class regex there (it dominates a 10,000-item digest).
  let at = text.indexOf('@');
  if (at < 0) return text;
  // The regex is tried only from where a match with the next @ could start: run over the whole text, the
  // engine tried every position, each with up to 64 steps back. The result is the one a replace over the
  // whole text gives (tests/unit/privacy.test.ts).
  let out = '';
  let pos = 0;
  while (at >= 0) {
    ADDRESS.lastIndex = localPartStart(text, at, pos);
    const m = ADDRESS.exec(text);
    if (!m) break;
    out += text.slice(pos, m.index) + ADDRESS_PLACEHOLDER;
    pos = m.index + m[0].length;
    at = text.indexOf('@', pos);
  }
  ADDRESS.lastIndex = 0;
  return pos === 0 ? text : out + text.slice(pos);
}

/**
 * `text.replace(/\s+/g, ' ').trim().slice(0, n)`, folding only as much of the text as that needs: a prefix
 * twice the window, then longer ones until its fold is longer than n. Then its first n characters are final: a
 * run of whitespace folds to one space however far it goes on, so the last of them cannot be a trailing run
 * that the trim of the whole text would remove (a character follows it).
 */
export function foldedStart(text: string, n: number): string {
  for (let end = 2 * n + 64; ; end *= 2) {
    if (end >= text.length) return text.replace(/\s+/g, ' ').trim().slice(0, n);
    const folded = text.slice(0, end).replace(/\s+/g, ' ').trimStart();
    if (folded.length > n) return folded.slice(0, n);
  }
}

/** A short single-paragraph excerpt: whitespace folded, addresses removed, cut at a word near `max` characters. */
export function excerpt(text: string, max = 160): string {
  // Fold, keep a window well past the cut (an address cannot straddle it unseen: its labels are at most 63
  // characters), and only then redact: a long message costs no more than a short one (and is folded only as
  // far as the window reaches).
  const flat = redactAddresses(foldedStart(text, max + 256));
  if (flat.length <= max) return flat;
  const cut = flat.slice(0, max);
  const space = cut.lastIndexOf(' ');
  return (space > max * 0.6 ? cut.slice(0, space) : cut).replace(/[\s,.;:—–-]+$/, '') + '…';
}
