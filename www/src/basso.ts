// The one module that talks to the basso package: it loads the wasm module
// and converts results into the page's own types (src/model.ts).

import init, * as basso from 'basso';

import type { Diagnostic, Endpoints, Inputs, JsonObject, Resolution, RuntimeInput } from './model';

/** Fetches and compiles the wasm module; call once before anything else. */
export async function loadResolver(): Promise<void> {
  await init();
}

/** The file name the YAML text is given, which its diagnostics carry. */
const PIPELINE_FILE = 'pipeline.yaml';

/** Context values for expressions the file does not define (`<+codebase.branch>`). */
export type Context = JsonObject;

export function resolvePipeline(yaml: string, inputs: Record<string, string>, context: Context): Resolution {
  const result = basso.resolve(yaml, { file: PIPELINE_FILE, inputs, inputSets: [], context }) as any;
  return {
    stages: (result.stages ?? []).map((stage: any) => ({
      identifier: stage.identifier,
      name: stage.name ?? null,
      infrastructure: stage.infrastructure?.typeName ?? null,
      steps: (stage.steps ?? []).map((step: any) => ({
        identifier: step.identifier,
        name: step.name ?? null,
        type: step.type,
        fqn: step.fqn,
        stepGroup: step.stepGroup ?? null,
        parallel: step.parallel ?? null,
        spec: step.spec ?? {},
        effective: step.effective ?? step.spec ?? {},
        endpoints: toEndpoints(step.endpoints),
        secrets: step.secrets ?? [],
        timeoutSeconds: step.timeoutSeconds ?? null,
      })),
    })),
    diagnostics: toDiagnostics(result.diagnostics, Object.keys(inputs)),
  };
}

export function listInputs(yaml: string): Inputs {
  const result = basso.inputs(yaml, { file: PIPELINE_FILE }) as any;
  return {
    inputs: (result.inputs ?? []).map(
      (input: any): RuntimeInput => ({
        path: input.path,
        line: input.line,
        column: input.column,
        type: input.type ?? 'string',
        default: input.default === null || input.default === undefined ? null : fieldText(input.default),
        choices: input.allowedValues ?? null,
        multiple: Boolean(input.multiple),
        regex: input.regex ?? null,
        executionInput: Boolean(input.executionInput),
      }),
    ),
    diagnostics: toDiagnostics(result.diagnostics, []),
  };
}

/** Renders a JSON value as a field's text: strings as they are, other values as JSON. */
function fieldText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * Lists the context paths a template reads, such as
 * `pipeline.stages.build.spec.execution.steps.pg.output.outputVariables.url`.
 * A template with a syntax error lists none.
 */
export function listReferences(template: string): string[] {
  const result = basso.references(template, {}) as any;
  return result.value?.paths ?? [];
}

/**
 * Converts diagnostics. `inputPaths` are the keys of the `inputs` passed to
 * resolve(), in order: diagnostics in the file `--input#N` are about the N-th.
 */
function toDiagnostics(diagnostics: any[] | undefined, inputPaths: string[]): Diagnostic[] {
  return (diagnostics ?? []).map((d) => ({
    severity: d.severity,
    code: d.code,
    message: d.message,
    help: d.help ?? null,
    line: d.line,
    column: d.column,
    endLine: d.endLine,
    endColumn: d.endColumn,
    columnUtf16: d.columnUtf16 ?? d.column,
    endColumnUtf16: d.endColumnUtf16 ?? d.endColumn,
    file: d.file === null || d.file === undefined || d.file === PIPELINE_FILE ? null : d.file,
    inputPath: inputPathOf(d, inputPaths),
  }));
}

function inputPathOf(d: any, inputPaths: string[]): string | null {
  const argument = /^--input#([1-9][0-9]*)$/.exec(d.file ?? '');
  if (argument) return inputPaths[Number(argument[1]) - 1] ?? null;
  // A value that the input's regex or allowed values reject is reported at
  // the runtime input in the pipeline, and the message names its source.
  const source = /\(from `--input ([^=`]+)=/.exec(d.message ?? '');
  return source && inputPaths.includes(source[1]) ? source[1] : null;
}

function toEndpoints(endpoints: any | null | undefined): Endpoints | null {
  if (!endpoints) return null;
  return {
    hostname: endpoints.hostname,
    container: endpoints.container ?? [],
    host: endpoints.host ?? [],
    pod: endpoints.pod ?? [],
  };
}
