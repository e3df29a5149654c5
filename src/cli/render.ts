// How listings look: JSON shapes of the SPEC for scripts, short aligned lines for people.
import type { MessageListing } from '../db/messages.ts';

export function messageJson(m: MessageListing) {
  return {
    id: m.id,
    source: m.source,
    rfcMessageId: m.rfcMessageId,
    sha256: m.sha256,
    receivedAt: m.receivedAt.toISOString(),
    from: m.from,
    subject: m.subject,
    status: m.status,
    classification: m.classification,
    classificationReason: m.classificationReason,
    story: null as number | null,
    linkMethod: null as string | null,
    items: [] as number[],
    attachments: m.attachments,
    size: m.size,
    ack: null as string | null,
    ackReason: null as string | null,
  };
}

function cut(s: string | null | undefined, n: number): string {
  const t = (s ?? '').replace(/\s+/g, ' ');
  return t.length > n ? t.slice(0, n - 1) + '…' : t.padEnd(n);
}

export function renderMessages(rows: MessageListing[]): string {
  if (!rows.length) return 'no messages stored yet';
  const lines = rows.map((m) => {
    const state = m.classification ?? m.status;
    const reason = m.status === 'quarantined' && m.classificationReason ? `  (${m.classificationReason})` : '';
    return `${String(m.id).padStart(6)}  ${m.receivedAt.toISOString().slice(0, 16).replace('T', ' ')}  ${cut(state, 12)}  ${cut(m.from, 30)}  ${cut(m.subject, 50)}${reason}`;
  });
  return [`${'id'.padStart(6)}  ${'received (UTC)'.padEnd(16)}  ${'state'.padEnd(12)}  ${'from'.padEnd(30)}  subject`, ...lines].join(
    '\n',
  );
}
