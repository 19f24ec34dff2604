//! Mapping of `when`, `parallel` and `timeout` to a pod, which runs its init
//! containers one at a time, in order, and stops at the first failure.

use std::time::Duration;

use basso_core::{Diagnostic, Severity};

use crate::model::{Step, StepKind};

/// Harness' step timeout on Kubernetes infrastructure when a step sets none.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(10 * 60 * 60);

/// Returns whether `step` belongs in the pod, reporting what its `when`
/// loses.
///
/// A resolved `condition` of `false` drops the step, as Harness would skip
/// it. `stageStatus: Failure` drops it too: a pod stops at the first failed
/// step, so nothing runs after a failure. `All` and undecided conditions
/// keep the step, which then runs only when every earlier step succeeded.
pub(crate) fn check_when(step: &Step, diagnostics: &mut Vec<Diagnostic>) -> bool {
    let Some(when) = &step.when else { return true };
    let span = step.span_of("when");
    let condition = when.condition.as_deref().map(str::trim);

    if condition == Some("false") {
        let info = Diagnostic::new(
            Severity::Info,
            "step-skipped",
            format!(
                "step `{}` is left out: its `when` condition is `false`",
                step.path()
            ),
            span,
        );
        diagnostics.push(info);
        return false;
    }

    match when.stage_status.as_str() {
        "Failure" => {
            let warning = Diagnostic::warning(
                "when-not-kept",
                format!("step `{}` runs only after a failure, which a pod cannot express, so it is left out", step.path()),
                span,
            )
            .with_help("a pod stops at the first failed step; run failure handling outside the Job, for example from the caller that watches it");
            diagnostics.push(warning);
            return false;
        }
        "All" => {
            let warning = Diagnostic::warning(
                "when-not-kept",
                format!(
                    "step `{}` runs only when every earlier step succeeded, not always",
                    step.path()
                ),
                span,
            )
            .with_help(
                "a pod stops at the first failed step, so `stageStatus: All` acts as `Success`",
            );
            diagnostics.push(warning);
        }
        _ => {}
    }

    if let Some(condition) = condition.filter(|c| *c != "true" && !c.is_empty()) {
        let warning = Diagnostic::warning(
            "when-not-kept",
            format!("condition `{condition}` of step `{}` cannot be decided before the stage runs; the step always runs", step.path()),
            span,
        )
        .with_help("give the inputs the condition reads with `--input` or `--inputs`, or test the condition in the step's script");
        diagnostics.push(warning);
    }
    true
}

/// Warns once per `parallel` block whose Run steps the pod runs one after
/// another. Background steps of a block still run side by side.
pub(crate) fn warn_parallel_runs(steps: &[&Step], diagnostics: &mut Vec<Diagnostic>) {
    let mut index = 0;
    while index < steps.len() {
        let Some(group) = steps[index].parallel_group else {
            index += 1;
            continue;
        };
        let block: Vec<&Step> = steps[index..]
            .iter()
            .take_while(|s| s.parallel_group == Some(group))
            .copied()
            .collect();
        index += block.len();

        let runs: Vec<String> = block
            .iter()
            .filter(|s| s.kind == StepKind::Run)
            .map(|s| format!("`{}`", s.path()))
            .collect();
        if runs.len() > 1 {
            let warning = Diagnostic::warning(
                "parallel-runs-in-sequence",
                format!("parallel steps {} run one after another in the pod", runs.join(", ")),
                block[0].span,
            )
            .with_help("a pod runs init containers one at a time; split the block into separate Jobs to run it side by side");
            diagnostics.push(warning);
        }
    }
}

/// Warns for each step whose `timeout` the pod cannot enforce on its own: a
/// container has no deadline, only the whole Job has one.
pub(crate) fn warn_timeouts(steps: &[&Step], diagnostics: &mut Vec<Diagnostic>) {
    let run_steps = steps.iter().filter(|s| s.kind == StepKind::Run).count();
    for step in steps {
        let Some(seconds) = step.timeout_seconds else {
            continue;
        };
        if step.kind == StepKind::Run && run_steps == 1 {
            continue;
        }
        let message = match step.kind {
            StepKind::Background => format!(
                "timeout of {seconds} s of Background step `{}` is not kept; the service runs until the stage ends",
                step.path()
            ),
            _ => format!(
                "timeout of {seconds} s of step `{}` is not enforced for its container alone; it counts toward the Job's `activeDeadlineSeconds`",
                step.path()
            ),
        };
        let warning = Diagnostic::warning("timeout-per-job", message, step.span_of("timeout"))
            .with_help("wrap the command in `timeout` to bound one step");
        diagnostics.push(warning);
    }
}

/// Computes the Job deadline as the sum of the Run steps' timeouts, each
/// step without one counting Harness' default of 10 hours. Returns `None`
/// when no Run step is exported.
pub(crate) fn deadline(steps: &[&Step]) -> Option<Duration> {
    steps
        .iter()
        .filter(|s| s.kind == StepKind::Run)
        .map(|s| {
            s.timeout_seconds
                .map_or(DEFAULT_STEP_TIMEOUT, Duration::from_secs)
        })
        .reduce(Duration::saturating_add)
}
