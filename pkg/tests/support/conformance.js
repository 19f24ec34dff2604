// Reads the conformance files (tests/conformance/*.json) in place.
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { listFiles, repoRoot } from "./paths.js";
import { parseVectorFile } from "./vectors.js";

/** The fewest vectors the files must hold, as in the native runner. */
export const MIN_VECTORS = 40;

/**
 * Returns `[{ file, text, context, vectors }]` for every conformance file;
 * `text` is the file's JSON text for runners that parse it elsewhere.
 */
export function loadConformanceFiles() {
  return listFiles("tests/conformance", ".json").map((file) => {
    const text = readFileSync(join(repoRoot, file), "utf8");
    const document = parseVectorFile(text);
    return { file, text, context: document.context ?? {}, vectors: document.vectors };
  });
}
