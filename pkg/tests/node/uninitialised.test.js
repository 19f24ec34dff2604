// The browser entry module before `init()`: every function throws an Error
// that names `init()`. Node's entry module loads the module at import, so
// this file imports only the browser entry.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import init, * as basso from "../../basso.js";

const CALLS = [
  ["version", () => basso.version()],
  ["check", () => basso.check("")],
  ["resolve", () => basso.resolve("")],
  ["inputs", () => basso.inputs("")],
  ["render", () => basso.render("<+1>", {})],
  ["evaluate", () => basso.evaluate("1", {})],
  ["references", () => basso.references("<+a>")],
  ["runtimeInput", () => basso.runtimeInput("<+input>")],
];

test("functions before init throw", () => {
  for (const [name, call] of CALLS) {
    assert.throws(call, {
      name: "Error",
      message: `basso is not initialised: await init() before calling ${name}()`,
    });
  }
});

test("failed init leaves functions rejecting", async () => {
  await assert.rejects(init({ module_or_path: new Uint8Array([0, 1, 2]) }));
  assert.throws(() => basso.check(""), { message: /basso is not initialised/ });
});

test("functions work after init", async () => {
  const bytes = readFileSync(new URL("../../web/basso_bg.wasm", import.meta.url));
  await init({ module_or_path: bytes });
  assert.deepEqual(basso.render("<+1 + 1>"), { schemaVersion: 1, value: "2" });
  assert.equal(typeof basso.version(), "string");
});
