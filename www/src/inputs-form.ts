// The runtime input form, rebuilt from `inputs()` whenever the set of
// inputs changes. Values the user entered survive a rebuild by input path.

import { h } from './dom';
import type { Diagnostic, RuntimeInput } from './model';

export interface InputsForm {
  /** Rebuilds the fields when `inputs` differ from the ones shown. */
  update(inputs: RuntimeInput[]): void;
  /** Values to resolve with, by input path; empty fields are left out. */
  values(): Record<string, string>;
  /**
   * Marks the fields whose values the resolver rejected, from the
   * diagnostics with an `inputPath`, and clears the other fields' marks.
   */
  showProblems(diagnostics: Diagnostic[]): void;
  /** Focuses the field of an input path. */
  focus(path: string): void;
}

/** A field's control and the text below it that shows its problem. */
interface ShownField {
  control: HTMLInputElement | HTMLSelectElement;
  error: HTMLElement;
  /**
   * The problem the page finds in the value itself: a missing value. The
   * resolver, in the worker, checks the regex and the allowed values, so
   * a regex that backtracks badly cannot stall the page.
   */
  ownProblem: string | null;
}

export function createInputsForm(form: HTMLFormElement, onChange: () => void): InputsForm {
  const entered = new Map<string, string>();
  const fields = new Map<string, ShownField>();
  // The resolver's messages about entered values, by input path. A field's
  // own problem is shown first, because the resolver has not seen its
  // latest value yet.
  let resolverProblems = new Map<string, string>();
  let shownKey = '';

  form.addEventListener('submit', (event) => event.preventDefault());

  function update(inputs: RuntimeInput[]): void {
    const key = JSON.stringify(inputs.map(({ line: _line, column: _column, ...rest }) => rest));
    if (key === shownKey) return;
    shownKey = key;

    fields.clear();
    if (inputs.length === 0) {
      form.replaceChildren(h('p', { class: 'empty' }, 'This pipeline has no runtime inputs.'));
      return;
    }
    form.replaceChildren(...inputs.map((input, index) => field(input, index)));
  }

  function field(input: RuntimeInput, index: number): HTMLElement {
    const id = `input-${index}`;
    const control = createControl(input, id);
    const error = h('p', { class: 'field-error', id: `${id}-error`, 'aria-live': 'polite' });
    control.setAttribute('aria-describedby', `${id}-error`);
    control.dataset.path = input.path;

    const shownField: ShownField = { control, error, ownProblem: null };
    fields.set(input.path, shownField);

    const check = () => {
      const value = readControl(control);
      entered.set(input.path, value);
      shownField.ownProblem = validate(input, value);
      markField(shownField, resolverProblems.get(input.path));
    };
    control.addEventListener('input', () => {
      // The resolver's message was about the previous value.
      resolverProblems.delete(input.path);
      check();
      onChange();
    });
    check();

    const shortName = input.path.split('.').slice(-2).join('.');
    return h(
      'div',
      { class: 'field', 'data-path': input.path },
      h(
        'label',
        { for: id, title: input.path },
        h('span', { class: 'field-name' }, shortName),
        h('span', { class: 'field-type' }, input.type),
        input.executionInput ? h('span', { class: 'badge execution' }, 'execution-time input') : null,
      ),
      h('code', { class: 'field-path' }, input.path),
      control,
      input.regex ? h('p', { class: 'field-hint' }, 'must match ', h('code', {}, input.regex)) : null,
      error,
    );
  }

  function createControl(input: RuntimeInput, id: string): HTMLInputElement | HTMLSelectElement {
    const previous = entered.get(input.path);
    const initial = previous ?? input.default ?? '';
    const choices = input.choices ?? (input.type === 'boolean' ? ['true', 'false'] : null);

    if (choices && input.multiple) {
      const chosen = new Set(splitList(initial));
      const select = h('select', { id, multiple: true, size: Math.min(choices.length, 5) });
      for (const option of choices) {
        select.append(h('option', { value: option, selected: chosen.has(option) }, option));
      }
      return select;
    }

    if (choices) {
      const select = h('select', { id });
      if (!choices.includes(initial)) select.append(h('option', { value: '' }, '(choose)'));
      for (const option of choices) {
        select.append(h('option', { value: option, selected: option === initial }, option));
      }
      return select;
    }

    return h('input', { id, type: 'text', value: initial, spellcheck: 'false', autocomplete: 'off' });
  }

  function values(): Record<string, string> {
    const result: Record<string, string> = {};
    for (const control of form.querySelectorAll<HTMLInputElement | HTMLSelectElement>('[data-path]:is(input, select)')) {
      const value = readControl(control);
      if (value !== '') result[control.dataset.path!] = value;
    }
    return result;
  }

  function showProblems(diagnostics: Diagnostic[]): void {
    resolverProblems = new Map();
    for (const d of diagnostics) {
      if (d.inputPath === null || resolverProblems.has(d.inputPath)) continue;
      resolverProblems.set(d.inputPath, d.help ? `${d.message}; ${d.help}` : d.message);
    }
    for (const [path, shownField] of fields) markField(shownField, resolverProblems.get(path));
  }

  function focus(path: string): void {
    fields.get(path)?.control.focus();
  }

  return { update, values, showProblems, focus };
}

function markField(field: ShownField, resolverProblem: string | undefined): void {
  const problem = field.ownProblem ?? resolverProblem ?? null;
  field.error.textContent = problem ?? '';
  field.control.setAttribute('aria-invalid', problem ? 'true' : 'false');
}

function readControl(control: HTMLInputElement | HTMLSelectElement): string {
  if (control instanceof HTMLSelectElement && control.multiple) {
    return Array.from(control.selectedOptions, (option) => option.value).join(',');
  }
  return control.value;
}

/** Splits a comma-joined multi-select value. */
function splitList(value: string): string[] {
  return value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
}

function validate(input: RuntimeInput, value: string): string | null {
  if (value === '') {
    return input.executionInput ? null : 'required: enter a value or add a default';
  }
  return null;
}
