// A whole App on a temp data directory, on the backend asked for, with the example campaign.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_CAMPAIGN, loadConfig } from '../../src/config.ts';
import { makeApp, type App } from '../../src/app.ts';
import { silentLogger, makeLogger } from '../../src/adapters/logger.ts';
import { freshPglite, freshPostgres, type Backend } from './db.ts';

export interface TestApp extends App {
  dataDir: string;
  cleanup(): Promise<void>;
}

export function tempDir(prefix = 'intake-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function makeTestApp(backend: Backend = 'pglite', env: Record<string, string> = {}): Promise<TestApp> {
  const dataDir = tempDir();
  let drop: (() => Promise<void>) | undefined;
  const fullEnv: Record<string, string> = { INTAKE_DATA_DIR: dataDir, ...env };
  let pglite;
  if (backend === 'postgres') {
    const pgdb = await freshPostgres();
    fullEnv.DATABASE_URL = pgdb.url;
    drop = pgdb.drop;
  } else {
    pglite = await freshPglite();
  }
  const config = loadConfig(fullEnv);
  const log = process.env.TEST_LOG ? makeLogger(process.env.TEST_LOG, { pretty: true }) : silentLogger;
  const app = await makeApp(config, { log, pglite });
  return Object.assign(app, {
    dataDir,
    async cleanup() {
      await app.close();
      await drop?.();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  });
}

/** Builds an RFC 5322 message; `body` may be a Buffer for charset tests. */
export function eml(o: {
  from?: string;
  to?: string;
  subject?: string;
  messageId?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  contentType?: string;
}): Buffer {
  const head = [
    `From: ${o.from ?? 'Nodira <nodira@example.org>'}`,
    `To: ${o.to ?? 'campaign@notorture.example.org'}`,
    `Subject: ${o.subject ?? 'For Khurshed'}`,
    `Date: Tue, 08 Dec 2026 10:00:00 +0500`,
    `Message-ID: ${o.messageId ?? `<${Math.random().toString(36).slice(2)}@example.org>`}`,
    'MIME-Version: 1.0',
    `Content-Type: ${o.contentType ?? 'text/plain; charset=utf-8'}`,
    ...Object.entries(o.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
  ].join('\r\n');
  return Buffer.concat([Buffer.from(head + '\r\n\r\n'), Buffer.isBuffer(o.body) ? o.body : Buffer.from(o.body ?? 'Stay strong.\r\n')]);
}

/** A copy of the example campaign with other limits, for budget tests. */
export function writeCampaign(dir: string, limits: Record<string, number>): string {
  const base = JSON.parse(fs.readFileSync(DEFAULT_CAMPAIGN, 'utf8'));
  base.limits = limits;
  const p = path.join(dir, `campaign-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(p, JSON.stringify(base));
  return p;
}
