// Opens the package's test page in Debian's headless Chromium through
// playwright-core, which downloads no browser of its own.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { chromium } from "playwright-core";

import { serveRepository } from "./server.js";

const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";

// Without the background-networking flags Chromium keeps trying to reach
// Google's hosts, which this machine's closed network refuses.
const chromiumArgs = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Serves the repository, opens pkg/tests/browser/index.html and waits until
 * the package is loaded. Resolves to `{ page, pageErrors, close }`;
 * `pageErrors` collects uncaught errors and console errors.
 */
export async function openTestPage() {
  const server = await serveRepository();
  const profile = mkdtempSync(join(tmpdir(), "basso-chromium-"));
  let context;
  const close = async () => {
    await context?.close();
    await server.close();
    rmSync(profile, { recursive: true, force: true });
  };

  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: chromiumArgs,
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const pageErrors = [];
    page.on("pageerror", (error) => pageErrors.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error") pageErrors.push(message.text());
    });

    await page.goto(`${server.origin}/pkg/tests/browser/index.html`);
    await page.waitForSelector("body[data-ready]", { state: "attached", timeout: 30_000 });
    const ready = await page.evaluate(() => document.body.dataset.ready);
    if (ready !== "ok") throw new Error(`test page failed to load the package: ${ready}`);
    return { page, pageErrors, close };
  } catch (error) {
    await close();
    throw error;
  }
}
