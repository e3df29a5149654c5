// The parse stage tells, group by group as each is committed, how many messages it understood with their parse:
// run --once's stages after it (media jobs, acknowledgements, sending) follow while it goes on, not only once
// the inbox is drained and its pass has ended.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/db.ts';
import { eml, makeTestApp, tempDir, type TestApp } from '../helpers/app.ts';
import { ingestMessage } from '../../src/pipeline/ingest.ts';
import { parsePending } from '../../src/pipeline/parse.ts';

describe.each(backends)('the parse stage on %s', (backend) => {
  let app: TestApp;
  let dir: string;
  beforeAll(async () => {
    app = await makeTestApp(backend);
    dir = tempDir('intake-parse-stage-');
  });
  afterAll(async () => {
    await app?.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reports what it understood as each group is saved, adding up to the pass', async () => {
    for (let i = 0; i < 200; i++) {
      const f = path.join(dir, `${i}.eml`);
      fs.writeFileSync(f, eml({ subject: `for story 8, ${i}`, body: `Khurshed, we are with you. ${i}\r\n` }));
      await ingestMessage(app.deps, { source: f, origin: f }, { file: f, start: 0, end: fs.statSync(f).size });
    }
    const reports: number[] = [];
    const c = await parsePending(app.deps, { onUnderstood: (n) => reports.push(n) });
    expect(c).toMatchObject({ parsed: 200, understood: 200, quarantined: 0 });
    // several groups, each told on its own, together all that was understood
    expect(reports.length).toBeGreaterThanOrEqual(3);
    expect(Math.max(...reports)).toBeLessThan(200);
    expect(reports.reduce((a, b) => a + b, 0)).toBe(200);
  }, 60_000);
});
