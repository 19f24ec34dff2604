//! Shared setup of the integration tests: a private containerd and registry
//! started by `scripts/containerd-env.sh`, found through the environment.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use basso_containerd::{ContainerExecutor, ContainerExit, ContainerStep, ExecutorConfig, Program};

/// The containerd namespace of this test run, unique per run so that
/// concurrent runs on one machine share no runc state or parent cgroup.
pub fn namespace() -> String {
    env("BASSO_TEST_NAMESPACE")
}

/// Returns a TCP port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    listener.local_addr().unwrap().port()
}

/// The name the test archive's image gets in containerd.
pub const IMAGE: &str = "docker.io/library/basso-busybox:latest";

/// Reads a variable `scripts/containerd-env.sh` sets.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run these tests through scripts/containerd-tests.sh")
    })
}

/// The private containerd's socket.
pub fn address() -> PathBuf {
    PathBuf::from(env("BASSO_TEST_CONTAINERD"))
}

/// A temporary directory for the state of one executor.
pub fn state_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("basso-state-")
        .tempdir()
        .unwrap()
}

/// Returns an executor on the test namespace, with tini as every
/// container's PID 1 and the busybox image imported.
pub fn executor(state_dir: &Path) -> ContainerExecutor {
    executor_with_init(state_dir, Some(PathBuf::from("/usr/bin/tini-static")))
}

/// Returns an executor on the test namespace with `init` as PID 1 (`None`
/// runs the step's program as PID 1), with the busybox image imported.
pub fn executor_with_init(state_dir: &Path, init: Option<PathBuf>) -> ContainerExecutor {
    let mut config = ExecutorConfig::new(&address());
    config.namespace = namespace();
    config.state_dir = state_dir.to_path_buf();
    config.init_binary = init;
    let executor = ContainerExecutor::connect(config).unwrap();
    let names = executor
        .import_archive(Path::new(&env("BASSO_TEST_IMAGE_ARCHIVE")))
        .unwrap();
    assert_eq!(names, [IMAGE]);
    executor
}

/// A `sh` script step in the test image, pull policy `Never`.
pub fn script_step(step_id: &str, script: &str, workspace: &Path) -> ContainerStep {
    let program = Program::Script {
        shell: "sh".to_string(),
        script: script.to_string(),
    };
    let mut step = ContainerStep::new(step_id, IMAGE, program, workspace.to_path_buf());
    step.image_pull_policy = Some("Never".to_string());
    step
}

/// Collects output lines.
#[derive(Clone, Default)]
pub struct Lines(pub Arc<Mutex<Vec<String>>>);

impl Lines {
    pub fn sink(&self) -> basso_containerd::LogSink {
        let lines = Arc::clone(&self.0);
        Arc::new(move |line: &str| lines.lock().unwrap().push(line.to_string()))
    }

    pub fn text(&self) -> String {
        self.0.lock().unwrap().join("\n")
    }
}

/// Runs a step to its end and returns its exit and output.
pub fn run(executor: &ContainerExecutor, step: &ContainerStep) -> (ContainerExit, String) {
    let lines = Lines::default();
    let mut task = executor.start(step, lines.sink()).unwrap();
    let exit = task
        .wait(Duration::from_secs(60))
        .unwrap()
        .expect("step still running after 60 s");
    (exit, lines.text())
}

/// Lists `ctr` output for one object kind in the test namespace.
pub fn ctr_list(kind: &[&str]) -> Vec<String> {
    let output = std::process::Command::new("ctr")
        .arg("--address")
        .arg(address())
        .args(["--namespace", &namespace()])
        .args(kind)
        .output()
        .unwrap();
    assert!(output.status.success(), "ctr {kind:?} failed");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// Names of the network namespaces that belong to `run_id`.
pub fn netns_of(run_id: &str) -> Vec<String> {
    basso_containerd::network::list_netns()
        .into_iter()
        .filter(|name| name.starts_with(&format!("basso-{run_id}-")))
        .collect()
}

/// Containers, snapshots and tasks labelled with `run_id`.
pub fn containerd_objects_of(run_id: &str) -> Vec<String> {
    let filter = format!("labels.\"io.basso.run\"=={run_id}");
    let mut objects = Vec::new();
    for line in ctr_list(&["containers", "list", "-q", &filter]) {
        objects.push(format!("container {line}"));
    }
    for line in ctr_list(&["snapshots", "list"]) {
        if line.contains(run_id) {
            objects.push(format!("snapshot {line}"));
        }
    }
    for line in ctr_list(&["tasks", "list", "-q"]) {
        if line.contains(run_id) {
            objects.push(format!("task {line}"));
        }
    }
    objects
}

/// The host's firewall rules (iptables over nftables here, plus nft).
pub fn firewall_rules() -> String {
    let mut text = String::new();
    for (program, args) in [("iptables-save", vec![]), ("nft", vec!["list", "ruleset"])] {
        if let Ok(output) = std::process::Command::new(program).args(&args).output() {
            // iptables-save prints a timestamp comment per table.
            let rules = String::from_utf8_lossy(&output.stdout)
                .lines()
                .filter(|line| !line.starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n");
            text.push_str(&rules);
        }
    }
    text
}

/// Sends an HTTP GET to 127.0.0.1:`port` until a response arrives or 10 s pass.
pub fn http_get_local(port: u16) -> String {
    use std::io::{Read, Write};
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            stream.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
            let mut response = String::new();
            stream.read_to_string(&mut response)?;
            Ok(response)
        })();
        match attempt {
            Ok(response) if !response.is_empty() => return response,
            _ if std::time::Instant::now() > deadline => panic!("127.0.0.1:{port} never answered"),
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// A shell loop that fetches `url` until it succeeds (busybox `wget -T`
/// crashes on Debian 12, so `timeout` bounds each try).
pub fn fetch_script(url: &str) -> String {
    format!("for i in $(seq 100); do timeout 2 wget -qO- {url} && exit 0; sleep 0.1; done; exit 1")
}
