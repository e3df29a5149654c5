// followChain (run --once): each stage follows the one before it, and the end of the inbox drain passes down
// the chain at once. Timers are fake and never advanced here: a stage that waited for its next 50 ms look
// instead of the change it follows would never move.
import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { followChain, type FollowStage } from '../../src/pipeline/process.ts';

async function flush(rounds = 100) {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}

afterEach(() => vi.useRealTimers());

describe('followChain', () => {
  it('ends every stage as soon as the one before it has ended, without waiting for a timer', async () => {
    vi.useFakeTimers();
    const calls: string[] = [];
    let finish!: (v: string) => void;
    const work = new Promise<string>((r) => (finish = r));
    // Three stages with nothing to do: each only says it looked.
    const stages: FollowStage[] = ['parse', 'understand', 'send'].map((name) => ({
      pass: async () => {
        calls.push(name);
        return 0;
      },
    }));
    let result: string | undefined;
    void followChain(work, stages).then((r) => (result = r));
    await flush();
    const before = calls.length;
    finish('drained');
    await flush();
    expect(result).toBe('drained');
    // each stage's last pass came after the drain ended
    expect(calls.slice(before)).toEqual(['parse', 'understand', 'send']);
  });

  it('passes work down as it is done: a stage looks again when the one before it did something', async () => {
    vi.useFakeTimers();
    let finish!: (v: number) => void;
    const work = new Promise<number>((r) => (finish = r));
    let queued = 3; // what the first stage will find, one per pass
    let handed = 0;
    const seen: number[] = [];
    const stages: FollowStage[] = [
      {
        pass: async () => {
          if (!queued) return 0;
          queued--;
          handed++;
          return 1;
        },
      },
      {
        pass: async () => {
          seen.push(handed);
          const n = handed;
          handed = 0;
          return n;
        },
      },
    ];
    let result: number | undefined;
    void followChain(work, stages).then((r) => (result = r));
    await flush();
    // all three handed on while the drain still runs, with no timer fired
    expect(seen.reduce((a, b) => a + b, 0)).toBe(3);
    finish(3);
    await flush();
    expect(result).toBe(3);
  });
});

describe('followChain, stages that pass nothing on', () => {
  it('wakes a stage when any stage before it did something, not only the one just before', async () => {
    vi.useFakeTimers();
    let finish!: (v: number) => void;
    const work = new Promise<number>((r) => (finish = r));
    let queued = 2; // understood messages, one per pass
    let forAcks = 0;
    const acked: number[] = [];
    const stages: FollowStage[] = [
      {
        pass: async () => {
          if (!queued) return 0;
          queued--;
          forAcks++;
          return 1;
        },
      },
      // media: nothing to do for these messages, ever
      { pass: async () => 0 },
      {
        pass: async () => {
          acked.push(forAcks);
          const n = forAcks;
          forAcks = 0;
          return n;
        },
      },
    ];
    let result: number | undefined;
    void followChain(work, stages).then((r) => (result = r));
    await flush();
    // both taken while the drain runs, though the stage in between passed nothing on, with no timer fired
    expect(acked.reduce((a, b) => a + b, 0)).toBe(2);
    finish(2);
    await flush();
    expect(result).toBe(2);
  });
});

describe('followChain waits', () => {
  it('keep no more than one abort listener per stage on the run signal, and none after it', async () => {
    const ac = new AbortController();
    let finish!: () => void;
    const work = new Promise<void>((r) => (finish = r));
    let left = 50; // the first stage does something 50 times, each a change the second one wakes for
    const stages: FollowStage[] = [
      { pass: async () => (left-- > 0 ? (await new Promise((r) => setTimeout(r, 1)), 1) : 0) },
      { pass: async () => 0 },
    ];
    const chain = followChain(work, stages, { signal: ac.signal });
    let most = 0;
    const watch = setInterval(() => (most = Math.max(most, getEventListeners(ac.signal, 'abort').length)), 1);
    await new Promise((r) => setTimeout(r, 200));
    finish();
    await chain;
    clearInterval(watch);
    expect(most).toBeLessThanOrEqual(stages.length);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });
});
