// Shared by the end-to-end test and the benchmarks in bench/: a static file
// server for dist/ on 127.0.0.1 and Debian's Chromium driven by playwright-core.

import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

export const WWW = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const DIST = join(WWW, 'dist');
export const ARTIFACTS = resolve(WWW, '..', 'test-artifacts');

const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
};

/** Serves `root` on 127.0.0.1 at a free port; resolves to its base URL and a close function. */
export async function serveStatic(root = DIST) {
  try {
    await stat(join(root, 'index.html'));
  } catch {
    throw new Error(`${root}/index.html not found: run \`npm run build\` in www/ first`);
  }

  const server = createServer(async (request, response) => {
    const path = decodeURIComponent(new URL(request.url, 'http://127.0.0.1').pathname);
    const file = normalize(join(root, path.endsWith('/') ? `${path}index.html` : path));
    if (file !== root && !file.startsWith(root + sep)) {
      response.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(file);
      response.writeHead(200, { 'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream' });
      response.end(body);
    } catch {
      response.writeHead(404).end();
    }
  });

  await new Promise((ready) => server.listen(0, '127.0.0.1', ready));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise((done) => server.close(done)),
  };
}

/** Starts headless Chromium with a fresh profile; close() also removes the profile. */
export async function launchBrowser() {
  const profile = await mkdtemp(join(tmpdir(), 'basso-www-'));
  // The background-networking flags keep Chromium from calling hosts this
  // machine cannot reach; --no-sandbox is required when running as root.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1500, height: 950 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    close: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Opens the page and records every console error, uncaught exception,
 * Content Security Policy violation and dialog in `problems`.
 */
export async function openPreview(context, url) {
  const page = await context.newPage();
  const problems = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  page.on('dialog', async (dialog) => {
    problems.push(`dialog opened: ${dialog.message()}`);
    await dialog.dismiss();
  });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber} ${event.target?.nodeName ?? ""} ${event.sample}`);
    });
  });

  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 15000 });
  return { page, problems };
}

/** Runs `action`, then waits until the page has finished the update it caused. */
export async function afterUpdate(page, action) {
  const before = Number(await page.evaluate(() => document.body.dataset.updates ?? '0'));
  await action();
  // Edits typed in quick succession may take more than one update: wait
  // until none is pending.
  await page.waitForFunction(
    (count) => Number(document.body.dataset.updates ?? '0') > count && document.body.dataset.pending !== 'true',
    before,
    { timeout: 10000 },
  );
}

/** Selects the whole editor text and pastes `text` over it. */
export async function replaceText(page, text) {
  await page.click('.cm-content');
  await page.keyboard.press('Control+A');
  // A synthetic paste event: CodeMirror reads clipboardData as it does for a
  // real paste. keyboard.insertText would let Chromium's editing code insert
  // its own styled elements into the editor first.
  await page.locator('.cm-content').evaluate((content, pasted) => {
    const clipboardData = new DataTransfer();
    clipboardData.setData('text/plain', pasted);
    content.dispatchEvent(new ClipboardEvent('paste', { clipboardData, bubbles: true, cancelable: true }));
  }, text);
}

/** Returns a pipeline whose `stages` list has `count` entries `- 5`, which basso reports as one error each. */
export function pipelineWithErrors(count) {
  return `pipeline:
  name: Many
  identifier: many
  projectIdentifier: demo
  orgIdentifier: default
  stages:
${'    - 5\n'.repeat(count)}`;
}
