// The conformance file parser keeps 64-bit integers exact.
import assert from "node:assert/strict";
import { test } from "node:test";

import { evaluate } from "../../node.js";
import { parseVectorFile } from "../support/vectors.js";

test("parser keeps large integers as BigInt", () => {
  const parsed = parseVectorFile('{"a": 9223372036854775807, "b": -9007199254740993, "c": 7}');
  assert.equal(parsed.a, 9223372036854775807n);
  assert.equal(parsed.b, -9007199254740993n);
  assert.equal(parsed.c, 7);
});

test("parser leaves strings and decimals alone", () => {
  const parsed = parseVectorFile('{"s": "9223372036854775807 \\" 12345678901234567890", "f": 1.5e300}');
  assert.equal(parsed.s, '9223372036854775807 " 12345678901234567890');
  assert.equal(parsed.f, 1.5e300);
});

test("BigInt context values reach the engine as integers", () => {
  const outcome = evaluate("<+big> * 2", { big: 9223372036854775807n });
  assert.equal(outcome.error?.code, "integer-overflow");
});
