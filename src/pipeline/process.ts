// Everything after store: parse, then understand (classify, items, links). Re-runnable at any time.
import type { IngestDeps } from './ingest.ts';
import { parsePending } from './parse.ts';
import { understandPending } from './understand.ts';

export async function processPending(deps: IngestDeps, opts: { signal?: AbortSignal } = {}) {
  const parse = await parsePending(deps, opts);
  const understood = parse.understood + (await understandPending(deps, opts));
  return { ...parse, understood };
}

type ProcessCounts = Awaited<ReturnType<typeof processPending>>;

/**
 * A stage of `run --once` that follows the one before it: `pass` does what is ready now and says how much it
 * did; `last`, when given, replaces the final passes once the stage before has ended (media waits out retries).
 */
export interface FollowStage {
  pass: () => Promise<number>;
  last?: () => Promise<void>;
}

/** How often a stage looks while the pass of the stage before it is still going. */
const SLOW_LOOK_MS = 200;

/**
 * Runs `work` (an inbox drain) and every stage, each in its own loop: a stage passes over and over while the
 * stage before it runs (what is stored is parsed meanwhile, what is parsed is understood, and so on), then to
 * the end after it: a pass begun after its upstream ended that finds nothing ends it. All run to their end before
 * anything is reported or thrown: nothing is left running against a closing database.
 */
export async function followChain<T>(work: Promise<T>, stages: FollowStage[], opts: { signal?: AbortSignal } = {}): Promise<T> {
  const ended = stages.map(() => false);
  // A stage that waits wakes when anything it follows changes (a pass that did something, an end), not at
  // its next 50 ms look: the end of the run passes down five stages, and each look lost up to that. A wait
  // leaves nothing behind when it ends (no timer, no abort listener, no waiter): a change can come every few
  // milliseconds.
  const waiters = new Set<() => void>();
  const changes = () => {
    for (const w of [...waiters]) w();
  };
  const waitChange = (ms: number) =>
    new Promise<void>((resolve) => {
      const { signal } = opts;
      if (signal?.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      waiters.add(done);
    });
  let drained = false;
  const settled = work.finally(() => {
    drained = true;
    changes();
  });
  const upstreamDone = (i: number) => (i === 0 ? drained : ended[i - 1]);
  // A later stage looks again when a stage before it has ended a pass that did something (not only the one
  // just before: a pass of media jobs that found no video passes on nothing, yet the messages understood
  // meanwhile are for the acknowledgements), or, while the pass of the one before goes on (it takes all that
  // is ready, however long that is), every SLOW_LOOK_MS; not when the stages before sit idle: a look then would
  // only cost queries. The first stage follows the inbox, which says nothing until it ends: it looks every 50 ms.
  const progress = stages.map(() => 0);
  const upstreamProgress = (i: number) => {
    let n = 0;
    for (let j = 0; j < i; j++) n += progress[j];
    return n;
  };
  const running = stages.map(() => false);
  const loops = stages.map(async (stage, i) => {
    let seen = -1;
    let lookedAt = 0;
    try {
      while (!opts.signal?.aborted) {
        const finalPass = upstreamDone(i); // read before the pass: work stored during it is seen next time
        if (finalPass && stage.last) return await stage.last();
        const news = i === 0 || upstreamProgress(i) !== seen || (running[i - 1] && Date.now() - lookedAt >= SLOW_LOOK_MS);
        if (!finalPass && !news) {
          await waitChange(50);
          continue;
        }
        if (i > 0) seen = upstreamProgress(i);
        lookedAt = Date.now();
        running[i] = true;
        const n = await stage.pass().finally(() => (running[i] = false));
        if (n) {
          progress[i]++;
          changes();
        }
        if (finalPass && !n) return;
        if (!n && i === 0) await waitChange(50);
      }
    } finally {
      ended[i] = true;
      changes();
    }
  });
  const results = await Promise.allSettled([settled, ...loops]);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
  return (results[0] as PromiseFulfilledResult<T>).value;
}

/**
 * The parse and understand stages of followChain, adding up into `total`. Messages are understood as their
 * parse is saved; the understand stage takes what that left (a save that fell back to one message at a time)
 * and passes on, as its own, what the parse stage has understood so far (counted as each group is saved, not
 * when the parse stage's pass ends, which is when the inbox is drained), so the stages after it follow as before.
 */
export function processStages(deps: IngestDeps, total: ProcessCounts, opts: { signal?: AbortSignal } = {}): FollowStage[] {
  let understoodInParse = 0;
  return [
    {
      pass: async () => {
        const c = await parsePending(deps, { ...opts, onUnderstood: (n) => (understoodInParse += n) });
        total.parsed += c.parsed;
        total.quarantined += c.quarantined;
        total.retry = c.retry; // still to retry after the latest pass: a message failing every pass counts once
        return c.parsed + c.quarantined; // a retry is for a later pass, not this one
      },
    },
    {
      pass: async () => {
        const passed = understoodInParse; // taken before the wait: what is understood meanwhile is for the next pass
        understoodInParse = 0;
        const n = (await understandPending(deps, opts)) + passed;
        total.understood += n;
        return n;
      },
    },
  ];
}

export const emptyProcessCounts = (): ProcessCounts => ({ parsed: 0, quarantined: 0, retry: 0, understood: 0 });
