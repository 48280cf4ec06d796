import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
    // stopping radosgw, the OSD and the mon takes a few seconds (scripts/s3-server.mjs)
    teardownTimeout: 30_000,
  },
});
