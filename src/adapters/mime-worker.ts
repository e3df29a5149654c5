// The parse worker: runs parseMessageFile (mailparser) off the main thread, for src/adapters/mime-pool.ts.
// One request at a time per message; several in flight at once. Errors go back as data: a budget exceeded
// keeps its reason, anything else its message.
import { parentPort } from 'node:worker_threads';
import { BudgetExceeded, parseMessageFile, type ParseBudgets, type RawSource } from './mime.ts';
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
port.on('message', (req: ParseRequest) => {
  parseMessageFile(req.rawFile, req.attachmentsDir, req.attachmentsRel, req.budgets, req.stem).then(
    (parsed) => {
      port.postMessage({ id: req.id, parsed });
      compileCacheReady(++parses);
    },
    (err: unknown) => {
      const e = err as NodeJS.ErrnoException;
      port.postMessage({
        id: req.id,
        error: { budget: err instanceof BudgetExceeded ? err.reason : null, message: e?.message ?? String(err), code: e?.code ?? null },
      });
    },
  );
});
