import { describe, expect, it } from 'vitest';
import { sanitizeFilename, sanitizeText, singleLine } from '../../src/core/sanitize.ts';

describe('sanitizeFilename', () => {
  it.each([
    ['../../etc/passwd', 'passwd'],
    ['/abs/path/file.mp4', 'file.mp4'],
    ['C:\\x\\..\\y.mov', 'y.mov'],
    ['a\u0000.txt', 'a.txt'],
    ['', null],
    ['.', null],
    ['..', null],
    ['clip\u202Egpj.exe', 'clipgpj.exe'],
    ['-i http:', 'i http_'],
    ['CON.txt', '_CON.txt'],
    ['video "final".mp4', 'video _final_.mp4'],
    ['Видео о Хуршеде.mp4', 'Видео о Хуршеде.mp4'],
  ])('%j -> %j', (input, expected) => {
    expect(sanitizeFilename(input)).toBe(expected);
  });

  it('caps the length and keeps the extension', () => {
    const s = sanitizeFilename('x'.repeat(300) + '.mp4')!;
    expect(s.length).toBe(120);
    expect(s.endsWith('.mp4')).toBe(true);
  });
});

describe('sanitizeText and singleLine', () => {
  it('removes NUL and controls, keeps newlines and tabs, repairs lone surrogates', () => {
    expect(sanitizeText('a\u0000b\u0007c\n\td\ud800')).toBe('abc\n\td\ufffd');
  });
  it('makes a subject one line so it can never carry a header', () => {
    expect(singleLine('Hello\r\nBcc: victim@example.org')).toBe('Hello Bcc: victim@example.org');
    expect(singleLine('x'.repeat(2000), 100)).toHaveLength(100);
  });
});
