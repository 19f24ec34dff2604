// Times the page's update for a pipeline whose `stages` list has N entries
// `- 5`, each an error: the redraw on the main thread (the last phase of
// `data-phases-ms`) and the longest main-thread task that the update caused.
//
//   node bench/diagnostics.mjs 20000 60000

import { afterUpdate, launchBrowser, openPreview, pipelineWithErrors, replaceText, serveStatic } from '../e2e/harness.mjs';

const sizes = process.argv.slice(2).map(Number);
const server = await serveStatic();
const browser = await launchBrowser();
try {
  for (const stages of sizes) {
    const { page } = await openPreview(browser.context, server.url);
    const yaml = pipelineWithErrors(stages);
    await page.evaluate(() => {
      window.longTasks = [];
      const observer = new PerformanceObserver((list) => window.longTasks.push(...list.getEntries().map((e) => e.duration)));
      observer.observe({ type: 'longtask' });
    });
    await afterUpdate(page, () => replaceText(page, yaml));
    await page.waitForFunction(() => document.body.dataset.paintedUpdate === document.body.dataset.updates);
    // Long tasks are reported after they end.
    await page.waitForTimeout(300);

    const result = await page.evaluate(() => ({
      redrawMs: Number(document.body.dataset.phasesMs.split(' ').at(-1)),
      longestTaskMs: Math.max(0, ...window.longTasks),
      status: document.getElementById('status').textContent,
    }));
    console.log(`${stages} stages: ${JSON.stringify(result)}`);
    await page.close();
  }
} finally {
  await browser.close();
  await server.close();
}
