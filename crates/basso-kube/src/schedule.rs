//! Mapping of `when`, `parallel` and `timeout` to a pod, which runs its init
//! containers one at a time, in order, and stops at the first failure.

use std::collections::HashSet;
use std::time::Duration;

use basso_core::{Diagnostic, Severity, Span};

use crate::model::{Stage, Step, StepKind, When};

/// Harness' step timeout on Kubernetes infrastructure when a step sets none.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(10 * 60 * 60);

/// Returns whether `stage` is exported, reporting what the Job loses of
/// its `when`.
///
/// A resolved `condition` of `false` is an error and no Job is produced:
/// Harness skips the stage, and a Job applied anyway would run it. Other
/// `when` blocks are kept as warnings, because the Job runs the stage
/// whenever it is applied, whatever happened to the stages before it.
pub(crate) fn check_stage_when(stage: &Stage, diagnostics: &mut Vec<Diagnostic>) -> bool {
    let Some(when) = &stage.when else { return true };
    let condition = when.condition.as_deref().map(str::trim);

    if condition == Some("false") {
        let error = Diagnostic::error(
            "stage-skipped",
            format!(
                "stage `{}` is not exported: its `when` condition is `false`, so Harness skips it",
                stage.id
            ),
            when.span,
        )
        .with_help("give the inputs that make the condition true with `--input` or `--inputs`, or export another stage");
        diagnostics.push(error);
        return false;
    }

    if when.pipeline_status == "Failure" {
        let warning = Diagnostic::warning(
            "when-not-kept",
            format!(
                "stage `{}` runs only after an earlier stage failed, but the Job runs whenever it is applied",
                stage.id
            ),
            when.span,
        )
        .with_help("apply the Job only after a failed stage, from the caller that runs the stages");
        diagnostics.push(warning);
    }
    if let Some(condition) = condition.filter(|c| *c != "true" && !c.is_empty()) {
        let warning = Diagnostic::warning(
            "when-not-kept",
            format!(
                "condition `{condition}` of stage `{}` cannot be decided before the pipeline runs; the Job runs whenever it is applied",
                stage.id
            ),
            when.span,
        )
        .with_help("give the inputs the condition reads with `--input` or `--inputs`, or apply the Job only when the condition holds");
        diagnostics.push(warning);
    }
    true
}

/// Returns whether `step` belongs in the pod, reporting what its `when`
/// and its step groups' `when` lose. A group's diagnostics are reported
/// once, for its first step, and `reported_groups` contains the groups
/// already reported.
///
/// A resolved `condition` of `false` drops the step, as Harness would skip
/// it. `stageStatus: Failure` drops it too: a pod stops at the first failed
/// step, so nothing runs after a failure. `All` and undecided conditions
/// keep the step, which then runs only when every earlier step succeeded.
/// A group's `when` applies in the same way to every step of the group.
pub(crate) fn check_when(
    step: &Step,
    reported_groups: &mut HashSet<String>,
    diagnostics: &mut Vec<Diagnostic>,
) -> bool {
    for group in &step.group_when {
        let subject = Subject::Group(&group.step_group);
        let (keep, found) = when_effects(&subject, &group.when, group.span);
        if reported_groups.insert(group.step_group.clone()) {
            diagnostics.extend(found);
        }
        if !keep {
            return false;
        }
    }
    let Some(when) = &step.when else { return true };
    let path = step.path();
    let (keep, found) = when_effects(&Subject::Step(&path), when, step.span_of("when"));
    diagnostics.extend(found);
    keep
}

/// The node a `when` belongs to, named in diagnostics.
enum Subject<'a> {
    /// A step, by its path.
    Step(&'a str),
    /// A step group, by its identifier.
    Group(&'a str),
}

impl Subject<'_> {
    fn name(&self) -> String {
        match self {
            Subject::Step(path) => format!("step `{path}`"),
            Subject::Group(id) => format!("step group `{id}`"),
        }
    }

    fn always_runs(&self) -> &'static str {
        match self {
            Subject::Step(_) => "the step always runs",
            Subject::Group(_) => "its steps always run",
        }
    }
}

/// Returns whether the steps under a `when` belong in the pod, and the
/// diagnostics that describe what the pod loses of it.
fn when_effects(subject: &Subject<'_>, when: &When, span: Span) -> (bool, Vec<Diagnostic>) {
    let name = subject.name();
    let condition = when.condition.as_deref().map(str::trim);

    if condition == Some("false") {
        let info = Diagnostic::new(
            Severity::Info,
            "step-skipped",
            format!("{name} is left out: its `when` condition is `false`"),
            span,
        );
        return (false, vec![info]);
    }

    let mut diagnostics = Vec::new();
    match when.stage_status.as_str() {
        "Failure" => {
            let warning = Diagnostic::warning(
                "when-not-kept",
                format!("{name} runs only after a failure, which a pod cannot express, so it is left out"),
                span,
            )
            .with_help("a pod stops at the first failed step; run failure handling outside the Job, for example from the caller that watches it");
            return (false, vec![warning]);
        }
        "All" => {
            let warning = Diagnostic::warning(
                "when-not-kept",
                format!("{name} runs only when every earlier step succeeded, not always"),
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
            format!(
                "condition `{condition}` of {name} cannot be decided before the stage runs; {}",
                subject.always_runs()
            ),
            span,
        )
        .with_help("give the inputs the condition reads with `--input` or `--inputs`, or test the condition in the step's script");
        diagnostics.push(warning);
    }
    (true, diagnostics)
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
/// step without one counting Harness' default of 10 hours, and at most the
/// stage `timeout` in seconds. Returns `None` when no Run step is exported.
pub(crate) fn deadline(steps: &[&Step], stage_timeout_seconds: Option<u64>) -> Option<Duration> {
    let sum = steps
        .iter()
        .filter(|s| s.kind == StepKind::Run)
        .map(|s| {
            s.timeout_seconds
                .map_or(DEFAULT_STEP_TIMEOUT, Duration::from_secs)
        })
        .reduce(Duration::saturating_add)?;
    let stage_timeout = stage_timeout_seconds.map(Duration::from_secs);
    Some(stage_timeout.map_or(sum, |limit| sum.min(limit)))
}
