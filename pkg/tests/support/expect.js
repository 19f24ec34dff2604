// Compares a package result with a conformance vector's `expect`, by the
// rules of tests/conformance/README.md.
import assert from "node:assert/strict";

/**
 * Asserts that `actual` (`{ schemaVersion: 1, value }` or
 * `{ schemaVersion: 1, error }`) meets the vector's expectation.
 */
export function assertMeetsExpectation(vector, actual) {
  assert.equal(actual.schemaVersion, 1, `expected schemaVersion 1, got ${JSON.stringify(actual)}`);
  // Numbers compare by value as doubles, as in the native runner.
  const expect = withNumbers(vector.expect);
  if ("value" in expect) {
    assert.ok("value" in actual, `expected a value, got ${JSON.stringify(actual)}`);
    assert.deepEqual(actual.value, expect.value);
    if (vector.valueType) assert.ok(hasJsonType(actual.value, vector.valueType), `expected a ${vector.valueType}`);
    return;
  }
  assert.ok("error" in actual, `expected an error, got ${JSON.stringify(actual)}`);
  const { error } = actual;
  assert.equal(error.code, expect.error.code);
  if (expect.error.column !== undefined) assert.equal(error.column, expect.error.column);
  if (expect.error.messageContains !== undefined) {
    assert.ok(error.message.includes(expect.error.messageContains), `message: ${error.message}`);
  }
  if (expect.error.helpContains !== undefined) {
    assert.ok(error.help.includes(expect.error.helpContains), `help: ${error.help}`);
  }
  assert.equal(typeof error.help, "string");
  assert.notEqual(error.help, "");
  assert.ok(Number.isInteger(error.columnUtf16), "error lacks columnUtf16");
}

function withNumbers(value) {
  if (typeof value === "bigint") return Number(value);
  if (Array.isArray(value)) return value.map(withNumbers);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, withNumbers(item)]));
  }
  return value;
}

// JavaScript has one number type, so `decimal` only requires a number: 3.0
// arrives as 3.
function hasJsonType(value, type) {
  switch (type) {
    case "null":
      return value === null;
    case "boolean":
      return typeof value === "boolean";
    case "integer":
      return Number.isInteger(value);
    case "decimal":
      return typeof value === "number";
    case "string":
      return typeof value === "string";
    case "list":
      return Array.isArray(value);
    case "map":
      return value !== null && typeof value === "object" && !Array.isArray(value);
    default:
      throw new Error(`unknown valueType \`${type}\``);
  }
}
