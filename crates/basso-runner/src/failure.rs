//! Failure strategies in the plan: the conversion of the strategies that
//! `basso-core` resolves for each step, and the warnings for actions that
//! basso run cannot perform.

use std::collections::BTreeMap;
use std::time::Duration;

use basso_core::pipeline::FailureAction as ResolvedAction;
use basso_core::pipeline::FailureStrategy as ResolvedStrategy;

use crate::plan::{FailureAction, FailureStrategy, StagePlan};
use crate::preflight::steps_of;

/// Converts one resolved failure strategy.
pub fn strategy(resolved: &ResolvedStrategy) -> FailureStrategy {
    FailureStrategy {
        errors: resolved
            .errors
            .iter()
            .map(|error| error.as_str().to_string())
            .collect(),
        action: action(&resolved.action),
    }
}

fn action(resolved: &ResolvedAction) -> FailureAction {
    match resolved {
        ResolvedAction::Ignore => FailureAction::Ignore,
        ResolvedAction::MarkAsSuccess => FailureAction::MarkAsSuccess,
        ResolvedAction::MarkAsFailure => FailureAction::MarkAsFailure,
        ResolvedAction::Abort => FailureAction::Abort,
        ResolvedAction::Retry(retry) => FailureAction::Retry {
            count: retry.retry_count,
            intervals: retry
                .retry_interval_seconds
                .iter()
                .map(|seconds| Duration::from_secs(*seconds))
                .collect(),
            on_retry_failure: Box::new(action(&retry.on_retry_failure)),
        },
        other => FailureAction::Unsupported(other.type_name().to_string()),
    }
}

/// Returns the action of the first of `strategies` that matches `Unknown`
/// errors, for a step or group that failed before it started. A `Retry`
/// would read the same run state and fail the same way, so its
/// `onRetryFailure` action applies.
pub fn before_start_action(strategies: &[FailureStrategy]) -> Option<&FailureAction> {
    let strategy = strategies
        .iter()
        .find(|strategy| strategy.matches("Unknown"))?;
    match &strategy.action {
        FailureAction::Retry {
            on_retry_failure, ..
        } => Some(on_retry_failure.as_ref()),
        other => Some(other),
    }
}

/// Returns one warning per failure strategy action that basso run cannot
/// perform, naming the steps of `stages` it applies to.
pub fn unsupported_warnings(stages: &[StagePlan]) -> Vec<String> {
    let mut steps_by_action: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for stage in stages {
        for step in steps_of(&stage.nodes) {
            for strategy in &step.failure_strategies {
                if let Some(name) = unsupported_name(&strategy.action) {
                    let path = format!("`{}.{}`", stage.id, step.path());
                    let steps = steps_by_action.entry(name).or_default();
                    if !steps.contains(&path) {
                        steps.push(path);
                    }
                }
            }
        }
    }
    steps_by_action
        .into_iter()
        .map(|(name, steps)| {
            format!(
                "failure strategy action `{name}` is not supported by basso run, so a failure it \
                 applies to fails the step instead (steps {})",
                steps.join(", ")
            )
        })
        .collect()
}

/// Returns the name of the unsupported action in `action`, including the
/// fallback of a `Retry`.
fn unsupported_name(action: &FailureAction) -> Option<&str> {
    match action {
        FailureAction::Unsupported(name) => Some(name),
        FailureAction::Retry {
            on_retry_failure, ..
        } => unsupported_name(on_retry_failure),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use basso_core::pipeline::{ErrorType, RetryAction};

    use super::*;
    use crate::plan::{GroupPlan, Node, StepPlan};

    #[test]
    fn retry_converted_with_intervals() {
        let resolved = ResolvedStrategy {
            errors: vec![ErrorType::Timeout],
            action: ResolvedAction::Retry(RetryAction {
                retry_count: 2,
                retry_interval_seconds: vec![1, 2],
                on_retry_failure: Box::new(ResolvedAction::Ignore),
            }),
        };

        let converted = strategy(&resolved);
        assert_eq!(converted.errors, ["Timeout"]);
        let expected = FailureAction::Retry {
            count: 2,
            intervals: vec![Duration::from_secs(1), Duration::from_secs(2)],
            on_retry_failure: Box::new(FailureAction::Ignore),
        };
        assert_eq!(converted.action, expected);
    }

    #[test]
    fn other_actions_converted_by_name() {
        let cases = [
            (ResolvedAction::Ignore, FailureAction::Ignore),
            (ResolvedAction::MarkAsSuccess, FailureAction::MarkAsSuccess),
            (ResolvedAction::MarkAsFailure, FailureAction::MarkAsFailure),
            (ResolvedAction::Abort, FailureAction::Abort),
            (
                ResolvedAction::StageRollback,
                FailureAction::Unsupported("StageRollback".into()),
            ),
        ];
        for (resolved, expected) in cases {
            assert_eq!(action(&resolved), expected);
        }
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

    fn step(id: &str, group_path: &[&str], actions: &[FailureAction]) -> Node {
        let failure_strategies = actions
            .iter()
            .map(|action| FailureStrategy {
                errors: vec!["AllErrors".into()],
                action: action.clone(),
            })
            .collect();
        Node::Step(Box::new(StepPlan {
            id: id.into(),
            group_path: group_path.iter().map(|id| id.to_string()).collect(),
            failure_strategies,
            ..StepPlan::default()
        }))
    }

    #[test]
    fn unsupported_action_warned_once() {
        let manual = FailureAction::Unsupported("ManualIntervention".into());
        let retry_then_rollback = FailureAction::Retry {
            count: 1,
            intervals: Vec::new(),
            on_retry_failure: Box::new(FailureAction::Unsupported("StageRollback".into())),
        };
        let stage = StagePlan {
            id: "s".into(),
            nodes: vec![
                step("a", &[], &[manual.clone(), retry_then_rollback]),
                Node::Group(GroupPlan {
                    id: "g".into(),
                    nodes: vec![
                        step("b_0", &["g"], std::slice::from_ref(&manual)),
                        step("b_1", &["g"], &[manual.clone(), manual]),
                    ],
                    ..GroupPlan::default()
                }),
                step("c", &[], &[FailureAction::Ignore]),
            ],
            ..StagePlan::default()
        };

        let warnings = unsupported_warnings(&[stage]);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].starts_with("failure strategy action `ManualIntervention`"),
            "{warnings:?}"
        );
        assert!(
            warnings[0].ends_with("(steps `s.a`, `s.g.b_0`, `s.g.b_1`)"),
            "{warnings:?}"
        );
        assert!(
            warnings[1].starts_with("failure strategy action `StageRollback`"),
            "{warnings:?}"
        );
        assert!(warnings[1].ends_with("(steps `s.a`)"), "{warnings:?}");
    }
}
