// The `limits` option of render and evaluate. The package rejects limits
// deeper than the WebAssembly stack allows. Templates at the maximum run
// without a fault, also in the worst case: a deep expression parsed while
// re-resolution has already nested evaluation deeply.
import assert from "node:assert/strict";
import { test } from "node:test";

import { evaluate, render } from "../../node.js";

/** The maximum `limits.maxExpressionDepth` (MAX_EXPRESSION_DEPTH in crates/basso-wasm/src/template.rs). */
const MAX_EXPRESSION_DEPTH = 64;

const atMaximum = { limits: { maxExpressionDepth: MAX_EXPRESSION_DEPTH, maxBlockDepth: 1e6, maxResolutionDepth: 1e6 } };

function parenthesized(depth, inner = "1") {
  return "(".repeat(depth) + inner + ")".repeat(depth);
}

/**
 * Returns a context of `levels` strings in which `v0` refers to `v1` inside
 * `brackets` brackets, `v1` to `v2`, and so on. The last string is an
 * expression nested `innerDepth` parentheses deep.
 */
function chain(levels, brackets, innerDepth) {
  const context = {};
  for (let level = 0; level < levels; level++) {
    context[`v${level}`] = `<+${"[".repeat(brackets)}v${level + 1}${"]".repeat(brackets)}>`;
  }
  context[`v${levels}`] = `<+${parenthesized(innerDepth)}>`;
  return context;
}

test("expression depth above maximum rejected", () => {
  for (const depth of [MAX_EXPRESSION_DEPTH + 1, 300, 3000, 2 ** 32 - 1]) {
    assert.throws(() => render("<+1>", {}, { limits: { maxExpressionDepth: depth } }), {
      name: "Error",
      message:
        `invalid options: \`limits.maxExpressionDepth\` is ${depth}, above the maximum of ` +
        `${MAX_EXPRESSION_DEPTH}; deeper expressions can overflow the WebAssembly stack`,
    });
  }
});

test("limits above 32 bits accepted", () => {
  const huge = 2 ** 40;
  const limits = {
    maxTemplateBytes: huge,
    maxBlockDepth: huge,
    maxSteps: huge,
    maxResultBytes: huge,
    maxResolutionDepth: huge,
  };
  assert.deepEqual(render("<+1 + 2>", {}, { limits }), { schemaVersion: 1, value: "3" });
  assert.deepEqual(evaluate("1 + 2", {}, { limits }), { schemaVersion: 1, value: 3 });
});

test("expression depth above 32 bits named in error", () => {
  assert.throws(
    () => render("<+1>", {}, { limits: { maxExpressionDepth: 2 ** 40 } }),
    (error) => {
      assert.ok(error instanceof Error);
      assert.match(error.message, /`limits\.maxExpressionDepth` is 1099511627776, above the maximum/);
      return true;
    },
  );
});

test("expression depth at maximum runs", () => {
  const template = `<+${parenthesized(MAX_EXPRESSION_DEPTH)}>`;
  assert.deepEqual(render(template, {}, atMaximum), { schemaVersion: 1, value: "1" });
  assert.deepEqual(evaluate(parenthesized(MAX_EXPRESSION_DEPTH), {}, atMaximum), { schemaVersion: 1, value: 1 });
  const tooDeep = render(`<+${parenthesized(MAX_EXPRESSION_DEPTH + 1)}>`, {}, atMaximum);
  assert.equal(tooDeep.error?.code, "nesting-limit");
});

test("deep parse inside re-resolution has no fault", () => {
  const bracketCounts = [MAX_EXPRESSION_DEPTH - 2, 32, 16, 8, 3, 1, 0];
  for (const brackets of bracketCounts) {
    for (let levels = 1; levels <= 200; levels++) {
      const context = chain(levels, brackets, MAX_EXPRESSION_DEPTH);
      const outcome = render("<+v0>", context, atMaximum);
      if ("value" in outcome) continue;
      // Past some level evaluation stops at its nesting limit; deeper
      // chains stop there too.
      assert.equal(outcome.error.code, "nesting-limit", `${levels} levels of ${brackets} brackets`);
      break;
    }
  }
});

test("block depth far above evaluation's limit rejects deep blocks", () => {
  const template = "<+".repeat(20_000) + "1" + ">".repeat(20_000);
  for (const call of [render, evaluate]) {
    const outcome = call(template, {}, { limits: { maxBlockDepth: 1_000_000 } });
    assert.equal(outcome.error?.code, "nesting-limit", JSON.stringify(outcome).slice(0, 300));
    assert.match(outcome.error.message, /deeper than 200 levels/);
  }
});

test("module usable after rejected limits", () => {
  const template = `<+${parenthesized(200)}>`;
  assert.throws(() => render(template, {}, { limits: { maxExpressionDepth: 3000 } }), /maxExpressionDepth/);
  assert.deepEqual(render(`<+${parenthesized(20)}>`, {}), { schemaVersion: 1, value: "1" });
});

test("result limit above 2 GiB is capped", () => {
  // 100,000 replacements of 100,000 bytes make 10 GB. A wasm32 allocation
  // cannot exceed 2 GiB, so the limit stops the result at 256 MiB.
  const a = "a".repeat(100_000);
  const b = "b".repeat(100_000);
  const limits = { maxResultBytes: 1e12, maxSteps: 1e15 };
  const outcome = evaluate(`<+"${a}".replace("a", "${b}")>`, null, { limits });
  assert.equal(outcome.error?.code, "result-too-large", JSON.stringify(outcome).slice(0, 300));
  assert.match(outcome.error.message, /larger than the limit of 268435456 bytes/);
  assert.deepEqual(render("<+1 + 1>"), { schemaVersion: 1, value: "2" });
});
