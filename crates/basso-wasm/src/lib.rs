//! WebAssembly bindings of basso-core for the npm package `basso`.
//!
//! This crate only translates: the JSON text of JavaScript arguments into
//! core options, core results into the JSON documents of the command line
//! (with `schemaVersion`), and diagnostics into objects with extra UTF-16
//! columns for editors. Names are camelCase on the JavaScript side only.
//!
//! ```js
//! import { check } from "basso";
//! const report = check("pipeline:\n  name: demo\n", { file: "demo.yaml" });
//! console.log(report.diagnostics[0].code); // missing-field
//! ```

mod convert;
mod fault;
mod pipeline;
mod template;
mod types;
mod value;

use basso_core::EvalMode;

use wasm_bindgen::prelude::*;

#[wasm_bindgen(start, skip_typescript)]
fn start() {
    fault::install_panic_hook();
}

/// The version of basso compiled into this module.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

// The API functions below take their object arguments as JSON text and
// return JSON text. The package's entry modules (`pkg/basso.js`) write that
// text with `pkg/json.js`, read the result with `JSON.parse`, and declare
// the functions' TypeScript types in `pkg/basso.d.ts`, so wasm-bindgen
// writes no declarations for them.

/// Checks a pipeline, pipeline template or input set and returns the
/// document `basso check --format json` prints for it, with UTF-16 columns
/// added to each diagnostic. `options` is the JSON text of `CheckOptions`.
#[wasm_bindgen(skip_typescript)]
pub fn check(yaml: &str, options: &str) -> Result<String, JsError> {
    pipeline::check(yaml, options)
}

/// Resolves every stage and step of a pipeline and returns the document
/// `basso resolve --format json` prints. Secrets stay
/// `<+secrets.getValue("id")>`. `options` is the JSON text of
/// `ResolveOptions`.
#[wasm_bindgen(skip_typescript)]
pub fn resolve(yaml: &str, options: &str) -> Result<String, JsError> {
    pipeline::resolve(yaml, options)
}

/// Lists the runtime inputs of a pipeline as `basso inputs --format json`
/// does. `options` is the JSON text of `CheckOptions`.
#[wasm_bindgen(skip_typescript)]
pub fn inputs(yaml: &str, options: &str) -> Result<String, JsError> {
    pipeline::inputs(yaml, options)
}

/// Renders a template to a string as `basso eval --format json` does:
/// `{ value }` with the text, or `{ error }`. Secrets render as their
/// expression text, `<+secrets.getValue("id")>`. `context` is the JSON text
/// of an object, `options` that of `TemplateOptions`.
#[wasm_bindgen(skip_typescript)]
pub fn render(template: &str, context: &str, options: &str) -> Result<String, JsError> {
    template::run(template, context, options, EvalMode::Render)
}

/// Evaluates a template to a typed value as `basso eval --mode evaluate
/// --format json` does: `{ value }` or `{ error }`. The arguments are as
/// in [`render`].
#[wasm_bindgen(skip_typescript)]
pub fn evaluate(template: &str, context: &str, options: &str) -> Result<String, JsError> {
    template::run(template, context, options, EvalMode::Evaluate)
}

/// Lists the context paths and literal secret ids a template uses:
/// `{ value: { paths, secretIds, dynamicSecrets } }` or `{ error }`.
/// `options` is the JSON text of `ReferencesOptions`.
#[wasm_bindgen(skip_typescript)]
pub fn references(template: &str, options: &str) -> Result<String, JsError> {
    template::references(template, options)
}

/// Classifies a field as fixed text, an expression or a runtime input, or
/// with `supplied` or `useDefault` validates the value an input gets.
/// `options` is the JSON text of `RuntimeInputOptions`.
#[wasm_bindgen(js_name = runtimeInput, skip_typescript)]
pub fn runtime_input(field: &str, options: &str) -> Result<String, JsError> {
    template::runtime_input(field, options)
}

/// Panics with `message`, to test how internal faults reach JavaScript.
#[cfg(feature = "fault-injection")]
#[wasm_bindgen(js_name = injectFault)]
pub fn inject_fault(message: &str) {
    panic!("{message}");
}

/// Executes an `unreachable` instruction without a panic, as an allocation
/// failure would, to test how traps reach JavaScript.
#[cfg(all(feature = "fault-injection", target_arch = "wasm32"))]
#[wasm_bindgen(js_name = injectTrap)]
pub fn inject_trap() {
    core::arch::wasm32::unreachable();
}
