// End-to-end test of the built page (dist/) in headless Chromium, with the
// real basso package compiled to WebAssembly.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { afterUpdate, ARTIFACTS, launchBrowser, openPreview, pipelineWithErrors, replaceText, serveStatic } from './harness.mjs';

let server;
let browser;

before(async () => {
  server = await serveStatic();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** Text of one setting row of a step card in the preview. */
function setting(page, step, label) {
  return page.locator(`#preview article[data-step="${step}"] tr[data-setting="${label}"] > td`).first();
}

test('example loads and inputs change the preview', async () => {
  const { page, problems } = await openPreview(browser.context, server.url);

  await afterUpdate(page, () => page.selectOption('#examples', 'hello'));
  assert.equal(await page.locator('#preview article[data-step="hello"]').count(), 1);
  await afterUpdate(page, () => page.selectOption('#examples', 'services'));

  const steps = await page.locator('#preview section[data-stage="build"] article[data-step]').evaluateAll((cards) => cards.map((c) => c.dataset.step));
  assert.deepEqual(steps, ['postgres', 'redis', 'payments', 'wait', 'unit', 'integration', 'broker', 'verify']);
  const stages = await page.locator('#preview section[data-stage]').evaluateAll((sections) => sections.map((s) => s.dataset.stage));
  assert.deepEqual(stages, ['build', 'publish']);
  assert.equal(await page.locator('#preview .parallel article').count(), 2, 'unit and integration run in parallel');
  assert.equal(await page.locator('#preview .group[data-group="contract"] article').count(), 2);

  const logLevel = page.locator('.field[data-path$="envVariables.LOG_LEVEL"] select');
  assert.equal(await logLevel.inputValue(), 'info', 'the default is filled in');
  assert.match(await setting(page, 'unit', 'env').innerText(), /LOG_LEVEL\s+info/);
  await afterUpdate(page, () => logLevel.selectOption('debug'));
  assert.match(await setting(page, 'unit', 'env').innerText(), /LOG_LEVEL\s+debug/);

  const testTags = page.locator('.field[data-path$="envVariables.TEST_TAGS"] select[multiple]');
  await afterUpdate(page, () => testTags.selectOption(['unit', 'race']));
  assert.match(await setting(page, 'unit', 'env').innerText(), /TEST_TAGS\s+unit,race/, 'a multiple choice is comma-joined');

  const goVersion = page.locator('.field[data-path="pipeline.variables.goVersion"] select');
  await afterUpdate(page, () => goVersion.selectOption('1.23'));
  assert.match(await setting(page, 'unit', 'image').innerText(), /golang:1\.23/);

  const runAsUser = page.locator('.field[data-path$="integration.spec.runAsUser"] input');
  await afterUpdate(page, () => runAsUser.fill('10x'));
  assert.equal(await runAsUser.getAttribute('aria-invalid'), 'true', 'the regex is checked as the user types');
  await afterUpdate(page, () => runAsUser.fill('1001'));
  assert.equal(await runAsUser.getAttribute('aria-invalid'), 'false');
  assert.match(await setting(page, 'integration', 'run as user').innerText(), /1001/);

  assert.equal(await page.locator('.field[data-path$="RELEASE_NOTE"] .badge.execution').count(), 1);
  assert.equal(await page.locator('#preview .secret').first().innerText(), '<+secrets.getValue("orders_db_password")>');
  assert.match(await setting(page, 'push', 'env').innerText(), /<\+secrets\.getValue\("account\.dockerhub_token"\)>/);
  assert.match(await setting(page, 'redis', 'shell').innerText(), /^Sh\s*default$/, 'the default shell is shown and marked');
  assert.match(await setting(page, 'redis', 'pull policy').innerText(), /^IfNotPresent$/);

  const endpoints = await page.locator('#preview article[data-step="redis"] table.endpoints tbody').innerText();
  assert.match(endpoints, /containerised steps\s+redis:6379/);
  assert.match(endpoints, /steps on the host\s+localhost:6380/);

  const arrows = await page.locator('svg.stage-picture path.link').evaluateAll((paths) =>
    paths.map((p) => `${p.dataset.from.split('.').pop()}->${p.dataset.to.split('.').pop()}`),
  );
  for (const arrow of ['wait->postgres', 'wait->redis', 'integration->postgres', 'integration->redis', 'integration->payments', 'verify->broker', 'unit->payments']) {
    assert.ok(arrows.includes(arrow), `arrow ${arrow} in ${arrows.join(', ')}`);
  }
  assert.equal(arrows.length, 7, `arrows: ${arrows.join(', ')}`);
  const expressionArrow = page.locator('svg.stage-picture path.link[data-from$=".unit"][data-to$=".payments"] title');
  assert.match(await expressionArrow.textContent(), /via <\+.*steps\.payments\.spec\.image>/, 'found through references()');

  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'preview-services.png'), fullPage: false });
  assert.deepEqual(problems, []);
  await page.close();
});

test('bundled examples get no context warning', async () => {
  const { page, problems } = await openPreview(browser.context, server.url);
  const examples = await page.locator('#examples option').evaluateAll((options) => options.map((o) => o.value));
  assert.deepEqual(examples, ['services', 'hello', 'kubernetes-redis']);

  for (const example of examples) {
    // The page opens on the first example, and selecting it again fires no change.
    if ((await page.locator('#examples').inputValue()) !== example) {
      await afterUpdate(page, () => page.selectOption('#examples', example));
    }
    const codes = await page.locator('#problems li').evaluateAll((items) => items.map((i) => i.dataset.code));
    assert.ok(!codes.includes('context-overrides-file'), `${example}: ${codes.join(', ')}`);
    assert.ok(!codes.includes('context-key-unused'), `${example}: ${codes.join(', ')}`);
  }

  // The pipeline's name comes from the file, the build number from the sample context.
  await afterUpdate(page, () => page.selectOption('#examples', 'hello'));
  assert.match(await setting(page, 'hello', 'command').innerText(), /hello from build 42 of Hello"/);
  assert.deepEqual(problems, []);
  await page.close();
});

test('invalid shell is marked on its line', async () => {
  const { page, problems } = await openPreview(browser.context, server.url);
  await afterUpdate(page, () => page.selectOption('#examples', 'hello'));
  assert.equal(await page.locator('#problems .problem.error').count(), 0, 'the example starts clean');

  // Line 28 of the Hello example is `shell: Sh`; retype its value.
  const line = page.locator('.cm-line', { hasText: 'shell: Sh' }).first();
  await line.click();
  await page.keyboard.press('End');
  await afterUpdate(page, async () => {
    await page.keyboard.press('Backspace');
    await page.keyboard.press('Backspace');
    await page.keyboard.type('bash', { delay: 30 });
  });

  const problem = page.locator('#problems .problem.error').first();
  assert.equal(await problem.getAttribute('data-line'), '28');
  assert.match(await problem.locator('.message').innerText(), /`bash`/);

  const underline = page.locator('.cm-lintRange-error').first();
  assert.equal(await underline.innerText(), 'bash');
  const lineNumber = page.locator('.cm-lineNumbers .cm-gutterElement', { hasText: /^28$/ });
  const marker = page.locator('.cm-gutter-lint .cm-gutterElement:has(.cm-lint-marker-error)').first();
  const markerBox = await marker.boundingBox();
  const lineBox = await lineNumber.boundingBox();
  assert.ok(Math.abs(markerBox.y - lineBox.y) < 2, `gutter marker at y=${markerBox.y}, line 28 at y=${lineBox.y}`);

  await underline.hover();
  const tooltip = page.locator('.cm-tooltip-lint');
  await tooltip.waitFor();
  assert.match(await tooltip.innerText(), /`bash`/);

  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'preview-invalid-shell.png') });
  assert.deepEqual(problems, []);
  await page.close();
});

const HOSTILE = `pipeline:
  name: <script>window.pwned = 1</script>
  identifier: hostile
  projectIdentifier: demo
  orgIdentifier: default
  stages:
    - stage:
        name: <img src=x onerror="window.pwned = 2">
        identifier: build
        type: CI
        spec:
          cloneCodebase: false
          platform:
            os: Linux
            arch: Amd64
          runtime:
            type: Cloud
            spec: {}
          execution:
            steps:
              - step:
                  type: Run
                  name: <b>bold</b><script>window.pwned = 3</script>
                  identifier: run
                  spec:
                    connectorRef: dockerhub
                    image: alpine:3.20
                    shell: Sh
                    command: echo '<script>window.pwned = 4</script>'
                    envVariables:
                      PICTURE: <img src=x onerror="window.pwned = 5">
`;

test('markup in pipeline values is shown as text', async () => {
  const { page, problems } = await openPreview(browser.context, server.url);
  await afterUpdate(page, () => replaceText(page, HOSTILE));

  const card = page.locator('#preview article[data-step="run"]');
  assert.match(await card.locator('header').innerText(), /<b>bold<\/b><script>window\.pwned = 3<\/script>/);
  assert.equal(await setting(page, 'run', 'command').innerText(), `echo '<script>window.pwned = 4</script>'`);
  assert.match(await setting(page, 'run', 'env').innerText(), /<img src=x onerror="window\.pwned = 5">/);

  // basso rejects these names, and its messages quote them: as text too.
  assert.match(await page.locator('#problems').innerText(), /`<script>window\.pwned = 1<\/script>`/);
  assert.equal(await page.locator('#preview script, #preview img, #preview b, #problems script, #problems img').count(), 0);
  assert.equal(await page.evaluate(() => window.pwned), undefined, 'no script from the pipeline ran');
  assert.deepEqual(problems, []);
  await page.close();
});

const NUMBER_INPUT = `pipeline:
  name: Inputs
  identifier: inputs
  projectIdentifier: demo
  orgIdentifier: default
  variables:
    - name: greeting
      type: String
      value: <+input>.default(hello)
    - name: retries
      type: Number
      value: <+input>.default(3)
  stages:
    - stage:
        name: Build
        identifier: build
        type: CI
        spec:
          cloneCodebase: false
          platform:
            os: Linux
            arch: Amd64
          runtime:
            type: Cloud
            spec: {}
          execution:
            steps:
              - step:
                  type: Run
                  name: Show
                  identifier: show
                  spec:
                    connectorRef: dockerhub
                    image: alpine:3.20
                    shell: Sh
                    command: echo <+pipeline.variables.greeting> <+pipeline.variables.retries>
`;

test('rejected input value is marked at its field', async () => {
  const { page, problems } = await openPreview(browser.context, server.url);
  await afterUpdate(page, () => replaceText(page, NUMBER_INPUT));
  assert.equal(await page.locator('#problems .problem').count(), 0, 'the pipeline starts clean');

  // The resolver gets the greeting first and the retries second, so it
  // reports the value in the file `--input#2`.
  const retries = page.locator('.field[data-path="pipeline.variables.retries"] input');
  await afterUpdate(page, () => retries.fill('abc'));
  assert.equal(await retries.getAttribute('aria-invalid'), 'true');
  const fieldError = await page.locator('.field[data-path="pipeline.variables.retries"] .field-error').innerText();
  assert.match(fieldError, /`abc`/);

  const problem = page.locator('#problems .problem.error');
  assert.equal(await problem.count(), 1);
  assert.equal(await problem.getAttribute('data-input'), 'pipeline.variables.retries');
  assert.equal(await problem.getAttribute('data-line'), null, 'no YAML position');
  assert.equal(await problem.locator('.where').innerText(), 'pipeline.variables.retries');
  const message = await problem.locator('.message').innerText();
  assert.match(message, /`abc` is not a number/);
  assert.ok(fieldError.startsWith(message), `field error: ${fieldError}`);
  assert.equal(await page.locator('.cm-lintRange').count(), 0, 'nothing is underlined in the YAML');
  assert.equal(await page.locator('.cm-lint-marker').count(), 0, 'no gutter marker in the YAML');

  await problem.locator('.where').click();
  assert.equal(await retries.evaluate((control) => control.matches(':focus')), true, 'the problem leads to the field');

  await afterUpdate(page, () => retries.fill('4'));
  assert.equal(await retries.getAttribute('aria-invalid'), 'false');
  assert.equal(await page.locator('.field[data-path="pipeline.variables.retries"] .field-error').innerText(), '');
  assert.equal(await page.locator('#problems .problem').count(), 0);
  assert.deepEqual(problems, []);
  await page.close();
});

test('backtracking input regex leaves the page responsive', async () => {
  const { page, problems } = await openPreview(browser.context, server.url);
  // `(a+)+b` against a run of `a`s without the `b` takes a backtracking
  // engine, such as JavaScript's, exponential time. The resolver checks the
  // regex with a linear-time engine in the worker.
  const backtracking = NUMBER_INPUT.replace(
    'value: <+input>.default(hello)',
    `value: <+input>.regex((a+)+b).default(${'a'.repeat(40)})`,
  );
  await afterUpdate(page, () => replaceText(page, backtracking));

  const defaultProblem = page.locator('#problems .problem.error');
  assert.equal(await defaultProblem.count(), 1);
  assert.match(await defaultProblem.innerText(), /default value `a+` does not match the pattern `\(a\+\)\+b`/);

  const greeting = page.locator('.field[data-path="pipeline.variables.greeting"] input');
  await afterUpdate(page, () => greeting.fill(`${'a'.repeat(40)}c`));
  assert.equal(await greeting.getAttribute('aria-invalid'), 'true', 'the typed value does not match');
  const fieldError = await page.locator('.field[data-path="pipeline.variables.greeting"] .field-error').innerText();
  assert.match(fieldError, /\(a\+\)\+b/);

  await afterUpdate(page, () => greeting.fill('aab'));
  assert.equal(await greeting.getAttribute('aria-invalid'), 'false');
  assert.deepEqual(problems, []);
  await page.close();
});

test('problem list is capped and counts all', async () => {
  const { page, problems } = await openPreview(browser.context, server.url);
  // Each `- 5` entry is neither `stage:` nor `parallel:`.
  const yaml = pipelineWithErrors(20_000);
  await afterUpdate(page, () => replaceText(page, yaml));

  assert.equal(await page.locator('#status').innerText(), '20000 errors, 0 warnings', 'the status counts them all');
  assert.equal(await page.locator('#problems .problem').count(), 200);
  assert.equal(await page.locator('#problems li').count(), 201, 'one line after the listed problems');
  assert.equal(await page.locator('#problems li.more').innerText(), '19,800 more problems not shown, 20,000 in all');
  assert.deepEqual(problems, []);
  await page.close();
});
