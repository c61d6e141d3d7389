import { svelte } from '@sveltejs/vite-plugin-svelte';
import { svelteTesting } from '@testing-library/svelte/vite';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  plugins: [svelte(), svelteTesting()],
  server: {
    // The gateway's default CORS origin is http://localhost:5173: keep to it.
    port: 5173,
    strictPort: true,
  },
  preview: { port: 5173, strictPort: true },
  build: {
    target: 'es2022',
    // dist/.vite/manifest.json: which chunks each route loads (scripts/bundle-size.mjs reads it).
    manifest: true,
    // Sizes are checked by scripts/bundle-size.mjs (gzipped); this only warns on a runaway chunk.
    chunkSizeWarningLimit: 200,
  },
  test: {
    environment: 'jsdom',
    globals: true,
    setupFiles: ['./src/test-setup.ts'],
    include: ['src/**/*.test.ts'],
    restoreMocks: true,
    // Typing with user-event is slow on a loaded 2-core machine; 5 s (the default) is too tight.
    testTimeout: 20_000,
    unstubGlobals: true,
  },
});
