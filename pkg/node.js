// Entry point for Node: reads the WebAssembly module from the package folder
// and instantiates it synchronously at import, so callers need no `init()`.
// The default export `init` stays available and resolves at once.
import { readFileSync } from "node:fs";

import { initSync } from "./basso.js";

initSync({ module: readFileSync(new URL("./web/basso_bg.wasm", import.meta.url)) });

export * from "./basso.js";
export { default } from "./basso.js";
