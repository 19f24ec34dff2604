// Entry point for browsers and bundlers. Call the default export `init()`
// once (it fetches basso_bg.wasm beside the glue) before any other function.
//
// The wasm module takes object arguments as JSON text and returns JSON text,
// because converting JavaScript objects value by value through the glue
// cost more than the evaluation itself. The functions below write the
// arguments with `toJsonText` and read the results with `JSON.parse`.
import * as glue from "./web/basso.js";

import { wrapExports } from "./guard.js";
import { toJsonText } from "./json.js";

const wasm = wrapExports(glue);

/** Whether `init` or `initSync` has loaded the module. */
let initialised = false;

/** Loads the WebAssembly module, as the glue's `init` does; see web/basso.js. */
export default async function init(moduleOrPath) {
  const output = await glue.default(moduleOrPath);
  initialised = true;
  return output;
}

/** Loads the WebAssembly module synchronously, as the glue's `initSync` does. */
export function initSync(module) {
  const output = glue.initSync(module);
  initialised = true;
  return output;
}

export function version() {
  requireInitialised("version");
  return wasm.version();
}

export function check(yaml, options) {
  return checkPipeline("check", yaml, options);
}

export function resolve(yaml, options) {
  return checkPipeline("resolve", yaml, options);
}

export function inputs(yaml, options) {
  return checkPipeline("inputs", yaml, options);
}

export function render(template, context, options) {
  requireInitialised("render");
  requireString(template, "template");
  return JSON.parse(wasm.render(template, toJsonText(context, "context"), optionsText(options)));
}

export function evaluate(template, context, options) {
  requireInitialised("evaluate");
  requireString(template, "template");
  return JSON.parse(wasm.evaluate(template, toJsonText(context, "context"), optionsText(options)));
}

export function references(template, options) {
  requireInitialised("references");
  requireString(template, "template");
  return JSON.parse(wasm.references(template, optionsText(options)));
}

export function runtimeInput(field, options) {
  requireInitialised("runtimeInput");
  requireString(field, "field");
  return JSON.parse(wasm.runtimeInput(field, optionsText(options)));
}

/**
 * The size limit of a YAML text in bytes of UTF-8, `Limits::DEFAULT_MAX_BYTES`
 * in crates/basso-core/src/pipeline/yaml.rs.
 */
const MAX_YAML_BYTES = 16 * 1024 * 1024;

/** The file name diagnostics carry when the options name none, as in the module. */
const DEFAULT_FILE_NAME = "pipeline.yaml";

/** Runs `check`, `resolve` or `inputs` (`name`) on a YAML text. */
function checkPipeline(name, yaml, options) {
  requireInitialised(name);
  requireString(yaml, "yaml");
  const text = optionsText(options);
  // Each UTF-16 code unit takes at least one byte of UTF-8, so a longer
  // string is always too large. The module would reject it only after the
  // glue copied it into the module's memory, which never shrinks.
  if (yaml.length > MAX_YAML_BYTES) return tooLargeDocument(name, yaml, text);
  return JSON.parse(wasm[name](yaml, text));
}

/**
 * Returns the document that the module returns for a YAML text over
 * MAX_YAML_BYTES, without copying the text into the module's memory.
 */
function tooLargeDocument(name, yaml, optionsJson) {
  // The module checks the options before the YAML: an empty text takes the
  // place of the YAML, so that invalid options throw the same Error.
  wasm[name]("", optionsJson);
  const file = JSON.parse(optionsJson)?.file ?? DEFAULT_FILE_NAME;
  const diagnostic = {
    severity: "error",
    code: "yaml-too-large",
    message: `the file is ${utf8Length(yaml)} bytes, more than the limit of ${MAX_YAML_BYTES} bytes`,
    help: null,
    file,
    line: 1,
    column: 1,
    endLine: 1,
    endColumn: 1,
    columnUtf16: 1,
    endColumnUtf16: 1,
  };
  switch (name) {
    case "resolve":
      return { schemaVersion: 1, pipeline: null, timeoutSeconds: null, stages: [], diagnostics: [diagnostic] };
    case "inputs":
      return { schemaVersion: 1, inputs: [], diagnostics: [diagnostic] };
    default:
      return { schemaVersion: 1, diagnostics: [diagnostic] };
  }
}

/**
 * Returns the length of `text` in bytes of UTF-8 as the glue encodes it,
 * with each lone surrogate replaced by U+FFFD (3 bytes).
 */
function utf8Length(text) {
  let bytes = 0;
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index);
    if (unit < 0x80) {
      bytes += 1;
    } else if (unit < 0x800) {
      bytes += 2;
    } else if (unit >= 0xd800 && unit <= 0xdbff && (text.charCodeAt(index + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      index++;
    } else {
      bytes += 3;
    }
  }
  return bytes;
}

/**
 * Throws an `Error` unless the module is loaded. Without it the glue fails
 * with a `TypeError` about its own internals.
 */
function requireInitialised(name) {
  if (!initialised) {
    throw new Error(`basso is not initialised: await init() before calling ${name}()`);
  }
}

/**
 * Throws a `TypeError` unless `value` is a string. The glue copies only
 * strings correctly: for other values it passes the module a pointer and
 * length that describe no string, and the module traps.
 */
function requireString(value, argument) {
  if (typeof value !== "string") {
    throw new TypeError(`invalid ${argument}: expected a string, got ${typeName(value)}`);
  }
}

/**
 * Returns the JSON text of an options argument, or throws a `TypeError`
 * unless it is `undefined`, `null` or an object. The module would read an
 * array as a struct's fields in order: `check(yaml, ["a"])` set `file`.
 */
function optionsText(options) {
  const isObject = typeof options === "object" && !Array.isArray(options);
  if (options !== undefined && !isObject) {
    throw new TypeError(`invalid options: expected an object, got ${typeName(options)}`);
  }
  if (options) checkOptionShapes(options);
  return toJsonText(options, "options");
}

/** Options whose value is an object, where the module would read an array as a struct. */
const OBJECT_OPTIONS = ["limits", "inputs", "context"];

/**
 * Throws a `TypeError` that names the option for an array where an object
 * is expected, and for a limit that is NaN or infinite, which the JSON
 * text would carry as `null`, the default.
 */
function checkOptionShapes(options) {
  for (const name of OBJECT_OPTIONS) {
    if (Array.isArray(ownValue(options, name))) {
      throw new TypeError(`invalid options: \`${name}\` must be an object, got array`);
    }
  }
  const inputSets = ownValue(options, "inputSets");
  const limits = ownValue(options, "limits");
  if (Array.isArray(inputSets)) {
    for (const [index, set] of inputSets.entries()) {
      if (Array.isArray(set)) {
        throw new TypeError(`invalid options: \`inputSets[${index}]\` must be an object with \`file\` and \`yaml\`, got array`);
      }
    }
  }
  if (typeof limits === "object" && limits !== null) {
    for (const name of Object.keys(limits)) {
      const limit = ownValue(limits, name);
      if (typeof limit === "number" && !Number.isFinite(limit)) {
        throw new TypeError(`invalid options: \`limits.${name}\` must be a finite number, got ${limit}`);
      }
    }
  }
}

/**
 * Returns the data property `name` of `object`, or `undefined` for a
 * getter, which the JSON writer calls once, later.
 */
function ownValue(object, name) {
  return Object.getOwnPropertyDescriptor(object, name)?.value;
}

/** Returns the type of `value` as messages name it: `typeof`, except for `null` and arrays. */
function typeName(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}
