// Every conformance vector through the package in Node, checked against the
// same expectations the native runner checks.
import assert from "node:assert/strict";
import { test } from "node:test";

import * as basso from "../../node.js";
import { loadConformanceFiles, MIN_VECTORS } from "../support/conformance.js";
import { assertMeetsExpectation } from "../support/expect.js";
import { runVector } from "../support/vectors.js";

const files = loadConformanceFiles();

test("conformance files hold enough vectors", () => {
  const count = files.reduce((sum, { vectors }) => sum + vectors.length, 0);
  assert.ok(count >= MIN_VECTORS, `only ${count} vectors found`);
});

for (const { file, context, vectors } of files) {
  for (const vector of vectors) {
    test(`${file} / ${vector.name}`, () => {
      assertMeetsExpectation(vector, runVector(basso, vector, context));
    });
  }
}
