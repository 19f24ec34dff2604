// YAML texts over the core's 16 MiB limit: the entry functions return the
// module's `yaml-too-large` document without copying a string of more than
// 16 Mi UTF-16 code units into the module's memory.
import assert from "node:assert/strict";
import { test } from "node:test";

import init, { check, inputs, resolve } from "../../node.js";

const MIB = 1024 * 1024;

/** Returns the size of the module's memory in bytes. */
async function memoryBytes() {
  const exports = await init();
  return exports.memory.buffer.byteLength;
}

// First in this file, while the module's memory is still small.
test("oversized YAML is not copied", async () => {
  const before = await memoryBytes();
  const report = check("a".repeat(64 * MIB));
  assert.equal(report.diagnostics[0].code, "yaml-too-large");
  const grown = (await memoryBytes()) - before;
  assert.ok(grown < 16 * MIB, `the module's memory grew by ${grown} bytes`);
});

test("oversized YAML gives the module's document", () => {
  const calls = [
    ["check", (yaml) => check(yaml, { file: "big.yaml" })],
    ["resolve", (yaml) => resolve(yaml, { file: "big.yaml", inputs: { "pipeline.variables.x": "1" } })],
    ["inputs", (yaml) => inputs(yaml)],
  ];
  // 2^23 + 1 two-byte characters reach the module, which counts 16,777,218
  // bytes. 2^24 + 1 of them are rejected before the copy.
  const copied = "é".repeat(8 * MIB + 1);
  const rejected = "é".repeat(16 * MIB + 1);
  for (const [name, call] of calls) {
    const fromModule = call(copied);
    assert.match(fromModule.diagnostics[0].message, /^the file is 16777218 bytes, /, name);
    const expected = JSON.stringify(fromModule).replace("16777218 bytes", "33554434 bytes");
    assert.equal(JSON.stringify(call(rejected)), expected, name);
  }
});

test("oversized YAML counts UTF-8 as the glue", () => {
  // A surrogate pair is 4 bytes, and a lone surrogate becomes U+FFFD, 3 bytes.
  const yaml = `${"😀".repeat(8 * MIB)}\ud800a\udc00`;
  const { message } = check(yaml).diagnostics[0];
  assert.equal(message, `the file is ${4 * 8 * MIB + 3 + 1 + 3} bytes, more than the limit of 16777216 bytes`);

  const loneSurrogates = check("\ud800".repeat(6 * MIB)).diagnostics[0].message;
  assert.match(loneSurrogates, /^the file is 18874368 bytes, /, "the module counts 3 bytes each");
});

test("oversized YAML with invalid options throws", () => {
  const yaml = "a".repeat(16 * MIB + 1);
  assert.throws(() => check(yaml, { fiel: "x" }), { message: /invalid options: unknown field `fiel`/ });
  assert.throws(() => resolve(yaml, { inputs: { " ": "1" } }), { message: /has no path/ });
});
