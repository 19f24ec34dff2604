// The context panel: values the pipeline reads from outside the file, as
// editable JSON. A parse error keeps the last valid context in use.

import type { Context } from './basso';

// The sample sets only run-time values. A context value for the pipeline's
// name, identifier or variables replaces the file's, and the resolver warns
// about it (`context-overrides-file`), so the sample leaves them out.
export const SAMPLE_CONTEXT: Context = {
  pipeline: { sequenceId: 42 },
  codebase: {
    branch: 'main',
    commitSha: '3f1c2a9d8b7e6f5a4c3b2a1908f7e6d5c4b3a291',
    repoUrl: 'https://github.com/example/orders-api',
  },
  trigger: {
    type: 'Webhook',
    payload: {
      pull_request: { number: 17, title: 'Add refunds endpoint', user: { login: 'octocat' } },
    },
  },
};

/**
 * The deepest nesting the panel accepts, counting the context object as one
 * level. It is an estimate of what webhook payloads need, with a wide margin.
 * Chromium 156 delivers a message nested 1,500 levels deep to the worker as
 * `null`, and the basso package rejects values nested more than 1,000 levels.
 */
const MAX_CONTEXT_DEPTH = 100;

/** Returns whether `value` nests objects and arrays more than `limit` levels deep. */
function nestedDeeperThan(value: unknown, limit: number): boolean {
  // An explicit stack: JSON.parse builds values deeper than recursion here
  // could walk.
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (item === null || typeof item !== 'object') continue;
    if (depth > limit) return true;
    for (const child of Object.values(item)) stack.push([child, depth + 1]);
  }
  return false;
}

/** The range of integers that the basso package reads as exact integers. */
const MIN_I64 = -(2n ** 63n);
const MAX_I64 = 2n ** 63n - 1n;

/**
 * Reads integers that a JavaScript number cannot hold exactly (beyond
 * 2^53, such as a 64-bit id in a webhook payload) as `BigInt`s from their
 * source text, which the basso package keeps exact, as `basso resolve
 * --context` does. Beyond the 64-bit range, where the package takes no
 * `BigInt`, they stay floats, as natively. The third reviver argument, with
 * the source text, is in Chromium since version 114.
 */
function exactIntegers(_key: string, value: unknown, context?: { source?: string }): unknown {
  const source = context?.source;
  if (typeof value === 'number' && !Number.isSafeInteger(value) && source !== undefined && /^-?\d+$/.test(source)) {
    const exact = BigInt(source);
    // Outside the 64-bit range the number stays a float, as `basso
    // resolve --context` reads it.
    if (exact >= MIN_I64 && exact <= MAX_I64) {
      return exact;
    }
  }
  return value;
}

export interface ContextPanel {
  value(): Context;
}

export function createContextPanel(textarea: HTMLTextAreaElement, error: HTMLElement, onChange: () => void): ContextPanel {
  let current: Context = SAMPLE_CONTEXT;
  textarea.value = JSON.stringify(SAMPLE_CONTEXT, null, 2);

  textarea.addEventListener('input', () => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(textarea.value, exactIntegers as (key: string, value: unknown) => unknown);
    } catch (e) {
      error.textContent = `invalid JSON: ${(e as Error).message}; the last valid context stays in use`;
      textarea.setAttribute('aria-invalid', 'true');
      return;
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      error.textContent = 'the context must be a JSON object; the last valid context stays in use';
      textarea.setAttribute('aria-invalid', 'true');
      return;
    }
    if (nestedDeeperThan(parsed, MAX_CONTEXT_DEPTH)) {
      error.textContent = `the context is nested more than ${MAX_CONTEXT_DEPTH} levels deep; the last valid context stays in use`;
      textarea.setAttribute('aria-invalid', 'true');
      return;
    }
    error.textContent = '';
    textarea.setAttribute('aria-invalid', 'false');
    current = parsed as Context;
    onChange();
  });

  return { value: () => current };
}
