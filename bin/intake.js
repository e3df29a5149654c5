#!/usr/bin/env node
// The package's bin: runs dist/cli.js, the CLI bundled from src/ (built or rebuilt here when src/ changed;
// see build.js). Where the bundle cannot be written, it runs src/ through tsx instead.
import { ensureBuilt, bundleOf } from './build.js';
import { pathToFileURL } from 'node:url';

process.setSourceMapsEnabled(true); // stack traces name src/ files and lines
if (await ensureBuilt()) {
  await import(pathToFileURL(bundleOf()).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli.ts');
}
