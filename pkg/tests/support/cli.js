// Runs the native `basso` binary that `cargo build -p basso-cli` writes.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

import { repoRoot } from "./paths.js";

const binary = process.env.BASSO_BIN ?? join(repoRoot, "target", "debug", "basso");

/** Runs `basso ARGS` from the repository root; resolves to `{ status, stdout, stderr }`. */
export function runCli(args) {
  if (!existsSync(binary)) {
    throw new Error(`${binary} not found; run \`cargo build -p basso-cli\` first`);
  }
  const result = spawnSync(binary, args, { cwd: repoRoot, encoding: "utf8" });
  if (result.error) throw result.error;
  return result;
}

/** Runs `basso ARGS` and parses its standard output as JSON. */
export function runCliJson(args) {
  const { status, stdout, stderr } = runCli(args);
  if (status !== 0 && status !== 1) {
    throw new Error(`basso ${args.join(" ")} exited with ${status}: ${stderr}`);
  }
  return { status, document: JSON.parse(stdout) };
}
