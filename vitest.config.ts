import { defineConfig } from 'vitest/config';

// Three tiers, one command. Integration tests start real daemons, so they run one file at a time
// on the 2-core CI machine and get generous timeouts; nothing here asserts on wall-clock speed.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{infra,services/*,packages/*}/test/**/*.test.ts'],
          exclude: ['**/*.daemon.test.ts', '**/*.int.test.ts', '**/node_modules/**'],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'daemon',
          include: ['{infra,services/*,packages/*}/test/**/*.daemon.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['{infra,services/*,packages/*}/test/**/*.int.test.ts'],
          fileParallelism: false,
          testTimeout: 900_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
