import { defineConfig } from 'vitest/config';

// One project per package plus the cross-package end-to-end tests in test/.
export default defineConfig({
  test: {
    disableConsoleIntercept: true,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: 'core', include: ['packages/core/test/**/*.test.ts'] } },
      { extends: true, test: { name: 'stack', include: ['packages/stack/test/**/*.test.ts'] } },
      { extends: true, test: { name: 'cli', include: ['packages/cli/test/**/*.test.ts'] } },
      {
        extends: true,
        // test/soak: long runs, `npm run test:soak` (vitest.soak.config.ts).
        test: {
          name: 'e2e',
          include: ['test/**/*.test.ts'],
          exclude: ['test/soak/**', '**/node_modules/**'],
        },
      },
    ],
  },
});
