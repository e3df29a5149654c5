// Everything after store: parse, then understand (classify, items, links). Re-runnable at any time.
import type { IngestDeps } from './ingest.ts';
import { parsePending } from './parse.ts';
import { understandPending } from './understand.ts';
import { abortableDelay } from '../runtime/loop.ts';

export async function processPending(deps: IngestDeps, opts: { signal?: AbortSignal } = {}) {
  const parse = await parsePending(deps, opts);
  const understood = await understandPending(deps, opts);
  return { ...parse, understood };
}

type ProcessCounts = Awaited<ReturnType<typeof processPending>>;

/**
 * Parse and understand over and over while `work` (an inbox drain) runs, each in its own loop, then to the end
 * after it: what is stored is parsed (in the parse worker) while the rest is still being fetched, and what is
 * parsed is understood meanwhile on the main thread.
 */
export async function processAlongside<T>(
  deps: IngestDeps,
  work: Promise<T>,
  opts: { signal?: AbortSignal } = {},
): Promise<[T, ProcessCounts]> {
  let drained = false;
  let parsedAll = false;
  const settled = work.finally(() => {
    drained = true;
  });
  const total: ProcessCounts = { parsed: 0, quarantined: 0, retry: 0, understood: 0 };
  const follow = async (stage: () => Promise<number>, upstreamDone: () => boolean) => {
    while (!opts.signal?.aborted) {
      const finalPass = upstreamDone(); // read before the pass: work stored during it is seen next time
      const n = await stage();
      if (finalPass && !n) return;
      if (!n) await abortableDelay(50, opts.signal);
    }
  };
  const parsing = follow(async () => {
    const c = await parsePending(deps, opts);
    total.parsed += c.parsed;
    total.quarantined += c.quarantined;
    total.retry = c.retry; // still to retry after the latest pass: a message failing every pass counts once
    return c.parsed + c.quarantined; // a retry is for a later pass, not this one
  }, () => drained).finally(() => {
    parsedAll = true;
  });
  const understanding = follow(async () => {
    const n = await understandPending(deps, opts);
    total.understood += n;
    return n;
  }, () => parsedAll);
  // All run to their end before anything is reported: nothing is left running against a closing database.
  const [d, p, u] = await Promise.allSettled([settled, parsing, understanding]);
  for (const r of [d, p, u]) if (r.status === 'rejected') throw r.reason;
  return [(d as PromiseFulfilledResult<T>).value, total];
}
