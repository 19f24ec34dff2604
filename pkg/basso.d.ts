// Types of the entry modules. The argument and result types are the ts-rs
// declarations of crates/basso-wasm/src/types.d.ts, which wasm-bindgen
// copies into web/basso.d.ts. The API functions are declared here, because
// the entry modules wrap the glue's functions, which take and return JSON
// text (pkg/basso.js).
import type {
  CheckOptions,
  CheckReport,
  ContextValue,
  InputsListing,
  JsonValue,
  Outcome,
  References,
  ReferencesOptions,
  Resolution,
  ResolveOptions,
  RuntimeInputOptions,
  TemplateOptions,
} from "./web/basso.js";

export type * from "./web/basso.js";
export { default, initSync } from "./web/basso.js";

/** The version of basso compiled into this module. */
export declare function version(): string;

/**
 * Checks a pipeline, pipeline template or input set and returns the
 * document `basso check --format json` prints for it, with UTF-16 columns
 * added to each diagnostic.
 */
export declare function check(yaml: string, options?: CheckOptions | null): CheckReport;

/**
 * Resolves every stage and step of a pipeline and returns the document
 * `basso resolve --format json` prints. Secrets stay
 * `<+secrets.getValue("id")>`.
 */
export declare function resolve(yaml: string, options?: ResolveOptions | null): Resolution;

/** Lists the runtime inputs of a pipeline as `basso inputs --format json` does. */
export declare function inputs(yaml: string, options?: CheckOptions | null): InputsListing;

/**
 * Renders a template to a string as `basso eval --format json` does:
 * `{ schemaVersion: 1, value }` with the text, or
 * `{ schemaVersion: 1, error }`. Secrets render as their expression text,
 * `<+secrets.getValue("id")>`.
 *
 * `context` is an object whose keys are the expression roots. Its values
 * (`ContextValue`) are JSON values, BigInts, Maps and `undefined`. A BigInt
 * from -2^63 to 2^63 - 1 is read as an exact integer and a Map with string
 * keys as an object. `undefined` is `null`.
 * Functions, symbols, Sets, BigInts outside that range, reference cycles
 * and nesting deeper than 1,000 levels throw an `Error`.
 *
 * `options.limits.maxExpressionDepth` may be at most 64; a larger value
 * throws an `Error`, because deeper expressions can overflow the
 * WebAssembly stack.
 */
export declare function render(
  template: string,
  context?: Record<string, ContextValue> | null,
  options?: TemplateOptions | null,
): Outcome<JsonValue>;

/**
 * Evaluates a template to a typed value as `basso eval --mode evaluate
 * --format json` does: `{ schemaVersion: 1, value }` or
 * `{ schemaVersion: 1, error }`. `context` and `options`
 * are read as in `render`.
 */
export declare function evaluate(
  template: string,
  context?: Record<string, ContextValue> | null,
  options?: TemplateOptions | null,
): Outcome<JsonValue>;

/**
 * Lists the context paths and literal secret ids a template uses:
 * `{ schemaVersion: 1, value: { paths, secretIds, dynamicSecrets } }` or
 * `{ schemaVersion: 1, error }`.
 */
export declare function references(template: string, options?: ReferencesOptions | null): Outcome<References>;

/**
 * Classifies a field as fixed text, an expression or a runtime input, or
 * with `supplied` or `useDefault` validates the value an input gets.
 */
export declare function runtimeInput(field: string, options?: RuntimeInputOptions | null): Outcome<JsonValue>;
