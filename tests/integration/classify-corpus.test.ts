// The classifier on real mail: messages other mail projects wrote (../shared/corpus) and this project's own
// synthetic vendor samples (fixtures/eml/classify), each parsed by the project's streaming parser and mapped to
// MessageFacts as the pipeline stores them. Expectations come from what each file is (its folder, name and
// headers), not from a run of the classifier.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMessageFile, type ParsedMessage } from '../../src/adapters/mime.ts';
import { classify, type Classification, type ClassifyContext } from '../../src/core/classify.ts';
import type { MessageFacts } from '../../src/core/facts.ts';
import { PROJECT_ROOT } from '../../src/config.ts';

const CORPUS = path.resolve(PROJECT_ROOT, '../shared/corpus');
const FIXTURES = path.resolve(PROJECT_ROOT, 'fixtures/eml/classify');
const BUDGETS = { headerBytes: 512 * 1024, mimeParts: 500, attachmentBytes: 50 * 1024 * 1024, parseMs: 30_000 };
const OURS = 'campaign@notorture.example.org';
const ctx: ClassifyContext = { ownAddresses: [OURS], ownDomains: ['notorture.example.org'] };

let tmp: string;
let seq = 0;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'classify-corpus-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function toFacts(p: ParsedMessage): MessageFacts {
  return {
    headers: p.headers,
    from: p.from,
    envelopeSender: p.envelopeSender,
    to: p.to,
    cc: p.cc,
    replyTo: p.replyTo,
    subject: p.subject,
    rfcMessageId: p.rfcMessageId,
    inReplyTo: p.inReplyTo,
    references: p.references,
    text: p.text,
    html: p.html,
    attachments: p.attachments.map((a) => ({ id: a.partIndex, contentType: a.contentType, filename: a.filename, size: a.size })),
  };
}

async function parse(file: string): Promise<ParsedMessage> {
  const n = seq++;
  const dir = path.join(tmp, String(n));
  try {
    return await parseMessageFile(file, dir, `attachments/${n}`, BUDGETS);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true }); // attachments are not needed here; keep the disk flat
  }
}

function allFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? allFiles(p) : e.isFile() ? [p] : [];
  });
}

type Expect = [file: string, classification: Classification, reason: RegExp];

const DSN = /^delivery status notification/;
const REAL: Expect[] = [
  // Delivery status notifications (multipart/report; report-type=delivery-status).
  ['jhillyerd-enmime/dsn/testdata/simple_dsn.raw', 'bounce', DSN],
  ['jhillyerd-enmime/dsn/testdata/simple_dsn_with_html.raw', 'bounce', DSN],
  ['jhillyerd-enmime/dsn/testdata/delayed_dsn.raw', 'bounce', DSN],
  ['jhillyerd-enmime/dsn/testdata/multi_recipient_dsn.raw', 'bounce', DSN],
  ['jhillyerd-enmime/dsn/testdata/dsn_with_multipart_alternative.raw', 'bounce', DSN],
  ['postal-mime/test/fixtures/bounce.eml', 'bounce', DSN],
  ['mikel-mail/spec/fixtures/emails/multipart_report_emails/multi_address_bounce1.eml', 'bounce', DSN],
  ['mikel-mail/spec/fixtures/emails/multipart_report_emails/multi_address_bounce2.eml', 'bounce', DSN],
  ['mikel-mail/spec/fixtures/emails/multipart_report_emails/multipart_report_multiple_status.eml', 'bounce', DSN],
  ['mikel-mail/spec/fixtures/emails/multipart_report_emails/report_422.eml', 'bounce', DSN],
  ['mikel-mail/spec/fixtures/emails/multipart_report_emails/report_530.eml', 'bounce', DSN],
  ['mailgun-flanker/tests/fixtures/messages/bounce/delayed.eml', 'bounce', DSN],
  ['mailgun-flanker/tests/fixtures/messages/bounce/mailbox-full.eml', 'bounce', DSN],
  ['mailgun-flanker/tests/fixtures/messages/bounce/no-mx.eml', 'bounce', DSN],
  ['mailgun-flanker/tests/fixtures/messages/bounce/zed.eml', 'bounce', DSN],
  // An Office 365 DSN that also carries the List-Unsubscribe of the bounced newsletter: a report first.
  ['mailgun-flanker/tests/fixtures/messages/bounce/office365.eml', 'bounce', DSN],
  ['mimekit/UnitTests/TestData/messages/delivery-status.txt', 'bounce', DSN],
  ['mimekit/UnitTests/TestData/messages/delivery-status2.txt', 'bounce', DSN],
  ['mimekit/UnitTests/TestData/messages/delivery-status-no-blank-line.txt', 'bounce', DSN],
  ['mimekit/UnitTests/TestData/messages/delivery-status-multiple-blank-lines.txt', 'bounce', DSN],
  // A real Postfix DSN whose topmost Authentication-Results says dmarc=fail: still a bounce, not spoofed.
  ['mimekit/UnitTests/TestData/messages/bounce.txt', 'bounce', DSN],
  ['nodemailer-mailparser/test/fixtures/delivery-status.eml', 'bounce', DSN],
  ['php-mime-mail-parser/tests/mails/failure.eml', 'bounce', DSN],
  // A DSN that came back through a Mailman list (List-Id, Precedence: bulk, no report-type parameter).
  ['cpython-email-tests/Lib/email/test/data/msg_16.txt', 'bounce', /multipart\/report/],
  ['cpython-email-tests/Lib/email/test/data/msg_25.txt', 'bounce', DSN],
  // Broken DSN: the whole body is message/delivery-status, no From at all.
  ['mailgun-flanker/tests/fixtures/messages/bounce/delayed-broken.eml', 'bounce', /message\/delivery-status/],
  // Gmail bounces as plain text from mailer-daemon; Exchange's as postmaster.
  ['mailgun-flanker/tests/fixtures/messages/bounce/gmail-invalid-address.eml', 'bounce', /^sender is mailer-daemon$/],
  ['mailgun-flanker/tests/fixtures/messages/bounce/gmail-no-dns.eml', 'bounce', /^sender is mailer-daemon$/],
  ['mailgun-flanker/tests/fixtures/messages/bounce/broken-mime.eml', 'bounce', /^sender is postmaster$/],
  // Abuse feedback reports (ARF).
  ['postal-mime/test/fixtures/arf.eml', 'bounce', /^abuse feedback report/],
  ['mailgun-flanker/tests/fixtures/messages/complaints/aol.eml', 'bounce', /^abuse feedback report/],
  ['mailgun-flanker/tests/fixtures/messages/complaints/yahoo.eml', 'bounce', /^abuse feedback report/],
  ['mimekit/UnitTests/TestData/messages/feedback-report.txt', 'bounce', /^abuse feedback report/],
  // Read receipts (MDN), sent from a person's own address.
  ['mailgun-flanker/tests/fixtures/messages/disposition-notification.eml', 'bounce', /^read receipt/],
  ['mimekit/UnitTests/TestData/messages/disposition-notification.txt', 'bounce', /^read receipt/],
  // Anonymised report-type ("xxxx"): recognised by its message/disposition-notification part, text not echoed.
  ['mimekit/UnitTests/TestData/messages/disposition-notification.anonymized.eml', 'bounce', /^read receipt \(multipart\/report\)$/],

  // Mailing lists and bulk mail.
  ['rspamd/test/functional/messages/ham.eml', 'list', /^List-Id header$/],
  ['stalwart-mail-parser/thirdparty/014.eml', 'list', /^List-Id header$/],
  ['nodemailer-mailparser/test/fixtures/large_text.eml', 'list', /^List-Id header$/],
  ['mikel-mail/spec/fixtures/emails/error_emails/empty_in_reply_to.eml', 'list', /^List-Id header$/],
  // A FreeBSD list post whose DKIM the list broke: dmarc=fail at the receiver, but a list, not a forgery.
  ['rspamd/test/functional/messages/arcbad.eml', 'list', /^List-Id header$/],
  ['rspamd/test/functional/messages/newsletter.eml', 'list', /^List-Unsubscribe header$/],
  ['php-mime-mail-parser/tests/mails/m0015', 'list', /^List-Unsubscribe header$/],
  // A Mailman digest sent from ppp-request@.
  ['cpython-email-tests/Lib/email/test/data/msg_02.txt', 'list', /-request/],
  ['cpython-email-tests/Lib/email/test/data/msg_32.txt', 'list', /^Precedence: bulk$/],
  ['mailgun-flanker/tests/fixtures/messages/apache-message-news-mime.eml', 'list', /^Precedence: bulk$/],
  ['rspamd/test/functional/messages/gtube.eml', 'list', /^Precedence: junk$/],

  // No-reply senders.
  ['rspamd/test/functional/messages/transactional.eml', 'auto_reply', /^sender is a no-reply address$/],
  ['php-mime-mail-parser/tests/mails/m0009', 'auto_reply', /^sender is a no-reply address$/],

  // dmarc=fail (p=NONE) in Gmail's topmost Authentication-Results, after SRS forwarding: the SPEC's rule says
  // spoofed. (An honest forwarded message; see the report on false positives of p=none.)
  ['nodemailer-mailparser/test/fixtures/nodemailer.eml', 'spoofed', /^DMARC fail in Authentication-Results$/],

  // Human mail that only looks automatic somewhere inside.
  // A person's reply forwarding an Exchange notification as message/rfc822: the inner Auto-Submitted and
  // X-Auto-Response-Suppress headers belong to the attachment, not to this message.
  ['stalwart-mail-parser/thirdparty/015.eml', 'submission', /./],
  // rspamd's DMARC samples carry no Authentication-Results: we never compute DMARC ourselves.
  ['rspamd/test/functional/messages/dmarc/fail_reject.eml', 'submission', /./],
];

const FIXTURE_CASES: Array<[file: string, classification: Classification, reason: RegExp, ackBlock: RegExp | null]> = [
  ['exchange-out-of-office.eml', 'auto_reply', /^Auto-Submitted: auto-generated$/, /./],
  ['zimbra-vacation.eml', 'auto_reply', /^Auto-Submitted: auto-replied$/, /./],
  ['gmail-vacation.eml', 'auto_reply', /^Auto-Submitted: auto-replied$/, /./],
  ['outlook-everyday-mail.eml', 'submission', /./, /^X-Auto-Response-Suppress: (AutoReply|OOF)$/],
  ['russian-out-of-office-subject.eml', 'auto_reply', /^out-of-office subject$/, /./],
  ['tajik-out-of-office-subject.eml', 'auto_reply', /^out-of-office subject$/, /./],
  ['supporter-away-from-home.eml', 'submission', /./, null],
  ['forged-sender-dmarc-fail.eml', 'spoofed', /^DMARC fail in Authentication-Results$/, /./],
  ['own-plus-address.eml', 'own', /^from our own address$/, /./],
  ['encoded-word-from.eml', 'submission', /./, /^no valid sender address$/],
  ['null-sender-notification.eml', 'auto_reply', /^null envelope sender/, /./],
];

describe('real messages of the shared corpus', () => {
  it.each(REAL)('%s is %s', async (file, classification, reason) => {
    const r = classify(toFacts(await parse(path.join(CORPUS, file))), ctx);
    expect(r.classification).toBe(classification);
    expect(r.reason).toMatch(reason);
    if (classification !== 'submission') expect(r.ackBlock).toBe(r.reason);
  });
});

describe('vendor samples in fixtures/eml/classify', () => {
  it.each(FIXTURE_CASES)('%s is %s', async (file, classification, reason, ackBlock) => {
    const r = classify(toFacts(await parse(path.join(FIXTURES, file))), ctx);
    expect(r.classification).toBe(classification);
    expect(r.reason).toMatch(reason);
    if (ackBlock === null) expect(r.ackBlock).toBeNull();
    else expect(r.ackBlock).toMatch(ackBlock);
  });
});

/**
 * Signs that mail is not a person writing to us, read from the parsed top-level headers with simple rules of
 * this test's own (not the classifier's). Any of them must keep a message out of `submission`.
 */
function automaticSigns(p: ParsedMessage): string[] {
  const signs: string[] = [];
  const local = (p.from?.address ?? '').split('@')[0];
  if (/^(mailer-daemon|postmaster|listserv|majordomo|owner-.+|.+-request|no-?reply|do-?not-?reply)$/i.test(local))
    signs.push(`system sender ${local}`);
  const list = p.headers.find((h) => /^list-/i.test(h.key));
  if (list) signs.push(`${list.key} header`);
  for (const h of p.headers.filter((h) => h.key === 'precedence'))
    if (/^\s*(bulk|list|junk)\b/i.test(h.value)) signs.push(`precedence ${h.value}`);
  const ct = p.headers.find((h) => h.key === 'content-type');
  if (ct && /^\s*multipart\/report/i.test(ct.value)) signs.push('multipart/report');
  return signs;
}

/** Files whose folder or name says they are reports (the corpus README asks to assert that). */
const NAMED_REPORT = /\/(dsn|bounce|complaints|multipart_report_emails)\/|\/(bounce|arf)\.eml$|delivery-status|disposition-notification|feedback-report/;

describe('the whole corpus', () => {
  it('never takes a system sender, a list, bulk mail or a report for a submission', async () => {
    const files = allFiles(CORPUS);
    expect(files.length).toBeGreaterThan(700);
    const counts: Record<string, number> = {};
    const offenders: string[] = [];
    for (const file of files) {
      const rel = path.relative(CORPUS, file);
      let parsed: ParsedMessage;
      try {
        parsed = await parse(file); // an mbox is taken as one message here
      } catch {
        counts.unparsed = (counts.unparsed ?? 0) + 1; // past a budget: the pipeline quarantines it
        continue;
      }
      const r = classify(toFacts(parsed), ctx);
      counts[r.classification] = (counts[r.classification] ?? 0) + 1;
      if (r.classification !== 'submission') expect(r.ackBlock, rel).toBe(r.reason);
      const signs = automaticSigns(parsed);
      if (r.classification === 'submission' && signs.length) offenders.push(`${rel}: ${signs.join(', ')}`);
      if (NAMED_REPORT.test(`/${rel}`) && r.classification !== 'bounce') offenders.push(`${rel}: named a report, got ${r.classification}`);
    }
    console.log(`classification over ${files.length} corpus files:`, JSON.stringify(counts));
    expect(offenders).toEqual([]);
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(files.length);
    // Every real report asserted above is among the bounces; the corpus is mostly ordinary mail.
    expect(counts.bounce).toBeGreaterThanOrEqual(REAL.filter(([, c]) => c === 'bounce').length);
    expect(counts.submission).toBeGreaterThan(files.length / 2);
  }, 300_000);
});
