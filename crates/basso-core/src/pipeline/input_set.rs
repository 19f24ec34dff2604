//! Input set files (`inputSet:` with a `pipeline:` overlay).

use crate::pipeline::model::{Report, identifier_problem, key_span};
use crate::pipeline::yaml::Node;

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
