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

/**
 * Says that this process has run enough of the bundle (a pass, an import, a few hundred parses) for the V8
 * code cache the loader keeps beside it to be worth writing: the loader writes it then if it has none that V8
 * accepted. Nothing outside the bundle.
 */
export function compileCacheReady(): void {
  (globalThis as { [CACHE_READY]?: () => void })[CACHE_READY]?.();
}
