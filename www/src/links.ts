// Links from steps to the Background services they call. A link comes from
// an expression in the step's command, entrypoint or env as written (read
// with references()), or from a service host name or address in their
// resolved text.

import { listReferences } from './basso';
import type { Json, ResolvedStage, ResolvedStep } from './model';

/** One arrow of the stage picture: `from` talks to the service `to`. */
export interface Link {
  from: string;
  to: string;
  /** The text in the step that names the service. */
  via: string;
}

const referenceCache = new Map<string, string[]>();

function cachedReferences(text: string): string[] {
  let references = referenceCache.get(text);
  if (references === undefined) {
    if (referenceCache.size > 5000) referenceCache.clear();
    references = text.includes('<+') ? listReferences(text) : [];
    referenceCache.set(text, references);
  }
  return references;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Strings of the settings through which a step can address a service. */
function callerTexts(step: ResolvedStep): string[] {
  const texts: string[] = [];
  const collect = (value: Json | undefined) => {
    if (typeof value === 'string') texts.push(value);
    else if (Array.isArray(value)) value.forEach(collect);
    else if (value !== null && typeof value === 'object') Object.values(value).forEach(collect);
  };
  collect(step.effective.command);
  collect(step.effective.entrypoint);
  collect(step.effective.envVariables);
  return texts;
}

interface ServiceMatcher {
  service: ResolvedStep;
  /** Matches a context path through the service's step, such as `…steps.pg.spec.image`. */
  reference: RegExp;
  /** Matches the container host name as a whole word (`pg:5432`, `-h pg`). */
  hostName: RegExp;
  addresses: string[];
}

function matcherFor(service: ResolvedStep): ServiceMatcher {
  const id = escapeRegExp(service.identifier);
  const hostName = service.endpoints?.hostname ?? service.identifier;
  const addresses = [...(service.endpoints?.host ?? []), ...(service.endpoints?.pod ?? [])];

  return {
    service,
    reference: new RegExp(`(^|\\.)steps\\.${id}(\\.|$)`),
    hostName: new RegExp(`(?<![\\w.-])${escapeRegExp(hostName)}(?![\\w-])`),
    addresses,
  };
}

/** Lines of YAML under a step's `command`, `entrypoint` or `envVariables`, by `stage/step` identifier. */
export type StepSourceLines = Map<string, string[]>;

const CALLER_KEYS = new Set(['command', 'entrypoint', 'envVariables']);

interface OpenBlock {
  indent: number;
  /** Indent of the block's own keys, found on its first line. */
  keyIndent: number;
  identifier: string | null;
}

interface OpenStep extends OpenBlock {
  specIndent: number;
  specKeyIndent: number;
  key: string | null;
  lines: string[];
}

const INDENT = /^ */;

/**
 * Collects the lines with `<+` under each step's command, entrypoint and
 * env, by following indentation. The resolved settings no longer contain the
 * expressions, so references() reads them from here.
 * NOTE: this reads block-style YAML only. Steps written in flow style (`{ … }`) are skipped.
 */
export function collectStepSources(yaml: string): StepSourceLines {
  const sources: StepSourceLines = new Map();
  let stage: OpenBlock | null = null;
  let step: OpenStep | null = null;

  const closeStep = () => {
    if (step?.identifier && stage?.identifier && step.lines.length) {
      sources.set(`${stage.identifier}/${step.identifier}`, step.lines);
    }
    step = null;
  };

  for (const line of yaml.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const indent = INDENT.exec(line)![0].length;

    if (step && indent <= step.indent) closeStep();
    if (stage && indent <= stage.indent) stage = null;

    if (/^- stage:\s*$/.test(trimmed)) {
      closeStep();
      stage = { indent, keyIndent: -1, identifier: null };
      continue;
    }
    if (/^- step:\s*$/.test(trimmed)) {
      closeStep();
      step = { indent, keyIndent: -1, identifier: null, specIndent: -1, specKeyIndent: -1, key: null, lines: [] };
      continue;
    }

    if (step) {
      readStepLine(step, line, trimmed, indent);
    } else if (stage) {
      if (stage.keyIndent < 0) stage.keyIndent = indent;
      const identifier = /^identifier:\s*(\S+)/.exec(trimmed);
      if (identifier && indent === stage.keyIndent) stage.identifier = identifier[1];
    }
  }
  closeStep();
  return sources;
}

function readStepLine(step: OpenStep, line: string, trimmed: string, indent: number): void {
  if (step.keyIndent < 0) step.keyIndent = indent;

  if (indent === step.keyIndent) {
    const identifier = /^identifier:\s*(\S+)/.exec(trimmed);
    if (identifier) step.identifier = identifier[1];
    step.specIndent = /^spec:\s*$/.test(trimmed) ? indent : -1;
    step.specKeyIndent = -1;
    step.key = null;
    return;
  }
  if (step.specIndent < 0 || indent <= step.specIndent) return;

  if (step.specKeyIndent < 0) step.specKeyIndent = indent;
  if (indent === step.specKeyIndent) step.key = /^([\w-]+):/.exec(trimmed)?.[1] ?? null;
  if (step.key && CALLER_KEYS.has(step.key) && line.includes('<+')) step.lines.push(trimmed);
}

function findVia(sourceLines: string[], texts: string[], matcher: ServiceMatcher): string | null {
  for (const text of sourceLines) {
    for (const reference of cachedReferences(text)) {
      if (matcher.reference.test(reference)) return `<+${reference}>`;
    }
  }
  for (const text of texts) {
    const address = matcher.addresses.find((a) => text.includes(a));
    if (address) return address;
    const host = matcher.hostName.exec(text);
    if (host) return host[0];
  }
  return null;
}

/** Lists an arrow for every non-Background step that names a Background service. */
export function findLinks(stage: ResolvedStage, sources: StepSourceLines): Link[] {
  const matchers = stage.steps.filter((s) => s.type === 'Background').map(matcherFor);
  if (matchers.length === 0) return [];

  const links: Link[] = [];
  for (const step of stage.steps) {
    if (step.type === 'Background') continue;
    const sourceLines = sources.get(`${stage.identifier}/${step.identifier}`) ?? [];
    const texts = callerTexts(step);
    for (const matcher of matchers) {
      const via = findVia(sourceLines, texts, matcher);
      if (via) links.push({ from: step.fqn, to: matcher.service.fqn, via });
    }
  }
  return links;
}
