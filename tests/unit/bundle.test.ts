// bin/build.js: the CLI runs from a bundle of src/, rebuilt whenever a source file changes, is added or removed.
// bin/load.js: the bundle runs from a V8 code cache made from that very bundle, imports through the loader,
// and its stack traces name the sources.
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript, without type declarations
import { bundleOf, ensureBuilt } from '../../bin/build.js';
// @ts-expect-error: plain JavaScript, without type declarations
import { runBundle } from '../../bin/load.js';

const LOADER = path.join(import.meta.dirname, '../../bin/load.js');
const LOADER_HOOKS = fs.readFileSync(path.join(import.meta.dirname, '../../src/runtime/loader.ts'), 'utf8');

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

type Loaded = { exports: Record<string, any>; cache: 'none' | 'accepted' | 'rejected' };
const run = (root: string): Loaded => runBundle(bundleOf(root));
async function load(root: string): Promise<{ value: string }> {
  return run(root).exports as { value: string };
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
    expect(fs.readdirSync(path.join(root, 'dist')).sort()).toEqual(['cli.cjs', 'cli.cjs.map', 'cli.stamp']);
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

  it('runs from a code cache that its first run writes when told, and never from one of another build', async () => {
    const cli = (v: string) =>
      "import { compileCacheReady, importEsm } from './runtime/loader.ts';\n" +
      `export const value = '${v}';\n` +
      'export const ready = (n = 200) => compileCacheReady(n);\n' +
      "export const platform = async () => (await importEsm<typeof import('node:os')>('node:os')).platform();\n";
    const root = tree({ 'src/cli.ts': cli('v1'), 'src/runtime/loader.ts': LOADER_HOOKS });
    await ensureBuilt(root);
    const cacheFile = `${bundleOf(root)}.cache`;
    // Each run in a process of its own, as the CLI's are (V8 would otherwise find the script in its own memory).
    const runAlone = (opts: { ready?: boolean; little?: boolean } = {}) =>
      JSON.parse(
        execFileSync(process.execPath, ['--input-type=module', '-e', `
          import { runBundle } from ${JSON.stringify(LOADER)};
          const { exports, cache } = runBundle(${JSON.stringify(bundleOf(root))});
          const platform = await exports.platform();
          ${opts.ready ? 'exports.ready();' : ''}${opts.little ? 'exports.ready(199);' : ''}
          console.log(JSON.stringify({ cache, value: exports.value, platform }));`], { encoding: 'utf8' }),
      ) as { cache: string; value: string; platform: string };

    expect(runAlone()).toEqual({ cache: 'none', value: 'v1', platform: os.platform() });
    expect(fs.existsSync(cacheFile)).toBe(false); // written only once the bundle says it has run enough
    runAlone({ little: true }); // 199 messages: not enough
    expect(fs.existsSync(cacheFile)).toBe(false);
    expect(runAlone({ ready: true }).cache).toBe('none');
    expect(fs.existsSync(cacheFile)).toBe(true);
    // from the cache, import() included: Node 20's own import() fails in cached code, the loader's does not
    expect(runAlone({ ready: true })).toEqual({ cache: 'accepted', value: 'v1', platform: os.platform() });
    const written = fs.readFileSync(cacheFile);

    // another build of the same length: V8 would take the old cache (it compares lengths), the loader does not
    touchLater(path.join(root, 'src/cli.ts'), cli('v2'));
    await ensureBuilt(root);
    fs.writeFileSync(cacheFile, written);
    expect(runAlone({ ready: true })).toEqual({ cache: 'none', value: 'v2', platform: os.platform() });
    const good = fs.readFileSync(cacheFile);
    expect(good.equals(written)).toBe(false);
    expect(runAlone().cache).toBe('accepted');

    // a cache of this build that V8 refuses (damaged): the bundle runs anyway, and the next ready() replaces it
    fs.writeFileSync(cacheFile, Buffer.concat([good.subarray(0, 32), Buffer.alloc(good.length - 32, 7)]));
    expect(runAlone({ ready: true })).toEqual({ cache: 'rejected', value: 'v2', platform: os.platform() });
    expect(runAlone().cache).toBe('accepted');
  });

  it("names the sources' files and lines in a stack trace of the bundle", async () => {
    const root = tree({
      'src/cli.ts': "import { fail } from './deep/part.ts';\nexport const boom = () => fail('no');\n",
      'src/deep/part.ts': '// a comment line\nexport function fail(why: string): never {\n  throw new Error(`failed: ${why}`);\n}\n',
    });
    await ensureBuilt(root);
    const { exports } = run(root);
    let stack = '';
    try {
      exports.boom();
    } catch (err) {
      stack = (err as Error).stack ?? '';
    }
    const lines = stack.split('\n');
    expect(lines[0]).toBe('Error: failed: no');
    expect(lines[1]).toContain(`at fail (${path.join(root, 'src/deep/part.ts')}:3:`);
    expect(lines[2]).toContain(`${path.join(root, 'src/cli.ts')}:2:`);
  });

  it("of the project loads without Node's fetch implementation (pg's Cloudflare check skipped: ~13 MB, ~40 ms)", async () => {
    const root = path.join(import.meta.dirname, '../..');
    expect(await ensureBuilt(root)).toBe(true);
    const loaded = execFileSync(process.execPath, ['--input-type=module', '-e', `
      import { runBundle } from ${JSON.stringify(LOADER)};
      runBundle(${JSON.stringify(bundleOf(root))});
      console.log(JSON.stringify(process.moduleLoadList.filter((m) => m.includes('undici'))));`], { encoding: 'utf8' });
    expect(JSON.parse(loaded)).toEqual([]);
  });
});
