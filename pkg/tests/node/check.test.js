// `check` through the package: result shape, UTF-16 columns, argument errors.
import assert from "node:assert/strict";
import { test } from "node:test";

import { check, inputs, resolve } from "../../node.js";

const pipeline = (shell) => `pipeline:
  name: démo 😀
  identifier: demo
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
                  name: test
                  identifier: test
                  spec: {shell: ${shell}, command: "echo 😀"}
`;

test("check returns a plain object", () => {
  const report = check(pipeline("Sh"), { file: "demo.yaml" });
  assert.equal(Object.getPrototypeOf(report), Object.prototype);
  assert.equal(report.schemaVersion, 1);
  assert.ok(Array.isArray(report.diagnostics));
});

test("check reports an unknown shell", () => {
  const report = check(pipeline("sh"), { file: "demo.yaml" });
  const diagnostic = report.diagnostics.find((d) => d.code === "unknown-shell");
  assert.ok(diagnostic, JSON.stringify(report.diagnostics));
  assert.equal(diagnostic.file, "demo.yaml");
  assert.equal(diagnostic.help, "did you mean `Sh`?");
  assert.equal(diagnostic.line, 18);
});

test("UTF-16 columns point at the same text", () => {
  const yaml = pipeline("sh").replace("{shell: sh,", "{x: 😀😀, shell: sh,");
  const report = check(yaml, { file: "demo.yaml" });
  const diagnostic = report.diagnostics.find((d) => d.code === "unknown-shell");
  assert.ok(diagnostic, JSON.stringify(report.diagnostics));
  const line = yaml.split("\n")[diagnostic.line - 1];
  assert.equal(diagnostic.columnUtf16, diagnostic.column + 2);
  assert.equal(line.slice(diagnostic.columnUtf16 - 1, diagnostic.endColumnUtf16 - 1), "sh");
  assert.equal([...line].slice(diagnostic.column - 1, diagnostic.endColumn - 1).join(""), "sh");
});

test("check names the default file", () => {
  const report = check("pipeline: [", undefined);
  assert.ok(report.diagnostics.length > 0);
  assert.equal(report.diagnostics[0].file, "pipeline.yaml");
  assert.equal(report.diagnostics[0].help === undefined, false);
});

test("check rejects an unknown option", () => {
  assert.throws(() => check("pipeline: {}", { fiel: "x.yaml" }), {
    name: "Error",
    message: /invalid options: unknown field `fiel`/,
  });
});

test("check rejects a file name that is not a string", () => {
  assert.throws(() => check("pipeline: {}", { file: 42 }), { message: /invalid options/ });
});

test("check rejects YAML that is not a string", () => {
  assert.throws(() => check(42), Error);
});

test("check survives hostile YAML", () => {
  const inputs = [
    "",
    "\u0000",
    "[".repeat(10_000),
    "a: &a [*a]",
    "pipeline:\n" + "  ".repeat(5_000) + "x: 1",
    "pipeline: !!binary AAAA",
    "\ufeffpipeline:\n  stages: 7",
  ];
  for (const yaml of inputs) {
    const report = check(yaml);
    assert.equal(report.schemaVersion, 1);
    assert.ok(Array.isArray(report.diagnostics));
  }
});

const runtimePipeline = `pipeline:
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
                  name: test
                  identifier: test
                  spec:
                    shell: Sh
                    command: echo <+pipeline.variables.tag> <+secrets.getValue("token")>
`;

test("inputs lists the runtime input", () => {
  const listing = inputs(runtimePipeline, { file: "demo.yaml" });
  assert.equal(listing.schemaVersion, 1);
  assert.deepEqual(listing.inputs.map((input) => input.path), ["pipeline.variables.tag"]);
});

test("inputs gives the UTF-16 column of each input", () => {
  const yaml = runtimePipeline.replace(
    "                    shell: Sh",
    "                    shell: Sh\n                    envVariables: {A: 😀, B: <+input>}",
  );
  const listed = inputs(yaml, { file: "demo.yaml" }).inputs.find((input) => input.path.endsWith(".B"));
  assert.ok(listed, JSON.stringify(inputs(yaml)));
  const line = yaml.split("\n")[listed.line - 1];
  assert.equal(line.slice(listed.columnUtf16 - 1, listed.columnUtf16 + 7), "<+input>");
  assert.equal(listed.columnUtf16, listed.column + 1);
});

test("resolve applies inputs and keeps secrets", () => {
  const resolution = resolve(runtimePipeline, {
    file: "demo.yaml",
    inputs: { "pipeline.variables.tag": "2.0" },
    context: { secrets: { token: "hunter2" } },
  });
  assert.equal(resolution.schemaVersion, 1);
  const step = resolution.stages[0].steps[0];
  assert.equal(step.spec.command, 'echo 2.0 <+secrets.getValue("token")>');
  assert.ok(!JSON.stringify(resolution).includes("hunter2"));
});

test("resolve takes null inputs as absent", () => {
  for (const value of [null, undefined]) {
    const resolution = resolve(runtimePipeline, {
      file: "demo.yaml",
      inputs: { "pipeline.variables.tag": value },
    });
    // The input has no default, so leaving it out is the error; an empty
    // text would fail the allowed values instead.
    const codes = resolution.diagnostics.map((d) => d.code);
    assert.deepEqual(codes, ["missing-input"], JSON.stringify(resolution.diagnostics));
  }
});

test("resolve validates input set values", () => {
  const inputSet = `inputSet:
  identifier: bad
  pipeline:
    identifier: demo
    variables:
      - name: tag
        type: String
        value: "3.0"
`;
  const resolution = resolve(runtimePipeline, { file: "demo.yaml", inputSets: [{ file: "set.yaml", yaml: inputSet }] });
  const diagnostic = resolution.diagnostics.find((d) => d.code === "value-not-allowed");
  assert.ok(diagnostic, JSON.stringify(resolution.diagnostics));
  assert.match(diagnostic.message, /set\.yaml:8:16/);
  assert.ok(Number.isInteger(diagnostic.columnUtf16));
});

test("resolve rejects a context that is not an object", () => {
  assert.throws(() => resolve(runtimePipeline, { context: [1] }), { message: /context/ });
});
