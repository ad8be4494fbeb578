import { defineConfig } from 'vitest/config';

// Long runs (npm run test:soak), kept out of `npm test`: see docs/reliability.md.
export default defineConfig({
  test: {
    disableConsoleIntercept: true,
    include: ['test/soak/**/*.soak.test.ts'],
    testTimeout: 1_800_000,
    hookTimeout: 120_000,
    maxWorkers: 1,
  },
});
