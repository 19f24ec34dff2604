//! Step settings of one container and how its program is chosen.

use std::path::PathBuf;

/// What a container runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Program {
    /// `command`: a script run by the step's `shell` inside the container.
    Script {
        /// The shell program inside the image: `sh`, `bash`, `python3` or `pwsh`.
        shell: String,
        /// The script text, secrets substituted.
        script: String,
    },
    /// `entrypoint`: replaces the image's entry point and command.
    Entrypoint(Vec<String>),
    /// Neither: the image's own entry point and command.
    ImageDefault,
}

impl Program {
    /// Returns the argument vector; the image's `Entrypoint` and `Cmd` fill
    /// in for [`Program::ImageDefault`]. A script runs from the file at
    /// [`Program::script_path`], so its text never appears in a process list.
    pub fn argv(&self, image_entrypoint: &[String], image_cmd: &[String]) -> Vec<String> {
        match self {
            Program::Script { shell, .. } => {
                let path = self.script_path().unwrap_or_default().to_string();
                if shell == "pwsh" {
                    // The flags host steps pass to pwsh.
                    [
                        "pwsh",
                        "-NoLogo",
                        "-NonInteractive",
                        "-NoProfile",
                        "-File",
                        &path,
                    ]
                    .map(str::to_string)
                    .to_vec()
                } else {
                    vec![shell.clone(), path]
                }
            }
            Program::Entrypoint(argv) => argv.clone(),
            Program::ImageDefault => image_entrypoint.iter().chain(image_cmd).cloned().collect(),
        }
    }

    /// Returns where a script is mounted inside the container. pwsh's `-File`
    /// requires the `.ps1` extension.
    pub fn script_path(&self) -> Option<&'static str> {
        match self {
            Program::Script { shell, .. } => Some(match shell.as_str() {
                "pwsh" => "/basso/script.ps1",
                "python3" => "/basso/script.py",
                _ => "/basso/script.sh",
            }),
            _ => None,
        }
    }
}

/// Everything needed to run one step or Background service as a container.
#[derive(Clone, Debug)]
pub struct ContainerStep {
    /// The step identifier; also the container's host name.
    pub step_id: String,
    /// The names other steps reach a service by: the step id, and
    /// `groupId_stepId` inside a step group.
    pub host_names: Vec<String>,
    /// A Background step: started detached, stopped at stage end.
    pub service: bool,
    /// `image`.
    pub image: String,
    /// `connectorRef`, looked up in the connectors file.
    pub connector_ref: Option<String>,
    /// `imagePullPolicy`; none means Kubernetes' default.
    pub image_pull_policy: Option<String>,
    /// What to run.
    pub program: Program,
    /// `envVariables` and built-in variables, secrets substituted.
    pub env: Vec<(String, String)>,
    /// The host workspace, mounted at `/harness`.
    pub workspace: PathBuf,
    /// `runAsUser`.
    pub run_as_user: Option<u32>,
    /// `privileged`.
    pub privileged: bool,
    /// `resources.limits.memory` in bytes.
    pub memory_bytes: Option<i64>,
    /// `resources.limits.cpu` in thousandths of a CPU.
    pub cpu_millis: Option<u64>,
    /// `portBindings` as (host port, container port).
    pub port_bindings: Vec<(u16, u16)>,
    /// A host folder that basso created for the step's output variables,
    /// mounted writable at [`OUTPUTS_MOUNT`](crate::executor::OUTPUTS_MOUNT).
    pub output_dir: Option<PathBuf>,
    /// The stage's `sharedPaths`: host folders mounted writable at the
    /// given absolute paths.
    pub shared_paths: Vec<(PathBuf, String)>,
}

impl ContainerStep {
    /// A step running `program` in `image` with every other setting empty.
    pub fn new(step_id: &str, image: &str, program: Program, workspace: PathBuf) -> ContainerStep {
        ContainerStep {
            step_id: step_id.to_string(),
            host_names: vec![step_id.to_string()],
            service: false,
            image: image.to_string(),
            connector_ref: None,
            image_pull_policy: None,
            program,
            env: Vec::new(),
            workspace,
            run_as_user: None,
            privileged: false,
            memory_bytes: None,
            cpu_millis: None,
            port_bindings: Vec::new(),
            output_dir: None,
            shared_paths: Vec::new(),
        }
    }
}

/// How a container ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContainerExit {
    /// The exit status containerd reports; 128 + N after signal N.
    pub status: u32,
    /// Whether the kernel's OOM killer ended a process of the container.
    pub oom_killed: bool,
    /// The memory limit in force, in bytes.
    pub memory_bytes: Option<i64>,
}

impl ContainerExit {
    /// Returns whether the container exited with status 0 and no OOM kill.
    pub fn success(&self) -> bool {
        self.status == 0 && !self.oom_killed
    }

    /// Describes a failed exit; an OOM kill names the memory limit.
    pub fn describe(&self) -> String {
        if self.oom_killed {
            let limit = self
                .memory_bytes
                .map(|bytes| format!("memory limit {} ({bytes} bytes)", format_bytes(bytes)))
                .unwrap_or_else(|| "its memory limit".to_string());
            return format!(
                "killed by the out-of-memory killer: the container exceeded {limit} \
                 (exit status {})\nhelp: raise resources.limits.memory",
                self.status
            );
        }
        format!("exit status {}", self.status)
    }
}

/// Formats a byte count with a Kubernetes binary suffix when exact.
pub fn format_bytes(bytes: i64) -> String {
    for (suffix, unit) in [("Gi", 1i64 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] {
        if bytes >= unit && bytes % unit == 0 {
            return format!("{}{suffix}", bytes / unit);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entrypoint_replaces_image_command() {
        let program = Program::Entrypoint(vec!["echo".into(), "hi".into()]);
        let argv = program.argv(&["/bin/sh".into(), "-c".into()], &["date".into()]);
        assert_eq!(argv, ["echo", "hi"]);
    }

    #[test]
    fn script_runs_from_file() {
        let program = Program::Script {
            shell: "sh".into(),
            script: "echo secret".into(),
        };
        let argv = program.argv(&[], &[]);
        assert_eq!(argv, ["sh", "/basso/script.sh"]);
    }

    #[test]
    fn pwsh_script_has_ps1_extension() {
        let program = Program::Script {
            shell: "pwsh".into(),
            script: "Write-Output hi".into(),
        };
        let argv = program.argv(&[], &[]);
        assert_eq!(argv.last().map(String::as_str), Some("/basso/script.ps1"));
        assert!(argv.contains(&"-File".to_string()), "{argv:?}");
    }

    #[test]
    fn image_default_joins_entrypoint_and_cmd() {
        let argv = Program::ImageDefault.argv(&["/bin/sh".into(), "-c".into()], &["date".into()]);
        assert_eq!(argv, ["/bin/sh", "-c", "date"]);
    }

    #[test]
    fn oom_exit_names_limit() {
        let exit = ContainerExit {
            status: 137,
            oom_killed: true,
            memory_bytes: Some(32 << 20),
        };
        assert!(!exit.success());
        assert!(
            exit.describe()
                .contains("memory limit 32Mi (33554432 bytes)"),
            "{}",
            exit.describe()
        );
    }
}
