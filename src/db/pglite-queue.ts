// pglite-socket (0.2.17) serves many connections from one PGlite session through one queue of protocol messages,
// and keeps a connection's turn only while a transaction is open. So when one connection is inside an
// extended-query batch (Parse, Bind, Describe, Execute ... Sync: node-postgres sends one for every parameterised
// query) and another's BEGIN is served between two of its messages, the transaction takes the session, and the
// batch's Bind and Execute later run against the transaction's last unnamed statement: the query gets another
// query's rows, or none (measured: tests/integration/pglite-socket.test.ts; upstream electric-sql/pglite#1046).
// A message that throws inside PGlite also leaves the upstream queue marked busy forever.
// This replaces the queue's scheduler on our server instance: a connection keeps its turn from the first message
// of a batch to its Sync (and through an open transaction, as before), and a failed message fails only itself.

interface Queued {
  handlerId: number;
  message: Uint8Array;
  resolve(n: number): void;
  reject(err: unknown): void;
  onData(data: Uint8Array): void;
}

interface QueryQueue {
  queue: Queued[];
  processing: boolean;
  lastHandlerId: number | null;
  db: {
    isInTransaction(): boolean;
    runExclusive<T>(fn: () => Promise<T>): Promise<T>;
    execProtocolRawStream(message: Uint8Array, opts: { onRawData(data: Uint8Array): void }): Promise<unknown>;
  };
  processQueue(): Promise<void>;
  clearQueueForHandler(handlerId: number): void;
}

// Frontend messages after which the session holds per-connection protocol state until a Sync:
// Parse, Bind, Describe, Execute, Close, Flush.
const IN_BATCH = new Set(['P', 'B', 'D', 'E', 'C', 'H'].map((c) => c.charCodeAt(0)));

/** Whether the connection that sent `message` keeps its turn after it. Pure, for tests. */
export function keepsTurn(message: Uint8Array): boolean {
  return message.length > 0 && IN_BATCH.has(message[0]);
}

export function pinExtendedBatches(queue: unknown): void {
  const q = queue as QueryQueue;
  if (!q || !Array.isArray(q.queue) || typeof q.processQueue !== 'function' || !q.db) {
    throw new Error('pglite-socket changed: its query queue is not the one src/db/pglite-queue.ts knows; check that module');
  }
  let pinned: number | null = null;
  const originalClear = q.clearQueueForHandler.bind(q);

  q.processQueue = async function processQueue(this: QueryQueue) {
    if (this.processing || this.queue.length === 0) return;
    this.processing = true;
    try {
      while (this.queue.length > 0) {
        const owner = pinned ?? (this.db.isInTransaction() ? this.lastHandlerId : null);
        const at = owner === null ? 0 : this.queue.findIndex((r) => r.handlerId === owner);
        if (at === -1) break; // the connection whose turn it is will enqueue its next message and call us again
        const item = this.queue.splice(at, 1)[0];
        let bytes = 0;
        try {
          await this.db.runExclusive(() =>
            this.db.execProtocolRawStream(item.message, {
              onRawData: (d) => {
                bytes += d.length;
                item.onData(d);
              },
            }),
          );
        } catch (err) {
          pinned = null;
          item.reject(err);
          continue;
        }
        pinned = keepsTurn(item.message) ? item.handlerId : null;
        this.lastHandlerId = item.handlerId;
        item.resolve(bytes);
      }
    } finally {
      this.processing = false;
    }
  };

  // A connection that goes away mid-batch gives up its turn.
  q.clearQueueForHandler = function clearQueueForHandler(this: QueryQueue, handlerId: number) {
    originalClear(handlerId);
    if (pinned === handlerId) {
      pinned = null;
      void this.processQueue();
    }
  };
}
