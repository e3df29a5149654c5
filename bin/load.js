// Runs a bundle of dist/ (the CLI, or the parse worker's) from a V8 code cache kept beside it, `<bundle>.cache`.
//
// Why: V8 compiles a function to bytecode when it is first called, and the bundle holds the npm packages too
// (4 MB). Without a cache every process compiles the same top level again (~100 ms before a command can start)
// and, while it runs, every function it calls (a `run --once` of 2000 messages: ~0.25 s in the main thread,
// ~0.1 s in the parse worker). The cache holds the bytecode of what a process ran, so the next one starts from
// it. Node 20 has no compile cache of its own for modules (module.enableCompileCache came in Node 22), so the
// bundle is CommonJS run through vm.Script, which takes V8's cached data.
//
// The cache is written once per build: by a process that had none V8 accepted, when the bundle says it has run
// enough to be worth keeping (200 messages taken through by a `run --once`, an `import` or the daemon, 200
// parsed by the worker: src/runtime/loader.ts). It starts with the SHA-256 of the bundle it was made
// from, so a rebuilt bundle never runs bytecode of another (V8 itself compares only the source's length). A
// cache is an optimisation: one that cannot be read, is of another bundle, or is refused by V8 (another Node,
// other V8 flags) is ignored, and one that cannot be written (a read-only install) is not.
//
// Two things a script run this way needs from here:
// - import(): in Node 20 an import() compiled from cached data fails ("A dynamic import callback was not
//   specified"), so the bundle imports through a function of this module (importEsm in src/runtime/loader.ts).
// - Stack traces that name src/ files: Node's source-map support covers modules it loads itself, not a
//   vm.Script, so frames in the bundle are mapped here, through its .map, when a stack is first read.
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { createHash, randomUUID } from 'node:crypto';
import { createRequire, SourceMap } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const IMPORT = Symbol.for('campaign-intake.import');
const CACHE_READY = Symbol.for('campaign-intake.compile-cache-ready');
const HASH_BYTES = 32;

/** The file's cache, when it was made from this very source; else undefined. */
function readCache(cacheFile, sourceHash) {
  let data;
  try {
    data = fs.readFileSync(cacheFile);
  } catch {
    return undefined;
  }
  if (data.length <= HASH_BYTES || !data.subarray(0, HASH_BYTES).equals(sourceHash)) return undefined;
  return data.subarray(HASH_BYTES);
}

/** Durably, and whole or not at all: a temporary file, fsynced, renamed over the old one. */
function writeCache(cacheFile, sourceHash, data) {
  const dir = path.dirname(cacheFile);
  const base = path.basename(cacheFile);
  // What a process killed while writing left behind (this runs once per build, so the look is cheap).
  try {
    for (const name of fs.readdirSync(dir)) if (name.startsWith(`${base}.`) && name.endsWith('.tmp')) fs.rmSync(path.join(dir, name), { force: true });
  } catch {
    /* nothing to sweep */
  }
  const tmp = `${cacheFile}.${process.pid}.${randomUUID()}.tmp`;
  try {
    const fd = fs.openSync(tmp, 'wx', 0o644);
    try {
      fs.writeSync(fd, sourceHash);
      fs.writeSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, cacheFile);
  } catch {
    fs.rmSync(tmp, { force: true });
  }
}

/** Maps the bundle's frames in every stack trace of this thread to the sources, reading the map on first use. */
function mapStacks(file) {
  let map; // undefined: not read yet; null: none
  const sourceMap = () => {
    if (map === undefined) {
      try {
        map = new SourceMap(JSON.parse(fs.readFileSync(`${file}.map`, 'utf8')));
      } catch {
        map = null;
      }
    }
    return map;
  };
  const frameText = (frame) => {
    const text = String(frame);
    if (frame.getFileName() !== file) return text;
    const line = frame.getLineNumber();
    const column = frame.getColumnNumber();
    const entry = sourceMap()?.findEntry(line - 1, column - 1);
    if (!entry?.originalSource) return text;
    const where = `${path.resolve(path.dirname(file), entry.originalSource)}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
    const at = text.lastIndexOf(`${file}:${line}:${column}`);
    return at < 0 ? text : text.slice(0, at) + where + text.slice(at + `${file}:${line}:${column}`.length);
  };
  const outer = Error.prepareStackTrace;
  Error.prepareStackTrace = (error, frames) => {
    if (!frames.some((f) => f.getFileName() === file)) {
      if (outer) return outer(error, frames);
    }
    let head;
    try {
      head = Error.prototype.toString.call(error);
    } catch {
      head = 'Error';
    }
    return [head, ...frames.map((f) => `    at ${frameText(f)}`)].join('\n');
  };
}

/**
 * Runs the CommonJS bundle `file` (a path or file: URL) in this thread. Returns its exports, and what became
 * of its cache: 'accepted', 'rejected' (by V8), or 'none' (missing, or made from another bundle).
 */
export function runBundle(file) {
  if (file instanceof URL || String(file).startsWith('file:')) file = fileURLToPath(file);
  const bytes = fs.readFileSync(file);
  const sourceHash = createHash('sha256').update(bytes).digest(); // of the bytes: half the time of the text's
  const source = bytes.toString('utf8');
  const cacheFile = `${file}.cache`;
  const cachedData = readCache(cacheFile, sourceHash);
  // `__intake_url` is the bundle's import.meta.url (bin/build.js defines it so).
  const wrapped = `(function (exports, require, module, __filename, __dirname, __intake_url) {${source}\n})`;
  const script = new vm.Script(wrapped, { filename: file, cachedData });
  const status = cachedData === undefined ? 'none' : script.cachedDataRejected ? 'rejected' : 'accepted';
  let written = status === 'accepted';
  globalThis[CACHE_READY] = () => {
    if (written) return;
    written = true;
    writeCache(cacheFile, sourceHash, script.createCachedData());
  };
  globalThis[IMPORT] = (specifier) => import(specifier);
  mapStacks(file);
  const module = { exports: {} };
  const url = pathToFileURL(file).href;
  script.runInThisContext()(module.exports, createRequire(file), module, file, path.dirname(file), url);
  return { exports: module.exports, cache: status };
}
