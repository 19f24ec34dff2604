// The entry functions check the type of each string argument and of the
// options before they call into the module. The module would trap on a
// string that was never written and read an array as options.
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
  assert.deepEqual(render("<+a>", { a: 1 }), { schemaVersion: 1, value: "1" });
});

/** Each function with an options argument and a call with that argument. */
const OPTION_CALLS = [
  ["check", (options) => check(PIPELINE, options)],
  ["resolve", (options) => resolve(PIPELINE, options)],
  ["inputs", (options) => inputs(PIPELINE, options)],
  ["render", (options) => render("<+1>", {}, options)],
  ["evaluate", (options) => evaluate("<+1>", {}, options)],
  ["references", (options) => references("<+a>", options)],
  ["runtimeInput", (options) => runtimeInput("<+input>", options)],
];

/** Options values that are not objects, with the type the message names. */
const NON_OBJECTS = [
  [["a"], "array"],
  [[], "array"],
  ["file.yaml", "string"],
  [5, "number"],
  [true, "boolean"],
  [Symbol("s"), "symbol"],
  [() => ({}), "function"],
];

for (const [name, call] of OPTION_CALLS) {
  test(`${name} rejects non-object options`, () => {
    for (const [value, type] of NON_OBJECTS) {
      assert.throws(() => call(value), {
        name: "TypeError",
        message: `invalid options: expected an object, got ${type}`,
      });
    }
  });

  test(`${name} accepts absent or empty options`, () => {
    assert.ok(call(undefined));
    assert.ok(call(null));
    assert.ok(call({}));
  });
}

test("arrays as option objects rejected", () => {
  const cases = [
    [() => render("<+1>", {}, { limits: [10, 1, 1, 5, 5, 1] }), "`limits` must be an object, got array"],
    [() => evaluate("1", {}, { limits: [] }), "`limits` must be an object, got array"],
    [() => resolve(PIPELINE, { inputs: [["pipeline.variables.tag", "1"]] }), "`inputs` must be an object, got array"],
    [() => resolve(PIPELINE, { context: [1] }), "`context` must be an object, got array"],
    [
      () => resolve(PIPELINE, { inputSets: [{ file: "a.yaml", yaml: "" }, ["s.yaml", "inputSet: {}"]] }),
      "`inputSets[1]` must be an object with `file` and `yaml`, got array",
    ],
  ];
  for (const [call, problem] of cases) {
    assert.throws(call, { name: "TypeError", message: `invalid options: ${problem}` });
  }
});

test("non-finite limits rejected", () => {
  for (const value of [Infinity, -Infinity, NaN]) {
    assert.throws(() => render("<+1>", {}, { limits: { maxSteps: value } }), {
      name: "TypeError",
      message: `invalid options: \`limits.maxSteps\` must be a finite number, got ${value}`,
    });
    assert.throws(() => evaluate("1", {}, { limits: { maxResultBytes: value } }), {
      name: "TypeError",
      message: `invalid options: \`limits.maxResultBytes\` must be a finite number, got ${value}`,
    });
  }
});
