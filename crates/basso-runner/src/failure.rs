//! `failureStrategies` of stages, step groups and steps: read from the
//! pipeline document and attached to each step of the stage plans.
//!
//! The resolved pipeline does not carry failure strategies, so they are
//! read from the parsed YAML document and matched to the plan by stage,
//! group and step identifiers. A looped stage, group or step (`build_0`)
//! takes the strategies of the identifier it was expanded from (`build`).
//!
//! NOTE: strategies inside templates (`template:` nodes) are not read, and
//! a `failureStrategies` value given as a runtime input is ignored with a
//! warning.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value as Json;

use crate::plan::{FailureAction, FailureStrategy, Node, StagePlan, StepPlan};

/// Failure strategies by identifier path: the stage id, then group ids,
/// then (for steps) the step id.
type ByPath = BTreeMap<Vec<String>, Vec<FailureStrategy>>;

/// Strategies read from one pipeline document.
#[derive(Default)]
struct Collected {
    stages: ByPath,
    groups: ByPath,
    steps: ByPath,
    warnings: Vec<String>,
}

/// Sets [`StepPlan::failure_strategies`] of every step in `stages` from the
/// pipeline `document` (the whole YAML file as JSON). Returns warnings for
/// strategies basso cannot read or whose action it cannot perform.
pub fn attach(stages: &mut [StagePlan], document: &Json) -> Vec<String> {
    let mut collected = Collected::default();
    let raw_stages = document
        .pointer("/pipeline/stages")
        .and_then(Json::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for item in raw_stages {
        collected.stage_item(item);
    }
    for stage in stages.iter_mut() {
        let stage_id = vec![stage.id.clone()];
        attach_nodes(&mut stage.nodes, &stage_id, &collected);
    }
    collected.warnings
}

impl Collected {
    fn stage_item(&mut self, item: &Json) {
        if let Some(stage) = item.get("stage") {
            self.stage(stage);
        }
        for member in item
            .get("parallel")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            self.stage_item(member);
        }
    }

    fn stage(&mut self, stage: &Json) {
        let Some(id) = stage.get("identifier").and_then(Json::as_str) else {
            return;
        };
        let path = vec![id.to_string()];
        let label = format!("stage `{id}`");
        let strategies = self.read(stage.get("failureStrategies"), &label);
        self.stages.insert(path.clone(), strategies);
        let steps = stage.pointer("/spec/execution/steps");
        self.wrappers(steps, &path);
    }

    fn wrappers(&mut self, list: Option<&Json>, path: &[String]) {
        for wrapper in list.and_then(Json::as_array).into_iter().flatten() {
            if let Some(step) = wrapper.get("step") {
                self.node(step, path, false);
            }
            if let Some(group) = wrapper.get("stepGroup") {
                self.node(group, path, true);
            }
            if let Some(parallel) = wrapper.get("parallel") {
                self.wrappers(Some(parallel), path);
            }
        }
    }

    fn node(&mut self, node: &Json, parent: &[String], is_group: bool) {
        let Some(id) = node.get("identifier").and_then(Json::as_str) else {
            return;
        };
        let mut path = parent.to_vec();
        path.push(id.to_string());
        let kind = if is_group { "step group" } else { "step" };
        let label = format!("{kind} `{}`", path[1..].join("."));
        let strategies = self.read(node.get("failureStrategies"), &label);
        if is_group {
            self.groups.insert(path.clone(), strategies);
            self.wrappers(node.get("steps"), &path);
        } else {
            self.steps.insert(path, strategies);
        }
    }

    /// Reads one `failureStrategies` list; `label` names its owner in
    /// warnings.
    fn read(&mut self, value: Option<&Json>, label: &str) -> Vec<FailureStrategy> {
        let Some(value) = value else {
            return Vec::new();
        };
        let Some(entries) = value.as_array() else {
            self.warnings.push(format!(
                "`failureStrategies` of {label} is not a list; basso run ignores it"
            ));
            return Vec::new();
        };
        let mut strategies = Vec::new();
        for entry in entries {
            match parse_strategy(entry) {
                Ok(strategy) => {
                    self.warn_unsupported(&strategy.action, label);
                    strategies.push(strategy);
                }
                Err(error) => self.warnings.push(format!(
                    "a failure strategy of {label} is invalid and ignored: {error}"
                )),
            }
        }
        strategies
    }

    fn warn_unsupported(&mut self, action: &FailureAction, label: &str) {
        match action {
            FailureAction::Unsupported(name) => self.warnings.push(format!(
                "failure strategy action `{name}` of {label} is not supported by basso run; \
                 the step fails instead"
            )),
            FailureAction::Retry {
                on_retry_failure, ..
            } => self.warn_unsupported(on_retry_failure, label),
            _ => {}
        }
    }
}

fn parse_strategy(entry: &Json) -> Result<FailureStrategy, String> {
    let on_failure = entry
        .get("onFailure")
        .ok_or("`onFailure` is missing".to_string())?;
    let errors = match on_failure.get("errors") {
        Some(Json::Array(errors)) => errors
            .iter()
            .map(|error| {
                error
                    .as_str()
                    .map(str::to_string)
                    .ok_or(format!("error type `{error}` is not a string"))
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err("`onFailure.errors` is not a list".to_string()),
    };
    let action = parse_action(on_failure.get("action"), true)?;
    Ok(FailureStrategy { errors, action })
}

/// Parses an `action` block; `retry_allowed` is false inside
/// `onRetryFailure`, where Harness does not allow another `Retry`.
fn parse_action(action: Option<&Json>, retry_allowed: bool) -> Result<FailureAction, String> {
    let action = action.ok_or("`action` is missing".to_string())?;
    let kind = action
        .get("type")
        .and_then(Json::as_str)
        .ok_or("`action.type` is missing".to_string())?;
    let parsed = match kind {
        "Ignore" => FailureAction::Ignore,
        "MarkAsSuccess" => FailureAction::MarkAsSuccess,
        "MarkAsFailure" => FailureAction::MarkAsFailure,
        "Abort" => FailureAction::Abort,
        "Retry" if retry_allowed => parse_retry(action.get("spec"))?,
        "Retry" => return Err("`onRetryFailure` cannot be `Retry`".to_string()),
        other => FailureAction::Unsupported(other.to_string()),
    };
    Ok(parsed)
}

fn parse_retry(spec: Option<&Json>) -> Result<FailureAction, String> {
    let spec = spec.ok_or("`Retry` needs a `spec` with `retryCount`".to_string())?;
    let count = match spec.get("retryCount") {
        Some(Json::Number(number)) => number.as_u64(),
        Some(Json::String(text)) => text.trim().parse().ok(),
        _ => None,
    }
    .and_then(|count| u32::try_from(count).ok())
    .ok_or("`retryCount` is not a whole number".to_string())?;
    let mut intervals = Vec::new();
    for interval in spec
        .get("retryIntervals")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        let text = interval
            .as_str()
            .ok_or(format!("retry interval `{interval}` is not a duration"))?;
        let seconds = basso_core::pipeline::duration::parse_duration(text)
            .map_err(|error| format!("invalid retry interval `{text}`: {error}"))?;
        intervals.push(Duration::from_secs(seconds.unwrap_or(0)));
    }
    let on_retry_failure = match spec.pointer("/onRetryFailure/action") {
        Some(action) => parse_action(Some(action), false)?,
        None => FailureAction::MarkAsFailure,
    };
    Ok(FailureAction::Retry {
        count,
        intervals,
        on_retry_failure: Box::new(on_retry_failure),
    })
}

fn attach_nodes(nodes: &mut [Node], stage_path: &[String], collected: &Collected) {
    for node in nodes {
        match node {
            Node::Step(step) => attach_step(step, stage_path, collected),
            Node::Parallel { nodes, .. } => attach_nodes(nodes, stage_path, collected),
            Node::Group(group) => attach_nodes(&mut group.nodes, stage_path, collected),
        }
    }
}

/// Sets the step's strategies: its own, its groups' (innermost first), then
/// the stage's.
fn attach_step(step: &mut StepPlan, stage_path: &[String], collected: &Collected) {
    let mut path = stage_path.to_vec();
    path.extend(step.group_path.iter().cloned());
    path.push(step.id.clone());

    let mut chain = lookup(&collected.steps, &path);
    for depth in (1..=step.group_path.len()).rev() {
        chain.extend(lookup(&collected.groups, &path[..=depth]));
    }
    chain.extend(lookup(&collected.stages, &path[..1]));
    step.failure_strategies = chain;
}

/// Finds the strategies of `path`: the exact identifiers first, else the
/// identifiers a looping strategy expanded into `path` (`test` for
/// `test_0`), the longest match winning.
fn lookup(table: &ByPath, path: &[String]) -> Vec<FailureStrategy> {
    if let Some(found) = table.get(path) {
        return found.clone();
    }
    table
        .iter()
        .filter(|(raw, _)| {
            raw.len() == path.len()
                && raw
                    .iter()
                    .zip(path)
                    .all(|(raw_id, id)| expanded_from(id, raw_id))
        })
        .max_by_key(|(raw, _)| raw.iter().map(String::len).sum::<usize>())
        .map(|(_, found)| found.clone())
        .unwrap_or_default()
}

fn expanded_from(id: &str, raw_id: &str) -> bool {
    id == raw_id
        || id
            .strip_prefix(raw_id)
            .is_some_and(|rest| rest.starts_with('_'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::GroupPlan;

    fn document() -> Json {
        serde_json::json!({"pipeline": {"stages": [{"stage": {
            "identifier": "s",
            "failureStrategies": [{"onFailure": {
                "errors": ["AllErrors"], "action": {"type": "MarkAsFailure"}}}],
            "spec": {"execution": {"steps": [
                {"step": {"identifier": "a", "failureStrategies": [{"onFailure": {
                    "errors": ["Timeout"],
                    "action": {"type": "Retry", "spec": {
                        "retryCount": 2, "retryIntervals": ["1s", "2s"],
                        "onRetryFailure": {"action": {"type": "Ignore"}}}}}}]}},
                {"stepGroup": {"identifier": "g",
                    "failureStrategies": [{"onFailure": {
                        "errors": ["Unknown"], "action": {"type": "ManualIntervention"}}}],
                    "steps": [{"parallel": [{"step": {"identifier": "b"}}]}]}}
            ]}}
        }}]}})
    }

    fn plan() -> StagePlan {
        let a = StepPlan {
            id: "a".into(),
            ..StepPlan::default()
        };
        let b = StepPlan {
            id: "b_1".into(),
            group_path: vec!["g".into()],
            ..StepPlan::default()
        };
        StagePlan {
            id: "s".into(),
            nodes: vec![
                Node::Step(Box::new(a)),
                Node::Group(GroupPlan {
                    id: "g".into(),
                    nodes: vec![Node::Step(Box::new(b))],
                    ..GroupPlan::default()
                }),
            ],
            ..StagePlan::default()
        }
    }

    fn step_of(node: &Node) -> &StepPlan {
        match node {
            Node::Step(step) => step,
            Node::Group(group) => step_of(&group.nodes[0]),
            Node::Parallel { nodes, .. } => step_of(&nodes[0]),
        }
    }

    #[test]
    fn step_strategy_then_stage() {
        let mut stages = vec![plan()];
        attach(&mut stages, &document());
        let a = step_of(&stages[0].nodes[0]);
        assert_eq!(a.failure_strategies.len(), 2);
        assert_eq!(
            a.failure_strategies[0].action,
            FailureAction::Retry {
                count: 2,
                intervals: vec![Duration::from_secs(1), Duration::from_secs(2)],
                on_retry_failure: Box::new(FailureAction::Ignore),
            }
        );
        assert_eq!(a.failure_strategies[1].action, FailureAction::MarkAsFailure);
    }

    #[test]
    fn looped_step_takes_group_strategy() {
        let mut stages = vec![plan()];
        let warnings = attach(&mut stages, &document());
        let b = step_of(&stages[0].nodes[1]);
        assert_eq!(b.failure_strategies.len(), 2);
        assert_eq!(
            b.failure_strategies[0].action,
            FailureAction::Unsupported("ManualIntervention".into())
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("`ManualIntervention`"), "{warnings:?}");
    }

    #[test]
    fn error_kinds_matched() {
        let strategy = FailureStrategy {
            errors: vec!["Timeout".into()],
            action: FailureAction::Ignore,
        };
        assert!(strategy.matches("Timeout"));
        assert!(!strategy.matches("Unknown"));
        let all = FailureStrategy {
            errors: vec!["AllErrors".into()],
            action: FailureAction::Ignore,
        };
        assert!(all.matches("Unknown"));
    }

    #[test]
    fn retry_inside_retry_rejected() {
        let entry = serde_json::json!({"onFailure": {"errors": ["AllErrors"], "action": {
            "type": "Retry", "spec": {"retryCount": 1,
                "onRetryFailure": {"action": {"type": "Retry"}}}}}});
        assert!(parse_strategy(&entry).is_err());
    }
}
