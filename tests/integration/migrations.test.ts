// Migrations (RELIABILITY D7): the pending ones apply in one transaction, so one that fails halfway leaves the
// schema as it was; and a database whose applied migrations are not this version's (migrated by a newer
// campaign-intake, or from other SQL) is refused, by `intake db migrate` and every command, naming the problem.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PGlite } from '@electric-sql/pglite';
import { MIGRATIONS_DIR } from '../../src/config.ts';
import { migrateDb, openDb, type Db } from '../../src/db/client.ts';
import { IntakeError } from '../../src/errors.ts';
import { silentLogger } from '../../src/adapters/logger.ts';
import { backends, freshPostgres } from '../helpers/db.ts';
import { tempDir } from '../helpers/app.ts';
import { runCli } from '../helpers/cli.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** An empty database (no table at all) on `backend`, and its URL when it is on the server. */
async function emptyDb(backend: 'pglite' | 'postgres'): Promise<{ db: Db; url?: string }> {
  const dataDir = tempDir('intake-migr-');
  cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  if (backend === 'pglite') {
    const db = await openDb({ dataDir, log: silentLogger, pglite: await PGlite.create() });
    cleanups.push(() => db.close());
    return { db };
  }
  const pg = await freshPostgres();
  cleanups.push(() => pg.drop());
  const db = await openDb({ databaseUrl: pg.url, dataDir, log: silentLogger });
  cleanups.push(() => db.close());
  return { db, url: pg.url };
}

/** This version's migrations, copied, with `edit` applied to the SQL of the last one. */
function editedMigrations(edit: (sql: string) => string): string {
  const dir = tempDir('intake-migrations-');
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.cpSync(MIGRATIONS_DIR, dir, { recursive: true });
  const last = fs.readdirSync(dir).filter((f) => f.endsWith('.sql')).sort().pop()!;
  fs.writeFileSync(path.join(dir, last), edit(fs.readFileSync(path.join(dir, last), 'utf8')));
  return dir;
}

const tables = async (db: Db) =>
  (await db.pool.query(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'`)).rows[0].n as number;
const appliedCount = async (db: Db) => (await db.pool.query('SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations')).rows[0].n as number;

describe.each(backends)('migrations on %s', (backend) => {
  it('a migration that fails halfway leaves the schema as it was; the good ones then apply', async () => {
    const { db } = await emptyDb(backend);
    const broken = editedMigrations((sql) => `${sql}\n--> statement-breakpoint\nALTER TABLE "no_such_table" ADD COLUMN "x" integer;`);
    const err = await migrateDb(db, broken).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntakeError);
    expect((err as IntakeError).code).toBe('DB');
    expect((err as Error).message).toMatch(/^database migration failed: [\s\S]*no_such_table[\s\S]*\n.*"no_such_table" does not exist/);
    // Every pending migration was in the one transaction: not even the earlier ones stayed.
    expect(await tables(db)).toBe(0);
    expect(await appliedCount(db)).toBe(0);

    await migrateDb(db);
    expect(await tables(db)).toBeGreaterThan(5);
    expect(await appliedCount(db)).toBe(fs.readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql')).length);
  });

  it('refuses a database migrated by a newer version, and one migrated from other SQL', async () => {
    const { db } = await emptyDb(backend);
    await migrateDb(db);
    await migrateDb(db); // again: nothing to do, nothing refused

    const newest = (await db.pool.query('SELECT max(created_at) AS m FROM drizzle.__drizzle_migrations')).rows[0].m;
    await db.pool.query(`INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES ('f00d', $1)`, [Number(newest) + 1000]);
    await expect(migrateDb(db)).rejects.toThrow(/migrated by another version of campaign-intake: it holds a migration this version does not have/);

    await db.pool.query(`DELETE FROM drizzle.__drizzle_migrations WHERE hash = 'f00d'`);
    await migrateDb(db);
    await db.pool.query(`UPDATE drizzle.__drizzle_migrations SET hash = 'beef' WHERE created_at = (SELECT min(created_at) FROM drizzle.__drizzle_migrations)`);
    await expect(migrateDb(db)).rejects.toThrow(/migration 0000_init was applied from other SQL than this version's migrations\/0000_init\.sql/);
  });
});

describe('intake on a database migrated by a newer version', () => {
  it('db migrate and messages exit 1 with the reason', async () => {
    const dataDir = tempDir('intake-migr-cli-');
    cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    const env = { INTAKE_DATA_DIR: dataDir, DATABASE_URL: undefined, IMAP_URL: undefined, LOG_LEVEL: 'warn' };
    expect((await runCli(['db', 'migrate'], env)).code).toBe(0);
    // A newer version's migration, recorded as drizzle records it (the embedded database, opened in-process).
    const pglite = await PGlite.create({ dataDir: path.join(dataDir, 'db') });
    await pglite.query(`INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES ('f00d', 4102444800000)`);
    await pglite.close();
    for (const cmd of [['db', 'migrate'], ['messages']]) {
      const r = await runCli(cmd, env);
      expect(r.code, cmd.join(' ')).toBe(1);
      expect(r.stderr, cmd.join(' ')).toMatch(/migrated by another version of campaign-intake/);
    }
  });
});
