//! Runs one stage of containers from a JSON file: the test and benchmark
//! driver of the container executor, without the pipeline layer.
//!
//! ```text
//! basso-container-stage --address SOCKET [--namespace NS] STAGE.json
//! ```
//!
//! STAGE.json: `{"workspace": "DIR", "steps": [STEP, ...]}`, where STEP is
//! `{"id": "web", "image": "busybox", "command": "httpd -f", "service": true,
//! "portBindings": [[18080, 80]], "memoryBytes": 67108864, "cpuMillis": 500,
//! "runAsUser": 1000, "privileged": false, "imagePullPolicy": "Never"}`.
//! Services start in order and keep running; steps run one after another.
//! The run id goes to stdout first, then `started ID` and `exited ID STATUS`
//! lines, and the steps' output. SIGINT or SIGTERM ends the stage, removes
//! everything and exits with 130.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use basso_containerd::{ContainerExecutor, ContainerStep, ExecutorConfig, Program};
use nix::sys::signal::{SigSet, Signal};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Stage {
    workspace: PathBuf,
    steps: Vec<StepFile>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StepFile {
    id: String,
    image: String,
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    service: bool,
    #[serde(default)]
    port_bindings: Vec<(u16, u16)>,
    #[serde(default)]
    memory_bytes: Option<i64>,
    #[serde(default)]
    cpu_millis: Option<u64>,
    #[serde(default)]
    run_as_user: Option<u32>,
    #[serde(default)]
    privileged: bool,
    #[serde(default)]
    image_pull_policy: Option<String>,
}

impl StepFile {
    fn to_step(&self, workspace: &std::path::Path) -> ContainerStep {
        let program = match &self.command {
            Some(script) => Program::Script {
                shell: "sh".to_string(),
                script: script.clone(),
            },
            None => Program::ImageDefault,
        };
        let mut step = ContainerStep::new(&self.id, &self.image, program, workspace.to_path_buf());
        step.service = self.service;
        step.port_bindings = self.port_bindings.clone();
        step.memory_bytes = self.memory_bytes;
        step.cpu_millis = self.cpu_millis;
        step.run_as_user = self.run_as_user;
        step.privileged = self.privileged;
        step.image_pull_policy = self.image_pull_policy.clone();
        step
    }
}

fn usage(message: &str) -> ExitCode {
    eprintln!(
        "error: {message}\nusage: basso-container-stage --address SOCKET [--namespace NS] STAGE.json"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut address = None;
    let mut namespace = basso_containerd::DEFAULT_NAMESPACE.to_string();
    let mut stage_path = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--address" => address = args.next().map(PathBuf::from),
            "--namespace" => namespace = args.next().unwrap_or_default(),
            _ => stage_path = Some(PathBuf::from(arg)),
        }
    }
    let (Some(address), Some(stage_path)) = (address, stage_path) else {
        return usage("missing --address or STAGE.json");
    };
    let stage: Stage = match std::fs::read_to_string(&stage_path)
        .map_err(|error| error.to_string())
        .and_then(|text| serde_json::from_str(&text).map_err(|error| error.to_string()))
    {
        Ok(stage) => stage,
        Err(error) => {
            return usage(&format!(
                "invalid stage file `{}`: {error}",
                stage_path.display()
            ));
        }
    };

    // Block SIGINT and SIGTERM before any thread starts, so every thread
    // inherits the mask and only the waiting thread below receives them.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    if signals.thread_block().is_err() {
        return usage("cannot block SIGINT and SIGTERM");
    }

    let mut config = ExecutorConfig::new(&address);
    config.namespace = namespace;
    let state_dir = std::env::temp_dir().join(format!("basso-stage-{}", std::process::id()));
    config.state_dir = state_dir.clone();
    let executor = match ContainerExecutor::connect(config) {
        Ok(executor) => Arc::new(executor),
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    println!("{}", executor.run_id());

    let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let on_signal = Arc::clone(&executor);
    let signal_seen = Arc::clone(&interrupted);
    let signal_state_dir = state_dir.clone();
    std::thread::spawn(move || {
        if signals.wait().is_ok() {
            signal_seen.store(true, std::sync::atomic::Ordering::SeqCst);
            if let Err(error) = on_signal.end_stage(Duration::from_secs(5)) {
                eprintln!("error: cleanup after the signal failed: {error}");
            }
            remove_state_dir(&signal_state_dir);
            std::process::exit(130);
        }
    });

    let code = run_stage(&executor, &stage);
    let ended = executor.end_stage(Duration::from_secs(5));
    if interrupted.load(std::sync::atomic::Ordering::SeqCst) {
        // The signal thread cleans up and exits with 130.
        loop {
            std::thread::park();
        }
    }
    remove_state_dir(&state_dir);
    if let Err(error) = ended {
        eprintln!("error: {error}");
        return ExitCode::from(1);
    }
    ExitCode::from(code)
}

/// Removes the driver's state folder (hosts files and raw container logs)
/// once its stage has ended.
fn remove_state_dir(state_dir: &std::path::Path) {
    if let Err(error) = std::fs::remove_dir_all(state_dir)
        && error.kind() != std::io::ErrorKind::NotFound
    {
        eprintln!("error: cannot remove `{}`: {error}", state_dir.display());
    }
}

fn run_stage(executor: &ContainerExecutor, stage: &Stage) -> u8 {
    let sink: basso_containerd::LogSink = Arc::new(|line: &str| println!("{line}"));
    let mut services = Vec::new();
    for step_file in &stage.steps {
        let step = step_file.to_step(&stage.workspace);
        let mut task = match executor.start(&step, Arc::clone(&sink)) {
            Ok(task) => task,
            Err(error) => {
                eprintln!("error: step `{}`: {error}", step.step_id);
                return 1;
            }
        };
        println!("started {}", step.step_id);
        if step.service {
            services.push(task);
            continue;
        }
        match task.wait(Duration::from_secs(24 * 3600)) {
            Ok(Some(exit)) => {
                println!("exited {} {}", step.step_id, exit.status);
                if !exit.success() {
                    eprintln!("error: step `{}`: {}", step.step_id, exit.describe());
                    return 1;
                }
            }
            Ok(None) => return 1,
            Err(error) => {
                eprintln!("error: step `{}`: {error}", step.step_id);
                return 1;
            }
        }
    }
    0
}
