// Acknowledgements end to end: real messages imported, parsed and understood, then the ack stage and the sender
// against an in-process SMTP server. Loops and floods (RELIABILITY G11, G12, G13), privacy (H1, H2, H10), the
// encoded-word trick, waiting for videos, and exactly one outbox row per message ever.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq, inArray, sql } from 'drizzle-orm';
import { simpleParser } from 'mailparser';
import { backends } from '../helpers/db.ts';
import { eml, makeTestApp, tempDir, writeCampaign, type TestApp } from '../helpers/app.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { importPaths } from '../../src/pipeline/import.ts';
import { processPending } from '../../src/pipeline/process.ts';
import { ackDepsOf, ackPending, type AckDeps } from '../../src/pipeline/ack.ts';
import { outboxDepsOf, recoverOutbox, sendDue, type OutboxDeps } from '../../src/pipeline/outbox.ts';
import { items, mediaJobs, messages, outbox } from '../../src/db/schema.ts';
import { ackKey } from '../../src/db/outbox.ts';

const DAY = 24 * 3600_000;

function movableClock(start = new Date()) {
  let t = start.getTime();
  return { now: () => new Date(t), advance: (ms: number) => void (t += ms) };
}

interface World {
  app: TestApp;
  sink: SmtpSink;
  dir: string;
  clock: ReturnType<typeof movableClock>;
  ack: AckDeps;
  send: OutboxDeps;
  n: number;
}

async function makeWorld(backend: (typeof backends)[number], limits?: Record<string, number>): Promise<World> {
  const dir = tempDir('intake-ack-');
  const sink = await startSmtpSink();
  const env: Record<string, string> = { SMTP_URL: sink.url };
  if (limits) env.INTAKE_CAMPAIGN = writeCampaign(dir, limits);
  const app = await makeTestApp(backend, env);
  const clock = movableClock();
  // One clock for every stage: received and understood times, the wait for videos and the windows agree.
  app.deps.clock = clock;
  return { app, sink, dir, clock, ack: { ...ackDepsOf(app), clock }, send: { ...outboxDepsOf(app), clock }, n: 0 };
}

async function closeWorld(w: World | undefined) {
  if (!w) return;
  await w.app.cleanup();
  await w.sink.close();
  fs.rmSync(w.dir, { recursive: true, force: true });
}

/** Imports the messages and takes them through parse and understanding; returns their ids. */
async function deliver(w: World, ...mails: Buffer[]): Promise<number[]> {
  const files = mails.map((m) => {
    const p = path.join(w.dir, `m${++w.n}.eml`);
    fs.writeFileSync(p, m);
    return p;
  });
  await importPaths(w.app, files);
  await processPending(w.app.deps);
  const rows = await w.app.db.orm
    .select({ id: messages.id })
    .from(messages)
    .where(inArray(messages.source, files.map((f) => path.resolve(f))));
  return rows.map((r) => r.id).sort((a, b) => a - b);
}

async function ackRow(w: World, messageId: number) {
  const rows = await w.app.db.orm.select().from(outbox).where(eq(outbox.key, ackKey(messageId)));
  return rows;
}

const supporter = (o: Parameters<typeof eml>[0] = {}) =>
  eml({
    from: 'Nigora Saidova <nigora@example.tj>',
    subject: 'Story 8',
    headers: { 'Return-Path': '<nigora@example.tj>' },
    body: 'Dear family of Khurshed Bobokalonov, we are with you.\r\n',
    ...o,
  });

describe.each(backends)('acknowledgements on %s', (backend) => {
  let w: World;
  beforeAll(async () => {
    w = await makeWorld(backend);
  });
  afterAll(() => closeWorld(w));

  it('acknowledges a submission once, in its language, to the envelope sender, naming the story', async () => {
    const [id] = await deliver(
      w,
      supporter({
        from: 'Зарина <zarina@example.ru>',
        headers: { 'Return-Path': '<zarina@example.ru>', 'Reply-To': 'third.party@example.com' },
        subject: 'История 8',
        body: 'Дорогая семья Хуршеда Бобокалонова, мы с вами. Держитесь, пожалуйста, мы все помним его.\r\n',
      }),
    );
    expect(await ackPending(w.ack)).toMatchObject({ queued: 1, suppressed: 0 });
    expect(await ackPending(w.ack)).toMatchObject({ queued: 0, suppressed: 0 });
    const [r] = await ackRow(w, id);
    expect(r).toMatchObject({ state: 'queued', kind: 'ack', to: 'zarina@example.ru', story: 8, messageId: id });
    expect(r.subject).toBe('Спасибо: история 8');
    expect(r.textBody).toContain('8. Khurshed Bobokalonov');
    expect(r.headers?.['In-Reply-To']).toMatch(/^<.+@example\.org>$/);

    await sendDue(w.send);
    const got = w.sink.received.filter((x) => x.rcptTo[0] === 'zarina@example.ru');
    expect(got).toHaveLength(1);
    expect(got[0].rcptTo).toEqual(['zarina@example.ru']);
    expect(got[0].data).not.toContain('third.party@example.com');
    expect((await ackRow(w, id))[0].state).toBe('sent');
  });

  it('answers 500 messages from one sender with one acknowledgement (G12)', async () => {
    const mails = Array.from({ length: 500 }, (_, i) =>
      supporter({ from: 'Flood <flood@example.tj>', headers: { 'Return-Path': '<flood@example.tj>' }, subject: `Story 8 #${i}` }),
    );
    const ids = await deliver(w, ...mails);
    expect(ids).toHaveLength(500);
    const c = await ackPending(w.ack);
    expect(c).toMatchObject({ queued: 1, suppressed: 499 });
    const rows = await w.app.db.orm
      .select({ state: outbox.state, reason: outbox.reason, n: sql<number>`count(*)::int` })
      .from(outbox)
      .where(eq(outbox.to, 'flood@example.tj'))
      .groupBy(outbox.state, outbox.reason);
    expect(rows).toEqual(
      expect.arrayContaining([
        { state: 'queued', reason: null, n: 1 },
        { state: 'suppressed', reason: 'sender already acknowledged within 7 days', n: 499 },
      ]),
    );
    await sendDue(w.send);
    expect(w.sink.received.filter((x) => x.rcptTo[0] === 'flood@example.tj')).toHaveLength(1);
  });

  it('an auto-responder without loop headers, answering every acknowledgement, gets at most one per window (G11)', async () => {
    const robot = 'robot@peer.example.net';
    const sentToRobot = () => w.sink.received.filter((x) => x.rcptTo[0] === robot);
    await deliver(w, supporter({ from: `Robot <${robot}>`, headers: { 'Return-Path': `<${robot}>` }, subject: 'Story 8' }));
    for (let round = 0; round < 6; round++) {
      await ackPending(w.ack);
      await sendDue(w.send);
      const last = sentToRobot().at(-1)!;
      const ourId = /^Message-ID: (.+)$/im.exec(last.data)![1].trim();
      // The peer answers whatever it gets with a fresh message, no Auto-Submitted, no Precedence.
      await deliver(
        w,
        eml({
          from: `Robot <${robot}>`,
          subject: `Re: Thank you: story 8 (${round})`,
          headers: { 'Return-Path': `<${robot}>`, 'In-Reply-To': ourId },
          body: 'Thanks for your message, story 8.\r\n',
        }),
      );
      w.clock.advance(DAY);
    }
    await ackPending(w.ack);
    await sendDue(w.send);
    // Six days of ping-pong: one acknowledgement. A week later the window allows one more, not more.
    expect(sentToRobot()).toHaveLength(1);
    w.clock.advance(2 * DAY);
    await deliver(w, eml({ from: `Robot <${robot}>`, subject: 'Re: again', headers: { 'Return-Path': `<${robot}>` } }));
    await deliver(w, eml({ from: `Robot <${robot}>`, subject: 'Re: again 2', headers: { 'Return-Path': `<${robot}>` } }));
    await ackPending(w.ack);
    await sendDue(w.send);
    expect(sentToRobot()).toHaveLength(2);
  });

  it('a message to 20 addresses is acknowledged to its sender alone; no other address appears in it (H1)', async () => {
    const others = Array.from({ length: 20 }, (_, i) => `friend${i}@example${i % 3}.org`);
    const [id] = await deliver(
      w,
      supporter({
        from: 'Dilnoza <dilnoza@example.tj>',
        headers: { 'Return-Path': '<dilnoza@example.tj>', Cc: others.slice(10).join(', ') },
        to: ['campaign@notorture.example.org', ...others.slice(0, 10)].join(', '),
      }),
    );
    await ackPending(w.ack);
    await sendDue(w.send);
    const [r] = await ackRow(w, id);
    expect(r.state).toBe('sent');
    const got = w.sink.received.filter((x) => x.rcptTo.includes('dilnoza@example.tj'));
    expect(got).toHaveLength(1);
    expect(got[0].rcptTo).toEqual(['dilnoza@example.tj']);
    const parsed = await simpleParser(got[0].data);
    const everything = [got[0].data, parsed.text ?? '', String(parsed.html ?? ''), parsed.subject ?? '', JSON.stringify(r)].join('\n');
    for (const a of others) expect(everything).not.toContain(a);
    // Any address-looking string is the sender, our own address, or a Message-ID.
    const addresses = new Set([...everything.matchAll(/[\w.+-]+@[\w-]+(?:\.[\w-]+)+/g)].map((m) => m[0]));
    const ids = new Set([r.rfcMessageId, r.headers?.['In-Reply-To']].map((s) => s?.slice(1, -1)));
    for (const a of addresses) expect(['dilnoza@example.tj', 'campaign@notorture.example.org', ...ids]).toContain(a);
    expect(parsed.cc).toBeUndefined();
  });

  it('an encoded-word From that hides another address gets no acknowledgement to that address', async () => {
    const hidden = Buffer.from('victim@target.example').toString('base64');
    const [id] = await deliver(
      w,
      eml({ from: `=?utf-8?B?${hidden}?=`, subject: 'Story 8', body: 'Khurshed, we remember.\r\n' }),
      eml({ from: `=?utf-8?B?${hidden}?= <>`, subject: 'Story 8', body: 'Khurshed, we remember.\r\n' }),
    );
    await ackPending(w.ack);
    await sendDue(w.send);
    const [r] = await ackRow(w, id);
    expect(r.state).toBe('suppressed');
    const toVictim = await w.app.db.orm.select().from(outbox).where(sql`${outbox.to} ILIKE '%target.example%'`);
    expect(toVictim).toHaveLength(0);
    expect(w.sink.received.some((x) => x.rcptTo.some((a) => a.includes('target.example')))).toBe(false);
  });

  it('never puts supporter-provided text in the acknowledgement (canaries in subject, body, name, filename)', async () => {
    const canary = 'CANARY7f3a';
    const boundary = 'b0undary';
    const body = [
      `--${boundary}`,
      'Content-Type: text/plain; charset=utf-8',
      '',
      `Story 8. For Khurshed's family: ${canary} body text. Best, ${canary}name`,
      `--${boundary}`,
      `Content-Type: image/jpeg; name="${canary}.jpg"`,
      `Content-Disposition: attachment; filename="${canary}.jpg"`,
      'Content-Transfer-Encoding: base64',
      '',
      Buffer.from('not really a jpeg').toString('base64'),
      `--${boundary}--`,
      '',
    ].join('\r\n');
    const [id] = await deliver(
      w,
      eml({
        from: `"${canary} Display" <canary.sender@example.tj>`,
        subject: `Story 8 ${canary} subject`,
        headers: { 'Return-Path': '<canary.sender@example.tj>' },
        contentType: `multipart/mixed; boundary="${boundary}"`,
        body,
      }),
    );
    await ackPending(w.ack);
    const [r] = await ackRow(w, id);
    expect(r.state).toBe('queued');
    expect(r.textBody).toContain('8. Khurshed Bobokalonov');
    expect(JSON.stringify(r)).not.toContain(canary);
    await sendDue(w.send);
    const got = w.sink.received.find((x) => x.rcptTo[0] === 'canary.sender@example.tj')!;
    const parsed = await simpleParser(got.data);
    expect([got.data, parsed.text, parsed.html, parsed.subject].join('\n')).not.toContain(canary);
    expect(parsed.attachments).toHaveLength(0);
  });

  it('suppresses non-submissions with their classification as the reason', async () => {
    const [auto, list] = await deliver(
      w,
      eml({ from: 'Away <away@example.tj>', subject: 'Out of office', headers: { 'Auto-Submitted': 'auto-replied', 'Return-Path': '<away@example.tj>' } }),
      eml({ from: 'List <news@lists.example.org>', subject: 'Weekly news', headers: { 'List-Id': '<news.lists.example.org>', 'Return-Path': '<news-bounces@lists.example.org>' } }),
    );
    await ackPending(w.ack);
    expect((await ackRow(w, auto))[0]).toMatchObject({ state: 'suppressed', reason: expect.stringMatching(/^auto_reply/) });
    expect((await ackRow(w, list))[0]).toMatchObject({ state: 'suppressed', reason: expect.stringMatching(/^list/) });
  });

  it('a sender whose acknowledgement was interrupted mid-send gets neither a resend nor a new one in the window', async () => {
    const [first] = await deliver(w, supporter({ from: 'Crash <crash@example.tj>', headers: { 'Return-Path': '<crash@example.tj>' } }));
    await ackPending(w.ack);
    // The process died after claiming the row: it was left `sending`.
    await w.app.db.orm.update(outbox).set({ state: 'sending', attempts: 1 }).where(eq(outbox.key, ackKey(first)));
    await recoverOutbox(w.send);
    expect((await ackRow(w, first))[0].state).toBe('uncertain');
    const [second] = await deliver(w, supporter({ from: 'Crash <crash@example.tj>', headers: { 'Return-Path': '<crash@example.tj>' }, subject: 'Story 8 again' }));
    await ackPending(w.ack);
    await sendDue(w.send);
    expect((await ackRow(w, second))[0]).toMatchObject({ state: 'suppressed', reason: 'sender already acknowledged within 7 days' });
    expect(w.sink.received.some((x) => x.rcptTo[0] === 'crash@example.tj')).toBe(false);
  });

  it('waits for the message videos, then says what became of each', async () => {
    const boundary = 'v1deo';
    const part = (name: string) =>
      [`--${boundary}`, `Content-Type: video/mp4; name="${name}"`, `Content-Disposition: attachment; filename="${name}"`, 'Content-Transfer-Encoding: base64', '', Buffer.from('mp4?').toString('base64')].join('\r\n');
    const body = [`--${boundary}`, 'Content-Type: text/plain; charset=utf-8', '', 'A video for story 8.', part('a.mp4'), part('b.mp4'), part('c.mp4'), `--${boundary}--`, ''].join('\r\n');
    const [id] = await deliver(
      w,
      eml({ from: 'Video <video@example.tj>', subject: 'Story 8', headers: { 'Return-Path': '<video@example.tj>' }, contentType: `multipart/mixed; boundary="${boundary}"`, body }),
    );
    const videoItems = await w.app.db.orm.select({ id: items.id }).from(items).where(eq(items.messageId, id)).orderBy(items.id);
    const jobs = await w.app.db.orm.select().from(mediaJobs).where(inArray(mediaJobs.itemId, videoItems.map((i) => i.id))).orderBy(mediaJobs.itemId);
    expect(jobs).toHaveLength(3);
    expect(await ackPending(w.ack)).toMatchObject({ waiting: 1 });
    expect(await ackRow(w, id)).toHaveLength(0);
    await w.app.db.orm.update(mediaJobs).set({ state: 'ready', trimmed: false }).where(eq(mediaJobs.id, jobs[0].id));
    await w.app.db.orm.update(mediaJobs).set({ state: 'ready', trimmed: true }).where(eq(mediaJobs.id, jobs[1].id));
    expect(await ackPending(w.ack)).toMatchObject({ waiting: 1 });
    await w.app.db.orm.update(mediaJobs).set({ state: 'rejected', reason: 'not a video' }).where(eq(mediaJobs.id, jobs[2].id));
    expect(await ackPending(w.ack)).toMatchObject({ queued: 1, waiting: 0 });
    const [r] = await ackRow(w, id);
    expect(r.textBody).toContain('Video 1: received.');
    expect(r.textBody).toContain('Video 2: received and shortened to 2 minutes');
    expect(r.textBody).toContain('Video 3: unfortunately it could not be used.');
    expect(r.textBody).not.toContain('not a video');
    expect(r.textBody).not.toContain('.mp4');
  });

  it('sends anyway after ackWaitMinutes when a video job never ends', async () => {
    const boundary = 'st1ck';
    const body = [`--${boundary}`, 'Content-Type: text/plain', '', 'Story 8 video', `--${boundary}`, 'Content-Type: video/mp4; name="x.mp4"', 'Content-Transfer-Encoding: base64', '', 'AAAA', `--${boundary}--`, ''].join('\r\n');
    const [id] = await deliver(
      w,
      eml({ from: 'Stuck <stuck@example.tj>', subject: 'Story 8', headers: { 'Return-Path': '<stuck@example.tj>' }, contentType: `multipart/mixed; boundary="${boundary}"`, body }),
    );
    expect(await ackRow(w, id)).toHaveLength(0);
    await ackPending(w.ack);
    expect(await ackRow(w, id)).toHaveLength(0);
    w.clock.advance((w.app.config.campaign.limits.ackWaitMinutes + 1) * 60_000);
    await ackPending(w.ack);
    const [r] = await ackRow(w, id);
    expect(r.state).toBe('queued');
    expect(r.textBody).toContain('Video 1: received.');
  });

  it('keeps exactly one outbox row per message, whatever runs again', async () => {
    await ackPending(w.ack);
    await ackPending(w.ack);
    const dup = await w.app.db.orm.execute(
      sql`SELECT message_id FROM outbox WHERE kind = 'ack' GROUP BY message_id HAVING count(*) > 1`,
    );
    expect(dup.rows).toEqual([]);
    const missing = await w.app.db.orm.execute(
      sql`SELECT id FROM messages m WHERE m.understood_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.message_id = m.id)`,
    );
    expect(missing.rows).toEqual([]);
  });
});

describe.each(backends)('the hourly cap on %s', (backend) => {
  let w: World;
  beforeAll(async () => {
    w = await makeWorld(backend, { acksPerHour: 3 });
  });
  afterAll(() => closeWorld(w));

  it('stops acknowledging past acksPerHour, and ingestion goes on (G13)', async () => {
    const ids = await deliver(
      w,
      ...Array.from({ length: 5 }, (_, i) => supporter({ from: `S${i} <s${i}@forged${i}.example>`, headers: { 'Return-Path': `<s${i}@forged${i}.example>` } })),
    );
    expect(ids).toHaveLength(5);
    expect(await ackPending(w.ack)).toMatchObject({ queued: 3, suppressed: 2 });
    const suppressed = await w.app.db.orm.select().from(outbox).where(eq(outbox.state, 'suppressed'));
    expect(suppressed.map((r) => r.reason)).toEqual(['hourly acknowledgement limit reached (3)', 'hourly acknowledgement limit reached (3)']);
    // An hour later there is room again.
    w.clock.advance(3600_000 + 1000);
    await deliver(w, supporter({ from: 'Later <later@example.tj>', headers: { 'Return-Path': '<later@example.tj>' } }));
    expect(await ackPending(w.ack)).toMatchObject({ queued: 1 });
  });
});

describe.each(backends)('two deciders at once on %s', (backend) => {
  let w: World;
  beforeAll(async () => {
    w = await makeWorld(backend, { acksPerHour: 5 });
  });
  afterAll(() => closeWorld(w));

  it('decide each message once between them: one row per message, one ack per sender, the hourly cap kept', async () => {
    const ids = await deliver(
      w,
      ...Array.from({ length: 40 }, (_, i) => supporter({ from: `P <p${i % 8}@peer${i % 8}.example>`, headers: { 'Return-Path': `<p${i % 8}@peer${i % 8}.example>` } })),
    );
    expect(ids).toHaveLength(40);
    // On PostgreSQL these run on two pooled connections, so the decision lock is what keeps them apart.
    const [a, b] = await Promise.all([ackPending(w.ack), ackPending(w.ack)]);
    expect(a.queued + b.queued).toBe(5);
    expect(a.suppressed + b.suppressed).toBe(35);
    const rows = await w.app.db.orm.select().from(outbox).where(inArray(outbox.messageId, ids));
    expect(rows).toHaveLength(40);
    expect(new Set(rows.map((r) => r.messageId)).size).toBe(40);
    const queued = rows.filter((r) => r.state === 'queued');
    expect(queued).toHaveLength(5);
    expect(new Set(queued.map((r) => r.to)).size).toBe(5);
    expect(rows.filter((r) => r.reason === 'hourly acknowledgement limit reached (5)').length).toBeGreaterThan(0);
  });
});

describe.each(backends)('acknowledgement passes from a floor on %s', (backend) => {
  let w: World;
  beforeAll(async () => {
    w = await makeWorld(backend);
  });
  afterAll(() => closeWorld(w));

  it('a pass from the floor decides what came after it, and the floor stops below a message still undecided', async () => {
    const floor = { id: 0 };
    const first = await deliver(w, supporter(), supporter({ from: 'Ali <ali@example.tj>', headers: { 'Return-Path': '<ali@example.tj>' } }));
    const d1 = await ackPending(w.ack, { floor });
    expect(d1.queued + d1.suppressed).toBe(2);
    expect(floor.id).toBe(first[1]);

    // Two more; the first of them not understood yet (as a message parsed late would be).
    const [late, next] = await deliver(
      w,
      supporter({ from: 'Bahrom <bahrom@example.tj>', headers: { 'Return-Path': '<bahrom@example.tj>' } }),
      supporter({ from: 'Dilnoza <dilnoza@example.tj>', headers: { 'Return-Path': '<dilnoza@example.tj>' } }),
    );
    await w.app.db.orm.update(messages).set({ understoodAt: null }).where(eq(messages.id, late));
    const d2 = await ackPending(w.ack, { floor });
    expect(d2.queued + d2.suppressed).toBe(1);
    expect(await ackRow(w, next)).toHaveLength(1);
    expect(await ackRow(w, late)).toHaveLength(0);
    expect(floor.id).toBe(late - 1);

    // Understood now: the next pass from the floor finds it, and the floor passes both.
    await w.app.db.orm.update(messages).set({ understoodAt: new Date() }).where(eq(messages.id, late));
    const d3 = await ackPending(w.ack, { floor });
    expect(d3.queued + d3.suppressed).toBe(1);
    expect(await ackRow(w, late)).toHaveLength(1);
    expect(floor.id).toBe(next);
    expect(await ackPending(w.ack, { floor })).toMatchObject({ queued: 0, suppressed: 0 });
  });

  it('goes to the envelope sender (Return-Path) when it differs from From', async () => {
    const [id] = await deliver(
      w,
      supporter({ from: 'Farrukh <farrukh@example.tj>', headers: { 'Return-Path': '<Farrukh.Bounces@Mail.Example.TJ>' } }),
    );
    await ackPending(w.ack);
    const [r] = await ackRow(w, id);
    expect(r).toMatchObject({ state: 'queued', to: 'farrukh.bounces@mail.example.tj' });
  });
});
