//! basso-core turns Harness CI step fields into values: it scans `<+ … >`
//! templates, parses JEXL expressions with a pest grammar, evaluates them
//! against a context, and classifies and validates runtime inputs.
//!
//! The crate does no I/O: strings and values go in, values and
//! [`Diagnostic`]s come out. Secrets stay opaque handles.
//!
//! Main types:
//! - [`Template`]: parse once with [`Template::parse`], then
//!   [`Template::render`] (splice block values into the text) or
//!   [`Template::evaluate`] (read the text as one expression, typed result)
//!   any number of times. [`Template::references`] lists the context paths
//!   and secret ids the blocks use.
//! - [`Value`]: null, booleans, integers, doubles, strings, lists,
//!   insertion-ordered maps and [`SecretHandle`]s.
//! - [`Context`]: where paths get their values. A [`Value`] map is a context
//!   whose keys are the roots; callers with other stores implement the
//!   trait, and see unresolved paths through [`Context::missed`] (or wrap
//!   a context in a [`RecordingContext`]).
//! - [`Options`]: [`ScanMode`], [`EvalMode`], [`Unresolved`] and [`Limits`].
//! - [`ExprError`]: a stable kebab-case `code`, a message, a help line, the
//!   1-based line and character column, and the byte range in the template.
//! - [`input::FieldKind`] and [`input::RuntimeInput`]: fixed values, runtime
//!   inputs (`<+input>.default(…).allowedValues(…)`) and their validation.
//!
//! ```
//! use basso_core::{Options, ScanMode, Template, Value};
//!
//! let context = Value::from_json(serde_json::json!({
//!     "pipeline": {"variables": {"tag": "1.2.3"}},
//! }));
//! let template = Template::parse("v<+pipeline.variables.tag.split('\\.')[0]>", ScanMode::Harness).unwrap();
//! assert_eq!(template.render(&context, &Options::default()).unwrap(), "v1");
//! ```

pub mod diagnostic;
pub mod error;
pub mod eval;
pub mod expr;
pub mod input;
pub mod options;
pub mod pipeline;
pub mod report;
pub mod template;
pub mod value;

pub use diagnostic::{Diagnostic, DiagnosticJson, Label, Severity, Span};
pub use error::ExprError;
pub use eval::{Context, RecordingContext};
pub use expr::PathSegment;
pub use options::{EvalMode, Limits, Options, ScanMode, Unresolved};
pub use template::{References, Template};
pub use value::{SecretHandle, Value};

/// Parses `text` with `options.scan` and renders it.
pub fn render(text: &str, ctx: &dyn Context, options: &Options) -> Result<String, ExprError> {
    Template::parse_with_limits(text, options.scan, options.limits)?.render(ctx, options)
}

/// Parses `text` with `options.scan` and evaluates it to a typed value.
pub fn evaluate(text: &str, ctx: &dyn Context, options: &Options) -> Result<Value, ExprError> {
    Template::parse_with_limits(text, options.scan, options.limits)?.evaluate(ctx, options)
}

/// Parses `text` and lists the paths and secret ids its blocks use.
pub fn references(text: &str, scan: ScanMode) -> Result<References, ExprError> {
    Ok(Template::parse(text, scan)?.references())
}
