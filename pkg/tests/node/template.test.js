// render, evaluate, references and runtimeInput through the package.
import assert from "node:assert/strict";
import { test } from "node:test";

import { evaluate, references, render, runtimeInput } from "../../node.js";

const context = { pipeline: { variables: { tag: "1.2.3", count: 4 } } };

test("render returns the CLI document", () => {
  const outcome = render("app:<+pipeline.variables.tag>", context);
  assert.deepEqual(outcome, { schemaVersion: 1, value: "app:1.2.3" });
  assert.equal(Object.getPrototypeOf(outcome), Object.prototype);
});

test("evaluate returns a typed value", () => {
  assert.deepEqual(evaluate("<+pipeline.variables.count> + 1", context), { schemaVersion: 1, value: 5 });
});

test("mode option overrides the default", () => {
  assert.deepEqual(evaluate("<+pipeline.variables.count>", context, { mode: "render" }), { schemaVersion: 1, value: "4" });
});

test("secrets render as their expression", () => {
  const withSecret = { ...context, secrets: { token: "hunter2" } };
  const outcome = render('x=<+secrets.getValue("token")>', withSecret);
  assert.deepEqual(outcome, { schemaVersion: 1, value: 'x=<+secrets.getValue("token")>' });
  assert.ok(!JSON.stringify(evaluate('<+secrets.getValue("token")>', withSecret)).includes("hunter2"));
});

test("error carries a UTF-16 column", () => {
  const outcome = evaluate("😀😀 <+1 +>", {}, { unresolved: "error" });
  assert.ok(outcome.error, JSON.stringify(outcome));
  assert.equal(outcome.error.columnUtf16 - outcome.error.column, 2);
  assert.notEqual(outcome.error.help, "");
});

test("unresolved option is applied", () => {
  const outcome = render("<+pipeline.variables.missing>", context, { unresolved: "error" });
  assert.equal(outcome.error?.code, "unresolved-expression");
});

test("references lists paths and secrets", () => {
  const outcome = references('<+pipeline.variables.tag> <+secrets.getValue("a")>');
  assert.deepEqual(outcome.value.paths, ["pipeline.variables.tag"]);
  assert.deepEqual(outcome.value.secretIds, ["a"]);
});

test("runtimeInput validates a supplied value", () => {
  const field = "<+input>.allowedValues(a,b)";
  assert.deepEqual(runtimeInput(field, { supplied: "a" }), { schemaVersion: 1, value: "a" });
  assert.ok(runtimeInput(field, { supplied: "c" }).error);
  assert.equal(runtimeInput(field).value.kind, "runtimeInput");
});

test("invalid arguments throw Errors", () => {
  const cases = [
    [() => render("x", [], {}), /invalid context: expected an object/],
    [() => render("x", "text", {}), /invalid context/],
    [() => render("x", {}, { mode: "fast" }), /invalid options: unknown variant `fast`/],
    [() => render("x", {}, { scna: "smart" }), /invalid options: unknown field `scna`/],
    [() => render("x", { run: () => 1 }, {}), /invalid context/],
    [() => references("x", { mode: "render" }), /invalid options: unknown field `mode`/],
    [() => runtimeInput("<+input>", { supplied: Symbol("x") }), /invalid options/],
  ];
  for (const [call, message] of cases) {
    assert.throws(call, (error) => error instanceof Error && message.test(error.message), String(message));
  }
});

test("hostile templates return outcomes", () => {
  const templates = [
    "<+".repeat(10_000),
    "<+(".repeat(5_000) + ">",
    "<+" + "[".repeat(20_000) + ">",
    "<+'\\u0000'>",
    "<+\"😀\".substring(1)>",
    "<+pipeline.variables.tag.split('').join(',')>",
    "x".repeat(300_000),
  ];
  for (const template of templates) {
    for (const run of [render, evaluate]) {
      const outcome = run(template, context);
      assert.ok("value" in outcome || "error" in outcome, JSON.stringify(outcome).slice(0, 200));
    }
  }
});
