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
pub mod expansion;
pub mod failure;
pub mod field;
pub mod glob;
pub mod image;
pub mod input_set;
pub mod inputs;
mod iteration_values;
mod iterations;
pub mod locate;
pub mod model;
mod offsets;
pub mod paths;
pub mod provenance;
pub mod quantity;
pub mod references;
pub mod resolve;
pub mod resolved;
pub mod scope;
pub mod shared_path;
pub mod strategy;
pub mod suggest;
pub mod templates;
pub mod validate;
pub mod yaml;
mod yaml_input;

pub use failure::{ErrorType, FailureAction, FailureStrategy, RetryAction};
pub use resolved::*;

use crate::diagnostic::{Diagnostic, Severity, Span};
use model::{DocumentKind, Report};
use yaml::{Limits, Node};

/// Returns `text` without a leading byte order mark. The entry points read
/// files through it, so positions count from the first character after the
/// mark, as editors show the file. Callers that render excerpts of
/// diagnostics strip the mark from their copy of the text too.
pub fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// A loaded document: its root node, or the diagnostics that stopped loading.
pub(crate) fn load_document(source: &str, report: &mut Report) -> Option<Node> {
    match yaml::load_first(source, Limits::default()) {
        Ok(yaml::FirstDocument {
            root: Some(root),
            next_document,
            merge_key,
            duplicate_keys,
            more_duplicate_keys,
        }) => {
            let last_span = duplicate_keys.last().map(|d| d.span);
            for diagnostic in duplicate_keys {
                report.push(diagnostic);
            }
            if let Some(span) = last_span.filter(|_| more_duplicate_keys > 0) {
                report.error(
                    "duplicate-key",
                    format!(
                        "{more_duplicate_keys} more duplicate keys follow, which are not listed"
                    ),
                    span,
                    "remove the repeated entries; YAML keys are unique within a mapping",
                );
            }
            if let Some(span) = merge_key {
                report.warning(
                    "merge-key",
                    "`<<` merge keys are not applied: Harness reads `<<` as an ordinary key",
                    span,
                    "write the keys out in full, or repeat the anchor's mapping with `*name` as a whole value",
                );
            }
            if let Some(span) = next_document {
                report.warning(
                    "extra-document",
                    "the file contains a second YAML document, which is not read",
                    span,
                    "keep one pipeline per file; move the second document to its own file or remove the `---` line",
                );
            }
            Some(root)
        }
        Ok(yaml::FirstDocument { root: None, .. }) => {
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
    let source = without_bom(source);
    let mut report = Report::default();
    if let Some(root) = load_document(source, &mut report) {
        check_root(&mut report, &root, source);
        let kind = model::document_kind(&mut Report::default(), &root);
        if matches!(
            kind,
            Some(DocumentKind::Pipeline | DocumentKind::PipelineTemplate)
        ) {
            add_resolution_errors(&mut report, source);
        }
    }
    finish(report.diagnostics, file_name)
}

/// The codes of the diagnostics after which a runtime input resolves to
/// null (no value yet, or an invalid default), so the fields that read it
/// fail in resolution without being wrong.
const NULL_INPUT_CODES: &[&str] = &[
    "missing-input",
    "execution-input",
    crate::input::codes::INVALID_RUNTIME_INPUT,
    crate::input::codes::INVALID_DEFAULT,
    crate::input::codes::VALUE_NOT_ALLOWED,
    crate::input::codes::VALUE_MISMATCHES_REGEX,
];

/// Adds the errors that resolving the file with its defaults and no
/// context gives where the checks gave none. Examples are a constant
/// expression that fails (`<+1/0>`), a typed field whose value has the
/// wrong form, and variables that nest past the recursion limit. A field
/// that reads an input without a usable value (see [`NULL_INPUT_CODES`])
/// adds nothing, and neither does a field that reads a value known only at
/// run time (codebase, trigger, step outputs), because the error may not
/// happen then.
fn add_resolution_errors(report: &mut Report, source: &str) {
    let (diagnostics, mut unknown_value_spans) = resolve::resolve_with_defaults(source, "");
    // An input without a usable value is no error of the file, and neither
    // is what its own field then gives.
    unknown_value_spans.extend(
        diagnostics
            .iter()
            .filter(|d| NULL_INPUT_CODES.contains(&d.code.as_str()))
            .map(|d| d.span),
    );
    // Touching spans count too: a syntax error at the end of a field sits
    // just past the span of the error that check gives for the field.
    let overlaps = |a: &Span, b: &Span| a.byte_start <= b.byte_end && b.byte_start <= a.byte_end;
    // Harness runs a loop over a step output, but `basso run` cannot. A
    // secret in process arguments and two services with one host name are
    // found only once the fields resolve.
    for diagnostic in &diagnostics {
        if [
            resolve::LOOP_OVER_RUN_STATE,
            resolve::SECRET_IN_ARGUMENTS,
            resolve::DUPLICATE_HOST_NAME,
        ]
        .contains(&diagnostic.code.as_str())
        {
            let mut warning = diagnostic.clone();
            warning.severity = Severity::Warning;
            report.push(warning);
        }
    }
    // A budget runs out whatever values the run supplies later.
    let budget_codes = [
        crate::error::codes::SHARED_BUDGET_EXCEEDED,
        crate::error::codes::BUDGET_EXCEEDED,
    ];
    let new_errors: Vec<Diagnostic> = diagnostics
        .into_iter()
        .filter(|d| d.is_error())
        .filter(|d| {
            budget_codes.contains(&d.code.as_str())
                || !unknown_value_spans
                    .iter()
                    .any(|span| overlaps(span, &d.span))
        })
        .filter(|d| {
            // A cycle that check reports where the variables are defined
            // comes back from resolution where they are read: one of each
            // code is enough. A secret in a field that cannot take one is
            // an error of that field, so only one at the same place counts.
            let one_per_code = d.code != "secret-not-allowed";
            !report.diagnostics.iter().any(|checked| {
                checked.is_error()
                    && ((one_per_code && checked.code == d.code)
                        || overlaps(&checked.span, &d.span))
            })
        })
        .collect();
    for diagnostic in new_errors {
        report.push(diagnostic);
    }
}

fn check_root(report: &mut Report, root: &Node, source: &str) {
    match model::document_kind(report, root) {
        Some(DocumentKind::InputSet) => input_set::check_standalone(report, root, source),
        Some(kind) => {
            if let Some(pipeline) = model::read_pipeline(report, root, kind) {
                let templates = templates::Templates::default();
                validate::validate(report, &pipeline, &templates);
                references::check(report, &pipeline, source, &templates);
                inputs::check_defaults(report, pipeline.node, source);
            }
        }
        None => {}
    }
}

/// Resolves a pipeline file to the settings every stage and step runs with.
///
/// - `arguments` are `--input PATH=VALUE` pairs; `input_sets` are
///   `(file name, text)` pairs of input-set files. Input sets apply in the
///   order given (later wins), then each argument, then `.default(...)`. A
///   value for a field that is not a runtime input is an error, and so are
///   missing inputs without a default, values outside `allowedValues` and
///   values that do not match `.regex(...)`.
/// - `context` is a JSON object whose keys are expression roots:
///   `pipeline` (metadata such as `executionId` or `sequenceId`, merged over
///   the file's own `pipeline` tree), `codebase`, `trigger`, `variable`,
///   `account`, `org`, `project`. Paths the context does not give resolve
///   to null (`null` in rendered text) with one `unresolved-at-run-time`
///   warning per path.
/// - Secrets stay the text `<+secrets.getValue("ID")>`; each step lists
///   in `secrets` the ids that the file's own expressions use for it.
///   Strings of `context` are run-time data: blocks inside them are
///   resolved again, but a secret they request or whose id (or variable
///   name) they supply is a `secret-from-run-time-data` error, also when
///   an inner block reads them (`<+secrets.getValue(<+trigger.payload.id>)>`).
///
/// The runner resolves later steps again with a context that carries what
/// earlier steps produced: outputs under
/// `pipeline.stages.S.spec.execution.steps.ID.output.outputVariables.NAME`
/// (read in expressions as that path or as `steps.ID.output...` and
/// `execution.steps.ID.output...` within stage `S`) and statuses under
/// `pipeline.stages.S.spec.execution.steps.ID.status`. Steps inside a group
/// sit under `steps.GROUP.steps.ID`.
///
/// ```
/// let source = "pipeline:\n  name: demo\n  identifier: demo\n  stages:\n    - stage:\n        name: build\n        identifier: build\n        type: CI\n        spec:\n          platform: {os: Linux, arch: Amd64}\n          runtime: {type: Docker, spec: {}}\n          execution:\n            steps:\n              - step:\n                  type: Background\n                  name: db\n                  identifier: db\n                  spec:\n                    image: <+input>.default(postgres:15)\n                    portBindings:\n                      \"5432\": \"5432\"\n";
/// let context = serde_json::json!({});
/// let resolution = basso_core::pipeline::resolve(source, "p.yaml", &[], &[], &context);
/// let step = &resolution.stages[0].steps[0];
/// assert_eq!(step.image(), Some("postgres:15"));
/// assert_eq!(step.memory_bytes(), Some(500 * 1024 * 1024));
/// assert_eq!(step.endpoints.as_ref().unwrap().container, ["db:5432"]);
/// ```
pub fn resolve(
    source: &str,
    file_name: &str,
    arguments: &[(String, String)],
    input_sets: &[(String, String)],
    context: &serde_json::Value,
) -> Resolution {
    resolve::resolve(source, file_name, arguments, input_sets, context)
}

/// The runtime inputs of a pipeline file, for `basso inputs`.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct InputsListing {
    pub schema_version: u32,
    pub inputs: Vec<inputs::InputListing>,
    #[serde(serialize_with = "serialize_diagnostics")]
    #[cfg_attr(feature = "ts", ts(as = "Vec<crate::DiagnosticJson>"))]
    pub diagnostics: Vec<Diagnostic>,
}

fn serialize_diagnostics<S: serde::Serializer>(
    diagnostics: &[Diagnostic],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(
        &diagnostics
            .iter()
            .map(Diagnostic::to_json)
            .collect::<Vec<_>>(),
        serializer,
    )
}

/// Returns the input paths to which the `input_sets` files give a value,
/// in order of first appearance, so that `basso run` prompts only for the
/// execution inputs that no input set supplies. Problems in the files are
/// left to resolution, which reports them.
pub fn input_set_paths(source: &str, input_sets: &[(String, String)]) -> Vec<String> {
    let source = without_bom(source);
    let mut report = Report::default();
    let Some(root) = load_document(source, &mut report) else {
        return Vec::new();
    };
    let Some(pipeline) = root.get("pipeline") else {
        return Vec::new();
    };
    let fields = inputs::collect(&mut report, pipeline, source);
    let pipeline_id = pipeline
        .get("identifier")
        .and_then(Node::as_str)
        .unwrap_or_default();
    let mut supplied = indexmap::IndexMap::new();
    for (name, text) in input_sets {
        inputs::apply_input_set(&mut report, &fields, name, text, pipeline_id, &mut supplied);
    }
    supplied.into_keys().collect()
}

/// Lists every runtime-input field with its input path (the same paths
/// `--input` takes), position, type, default, allowed values, regex and
/// whether it is asked at execution time.
pub fn inputs(source: &str, file_name: &str) -> InputsListing {
    let source = without_bom(source);
    let mut report = Report::default();
    let mut listing = Vec::new();
    if let Some(root) = load_document(source, &mut report) {
        let kind = model::document_kind(&mut report, &root);
        let node = match kind {
            Some(DocumentKind::Pipeline) => root.get("pipeline"),
            Some(DocumentKind::PipelineTemplate) => {
                root.get("template").and_then(|t| t.get("spec"))
            }
            Some(DocumentKind::InputSet) => {
                report.error(
                    "not-a-pipeline",
                    "this file is an input set, not a pipeline",
                    root.span,
                    "list the inputs of the pipeline file",
                );
                None
            }
            None => None,
        };
        if let Some(node) = node {
            let fields = inputs::collect(&mut report, node, source);
            listing = inputs::list(&fields);
        }
    }
    InputsListing {
        schema_version: SCHEMA_VERSION,
        inputs: listing,
        diagnostics: finish(report.diagnostics, file_name),
    }
}
