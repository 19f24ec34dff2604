// How the package reads JavaScript values in contexts and options
// (pkg/json.js): the rules it kept from reading them with
// serde-wasm-bindgen, and the errors that replace crashes.
import assert from "node:assert/strict";
import { test } from "node:test";

import { evaluate, render, resolve, runtimeInput } from "../../node.js";

/** The nesting limit of pkg/json.js. */
const MAX_DEPTH = 1000;

function invalidContext(pattern) {
  return (error) => error instanceof Error && /^invalid context: /.test(error.message) && pattern.test(error.message);
}

/** Returns `levels` objects nested in one another, the innermost holding 1. */
function nested(levels) {
  let value = 1;
  for (let level = 0; level < levels; level++) value = { d: value };
  return value;
}

test("undefined property is null", () => {
  assert.deepEqual(evaluate("<+ctx>", { ctx: { a: undefined, b: 1 } }), { schemaVersion: 1, value: { a: null, b: 1 } });
  assert.deepEqual(evaluate("<+a>", { a: undefined }, { unresolved: "error" }), { schemaVersion: 1, value: null });
});

test("undefined array item is null", () => {
  assert.deepEqual(evaluate("<+a>", { a: [1, undefined, null] }), { schemaVersion: 1, value: [1, null, null] });
  // eslint-disable-next-line no-sparse-arrays
  assert.deepEqual(evaluate("<+a>", { a: [1, , 3] }), { schemaVersion: 1, value: [1, null, 3] });
});

test("undefined and null arguments take defaults", () => {
  assert.deepEqual(evaluate("<+1>", undefined, undefined), { schemaVersion: 1, value: 1 });
  assert.deepEqual(evaluate("<+1>", null, null), { schemaVersion: 1, value: 1 });
  assert.deepEqual(evaluate("<+1>", {}, { mode: undefined }), { schemaVersion: 1, value: 1 });
});

test("BigInt is an exact integer", () => {
  assert.deepEqual(render("<+a>", { a: 9223372036854775807n }), { schemaVersion: 1, value: "9223372036854775807" });
  assert.deepEqual(render("<+a>", { a: -9223372036854775808n }), { schemaVersion: 1, value: "-9223372036854775808" });
  assert.deepEqual(render("<+a>", { a: 5n }), { schemaVersion: 1, value: "5" });
  assert.deepEqual(render("<+a - 1>", { a: 9223372036854775807n }), { schemaVersion: 1, value: "9223372036854775806" });
  assert.equal(evaluate("<+a> * 2", { a: 9223372036854775807n }).error?.code, "integer-overflow");
});

test("BigInt outside i64 throws", () => {
  // From 2^63 on, basso could read a BigInt only as a float, which would
  // lose the exactness a caller expects from a BigInt.
  const outside = [9223372036854775808n, 18446744073709551615n, 18446744073709551616n, -9223372036854775809n];
  for (const big of outside) {
    assert.throws(
      () => evaluate("<+a>", { a: big }),
      invalidContext(/^invalid context: `a` is the BigInt -?\d+, outside -2\^63 to 2\^63 - 1, the range of exact integers; /),
    );
  }
});

test("BigInt in options is read", () => {
  const field = "<+input>.allowedValues(9223372036854775807)";
  assert.ok("value" in runtimeInput(field, { supplied: 9223372036854775807n }));
  assert.ok("error" in runtimeInput(field, { supplied: 9223372036854775806n }));
  const resolution = resolve("pipeline: {}", { context: { big: 9223372036854775807n } });
  assert.equal(resolution.schemaVersion, 1);
});

test("integral numbers beyond 2^53 are floats", () => {
  assert.deepEqual(render("<+a>", { a: 1e18 }), { schemaVersion: 1, value: "1.0E18" });
  assert.deepEqual(render("<+a>", { a: 2 ** 53 }), { schemaVersion: 1, value: "9.007199254740992E15" });
  assert.deepEqual(evaluate("<+a> * 100", { a: 1e18 }), { schemaVersion: 1, value: 1e20 });
  assert.deepEqual(render("<+a>", { a: -(2 ** 60) }), { schemaVersion: 1, value: "-1.152921504606847E18" });
});

test("safe integers are integers", () => {
  assert.deepEqual(render("<+a>", { a: 2 ** 53 - 1 }), { schemaVersion: 1, value: "9007199254740991" });
  assert.deepEqual(render("<+a>", { a: 3.0 }), { schemaVersion: 1, value: "3" });
});

test("negative zero is the float -0.0", () => {
  assert.deepEqual(render("<+a>", { a: -0 }), { schemaVersion: 1, value: "-0.0" });
  assert.deepEqual(evaluate("<+a>", { a: -0 }), { schemaVersion: 1, value: -0 });
  assert.deepEqual(evaluate("<+a> == 0", { a: -0 }), { schemaVersion: 1, value: true });
});

test("floats arrive unchanged", () => {
  const samples = [0.1 + 0.2, 5e-324, 1.7976931348623157e308, 1.2345678901234567, 2.2250738585072014e-308];
  let seed = 7;
  for (let i = 0; i < 500; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    samples.push((seed / 2 ** 31) * 10 ** ((seed % 40) - 20));
  }
  for (const number of samples) {
    assert.equal(evaluate("<+a>", { a: number }).value, number, String(number));
  }
});

test("non-finite numbers are null", () => {
  assert.deepEqual(evaluate("<+a>", { a: [NaN, Infinity, -Infinity] }), { schemaVersion: 1, value: [null, null, null] });
});

test("Map is an object", () => {
  assert.deepEqual(evaluate("<+m.k>", { m: new Map([["k", 5]]) }), { schemaVersion: 1, value: 5 });
  assert.deepEqual(evaluate("<+k>", new Map([["k", { n: 5n }]])), { schemaVersion: 1, value: { n: 5 } });
});

test("Map with a non-string key throws", () => {
  assert.throws(() => evaluate("<+m>", { m: new Map([[1, 5]]) }), invalidContext(/`m` is a Map with the key 1/));
});

test("objects give own enumerable properties", () => {
  class Point {
    constructor() {
      this.x = 1;
    }
    get y() {
      return 2;
    }
  }
  const hidden = Symbol("hidden");
  assert.deepEqual(evaluate("<+p>", { p: new Point() }), { schemaVersion: 1, value: { x: 1 } });
  assert.deepEqual(evaluate("<+d>", { d: new Date(0) }), { schemaVersion: 1, value: {} });
  assert.deepEqual(evaluate("<+o>", { o: { [hidden]: 1, shown: 2 } }), { schemaVersion: 1, value: { shown: 2 } });
});

test("toJSON of arrays is not called", () => {
  const array = [1, 2];
  array.toJSON = () => "replaced";
  assert.deepEqual(evaluate("<+a>", { a: array }), { schemaVersion: 1, value: [1, 2] });
});

test("non-enumerable toJSON is not called", () => {
  const object = { x: 1 };
  Object.defineProperty(object, "toJSON", { value: () => ({ x: "replaced" }) });
  assert.deepEqual(evaluate("<+a.x>", { a: object }), { schemaVersion: 1, value: 1 });
  const withoutPrototype = Object.create(null);
  withoutPrototype.x = 1;
  Object.defineProperty(withoutPrototype, "toJSON", { value: () => "replaced" });
  assert.deepEqual(evaluate("<+a>", { a: withoutPrototype }), { schemaVersion: 1, value: { x: 1 } });
});

test("inherited toJSON is not called", () => {
  // A toJSON that a library adds to Array.prototype or Object.prototype is
  // inherited by every array or object; JSON.stringify would call it.
  for (const prototype of [Array.prototype, Object.prototype]) {
    Object.defineProperty(prototype, "toJSON", { value: () => "replaced", configurable: true });
    try {
      assert.deepEqual(evaluate("<+a>", { a: [1, { x: 2 }] }), { schemaVersion: 1, value: [1, { x: 2 }] });
      assert.deepEqual(evaluate("<+a.x>", { a: { x: 1 } }), { schemaVersion: 1, value: 1 });
    } finally {
      delete prototype.toJSON;
    }
  }
});

test("values without JSON throw", () => {
  const cases = [
    [{ run: () => 1 }, /`run` is a function/],
    [{ a: { b: [Symbol("s")] } }, /`a\.b\[0\]` is a symbol/],
    [{ s: new Set([1]) }, /`s` is of type Set/],
    [{ bytes: new Uint8Array([1]) }, /`bytes` is of type Uint8Array/],
    [{ buffer: new ArrayBuffer(1) }, /`buffer` is of type ArrayBuffer/],
    [{ text: new String("x") }, /`text` is of type String, a boxed primitive/],
    [{ count: new Number(5) }, /`count` is of type Number, a boxed primitive/],
    [{ flag: new Boolean(false) }, /`flag` is of type Boolean, a boxed primitive/],
    [{ big: Object(5n) }, /`big` is of type BigInt, a boxed primitive/],
    [{ symbol: Object(Symbol("s")) }, /`symbol` is of type Symbol, a boxed primitive/],
    [{ v: { toJSON: () => "x" } }, /`v\.toJSON` is a function/],
  ];
  for (const [context, pattern] of cases) {
    assert.throws(() => evaluate("<+1>", context), invalidContext(pattern), String(pattern));
  }
  assert.throws(() => evaluate("<+1>", () => 1), invalidContext(/the value is a function/));
});

test("option without JSON throws", () => {
  assert.throws(() => runtimeInput("<+input>", { supplied: Symbol("x") }), {
    message: /^invalid options: `supplied` is a symbol/,
  });
});

test("reference cycle throws", () => {
  const object = { a: 1 };
  object.self = object;
  const array = [1];
  array.push(array);
  assert.throws(() => evaluate("<+a>", object), invalidContext(/`self` contains itself/));
  assert.throws(() => evaluate("<+a>", { a: array }), invalidContext(/`a\[1\]` contains itself/));
});

test("shared objects are not cycles", () => {
  const shared = { n: 1 };
  assert.deepEqual(evaluate("<+a>", { a: [shared, shared] }), { schemaVersion: 1, value: [{ n: 1 }, { n: 1 }] });
});

test("nesting up to the limit works", () => {
  const outcome = evaluate("<+d.d.d>", nested(MAX_DEPTH));
  assert.ok(outcome.value !== undefined, JSON.stringify(outcome).slice(0, 200));
  // The context is the outermost of the MAX_DEPTH objects, and `d` contains the others.
  const inner = JSON.stringify(evaluate("<+d>", nested(MAX_DEPTH)).value);
  assert.equal(inner, '{"d":'.repeat(MAX_DEPTH - 1) + "1" + "}".repeat(MAX_DEPTH - 1));
});

test("nesting beyond the limit throws", () => {
  for (const levels of [MAX_DEPTH + 1, 100_000]) {
    assert.throws(() => evaluate("<+d>", nested(levels)), invalidContext(/nested more than 1000 levels/));
  }
  assert.deepEqual(evaluate("<+1>", {}), { schemaVersion: 1, value: 1 });
});

test("lone surrogates become U+FFFD", () => {
  assert.deepEqual(evaluate("<+a>", { a: "x\ud800y" }), { schemaVersion: 1, value: "x\ufffdy" });
  assert.deepEqual(evaluate("<+ctx>", { ctx: { "k\udc00": 1 } }), { schemaVersion: 1, value: { "k\ufffd": 1 } });
});

test("escape-like text stays as it is", () => {
  assert.deepEqual(evaluate("<+a>", { a: "\\ud800 \u0000 \"" }), { schemaVersion: 1, value: "\\ud800 \u0000 \"" });
});

test("getters run once", () => {
  let reads = 0;
  const context = {
    a: {
      get b() {
        reads += 1;
        return reads;
      },
    },
  };
  assert.deepEqual(render("<+a.b>", context), { schemaVersion: 1, value: "1" });
  assert.equal(reads, 1);
});

test("getter errors reach the caller", () => {
  const context = {
    get a() {
      throw new TypeError("getter failed");
    },
  };
  assert.throws(() => evaluate("<+a>", context), { name: "TypeError", message: "getter failed" });
});
