//! Finds where a resolved stage, its steps and their settings are written
//! in the pipeline file's YAML tree, so that problems found after
//! resolution (by the runner, the Kubernetes export) point at
//! `file:line:col`.

use crate::diagnostic::Span;
use crate::pipeline::yaml::Node;
use crate::pipeline::{Iteration, ResolvedStage, ResolvedStep};

/// Step settings under `spec` whose spans [`setting_spans`] records, by
/// YAML key.
const SPEC_KEYS: [&str; 13] = [
    "image",
    "connectorRef",
    "shell",
    "command",
    "entrypoint",
    "envVariables",
    "imagePullPolicy",
    "portBindings",
    "reports",
    "outputVariables",
    "resources",
    "privileged",
    "runAsUser",
];

/// Step settings beside `spec` whose spans [`setting_spans`] records.
const STEP_KEYS: [&str; 2] = ["when", "timeout"];

/// A step node of a stage, with the step group nodes around it.
#[derive(Clone, Debug)]
pub struct StepNode<'a> {
    /// The mapping under `step:`.
    pub node: &'a Node,
    /// The mappings under the `stepGroup:` keys around the step, outermost
    /// first.
    pub groups: Vec<&'a Node>,
}

/// Returns the stage node of `stage` under `pipeline.stages`, inside
/// `parallel` blocks too.
pub fn stage_node<'a>(root: &'a Node, stage: &ResolvedStage) -> Option<&'a Node> {
    let identifier = written_id(&stage.identifier, stage.strategy.as_ref());
    let stages = root.get("pipeline")?.get("stages")?.as_sequence()?;
    find_in_stage_list(stages, identifier)
}

fn find_in_stage_list<'a>(items: &'a [Node], identifier: &str) -> Option<&'a Node> {
    for item in items {
        if let Some(stage) = item.get("stage")
            && stage.get("identifier").and_then(Node::as_str) == Some(identifier)
        {
            return Some(stage);
        }
        if let Some(found) = item
            .get("parallel")
            .and_then(Node::as_sequence)
            .and_then(|inner| find_in_stage_list(inner, identifier))
        {
            return Some(found);
        }
    }
    None
}

/// Lists the step nodes of the stage node `stage`, in file order.
pub fn step_nodes(stage: &Node) -> Vec<StepNode<'_>> {
    let mut found = Vec::new();
    if let Some(items) = stage
        .get("spec")
        .and_then(|spec| spec.get("execution")?.get("steps")?.as_sequence())
    {
        collect_steps(items, &mut Vec::new(), &mut found);
    }
    found
}

/// Collects the step nodes of `items`, which lie inside the group nodes
/// `groups` (outermost first).
fn collect_steps<'a>(items: &'a [Node], groups: &mut Vec<&'a Node>, found: &mut Vec<StepNode<'a>>) {
    for item in items {
        if let Some(step) = item.get("step") {
            found.push(StepNode {
                node: step,
                groups: groups.clone(),
            });
        }
        if let Some(inner) = item.get("parallel").and_then(Node::as_sequence) {
            collect_steps(inner, groups, found);
        }
        if let Some(step_group) = item.get("stepGroup")
            && let Some(inner) = step_group.get("steps").and_then(Node::as_sequence)
        {
            groups.push(step_group);
            collect_steps(inner, groups, found);
            groups.pop();
        }
    }
}

/// Returns the node among `nodes` that `step` was resolved from: the one
/// with its identifier, as written, inside the same step groups. A looped
/// step or group is written once and resolved once per iteration, with an
/// iteration suffix (`_0`, or `_` and the `nodeName`).
pub fn find_step<'n, 'a>(
    nodes: &'n [StepNode<'a>],
    step: &ResolvedStep,
) -> Option<&'n StepNode<'a>> {
    let identifier = written_id(&step.identifier, step.strategy.as_ref());
    let groups = step.group_path();
    nodes.iter().find(|candidate| {
        candidate.node.get("identifier").and_then(Node::as_str) == Some(identifier)
            && candidate.groups.len() == groups.len()
            && candidate
                .groups
                .iter()
                .zip(&groups)
                .all(|(group, resolved)| is_group(group, resolved))
    })
}

/// Returns whether the group node `group` is the resolved group
/// `resolved`: the same identifier, or an iteration of it when the group
/// loops.
fn is_group(group: &Node, resolved: &str) -> bool {
    let Some(written) = group.get("identifier").and_then(Node::as_str) else {
        return false;
    };
    if written == resolved {
        return true;
    }
    group.get("strategy").is_some()
        && resolved
            .strip_prefix(written)
            .is_some_and(|suffix| suffix.starts_with('_'))
}

/// Returns the identifier as written in the file: looped stages and steps
/// carry an iteration suffix that the YAML does not.
fn written_id<'a>(identifier: &'a str, strategy: Option<&Iteration>) -> &'a str {
    strategy
        .and_then(|iteration| identifier.strip_suffix(iteration.identifier_post_fix.as_str()))
        .unwrap_or(identifier)
}

/// Returns the span of the `identifier` value of a stage or step node, or
/// of the node when it has none.
pub fn identifier_span(node: &Node) -> Span {
    node.get("identifier").map_or(node.span, |id| id.span)
}

/// Returns the span of a scalar setting's value, or of the key when the
/// value is a mapping or list, which would underline many lines.
pub fn setting_span(owner: &Node, key: &str) -> Option<Span> {
    let (key_node, value) = owner.entry(key)?;
    Some(if value.scalar().is_some() {
        value.span
    } else {
        key_node.span
    })
}

/// Returns the span of each written setting of the step node `node` that
/// problems are reported at, by YAML key: the Run and Background settings
/// under `spec`, and `when` and `timeout` beside it.
pub fn setting_spans(node: &Node) -> Vec<(&'static str, Span)> {
    let spec = node.get("spec");
    let in_spec = SPEC_KEYS
        .iter()
        .filter_map(|key| Some((*key, setting_span(spec?, key)?)));
    let beside_spec = STEP_KEYS
        .iter()
        .filter_map(|key| Some((*key, setting_span(node, key)?)));
    in_spec.chain(beside_spec).collect()
}

/// Returns the span of the value of each entry of the mapping `setting`
/// under the step node's `spec` (the names and values of `envVariables`),
/// by key, or of the key where the value is not a scalar.
pub fn entry_spans(node: &Node, setting: &str) -> Vec<(String, Span)> {
    let entries = node
        .get("spec")
        .and_then(|spec| spec.get(setting)?.as_mapping())
        .unwrap_or_default();
    entries
        .iter()
        .filter_map(|(key, value)| {
            let span = if value.scalar().is_some() {
                value.span
            } else {
                key.span
            };
            Some((key.as_str()?.to_string(), span))
        })
        .collect()
}
