import { defineConfig } from 'vitest/config';

// One config for the demo page (Vite) and the test suites (vitest).
export default defineConfig({
  root: 'demo',
  server: { host: '127.0.0.1' },
  build: { outDir: '../dist/demo', emptyOutDir: true, target: 'es2022' },
  test: {
    // The page's root is demo/; the suites live at the project root.
    root: '.',
    include: ['test/**/*.test.ts'],
    // WebGPU on SwiftShader is a software rasteriser: kernels are slow and tests share
    // one adapter, so run files one after another and give them room.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
