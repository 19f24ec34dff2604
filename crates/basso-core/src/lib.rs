//! basso-core turns Harness CI step fields into values: it scans `<+ … >`
//! templates, parses JEXL expressions with a pest grammar, evaluates them
//! against a context, and models, validates and resolves whole v0 pipelines.
//!
//! The crate does no I/O: strings and values go in, values and
//! [`Diagnostic`]s come out. Secrets stay opaque handles.

pub mod diagnostic;
pub mod pipeline;

pub use diagnostic::{Diagnostic, Label, Severity, Span};
