// RELIABILITY C6: some digest recipients rejected. A digest is one message per staff recipient, each its own
// outbox row, so the state is per recipient: against a real SMTP peer (smtp-server in-process) that refuses one
// of three, the other two are sent and never sent again, the refused one fails with the server's reason and is
// not retried, and the next day's digest goes to all three once.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asc, like } from 'drizzle-orm';
import { backends } from '../helpers/db.ts';
import { makeTestApp, tempDir, type TestApp } from '../helpers/app.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { DEFAULT_CAMPAIGN } from '../../src/config.ts';
import { digestDepsOf, sendDueDigests } from '../../src/pipeline/digest.ts';
import { outboxDepsOf, sendDue } from '../../src/pipeline/outbox.ts';
import { outbox } from '../../src/db/schema.ts';

const STAFF = ['staff.one@notorture.example.org', 'staff.two@notorture.example.org', 'staff.three@notorture.example.org'];

describe.each(backends)('daily digests over SMTP on %s', (backend) => {
  let sink: SmtpSink;
  let app: TestApp;
  let dir: string;
  let t = new Date('2026-12-01T14:00:00Z'); // 19:00 in Asia/Dushanbe
  const clock = { now: () => t };
  const rows = () => app.db.orm.select().from(outbox).where(like(outbox.key, 'daily:%')).orderBy(asc(outbox.id));

  beforeAll(async () => {
    dir = tempDir('intake-digest-smtp-');
    const c = JSON.parse(fs.readFileSync(DEFAULT_CAMPAIGN, 'utf8'));
    c.staff = STAFF;
    fs.writeFileSync(path.join(dir, 'campaign.json'), JSON.stringify(c));
    sink = await startSmtpSink();
    app = await makeTestApp(backend, { SMTP_URL: sink.url, INTAKE_CAMPAIGN: path.join(dir, 'campaign.json') });
  });
  afterAll(async () => {
    await app?.cleanup();
    await sink?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a recipient the server refuses fails alone; the accepted ones are never sent again', async () => {
    expect((await sendDueDigests({ ...digestDepsOf(app), clock })).daily).toMatchObject({ day: '2026-12-01', queued: 3 });
    sink.script = ['accept', 'reject']; // the second recipient's transaction gets 550
    const first = await sendDue({ ...outboxDepsOf(app), clock });
    expect(first).toMatchObject({ sent: 2, failed: 1 });
    expect(sink.received.map((r) => r.rcptTo)).toEqual([[STAFF[0]], [STAFF[2]]]);
    const day1 = await rows();
    expect(day1.map((r) => [r.to, r.state])).toEqual([
      [STAFF[0], 'sent'],
      [STAFF[1], 'failed'],
      [STAFF[2], 'sent'],
    ]);
    expect(day1[1].lastError).toMatch(/550/);

    // Later passes, and the next day's digest: the three of day 2, nothing of day 1 again.
    for (const hours of [1, 24]) {
      t = new Date(Date.parse('2026-12-01T14:00:00Z') + hours * 3600_000);
      await sendDueDigests({ ...digestDepsOf(app), clock });
      await sendDue({ ...outboxDepsOf(app), clock });
    }
    expect(sink.received.map((r) => r.rcptTo[0])).toEqual([STAFF[0], STAFF[2], ...STAFF]);
    const all = await rows();
    expect(all.map((r) => [r.key, r.state])).toEqual([
      ...STAFF.map((s, i) => [`daily:2026-12-01:${s}`, i === 1 ? 'failed' : 'sent']),
      ...STAFF.map((s) => [`daily:2026-12-02:${s}`, 'sent']),
    ]);
    expect(all.slice(0, 3).map((r) => r.attempts)).toEqual([1, 1, 1]);
  });
});
