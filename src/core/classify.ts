// What kind of mail a stored message is, and whether it may be acknowledged (SPEC: "Never a duplicate
// acknowledgement, never a loop"; RELIABILITY G1-G14). Pure: decided from MessageFacts alone.
//
// Rules are data, tried in order; the first one that fires names the classification and the reason. Order:
//   1. bounce     - a delivery/read/feedback report is unambiguous machine mail, and recording it as a bounce
//                   is what lets the outbox mark the address (G15). Real DSNs often fail DMARC (unsigned, null
//                   MAIL FROM: mimekit's bounce.txt), so this goes before the DMARC check. A forged report can at
//                   worst mark an address we wrote to as bouncing; it never earns an ack.
//   2. list       - List-* headers, Precedence: list, list servers. Lists are the commonest honest cause of a
//                   DMARC fail (they rewrite and break DKIM: rspamd's arcbad.eml), so before spoofed; and list mail
//                   often carries Auto-Submitted or X-Auto-Response-Suppress too, so before auto_reply.
//   3. spoofed    - a forged From (DMARC fail at our receiving server), even when it forges our own address.
//   4. own        - our own mail coming back (a loop in the making), whatever vacation headers it gained.
//   5. auto_reply - Auto-Submitted, vendor autoreply headers, no-reply senders, out-of-office subjects.
//   6. list       - Precedence: bulk/junk only here: vacation responders (Zimbra, Gmail) add it to their replies.
//   7. auto_reply - a null envelope sender with nothing more specific: RFC 3834 responders and notifications.
// Anything else is a submission; a few signals (no usable sender, several From addresses, Outlook's
// X-Auto-Response-Suppress on everyday mail) still block the acknowledgement without hiding the submission.
// Every class but submission blocks the acknowledgement, so the order only decides the label staff see.
import type { MessageFacts } from './facts.ts';

export type Classification = 'submission' | 'auto_reply' | 'bounce' | 'list' | 'own' | 'spoofed';
export interface ClassifyContext {
  ownAddresses: string[];
  ownDomains?: string[];
  /** Domains our own Message-IDs use; defaults to ownDomains minus public mailbox providers. */
  ownMessageIdDomains?: string[];
}
export interface ClassifyResult {
  classification: Classification;
  /** The rule that fired, short and readable by staff. Never holds sender-controlled text. */
  reason: string;
  /** Why no acknowledgement may be sent; equals reason for non-submissions; null if an ack is allowed. */
  ackBlock: string | null;
}

/** A message as the rules see it: header lookups, normalised senders and the content type computed once. */
interface View {
  m: MessageFacts;
  ctx: ClassifyContext;
  all(name: string): readonly string[];
  first(name: string): string | null;
  /** Lowercased addresses the message claims to come from: the From address, then the envelope sender. */
  senders: string[];
  /** localPart of each of senders, in the same order. */
  senderLocals: string[];
  /** localPart of the From address and of the envelope sender ('' for none). */
  fromLocal: string;
  envelopeLocal: string;
  /** The Content-Type header, lowercased, parameters kept ('' for none). */
  contentType: string;
}

interface Rule {
  name: string;
  classification: Exclude<Classification, 'submission'>;
  /** The reason when the rule fires, else null. */
  test(v: View): string | null;
}

const lower = (s: string) => s.trim().toLowerCase();
/** Campaign+story8@x is campaign@x. */
const withoutTag = (a: string) => {
  const at = a.lastIndexOf('@');
  const local = at < 0 ? a : a.slice(0, at);
  const plus = local.indexOf('+');
  return (plus > 0 ? local.slice(0, plus) : local) + (at < 0 ? '' : a.slice(at));
};
/** The local part, lowercased, without a +tag: "Owner-Scr+bob@x" -> "owner-scr". */
const localPart = (a: string) => withoutTag(lower(a)).replace(/@[^@]*$/, '');
/** The first token of a header value: "auto-replied (zimbra; vacation)" -> "auto-replied". */
const token = (value: string) => lower(value).split(/[\s;(]/)[0];
/** "list-unsubscribe" -> "List-Unsubscribe". */
const headerName = (key: string) => key.replace(/(^|-)([a-z])/g, (_, d: string, c: string) => d + c.toUpperCase());
const withoutComments = (s: string) => s.replace(/\([^()]*\)/g, ' ').replace(/"[^"]*"/g, '""');

// --- reports (bounce) -------------------------------------------------------------------------------------------
const REPORT_TYPES: Record<string, string> = {
  'delivery-status': 'delivery status notification',
  'disposition-notification': 'read receipt',
  'feedback-report': 'abuse feedback report',
};
const REPORT_PARTS: Record<string, string> = {
  'message/delivery-status': 'delivery status notification',
  'message/global-delivery-status': 'delivery status notification',
  'message/disposition-notification': 'read receipt',
  'message/global-disposition-notification': 'read receipt',
  'message/feedback-report': 'abuse feedback report',
};
const BOUNCE_SUBJECT =
  /^\s*(undeliver(able|ed)|delivery (status notification|failure|has failed)|mail delivery (failed|failure|subsystem)|returned mail|failure notice|nondeliverable|недоставлен|не доставлен|возвращ[её]нное)/i;

// --- senders ----------------------------------------------------------------------------------------------------
const BOUNCE_SENDER = /^(mailer[-_.]?daemon|postmaster)$/;
const BOUNCE_ADDRESS = /^bounces?$/;
const LIST_SERVER = /^(listserv|majordomo|mailman|sympa|listproc|ecartis|smartlist)$/;
const LIST_ADDRESS = /^owner-.|.-(request|owner|bounces)$/;
const NOREPLY = /(^|[-_.+])(no[-_.]?reply|do[-_.]?not[-_.]?reply|dont[-_.]?reply|no[-_.]?response)([-_.+]|$)/;

// --- auto-replies -----------------------------------------------------------------------------------------------
/** Vendor headers that mark an automatic reply, with the values that count (null: any value but "no"). */
const AUTOREPLY_HEADERS: Array<[string, RegExp | null]> = [
  ['x-autoreply', null], // Gmail vacation (with Auto-Submitted), many webmail responders
  ['x-autorespond', null],
  ['x-autoresponder', null],
  ['x-auto-reply', null],
  ['x-autoreply-from', null],
  ['x-mail-autoreply', null],
  ['x-autogenerated', /reply/i],
  ['x-post-messageclass', /autorespond/i],
  ['delivered-to', /^\s*autoresponder\s*$/i], // qmail autoresponder
  ['x-fc-machinegenerated', /true/i], // FirstClass
  ['x-loop', /^\s*(yes|true)\s*$/i], // help desks' own loop marker (Zammad)
  ['x-mailer', /vacation|auto-?respon|auto-?reply|out of office/i],
  ['x-cron-env', null],
];

// Subject prefixes followed by ":" (or the whole subject), so that "I am away from home but I support you" or
// "About my vacation with Khurshed's family" stay submissions. English, Russian (Outlook's "Автоматический ответ:",
// older "Нет на месте:"), Tajik (Cyrillic, also typed with Ч/и where a keyboard lacks Ҷ/ӣ), and a few common
// European Outlook/Exchange localisations.
const OOO_PHRASES = [
  'automatic reply', 'auto[- ]?reply', 'auto[- ]?response', 'automatic response', 'auto[- ]?responder',
  'out of (the )?office( auto-?reply)?', 'oof', 'ooo', 'on vacation', 'vacation( reply| response| notice)?',
  'away from (the |my )?office',
  'автоматический ответ', 'автоответ', 'нет на месте', 'вне офиса', 'в отпуске', 'отсутствую( в офисе)?',
  '[ҷч]авоби (худкор|автомат[ӣи])', 'дар рухсат[ӣи]', 'берун аз идора',
  'abwesenheitsnotiz', 'automatische antwort', 'réponse automatique', 'respuesta automática', 'automatisch antwoord',
];
const OOO_SUBJECT = new RegExp(`^\\s*(${OOO_PHRASES.join('|')})\\s*([:：]|$)`, 'iu');

// --- ownership --------------------------------------------------------------------------------------------------
/** Where many people have mailboxes: a Message-ID there (Apple Mail writes <uuid@gmail.com>) says nothing of us. */
const SHARED_MAIL_DOMAINS = new Set([
  'gmail.com', 'googlemail.com', 'outlook.com', 'hotmail.com', 'live.com', 'msn.com', 'yahoo.com', 'icloud.com',
  'me.com', 'mail.ru', 'inbox.ru', 'list.ru', 'bk.ru', 'yandex.ru', 'yandex.com', 'ya.ru', 'rambler.ru',
  'proton.me', 'protonmail.com', 'gmx.com', 'gmx.net', 'aol.com', 'zoho.com', 'tutanota.com',
]);

function isOwnAddress(address: string, ctx: ClassifyContext): boolean {
  const a = withoutTag(lower(address));
  return ctx.ownAddresses.some((o) => withoutTag(lower(o)) === a);
}

function messageIdDomains(ctx: ClassifyContext): string[] {
  if (ctx.ownMessageIdDomains) return ctx.ownMessageIdDomains.map(lower);
  return (ctx.ownDomains ?? []).map(lower).filter((d) => !SHARED_MAIL_DOMAINS.has(d));
}

function nullEnvelope(v: View): boolean {
  const rp = v.first('return-path');
  return rp !== null && /^\s*<?\s*>?\s*$/.test(rp);
}

const RULES: Rule[] = [
  {
    name: 'multipart/report',
    classification: 'bounce',
    test(v) {
      const ct = v.contentType;
      if (!ct.startsWith('multipart/report')) return null;
      const type = /report-type\s*=\s*"?([a-z0-9-]+)/.exec(ct)?.[1] ?? '';
      if (REPORT_TYPES[type]) return `${REPORT_TYPES[type]} (multipart/report; ${type})`;
      // No or unknown report-type (sender-chosen text: never echoed): name it by its parts if we can.
      const part = v.m.attachments.map((a) => REPORT_PARTS[lower(a.contentType).split(';')[0]]).find(Boolean);
      return `${part ?? 'machine report'} (multipart/report)`;
    },
  },
  {
    name: 'report part',
    classification: 'bounce',
    test(v) {
      // A report body as the whole message (a broken DSN) or as a part (mailparser inlines delivery-status parts
      // as text, so mostly read receipts show up here).
      const own = v.contentType.split(';')[0];
      if (REPORT_PARTS[own]) return `${REPORT_PARTS[own]} (${own})`;
      for (const a of v.m.attachments) {
        const type = lower(a.contentType).split(';')[0];
        if (REPORT_PARTS[type]) return `${REPORT_PARTS[type]} (${type})`;
      }
      return null;
    },
  },
  {
    name: 'mailer-daemon sender',
    classification: 'bounce',
    test(v) {
      // From, and a Return-Path like <MAILER-DAEMON> (sendmail mboxes). Not bounce@ in the envelope: that is
      // where newsletters take their bounces, and they are lists, not bounces.
      const from = v.fromLocal;
      const rp = lower(v.first('return-path') ?? '').replace(/[<>\s]/g, '');
      for (const local of [from, v.envelopeLocal, localPart(rp)])
        if (BOUNCE_SENDER.test(local)) return `sender is ${local.replace(/[-_.]/, '-')}`;
      return BOUNCE_ADDRESS.test(from) ? 'sender is a bounce address' : null;
    },
  },
  {
    name: 'failure subject from an automatic sender',
    classification: 'bounce',
    test(v) {
      const automatic = nullEnvelope(v) || v.all('auto-submitted').some((x) => token(x) !== 'no' && token(x) !== '');
      return automatic && BOUNCE_SUBJECT.test(v.m.subject ?? '') ? 'delivery failure subject from an automatic sender' : null;
    },
  },
  {
    name: 'List-* header',
    classification: 'list',
    test(v) {
      const h = v.m.headers.find((x) => x.key.startsWith('list-'));
      return h ? `${headerName(h.key)} header` : null;
    },
  },
  {
    name: 'Precedence: list',
    classification: 'list',
    test: (v) => (v.all('precedence').some((p) => token(p) === 'list') ? 'Precedence: list' : null),
  },
  {
    name: 'list server sender',
    classification: 'list',
    test(v) {
      for (const local of v.senderLocals) {
        if (LIST_SERVER.test(local)) return `sender is ${local}`;
        if (LIST_ADDRESS.test(local)) return `sender is a list address (${local.startsWith('owner-') ? 'owner-' : `-${local.split('-').pop()}`})`;
      }
      return null;
    },
  },
  {
    name: 'DMARC fail',
    classification: 'spoofed',
    test(v) {
      // Only the topmost Authentication-Results: the one our receiving server added. Lower ones are the sender's.
      const ar = v.first('authentication-results');
      if (!ar) return null;
      const dmarc = /(?:^|[;\s])dmarc\s*=\s*([a-z]+)/i.exec(withoutComments(ar))?.[1];
      return dmarc?.toLowerCase() === 'fail' ? 'DMARC fail in Authentication-Results' : null;
    },
  },
  {
    name: 'own sender',
    classification: 'own',
    test: (v) => (v.senders.some((s) => isOwnAddress(s, v.ctx)) ? 'from our own address' : null),
  },
  {
    name: 'own Message-ID',
    classification: 'own',
    test(v) {
      const id = lower(v.m.rfcMessageId ?? '');
      const domain = id.includes('@') ? id.slice(id.lastIndexOf('@') + 1).replace(/>$/, '') : '';
      return domain && messageIdDomains(v.ctx).includes(domain) ? 'Message-ID on our domain' : null;
    },
  },
  {
    name: 'own loop marker',
    classification: 'own',
    test(v) {
      const found = v.all('x-loop').some((x) => (x.match(/[^\s<>,;"()]+@[^\s<>,;"()]+/g) ?? []).some((a) => isOwnAddress(a, v.ctx)));
      return found ? 'X-Loop names our own address' : null;
    },
  },
  {
    name: 'Auto-Submitted',
    classification: 'auto_reply',
    test(v) {
      const value = v.all('auto-submitted').map(token).find((t) => t && t !== 'no');
      return value ? `Auto-Submitted: ${/^[a-z0-9_-]{1,40}$/.test(value) ? value : 'set'}` : null;
    },
  },
  {
    name: 'Precedence: auto_reply',
    classification: 'auto_reply',
    test: (v) => (v.all('precedence').some((p) => /^auto[-_]?reply$/.test(token(p))) ? 'Precedence: auto_reply' : null),
  },
  {
    name: 'autoreply header',
    classification: 'auto_reply',
    test(v) {
      for (const header of AUTOREPLY_HEADERS) {
        const name = header[0]; // (not destructured: that walks an iterator in the interpreter, 13 times a message)
        const values = header[1];
        const hit = v.all(name).some((x) => (values ? values.test(x) : !/^\s*(no|false|0)?\s*$/i.test(x)));
        if (hit) return `${headerName(name)} header`;
      }
      return null;
    },
  },
  {
    name: 'Exchange inbox-rule reply',
    classification: 'auto_reply',
    // Zammad's test for Exchange rule/OOF replies: the loop header alone is also on rule-forwarded human mail.
    test: (v) =>
      v.first('x-ms-exchange-inbox-rules-loop') !== null && v.all('x-auto-response-suppress').some((x) => /\ball\b/i.test(x))
        ? 'Exchange inbox-rule reply (X-MS-Exchange-Inbox-Rules-Loop)'
        : null,
  },
  {
    name: 'no-reply sender',
    classification: 'auto_reply',
    test: (v) => (v.senderLocals.some((l) => NOREPLY.test(l)) ? 'sender is a no-reply address' : null),
  },
  {
    name: 'out-of-office subject',
    classification: 'auto_reply',
    test: (v) => (OOO_SUBJECT.test(v.m.subject ?? '') ? 'out-of-office subject' : null),
  },
  {
    name: 'Precedence: bulk/junk',
    classification: 'list',
    test(v) {
      const p = v.all('precedence').map(token).find((t) => t === 'bulk' || t === 'junk');
      return p ? `Precedence: ${p}` : null;
    },
  },
  {
    name: 'null envelope sender',
    classification: 'auto_reply',
    test: (v) => (nullEnvelope(v) ? 'null envelope sender (Return-Path: <>)' : null),
  },
];

/** Submissions that must still not be acknowledged, first match wins. */
const ACK_BLOCKS: Array<{ name: string; test(v: View): string | null }> = [
  { name: 'no sender', test: (v) => (v.m.from?.address ? null : 'no valid sender address') },
  {
    name: 'several From',
    test(v) {
      const from = v.all('from');
      if (from.length > 1) return 'more than one From header';
      // Each address counted holds an "@" of its own: a value with one "@" at most is one address at most.
      const value = from[0] ?? '';
      return value.indexOf('@') !== value.lastIndexOf('@') && fromAddressCount(value) > 1 ? 'more than one From address' : null;
    },
  },
  {
    name: 'unusable envelope sender',
    // A Return-Path we cannot read (the null sender `<>` was classified above); an absent one is fine (imports).
    test: (v) => (v.m.envelopeSender === '' ? 'unusable envelope sender (Return-Path)' : null),
  },
  {
    name: 'X-Auto-Response-Suppress',
    test(v) {
      const values = v.all('x-auto-response-suppress').flatMap((x) => x.split(/[\s,;]+/)).map(lower);
      const hit = ['all', 'autoreply', 'oof'].find((t) => values.includes(t));
      return hit ? `X-Auto-Response-Suppress: ${{ all: 'All', autoreply: 'AutoReply', oof: 'OOF' }[hit]}` : null;
    },
  },
];

/**
 * Addresses in a raw From value: per comma-separated mailbox, its <angle> addresses, or else its bare ones, so an
 * unquoted display name holding an "@" (`jang@xyz <jang@xyz.it>`) is not a second address.
 */
function fromAddressCount(value: string): number {
  const ADDR = /[^\s<>,;:"()]+@[^\s<>,;:"()]+/g;
  return withoutComments(value)
    .split(',')
    .reduce((n, mailbox) => {
      const angled = mailbox.match(/<[^<>]*@[^<>]*>/g) ?? [];
      return n + (angled.length || (mailbox.match(ADDR) ?? []).length);
    }, 0);
}

/** What all() gives for a header the message does not have (never changed: the rules only read it). */
const NO_VALUES: readonly string[] = [];

function view(m: MessageFacts, ctx: ClassifyContext): View {
  const byKey = new Map<string, string[]>();
  for (const h of m.headers) {
    const list = byKey.get(h.key);
    if (list) list.push(h.value);
    else byKey.set(h.key, [h.value]);
  }
  const senders = [...new Set([m.from?.address, m.envelopeSender].filter((s): s is string => Boolean(s)).map(lower))];
  return {
    m,
    ctx,
    all: (name) => byKey.get(name) ?? NO_VALUES,
    first: (name) => byKey.get(name)?.[0] ?? null,
    senders,
    senderLocals: senders.map(localPart),
    fromLocal: localPart(m.from?.address ?? ''),
    envelopeLocal: localPart(m.envelopeSender ?? ''),
    contentType: lower(byKey.get('content-type')?.[0] ?? ''),
  };
}

const NO_SIGNAL = 'no sign of automatic or list mail';

export function classify(m: MessageFacts, ctx: ClassifyContext): ClassifyResult {
  const v = view(m, ctx);
  for (const rule of RULES) {
    const reason = rule.test(v);
    if (reason) return { classification: rule.classification, reason, ackBlock: reason };
  }
  for (const block of ACK_BLOCKS) {
    const reason = block.test(v);
    if (reason) return { classification: 'submission', reason: NO_SIGNAL, ackBlock: reason };
  }
  return { classification: 'submission', reason: NO_SIGNAL, ackBlock: null };
}
