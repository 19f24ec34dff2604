//! Helpers shared by the integration tests: plan builders, a small
//! expression stand-in and a run wrapper that captures the console.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use basso_runner::*;

/// Replaces `<+steps.ID.output.outputVariables.NAME>` with the value
/// captured so far; enough for tests, the CLI uses the real engine.
pub struct OutputLookup;

impl Expressions for OutputLookup {
    fn prepare(&self, step: &StepPlan, state: &RunState) -> Result<StepPlan, String> {
        let mut step = step.clone();
        let substitute = |text: &str| -> String {
            let mut text = text.to_string();
            if let Some(stage) = state.current() {
                for (path, record) in &stage.steps {
                    for (name, value) in &record.output_variables {
                        let reference = format!("<+steps.{path}.output.outputVariables.{name}>");
                        text = text.replace(&reference, value);
                    }
                }
            }
            text
        };
        step.spec.command = step.spec.command.as_deref().map(substitute);
        for (_, value) in &mut step.spec.env {
            *value = substitute(value);
        }
        Ok(step)
    }

    fn condition(
        &self,
        condition: &str,
        _: Option<basso_core::Span>,
        stage: &str,
        _: Option<&StepPlan>,
        _: &RunState,
    ) -> Result<bool, String> {
        LiteralExpressions.condition(condition, None, stage, None, &RunState::default())
    }
}

pub fn run_step(id: &str, command: &str) -> StepPlan {
    StepPlan {
        id: id.into(),
        name: id.into(),
        step_type: "Run".into(),
        spec: StepSpec {
            command: Some(command.into()),
            ..StepSpec::default()
        },
        ..StepPlan::default()
    }
}

pub fn service(id: &str, command: &str, port: Option<u16>) -> StepPlan {
    let mut step = run_step(id, command);
    step.step_type = "Background".into();
    if let Some(port) = port {
        step.spec.port_bindings = vec![PortBinding {
            host: port.to_string(),
            container: port.to_string(),
        }];
    }
    step
}

pub fn stage(nodes: Vec<Node>) -> StagePlan {
    StagePlan {
        id: "build".into(),
        name: "build".into(),
        nodes,
        ..StagePlan::default()
    }
}

pub fn node(step: StepPlan) -> Node {
    Node::Step(Box::new(step))
}

/// A finished run: the summary, everything printed, and the folders used.
pub struct Outcome {
    pub summary: RunSummary,
    pub console: String,
    pub workspace: tempfile::TempDir,
    pub scratch: PathBuf,
}

impl Outcome {
    pub fn step(&self, id: &str) -> &StepResult {
        self.summary.stages[0]
            .steps
            .iter()
            .find(|step| step.id == id)
            .unwrap_or_else(|| panic!("no result for step `{id}`:\n{}", self.console))
    }

    pub fn stage_status(&self) -> Status {
        self.summary.stages[0].status
    }
}

pub struct Setup {
    pub secrets: Secrets,
    pub readiness_timeout: Duration,
    pub wait_for_ports: bool,
    pub pipeline_timeout: Option<Duration>,
    /// The workspace's mode. `basso run` uses 0777 for runs with steps
    /// that set `runAsUser` and 0700 for others; `None` keeps the mode of
    /// the temporary folder.
    pub workspace_mode: Option<u32>,
    /// The time between SIGTERM and SIGKILL.
    pub stop_grace: Duration,
    /// The run's cancel flag, as Ctrl-C sets it.
    pub cancel: Arc<AtomicBool>,
    /// The flag that ends the grace period at once, as a second Ctrl-C
    /// sets it.
    pub kill_now: Arc<AtomicBool>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            secrets: Secrets::new(),
            readiness_timeout: Duration::from_secs(20),
            wait_for_ports: true,
            pipeline_timeout: None,
            workspace_mode: None,
            stop_grace: Duration::from_secs(2),
            cancel: Arc::new(AtomicBool::new(false)),
            kill_now: Arc::new(AtomicBool::new(false)),
        }
    }
}

pub fn run(stages: Vec<StagePlan>) -> Outcome {
    run_with(stages, Setup::default())
}

pub fn run_with(stages: Vec<StagePlan>, setup: Setup) -> Outcome {
    let workspace = tempfile::tempdir().unwrap();
    if let Some(mode) = setup.workspace_mode {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::Permissions::from_mode(mode);
        std::fs::set_permissions(workspace.path(), mode).unwrap();
    }
    let scratch = workspace.path().join(".basso-scripts");
    let executor = HostExecutor::new(&scratch).unwrap();
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let console = Arc::new(Console::memory(buffer.clone()));
    let mut options = RunOptions::new(workspace.path().to_path_buf());
    options.readiness_timeout = setup.readiness_timeout;
    options.wait_for_ports = setup.wait_for_ports;
    options.pipeline_timeout = setup.pipeline_timeout;
    options.stop_grace = setup.stop_grace;

    let summary = {
        let _guard = LogCapture::install(console.clone());
        let runner = Runner::new(
            &executor,
            &OutputLookup,
            console,
            setup.secrets,
            options,
            setup.cancel,
        )
        .with_kill_now(setup.kill_now);
        runner.run(&stages)
    };
    drop(executor);
    let console = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
    Outcome {
        summary,
        console,
        workspace,
        scratch,
    }
}

/// Routes `tracing` events of the current thread into the console, the way
/// the CLI routes them to stderr.
struct LogCapture(tracing::subscriber::DefaultGuard);

impl LogCapture {
    fn install(console: Arc<Console>) -> LogCapture {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || ConsoleWriter(console.clone()))
            .with_ansi(false)
            .without_time()
            .finish();
        LogCapture(tracing::subscriber::set_default(subscriber))
    }
}

struct ConsoleWriter(Arc<Console>);

impl std::io::Write for ConsoleWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.write_text(&String::from_utf8_lossy(bytes));
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Returns whether a process with this id still runs. A zombie, which has
/// exited and only waits to be reaped, does not: once its parent is gone,
/// the init process reaps it, which may take a second or more.
pub fn process_runs(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rfind(')')
        .and_then(|end| stat[end + 1..].split_ascii_whitespace().next());
    !matches!(state, Some("Z" | "X" | "x"))
}
