// An internal fault (a Rust panic) must reach JavaScript as an `Error` with
// the panic message, never as a WebAssembly trap, and the module must keep
// working afterwards. Wraps the build of `scripts/build-pkg.sh
// --fault-injection` with the package's own guard.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { test } from "node:test";

import { wrapExports } from "../../guard.js";
import { faultInjectionDir } from "../support/paths.js";

async function loadFaultInjectionBuild() {
  const glue = join(faultInjectionDir, "basso.js");
  assert.ok(existsSync(glue), `${glue} not found; run scripts/build-pkg.sh --fault-injection`);
  const glueModule = await import(pathToFileURL(glue).href);
  glueModule.initSync({ module: readFileSync(join(faultInjectionDir, "basso_bg.wasm")) });
  return wrapExports(glueModule);
}

const basso = await loadFaultInjectionBuild();

test("panic becomes an Error with the message", () => {
  let thrown;
  try {
    basso.injectFault("fault under test");
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown instanceof Error, "expected an Error to be thrown");
  assert.ok(!(thrown instanceof WebAssembly.RuntimeError), `got a trap: ${thrown}`);
  assert.match(thrown.message, /^basso internal error: /);
  assert.match(thrown.message, /fault under test/);
});

test("arguments reach the instance after a panic", () => {
  assert.throws(() => basso.injectFault("first"), { message: /first/ });
  assert.throws(() => basso.injectFault("second"), { message: /second/ });
});

test("trap becomes an Error and resets", () => {
  let thrown;
  try {
    basso.injectTrap();
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown instanceof Error, "expected an Error to be thrown");
  assert.ok(!(thrown instanceof WebAssembly.RuntimeError), `got a trap: ${thrown}`);
  assert.match(thrown.message, /^basso internal error: WebAssembly trap in injectTrap: /);
  assert.ok(thrown.cause instanceof WebAssembly.RuntimeError);
  assert.equal(basso.version(), "0.1.0");
});

test("module works after repeated panics", () => {
  for (let i = 0; i < 200; i += 1) {
    assert.throws(() => basso.injectFault(`fault ${i}`), { message: new RegExp(`fault ${i}`) });
    assert.equal(basso.version(), "0.1.0");
  }
});
