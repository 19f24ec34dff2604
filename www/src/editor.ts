// The YAML editor: CodeMirror 6 with basso's diagnostics as lint marks.

import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { yaml } from '@codemirror/lang-yaml';
import { bracketMatching, defaultHighlightStyle, indentOnInput, syntaxHighlighting } from '@codemirror/language';
import { lintGutter, setDiagnostics, type Diagnostic as LintDiagnostic } from '@codemirror/lint';
import { EditorState, type Text } from '@codemirror/state';
import {
  drawSelection,
  EditorView,
  highlightActiveLine,
  highlightActiveLineGutter,
  keymap,
  lineNumbers,
} from '@codemirror/view';

import { h } from './dom';
import type { Diagnostic } from './model';

export interface Editor {
  text(): string;
  replace(text: string): void;
  showDiagnostics(diagnostics: Diagnostic[]): void;
  /** Selects a diagnostic's range, scrolls it into view and focuses the editor. */
  reveal(diagnostic: Diagnostic): void;
  view: EditorView;
}

/** Creates the editor inside `host`; `onChange` runs after every edit. */
export function createEditor(host: HTMLElement, initial: string, onChange: () => void): Editor {
  // CodeMirror adds its styles as <style> elements, which the page's
  // Content Security Policy (style-src 'self') blocks, except inside a shadow
  // root, where it uses constructed style sheets that the policy allows.
  const shadow = host.attachShadow({ mode: 'open' });
  const parent = document.createElement('div');
  shadow.appendChild(parent);

  const view = new EditorView({
    parent,
    root: shadow,
    state: EditorState.create({
      doc: initial,
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        history(),
        drawSelection(),
        indentOnInput(),
        bracketMatching(),
        highlightActiveLine(),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        yaml(),
        lintGutter(),
        keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
        theme,
        EditorView.lineWrapping,
        EditorView.contentAttributes.of({ 'aria-label': 'Pipeline YAML' }),
        EditorView.updateListener.of((update) => {
          if (update.docChanged) onChange();
        }),
      ],
    }),
  });

  return {
    view,
    text: () => view.state.doc.toString(),
    replace(text: string) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
    },
    reveal(diagnostic: Diagnostic) {
      const { from, to } = toLintDiagnostic(view.state.doc, diagnostic);
      view.dispatch({ selection: { anchor: from, head: to }, scrollIntoView: true });
      view.focus();
    },
    showDiagnostics(diagnostics: Diagnostic[]) {
      const doc = view.state.doc;
      const marks = diagnostics.map((d) => toLintDiagnostic(doc, d));
      view.dispatch(setDiagnostics(view.state, marks));
    },
  };
}

const theme = EditorView.theme({
  '&': { border: '1px solid #d7dbe3', maxHeight: '68vh', fontSize: '12.5px' },
  '.cm-scroller': { overflow: 'auto', fontFamily: "ui-monospace, 'DejaVu Sans Mono', Menlo, monospace" },
  '.lint-help': { color: '#5d6678', marginTop: '0.2rem' },
});

/** Converts 1-based line and UTF-16 column positions into document offsets. */
export function offsetOf(doc: Text, line: number, columnUtf16: number): number {
  const lineNumber = Math.min(Math.max(line, 1), doc.lines);
  const docLine = doc.line(lineNumber);
  return Math.min(docLine.from + Math.max(columnUtf16, 1) - 1, docLine.to);
}

function toLintDiagnostic(doc: Text, d: Diagnostic): LintDiagnostic {
  const from = offsetOf(doc, d.line, d.columnUtf16);
  let to = offsetOf(doc, d.endLine, d.endColumnUtf16);
  // An empty range would draw no underline: mark the character at `from`,
  // or the line break when the problem sits at the end of a line.
  if (to <= from) to = Math.min(from + 1, doc.length);

  return {
    from,
    to,
    severity: d.severity === 'info' ? 'info' : d.severity,
    source: d.code,
    message: d.help ? `${d.message}\nhelp: ${d.help}` : d.message,
    renderMessage: () =>
      h(
        'div',
        { class: 'lint-message' },
        h('div', { class: 'lint-text' }, d.message),
        d.help ? h('div', { class: 'lint-help' }, 'help: ', d.help) : null,
      ),
  };
}
