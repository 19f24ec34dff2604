// The entry modules export every API function of the glue, wrapped.
import assert from "node:assert/strict";
import { test } from "node:test";

import { requireBuiltPackage } from "../support/paths.js";

requireBuiltPackage();
const glue = await import("../../web/basso.js");
const entry = await import("../../node.js");

const internal = new Set(["default", "initSync", "start", "__wbg_reset_state"]);
const glueFunctions = Object.keys(glue)
  .filter((name) => typeof glue[name] === "function" && !internal.has(name))
  .sort();

test("entry exports every glue function", () => {
  const entryFunctions = Object.keys(entry)
    .filter((name) => typeof entry[name] === "function" && !["default", "initSync"].includes(name))
    .sort();
  assert.deepEqual(entryFunctions, glueFunctions);
});

test("entry functions are the wrapped ones", () => {
  for (const name of glueFunctions) {
    assert.notEqual(entry[name], glue[name], `${name} is not wrapped`);
  }
});

test("entry hides internal glue functions", () => {
  assert.equal(entry.__wbg_reset_state, undefined);
  assert.equal(entry.start, undefined);
});

test("default init resolves in Node", async () => {
  const exports = await entry.default();
  assert.ok(exports.memory instanceof WebAssembly.Memory);
});
