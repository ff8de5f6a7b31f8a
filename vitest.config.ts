import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // graphql 16 ships CJS ("main") and ESM ("module"): Node loads the CJS build for every
    // importer, Vite would hand our sources the ESM one, and schemas built by Pothos (CJS)
    // would then fail "from another module or realm". Resolve it as Node does.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    // expect.poll waits up to this long unless a test says otherwise (1 s by default): a
    // loaded 2-core machine can take longer than that to render a page or commit a run.
    expect: { poll: { timeout: 10_000 } },
    hookTimeout: 60_000,
    // Each file gets its own database, so files run in parallel safely.
    fileParallelism: true,
  },
});
