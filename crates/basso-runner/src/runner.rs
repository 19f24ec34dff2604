//! Runs stages: steps in order, `parallel` blocks on threads, step groups,
//! `when` conditions, step, stage and pipeline timeouts, and Background
//! services for the rest of their stage.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use basso_core::pipeline::shared_path::{self, SharedPath};

use crate::codebase::Codebase;
use crate::console::Console;
use crate::deadline::{Deadline, Scope};
use crate::executor::{
    Executor, Exit, LogSink, Program, StartDeadline, StopDeadline, Task, TaskSpec,
};
use crate::failure::before_start_action;
use crate::plan::{FailureAction, GroupPlan, Node, StagePlan, StatusRule, StepPlan, When};
use crate::preflight::{PreflightProblem, draft_task, steps_of};
use crate::reports::{self, TestCounts};
use crate::secrets::{Masker, Secrets};
use crate::services::{EarlyStop, Services};
use crate::state::{Expressions, RunState, StageState, Status, StepState};
use crate::summary::{RunSummary, StageResult, StepResult, epoch_millis};

/// How many output lines of a step are kept for error reports.
pub const TAIL_LINES: usize = 20;

/// The maximum number of output lines held back while a step starts. The
/// line after them opens the gate: the held lines are printed first, in
/// their order, and later lines at once.
const START_GATE_LINES: usize = 1000;

/// Holds a step's output lines until the runner has logged that the step
/// started, so that the log shows the start before the first line.
#[derive(Clone)]
struct StartGate {
    state: Arc<Mutex<GateState>>,
    emit: Arc<dyn Fn(&str) + Send + Sync>,
}

struct GateState {
    open: bool,
    held: Vec<String>,
}

impl StartGate {
    fn new(emit: Arc<dyn Fn(&str) + Send + Sync>) -> StartGate {
        let state = GateState {
            open: false,
            held: Vec::new(),
        };
        StartGate {
            state: Arc::new(Mutex::new(state)),
            emit,
        }
    }

    fn line(&self, line: &str) {
        let mut state = self.state.lock().expect("start gate lock");
        if !state.open && state.held.len() >= START_GATE_LINES {
            self.release(&mut state);
        }
        if state.open {
            (self.emit)(line);
        } else {
            state.held.push(line.to_string());
        }
    }

    /// Prints the held lines, then lets later lines through.
    fn open(&self) {
        let mut state = self.state.lock().expect("start gate lock");
        self.release(&mut state);
    }

    fn release(&self, state: &mut GateState) {
        state.open = true;
        for line in std::mem::take(&mut state.held) {
            (self.emit)(&line);
        }
    }
}

/// How often waiting loops look at timeouts, services and Ctrl-C.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Settings of one run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The workspace folder: steps run in it unless the stage clones the
    /// codebase.
    pub workspace: PathBuf,
    /// The build number (`HARNESS_BUILD_ID`, `DRONE_BUILD_NUMBER`).
    pub build_number: u64,
    /// The pipeline identifier.
    pub pipeline_id: String,
    /// Whether to wait for Background services' ports before later steps.
    pub wait_for_ports: bool,
    /// How long to wait for a service's ports when its step has no `timeout`.
    pub readiness_timeout: Duration,
    /// The time between SIGTERM and SIGKILL when stopping a task.
    pub stop_grace: Duration,
    /// The checkout used by stages with `cloneCodebase: true`.
    pub codebase: Option<Codebase>,
    /// The pipeline `timeout`, counted from the start of [`Runner::run`].
    pub pipeline_timeout: Option<Duration>,
    /// The folder in which each stage's `sharedPaths` get their host
    /// folders; `None` shares no path.
    pub shared_paths_base: Option<PathBuf>,
    /// Problems that [`crate::preflight::check`] let the run start with:
    /// the step they name fails with them, before it starts, if it comes
    /// to run.
    pub deferred: Vec<PreflightProblem>,
}

impl RunOptions {
    /// Creates options with the defaults: build 1, waiting on, 60 s
    /// readiness timeout, 5 s grace.
    pub fn new(workspace: PathBuf) -> RunOptions {
        RunOptions {
            workspace,
            build_number: 1,
            pipeline_id: String::new(),
            wait_for_ports: true,
            readiness_timeout: Duration::from_secs(60),
            stop_grace: Duration::from_secs(5),
            codebase: None,
            pipeline_timeout: None,
            shared_paths_base: None,
            deferred: Vec::new(),
        }
    }
}

/// Runs stages with one executor.
pub struct Runner<'a> {
    executor: &'a dyn Executor,
    expressions: &'a dyn Expressions,
    console: Arc<Console>,
    secrets: Secrets,
    options: RunOptions,
    cancel: Arc<AtomicBool>,
    /// Once set, the processes being stopped get SIGKILL without waiting
    /// for the rest of their grace period.
    kill_now: Arc<AtomicBool>,
    /// Set once the pipeline `timeout` has stopped a step or skipped a stage.
    pipeline_expired: AtomicBool,
    /// Values of the `type: Secret` output variables of finished steps.
    secret_outputs: Mutex<Vec<String>>,
    /// The shared paths already warned about, so that the iterations of a
    /// looped stage warn once.
    warned_shared_paths: Mutex<Vec<String>>,
}

impl<'a> Runner<'a> {
    /// Creates a runner. Setting `cancel` stops the run: running steps are
    /// stopped, later steps and stages are skipped, services are stopped,
    /// and the console drops text it cannot write at once.
    pub fn new(
        executor: &'a dyn Executor,
        expressions: &'a dyn Expressions,
        console: Arc<Console>,
        secrets: Secrets,
        options: RunOptions,
        cancel: Arc<AtomicBool>,
    ) -> Runner<'a> {
        console.set_masker(secrets.masker());
        console.set_cancel(cancel.clone());
        Runner {
            executor,
            expressions,
            console,
            secrets,
            options,
            cancel,
            kill_now: Arc::new(AtomicBool::new(false)),
            pipeline_expired: AtomicBool::new(false),
            secret_outputs: Mutex::new(Vec::new()),
            warned_shared_paths: Mutex::new(Vec::new()),
        }
    }

    /// Sets the flag that ends the grace period of the processes being
    /// stopped: once it is set, they get SIGKILL at once. `basso run` sets
    /// it on a second Ctrl-C or SIGTERM.
    pub fn with_kill_now(mut self, kill_now: Arc<AtomicBool>) -> Runner<'a> {
        self.kill_now = kill_now;
        self
    }

    /// Returns a SIGKILL deadline one `stop_grace` from now, which the
    /// kill-now flag ends early.
    fn stop_deadline(&self) -> StopDeadline {
        StopDeadline::or_when(self.options.stop_grace, self.kill_now.clone())
    }

    /// Returns the masker for the secrets and for the values of the
    /// `type: Secret` output variables of the steps finished so far. Mask
    /// the summary with it.
    pub fn masker(&self) -> Masker {
        let outputs = self.secret_outputs.lock().expect("secret outputs lock");
        self.secrets.masker_with(outputs.iter().map(String::as_str))
    }

    /// Adds the values of `step`'s `type: Secret` output variables to the
    /// console's masker.
    fn mask_secret_outputs(&self, step: &StepPlan, outputs: &BTreeMap<String, String>) {
        let names = &step.spec.secret_output_variables;
        if names.is_empty() {
            return;
        }
        // The lock is held until the console has the new masker, so that
        // parallel steps cannot replace it with one that lacks a value.
        let mut values = self.secret_outputs.lock().expect("secret outputs lock");
        values.extend(names.iter().filter_map(|name| outputs.get(name).cloned()));
        let masker = self.secrets.masker_with(values.iter().map(String::as_str));
        self.console.set_masker(masker);
    }

    /// Removes from `outputs` the values that contain a secret value holding
    /// `<+`, and returns the error that fails `step` for them. Later steps
    /// evaluate the blocks of an output value again, as Harness does, which
    /// would turn such a secret into other text that the masker does not
    /// know, and print the rest of the secret.
    fn drop_block_secret_outputs(
        &self,
        step: &StepPlan,
        outputs: &mut BTreeMap<String, String>,
    ) -> Option<String> {
        let own_secret_values: Vec<&str> = step
            .spec
            .secret_output_variables
            .iter()
            .filter_map(|name| outputs.get(name).map(String::as_str))
            .collect();

        let earlier = self.secret_outputs.lock().expect("secret outputs lock");
        // Every text the masker masks counts: a secret trimmed by `$(…)`
        // or one line of a multi-line secret is masked as well.
        let values = self
            .secrets
            .values()
            .chain(earlier.iter().map(String::as_str))
            .chain(own_secret_values);
        let risky: Vec<&str> = crate::secrets::masked_pieces(values)
            .into_iter()
            .filter(|piece| piece.contains("<+"))
            .collect();
        if risky.is_empty() {
            return None;
        }

        let names: Vec<String> = outputs
            .iter()
            .filter(|(_, value)| risky.iter().any(|secret| value.contains(secret)))
            .map(|(name, _)| name.clone())
            .collect();
        drop(earlier);

        let first = names.first()?.clone();
        for name in &names {
            outputs.remove(name);
        }
        Some(format!(
            "output variable `{first}` contains a secret value with `<+`, which later steps would evaluate as an expression and so print parts of the secret; help: read the secret with `<+secrets.getValue(...)>` in the step that needs it instead of passing it on as an output"
        ))
    }

    /// Runs `stages` in order and returns the summary. When the pipeline
    /// `timeout` passes, the running steps are stopped, their stage expires
    /// and the later stages are skipped.
    pub fn run(&self, stages: &[StagePlan]) -> RunSummary {
        let pipeline_deadline = self
            .options
            .pipeline_timeout
            .and_then(|timeout| Deadline::starting_now(Scope::Pipeline, timeout));
        let state = Arc::new(Mutex::new(RunState::default()));
        let mut results = Vec::new();
        for stage in stages {
            results.push(self.run_stage(stage, &state, pipeline_deadline));
        }

        let status = if self.cancelled() {
            Status::Aborted
        } else if self.pipeline_expired.load(Ordering::SeqCst) {
            Status::Expired
        } else if results.iter().any(|stage| stage.status.is_failure()) {
            Status::Failed
        } else {
            Status::Succeeded
        };
        self.console.clear_progress();
        self.console.flush();
        RunSummary {
            schema_version: 1,
            status,
            stages: results,
        }
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    /// Creates a host folder for each of the `sharedPaths` of `stage`, the
    /// `position`-th stage of the run (1-based), and returns each folder
    /// with the path it appears at. A path that is not absolute, the
    /// workspace and a repeated path get no folder of their own.
    fn shared_paths(&self, stage: &StagePlan, position: usize) -> Vec<(PathBuf, String)> {
        let Some(base) = &self.options.shared_paths_base else {
            return Vec::new();
        };
        let mut shared: Vec<(PathBuf, String)> = Vec::new();
        for written in &stage.shared_paths {
            let path = match mounted_path(written) {
                Ok(Some(path)) => path,
                Ok(None) => continue,
                Err(problem) => {
                    let mut warned = self.warned_shared_paths.lock().expect("warned paths lock");
                    if !warned.contains(written) {
                        warned.push(written.clone());
                        tracing::warn!(stage_id = %stage.id, "{problem}");
                    }
                    continue;
                }
            };
            if path == reports::HARNESS_WORKSPACE || shared.iter().any(|(_, known)| *known == path)
            {
                continue;
            }
            // The workspace is one folder that every step of the run
            // mounts, so a path inside it is shared already. It gets its
            // folder there, because the workspace mount would hide a mount
            // below it.
            if let Some(inside) = path.strip_prefix(&format!("{}/", reports::HARNESS_WORKSPACE)) {
                let folder = self.options.workspace.join(inside);
                // The folder can be written by the users that can write
                // to the workspace, which a step of another user may need.
                let created = std::fs::create_dir_all(&folder).and_then(|()| {
                    let permissions = std::fs::metadata(&self.options.workspace)?.permissions();
                    std::fs::set_permissions(&folder, permissions)
                });
                if let Err(error) = created {
                    tracing::error!(stage_id = %stage.id, "cannot create the folder `{}` for shared path `{path}`: {error}", folder.display());
                }
                continue;
            }
            let folder = base.join(format!("stage-{position}-{}", shared.len()));
            // Mode 0777: a step may run as any user, as in a Kubernetes
            // `emptyDir`. The umask would narrow a mode given to `mkdir`.
            let created = std::fs::create_dir_all(&folder).and_then(|()| {
                std::fs::set_permissions(
                    &folder,
                    std::os::unix::fs::PermissionsExt::from_mode(0o777),
                )
            });
            if let Err(error) = created {
                tracing::error!(stage_id = %stage.id, "cannot create the folder `{}` for shared path `{path}`: {error}", folder.display());
                continue;
            }
            shared.push((folder, path));
        }
        shared
    }

    fn run_stage(
        &self,
        stage: &StagePlan,
        state: &Arc<Mutex<RunState>>,
        pipeline_deadline: Option<Deadline>,
    ) -> StageResult {
        let started = Instant::now();
        let skip_reason = if self.cancelled() {
            Some("the run was interrupted".to_string())
        } else if let Some(deadline) = pipeline_deadline.filter(Deadline::passed) {
            self.pipeline_expired.store(true, Ordering::SeqCst);
            Some(deadline.message())
        } else {
            self.stage_skip_reason(stage, state)
        };
        if let Some(reason) = skip_reason {
            tracing::info!(stage_id = %stage.id, "skipping stage: {reason}");
            let status = if self.cancelled() {
                Status::Aborted
            } else {
                Status::Skipped
            };
            return self.skipped_stage(stage, status, reason, state);
        }

        let stage_deadline = stage
            .timeout
            .and_then(|timeout| Deadline::starting_now(Scope::Stage, timeout));
        tracing::info!(stage_id = %stage.id, "starting stage");
        state.lock().expect("state lock").stages.push(StageState {
            id: stage.id.clone(),
            ..StageState::default()
        });
        let position = state.lock().expect("state lock").stages.len();
        let shared_paths = self.shared_paths(stage, position);
        let run = StageRun {
            runner: self,
            stage,
            shared_paths,
            state: state.clone(),
            results: Mutex::new(Vec::new()),
            services: Services::new(self.options.stop_grace),
            readiness: Mutex::new(()),
            deadline: Deadline::earliest(stage_deadline, pipeline_deadline),
            expired: OnceLock::new(),
            running_steps: AtomicUsize::new(0),
            stopping: OnceLock::new(),
        };
        run.run_nodes(&stage.nodes);
        run.finish();
        if let Err(error) = self.executor.end_stage(self.options.stop_grace) {
            tracing::error!(stage_id = %stage.id, "cannot clean up after the stage: {error}");
        }

        let stage_failing = run.stage_failing();
        let expired = run.expired.get().copied();
        let mut steps = run.results.into_inner().expect("results lock");
        // Steps that ran at the same time finish in any order; the summary
        // lists them in the order of the plan, so that runs compare.
        let order: HashMap<String, usize> = steps_of(&stage.nodes)
            .iter()
            .enumerate()
            .map(|(index, step)| (step.path(), index))
            .collect();
        steps.sort_by_key(|step| order.get(&step.id).copied().unwrap_or(usize::MAX));
        let mut status = if self.cancelled() {
            Status::Aborted
        } else if expired.is_some() {
            Status::Expired
        } else if steps.iter().any(|step| step.status.is_failure()) || stage_failing {
            Status::Failed
        } else {
            Status::Succeeded
        };
        if status == Status::Succeeded && steps.iter().any(|step| step.status == Status::Running) {
            status = Status::Failed;
        }
        let mut tests: Option<TestCounts> = None;
        for counts in steps.iter().filter_map(|step| step.tests) {
            tests.get_or_insert_default().add(counts);
        }
        if let Some(current) = state.lock().expect("state lock").stages.last_mut() {
            current.status = Some(status);
        }
        tracing::info!(stage_id = %stage.id, status = %status.word(), "stage finished");
        StageResult {
            id: stage.id.clone(),
            status,
            message: expired.map(|deadline| deadline.message()),
            steps,
            tests,
            duration: started.elapsed(),
        }
    }

    fn stage_skip_reason(&self, stage: &StagePlan, state: &Arc<Mutex<RunState>>) -> Option<String> {
        let snapshot = state.lock().expect("state lock").clone();
        let failing = snapshot.pipeline_failing();
        let when = stage.when.as_ref();
        match self.when_allows(when, failing, &stage.id, None, &snapshot) {
            Ok(true) => None,
            Ok(false) => Some(describe_when(when, failing, "pipeline")),
            Err(error) => Some(format!("cannot evaluate its `when` condition: {error}")),
        }
    }

    fn skipped_stage(
        &self,
        stage: &StagePlan,
        status: Status,
        reason: String,
        state: &Arc<Mutex<RunState>>,
    ) -> StageResult {
        // The steps of a stage that an interruption kept from starting are
        // `ABORTED`, as the steps not yet started in the interrupted stage.
        let steps: Vec<StepResult> = steps_of(&stage.nodes)
            .into_iter()
            .map(|step| {
                let mut result = StepResult::skipped(
                    step.path(),
                    step.name.clone(),
                    step.step_type.clone(),
                    None,
                );
                if status == Status::Aborted {
                    result.status = Status::Aborted;
                }
                result
            })
            .collect();
        state.lock().expect("state lock").stages.push(StageState {
            id: stage.id.clone(),
            status: Some(status),
            failing: false,
            steps: Default::default(),
            groups: Default::default(),
        });
        StageResult {
            id: stage.id.clone(),
            status,
            message: Some(reason),
            steps,
            tests: None,
            duration: Duration::ZERO,
        }
    }

    /// Evaluates a `when` block; without one, a node runs only while
    /// nothing has failed.
    fn when_allows(
        &self,
        when: Option<&When>,
        failing: bool,
        stage_id: &str,
        step: Option<&StepPlan>,
        state: &RunState,
    ) -> Result<bool, String> {
        if !status_rule_allows(when, failing) {
            return Ok(false);
        }
        let Some(when) = when else {
            return Ok(true);
        };
        match when.condition.as_deref() {
            Some(condition) if !condition.trim().is_empty() => {
                self.expressions
                    .condition(condition, when.condition_span, stage_id, step, state)
            }
            _ => Ok(true),
        }
    }
}

/// Returns whether the status part of `when` (`stageStatus` or
/// `pipelineStatus`) allows a node to run. Without a `when`, a node runs
/// only while nothing has failed.
fn status_rule_allows(when: Option<&When>, failing: bool) -> bool {
    match when.map(|when| when.status).unwrap_or(StatusRule::Success) {
        StatusRule::Success => !failing,
        StatusRule::Failure => failing,
        StatusRule::All => true,
    }
}

/// Returns why `when_allows` returned false for a node in `scope` (the
/// stage for steps and groups, the pipeline for stages).
fn describe_when(when: Option<&When>, failing: bool, scope: &str) -> String {
    let status = if failing { "failing" } else { "succeeding" };
    let Some(when) = when else {
        return format!("the {scope} is {status}");
    };
    if status_rule_allows(Some(when), failing) {
        return "its `when.condition` is false".to_string();
    }

    let key = if scope == "pipeline" {
        "pipelineStatus"
    } else {
        "stageStatus"
    };
    let rule = match when.status {
        StatusRule::Success => "Success",
        StatusRule::Failure => "Failure",
        StatusRule::All => "All",
    };
    format!("its `when.{key}` is `{rule}` but the {scope} is {status}")
}

/// The total size of a step's environment as `NAME=VALUE` strings, with the
/// names of its largest variables, for the error of a program that Linux
/// could not start because the environment is too large.
struct EnvironmentSize {
    bytes: usize,
    count: usize,
    largest: Vec<(String, usize)>,
}

fn environment_size(env: &[(String, String)]) -> EnvironmentSize {
    let mut sizes: Vec<(&str, usize)> = env
        .iter()
        .map(|(name, value)| (name.as_str(), env_string_bytes(name, value)))
        .collect();
    let bytes = sizes.iter().map(|(_, size)| size).sum();
    sizes.sort_by_key(|(_, size)| std::cmp::Reverse(*size));
    let largest = sizes
        .iter()
        .take(3)
        .map(|(name, size)| (name.to_string(), *size))
        .collect();
    EnvironmentSize {
        bytes,
        count: env.len(),
        largest,
    }
}

/// Returns the size of variable `name` as the `NAME=VALUE` string that a
/// program receives, without its closing NUL.
fn env_string_bytes(name: &str, value: &str) -> usize {
    name.len() + 1 + value.len()
}

/// Returns the message for a step that could not start with `error`. Linux
/// gives `E2BIG` (os error 7, "Argument list too long") when the arguments
/// and environment together are too large, so that message names the
/// environment's size and largest variables.
fn start_error(error: &str, environment: &EnvironmentSize) -> String {
    if !error.contains("os error 7") {
        return format!("cannot start: {error}");
    }
    let largest: Vec<String> = environment
        .largest
        .iter()
        .map(|(name, size)| format!("`{name}` ({size} bytes)"))
        .collect();
    format!(
        "cannot start: {error}: the step's {} environment variables are {} bytes together, more than Linux passes to a program; the largest are {}; help: write large values to files in the workspace in an earlier step and read them from there",
        environment.count,
        environment.bytes,
        largest.join(", ")
    )
}

/// The size in bytes of the longest string Linux passes to a new program as
/// one argument or one `NAME=VALUE` variable, its closing NUL included
/// (`MAX_ARG_STRLEN`, 32 pages of 4 KiB). `execve` fails with `E2BIG` on a
/// longer one.
/// NOTE: a kernel with larger pages (64 KiB on some arm64 builds) allows
/// longer variables, which this limit still rejects.
const MAX_ENV_STRING_BYTES: usize = 32 * 4096;

/// Returns the clean absolute path at which shared path `written` gets a
/// folder, `None` for an entry that gets none, or the warning for an entry
/// under `/basso`. The resolution's `invalid-shared-path` warnings cover
/// empty, relative and reserved entries, so they get no second warning.
fn mounted_path(written: &str) -> Result<Option<String>, String> {
    let written = written.trim();
    match SharedPath::read(written) {
        SharedPath::Empty | SharedPath::NotAbsolute | SharedPath::Reserved(_) => Ok(None),
        SharedPath::Folder(path) if path == "/basso" || path.starts_with("/basso/") => {
            Err(format!(
                "shared path `{written}` is not shared, because basso mounts its scripts and output folders under `/basso`; help: {}",
                shared_path::RESERVED_HELP
            ))
        }
        SharedPath::Folder(path) => Ok(Some(path)),
    }
}

/// Returns a step plan that stands for `group` in its `when` condition: its
/// identifier, and the groups around it as its group path, so that the
/// condition reads the other steps of those groups as `<+steps.ID>`.
/// Returns `None` for a group without steps, whose place is not known.
fn group_place(group: &GroupPlan) -> Option<StepPlan> {
    let first = steps_of(&group.nodes).into_iter().next()?;
    let depth = first.group_path.iter().position(|id| *id == group.id)?;
    Some(StepPlan {
        id: group.id.clone(),
        name: group.name.clone(),
        group_path: first.group_path[..depth].to_vec(),
        ..StepPlan::default()
    })
}

/// One running stage.
struct StageRun<'r, 'a> {
    runner: &'r Runner<'a>,
    stage: &'r StagePlan,
    /// The host folder of each of the stage's `sharedPaths` and the path it
    /// appears at in containers.
    shared_paths: Vec<(PathBuf, String)>,
    state: Arc<Mutex<RunState>>,
    results: Mutex<Vec<StepResult>>,
    services: Services,
    readiness: Mutex<()>,
    /// The earliest of the stage's and the pipeline's deadlines.
    deadline: Option<Deadline>,
    /// The deadline once it has passed. Every step that runs then is
    /// stopped, and every step not yet started is skipped.
    expired: OnceLock<Deadline>,
    /// The number of Run steps whose process runs.
    running_steps: AtomicUsize,
    /// The SIGKILL deadline of every task stopped because the stage ended,
    /// was interrupted or timed out, set when the first of them is stopped.
    stopping: OnceLock<StopDeadline>,
}

impl StageRun<'_, '_> {
    /// Returns the stage's deadline once it has passed. The first call
    /// that finds it passed logs the timeout.
    fn expired(&self) -> Option<&Deadline> {
        if let Some(deadline) = self.expired.get() {
            return Some(deadline);
        }
        let passed = self.deadline.filter(Deadline::passed)?;
        let mut first = false;
        let deadline = self.expired.get_or_init(|| {
            first = true;
            passed
        });
        if first {
            let timeout = humantime(deadline.timeout);
            match deadline.scope {
                Scope::Stage => {
                    tracing::error!(stage_id = %self.stage.id, "stage {} timed out after {timeout}", self.stage.id)
                }
                Scope::Pipeline => {
                    self.runner.pipeline_expired.store(true, Ordering::SeqCst);
                    tracing::error!(stage_id = %self.stage.id, "pipeline timed out after {timeout}; stopping stage {}", self.stage.id)
                }
            }
        }
        Some(deadline)
    }

    fn stage_failing(&self) -> bool {
        let state = self.state.lock().expect("state lock");
        state.current().is_some_and(|stage| stage.failing)
    }

    fn mark_failing(&self) {
        let mut state = self.state.lock().expect("state lock");
        if let Some(stage) = state.stages.last_mut() {
            stage.failing = true;
        }
    }

    /// Copies the statuses of the services that have ended into the run
    /// state, so that `<+steps.ID.status>` of a service that failed reads
    /// `FAILED`, not `RUNNING`.
    fn record_service_ends(&self) {
        let ended = self.services.ended();
        if ended.is_empty() {
            return;
        }
        let mut state = self.state.lock().expect("state lock");
        if let Some(stage) = state.stages.last_mut() {
            for (path, status) in ended {
                if let Some(step) = stage.steps.get_mut(&path) {
                    step.status = status;
                }
            }
        }
    }

    fn snapshot(&self) -> RunState {
        self.state.lock().expect("state lock").clone()
    }

    fn run_nodes(&self, nodes: &[Node]) {
        for node in nodes {
            self.run_node(node);
        }
    }

    fn run_node(&self, node: &Node) {
        match node {
            Node::Step(step) => self.run_step(step),
            Node::Parallel {
                nodes,
                max_concurrency,
            } => self.run_parallel(nodes, *max_concurrency),
            Node::Group(group) => {
                let snapshot = self.snapshot();
                let failing = self.stage_failing();
                let place = group_place(group);
                let status = match self.runner.when_allows(
                    group.when.as_ref(),
                    failing,
                    &self.stage.id,
                    place.as_ref(),
                    &snapshot,
                ) {
                    Ok(true) => {
                        self.run_nodes(&group.nodes);
                        None
                    }
                    Ok(false) => {
                        let reason = format!(
                            "step group `{}`: {}",
                            group.id,
                            describe_when(group.when.as_ref(), failing, "stage")
                        );
                        self.skip_all(&group.nodes, &reason);
                        Some(Status::Skipped)
                    }
                    Err(error) => {
                        tracing::error!(group_id = %group.id, "cannot evaluate `when`: {error}");
                        let status = self.group_failure_status(group);
                        if status.is_failure() {
                            self.mark_failing();
                        }
                        // The error was logged above, once for the group.
                        let reason = format!(
                            "the `when` condition of step group `{}` could not be evaluated",
                            group.id
                        );
                        self.skip_all(&group.nodes, &reason);
                        Some(status)
                    }
                };
                self.record_group(group, status);
            }
        }
    }

    /// Returns the status of a step group whose `when` could not be
    /// evaluated, after the failure strategy that matches `Unknown` errors.
    fn group_failure_status(&self, group: &GroupPlan) -> Status {
        if self.expired().is_some() {
            return Status::Failed;
        }
        let Some((status, _)) = before_start_action(&group.failure_strategies)
            .and_then(|action| self.failure_outcome(action))
        else {
            return Status::Failed;
        };
        tracing::warn!(
            group_id = %group.id,
            status = %status.word(),
            "failure strategy applied"
        );
        status
    }

    /// Stores the status of a finished step group under its path, so that
    /// `<+steps.GROUP.status>` reads it. `decided` is the status its `when`
    /// gave it; without one, the statuses of its steps decide.
    fn record_group(&self, group: &GroupPlan, decided: Option<Status>) {
        self.record_service_ends();
        let steps = steps_of(&group.nodes);
        // The group's path is the part of its steps' group paths up to its
        // own identifier; a group without steps has nothing to read.
        let Some(path) = steps.first().and_then(|step| {
            let depth = step.group_path.iter().position(|id| *id == group.id)?;
            Some(step.group_path[..=depth].join("."))
        }) else {
            return;
        };
        let mut state = self.state.lock().expect("state lock");
        let Some(stage) = state.stages.last_mut() else {
            return;
        };
        let status = decided.unwrap_or_else(|| {
            Status::of_group(
                steps
                    .iter()
                    .filter_map(|step| stage.steps.get(&step.path()))
                    .map(|step| step.status),
            )
        });
        stage.groups.insert(path, status);
    }

    fn run_parallel(&self, nodes: &[Node], max_concurrency: Option<usize>) {
        let workers = max_concurrency
            .unwrap_or(nodes.len())
            .clamp(1, nodes.len().max(1));
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    loop {
                        let index = next.fetch_add(1, Ordering::SeqCst);
                        let Some(node) = nodes.get(index) else { break };
                        self.run_node(node);
                    }
                });
            }
        });
    }

    fn skip_all(&self, nodes: &[Node], reason: &str) {
        for step in steps_of(nodes) {
            self.record_skip(step, reason);
        }
    }

    fn record_skip(&self, step: &StepPlan, reason: &str) {
        let status = if self.runner.cancelled() {
            tracing::info!(step_id = %step.path(), "step aborted before it started: {reason}");
            Status::Aborted
        } else {
            tracing::info!(step_id = %step.path(), "skipping step: {reason}");
            Status::Skipped
        };
        let mut result = StepResult::skipped(
            step.path(),
            step.name.clone(),
            step.step_type.clone(),
            Some(reason.to_string()),
        );
        result.status = status;
        self.record(step, result);
    }

    /// Stores a step result and its state; returns its index in the results.
    fn record(&self, step: &StepPlan, result: StepResult) -> usize {
        self.runner
            .mask_secret_outputs(step, &result.output_variables);
        {
            let mut state = self.state.lock().expect("state lock");
            if let Some(stage) = state.stages.last_mut() {
                if result.status.is_failure() {
                    stage.failing = true;
                }
                stage.steps.insert(
                    step.path(),
                    StepState {
                        status: result.status,
                        output_variables: result.output_variables.clone(),
                        unset_outputs: step
                            .spec
                            .output_variables
                            .iter()
                            .filter(|name| !result.output_variables.contains_key(*name))
                            .cloned()
                            .collect(),
                        retry_count: result.retry_count,
                    },
                );
            }
        }
        let mut results = self.results.lock().expect("results lock");
        results.push(result);
        results.len() - 1
    }

    fn run_step(&self, step: &StepPlan) {
        if self.runner.cancelled() {
            self.record_skip(step, "the run was interrupted");
            return;
        }
        if let Some(deadline) = self.expired() {
            self.record_skip(step, &deadline.message());
            return;
        }
        self.services
            .check(&self.runner.console, || self.mark_failing());
        // A step of a failing stage with the default `stageStatus: Success`
        // is skipped whatever its condition, so no service is waited for.
        let skipped_anyway = self.stage_failing()
            && step
                .when
                .as_ref()
                .is_none_or(|when| when.status == StatusRule::Success);
        if !step.is_background() && self.runner.options.wait_for_ports && !skipped_anyway {
            self.wait_for_services();
            if self.runner.cancelled() {
                self.record_skip(step, "the run was interrupted");
                return;
            }
            if let Some(deadline) = self.expired() {
                self.record_skip(step, &deadline.message());
                return;
            }
        }

        self.record_service_ends();
        let snapshot = self.snapshot();
        let failing = self.stage_failing();
        match self.runner.when_allows(
            step.when.as_ref(),
            failing,
            &self.stage.id,
            Some(step),
            &snapshot,
        ) {
            Ok(true) => {}
            Ok(false) => {
                self.record_skip(step, &describe_when(step.when.as_ref(), failing, "stage"));
                return;
            }
            Err(error) => {
                self.fail_before_start(step, format!("cannot evaluate `when`: {error}"));
                return;
            }
        }

        let path = step.path();
        let deferred: Vec<&str> = self
            .runner
            .options
            .deferred
            .iter()
            .filter(|problem| {
                problem.stage == self.stage.id && problem.step.as_deref() == Some(path.as_str())
            })
            .map(|problem| problem.message.as_str())
            .collect();
        if !deferred.is_empty() {
            self.fail_before_start(step, deferred.join("\n"));
            return;
        }

        let prepared = match self.runner.expressions.prepare(step, &snapshot) {
            Ok(prepared) => prepared,
            Err(error) => {
                self.fail_before_start(step, format!("cannot resolve the step: {error}"));
                return;
            }
        };
        let task = match self.task_spec(&prepared) {
            Ok(task) => task,
            Err(error) => {
                self.fail_before_start(step, error);
                return;
            }
        };

        if step.is_background() {
            self.start_service(&prepared, task);
        } else {
            self.run_task(&prepared, task);
        }
    }

    /// Records a step that failed before it started: its `when`, its
    /// resolution, its task or its port could not be prepared. The failure
    /// strategy that matches `Unknown` errors applies, as
    /// [`before_start_action`] chooses it.
    fn fail_before_start(&self, step: &StepPlan, message: String) {
        tracing::error!(step_id = %step.path(), "{}", self.runner.console.mask_message(&message));
        let mut result = StepResult::skipped(
            step.path(),
            step.name.clone(),
            step.step_type.clone(),
            Some(message),
        );
        result.status = Status::Failed;
        if let Some(action) = self.action_before_start(step) {
            self.apply_failure_action(&mut result, action);
            if result.status != Status::Failed {
                tracing::warn!(
                    step_id = %result.id,
                    status = %result.status.word(),
                    "failure strategy applied"
                );
            }
        }
        self.record(step, result);
    }

    /// Returns the failure action for a Run step that failed before it
    /// started, or `None` for a Background step or a stage past its deadline.
    fn action_before_start<'s>(&self, step: &'s StepPlan) -> Option<&'s FailureAction> {
        if step.is_background() || self.expired().is_some() {
            return None;
        }
        before_start_action(&step.failure_strategies)
    }

    /// Builds the task for a prepared step: built-in variables, secrets
    /// substituted, the workspace as working directory.
    fn task_spec(&self, step: &StepPlan) -> Result<TaskSpec, String> {
        let mut task = draft_task(step).map_err(|problem| problem.message)?;
        let secrets = &self.runner.secrets;
        let requested = &step.spec.secrets;
        let substitute = |field: &str, text: &str| {
            secrets
                .substitute(text, requested)
                .map_err(|error| format!("step `{}`, {field}: {error}", step.path()))
        };
        task.program = match task.program {
            Program::Script { shell, script } => Program::Script {
                shell,
                script: substitute("command", &script)?,
            },
            Program::Argv(argv) => Program::Argv(
                argv.iter()
                    .map(|arg| substitute("entrypoint", arg))
                    .collect::<Result<_, _>>()?,
            ),
        };
        if !step.spec.entrypoint.is_empty() && step.spec.command.is_some() {
            tracing::debug!(step_id = %step.path(), "`entrypoint` overrides `command`");
        }

        task.env = self.builtin_env(step);
        for (name, value) in &step.spec.env {
            let value = substitute(&format!("env `{name}`"), value)?;
            // The value may contain a secret, so only the name is shown.
            if name.contains('\0') || value.contains('\0') {
                return Err(format!(
                    "step `{}`: environment variable `{}` contains a NUL character, which a \
                     process environment cannot hold; help: remove it from the value",
                    step.path(),
                    name.escape_default()
                ));
            }
            let length = env_string_bytes(name, &value);
            if length >= MAX_ENV_STRING_BYTES {
                return Err(format!(
                    "step `{}`: environment variable `{name}` is {length} bytes long as `NAME=VALUE`, \
                     more than the {} bytes Linux passes for one variable; help: write the value \
                     to a file in the workspace in an earlier step and read it from there",
                    step.path(),
                    MAX_ENV_STRING_BYTES - 1
                ));
            }
            task.env.push((name.clone(), value));
        }
        task.workdir = self.workdir();
        task.shared_paths.clone_from(&self.shared_paths);
        Ok(task)
    }

    fn workdir(&self) -> PathBuf {
        match (&self.runner.options.codebase, self.stage.clone_codebase) {
            (Some(codebase), true) => codebase.root.clone(),
            _ => self.runner.options.workspace.clone(),
        }
    }

    fn builtin_env(&self, step: &StepPlan) -> Vec<(String, String)> {
        let options = &self.runner.options;
        let workdir = self.workdir().display().to_string();
        let build = options.build_number.to_string();
        let mut env: Vec<(String, String)> = [
            ("CI", "true"),
            ("HARNESS_WORKSPACE", workdir.as_str()),
            ("DRONE_WORKSPACE", workdir.as_str()),
            ("HARNESS_BUILD_ID", build.as_str()),
            ("DRONE_BUILD_NUMBER", build.as_str()),
            ("HARNESS_PIPELINE_ID", options.pipeline_id.as_str()),
            ("HARNESS_STAGE_ID", self.stage.id.as_str()),
            ("DRONE_STAGE_NAME", self.stage.id.as_str()),
            ("HARNESS_STEP_ID", step.id.as_str()),
            ("DRONE_STEP_NAME", step.id.as_str()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();

        if let (Some(codebase), true) = (&options.codebase, self.stage.clone_codebase) {
            let mut push = |name: &str, value: &str| env.push((name.into(), value.into()));
            push("DRONE_COMMIT_SHA", &codebase.commit_sha);
            push("DRONE_COMMIT", &codebase.commit_sha);
            push("DRONE_COMMIT_MESSAGE", &codebase.commit_message);
            push(
                "DRONE_BUILD_EVENT",
                if codebase.tag.is_some() {
                    "tag"
                } else {
                    "push"
                },
            );
            if let Some(branch) = &codebase.branch {
                push("DRONE_COMMIT_BRANCH", branch);
                push("DRONE_BRANCH", branch);
            }
            if let Some(url) = &codebase.repo_url {
                push("DRONE_REMOTE_URL", url);
                push("DRONE_GIT_HTTP_URL", url);
            }
            if let Some(tag) = &codebase.tag {
                push("DRONE_TAG", tag);
            }
        }
        env
    }

    /// Returns a sink that prints a task's lines and keeps the last ones.
    fn sink(&self, step_id: &str) -> (LogSink, Arc<Mutex<VecDeque<String>>>, StartGate) {
        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_LINES)));
        let console = self.runner.console.clone();
        let id = step_id.to_string();
        let kept = tail.clone();
        let emit: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(move |line: &str| {
            console.step_line(&id, line);
            let mut tail = kept.lock().expect("tail lock");
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(console.mask(line));
        });
        let gate = StartGate::new(emit);
        let held = gate.clone();
        let sink: LogSink = Arc::new(move |line: &str| held.line(line));
        (sink, tail, gate)
    }

    fn start_service(&self, step: &StepPlan, task: TaskSpec) {
        let id = step.path();
        for &(port, _) in &task.port_bindings {
            if crate::ports::is_taken(port) {
                self.fail_before_start(
                    step,
                    format!(
                        "port {port} of service `{id}` is already in use on this host; \
                         help: stop what listens on it or change `portBindings`"
                    ),
                );
                return;
            }
        }

        let (sink, tail, gate) = self.sink(&id);
        let ports = task.port_bindings.clone();
        let started_at = SystemTime::now();
        let started = Instant::now();
        // A Background step's `timeout` bounds its start, such as an image
        // pull, and then its wait for readiness.
        let step_timeout = step.timeout.map(|timeout| (timeout, started));
        let deadline = self.start_deadline(step_timeout);
        let environment = environment_size(&task.env);
        match self.runner.executor.start(task, sink, &deadline) {
            Ok(handle) => {
                tracing::info!(step_id = %id, pid = handle.pid(), "started service");
                self.runner.console.step_started(&id);
                gate.open();
                let mut result = StepResult::skipped(
                    id.clone(),
                    step.name.clone(),
                    step.step_type.clone(),
                    None,
                );
                result.status = Status::Running;
                result.started_at_ms = Some(epoch_millis(started_at));
                let index = self.record(step, result);
                self.services.add(step.clone(), handle, tail, ports, index);
            }
            Err(error) => {
                gate.open();
                let message = start_error(&error.to_string(), &environment);
                match self.abandoned_start(step_timeout) {
                    Some((status, reason)) => self.record_abandoned(
                        step,
                        status,
                        format!("{reason}; {message}"),
                        (started_at, started),
                    ),
                    None => self.fail_before_start(step, message),
                }
            }
        }
    }

    /// Records a service whose start the run's cancellation or a timeout
    /// ended, with the status a running service stopped then would get, and
    /// the time the start took from `started`.
    fn record_abandoned(
        &self,
        step: &StepPlan,
        status: Status,
        message: String,
        started: (SystemTime, Instant),
    ) {
        let masked = self.runner.console.mask_message(&message);
        tracing::error!(step_id = %step.path(), status = %status.word(), "{masked}");
        let mut result = StepResult::skipped(
            step.path(),
            step.name.clone(),
            step.step_type.clone(),
            Some(message),
        );
        result.status = status;
        // An image pull can take minutes.
        result.started_at_ms = Some(epoch_millis(started.0));
        result.finished_at_ms = Some(epoch_millis(SystemTime::now()));
        result.duration = started.1.elapsed();
        self.record(step, result);
    }

    /// Returns the deadline of a step's start: the first to pass of the
    /// step's `timeout`, the stage's and the pipeline's, or the run's
    /// cancellation. `step_timeout` is a Run step's timeout and start time.
    fn start_deadline(&self, step_timeout: Option<(Duration, Instant)>) -> StartDeadline {
        let step_end = step_timeout.and_then(|(timeout, started)| started.checked_add(timeout));
        let stage_end = self.deadline.map(|deadline| deadline.at);
        let at = match (step_end, stage_end) {
            (Some(step), Some(stage)) => Some(step.min(stage)),
            (step, stage) => step.or(stage),
        };
        StartDeadline::new(at, self.runner.cancel.clone())
    }

    /// Returns the status and reason for a step whose start failed because
    /// the run was cancelled or a timeout passed, the same that a running
    /// step stopped then gets. Returns `None` when the start failed for
    /// another reason. `step_timeout` is a Run step's timeout and start time.
    fn abandoned_start(
        &self,
        step_timeout: Option<(Duration, Instant)>,
    ) -> Option<(Status, String)> {
        if self.runner.cancelled() {
            return Some((Status::Aborted, "interrupted".to_string()));
        }
        if let Some(deadline) = self.expired() {
            return Some((Status::Expired, deadline.message()));
        }
        let (timeout, started) = step_timeout?;
        (started.elapsed() >= timeout).then(|| {
            let message = format!("the step timed out after {}", humantime(timeout));
            (Status::Expired, message)
        })
    }

    /// Waits until every started service's ports accept connections.
    fn wait_for_services(&self) {
        let _one_at_a_time = self.readiness.lock().expect("readiness lock");
        let timeout = self.runner.options.readiness_timeout;
        let stop = || self.runner.cancelled() || self.expired().is_some();
        let failed = self
            .services
            .wait_ready(timeout, &stop, &self.runner.console);
        if failed {
            self.mark_failing();
        }
    }

    /// Runs a Run step, again while a `Retry` failure strategy allows, and
    /// records its result after applying the matching failure strategy.
    fn run_task(&self, step: &StepPlan, task: TaskSpec) {
        let mut retries = 0u32;
        let mut waited = false;
        let (first_started_at, first_started) = (SystemTime::now(), Instant::now());
        loop {
            let mut result = self.run_attempt(step, task.clone());
            // Once the stage's deadline has passed, nothing more runs in the
            // stage, so no failure strategy applies. Harness also expires
            // every node of such a stage without its failure strategies.
            let expired = self.expired().is_some();
            let action = failure_kind(result.status)
                .filter(|_| !expired)
                .and_then(|kind| {
                    step.failure_strategies
                        .iter()
                        .find(|strategy| strategy.matches(kind))
                        .map(|strategy| &strategy.action)
                });
            let action = match action {
                Some(FailureAction::Retry {
                    count, intervals, ..
                }) if retries < *count => {
                    let pause = intervals
                        .get(retries as usize)
                        .or(intervals.last())
                        .copied()
                        .unwrap_or_default();
                    let next = retries + 1;
                    let reason = result
                        .message
                        .as_deref()
                        .map(|message| format!(": {}", self.runner.console.mask_message(message)))
                        .unwrap_or_default();
                    tracing::warn!(
                        step_id = %result.id,
                        "step {}{reason}; retry {next} of {count} in {}",
                        result.status.word(),
                        humantime(pause)
                    );
                    waited = true;
                    if self.pause(pause) {
                        retries = next;
                        continue;
                    }
                    // The retry never started, so it does not count.
                    if let Some(deadline) = self.expired() {
                        result.status = Status::Expired;
                        result.message = Some(format!(
                            "{}; {} before retry {next}",
                            result.message.as_deref().unwrap_or("the step failed"),
                            deadline.message()
                        ));
                    } else if self.runner.cancelled() {
                        result.status = Status::Aborted;
                        result.message = Some(format!(
                            "{}; interrupted before retry {next}",
                            result.message.as_deref().unwrap_or("the step failed"),
                        ));
                    }
                    None
                }
                Some(FailureAction::Retry {
                    on_retry_failure, ..
                }) => Some(on_retry_failure.as_ref()),
                other => other,
            };
            if let Some(action) = action {
                self.apply_failure_action(&mut result, action);
            }
            result.retry_count = retries;
            // The step's time covers every attempt and the waits between.
            if waited {
                result.started_at_ms = Some(epoch_millis(first_started_at));
                result.finished_at_ms = Some(epoch_millis(SystemTime::now()));
                result.duration = first_started.elapsed();
            }
            result.tests = self.collect_reports(step);
            self.log_result(&result);
            self.record(step, result);
            return;
        }
    }

    /// Sleeps for `pause`. Returns false when the run is cancelled or the
    /// stage's deadline passes first.
    fn pause(&self, pause: Duration) -> bool {
        let stopped = || self.runner.cancelled() || self.expired().is_some();
        let end = Instant::now() + pause;
        while Instant::now() < end {
            if stopped() {
                return false;
            }
            std::thread::sleep(POLL_INTERVAL.min(end.saturating_duration_since(Instant::now())));
        }
        !stopped()
    }

    /// Returns the status that a failure strategy's `action` gives a failure,
    /// with a note for the log, or `None` when the step stays failed. `Abort`
    /// cancels the run.
    fn failure_outcome(&self, action: &FailureAction) -> Option<(Status, &'static str)> {
        match action {
            FailureAction::Ignore => Some((Status::IgnoreFailed, "ignored by a failure strategy")),
            FailureAction::MarkAsSuccess => {
                Some((Status::Succeeded, "marked as success by a failure strategy"))
            }
            FailureAction::Abort => {
                self.runner.cancel.store(true, Ordering::SeqCst);
                Some((Status::Aborted, "a failure strategy aborted the run"))
            }
            FailureAction::MarkAsFailure
            | FailureAction::Retry { .. }
            | FailureAction::Unsupported(_) => None,
        }
    }

    /// Changes a failed step's result as a failure strategy's `action` specifies.
    fn apply_failure_action(&self, result: &mut StepResult, action: &FailureAction) {
        let Some((status, note)) = self.failure_outcome(action) else {
            return;
        };
        result.status = status;
        result.message = Some(match result.message.take() {
            Some(message) => format!("{message}; {note}"),
            None => note.to_string(),
        });
    }

    /// Runs a step once and returns its result, `FAILED` when it could not
    /// start, so that failure strategies and retries apply to that as well.
    fn run_attempt(&self, step: &StepPlan, task: TaskSpec) -> StepResult {
        let id = step.path();
        let (sink, _tail, gate) = self.sink(&id);
        let started_at = SystemTime::now();
        let started = Instant::now();
        let step_timeout = step.timeout.map(|timeout| (timeout, started));
        let deadline = self.start_deadline(step_timeout);
        let environment = environment_size(&task.env);
        let mut handle = match self.runner.executor.start(task, sink, &deadline) {
            Ok(handle) => handle,
            Err(error) => {
                gate.open();
                let mut message = start_error(&error.to_string(), &environment);
                let mut status = Status::Failed;
                if let Some((abandoned, reason)) = self.abandoned_start(step_timeout) {
                    status = abandoned;
                    message = format!("{reason}; {message}");
                }
                let mut result = StepResult::skipped(
                    id,
                    step.name.clone(),
                    step.step_type.clone(),
                    Some(message),
                );
                result.status = status;
                // The start's time counts, because an image pull can take minutes.
                result.started_at_ms = Some(epoch_millis(started_at));
                result.finished_at_ms = Some(epoch_millis(SystemTime::now()));
                result.duration = started.elapsed();
                return result;
            }
        };
        tracing::info!(step_id = %id, pid = handle.pid(), "started step");
        self.runner.console.step_started(&id);
        gate.open();

        self.running_steps.fetch_add(1, Ordering::SeqCst);
        let (mut status, exit, mut message, stopped_at) =
            self.wait_task(step, handle.as_mut(), started);
        self.running_steps.fetch_sub(1, Ordering::SeqCst);
        let mut output_variables = match handle.outputs() {
            Ok(outputs) => outputs,
            Err(error) => {
                tracing::warn!(step_id = %id, "cannot read output variables: {error}");
                Default::default()
            }
        };
        if status == Status::Succeeded {
            let unset: Vec<&str> = step
                .spec
                .output_variables
                .iter()
                .filter(|name| !output_variables.contains_key(*name))
                .map(String::as_str)
                .collect();
            if !unset.is_empty() {
                let help = if step.spec.command.as_deref().is_some_and(replaces_shell) {
                    "the script runs `exec`, and a shell that `exec` replaces records no output \
                     variable: run the command without `exec`"
                } else {
                    "set each one as a variable in Sh and Bash, or in `os.environ` in Python"
                };
                tracing::warn!(
                    step_id = %id,
                    "output variables the step did not set, or that could not be read: {}; later steps read them as null ({help})",
                    unset.join(", ")
                );
            }
        }
        if let Some(error) = self
            .runner
            .drop_block_secret_outputs(step, &mut output_variables)
        {
            tracing::error!(step_id = %id, "{error}");
            status = Status::Failed;
            message = Some(error);
        }
        drop(handle);
        self.runner.console.step_finished(&id);

        let mut result =
            StepResult::skipped(id, step.name.clone(), step.step_type.clone(), message);
        result.status = status;
        result.exit_code = match exit {
            Some(Exit::Code(code)) => Some(code),
            _ => None,
        };
        // A step stopped with its stage ends when its process is gone, not
        // when the stage's services are.
        let (ended, ended_at) = stopped_at.unwrap_or_else(|| (Instant::now(), SystemTime::now()));
        result.started_at_ms = Some(epoch_millis(started_at));
        result.finished_at_ms = Some(epoch_millis(ended_at));
        result.duration = ended.duration_since(started);
        result.output_variables = output_variables;
        result
    }

    /// Waits for a Run step's process to end, or stops it. Returns its
    /// status, exit and message, and, for a step stopped with its stage, the
    /// moment its process was gone.
    fn wait_task(
        &self,
        step: &StepPlan,
        handle: &mut dyn Task,
        started: Instant,
    ) -> (Status, Option<Exit>, Option<String>, Option<StoppedAt>) {
        loop {
            match handle.wait(POLL_INTERVAL) {
                Ok(Some(exit)) if exit.success() => {
                    return (Status::Succeeded, Some(exit), None, None);
                }
                Ok(Some(exit)) => {
                    return (
                        Status::Failed,
                        Some(exit),
                        Some(format!("the step ended with {exit}")),
                        None,
                    );
                }
                Ok(None) => {}
                Err(error) => {
                    let _ = handle.stop(&self.runner.stop_deadline());
                    return (Status::Failed, None, Some(error.to_string()), None);
                }
            }

            if self.runner.cancelled() {
                let (exit, stopped_at) = self.stop_with_stage(handle);
                return (
                    Status::Aborted,
                    exit,
                    Some("interrupted".into()),
                    Some(stopped_at),
                );
            }
            // The stage's deadline goes first, so a step timeout that passes
            // at the same moment gets no failure strategy.
            if let Some(deadline) = self.expired() {
                let message = deadline.message();
                let (exit, stopped_at) = self.stop_with_stage(handle);
                return (Status::Expired, exit, Some(message), Some(stopped_at));
            }
            if let Some(timeout) = step.timeout
                && started.elapsed() >= timeout
            {
                let exit = handle.stop(&self.runner.stop_deadline()).ok();
                let message = format!("the step timed out after {}", humantime(timeout));
                return (Status::Expired, exit, Some(message), None);
            }
            self.services
                .check(&self.runner.console, || self.mark_failing());
        }
    }

    fn collect_reports(&self, step: &StepPlan) -> Option<TestCounts> {
        if step.spec.report_paths.is_empty() {
            return None;
        }
        // A path resolved again from a `type: Secret` output contains the
        // secret's value, and a glob of it would print the secret in warnings
        // and in file names, so it is left out. Only those values count:
        // report paths cannot read the secrets of the store, and a store
        // secret such as `test` occurs in many a literal path.
        let outputs = {
            let values = self
                .runner
                .secret_outputs
                .lock()
                .expect("secret outputs lock");
            crate::secrets::Masker::new(values.iter().map(String::as_str))
        };
        let mut paths = Vec::with_capacity(step.spec.report_paths.len());
        for path in &step.spec.report_paths {
            let masked = outputs.mask(path);
            if masked == *path {
                paths.push(path.clone());
            } else {
                tracing::warn!(
                    step_id = %step.path(),
                    "report path `{masked}` contains a secret value, so no report is read from it; help: name report files without secrets"
                );
            }
        }
        let collected = reports::collect(&self.workdir(), &paths);
        for warning in &collected.warnings {
            tracing::warn!(step_id = %step.path(), "{warning}");
        }
        collected.counts
    }

    fn log_result(&self, result: &StepResult) {
        let message = result
            .message
            .as_deref()
            .map(|m| self.runner.console.mask_message(m));
        match (result.status, message) {
            (Status::Succeeded, None) => tracing::info!(step_id = %result.id, "step succeeded"),
            (Status::Succeeded, Some(message)) => {
                tracing::info!(step_id = %result.id, "step succeeded: {message}")
            }
            (Status::IgnoreFailed, Some(message)) => {
                tracing::warn!(step_id = %result.id, status = %result.status.word(), "{message}")
            }
            (status, Some(message)) => {
                tracing::error!(step_id = %result.id, status = %status.word(), "{message}")
            }
            (status, None) => {
                tracing::error!(step_id = %result.id, status = %status.word(), "step ended")
            }
        }
    }

    /// Returns the status and message of the services stopped now, when the
    /// stage does not end by itself.
    fn early_stop(&self) -> Option<EarlyStop> {
        if self.runner.cancelled() {
            return Some(EarlyStop {
                status: Status::Aborted,
                message: "interrupted".to_string(),
            });
        }
        self.expired.get().map(|deadline| EarlyStop {
            status: Status::Expired,
            message: deadline.message(),
        })
    }

    /// Returns the stage's SIGKILL deadline, and whether this call set it.
    /// The call that sets it logs how many tasks the stage waits for.
    fn begin_stopping(&self) -> (&StopDeadline, bool) {
        let mut first = false;
        let deadline = self.stopping.get_or_init(|| {
            first = true;
            self.runner.stop_deadline()
        });
        if first {
            let services = self.services.running();
            let steps = self.running_steps.load(Ordering::SeqCst);
            if services + steps > 0 {
                tracing::info!(
                    stage_id = %self.stage.id,
                    "waiting up to {} for {} to stop",
                    humantime(self.runner.options.stop_grace),
                    count_tasks(services, steps)
                );
            }
        }
        (deadline, first)
    }

    /// Stops `handle`, a Run step, because the run was interrupted or the
    /// stage timed out. The stage's services and its other running steps
    /// get SIGTERM at the same time and share its grace period. Returns the
    /// step's exit and the moment its process was gone, which can come
    /// before the services are.
    fn stop_with_stage(&self, handle: &mut dyn Task) -> (Option<Exit>, StoppedAt) {
        let (deadline, first) = self.begin_stopping();
        let mut stop = || {
            let exit = handle.stop(deadline).ok();
            (exit, (Instant::now(), SystemTime::now()))
        };
        if !first {
            return stop();
        }
        // The other parallel steps stop themselves when they see the
        // interruption or the timeout, each on its own thread.
        let early = self.early_stop();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                self.services
                    .stop_running(deadline, &self.runner.console, early.as_ref())
            });
            stop()
        })
    }

    /// Stops every service and records the services' results. Services that
    /// no later step waited for get the same readiness wait first, so one
    /// that crashes as the stage's last step fails the stage. A stage that
    /// already fails skips this wait.
    fn finish(&self) {
        // `expired.get()` does not look at the clock. It returns a deadline
        // that already stopped or skipped a step, so a stage whose steps all
        // ended in time does not expire while it stops its services.
        if self.runner.options.wait_for_ports
            && !self.runner.cancelled()
            && self.expired.get().is_none()
            && !self.stage_failing()
        {
            self.wait_for_services();
        }

        let early = self.early_stop();
        let (deadline, _) = self.begin_stopping();
        let outcomes = self
            .services
            .stop_all(deadline, &self.runner.console, early.as_ref());
        for outcome in outcomes {
            let step = &outcome.step;
            let tests = if outcome.status.is_failure() {
                None
            } else {
                self.collect_reports(step)
            };
            {
                let mut state = self.state.lock().expect("state lock");
                if let Some(stage) = state.stages.last_mut() {
                    stage.failing |= outcome.status.is_failure();
                    if let Some(entry) = stage.steps.get_mut(&step.path()) {
                        entry.status = outcome.status;
                    }
                }
            }
            let mut results = self.results.lock().expect("results lock");
            let result = &mut results[outcome.result_index];
            result.status = outcome.status;
            result.exit_code = outcome.exit_code;
            result.message = outcome.message;
            result.duration = outcome.duration;
            result.finished_at_ms = Some(outcome.finished_at_ms);
            result.tests = tests;
        }
    }
}

/// The moment a stopped step's process was gone, on the monotonic clock
/// for its duration and on the wall clock for its finish time.
type StoppedAt = (Instant, SystemTime);

/// Returns the failure strategy error type a step status matches, or
/// `None` for statuses no strategy handles (success, an interruption).
/// Returns whether `script` runs `exec` with a command as one of its own
/// commands (at the start of a line or after `;`, `&&` or `||`), which
/// replaces the shell before it records the output variables. `exec` with
/// redirections only, such as `exec 2>&1`, keeps the shell; redirections
/// before a command (`exec 2>&1 server`) do not.
fn replaces_shell(script: &str) -> bool {
    script
        .split(['\n', ';'])
        .flat_map(|part| part.split("&&"))
        .flat_map(|part| part.split("||"))
        .filter_map(|command| command.trim_start().strip_prefix("exec"))
        .filter_map(|rest| rest.strip_prefix([' ', '\t']))
        .any(|rest| {
            let mut words = rest.split_whitespace();
            while let Some(word) = words.next() {
                if !word.contains(['<', '>']) {
                    return true;
                }
                // An operator alone (`>`, `2>>`) takes the next word as
                // its target.
                if word
                    .trim_end_matches(['<', '>', '&'])
                    .chars()
                    .all(|c| c.is_ascii_digit())
                {
                    words.next();
                }
            }
            false
        })
}

fn failure_kind(status: Status) -> Option<&'static str> {
    match status {
        Status::Failed => Some("Unknown"),
        Status::Expired => Some("Timeout"),
        _ => None,
    }
}

/// Returns `4 services and 1 step` for the tasks a stage waits for.
fn count_tasks(services: usize, steps: usize) -> String {
    let plural = |count: usize, noun: &str| match count {
        1 => format!("1 {noun}"),
        _ => format!("{count} {noun}s"),
    };
    match (services, steps) {
        (0, steps) => plural(steps, "step"),
        (services, 0) => plural(services, "service"),
        (services, steps) => format!(
            "{} and {}",
            plural(services, "service"),
            plural(steps, "step")
        ),
    }
}

/// Formats a timeout for messages (`90s`, `2m`, `1m30s`).
pub fn humantime(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let millis = duration.subsec_millis();
    if seconds == 0 {
        return format!("{millis}ms");
    }
    match (seconds / 60, seconds % 60) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::{START_GATE_LINES, StartGate, mounted_path, replaces_shell};
    use std::sync::{Arc, Mutex};

    #[test]
    fn full_start_gate_keeps_order() {
        let printed = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&printed);
        let gate = StartGate::new(Arc::new(move |line: &str| {
            sink.lock().unwrap().push(line.to_string());
        }));

        for number in 0..START_GATE_LINES + 5 {
            gate.line(&number.to_string());
        }
        gate.open();
        gate.line("last");

        let mut expected: Vec<String> = (0..START_GATE_LINES + 5).map(|n| n.to_string()).collect();
        expected.push("last".to_string());
        assert_eq!(*printed.lock().unwrap(), expected);
    }

    #[test]
    fn exec_replacing_shell_found() {
        for script in [
            "export LATE=x\nexec sh -c 'echo $LATE'",
            "cd app && exec ./server --port 80",
            "true; exec\tpython3 app.py",
            "exec 2>&1 ./server",
            "exec > log.txt 2>&1 python3 app.py",
        ] {
            assert!(replaces_shell(script), "{script:?}");
        }
        for script in [
            "exec 2>&1\necho hi",
            "exec >log.txt",
            "exec > log.txt 2>&1",
            "exec 2> err.txt",
            "echo exec this",
            "executable=1",
            "exec",
        ] {
            assert!(!replaces_shell(script), "{script:?}");
        }
    }

    #[test]
    fn reserved_shared_paths_named() {
        for path in ["/basso", "/basso/outputs/"] {
            assert!(mounted_path(path).is_err(), "{path}");
        }
        // The resolution warns about these; the runner mounts nothing.
        for path in ["/", "/proc", "/dev/shm", "/sys", "/etc/hosts", "cache"] {
            assert_eq!(mounted_path(path), Ok(None), "{path}");
        }
        for (path, mounted) in [
            ("/etc", "/etc"),
            ("/var/run/", "/var/run"),
            (" /basso2", "/basso2"),
            ("/a/../procx", "/procx"),
        ] {
            assert_eq!(mounted_path(path), Ok(Some(mounted.to_string())), "{path}");
        }
        assert_eq!(mounted_path(" "), Ok(None));
    }
}
