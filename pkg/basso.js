// Entry point for browsers and bundlers. Call the default export `init()`
// once (it fetches basso_bg.wasm beside the glue) before any other function.
import init, * as glue from "./web/basso.js";

import { wrapExports } from "./guard.js";

const api = wrapExports(glue);

export default init;
export const { initSync } = glue;
export const { check, evaluate, inputs, references, render, resolve, runtimeInput, version } =
  api;
