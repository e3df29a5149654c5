// Pure cleaning of sender-controlled strings before they reach a Postgres text column or a screen.

/** Text safe for a Postgres text/jsonb column: no NUL, no C0 controls but tab/newline, no lone surrogates. */
export function sanitizeText(s: string, maxChars = Infinity): string {
  // eslint-disable-next-line no-control-regex
  let out = s.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/g, '');
  out = out.toWellFormed();
  if (out.length > maxChars) out = out.slice(0, maxChars);
  return out;
}

/** One line: any line break or control becomes a space (a subject must never carry a header). */
export function singleLine(s: string, maxChars = 998): string {
  return sanitizeText(s.replace(/[\r\n\t\u2028\u2029\u0085]+/g, ' '))
    .replace(/ {2,}/g, ' ')
    .trim()
    .slice(0, maxChars);
}

const BIDI_AND_INVISIBLE = /[\u200B-\u200F\u202A-\u202E\u2060-\u2069\uFEFF]/g;
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$/i;

/**
 * The sender's filename as display data: last path component only, no controls, no bidi overrides (U+202E
 * makes "exe.mp4" look like "4pm.exe"), no characters that mean something to a shell or a file system.
 * Never used as a path: files are stored under generated names.
 */
export function sanitizeFilename(name: string | null | undefined, maxChars = 120): string | null {
  if (!name) return null;
  let s = sanitizeText(name).replace(BIDI_AND_INVISIBLE, '');
  s = s.split(/[/\\]/).pop() ?? '';
  s = s.replace(/[<>:"|?*\u0000-\u001F]/g, '_').trim();
  s = s.replace(/^[.\s-]+/, '');
  if (WINDOWS_RESERVED.test(s)) s = `_${s}`;
  if (s.length > maxChars) {
    const dot = s.lastIndexOf('.');
    const ext = dot > 0 && s.length - dot <= 10 ? s.slice(dot) : '';
    s = s.slice(0, maxChars - ext.length) + ext;
  }
  return s || null;
}
