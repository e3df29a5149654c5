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
 * processPending over and over while `work` (an inbox drain) runs, then once more after it: what is stored
 * is parsed while the rest is still being fetched, in the drain's waits on the network, fsync and commits.
 */
export async function processAlongside<T>(
  deps: IngestDeps,
  work: Promise<T>,
  opts: { signal?: AbortSignal } = {},
): Promise<[T, ProcessCounts]> {
  let done = false;
  const settled = work.finally(() => {
    done = true;
  });
  const total: ProcessCounts = { parsed: 0, quarantined: 0, retry: 0, understood: 0 };
  const add = (c: ProcessCounts) => {
    for (const k of Object.keys(total) as Array<keyof ProcessCounts>) total[k] += c[k];
  };
  const follow = (async () => {
    while (!done && !opts.signal?.aborted) {
      const c = await processPending(deps, opts);
      add(c);
      if (!done && !c.parsed && !c.quarantined && !c.understood) await abortableDelay(50, opts.signal);
    }
  })();
  // Both run to their end before anything is reported: nothing is left running against a closing database.
  const [drained, followed] = await Promise.allSettled([settled, follow]);
  if (drained.status === 'rejected') throw drained.reason;
  if (followed.status === 'rejected') throw followed.reason;
  add(await processPending(deps, opts));
  return [drained.value, total];
}
