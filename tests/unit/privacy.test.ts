// redactAddresses: what it removes (an address in any script, with a space around the @, a local part of at most
// 64 characters, an astral letter) and what it leaves.
import { describe, expect, it } from 'vitest';
import { ADDRESS_PLACEHOLDER, excerpt, redactAddresses } from '../../src/core/privacy.ts';

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
