// Typing benchmark: pastes a generated pipeline of 200 steps into the built
// page (dist/), types characters at the end of the last step's command one
// at a time, and records how long each edit takes to reach the preview.
//
//   npm run build && node bench/typing.mjs [STEPS] [KEYSTROKES]

import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

import { launchBrowser, openPreview, replaceText, serveStatic } from '../e2e/harness.mjs';

const STEPS = Number(process.argv[2] ?? 200);
const KEYSTROKES = Number(process.argv[3] ?? 60);
const SERVICES = ['postgres', 'redis', 'kafka', 'minio'];

/** Builds a pipeline of `count` steps: Background services, then Run steps in parallel blocks and step groups. */
export function generatePipeline(count) {
  const lines = [
    'pipeline:',
    '  name: Generated',
    '  identifier: generated',
    '  projectIdentifier: demo',
    '  orgIdentifier: default',
    '  variables:',
    '    - name: tag',
    '      type: String',
    '      value: <+input>.default(v1).allowedValues(v1,v2)',
    '  stages:',
    '    - stage:',
    '        name: Build',
    '        identifier: build',
    '        type: CI',
    '        spec:',
    '          cloneCodebase: false',
    '          platform:',
    '            os: Linux',
    '            arch: Amd64',
    '          runtime:',
    '            type: Cloud',
    '            spec: {}',
    '          execution:',
    '            steps:',
  ];
  const step = (indent, type, id, body) => {
    const pad = ' '.repeat(indent);
    lines.push(`${pad}- step:`, `${pad}    type: ${type}`, `${pad}    name: Step ${id}`, `${pad}    identifier: ${id}`, `${pad}    spec:`);
    for (const line of body) lines.push(`${pad}      ${line}`);
  };
  SERVICES.forEach((service, i) =>
    step(14, 'Background', service, ['connectorRef: dockerhub', `image: ${service}:latest`, 'portBindings:', `  "${7000 + i}": "${6000 + i}"`]),
  );

  const run = (indent, n) =>
    step(indent, 'Run', `s${n}`, [
      'connectorRef: dockerhub',
      'image: alpine:<+pipeline.variables.tag>',
      'shell: Sh',
      'envVariables:',
      `  TARGET: ${SERVICES[n % SERVICES.length]}:${6000 + (n % SERVICES.length)}`,
      '  TOKEN: <+secrets.getValue("token")>',
      'resources:',
      '  limits:',
      '    memory: 1Gi',
      `command: echo step ${n}`,
    ]);

  let n = 0;
  const runSteps = count - SERVICES.length;
  while (n < runSteps) {
    if (n % 20 === 10 && n + 4 < runSteps) {
      lines.push('              - parallel:');
      for (let k = 0; k < 4; k++) run(18, n++);
    } else if (n % 20 === 15 && n + 3 < runSteps) {
      lines.push('              - stepGroup:', `                  name: Group ${n}`, `                  identifier: g${n}`, '                  steps:');
      for (let k = 0; k < 3; k++) run(20, n++);
    } else {
      run(14, n++);
    }
  }
  return lines.join('\n');
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

function summary(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    median: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    max: sorted[sorted.length - 1],
  };
}

async function main() {
  const server = await serveStatic();
  const browser = await launchBrowser();
  try {
    const { page, problems } = await openPreview(browser.context, server.url);
    const yaml = generatePipeline(STEPS);
    await replaceText(page, yaml);
    await page.waitForFunction((steps) => document.querySelectorAll('#preview article[data-step]').length === steps, STEPS, {
      timeout: 30000,
    });
    await page.keyboard.press('Control+End');

    const work = [];
    const latency = [];
    const painted = [];
    const phases = [[], [], [], []];
    for (let i = 0; i < KEYSTROKES; i++) {
      const before = Number(await page.evaluate(() => document.body.dataset.updates));
      await page.keyboard.type(String.fromCharCode(97 + (i % 26)));
      await page.waitForFunction((count) => Number(document.body.dataset.paintedUpdate ?? 0) > count, before);
      const data = await page.evaluate(() => ({ ...document.body.dataset }));
      if (Number(data.updates) !== before + 1) throw new Error(`keystroke ${i} caused ${Number(data.updates) - before} updates`);
      work.push(Number(data.updateMs));
      latency.push(Number(data.latencyMs));
      painted.push(Number(data.paintedMs));
      data.phasesMs.split(' ').forEach((ms, k) => phases[k].push(Number(ms)));
      await page.waitForTimeout(120);
    }

    const last = await page.locator('#preview article[data-step]').last().locator('tr[data-setting="command"] td').innerText();
    if (!last.startsWith(`echo step ${STEPS - SERVICES.length - 1}a`)) throw new Error(`the typed text is missing from the preview: ${last}`);
    if (problems.length) throw new Error(`page problems: ${problems.join('; ')}`);

    const cpu = cpus()[0]?.model ?? 'unknown CPU';
    const chromium = browser.context.browser()?.version() ?? readFileSync('/proc/version', 'utf8');
    console.log(JSON.stringify({
      steps: STEPS,
      lines: yaml.split('\n').length,
      keystrokes: KEYSTROKES,
      machine: `${cpus().length} × ${cpu}`,
      chromium,
      node: process.version,
      updateMs: summary(work),
      inputToDomMs: summary(latency),
      inputToNextFrameMs: summary(painted),
      // inputs(), resolve() and the stage links run in the worker; render is
      // the main thread's share (form, diagnostics, preview DOM).
      phasesMedianMs: {
        inputs: summary(phases[0]).median,
        resolve: summary(phases[1]).median,
        links: summary(phases[2]).median,
        render: summary(phases[3]).median,
      },
    }, null, 2));
  } finally {
    await browser.close();
    await server.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
