// Wires the page: editor, inputs form and context feed one update that
// resolves the pipeline and redraws diagnostics and the preview.

import './style.css';

import { listInputs, loadResolver, resolvePipeline } from './basso';
import { createContextPanel } from './context';
import { h } from './dom';
import { createEditor } from './editor';
import { EXAMPLES } from './examples';
import { createInputsForm } from './inputs-form';
import { collectStepSources } from './links';
import type { Diagnostic } from './model';
import { createPreview } from './preview';

function byId<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`element #${id} is missing from index.html`);
  return element as T;
}

const status = byId<HTMLElement>('status');
const problems = byId<HTMLUListElement>('problems');
const examples = byId<HTMLSelectElement>('examples');

const scheduler = createScheduler(update);
const editor = createEditor(byId('editor'), EXAMPLES[0].yaml, scheduler.request);
const form = createInputsForm(byId<HTMLFormElement>('inputs'), scheduler.request);
const context = createContextPanel(byId<HTMLTextAreaElement>('context'), byId('context-error'), scheduler.request);
const previewPane = byId<HTMLElement>('preview');
const preview = createPreview(previewPane);
let hasPreview = false;

for (const example of EXAMPLES) examples.append(h('option', { value: example.id }, example.title));
examples.addEventListener('change', () => {
  const example = EXAMPLES.find((e) => e.id === examples.value);
  if (example) editor.replace(example.yaml);
});

/** Resolves the current text and redraws everything that depends on it. */
function update(): void {
  const t0 = performance.now();
  const yaml = editor.text();
  const inputs = listInputs(yaml);
  form.update(inputs.inputs);
  const t1 = performance.now();
  const resolution = resolvePipeline(yaml, form.values(), context.value());
  const t2 = performance.now();

  const diagnostics = dedupe([...inputs.diagnostics, ...resolution.diagnostics]);
  editor.showDiagnostics(diagnostics);
  showProblems(diagnostics);
  const t3 = performance.now();
  // A half-typed line often leaves no stages at all: keep the last preview
  // on screen, marked as out of date, until the text resolves again.
  const stale = resolution.stages.length === 0 && diagnostics.some((d) => d.severity === 'error');
  previewPane.classList.toggle('stale', stale && hasPreview);
  if (!stale || !hasPreview) {
    preview.render(resolution.stages, collectStepSources(yaml));
    hasPreview = resolution.stages.length > 0;
  }
  const t4 = performance.now();

  // Time per phase in ms (inputs, resolve, diagnostics, preview), for the benchmark.
  document.body.dataset.phasesMs = [t1 - t0, t2 - t1, t3 - t2, t4 - t3].map((ms) => ms.toFixed(1)).join(' ');
}

function dedupe(diagnostics: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return diagnostics.filter((d) => {
    const key = `${d.line}:${d.column}:${d.code}:${d.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function jumpButton(d: Diagnostic): HTMLButtonElement {
  const button = h('button', { type: 'button', class: 'where', title: 'Show in the editor' }, `${d.line}:${d.column}`);
  button.addEventListener('click', () => editor.reveal(d));
  return button;
}

function showProblems(diagnostics: Diagnostic[]): void {
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = diagnostics.filter((d) => d.severity === 'warning').length;
  status.textContent = `${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}`;
  status.dataset.errors = String(errors);

  problems.replaceChildren(
    ...diagnostics.map((d) =>
      h(
        'li',
        { class: `problem ${d.severity}`, 'data-line': d.line, 'data-code': d.code },
        jumpButton(d),
        ' ',
        h('span', { class: 'severity' }, d.severity),
        ' ',
        h('span', { class: 'message' }, d.message),
        d.help ? h('span', { class: 'help' }, `help: ${d.help}`) : null,
      ),
    ),
  );
}

/**
 * Coalesces change requests into one update. The quiet period before an
 * update is as long as the last update took, up to 250 ms. Small pipelines
 * then update as the user types, and on large ones continuous typing keeps
 * the main thread about half idle instead of lagging behind.
 */
function createScheduler(run: () => void) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let lastDuration = 0;
  let firstRequestAt: number | null = null;
  let count = 0;

  function runNow(): void {
    timer = undefined;
    const start = performance.now();
    try {
      run();
    } catch (error) {
      status.textContent = `the resolver failed: ${(error as Error).message}`;
      status.dataset.errors = 'internal';
      console.error(error);
    }
    const end = performance.now();
    lastDuration = end - start;

    // Exposed for the end-to-end test and the typing benchmark: the update's
    // own duration, the time from the first edit it covers to the end of the
    // DOM changes, and (set later) to the next frame after them.
    const requestedAt = firstRequestAt ?? start;
    count += 1;
    const body = document.body.dataset;
    body.updates = String(count);
    body.updateMs = lastDuration.toFixed(2);
    body.latencyMs = (end - requestedAt).toFixed(2);
    firstRequestAt = null;
    delete body.pending;

    const update = String(count);
    requestAnimationFrame(() =>
      setTimeout(() => {
        body.paintedUpdate = update;
        body.paintedMs = (performance.now() - requestedAt).toFixed(2);
      }),
    );
  }

  function request(): void {
    // Until the wasm module is loaded, the first update reads the latest state.
    if (document.body.dataset.ready !== 'true') return;
    firstRequestAt ??= performance.now();
    document.body.dataset.pending = 'true';
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(runNow, Math.min(250, lastDuration));
  }

  return { request, runNow };
}

loadResolver().then(
  () => {
    scheduler.runNow();
    document.body.dataset.ready = 'true';
  },
  (error: Error) => {
    status.textContent = `could not load the resolver: ${error.message}`;
    console.error(error);
  },
);
