//! Failure strategies, which a pod cannot apply. With `restartPolicy: Never`
//! and `backoffLimit: 0`, the first container that exits non-zero fails the
//! Job.

use std::collections::BTreeMap;

use basso_core::pipeline::{ErrorType, FailureAction};
use basso_core::{Diagnostic, Span};

use crate::model::Step;

/// Reports every failure strategy that can apply to an exported step, once
/// per written entry. The diagnostic is an error when Harness would go on
/// after the failure (`Ignore`, `MarkAsSuccess`, or a `Retry` that ends in
/// one of them), and a warning when a failure ends the stage in both.
pub fn check_failure_strategies(steps: &[&Step], diagnostics: &mut Vec<Diagnostic>) {
    let mut entries: BTreeMap<(usize, usize), Entry> = BTreeMap::new();
    for step in steps {
        for applied in &step.failure_strategies {
            let key = (applied.span.byte_start, applied.span.byte_end);
            let entry = entries.entry(key).or_insert_with(|| Entry {
                action: applied.strategy.action.clone(),
                span: applied.span,
                steps: Vec::new(),
            });
            entry.steps.push(step.path());
            // Harness applies the first entry that matches, and `AllErrors`
            // matches every failure, so later entries never apply.
            if applied.strategy.errors.contains(&ErrorType::AllErrors) {
                break;
            }
        }
    }
    let mut entries: Vec<Entry> = entries.into_values().collect();
    entries.sort_by_key(|entry| (entry.span.byte_start, entry.span.byte_end));
    diagnostics.extend(entries.iter().map(Entry::diagnostic));
}

/// One written strategy and the steps it applies to.
struct Entry {
    action: FailureAction,
    span: Span,
    steps: Vec<String>,
}

impl Entry {
    fn diagnostic(&self) -> Diagnostic {
        let steps = self
            .steps
            .iter()
            .map(|path| format!("`{path}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let noun = if self.steps.len() == 1 {
            "step"
        } else {
            "steps"
        };
        let action = action_text(&self.action);
        if goes_on(&self.action) {
            let message = format!(
                "failure strategy `{action}` of {noun} {steps} cannot be kept: a failure fails the Job, where Harness goes on with the next step"
            );
            return Diagnostic::error("failure-strategy-not-kept", message, self.span)
                .with_help("to go on after a failure, end the step's command with `|| true` and remove the strategy");
        }
        let message = format!(
            "failure strategy `{action}` of {noun} {steps} is not applied in the pod: the first failure fails the Job"
        );
        let help = match &self.action {
            FailureAction::Retry(_) | FailureAction::RetryStepGroup => {
                "the pod does not retry: repeat the command inside the step's script if it is flaky"
            }
            FailureAction::ManualIntervention => {
                "nobody is asked in a pod: the failure fails the Job at once"
            }
            _ => "a failure ends the stage in Harness too, so only the strategy itself is lost",
        };
        Diagnostic::warning("failure-strategy-not-kept", message, self.span).with_help(help)
    }
}

/// Returns whether Harness goes on with the stage after a failure that
/// `action` handles.
fn goes_on(action: &FailureAction) -> bool {
    match action {
        FailureAction::Ignore | FailureAction::MarkAsSuccess => true,
        FailureAction::Retry(retry) => goes_on(&retry.on_retry_failure),
        _ => false,
    }
}

/// Returns the action's type, with the `onRetryFailure` action of a retry.
fn action_text(action: &FailureAction) -> String {
    match action {
        FailureAction::Retry(retry) => {
            format!("Retry, then {}", retry.on_retry_failure.type_name())
        }
        other => other.type_name().to_string(),
    }
}
