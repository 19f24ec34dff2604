//! Commands that print documents, with stdout closed before they write:
//! they must end without a panic, as `basso check FILE | head -1` does.

use std::process::{Command, Stdio};

/// Runs basso with `args` and the read end of its stdout closed at once.
/// Returns the exit code and stderr.
fn run_with_closed_stdout(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_basso"))
        .args(args)
        .env_remove("BASSO_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn pipeline_file(dir: &std::path::Path) -> String {
    let path = dir.join("pipeline.yaml");
    std::fs::write(
        &path,
        "pipeline:
  name: p
  identifier: p
  stages:
    - stage:
        name: s
        identifier: s
        type: CI
        spec:
          cloneCodebase: false
          platform: {os: Linux, arch: Amd64}
          runtime: {type: Cloud, spec: {}}
          execution:
            steps:
              - step:
                  type: Run
                  name: r
                  identifier: r
                  spec:
                    shell: Sh
                    command: echo <+pipeline.variables.nope>
",
    )
    .unwrap();
    path.display().to_string()
}

#[test]
fn eval_with_closed_stdout() {
    let (code, stderr) = run_with_closed_stdout(&["eval", "<+1>"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn check_with_closed_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline_file(dir.path());
    for format in ["text", "json"] {
        let (code, stderr) = run_with_closed_stdout(&["check", "--format", format, &file]);
        assert_ne!(code, Some(101), "{format}: {stderr}");
        assert!(code.is_some(), "{format}: killed by a signal");
        assert!(!stderr.contains("panicked"), "{format}: {stderr}");
    }
}

#[test]
fn resolve_with_closed_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline_file(dir.path());
    let (code, stderr) = run_with_closed_stdout(&["resolve", &file]);
    assert_ne!(code, Some(101), "{stderr}");
    assert!(code.is_some(), "killed by a signal");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Runs basso with `args` and stderr a pipe whose read end is closed before
/// basso starts, so every write to stderr fails. Returns the exit code.
fn run_with_closed_stderr(args: &[&str]) -> Option<i32> {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = Command::new(env!("CARGO_BIN_EXE_basso"))
        .args(args)
        .env_remove("BASSO_LOG")
        .env(
            "BASSO_CONTAINERD_ADDRESS",
            "/nonexistent/basso-test/containerd.sock",
        )
        .stdout(Stdio::null())
        .stderr(Stdio::from(writer))
        .output()
        .unwrap();
    output.status.code()
}

/// Commands whose diagnostics and errors go to stderr end with their
/// documented exit code when stderr is closed, not with a panic (101).
#[test]
fn commands_with_closed_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline_file(dir.path());
    let cases: [(&[&str], i32); 6] = [
        (&["check", &file], 1),
        (&["resolve", &file], 1),
        (&["inputs", "/nonexistent/basso-test/pipeline.yaml"], 2),
        (&["export", "kubernetes", &file], 1),
        (&["run", &file], 1),
        (&["eval", "<+1 +>"], 1),
    ];
    for (args, expected) in cases {
        assert_eq!(run_with_closed_stderr(args), Some(expected), "{args:?}");
    }
}
