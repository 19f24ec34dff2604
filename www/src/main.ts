// Wires the page: edits in the editor, the inputs form and the context go to
// the resolver worker, and its results redraw diagnostics and the preview.

import './style.css';

import { createContextPanel } from './context';
import { h } from './dom';
import { createEditor } from './editor';
import { EXAMPLES } from './examples';
import { createInputsForm } from './inputs-form';
import type { Diagnostic } from './model';
import { createPreview } from './preview';
import type { UpdateRequest, UpdateResponse } from './worker';

function byId<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`element #${id} is missing from index.html`);
  return element as T;
}

const status = byId<HTMLElement>('status');
const problems = byId<HTMLUListElement>('problems');
const examples = byId<HTMLSelectElement>('examples');

const updates = createUpdates();
const editor = createEditor(byId('editor'), EXAMPLES[0].yaml, updates.request);
const form = createInputsForm(byId<HTMLFormElement>('inputs'), updates.request);
const context = createContextPanel(byId<HTMLTextAreaElement>('context'), byId('context-error'), updates.request);
const previewPane = byId<HTMLElement>('preview');
const preview = createPreview(previewPane);
let hasPreview = false;

for (const example of EXAMPLES) examples.append(h('option', { value: example.id }, example.title));
examples.addEventListener('change', () => {
  const example = EXAMPLES.find((e) => e.id === examples.value);
  if (example) editor.replace(example.yaml);
});

/**
 * The maximum number of diagnostics drawn in the problem list and in the
 * editor. Drawing all 20,000 of a file blocked the main thread for 2 to 3 s in
 * Chromium (docs/benchmarks.md). The status line counts them all.
 */
const MAX_DRAWN = 200;

/** Redraws everything from a worker result for the text `yaml`; returns the milliseconds it took. */
function show(result: Extract<UpdateResponse, { kind: 'result' }>, yaml: string): number {
  const start = performance.now();
  form.update(result.inputs.inputs);
  const diagnostics = dedupe([...result.inputs.diagnostics, ...result.resolution.diagnostics]);
  const drawn = diagnostics.slice(0, MAX_DRAWN);
  // Positions refer to `yaml`. If the user has typed since, the editor keeps
  // its current marks (moved along with the edits) until the next result.
  if (editor.text() === yaml) editor.showDiagnostics(drawn.filter((d) => d.file === null));
  form.showProblems(diagnostics);
  showProblems(diagnostics, drawn);

  // A half-typed line often leaves no stages at all: keep the last preview
  // on screen, marked as out of date, until the text resolves again.
  const stages = result.resolution.stages;
  const stale = stages.length === 0 && diagnostics.some((d) => d.severity === 'error');
  previewPane.classList.toggle('stale', stale && hasPreview);
  if (!stale || !hasPreview) {
    preview.render(stages, result.links);
    hasPreview = stages.length > 0;
  }
  return performance.now() - start;
}

function dedupe(diagnostics: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return diagnostics.filter((d) => {
    const key = `${d.file}:${d.line}:${d.column}:${d.code}:${d.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Returns the part of a problem that shows where it is and leads there. */
function whereOf(d: Diagnostic): HTMLElement {
  if (d.inputPath !== null) {
    const path = d.inputPath;
    const button = h('button', { type: 'button', class: 'where', title: 'Show in the inputs form' }, path);
    button.addEventListener('click', () => form.focus(path));
    return button;
  }
  // Positions in a text other than the YAML lead nowhere in the editor.
  if (d.file !== null) return h('span', { class: 'where' }, d.file);

  const button = h('button', { type: 'button', class: 'where', title: 'Show in the editor' }, `${d.line}:${d.column}`);
  button.addEventListener('click', () => editor.reveal(d));
  return button;
}

/** Counts `diagnostics` in the status line and lists `drawn`, the first of them. */
function showProblems(diagnostics: Diagnostic[], drawn: Diagnostic[]): void {
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = diagnostics.filter((d) => d.severity === 'warning').length;
  status.textContent = `${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}`;
  status.dataset.errors = String(errors);

  const items = drawn.map((d) =>
    h(
      'li',
      {
        class: `problem ${d.severity}`,
        'data-line': d.file === null ? d.line : null,
        'data-input': d.inputPath,
        'data-code': d.code,
      },
      whereOf(d),
      ' ',
      h('span', { class: 'severity' }, d.severity),
      ' ',
      h('span', { class: 'message' }, d.message),
      d.help ? h('span', { class: 'help' }, `help: ${d.help}`) : null,
    ),
  );
  const hidden = diagnostics.length - items.length;
  if (hidden > 0) {
    const count = (n: number) => n.toLocaleString('en-US');
    items.push(h('li', { class: 'more' }, `${count(hidden)} more problems not shown, ${count(diagnostics.length)} in all`));
  }
  problems.replaceChildren(...items);
}

/**
 * Sends the page's state to the worker and shows each response. At most one
 * request is in flight. Edits made meanwhile are coalesced into the next
 * request, sent as soon as the response is shown, so a burst of keystrokes
 * costs one resolution per worker round trip. A zero-delay timer merges the
 * changes one event handler makes (a paste, a form reset) into one request.
 */
function createUpdates() {
  const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'basso' });
  const body = document.body.dataset;
  let ready = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let inFlight: { id: number; yaml: string; requestedAt: number } | null = null;
  let firstRequestAt: number | null = null;
  let count = 0;

  function send(): void {
    timer = undefined;
    if (inFlight) return;
    const yaml = editor.text();
    inFlight = { id: count + 1, yaml, requestedAt: firstRequestAt ?? performance.now() };
    firstRequestAt = null;
    const request: UpdateRequest = { id: inFlight.id, yaml, values: form.values(), context: context.value() };
    worker.postMessage(request);
  }

  function request(): void {
    firstRequestAt ??= performance.now();
    body.pending = 'true';
    if (!ready || inFlight) return;
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(send, 0);
  }

  function fail(message: string): void {
    status.textContent = message;
    status.dataset.errors = 'internal';
    console.error(message);
  }

  worker.addEventListener('error', (event) => fail(`the resolver worker failed: ${event.message}`));
  worker.addEventListener('message', (event: MessageEvent<UpdateResponse>) => {
    const response = event.data;
    if (response.kind === 'ready') {
      ready = true;
      send();
      return;
    }

    const finished = inFlight;
    inFlight = null;
    if (response.kind === 'failed') fail(response.message);
    if (response.kind === 'result' && finished) {
      const renderMs = show(response, finished.yaml);
      record(finished.requestedAt, [...response.timings, renderMs]);
    }
    if (firstRequestAt !== null) {
      timer = setTimeout(send, 0);
    } else {
      delete body.pending;
    }
  });

  // Exposed for the end-to-end test and the typing benchmark: the update
  // count, the time from the first edit an update covers to the end of its
  // DOM changes and (set later) to the next frame, and the time per phase.
  function record(requestedAt: number, phases: number[]): void {
    count += 1;
    const end = performance.now();
    body.updates = String(count);
    body.latencyMs = (end - requestedAt).toFixed(2);
    body.updateMs = phases.reduce((sum, ms) => sum + ms, 0).toFixed(2);
    body.phasesMs = phases.map((ms) => ms.toFixed(1)).join(' ');
    body.ready = 'true';

    const update = String(count);
    requestAnimationFrame(() =>
      setTimeout(() => {
        body.paintedUpdate = update;
        body.paintedMs = (performance.now() - requestedAt).toFixed(2);
      }),
    );
  }

  return { request };
}
