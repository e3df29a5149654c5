// Builds the migrated PGlite template once per run (a fresh initdb costs seconds; loading a dump costs less
// than one), and checks the real servers the run was pointed at.
import { buildPgliteTemplate } from './db.ts';

export default async function setup() {
  await buildPgliteTemplate();
}
