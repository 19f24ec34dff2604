//! End-to-end tests of `basso run`: real pipeline files, the real binary,
//! real processes. Process checks use process ids, never names.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn basso() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_basso"));
    command.env_remove("BASSO_LOG").env("NO_COLOR", "1");
    command
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Writes a one-stage pipeline whose steps are the given YAML snippets,
/// each already indented as an item of `steps:`.
fn pipeline(dir: &Path, steps: &[String]) -> PathBuf {
    let text = format!(
        "pipeline:
  name: test
  identifier: test
  stages:
{}",
        stage("build", steps)
    );
    let path = dir.join("pipeline.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Returns a CI stage snippet, indented as an item of `stages:`, whose
/// steps are the given snippets.
fn stage(id: &str, steps: &[String]) -> String {
    let mut text = format!(
        "    - stage:
        name: {id}
        identifier: {id}
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
"
    );
    for step in steps {
        text.push_str(step);
    }
    text
}

/// Returns a step snippet with a literal block `command`.
fn step(step_type: &str, id: &str, command: &str, extra: &str) -> String {
    let mut text = format!(
        "              - step:
                  type: {step_type}
                  name: {id}
                  identifier: {id}
                  spec:
                    shell: Sh
                    command: |
"
    );
    for line in command.lines() {
        text.push_str(&format!("                      {line}\n"));
    }
    for line in extra.lines() {
        text.push_str(&format!("                    {line}\n"));
    }
    text
}

fn run(file: &Path, args: &[&str]) -> Output {
    // A socket that does not exist: these tests never reach a containerd.
    basso()
        .env(
            "BASSO_CONTAINERD_ADDRESS",
            "/nonexistent/basso-test/containerd.sock",
        )
        .arg("run")
        .arg(file)
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Returns whether `pid` is a live process; zombies count as gone.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or_default().trim_start();
            !state.starts_with('Z')
        }
        Err(_) => false,
    }
}

fn wait_for_file(path: &Path, child: &mut Child) -> String {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.ends_with('\n')
        {
            return text;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            panic!("basso exited early with {status}:\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("`{}` was not written", path.display());
}

fn pids(text: &str) -> Vec<u32> {
    text.split_whitespace()
        .map(|pid| pid.parse().unwrap())
        .collect()
}

#[test]
fn service_reached_and_summary_printed() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let file = pipeline(
        dir.path(),
        &[
            step(
                "Background",
                "web",
                &format!("exec python3 -m http.server {port} --bind 127.0.0.1"),
                &format!("portBindings:\n  \"{port}\": \"{port}\""),
            ),
            step(
                "Run",
                "call",
                &format!(
                    "python3 -c 'import urllib.request; print(\"status\", urllib.request.urlopen(\"http://localhost:{port}/\").status)'"
                ),
                "",
            ),
        ],
    );
    let output = run(&file, &[]);

    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("call | status 200"), "{stderr}");
    assert!(stdout.contains("result: success"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("web") && l.contains("Background")),
        "{stdout}"
    );
}

#[test]
fn json_summary_and_failing_step() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[
            step("Run", "bad", "echo about to fail\nexit 5", ""),
            step("Run", "never", "echo never", ""),
        ],
    );
    let output = run(&file, &["--format", "json"]);

    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["schemaVersion"], 1);
    assert_eq!(summary["status"], "FAILED");
    assert_eq!(summary["stages"][0]["steps"][0]["exitCode"], 5);
    assert_eq!(summary["stages"][0]["steps"][1]["status"], "SKIPPED");
    assert!(text(&output.stderr).contains("bad | about to fail"));
}

#[test]
fn sequence_id_matches_build_id() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[step(
            "Run",
            "tag",
            "echo \"seq=<+pipeline.sequenceId> build=$HARNESS_BUILD_ID\"",
            "",
        )],
    );
    let output = run(&file, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("tag | seq=1 build=1"),
        "{}",
        text(&output.stderr)
    );

    let context = dir.path().join("context.json");
    std::fs::write(&context, r#"{"pipeline": {"sequenceId": 42}}"#).unwrap();
    let output = run(&file, &["--context", context.to_str().unwrap()]);
    assert!(
        text(&output.stderr).contains("tag | seq=42 build=42"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn execution_id_and_start_time_supplied() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[step(
            "Run",
            "ids",
            "echo \"id=<+pipeline.executionId> short=<+pipeline.executionId.substring(0,8)> \
             s=<+pipeline.startTs / 1000> by=<+pipeline.triggerType>\"",
            "",
        )],
    );
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let first = run(&file, &[]);
    let second = run(&file, &[]);

    let line = |output: &Output| {
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{stderr}");
        stderr
            .lines()
            .find_map(|line| line.strip_prefix("ids | "))
            .unwrap_or_else(|| panic!("{stderr}"))
            .to_string()
    };
    let field = |line: &str, key: &str| {
        line.split(' ')
            .find_map(|part| part.strip_prefix(key))
            .unwrap_or_else(|| panic!("{key}: {line}"))
            .to_string()
    };
    let (first, second) = (line(&first), line(&second));
    let id = field(&first, "id=");
    assert_eq!(id.len(), 32, "{first}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{first}");
    assert_eq!(field(&first, "short="), id[..8], "{first}");
    assert_ne!(field(&second, "id="), id, "{second}");
    let seconds: u64 = field(&first, "s=").parse().unwrap();
    assert!(seconds.abs_diff(before) < 600, "{first}");
    assert_eq!(field(&first, "by="), "MANUAL", "{first}");

    // The context's values win.
    let context = dir.path().join("context.json");
    std::fs::write(
        &context,
        r#"{"pipeline": {"executionId": "abcdefghij", "startTs": 5000, "triggerType": "WEBHOOK"}}"#,
    )
    .unwrap();
    let output = run(&file, &["--context", context.to_str().unwrap()]);
    assert_eq!(line(&output), "id=abcdefghij short=abcdefgh s=5 by=WEBHOOK");
}

#[test]
fn unsupplied_value_warned_in_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[step("Run", "a", "echo \"branch=<+trigger.branch>\"", "")],
    );
    let output = run(&file, &[]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("`<+trigger.branch>` has no value in this run; it resolves to null"),
        "{stderr}"
    );
    assert!(!stderr.contains("the runner supplies it"), "{stderr}");
    assert!(stderr.contains("a | branch=null"), "{stderr}");
}

#[test]
fn stage_status_read_while_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let report = "echo \"status=<+stage.status> current=<+stage.currentStatus>\"";
    let first = step("Run", "first", report, "");
    let fails = step("Run", "fails", "exit 3", "");
    let cleanup = with_step_field(
        &step("Run", "cleanup", report, ""),
        "when:\n  stageStatus: All",
    );
    let file = pipeline(dir.path(), &[first, fails, cleanup]);
    let output = run(&file, &[]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("first | status=RUNNING current=RUNNING"),
        "{stderr}"
    );
    assert!(
        stderr.contains("cleanup | status=RUNNING current=FAILED"),
        "{stderr}"
    );
}

#[test]
fn context_pipeline_not_object_handled() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[step(
            "Run",
            "tag",
            "echo \"seq=<+pipeline.sequenceId> build=$HARNESS_BUILD_ID\"",
            "",
        )],
    );
    let context = dir.path().join("context.json");

    std::fs::write(&context, r#"{"pipeline": 5}"#).unwrap();
    let output = run(&file, &["--context", context.to_str().unwrap()]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("`pipeline` in the --context file is 5, not an object"),
        "{stderr}"
    );

    // `null` is an absent `pipeline`, so the run numbers its build 1.
    std::fs::write(&context, r#"{"pipeline": null}"#).unwrap();
    let output = run(&file, &["--context", context.to_str().unwrap()]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("tag | seq=1 build=1"), "{stderr}");
}

#[test]
fn sequence_id_not_positive_integer_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[step(
            "Run",
            "tag",
            "echo \"seq=<+pipeline.sequenceId>\"",
            "",
        )],
    );
    let context = dir.path().join("context.json");
    let rejected = [
        (r#""abc""#, r#"`"abc"`"#),
        ("1.5", "`1.5`"),
        ("-1", "`-1`"),
        ("0", "`0`"),
        ("1e23", "`1e+23`"),
        ("99999999999999999999999", "`1e+23`"),
        ("9223372036854775808", "`9223372036854775808`"),
        (r#""042""#, r#"`"042"`"#),
        ("null", "`null`"),
    ];
    for (sequence_id, shown) in rejected {
        std::fs::write(
            &context,
            format!(r#"{{"pipeline": {{"sequenceId": {sequence_id}}}}}"#),
        )
        .unwrap();
        let output = run(&file, &["--context", context.to_str().unwrap()]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{sequence_id}: {stderr}");
        assert!(
            stderr.contains(&format!("invalid `pipeline.sequenceId` {shown}")),
            "{sequence_id}: {stderr}"
        );
        assert!(
            stderr.contains("expected a positive integer"),
            "{sequence_id}: {stderr}"
        );
        assert!(!stderr.contains("tag | seq="), "{sequence_id}: {stderr}");
    }
}

#[test]
fn sequence_id_string_of_digits_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[step(
            "Run",
            "tag",
            "echo \"seq=<+pipeline.sequenceId> drone=$DRONE_BUILD_NUMBER\"",
            "",
        )],
    );
    let context = dir.path().join("context.json");
    std::fs::write(&context, r#"{"pipeline": {"sequenceId": "7"}}"#).unwrap();
    let output = run(&file, &["--context", context.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("tag | seq=7 drone=7"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn step_start_logged_before_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let ids = ["p0", "p1", "p2", "p3", "p4", "p5"];
    let steps: Vec<String> = ids
        .iter()
        .map(|id| step("Run", id, &format!("echo out-{id}"), ""))
        .collect();
    let file = pipeline(dir.path(), &steps);
    let output = run(&file, &[]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    for id in ids {
        let started = stderr
            .find(&format!("started step step_id={id} "))
            .expect("start logged");
        let printed = stderr
            .find(&format!("{id} | out-{id}"))
            .expect("output printed");
        assert!(started < printed, "{stderr}");
    }
}

#[test]
fn secret_masked_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[step(
            "Run",
            "leak",
            "echo \"token=$TOKEN\"\nexport COPY=\"$TOKEN\"",
            "envVariables:\n  TOKEN: <+secrets.getValue(\"api_token\")>\noutputVariables:\n  - name: COPY",
        )],
    );
    let output = basso()
        .arg("run")
        .arg(&file)
        .args(["--format", "json"])
        .env("BASSO_SECRET_API_TOKEN", "tok-9f8e7d")
        .output()
        .unwrap();

    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stdout.contains("tok-9f8e7d"), "{stdout}");
    assert!(!stderr.contains("tok-9f8e7d"), "{stderr}");
    assert!(stderr.contains("leak | token=***"), "{stderr}");
    assert!(stdout.contains("\"COPY\": \"***\""), "{stdout}");
}

#[test]
fn output_holding_secret_with_block_start_fails_step() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[
            step(
                "Run",
                "a",
                "export TRIMMED=$(echo $S)\nexport LINE=\"$(echo \"$S\" | tail -n 1)\"",
                "envVariables:\n  S: <+secrets.getValue(\"long\")>\noutputVariables:\n  - name: TRIMMED\n  - name: LINE",
            ),
            step(
                "Run",
                "b",
                "echo \"from a: <+steps.a.output.outputVariables.TRIMMED> <+steps.a.output.outputVariables.LINE>\"",
                "",
            ),
        ],
    );
    for secret in [
        "hunter2<+x>",
        " p4ss<+pipeline.name>word ",
        "firstline\nhunter2<+pipeline.name>ret",
    ] {
        let output = basso()
            .arg("run")
            .arg(&file)
            .args(["--format", "json"])
            .env("BASSO_SECRET_LONG", secret)
            .output()
            .unwrap();
        let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        for fragment in ["hunter2", "p4ss"] {
            assert!(!stdout.contains(fragment), "{secret}: {stdout}");
            assert!(!stderr.contains(fragment), "{secret}: {stderr}");
        }
        assert!(
            stderr.contains("contains a secret value with `<+`"),
            "{stderr}"
        );
        assert!(!stderr.contains("from a:"), "{stderr}");
    }
}

#[test]
fn report_path_from_secret_output_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let report = r#"<testsuite name="s"><testcase name="a"/></testsuite>"#;
    let file = pipeline(
        dir.path(),
        &[
            step(
                "Run",
                "a",
                &format!("export P=\"$T\"\nmkdir -p r\necho '{report}' > \"r/$T.xml\""),
                "envVariables:\n  T: <+secrets.getValue(\"tok\")>\noutputVariables:\n  - name: P\n    type: Secret",
            ),
            step(
                "Run",
                "b",
                "echo reading",
                "reports:\n  type: JUnit\n  spec:\n    paths:\n      - r/<+steps.a.output.outputVariables.P>.xml",
            ),
        ],
    );
    let output = run_with_secret(&file, None, &["--format", "json"]);
    assert_secret_not_printed(&output);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("report path `r/***.xml` contains a secret value"),
        "{stderr}"
    );
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        summary["stages"][0]["steps"][1]["tests"].is_null(),
        "{summary}"
    );
}

#[test]
fn literal_report_path_read_despite_store_secret() {
    let dir = tempfile::tempdir().unwrap();
    let report = r#"<testsuite tests="2" failures="1"><testcase name="a"/><testcase name="b"><failure message="boom"/></testcase></testsuite>"#;
    let file = pipeline(
        dir.path(),
        &[step(
            "Run",
            "a",
            &format!(
                "mkdir -p test-results\necho '{report}' > test-results/junit.xml\necho \"as $U\""
            ),
            "envVariables:\n  U: <+secrets.getValue(\"user\")>\nreports:\n  type: JUnit\n  spec:\n    paths:\n      - test-results/junit.xml",
        )],
    );
    // The secret's value occurs in the report path as written.
    let output = run(&file, &["--format", "json", "--secret", "user=test"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("contains a secret value"), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let tests = &summary["stages"][0]["steps"][0]["tests"];
    assert_eq!(tests["failed"], 1, "{summary:#}");
}

/// The value of secret `tok` in the tests below, and the start of its
/// base64 form with or without a trailing newline.
const SECRET_VALUE: &str = "hunter2-very-secret";
const SECRET_BASE64_START: &str = "aHVudGVyMi12ZXJ5LXNlY3Jl";

/// Asserts that neither the secret nor its base64 form was printed.
fn assert_secret_not_printed(output: &Output) {
    for (stream, bytes) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        let printed = text(bytes);
        assert!(!printed.contains(SECRET_VALUE), "{stream}:\n{printed}");
        assert!(
            !printed.contains(SECRET_BASE64_START),
            "{stream}:\n{printed}"
        );
    }
}

/// Runs `file` with `args` and secret `tok` set, and with `context` as the
/// text of the `--context` file when given.
fn run_with_secret(file: &Path, context: Option<&str>, args: &[&str]) -> Output {
    let mut command = basso();
    command
        .arg("run")
        .arg(file)
        .args(args)
        .env("BASSO_SECRET_TOK", SECRET_VALUE);
    if let Some(text) = context {
        let path = file.with_file_name("context.json");
        std::fs::write(&path, text).unwrap();
        command.arg("--context").arg(path);
    }
    command.output().unwrap()
}

/// Asserts that the run failed on secret `tok` from run-time data, with an
/// error naming `step` and `data_path`, and printed no secret. Returns stderr.
fn assert_secret_from_data(output: &Output, step: &str, data_path: &str) -> String {
    assert_secret_not_printed(output);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains(&format!("step `{step}`")), "{stderr}");
    assert!(stderr.contains("secret `tok`"), "{stderr}");
    assert!(stderr.contains(data_path), "{stderr}");
    assert!(stderr.contains("help:"), "{stderr}");
    stderr
}

#[test]
fn when_error_masks_cut_secret() {
    let dir = tempfile::tempdir().unwrap();
    let writer = step(
        "Run",
        "a",
        "export VIA=\"prefix-$T\"",
        "envVariables:\n  T: <+secrets.getValue(\"tok\")>\noutputVariables:\n  - name: VIA",
    );
    let reader = with_when(
        step("Run", "b", "echo b ran", ""),
        "All",
        "<+steps.a.output.outputVariables.VIA.substring(9)> * 2 > 1",
    );
    let across = with_when(
        step("Run", "c", "echo c ran", ""),
        "All",
        "<+steps.a.output.outputVariables.VIA.substring(0, 12)> * 2 > 1",
    );
    let file = pipeline(dir.path(), &[writer, reader, across]);
    let output = run_with_secret(&file, None, &["--format", "json"]);

    let cut = &SECRET_VALUE[2..];
    for (stream, bytes) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        let printed = text(bytes);
        assert!(!printed.contains(cut), "{stream}:\n{printed}");
    }
    let stderr = text(&output.stderr);
    assert!(stderr.contains("cannot evaluate `when`"), "{stderr}");
    assert!(stderr.contains("`***` is not a number"), "{stderr}");
    assert!(stderr.contains("`prefix-***` is not a number"), "{stderr}");
}

/// Runs a step that echoes `started` with the `envVariables` entries `env`,
/// each written as `\n  NAME: value`, and returns its exit code and stderr.
fn run_with_env(env: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[step(
            "Run",
            "a",
            "echo started",
            &format!("envVariables:{env}"),
        )],
    );
    let output = run(&file, &[]);
    (output.status.code(), text(&output.stderr))
}

#[test]
fn oversized_env_variable_named() {
    let value = "v".repeat(140_000);
    let (code, stderr) = run_with_env(&format!("\n  BIG: {value}"));

    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("environment variable `BIG` is 140004 bytes long"),
        "{stderr}"
    );
    assert!(!stderr.contains("Argument list too long"), "{stderr}");
    assert!(!stderr.contains("| started"), "{stderr}");
}

#[test]
fn oversized_environment_named() {
    let value = "v".repeat(120_000);
    let env: String = (0..30)
        .map(|index| format!("\n  BIG_{index}: {value}"))
        .collect();
    let (code, stderr) = run_with_env(&env);

    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("environment variables are"), "{stderr}");
    assert!(stderr.contains("the largest are `BIG_"), "{stderr}");
    assert!(!stderr.contains("| started"), "{stderr}");
}

#[test]
fn workspace_file_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(dir.path(), &[step("Run", "a", "echo ran", "")]);
    let not_folder = dir.path().join("afile");
    std::fs::write(&not_folder, "").unwrap();
    let output = run(&file, &["--workspace", not_folder.to_str().unwrap()]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is not a folder"), "{stderr}");
}

#[test]
fn unstarted_run_removes_created_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let pwsh = step("Run", "a", "Write-Output ran", "").replace("shell: Sh", "shell: Pwsh");
    let file = pipeline(dir.path(), &[pwsh]);
    let workspace = dir.path().join("new-workspace/a/b");
    let output = basso()
        .env(
            "BASSO_CONTAINERD_ADDRESS",
            "/nonexistent/basso-test/containerd.sock",
        )
        .args([
            "run",
            file.to_str().unwrap(),
            "--workspace",
            workspace.to_str().unwrap(),
        ])
        .output()
        .unwrap();

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot run this pipeline"), "{stderr}");
    assert!(!dir.path().join("new-workspace").exists(), "{stderr}");
}

#[test]
fn context_secret_reference_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let file = pipeline(
        dir.path(),
        &[step(
            "Run",
            "r",
            &format!("echo \"$X\" | base64\ntouch {}", marker.display()),
            "envVariables:\n  X: <+trigger.payload.x>",
        )],
    );
    let context = r#"{"trigger":{"payload":{"x":"<+secrets.getValue(\"tok\")>"}}}"#;
    let output = run_with_secret(&file, Some(context), &[]);

    assert_secret_from_data(&output, "r", "`trigger.payload.x`");
    assert!(!marker.exists());
}

#[test]
fn step_output_secret_reference_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let writer = step(
        "Run",
        "a",
        "L='<'; export V=\"${L}+secrets.getValue(\\\"tok\\\")>\"; echo \"$V\"",
        "outputVariables:\n  - name: V",
    );
    // Step b also requests `tok` in the file, so the secret has a value and
    // the runner would substitute the same text arriving as data.
    let reader = step(
        "Run",
        "b",
        &format!(
            "echo \"<+steps.a.output.outputVariables.V>\" | base64\necho <+secrets.getValue(\"tok\")>\ntouch {}",
            marker.display()
        ),
        "",
    );
    let file = pipeline(dir.path(), &[writer, reader]);
    let output = run_with_secret(&file, None, &["--format", "json"]);

    let stderr = assert_secret_from_data(&output, "b", "outputVariables.V");
    assert!(
        stderr.contains("a | <+secrets.getValue(\"tok\")>"),
        "{stderr}"
    );
    assert!(!stderr.contains("has no value"), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["stages"][0]["steps"][1]["status"], "FAILED");
    assert!(!marker.exists());
}

#[test]
fn context_choosing_secret_id_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let file = pipeline(
        dir.path(),
        &[step(
            "Run",
            "r",
            &format!("echo \"$S\" | base64\ntouch {}", marker.display()),
            "envVariables:\n  S: <+secrets.getValue(<+trigger.payload.sid>)>",
        )],
    );
    let context = r#"{"trigger":{"payload":{"sid":"tok"}}}"#;
    let output = run_with_secret(&file, Some(context), &[]);

    let stderr = assert_secret_from_data(&output, "r", "`trigger.payload.sid`");
    assert!(stderr.contains("secret-from-run-time-data"), "{stderr}");
    assert!(stderr.contains("basso run starts nothing"), "{stderr}");
    assert!(!marker.exists());
}

#[test]
fn context_map_or_index_choosing_secret_id_rejected() {
    let forms = [
        // An entry read out of a run-time map is named by its full path.
        (
            "<+secrets.getValue(<+trigger.payload>.get(\"sid\"))>",
            "`trigger.payload.sid`",
        ),
        (
            "<+secrets.getValue(<+trigger>.payload.sid)>",
            "`trigger.payload.sid`",
        ),
        (
            "<+secrets.getValue(<+trigger.payload.list>[0])>",
            "`trigger.payload.list`",
        ),
        (
            "<+secrets.getValue([\"x\",\"tok\"][<+trigger.payload.idx>])>",
            "`trigger.payload.idx`",
        ),
    ];
    for (value, data_path) in forms {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let file = pipeline(
            dir.path(),
            &[step(
                "Run",
                "r",
                &format!("echo \"$S\" | base64\ntouch {}", marker.display()),
                &format!("envVariables:\n  S: {value}"),
            )],
        );
        let context = r#"{"trigger":{"payload":{"sid":"tok","list":["tok"],"idx":1}}}"#;
        let output = run_with_secret(&file, Some(context), &[]);

        let stderr = assert_secret_from_data(&output, "r", data_path);
        assert!(
            stderr.contains("secret-from-run-time-data"),
            "{value}: {stderr}"
        );
        assert!(!marker.exists(), "{value}");
    }
}

#[test]
fn step_output_choosing_secret_id_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let writer = step(
        "Run",
        "a",
        "export ID=tok",
        "outputVariables:\n  - name: ID",
    );
    let reader = step(
        "Run",
        "b",
        &format!("echo \"$S\" | base64\ntouch {}", marker.display()),
        "envVariables:\n  S: <+secrets.getValue(<+steps.a.output.outputVariables.ID>)>",
    );
    let file = pipeline(dir.path(), &[writer, reader]);
    let output = run_with_secret(&file, None, &["--format", "json"]);

    let stderr = assert_secret_from_data(&output, "b", "outputVariables.ID`");
    assert!(!stderr.contains("has no value"), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["stages"][0]["steps"][0]["status"], "SUCCEEDED");
    assert_eq!(summary["stages"][0]["steps"][1]["status"], "FAILED");
    assert!(!marker.exists());
}

#[test]
fn missing_secret_refused_before_start() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let file = pipeline(
        dir.path(),
        &[step(
            "Run",
            "uses",
            &format!("touch {}", marker.display()),
            "envVariables:\n  TOKEN: <+secrets.getValue(\"absent\")>",
        )],
    );
    let output = run(&file, &[]);

    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("secret `absent` has no value"), "{stderr}");
    assert!(stderr.contains("BASSO_SECRET_ABSENT"), "{stderr}");
    assert!(!marker.exists());
    // The error points at the value that reads the secret.
    let source = std::fs::read_to_string(&file).unwrap();
    let (index, line) = source
        .lines()
        .enumerate()
        .find(|(_, line)| line.contains("TOKEN: <+secrets"))
        .unwrap();
    let position = format!(
        "{}:{}:{}: secret `absent`",
        file.display(),
        index + 1,
        line.find("<+").unwrap() + 1
    );
    assert!(stderr.contains(&position), "{position}\n{stderr}");
}

#[test]
fn host_port_mapping_rejected_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[step(
            "Background",
            "svc",
            "sleep 1",
            "portBindings:\n  \"18801\": \"80\"",
        )],
    );
    let output = run(&file, &[]);

    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    let position = format!("{}:28:23", file.display());
    assert!(stderr.contains(&position), "{stderr}");
    assert!(stderr.contains("error[host-port-binding]"), "{stderr}");
    assert!(stderr.contains("basso run starts nothing"), "{stderr}");
}

#[test]
fn image_step_refused_with_list() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[
            step(
                "Run",
                "in_image",
                "echo",
                "image: alpine:3.20\nconnectorRef: account.harnessImage",
            ),
            step("Run", "mapped", "echo", ""),
        ],
    );
    let output = run(&file, &[]);

    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("cannot run this pipeline on this machine"),
        "{stderr}"
    );
    assert!(
        stderr.contains("step `in_image` names image `alpine:3.20`"),
        "{stderr}"
    );
}

#[test]
fn taken_port_reported() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let file = pipeline(
        dir.path(),
        &[step(
            "Background",
            "web",
            "sleep 30",
            &format!("portBindings:\n  \"{port}\": \"{port}\""),
        )],
    );
    let output = run(&file, &[]);

    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!("port {port} of service `web` is already in use")),
        "{stderr}"
    );
}

/// Starts a pipeline whose service and step record their process ids
/// (and those of a child each) in `pids`, and returns once all are known.
fn start_stage_with_children(dir: &Path) -> (Child, Vec<u32>) {
    let pid_file = dir.join("pids");
    let record = |name: &str| {
        format!(
            "sleep 300 &\necho \"$$ $!\" > {file}.{name}\ncat {file}.{name} >> {file}.tmp\n[ \"$(wc -l < {file}.tmp)\" -ge 2 ] && mv {file}.tmp {file}\nwait",
            file = pid_file.display()
        )
    };
    let file = pipeline(
        dir,
        &[
            step("Background", "svc", &record("svc"), ""),
            step("Run", "work", &format!("sleep 0.2\n{}", record("work")), ""),
        ],
    );
    // A killed basso cannot remove its temporary folders, so they go
    // inside the test's folder.
    let mut child = basso()
        .arg("run")
        .arg(&file)
        .env("TMPDIR", dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let text = wait_for_file(&pid_file, &mut child);
    let pids = pids(&text);
    assert_eq!(pids.len(), 4, "{text}");
    for pid in &pids {
        assert!(alive(*pid), "process {pid} is not running yet");
    }
    (child, pids)
}

fn assert_all_gone(pids: &[u32], within: Duration) {
    let started = Instant::now();
    while pids.iter().any(|pid| alive(*pid)) && started.elapsed() < within {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<&u32> = pids.iter().filter(|pid| alive(**pid)).collect();
    assert!(left.is_empty(), "processes still running: {left:?}");
}

#[test]
fn sigint_mid_stage_leaves_no_process() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, pids) = start_stage_with_children(dir.path());

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();

    assert_eq!(status.code(), Some(130));
    assert_all_gone(&pids, Duration::from_secs(1));
}

#[test]
fn sighup_stops_run_like_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let (child, pids) = start_stage_with_children(dir.path());

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    let output = child.wait_with_output().unwrap();

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("received SIGHUP"), "{stderr}");
    assert!(
        text(&output.stdout).contains("aborted"),
        "{}",
        text(&output.stdout)
    );
    assert_all_gone(&pids, Duration::from_secs(1));
    // The run removed its folder under TMPDIR.
    let runs = dir.path().join(format!("basso-{}", nix::unistd::getuid()));
    let left: Vec<_> = std::fs::read_dir(&runs)
        .map(|entries| entries.flatten().map(|entry| entry.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn sighup_ignored_under_nohup() {
    let dir = tempfile::tempdir().unwrap();
    let started = dir.path().join("started");
    let file = pipeline(
        dir.path(),
        &[step(
            "Run",
            "slow",
            &format!("touch {}\nsleep 1\necho finished", started.display()),
            "",
        )],
    );
    // nohup sets SIGHUP to ignored and runs basso in its place.
    let child = Command::new("nohup")
        .arg(env!("CARGO_BIN_EXE_basso"))
        .arg("run")
        .arg(&file)
        .env_remove("BASSO_LOG")
        .env("NO_COLOR", "1")
        .env("TMPDIR", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !started.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(started.exists(), "the step never started");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    let output = child.wait_with_output().unwrap();

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("slow | finished"), "{stderr}");
    assert!(!stderr.contains("received SIGHUP"), "{stderr}");
}

#[test]
fn gc_with_missing_given_socket_fails_after_folders() {
    let dir = tempfile::tempdir().unwrap();
    // The folder of a run that ended: its lock file is not held.
    let ended = dir
        .path()
        .join(format!("basso-{}", nix::unistd::getuid()))
        .join("run-1-ended");
    std::fs::create_dir_all(&ended).unwrap();
    std::fs::write(ended.join("owner.lock"), "1\n").unwrap();

    let output = basso()
        .env("TMPDIR", dir.path())
        .env(
            "BASSO_CONTAINERD_ADDRESS",
            "/nonexistent/basso-test/containerd.sock",
        )
        .arg("gc")
        .output()
        .unwrap();

    // A socket the user named that does not exist is an error, after the
    // run folders are removed.
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(text(&output.stdout), "removed 1 run folders\n");
    assert!(stderr.contains("cannot connect to containerd"), "{stderr}");
    assert!(!ended.exists());
}

#[test]
fn sigkill_of_basso_leaves_no_process() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, pids) = start_stage_with_children(dir.path());

    child.kill().unwrap();
    child.wait().unwrap();

    // The watchdog sends SIGTERM at once and SIGKILL two seconds later.
    assert_all_gone(&pids, Duration::from_secs(10));
}

#[test]
fn example_pipeline_passes() {
    // Other test runs on this machine may run the example at the same time,
    // so this copy listens on a free port instead of the example's 18765.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/host-services.yaml");
    let source = std::fs::read_to_string(example).unwrap();
    assert!(
        source.contains("18765"),
        "the example no longer uses port 18765"
    );
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("host-services.yaml");
    std::fs::write(&copy, source.replace("18765", &free_port().to_string())).unwrap();
    let output = basso()
        .arg("run")
        .arg(&copy)
        .env("BASSO_SECRET_API_TOKEN", "example-token-value")
        .output()
        .unwrap();

    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stdout.ends_with("result: success\n"), "{stdout}");
    assert!(stdout.contains("3 passed"), "{stdout}");
    assert!(
        stderr.contains("use_output | previous step saw: hello from the web service"),
        "{stderr}"
    );
    assert!(!stderr.contains("example-token-value"), "{stderr}");
}

/// Adds a `when` block to a step snippet.
fn with_when(step: String, stage_status: &str, condition: &str) -> String {
    step.replace(
        "                  spec:\n",
        &format!(
            "                  when:\n                    stageStatus: {stage_status}\n                    condition: {condition}\n                  spec:\n"
        ),
    )
}

#[test]
fn conditions_read_run_state() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[
            step(
                "Run",
                "probe",
                "export ANSWER=yes",
                "outputVariables:\n  - name: ANSWER",
            ),
            with_when(
                step("Run", "on_yes", "echo answer was yes", ""),
                "Success",
                "<+steps.probe.output.outputVariables.ANSWER> == \"yes\"",
            ),
            with_when(
                step("Run", "on_no", "echo answer was no", ""),
                "Success",
                "<+steps.probe.output.outputVariables.ANSWER> == \"no\"",
            ),
            with_when(
                step("Run", "after_success", "echo probe succeeded", ""),
                "All",
                "<+pipeline.stages.build.spec.execution.steps.probe.status> == \"SUCCEEDED\"",
            ),
            step(
                "Run",
                "asked",
                "echo asked=$ASKED",
                "envVariables:\n  ASKED: <+input>.default(later).executionInput()",
            ),
        ],
    );
    let output = run(&file, &["--format", "json"]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("on_yes | answer was yes"), "{stderr}");
    assert!(!stderr.contains("answer was no"), "{stderr}");
    assert!(
        stderr.contains("after_success | probe succeeded"),
        "{stderr}"
    );
    assert!(stderr.contains("asked | asked=later"), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["stages"][0]["steps"][2]["status"], "SKIPPED");
}

/// Writes a pipeline whose step `later` has a `when` condition that calls
/// a method strings lack, with `variables` inserted before `stages:`, runs
/// it, and returns the position the condition has in the file and the log.
fn run_failing_condition(condition: &str, variables: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[
            step(
                "Run",
                "probe",
                "echo probing",
                "outputVariables:\n  - name: ANSWER",
            ),
            with_when(step("Run", "later", "echo later", ""), "Success", condition),
        ],
    );
    let source = std::fs::read_to_string(&file)
        .unwrap()
        .replace("  stages:\n", &format!("{variables}  stages:\n"));
    std::fs::write(&file, &source).unwrap();
    let line = source
        .lines()
        .position(|line| line.contains(condition))
        .unwrap()
        + 1;
    let column = source
        .lines()
        .nth(line - 1)
        .unwrap()
        .find(condition)
        .unwrap()
        + 1;

    let output = run(&file, &[]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    (
        format!("{}:{line}:{column}: cannot evaluate", file.display()),
        stderr,
    )
}

#[test]
fn condition_error_names_its_position() {
    let condition = "<+steps.probe.output.outputVariables.ANSWER.foo() == 2>";
    let (position, stderr) = run_failing_condition(condition, "");

    assert!(stderr.contains(&position), "{position}\n{stderr}");
    assert!(stderr.contains("help: "), "{stderr}");
}

#[test]
fn condition_error_position_after_substitution() {
    // The variable is substituted before the run, so the evaluated text is
    // not the text the file writes.
    let condition = "<+pipeline.variables.x> == \"a\" && <+steps.probe.output.outputVariables.ANSWER.foo()> == 2";
    let variables = "  variables:\n    - name: x\n      type: String\n      value: a\n";
    let (position, stderr) = run_failing_condition(condition, variables);

    assert!(stderr.contains(&position), "{position}\n{stderr}");
}

/// Returns a `stepGroup` snippet with a `when` block around `steps`, each
/// a step snippet as `step` writes it.
fn group_with_when(id: &str, when: &str, steps: &[String]) -> String {
    let mut text = format!(
        "              - stepGroup:
                  name: {id}
                  identifier: {id}
                  when:
{when}                  steps:
"
    );
    for step in steps {
        for line in step.lines() {
            text.push_str(&format!("        {line}\n"));
        }
    }
    text
}

#[test]
fn step_group_when_error_takes_group_failure_strategy() {
    let dir = tempfile::tempdir().unwrap();
    let when = "                    stageStatus: Success
                    condition: <+steps.probe.output.outputVariables.ANSWER.foo() == 2>
                  failureStrategies:
                    - onFailure:
                        errors: [AllErrors]
                        action:
                          type: Ignore
";
    let file = pipeline(
        dir.path(),
        &[
            step(
                "Run",
                "probe",
                "export ANSWER=yes",
                "outputVariables:\n  - name: ANSWER",
            ),
            group_with_when(
                "checks",
                when,
                &[step("Run", "inner", "echo inner ran", "")],
            ),
            step("Run", "after", "echo after ran", ""),
        ],
    );
    let output = run(&file, &["--format", "json"]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("cannot evaluate"), "{stderr}");
    assert_eq!(
        stderr.matches("foo()").count(),
        1,
        "the error is logged once: {stderr}"
    );
    assert!(
        stderr.contains("`when` condition of step group `checks` could not be evaluated"),
        "{stderr}"
    );
    assert!(!stderr.contains("| inner ran"), "{stderr}");
    assert!(stderr.contains("| after ran"), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["stages"][0]["status"], "SUCCEEDED", "{summary:#}");
    assert_eq!(summary["stages"][0]["steps"][1]["status"], "SKIPPED");
}

#[test]
fn step_group_when_skips_its_steps() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[
            step(
                "Run",
                "probe",
                "export ANSWER=yes",
                "outputVariables:\n  - name: ANSWER",
            ),
            group_with_when(
                "on_no",
                "                    stageStatus: Success\n                    condition: <+steps.probe.output.outputVariables.ANSWER> == \"no\"\n",
                &[step("Run", "deploy", "echo deployed", "")],
            ),
            group_with_when(
                "on_failure",
                "                    stageStatus: Failure\n",
                &[step("Run", "notify", "echo notified", "")],
            ),
            group_with_when(
                "on_yes",
                "                    stageStatus: Success\n                    condition: <+steps.probe.output.outputVariables.ANSWER> == \"yes\"\n",
                &[
                    step("Run", "first", "echo first ran", ""),
                    with_when(
                        step("Run", "never", "echo never ran", ""),
                        "Success",
                        "false",
                    ),
                ],
            ),
        ],
    );
    let output = run(&file, &["--format", "json"]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("| deployed"), "{stderr}");
    assert!(!stderr.contains("| notified"), "{stderr}");
    assert!(stderr.contains("on_yes.first | first ran"), "{stderr}");
    assert!(!stderr.contains("| never ran"), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        step_statuses(&summary),
        ["SUCCEEDED", "SKIPPED", "SKIPPED", "SUCCEEDED", "SKIPPED"]
    );
}

#[test]
fn method_calls_on_step_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[
            step(
                "Run",
                "probe",
                "export ANSWER=' yes '",
                "outputVariables:\n  - name: ANSWER",
            ),
            step(
                "Run",
                "measure",
                "export SIZE=size<+steps.probe.output.outputVariables.ANSWER.trim().length()>\necho measured $SIZE",
                "outputVariables:\n  - name: SIZE",
            ),
            step(
                "Run",
                "shout",
                "echo shout=<+steps.measure.output.outputVariables.SIZE.toUpperCase()>",
                "",
            ),
        ],
    );
    let output = run(&file, &[]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("measure | measured size3"), "{stderr}");
    assert!(stderr.contains("shout | shout=SIZE3"), "{stderr}");
}

/// Returns the 1-based number of the first line of `file` that contains `text`.
fn line_of(file: &Path, text: &str) -> usize {
    let source = std::fs::read_to_string(file).unwrap();
    source.lines().position(|line| line.contains(text)).unwrap() + 1
}

/// Returns step `a`, which exports the output `COUNT=abc`, and step `b`,
/// which reads no output and touches `marker`.
fn count_writer_and_bystander(marker: &Path) -> [String; 2] {
    [
        step(
            "Run",
            "a",
            "export COUNT=abc",
            "outputVariables:\n  - name: COUNT",
        ),
        step(
            "Run",
            "b",
            &format!("echo b ran\ntouch {}", marker.display()),
            "",
        ),
    ]
}

#[test]
fn later_step_error_fails_only_that_step() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("b_ran");
    let [writer, bystander] = count_writer_and_bystander(&marker);
    let reader = step(
        "Run",
        "c",
        "echo double=<+steps.a.output.outputVariables.COUNT * 2>",
        "",
    );
    let file = pipeline(dir.path(), &[writer, bystander, reader]);
    let output = run(&file, &["--format", "json"]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("b | b ran"), "{stderr}");
    assert!(marker.exists());
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        step_statuses(&summary),
        ["SUCCEEDED", "SUCCEEDED", "FAILED"]
    );
    let message = summary["stages"][0]["steps"][2]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("`abc` is not a number"), "{message}");
    let line = line_of(&file, "COUNT * 2");
    assert!(
        message.contains(&format!("pipeline.yaml:{line}:")),
        "{message}"
    );
}

#[test]
fn later_stage_error_fails_only_its_step() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("b_ran");
    let file = pipeline(dir.path(), &count_writer_and_bystander(&marker));
    let reader = step(
        "Run",
        "c",
        "echo double=<+pipeline.stages.build.spec.execution.steps.a.output.outputVariables.COUNT * 2>",
        "",
    );
    let mut source = std::fs::read_to_string(&file).unwrap();
    source.push_str(&stage("later", &[reader]));
    std::fs::write(&file, source).unwrap();
    let output = run(&file, &["--format", "json"]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(marker.exists(), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["stages"][0]["status"], "SUCCEEDED");
    assert_eq!(step_statuses(&summary), ["SUCCEEDED", "SUCCEEDED"]);
    let reader = &summary["stages"][1]["steps"][0];
    assert_eq!(reader["status"], "FAILED");
    let message = reader["message"].as_str().unwrap();
    assert!(message.contains("`abc` is not a number"), "{message}");
    let line = line_of(&file, "COUNT * 2");
    assert!(
        message.contains(&format!("pipeline.yaml:{line}:")),
        "{message}"
    );
}

#[test]
fn stage_variable_error_fails_only_its_reader() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("b_ran");
    let [writer, bystander] = count_writer_and_bystander(&marker);
    let reader = step("Run", "c", "echo double=<+stage.variables.double>", "");
    let file = pipeline(dir.path(), &[writer, bystander, reader]);
    let source = std::fs::read_to_string(&file).unwrap().replacen(
        "        spec:\n",
        "        variables:
          - name: double
            type: String
            value: <+steps.a.output.outputVariables.COUNT * 2>
        spec:\n",
        1,
    );
    std::fs::write(&file, source).unwrap();
    let output = run(&file, &["--format", "json"]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(marker.exists(), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        step_statuses(&summary),
        ["SUCCEEDED", "SUCCEEDED", "FAILED"]
    );
    let message = summary["stages"][0]["steps"][2]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("`stage.variables.double`"), "{message}");
    // The error at the variable's own value fails no step and is logged
    // once, though steps `b` and `c` both resolve again after `a`.
    let outside = "gives an error outside every step";
    assert_eq!(stderr.matches(outside).count(), 1, "{stderr}");
    let line = line_of(&file, "COUNT * 2");
    assert!(
        stderr.contains(&format!("pipeline.yaml:{line}:")),
        "{stderr}"
    );
}

// The file contains no `.output`, so only the bracket and `.get` forms tell
// `run` that a step reads an output.
#[test]
fn step_outputs_read_with_brackets_or_get() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[
            step(
                "Run",
                "a",
                "export V=hello",
                "outputVariables:\n  - name: V",
            ),
            step(
                "Run",
                "b",
                "echo 'brackets=<+steps.a[\"output\"][\"outputVariables\"][\"V\"]>'\necho 'get=<+steps.a.get(\"output\")[\"outputVariables\"][\"V\"]>'",
                "",
            ),
        ],
    );
    let output = run(&file, &[]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("b | brackets=hello"), "{stderr}");
    assert!(stderr.contains("b | get=hello"), "{stderr}");
}

#[test]
fn execution_input_without_default_fails() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[step(
            "Run",
            "asked",
            "echo $ASKED",
            "envVariables:\n  ASKED: <+input>.executionInput()",
        )],
    );
    let output = basso()
        .arg("run")
        .arg(&file)
        .stdin(Stdio::null())
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    let path = "pipeline.stages.build.spec.execution.steps.asked.spec.envVariables.ASKED";
    assert!(
        stderr.contains(&format!(
            "input `{path}` is asked at execution time and has no default"
        )),
        "{stderr}"
    );
    // The error points at the field, in the text and in the JSON document.
    let source = std::fs::read_to_string(&file).unwrap();
    let (index, written) = source
        .lines()
        .enumerate()
        .find(|(_, line)| line.contains("ASKED: <+input>"))
        .unwrap();
    let column = written.find("<+input>").unwrap() + 1;
    let position = format!("{}:{}:{column}", file.display(), index + 1);
    assert!(stderr.contains(&position), "{position}: {stderr}");
    let output = basso()
        .arg("run")
        .arg(&file)
        .args(["--format", "json"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let diagnostic = &document["diagnostics"][0];
    assert_eq!(diagnostic["code"], "missing-input", "{document:#}");
    assert_eq!(diagnostic["line"], index + 1, "{document:#}");
    assert_eq!(diagnostic["column"], column, "{document:#}");
    assert_eq!(diagnostic["endColumn"], written.len() + 1, "{document:#}");
}

#[test]
fn execution_input_blank_answer_positioned() {
    use std::io::Write;

    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[step(
            "Run",
            "asked",
            "echo $ASKED",
            "envVariables:\n  ASKED: <+input>.executionInput()",
        )],
    );
    let source = std::fs::read_to_string(&file).unwrap();
    let line = source
        .lines()
        .position(|line| line.contains("ASKED: <+input>"))
        .unwrap()
        + 1;
    // `script` runs basso on a pseudo-terminal, where basso prompts for the
    // value; the input is an empty line.
    let command = format!(
        "NO_COLOR=1 '{}' run '{}'",
        env!("CARGO_BIN_EXE_basso"),
        file.display()
    );
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    let output = child.wait_with_output().unwrap();

    let printed = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{printed}");
    assert!(printed.contains("value for `"), "{printed}");
    let position = format!("{}:{line}:", file.display());
    assert!(printed.contains(&position), "{position}\n{printed}");
    assert!(printed.contains("error[missing-input]"), "{printed}");
}

#[test]
fn unknown_stage_is_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(dir.path(), &[step("Run", "a", "echo", "")]);
    let output = run(&file, &["--stage", "deploy"]);

    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("no stage `deploy` in the pipeline"),
        "{stderr}"
    );
    assert!(stderr.contains("`build`"), "{stderr}");
}

/// Parses the JSON document `basso run --format json` printed on stdout.
fn stdout_json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "stdout is not JSON ({error}):\n{}\nstderr:\n{}",
            text(&output.stdout),
            text(&output.stderr)
        )
    })
}

#[test]
fn json_for_pipeline_with_errors() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let file = pipeline(
        dir.path(),
        &[step(
            "Run",
            "a",
            &format!("touch {}", marker.display()),
            "imagePullPolicy: Sometimes",
        )],
    );
    let output = run(&file, &["--format", "json"]);

    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let document = stdout_json(&output);
    assert_eq!(document["schemaVersion"], 1);
    assert_eq!(document["status"], "FAILED");
    assert_eq!(document["stages"], serde_json::json!([]));
    let message = document["message"].as_str().unwrap();
    assert!(message.contains("has errors"), "{message}");
    let check = basso()
        .args(["check", "--format", "json"])
        .arg(&file)
        .output()
        .unwrap();
    let check: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(document["diagnostics"], check["diagnostics"]);
    assert_eq!(
        document["diagnostics"][0]["code"], "unknown-image-pull-policy",
        "{document}"
    );
    assert!(!marker.exists());
}

#[test]
fn json_for_pipeline_not_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[step("Run", "a", "echo", "envVariables:\n  A: <+input>")],
    );
    let output = run(&file, &["--format", "json"]);

    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let document = stdout_json(&output);
    assert_eq!(document["schemaVersion"], 1);
    assert_eq!(document["status"], "FAILED");
    assert_eq!(document["stages"], serde_json::json!([]));
    let message = document["message"].as_str().unwrap();
    assert!(message.contains("cannot be resolved"), "{message}");
    let diagnostic = &document["diagnostics"][0];
    assert_eq!(diagnostic["code"], "missing-input", "{document}");
    assert_eq!(diagnostic["severity"], "error", "{document}");
    assert_eq!(diagnostic["line"], 28, "{document}");
    assert!(diagnostic["help"].is_string(), "{document}");
}

#[test]
fn json_for_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(dir.path(), &[step("Run", "a", "echo", "")]);
    let output = run(&file, &["--stage", "deploy", "--format", "json"]);

    assert_eq!(output.status.code(), Some(2));
    let document = stdout_json(&output);
    assert_eq!(document["status"], "FAILED");
    assert_eq!(document["stages"], serde_json::json!([]));
    assert_eq!(document["diagnostics"], serde_json::json!([]));
    let message = document["message"].as_str().unwrap();
    assert!(message.contains("no stage `deploy`"), "{message}");
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

/// Creates a git repository on branch `topic` in `dir/repo` with one
/// commit, and returns its path.
fn topic_repository(dir: &Path) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "topic"]);
    git(&repo, &["config", "user.name", "Ada"]);
    git(&repo, &["config", "user.email", "ada@example.com"]);
    std::fs::write(repo.join("marker.txt"), "in the checkout\n").unwrap();
    git(&repo, &["add", "marker.txt"]);
    git(&repo, &["commit", "-q", "-m", "add marker"]);
    repo
}

/// Writes the pipeline of [`pipeline`] with `steps` in a stage that clones
/// the codebase.
fn cloning_pipeline(dir: &Path, steps: &[String]) -> PathBuf {
    let file = pipeline(dir, steps);
    let text_with_clone = std::fs::read_to_string(&file)
        .unwrap()
        .replace("cloneCodebase: false", "cloneCodebase: true");
    std::fs::write(&file, text_with_clone).unwrap();
    file
}

#[test]
fn codebase_values_from_checkout() {
    let dir = tempfile::tempdir().unwrap();
    let repo = topic_repository(dir.path());
    let file = cloning_pipeline(
        dir.path(),
        &[step(
            "Run",
            "show",
            "echo \"branch=<+codebase.branch> short=<+codebase.shortCommitSha> env=$DRONE_COMMIT_SHA\"\ncat marker.txt",
            "",
        )],
    );
    let output = run(&file, &["--codebase", repo.to_str().unwrap()]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let head = Command::new("git")
        .arg("-C")
        .arg(&repo)
        .args(["rev-parse", "HEAD"])
        .output()
        .unwrap();
    let sha = text(&head.stdout).trim().to_string();
    let expected = format!("show | branch=topic short={} env={sha}", &sha[..7]);
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(stderr.contains("show | in the checkout"), "{stderr}");
}

#[test]
fn codebase_outside_checkout_points_at_clone_setting() {
    let dir = tempfile::tempdir().unwrap();
    let file = cloning_pipeline(dir.path(), &[step("Run", "a", "echo ran", "")]);
    let source = std::fs::read_to_string(&file).unwrap();
    let (index, line) = source
        .lines()
        .enumerate()
        .find(|(_, line)| line.contains("cloneCodebase: true"))
        .unwrap();
    let column = line.find("true").unwrap() + 1;
    let not_a_checkout = dir.path().join("plain");
    std::fs::create_dir(&not_a_checkout).unwrap();

    let output = run(&file, &["--codebase", not_a_checkout.to_str().unwrap()]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let expected = format!(
        "{}:{}:{column}: stage `build` clones the codebase, but `{}` is not inside a git checkout",
        file.display(),
        index + 1,
        not_a_checkout.display()
    );
    assert!(stderr.contains(&expected), "{expected}\n{stderr}");
}

#[test]
fn matrix_iterations_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let looped = step(
        "Run",
        "each",
        &format!(
            "touch {d}/m<+matrix.n>\nfor i in $(seq 100); do [ -e {d}/m<+matrix.other> ] && exit 0; sleep 0.1; done\nexit 1"
        ),
        "",
    )
    .replace(
        "                  spec:\n",
        "                  strategy:\n                    matrix:\n                      n: [\"a\", \"b\"]\n                      other: [\"b\", \"a\"]\n                      exclude:\n                        - n: a\n                          other: a\n                        - n: b\n                          other: b\n                  spec:\n",
    );
    let file = pipeline(dir.path(), &[looped]);
    let output = run(&file, &["--format", "json"]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let steps = summary["stages"][0]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{summary}");
    let span = |step: &serde_json::Value| {
        (
            step["startedAtMs"].as_u64().unwrap(),
            step["finishedAtMs"].as_u64().unwrap(),
        )
    };
    let (first_start, first_end) = span(&steps[0]);
    let (second_start, second_end) = span(&steps[1]);
    assert!(
        first_start <= second_end,
        "first started after second ended"
    );
    assert!(
        second_start <= first_end,
        "second started after first ended"
    );
}

#[test]
fn looped_step_group_runs_each_iteration() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let indent = |snippet: String| {
        snippet
            .lines()
            .map(|line| format!("        {line}\n"))
            .collect::<String>()
    };
    let first = indent(step(
        "Run",
        "first",
        &format!("touch {d}/<+stepGroup.identifier>-<+repeat.item>"),
        "",
    ));
    let looped = indent(
        step(
            "Run",
            "each",
            &format!("touch {d}/<+stepGroup.identifier>-each<+strategy.identifierPostFix>"),
            "",
        )
        .replace(
            "                  spec:\n",
            "                  strategy:\n                    parallelism: 2\n                  spec:\n",
        ),
    );
    let group = format!(
        "              - stepGroup:
                  name: g
                  identifier: g
                  strategy:
                    repeat:
                      items: [a, b]
                  steps:
{first}{looped}"
    );
    let file = pipeline(dir.path(), &[group]);
    let output = run(&file, &["--format", "json"]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // The summary lists concurrent steps in the order they finish.
    let mut ids: Vec<&str> = summary["stages"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "g_0.each_0",
            "g_0.each_1",
            "g_0.first",
            "g_1.each_0",
            "g_1.each_1",
            "g_1.first"
        ]
    );
    let mut written: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "pipeline.yaml")
        .collect();
    written.sort();
    assert_eq!(
        written,
        [
            "g_0-a",
            "g_0-each_0",
            "g_0-each_1",
            "g_1-b",
            "g_1-each_0",
            "g_1-each_1"
        ]
    );
}

#[test]
fn secret_masked_whatever_the_chunking() {
    let dir = tempfile::tempdir().unwrap();
    let script = "printf 'split=%s' \"$(printf '%s' \"$TOKEN\" | cut -c1-6)\"\n\
                  sleep 0.3\n\
                  printf '%s end\\n' \"$(printf '%s' \"$TOKEN\" | cut -c7-)\"\n\
                  printf 'key=%s\\n' \"$KEY\"\n\
                  printf 'err=%s\\n' \"$TOKEN\" >&2\n\
                  export COPY=\"$KEY\"\n\
                  printf 'last=%s' \"$TOKEN\"";
    let file = pipeline(
        dir.path(),
        &[step(
            "Run",
            "chunks",
            script,
            "envVariables:\n  TOKEN: <+secrets.getValue(\"token\")>\n  KEY: <+secrets.getValue(\"key\")>\noutputVariables:\n  - name: COPY",
        )],
    );
    let output = basso()
        .arg("run")
        .arg(&file)
        .args(["--format", "json"])
        .env("BASSO_SECRET_TOKEN", "tok-9f8e7d")
        .env("BASSO_SECRET_KEY", "BEGIN-KEY\nkey-middle-line\nEND-KEY")
        .output()
        .unwrap();

    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    for value in ["tok-9f8e7d", "BEGIN-KEY", "key-middle-line", "END-KEY"] {
        assert!(!stderr.contains(value), "`{value}` in stderr:\n{stderr}");
        assert!(!stdout.contains(value), "`{value}` in stdout:\n{stdout}");
    }
    assert!(stderr.contains("chunks | split=*** end"), "{stderr}");
    assert!(stderr.contains("chunks | key=***"), "{stderr}");
    assert!(stderr.contains("chunks | err=***"), "{stderr}");
    assert!(stderr.contains("chunks | last=***"), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let copy = &summary["stages"][0]["steps"][0]["outputVariables"]["COPY"];
    assert_eq!(copy, "***");
}

#[test]
fn overlapping_secrets_fully_masked() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[step(
            "Run",
            "overlap",
            "echo \"both=$FIRST$(printf '%s' \"$SECOND\" | cut -c5-)\"\nexit 7",
            "envVariables:\n  FIRST: <+secrets.getValue(\"first\")>\n  SECOND: <+secrets.getValue(\"second\")>",
        )],
    );
    let output = basso()
        .arg("run")
        .arg(&file)
        .args(["--format", "json"])
        .env("BASSO_SECRET_FIRST", "abcdef-1234")
        .env("BASSO_SECRET_SECOND", "1234-ghijkl")
        .output()
        .unwrap();

    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("overlap | both=***\n"), "{stderr}");
    for piece in ["abcdef", "ghijkl"] {
        assert!(!stderr.contains(piece), "`{piece}` in stderr:\n{stderr}");
        assert!(!stdout.contains(piece), "`{piece}` in stdout:\n{stdout}");
    }
}

#[test]
fn secret_output_variable_masked() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[
            step(
                "Run",
                "a",
                "export SO=\"s3cr3t-out-value\"\nexport PLAIN=plain-out-value",
                "outputVariables:\n  - name: SO\n    type: Secret\n  - name: PLAIN\n    type: String",
            ),
            step(
                "Run",
                "b",
                "echo \"so=<+steps.a.output.outputVariables.SO> again s3cr3t-out-value\"\n\
                 echo \"plain=<+steps.a.output.outputVariables.PLAIN>\"\n\
                 echo \"err=<+steps.a.output.outputVariables.SO>\" >&2\n\
                 exit 3",
                "",
            ),
        ],
    );
    let output = run(&file, &["--format", "json"]);

    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("s3cr3t"), "{stderr}");
    assert!(!stdout.contains("s3cr3t"), "{stdout}");
    assert!(stderr.contains("b | so=*** again ***\n"), "{stderr}");
    assert!(stderr.contains("b | err=***\n"), "{stderr}");
    assert!(stderr.contains("b | plain=plain-out-value\n"), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let outputs = &summary["stages"][0]["steps"][0]["outputVariables"];
    assert_eq!(outputs["SO"], "***");
    assert_eq!(outputs["PLAIN"], "plain-out-value");
}

#[test]
fn long_line_cut_without_leaking_secret() {
    let limit = basso_runner::lines::LINE_LIMIT;
    let dir = tempfile::tempdir().unwrap();
    // The secret starts 4 bytes before the cut, and 3 MB follow it.
    let command = format!(
        "head -c {} /dev/zero | tr '\\0' x\nprintf '%s' \"$TOKEN\"\nhead -c 3000000 /dev/zero | tr '\\0' y\necho\necho after-long-line",
        limit - 4
    );
    let file = pipeline(
        dir.path(),
        &[step(
            "Run",
            "long",
            &command,
            "envVariables:\n  TOKEN: <+secrets.getValue(\"token\")>",
        )],
    );
    let output = basso()
        .arg("run")
        .arg(&file)
        .env("BASSO_SECRET_TOKEN", "tok-9f8e7d")
        .output()
        .unwrap();

    let stderr = text(&output.stderr);
    let end = &stderr[stderr.len().saturating_sub(2000)..];
    assert_eq!(output.status.code(), Some(0), "{end}");
    assert!(stderr.contains("x*** [basso: line cut, 3000006 more bytes not shown]\n"));
    assert!(stderr.contains("long | after-long-line\n"));
    assert!(
        !stderr.contains("tok-"),
        "the start of the secret is printed"
    );
    assert!(!stderr.contains("yyyy"), "the cut part is printed");
    assert!(
        stderr.len() < limit + 10_000,
        "stderr has {} bytes",
        stderr.len()
    );
}

/// Sends each line basso prints on stderr to the returned channel.
fn stderr_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;

    let stderr = child.stderr.take().unwrap();
    let (sender, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// Waits for a stderr line containing `expected`; returns the lines so far.
fn wait_for_line(lines: &std::sync::mpsc::Receiver<String>, expected: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        match lines.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => {
                let found = line.contains(expected);
                seen.push(line);
                if found {
                    return seen;
                }
            }
            Err(_) => panic!("no line with `{expected}`:\n{}", seen.join("\n")),
        }
    }
}

#[test]
fn sigint_during_readiness_aborts_service() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let pid_file = dir.path().join("service.pid");
    let file = pipeline(
        dir.path(),
        &[
            step(
                "Background",
                "never_ready",
                &format!("echo $$ > {}\nexec sleep 300", pid_file.display()),
                &format!("portBindings:\n  \"{port}\": \"{port}\""),
            ),
            step("Run", "after", "echo after", ""),
        ],
    );
    let mut child = basso()
        .arg("run")
        .arg(&file)
        .args(["--format", "json"])
        .env("TMPDIR", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = stderr_lines(&mut child);
    wait_for_line(&lines, "waiting for service to accept connections");
    let service_pid = wait_for_file(&pid_file, &mut child).trim().parse().unwrap();

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let status = child.wait().unwrap();

    assert_eq!(status.code(), Some(130), "{stdout}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["status"], "ABORTED", "{summary}");
    let steps = &summary["stages"][0]["steps"];
    assert_eq!(steps[0]["id"], "never_ready");
    assert_eq!(steps[0]["status"], "ABORTED", "{summary}");
    assert_eq!(steps[0]["message"], "interrupted", "{summary}");
    assert_eq!(steps[1]["status"], "ABORTED", "{summary}");
    // The log and the summary give the same status.
    let seen = wait_for_line(&lines, "step aborted before it started");
    assert!(
        !seen.iter().any(|line| line.contains("skipping step")),
        "{seen:?}"
    );
    assert_all_gone(&[service_pid], Duration::from_secs(1));
}

#[test]
fn second_sigint_kills_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pids");
    let stubborn = |name: &str| {
        format!(
            "trap '' TERM\necho $$ > {file}.{name}\nexec sleep 300",
            file = pid_file.display()
        )
    };
    let wait = format!(
        "while [ ! -s {file}.svc ] || [ ! -s {file}.work ]; do sleep 0.05; done\ncat {file}.svc {file}.work > {file}",
        file = pid_file.display()
    );
    let file = pipeline(
        dir.path(),
        &[
            step("Background", "svc", &stubborn("svc"), ""),
            step("Background", "work", &stubborn("work"), ""),
            step("Run", "long", &format!("{wait}\nsleep 300"), ""),
        ],
    );
    let mut child = basso()
        .arg("run")
        .arg(&file)
        .env("TMPDIR", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pids = pids(&wait_for_file(&pid_file, &mut child));
    let lines = stderr_lines(&mut child);
    let basso_pid = nix::unistd::Pid::from_raw(child.id() as i32);

    nix::sys::signal::kill(basso_pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let mut before_second =
        wait_for_line(&lines, "waiting up to 5s for 2 services and 1 step to stop");
    if !before_second
        .iter()
        .any(|line| line.contains("received SIGINT: stopping the run"))
    {
        before_second.extend(wait_for_line(&lines, "received SIGINT: stopping the run"));
    }
    nix::sys::signal::kill(basso_pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let second = Instant::now();
    let status = child.wait().unwrap();
    let elapsed = second.elapsed();
    let rest: Vec<String> = lines.iter().collect();

    assert_eq!(status.code(), Some(130));
    // Far below the rest of the 5 s grace period.
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    assert!(
        rest.iter()
            .any(|line| line.contains("received SIGINT again")),
        "{}",
        rest.join("\n")
    );
    assert_all_gone(&pids, Duration::from_secs(1));
}

/// Lists what runs left in a `TMPDIR`: its entries other than the test's
/// own files, and the entries of basso's per-user folder in it.
fn run_leftovers(tmp: &Path) -> Vec<String> {
    let own = format!("basso-{}", nix::unistd::getuid());
    let mut left = Vec::new();
    for entry in std::fs::read_dir(tmp).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name == own {
            for inner in std::fs::read_dir(tmp.join(&own)).unwrap() {
                let inner = inner.unwrap().file_name().to_string_lossy().into_owned();
                left.push(format!("{own}/{inner}"));
            }
        } else if name.starts_with("basso") {
            left.push(name);
        }
    }
    left
}

#[test]
fn killed_run_folders_removed_by_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let marker = dir.path().join("started");
    let file = pipeline(
        dir.path(),
        &[step(
            "Run",
            "long",
            &format!("echo $$ > {}\nexec sleep 300", marker.display()),
            "",
        )],
    );
    let mut child = basso()
        .arg("run")
        .arg(&file)
        .env("TMPDIR", &tmp)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let step_pid = wait_for_file(&marker, &mut child).trim().parse().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !run_leftovers(&tmp).is_empty(),
        "the killed run left nothing"
    );

    let quick = pipeline(dir.path(), &[step("Run", "quick", "echo quick", "")]);
    let output = basso()
        .arg("run")
        .arg(&quick)
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(run_leftovers(&tmp), Vec::<String>::new());
    assert_all_gone(&[step_pid], Duration::from_secs(10));
}

/// Adds a one-entry `failureStrategies` list to a step snippet; `action` is
/// the YAML of the `action` block, indented by two spaces per level.
fn with_failure_strategy(step: String, errors: &str, action: &str) -> String {
    let mut block = format!(
        "                  failureStrategies:\n                    - onFailure:\n                        errors: [{errors}]\n                        action:\n"
    );
    for line in action.lines() {
        block.push_str(&format!("                          {line}\n"));
    }
    block.push_str("                  spec:\n");
    step.replace("                  spec:\n", &block)
}

fn step_statuses(summary: &serde_json::Value) -> Vec<String> {
    summary["stages"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["status"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn failure_strategy_ignore_continues_stage() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[
            with_failure_strategy(step("Run", "f", "exit 1", ""), "AllErrors", "type: Ignore"),
            step("Run", "g", "echo g ran", ""),
        ],
    );
    let output = run(&file, &["--format", "json"]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["status"], "SUCCEEDED");
    assert_eq!(summary["stages"][0]["status"], "SUCCEEDED");
    assert_eq!(step_statuses(&summary), ["IGNORE_FAILED", "SUCCEEDED"]);
    assert_eq!(summary["stages"][0]["steps"][0]["exitCode"], 1);
    assert!(stderr.contains("g | g ran"), "{stderr}");
}

/// Returns a `Retry` failure strategy of two retries 1 s apart, then
/// `then` (an action type such as `MarkAsFailure`).
fn retry_twice_then(then: &str) -> String {
    format!(
        "type: Retry\nspec:\n  retryCount: 2\n  retryIntervals: [1s]\n  onRetryFailure:\n    action:\n      type: {then}"
    )
}

/// Returns a script that fails with exit code 3 the first time it runs in
/// `dir` and runs `on_retry` the next time.
fn fails_first_time(dir: &Path, on_retry: &str) -> String {
    let marker = dir.join("first-attempt-done");
    format!(
        "if [ -f '{marker}' ]; then {on_retry}; else touch '{marker}'; exit 3; fi",
        marker = marker.display()
    )
}

#[test]
fn failure_strategy_retry_until_success() {
    let dir = tempfile::tempdir().unwrap();
    let script = fails_first_time(dir.path(), "echo second attempt");
    let retry = retry_twice_then("MarkAsFailure");
    let file = pipeline(
        dir.path(),
        &[
            with_failure_strategy(step("Run", "flaky", &script, ""), "AllErrors", &retry),
            step("Run", "after", "echo after ran", ""),
        ],
    );
    let output = run(&file, &["--format", "json"]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(step_statuses(&summary), ["SUCCEEDED", "SUCCEEDED"]);
    assert!(stderr.contains("retry 1 of 2"), "{stderr}");
    assert!(!stderr.contains("retry 2 of 2"), "{stderr}");
    assert!(stderr.contains("flaky | second attempt"), "{stderr}");
}

#[test]
fn retry_count_readable_by_later_step() {
    let dir = tempfile::tempdir().unwrap();
    let script = fails_first_time(dir.path(), "exit 0");
    let retry = retry_twice_then("MarkAsFailure");
    let file = pipeline(
        dir.path(),
        &[
            with_failure_strategy(step("Run", "flaky", &script, ""), "AllErrors", &retry),
            step("Run", "steady", "echo steady", ""),
            step(
                "Run",
                "after",
                "echo retries <+steps.flaky.retryCount> <+steps.steady.retryCount>",
                "",
            ),
        ],
    );
    let output = run(&file, &["--format", "json"]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("after | retries 1 0"), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["stages"][0]["steps"][0]["retryCount"], 1);
    assert_eq!(summary["stages"][0]["steps"][1]["retryCount"], 0);
}

#[test]
fn failure_strategy_retries_then_falls_back() {
    let dir = tempfile::tempdir().unwrap();
    let attempts = dir.path().join("attempts");
    let script = format!("echo try >> '{}'; exit 1", attempts.display());
    let retry = retry_twice_then("MarkAsSuccess");
    let file = pipeline(
        dir.path(),
        &[
            with_failure_strategy(step("Run", "r", &script, ""), "AllErrors", &retry),
            step("Run", "z", "echo z ran", ""),
        ],
    );
    let output = run(&file, &["--format", "json"]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let tries = std::fs::read_to_string(&attempts).unwrap();
    assert_eq!(tries.lines().count(), 3, "one run and two retries");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(step_statuses(&summary), ["SUCCEEDED", "SUCCEEDED"]);
    // Two waits of 1 s between the three attempts.
    let duration = summary["stages"][0]["steps"][0]["durationMs"]
        .as_u64()
        .unwrap();
    assert!(duration >= 2000, "{duration} ms");
}

#[test]
fn failure_strategy_mark_as_success() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[
            with_failure_strategy(
                step("Run", "m", "exit 4", ""),
                "Unknown",
                "type: MarkAsSuccess",
            ),
            step("Run", "n", "echo n ran", ""),
        ],
    );
    let output = run(&file, &["--format", "json"]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(step_statuses(&summary), ["SUCCEEDED", "SUCCEEDED"]);
    let message = summary["stages"][0]["steps"][0]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("marked as success"), "{message}");
}

#[test]
fn failure_strategy_error_types() {
    let dir = tempfile::tempdir().unwrap();
    let timed_out = |id: &str| {
        step("Run", id, "sleep 5", "").replace(
            "                  spec:\n",
            "                  timeout: 1s\n                  spec:\n",
        )
    };
    let file = pipeline(
        dir.path(),
        &[
            with_failure_strategy(timed_out("slow_ignored"), "Timeout", "type: Ignore"),
            with_failure_strategy(
                step("Run", "exit_not_timeout", "exit 2", ""),
                "Timeout",
                "type: Ignore",
            ),
            with_when(
                with_failure_strategy(timed_out("slow_not_unknown"), "Unknown", "type: Ignore"),
                "All",
                "true",
            ),
        ],
    );
    let output = run(&file, &["--format", "json"]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        step_statuses(&summary),
        ["IGNORE_FAILED", "FAILED", "EXPIRED"]
    );
}

#[test]
fn failure_strategy_unsupported_action_warns() {
    let dir = tempfile::tempdir().unwrap();
    let manual = "type: ManualIntervention\nspec:\n  timeout: 1h\n  onTimeout:\n    action:\n      type: Ignore";
    let file = pipeline(
        dir.path(),
        &[with_failure_strategy(
            step("Run", "m", "exit 1", ""),
            "AllErrors",
            manual,
        )],
    );
    let output = run(&file, &["--format", "json"]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.matches("`ManualIntervention`").count(),
        1,
        "{stderr}"
    );
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(step_statuses(&summary), ["FAILED"]);
}

#[test]
fn failure_strategy_kept_when_step_resolved_again() {
    // Reading a step status makes the runner resolve each step again before
    // it starts, and the step keeps its failure strategies through that.
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[
            with_failure_strategy(step("Run", "f", "exit 1", ""), "AllErrors", "type: Ignore"),
            step("Run", "g", "echo f was <+execution.steps.f.status>", ""),
        ],
    );
    let output = run(&file, &["--format", "json"]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(step_statuses(&summary), ["IGNORE_FAILED", "SUCCEEDED"]);
    assert!(stderr.contains("g | f was IGNORE_FAILED"), "{stderr}");
}

#[test]
fn failure_strategy_of_stage_applies_after_step() {
    let dir = tempfile::tempdir().unwrap();
    let stage_strategy = "        failureStrategies:\n          - onFailure:\n              errors: [AllErrors]\n              action:\n                type: Ignore\n        spec:\n";
    let source = std::fs::read_to_string(pipeline(
        dir.path(),
        &[
            with_failure_strategy(step("Run", "own", "exit 1", ""), "Timeout", "type: Abort"),
            step("Run", "next", "echo next ran", ""),
        ],
    ))
    .unwrap()
    .replacen("        spec:\n", stage_strategy, 1);
    let file = dir.path().join("stage-strategy.yaml");
    std::fs::write(&file, source).unwrap();
    let output = run(&file, &["--format", "json"]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // The step's own `Timeout` entry does not match an exit code, so the
    // stage's `AllErrors` entry decides.
    assert_eq!(step_statuses(&summary), ["IGNORE_FAILED", "SUCCEEDED"]);
    assert!(stderr.contains("next | next ran"), "{stderr}");
}

#[test]
fn crashed_service_fails_stage_every_time() {
    // The Run step ends as soon as the service's process is gone (exited
    // and reaped by basso), so the stage ends right after the exit.
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("service-pid");
    let service = format!("echo svc\necho $$ > '{}'\nexit 7", marker.display());
    let wait = format!(
        "while [ ! -s '{0}' ]; do sleep 0.01; done\nwhile kill -0 \"$(cat '{0}')\" 2>/dev/null; do sleep 0.01; done\necho ran",
        marker.display()
    );
    let file = pipeline(
        dir.path(),
        &[
            step("Background", "svc", &service, ""),
            step("Run", "r", &wait, ""),
        ],
    );
    for attempt in 1..=10 {
        let _ = std::fs::remove_file(&marker);
        let output = run(&file, &["--format", "json"]);

        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "run {attempt}: {stderr}");
        let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let service = &summary["stages"][0]["steps"][0];
        assert_eq!(service["status"], "FAILED", "run {attempt}: {stderr}");
        assert_eq!(service["exitCode"], 7, "run {attempt}: {stderr}");
    }
}

#[test]
fn sigterm_ends_run_with_blocked_output() {
    let dir = tempfile::tempdir().unwrap();
    let started = dir.path().join("printing");
    let script = format!(
        "touch '{}'\nhead -c 4000000 /dev/zero | tr '\\0' x\necho",
        started.display()
    );
    let file = pipeline(dir.path(), &[step("Run", "loud", &script, "")]);
    // stdout and stderr are pipes this test never reads, so they fill up
    // and every write of basso blocks.
    let mut child = Reaped(
        basso()
            .env(
                "BASSO_CONTAINERD_ADDRESS",
                "/nonexistent/basso-test/containerd.sock",
            )
            .arg("run")
            .arg(&file)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let child = &mut child.0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !started.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(started.exists(), "the step never started");
    // Enough time for the 4 MB of output to fill both pipes.
    std::thread::sleep(Duration::from_secs(1));

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut status = None;
    while status.is_none() && Instant::now() < deadline {
        status = child.try_wait().unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }

    assert!(status.is_some(), "basso still ran 30 s after SIGTERM");
    assert_eq!(status.unwrap().code(), Some(130));
}

/// A child process that is killed, if it still runs, and waited for when
/// the test ends, also when an assertion fails first.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Adds `timeout` lines to a pipeline that `pipeline` wrote: `pipeline_timeout`
/// to the pipeline and `stage_timeout` to its stage, when not empty.
fn with_timeouts(file: &Path, pipeline_timeout: &str, stage_timeout: &str) {
    let mut text = std::fs::read_to_string(file).unwrap();
    if !pipeline_timeout.is_empty() {
        text = text.replacen(
            "  identifier: test\n",
            &format!("  identifier: test\n  timeout: {pipeline_timeout}\n"),
            1,
        );
    }
    if !stage_timeout.is_empty() {
        text = text.replacen(
            "        type: CI\n",
            &format!("        type: CI\n        timeout: {stage_timeout}\n"),
            1,
        );
    }
    std::fs::write(file, text).unwrap();
}

#[test]
fn stage_timeout_stops_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[
            step("Run", "slow", "sleep 30", ""),
            step("Run", "never", "echo never", ""),
        ],
    );
    with_timeouts(&file, "", "2s");

    let started = Instant::now();
    let output = run(&file, &["--format", "json"]);
    let elapsed = started.elapsed();

    let stderr = text(&output.stderr);
    assert!(elapsed < Duration::from_secs(15), "took {elapsed:?}");
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["status"], "FAILED");
    let stage = &summary["stages"][0];
    assert_eq!(stage["status"], "EXPIRED");
    assert_eq!(stage["message"], "the stage timed out after 2s");
    assert_eq!(stage["steps"][0]["status"], "EXPIRED");
    assert_eq!(stage["steps"][1]["status"], "SKIPPED");
    assert!(
        stderr.contains("stage build timed out after 2s"),
        "{stderr}"
    );
    assert!(!stderr.contains("never | never"), "{stderr}");
}

#[test]
fn pipeline_timeout_from_input() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(dir.path(), &[step("Run", "slow", "sleep 30", "")]);
    with_timeouts(&file, "<+input>", "");

    let started = Instant::now();
    let output = run(
        &file,
        &["--format", "json", "--input", "pipeline.timeout=1s"],
    );
    let elapsed = started.elapsed();

    let stderr = text(&output.stderr);
    assert!(elapsed < Duration::from_secs(15), "took {elapsed:?}");
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["status"], "EXPIRED");
    assert_eq!(summary["stages"][0]["status"], "EXPIRED");
    assert_eq!(
        summary["stages"][0]["steps"][0]["message"],
        "the pipeline timed out after 1s"
    );
}

#[test]
fn invalid_stage_timeout_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(dir.path(), &[step("Run", "quick", "echo hi", "")]);
    with_timeouts(&file, "", "2 minutes");

    let output = run(&file, &[]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("invalid timeout `2 minutes`: `2` has no unit"),
        "{stderr}"
    );
    assert!(stderr.contains("pipeline.yaml:9:18"), "{stderr}");
    assert!(!stderr.contains("quick | hi"), "{stderr}");
}

/// A condition that mixes a pipeline variable with a step output compares
/// the variable's value as a string once the output exists.
#[test]
fn condition_mixes_variable_and_output() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[
            step(
                "Run",
                "build",
                "export CHANGED=yes",
                "outputVariables:\n  - name: CHANGED",
            ),
            with_when(
                step("Run", "deploy", "echo DEPLOYING", ""),
                "Success",
                "<+pipeline.variables.env> == \"prod\" && <+steps.build.output.outputVariables.CHANGED> == \"yes\"",
            ),
        ],
    );
    let source = std::fs::read_to_string(&file).unwrap().replace(
        "  stages:\n",
        "  variables:\n    - name: env\n      type: String\n      value: <+input>\n  stages:\n",
    );
    std::fs::write(&file, source).unwrap();

    let prod = run(&file, &["--input", "pipeline.variables.env=prod"]);
    let dev = run(&file, &["--input", "pipeline.variables.env=dev"]);

    let prod_log = text(&prod.stderr);
    assert_eq!(prod.status.code(), Some(0), "{prod_log}");
    assert!(prod_log.contains("deploy | DEPLOYING"), "{prod_log}");
    let dev_log = text(&dev.stderr);
    assert_eq!(dev.status.code(), Some(0), "{dev_log}");
    assert!(!dev_log.contains("DEPLOYING"), "{dev_log}");
}

/// A condition whose value is a string decides as Harness's JEXL does:
/// any text runs the step unless it is empty or exactly `false`.
#[test]
fn condition_string_value_decides() {
    let dir = tempfile::tempdir().unwrap();
    let output_step = |id: &str, value: &str| {
        step(
            "Run",
            id,
            &format!("export V='{value}'"),
            "outputVariables:\n  - name: V",
        )
    };
    let decided = |id: &str, condition: &str| {
        with_when(
            step("Run", id, &format!("echo {id} ran"), ""),
            "Success",
            condition,
        )
    };
    let file = pipeline(
        dir.path(),
        &[
            output_step("yes", "yes"),
            output_step("upper", "False"),
            output_step("no", "false"),
            output_step("blank", ""),
            decided("from_output", "<+steps.yes.output.outputVariables.V>"),
            decided("from_upper", "<+steps.upper.output.outputVariables.V>"),
            decided("from_false", "<+steps.no.output.outputVariables.V>"),
            decided("from_blank", "<+steps.blank.output.outputVariables.V>"),
            decided("from_variable", "<+pipeline.variables.x>"),
        ],
    );
    let source = std::fs::read_to_string(&file).unwrap().replace(
        "  stages:\n",
        "  variables:\n    - name: x\n      type: String\n      value: a\n  stages:\n",
    );
    std::fs::write(&file, source).unwrap();

    let output = run(&file, &[]);

    let log = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{log}");
    assert!(log.contains("from_output | from_output ran"), "{log}");
    assert!(log.contains("from_upper | from_upper ran"), "{log}");
    assert!(log.contains("from_variable | from_variable ran"), "{log}");
    assert!(!log.contains("from_false ran"), "{log}");
    assert!(!log.contains("from_blank ran"), "{log}");
    assert!(!log.contains("not a boolean"), "{log}");
}

#[test]
fn template_stage_and_step_refused() {
    let dir = tempfile::tempdir().unwrap();
    let template_step = "              - step:
                  name: from_template
                  identifier: from_template
                  template:
                    templateRef: org.step_tpl
                    versionLabel: \"1\"
"
    .to_string();
    let file = pipeline(
        dir.path(),
        &[step("Run", "real", "echo real ran", ""), template_step],
    );
    let template_stage = "    - stage:
        name: shared
        identifier: shared
        template:
          templateRef: account.my_stage
          versionLabel: v1
";
    let mut source = std::fs::read_to_string(&file).unwrap();
    source.push_str(template_stage);
    std::fs::write(&file, source).unwrap();

    let output = run(&file, &[]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot run this pipeline on this machine"),
        "{stderr}"
    );
    assert!(
        stderr.contains("step `from_template` (")
            && stderr.contains(":28:19) comes from a template"),
        "{stderr}"
    );
    assert!(
        stderr.contains("stage `shared` (") && stderr.contains(":34:9) comes from a template"),
        "{stderr}"
    );
    assert!(!stderr.contains("real ran"), "{stderr}");
}

/// Returns the uid of the user `nobody`, which the tests below run steps
/// as; `None` when basso cannot switch users (not root).
fn nobody_uid() -> Option<u32> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    let user = nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("user `nobody`");
    Some(user.uid.as_raw())
}

/// Runs `file` with `tmp` as `TMPDIR`, so the run folder lands in it.
fn run_with_tmpdir(file: &Path, tmp: &Path) -> Output {
    basso()
        .env(
            "BASSO_CONTAINERD_ADDRESS",
            "/nonexistent/basso-test/containerd.sock",
        )
        .env("TMPDIR", tmp)
        .arg("run")
        .arg(file)
        .output()
        .unwrap()
}

/// Creates a temporary folder that other users may enter but not list, as
/// `/tmp` lets them enter, for a `TMPDIR` of runs with `runAsUser`.
fn enterable_tmpdir(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let tmp = dir.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    for folder in [dir, tmp.as_path()] {
        std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o711)).unwrap();
    }
    tmp
}

#[test]
fn run_as_user_steps_share_workspace() {
    let Some(uid) = nobody_uid() else { return };
    let dir = tempfile::tempdir().unwrap();
    let tmp = enterable_tmpdir(dir.path());
    let file = pipeline(
        dir.path(),
        &[
            step(
                "Run",
                "write",
                "echo \"by $(id -u)\" > f.txt\nexport GREETING=hello-$(id -u)",
                &format!("runAsUser: \"{uid}\"\noutputVariables:\n  - name: GREETING"),
            ),
            step(
                "Run",
                "read",
                "echo \"file $(cat f.txt) owner $(stat -c %u f.txt)\"\necho \"output <+steps.write.output.outputVariables.GREETING>\"",
                "",
            ),
            step(
                "Run",
                "other",
                "echo \"other $(id -u) $(cat f.txt)\"\necho more > other.txt",
                "runAsUser: \"1\"",
            ),
        ],
    );
    let output = run_with_tmpdir(&file, &tmp);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("read | file by {uid} owner {uid}")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("read | output hello-{uid}")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("other | other 1 by {uid}")),
        "{stderr}"
    );
    assert!(!stderr.contains("os error 13"), "{stderr}");
}

#[test]
fn run_folder_not_listable_by_step_user() {
    let Some(uid) = nobody_uid() else { return };
    let dir = tempfile::tempdir().unwrap();
    let tmp = enterable_tmpdir(dir.path());
    let base = tmp.join("basso-0");
    let probe = format!(
        "for folder in \"$(dirname \"$HARNESS_WORKSPACE\")\" {base} .; do\n\
         \x20 if ls \"$folder\" > /dev/null 2>&1; then echo \"listed $folder\"; else echo \"closed $folder\"; fi\n\
         done",
        base = base.display()
    );
    let file = pipeline(
        dir.path(),
        &[step(
            "Run",
            "probe",
            &probe,
            &format!("runAsUser: \"{uid}\""),
        )],
    );
    let output = run_with_tmpdir(&file, &tmp);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let run_folder = stderr
        .lines()
        .find_map(|line| line.split("probe | closed ").nth(1))
        .filter(|folder| folder.contains("/run-"));
    assert!(run_folder.is_some(), "the run folder was listed:\n{stderr}");
    assert!(
        stderr.contains(&format!("probe | closed {}", base.display())),
        "{stderr}"
    );
    // The workspace itself is shared with the step user.
    assert!(stderr.contains("probe | listed ."), "{stderr}");
}

#[test]
fn run_as_user_private_tmpdir_named() {
    let Some(uid) = nobody_uid() else { return };
    // A `TMPDIR` that the step user cannot enter.
    let tmp = tempfile::tempdir().unwrap();
    let private = std::os::unix::fs::PermissionsExt::from_mode(0o700);
    std::fs::set_permissions(tmp.path(), private).unwrap();
    let file = pipeline(
        tmp.path(),
        &[step(
            "Run",
            "locked",
            "echo never",
            &format!("runAsUser: \"{uid}\""),
        )],
    );
    let output = run_with_tmpdir(&file, tmp.path());

    let stderr = text(&output.stderr);
    let tmp_path = tmp.path().canonicalize().unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let expected = format!(
        "step `locked` runs as user {uid}, which cannot enter `{}`, a folder above the working directory",
        tmp_path.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(
        stderr.contains(&format!("chmod o+x '{}'", tmp_path.display())),
        "{stderr}"
    );
    assert!(!stderr.contains("os error 13"), "{stderr}");
    assert!(!stderr.contains("locked | never"), "{stderr}");
}

#[test]
fn supplied_env_name_rejected_at_input() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let file = pipeline(
        dir.path(),
        &[step(
            "Run",
            "a",
            &format!("touch {}", marker.display()),
            "envVariables: <+input>",
        )],
    );
    let input = "pipeline.stages.build.spec.execution.steps.a.spec.envVariables={\"A=B\": x}";
    let output = run(&file, &["--input", input]);

    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("error[invalid-env-name]"), "{stderr}");
    assert!(stderr.contains("name `A=B`"), "{stderr}");
    assert!(stderr.contains("--input#1:1:"), "{stderr}");
    assert!(!marker.exists());
}

#[test]
fn supplied_env_map_secret_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[step(
            "Run",
            "a",
            "[ \"$ONE\" = \"$TWO\" ] && [ -n \"$ONE\" ] && echo same",
            "envVariables: <+input>",
        )],
    );
    let input = r#"pipeline.stages.build.spec.execution.steps.a.spec.envVariables={ONE: '<+secrets.getValue("tok")>', TWO: '<+secrets.getValue("tok")>'}"#;
    let output = run_with_secret(&file, None, &["--input", input]);

    assert_secret_not_printed(&output);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("a | same"), "{stderr}");
}

#[test]
fn supplied_input_reads_step_output() {
    let dir = tempfile::tempdir().unwrap();
    let writer = step(
        "Run",
        "a",
        "export V=from_a",
        "outputVariables:\n  - name: V",
    );
    let reader = step(
        "Run",
        "b",
        "echo \"got=$G\"",
        "envVariables:\n  G: <+input>",
    );
    let file = pipeline(dir.path(), &[writer, reader]);
    let input = "pipeline.stages.build.spec.execution.steps.b.spec.envVariables.G=<+steps.a.output.outputVariables.V>";
    let output = run(&file, &["--input", input]);

    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("got=from_a"), "{stderr}");
}

#[test]
fn codebase_method_and_secret_id_resolved_with_checkout() {
    let dir = tempfile::tempdir().unwrap();
    let repo = topic_repository(dir.path());
    let upper = step(
        "Run",
        "upper",
        "echo \"up=<+codebase.branch.toUpperCase()>\"",
        "",
    );
    let file = cloning_pipeline(dir.path(), &[upper]);
    let output = run(&file, &["--codebase", repo.to_str().unwrap()]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("upper | up=TOPIC"), "{stderr}");

    let chooser = step(
        "Run",
        "chooser",
        "echo \"$S\"",
        "envVariables:\n  S: <+secrets.getValue(<+codebase.branch>)>",
    );
    let file = cloning_pipeline(dir.path(), &[chooser]);
    let repo = repo.to_str().unwrap();
    let output = run(&file, &["--codebase", repo, "--secret", "topic=hidden"]);
    let stderr = text(&output.stderr);
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("secret-from-run-time-data"), "{stderr}");
    assert!(!stderr.contains("hidden"), "{stderr}");
}

#[test]
fn secret_first_planned_at_run_time_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let writer = step("Run", "a", "export F=1", "outputVariables:\n  - name: F");
    let reader = step(
        "Run",
        "b",
        "echo \"got=$S\"",
        "envVariables:\n  S: <+steps.a.output.outputVariables.F.trim()>-<+secrets.getValue(\"tok\")>",
    );
    let file = pipeline(dir.path(), &[writer, reader]);
    let output = basso()
        .arg("run")
        .arg(&file)
        .env("BASSO_SECRET_TOK", SECRET_VALUE)
        .output()
        .unwrap();

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("b | got=1-***"), "{stderr}");
    assert!(!stderr.contains(SECRET_VALUE), "{stderr}");
}

#[test]
fn dotted_env_key_input_reaches_step() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[step(
            "Run",
            "a",
            // `sh` exports no variable whose name is not a shell name, so
            // the shell's own environment is read.
            "tr '\\0' '\\n' < /proc/$$/environ | grep '^my[.]'",
            "envVariables:\n  my.var: <+input>.default(dotted)\n  my.set: <+input>",
        )],
    );
    let path = "pipeline.stages.build.spec.execution.steps.a.spec.envVariables.my.set";
    let output = run(&file, &["--input", &format!("{path}=X")]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("a | my.var=dotted"), "{stderr}");
    assert!(stderr.contains("a | my.set=X"), "{stderr}");
}

#[test]
fn looped_group_iterations_pass_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let groups = "              - stepGroup:
                  name: g
                  identifier: g
                  strategy:
                    matrix:
                      v: [x, y]
                  steps:
                    - step:
                        type: Run
                        name: p
                        identifier: p
                        spec:
                          shell: Sh
                          command: export O=g<+matrix.v>
                          outputVariables: [{name: O}]
              - stepGroup:
                  name: outer
                  identifier: outer
                  steps:
                    - stepGroup:
                        name: h
                        identifier: h
                        strategy:
                          matrix:
                            os: [linux, \"mac os\"]
                            nodeName: <+matrix.os>
                        steps:
                          - step:
                              type: Run
                              name: q
                              identifier: q
                              strategy:
                                repeat:
                                  items: [a, b]
                              spec:
                                shell: Sh
                                command: export O=<+stepGroup.identifier>-<+repeat.item>
                                outputVariables: [{name: O}]
"
    .to_string();
    let after = format!(
        "              - step:
                  type: Run
                  name: after
                  identifier: after
                  spec:
                    shell: Sh
                    command: |
                      echo '<+execution.steps.g_0.steps.p.output.outputVariables.O>' >> {d}/out.txt
                      echo '<+steps.g_1.steps.p.output.outputVariables.O>' >> {d}/out.txt
                      echo '<+pipeline.stages.build.spec.execution.steps.outer.steps.h_linux.steps.q_1.output.outputVariables.O>' >> {d}/out.txt
                      echo '<+steps.outer.steps.h_mac_os.steps.q_0.output.outputVariables.O>' >> {d}/out.txt
                      echo '<+steps.g_1.steps.p.status>' >> {d}/out.txt
"
    );
    let file = pipeline(dir.path(), &[groups, after]);
    let output = run(&file, &[]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let written = std::fs::read_to_string(dir.path().join("out.txt")).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(lines, ["gx", "gy", "h_linux-b", "h_mac_os-a", "SUCCEEDED"]);
}

#[test]
fn looped_stage_group_reads_sibling() {
    let dir = tempfile::tempdir().unwrap();
    let group = "              - stepGroup:
                  name: g
                  identifier: g
                  steps:
                    - step:
                        type: Run
                        name: build
                        identifier: build
                        spec:
                          shell: Sh
                          command: export RESULT=ok
                          outputVariables: [{name: RESULT}]
                    - step:
                        type: Run
                        name: deploy
                        identifier: deploy
                        when:
                          stageStatus: Success
                          condition: <+steps.build.output.outputVariables.RESULT> == \"ok\"
                        spec:
                          shell: Sh
                          command: echo \"deploying result=<+steps.build.output.outputVariables.RESULT> status=<+steps.build.status>\"
"
    .to_string();
    let looped = stage("build", &[group]).replacen(
        "        type: CI\n",
        "        type: CI\n        strategy: {matrix: {os: [linux, mac]}}\n        variables:\n          - {name: osv, type: String, value: os-<+matrix.os>}\n",
        1,
    );
    let later = stage(
        "later",
        &[step(
            "Run",
            "r",
            "echo \"later sees <+pipeline.stages.build_0.variables.osv> <+stages.build_1.variables.osv>\"",
            "",
        )],
    );
    let file = dir.path().join("pipeline.yaml");
    std::fs::write(
        &file,
        format!("pipeline:\n  name: test\n  identifier: test\n  stages:\n{looped}{later}"),
    )
    .unwrap();
    let output = run(&file, &[]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let deployed = stderr
        .lines()
        .filter(|line| line.contains("g.deploy | deploying"))
        .collect::<Vec<_>>();
    assert_eq!(deployed.len(), 2, "{stderr}");
    for line in deployed {
        assert!(
            line.ends_with("deploying result=ok status=SUCCEEDED"),
            "{stderr}"
        );
    }
    assert!(
        stderr.contains("r | later sees os-linux os-mac"),
        "{stderr}"
    );
}

#[test]
fn step_group_statuses_readable() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let groups = "              - stepGroup:
                  name: fine
                  identifier: fine
                  steps:
                    - step:
                        type: Run
                        name: a
                        identifier: a
                        spec:
                          shell: Sh
                          command: 'true'
              - stepGroup:
                  name: ignored
                  identifier: ignored
                  steps:
                    - step:
                        type: Run
                        name: b
                        identifier: b
                        spec:
                          shell: Sh
                          command: exit 3
                        failureStrategies:
                          - onFailure:
                              errors: [AllErrors]
                              action:
                                type: Ignore
              - stepGroup:
                  name: unused
                  identifier: unused
                  when:
                    stageStatus: Success
                    condition: 'false'
                  steps:
                    - step:
                        type: Run
                        name: c
                        identifier: c
                        spec:
                          shell: Sh
                          command: 'true'
              - stepGroup:
                  name: outer
                  identifier: outer
                  steps:
                    - stepGroup:
                        name: inner
                        identifier: inner
                        strategy:
                          repeat:
                            items: [x]
                        steps:
                          - step:
                              type: Run
                              name: e
                              identifier: e
                              spec:
                                shell: Sh
                                command: 'true'
"
    .to_string();
    let after = format!(
        "              - step:
                  type: Run
                  name: after
                  identifier: after
                  spec:
                    shell: Sh
                    command: |
                      echo '<+steps.fine.status>' >> {d}/out.txt
                      echo '<+execution.steps.ignored.status>' >> {d}/out.txt
                      echo '<+steps.unused.status>' >> {d}/out.txt
                      echo '<+steps.outer.steps.inner_0.status>' >> {d}/out.txt
                      echo '<+pipeline.stages.build.spec.execution.steps.outer.status>' >> {d}/out.txt
"
    );
    let file = pipeline(dir.path(), &[groups, after]);
    let output = run(&file, &[]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let written = std::fs::read_to_string(dir.path().join("out.txt")).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(
        lines,
        [
            "SUCCEEDED",
            "IGNORE_FAILED",
            "SKIPPED",
            "SUCCEEDED",
            "SUCCEEDED"
        ]
    );
}

#[test]
fn looped_group_iterations_run_together() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    // Each iteration marks its start and waits for the other's mark, which
    // only iterations that run at the same time both see.
    let group = format!(
        "              - stepGroup:
                  name: g
                  identifier: g
                  strategy:
                    repeat:
                      items: [a, b]
                  steps:
                    - step:
                        type: Run
                        name: meet
                        identifier: meet
                        timeout: 30s
                        spec:
                          shell: Sh
                          command: |
                            touch {d}/<+repeat.item>
                            for i in $(seq 100); do
                              [ -f {d}/a ] && [ -f {d}/b ] && exit 0
                              sleep 0.1
                            done
                            echo the other iteration never started
                            exit 1
"
    );
    let file = pipeline(dir.path(), &[group]);
    let output = run(&file, &["--format", "json"]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(step_statuses(&summary), ["SUCCEEDED", "SUCCEEDED"]);
}

#[test]
fn pipeline_warnings_shown_before_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[
            step(
                "Run",
                "first",
                "export V=one",
                "outputVariables: [{name: V}]\nbogusField: 1",
            ),
            step(
                "Run",
                "second",
                "echo <+steps.first.output.outputVariables.V>",
                "",
            ),
        ],
    );
    let output = run(&file, &["--format", "json"]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("warning[unknown-key]"), "{stderr}");
    assert!(stderr.contains("bogusField"), "{stderr}");
    // The run supplies step outputs, so their warning is left out.
    assert!(!stderr.contains("unresolved-at-run-time"), "{stderr}");
    assert!(stderr.contains("second | one"), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let codes: Vec<&str> = summary["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["unknown-key"]);
    let source = std::fs::read_to_string(&file).unwrap();
    let line = source
        .lines()
        .position(|l| l.contains("bogusField"))
        .unwrap()
        + 1;
    assert_eq!(summary["diagnostics"][0]["line"], line);
}

#[test]
fn execution_inputs_taken_from_input_set() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[step(
            "Run",
            "asked",
            "echo asked=$ASKED defaulted=$DEFAULTED",
            "envVariables:\n  ASKED: <+input>.executionInput()\n  DEFAULTED: <+input>.default(d).executionInput()",
        )],
    );
    let set = dir.path().join("set.yaml");
    std::fs::write(
        &set,
        "inputSet:
  name: s
  identifier: s
  pipeline:
    identifier: test
    stages:
      - stage:
          identifier: build
          type: CI
          spec:
            execution:
              steps:
                - step:
                    identifier: asked
                    type: Run
                    spec:
                      envVariables:
                        ASKED: from_set
                        DEFAULTED: also_from_set
",
    )
    .unwrap();
    let output = basso()
        .env(
            "BASSO_CONTAINERD_ADDRESS",
            "/nonexistent/basso-test/containerd.sock",
        )
        .arg("run")
        .arg(&file)
        .arg("--inputs")
        .arg(&set)
        .stdin(Stdio::null())
        .output()
        .unwrap();

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("asked | asked=from_set defaulted=also_from_set"),
        "{stderr}"
    );
}

/// Adds `when: {stageStatus: All}` to a step snippet, so that the step
/// runs after a failure too.
fn runs_always(step: String) -> String {
    step.replace(
        "                  spec:\n",
        "                  when:\n                    stageStatus: All\n                  spec:\n",
    )
}

#[test]
fn failed_service_status_readable() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[
            step("Background", "dies", "exit 9", ""),
            runs_always(step("Run", "pause", "sleep 1", "")),
            runs_always(step("Run", "look", "echo dies=<+steps.dies.status>", "")),
        ],
    );
    let output = run(&file, &[]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("look | dies=FAILED"), "{stderr}");
}

#[test]
fn group_steps_read_sibling_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let groups = format!(
        "              - stepGroup:
                  name: g
                  identifier: g
                  strategy:
                    repeat:
                      items: [a, b]
                      maxConcurrency: 1
                  steps:
                    - step:
                        type: Run
                        name: make
                        identifier: make
                        spec:
                          shell: Sh
                          command: export OUT=made-<+repeat.item>
                          outputVariables: [{{name: OUT}}]
                    - step:
                        type: Run
                        name: use
                        identifier: use
                        spec:
                          shell: Sh
                          command: echo 'use <+steps.make.output.outputVariables.OUT>' >> {d}/out.txt
                    - stepGroup:
                        name: inner
                        identifier: inner
                        steps:
                          - step:
                              type: Run
                              name: deep
                              identifier: deep
                              spec:
                                shell: Sh
                                command: echo 'deep <+steps.make.output.outputVariables.OUT>' >> {d}/out.txt
"
    );
    let file = pipeline(dir.path(), &[groups]);
    let output = run(&file, &[]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let written = std::fs::read_to_string(dir.path().join("out.txt")).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(
        lines,
        ["use made-a", "deep made-a", "use made-b", "deep made-b"]
    );
}

#[test]
fn abort_strategy_aborts_later_stages() {
    let dir = tempfile::tempdir().unwrap();
    let source = format!(
        "pipeline:
  name: test
  identifier: test
  stages:
{}{}",
        stage(
            "first",
            &[with_failure_strategy(
                step("Run", "f", "exit 1", ""),
                "AllErrors",
                "type: Abort"
            )]
        ),
        stage("second", &[step("Run", "x", "echo x ran", "")]),
    );
    let file = dir.path().join("pipeline.yaml");
    std::fs::write(&file, source).unwrap();
    let output = run(&file, &["--format", "json"]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(!stderr.contains("x ran"), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["status"], "ABORTED");
    assert_eq!(summary["stages"][1]["status"], "ABORTED");
    assert_eq!(summary["stages"][1]["steps"][0]["status"], "ABORTED");
}

#[test]
fn unset_output_variable_warned() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[step(
            "Run",
            "make",
            "SET=yes",
            "outputVariables:\n  - name: SET\n  - name: NEVER",
        )],
    );
    let output = run(&file, &[]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "output variables the step did not set, or that could not be read: NEVER; later steps read them as null"
        ),
        "{stderr}"
    );
}

#[test]
fn prompt_answer_named_in_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[step(
            "Run",
            "asked",
            "echo $ASKED",
            "envVariables:\n  ASKED: <+input>.allowedValues(x,y).executionInput()",
        )],
    );
    // `script` gives basso a terminal, so it prompts for the value.
    let command = format!("{} run {}", env!("CARGO_BIN_EXE_basso"), file.display());
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env(
            "BASSO_CONTAINERD_ADDRESS",
            "/nonexistent/basso-test/containerd.sock",
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"zzz\n").unwrap();
    let output = child.wait_with_output().unwrap();

    let printed = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(printed.contains("value `zzz` is not allowed"), "{printed}");
    assert!(
        printed.contains("(the execution input's answer or default)"),
        "{printed}"
    );
    assert!(!printed.contains("--input"), "{printed}");
}

#[test]
fn summary_lists_steps_in_plan_order() {
    let dir = tempfile::tempdir().unwrap();
    // The first iteration finishes last.
    let group = "              - stepGroup:
                  name: g
                  identifier: g
                  strategy:
                    repeat:
                      items: ['0.6', '0.3', '0']
                  steps:
                    - step:
                        type: Run
                        name: w
                        identifier: w
                        spec:
                          shell: Sh
                          command: sleep <+repeat.item>
"
    .to_string();
    let file = pipeline(dir.path(), &[group, step("Run", "after", "true", "")]);
    let output = run(&file, &["--format", "json"]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let ids: Vec<&str> = summary["stages"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["g_0.w", "g_1.w", "g_2.w", "after"]);
}

#[test]
fn group_step_when_reads_sibling() {
    let dir = tempfile::tempdir().unwrap();
    let group = "              - stepGroup:
                  name: g
                  identifier: g
                  strategy:
                    repeat:
                      items: ['1', '0']
                  steps:
                    - step:
                        type: Run
                        name: a
                        identifier: a
                        spec:
                          shell: Sh
                          command: exit <+repeat.item>
                        failureStrategies:
                          - onFailure:
                              errors: [AllErrors]
                              action:
                                type: Ignore
                    - step:
                        type: Run
                        name: b
                        identifier: b
                        when:
                          stageStatus: All
                          condition: <+steps.a.status> == \"IGNORE_FAILED\"
                        spec:
                          shell: Sh
                          command: echo b ran
"
    .to_string();
    let file = pipeline(dir.path(), &[group]);
    let output = run(&file, &["--format", "json"]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        step_statuses(&summary),
        ["IGNORE_FAILED", "SUCCEEDED", "SUCCEEDED", "SKIPPED"]
    );
}

#[test]
fn nested_group_when_reads_sibling() {
    let dir = tempfile::tempdir().unwrap();
    let group = "              - stepGroup:
                  name: g
                  identifier: g
                  steps:
                    - step:
                        type: Run
                        name: a
                        identifier: a
                        spec:
                          shell: Sh
                          command: export DONE=yes
                          outputVariables: [{name: DONE}]
                    - stepGroup:
                        name: h
                        identifier: h
                        when:
                          stageStatus: Success
                          condition: <+steps.a.output.outputVariables.DONE> == \"yes\"
                        steps:
                          - step:
                              type: Run
                              name: c
                              identifier: c
                              spec:
                                shell: Sh
                                command: echo c ran
"
    .to_string();
    let file = pipeline(dir.path(), &[group]);
    let output = run(&file, &[]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("g.h.c | c ran"), "{stderr}");
}

#[test]
fn unset_output_reads_null_not_block_text() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[
            step("Run", "make", "true", "outputVariables:\n  - name: NEVER"),
            step(
                "Run",
                "use",
                "echo 'got <+steps.make.output.outputVariables.NEVER.trim()>'",
                "",
            ),
        ],
    );
    let output = run(&file, &["--format", "json"]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        !stderr.contains("use | got"),
        "the block reached the shell: {stderr}"
    );
    assert!(stderr.contains("cannot call `trim()` on null"), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(step_statuses(&summary), ["SUCCEEDED", "FAILED"]);
}

#[test]
fn shared_path_warning_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(dir.path(), &[step("Run", "a", "echo ran", "")]);
    let text_before = std::fs::read_to_string(&file).unwrap();
    let with_paths = text_before.replace(
        "          cloneCodebase: false\n",
        "          cloneCodebase: false\n          sharedPaths:\n            - cache\n            - <+pipeline.variables.extra>\n",
    ) + "  variables:\n    - name: extra\n      type: String\n      value: /proc\n";
    assert_ne!(with_paths, text_before);
    std::fs::write(&file, with_paths).unwrap();
    let output = run(&file, &[]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr
            .matches("shared path `cache` is not an absolute path")
            .count(),
        1,
        "{stderr}"
    );
    assert_eq!(
        stderr
            .matches("shared path `<+pipeline.variables.extra>` is `/proc`, which is not shared")
            .count(),
        1,
        "{stderr}"
    );
    assert!(!stderr.contains("shared path `/proc`"), "{stderr}");
}

#[test]
fn shell_messages_give_script_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let script = "true\n# a comment\nbasso_no_such_command_x";
    // dash reports the end of a 3-line file at line 4.
    let unclosed = "true\nf() {\n  true";
    for (shell, text, extra, expected) in [
        ("Sh", script, "", ": 3: basso_no_such_command_x"),
        (
            "Sh",
            script,
            "outputVariables:\n  - name: A",
            ": 3: basso_no_such_command_x",
        ),
        (
            "Bash",
            script,
            "outputVariables:\n  - name: A",
            "line 3: basso_no_such_command_x",
        ),
        (
            "Sh",
            unclosed,
            "",
            ": 4: Syntax error: end of file unexpected",
        ),
    ] {
        let step = step("Run", "a", text, extra).replace("shell: Sh", &format!("shell: {shell}"));
        let file = pipeline(dir.path(), &[step]);
        let output = run(&file, &[]);

        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(expected), "{shell} {extra}: {stderr}");
    }
}

#[test]
fn preflight_errors_name_the_setting_position() {
    let dir = tempfile::tempdir().unwrap();
    let pwsh = step("Run", "a", "Write-Output ran", "").replace("shell: Sh", "shell: Pwsh");
    let grouped = "              - stepGroup:\n                  name: g\n                  identifier: g\n                  steps:\n".to_string()
        + &step("Run", "b", "Write-Output ran", "")
            .replace("shell: Sh", "shell: Pwsh")
            .lines()
            .map(|line| format!("      {line}\n"))
            .collect::<String>();
    let file = pipeline(dir.path(), &[pwsh, grouped]);
    let text_of_file = std::fs::read_to_string(&file).unwrap();
    // The line of each `shell: Pwsh`, in the order of the steps.
    let shell_lines: Vec<usize> = text_of_file
        .lines()
        .enumerate()
        .filter(|(_, line)| line.trim_end().ends_with("shell: Pwsh"))
        .map(|(index, _)| index + 1)
        .collect();
    assert_eq!(shell_lines.len(), 2, "{text_of_file}");
    let output = run(&file, &[]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    for (shell_line, path) in shell_lines.iter().zip(["a", "g.b"]) {
        let position = format!("{}:{shell_line}:", file.display());
        let line = stderr
            .lines()
            .find(|line| line.contains(&format!("step `{path}` needs `pwsh`")))
            .unwrap_or_else(|| panic!("{path}: {stderr}"));
        assert!(line.contains(&position), "{position}: {line}");
    }

    // The JSON document lists them as diagnostics at the same lines.
    let output = run(&file, &["--format", "json"]);
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let lines: Vec<(String, u64)> = document["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_string(),
                d["line"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, u64)> = shell_lines
        .iter()
        .map(|line| ("cannot-run".to_string(), *line as u64))
        .collect();
    assert_eq!(lines, expected, "{document:#}");
}

#[test]
fn repeated_secret_flag_warned() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[step(
            "Run",
            "a",
            "echo \"len=${#T}\"",
            "envVariables:\n  T: <+secrets.getValue(\"tok\")>",
        )],
    );
    let output = run(
        &file,
        &[
            "--secret",
            "tok=first-s3cret",
            "--secret",
            "tok=second-s3cret",
        ],
    );

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("`--secret tok` is given more than once; the last value is used"),
        "{stderr}"
    );
    assert!(stderr.contains("a | len=13"), "{stderr}");
    assert!(!stderr.contains("-s3cret"), "{stderr}");
}

#[test]
fn missing_sh_named_with_help() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(dir.path(), &[step("Run", "a", "echo ran", "")]);
    let output = basso()
        .env("PATH", dir.path().join("empty"))
        .arg("run")
        .arg(&file)
        .output()
        .unwrap();

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot start `sh`"), "{stderr}");
    assert!(
        stderr.contains("put a POSIX shell named `sh` on basso's PATH"),
        "{stderr}"
    );
}

/// Returns the step snippet `step` with a `repeat` strategy of `times`.
fn repeat_step(step: &str, times: u32) -> String {
    let looped = step.replacen(
        "                  spec:\n",
        &format!(
            "                  strategy:\n                    repeat:\n                      times: {times}\n                  spec:\n"
        ),
        1,
    );
    assert!(looped.contains("strategy:"), "{looped}");
    looped
}

/// Returns the pipeline text `pipeline` with a `repeat` strategy of
/// `times` on its first stage.
fn repeat_first_stage(pipeline: &str, times: u32) -> String {
    let looped = pipeline.replacen(
        "        type: CI\n",
        &format!(
            "        type: CI\n        strategy:\n          repeat:\n            times: {times}\n"
        ),
        1,
    );
    assert!(looped.contains("strategy:"), "{looped}");
    looped
}

#[test]
fn host_setting_warned_once_for_a_loop() {
    let dir = tempfile::tempdir().unwrap();
    let looped = repeat_step(&step("Run", "a", "echo ran", "privileged: true"), 3);
    let file = pipeline(dir.path(), &[looped]);
    let output = run(&file, &[]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr
            .matches("`privileged` has no effect on the host")
            .count(),
        1,
        "{stderr}"
    );
}

#[test]
fn basso_shared_path_warned_once_for_looped_stage() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(dir.path(), &[step("Run", "a", "echo ran", "")]);
    let written = std::fs::read_to_string(&file).unwrap();
    let looped = repeat_first_stage(&written, 2).replacen(
        "          cloneCodebase: false\n",
        "          cloneCodebase: false\n          sharedPaths:\n            - /basso/cache\n",
        1,
    );
    assert!(
        looped.contains("times: 2") && looped.contains("/basso/cache"),
        "{looped}"
    );
    std::fs::write(&file, looped).unwrap();
    let output = run(&file, &[]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr
            .matches("shared path `/basso/cache` is not shared")
            .count(),
        1,
        "{stderr}"
    );
    assert_eq!(stderr.matches("a | ran").count(), 2, "{stderr}");
}

/// A setting the host ignores is a warning at the setting, in the log and
/// in the JSON document's diagnostics.
#[test]
fn host_setting_warning_at_its_setting() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[step("Run", "a", "echo ran", "privileged: true")],
    );
    let written = std::fs::read_to_string(&file).unwrap();
    let line = written
        .lines()
        .position(|line| line.trim() == "privileged: true")
        .unwrap()
        + 1;
    let output = run(&file, &["--format", "json"]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:{line}:", file.display())),
        "{stderr}"
    );
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let ignored: Vec<&serde_json::Value> = document["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "ignored-on-host")
        .collect();
    assert_eq!(ignored.len(), 1, "{document:#}");
    assert_eq!(ignored[0]["severity"], "warning");
    assert_eq!(ignored[0]["line"], line);
}

#[test]
fn host_setting_warned_once_for_a_looped_group() {
    let dir = tempfile::tempdir().unwrap();
    // The step, indented two levels deeper, inside a group that loops.
    let inner: String = step("Run", "a", "echo ran", "privileged: true")
        .lines()
        .map(|line| format!("    {line}\n"))
        .collect();
    let group = format!(
        "              - stepGroup:
                  name: g
                  identifier: g
                  strategy:
                    repeat:
                      times: 3
                  steps:
{inner}"
    );
    let file = pipeline(dir.path(), &[group]);
    let output = run(&file, &[]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr.matches(" | ran").count(), 3, "{stderr}");
    assert_eq!(
        stderr
            .matches("`privileged` has no effect on the host")
            .count(),
        1,
        "{stderr}"
    );
}

#[test]
fn host_setting_warned_once_for_a_looped_stage() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &[step("Run", "a", "echo ran", "privileged: true")],
    );
    let written = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, repeat_first_stage(&written, 2)).unwrap();
    let output = run(&file, &[]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr.matches("a | ran").count(), 2, "{stderr}");
    assert_eq!(
        stderr
            .matches("`privileged` has no effect on the host")
            .count(),
        1,
        "{stderr}"
    );
}

#[test]
fn preflight_error_in_nested_groups_positioned() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pipeline.yaml");
    let nested = |outer: &str, id: &str, looped: bool| {
        let strategy = if looped {
            "\n                        strategy: {repeat: {times: 2}}"
        } else {
            ""
        };
        format!(
            "              - stepGroup:
                  name: {outer}
                  identifier: {outer}
                  steps:
                    - stepGroup:
                        name: {id}
                        identifier: {id}{strategy}
                        steps:
                          - step:
                              type: Run
                              name: {id}_step
                              identifier: {id}_step
                              spec:
                                shell: Pwsh
                                command: Write-Output ran
"
        )
    };
    let source = format!(
        "pipeline:\n  name: test\n  identifier: test\n  stages:\n{}",
        stage(
            "build",
            &[nested("o1", "plain", false), nested("o2", "looped", true)]
        )
    );
    std::fs::write(&file, &source).unwrap();
    let shell_lines: Vec<usize> = source
        .lines()
        .enumerate()
        .filter(|(_, line)| line.trim() == "shell: Pwsh")
        .map(|(index, _)| index + 1)
        .collect();
    assert_eq!(shell_lines.len(), 2, "{source}");

    let output = run(&file, &[]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    for (line, path) in shell_lines
        .iter()
        .zip(["o1.plain.plain_step", "o2.looped_0.looped_step"])
    {
        let position = format!("{}:{line}:", file.display());
        let error = stderr
            .lines()
            .find(|line| line.contains(&format!("step `{path}` needs `pwsh`")))
            .unwrap_or_else(|| panic!("{path}: {stderr}"));
        assert!(error.contains(&position), "{position}: {error}");
    }
}

#[test]
fn preflight_error_listed_once_for_a_loop() {
    let dir = tempfile::tempdir().unwrap();
    let pwsh = step("Run", "a", "Write-Output ran", "").replace("shell: Sh", "shell: Pwsh");
    let looped = repeat_step(&pwsh, 3);
    let file = pipeline(dir.path(), &[looped]);
    let output = run(&file, &[]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.matches("needs `pwsh`").count(), 1, "{stderr}");
}

/// Returns `step` with `block`, written as step-level YAML lines (such as
/// `when:`), inserted before its `spec`.
fn with_step_field(step: &str, block: &str) -> String {
    let indented: String = block
        .lines()
        .map(|line| format!("                  {line}\n"))
        .collect();
    let changed = step.replacen(
        "                  spec:\n",
        &format!("{indented}                  spec:\n"),
        1,
    );
    assert!(changed.len() > step.len(), "{changed}");
    changed
}

#[test]
fn tolerated_cannot_run_step_warns() {
    let dir = tempfile::tempdir().unwrap();
    let pwsh =
        |id: &str| step("Run", id, "Write-Output ran", "").replace("shell: Sh", "shell: Pwsh");
    let ignored = repeat_step(
        &with_step_field(
            &pwsh("ps"),
            "failureStrategies:\n  - onFailure:\n      errors: [AllErrors]\n      action:\n        type: Ignore",
        ),
        2,
    );
    let cleanup = with_step_field(&pwsh("cleanup"), "when:\n  stageStatus: Failure");
    let after = step("Run", "after", "echo after-ran", "");
    let file = pipeline(dir.path(), &[ignored.clone(), cleanup.clone(), after]);
    let source = std::fs::read_to_string(&file).unwrap();
    let shell_lines: Vec<usize> = source
        .lines()
        .enumerate()
        .filter(|(_, line)| line.trim() == "shell: Pwsh")
        .map(|(index, _)| index + 1)
        .collect();
    assert_eq!(shell_lines.len(), 2, "{source}");

    let output = run(&file, &["--format", "json"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    // One warning for the looped step, one for the conditional step, each
    // at its `shell` and with the reason the run starts.
    for (line, reason) in shell_lines.iter().zip([
        "failure strategy ignores the failure",
        "a `when` may skip the step",
    ]) {
        let position = format!("{}:{line}:", file.display());
        let warnings: Vec<&str> = stderr
            .lines()
            .filter(|text| text.contains(" WARN ") || text.starts_with(" WARN"))
            .filter(|text| text.contains(&position))
            .collect();
        assert_eq!(warnings.len(), 1, "{position}: {stderr}");
        assert!(warnings[0].contains(reason), "{}", warnings[0]);
        assert!(
            warnings[0].contains("help: install PowerShell"),
            "{}",
            warnings[0]
        );
    }
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let statuses: Vec<(String, String)> = document["stages"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| {
            (
                step["id"].as_str().unwrap().to_string(),
                step["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("ps_0", "IGNORE_FAILED"),
        ("ps_1", "IGNORE_FAILED"),
        ("cleanup", "SKIPPED"),
        ("after", "SUCCEEDED"),
    ]
    .map(|(id, status)| (id.to_string(), status.to_string()));
    assert_eq!(statuses, expected, "{document:#}");
    let message = document["stages"][0]["steps"][1]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("step `ps_1` needs `pwsh`"), "{message}");
    let codes: Vec<(&str, &str)> = document["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["code"].as_str().unwrap(), d["severity"].as_str().unwrap()))
        .collect();
    assert_eq!(codes, [("cannot-run", "warning"); 2], "{document:#}");

    // When a failure lets the conditional step run, it fails with the
    // problem, and so does the run.
    let failing = step("Run", "fails", "exit 3", "");
    let file = pipeline(dir.path(), &[failing, cleanup]);
    let output = run(&file, &["--format", "json"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let cleanup = &document["stages"][0]["steps"][1];
    assert_eq!(cleanup["id"], "cleanup", "{document:#}");
    assert_eq!(cleanup["status"], "FAILED", "{document:#}");
    let message = cleanup["message"].as_str().unwrap();
    assert!(message.contains("step `cleanup` needs `pwsh`"), "{message}");
    // The failure carries the position of the setting, as the warning does.
    let shell_line = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .position(|line| line.trim() == "shell: Pwsh")
        .unwrap()
        + 1;
    let position = format!("{}:{shell_line}:", file.display());
    assert!(message.starts_with(&position), "{position}: {message}");
}

#[test]
fn host_setting_warned_in_each_stage() {
    let dir = tempfile::tempdir().unwrap();
    let a = step("Run", "a", "echo ran", "privileged: true");
    let text = format!(
        "pipeline:\n  name: test\n  identifier: test\n  stages:\n{}{}",
        stage("one", std::slice::from_ref(&a)),
        stage("two", std::slice::from_ref(&a))
    );
    let file = dir.path().join("pipeline.yaml");
    std::fs::write(&file, &text).unwrap();
    let lines: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, line)| line.trim() == "privileged: true")
        .map(|(index, _)| index + 1)
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    let output = run(&file, &[]);

    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    for line in lines {
        let position = format!("{}:{line}:", file.display());
        assert_eq!(stderr.matches(&position).count(), 1, "{position}: {stderr}");
    }
}
