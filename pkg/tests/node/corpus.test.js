// Every corpus pipeline gives the same `check`, `resolve` and `inputs`
// documents in Node as `basso check|resolve|inputs --format json` print
// natively.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { check, inputs, resolve } from "../../node.js";
import { runCliJson } from "../support/cli.js";
import { withoutUtf16Columns } from "../support/diagnostics.js";
import { listFiles, repoRoot } from "../support/paths.js";

const corpus = listFiles("../shared/corpus/harness", ".yaml");

test("corpus is present", () => {
  assert.ok(corpus.length >= 20, `found ${corpus.length} corpus files`);
});

for (const file of corpus) {
  test(`check ${file}`, () => {
    const yaml = readFileSync(join(repoRoot, file), "utf8");
    const native = runCliJson(["check", "--format", "json", file]).document;
    const wasm = check(yaml, { file });
    assert.deepEqual(withoutUtf16Columns(wasm), native);
  });

  test(`resolve ${file}`, () => {
    const yaml = readFileSync(join(repoRoot, file), "utf8");
    const native = runCliJson(["resolve", "--format", "json", file]).document;
    const wasm = resolve(yaml, { file });
    assert.equal(wasm.schemaVersion, 1);
    assert.deepEqual(withoutUtf16Columns(wasm), native);
  });

  test(`inputs ${file}`, () => {
    const yaml = readFileSync(join(repoRoot, file), "utf8");
    const native = runCliJson(["inputs", "--format", "json", file]).document;
    const wasm = inputs(yaml, { file });
    assert.deepEqual(withoutUtf16Columns(wasm), native);
  });
}
