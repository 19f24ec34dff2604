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

export interface ContextPanel {
  value(): Context;
}

export function createContextPanel(textarea: HTMLTextAreaElement, error: HTMLElement, onChange: () => void): ContextPanel {
  let current: Context = SAMPLE_CONTEXT;
  textarea.value = JSON.stringify(SAMPLE_CONTEXT, null, 2);

  textarea.addEventListener('input', () => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(textarea.value);
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
    error.textContent = '';
    textarea.setAttribute('aria-invalid', 'false');
    current = parsed as Context;
    onChange();
  });

  return { value: () => current };
}
