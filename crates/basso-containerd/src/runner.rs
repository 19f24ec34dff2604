//! The container executor behind the runner's [`basso_runner::Executor`]
//! trait, and [`StageExecutor`], which sends steps with an image to
//! containerd and the others to the host executor, so a stage may mix both.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use basso_runner::{ExecError, Executor, Exit, LogSink, Task, TaskKind, TaskSpec};

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
// NOTE: TaskSpec carries no connectorRef, resource limits or step group, so
// steps started through this trait pull anonymously, run without cgroup
// limits and are reachable by their step id only.
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
    step.env = spec.env.clone();
    step.run_as_user = spec.user;
    step.privileged = spec.privileged;
    step.port_bindings = spec.port_bindings.clone();
    Ok(step)
}

impl Executor for ContainerdExecutor {
    fn name(&self) -> &'static str {
        "containerd"
    }

    fn runs_images(&self) -> bool {
        true
    }

    fn check(&self, spec: &TaskSpec) -> Vec<String> {
        let mut problems = Vec::new();
        if spec.image.is_none() {
            problems.push(format!(
                "step `{}` names no image, so the containerd executor cannot run it",
                spec.step_id
            ));
        }
        if !spec.output_variables.is_empty() {
            problems.push(format!(
                "step `{}`: outputVariables are not captured from containers yet\n\
                 help: run the step on the host (no image) or drop outputVariables",
                spec.step_id
            ));
        }
        problems
    }

    fn start(&self, spec: TaskSpec, logs: LogSink) -> Result<Box<dyn Task>, ExecError> {
        let step = container_step(&spec)?;
        let sink: crate::LogSink = Arc::clone(&logs) as crate::LogSink;
        let task = self
            .executor
            .start(&step, sink)
            .map_err(|error| ExecError(format!("step `{}`: {error}", spec.step_id)))?;
        Ok(Box::new(RunnerTask {
            task,
            logs,
            reported: false,
        }))
    }
}

struct RunnerTask {
    task: ContainerTask,
    logs: LogSink,
    reported: bool,
}

impl RunnerTask {
    /// Maps an exit, sending the OOM explanation to the log once.
    fn exit(&mut self, exit: ContainerExit) -> Exit {
        if exit.oom_killed && !self.reported {
            self.reported = true;
            (self.logs)(&format!("basso: {}", exit.describe()));
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

    fn stop(&mut self, grace: Duration) -> Result<Exit, ExecError> {
        let exit = self
            .task
            .stop(grace)
            .map_err(|error| ExecError(error.to_string()))?;
        Ok(self.exit(exit))
    }

    fn outputs(&mut self) -> Result<BTreeMap<String, String>, ExecError> {
        Ok(BTreeMap::new())
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

    fn check(&self, spec: &TaskSpec) -> Vec<String> {
        self.pick(spec).check(spec)
    }

    fn start(&self, spec: TaskSpec, logs: LogSink) -> Result<Box<dyn Task>, ExecError> {
        self.pick(&spec).start(spec, logs)
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
}
