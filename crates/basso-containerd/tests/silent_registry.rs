//! `basso run` with a step image on a registry that accepts connections and
//! never responds: the pull ends at the step's `timeout` or on SIGINT, and
//! the stage is cleaned up as usual.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// A TCP listener on 127.0.0.1 that accepts connections and never sends a
/// byte, as a registry that hangs does. Counts the connections it accepted.
struct SilentRegistry {
    port: u16,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SilentRegistry {
    fn start() -> SilentRegistry {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopped) = (Arc::clone(&accepted), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut open_sockets = Vec::new();
            while !stopped.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((socket, _)) => {
                        open_sockets.push(socket);
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        SilentRegistry {
            port,
            accepted,
            stop,
            thread: Some(thread),
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for SilentRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Writes a pipeline whose stage starts a Background container, then a Run
/// step whose image is on the silent registry, with the step `timeout`
/// line `timeout` (empty for none).
fn write_pipeline(dir: &std::path::Path, port: u16, timeout: &str) -> std::path::PathBuf {
    let pipeline = format!(
        r#"pipeline:
  name: silent
  identifier: silent
  stages:
    - stage:
        name: pull
        identifier: pull
        type: CI
        spec:
          cloneCodebase: false
          platform:
            os: Linux
            arch: Amd64
          runtime:
            type: Cloud
            spec: {{}}
          execution:
            steps:
              - step:
                  type: Background
                  name: sleeper
                  identifier: sleeper
                  spec:
                    image: basso-busybox
                    imagePullPolicy: Never
                    shell: Sh
                    command: exec sleep 300
              - step:
                  type: Run
                  name: stalled
                  identifier: stalled
                  {timeout}
                  spec:
                    image: "127.0.0.1:{port}/x/y:1"
                    shell: Sh
                    command: echo unreachable
"#
    );
    let path = dir.join("silent.yaml");
    std::fs::write(&path, pipeline).unwrap();
    path
}

/// Starts `basso run --format json` on `pipeline` against the test
/// containerd.
fn spawn_run(pipeline: &std::path::Path) -> Child {
    Command::new(env("BASSO_TEST_BASSO_BIN"))
        .arg("run")
        .arg(pipeline)
        .args(["--format", "json", "--containerd-address"])
        .arg(address())
        .args(["--containerd-namespace", &namespace()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for `child` up to `limit`. A run still going then gets SIGKILL,
/// and the test fails.
fn wait_within(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            let output = child.wait_with_output().unwrap();
            panic!(
                "basso run still ran after {limit:?}\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Returns the summary's entry for step `id`.
fn step_result<'v>(summary: &'v Value, id: &str) -> &'v Value {
    summary["stages"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["id"] == id)
        .unwrap_or_else(|| panic!("no step `{id}` in {summary}"))
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn silent_registry_pull_ends_at_step_timeout() {
    let state = state_dir();
    // Imports the test image under the name the pipeline uses.
    drop(executor(state.path()));
    let registry = SilentRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let pipeline = write_pipeline(dir.path(), registry.port, "timeout: 5s");

    let started = Instant::now();
    let output = wait_within(spawn_run(&pipeline), Duration::from_secs(60));
    let elapsed = started.elapsed();

    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary: Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|error| panic!("{error}: {stderr}"));
    let stalled = step_result(&summary, "stalled");
    let message = stalled["message"].as_str().unwrap_or_default();
    let port = registry.port;
    assert!(
        registry.accepted() > 0,
        "the pull never reached the registry"
    );
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stalled["status"], "EXPIRED", "{summary}");
    assert!(
        message.starts_with("the step timed out after 5s; cannot start: "),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "stopped pulling image `127.0.0.1:{port}/x/y:1` from `127.0.0.1:{port}`"
        )),
        "{message}"
    );
    assert!(elapsed >= Duration::from_secs(5), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
    assert_eq!(
        ctr_list(&["containers", "list", "-q"]),
        Vec::<String>::new()
    );
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn sigint_during_stalled_pull_aborts_run() {
    let state = state_dir();
    drop(executor(state.path()));
    let registry = SilentRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let pipeline = write_pipeline(dir.path(), registry.port, "");
    let child = spawn_run(&pipeline);
    let deadline = Instant::now() + Duration::from_secs(60);
    while registry.accepted() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        registry.accepted() > 0,
        "the pull never reached the registry"
    );

    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let interrupted = Instant::now();
    let output = wait_within(child, Duration::from_secs(60));
    let elapsed = interrupted.elapsed();

    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary: Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|error| panic!("{error}: {stderr}"));
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert_eq!(summary["status"], "ABORTED", "{summary}");
    assert_eq!(step_result(&summary, "stalled")["status"], "ABORTED");
    assert_eq!(step_result(&summary, "sleeper")["status"], "ABORTED");
    // The Background container gets SIGTERM and stops within its 5 s grace.
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    assert_eq!(
        ctr_list(&["containers", "list", "-q"]),
        Vec::<String>::new()
    );
}
