// The package in headless Chromium.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { check } from "../../node.js";
import { openTestPage } from "../support/browser.js";
import { listFiles, repoRoot, requireBuiltPackage } from "../support/paths.js";

let browser;

before(async () => {
  requireBuiltPackage();
  browser = await openTestPage();
});

after(async () => {
  await browser?.close();
});

test("package loads and reports its version", async () => {
  const node = await import("../../node.js");
  const version = await browser.page.evaluate(() => window.basso.version());
  assert.equal(version, node.version());
});

test("corpus checks equal Node's", async () => {
  const corpus = listFiles("../shared/corpus/harness", ".yaml");
  assert.ok(corpus.length >= 20, `found ${corpus.length} corpus files`);
  const inputs = corpus.map((file) => ({ file, yaml: readFileSync(join(repoRoot, file), "utf8") }));
  const reports = await browser.page.evaluate(
    (inputs) => inputs.map(({ file, yaml }) => window.basso.check(yaml, { file })),
    inputs,
  );
  for (const [index, { file, yaml }] of inputs.entries()) {
    assert.deepEqual(reports[index], check(yaml, { file }), file);
  }
});

test("argument errors are Errors in the page", async () => {
  const message = await browser.page.evaluate(() => {
    try {
      window.basso.check("", { fiel: "x" });
      return "no error";
    } catch (error) {
      return error instanceof Error ? error.message : `not an Error: ${error}`;
    }
  });
  assert.match(message, /invalid options: unknown field `fiel`/);
});

test("argument values convert in the page", async () => {
  const results = await browser.page.evaluate(() => {
    const cyclic = { a: 1 };
    cyclic.self = cyclic;
    const array = [1, 2];
    array.toJSON = () => "replaced";
    const hidden = { x: 1 };
    Object.defineProperty(hidden, "toJSON", { value: () => ({ x: "replaced" }) });
    const calls = [
      () => window.basso.render("<+a>", { a: 9223372036854775807n }),
      () => window.basso.evaluate("<+ctx>", { ctx: { a: undefined, b: new Map([["k", 1]]) } }),
      () => window.basso.render("<+a>", { a: 1e18 }),
      () => window.basso.evaluate("<+a>", { a: "x\ud800" }),
      () => window.basso.evaluate("<+a>", cyclic),
      () => window.basso.evaluate("<+a>", { a: array }),
      () => window.basso.evaluate("<+a.x>", { a: hidden }),
    ];
    return calls.map((call) => {
      try {
        return call();
      } catch (error) {
        return { thrown: error instanceof Error ? error.message : `not an Error: ${error}` };
      }
    });
  });
  assert.deepEqual(results, [
    { schemaVersion: 1, value: "9223372036854775807" },
    { schemaVersion: 1, value: { a: null, b: { k: 1 } } },
    { schemaVersion: 1, value: "1.0E18" },
    { schemaVersion: 1, value: "x\ufffd" },
    { thrown: "invalid context: `self` contains itself (a reference cycle), which JSON cannot represent" },
    { schemaVersion: 1, value: [1, 2] },
    { schemaVersion: 1, value: 1 },
  ]);
});

test("page logs no errors", () => {
  assert.deepEqual(browser.pageErrors, []);
});

test("nesting limit holds in a worker", async () => {
  const outcomes = await browser.page.evaluate(async () => {
    const worker = new Worker("/pkg/tests/browser/worker.js", { type: "module" });
    const renderAt = (depth) =>
      new Promise((done) => {
        worker.addEventListener("message", (event) => done(event.data), { once: true });
        worker.postMessage({ depth });
      });
    // The context object is one level and `x` another, so a value nested
    // 999 levels deep below `x` is the deepest the package accepts.
    const outcomes = [];
    for (const depth of [998, 999, 1000, 5000]) outcomes.push(await renderAt(depth));
    worker.terminate();
    return outcomes;
  });
  for (const outcome of outcomes.slice(0, 2)) {
    assert.match(outcome.ok ?? outcome.error, /^value of \d+ characters$/);
  }
  for (const outcome of outcomes.slice(2)) {
    assert.match(outcome.error ?? "", /^Error: invalid context: `x(\.a)+` is nested more than 1000 levels deep$/);
  }
});

test("functions before init throw in the page", async () => {
  const page = await browser.page.context().newPage();
  await page.goto(new URL("/pkg/tests/browser/uninitialised.html", browser.page.url()).href);
  await page.waitForSelector("body[data-ready]", { state: "attached" });
  const messages = await page.evaluate(async () => {
    const attempt = () => {
      try {
        window.basso.check("");
        return "no error";
      } catch (error) {
        return `${error.constructor.name}: ${error.message}`;
      }
    };
    const before = attempt();
    await window.basso.default({ module_or_path: "/pkg/web/missing.wasm" }).catch(() => {});
    return [before, attempt()];
  });
  await page.close();
  const expected = "Error: basso is not initialised: await init() before calling check()";
  assert.deepEqual(messages, [expected, expected]);
});
