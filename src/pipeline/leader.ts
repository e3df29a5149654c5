// One inbox reader at a time. Two daemons on one database (a restart overlapping the old process, a second
// host as a stand-by) must not both read the inbox and parse: the stored rows would still be unique, but
// work would be done twice and the parse attempt counters would run out twice as fast.
// - PostgreSQL: a session-level pg_advisory_lock on a connection of its own, held for as long as we lead.
//   The server drops it when that session ends, so a killed leader is replaced at the next try of another.
//   A heartbeat on that connection notices a dead line; leadership is then given up (lost aborts).
// - Embedded PGlite: advisory locks lock nothing inside one PGlite, and the database belongs to the process
//   that opened it (db.kind 'pglite-owner'), which is the reader; a 'pglite-client' never reads the inbox.
// Stages with queue rows (media jobs, outbox) claim with SKIP LOCKED on every daemon and need no leader.
import type pg from 'pg';
import type { Db } from '../db/client.ts';
import type { Log } from '../adapters/logger.ts';
import { abortableDelay } from '../runtime/loop.ts';
import { errorMessage } from '../errors.ts';

/** The advisory lock key of the inbox reader (727001 serialises migrations). Per database, as all advisory locks. */
export const INBOX_LOCK_KEY = 727002;

export interface InboxLeader {
  /** Resolves true once this process reads the inbox (at once if it already does), false if `signal` aborts first. */
  acquire(signal: AbortSignal): Promise<boolean>;
  readonly held: boolean;
  /** Aborts when leadership is lost; a new signal after each acquire. */
  readonly lost: AbortSignal;
  release(): Promise<void>;
}

export interface LeaderOptions {
  /** How often a follower tries the lock. */
  retryMs?: number;
  /** How often the leader checks its lock connection; a check gets as long again to answer. */
  heartbeatMs?: number;
}

export function makeInboxLeader(db: Db, log: Log, opts: LeaderOptions = {}): InboxLeader {
  if (db.kind === 'pglite-owner') return alwaysLeader();
  if (db.kind === 'pglite-client') return neverLeader(log);
  return advisoryLeader(db.pool, log, opts.retryMs ?? 5000, opts.heartbeatMs ?? 10_000);
}

function alwaysLeader(): InboxLeader {
  const never = new AbortController().signal;
  return { acquire: async () => true, held: true, lost: never, release: async () => {} };
}

function neverLeader(log: Log): InboxLeader {
  let told = false;
  return {
    async acquire(signal) {
      if (!told) log.info('another process owns the embedded database and reads the inbox; this one does not');
      told = true;
      await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
      return false;
    },
    held: false,
    lost: new AbortController().signal,
    release: async () => {},
  };
}

function advisoryLeader(pool: pg.Pool, log: Log, retryMs: number, heartbeatMs: number): InboxLeader {
  let client: pg.PoolClient | null = null;
  let lostCtl = new AbortController();
  let heartbeat: NodeJS.Timeout | null = null;
  let waiting = false;

  function drop(why: string, err?: unknown) {
    const c = client;
    if (!c) return;
    client = null;
    if (heartbeat) clearInterval(heartbeat);
    heartbeat = null;
    log.warn({ err: err ? errorMessage(err) : undefined }, `inbox leadership lost: ${why}`);
    // A broken connection is destroyed, not returned to the pool.
    c.release(err instanceof Error ? err : new Error(why));
    lostCtl.abort();
  }

  async function tryOnce(): Promise<boolean> {
    const c = await pool.connect();
    // A pooled client that is checked out has no error listener of the pool's: without ours, a dropped
    // connection would be an uncaught 'error' event.
    const onError = (err: Error) => (client === c ? drop('lock connection failed', err) : undefined);
    c.on('error', onError);
    let got = false;
    try {
      const r = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [INBOX_LOCK_KEY]);
      got = r.rows[0]?.ok === true;
    } catch (err) {
      c.off('error', onError);
      c.release(err as Error);
      throw err;
    }
    if (!got) {
      c.off('error', onError);
      c.release();
      return false;
    }
    client = c;
    lostCtl = new AbortController();
    heartbeat = setInterval(() => {
      if (client !== c) return;
      c.query({ text: 'SELECT 1', query_timeout: heartbeatMs } as pg.QueryConfig).catch((err) => {
        if (client === c) drop('lock connection does not answer', err);
      });
    }, heartbeatMs);
    heartbeat.unref();
    return true;
  }

  return {
    async acquire(signal) {
      while (!signal.aborted) {
        if (client) return true;
        if (await tryOnce()) {
          log.info('inbox leader: this daemon reads the inbox');
          waiting = false;
          return true;
        }
        if (!waiting) log.info({ retryInMs: retryMs }, 'another daemon reads the inbox; waiting to take over');
        waiting = true;
        await abortableDelay(retryMs, signal);
      }
      return false;
    },
    get held() {
      return client !== null;
    },
    get lost() {
      return lostCtl.signal;
    },
    async release() {
      const c = client;
      if (!c) return;
      client = null;
      if (heartbeat) clearInterval(heartbeat);
      heartbeat = null;
      try {
        await c.query('SELECT pg_advisory_unlock($1)', [INBOX_LOCK_KEY]);
        c.release();
      } catch (err) {
        c.release(err as Error);
      }
    },
  };
}
