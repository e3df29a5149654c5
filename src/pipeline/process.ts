// Everything after store: parse, then understand (classify, items, links). Re-runnable at any time.
import type { IngestDeps } from './ingest.ts';
import { parsePending } from './parse.ts';
import { understandPending } from './understand.ts';

export async function processPending(deps: IngestDeps, opts: { signal?: AbortSignal } = {}) {
  const parse = await parsePending(deps, opts);
  const understood = await understandPending(deps, opts);
  return { ...parse, understood };
}
