//! Input set files (`inputSet:` with a `pipeline:` overlay).

use crate::diagnostic::Diagnostic;
use crate::pipeline::model::{DocumentKind, Report, document_kind, identifier_problem, key_span};
use crate::pipeline::resolve::resolve_with_input_sets;
use crate::pipeline::yaml::Node;
use crate::pipeline::{load_document, without_bom};

/// Checks an input set on its own: its header, that every stage, step and
/// step group in the overlay names its identifier, and that the expressions
/// in its values compile. `source` is the file's text.
pub fn check_standalone(report: &mut Report, root: &Node, source: &str) {
    let Some(input_set) = root.get("inputSet") else {
        return;
    };
    if input_set.as_mapping().is_none() {
        report.error(
            "wrong-type",
            format!(
                "`inputSet` must be a mapping, found {}",
                input_set.kind_name()
            ),
            input_set.span,
            "write the input set's fields indented below `inputSet:`",
        );
        return;
    }
    for key in ["identifier", "name"] {
        if input_set.get(key).is_none() {
            report.error(
                "missing-field",
                format!("the input set has no `{key}`"),
                key_span(input_set),
                format!("add `{key}:` to the input set"),
            );
        }
    }
    if let Some(id) = input_set.get("identifier").and_then(Node::as_str)
        && let Some((message, help)) = identifier_problem(id)
    {
        report.error(
            "invalid-identifier",
            message,
            input_set
                .get("identifier")
                .map_or(input_set.span, |n| n.span),
            help,
        );
    }
    let Some(pipeline) = input_set.get("pipeline") else {
        report.error(
            "missing-field",
            "the input set has no `pipeline`",
            key_span(input_set),
            "add `pipeline:` with the pipeline's identifier and the input values",
        );
        return;
    };
    if pipeline.get("identifier").is_none() {
        report.error(
            "missing-field",
            "the input set's `pipeline` has no `identifier`",
            key_span(pipeline),
            "add the identifier of the pipeline the input set is for",
        );
    }
    check_wrappers(report, pipeline);
    check_expressions(report, pipeline, source);
}

/// Reports each string value under `node` whose expressions do not compile.
fn check_expressions(report: &mut Report, node: &Node, source: &str) {
    if let Some(scalar) = node.scalar() {
        if let Some(error) = crate::pipeline::inputs::expression_error(&scalar.text) {
            report.push(crate::pipeline::inputs::expr_diagnostic(
                &error, source, node,
            ));
        }
        return;
    }
    for item in node.as_sequence().unwrap_or_default() {
        check_expressions(report, item, source);
    }
    for (_, value) in node.as_mapping().unwrap_or_default() {
        check_expressions(report, value, source);
    }
}

/// Walks `stages` and `steps` lists and reports entries without an identifier.
fn check_wrappers(report: &mut Report, node: &Node) {
    if let Some(entries) = node.as_mapping() {
        for (key, value) in entries {
            if matches!(key.as_str(), Some("stages" | "steps")) {
                for item in value.as_sequence().unwrap_or_default() {
                    check_wrapper_item(report, item);
                }
            } else {
                check_wrappers(report, value);
            }
        }
    }
}

fn check_wrapper_item(report: &mut Report, item: &Node) {
    for wrapper in ["stage", "step", "stepGroup"] {
        if let Some(inner) = item.get(wrapper) {
            if inner.get("identifier").and_then(Node::as_str).is_none() {
                report.error(
                    "missing-field",
                    format!("a `{wrapper}` in the input set has no `identifier`"),
                    key_span(inner),
                    format!("add the identifier of the {wrapper} these values are for"),
                );
            }
            check_wrappers(report, inner);
            return;
        }
    }
    if let Some(parallel) = item.get("parallel") {
        for inner in parallel.as_sequence().unwrap_or_default() {
            check_wrapper_item(report, inner);
        }
    }
}

/// Checks the input sets among `files` (name and text) against the
/// pipeline among them whose identifier they name. They apply together in
/// the order given, as `resolve --inputs` applies them. The paths they set
/// must be runtime inputs of that pipeline, and their values must fit their
/// fields. The inputs they leave out are not reported, since input sets may
/// fill only some of them. An input set that names a pipeline not among the
/// files gets a warning when pipelines are given. Each diagnostic names its
/// file.
pub fn check_against_pipelines(files: &[(String, String)]) -> Vec<Diagnostic> {
    let mut pipelines: Vec<(&str, &str, String)> = Vec::new();
    let mut sets: Vec<(&str, &str, String, crate::diagnostic::Span)> = Vec::new();
    for (name, text) in files {
        let source = without_bom(text);
        let Some(root) = load_document(source, &mut Report::default()) else {
            continue;
        };
        let identifier = |node: Option<&Node>| {
            node.and_then(|node| node.get("identifier"))
                .and_then(Node::as_str)
                .map(str::to_string)
        };
        match document_kind(&mut Report::default(), &root) {
            Some(DocumentKind::Pipeline) => {
                if let Some(id) = identifier(root.get("pipeline")) {
                    pipelines.push((name, text, id));
                }
            }
            Some(DocumentKind::InputSet) => {
                let overlay = root.get("inputSet").and_then(|set| set.get("pipeline"));
                let span = overlay
                    .and_then(|overlay| overlay.get("identifier"))
                    .map_or(root.span, |node| node.span);
                if let Some(id) = identifier(overlay) {
                    sets.push((name, text, id, span));
                }
            }
            _ => {}
        }
    }
    let mut diagnostics = Vec::new();
    // What checking each set on its own reports, which the caller has.
    let standalone: Vec<Diagnostic> = sets
        .iter()
        .flat_map(|(set_name, set_text, _, _)| crate::pipeline::check(set_text, set_name))
        .collect();
    for (name, text, pipeline_id) in &pipelines {
        let input_sets: Vec<(String, String)> = sets
            .iter()
            .filter(|(_, _, id, _)| id == pipeline_id)
            .map(|(set_name, set_text, _, _)| (set_name.to_string(), set_text.to_string()))
            .collect();
        if !input_sets.is_empty() {
            let found = sets_diagnostics(name, text, &input_sets);
            diagnostics.extend(found.into_iter().filter(|d| !standalone.contains(d)));
        }
    }
    if pipelines.is_empty() {
        return diagnostics;
    }
    for (set_name, _, pipeline_id, span) in &sets {
        if pipelines.iter().all(|(_, _, id)| id != pipeline_id) {
            let checked: Vec<String> = pipelines
                .iter()
                .map(|(_, _, id)| format!("`{id}`"))
                .collect();
            diagnostics.push(
                Diagnostic::warning(
                    "input-set-pipeline",
                    format!(
                        "the input set is for pipeline `{pipeline_id}`, which none of the files checked with it is ({})",
                        checked.join(", ")
                    ),
                    *span,
                )
                .with_help("check the input set beside the pipeline it names, or correct its `pipeline.identifier`")
                .with_file(*set_name),
            );
        }
    }
    diagnostics
}

/// Returns the diagnostics that resolving pipeline `name` with
/// `input_sets` gives and resolving it with its defaults does not: the
/// errors the sets cause, in any file, the warnings in the sets, and the
/// warnings about a set's value at the pipeline field it fills (their
/// message names the value's origin, `from SET:LINE:COLUMN`).
///
/// An input that neither the sets nor a default give a value stays
/// unknown until the run requests it, so a set's value that reads it is not
/// checked yet.
fn sets_diagnostics(name: &str, text: &str, input_sets: &[(String, String)]) -> Vec<Diagnostic> {
    let (with_sets, _) = resolve_with_input_sets(text, name, input_sets);
    let (defaults, _) = resolve_with_input_sets(text, name, &[]);
    let in_a_set = |d: &Diagnostic| {
        input_sets.iter().any(|(set_name, _)| {
            d.file.as_deref() == Some(set_name.as_str())
                || d.message.contains(&format!("from {set_name}:"))
        })
    };
    with_sets
        .into_iter()
        .filter(|d| d.is_error() || in_a_set(d))
        .filter(|d| !defaults.contains(d))
        .collect()
}
