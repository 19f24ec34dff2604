// Runs basso off the main thread, so the editor stays responsive while a
// large pipeline resolves. Each request carries the whole text, and the page
// sends the next request only after the response to this one.

import { listInputs, loadResolver, resolvePipeline, type Context } from './basso';
import { collectStepSources, findLinks, type Link } from './links';
import type { Inputs, Resolution } from './model';

export interface UpdateRequest {
  id: number;
  yaml: string;
  /** Runtime input values by path, as entered in the form. */
  values: Record<string, string>;
  context: Context;
}

export type UpdateResponse =
  | { kind: 'ready' }
  | { kind: 'failed'; id: number | null; message: string }
  | {
      kind: 'result';
      id: number;
      inputs: Inputs;
      resolution: Resolution;
      /** Arrows of each stage's picture, in the order of `resolution.stages`. */
      links: Link[][];
      /** Milliseconds spent in inputs(), in resolve() and in finding links. */
      timings: [number, number, number];
    };

/** The parts of DedicatedWorkerGlobalScope used here (the DOM typings lack it). */
interface WorkerScope {
  postMessage(message: UpdateResponse): void;
  addEventListener(type: 'message', listener: (event: MessageEvent<unknown>) => void): void;
}

const scope = self as unknown as WorkerScope;

function reply(response: UpdateResponse): void {
  scope.postMessage(response);
}

const ready = loadResolver().then(
  () => reply({ kind: 'ready' }),
  (error: Error) => reply({ kind: 'failed', id: null, message: `could not load the resolver: ${error.message}` }),
);

scope.addEventListener('message', async (event: MessageEvent<unknown>) => {
  await ready;
  // Every message gets a reply, because the page sends its next request
  // only after one. Chromium delivers `null` when it cannot deserialise a
  // message, for example one nested about 1,500 levels deep.
  const request = event.data as Partial<UpdateRequest> | null;
  const id = typeof request?.id === 'number' ? request.id : null;
  if (!isUpdateRequest(request)) {
    reply({ kind: 'failed', id, message: 'the resolver received a malformed request and ignored it' });
    return;
  }
  try {
    reply(update(request));
  } catch (error) {
    reply({ kind: 'failed', id, message: `the resolver failed: ${(error as Error).message}` });
  }
});

function isUpdateRequest(request: Partial<UpdateRequest> | null): request is UpdateRequest {
  const isObject = (value: unknown) => typeof value === 'object' && value !== null && !Array.isArray(value);
  return (
    isObject(request) &&
    typeof request!.id === 'number' &&
    typeof request!.yaml === 'string' &&
    isObject(request!.values) &&
    isObject(request!.context)
  );
}

function update({ id, yaml, values, context }: UpdateRequest): UpdateResponse {
  const t0 = performance.now();
  const inputs = listInputs(yaml);
  const t1 = performance.now();
  // The form may still contain values of inputs the edit removed, and
  // resolve() rejects values for fields that are not runtime inputs.
  const known = new Set(inputs.inputs.map((input) => input.path));
  const current = Object.fromEntries(Object.entries(values).filter(([path]) => known.has(path)));
  const resolution = resolvePipeline(yaml, current, context);
  const t2 = performance.now();
  const sources = collectStepSources(yaml);
  const links = resolution.stages.map((stage) => findLinks(stage, sources));
  const t3 = performance.now();
  return { kind: 'result', id, inputs, resolution, links, timings: [t1 - t0, t2 - t1, t3 - t2] };
}
