import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // 2 cores: more workers only make PGlite and ffmpeg fight for them.
    maxWorkers: 2,
    globalSetup: ['tests/helpers/global-setup.ts'],
  },
});
