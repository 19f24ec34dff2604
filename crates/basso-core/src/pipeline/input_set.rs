//! Input set files (`inputSet:` with a `pipeline:` overlay).

use crate::diagnostic::Diagnostic;
use crate::pipeline::model::{DocumentKind, Report, document_kind, identifier_problem, key_span};
use crate::pipeline::resolve::resolve;
use crate::pipeline::yaml::Node;
use crate::pipeline::{load_document, without_bom};

/// Checks an input set on its own: its header and that every stage, step
/// and step group in the overlay names its identifier.
pub fn check_standalone(report: &mut Report, root: &Node) {
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

/// Checks each input set among `files` (name and text) against the
/// pipeline among them whose identifier it names: the paths it sets must be
/// runtime inputs of that pipeline, and its values must fit their fields.
/// The inputs it leaves out are not reported, since an input set may fill
/// only some of them. Each diagnostic names its file.
pub fn check_against_pipelines(files: &[(String, String)]) -> Vec<Diagnostic> {
    let mut pipelines: Vec<(&str, &str, String)> = Vec::new();
    let mut sets: Vec<(&str, &str, String)> = Vec::new();
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
                if let Some(id) = identifier(overlay) {
                    sets.push((name, text, id));
                }
            }
            _ => {}
        }
    }
    let mut diagnostics = Vec::new();
    for (set_name, set_text, pipeline_id) in &sets {
        let Some((name, text, _)) = pipelines.iter().find(|(_, _, id)| id == pipeline_id) else {
            continue;
        };
        diagnostics.extend(set_diagnostics(name, text, set_name, set_text));
    }
    diagnostics
}

/// Returns the diagnostics that resolving pipeline `name` with input set
/// `set_name` gives and resolving it with its defaults does not: the errors
/// the set causes, in either file, and the warnings in the set itself.
fn set_diagnostics(name: &str, text: &str, set_name: &str, set_text: &str) -> Vec<Diagnostic> {
    let context = serde_json::Value::Object(serde_json::Map::new());
    let input_sets = [(set_name.to_string(), set_text.to_string())];
    let with_set = resolve(text, name, &[], &input_sets, &context).diagnostics;
    let defaults = resolve(text, name, &[], &[], &context).diagnostics;
    with_set
        .into_iter()
        .filter(|d| d.is_error() || d.file.as_deref() == Some(set_name))
        .filter(|d| !defaults.contains(d))
        .collect()
}
