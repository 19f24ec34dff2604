// Helpers for comparing the package's diagnostics with the command line's.

/**
 * Returns a copy of `document` without the UTF-16 columns, which only the
 * package adds, after checking that every diagnostic and every listed input
 * has them.
 */
export function withoutUtf16Columns(document) {
  const copy = structuredClone(document);
  for (const diagnostic of copy.diagnostics ?? []) {
    for (const key of ["columnUtf16", "endColumnUtf16"]) {
      if (!Number.isInteger(diagnostic[key])) {
        throw new Error(`diagnostic ${diagnostic.code} lacks an integer ${key}`);
      }
      delete diagnostic[key];
    }
  }
  for (const input of copy.inputs ?? []) {
    if (!Number.isInteger(input.columnUtf16)) {
      throw new Error(`input ${input.path} lacks an integer columnUtf16`);
    }
    delete input.columnUtf16;
  }
  return copy;
}
