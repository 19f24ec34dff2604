// Packs the package, installs the tarball into a scratch project and uses it
// from an ES module and from TypeScript, as a user would.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { pkgDir, requireBuiltPackage } from "../support/paths.js";

const tsc = join(pkgDir, "node_modules", ".bin", "tsc");
const expectedFiles = [
  "LICENSE",
  "README.md",
  "basso.d.ts",
  "basso.js",
  "guard.js",
  "json.js",
  "node.js",
  "package.json",
  "web/basso.d.ts",
  "web/basso.js",
  "web/basso_bg.wasm",
  "web/package.json",
];

let scratch;
let packedFiles;

function run(command, args, cwd) {
  return execFileSync(command, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

before(() => {
  requireBuiltPackage();
  scratch = mkdtempSync(join(tmpdir(), "basso-consumer-"));
  const [pack] = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", scratch], pkgDir));
  packedFiles = pack.files.map((file) => file.path).sort();

  writeFileSync(
    join(scratch, "package.json"),
    JSON.stringify({ name: "basso-consumer", private: true, type: "module" }),
  );
  run("npm", ["install", "--no-audit", "--no-fund", join(scratch, pack.filename)], scratch);
});

after(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

test("tarball ships only what users need", () => {
  assert.deepEqual(packedFiles, expectedFiles);
});

test("installed package runs from an ES module", () => {
  writeFileSync(
    join(scratch, "main.js"),
    `import init, { check, version } from "basso";
await init();
const report = check("pipeline:\\n  name: demo\\n", { file: "demo.yaml" });
console.log(JSON.stringify({ version: version(), report }));
`,
  );
  const output = JSON.parse(run("node", ["main.js"], scratch));
  const manifest = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
  assert.equal(output.version, manifest.version);
  assert.equal(output.report.schemaVersion, 1);
  assert.ok(output.report.diagnostics.length > 0);
  assert.equal(output.report.diagnostics[0].file, "demo.yaml");
});

const tsconfig = {
  compilerOptions: {
    strict: true,
    noEmit: true,
    module: "nodenext",
    moduleResolution: "nodenext",
    target: "es2022",
    types: [],
    lib: ["es2022", "dom"],
  },
  files: ["typed.ts"],
};

function typecheck(source) {
  writeFileSync(join(scratch, "tsconfig.json"), JSON.stringify(tsconfig));
  writeFileSync(join(scratch, "typed.ts"), source);
  try {
    run(tsc, ["--noEmit", "-p", "."], scratch);
    return "";
  } catch (error) {
    return error.stdout + error.stderr;
  }
}

test("typed example passes tsc", () => {
  const errors = typecheck(`import init, { check, evaluate, render, version } from "basso";
import type { CheckReport, DiagnosticJson, JsonValue, Outcome, Severity } from "basso";
await init();
const rendered: Outcome<JsonValue> = render("<+a>", { a: 1 });
const evaluated: Outcome<JsonValue> = evaluate("<+1>", null, { unresolved: "error" });
const outcomeVersion: number = rendered.schemaVersion;
console.log(rendered, evaluated, outcomeVersion);
const text: string = version();
const report: CheckReport = check("pipeline: {}", { file: "demo.yaml" });
const first: DiagnosticJson | undefined = report.diagnostics[0];
const severity: Severity | undefined = first?.severity;
const columns: [number, number] | undefined = first && [first.columnUtf16, first.endColumnUtf16];
const help: string | null | undefined = first?.help;
console.log(text, report.schemaVersion, severity, columns, help);
`);
  assert.equal(errors, "");
});

test("tsc accepts BigInt, Map and undefined context values", () => {
  const errors = typecheck(`import { evaluate, render, resolve, runtimeInput } from "basso";
import type { ContextValue, Resolution } from "basso";
const big: bigint = 2n ** 62n;
const map = new Map([["x", 1]]);
const rendered = render("<+a + 1>", { a: big, b: map, c: undefined, d: { e: undefined, f: [1n, map] } });
const evaluated = evaluate("<+a.b>", { a: new Map<string, ContextValue>([["b", 2n]]) });
const resolution: Resolution = resolve("pipeline: {}", {
  inputs: { "pipeline.variables.count": big, "pipeline.variables.tags": map },
  context: { trigger: { payload: map }, codebase: undefined },
});
const validated = runtimeInput("<+input>", { supplied: big });
console.log(rendered, evaluated, resolution, validated);
`);
  assert.equal(errors, "");
});

test("tsc rejects a misuse of the types", () => {
  const cases = [
    ["a string as a number", `import { version } from "basso";\nconst count: number = version();\n`, "TS2322"],
    ["an unknown option", `import { check } from "basso";\ncheck("", { fiel: "x" });\n`, "TS2353"],
    ["an unknown field", `import { check } from "basso";\ncheck("").diagnostics[0]?.columnUtf8;\n`, "TS2551"],
    ["a context that is not an object", `import { render } from "basso";\nrender("<+a>", "a");\n`, "TS2345"],
    ["a Set in a context", `import { render } from "basso";\nrender("<+a>", { a: new Set([1]) });\n`, "TS2322"],
    ["a function in a context", `import { render } from "basso";\nrender("<+a>", { a: () => 1 });\n`, "TS2322"],
    ["a BigInt as a result value", `import type { JsonValue } from "basso";\nconst value: JsonValue = 1n;\n`, "TS2322"],
  ];
  for (const [name, source, code] of cases) {
    assert.match(typecheck(source), new RegExp(code), name);
  }
});
