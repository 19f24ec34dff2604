// Paths shared by the Node, browser and consumer tests.
import { existsSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root, with a trailing separator. */
export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

/** The folder of the npm package. */
export const pkgDir = join(repoRoot, "pkg");

/** The build of `scripts/build-pkg.sh --fault-injection`. */
export const faultInjectionDir = join(repoRoot, "target", "pkg-fault-injection");

/** Lists files under `dir` whose names end in `extension`, sorted, as paths relative to the repository root. */
export function listFiles(dir, extension) {
  const found = [];
  const visit = (folder) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) visit(path);
      else if (entry.name.endsWith(extension)) found.push(relative(repoRoot, path));
    }
  };
  visit(join(repoRoot, dir));
  return found.sort();
}

/** Throws when the release package has not been built. */
export function requireBuiltPackage() {
  if (!existsSync(join(pkgDir, "web", "basso_bg.wasm"))) {
    throw new Error("pkg/web/basso_bg.wasm not found; run scripts/build-pkg.sh first");
  }
}
