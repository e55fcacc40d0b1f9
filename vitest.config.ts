import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.spec.ts'],
    setupFiles: [
      'test/helpers/network-guard.ts',
      'test/helpers/leak-detector.ts',
      'test/helpers/secrets.ts',
    ],
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
