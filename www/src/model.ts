// The shapes the page works with. src/basso.ts converts the package's
// results into these, so it is the only file that knows the package.

export type Severity = 'error' | 'warning' | 'info';

/** A problem with 1-based lines; `columnUtf16` counts UTF-16 code units as editors do. */
export interface Diagnostic {
  severity: Severity;
  code: string;
  message: string;
  help: string | null;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  columnUtf16: number;
  endColumnUtf16: number;
  /**
   * The text the positions index, or null for the YAML. `--input#2` is the
   * second runtime input value passed to the resolver.
   */
  file: string | null;
  /** The input path of the runtime input whose entered value this is about, or null. */
  inputPath: string | null;
}

/** One `<+input>` field of the pipeline, as a form needs it. */
export interface RuntimeInput {
  /** Input path, written as expressions name things (`pipeline.variables.x`). */
  path: string;
  line: number;
  column: number;
  /** The field's value type: `string`, `boolean`, `integer`, `number`, `list` or `map`. */
  type: string;
  /** The default as the field's text (`1000`, `main`), or null. */
  default: string | null;
  /** Choices from `.allowedValues(…)`, `.selectOneFrom(…)` or `.selectManyFrom(…)`. */
  choices: string[] | null;
  /** True for `.selectManyFrom(…)`: several choices, comma-joined. */
  multiple: boolean;
  regex: string | null;
  /** The value is requested when the step is about to run, not at pipeline start. */
  executionInput: boolean;
}

/** Addresses at which later steps reach a Background step's service. */
export interface Endpoints {
  /** Host name on the stage's container network: the step identifier, or `GROUP_STEP`. */
  hostname: string;
  /** `hostname:containerPort`, for callers running in containers. */
  container: string[];
  /** `localhost:hostPort`, for callers running on the host (VM and Cloud). */
  host: string[];
  /** `localhost:containerPort`, for callers in the same Kubernetes pod. */
  pod: string[];
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface ResolvedStep {
  identifier: string;
  name: string | null;
  type: string;
  /** Full expression path, e.g. `pipeline.stages.build.spec.execution.steps.g.steps.pg`. */
  fqn: string;
  /** Innermost step group's identifier, or null. */
  stepGroup: string | null;
  /** Shared by steps that run concurrently, or null. */
  parallel: number | null;
  /** Step settings with every value resolved, YAML key names kept. */
  spec: JsonObject;
  /** `spec` plus the defaults the stage's infrastructure adds. */
  effective: JsonObject;
  /** Set for Background steps only. */
  endpoints: Endpoints | null;
  /** Secret identifiers the step's fields use, in order of first use. */
  secrets: string[];
  timeoutSeconds: number | null;
}

export interface ResolvedStage {
  identifier: string;
  name: string | null;
  /** The infrastructure type as written (`KubernetesDirect`, `Cloud`), or null. */
  infrastructure: string | null;
  steps: ResolvedStep[];
}

export interface Resolution {
  stages: ResolvedStage[];
  diagnostics: Diagnostic[];
}

export interface Inputs {
  inputs: RuntimeInput[];
  diagnostics: Diagnostic[];
}
