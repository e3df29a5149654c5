// Database access for every command. One code path: drizzle over node-postgres.
// - DATABASE_URL set: a pg pool to that server.
// - unset: the embedded PGlite under <data>/db. PGlite admits one process, so the first process to open it
//   takes a lock file and serves it on a Unix socket (pglite-socket speaks the Postgres protocol, and its
//   multiplexer keeps one client's transaction whole); every other process (`intake messages` while the
//   daemon runs) connects to that socket with pg.
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import * as schema from './schema.ts';
import { MIGRATIONS_DIR } from '../config.ts';
import { IntakeError } from '../errors.ts';
import { acquireLock, type LockInfo } from '../adapters/lockfile.ts';
import { pinExtendedBatches } from './pglite-queue.ts';
import type { Log } from '../adapters/logger.ts';
import { importEsm } from '../runtime/loader.ts';

export type Orm = NodePgDatabase<typeof schema>;
export type DbKind = 'postgres' | 'pglite-owner' | 'pglite-client';

export interface Db {
  orm: Orm;
  pool: pg.Pool;
  kind: DbKind;
  close(): Promise<void>;
}

export interface OpenDbOptions {
  databaseUrl?: string;
  dataDir: string;
  log: Log;
  poolSize?: number;
  /** PostgreSQL only: see IDLE_IN_TRANSACTION_MS (tests make it short). */
  idleInTransactionMs?: number;
  /** Tests hand in a ready PGlite (restored from a template) instead of opening <data>/db. */
  pglite?: import('@electric-sql/pglite').PGlite;
}

// BIGINT (int8) as number: ids and sizes stay far below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));

/**
 * Large values (message bodies and headers, a digest of a day's items) compressed with lz4 where the server has
 * it, rather than pglz, its default: lz4 is several times quicker (a 2.4 MB digest's INSERT took 24 ms with
 * pglz, 3 ms with lz4). A session setting, so the schema and the migrations stay the same on every server; one
 * built without lz4 (PGlite) keeps pglz (the query sets nothing there). A plain query, not a DO block:
 * PL/pgSQL's first use in a session cost ~2.5 ms of each new connection.
 */
const PREFER_LZ4 = `SELECT set_config('default_toast_compression', 'lz4', false)
  FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)`;

/**
 * How long PostgreSQL lets a transaction sit idle (the client sending nothing) before it ends the session, and
 * with it the transaction and its locks (RELIABILITY D6). No transaction here waits on the network, the disk
 * or ffmpeg: they only run statements and the pure decisions between them, milliseconds apart. One that did
 * (a hung peer awaited inside it) would otherwise hold its row and advisory locks, and stop every other
 * process, for as long as the peer hangs.
 */
export const IDLE_IN_TRANSACTION_MS = 60_000;

/** PREFER_LZ4, and the idle-in-transaction limit, in one statement per new PostgreSQL connection. */
const postgresSession = (idleMs: number) =>
  `SELECT set_config('idle_in_transaction_session_timeout', '${Math.max(1, Math.round(idleMs))}ms', false),
  (${PREFER_LZ4})`;

function makePool(config: pg.PoolConfig, log: Log, session = PREFER_LZ4): pg.Pool {
  const pool = new pg.Pool({
    connectionTimeoutMillis: 15_000,
    // Awaited before the connection is first lent out. A failure only leaves the defaults.
    onConnect: (client) => client.query(session).then(
      () => {},
      () => {},
    ),
    ...config,
  });
  // An idle client losing its connection (server restart) must not crash the process.
  pool.on('error', (err) => log.warn({ err: err.message }, 'database connection lost'));
  pool.on('connect', (client) => {
    // Nor a checked-out one (a transaction, the migration lock): the pool takes its error listener off while a
    // client is lent out, and an 'error' event without a listener ends the process. The query in flight fails
    // by itself; the broken client is dropped when it is released.
    client.on('error', () => {});
  });
  return pool;
}

function wrap(pool: pg.Pool, kind: DbKind, onClose: () => Promise<void> = async () => {}): Db {
  let closed = false;
  return {
    orm: drizzle(pool, { schema }),
    pool,
    kind,
    async close() {
      if (closed) return;
      closed = true;
      await pool.end().catch(() => {});
      await onClose();
    },
  };
}

export async function openDb(opts: OpenDbOptions): Promise<Db> {
  if (opts.databaseUrl) {
    const session = postgresSession(opts.idleInTransactionMs ?? IDLE_IN_TRANSACTION_MS);
    return wrap(makePool({ connectionString: opts.databaseUrl, max: opts.poolSize ?? 8 }, opts.log, session), 'postgres');
  }
  if (opts.pglite) return servePglite(opts.pglite, fs.mkdtempSync(path.join(opts.dataDir, '.pg-')), opts, null);

  const dbDir = path.join(opts.dataDir, 'db');
  const runDir = path.join(opts.dataDir, 'run');
  fs.mkdirSync(runDir, { recursive: true, mode: 0o700 });
  const lock = acquireLock(path.join(opts.dataDir, 'db.lock'));
  if (lock.held) {
    return wrap(makePool(socketPoolConfig(lock.info.socketDir, opts.poolSize ?? 4), opts.log), 'pglite-client');
  }
  try {
    const { PGlite } = await importEsm<typeof import('@electric-sql/pglite')>('@electric-sql/pglite');
    const pglite = await PGlite.create({ dataDir: dbDir });
    return await servePglite(pglite, runDir, opts, lock);
  } catch (err) {
    lock.release();
    throw new IntakeError('DB', `cannot open the embedded database in ${dbDir}: ${(err as Error).message}`, { cause: err });
  }
}

function socketPoolConfig(socketDir: string, max: number): pg.PoolConfig {
  // pg connects to <host>/.s.PGSQL.<port> when host is a directory.
  return { host: socketDir, port: 5432, user: 'postgres', database: 'postgres', max };
}

async function servePglite(
  pglite: import('@electric-sql/pglite').PGlite,
  socketDir: string,
  opts: OpenDbOptions,
  lock: ReturnType<typeof acquireLock> | null,
): Promise<Db> {
  const { PGLiteSocketServer } = await importEsm<typeof import('@electric-sql/pglite-socket')>('@electric-sql/pglite-socket');
  const socketPath = path.join(socketDir, '.s.PGSQL.5432');
  fs.rmSync(socketPath, { force: true });
  const server = new PGLiteSocketServer({ db: pglite, path: socketPath, maxConnections: 32 });
  pinExtendedBatches((server as unknown as { queryQueue: unknown }).queryQueue);
  await server.start();
  fs.chmodSync(socketPath, 0o600);
  if (lock && !lock.held) lock.publish({ socketDir } satisfies Partial<LockInfo>);
  const pool = makePool(socketPoolConfig(socketDir, opts.poolSize ?? 4), opts.log);
  return wrap(pool, 'pglite-owner', async () => {
    await server.stop().catch(() => {});
    await pglite.close().catch(() => {});
    fs.rmSync(socketPath, { force: true });
    if (lock && !lock.held) lock.release();
    else if (!lock) fs.rmSync(socketDir, { recursive: true, force: true });
  });
}

/**
 * Applies the migrations of `folder` (drizzle-kit's, committed in migrations/) that the database lacks, all in
 * one transaction: one that fails halfway leaves the schema as it was. Then the database's record of applied
 * migrations must be this version's: a migration this version does not have (the database was migrated by a
 * newer campaign-intake), or one applied from other SQL than this version's file, is refused rather than run
 * against (drizzle's migrator itself looks only at the latest one applied, and does nothing then). On a shared
 * server an advisory lock keeps two starters from racing.
 */
export async function migrateDb(db: Db, folder = MIGRATIONS_DIR): Promise<void> {
  const client = await db.pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock(727001)');
    try {
      await migrate(drizzle(client, { schema }), { migrationsFolder: folder });
      const applied = await client.query<{ hash: string; created_at: string | number }>(
        'SELECT hash, created_at FROM drizzle.__drizzle_migrations ORDER BY created_at, id',
      );
      const problem = schemaMismatch(folder, applied.rows.map((r) => ({ hash: r.hash, when: Number(r.created_at) })));
      if (problem) throw new IntakeError('DB', problem);
    } finally {
      await client.query('SELECT pg_advisory_unlock(727001)');
    }
  } catch (err) {
    if (err instanceof IntakeError) throw err;
    // drizzle's error says which statement failed ("Failed query: ..."); the server's reason is its cause.
    const reason = (err as { cause?: { message?: string } }).cause?.message;
    throw new IntakeError('DB', `database migration failed: ${(err as Error).message}${reason ? `\n${reason}` : ''}`, { cause: err });
  } finally {
    client.release();
  }
}

/** Why the applied migrations are not this version's (see migrateDb), or null when they are. */
function schemaMismatch(folder: string, applied: Array<{ hash: string; when: number }>): string | null {
  const journal = JSON.parse(fs.readFileSync(path.join(folder, 'meta', '_journal.json'), 'utf8')) as { entries: Array<{ tag: string; when: number }> };
  const ours = new Map(readMigrationFiles({ migrationsFolder: folder }).map((m) => [m.folderMillis, m.hash]));
  const tagOf = new Map(journal.entries.map((e) => [e.when, e.tag]));
  for (const a of applied) {
    const hash = ours.get(a.when);
    if (hash === undefined)
      return (
        `the database was migrated by another version of campaign-intake: it holds a migration this version does not have ` +
        `(made ${new Date(a.when).toISOString()}); run the version that migrated it, or a newer one`
      );
    if (hash !== a.hash)
      return `the database's migration ${tagOf.get(a.when)} was applied from other SQL than this version's migrations/${tagOf.get(a.when)}.sql; run the version that migrated it`;
  }
  return null;
}
