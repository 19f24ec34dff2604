// DOM construction helpers. Every piece of pipeline text reaches the page
// through these as a Text node or an attribute value, never as HTML.

export type Child = Node | string | number | null | undefined | false;

type Attributes = Record<string, string | number | boolean | null | undefined>;

function setAttributes(element: Element, attributes: Attributes): void {
  for (const [name, value] of Object.entries(attributes)) {
    // Event handler attributes would turn data into code.
    if (name.toLowerCase().startsWith('on')) {
      throw new Error(`event handler attribute \`${name}\` is not allowed`);
    }
    if (value === null || value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? '' : String(value));
  }
}

function appendChildren(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/** Creates an HTML element with attributes and children (strings become text). */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  setAttributes(element, attributes);
  appendChildren(element, children);
  return element;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Creates an SVG element with attributes and children (strings become text). */
export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: Child[]
): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG_NS, tag);
  setAttributes(element, attributes);
  appendChildren(element, children);
  return element;
}

const SECRET_EXPRESSION = /<\+secrets\.getValue\([^)]*\)>/g;

/**
 * Renders a value as text, wrapping each `<+secrets.getValue(…)>` expression
 * in a marked span so readers see at a glance which parts are secrets.
 */
export function valueText(value: string): DocumentFragment {
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const match of value.matchAll(SECRET_EXPRESSION)) {
    const start = match.index ?? 0;
    appendChildren(fragment, [value.slice(last, start)]);
    fragment.appendChild(h('span', { class: 'secret', title: 'secret: the runner substitutes its value' }, match[0]));
    last = start + match[0].length;
  }
  appendChildren(fragment, [value.slice(last)]);
  return fragment;
}
