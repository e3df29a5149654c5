// Builds the migrated PGlite template once per run (a fresh initdb costs seconds; loading a dump costs less
// than one), and the CLI bundle that every spawned `intake` runs (bin/build.js), so that suites starting the
// CLI at once do not all build it.
import { buildPgliteTemplate } from './db.ts';
// @ts-expect-error: plain JavaScript, without type declarations
import { ensureBuilt } from '../../bin/build.js';

export default async function setup() {
  await ensureBuilt();
  await buildPgliteTemplate();
}
