// What may leave the coalition: text that staff, families and the public read never carries an email address.

/** Anything that looks like an address, also with spaces or brackets around the @ ("nodira [at] mail.ru" is left). */
const ADDRESS = /[\p{L}\p{N}._%+'-]{1,64}\s?@\s?[\p{L}\p{N}-]{1,63}(?:\.[\p{L}\p{N}-]{1,63})+/gu;

export const ADDRESS_PLACEHOLDER = '[address removed]';

export function redactAddresses(text: string): string {
  // Most text holds no @ at all: skip the Unicode-class regex there (it dominates a 10,000-item digest).
  return text.includes('@') ? text.replace(ADDRESS, ADDRESS_PLACEHOLDER) : text;
}

export function hasAddress(text: string): boolean {
  ADDRESS.lastIndex = 0;
  const found = ADDRESS.test(text);
  ADDRESS.lastIndex = 0;
  return found;
}

/** A short single-paragraph excerpt: whitespace folded, addresses removed, cut at a word near `max` characters. */
export function excerpt(text: string, max = 160): string {
  // Fold, keep a window well past the cut (an address cannot straddle it unseen: its labels are at most 63
  // characters), and only then redact: a long message costs no more than a short one.
  const flat = redactAddresses(text.replace(/\s+/g, ' ').trim().slice(0, max + 256));
  if (flat.length <= max) return flat;
  const cut = flat.slice(0, max);
  const space = cut.lastIndexOf(' ');
  return (space > max * 0.6 ? cut.slice(0, space) : cut).replace(/[\s,.;:—–-]+$/, '') + '…';
}
