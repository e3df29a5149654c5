// One named case per classification rule, on MessageFacts literals built from a few header lines. Vendor cases
// use the headers those systems really send: Zimbra's mailbox code sets "Auto-Submitted: auto-replied (zimbra;
// vacation)" and "Precedence: bulk"; Zammad's tests model Gmail vacation replies as Auto-Submitted:
// auto-replied + X-Autoreply: yes + Precedence: bulk, and Exchange rule replies as X-Auto-Response-Suppress: All
// + X-MS-Exchange-Inbox-Rules-Loop; Exchange OOF replies add "auto-submitted: auto-generated" and the subject
// "Automatic reply: ..." (as in php-mime-mail-parser's and EmailEngine's fixtures).
import { describe, expect, it } from 'vitest';
import { classify, type Classification, type ClassifyContext } from '../../src/core/classify.ts';
import type { MessageFacts } from '../../src/core/facts.ts';

const OURS = 'campaign@notorture.example.org';
const ctx: ClassifyContext = { ownAddresses: [OURS], ownDomains: ['notorture.example.org'] };

const BASE = `From: Nigora Saidova <nigora@example.tj>
To: ${OURS}
Subject: For Khurshed's mother
Message-ID: <CAF8x1@mail.example.tj>
Return-Path: <nigora@example.tj>`;

function parseHeaders(text: string): Array<{ key: string; value: string }> {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const i = l.indexOf(':');
      return { key: l.slice(0, i).trim().toLowerCase(), value: l.slice(i + 1).trim() };
    });
}

/** A supporter's message, with `headers` replacing the base header of the same name (or added). */
function msg(headers = '', over: Partial<MessageFacts> = {}): MessageFacts {
  const extra = parseHeaders(headers);
  const replaced = new Set(extra.map((h) => h.key));
  const all = [...parseHeaders(BASE).filter((h) => !replaced.has(h.key)), ...extra].filter((h) => h.value !== '<drop>');
  const get = (k: string) => all.find((h) => h.key === k)?.value ?? null;
  const from = get('from');
  const fromAddress = from && (/<([^<>@\s]+@[^<>\s]+)>/.exec(from)?.[1] ?? /^[^\s<>]+@[^\s<>]+$/.exec(from)?.[0] ?? null);
  const rp = get('return-path');
  const rpAddress = rp === null ? null : (/<?([^<>\s@]+@[^<>\s]+)>?/.exec(rp)?.[1] ?? '');
  return {
    headers: all,
    from: from === null ? null : { name: '', address: fromAddress ? fromAddress.toLowerCase() : null },
    envelopeSender: rpAddress === null ? null : rpAddress.toLowerCase(),
    to: [{ name: '', address: OURS }],
    cc: [],
    replyTo: [],
    subject: get('subject'),
    rfcMessageId: get('message-id')?.replace(/^<|>$/g, '') ?? null,
    inReplyTo: null,
    references: [],
    text: 'Dear Saodat, we are with you.',
    html: null,
    attachments: [],
    ...over,
  };
}

interface Case {
  name: string;
  m: MessageFacts;
  ctx?: ClassifyContext;
  is: Classification;
  /** The expected reason (non-submissions) or ackBlock (submissions); null: a submission that may be acked. */
  why: string | RegExp | null;
}

const cases: Case[] = [
  // --- ordinary mail ---------------------------------------------------------------------------------------------
  { name: 'a supporter message is a submission that may be acknowledged', m: msg(), is: 'submission', why: null },
  { name: 'Auto-Submitted: no is a submission that may be acknowledged (G2)', m: msg('Auto-Submitted: no'), is: 'submission', why: null },
  {
    name: 'imported .eml without any Return-Path: the From decides, ack allowed',
    m: msg('Return-Path: <drop>'),
    is: 'submission',
    why: null,
  },
  {
    name: 'Outlook everyday mail with X-Auto-Response-Suppress: DR, RN, NRN, OOF, AutoReply stays a submission, no ack (G6)',
    m: msg('X-Auto-Response-Suppress: DR, RN, NRN, OOF, AutoReply\nX-Mailer: Microsoft Outlook 16.0'),
    is: 'submission',
    why: /^X-Auto-Response-Suppress: (AutoReply|OOF)$/,
  },
  { name: 'X-Auto-Response-Suppress: All on human mail blocks the ack', m: msg('X-Auto-Response-Suppress: All'), is: 'submission', why: 'X-Auto-Response-Suppress: All' },
  { name: 'X-Auto-Response-Suppress: DR, RN only does not block the ack', m: msg('X-Auto-Response-Suppress: DR, RN'), is: 'submission', why: null },
  {
    name: 'From with no usable address (encoded-word holding an address) is a submission without ack',
    m: msg('From: =?utf-8?b?YXR0YWNrZXJAZXZpbC5jb20=?='),
    is: 'submission',
    why: 'no valid sender address',
  },
  { name: 'no From at all is a submission without ack', m: msg('From: <drop>'), is: 'submission', why: 'no valid sender address' },
  {
    name: 'two From header lines block the ack',
    m: { ...msg(), headers: [...msg().headers, { key: 'from', value: 'other@example.com' }] },
    is: 'submission',
    why: 'more than one From header',
  },
  {
    name: 'one From header with two addresses blocks the ack',
    m: msg('From: nigora@example.tj, "Boss, Big" <victim@example.com>'),
    is: 'submission',
    why: 'more than one From address',
  },
  {
    name: 'a From with an address and a bare second one blocks the ack',
    m: msg('From: Mikel <test@lindsaar.net>, jack@lindsar.com'),
    is: 'submission',
    why: 'more than one From address',
  },
  {
    name: 'an unquoted display name holding an "@" is still one From address (mimekit issue358)',
    m: msg('From: jang.abcdef@xyzlinu <jang.abcdef@xyzlinux12345678.it>'),
    is: 'submission',
    why: null,
  },
  { name: 'a Return-Path that is not an address blocks the ack', m: msg('Return-Path: <not an address>'), is: 'submission', why: /unusable envelope sender/ },
  {
    name: 'an Exchange inbox-rule loop header alone (rule-forwarded human mail) is a submission',
    m: msg('X-MS-Exchange-Inbox-Rules-Loop: someone@example.com'),
    is: 'submission',
    why: null,
  },

  // --- supporters' subjects that only look like out-of-office ------------------------------------------------------
  { name: 'subject "I am away from home but I support you" is a submission', m: msg('Subject: I am away from home but I support you'), is: 'submission', why: null },
  { name: 'subject "On vacation I read story 8" is a submission', m: msg('Subject: On vacation I read story 8'), is: 'submission', why: null },
  { name: 'subject "Vacations are not for the family of Khurshed" is a submission', m: msg('Subject: Vacations are not for the family of Khurshed'), is: 'submission', why: null },
  { name: 'Russian subject "В отпуске я прочитала историю 8" is a submission', m: msg('Subject: В отпуске я прочитала историю 8'), is: 'submission', why: null },
  { name: 'Tajik subject "Дар рухсатӣ ҳам дар бораи Хуршед фикр мекунам" is a submission', m: msg('Subject: Дар рухсатӣ ҳам дар бораи Хуршед фикр мекунам'), is: 'submission', why: null },
  { name: 'a sender named noreen@ is not a no-reply address', m: msg('From: noreen@example.com\nReturn-Path: <noreen@example.com>'), is: 'submission', why: null },

  // --- Auto-Submitted (G1) ----------------------------------------------------------------------------------------
  { name: 'Auto-Submitted: auto-replied', m: msg('Auto-Submitted: auto-replied'), is: 'auto_reply', why: 'Auto-Submitted: auto-replied' },
  { name: 'Auto-Submitted: auto-generated', m: msg('Auto-Submitted: auto-generated'), is: 'auto_reply', why: 'Auto-Submitted: auto-generated' },
  { name: 'Auto-Submitted: auto-notified', m: msg('Auto-Submitted: auto-notified'), is: 'auto_reply', why: 'Auto-Submitted: auto-notified' },
  {
    name: 'Auto-Submitted with an address in a parameter: the reason does not repeat it',
    m: msg('Auto-Submitted: auto-replied; owner-email="me@example.com"'),
    is: 'auto_reply',
    why: 'Auto-Submitted: auto-replied',
  },

  // --- vendors' out-of-office replies ------------------------------------------------------------------------------
  {
    name: 'Exchange out-of-office: Auto-Submitted: auto-generated, X-Auto-Response-Suppress, "Automatic reply:"',
    m: msg(`Subject: Automatic reply: For Khurshed's mother
Thread-Topic: For Khurshed's mother
X-MS-Has-Attach:
X-Auto-Response-Suppress: All
X-MS-Exchange-Inbox-Rules-Loop: nigora@example.tj
auto-submitted: auto-generated
x-ms-exchange-generated-message-source: Mailbox Rules Agent`),
    is: 'auto_reply',
    why: 'Auto-Submitted: auto-generated',
  },
  {
    name: 'older Exchange rule reply without Auto-Submitted: X-Auto-Response-Suppress: All + inbox-rules loop',
    m: msg('X-Auto-Response-Suppress: All\nX-MS-Exchange-Inbox-Rules-Loop: nigora@example.tj\nSubject: Re: For Khurshed'),
    is: 'auto_reply',
    why: /Exchange inbox-rule reply/,
  },
  {
    name: 'Zimbra vacation reply: Auto-Submitted: auto-replied (zimbra; vacation) wins over its Precedence: bulk',
    m: msg(`Subject: Re: For Khurshed's mother
Auto-Submitted: auto-replied (zimbra; vacation)
Precedence: bulk
X-Mailer: Zimbra 8.8.15_GA_4484
Return-Path: <>`),
    is: 'auto_reply',
    why: 'Auto-Submitted: auto-replied',
  },
  {
    name: 'Gmail vacation reply: Auto-Submitted: auto-replied, X-Autoreply: yes, Precedence: bulk',
    m: msg(`Subject: On vacation: For Khurshed's mother
Precedence: bulk
X-Autoreply: yes
Auto-Submitted: auto-replied`),
    is: 'auto_reply',
    why: 'Auto-Submitted: auto-replied',
  },
  { name: 'X-Autoreply: yes alone', m: msg('X-Autoreply: yes'), is: 'auto_reply', why: 'X-Autoreply header' },
  { name: 'X-Autorespond header', m: msg('X-Autorespond: Thank you'), is: 'auto_reply', why: 'X-Autorespond header' },
  { name: 'X-Autoresponder header', m: msg('X-Autoresponder: true'), is: 'auto_reply', why: 'X-Autoresponder header' },
  { name: 'X-Mailer of a vacation program', m: msg('X-Mailer: vacation 1.2.7'), is: 'auto_reply', why: 'X-Mailer header' },
  { name: 'X-Loop: yes of a help desk auto-response', m: msg('X-Loop: yes'), is: 'auto_reply', why: 'X-Loop header' },
  { name: 'Precedence: auto_reply', m: msg('Precedence: auto_reply'), is: 'auto_reply', why: 'Precedence: auto_reply' },

  // --- out-of-office subjects without headers (G10) --------------------------------------------------------------
  ...[
    'Out of Office: For Khurshed',
    'Out of Office AutoReply: For Khurshed',
    'Automatic reply: For Khurshed',
    'Auto reply: For Khurshed',
    'Auto-Reply: For Khurshed',
    'Autoreply',
    'OOO: back on Monday',
    'Vacation reply: For Khurshed',
    'Автоматический ответ: Для мамы Хуршеда',
    'Автоответ: Для мамы Хуршеда',
    'Нет на месте: Для мамы Хуршеда',
    'Вне офиса',
    'В отпуске',
    'Ҷавоби худкор: Барои модари Хуршед',
    'Ҷавоби автоматӣ: Барои модари Хуршед',
    'Чавоби худкор: Барои модари Хуршед',
    'Дар рухсатӣ',
    'Берун аз идора: Барои модари Хуршед',
  ].map<Case>((subject) => ({
    name: `out-of-office subject "${subject}"`,
    m: msg(`Subject: ${subject}`),
    is: 'auto_reply',
    why: 'out-of-office subject',
  })),

  // --- lists (G3, G4) -----------------------------------------------------------------------------------------------
  { name: 'List-Id header', m: msg('List-Id: Supporters <supporters.lists.example.org>'), is: 'list', why: 'List-Id header' },
  { name: 'List-Unsubscribe alone (a newsletter)', m: msg('List-Unsubscribe: <https://news.example.com/u?id=1>'), is: 'list', why: 'List-Unsubscribe header' },
  { name: 'List-Post alone', m: msg('List-Post: <mailto:scr@socal-raves.org>'), is: 'list', why: 'List-Post header' },
  { name: 'Precedence: list', m: msg('Precedence: list'), is: 'list', why: 'Precedence: list' },
  { name: 'Precedence: bulk', m: msg('Precedence: bulk'), is: 'list', why: 'Precedence: bulk' },
  { name: 'Precedence: junk', m: msg('Precedence: junk'), is: 'list', why: 'Precedence: junk' },
  {
    name: 'Mailman post: List-* wins over the Auto-Submitted and suppress headers lists also carry',
    m: msg(`List-Id: SoCal-Raves <scr.socal-raves.org>
Precedence: bulk
Auto-Submitted: auto-generated
X-Auto-Response-Suppress: All
Return-Path: <scr-bounces+nigora=example.tj@socal-raves.org>`),
    is: 'list',
    why: 'List-Id header',
  },
  { name: 'sender LISTSERV@', m: msg('From: LISTSERV@lists.example.edu\nReturn-Path: <owner-x@lists.example.edu>'), is: 'list', why: 'sender is listserv' },
  { name: 'sender majordomo@', m: msg('From: majordomo@example.org\nReturn-Path: <majordomo@example.org>'), is: 'list', why: 'sender is majordomo' },
  { name: 'sender owner-x@', m: msg('From: owner-scr@example.org\nReturn-Path: <owner-scr@example.org>'), is: 'list', why: /owner-/ },
  { name: 'sender x-request@', m: msg('From: scr-request@example.org\nReturn-Path: <scr-request@example.org>'), is: 'list', why: /-request/ },
  { name: 'envelope sender list-bounces+VERP@ (Mailman)', m: msg('Return-Path: <scr-bounces+nigora=example.tj@example.org>'), is: 'list', why: /-bounces/ },

  // --- system senders (G7) ------------------------------------------------------------------------------------------
  { name: 'sender MAILER-DAEMON@', m: msg('From: Mail Delivery System <MAILER-DAEMON@mx.example.tj>\nReturn-Path: <>'), is: 'bounce', why: 'sender is mailer-daemon' },
  { name: 'sender postmaster@', m: msg('From: postmaster@example.tj\nReturn-Path: <>'), is: 'bounce', why: 'sender is postmaster' },
  { name: 'sender bounces@', m: msg('From: bounces@example.com\nReturn-Path: <bounces@example.com>'), is: 'bounce', why: 'sender is a bounce address' },
  { name: 'mbox Return-Path: <MAILER-DAEMON>', m: msg('From: Mail System <root@mx.example.tj>\nReturn-Path: <MAILER-DAEMON>'), is: 'bounce', why: 'sender is mailer-daemon' },
  { name: 'sender noreply@', m: msg('From: noreply@service.example.com\nReturn-Path: <noreply@service.example.com>'), is: 'auto_reply', why: 'sender is a no-reply address' },
  { name: 'sender no-reply@', m: msg('From: No Reply <no-reply@service.example.com>'), is: 'auto_reply', why: 'sender is a no-reply address' },
  { name: 'sender do-not-reply@', m: msg('From: do-not-reply@service.example.com'), is: 'auto_reply', why: 'sender is a no-reply address' },
  { name: 'sender donotreply@', m: msg('From: DoNotReply@service.example.com'), is: 'auto_reply', why: 'sender is a no-reply address' },
  { name: 'sender calendar-noreply@', m: msg('From: calendar-noreply@service.example.com'), is: 'auto_reply', why: 'sender is a no-reply address' },

  // --- null envelope sender (G5) ----------------------------------------------------------------------------------
  { name: 'Return-Path: <> with nothing else', m: msg('Return-Path: <>'), is: 'auto_reply', why: /^null envelope sender/ },

  // --- reports (G9) ---------------------------------------------------------------------------------------------------
  {
    name: 'multipart/report; report-type=delivery-status',
    m: msg('From: someone@mx.example.tj\nReturn-Path: <>\nContent-Type: multipart/report; report-type=delivery-status; boundary="b1"'),
    is: 'bounce',
    why: 'delivery status notification (multipart/report; delivery-status)',
  },
  {
    name: 'read receipt: multipart/report; report-type=disposition-notification (MDN) from a human address',
    m: msg('Content-Type: multipart/report; report-type="disposition-notification"; boundary="b1"\nSubject: Read: For Khurshed'),
    is: 'bounce',
    why: 'read receipt (multipart/report; disposition-notification)',
  },
  {
    name: 'ARF: multipart/report; report-type=feedback-report',
    m: msg('Content-Type: multipart/report; report-type=feedback-report;\tboundary="b1"'),
    is: 'bounce',
    why: 'abuse feedback report (multipart/report; feedback-report)',
  },
  {
    name: 'a multipart/report with an unknown report-type: the reason does not echo it',
    m: msg('Content-Type: multipart/report; report-type=Khurshed-was-here; boundary="b1"'),
    is: 'bounce',
    why: 'machine report (multipart/report)',
  },
  {
    name: 'a multipart/report without report-type is named by its message/delivery-status part',
    m: msg('Content-Type: multipart/report; boundary="b1"', {
      attachments: [{ id: 0, contentType: 'message/delivery-status', filename: null, size: 300 }],
    }),
    is: 'bounce',
    why: 'delivery status notification (multipart/report)',
  },
  {
    name: 'a message/delivery-status part without a multipart/report top',
    m: msg('Content-Type: multipart/mixed; boundary="b1"', {
      attachments: [{ id: 0, contentType: 'message/delivery-status', filename: null, size: 300 }],
    }),
    is: 'bounce',
    why: 'delivery status notification (message/delivery-status)',
  },
  {
    name: 'a broken DSN whose whole body is message/delivery-status, without From',
    m: msg('From: <drop>\nContent-Type: message/delivery-status'),
    is: 'bounce',
    why: 'delivery status notification (message/delivery-status)',
  },
  {
    name: 'Return-Path: <> is a null sender even when the parser left envelopeSender null',
    m: msg('Return-Path: <>', { envelopeSender: null }),
    is: 'auto_reply',
    why: /^null envelope sender/,
  },
  {
    name: 'a failure subject from a null sender (qmail style, no report)',
    m: msg('From: someone@mx.example.tj\nReturn-Path: <>\nSubject: failure notice'),
    is: 'bounce',
    why: /delivery failure subject/,
  },

  // --- own mail (G8) ---------------------------------------------------------------------------------------------------
  { name: 'our own address as sender', m: msg(`From: Campaign <${OURS}>\nReturn-Path: <${OURS}>`), is: 'own', why: 'from our own address' },
  {
    name: 'a plus-address of ours as sender, other case',
    m: msg('From: Campaign+Story8@NoTorture.Example.ORG\nReturn-Path: <bounce-handler@relay.example.net>'),
    is: 'own',
    why: 'from our own address',
  },
  { name: 'a Message-ID on our domain', m: msg('Message-ID: <4f1c-ack@notorture.example.org>'), is: 'own', why: 'Message-ID on our domain' },
  {
    name: 'a Message-ID on a shared provider we also use is not ours (Apple Mail writes <uuid@gmail.com>)',
    m: msg('Message-ID: <8F1A0C2E-1111-2222-3333-444455556666@gmail.com>\nFrom: nigora@gmail.com\nReturn-Path: <nigora@gmail.com>'),
    ctx: { ownAddresses: ['notorture.campaign@gmail.com'], ownDomains: ['gmail.com'] },
    is: 'submission',
    why: null,
  },
  {
    name: 'an explicit ownMessageIdDomains decides Message-ID ownership',
    m: msg('Message-ID: <ack-1@mailer.notorture.example.org>'),
    ctx: { ...ctx, ownMessageIdDomains: ['mailer.notorture.example.org'] },
    is: 'own',
    why: 'Message-ID on our domain',
  },
  { name: 'a Message-ID on a subdomain of ours is not ours without ownMessageIdDomains', m: msg('Message-ID: <x@sub.notorture.example.org>'), is: 'submission', why: null },
  { name: 'X-Loop naming our address', m: msg(`X-Loop: ${OURS}`), is: 'own', why: 'X-Loop names our own address' },

  // --- DMARC (G14) ----------------------------------------------------------------------------------------------------
  {
    name: 'a forged supporter address with dmarc=fail in the topmost Authentication-Results',
    m: msg(`Authentication-Results: mx.notorture.example.org; dkim=none; spf=softfail smtp.mailfrom=example.tj; dmarc=fail (p=REJECT sp=REJECT dis=NONE) header.from=example.tj
Authentication-Results: relay.example.net; dmarc=pass header.from=example.tj`),
    is: 'spoofed',
    why: 'DMARC fail in Authentication-Results',
  },
  {
    name: 'dmarc=fail only in a lower Authentication-Results (not our server\'s) is ignored',
    m: msg(`Authentication-Results: mx.notorture.example.org; dkim=pass header.d=example.tj; dmarc=pass header.from=example.tj
Authentication-Results: forged.example.net; dmarc=fail header.from=example.tj`),
    is: 'submission',
    why: null,
  },
  {
    name: 'dmarc=fail mentioned only inside a comment is ignored',
    m: msg('Authentication-Results: mx.notorture.example.org; spf=pass (earlier hop said dmarc=fail) smtp.mailfrom=example.tj; dmarc=pass header.from=example.tj'),
    is: 'submission',
    why: null,
  },

  // --- precedence between rules ---------------------------------------------------------------------------------
  {
    name: 'a real DSN that fails DMARC (unsigned, null MAIL FROM) is a bounce, not spoofed',
    m: msg(`From: MAILER-DAEMON@mx.example.tj
Return-Path: <>
Authentication-Results: spf=none smtp.helo=mx.example.tj; dkim=none; dmarc=fail action=none header.from=mx.example.tj
Content-Type: multipart/report; report-type=delivery-status; boundary="b"`),
    is: 'bounce',
    why: /multipart\/report/,
  },
  {
    name: 'our own address forged with dmarc=fail is spoofed, not own',
    m: msg(`From: ${OURS}\nAuthentication-Results: mx.notorture.example.org; dmarc=fail header.from=notorture.example.org`),
    is: 'spoofed',
    why: 'DMARC fail in Authentication-Results',
  },
  {
    name: 'a list post whose DKIM the list broke (dmarc=fail, as in rspamd arcbad.eml) is list, not spoofed',
    m: msg(`List-Id: Test posting area <freebsd-test.freebsd.org>
Precedence: list
Return-Path: <owner-freebsd-test@freebsd.org>
Authentication-Results: mx.notorture.example.org; dkim=fail header.d=outlook.com; dmarc=fail header.from=outlook.com (policy=none)`),
    is: 'list',
    why: 'List-Id header',
  },
  {
    name: 'our own message with a vacation reply subject is own, not auto_reply',
    m: msg(`From: ${OURS}\nSubject: Automatic reply: Thank you for your words`),
    is: 'own',
    why: 'from our own address',
  },
  {
    name: 'an out-of-office reply through a list is list',
    m: msg('Subject: Automatic reply: digest\nList-Id: Supporters <supporters.lists.example.org>'),
    is: 'list',
    why: 'List-Id header',
  },
];

describe('classify', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const r = classify(c.m, c.ctx ?? ctx);
    expect(r.classification).toBe(c.is);
    const text = c.is === 'submission' ? r.ackBlock : r.reason;
    if (c.why === null) expect(r.ackBlock).toBeNull();
    else if (typeof c.why === 'string') expect(text).toBe(c.why);
    else expect(text).toMatch(c.why);
    if (c.is !== 'submission') expect(r.ackBlock).toBe(r.reason);
    // Reasons are shown to staff and logged: never an address or other sender-chosen text.
    expect(r.reason).not.toMatch(/@/);
    expect(r.ackBlock ?? '').not.toMatch(/@/);
  });

  it('every classification is reachable from the cases', () => {
    const seen = new Set(cases.map((c) => classify(c.m, c.ctx ?? ctx).classification));
    expect([...seen].sort()).toEqual(['auto_reply', 'bounce', 'list', 'own', 'spoofed', 'submission']);
  });

  it('does not mutate its input', () => {
    const m = msg('Auto-Submitted: auto-replied');
    const copy = structuredClone(m);
    classify(m, ctx);
    expect(m).toEqual(copy);
  });
});
