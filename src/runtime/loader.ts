// What the bundle asks of the loader that runs it (bin/load.js), and what it does without one (under tsx).
//
// import() of a package that stays outside the bundle (PGlite: an ES module that finds its WASM beside
// itself; the optional ffmpeg packages). The bundle runs from a V8 code cache (bin/load.js), and in Node 20 an
// import() compiled from a code cache fails ("A dynamic import callback was not specified"): the loader hands
// in one of its own, used here. Under tsx (tests, a read-only install) there is none, and plain import() works.
const LOADER_IMPORT = Symbol.for('campaign-intake.import');

export function importEsm<T>(specifier: string): Promise<T> {
  const loaderImport = (globalThis as { [LOADER_IMPORT]?: (s: string) => Promise<unknown> })[LOADER_IMPORT];
  return (loaderImport ? loaderImport(specifier) : import(specifier)) as Promise<T>;
}

const CACHE_READY = Symbol.for('campaign-intake.compile-cache-ready');

/** Messages a process must have taken through before its code cache is worth keeping. */
const CACHE_WORTHY = 200;

/**
 * Tells the loader how many messages this process (or worker) has taken through so far. From CACHE_WORTHY on,
 * it has run enough of the bundle for the V8 code cache kept beside it to cover what such runs need, and the
 * loader writes the cache then if it has none that V8 accepted (once per build). A cache made by a run that
 * did little (an empty pass, a few test messages) would be taken by every later run and never bettered.
 * Nothing outside the bundle.
 */
export function compileCacheReady(messages: number): void {
  if (messages >= CACHE_WORTHY) (globalThis as { [CACHE_READY]?: () => void })[CACHE_READY]?.();
}
