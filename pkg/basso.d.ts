// Types of the entry modules: the declarations wasm-bindgen writes from the
// Rust signatures and the ts-rs types in crates/basso-wasm/src/types.d.ts.
export type * from "./web/basso.js";
export {
  default,
  initSync,
  check,
  evaluate,
  inputs,
  references,
  render,
  resolve,
  runtimeInput,
  version,
} from "./web/basso.js";
