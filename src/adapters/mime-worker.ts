// The parse worker: runs parseMessageFile (mailparser) off the main thread, for src/adapters/mime-pool.ts.
// One request per message. Requests wait here in the order they came, and at most PARSE_CONCURRENCY are parsed
// at once (mime-pool.ts counts on both: it knows which of its requests have started). The main thread sends
// more than that ahead, so that the worker has the next message at hand when the main thread is busy (saving
// a group takes tens of milliseconds of it). Errors go back as data: a budget exceeded keeps its reason,
// anything else its message.
import { parentPort } from 'node:worker_threads';
import { BudgetExceeded, PARSE_CONCURRENCY, parseMessageFile, type ParseBudgets, type RawSource } from './mime.ts';
import { compileCacheReady } from '../runtime/loader.ts';

let parses = 0;

export interface ParseRequest {
  id: number;
  rawFile: string | RawSource;
  attachmentsDir: string;
  attachmentsRel: string;
  budgets: ParseBudgets;
  stem: string;
}

const port = parentPort;
if (!port) throw new Error('mime-worker.ts runs as a worker thread only');
// Loaded now, before the first message comes: parseMessageFile then finds it in the module cache. Then the
// pool is told the worker is ready, and its timers for the messages sent meanwhile start (mime-pool.ts). A
// failed load is parseMessageFile's to report, message by message.
void import('mailparser')
  .catch(() => {})
  .then(() => port.postMessage({ ready: true }));
const waiting: ParseRequest[] = [];
let running = 0;

function start(req: ParseRequest): void {
  running++;
  parseMessageFile(req.rawFile, req.attachmentsDir, req.attachmentsRel, req.budgets, req.stem)
    .then(
      (parsed) => {
        port!.postMessage({ id: req.id, parsed });
        compileCacheReady(++parses);
      },
      (err: unknown) => {
        const e = err as NodeJS.ErrnoException;
        port!.postMessage({
          id: req.id,
          error: { budget: err instanceof BudgetExceeded ? err.reason : null, message: e?.message ?? String(err), code: e?.code ?? null },
        });
      },
    )
    .finally(() => {
      running--;
      const next = waiting.shift();
      if (next) start(next);
    });
}

port.on('message', (req: ParseRequest) => {
  if (running < PARSE_CONCURRENCY) start(req);
  else waiting.push(req);
});
