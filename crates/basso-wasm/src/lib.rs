//! WebAssembly bindings of basso-core for the npm package `basso`.
//!
//! This crate only translates: JavaScript arguments into core options,
//! core results into the JSON documents of the command line (with
//! `schemaVersion`), and diagnostics into objects with extra UTF-16 columns
//! for editors. Names are camelCase on the JavaScript side only.
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

/// Checks a pipeline, pipeline template or input set and returns the
/// document `basso check --format json` prints for it, with UTF-16 columns
/// added to each diagnostic.
#[wasm_bindgen(unchecked_return_type = "CheckReport")]
pub fn check(
    yaml: &str,
    #[wasm_bindgen(unchecked_param_type = "CheckOptions")] options: JsValue,
) -> Result<JsValue, JsError> {
    pipeline::check(yaml, options)
}

/// Resolves every stage and step of a pipeline and returns the document
/// `basso resolve --format json` prints. Secrets stay
/// `<+secrets.getValue("id")>`.
#[wasm_bindgen(unchecked_return_type = "Resolution")]
pub fn resolve(
    yaml: &str,
    #[wasm_bindgen(unchecked_param_type = "ResolveOptions")] options: JsValue,
) -> Result<JsValue, JsError> {
    pipeline::resolve(yaml, options)
}

/// Lists the runtime inputs of a pipeline as `basso inputs --format json`
/// does.
#[wasm_bindgen(unchecked_return_type = "InputsListing")]
pub fn inputs(
    yaml: &str,
    #[wasm_bindgen(unchecked_param_type = "CheckOptions")] options: JsValue,
) -> Result<JsValue, JsError> {
    pipeline::inputs(yaml, options)
}

/// Renders a template to a string as `basso eval --format json` does:
/// `{ value }` with the text, or `{ error }`. Secrets render as their
/// expression text, `<+secrets.getValue("id")>`.
#[wasm_bindgen(unchecked_return_type = "Outcome<JsonValue>")]
pub fn render(
    template: &str,
    #[wasm_bindgen(unchecked_param_type = "Record<string, JsonValue>")] context: JsValue,
    #[wasm_bindgen(unchecked_param_type = "TemplateOptions")] options: JsValue,
) -> Result<JsValue, JsError> {
    template::run(template, context, options, EvalMode::Render)
}

/// Evaluates a template to a typed value as `basso eval --mode evaluate
/// --format json` does: `{ value }` or `{ error }`.
#[wasm_bindgen(unchecked_return_type = "Outcome<JsonValue>")]
pub fn evaluate(
    template: &str,
    #[wasm_bindgen(unchecked_param_type = "Record<string, JsonValue>")] context: JsValue,
    #[wasm_bindgen(unchecked_param_type = "TemplateOptions")] options: JsValue,
) -> Result<JsValue, JsError> {
    template::run(template, context, options, EvalMode::Evaluate)
}

/// Lists the context paths and literal secret ids a template uses:
/// `{ value: { paths, secretIds, dynamicSecrets } }` or `{ error }`.
#[wasm_bindgen(unchecked_return_type = "Outcome<References>")]
pub fn references(
    template: &str,
    #[wasm_bindgen(unchecked_param_type = "ReferencesOptions")] options: JsValue,
) -> Result<JsValue, JsError> {
    template::references(template, options)
}

/// Classifies a field as fixed text, an expression or a runtime input, or
/// with `supplied` or `useDefault` validates the value an input gets.
#[wasm_bindgen(js_name = runtimeInput, unchecked_return_type = "Outcome<JsonValue>")]
pub fn runtime_input(
    field: &str,
    #[wasm_bindgen(unchecked_param_type = "RuntimeInputOptions")] options: JsValue,
) -> Result<JsValue, JsError> {
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
