// The sender against a real SMTP peer (smtp-server in-process) and against the .eml file transport: envelope
// and headers as they arrive, retries on 4xx, no retry on 5xx, a drop after the final dot left `uncertain` and
// never resent, a refused login pausing sending, crash recovery; a size rejection (C7), a tarpit (C8) and a
// server without STARTTLS where TLS is required (C9). Time is an injected clock moved by the tests (the tarpit
// tests also wait out a real one-second socket timeout).
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import { backends } from '../helpers/db.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';
import { headersOf, startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { outbox } from '../../src/db/schema.ts';
import { getOutbox, mailDomain, queueMail } from '../../src/db/outbox.ts';
import { ackHeaders } from '../../src/core/ack.ts';
import { outboxDepsOf, recoverOutbox, sendDue, type OutboxDeps } from '../../src/pipeline/outbox.ts';
import { makeSmtpMailer, readSmtpStatus, type Mailer, type OutgoingMail } from '../../src/adapters/smtp.ts';
import { IntakeError } from '../../src/errors.ts';
import { setFailpoints } from '../../src/runtime/failpoints.ts';
import { PROJECT_ROOT } from '../../src/config.ts';

const TLS = path.join(PROJECT_ROOT, 'fixtures/tls');

function movableClock(start = new Date()) {
  let t = start.getTime();
  return { now: () => new Date(t), advance: (ms: number) => void (t += ms) };
}

async function queueAck(app: TestApp, key: string, to = 'nigora@example.tj', at?: Date) {
  return queueMail(app.db.orm, {
    key,
    kind: 'ack',
    to,
    subject: 'Thank you: story 8',
    textBody: 'Thank you.\n',
    htmlBody: '<p>Thank you.</p>\n',
    headers: ackHeaders('<CAF8x1@mail.example.tj>'),
    domain: mailDomain(app.config.campaign.ackFrom),
    at,
  });
}

const row = async (app: TestApp, id: number) => (await getOutbox(app.db.orm, id))!;

describe.each(backends)('outbox over SMTP on %s', (backend) => {
  let sink: SmtpSink;
  let app: TestApp;
  let clock: ReturnType<typeof movableClock>;
  let deps: OutboxDeps;

  beforeAll(async () => {
    sink = await startSmtpSink({ auth: true });
    app = await makeTestApp(backend, { SMTP_URL: sink.url });
  });
  afterAll(async () => {
    await app?.cleanup();
    await sink?.close();
  });
  afterEach(async () => {
    setFailpoints(undefined);
    await app.db.orm.delete(outbox);
    sink.received.length = 0;
    sink.dataSeen = 0;
    sink.mailFromSeen = 0;
    sink.authSeen = 0;
    sink.script = [];
    sink.fallback = 'accept';
    sink.password = 'right';
  });
  const fresh = () => {
    clock = movableClock();
    deps = { ...outboxDepsOf(app), clock };
  };

  it('sends from the null sender to exactly one recipient, with the loop headers and the row Message-ID', async () => {
    fresh();
    const { id } = await queueAck(app, 'ack:1', 'nigora@example.tj', clock.now());
    const c = await sendDue(deps);
    expect(c.sent).toBe(1);
    expect(sink.received).toHaveLength(1);
    const r = sink.received[0];
    expect(r.mailFrom).toBe('');
    expect(r.rcptTo).toEqual(['nigora@example.tj']);
    expect(r.rcptDsn).toEqual([{ notify: ['NEVER'] }]);
    const h = headersOf(r.data);
    expect(h.get('auto-submitted')).toEqual(['auto-replied']);
    expect(h.get('x-auto-response-suppress')).toEqual(['All']);
    expect(h.get('precedence')).toEqual(['bulk']);
    expect(h.get('in-reply-to')).toEqual(['<CAF8x1@mail.example.tj>']);
    expect(h.get('references')).toEqual(['<CAF8x1@mail.example.tj>']);
    expect(h.get('to')).toEqual(['nigora@example.tj']);
    expect(h.has('cc')).toBe(false);
    expect(h.has('bcc')).toBe(false);
    expect(h.has('x-mailer')).toBe(false);
    // The EHLO name is the campaign's mail domain, never this machine's host name (RELIABILITY H11).
    expect(r.helo).toBe('notorture.example.org');
    expect(r.helo).not.toBe(os.hostname());
    const sent = await row(app, id);
    expect(h.get('message-id')).toEqual([sent.rfcMessageId]);
    expect(sent.rfcMessageId).toMatch(/^<[0-9a-f-]{36}@notorture\.example\.org>$/);
    expect(sent.state).toBe('sent');
    expect(sent.sentAt).toEqual(clock.now());
    expect(sent.attempts).toBe(1);
    // Sent means done: another pass sends nothing.
    expect((await sendDue(deps)).sent).toBe(0);
    expect(sink.received).toHaveLength(1);
  });

  it('uses the bounce address as MAIL FROM when the row has one', async () => {
    fresh();
    await queueMail(app.db.orm, {
      key: 'ack:bounce',
      kind: 'ack',
      to: 'nigora@example.tj',
      subject: 's',
      textBody: 't',
      htmlBody: null,
      envelopeFrom: 'bounces@notorture.example.org',
      at: clock.now(),
    });
    await sendDue(deps);
    expect(sink.received[0].mailFrom).toBe('bounces@notorture.example.org');
  });

  it('retries a greylisted send with backoff and the same Message-ID, then sends it', async () => {
    fresh();
    sink.script = ['greylist'];
    const { id } = await queueAck(app, 'ack:2', 'nigora@example.tj', clock.now());
    const first = await sendDue(deps);
    expect(first).toMatchObject({ sent: 0, retry: 1 });
    let r = await row(app, id);
    expect(r.state).toBe('queued');
    expect(r.lastError).toMatch(/451/);
    expect(r.runAfter.getTime()).toBe(clock.now().getTime() + 60_000);
    // Not due yet: nothing happens.
    expect((await sendDue(deps)).retry + (await sendDue(deps)).sent).toBe(0);
    clock.advance(61_000);
    expect((await sendDue(deps)).sent).toBe(1);
    r = await row(app, id);
    expect(r.state).toBe('sent');
    expect(r.attempts).toBe(2);
    expect(sink.received).toHaveLength(1);
    expect(headersOf(sink.received[0].data).get('message-id')).toEqual([r.rfcMessageId]);
  });

  it('fails a rejected send (5xx) and never retries it', async () => {
    fresh();
    sink.fallback = 'reject';
    const { id } = await queueAck(app, 'ack:3', 'nobody@example.tj', clock.now());
    expect((await sendDue(deps)).failed).toBe(1);
    const r = await row(app, id);
    expect(r.state).toBe('failed');
    expect(r.lastError).toMatch(/550/);
    sink.fallback = 'accept';
    clock.advance(24 * 3600_000);
    expect((await sendDue(deps)).sent).toBe(0);
    expect(sink.received).toHaveLength(0);
  });

  it('gives back a claim whose commit went unanswered, then sends it once, the attempt not counted (D2)', async () => {
    fresh();
    const { id } = await queueAck(app, 'ack:lost', 'nigora@example.tj', clock.now());
    // The claim's transaction commits, and its answer is lost (the connection died right after the COMMIT).
    const real = app.db.orm.transaction.bind(app.db.orm);
    let lose = true;
    const orm = Object.create(app.db.orm, {
      transaction: {
        value: async (fn: Parameters<typeof real>[0]) => {
          const r = await real(fn);
          if (lose) {
            lose = false;
            throw new Error('Connection terminated unexpectedly');
          }
          return r;
        },
      },
    });
    const lossy = { ...deps, db: { ...app.db, orm } };
    await expect(sendDue(lossy)).rejects.toThrow(/Connection terminated/);
    expect((await row(app, id)).state).toBe('sending'); // the server has the claim; nothing was handed over
    expect(sink.received).toHaveLength(0);
    expect((await sendDue(lossy)).sent).toBe(1);
    const r = await row(app, id);
    expect(r.state).toBe('sent');
    expect(r.attempts).toBe(1);
    expect(sink.received.map((m) => m.rcptTo)).toEqual([['nigora@example.tj']]);
    expect((await sendDue(lossy)).sent).toBe(0);
  });

  it('marks a send uncertain when the connection drops after the final dot, and never resends it', async () => {
    fresh();
    sink.script = ['drop-after-data'];
    const { id } = await queueAck(app, 'ack:4', 'nigora@example.tj', clock.now());
    expect((await sendDue(deps)).uncertain).toBe(1);
    expect(sink.dataSeen).toBe(1);
    const r = await row(app, id);
    expect(r.state).toBe('uncertain');
    expect(r.lastError).toMatch(/may have been delivered/);
    clock.advance(7 * 24 * 3600_000);
    await recoverOutbox(deps);
    expect((await sendDue(deps)).sent).toBe(0);
    expect(sink.dataSeen).toBe(1);
  });

  it('retries when the connection is refused before any data went out', async () => {
    fresh();
    const closed = await startSmtpSink();
    await closed.close();
    const other = await makeTestApp(backend, { SMTP_URL: closed.url });
    try {
      const d = { ...outboxDepsOf(other), clock };
      const { id } = await queueAck(other, 'ack:5', 'nigora@example.tj', clock.now());
      expect((await sendDue(d)).retry).toBe(1);
      expect((await row(other, id)).state).toBe('queued');
    } finally {
      await other.cleanup();
    }
  });

  it('pauses sending on a refused login, records it for doctor, and resumes once the login works', async () => {
    fresh();
    sink.password = 'changed';
    const { id } = await queueAck(app, 'ack:6', 'nigora@example.tj', clock.now());
    const err = await sendDue(deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntakeError);
    expect((err as IntakeError).code).toBe('SMTP');
    expect((err as IntakeError).retryAfterMs).toBe(15 * 60_000);
    let r = await row(app, id);
    expect(r.state).toBe('queued');
    expect(r.attempts).toBe(0);
    const status = readSmtpStatus(app.config.dataDir);
    expect(status?.state).toBe('paused');
    expect(status?.error).toMatch(/535/);
    expect(sink.dataSeen).toBe(0);

    sink.password = 'right';
    expect((await sendDue(deps)).sent).toBe(1);
    r = await row(app, id);
    expect(r.state).toBe('sent');
    expect(readSmtpStatus(app.config.dataDir)?.state).toBe('ok');
  });

  it('a row left sending by a crash becomes uncertain on start and is not sent', async () => {
    fresh();
    const { id } = await queueAck(app, 'ack:7', 'nigora@example.tj', clock.now());
    await app.db.orm.update(outbox).set({ state: 'sending', attempts: 1 }).where(eq(outbox.id, id));
    expect(await recoverOutbox(deps)).toBe(1);
    expect((await row(app, id)).state).toBe('uncertain');
    expect((await sendDue(deps)).sent).toBe(0);
    expect(sink.dataSeen).toBe(0);
  });

  it('a failure after the server accepted, before the row was marked sent, is never resent (A8)', async () => {
    fresh();
    const { id } = await queueAck(app, 'ack:8', 'nigora@example.tj', clock.now());
    setFailpoints('outbox.after-send=throw');
    await expect(sendDue(deps)).rejects.toThrow(/failpoint outbox.after-send/);
    setFailpoints(undefined);
    expect(sink.received).toHaveLength(1);
    expect((await row(app, id)).state).toBe('sending');
    await recoverOutbox(deps);
    expect((await row(app, id)).state).toBe('uncertain');
    clock.advance(3600_000);
    await sendDue(deps);
    expect(sink.received).toHaveLength(1);
  });

  it('drops an acknowledgement that could not go out within ackMaxAgeHours', async () => {
    fresh();
    const { id } = await queueAck(app, 'ack:9', 'nigora@example.tj', clock.now());
    clock.advance((app.config.campaign.limits.ackMaxAgeHours + 1) * 3600_000);
    expect((await sendDue(deps)).stale).toBe(1);
    const r = await row(app, id);
    expect(r.state).toBe('failed');
    expect(r.lastError).toMatch(/dropped rather than sent late/);
    expect(sink.dataSeen).toBe(0);
  });

  it('fails a message over the server size limit (552) after one attempt, with the reason, and sends the rest (C7)', async () => {
    fresh();
    const small = await startSmtpSink({ maxSize: 20_000 });
    const other = await makeTestApp(backend, { SMTP_URL: small.url });
    try {
      const d = { ...outboxDepsOf(other), clock };
      const big = await queueMail(other.db.orm, {
        key: 'daily:big',
        kind: 'daily_digest',
        to: 'staff@notorture.example.org',
        subject: 'Daily digest',
        textBody: 'Story 8: a letter for Khurshed.\n'.repeat(2000),
        htmlBody: null,
        at: clock.now(),
      });
      const acks = [await queueAck(other, 'ack:s1', 's1@example.tj', clock.now()), await queueAck(other, 'ack:s2', 's2@example.tj', clock.now())];
      expect(await sendDue(d)).toMatchObject({ sent: 2, failed: 1, retry: 0 });
      const r = await row(other, big.id);
      expect(r).toMatchObject({ state: 'failed', attempts: 1 });
      expect(r.lastError).toMatch(/552 .*maximum message size/);
      for (const a of acks) expect((await row(other, a.id)).state).toBe('sent');
      expect(small.received.map((m) => m.rcptTo[0]).sort()).toEqual(['s1@example.tj', 's2@example.tj']);
      // Failed for good: a day later nothing is tried again.
      clock.advance(24 * 3600_000);
      expect(await sendDue(d)).toMatchObject({ sent: 0, retry: 0, failed: 0 });
      expect(small.dataSeen).toBe(3);
      expect((await row(other, big.id)).attempts).toBe(1);
    } finally {
      await other.cleanup();
      await small.close();
    }
  });

  describe('against a tarpit, with SMTP_SOCKET_TIMEOUT_SECONDS=1 (C8)', () => {
    let slow: SmtpSink;
    let slowApp: TestApp;
    beforeAll(async () => {
      slow = await startSmtpSink();
      slowApp = await makeTestApp(backend, { SMTP_URL: slow.url, SMTP_SOCKET_TIMEOUT_SECONDS: '1' });
    });
    afterAll(async () => {
      await slowApp?.cleanup();
      await slow?.close();
    });
    afterEach(async () => {
      await slowApp.db.orm.delete(outbox);
      slow.tarpit = null;
      slow.release();
      slow.received.length = 0;
      slow.dataSeen = 0;
      slow.mailFromSeen = 0;
    });

    it('gives up on a greeting slower than the timeout before anything is sent, and retries later', async () => {
      fresh();
      const d = { ...outboxDepsOf(slowApp), clock };
      // 5 s per reply line: the greeting would come, but after the timeout.
      slow.tarpit = { replies: ['greeting', 'mail', 'rcpt', 'dot'], ms: 5_000 };
      const { id } = await queueAck(slowApp, 'ack:t1', 'nigora@example.tj', clock.now());
      expect(await sendDue(d)).toMatchObject({ sent: 0, retry: 1 });
      const r = await row(slowApp, id);
      expect(r).toMatchObject({ state: 'queued', attempts: 1 });
      expect(r.lastError).toMatch(/^ETIMEDOUT /);
      expect(r.runAfter.getTime()).toBe(clock.now().getTime() + 60_000);
      expect(slow.mailFromSeen).toBe(0);
      // The server answers in time again: the retry goes out, once.
      slow.tarpit = null;
      clock.advance(61_000);
      expect((await sendDue(d)).sent).toBe(1);
      expect(slow.received).toHaveLength(1);
      expect((await row(slowApp, id)).state).toBe('sent');
    });

    it('gives up on a reply to the final dot slower than the timeout: uncertain, never resent (RFC 1047)', async () => {
      fresh();
      const d = { ...outboxDepsOf(slowApp), clock };
      slow.tarpit = { replies: ['dot'], ms: 5_000 };
      const { id } = await queueAck(slowApp, 'ack:t2', 'nigora@example.tj', clock.now());
      expect(await sendDue(d)).toMatchObject({ sent: 0, uncertain: 1 });
      expect(slow.dataSeen).toBe(1);
      const r = await row(slowApp, id);
      expect(r.state).toBe('uncertain');
      expect(r.lastError).toMatch(/may have been delivered: ETIMEDOUT/);
      slow.tarpit = null;
      clock.advance(24 * 3600_000);
      expect((await sendDue(d)).sent).toBe(0);
      expect(slow.dataSeen).toBe(1);
    });
  });

  it('refuses to send where TLS is required and the server offers no STARTTLS: no login, no MAIL FROM; retried later (C9)', async () => {
    fresh();
    // The loopback sink stands in for a remote server, where STARTTLS is required.
    const mailer = makeSmtpMailer({ url: sink.url, heloName: 'notorture.example.org', log: app.log, requireTls: true });
    try {
      const d = { ...deps, mailer };
      const { id } = await queueAck(app, 'ack:tls1', 'nigora@example.tj', clock.now());
      expect(await sendDue(d)).toMatchObject({ sent: 0, retry: 1, failed: 0 });
      expect(sink.authSeen).toBe(0); // the password never went out in the clear
      expect(sink.mailFromSeen).toBe(0);
      expect(sink.dataSeen).toBe(0);
      const r = await row(app, id);
      expect(r).toMatchObject({ state: 'queued', attempts: 1 });
      expect(r.lastError).toMatch(/^ETLS at STARTTLS the server refused STARTTLS \(5\d\d .*\) and TLS is required: nothing was sent$/);
      expect(r.runAfter.getTime()).toBe(clock.now().getTime() + 60_000);
    } finally {
      await mailer.close();
    }
  });

  it('sends over STARTTLS to a server whose certificate is trusted, and nothing to one whose is not (C9)', async () => {
    fresh();
    const tls = await startSmtpSink({
      auth: true,
      tls: { key: fs.readFileSync(path.join(TLS, 'localhost-key.pem')), cert: fs.readFileSync(path.join(TLS, 'localhost.pem')) },
    });
    const untrusting = makeSmtpMailer({ url: tls.url, heloName: 'notorture.example.org', log: app.log, requireTls: true });
    const trusting = makeSmtpMailer({
      url: tls.url,
      heloName: 'notorture.example.org',
      log: app.log,
      requireTls: true,
      tlsCa: fs.readFileSync(path.join(TLS, 'test-ca.pem')),
    });
    try {
      const { id } = await queueAck(app, 'ack:tls2', 'nigora@example.tj', clock.now());
      expect(await sendDue({ ...deps, mailer: untrusting })).toMatchObject({ sent: 0, retry: 1 });
      expect(tls.authSeen).toBe(0);
      expect(tls.mailFromSeen).toBe(0);
      expect((await row(app, id)).lastError).toMatch(/unable to verify the first certificate/);
      clock.advance(61_000);
      expect(await sendDue({ ...deps, mailer: trusting })).toMatchObject({ sent: 1 });
      expect(tls.received).toHaveLength(1);
      expect(tls.received[0]).toMatchObject({ secure: true, user: 'intake', rcptTo: ['nigora@example.tj'] });
      expect((await row(app, id)).state).toBe('sent');
    } finally {
      await untrusting.close();
      await trusting.close();
      await tls.close();
    }
  });

  it('two senders at once never take the same row', async () => {
    fresh();
    for (let i = 0; i < 6; i++) await queueAck(app, `ack:p${i}`, `s${i}@example.tj`, clock.now());
    const [a, b] = await Promise.all([sendDue(deps), sendDue(deps)]);
    expect(a.sent + b.sent).toBe(6);
    expect(sink.received.map((r) => r.rcptTo[0]).sort()).toEqual([0, 1, 2, 3, 4, 5].map((i) => `s${i}@example.tj`));
    const states = await app.db.orm.execute(sql`SELECT state, count(*)::int AS n FROM outbox GROUP BY state`);
    expect(states.rows).toEqual([{ state: 'sent', n: 6 }]);
  });
});

describe.each(backends)('outbox as .eml files on %s', (backend) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await makeTestApp(backend);
  });
  afterAll(async () => {
    await app?.cleanup();
  });

  it('writes one complete message per row under <data>/sent, with the envelope as Return-Path', async () => {
    const clock = movableClock();
    const deps = { ...outboxDepsOf(app), clock };
    const { id } = await queueAck(app, 'ack:f1', 'nigora@example.tj', clock.now());
    expect(app.mailer.kind).toBe('files');
    expect((await sendDue(deps)).sent).toBe(1);
    const dir = path.join(app.config.dataDir, 'sent');
    expect(fs.readdirSync(dir)).toEqual([`${id}-ack.eml`]);
    const data = fs.readFileSync(path.join(dir, `${id}-ack.eml`), 'utf8');
    expect(data.startsWith('Return-Path: <>\r\n')).toBe(true);
    const h = headersOf(data);
    expect(h.get('to')).toEqual(['nigora@example.tj']);
    expect(h.get('auto-submitted')).toEqual(['auto-replied']);
    expect(h.get('x-auto-response-suppress')).toEqual(['All']);
    expect(h.get('precedence')).toEqual(['bulk']);
    expect(h.get('in-reply-to')).toEqual(['<CAF8x1@mail.example.tj>']);
    expect(h.get('message-id')).toEqual([(await row(app, id)).rfcMessageId]);
    expect(h.get('from')?.[0]).toContain('<campaign@notorture.example.org>');
    expect(fs.statSync(path.join(dir, `${id}-ack.eml`)).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(dir).some((f) => f.endsWith('.tmp'))).toBe(false);
    expect((await row(app, id)).state).toBe('sent');
  });
});

describe.each(backends)('outbox lanes on %s', (backend) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await makeTestApp(backend);
  });
  afterAll(async () => {
    await app?.cleanup();
  });
  afterEach(async () => {
    setFailpoints(undefined);
    await app.db.orm.delete(outbox);
  });

  /** A mailer of our own interface: takes `concurrency` sends at once, each 20 ms, and tells what it saw. */
  function countingMailer(concurrency: number, failOn?: string): Mailer & { seen: string[]; most: number } {
    let now = 0;
    const m = {
      kind: 'files' as const,
      concurrency,
      seen: [] as string[],
      most: 0,
      async send(mail: OutgoingMail) {
        m.most = Math.max(m.most, ++now);
        m.seen.push(mail.to);
        try {
          await new Promise((r) => setTimeout(r, 20));
          if (mail.to === failOn) throw new Error('the disk went away');
          return { response: 'ok' };
        } finally {
          now--;
        }
      },
      verify: async () => 'ok',
      close: async () => {},
    };
    return m;
  }

  it('sends in as many lanes as the mailer takes, every row once', async () => {
    const clock = movableClock();
    for (let i = 0; i < 10; i++) await queueAck(app, `ack:l${i}`, `l${i}@example.tj`, clock.now());
    const mailer = countingMailer(3);
    const c = await sendDue({ ...outboxDepsOf(app), clock, mailer });
    expect(c.sent).toBe(10);
    expect(mailer.most).toBe(3);
    expect([...mailer.seen].sort()).toEqual(Array.from({ length: 10 }, (_, i) => `l${i}@example.tj`).sort());
    const states = await app.db.orm.execute(sql`SELECT state, count(*)::int AS n FROM outbox GROUP BY state`);
    expect(states.rows).toEqual([{ state: 'sent', n: 10 }]);
  });

  it('an error in one lane stops the others after their current send; only rows whose send began are left sending', async () => {
    const clock = movableClock();
    for (let i = 0; i < 12; i++) await queueAck(app, `ack:e${i}`, `e${i}@example.tj`, clock.now());
    const mailer = countingMailer(3, 'e4@example.tj');
    await expect(sendDue({ ...outboxDepsOf(app), clock, mailer })).rejects.toThrow('the disk went away');
    const rows = (await app.db.orm.select().from(outbox)).map((r) => ({ to: r.to, state: r.state }));
    const sending = rows.filter((r) => r.state === 'sending').map((r) => r.to);
    // the failing send, and those begun beside it before the lanes stopped: each of them was handed to the mailer
    expect(sending).toContain('e4@example.tj');
    expect(sending.length).toBeLessThanOrEqual(3);
    for (const to of sending) expect(mailer.seen).toContain(to);
    // every row handed over is either sent or left sending (never queued again), and the rest were never tried
    for (const r of rows) expect(mailer.seen.includes(r.to!) ? ['sent', 'sending'] : ['queued']).toContain(r.state);
    expect(rows.filter((r) => r.state === 'queued').length).toBeGreaterThan(0);
  });

  it('the .eml folder takes several at once, SMTP one', async () => {
    expect(app.mailer.kind).toBe('files');
    expect(app.mailer.concurrency).toBeGreaterThan(1);
    expect(makeSmtpMailer({ url: 'smtp://127.0.0.1:1', heloName: 'example.org', log: app.log }).concurrency).toBe(1);
  });
});
