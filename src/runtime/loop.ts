// The one loop shape for every long-running stage: abortable waits, backoff with jitter after errors, and it
// never dies of an error: it logs with context and tries again.
import type { Log } from '../adapters/logger.ts';
import { errorMessage } from '../errors.ts';

export function abortableDelay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Capped exponential backoff with full jitter: attempt 1 -> up to base, doubling, never above cap. */
export function backoffMs(attempt: number, baseMs = 1000, capMs = 5 * 60_000, random = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export interface LoopOptions {
  name: string;
  log: Log;
  signal: AbortSignal;
  /** One unit of work; then `wait` decides how long until the next. */
  step: (signal: AbortSignal) => Promise<void>;
  wait: (signal: AbortSignal) => Promise<void>;
  backoff?: { baseMs?: number; capMs?: number };
}

export async function runLoop(o: LoopOptions): Promise<void> {
  let failures = 0;
  while (!o.signal.aborted) {
    try {
      await o.step(o.signal);
      failures = 0;
      if (o.signal.aborted) break;
      await o.wait(o.signal);
    } catch (err) {
      if (o.signal.aborted) break;
      failures++;
      // An error may ask for a longer pause (a refused login: retrying fast only risks an account lockout).
      const asked = Number((err as { retryAfterMs?: unknown }).retryAfterMs) || 0;
      const delay = Math.max(asked, backoffMs(failures, o.backoff?.baseMs, o.backoff?.capMs));
      o.log.error({ loop: o.name, err: errorMessage(err), failures, retryInMs: delay }, `${o.name} failed; retrying`);
      await abortableDelay(delay, o.signal);
    }
  }
}

/**
 * A wake-up that is never lost: a wake() while nobody waits is remembered, so the next wait() returns at once.
 * (New mail announced while a batch is being stored must not wait for the next poll.)
 */
export function makeWakeup() {
  let pending = false;
  let waiter: (() => void) | null = null;
  return {
    wake() {
      pending = true;
      waiter?.();
    },
    /** Clears a remembered wake-up; call before looking for work. */
    clear() {
      pending = false;
    },
    async wait(ms: number, signal: AbortSignal): Promise<void> {
      if (pending || signal.aborted) return;
      const ac = new AbortController();
      const stop = () => ac.abort();
      signal.addEventListener('abort', stop, { once: true });
      waiter = stop;
      try {
        await abortableDelay(ms, ac.signal);
      } finally {
        waiter = null;
        signal.removeEventListener('abort', stop);
      }
    },
  };
}
