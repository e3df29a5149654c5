// Parsing off the main thread: parseMessageFile runs in a worker thread (src/adapters/mime-worker.ts), so the
// main thread goes on fetching, storing and committing while mailparser decodes. On two cores this is where
// the second core goes. It also fences the parser in: a message that exhausts the worker's heap, or keeps it
// busy past the parse budget, ends that worker (a new one starts for the next message) and fails only the
// messages it held, each as one parse attempt; the daemon goes on.
//
// The worker is started on first use, is held only while it has work (an idle worker does not keep the process
// alive), and is stopped by stopParseWorker().
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { BudgetExceeded, PARSE_CONCURRENCY, tookTooLong, type ParseBudgets, type ParsedMessage, type RawSource } from './mime.ts';
import type { ParseRequest } from './mime-worker.ts';

/** The worker's heap cap: past it the worker ends (ERR_WORKER_OUT_OF_MEMORY), not the process. */
const WORKER_HEAP_MB = 512;
/** How long past its own budget a parse may go before the worker is taken to be stuck and ended. */
const STUCK_GRACE_MS = 5_000;

/** A worker that has not said it is ready by then is ended (its messages fail, to be retried). */
const BOOT_MS = 60_000;

interface Pending {
  resolve: (m: ParsedMessage) => void;
  reject: (err: Error) => void;
  parseMs: number;
  /**
   * Armed once the worker is ready and has begun this message: a worker still starting is not one whose
   * event loop stopped, and a message waiting its turn in the worker is not one taking long.
   */
  timer: NodeJS.Timeout | null;
}

/** What the worker says: that it can parse (`ready`, once), or a parse's outcome. */
interface Reply {
  id: number;
  ready?: true;
  parsed?: ParsedMessage;
  error?: { budget: string | null; message: string; code: string | null };
}

/**
 * The worker's code: beside this module in the bundle (dist/mime-worker.js), or, when this module runs from
 * src/ (tests, tsx), the .ts source behind tsx's loader, registered inside the worker (a loader given to the
 * process does not reach its workers).
 */
function startWorker(options: WorkerOptions): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./mime-worker.js', import.meta.url), options);
  // tsx's ES module API, found through its package.json (require.resolve would give the CommonJS build)
  const pkgFile = createRequire(import.meta.url).resolve('tsx/package.json');
  const api = JSON.parse(readFileSync(pkgFile, 'utf8')).exports['./esm/api'].import.default as string;
  const tsx = pathToFileURL(path.join(path.dirname(pkgFile), api)).href;
  const entry = new URL('./mime-worker.ts', import.meta.url).href;
  const boot = `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(boot, { ...options, eval: true });
}

export interface ParsePool {
  /** parseMessageFile, in the worker. Budget errors come back as BudgetExceeded. */
  parse(rawFile: string | RawSource, attachmentsDir: string, attachmentsRel: string, budgets: ParseBudgets, stem?: string): Promise<ParsedMessage>;
  /** Ends the worker (what it still held fails); the next parse starts a new one. */
  stop(): Promise<void>;
  /** Starts the worker now (it loads the parser while the inbox connects); idle, it keeps no process alive. */
  warm(): void;
}

export interface ParsePoolOptions {
  /** Starts the worker; the parse worker of this module by default (tests give their own). */
  start?: (options: WorkerOptions) => Worker;
  heapMb?: number;
  stuckGraceMs?: number;
  /** How long a starting worker may take to say it is ready (BOOT_MS). */
  bootMs?: number;
  /** How many messages the worker begins at once, the rest waiting in the order sent (PARSE_CONCURRENCY). */
  concurrency?: number;
}

export function makeParsePool(opts: ParsePoolOptions = {}): ParsePool {
  const heapMb = opts.heapMb ?? WORKER_HEAP_MB;
  const graceMs = opts.stuckGraceMs ?? STUCK_GRACE_MS;
  const bootMs = opts.bootMs ?? BOOT_MS;
  const concurrency = opts.concurrency ?? PARSE_CONCURRENCY;
  let worker: Worker | null = null;
  let ready = false;
  let boot: NodeJS.Timeout | null = null;
  const pending = new Map<number, Pending>();
  let nextId = 1;

  const failAll = (w: Worker, err: Error) => {
    if (worker !== w) return;
    worker = null;
    if (boot) clearTimeout(boot);
    for (const [id, p] of pending) {
      if (p.timer) clearTimeout(p.timer);
      pending.delete(id);
      p.reject(err);
    }
  };

  // The worker enforces the parse budget itself; this is for a worker whose event loop no longer turns.
  // The worker begins messages in the order sent, `concurrency` at a time, so those it has begun are the
  // first `concurrency` of `pending` (a Map keeps the order of insertion): each is armed as it gets there.
  const armStarted = (w: Worker) => {
    if (!ready) return;
    let n = 0;
    for (const p of pending.values()) {
      if (n++ >= concurrency) break;
      if (!p.timer) arm(w, p);
    }
  };
  const arm = (w: Worker, p: Pending) => {
    p.timer = setTimeout(() => {
      // Alone in the worker, this message is the one that stuck it; with others, any of them may be.
      failAll(w, pending.size === 1 ? tookTooLong(p.parseMs) : new Error('the parser stopped answering'));
      void w.terminate();
    }, p.parseMs + graceMs);
  };

  const start = (): Worker => {
    const w = (opts.start ?? startWorker)({ resourceLimits: { maxOldGenerationSizeMb: heapMb } });
    w.unref();
    // Starting takes a while (loading the parser; under tsx, compiling it) and longer on a busy machine: the
    // parse timers count from when the worker is ready, so a slow start is never blamed on a message.
    ready = false;
    boot = setTimeout(() => {
      failAll(w, new Error(`the parser did not start within ${bootMs / 1000} s`));
      void w.terminate();
    }, bootMs);
    boot.unref();
    w.on('message', (r: Reply) => {
      if (r.ready) {
        if (worker !== w) return;
        ready = true;
        if (boot) clearTimeout(boot);
        armStarted(w);
        return;
      }
      const p = pending.get(r.id);
      if (!p) return;
      pending.delete(r.id);
      if (p.timer) clearTimeout(p.timer);
      if (!pending.size) w.unref();
      else armStarted(w);
      if (r.parsed) return p.resolve(r.parsed);
      const e = r.error!;
      if (e.budget !== null) return p.reject(new BudgetExceeded(e.budget));
      p.reject(Object.assign(new Error(e.message), e.code ? { code: e.code } : {}));
    });
    w.on('error', (err) => {
      const oom = (err as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY';
      failAll(w, new Error(oom ? `the parser ran out of memory (over ${heapMb} MB)` : `the parser stopped: ${err.message}`));
    });
    w.on('exit', (code) => failAll(w, new Error(`the parser stopped (exit ${code})`)));
    return w;
  };

  return {
    parse(rawFile, attachmentsDir, attachmentsRel, budgets, stem = '') {
      const w = (worker ??= start());
      const id = nextId++;
      return new Promise<ParsedMessage>((resolve, reject) => {
        const p: Pending = { resolve, reject, parseMs: budgets.parseMs, timer: null };
        pending.set(id, p);
        armStarted(w);
        w.ref();
        w.postMessage({ id, rawFile, attachmentsDir, attachmentsRel, budgets, stem } satisfies ParseRequest);
      });
    },
    warm() {
      worker ??= start();
    },
    async stop() {
      const w = worker;
      if (!w) return;
      failAll(w, new Error('the parser was stopped'));
      await w.terminate();
    },
  };
}

/** The process's parse worker (one: on two cores, the main thread has the other). */
const shared = makeParsePool();
export const parseInWorker: ParsePool['parse'] = (...args) => shared.parse(...args);
export const stopParseWorker = () => shared.stop();
export const warmParseWorker = () => shared.warm();
