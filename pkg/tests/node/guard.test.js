// How pkg/guard.js handles each kind of error from a glue function, with a
// stand-in glue object that records when the instance is replaced.
import assert from "node:assert/strict";
import { test } from "node:test";

import { wrapExports } from "../../guard.js";

/** Returns wrapped exports whose `render` throws `error`, and the reset count. */
function glueThrowing(error) {
  const state = { resets: 0 };
  const glue = {
    render() {
      throw error;
    },
    version() {
      return "0.1.0";
    },
    __wbg_reset_state() {
      state.resets += 1;
    },
  };
  return { api: wrapExports(glue), state };
}

test("stack overflow resets the instance", () => {
  const overflow = new RangeError("Maximum call stack size exceeded");
  const { api, state } = glueThrowing(overflow);

  let thrown;
  try {
    api.render("<+a>", "{}", "null");
  } catch (error) {
    thrown = error;
  }
  assert.equal(state.resets, 1);
  assert.ok(thrown instanceof Error);
  assert.ok(!(thrown instanceof RangeError), `got the RangeError itself: ${thrown}`);
  assert.equal(
    thrown.message,
    "basso internal error: RangeError in render: Maximum call stack size exceeded; " +
      "this is a bug in basso, please report it with the input",
  );
  assert.equal(thrown.cause, overflow);
});

test("trap resets the instance", () => {
  const { api, state } = glueThrowing(new WebAssembly.RuntimeError("unreachable"));
  assert.throws(() => api.render(), { message: /^basso internal error: WebAssembly trap in render: unreachable; / });
  assert.equal(state.resets, 1);
});

test("invalid argument keeps the instance", () => {
  const invalid = new Error("invalid context: expected an object");
  const { api, state } = glueThrowing(invalid);
  assert.throws(() => api.render(), (error) => error === invalid);
  assert.equal(state.resets, 0);
});
