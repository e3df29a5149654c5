// redactAddresses: what it removes (an address in any script, with a space around the @, a local part of at most
// 64 characters, an astral letter) and what it leaves.
import { describe, expect, it } from 'vitest';
import { ADDRESS_PLACEHOLDER, excerpt, foldedStart, redactAddresses } from '../../src/core/privacy.ts';

describe('redactAddresses', () => {
  it.each([
    ['no address at all', 'no address at all'],
    ['write to nodira@mail.ru please', `write to ${ADDRESS_PLACEHOLDER} please`],
    ['a@b.c and d @ e.f, g@h', `${ADDRESS_PLACEHOLDER} and ${ADDRESS_PLACEHOLDER}, g@h`],
    ['Фарида@почта.тҷ', ADDRESS_PLACEHOLDER],
    ['x'.repeat(100) + '@example.org', 'x'.repeat(36) + ADDRESS_PLACEHOLDER],
    ['𝐀'.repeat(70) + '@example.org', '𝐀'.repeat(6) + ADDRESS_PLACEHOLDER],
    ['a@b@c.d', `a@${ADDRESS_PLACEHOLDER}`],
    ['@@@', '@@@'],
    // The search starts shortly before each @: at most 64 letters (astral ones included) and a space.
    ['𝐀'.repeat(64) + ' @mail.ru', ADDRESS_PLACEHOLDER],
    ['𝐀'.repeat(65) + ' @mail.ru', '𝐀' + ADDRESS_PLACEHOLDER],
    ['a'.repeat(64) + ' @mail.ru', ADDRESS_PLACEHOLDER],
    ['a'.repeat(65) + ' @mail.ru', 'a' + ADDRESS_PLACEHOLDER],
    ['x '.repeat(500) + 'a@b.cd ' + 'y'.repeat(300) + ' e @ f.gh!', 'x '.repeat(500) + `${ADDRESS_PLACEHOLDER} ` + 'y'.repeat(300) + ` ${ADDRESS_PLACEHOLDER}!`],
    ['not@an address, then ' + 'z'.repeat(80) + ' o@p.qr', `not@an address, then ${'z'.repeat(80)} ${ADDRESS_PLACEHOLDER}`],
  ])('%j', (text, want) => {
    expect(redactAddresses(text)).toBe(want);
  });

  it('keeps excerpts free of addresses', () => {
    expect(excerpt('Hello from farida.k@mail.ru, with love', 160)).toBe(`Hello from ${ADDRESS_PLACEHOLDER}, with love`);
  });
});

describe('foldedStart', () => {
  const whole = (text: string, n: number) => text.replace(/\s+/g, ' ').trim().slice(0, n);
  // whitespace of every kind \s and trim() know, runs of any length, at the start, around the cut and at the end
  const spaces = [' ', '\t', '\r\n', '\n\n\n', '\u00a0', '\u2028', '\u3000', '\ufeff', ' '.repeat(300), '\n'.repeat(2000)];
  const words = ['a', 'Мы', 'с тобой', '𝐀𝐁', 'x'.repeat(50), 'Ҳамеша', '.'];

  it('is the fold of the whole text cut at n, on random texts with long runs of whitespace', () => {
    let seed = 7;
    const rand = (k: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % k);
    for (let round = 0; round < 3000; round++) {
      let text = '';
      const parts = rand(400);
      for (let i = 0; i < parts; i++) text += rand(3) ? words[rand(words.length)] : spaces[rand(spaces.length)];
      const n = [1, 10, 160, 416, 1000][rand(5)];
      expect(foldedStart(text, n)).toBe(whole(text, n));
    }
  });

  it('gives what the whole text gives where only whitespace follows the window, and on empty and blank texts', () => {
    for (const text of ['', ' ', '\n'.repeat(5000), 'word' + ' '.repeat(5000), ' '.repeat(5000) + 'word', 'a '.repeat(300) + '\n'.repeat(3000)])
      for (const n of [1, 3, 416]) expect(foldedStart(text, n)).toBe(whole(text, n));
    // n - 1 characters, then whitespace to the end: the fold of a prefix is n long, its last a space the trim removes
    for (const n of [4, 10, 416]) expect(foldedStart('x'.repeat(n - 1) + ' '.repeat(5000), n)).toBe('x'.repeat(n - 1));
  });
});
