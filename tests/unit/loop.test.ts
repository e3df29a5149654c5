import { describe, expect, it } from 'vitest';
import { backoffMs, runLoop } from '../../src/runtime/loop.ts';
import { silentLogger } from '../../src/adapters/logger.ts';

describe('backoff', () => {
  it('doubles up to the cap, with jitter in the upper half', () => {
    expect(backoffMs(1, 1000, 60_000, () => 0)).toBe(500);
    expect(backoffMs(1, 1000, 60_000, () => 1)).toBe(1000);
    expect(backoffMs(4, 1000, 60_000, () => 1)).toBe(8000);
    expect(backoffMs(30, 1000, 60_000, () => 1)).toBe(60_000);
    expect(backoffMs(30, 1000, 60_000, () => 0)).toBe(30_000);
  });
});

describe('runLoop', () => {
  it('survives errors and stops when aborted', async () => {
    const ac = new AbortController();
    let calls = 0;
    await runLoop({
      name: 'test',
      log: silentLogger,
      signal: ac.signal,
      backoff: { baseMs: 1, capMs: 2 },
      step: async () => {
        calls++;
        if (calls < 3) throw new Error('boom');
        if (calls === 5) ac.abort();
      },
      wait: async () => {},
    });
    expect(calls).toBe(5);
  });
});

describe('makeWakeup', () => {
  it('remembers a wake-up that came while nobody waited', async () => {
    const { makeWakeup } = await import('../../src/runtime/loop.ts');
    const w = makeWakeup();
    w.wake();
    const t0 = Date.now();
    await w.wait(10_000, new AbortController().signal);
    expect(Date.now() - t0).toBeLessThan(1000);
    w.clear();
    const ac = new AbortController();
    setTimeout(() => w.wake(), 50);
    await w.wait(10_000, ac.signal);
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});

describe('runLoop and a refused login', () => {
  it('waits as long as the error asks before the next try', async () => {
    const ac = new AbortController();
    let calls = 0;
    const t0 = Date.now();
    const done = runLoop({
      name: 'test',
      log: silentLogger,
      signal: ac.signal,
      backoff: { baseMs: 1, capMs: 2 },
      step: async () => {
        calls++;
        throw Object.assign(new Error('login refused'), { retryAfterMs: 60_000 });
      },
      wait: async () => {},
    });
    await new Promise((r) => setTimeout(r, 300));
    ac.abort();
    await done;
    expect(calls).toBe(1);
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});
