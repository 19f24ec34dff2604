//! The executor interface: how the runner starts, waits for and stops the
//! process behind a step. The host executor runs processes on this machine;
//! a container executor implements the same traits with containerd tasks.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Receives a task's output, one line at a time, stdout and stderr merged.
/// Lines arrive without their line ending and before any masking.
pub type LogSink = Arc<dyn Fn(&str) + Send + Sync>;

/// The program of a task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Program {
    /// A `command` script run by a `shell`.
    Script {
        /// The interpreter.
        shell: Shell,
        /// The script text, secrets already substituted.
        script: String,
    },
    /// An `entrypoint` run as an argument vector, without a shell.
    Argv(Vec<String>),
}

/// The `shell` of a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shell {
    /// `Sh`: POSIX `sh`.
    Sh,
    /// `Bash`.
    Bash,
    /// `Python`: `python3`.
    Python,
    /// `Pwsh` and `Powershell`: PowerShell 7 (`pwsh`).
    Pwsh,
}

impl Shell {
    /// Parses a `shell` value as written in YAML; a missing value means `Sh`.
    pub fn parse(value: Option<&str>) -> Result<Shell, String> {
        match value {
            None | Some("Sh") | Some("") => Ok(Shell::Sh),
            Some("Bash") => Ok(Shell::Bash),
            Some("Python") => Ok(Shell::Python),
            Some("Pwsh") | Some("Powershell") => Ok(Shell::Pwsh),
            Some(other) => Err(format!(
                "unknown shell `{other}`; help: use `Sh`, `Bash`, `Python` or `Pwsh`"
            )),
        }
    }

    /// Returns the program that runs a script for this shell.
    pub fn program(self) -> &'static str {
        match self {
            Shell::Sh => "sh",
            Shell::Bash => "bash",
            Shell::Python => "python3",
            Shell::Pwsh => "pwsh",
        }
    }
}

/// Whether a task is a step the runner waits for or a detached service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskKind {
    /// A Run step: the runner waits for it to exit.
    Step,
    /// A Background step: started detached and stopped when the stage ends.
    Service,
}

/// Everything an executor needs to start one step.
#[derive(Clone, Debug)]
pub struct TaskSpec {
    /// The step identifier, used in logs and process names.
    pub step_id: String,
    /// Step or detached service.
    pub kind: TaskKind,
    /// The `image`; the host executor rejects tasks that name one.
    pub image: Option<String>,
    /// The program to run.
    pub program: Program,
    /// Environment variables, built-in ones included, secrets substituted.
    pub env: Vec<(String, String)>,
    /// The working directory (the workspace).
    pub workdir: PathBuf,
    /// `outputVariables` to capture after the script ends.
    pub output_variables: Vec<String>,
    /// The user id to run as, from `runAsUser`.
    pub user: Option<u32>,
    /// `portBindings` as (host port, container port).
    pub port_bindings: Vec<(u16, u16)>,
    /// `privileged`, for executors that can apply it.
    pub privileged: bool,
    /// `imagePullPolicy`, for executors that pull images.
    pub image_pull_policy: Option<String>,
    /// `connectorRef`, for executors that pull images.
    pub connector_ref: Option<String>,
    /// Memory limit in bytes, for executors that apply limits.
    pub memory_bytes: Option<u64>,
    /// CPU limit in millicores, for executors that apply limits.
    pub cpu_millis: Option<u64>,
    /// Names other steps reach this task by on the stage network; empty
    /// means the step id.
    pub host_names: Vec<String>,
    /// The stage's `sharedPaths`, each as a host folder and the absolute
    /// path it appears at, for executors that run containers.
    pub shared_paths: Vec<(PathBuf, String)>,
}

/// The end state of a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The process exited with this code.
    Code(i32),
    /// The process was ended by this signal number.
    Signal(i32),
}

impl Exit {
    /// Returns whether the task exited with code 0.
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Code(code) => write!(f, "exit code {code}"),
            Exit::Signal(signal) => write!(f, "signal {signal}"),
        }
    }
}

/// An executor failure: the task could not be started, waited for or stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecError(pub String);

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ExecError {}

/// A reason a step cannot run, found before anything starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The step setting at fault, as the YAML spells its key (`image`,
    /// `shell`, `portBindings`), or `None` when no one setting is.
    pub setting: Option<&'static str>,
    /// The key of the entry of `setting` at fault, such as the name of an
    /// `envVariables` entry, or `None` when the setting as a whole is.
    pub entry: Option<String>,
    /// One line, ending in `; help: ...` when there is a hint.
    pub message: String,
}

impl Problem {
    /// Creates a problem of the step as a whole.
    pub fn of_step(message: impl Into<String>) -> Self {
        Self {
            setting: None,
            entry: None,
            message: message.into(),
        }
    }

    /// Creates a problem of the step's `setting`.
    pub fn at(setting: &'static str, message: impl Into<String>) -> Self {
        Self {
            setting: Some(setting),
            entry: None,
            message: message.into(),
        }
    }

    /// Creates a problem of the entry with key `entry` in the step's
    /// `setting`.
    pub fn at_entry(setting: &'static str, entry: &str, message: impl Into<String>) -> Self {
        Self {
            setting: Some(setting),
            entry: Some(entry.to_string()),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The moment the tasks being stopped get SIGKILL: the end of the grace
/// period that started with their SIGTERM, or earlier once the flag given to
/// [`StopDeadline::or_when`] is set (a second Ctrl-C). Tasks stopped together
/// share one deadline, so they share one grace period.
#[derive(Clone, Debug)]
pub struct StopDeadline {
    at: Instant,
    kill_now: Arc<AtomicBool>,
}

impl StopDeadline {
    /// Returns the deadline `grace` from now.
    pub fn after(grace: Duration) -> StopDeadline {
        StopDeadline::or_when(grace, Arc::new(AtomicBool::new(false)))
    }

    /// Returns the deadline `grace` from now, which passes at once when
    /// `kill_now` is set.
    pub fn or_when(grace: Duration, kill_now: Arc<AtomicBool>) -> StopDeadline {
        // A grace period beyond what `Instant` can represent is cut to
        // u32::MAX seconds, about 136 years.
        let at = Instant::now()
            .checked_add(grace)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(u32::MAX.into()));
        StopDeadline { at, kill_now }
    }

    /// Returns whether the grace period is over.
    pub fn passed(&self) -> bool {
        self.kill_now.load(Ordering::SeqCst) || Instant::now() >= self.at
    }

    /// Returns the time left until the deadline, zero once it passed.
    pub fn remaining(&self) -> Duration {
        if self.kill_now.load(Ordering::SeqCst) {
            return Duration::ZERO;
        }
        self.at.saturating_duration_since(Instant::now())
    }
}

/// The moment an executor gives up starting a task, such as pulling its
/// image. It is the first to pass of the step's own `timeout`, its stage's
/// and the pipeline's, and it passes at once when the run is cancelled
/// (Ctrl-C, SIGTERM, an `Abort` failure strategy). The runner then records
/// the step as it records a running step stopped for the same reason.
#[derive(Clone, Debug)]
pub struct StartDeadline {
    at: Option<Instant>,
    cancel: Arc<AtomicBool>,
}

impl StartDeadline {
    /// Returns the deadline `at`, or none without a time limit, which
    /// passes at once when `cancel` is set.
    pub fn new(at: Option<Instant>, cancel: Arc<AtomicBool>) -> StartDeadline {
        StartDeadline { at, cancel }
    }

    /// Returns a deadline that never passes, for starts outside a run.
    pub fn never() -> StartDeadline {
        StartDeadline::new(None, Arc::new(AtomicBool::new(false)))
    }

    /// Returns whether the run was cancelled.
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    /// Returns whether the deadline passed or the run was cancelled.
    pub fn passed(&self) -> bool {
        self.cancelled() || self.at.is_some_and(|at| Instant::now() >= at)
    }

    /// Returns the time left until the deadline, zero once it passed, or
    /// `None` when it has no time limit and the run was not cancelled.
    pub fn remaining(&self) -> Option<Duration> {
        if self.cancelled() {
            return Some(Duration::ZERO);
        }
        self.at
            .map(|at| at.saturating_duration_since(Instant::now()))
    }
}

/// Starts tasks. One executor serves a whole run and may be shared by the
/// threads that run `parallel` steps.
pub trait Executor: Send + Sync {
    /// Returns the executor's name for logs (`host`, `containerd`).
    fn name(&self) -> &'static str;

    /// Returns whether the executor runs steps that name an `image`.
    fn runs_images(&self) -> bool;

    /// Lists the reasons this executor cannot run `spec`, before anything
    /// starts (a missing interpreter, a port binding it cannot honour).
    fn check(&self, spec: &TaskSpec) -> Vec<Problem>;

    /// Starts a task. `logs` receives every output line until the task ends.
    /// A [`TaskKind::Service`] is started detached: the call returns once the
    /// process runs. A start that waits on something outside basso, such as
    /// an image pull, returns an error once `deadline` passes.
    fn start(
        &self,
        spec: TaskSpec,
        logs: LogSink,
        deadline: &StartDeadline,
    ) -> Result<Box<dyn Task>, ExecError>;

    /// Releases what the executor set up for a stage (networks, snapshots)
    /// after the runner stopped the stage's tasks. The host executor has
    /// nothing to release.
    fn end_stage(&self, _grace: Duration) -> Result<(), ExecError> {
        Ok(())
    }
}

/// A started task. Dropping a task that still runs stops it.
pub trait Task: Send {
    /// The process id of the task's main process, where there is one.
    fn pid(&self) -> Option<u32>;

    /// Waits at most `timeout` for the task to end. Returns `None` while it
    /// still runs. Once the task ended, all its output has reached the sink.
    fn wait(&mut self, timeout: Duration) -> Result<Option<Exit>, ExecError>;

    /// Stops the task and everything it started: SIGTERM (or the runtime's
    /// equivalent), then SIGKILL once `deadline` passes. Returns how the main
    /// process ended; stopping a task that already ended returns its exit.
    /// The runner stops several tasks at once from several threads with one
    /// deadline, so the call must not hold a lock that other tasks need
    /// while it waits.
    fn stop(&mut self, deadline: &StopDeadline) -> Result<Exit, ExecError>;

    /// Reads the captured `outputVariables` after the task ended. Variables
    /// the script never set are absent.
    fn outputs(&mut self) -> Result<BTreeMap<String, String>, ExecError>;

    /// Returns whether the service behind the port binding with host port
    /// `host_port` accepts TCP connections, as the executor checks it, or
    /// `None` when the executor has no check of its own. The runner then
    /// connects to `127.0.0.1:host_port`, which reaches a host process
    /// directly but only a forwarder for a container.
    fn accepts_connections(&self, _host_port: u16) -> Option<bool> {
        None
    }

    /// Returns a hint for a service that did not become ready on the port
    /// binding with host port `host_port`, when the executor can tell why,
    /// or `None`.
    fn readiness_hint(&self, _host_port: u16) -> Option<String> {
        None
    }
}
