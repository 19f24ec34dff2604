// The `inputs` option of `resolve` against `basso resolve --input`: the
// number N of the file `--input#N`, trimmed paths and empty paths.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { resolve } from "../../node.js";
import { runCli, runCliJson } from "../support/cli.js";
import { withoutUtf16Columns } from "../support/diagnostics.js";

const PIPELINE = `pipeline:
  name: demo
  identifier: demo
  variables:
    - name: tag
      type: String
      value: <+input>.allowedValues(1.0,2.0)
  stages:
    - stage:
        name: build
        identifier: build
        type: CI
        spec:
          platform: {os: Linux, arch: Amd64}
          runtime: {type: Cloud, spec: {}}
          execution:
            steps:
              - step:
                  type: Run
                  name: show
                  identifier: show
                  spec: {shell: Sh, command: "echo <+pipeline.variables.tag>"}
`;

const folder = mkdtempSync(join(tmpdir(), "basso-inputs-"));
const file = join(folder, "demo.yaml");
writeFileSync(file, PIPELINE);

after(() => rmSync(folder, { recursive: true, force: true }));

/** Runs `basso resolve --format json FILE --input ARGUMENT…` and returns its document. */
function nativeResolve(...inputArguments) {
  const args = ["resolve", "--format", "json", file];
  for (const argument of inputArguments) args.push("--input", argument);
  return runCliJson(args).document;
}

/** Returns the diagnostics of `document` whose file is an `--input#N`. */
function argumentDiagnostics(document) {
  return document.diagnostics.filter((d) => d.file?.startsWith("--input#"));
}

test("input numbers count null entries", () => {
  const wasm = resolve(PIPELINE, {
    file,
    inputs: { "pipeline.variables.tag": null, "pipeline.variables.nope": "x" },
  });
  const [diagnostic] = argumentDiagnostics(wasm);
  assert.equal(diagnostic.code, "not-a-runtime-input");
  assert.equal(diagnostic.file, "--input#2");
  assert.equal(diagnostic.columnUtf16, 1);
  assert.equal(diagnostic.endColumnUtf16, 24);
});

test("repeated input names the entry number", () => {
  const wasm = resolve(PIPELINE, {
    file,
    inputs: { "pipeline.variables.other": null, "pipeline.variables.tag": "1.0", " pipeline.variables.tag": "2.0" },
  });
  const native = nativeResolve("pipeline.variables.tag=1.0", " pipeline.variables.tag=2.0");
  const [nativeWarning] = argumentDiagnostics(native);
  assert.equal(nativeWarning.file, "--input#2");
  assert.match(nativeWarning.message, /the one of `--input` number 1$/);

  const [warning] = argumentDiagnostics(withoutUtf16Columns(wasm));
  assert.deepEqual(warning, {
    ...nativeWarning,
    file: "--input#3",
    message: nativeWarning.message.replace(/number 1$/, "number 2"),
  });
});

test("input paths are trimmed as natively", () => {
  const wasm = resolve(PIPELINE, { file, inputs: { " pipeline.variables.tag\t": "2.0" } });
  const native = nativeResolve(" pipeline.variables.tag\t=2.0");
  assert.deepEqual(withoutUtf16Columns(wasm), native);
  assert.equal(wasm.stages[0].steps[0].spec.command, "echo 2.0");
  assert.deepEqual(wasm.diagnostics, []);
});

test("empty input path is rejected", () => {
  const native = runCli(["resolve", "--format", "json", file, "--input", " =2.0"]);
  assert.equal(native.status, 2);
  assert.match(native.stderr, /has no path before `=`/);

  for (const path of ["", " "]) {
    assert.throws(() => resolve(PIPELINE, { file, inputs: { [path]: "2.0" } }), {
      name: "Error",
      message: `invalid options: the \`inputs\` key \`${path}\` has no path; use a path that \`inputs()\` lists, as \`basso resolve\` requires for \`--input PATH=VALUE\``,
    });
  }
});
