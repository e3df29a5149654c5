#!/usr/bin/env node
// The package's bin: runs dist/cli.cjs, the CLI bundled from src/ (built or rebuilt here when src/ changed;
// see build.js), through its code cache (see load.js). Where the bundle cannot be written, it runs src/ through
// tsx instead.
import { ensureBuilt, bundleOf } from './build.js';
import { runBundle } from './load.js';

if (await ensureBuilt()) {
  runBundle(bundleOf());
} else {
  process.setSourceMapsEnabled(true); // stack traces name src/ files and lines
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli.ts');
}
