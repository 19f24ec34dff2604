// Types of the entry modules: the declarations wasm-bindgen writes from the
// Rust signatures and the ts-rs types of crates/basso-wasm/types/.
export type * from "./web/basso.js";
export {
  default,
  initSync,
  check,
  evaluate,
  references,
  render,
  runtimeInput,
  version,
} from "./web/basso.js";
