// bin/build.js: the CLI runs from a bundle of src/, rebuilt whenever a source file changes, is added or removed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript, without type declarations
import { bundleOf, ensureBuilt } from '../../bin/build.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function tree(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'intake-bundle-'));
  dirs.push(root);
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  }
  return root;
}

let n = 0;
async function load(root: string): Promise<{ value: string }> {
  // a new URL each time: the module cache would return the first build
  return import(`${pathToFileURL(bundleOf(root)).href}?v=${++n}`);
}

function touchLater(file: string, text: string) {
  fs.writeFileSync(file, text);
  const later = new Date(Date.now() + 5_000);
  fs.utimesSync(file, later, later);
}

describe('the CLI bundle', () => {
  it('is built from src/cli.ts with its imports, and not rebuilt while the sources are unchanged', async () => {
    const root = tree({ 'src/cli.ts': "import { part } from './part.ts';\nexport const value: string = `cli+${part}`;\n", 'src/part.ts': "export const part = 'one';\n" });
    expect(await ensureBuilt(root)).toBe(true);
    expect((await load(root)).value).toBe('cli+one');
    const built = fs.statSync(bundleOf(root)).mtimeMs;
    expect(await ensureBuilt(root)).toBe(true);
    expect(fs.statSync(bundleOf(root)).mtimeMs).toBe(built);
    expect(fs.readdirSync(path.join(root, 'dist')).sort()).toEqual(['cli.js', 'cli.js.map', 'cli.stamp']);
    const map = JSON.parse(fs.readFileSync(`${bundleOf(root)}.map`, 'utf8'));
    expect(map.sources.sort()).toEqual(['../src/cli.ts', '../src/part.ts']);
  });

  it('is rebuilt when a source changes or a file is added or removed', async () => {
    const root = tree({ 'src/cli.ts': "import { part } from './part.ts';\nexport const value = part;\n", 'src/part.ts': "export const part = 'one';\n" });
    await ensureBuilt(root);
    touchLater(path.join(root, 'src/part.ts'), "export const part = 'two';\n");
    await ensureBuilt(root);
    expect((await load(root)).value).toBe('two');

    fs.writeFileSync(path.join(root, 'src/extra.ts'), "export const extra = 'x';\n");
    const before = fs.readFileSync(path.join(root, 'dist/cli.stamp'), 'utf8');
    await ensureBuilt(root);
    expect(fs.readFileSync(path.join(root, 'dist/cli.stamp'), 'utf8')).not.toBe(before);

    fs.rmSync(path.join(root, 'src/extra.ts'));
    await ensureBuilt(root);
    expect(fs.readFileSync(path.join(root, 'dist/cli.stamp'), 'utf8')).toBe(before);

    // an edit that keeps an older mtime than the newest file's (a copy with preserved times) still counts
    const part = path.join(root, 'src/part.ts');
    const old = fs.statSync(part).mtime;
    fs.writeFileSync(part, "export const part = 'three, and longer';\n");
    fs.utimesSync(part, old, old);
    await ensureBuilt(root);
    expect((await load(root)).value).toBe('three, and longer');
  });

  it('reports a source that does not compile, and keeps no half-built files', async () => {
    const root = tree({ 'src/cli.ts': 'export const value = ;\n' });
    await expect(ensureBuilt(root)).rejects.toThrow(/cli\.ts/);
    expect(fs.existsSync(bundleOf(root))).toBe(false);
    expect(fs.readdirSync(path.join(root, 'dist'))).toEqual([]);
  });
});
