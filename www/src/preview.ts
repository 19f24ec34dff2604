// The preview: each stage's steps in order, grouped as they run (step groups
// and parallel blocks), with every step's resolved settings.

import { drawStage } from './diagram';
import type { Link } from './links';
import { h, valueText } from './dom';
import type { Endpoints, Json, JsonObject, ResolvedStage, ResolvedStep } from './model';

/** One setting row: its label and where it sits in `spec` and `effective`. */
const SETTINGS: { label: string; path: string[] }[] = [
  { label: 'image', path: ['image'] },
  { label: 'connector', path: ['connectorRef'] },
  { label: 'shell', path: ['shell'] },
  { label: 'entrypoint', path: ['entrypoint'] },
  { label: 'command', path: ['command'] },
  { label: 'env', path: ['envVariables'] },
  { label: 'pull policy', path: ['imagePullPolicy'] },
  { label: 'run as user', path: ['runAsUser'] },
  { label: 'privileged', path: ['privileged'] },
  { label: 'CPU limit', path: ['resources', 'limits', 'cpu'] },
  { label: 'memory limit', path: ['resources', 'limits', 'memory'] },
  { label: 'port bindings', path: ['portBindings'] },
];

/** A step, or a step group holding more of them, as the stage lists them. */
type TreeNode = { kind: 'step'; step: ResolvedStep } | { kind: 'group'; identifier: string; children: TreeNode[] };

export interface Preview {
  /** Shows `stages`; `links[i]` are the arrows of stage i's picture. */
  render(stages: ResolvedStage[], links: Link[][]): void;
}

/** The rendered DOM of one stage, kept to patch it on the next update. */
interface RenderedStage {
  /** Identifier, name, infrastructure and the order and grouping of the steps. */
  layoutKey: string;
  pictureKey: string;
  section: HTMLElement;
  picture: SVGSVGElement;
  /** Each step's card by fqn, with the JSON of the step it shows. */
  cards: Map<string, { key: string; element: HTMLElement }>;
}

export function createPreview(container: HTMLElement): Preview {
  let rendered: RenderedStage[] = [];

  // While the layout of every stage stays the same, only the cards of
  // changed steps and changed pictures are replaced: typing in one step of
  // a long pipeline then touches one card rather than the whole page.
  function render(stages: ResolvedStage[], links: Link[][]): void {
    const sameLayout = stages.length === rendered.length && stages.every((stage, i) => rendered[i].layoutKey === layoutKey(stage));
    if (sameLayout) {
      stages.forEach((stage, i) => patchStage(rendered[i], stage, links[i] ?? []));
      return;
    }

    rendered = stages.map((stage, i) => buildStage(stage, links[i] ?? []));
    const sections = rendered.map((stage) => stage.section);
    container.replaceChildren(...(sections.length ? sections : [h('p', { class: 'empty' }, 'No stages to show.')]));
  }

  return { render };
}

function layoutKey(stage: ResolvedStage): string {
  const steps = stage.steps.map((step) => `${step.fqn} ${step.parallel}`);
  return JSON.stringify([stage.identifier, stage.name, stage.infrastructure, steps]);
}

function pictureKey(stage: ResolvedStage, links: Link[]): string {
  const steps = stage.steps.map((step) => [step.fqn, step.type, step.parallel, step.endpoints]);
  return JSON.stringify([steps, links]);
}

function buildStage(stage: ResolvedStage, links: Link[]): RenderedStage {
  const cards = new Map<string, { key: string; element: HTMLElement }>();
  const cardFor = (step: ResolvedStep): HTMLElement => {
    const element = stepCard(step);
    cards.set(step.fqn, { key: JSON.stringify(step), element });
    return element;
  };
  const picture = drawStage(stage, links);

  const section = h(
    'section',
    { class: 'stage', 'data-stage': stage.identifier },
    h(
      'h3',
      {},
      'Stage ',
      h('code', {}, stage.identifier),
      stage.name ? ` ${stage.name}` : null,
      stage.infrastructure ? h('span', { class: 'badge infrastructure' }, stage.infrastructure) : null,
    ),
    picture,
    h('div', { class: 'steps' }, ...renderNodes(stageTree(stage), cardFor)),
  );
  return { layoutKey: layoutKey(stage), pictureKey: pictureKey(stage, links), section, picture, cards };
}

function patchStage(shown: RenderedStage, stage: ResolvedStage, links: Link[]): void {
  for (const step of stage.steps) {
    const card = shown.cards.get(step.fqn)!;
    const key = JSON.stringify(step);
    if (card.key === key) continue;
    const element = stepCard(step);
    card.element.replaceWith(element);
    shown.cards.set(step.fqn, { key, element });
  }

  const key = pictureKey(stage, links);
  if (key !== shown.pictureKey) {
    const picture = drawStage(stage, links);
    shown.picture.replaceWith(picture);
    shown.picture = picture;
    shown.pictureKey = key;
  }
}

/** Rebuilds the step group nesting from each step's fqn. */
function stageTree(stage: ResolvedStage): TreeNode[] {
  const root: TreeNode[] = [];
  for (const step of stage.steps) {
    let level = root;
    for (const group of groupPath(step)) {
      const last = level[level.length - 1];
      if (last?.kind === 'group' && last.identifier === group) {
        level = last.children;
      } else {
        const node: TreeNode = { kind: 'group', identifier: group, children: [] };
        level.push(node);
        level = node.children;
      }
    }
    level.push({ kind: 'step', step });
  }
  return root;
}

/** Returns the identifiers of the step groups around a step, outermost first. */
export function groupPath(step: ResolvedStep): string[] {
  const marker = '.spec.execution.steps.';
  const at = step.fqn.indexOf(marker);
  if (at < 0) return [];
  const parts = step.fqn.slice(at + marker.length).split('.steps.');
  return parts.slice(0, -1);
}

function parallelOf(node: TreeNode): number | null {
  if (node.kind === 'step') return node.step.parallel;
  const first = node.children[0];
  return first ? parallelOf(first) : null;
}

/** Renders nodes in order, boxing neighbours that share a parallel block. */
function renderNodes(nodes: TreeNode[], cardFor: (step: ResolvedStep) => HTMLElement): HTMLElement[] {
  const out: HTMLElement[] = [];
  let index = 0;
  while (index < nodes.length) {
    const parallel = parallelOf(nodes[index]);
    let end = index + 1;
    while (parallel !== null && end < nodes.length && parallelOf(nodes[end]) === parallel) end++;

    const rendered = nodes.slice(index, end).map((node) => renderNode(node, cardFor));
    if (parallel !== null && end - index > 1) {
      out.push(h('div', { class: 'parallel' }, h('div', { class: 'box-label' }, 'parallel'), h('div', { class: 'parallel-row' }, ...rendered)));
    } else {
      out.push(...rendered);
    }
    index = end;
  }
  return out;
}

function renderNode(node: TreeNode, cardFor: (step: ResolvedStep) => HTMLElement): HTMLElement {
  if (node.kind === 'step') return cardFor(node.step);
  return h(
    'div',
    { class: 'group', 'data-group': node.identifier },
    h('div', { class: 'box-label' }, 'step group ', h('code', {}, node.identifier)),
    ...renderNodes(node.children, cardFor),
  );
}

function stepCard(step: ResolvedStep): HTMLElement {
  const rows = SETTINGS.flatMap(({ label, path }) => {
    const value = lookup(step.effective, path);
    if (value === undefined || value === null) return [];
    const written = lookup(step.spec, path);
    const isDefault = written === undefined || written === null;
    const shown = label === 'port bindings' ? formatPortBindings(value) : formatValue(value);
    return [
      h(
        'tr',
        { 'data-setting': label },
        h('th', { scope: 'row' }, label),
        h('td', {}, shown, isDefault ? h('span', { class: 'badge default' }, 'default') : null),
      ),
    ];
  });

  if (step.timeoutSeconds !== null) {
    rows.push(h('tr', { 'data-setting': 'timeout' }, h('th', { scope: 'row' }, 'timeout'), h('td', {}, h('code', {}, `${step.timeoutSeconds} s`))));
  }
  if (step.secrets.length > 0) {
    const names = step.secrets.flatMap((id, i) => [i ? ', ' : '', h('code', {}, id)]);
    rows.push(h('tr', { 'data-setting': 'secrets' }, h('th', { scope: 'row' }, 'secrets'), h('td', {}, ...names)));
  }

  return h(
    'article',
    { class: `step step-${step.type.toLowerCase()}`, 'data-step': step.identifier, 'data-fqn': step.fqn },
    h(
      'header',
      {},
      h('span', { class: 'badge type' }, step.type),
      h('strong', {}, step.name ?? step.identifier),
      ' ',
      h('code', { class: 'identifier' }, step.identifier),
    ),
    rows.length > 0 ? h('table', { class: 'settings' }, h('tbody', {}, ...rows)) : h('p', { class: 'empty' }, 'No settings.'),
    step.endpoints ? endpointsTable(step.identifier, step.endpoints) : null,
  );
}

function endpointsTable(identifier: string, endpoints: Endpoints): HTMLElement {
  const rows: [string, string[]][] = [
    ['containerised steps', endpoints.container],
    ['steps on the host', endpoints.host],
    ['steps in the Kubernetes pod', endpoints.pod],
  ];
  return h(
    'table',
    { class: 'endpoints' },
    h('caption', {}, 'How other steps reach ', h('code', {}, identifier)),
    h('thead', {}, h('tr', {}, h('th', {}, 'caller'), h('th', {}, 'address'))),
    h(
      'tbody',
      {},
      ...rows.map(([caller, addresses]) =>
        h(
          'tr',
          { 'data-caller': caller },
          h('th', { scope: 'row' }, caller),
          h(
            'td',
            {},
            ...(addresses.length
              ? addresses.flatMap((address, i) => [i ? ', ' : '', h('code', {}, address)])
              : [h('span', { class: 'empty' }, 'not reachable')]),
          ),
        ),
      ),
    ),
  );
}

/** Shows `portBindings` as `host 6380 → container 6379`, one binding a line. */
function formatPortBindings(value: Json): Node {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return formatValue(value);
  return h(
    'ul',
    { class: 'ports' },
    ...Object.entries(value).map(([host, container]) =>
      h('li', {}, 'host ', h('code', {}, host), ' → container ', h('code', {}, String(container))),
    ),
  );
}

function lookup(object: JsonObject, path: string[]): Json | undefined {
  let value: Json | undefined = object;
  for (const key of path) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    value = value[key];
  }
  return value;
}

function formatValue(value: Json): Node {
  if (typeof value === 'string') {
    return value.includes('\n') ? h('pre', {}, valueText(value)) : h('code', {}, valueText(value));
  }
  if (Array.isArray(value)) {
    return h('ol', { class: 'list' }, ...value.map((item) => h('li', {}, formatValue(item))));
  }
  if (value !== null && typeof value === 'object') {
    return h(
      'table',
      { class: 'map' },
      h('tbody', {}, ...Object.entries(value).map(([key, item]) => h('tr', {}, h('th', { scope: 'row' }, key), h('td', {}, formatValue(item))))),
    );
  }
  return h('code', {}, String(value));
}
