//! Integration tests of the runner with the host executor: real processes,
//! real ports, real files.

mod common;

use std::net::TcpListener;
use std::time::Duration;

use basso_runner::ports::free_port;
use basso_runner::*;
use common::*;

fn http_service(id: &str, port: u16) -> StepPlan {
    service(
        id,
        &format!("exec python3 -m http.server {port} --bind 127.0.0.1"),
        Some(port),
    )
}

fn fetch(url: &str) -> String {
    format!(
        "python3 -c 'import urllib.request; print(\"status\", urllib.request.urlopen(\"{url}\").status)'"
    )
}

#[test]
fn service_reached_by_later_step() {
    let port = free_port().unwrap();
    let outcome = run(vec![stage(vec![
        node(http_service("web", port)),
        node(run_step(
            "call",
            &fetch(&format!("http://localhost:{port}/")),
        )),
    ])]);

    assert_eq!(
        outcome.step("call").status,
        Status::Succeeded,
        "{}",
        outcome.console
    );
    assert!(
        outcome.console.contains("call | status 200"),
        "{}",
        outcome.console
    );
    assert_eq!(outcome.step("web").status, Status::Succeeded);
    assert_eq!(outcome.stage_status(), Status::Succeeded);
}

#[test]
fn readiness_waits_for_slow_service() {
    let port = free_port().unwrap();
    let slow = service(
        "slow",
        &format!("sleep 1\nexec python3 -m http.server {port} --bind 127.0.0.1"),
        Some(port),
    );
    let outcome = run(vec![stage(vec![
        node(slow),
        node(run_step(
            "call",
            &fetch(&format!("http://127.0.0.1:{port}/")),
        )),
    ])]);

    assert_eq!(
        outcome.step("call").status,
        Status::Succeeded,
        "{}",
        outcome.console
    );
    let waiting = format!("waiting for service to accept connections on port {port}");
    assert!(outcome.console.contains(&waiting), "{}", outcome.console);
    assert!(
        outcome.console.contains("service ready on port"),
        "{}",
        outcome.console
    );
}

#[test]
fn readiness_timeout_fails_stage() {
    let port = free_port().unwrap();
    let mut silent = service("silent", "echo starting up\nsleep 30", Some(port));
    silent.timeout = Some(Duration::from_millis(700));
    let outcome = run(vec![stage(vec![
        node(silent),
        node(run_step("after", "echo ran")),
    ])]);

    let silent = outcome.step("silent");
    assert_eq!(silent.status, Status::Failed, "{}", outcome.console);
    let message = silent.message.as_deref().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "did not accept connections on port {port} within 700ms"
        )),
        "{message}"
    );
    assert!(message.contains("starting up"), "{message}");
    assert_eq!(outcome.step("after").status, Status::Skipped);
    assert_eq!(outcome.stage_status(), Status::Failed);
}

#[test]
fn daemonizing_service_told_to_run_in_foreground() {
    let port = free_port().unwrap();
    let launcher = format!(
        "setsid python3 -m http.server {port} --bind 127.0.0.1 >/dev/null 2>&1 &\n\
         for i in $(seq 100); do python3 -c 'import socket,sys; socket.create_connection((\"127.0.0.1\", {port}))' 2>/dev/null && exit 0; sleep 0.1; done\n\
         exit 1"
    );
    let outcome = run(vec![stage(vec![
        node(service("db", &launcher, Some(port))),
        node(run_step("use", "sleep 1")),
    ])]);

    let db = outcome.step("db");
    let message = db.message.as_deref().unwrap_or_default();
    assert!(
        message.contains(&format!("so port {port} is closed")),
        "{message}\n{}",
        outcome.console
    );
    assert!(
        message.contains("help: run the service in the foreground"),
        "{message}"
    );
}

#[test]
fn readiness_timeout_names_ipv6_only_service() {
    let port = free_port().unwrap();
    let mut v6 = service(
        "v6",
        &format!("exec python3 -m http.server {port} --bind ::1"),
        Some(port),
    );
    v6.timeout = Some(Duration::from_secs(3));
    let outcome = run(vec![stage(vec![
        node(v6),
        node(run_step("after", "echo ran")),
    ])]);

    let v6 = outcome.step("v6");
    assert_eq!(v6.status, Status::Failed, "{}", outcome.console);
    let message = v6.message.as_deref().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "help: a process accepts connections on [::1]:{port} but not on 127.0.0.1:{port}"
        )),
        "{message}"
    );
}

/// A service with port bindings that exits with 0 before it accepts
/// connections fails the stage at once, instead of the next step meeting a
/// closed port: the executor stops what the service left running.
#[test]
fn service_exit_zero_before_ready_fails() {
    let port = free_port().unwrap();
    let once = service("once", "echo configured", Some(port));
    let outcome = run(vec![stage(vec![
        node(once),
        node(run_step("client", "echo ran")),
    ])]);

    let once = outcome.step("once");
    assert_eq!(once.status, Status::Failed, "{}", outcome.console);
    assert_eq!(once.exit_code, Some(0));
    let message = once.message.as_deref().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "exited with code 0 before it accepted connections on port {port}"
        )),
        "{message}"
    );
    assert!(
        message.contains("help: run the service in the foreground"),
        "{message}"
    );
    assert_eq!(outcome.step("client").status, Status::Skipped);
    assert_eq!(
        outcome
            .console
            .matches("before it accepted connections")
            .count(),
        1,
        "{}",
        outcome.console
    );
}

/// A service that crashes while an earlier one is still waited for ends
/// the wait: the stage fails with its exit code, and the earlier service's
/// readiness timeout does not run out.
#[test]
fn service_crash_ends_readiness_wait() {
    let port = free_port().unwrap();
    let mut slow = service("slow", "sleep 60", Some(port));
    slow.timeout = Some(Duration::from_secs(3));
    let crashing = service("crashing", "echo broken config\nexit 4", None);
    let outcome = run(vec![stage(vec![
        node(slow),
        node(crashing),
        node(run_step("after", "echo ran")),
    ])]);

    let crashing = outcome.step("crashing");
    assert_eq!(crashing.status, Status::Failed, "{}", outcome.console);
    assert_eq!(crashing.exit_code, Some(4));
    assert!(
        !outcome.console.contains("did not accept connections"),
        "{}",
        outcome.console
    );
    assert_eq!(outcome.step("after").status, Status::Skipped);
    assert_eq!(outcome.stage_status(), Status::Failed);
}

/// Once one service misses its readiness timeout, the stage fails and the
/// next service is not waited for as well.
#[test]
fn readiness_timeout_ends_the_wait() {
    let (first_port, second_port) = (free_port().unwrap(), free_port().unwrap());
    let mut first = service("first", "sleep 30", Some(first_port));
    first.timeout = Some(Duration::from_millis(500));
    let mut second = service("second", "sleep 30", Some(second_port));
    second.timeout = Some(Duration::from_millis(500));
    let outcome = run(vec![stage(vec![
        node(first),
        node(second),
        node(run_step("after", "echo ran")),
    ])]);

    assert_eq!(
        outcome.step("first").status,
        Status::Failed,
        "{}",
        outcome.console
    );
    assert_eq!(
        outcome.console.matches("waiting for service").count(),
        1,
        "{}",
        outcome.console
    );
    assert_eq!(outcome.step("after").status, Status::Skipped);
    assert_eq!(outcome.stage_status(), Status::Failed);
}

#[test]
fn no_wait_skips_readiness() {
    let port = free_port().unwrap();
    let silent = service("silent", "sleep 30", Some(port));
    let setup = Setup {
        wait_for_ports: false,
        readiness_timeout: Duration::from_millis(200),
        ..Setup::default()
    };
    let outcome = run_with(
        vec![stage(vec![
            node(silent),
            node(run_step("after", "echo ran")),
        ])],
        setup,
    );

    assert_eq!(
        outcome.step("after").status,
        Status::Succeeded,
        "{}",
        outcome.console
    );
    assert!(
        !outcome.console.contains("waiting for service"),
        "{}",
        outcome.console
    );
}

#[test]
fn service_without_ports_not_waited_for() {
    let outcome = run(vec![stage(vec![
        node(service("worker", "sleep 30", None)),
        node(run_step("after", "echo ran")),
    ])]);

    assert_eq!(
        outcome.step("after").status,
        Status::Succeeded,
        "{}",
        outcome.console
    );
    assert!(
        outcome
            .console
            .contains("service has no port bindings; not waiting for it"),
        "{}",
        outcome.console
    );
}

#[test]
fn output_variable_flows_to_later_step() {
    let mut produce = run_step("produce", "export VERSION=\"1.2.$((40 + 2))\"");
    produce.spec.output_variables = vec!["VERSION".into(), "UNSET".into()];
    let mut consume = run_step("consume", "echo \"got $V\"");
    consume.spec.env = vec![(
        "V".into(),
        "<+steps.produce.output.outputVariables.VERSION>".into(),
    )];
    let outcome = run(vec![stage(vec![node(produce), node(consume)])]);

    let produced = &outcome.step("produce").output_variables;
    assert_eq!(produced.get("VERSION").map(String::as_str), Some("1.2.42"));
    assert!(!produced.contains_key("UNSET"));
    assert!(
        outcome.console.contains("consume | got 1.2.42"),
        "{}",
        outcome.console
    );
}

#[test]
fn output_writer_not_taken_by_continued_last_line() {
    let mut step = run_step("cont", "export A=set\necho last line \\");
    step.spec.output_variables = vec!["A".into()];
    let outcome = run(vec![stage(vec![node(step)])]);

    let result = outcome.step("cont");
    assert_eq!(
        result.output_variables.get("A").map(String::as_str),
        Some("set")
    );
    assert!(!outcome.console.contains("__basso"), "{}", outcome.console);
    assert!(
        outcome.console.contains("cont | last line"),
        "{}",
        outcome.console
    );
}

#[test]
fn output_variable_captured_after_failure_and_python() {
    let mut python = run_step("py", "import os\nos.environ['ANSWER'] = 'forty two'");
    python.spec.shell = Some("Python".into());
    python.spec.output_variables = vec!["ANSWER".into()];
    let mut bash = run_step("sh", "export PARTIAL=yes\nexit 3");
    bash.spec.shell = Some("Bash".into());
    bash.spec.output_variables = vec!["PARTIAL".into()];
    // A Python script that raises still records its outputs, and its
    // traceback gives the script's own line numbers.
    let mut raising = run_step(
        "raising",
        "import os\nos.environ['EARLY'] = 'set'\nraise RuntimeError('stop')",
    );
    raising.spec.shell = Some("Python".into());
    raising.spec.output_variables = vec!["EARLY".into()];
    let outcome = run(vec![stage(vec![node(python), node(bash)])]);
    let raised = run(vec![stage(vec![node(raising)])]);

    let answer = outcome.step("py").output_variables.get("ANSWER").cloned();
    assert_eq!(answer.as_deref(), Some("forty two"), "{}", outcome.console);
    let early = raised
        .step("raising")
        .output_variables
        .get("EARLY")
        .cloned();
    assert_eq!(early.as_deref(), Some("set"), "{}", raised.console);
    assert!(
        raised.console.contains("line 3, in <module>"),
        "{}",
        raised.console
    );
    assert_eq!(outcome.step("sh").exit_code, Some(3));
    let partial = outcome.step("sh").output_variables.get("PARTIAL").cloned();
    assert_eq!(partial.as_deref(), Some("yes"));
}

/// A value that is not valid UTF-8 changes only that value, and a warning
/// names its variable. The step's other output variables are kept.
#[test]
fn invalid_utf8_output_keeps_other_variables() {
    let mut bash = run_step("sh", "export BAD=$'caf\\xe9'\nexport GOOD=fine");
    bash.spec.shell = Some("Bash".into());
    bash.spec.output_variables = vec!["BAD".into(), "GOOD".into()];
    let mut python = run_step(
        "py",
        "import os\nos.environb[b'BAD'] = b'caf\\xe9'\nos.environ['GOOD'] = 'fine'",
    );
    python.spec.shell = Some("Python".into());
    python.spec.output_variables = vec!["BAD".into(), "GOOD".into()];
    let consume = run_step(
        "consume",
        "echo \"got <+steps.sh.output.outputVariables.GOOD>\"",
    );
    let outcome = run(vec![stage(vec![node(bash), node(python), node(consume)])]);

    for step in ["sh", "py"] {
        let outputs = &outcome.step(step).output_variables;
        let good = outputs.get("GOOD").map(String::as_str);
        assert_eq!(good, Some("fine"), "{step}: {}", outcome.console);
        let bad = outputs.get("BAD").map(String::as_str);
        assert_eq!(bad, Some("caf\u{FFFD}"), "{step}: {}", outcome.console);
    }
    assert!(
        outcome.console.contains("consume | got fine"),
        "{}",
        outcome.console
    );
    assert!(
        outcome
            .console
            .contains("output variable `BAD` is not valid UTF-8 (byte 4 of its value)"),
        "{}",
        outcome.console
    );
    assert_eq!(outcome.stage_status(), Status::Succeeded);
}

/// A step that owns its output folder cannot make basso read another file
/// through a symbolic link, nor block it with a FIFO; the variables it
/// wrote as plain files are kept.
#[test]
fn output_links_and_fifos_not_read() {
    let outside = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(outside.path(), "outside-content").unwrap();
    let mut step = run_step(
        "tricky",
        &format!(
            "out=\"$(dirname \"$0\")/outputs\"\nln -s {} \"$out/LINK\"\nmkfifo \"$out/PIPE\"\nexport GOOD=fine",
            outside.path().display()
        ),
    );
    step.spec.output_variables = vec!["LINK".into(), "PIPE".into(), "GOOD".into()];
    let outcome = run(vec![stage(vec![node(step)])]);

    let outputs = &outcome.step("tricky").output_variables;
    assert_eq!(
        outputs.get("GOOD").map(String::as_str),
        Some("fine"),
        "{}",
        outcome.console
    );
    assert_eq!(outputs.get("LINK"), None, "{}", outcome.console);
    assert_eq!(outputs.get("PIPE"), None, "{}", outcome.console);
    assert!(
        !outcome.console.contains("outside-content"),
        "{}",
        outcome.console
    );
    assert!(
        outcome
            .console
            .contains("symbolic link, which basso does not follow"),
        "{}",
        outcome.console
    );
    assert!(
        outcome.console.contains("it is not a regular file"),
        "{}",
        outcome.console
    );
}

#[test]
fn output_variables_survive_user_exit_trap() {
    for shell in ["Sh", "Bash"] {
        let mut step = run_step(
            "trapped",
            "trap 'echo user cleanup' EXIT\nexport VERSION=3.1",
        );
        step.spec.shell = Some(shell.into());
        step.spec.output_variables = vec!["VERSION".into()];
        let outcome = run(vec![stage(vec![node(step)])]);

        let version = outcome
            .step("trapped")
            .output_variables
            .get("VERSION")
            .cloned();
        assert_eq!(
            version.as_deref(),
            Some("3.1"),
            "{shell}: {}",
            outcome.console
        );
        assert!(
            outcome.console.contains("trapped | user cleanup"),
            "{shell}: {}",
            outcome.console
        );
    }
}

#[test]
fn stdout_and_stderr_lines_keep_order() {
    let script = (1..=40)
        .map(|line| {
            let stream = if line % 2 == 0 { " >&2" } else { "" };
            format!("echo line-{line}{stream}")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let outcome = run(vec![stage(vec![node(run_step("mixed", &script))])]);

    assert_eq!(
        outcome.step("mixed").status,
        Status::Succeeded,
        "{}",
        outcome.console
    );
    let printed: Vec<&str> = outcome
        .console
        .lines()
        .filter_map(|line| line.strip_prefix("mixed | "))
        .collect();
    let expected: Vec<String> = (1..=40).map(|line| format!("line-{line}")).collect();
    assert_eq!(printed, expected, "{}", outcome.console);
}

#[test]
fn secret_never_printed() {
    let mut secrets = Secrets::new();
    secrets.insert("token", "hunter2-value");
    secrets.insert("key", "first line\nsecond line");
    let mut echo = run_step(
        "echo",
        "echo \"env: $TOKEN\"\necho 'inline: <+secrets.getValue(\"token\")>'\nprintf '%s\\n' \"$KEY\"\nexport LEAK=\"$TOKEN\"",
    );
    echo.spec.env = vec![
        ("TOKEN".into(), "<+secrets.getValue(\"token\")>".into()),
        ("KEY".into(), "<+secrets.getValue(\"key\")>".into()),
    ];
    echo.spec.output_variables = vec!["LEAK".into()];
    echo.spec.secrets = vec!["token".into(), "key".into()];
    let mut noisy = service("noisy", "echo \"service sees $TOKEN\"\nsleep 30", None);
    noisy.spec.env = vec![("TOKEN".into(), "<+secrets.getValue(\"token\")>".into())];
    noisy.spec.secrets = vec!["token".into()];
    let setup = Setup {
        secrets,
        ..Setup::default()
    };
    let outcome = run_with(
        vec![stage(vec![
            node(noisy),
            node(run_step("pause", "sleep 0.3")),
            node(echo),
        ])],
        setup,
    );

    assert_eq!(
        outcome.step("echo").status,
        Status::Succeeded,
        "{}",
        outcome.console
    );
    for value in ["hunter2-value", "first line", "second line"] {
        assert!(
            !outcome.console.contains(value),
            "`{value}` printed:\n{}",
            outcome.console
        );
    }
    assert!(
        outcome.console.contains("echo | env: ***"),
        "{}",
        outcome.console
    );
    assert!(
        outcome.console.contains("echo | inline: ***"),
        "{}",
        outcome.console
    );
    assert!(
        outcome.console.contains("noisy | service sees ***"),
        "{}",
        outcome.console
    );
    let summary = serde_json::to_string(&outcome.summary.masked(&secrets_masker())).unwrap();
    assert!(!summary.contains("hunter2-value"), "{summary}");
    assert!(summary.contains("\"LEAK\":\"***\""), "{summary}");
}

#[test]
fn nul_in_env_value_fails_step() {
    let mut secrets = Secrets::new();
    secrets.insert("token", "left\0right");
    let mut show = run_step("show", "echo \"$TOKEN\"");
    show.spec.env = vec![("TOKEN".into(), "<+secrets.getValue(\"token\")>".into())];
    show.spec.secrets = vec!["token".into()];
    let setup = Setup {
        secrets,
        ..Setup::default()
    };
    let outcome = run_with(vec![stage(vec![node(show)])], setup);

    let result = outcome.step("show");
    assert_eq!(result.status, Status::Failed, "{}", outcome.console);
    let message = result.message.as_deref().unwrap_or_default();
    assert!(
        message.contains("environment variable `TOKEN` contains a NUL character"),
        "{message}"
    );
    assert!(!outcome.console.contains("left"), "{}", outcome.console);
    assert!(!message.contains("left"), "{message}");
}

fn secrets_masker() -> Masker {
    Masker::new(["hunter2-value", "first line\nsecond line"])
}

#[test]
fn parallel_steps_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let marker = |own: &str, other: &str| {
        format!(
            "touch {d}/{own}\nfor i in $(seq 100); do [ -e {d}/{other} ] && exit 0; sleep 0.1; done\nexit 1",
            d = dir.path().display()
        )
    };
    let outcome = run(vec![stage(vec![Node::Parallel {
        nodes: vec![
            node(run_step("left", &marker("left", "right"))),
            node(run_step("right", &marker("right", "left"))),
        ],
        max_concurrency: None,
    }])]);

    let left = outcome.step("left");
    let right = outcome.step("right");
    assert_eq!(left.status, Status::Succeeded, "{}", outcome.console);
    assert_eq!(right.status, Status::Succeeded, "{}", outcome.console);
    let (left_start, left_end) = (left.started_at_ms.unwrap(), left.finished_at_ms.unwrap());
    let (right_start, right_end) = (right.started_at_ms.unwrap(), right.finished_at_ms.unwrap());
    assert!(left_start <= right_end, "left started after right ended");
    assert!(right_start <= left_end, "right started after left ended");
}

#[test]
fn failing_step_fails_stage() {
    let mut cleanup = run_step("cleanup", "echo cleaning");
    cleanup.when = Some(When {
        status: StatusRule::Failure,
        condition: None,
        condition_span: None,
    });
    let outcome = run(vec![stage(vec![
        node(run_step("broken", "echo before\nfalse\necho after")),
        node(run_step("next", "echo next")),
        node(cleanup),
    ])]);

    let broken = outcome.step("broken");
    assert_eq!(broken.status, Status::Failed);
    assert_eq!(broken.exit_code, Some(1));
    assert!(
        !outcome.console.contains("broken | after"),
        "errexit is off:\n{}",
        outcome.console
    );
    assert_eq!(outcome.step("next").status, Status::Skipped);
    assert_eq!(outcome.step("cleanup").status, Status::Succeeded);
    assert_eq!(outcome.stage_status(), Status::Failed);
    assert_eq!(outcome.summary.status, Status::Failed);
}

#[test]
fn service_crash_fails_stage() {
    let outcome = run(vec![stage(vec![
        node(service(
            "db",
            "echo loading data\necho fatal: disk full\nexit 4",
            None,
        )),
        node(run_step("wait", "sleep 1")),
        node(run_step("later", "echo later")),
    ])]);

    let db = outcome.step("db");
    assert_eq!(db.status, Status::Failed, "{}", outcome.console);
    assert_eq!(db.exit_code, Some(4));
    let message = db.message.as_deref().unwrap_or_default();
    assert!(message.contains("exit code 4"), "{message}");
    assert!(message.contains("fatal: disk full"), "{message}");
    assert_eq!(outcome.step("later").status, Status::Skipped);
    assert_eq!(outcome.stage_status(), Status::Failed);
}

#[test]
fn last_service_crash_fails_stage() {
    let port = free_port().unwrap();
    let crashing = service(
        "web",
        "sleep 0.2\necho cannot bind: address in use\nexit 3",
        Some(port),
    );
    let outcome = run(vec![stage(vec![
        node(run_step("first", "echo first")),
        node(crashing),
    ])]);

    let web = outcome.step("web");
    assert_eq!(web.status, Status::Failed, "{}", outcome.console);
    assert_eq!(web.exit_code, Some(3));
    let message = web.message.as_deref().unwrap_or_default();
    assert!(message.contains("exit code 3"), "{message}");
    assert!(message.contains("cannot bind: address in use"), "{message}");
    assert_eq!(outcome.stage_status(), Status::Failed);
}

/// A service that ends with an error code when the stage stops it fails,
/// as one that crashed earlier does; one that SIGTERM ends succeeds.
#[test]
fn service_error_on_stop_fails_stage() {
    let outcome = run(vec![stage(vec![
        node(service(
            "db",
            "trap 'echo closing with an error; exit 3' TERM\necho up\nwhile :; do sleep 0.1; done",
            None,
        )),
        node(service(
            "plain",
            "echo up\nwhile :; do sleep 0.1; done",
            None,
        )),
        node(run_step("wait", "sleep 0.5")),
    ])]);

    let db = outcome.step("db");
    assert_eq!(db.status, Status::Failed, "{}", outcome.console);
    assert_eq!(db.exit_code, Some(3));
    let message = db.message.as_deref().unwrap_or_default();
    assert!(message.contains("when the stage stopped it"), "{message}");
    assert_eq!(outcome.step("plain").status, Status::Succeeded);
    assert_eq!(outcome.stage_status(), Status::Failed);
}

#[test]
fn last_service_ready_succeeds() {
    let port = free_port().unwrap();
    let outcome = run(vec![stage(vec![
        node(run_step("first", "echo first")),
        node(http_service("web", port)),
    ])]);

    assert_eq!(
        outcome.step("web").status,
        Status::Succeeded,
        "{}",
        outcome.console
    );
    assert!(
        outcome.console.contains("service ready on port"),
        "{}",
        outcome.console
    );
    assert_eq!(outcome.stage_status(), Status::Succeeded);
}

#[test]
fn service_clean_exit_is_warning() {
    let outcome = run(vec![stage(vec![
        node(service("once", "echo done", None)),
        node(run_step("wait", "sleep 0.5")),
    ])]);

    let once = outcome.step("once");
    assert_eq!(once.status, Status::Succeeded, "{}", outcome.console);
    assert!(
        once.message
            .as_deref()
            .unwrap_or_default()
            .contains("exited with code 0")
    );
    assert_eq!(outcome.stage_status(), Status::Succeeded);
}

#[test]
fn taken_port_reported() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let outcome = run(vec![stage(vec![
        node(service(
            "web",
            "echo should not start; sleep 30",
            Some(port),
        )),
        node(run_step("after", "echo after")),
    ])]);

    let web = outcome.step("web");
    assert_eq!(web.status, Status::Failed);
    let message = web.message.as_deref().unwrap_or_default();
    assert!(
        message.contains(&format!("port {port} of service `web` is already in use")),
        "{message}"
    );
    assert!(
        !outcome.console.contains("should not start"),
        "{}",
        outcome.console
    );
    assert_eq!(outcome.stage_status(), Status::Failed);
}

#[test]
fn step_timeout_stops_step() {
    let mut slow = run_step("slow", "echo started\nsleep 30");
    slow.timeout = Some(Duration::from_millis(500));
    let outcome = run(vec![stage(vec![node(slow)])]);

    let slow = outcome.step("slow");
    assert_eq!(slow.status, Status::Expired, "{}", outcome.console);
    assert!(slow.duration < Duration::from_secs(10));
    assert_eq!(outcome.stage_status(), Status::Failed);
}

#[test]
fn stage_end_stops_service_processes() {
    let pid_file = tempfile::NamedTempFile::new().unwrap();
    let path = pid_file.path().display();
    let spawner = service(
        "spawner",
        &format!("sleep 300 &\necho $! > {path}.child\necho $$ > {path}\nwait"),
        None,
    );
    let outcome = run(vec![stage(vec![
        node(spawner),
        node(run_step("pause", "sleep 0.3")),
    ])]);

    assert_eq!(
        outcome.stage_status(),
        Status::Succeeded,
        "{}",
        outcome.console
    );
    let read_pid = |path: String| {
        std::fs::read_to_string(path)
            .unwrap()
            .trim()
            .parse::<u32>()
            .unwrap()
    };
    let shell = read_pid(format!("{path}"));
    let child = read_pid(format!("{path}.child"));
    assert!(!process_runs(shell), "service shell {shell} still runs");
    assert!(!process_runs(child), "service child {child} still runs");
    let _ = std::fs::remove_file(format!("{path}.child"));
}

#[test]
fn builtin_variables_and_workspace() {
    let outcome = run(vec![stage(vec![node(run_step(
        "show",
        "echo \"ids $HARNESS_STAGE_ID $HARNESS_STEP_ID $DRONE_BUILD_NUMBER\"\necho \"cwd $(pwd)\"\necho \"ws $HARNESS_WORKSPACE\"",
    ))])]);

    assert!(
        outcome.console.contains("show | ids build show 1"),
        "{}",
        outcome.console
    );
    let workspace = outcome.workspace.path().canonicalize().unwrap();
    assert!(
        outcome
            .console
            .contains(&format!("show | cwd {}", workspace.display())),
        "{}",
        outcome.console
    );
    assert!(
        outcome
            .console
            .contains(&format!("show | ws {}", outcome.workspace.path().display())),
        "{}",
        outcome.console
    );
}

#[test]
fn entrypoint_overrides_command() {
    let mut step = run_step("argv", "echo from command");
    step.spec.entrypoint = vec![
        "sh".into(),
        "-c".into(),
        "echo \"from argv $0\"".into(),
        "zero".into(),
    ];
    let outcome = run(vec![stage(vec![node(step)])]);

    assert!(
        outcome.console.contains("argv | from argv zero"),
        "{}",
        outcome.console
    );
    assert!(
        !outcome.console.contains("from command"),
        "{}",
        outcome.console
    );
}

#[test]
fn script_files_removed_after_step() {
    let outcome = run(vec![stage(vec![node(run_step("one", "echo $0"))])]);

    let line = outcome
        .console
        .lines()
        .find(|line| line.starts_with("one | "))
        .unwrap();
    let script = line.trim_start_matches("one | ");
    assert!(script.ends_with("script.sh"), "{script}");
    assert!(
        !std::path::Path::new(script).exists(),
        "{script} still exists"
    );
    let left: Vec<_> = std::fs::read_dir(&outcome.scratch).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn junit_reports_counted() {
    let report = r#"<testsuites><testsuite name="s"><testcase name="a"/><testcase name="b"><failure message="x"/></testcase></testsuite></testsuites>"#;
    let mut tests = run_step(
        "tests",
        &format!(
            "mkdir -p out\ncat > out/junit.xml <<'XML'\n{report}\nXML\necho '<testsuites><broken' > out/bad.xml"
        ),
    );
    tests.spec.report_paths = vec!["out/*.xml".into()];
    let outcome = run(vec![stage(vec![node(tests)])]);

    let counts = outcome.step("tests").tests.unwrap();
    assert_eq!((counts.tests, counts.failed), (2, 1));
    assert_eq!(outcome.summary.stages[0].tests.unwrap().tests, 2);
    assert!(
        outcome.console.contains("cannot read JUnit report"),
        "{}",
        outcome.console
    );
    assert!(outcome.console.contains("bad.xml"), "{}", outcome.console);
}

/// Reports without a suite `name`, cut short, or with counts only are
/// counted; paths that match nothing or leave the workspace are named.
#[test]
fn junit_reports_read_leniently() {
    let script = [
        "mkdir -p r",
        r#"printf '<testsuite><testcase name="a"><failure/></testcase><testcase name="b"><skipped/></testcase><testcase name="c"><error/></testcase>' > r/trunc.xml"#,
        r#"printf '<testsuites><testsuite tests="5" failures="2"/></testsuites>' > r/counts.xml"#,
        "echo 'not xml at all' > r/garbage.xml",
    ];
    let mut tests = run_step("tests", &script.join("\n"));
    let escape = "../../../../../../../../etc/passwd";
    tests.spec.report_paths = ["r/*.xml", "/etc/passwd", escape, "nomatch/*.xml"]
        .map(String::from)
        .to_vec();
    let outcome = run(vec![stage(vec![node(tests)])]);

    let counts = outcome.step("tests").tests.unwrap();
    assert_eq!(counts.tests, 8, "{}", outcome.console);
    assert_eq!(counts.failed, 4, "{}", outcome.console);
    assert_eq!(counts.skipped, 1, "{}", outcome.console);
    let expected = [
        "trunc.xml` ends before its last element is closed".to_string(),
        "cannot read JUnit report".to_string(),
        "no JUnit report matches report path `nomatch/*.xml`".to_string(),
        "report path `/etc/passwd` matches `/etc/passwd`, which is outside the workspace".into(),
        format!("report path `{escape}` matches `/etc/passwd`, which is outside the workspace"),
    ];
    for text in expected {
        assert!(
            outcome.console.contains(&text),
            "{text}: {}",
            outcome.console
        );
    }
}

#[test]
fn pwsh_missing_is_clear_error() {
    let mut step = run_step("ps", "Write-Host hi");
    step.spec.shell = Some("Pwsh".into());
    let executor = HostExecutor::new(&tempfile::tempdir().unwrap().path().join("s")).unwrap();
    let preflight =
        basso_runner::preflight::check(&[stage(vec![node(step)])], &executor, &Secrets::new());

    assert_eq!(preflight.errors.len(), 1, "{:?}", preflight.errors);
    assert!(
        preflight.errors[0]
            .message
            .contains("needs `pwsh`, which is not found in basso's PATH"),
        "{}",
        preflight.errors[0]
    );
    assert_eq!(preflight.errors[0].setting, Some("shell"));
}

#[test]
fn missing_program_path_named() {
    let mut step = run_step("tool", "");
    step.spec.command = None;
    step.spec.entrypoint = vec!["/nonexistent/basso-test/tool".into()];
    let executor = HostExecutor::new(&tempfile::tempdir().unwrap().path().join("s")).unwrap();
    let preflight =
        basso_runner::preflight::check(&[stage(vec![node(step)])], &executor, &Secrets::new());

    assert_eq!(preflight.errors.len(), 1, "{:?}", preflight.errors);
    let error = &preflight.errors[0];
    assert_eq!(error.setting, Some("entrypoint"));
    let error = &error.message;
    assert!(
        error.contains("needs `/nonexistent/basso-test/tool`, which is not a file on this host"),
        "{error}"
    );
    assert!(!error.contains("PATH"), "{error}");
}

#[test]
fn entrypoint_program_from_secret_runs() {
    let mut secrets = Secrets::new();
    secrets.insert("program", "/bin/echo");
    let mut step = run_step("show", "");
    step.spec.entrypoint = vec![
        "<+secrets.getValue(\"program\")>".into(),
        "from a secret".into(),
    ];
    step.spec.secrets = vec!["program".into()];
    let stages = vec![stage(vec![node(step)])];
    let executor = HostExecutor::new(&tempfile::tempdir().unwrap().path().join("s")).unwrap();
    let preflight = basso_runner::preflight::check(&stages, &executor, &secrets);
    assert!(preflight.errors.is_empty(), "{:?}", preflight.errors);

    let setup = Setup {
        secrets,
        ..Setup::default()
    };
    let outcome = run_with(stages, setup);
    assert_eq!(
        outcome.step("show").status,
        Status::Succeeded,
        "{}",
        outcome.console
    );
    assert!(
        outcome.console.contains("show | from a secret"),
        "{}",
        outcome.console
    );
}

#[test]
fn step_path_applies_inside_script() {
    let mut steps = Vec::new();
    for shell in ["Sh", "Bash"] {
        let mut step = run_step(shell, "echo \"path=$PATH\"");
        step.spec.shell = Some(shell.into());
        step.spec.env = vec![("PATH".into(), "/nonexistent".into())];
        steps.push(node(step));
    }
    let outcome = run(vec![stage(steps)]);

    for shell in ["Sh", "Bash"] {
        assert_eq!(
            outcome.step(shell).status,
            Status::Succeeded,
            "{}",
            outcome.console
        );
        assert!(
            outcome
                .console
                .contains(&format!("{shell} | path=/nonexistent")),
            "{}",
            outcome.console
        );
    }
}

#[test]
fn missing_shell_error_names_program_and_path() {
    let mut step = run_step("ps", "Write-Host hi");
    step.spec.shell = Some("Pwsh".into());
    let outcome = run(vec![stage(vec![node(step)])]);

    assert_eq!(
        outcome.step("ps").status,
        Status::Failed,
        "{}",
        outcome.console
    );
    let path = std::env::var("PATH").unwrap();
    let expected = format!("step `ps` needs `pwsh`, which is not found in basso's PATH `{path}`");
    assert!(outcome.console.contains(&expected), "{}", outcome.console);
    assert!(
        outcome
            .console
            .contains("help: install PowerShell (`pwsh`)"),
        "{}",
        outcome.console
    );
}

#[test]
fn preflight_lists_everything_it_cannot_run() {
    let mut image = run_step("img", "echo");
    image.spec.image = Some("alpine:3".into());
    let mut plugin = run_step("plug", "");
    plugin.step_type = "Plugin".into();
    let mut mapped = service("mapped", "sleep 1", None);
    mapped.spec.port_bindings = vec![PortBinding {
        host: "8080".into(),
        container: "80".into(),
    }];
    let mut warned = run_step("warned", "echo");
    warned.spec.privileged = true;
    warned.spec.has_resources = true;
    warned.spec.image_pull_policy = Some("Always".into());
    let mut unavailable_secret = run_step("s", "echo <+secrets.getValue(\"nope\")>");
    unavailable_secret.spec.secrets = vec!["nope".into()];
    let mut other_os = stage(vec![
        node(image),
        node(plugin),
        node(mapped),
        node(warned),
        node(unavailable_secret),
    ]);
    other_os.os = Some("Windows".into());
    let executor = HostExecutor::new(&tempfile::tempdir().unwrap().path().join("s")).unwrap();
    let preflight = basso_runner::preflight::check(&[other_os], &executor, &Secrets::new());

    let places: Vec<(Option<&str>, Option<&str>)> = preflight
        .errors
        .iter()
        .map(|error| (error.step.as_deref(), error.setting))
        .collect();
    assert_eq!(
        places,
        [
            (None, None),
            (Some("img"), Some("image")),
            (Some("plug"), None),
            (Some("mapped"), Some("portBindings")),
            (Some("s"), Some("command")),
        ],
        "{:?}",
        preflight.errors
    );
    assert!(preflight.errors.iter().all(|error| error.stage == "build"));
    let errors: Vec<&str> = preflight
        .errors
        .iter()
        .map(|error| error.message.as_str())
        .collect();
    let errors = errors.join("\n");
    assert!(
        errors.contains("stage `build` is for os `Windows`"),
        "{errors}"
    );
    assert!(
        errors.contains("step `img` names image `alpine:3`, and no container executor"),
        "{errors}"
    );
    assert!(errors.contains("step `plug` has type `Plugin`"), "{errors}");
    assert!(
        errors.contains("binds host port 8080 to container port 80"),
        "{errors}"
    );
    assert!(errors.contains("secret `nope` has no value"), "{errors}");
    assert_eq!(preflight.warnings, Vec::<String>::new());
    let ignored: Vec<Option<&str>> = preflight.ignored.iter().map(|i| i.setting).collect();
    assert_eq!(
        ignored,
        [
            Some("privileged"),
            Some("resources"),
            Some("imagePullPolicy")
        ],
        "{:?}",
        preflight.ignored
    );
}

#[test]
fn run_as_user_switches_user() {
    if !nix::unistd::geteuid().is_root() {
        let mut step = run_step("who", "id -u");
        step.spec.run_as_user = Some("1".into());
        let executor = HostExecutor::new(&tempfile::tempdir().unwrap().path().join("s")).unwrap();
        let preflight =
            basso_runner::preflight::check(&[stage(vec![node(step)])], &executor, &Secrets::new());
        assert!(
            preflight
                .errors
                .iter()
                .any(|error| error.message.contains("needs basso to run as root")
                    && error.setting == Some("runAsUser")),
            "{:?}",
            preflight.errors
        );
        return;
    }
    let mut step = run_step("who", "id -u");
    step.spec.run_as_user = Some("65534".into());
    let setup = Setup {
        workspace_mode: Some(0o777),
        ..Setup::default()
    };
    let outcome = run_with(vec![stage(vec![node(step)])], setup);
    assert!(
        outcome.console.contains("who | 65534"),
        "{}",
        outcome.console
    );
}

/// Returns the uid and gid of the user `nobody`, which the tests below run
/// steps as; `None` when basso cannot switch users (not root).
fn nobody() -> Option<(u32, u32)> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    let user = nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("user `nobody`");
    Some((user.uid.as_raw(), user.gid.as_raw()))
}

#[test]
fn run_as_user_shares_workspace() {
    let Some((uid, _)) = nobody() else { return };
    let mut write = run_step(
        "write",
        "echo \"from $(id -u)\" > shared.txt\nexport MESSAGE=\"written by $(id -u)\"",
    );
    write.spec.run_as_user = Some(uid.to_string());
    write.spec.output_variables = vec!["MESSAGE".into()];
    // Root reads the file and the output variable of the step user.
    let mut read = run_step(
        "read",
        "echo \"file: $(cat shared.txt)\"; echo \"output: $M\"",
    );
    read.spec.env = vec![(
        "M".into(),
        "<+steps.write.output.outputVariables.MESSAGE>".into(),
    )];
    // A third user reads the file and writes beside it.
    let mut other = run_step("other", "cat shared.txt; echo more > other.txt; id -u");
    other.spec.run_as_user = Some("1".into());
    let setup = Setup {
        workspace_mode: Some(0o777),
        ..Setup::default()
    };
    let outcome = run_with(
        vec![stage(vec![node(write), node(read), node(other)])],
        setup,
    );

    for id in ["write", "read", "other"] {
        assert_eq!(
            outcome.step(id).status,
            Status::Succeeded,
            "{}",
            outcome.console
        );
    }
    let expected_output = format!("written by {uid}");
    assert_eq!(
        outcome.step("write").output_variables.get("MESSAGE"),
        Some(&expected_output)
    );
    let console = &outcome.console;
    assert!(
        console.contains(&format!("read | file: from {uid}")),
        "{console}"
    );
    assert!(
        console.contains(&format!("read | output: written by {uid}")),
        "{console}"
    );
    assert!(
        console.contains(&format!("other | from {uid}")),
        "{console}"
    );
    assert!(console.contains("other | 1"), "{console}");

    use std::os::unix::fs::MetadataExt;
    let shared = std::fs::metadata(outcome.workspace.path().join("shared.txt")).unwrap();
    assert_eq!(shared.uid(), uid);
    let other_file = std::fs::metadata(outcome.workspace.path().join("other.txt")).unwrap();
    assert_eq!(other_file.uid(), 1);
}

#[test]
fn run_as_user_private_workspace_names_folder() {
    let Some((uid, _)) = nobody() else { return };
    let mut step = run_step("locked", "echo never");
    step.spec.run_as_user = Some(uid.to_string());
    let setup = Setup {
        workspace_mode: Some(0o700),
        ..Setup::default()
    };
    let outcome = run_with(vec![stage(vec![node(step)])], setup);

    let result = outcome.step("locked");
    assert_eq!(result.status, Status::Failed, "{}", outcome.console);
    let message = result.message.clone().unwrap_or_default();
    let workspace = outcome.workspace.path().canonicalize().unwrap();
    assert!(message.contains("step `locked`"), "{message}");
    assert!(message.contains(&format!("user {uid}")), "{message}");
    assert!(
        message.contains(&format!("`{}`, the working directory", workspace.display())),
        "{message}"
    );
    assert!(message.contains("mode 0700"), "{message}");
    assert!(message.contains("help: "), "{message}");
    assert!(!message.contains("os error 13"), "{message}");
    assert!(
        !outcome.console.contains("locked | never"),
        "{}",
        outcome.console
    );
}

#[test]
fn script_folder_owned_by_step_user() {
    let Some((uid, gid)) = nobody() else { return };
    let mut step = run_step("owner", r#"stat -c 'folder %u:%g %a' "$(dirname "$0")""#);
    step.spec.run_as_user = Some(uid.to_string());
    let setup = Setup {
        workspace_mode: Some(0o777),
        ..Setup::default()
    };
    let outcome = run_with(vec![stage(vec![node(step)])], setup);

    let expected = format!("owner | folder {uid}:{gid} 700");
    assert!(outcome.console.contains(&expected), "{}", outcome.console);
}

#[test]
fn script_folder_is_private() {
    // Scripts may hold secret values written into the command text.
    let step = run_step("mode", r#"stat -c 'mode %a' "$(dirname "$0")""#);
    let outcome = run(vec![stage(vec![node(step)])]);
    assert!(
        outcome.console.contains("mode | mode 700"),
        "{}",
        outcome.console
    );
}

#[test]
fn summary_table_lists_steps() {
    let outcome = run(vec![stage(vec![
        node(run_step("a", "true")),
        node(run_step("b", "false")),
    ])]);

    let table = outcome.summary.to_table();
    assert!(
        table
            .lines()
            .any(|line| line.starts_with("build  a") && line.contains("success")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|line| line.contains(" b ") && line.contains("failed")),
        "{table}"
    );
    assert!(table.ends_with("result: failed\n"), "{table}");
    let json = serde_json::to_value(&outcome.summary).unwrap();
    assert_eq!(json["schemaVersion"], 1);
    assert_eq!(json["stages"][0]["steps"][1]["status"], "FAILED");
}
