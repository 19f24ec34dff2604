// Which Background services each step talks to: found from the expressions
// its command, entrypoint and env use, and from the service addresses the
// text contains.

import { listReferences } from './basso';
import type { Json, ResolvedStage, ResolvedStep } from './model';

/** One arrow of the stage picture: `from` talks to the service `to`. */
export interface Link {
  from: string;
  to: string;
  /** What in the step's text names the service. */
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
  /** Matches an expression such as `steps.pg.output.x` or `steps.group.steps.pg`. */
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

function findVia(texts: string[], matcher: ServiceMatcher): string | null {
  for (const text of texts) {
    for (const reference of cachedReferences(text)) {
      if (matcher.reference.test(reference)) return `<+${reference}>`;
    }
    const address = matcher.addresses.find((a) => text.includes(a));
    if (address) return address;
    const host = matcher.hostName.exec(text);
    if (host) return host[0];
  }
  return null;
}

/** Lists an arrow for every non-Background step that names a Background service. */
export function findLinks(stage: ResolvedStage): Link[] {
  const matchers = stage.steps.filter((s) => s.type === 'Background').map(matcherFor);
  if (matchers.length === 0) return [];

  const links: Link[] = [];
  for (const step of stage.steps) {
    if (step.type === 'Background') continue;
    const texts = callerTexts(step);
    for (const matcher of matchers) {
      const via = findVia(texts, matcher);
      if (via) links.push({ from: step.fqn, to: matcher.service.fqn, via });
    }
  }
  return links;
}
