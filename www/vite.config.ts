import { defineConfig, type Plugin } from 'vite';

/**
 * Lets the dev server's injected <style> elements through the page's
 * Content Security Policy. `vite build` emits a CSS file, so the built page
 * keeps the strict policy.
 */
function devServerStyles(): Plugin {
  return {
    name: 'basso-dev-server-styles',
    apply: 'serve',
    transformIndexHtml: (html) => html.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'"),
  };
}

export default defineConfig({
  // Relative asset URLs, so dist/ can be served from any folder.
  base: './',
  plugins: [devServerStyles()],
  build: {
    target: 'es2022',
    // The wasm module stays a separate file: the policy allows no data: URLs for it.
    assetsInlineLimit: 0,
  },
  // The resolver worker is an ES module, like the page.
  worker: { format: 'es' },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
});
