// Every conformance vector through the package in headless Chromium. The
// page runs the vectors with the same runner module as Node; the results
// are checked here against the same expectations.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { openTestPage } from "../support/browser.js";
import { loadConformanceFiles, MIN_VECTORS } from "../support/conformance.js";
import { assertMeetsExpectation } from "../support/expect.js";
import { requireBuiltPackage } from "../support/paths.js";

const files = loadConformanceFiles();
let browser;
const results = new Map();

before(async () => {
  requireBuiltPackage();
  browser = await openTestPage();
  for (const { file, text } of files) {
    const outcomes = await browser.page.evaluate(async (text) => {
      const { parseVectorFile, runVector } = await import("/pkg/tests/support/vectors.js");
      const document = parseVectorFile(text);
      return document.vectors.map((vector) => {
        try {
          return { result: runVector(window.basso, vector, document.context) };
        } catch (error) {
          return { thrown: String(error) };
        }
      });
    }, text);
    results.set(file, outcomes);
  }
});

after(async () => {
  await browser?.close();
});

test("conformance files hold enough vectors", () => {
  const count = files.reduce((sum, { vectors }) => sum + vectors.length, 0);
  assert.ok(count >= MIN_VECTORS, `only ${count} vectors found`);
});

for (const { file, vectors } of files) {
  for (const [index, vector] of vectors.entries()) {
    test(`${file} / ${vector.name}`, () => {
      const outcome = results.get(file)[index];
      assert.equal(outcome.thrown, undefined, `threw ${outcome.thrown}`);
      assertMeetsExpectation(vector, outcome.result);
    });
  }
}

test("page logs no errors", () => {
  assert.deepEqual(browser.pageErrors, []);
});
