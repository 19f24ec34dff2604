//! The container executor behind the runner's [`basso_runner::Executor`]
//! trait, and [`StageExecutor`], which sends steps with an image to
//! containerd and the others to the host executor, so a stage may mix both.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use basso_runner::{
    ExecError, Executor, Exit, LogSink, Problem, Shell, StartDeadline, StopDeadline, Task,
    TaskKind, TaskSpec,
};

use crate::executor::{ContainerExecutor, ContainerTask, ExecutorConfig};
use crate::task::{ContainerExit, ContainerStep, Program};

/// Runs steps that name an image as containerd tasks.
pub struct ContainerdExecutor {
    executor: ContainerExecutor,
}

impl ContainerdExecutor {
    /// Connects to the containerd socket and namespace in `config`.
    pub fn connect(config: ExecutorConfig) -> Result<ContainerdExecutor, ExecError> {
        ContainerExecutor::connect(config)
            .map(|executor| ContainerdExecutor { executor })
            .map_err(|error| ExecError(error.to_string()))
    }

    /// The executor underneath.
    pub fn inner(&self) -> &ContainerExecutor {
        &self.executor
    }

    /// Removes the stage's containers and network (SIGTERM, SIGKILL after
    /// `grace`).
    pub fn finish_stage(&self, grace: Duration) -> Result<(), ExecError> {
        self.executor
            .end_stage(grace)
            .map_err(|error| ExecError(error.to_string()))
    }
}

/// Converts the runner's task into container settings.
pub fn container_step(spec: &TaskSpec) -> Result<ContainerStep, ExecError> {
    let Some(image) = &spec.image else {
        return Err(ExecError(format!(
            "step `{}` names no image, so the containerd executor cannot run it",
            spec.step_id
        )));
    };
    let program = match &spec.program {
        basso_runner::Program::Script { shell, script } => Program::Script {
            shell: shell.program().to_string(),
            script: script.clone(),
        },
        basso_runner::Program::Argv(argv) if argv.is_empty() => Program::ImageDefault,
        basso_runner::Program::Argv(argv) => Program::Entrypoint(argv.clone()),
    };
    let mut step = ContainerStep::new(&spec.step_id, image, program, spec.workdir.clone());
    step.service = spec.kind == TaskKind::Service;
    step.image_pull_policy = spec.image_pull_policy.clone();
    step.env = container_env(&spec.env, &spec.workdir);
    step.run_as_user = spec.user;
    step.privileged = spec.privileged;
    step.port_bindings = spec.port_bindings.clone();
    step.connector_ref = spec.connector_ref.clone();
    step.memory_bytes = spec
        .memory_bytes
        .map(|bytes| i64::try_from(bytes).unwrap_or(i64::MAX));
    step.cpu_millis = spec.cpu_millis;
    step.shared_paths = spec.shared_paths.clone();
    if !spec.host_names.is_empty() {
        step.host_names = spec.host_names.clone();
    }
    Ok(step)
}

/// Returns the task's environment with the workspace variables that name
/// the host workspace set to its mount point inside the container. A value
/// the step sets itself in `envVariables` stays.
fn container_env(env: &[(String, String)], host_workspace: &Path) -> Vec<(String, String)> {
    let host_workspace = host_workspace.display().to_string();
    env.iter()
        .map(|(name, value)| {
            let workspace_variable =
                matches!(name.as_str(), "HARNESS_WORKSPACE" | "DRONE_WORKSPACE");
            if workspace_variable && *value == host_workspace {
                (name.clone(), crate::executor::WORKSPACE_MOUNT.to_string())
            } else {
                (name.clone(), value.clone())
            }
        })
        .collect()
}

impl Executor for ContainerdExecutor {
    fn name(&self) -> &'static str {
        "containerd"
    }

    fn end_stage(&self, grace: Duration) -> Result<(), ExecError> {
        self.finish_stage(grace)
    }

    fn runs_images(&self) -> bool {
        true
    }

    fn check(&self, spec: &TaskSpec) -> Vec<Problem> {
        let mut problems = Vec::new();
        if spec.image.is_none() {
            problems.push(Problem::of_step(format!(
                "step `{}` names no image, so the containerd executor cannot run it",
                spec.step_id
            )));
        }
        let pwsh = matches!(
            spec.program,
            basso_runner::Program::Script {
                shell: basso_runner::Shell::Pwsh,
                ..
            }
        );
        // A `connectorRef` that reads a run-time value, such as an earlier
        // step's output, reads as `null` before the run and gets its value
        // when its step starts, which checks it then.
        // NOTE: a run-time value inside other text (`reg_<+…>`) is checked
        // here as written with `null`, and fails.
        if let Some(connector_ref) = spec.connector_ref.as_deref().map(str::trim)
            && !matches!(connector_ref, "" | "null")
            && let Err(error) = self.executor.check_connector(connector_ref)
        {
            // One line, as every problem of the list that `basso run`
            // prints before it starts.
            let error = error.to_string().replace("\nhelp: ", "; help: ");
            problems.push(Problem::at(
                "connectorRef",
                format!("step `{}`: {error}", spec.step_id),
            ));
        }
        let argv = matches!(spec.program, basso_runner::Program::Argv(_));
        if !spec.output_variables.is_empty() && (pwsh || argv) {
            problems.push(Problem::at(
                "outputVariables",
                format!(
                    "step `{}`: outputVariables are captured from `Sh`, `Bash` and `Python` \
                     scripts in containers only; \
                     help: use one of those shells, or run the step on the host",
                    spec.step_id
                ),
            ));
        }
        problems
    }

    fn start(
        &self,
        spec: TaskSpec,
        logs: LogSink,
        deadline: &StartDeadline,
    ) -> Result<Box<dyn Task>, ExecError> {
        let mut step = container_step(&spec)?;
        let outputs = OutputFiles::create(&spec, &mut step, self.executor.state_dir())?;
        let interpreter = match &spec.program {
            basso_runner::Program::Script { shell, .. } => Some(MissingInterpreter::new(
                *shell,
                spec.image.clone().unwrap_or_default(),
            )),
            basso_runner::Program::Argv(_) => None,
        };
        let sink: crate::LogSink = match &interpreter {
            Some(interpreter) => interpreter.watch(Arc::clone(&logs)),
            None => Arc::clone(&logs) as crate::LogSink,
        };
        let task = self
            .executor
            .start_by(&step, sink, deadline)
            .map_err(|error| ExecError(format!("step `{}`: {error}", spec.step_id)))?;
        Ok(Box::new(RunnerTask {
            task,
            logs,
            reported: false,
            interpreter,
            outputs,
        }))
    }
}

struct RunnerTask {
    task: ContainerTask,
    logs: LogSink,
    /// Whether the exit has been explained in the log.
    reported: bool,
    interpreter: Option<MissingInterpreter>,
    outputs: OutputFiles,
}

/// The check for a script shell's program that the image lacks. tini, the
/// container's PID 1, then prints
/// `[FATAL tini (7)] exec python3 failed: No such file or directory` and
/// exits with 127, the status that a script also gets for a command it
/// cannot find.
struct MissingInterpreter {
    shell: Shell,
    image: String,
    seen: Arc<AtomicBool>,
}

impl MissingInterpreter {
    fn new(shell: Shell, image: String) -> MissingInterpreter {
        MissingInterpreter {
            shell,
            image,
            seen: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Returns a sink that passes every line on to `logs` and records tini's
    /// line about the shell's program.
    fn watch(&self, logs: LogSink) -> crate::LogSink {
        let marker = format!(
            "exec {} failed: No such file or directory",
            self.shell.program()
        );
        let seen = Arc::clone(&self.seen);
        Arc::new(move |line: &str| {
            if line.starts_with("[FATAL tini") && line.ends_with(&marker) {
                seen.store(true, Ordering::SeqCst);
            }
            logs(line)
        })
    }

    /// Returns the explanation of an exit with `status`, when tini reported
    /// the shell's program missing.
    fn explain(&self, status: u32) -> Option<String> {
        (status == 127 && self.seen.load(Ordering::SeqCst)).then(|| {
            format!(
                "image `{}` has no `{}`, which `shell: {:?}` runs scripts with; help: use an image that has it, or another `shell`",
                self.image,
                self.shell.program(),
                self.shell
            )
        })
    }
}

/// The folder where a container step's script writes its `outputVariables`,
/// one file per variable.
struct OutputFiles {
    step_id: String,
    host_dir: Option<tempfile::TempDir>,
    names: Vec<String>,
}

impl OutputFiles {
    /// Creates the folder and wraps the step's script so that it writes the
    /// variables when it ends. Scripts run with errexit, as on the host.
    ///
    /// Places the folder, new and with a random name, inside `state_dir`,
    /// which only root can enter and no container mounts, so no step can
    /// place a link where basso creates or changes it.
    fn create(
        spec: &TaskSpec,
        step: &mut ContainerStep,
        state_dir: &Path,
    ) -> Result<OutputFiles, ExecError> {
        let Program::Script { shell, script } = &mut step.program else {
            return Ok(OutputFiles {
                step_id: spec.step_id.clone(),
                host_dir: None,
                names: Vec::new(),
            });
        };
        let host_dir = if spec.output_variables.is_empty() {
            None
        } else {
            let dir = tempfile::Builder::new()
                .prefix("outputs-")
                .tempdir_in(state_dir)
                .map_err(|error| {
                    ExecError(format!(
                        "step `{}`: cannot create an output folder in `{}`: {error}",
                        spec.step_id,
                        state_dir.display()
                    ))
                })?;
            // A step with runAsUser must be able to write here.
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).map_err(
                |error| {
                    ExecError(format!(
                        "step `{}`: cannot make `{}` writable for the step's user: {error}",
                        spec.step_id,
                        dir.path().display()
                    ))
                },
            )?;
            step.output_dir = Some(dir.path().to_path_buf());
            Some(dir)
        };
        *script = wrap_script(
            shell,
            script,
            &spec.output_variables,
            crate::executor::OUTPUTS_MOUNT,
        );
        Ok(OutputFiles {
            step_id: spec.step_id.clone(),
            host_dir,
            names: spec.output_variables.clone(),
        })
    }

    fn read(&self) -> BTreeMap<String, String> {
        match &self.host_dir {
            Some(dir) => {
                basso_runner::host::read_output_files(&self.step_id, dir.path(), &self.names)
            }
            None => BTreeMap::new(),
        }
    }
}

/// Returns the script with errexit for `sh` and `bash`, and with code that
/// writes each output variable to a file in `dir` when the script ends.
///
/// An `sh` or `bash` script also sends its stderr to its stdout, so that the
/// log shows its lines in the order it wrote them, as for a host step. The
/// shim copies the two streams on their own, so their lines would interleave
/// at random. Both go in front of the script's first line, so the shell's
/// messages give the line numbers of `command`.
fn wrap_script(shell: &str, script: &str, outputs: &[String], dir: &str) -> String {
    match shell {
        "sh" | "bash" => {
            let (before, after) = basso_runner::host::shell_output_writer(outputs, dir);
            format!(
                "{before}set -e; exec 2>&1; {}{after}",
                basso_runner::host::with_final_newline(script)
            )
        }
        "python3" if !outputs.is_empty() => {
            let writer = basso_runner::host::python_output_writer(outputs, dir);
            basso_runner::host::with_python_writer(script, &writer)
        }
        _ => format!("{script}\n"),
    }
}

impl RunnerTask {
    /// Maps an exit, sending the explanation of an OOM kill or of a missing
    /// shell program to the log once.
    fn exit(&mut self, exit: ContainerExit) -> Exit {
        if !self.reported {
            let explanation = if exit.oom_killed {
                Some(exit.describe())
            } else {
                self.interpreter
                    .as_ref()
                    .and_then(|interpreter| interpreter.explain(exit.status))
            };
            if let Some(explanation) = explanation {
                self.reported = true;
                (self.logs)(&format!("basso: {explanation}"));
            }
        }
        Exit::Code(exit.status as i32)
    }
}

impl Task for RunnerTask {
    fn pid(&self) -> Option<u32> {
        Some(self.task.pid())
    }

    fn wait(&mut self, timeout: Duration) -> Result<Option<Exit>, ExecError> {
        let ended = self
            .task
            .wait(timeout)
            .map_err(|error| ExecError(error.to_string()))?;
        Ok(ended.map(|exit| self.exit(exit)))
    }

    fn stop(&mut self, deadline: &StopDeadline) -> Result<Exit, ExecError> {
        let exit = self
            .task
            .stop_by(deadline)
            .map_err(|error| ExecError(error.to_string()))?;
        Ok(self.exit(exit))
    }

    fn outputs(&mut self) -> Result<BTreeMap<String, String>, ExecError> {
        Ok(self.outputs.read())
    }

    fn accepts_connections(&self, host_port: u16) -> Option<bool> {
        self.task.accepts_connections(host_port)
    }

    fn readiness_hint(&self, host_port: u16) -> Option<String> {
        let container_port = self.task.own_loopback_port(host_port)?;
        Some(format!(
            "the service accepts connections on 127.0.0.1:{container_port} inside its container only, where other steps cannot reach it; make it listen on 0.0.0.0"
        ))
    }
}

impl Drop for RunnerTask {
    fn drop(&mut self) {
        // The trait's contract: dropping a running task stops it.
        if matches!(self.task.wait(Duration::ZERO), Ok(None)) {
            let _ = self.task.stop(Duration::from_secs(2));
        }
    }
}

/// Sends each step to the executor that can run it: steps with an image to
/// containerd, the others to the host executor.
pub struct StageExecutor {
    host: Box<dyn Executor>,
    containers: ContainerdExecutor,
}

impl StageExecutor {
    /// Combines a host executor with a containerd executor.
    pub fn new(host: Box<dyn Executor>, containers: ContainerdExecutor) -> StageExecutor {
        StageExecutor { host, containers }
    }

    /// The containerd side.
    pub fn containers(&self) -> &ContainerdExecutor {
        &self.containers
    }

    fn pick(&self, spec: &TaskSpec) -> &dyn Executor {
        if spec.image.is_some() {
            &self.containers
        } else {
            self.host.as_ref()
        }
    }
}

impl Executor for StageExecutor {
    fn name(&self) -> &'static str {
        "host+containerd"
    }

    fn runs_images(&self) -> bool {
        true
    }

    fn check(&self, spec: &TaskSpec) -> Vec<Problem> {
        self.pick(spec).check(spec)
    }

    fn start(
        &self,
        spec: TaskSpec,
        logs: LogSink,
        deadline: &StartDeadline,
    ) -> Result<Box<dyn Task>, ExecError> {
        self.pick(&spec).start(spec, logs, deadline)
    }

    /// Ends the stage on both executors; the containerd failure comes first
    /// when both fail.
    fn end_stage(&self, grace: Duration) -> Result<(), ExecError> {
        let containers = self.containers.finish_stage(grace);
        let host = self.host.end_stage(grace);
        containers.and(host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(image: Option<&str>, program: basso_runner::Program) -> TaskSpec {
        TaskSpec {
            step_id: "s".into(),
            kind: TaskKind::Service,
            image: image.map(str::to_string),
            program,
            env: vec![("A".into(), "1".into())],
            workdir: ".".into(),
            output_variables: Vec::new(),
            user: Some(1000),
            port_bindings: vec![(18080, 80)],
            privileged: true,
            image_pull_policy: Some("Never".into()),
            connector_ref: Some("registry".into()),
            memory_bytes: Some(64 << 20),
            cpu_millis: Some(500),
            host_names: vec!["group_s".into()],
            shared_paths: vec![("/tmp/shared-0".into(), "/var/run".into())],
        }
    }

    #[test]
    fn script_maps_to_shell_program() {
        let program = basso_runner::Program::Script {
            shell: basso_runner::Shell::Bash,
            script: "echo hi".into(),
        };
        let step = container_step(&spec(Some("busybox"), program)).unwrap();
        assert_eq!(
            step.program,
            Program::Script {
                shell: "bash".into(),
                script: "echo hi".into()
            }
        );
        assert!(step.service);
        assert_eq!(step.run_as_user, Some(1000));
        assert_eq!(step.port_bindings, [(18080, 80)]);
        assert!(step.privileged);
    }

    #[test]
    fn limits_connector_and_host_names_map() {
        let program = basso_runner::Program::Argv(vec!["echo".into()]);
        let step = container_step(&spec(Some("busybox"), program)).unwrap();
        assert_eq!(step.memory_bytes, Some(64 << 20));
        assert_eq!(step.cpu_millis, Some(500));
        assert_eq!(step.connector_ref.as_deref(), Some("registry"));
        assert_eq!(step.host_names, ["group_s"]);
        let shared = [(
            std::path::PathBuf::from("/tmp/shared-0"),
            "/var/run".to_string(),
        )];
        assert_eq!(step.shared_paths, shared);
    }

    #[test]
    fn workspace_variables_name_mount_point() {
        let program = basso_runner::Program::Argv(vec!["echo".into()]);
        let mut task = spec(Some("busybox"), program);
        task.workdir = "/tmp/run-1/workspace".into();
        task.env = vec![
            ("HARNESS_WORKSPACE".into(), "/tmp/run-1/workspace".into()),
            ("DRONE_WORKSPACE".into(), "/tmp/run-1/workspace".into()),
            ("HARNESS_WORKSPACE".into(), "/custom".into()),
            ("OTHER".into(), "/tmp/run-1/workspace".into()),
        ];
        let step = container_step(&task).unwrap();
        assert_eq!(step.env[0], ("HARNESS_WORKSPACE".into(), "/harness".into()));
        assert_eq!(step.env[1], ("DRONE_WORKSPACE".into(), "/harness".into()));
        assert_eq!(step.env[2], ("HARNESS_WORKSPACE".into(), "/custom".into()));
        assert_eq!(step.env[3], ("OTHER".into(), "/tmp/run-1/workspace".into()));
    }

    #[test]
    fn step_id_is_host_name_by_default() {
        let program = basso_runner::Program::Argv(vec!["echo".into()]);
        let mut task = spec(Some("busybox"), program);
        task.host_names.clear();
        let step = container_step(&task).unwrap();
        assert_eq!(step.host_names, ["s"]);
    }

    #[test]
    fn argv_maps_to_entrypoint() {
        let program = basso_runner::Program::Argv(vec!["echo".into()]);
        let step = container_step(&spec(Some("busybox"), program)).unwrap();
        assert_eq!(step.program, Program::Entrypoint(vec!["echo".into()]));
    }

    #[test]
    fn step_without_image_is_rejected() {
        let program = basso_runner::Program::Argv(vec!["echo".into()]);
        let error = container_step(&spec(None, program)).unwrap_err();
        assert!(error.0.contains("names no image"), "{}", error.0);
    }

    /// The wrapped script runs here under the host's `sh`, as it would in
    /// the container: a script with its own `EXIT` trap keeps its outputs.
    #[test]
    fn wrapped_script_writes_outputs_despite_user_trap() {
        let dir = std::env::temp_dir().join(format!("basso-wrap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = "trap 'echo cleanup' EXIT\nexport TAG=v1";
        let text = wrap_script("sh", script, &["TAG".into()], dir.to_str().unwrap());

        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(&text)
            .output()
            .unwrap();
        let tag = std::fs::read_to_string(dir.join("TAG"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(output.status.success(), "{output:?}");
        assert_eq!(tag.unwrap(), "v1");
    }

    /// The shell's messages give the line numbers of `command`, with and
    /// without output variables.
    #[test]
    fn wrapped_script_keeps_line_numbers() {
        let script = "true\n# a comment\nbasso_no_such_command_x";
        for outputs in [vec![], vec!["TAG".to_string()]] {
            let text = wrap_script("sh", script, &outputs, "/nonexistent");
            let output = std::process::Command::new("sh")
                .arg("-c")
                .arg(&text)
                .output()
                .unwrap();
            // `exec 2>&1` sends the message to stdout.
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(!output.status.success(), "{output:?}");
            assert!(
                stdout.contains(": 3: basso_no_such_command_x"),
                "{outputs:?}: {output:?}"
            );
        }
    }
}
