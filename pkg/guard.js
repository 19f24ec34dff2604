// Wraps the exports of the wasm-bindgen glue so that an internal fault
// reaches callers as an `Error` and leaves a working module behind.
//
// A Rust panic throws an `Error` whose message starts with
// "basso internal error: " (see crates/basso-wasm/src/fault.rs); any other
// trap, such as running out of memory, arrives as `WebAssembly.RuntimeError`.
// Exhausting the JavaScript engine's stack inside the module arrives as a
// `RangeError`. In each case the instance's stack and heap are left
// mid-call, so it is replaced with a fresh one before the error is rethrown.

const INTERNAL_ERROR_PREFIX = "basso internal error: ";

/**
 * Glue exports that are not part of the API; `start` is the module's start
 * function, which wasm-bindgen exports too and which already ran.
 */
const UNWRAPPED = new Set(["default", "initSync", "start", "__wbg_reset_state"]);

/**
 * Returns the glue's API functions, each wrapped to reset the instance after
 * an internal fault.
 */
export function wrapExports(glue) {
  const api = {};
  for (const [name, value] of Object.entries(glue)) {
    if (typeof value !== "function" || UNWRAPPED.has(name)) continue;
    api[name] = wrapFunction(glue, name, value);
  }
  return api;
}

function wrapFunction(glue, name, fn) {
  const wrapped = function (...args) {
    try {
      return fn(...args);
    } catch (error) {
      throw recover(glue, name, error);
    }
  };
  Object.defineProperty(wrapped, "name", { value: name });
  return wrapped;
}

function recover(glue, name, error) {
  if (error instanceof WebAssembly.RuntimeError) {
    glue.__wbg_reset_state();
    return internalError(`WebAssembly trap in ${name}: ${error.message}`, error);
  }
  // A RangeError from the glue call is a stack overflow inside the module
  // (or a string too long for the glue). The module's own stack pointer
  // still points into the frames the overflow abandoned, so the next call
  // would trap unless the instance is replaced.
  if (error instanceof RangeError) {
    glue.__wbg_reset_state();
    return internalError(`RangeError in ${name}: ${error.message}`, error);
  }
  if (error instanceof Error && error.message.startsWith(INTERNAL_ERROR_PREFIX)) {
    glue.__wbg_reset_state();
  }
  return error;
}

function internalError(description, cause) {
  return new Error(
    `${INTERNAL_ERROR_PREFIX}${description}; this is a bug in basso, please report it with the input`,
    { cause },
  );
}
