import { defineConfig } from 'drizzle-kit';

// Migrations are generated once from the schema and applied the same way on PGlite and PostgreSQL.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './migrations',
});
