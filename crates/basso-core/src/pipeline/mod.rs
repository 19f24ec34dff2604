//! Whole Harness v0 pipeline files: YAML with positions, the model,
//! validation, resolution and the runtime-input listing.
//!
//! The entry points are [`check`], [`resolve`] and [`inputs`]; each takes
//! the file's text and the name to print in diagnostics, and does no I/O.
//!
//! ```
//! let source = "pipeline:\n  name: demo\n  identifier: demo\n  stages:\n    - stage:\n        name: build\n        identifier: build\n        type: CI\n        spec:\n          platform: {os: Linux, arch: Amd64}\n          runtime: {type: Cloud, spec: {}}\n          execution:\n            steps:\n              - step:\n                  type: Run\n                  name: test\n                  identifier: test\n                  spec:\n                    shell: sh\n                    command: make test\n";
//! let diagnostics = basso_core::pipeline::check(source, "pipeline.yaml");
//! assert_eq!(diagnostics[0].code, "unknown-shell");
//! assert_eq!(diagnostics[0].help.as_deref(), Some("did you mean `Sh`?"));
//! ```

// Diagnostics are the error type throughout; they are large but rare, and
// boxing them would only add noise at every `?`.
#![allow(clippy::result_large_err)]

pub mod duration;
pub mod field;
pub mod image;
pub mod input_set;
pub mod model;
pub mod paths;
pub mod quantity;
pub mod resolved;
pub mod strategy;
pub mod suggest;
pub mod validate;
pub mod yaml;

pub use resolved::*;

use crate::diagnostic::Diagnostic;
use model::{DocumentKind, Report};
use yaml::{Limits, Node};

/// A loaded document: its root node, or the diagnostics that stopped loading.
pub(crate) fn load_document(source: &str, report: &mut Report) -> Option<Node> {
    match yaml::load(source, Limits::default()) {
        Ok(Some(root)) => Some(root),
        Ok(None) => {
            report.error(
                "empty-document",
                "the file contains no YAML document",
                crate::diagnostic::Span::from_byte_range(source, 0, 0),
                "a pipeline file starts with `pipeline:`",
            );
            None
        }
        Err(diagnostic) => {
            report.push(diagnostic);
            None
        }
    }
}

/// Sorts diagnostics by position and stamps the file name on each.
pub(crate) fn finish(mut diagnostics: Vec<Diagnostic>, file_name: &str) -> Vec<Diagnostic> {
    diagnostics.sort_by_key(|d| (d.span.byte_start, d.span.byte_end));
    diagnostics.dedup_by(|a, b| a.span == b.span && a.code == b.code && a.message == b.message);
    diagnostics
        .into_iter()
        .map(|d| d.with_file(file_name))
        .collect()
}

/// Checks a pipeline, pipeline template or input set file and returns every
/// diagnostic, sorted by position. YAML syntax errors stop the check at the
/// first one; validation collects every problem.
pub fn check(source: &str, file_name: &str) -> Vec<Diagnostic> {
    let mut report = Report::default();
    if let Some(root) = load_document(source, &mut report) {
        check_root(&mut report, &root);
    }
    finish(report.diagnostics, file_name)
}

fn check_root(report: &mut Report, root: &Node) {
    match model::document_kind(report, root) {
        Some(DocumentKind::InputSet) => input_set::check_standalone(report, root),
        Some(kind) => {
            if let Some(pipeline) = model::read_pipeline(report, root, kind) {
                validate::validate(report, &pipeline);
            }
        }
        None => {}
    }
}
