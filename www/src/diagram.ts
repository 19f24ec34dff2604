// The stage picture: an SVG built with DOM calls. Steps run top to bottom on
// the left, Background services sit on the right with their ports, and an
// arrow goes from each step to every service it talks to.

import { svg } from './dom';
import type { Link } from './links';
import type { ResolvedStage, ResolvedStep } from './model';

const STEP_X = 8;
const STEP_WIDTH = 240;
const STEP_HEIGHT = 30;
const SERVICE_X = 340;
const SERVICE_WIDTH = 300;
const PORT_LINE = 16;
const GAP = 10;
const WIDTH = SERVICE_X + SERVICE_WIDTH + 8;

let markerCount = 0;

interface Box {
  x: number;
  y: number;
  height: number;
}

/** Draws a stage; `links` are the arrows from steps to services (see findLinks). */
export function drawStage(stage: ResolvedStage, links: Link[]): SVGSVGElement {
  const services = stage.steps.filter((s) => s.type === 'Background');
  const steps = stage.steps.filter((s) => s.type !== 'Background');
  const boxes = new Map<string, Box>();
  const markerId = `arrow-${++markerCount}`;

  const stepNodes = steps.map((step, index) => {
    const y = 28 + index * (STEP_HEIGHT + GAP);
    boxes.set(step.fqn, { x: STEP_X, y, height: STEP_HEIGHT });
    return stepBox(step, y);
  });

  let serviceY = 28;
  const serviceNodes = services.map((service) => {
    const height = 24 + Math.max(portLines(service).length, 1) * PORT_LINE;
    boxes.set(service.fqn, { x: SERVICE_X, y: serviceY, height });
    const node = serviceBox(service, serviceY, height);
    serviceY += height + GAP;
    return node;
  });

  const arrows = links.map((link) => {
    const from = boxes.get(link.from)!;
    const to = boxes.get(link.to)!;
    const x1 = from.x + STEP_WIDTH;
    const y1 = from.y + from.height / 2;
    const x2 = to.x - 2;
    const y2 = to.y + 14;
    const bend = (x2 - x1) / 2;
    return svg(
      'path',
      {
        class: 'link',
        d: `M ${x1} ${y1} C ${x1 + bend} ${y1}, ${x2 - bend} ${y2}, ${x2} ${y2}`,
        'marker-end': `url(#${markerId})`,
        'data-from': link.from,
        'data-to': link.to,
      },
      svg('title', {}, `${lastPart(link.from)} → ${lastPart(link.to)} via ${link.via}`),
    );
  });

  const height = Math.max(28 + steps.length * (STEP_HEIGHT + GAP), serviceY) + 4;
  return svg(
    'svg',
    {
      class: 'stage-picture',
      width: WIDTH,
      height,
      viewBox: `0 0 ${WIDTH} ${height}`,
      role: 'img',
      'aria-label': `Steps and Background services of stage ${stage.identifier}`,
    },
    svg(
      'defs',
      {},
      svg(
        'marker',
        { id: markerId, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
        svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrow-head' }),
      ),
    ),
    svg('text', { x: STEP_X, y: 16, class: 'column-title' }, 'steps, in order'),
    svg('text', { x: SERVICE_X, y: 16, class: 'column-title' }, 'Background services'),
    services.length === 0 ? svg('text', { x: SERVICE_X, y: 44, class: 'muted' }, 'none in this stage') : null,
    ...stepNodes,
    ...serviceNodes,
    ...arrows,
  );
}

function lastPart(fqn: string): string {
  return fqn.slice(fqn.lastIndexOf('.') + 1);
}

function clip(text: string, length: number): string {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

function stepBox(step: ResolvedStep, y: number): SVGGElement {
  const label = step.parallel !== null ? `∥${step.parallel} ${step.identifier}` : step.identifier;
  return svg(
    'g',
    { class: 'step-box', 'data-fqn': step.fqn },
    svg('rect', { x: STEP_X, y, width: STEP_WIDTH, height: STEP_HEIGHT, rx: 4 }),
    svg('text', { x: STEP_X + 8, y: y + 19 }, clip(label, 24), svg('tspan', { class: 'muted' }, ` ${step.type}`)),
    svg('title', {}, `${step.fqn} (${step.type})`),
  );
}

/** Lists one line per port: the container address, then the host or pod address if any. */
function portLines(service: ResolvedStep): string[] {
  const endpoints = service.endpoints;
  if (!endpoints) return [];
  const count = Math.max(endpoints.container.length, endpoints.host.length, endpoints.pod.length);
  return Array.from({ length: count }, (_, i) =>
    [endpoints.container[i], endpoints.host[i] ? `host ${endpoints.host[i]}` : null, endpoints.pod[i] ? `pod ${endpoints.pod[i]}` : null]
      .filter(Boolean)
      .join(' · '),
  );
}

function serviceBox(service: ResolvedStep, y: number, height: number): SVGGElement {
  const lines = portLines(service);
  const ports = lines.length
    ? lines.map((line, index) => svg('text', { x: SERVICE_X + 8, y: y + 36 + index * PORT_LINE, class: 'port' }, clip(line, 44)))
    : [svg('text', { x: SERVICE_X + 8, y: y + 36, class: 'port muted' }, 'no ports')];

  return svg(
    'g',
    { class: 'service-box', 'data-fqn': service.fqn },
    svg('rect', { x: SERVICE_X, y, width: SERVICE_WIDTH, height, rx: 6 }),
    svg('text', { x: SERVICE_X + 8, y: y + 18, class: 'service-name' }, clip(service.identifier, 28)),
    ...ports,
    svg('title', {}, service.fqn),
  );
}
