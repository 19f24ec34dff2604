// scripts/build-pkg.sh with Cargo's output in a folder other than target/.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { repoRoot } from "../support/paths.js";

test("build reads CARGO_TARGET_DIR", () => {
  // The link leads to Cargo's usual output folder, so nothing is rebuilt,
  // but its path differs from target/, which the script must not assume.
  const metadata = execFileSync("cargo", ["metadata", "--format-version", "1", "--no-deps", "--locked"], {
    cwd: repoRoot,
    encoding: "utf8",
  });
  const scratch = mkdtempSync(join(tmpdir(), "basso-target-dir-"));
  const link = join(scratch, "target");
  symlinkSync(JSON.parse(metadata).target_directory, link);
  try {
    const build = spawnSync(join(repoRoot, "scripts", "build-pkg.sh"), ["--fault-injection"], {
      cwd: repoRoot,
      encoding: "utf8",
      env: { ...process.env, CARGO_TARGET_DIR: link },
    });
    assert.equal(build.status, 0, build.stderr);
    const module = join(link, "wasm32-unknown-unknown", "debug", "basso_wasm.wasm");
    assert.match(build.stderr, new RegExp(`from ${module.replaceAll(/[.\/]/g, "\\$&")}\\n`));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});
