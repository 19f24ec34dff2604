//! Cleanup on real containerd: after SIGINT in the middle of a stage, and by
//! `basso gc` after the runner was killed with SIGKILL.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

/// A stage with a published web service and a long step, run by the stage
/// driver. Returns the child, its run id and the reader of its stdout once
/// the long step has started.
fn start_stage(
    workspace: &std::path::Path,
    host_port: u16,
) -> (Child, String, BufReader<std::process::ChildStdout>) {
    import_with_cli();
    let stage = serde_json::json!({
        "workspace": workspace,
        "steps": [
            {"id": "web", "image": IMAGE, "imagePullPolicy": "Never", "service": true,
             "command": "exec httpd -f -p 8080 -h /www", "portBindings": [[host_port, 8080]]},
            {"id": "sleeper", "image": IMAGE, "imagePullPolicy": "Never",
             "command": "sleep 300", "memoryBytes": 67108864}
        ]
    });
    let stage_path = workspace.join("stage.json");
    std::fs::write(&stage_path, stage.to_string()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_basso-container-stage"))
        .arg("--address")
        .arg(address())
        .args(["--namespace", &namespace()])
        .arg(&stage_path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut run_id = String::new();
    stdout.read_line(&mut run_id).unwrap();
    let run_id = run_id.trim().to_string();
    assert!(!run_id.is_empty());
    let mut line = String::new();
    while !line.starts_with("started sleeper") {
        line.clear();
        assert_ne!(
            stdout.read_line(&mut line).unwrap(),
            0,
            "stage driver ended early"
        );
    }
    (child, run_id, stdout)
}

/// Imports the test image with `basso image import`.
fn import_with_cli() {
    let output = Command::new(env("BASSO_TEST_BASSO_BIN"))
        .args(["image", "import", "--containerd-address"])
        .arg(address())
        .args(["--containerd-namespace", &namespace()])
        .arg(env("BASSO_TEST_IMAGE_ARCHIVE"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), IMAGE);
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "process did not end in {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn send(child: &Child, signal: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, signal).unwrap();
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn sigint_mid_stage_leaves_nothing() {
    let workspace = tempfile::tempdir().unwrap();
    let firewall_before = firewall_rules();
    let port = free_port();
    let (mut child, run_id, _stdout) = start_stage(workspace.path(), port);
    assert!(http_get_local(port).contains("hello from basso-busybox"));
    assert_eq!(netns_of(&run_id).len(), 2);
    assert!(!containerd_objects_of(&run_id).is_empty());

    send(&child, nix::sys::signal::Signal::SIGINT);
    let status = wait_with_timeout(&mut child, Duration::from_secs(30));

    assert_eq!(status.code(), Some(130));
    assert_eq!(containerd_objects_of(&run_id), Vec::<String>::new());
    assert_eq!(netns_of(&run_id), Vec::<String>::new());
    assert_eq!(firewall_rules(), firewall_before);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "host port still open"
    );
    let state_dir = std::env::temp_dir().join(format!("basso-stage-{}", child.id()));
    assert!(!state_dir.exists(), "{}", state_dir.display());
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn gc_removes_what_sigkill_left() {
    let workspace = tempfile::tempdir().unwrap();
    let firewall_before = firewall_rules();
    let (mut child, run_id, _stdout) = start_stage(workspace.path(), free_port());

    send(&child, nix::sys::signal::Signal::SIGKILL);
    wait_with_timeout(&mut child, Duration::from_secs(10));
    // A killed runner leaves its containers running and its namespaces.
    assert!(!containerd_objects_of(&run_id).is_empty());
    assert_eq!(netns_of(&run_id).len(), 2);
    // The driver's state folder stays too; it is the test's to remove.
    let state_dir = std::env::temp_dir().join(format!("basso-stage-{}", child.id()));
    assert!(state_dir.is_dir(), "{}", state_dir.display());
    std::fs::remove_dir_all(&state_dir).unwrap();

    let output = Command::new(env("BASSO_TEST_BASSO_BIN"))
        .args(["gc", "--containerd-address"])
        .arg(address())
        .args(["--containerd-namespace", &namespace()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Leftovers of other killed runs may be counted too, so at least 2.
    let counts: Vec<usize> = stdout
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect();
    assert!(counts[0] >= 2, "containers: {stdout}");
    assert!(counts[2] >= 2, "network namespaces: {stdout}");

    assert_eq!(containerd_objects_of(&run_id), Vec::<String>::new());
    assert_eq!(netns_of(&run_id), Vec::<String>::new());
    assert_eq!(firewall_rules(), firewall_before);
    assert!(!std::path::Path::new(&format!("/sys/fs/cgroup/memory/{}", namespace())).exists());
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn gc_spares_live_runs() {
    let workspace = tempfile::tempdir().unwrap();
    let (mut child, run_id, _stdout) = start_stage(workspace.path(), free_port());

    let output = Command::new(env("BASSO_TEST_BASSO_BIN"))
        .args(["gc", "--containerd-address"])
        .arg(address())
        .args(["--containerd-namespace", &namespace()])
        .output()
        .unwrap();
    let objects = containerd_objects_of(&run_id);
    send(&child, nix::sys::signal::Signal::SIGTERM);
    let status = wait_with_timeout(&mut child, Duration::from_secs(30));

    assert!(output.status.success());
    assert!(!objects.is_empty(), "gc removed a live run");
    assert_eq!(status.code(), Some(130));
    assert_eq!(containerd_objects_of(&run_id), Vec::<String>::new());
    let state_dir = std::env::temp_dir().join(format!("basso-stage-{}", child.id()));
    assert!(!state_dir.exists(), "{}", state_dir.display());
}

/// Deletes the named network namespaces that the test created.
fn delete_test_netns(names: &[String]) {
    for name in names {
        let _ = Command::new("ip").args(["netns", "delete", name]).status();
    }
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn gc_keeps_namespaces_basso_did_not_record() {
    let pid = std::process::id();
    // The first name contains no run id, and the second has the run id of a
    // live process (this one). The third has a PID above Linux's limit of
    // 2^22, so its process is gone. basso recorded none of them.
    let names = vec![
        format!("basso-devbox{pid}"),
        format!("basso-{pid}x0abc-0"),
        format!("basso-4194305x{pid:x}-0"),
    ];
    for name in &names {
        let added = Command::new("ip")
            .args(["netns", "add", name])
            .status()
            .unwrap();
        assert!(added.success(), "ip netns add {name}");
    }

    let output = Command::new(env("BASSO_TEST_BASSO_BIN"))
        .args(["gc", "--all", "--containerd-address"])
        .arg(address())
        .args(["--containerd-namespace", &namespace()])
        .output()
        .unwrap();
    let left = basso_containerd::network::list_netns();
    delete_test_netns(&names);

    assert!(output.status.success(), "{output:?}");
    for name in &names {
        assert!(left.contains(name), "gc deleted `{name}`");
    }
}
