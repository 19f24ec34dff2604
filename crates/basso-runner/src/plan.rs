//! The stage plan the runner executes: resolved stages and steps with every
//! field already typed. The CLI converts `basso-core`'s resolved pipeline
//! into these types; tests build them by hand.

use std::time::Duration;

/// One stage to run.
#[derive(Clone, Debug, Default)]
pub struct StagePlan {
    /// The stage `identifier`.
    pub id: String,
    /// The stage `name`.
    pub name: String,
    /// The stage `when` block; `None` runs the stage while the pipeline succeeds.
    pub when: Option<When>,
    /// `platform.os` (`Linux`, `MacOS`, `Windows`) when the stage names one.
    pub os: Option<String>,
    /// `platform.arch` (`Amd64`, `Arm64`) when the stage names one.
    pub arch: Option<String>,
    /// `spec.cloneCodebase`.
    pub clone_codebase: bool,
    /// The stage `timeout`: the stage's steps and services are stopped when
    /// it passes, counted from the stage's start.
    pub timeout: Option<Duration>,
    /// `spec.sharedPaths`: paths that every container step of the stage
    /// shares.
    pub shared_paths: Vec<String>,
    /// The execution, in order.
    pub nodes: Vec<Node>,
}

/// One entry of an execution: a step, a `parallel` block or a step group.
#[derive(Clone, Debug)]
pub enum Node {
    /// A single step.
    Step(Box<StepPlan>),
    /// Nodes that run at the same time. Looping strategies expand into this
    /// with `max_concurrency` set from the strategy.
    Parallel {
        /// The concurrent nodes.
        nodes: Vec<Node>,
        /// At most this many nodes run at once; `None` runs all of them.
        max_concurrency: Option<usize>,
    },
    /// A `stepGroup`: its nodes run in order.
    Group(GroupPlan),
}

/// A `stepGroup`.
#[derive(Clone, Debug, Default)]
pub struct GroupPlan {
    /// The group `identifier`.
    pub id: String,
    /// The group `name`.
    pub name: String,
    /// The group `when` block.
    pub when: Option<When>,
    /// The failure strategies that apply when the `when` cannot be
    /// evaluated: the group's own, then its enclosing groups' and the
    /// stage's.
    pub failure_strategies: Vec<FailureStrategy>,
    /// The group's place in its looping strategy; `None` when it does not
    /// loop.
    pub iteration: Option<Iteration>,
    /// The group's execution, in order.
    pub nodes: Vec<Node>,
}

/// A `when` block of a stage, group or step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct When {
    /// `stageStatus` on steps and groups, `pipelineStatus` on stages.
    pub status: StatusRule,
    /// The JEXL `condition`, evaluated by [`crate::Expressions::condition`].
    pub condition: Option<String>,
    /// The span of the condition in the pipeline file, when known.
    pub condition_span: Option<basso_core::Span>,
}

/// The status part of a `when` block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusRule {
    /// Run only while everything before succeeded.
    Success,
    /// Run only after a failure.
    Failure,
    /// Run in either case.
    All,
}

/// One step, after resolution and looping expansion.
#[derive(Clone, Debug, Default)]
pub struct StepPlan {
    /// The step `identifier`; looped steps carry their suffix (`test_0`).
    pub id: String,
    /// The step `name`.
    pub name: String,
    /// The step `type` as written (`Run`, `Background`, `Plugin`, ...).
    pub step_type: String,
    /// Identifiers of the step groups around the step, outermost first.
    pub group_path: Vec<String>,
    /// The step `when` block.
    pub when: Option<When>,
    /// The step `timeout`.
    pub timeout: Option<Duration>,
    /// The step `spec`.
    pub spec: StepSpec,
    /// The step's place in its looping strategy, for looped steps.
    pub iteration: Option<Iteration>,
    /// The `failureStrategies` that apply to the step: its own first, then
    /// those of its step groups (innermost first), then the stage's. The
    /// first entry whose `errors` match a failure decides what happens.
    pub failure_strategies: Vec<FailureStrategy>,
}

/// One `failureStrategies` entry (`onFailure: {errors, action}`).
#[derive(Clone, Debug, PartialEq)]
pub struct FailureStrategy {
    /// `onFailure.errors` as written (`AllErrors`, `Unknown`, `Timeout`, ...).
    pub errors: Vec<String>,
    /// `onFailure.action`.
    pub action: FailureAction,
}

impl FailureStrategy {
    /// Returns whether the strategy applies to a failure of kind `error`
    /// (`Unknown` for a non-zero exit, `Timeout` for a step past its own
    /// `timeout`). A step stopped by its stage's or the pipeline's `timeout`
    /// gets no failure strategy, because that timeout ends the whole stage.
    pub fn matches(&self, error: &str) -> bool {
        self.errors
            .iter()
            .any(|listed| listed == "AllErrors" || listed == error)
    }
}

/// A failure strategy `action`.
#[derive(Clone, Debug, PartialEq)]
pub enum FailureAction {
    /// `Ignore`: the step reads as `IGNORE_FAILED` and the stage goes on.
    Ignore,
    /// `MarkAsSuccess`: the step reads as `SUCCEEDED`.
    MarkAsSuccess,
    /// `MarkAsFailure`: the step fails, as without a strategy.
    MarkAsFailure,
    /// `Abort`: the step reads as `ABORTED` and the rest of the run is
    /// skipped.
    Abort,
    /// `Retry`: runs the step again up to `count` times, waiting
    /// `intervals[i]` before retry `i` (the last interval repeats), then
    /// applies `on_retry_failure`.
    Retry {
        /// `spec.retryCount`.
        count: u32,
        /// `spec.retryIntervals`.
        intervals: Vec<Duration>,
        /// `spec.onRetryFailure.action`.
        on_retry_failure: Box<FailureAction>,
    },
    /// An action basso cannot perform (`ManualIntervention`,
    /// `StageRollback`, ...), named as written; the step fails.
    Unsupported(String),
}

/// A looped step's or step group's place in its `matrix`, `repeat` or
/// `parallelism`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Iteration {
    /// 0-based index of this iteration.
    pub index: usize,
    /// Number of iterations of the loop.
    pub count: usize,
    /// `maxConcurrency` of the strategy, if given.
    pub max_concurrency: Option<usize>,
}

impl StepPlan {
    /// Returns whether the step is a Background step.
    pub fn is_background(&self) -> bool {
        self.step_type == "Background"
    }

    /// Returns the dotted path of the step inside its stage, groups included,
    /// as expressions name it (`group.steps.step` becomes `group.step` here).
    pub fn path(&self) -> String {
        let mut parts = self.group_path.clone();
        parts.push(self.id.clone());
        parts.join(".")
    }
}

/// The `spec` of a Run or Background step.
#[derive(Clone, Debug, Default)]
pub struct StepSpec {
    /// `image`; a blank image runs the step on the host.
    pub image: Option<String>,
    /// `shell` as written (`Sh`, `Bash`, `Python`, `Pwsh`, `Powershell`).
    pub shell: Option<String>,
    /// `command`, the script.
    pub command: Option<String>,
    /// `entrypoint`, an argument vector that overrides `command`.
    pub entrypoint: Vec<String>,
    /// `envVariables`, in file order.
    pub env: Vec<(String, String)>,
    /// `privileged`.
    pub privileged: bool,
    /// `reports.spec.paths`, JUnit globs relative to the workspace.
    pub report_paths: Vec<String>,
    /// `imagePullPolicy`.
    pub image_pull_policy: Option<String>,
    /// `portBindings`, host port first.
    pub port_bindings: Vec<PortBinding>,
    /// `runAsUser`, a user id or name.
    pub run_as_user: Option<String>,
    /// Whether `resources` sets limits or requests.
    pub has_resources: bool,
    /// `resources.limits.memory` in bytes, with the infrastructure's default.
    pub memory_bytes: Option<u64>,
    /// `resources.limits.cpu` in millicores, with the infrastructure's default.
    pub cpu_millis: Option<u64>,
    /// `connectorRef`, the registry connector used to pull `image`.
    pub connector_ref: Option<String>,
    /// The host name a Background step is reached by on the stage network:
    /// the step id, or `GROUP_STEP` inside a step group.
    pub host_name: Option<String>,
    /// `outputVariables` names.
    pub output_variables: Vec<String>,
    /// The `outputVariables` names declared `type: Secret`. Their values are
    /// masked like secrets once the step has finished.
    pub secret_output_variables: Vec<String>,
    /// Ids of the secrets that the pipeline file's expressions use in this
    /// step. The runner substitutes only these. Secret reference text with
    /// any other id came from run-time data and fails the step.
    pub secrets: Vec<String>,
}

/// One `portBindings` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortBinding {
    /// The host port as written (the map key).
    pub host: String,
    /// The container port as written (the map value).
    pub container: String,
}
