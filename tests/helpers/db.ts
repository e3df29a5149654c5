// Databases for tests: PGlite restored from a migrated template (always), and the real PostgreSQL server
// when TEST_DATABASE_URL is set (.ci/run sets it): one fresh database per call, dropped afterwards.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { MIGRATIONS_DIR } from '../../src/config.ts';
import { migrateDb, openDb } from '../../src/db/client.ts';
import { silentLogger } from '../../src/adapters/logger.ts';

export type Backend = 'pglite' | 'postgres';

/** The backends a database suite runs on: PGlite always, PostgreSQL when TEST_DATABASE_URL is set. */
export const backends: Backend[] = process.env.TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];

function templateFile(): string {
  const h = createHash('sha256');
  for (const f of fs.readdirSync(MIGRATIONS_DIR).sort())
    if (f.endsWith('.sql')) h.update(fs.readFileSync(path.join(MIGRATIONS_DIR, f)));
  return path.join(os.tmpdir(), `intake-pglite-template-${h.digest('hex').slice(0, 12)}.tar.gz`);
}

export async function buildPgliteTemplate(): Promise<string> {
  const file = templateFile();
  if (fs.existsSync(file)) return file;
  const pglite = await PGlite.create();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'intake-tpl-'));
  const db = await openDb({ dataDir: dir, log: silentLogger, pglite });
  await migrateDb(db);
  const dump = await pglite.dumpDataDir('gzip');
  fs.writeFileSync(`${file}.${process.pid}.tmp`, Buffer.from(await dump.arrayBuffer()));
  fs.renameSync(`${file}.${process.pid}.tmp`, file);
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return file;
}

export async function freshPglite(): Promise<PGlite> {
  const file = await buildPgliteTemplate();
  const blob = new Blob([fs.readFileSync(file)]);
  return PGlite.create({ loadDataDir: blob });
}

/** A new empty database on the real server; returns its URL and a function that drops it. */
export async function freshPostgres(): Promise<{ url: string; drop(): Promise<void> }> {
  const base = process.env.TEST_DATABASE_URL;
  if (!base) throw new Error('TEST_DATABASE_URL is not set');
  const name = `intake_t_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(base);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const a = new pg.Client({ connectionString: base });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}
