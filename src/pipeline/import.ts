// `intake import`: files on disk go through the same ingest and parse as mail from the inbox.
import cliProgress from 'cli-progress';
import { inArray, and, eq } from 'drizzle-orm';
import type { App } from '../app.ts';
import { findMessages } from '../adapters/mail-files.ts';
import { ingestMessage, recoverRaw } from './ingest.ts';
import { processPending } from './process.ts';
import { messages } from '../db/schema.ts';
import { errorMessage } from '../errors.ts';

export interface ImportSummary {
  total: number;
  stored: number;
  duplicates: number;
  quarantined: number;
  failed: number;
  ids: number[];
}

export async function importPaths(app: App, paths: string[], opts: { progress?: boolean } = {}): Promise<ImportSummary> {
  // A previous import killed mid-way may have left durable raw files without rows: they count as stored.
  await recoverRaw(app.deps);
  const entries = await findMessages(paths);
  const s: ImportSummary = { total: entries.length, stored: 0, duplicates: 0, quarantined: 0, failed: 0, ids: [] };
  const bar = opts.progress
    ? new cliProgress.SingleBar(
        { format: 'importing [{bar}] {value}/{total} messages', stream: process.stderr, hideCursor: true },
        cliProgress.Presets.shades_classic,
      )
    : null;
  bar?.start(entries.length, 0);
  for (const e of entries) {
    try {
      const r = await ingestMessage(app.deps, { source: e.source, origin: e.origin }, e.range);
      if (r.status === 'duplicate') s.duplicates++;
      else {
        s.stored++;
        s.ids.push(r.id);
      }
    } catch (err) {
      s.failed++;
      app.log.error({ source: e.source, err: errorMessage(err) }, 'could not import');
    }
    bar?.increment();
  }
  bar?.stop();
  await processPending(app.deps);
  for (let i = 0; i < s.ids.length; i += 1000) {
    const chunk = s.ids.slice(i, i + 1000);
    const q = await app.db.orm
      .select({ id: messages.id })
      .from(messages)
      .where(and(inArray(messages.id, chunk), eq(messages.status, 'quarantined')));
    s.quarantined += q.length;
  }
  s.stored -= s.quarantined;
  return s;
}
