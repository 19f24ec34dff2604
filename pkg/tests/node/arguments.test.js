// The entry functions check the type of each string argument before they
// call into the module, which would otherwise read a string that was never
// written and trap.
import assert from "node:assert/strict";
import { test } from "node:test";

import { check, evaluate, inputs, references, render, resolve, runtimeInput } from "../../node.js";

const PIPELINE = "pipeline:\n  name: demo\n  identifier: demo\n";

/** Each function, the name of its string argument and a call with that argument. */
const CALLS = [
  ["check", "yaml", (value) => check(value)],
  ["resolve", "yaml", (value) => resolve(value)],
  ["inputs", "yaml", (value) => inputs(value)],
  ["render", "template", (value) => render(value, {})],
  ["evaluate", "template", (value) => evaluate(value, {})],
  ["references", "template", (value) => references(value)],
  ["runtimeInput", "field", (value) => runtimeInput(value)],
];

/** Values that are not strings, with the type the message names. */
const NON_STRINGS = [
  [123, "number"],
  [true, "boolean"],
  [{}, "object"],
  [["a"], "array"],
  [Symbol("s"), "symbol"],
  [10n, "bigint"],
  [undefined, "undefined"],
  [null, "null"],
  [() => "a", "function"],
  [new String("a"), "object"],
];

for (const [name, argument, call] of CALLS) {
  test(`${name} rejects non-string ${argument}`, () => {
    for (const [value, type] of NON_STRINGS) {
      assert.throws(() => call(value), {
        name: "TypeError",
        message: `invalid ${argument}: expected a string, got ${type}`,
      });
    }
  });
}

test("functions work after rejected arguments", () => {
  for (const [, , call] of CALLS) {
    assert.throws(() => call(123), TypeError);
  }
  assert.equal(check(PIPELINE).schemaVersion, 1);
  assert.deepEqual(render("<+a>", { a: 1 }), { value: "1" });
});
