// SIGKILL in the middle of a batch, then run again: nothing lost, nothing twice, no file without its row.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eml, tempDir } from '../helpers/app.ts';
import { exited, runCli, startCli, waitForOutput } from '../helpers/cli.ts';

function makeBatch(dir: string, n: number): string {
  const src = path.join(dir, 'batch');
  fs.mkdirSync(src, { recursive: true });
  for (let i = 0; i < n; i++) fs.writeFileSync(path.join(src, `m${String(i).padStart(4, '0')}.eml`), eml({ subject: `message ${i}`, body: `body ${i}\r\n` }));
  return src;
}

function rawFiles(dataDir: string): string[] {
  const root = path.join(dataDir, 'raw');
  return fs
    .readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) => fs.readdirSync(path.join(root, d.name)).map((n) => path.join('raw', d.name, n)));
}

async function checkInvariants(dataDir: string, n: number) {
  const r = await runCli(['messages', '--json'], { INTAKE_DATA_DIR: dataDir });
  expect(r.code, r.stderr).toBe(0);
  const rows: any[] = JSON.parse(r.stdout);
  const sources = rows.map((m) => m.source);
  expect(new Set(sources).size).toBe(sources.length); // nothing twice
  expect(rows).toHaveLength(n); // nothing lost
  expect(new Set(rows.map((m) => m.subject))).toEqual(new Set(Array.from({ length: n }, (_, i) => `message ${i}`)));
  expect(rows.every((m) => m.status === 'parsed')).toBe(true);
  const files = rawFiles(dataDir);
  expect(files.filter((f) => f.endsWith('.eml'))).toHaveLength(n); // no file without its row
  expect(files.filter((f) => f.endsWith('.json'))).toHaveLength(n);
  expect(fs.readdirSync(path.join(dataDir, 'raw/tmp'))).toEqual([]);
}

describe('crash in the middle of a batch', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  it.each([
    ['after the raw file is durable, before its row commits', 'ingest.after-raw=crash:40'],
    ['after the row commits, before the next step', 'ingest.after-commit=crash:40'],
    ['while parsing, before the parse commits', 'parse.before-commit=crash:25'],
  ])('killed %s: the rerun completes the batch exactly once', async (_what, failpoints) => {
    const dataDir = tempDir('intake-crash-');
    dirs.push(dataDir);
    const src = makeBatch(dataDir, 80);
    const killed = await runCli(['import', src], { INTAKE_DATA_DIR: dataDir, INTAKE_FAILPOINTS: failpoints });
    expect(killed.signal).toBe('SIGKILL');
    const again = await runCli(['import', src], { INTAKE_DATA_DIR: dataDir });
    expect(again.code, again.stderr).toBe(0);
    await checkInvariants(dataDir, 80);
  }, 240_000);

  it('a SIGKILL at a random moment of a running import loses nothing', async () => {
    const dataDir = tempDir('intake-crash-');
    dirs.push(dataDir);
    const src = makeBatch(dataDir, 300);
    const child = startCli(['import', src], { INTAKE_DATA_DIR: dataDir, LOG_LEVEL: 'debug' });
    await waitForOutput(child, /message stored/, 90_000);
    await new Promise((r) => setTimeout(r, 200 + Math.random() * 1500));
    child.kill('SIGKILL');
    await exited(child);
    const again = await runCli(['import', src], { INTAKE_DATA_DIR: dataDir });
    expect(again.code, again.stderr).toBe(0);
    await checkInvariants(dataDir, 300);
  }, 240_000);
});
