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
 * Milliseconds a request may wait for its reply before the page marks the
 * preview as out of date. An update of a 200-step pipeline took at most
 * 65 ms (docs/benchmarks.md), so the mark does not flicker while the user
 * types.
 */
const UPDATING_MARK_MS = 300;

/**
 * Milliseconds the worker may take for one request before the page stops it
 * and starts another. A 10,000-step pipeline resolves in about 0.4 s in the
 * package (docs/benchmarks.md), so the limit leaves ample room for real
 * files and stops a resolution that would stall every later edit.
 */
const RESOLVER_TIMEOUT_MS = 5000;

/**
 * Sends the page's state to the worker and shows each response. At most one
 * request is in flight. Edits made meanwhile are coalesced into the next
 * request, sent as soon as the response is shown, so a burst of keystrokes
 * costs one resolution per worker round trip. A zero-delay timer merges the
 * changes one event handler makes (a paste, a form reset) into one request.
 * A worker that does not reply within RESOLVER_TIMEOUT_MS is terminated and
 * replaced, and the next edit goes to the new one.
 */
function createUpdates() {
  const body = document.body.dataset;
  let worker = startWorker();
  let ready = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let inFlight: { id: number; yaml: string; requestedAt: number } | null = null;
  let firstRequestAt: number | null = null;
  let count = 0;
  let requests = 0;
  let replaced = false;
  let markTimer: ReturnType<typeof setTimeout> | undefined;
  let timeoutTimer: ReturnType<typeof setTimeout> | undefined;

  function startWorker(): Worker {
    const started = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'basso' });
    started.addEventListener('error', (event) => fail(`the resolver worker failed: ${event.message}`));
    started.addEventListener('message', (event: MessageEvent<UpdateResponse>) => receive(event.data));
    return started;
  }

  function send(): void {
    timer = undefined;
    if (inFlight || !ready) return;
    const yaml = editor.text();
    requests += 1;
    inFlight = { id: requests, yaml, requestedAt: firstRequestAt ?? performance.now() };
    firstRequestAt = null;
    previewPane.classList.remove('timed-out');
    const request: UpdateRequest = { id: inFlight.id, yaml, values: form.values(), context: context.value() };
    worker.postMessage(request);
    markTimer = setTimeout(() => previewPane.classList.add('updating'), UPDATING_MARK_MS);
    timeoutTimer = setTimeout(replaceWorker, RESOLVER_TIMEOUT_MS);
  }

  /** Ends the wait for the request in flight, if any, and returns it. */
  function settle(): typeof inFlight {
    const finished = inFlight;
    inFlight = null;
    clearTimeout(markTimer);
    clearTimeout(timeoutTimer);
    previewPane.classList.remove('updating');
    return finished;
  }

  function replaceWorker(): void {
    settle();
    worker.terminate();
    ready = false;
    replaced = true;
    worker = startWorker();
    fail(
      `the resolver took more than ${RESOLVER_TIMEOUT_MS / 1000} s and was stopped; ` +
        'the preview shows an earlier text until the next edit resolves',
    );
    previewPane.classList.add('timed-out');
    if (firstRequestAt === null) delete body.pending;
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

  function receive(response: UpdateResponse): void {
    if (response.kind === 'ready') {
      ready = true;
      // The first worker resolves the initial text. A replacement waits for
      // an edit, because the text that timed out would time out again.
      if (!replaced || firstRequestAt !== null) send();
      return;
    }
    if (response.kind === 'failed' && response.id === null && !inFlight) {
      fail(response.message);
      return;
    }

    const finished = settle();
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
  }

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
