//! The run state that later expressions read (statuses and output
//! variables so far), and the trait through which the runner calls the
//! expression engine.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::plan::StepPlan;

/// The status of a step or stage as expressions and the summary name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Status {
    /// Ended with success.
    #[serde(rename = "SUCCEEDED")]
    Succeeded,
    /// Ended with a failure.
    #[serde(rename = "FAILED")]
    Failed,
    /// Not run: its `when` was false or an earlier failure ended the stage.
    #[serde(rename = "SKIPPED")]
    Skipped,
    /// Failed, but a failure strategy with action `Ignore` let the stage
    /// go on as if it had succeeded.
    #[serde(rename = "IGNORE_FAILED")]
    IgnoreFailed,
    /// Stopped because its own, its stage's or the pipeline's `timeout`
    /// passed.
    #[serde(rename = "EXPIRED")]
    Expired,
    /// Stopped by Ctrl-C or SIGTERM.
    #[serde(rename = "ABORTED")]
    Aborted,
    /// A Background service that is still running.
    #[serde(rename = "RUNNING")]
    Running,
}

impl Status {
    /// Returns the upper-case name Harness uses in expressions.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::Skipped => "SKIPPED",
            Status::IgnoreFailed => "IGNORE_FAILED",
            Status::Expired => "EXPIRED",
            Status::Aborted => "ABORTED",
            Status::Running => "RUNNING",
        }
    }

    /// Returns the lower-case word the summary table shows.
    pub fn word(self) -> &'static str {
        match self {
            Status::Succeeded => "success",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::IgnoreFailed => "failed (ignored)",
            Status::Expired => "timed out",
            Status::Aborted => "aborted",
            Status::Running => "running",
        }
    }

    /// Returns whether this status makes its stage fail.
    pub fn is_failure(self) -> bool {
        matches!(self, Status::Failed | Status::Expired | Status::Aborted)
    }

    /// Returns the status of a step group that ran, from the statuses of its
    /// steps. The precedence is that of Harness's `StatusUtils.calculateStatus`.
    /// A group is `IGNORE_FAILED` when every step succeeded, was skipped or
    /// had its failure ignored, and one had its failure ignored. It is
    /// `SUCCEEDED` when every step succeeded or was skipped. Otherwise it is
    /// the first of `ABORTED`, `FAILED` and `EXPIRED` that a step has. basso
    /// marks a group whose steps were all skipped `SKIPPED`. A Background
    /// service that still runs counts as succeeded, because it started and
    /// the group does not wait for it.
    pub fn of_group(steps: impl IntoIterator<Item = Status>) -> Status {
        let statuses: Vec<Status> = steps
            .into_iter()
            .map(|status| match status {
                Status::Running => Status::Succeeded,
                other => other,
            })
            .collect();
        if statuses.iter().all(|status| *status == Status::Skipped) {
            return Status::Skipped;
        }
        let positive = |status: &Status| {
            matches!(
                status,
                Status::Succeeded | Status::Skipped | Status::IgnoreFailed
            )
        };
        if statuses.iter().all(positive) {
            return if statuses.contains(&Status::IgnoreFailed) {
                Status::IgnoreFailed
            } else {
                Status::Succeeded
            };
        }
        [Status::Aborted, Status::Failed, Status::Expired]
            .into_iter()
            .find(|status| statuses.contains(status))
            .unwrap_or(Status::Failed)
    }
}

/// The outputs and status of one finished step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StepState {
    /// The step's status.
    pub status: Status,
    /// Captured `outputVariables`, by name. Values are not masked.
    pub output_variables: BTreeMap<String, String>,
    /// The declared `outputVariables` that the step did not set, because it
    /// did not run or its script left them unset. Expressions read them as
    /// null.
    pub unset_outputs: Vec<String>,
    /// How many times a `Retry` failure strategy ran the step again
    /// (`<+steps.ID.retryCount>`).
    pub retry_count: u32,
}

/// One stage's part of the run state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StageState {
    /// The stage identifier.
    pub id: String,
    /// The stage status once known; `None` while it runs.
    pub status: Option<Status>,
    /// Whether a step of the stage has failed so far.
    pub failing: bool,
    /// Finished steps by path (`group.step` inside step groups).
    pub steps: BTreeMap<String, StepState>,
    /// Statuses of finished step groups by path (`outer.inner` for a group
    /// inside another).
    pub groups: BTreeMap<String, Status>,
}

/// The state of the run that expressions can read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RunState {
    /// Stages started so far, in order; the last one is the current stage.
    pub stages: Vec<StageState>,
}

impl RunState {
    /// Returns the stage that runs now.
    pub fn current(&self) -> Option<&StageState> {
        self.stages.last()
    }

    /// Returns whether any stage so far failed.
    pub fn pipeline_failing(&self) -> bool {
        self.stages
            .iter()
            .any(|stage| stage.failing || stage.status.is_some_and(Status::is_failure))
    }
}

/// The expression engine interface of the runner. The CLI implements it
/// with `basso-core`, and tests implement it by hand.
pub trait Expressions: Send + Sync {
    /// Returns `step` with its fields resolved again against `state`, so that
    /// `<+steps.ID.output.outputVariables.NAME>` and statuses of earlier
    /// steps take their values. Secret references stay as they are.
    fn prepare(&self, step: &StepPlan, state: &RunState) -> Result<StepPlan, String>;

    /// Evaluates a `when.condition` of stage `stage_id` against `state`.
    /// `step` is the step whose condition it is, or `None` for a stage
    /// condition. For a step group's condition it is a plan with the group's
    /// identifier, whose group path lists the groups around the group.
    /// `span` is where the condition is written in the pipeline file.
    fn condition(
        &self,
        condition: &str,
        span: Option<basso_core::Span>,
        stage_id: &str,
        step: Option<&StepPlan>,
        state: &RunState,
    ) -> Result<bool, String>;
}

/// An engine that changes nothing and accepts only the conditions `true`
/// and `false`; for plans without expressions.
pub struct LiteralExpressions;

impl Expressions for LiteralExpressions {
    fn prepare(&self, step: &StepPlan, _state: &RunState) -> Result<StepPlan, String> {
        Ok(step.clone())
    }

    fn condition(
        &self,
        condition: &str,
        _span: Option<basso_core::Span>,
        _stage_id: &str,
        _step: Option<&StepPlan>,
        _state: &RunState,
    ) -> Result<bool, String> {
        match condition.trim() {
            "true" | "<+true>" => Ok(true),
            "false" | "<+false>" => Ok(false),
            other => Err(format!(
                "cannot evaluate condition `{other}` without an expression engine"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Status::{self, *};

    #[test]
    fn group_status_by_precedence() {
        let cases: [(&[Status], Status); 9] = [
            (&[Succeeded, Succeeded], Succeeded),
            (&[Succeeded, Skipped], Succeeded),
            (&[Skipped, Skipped], Skipped),
            (&[], Skipped),
            (&[Succeeded, IgnoreFailed, Skipped], IgnoreFailed),
            (&[Running, Succeeded], Succeeded),
            (&[Failed, Expired, IgnoreFailed], Failed),
            (&[Expired, Succeeded], Expired),
            (&[Failed, Aborted], Aborted),
        ];
        for (steps, expected) in cases {
            assert_eq!(
                Status::of_group(steps.iter().copied()),
                expected,
                "{steps:?}"
            );
        }
    }
}
