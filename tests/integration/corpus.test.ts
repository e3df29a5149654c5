// Every file of ../shared/corpus (about 750 messages written by other mail projects) is stored, and parsed or
// quarantined with a reason; nothing crashes and the count of stored messages matches the files.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestApp, type TestApp } from '../helpers/app.ts';
import { importPaths } from '../../src/pipeline/import.ts';
import { asc, eq } from 'drizzle-orm';
import { items, messages } from '../../src/db/schema.ts';
import { loadFactsOf } from '../../src/db/items.ts';
import { understand } from '../../src/pipeline/understand.ts';
import { PROJECT_ROOT } from '../../src/config.ts';

const CORPUS = path.resolve(PROJECT_ROOT, '../shared/corpus');

function allFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? allFiles(p) : e.isFile() ? [p] : [];
  });
}

/** Messages a file holds, counted independently of the importer: mbox separators, else one. */
function expectedMessages(file: string): number {
  const text = fs.readFileSync(file, 'latin1');
  if (!/^From \S+ +.*\d{1,2}:\d{2}/.test(text)) return 1;
  const lines = text.split('\n');
  let n = 0;
  lines.forEach((l, i) => {
    if ((i === 0 || lines[i - 1].replace(/\r$/, '') === '') && /^From \S+ +.*\d{1,2}:\d{2}/.test(l)) n++;
  });
  return n;
}

describe('the shared corpus', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await makeTestApp('pglite');
  });
  afterAll(async () => app?.cleanup());

  it('imports every file without a crash; each message stored, then parsed or quarantined with a reason', async () => {
    const files = allFiles(CORPUS);
    expect(files.length).toBeGreaterThan(700);
    const expected = files.reduce((n, f) => n + expectedMessages(f), 0);
    const summary = await importPaths(app, [CORPUS]);
    expect(summary.failed).toBe(0);
    expect(summary.total).toBe(expected);
    expect(summary.stored + summary.quarantined).toBe(expected);

    const rows = await app.db.orm
      .select({ status: messages.status, reason: messages.quarantineReason, source: messages.source, raw: messages.rawPath })
      .from(messages);
    expect(rows).toHaveLength(expected);
    for (const r of rows) {
      expect(['parsed', 'quarantined']).toContain(r.status);
      if (r.status === 'quarantined') expect(r.reason, r.source).toBeTruthy();
      expect(fs.existsSync(app.rawStore.absolute(r.raw)), r.source).toBe(true);
    }
    // Every corpus file is the source of at least one message.
    const sources = new Set(rows.map((r) => r.source.replace(/#\d+$/, '')));
    for (const f of files) expect(sources.has(f), f).toBe(true);

    const again = await importPaths(app, [CORPUS]);
    expect(again.stored + again.quarantined).toBe(0);
    expect(again.duplicates).toBe(expected);
  }, 600_000);

  // Messages are understood as their parse is saved, from what was written; the understand stage reads them
  // back from the database. Both must decide alike on every message.
  it('holds, for every parsed message, the decisions its stored row gives when read back', async () => {
    const rows = await app.db.orm
      .select({ id: messages.id, classification: messages.classification, reason: messages.classificationReason, ackBlock: messages.ackBlock, at: messages.understoodAt })
      .from(messages)
      .where(eq(messages.status, 'parsed'))
      .orderBy(asc(messages.id));
    expect(rows.length).toBeGreaterThan(600);
    const facts = await loadFactsOf(app.db.orm, rows.map((r) => r.id));
    const stored = await app.db.orm.select().from(items).orderBy(asc(items.id));
    const itemsOf = new Map<number, typeof stored>();
    for (const i of stored) itemsOf.set(i.messageId, [...(itemsOf.get(i.messageId) ?? []), i]);
    let compared = 0;
    for (const r of rows) {
      expect(r.at, `message ${r.id} understood`).not.toBeNull();
      const d = understand(facts.get(r.id)!, app.config.campaign);
      const { classification, reason, ackBlock } = d.classification;
      expect({ classification: r.classification, reason: r.reason, ackBlock: r.ackBlock }, `message ${r.id}`).toEqual({ classification, reason, ackBlock });
      const round = (x: number | null) => (x === null ? null : Math.round(x * 1e4));
      const had = (itemsOf.get(r.id) ?? []).map((i) => ({ ...i, linkConfidence: round(i.linkConfidence) }));
      expect(had, `items of message ${r.id}`).toEqual(
        d.items.map((i) => expect.objectContaining({ ...i, linkConfidence: round(i.linkConfidence) })),
      );
      compared += had.length;
    }
    expect(compared).toBeGreaterThan(400);
  }, 120_000);
});
