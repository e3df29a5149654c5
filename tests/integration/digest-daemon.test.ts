// The digest step inside the daemon and in `run --once`, on the injected clock: a daemon that was down at the hour
// sends the missed digest once as it starts; a pass after that sends nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { like } from 'drizzle-orm';
import { backends } from '../helpers/db.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';
import { runDaemon, runOnce } from '../../src/pipeline/daemon.ts';
import { outbox } from '../../src/db/schema.ts';

describe.each(backends)('the daemon\'s digest step on %s', (backend) => {
  let app: TestApp;
  let now = new Date('2026-12-05T03:00:00Z'); // 08:00 in Dushanbe: the 4th's 19:00 passed while the daemon was down
  const daily = () => app.db.orm.select().from(outbox).where(like(outbox.key, 'daily:%'));

  beforeAll(async () => {
    app = await makeTestApp(backend);
    app.clock = { now: () => now };
  });
  afterAll(async () => {
    await app?.cleanup();
  });

  it('sends the missed digest once when it starts', async () => {
    const ac = new AbortController();
    const running = runDaemon(app, ac.signal);
    try {
      await expect.poll(async () => (await daily()).length, { timeout: 60_000, interval: 200 }).toBe(1);
    } finally {
      ac.abort();
      await running;
    }
    const [row] = await daily();
    expect(row.key).toBe('daily:2026-12-04:staff@notorture.example.org');
  });

  it('run --once after that sends nothing; at the next hour it sends that day once', async () => {
    const first = await runOnce(app, new AbortController().signal);
    expect(first.digests.daily).toBeNull();
    now = new Date('2026-12-05T14:00:00Z');
    const second = await runOnce(app, new AbortController().signal);
    expect(second.digests.daily).toEqual({ day: '2026-12-05', queued: 1, already: false });
    expect((await runOnce(app, new AbortController().signal)).digests.daily).toBeNull();
    expect((await daily()).map((r) => r.key).sort()).toEqual([
      'daily:2026-12-04:staff@notorture.example.org',
      'daily:2026-12-05:staff@notorture.example.org',
    ]);
  });
});
