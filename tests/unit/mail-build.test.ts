// buildMessage: the bytes of an outgoing mail. A large body (a digest of thousands of items) goes out in base64,
// smaller than quoted-printable for Cyrillic; a short acknowledgement keeps nodemailer's choice.
// Both read back to the same text with mailparser.
import { describe, expect, it } from 'vitest';
import { simpleParser } from 'mailparser';
import { buildMessage, type OutgoingMail } from '../../src/adapters/smtp.ts';

function mail(text: string, html: string | null): OutgoingMail {
  return {
    id: 1,
    kind: 'daily_digest',
    from: { name: 'Campaign', address: 'campaign@example.org' },
    to: 'staff@example.org',
    envelopeFrom: null,
    subject: 'Дайджест',
    text,
    html,
    messageId: '<digest-1@example.org>',
    headers: {},
    date: new Date('2026-12-08T14:00:00Z'),
  };
}

const encodings = (raw: string) => [...raw.matchAll(/^Content-Transfer-Encoding: (\S+)/gim)].map((m) => m[1].toLowerCase());

describe('buildMessage', () => {
  it('writes a large body in base64, which reads back the same', async () => {
    const line = 'Мы с Хуршедом. Свободу всем! Ҷасорат! <b>смотрите</b>\n';
    const text = line.repeat(2000);
    // Styled markup as the digest's: more Latin letters than Cyrillic, so nodemailer alone picks quoted-printable
    const li = `<li style="margin:0 0 10px;font-family:Arial,Helvetica,sans-serif;color:#222222"><strong>message from Supporter</strong> ${line}</li>`;
    const html = `<ul>${li.repeat(2000)}</ul>`;
    const raw = (await buildMessage(mail(text, html))).toString('latin1');
    expect(encodings(raw)).toEqual(['base64', 'base64']);
    // base64 is 4/3 of the bytes (and line ends); quoted-printable spells each Cyrillic byte as =XX
    expect(raw.length).toBeLessThan(Buffer.byteLength(text + html) * 1.4);
    const back = await simpleParser(Buffer.from(raw, 'latin1'));
    expect(back.text).toBe(text);
    expect(back.html).toBe(html);
  });

  it('leaves a short acknowledgement as nodemailer encodes it', async () => {
    const raw = (await buildMessage(mail('Спасибо! Thank you.\n', '<p>Спасибо! Thank you.</p>\n'))).toString('latin1');
    expect(encodings(raw)).toEqual(['quoted-printable', 'quoted-printable']);
    const back = await simpleParser(Buffer.from(raw, 'latin1'));
    expect(back.text).toBe('Спасибо! Thank you.\n');
  });
});
