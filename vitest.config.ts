import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Guards against a hang, not bounds on speed: on a busy machine (two runs side by side on two
    // shared cores) a test takes several times as long as it does alone.
    testTimeout: 180_000,
    hookTimeout: 600_000,
  },
});
