// Runs conformance vectors (tests/conformance/README.md) through the
// package's API. Shared by the Node and browser runners, so it imports
// nothing: the caller passes the package's functions.

// JSON.parse rounds integers beyond 2^53 to the nearest double, so a context
// holding 9223372036854775807 would reach the engine as a float. Such
// literals become BigInts instead, which the package reads as exact
// 64-bit integers.
const tokens = /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;
const bigIntMarker = "\u0000bigint:";

/** Parses a conformance file, keeping integers beyond 2^53 exact as BigInts. */
export function parseVectorFile(text) {
  const marked = text.replace(tokens, (token) => {
    if (token.startsWith('"') || /[.eE]/.test(token) || Number.isSafeInteger(Number(token))) {
      return token;
    }
    return JSON.stringify(bigIntMarker + token);
  });
  return JSON.parse(marked, (_key, value) =>
    typeof value === "string" && value.startsWith(bigIntMarker)
      ? BigInt(value.slice(bigIntMarker.length))
      : value,
  );
}

/**
 * Runs one vector and returns `{ schemaVersion: 1, value }` or
 * `{ schemaVersion: 1, error }` as the package returned it.
 */
export function runVector(basso, vector, fileContext) {
  const context = vector.context ?? fileContext ?? {};
  const options = vector.options ?? {};
  switch (vector.op) {
    case "render":
      return basso.render(vector.input, context, options);
    case "evaluate":
      return basso.evaluate(vector.input, context, options);
    case "references":
      return basso.references(vector.input, { scan: options.scan });
    case "input": {
      const inputOptions = {};
      if ("supplied" in vector) inputOptions.supplied = vector.supplied;
      if (vector.useDefault !== undefined) inputOptions.useDefault = vector.useDefault;
      return basso.runtimeInput(vector.input, inputOptions);
    }
    default:
      throw new Error(`unknown op \`${vector.op}\``);
  }
}
