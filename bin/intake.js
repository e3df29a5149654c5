#!/usr/bin/env node
// The package's bin: runs dist/cli.cjs, the CLI bundled from src/ (built or rebuilt here when src/ changed;
// see build.js), through its code cache (see load.js). Where the bundle cannot be written, it runs src/ through
// tsx instead.
import v8 from 'node:v8';
import { ensureBuilt, bundleOf } from './build.js';
import { runBundle } from './load.js';

// V8 optimises a function once it has run a budget of bytecode; the default budget (132 KB) has it optimise
// hundreds of functions in each thread (the parse worker's too) that a command runs for a second or two: in a
// `run --once` of 2000 messages, optimising took ~1.6 s of the process's ~6 s of CPU. Four times the budget
// optimises the functions that stay hot and leaves the rest to the interpreter and the baseline compiler:
// `run --once` alternated with the tree without it (each with its own code cache), 6 and 8 rounds: 4.93 s ->
// 4.38 s and 3.84 s -> 3.53 s mean wall, user CPU 6.18 s -> 5.08 s and 4.71 s -> 4.07 s. Set before the bundle
// loads, for every thread of the process.
v8.setFlagsFromString('--interrupt-budget=528000');
// Heaps made from now on (the parse worker's; this thread's is made already) start with 64 MB of old space
// before their first full collection, not V8's few: the parse worker, which holds a dozen MB, was collected in
// full every ~200 ms (21 times in a run --once of 2000 messages; 4 with this), ~25 MB more of RSS. Alternated
// with the tree without it, 3 x 8-10 rounds: 2-4 % less wall time and CPU.
v8.setFlagsFromString('--initial-old-space-size=64');

if (await ensureBuilt()) {
  runBundle(bundleOf());
} else {
  process.setSourceMapsEnabled(true); // stack traces name src/ files and lines
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli.ts');
}
