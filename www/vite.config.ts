import { defineConfig } from 'vite';

export default defineConfig({
  // Relative asset URLs, so dist/ can be served from any folder.
  base: './',
  build: {
    target: 'es2022',
    // The wasm module stays a separate file: CSP forbids data: URLs for it.
    assetsInlineLimit: 0,
  },
  resolve: process.env.BASSO_FAKE ? { alias: { basso: process.env.BASSO_FAKE } } : {},
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
});
