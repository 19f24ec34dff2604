//! Stage and pipeline `timeout` with the host executor: real processes that
//! would run for 30 s or more are stopped after a second or two.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use basso_runner::*;
use common::*;

/// Far below the 30 s the stopped steps would sleep, and far above the
/// timeouts plus the 2 s stop grace of the test setup.
const WELL_UNDER_SLEEP: Duration = Duration::from_secs(15);

fn timed_stage(id: &str, timeout: Option<Duration>, nodes: Vec<Node>) -> StagePlan {
    StagePlan {
        id: id.into(),
        name: id.into(),
        timeout,
        nodes,
        ..StagePlan::default()
    }
}

/// Returns a step that writes its shell's process id to `pid_file`, then
/// sleeps for 30 s.
fn sleeper(id: &str, pid_file: &Path) -> StepPlan {
    run_step(id, &format!("echo $$ > {}\nsleep 30", pid_file.display()))
}

fn read_pid(path: &Path) -> u32 {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .unwrap()
}

/// Returns `step` with one failure strategy: on `errors`, retry twice after
/// `intervals`, then apply `then`.
fn with_retry(
    mut step: StepPlan,
    errors: &str,
    intervals: Vec<Duration>,
    then: FailureAction,
) -> StepPlan {
    step.failure_strategies = vec![FailureStrategy {
        errors: vec![errors.into()],
        action: FailureAction::Retry {
            count: 2,
            intervals,
            on_retry_failure: Box::new(then),
        },
    }];
    step
}

#[test]
fn stage_timeout_stops_step_and_skips_rest() {
    let files = tempfile::tempdir().unwrap();
    let pid_file = files.path().join("slow.pid");
    let marker = files.path().join("later-ran");
    let later = run_step("later", &format!("touch {}", marker.display()));
    let stage = timed_stage(
        "test",
        Some(Duration::from_secs(2)),
        vec![node(sleeper("slow", &pid_file)), node(later)],
    );

    let started = Instant::now();
    let outcome = run(vec![stage]);
    let elapsed = started.elapsed();

    assert!(elapsed < WELL_UNDER_SLEEP, "took {elapsed:?}");
    let slow = outcome.step("slow");
    assert_eq!(slow.status, Status::Expired, "{}", outcome.console);
    assert_eq!(
        slow.message.as_deref(),
        Some("the stage timed out after 2s")
    );
    let later = outcome.step("later");
    assert_eq!(later.status, Status::Skipped);
    assert_eq!(
        later.message.as_deref(),
        Some("the stage timed out after 2s")
    );
    assert!(!marker.exists(), "a step after the timeout ran");
    assert_eq!(outcome.stage_status(), Status::Expired);
    assert_eq!(
        outcome.summary.stages[0].message.as_deref(),
        Some("the stage timed out after 2s")
    );
    assert_eq!(outcome.summary.status, Status::Failed);
    assert!(
        outcome.console.contains("stage test timed out after 2s"),
        "{}",
        outcome.console
    );
    let pid = read_pid(&pid_file);
    assert!(!process_runs(pid), "step shell {pid} still runs");
}

#[test]
fn stage_timeout_stops_service() {
    let files = tempfile::tempdir().unwrap();
    let pid_file = files.path().join("service.pid");
    let db = service(
        "db",
        &format!("echo $$ > {}\nsleep 300", pid_file.display()),
        None,
    );
    let stage = timed_stage(
        "test",
        Some(Duration::from_secs(1)),
        vec![node(db), node(run_step("slow", "sleep 30"))],
    );

    let started = Instant::now();
    let outcome = run(vec![stage]);

    assert!(started.elapsed() < WELL_UNDER_SLEEP);
    let db = outcome.step("db");
    assert_eq!(db.status, Status::Expired, "{}", outcome.console);
    assert_eq!(db.message.as_deref(), Some("the stage timed out after 1s"));
    assert_eq!(outcome.step("slow").status, Status::Expired);
    assert_eq!(outcome.stage_status(), Status::Expired);
    let pid = read_pid(&pid_file);
    assert!(!process_runs(pid), "service shell {pid} still runs");
}

#[test]
fn stage_timeout_stops_parallel_steps() {
    let stage = timed_stage(
        "test",
        Some(Duration::from_secs(1)),
        vec![Node::Parallel {
            nodes: vec![
                node(run_step("left", "sleep 30")),
                node(run_step("right", "sleep 30")),
            ],
            max_concurrency: None,
        }],
    );

    let started = Instant::now();
    let outcome = run(vec![stage]);

    assert!(started.elapsed() < WELL_UNDER_SLEEP);
    assert_eq!(outcome.step("left").status, Status::Expired);
    assert_eq!(outcome.step("right").status, Status::Expired);
    assert_eq!(outcome.stage_status(), Status::Expired);
}

#[test]
fn stage_timeout_bypasses_failure_strategies() {
    let slow = with_retry(
        run_step("slow", "echo attempt\nsleep 30"),
        "AllErrors",
        Vec::new(),
        FailureAction::Ignore,
    );
    let stage = timed_stage("test", Some(Duration::from_secs(1)), vec![node(slow)]);

    let started = Instant::now();
    let outcome = run(vec![stage]);

    assert!(started.elapsed() < WELL_UNDER_SLEEP);
    let slow = outcome.step("slow");
    assert_eq!(slow.status, Status::Expired, "{}", outcome.console);
    assert_eq!(
        outcome.console.matches("attempt").count(),
        1,
        "{}",
        outcome.console
    );
    assert_eq!(outcome.stage_status(), Status::Expired);
}

#[test]
fn stage_timeout_during_retry_wait() {
    let flaky = with_retry(
        run_step("flaky", "exit 1"),
        "Unknown",
        vec![Duration::from_secs(30)],
        FailureAction::MarkAsFailure,
    );
    let stage = timed_stage("test", Some(Duration::from_secs(1)), vec![node(flaky)]);

    let started = Instant::now();
    let outcome = run(vec![stage]);

    assert!(started.elapsed() < WELL_UNDER_SLEEP);
    let flaky = outcome.step("flaky");
    assert_eq!(flaky.status, Status::Expired, "{}", outcome.console);
    assert_eq!(
        flaky.message.as_deref(),
        Some("the step ended with exit code 1; the stage timed out after 1s before retry 1")
    );
    assert_eq!(flaky.retry_count, 0, "the retry never started");
    assert_times_cover_wait(flaky);
    assert_eq!(outcome.stage_status(), Status::Expired);
}

#[test]
fn interrupt_during_retry_wait() {
    let flaky = with_retry(
        run_step("flaky", "exit 1"),
        "Unknown",
        vec![Duration::from_secs(30)],
        FailureAction::MarkAsFailure,
    );
    let setup = Setup::default();
    let cancel = setup.cancel.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        cancel.store(true, std::sync::atomic::Ordering::SeqCst);
    });

    let started = Instant::now();
    let outcome = run_with(vec![stage(vec![node(flaky)])], setup);

    assert!(started.elapsed() < WELL_UNDER_SLEEP);
    let flaky = outcome.step("flaky");
    assert_eq!(flaky.status, Status::Aborted, "{}", outcome.console);
    assert_eq!(
        flaky.message.as_deref(),
        Some("the step ended with exit code 1; interrupted before retry 1")
    );
    assert_eq!(flaky.retry_count, 0, "the retry never started");
    assert_times_cover_wait(flaky);
}

/// Asserts that a step's start, finish and duration agree, and that they
/// include the second of retry wait before the interruption.
fn assert_times_cover_wait(step: &StepResult) {
    let started = step.started_at_ms.unwrap();
    let finished = step.finished_at_ms.unwrap();
    let duration = step.duration.as_millis();
    assert!(duration >= 900, "duration {duration} ms");
    assert!(
        (finished - started).abs_diff(duration) < 200,
        "started {started}, finished {finished}, duration {duration} ms"
    );
}

#[test]
fn step_timeout_inside_stage_timeout() {
    let mut quick = run_step("quick", "sleep 30");
    quick.timeout = Some(Duration::from_millis(500));
    quick.failure_strategies = vec![FailureStrategy {
        errors: vec!["Timeout".into()],
        action: FailureAction::Ignore,
    }];
    let stage = timed_stage(
        "test",
        Some(Duration::from_secs(20)),
        vec![node(quick), node(run_step("after", "echo after"))],
    );

    let outcome = run(vec![stage]);

    let quick = outcome.step("quick");
    assert_eq!(quick.status, Status::IgnoreFailed, "{}", outcome.console);
    assert!(
        quick
            .message
            .as_deref()
            .unwrap_or_default()
            .starts_with("the step timed out after 500ms"),
        "{:?}",
        quick.message
    );
    assert_eq!(outcome.step("after").status, Status::Succeeded);
    assert_eq!(outcome.stage_status(), Status::Succeeded);
}

#[test]
fn pipeline_timeout_across_stages() {
    let first = timed_stage("first", None, vec![node(run_step("quick", "sleep 0.5"))]);
    let second = timed_stage("second", None, vec![node(run_step("slow", "sleep 30"))]);
    let mut third = timed_stage("third", None, vec![node(run_step("cleanup", "echo c"))]);
    third.when = Some(When {
        status: StatusRule::All,
        condition: None,
        condition_span: None,
    });
    let setup = Setup {
        pipeline_timeout: Some(Duration::from_secs(2)),
        ..Setup::default()
    };

    let started = Instant::now();
    let outcome = run_with(vec![first, second, third], setup);

    assert!(started.elapsed() < WELL_UNDER_SLEEP);
    let stages = &outcome.summary.stages;
    assert_eq!(stages[0].status, Status::Succeeded, "{}", outcome.console);
    assert_eq!(stages[1].status, Status::Expired);
    assert_eq!(
        stages[1].message.as_deref(),
        Some("the pipeline timed out after 2s")
    );
    assert_eq!(stages[1].steps[0].status, Status::Expired);
    assert_eq!(stages[2].status, Status::Skipped);
    assert_eq!(
        stages[2].message.as_deref(),
        Some("the pipeline timed out after 2s")
    );
    assert_eq!(stages[2].steps[0].status, Status::Skipped);
    assert_eq!(outcome.summary.status, Status::Expired);
    assert!(
        outcome
            .console
            .contains("pipeline timed out after 2s; stopping stage second"),
        "{}",
        outcome.console
    );
}

#[test]
fn pipeline_timeout_before_stage_timeout() {
    let stage = timed_stage(
        "test",
        Some(Duration::from_secs(20)),
        vec![node(run_step("slow", "sleep 30"))],
    );
    let setup = Setup {
        pipeline_timeout: Some(Duration::from_secs(1)),
        ..Setup::default()
    };

    let started = Instant::now();
    let outcome = run_with(vec![stage], setup);

    assert!(started.elapsed() < WELL_UNDER_SLEEP);
    assert_eq!(
        outcome.step("slow").message.as_deref(),
        Some("the pipeline timed out after 1s")
    );
    assert_eq!(outcome.stage_status(), Status::Expired);
    assert_eq!(outcome.summary.status, Status::Expired);
}

#[test]
fn stage_within_timeout_succeeds() {
    let stage = timed_stage(
        "test",
        Some(Duration::from_secs(20)),
        vec![node(run_step("quick", "echo done"))],
    );
    let setup = Setup {
        pipeline_timeout: Some(Duration::from_secs(20)),
        ..Setup::default()
    };

    let outcome = run_with(vec![stage], setup);

    assert_eq!(
        outcome.stage_status(),
        Status::Succeeded,
        "{}",
        outcome.console
    );
    assert_eq!(outcome.summary.stages[0].message, None);
    assert_eq!(outcome.summary.status, Status::Succeeded);
}

/// Returns a step command that starts `sleep 300` in a new session with
/// `setsid`, which takes it out of the step's process group, writes its
/// process id to `pid_file`, and then runs `rest`.
fn setsid_sleeper(pid_file: &Path, rest: &str) -> String {
    format!(
        "setsid sh -c 'echo $$ > {}; exec sleep 300' &\nwhile [ ! -s {} ]; do sleep 0.05; done\n{rest}",
        pid_file.display(),
        pid_file.display()
    )
}

#[test]
fn step_timeout_stops_setsid_process() {
    let files = tempfile::tempdir().unwrap();
    let pid_file = files.path().join("escaped.pid");
    let mut stubborn = run_step("stubborn", &setsid_sleeper(&pid_file, "sleep 30"));
    stubborn.timeout = Some(Duration::from_secs(1));

    let started = Instant::now();
    let outcome = run(vec![stage(vec![node(stubborn)])]);

    let elapsed = started.elapsed();
    assert!(elapsed < WELL_UNDER_SLEEP, "{elapsed:?}");
    assert_eq!(outcome.step("stubborn").status, Status::Expired);
    let pid = read_pid(&pid_file);
    assert!(!process_runs(pid), "setsid process {pid} still runs");
}

#[test]
fn step_end_stops_setsid_process() {
    let files = tempfile::tempdir().unwrap();
    let pid_file = files.path().join("escaped.pid");
    let quick = run_step("quick", &setsid_sleeper(&pid_file, "sleep 0.5"));

    let outcome = run(vec![stage(vec![node(quick)])]);

    assert_eq!(outcome.step("quick").status, Status::Succeeded);
    let pid = read_pid(&pid_file);
    assert!(!process_runs(pid), "setsid process {pid} still runs");
}

#[test]
fn setsid_process_ignoring_sigterm_is_killed() {
    let files = tempfile::tempdir().unwrap();
    let pid_file = files.path().join("escaped.pid");
    let command = format!("trap '' TERM\n{}", setsid_sleeper(&pid_file, "sleep 30"));
    let mut stubborn = run_step("stubborn", &command);
    stubborn.timeout = Some(Duration::from_secs(1));

    let outcome = run(vec![stage(vec![node(stubborn)])]);

    assert_eq!(outcome.step("stubborn").status, Status::Expired);
    let pid = read_pid(&pid_file);
    assert!(!process_runs(pid), "setsid process {pid} still runs");
}

/// A process started in a new session by a subshell that exits at once is
/// never a child of the step's shell when basso looks. The mark in its
/// environment finds it when the step ends.
#[test]
fn step_end_stops_process_of_exited_parent() {
    let files = tempfile::tempdir().unwrap();
    let pid_file = files.path().join("daemon.pid");
    let daemon = run_step(
        "daemon",
        &format!("(setsid sleep 300 & echo $! > {})", pid_file.display()),
    );

    let outcome = run(vec![stage(vec![node(daemon)])]);

    assert_eq!(outcome.step("daemon").status, Status::Succeeded);
    let pid = read_pid(&pid_file);
    let survived = process_runs(pid);
    if survived {
        // The test started this process, so it stops it before failing.
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    }
    assert!(!survived, "process {pid} of the exited subshell still runs");
}

/// A step stopped by a timeout still reports the outputs it set, in `sh`
/// (which runs no `EXIT` trap on a signal of its own) and in Python.
#[test]
fn timed_out_step_keeps_its_outputs() {
    let mut sh = run_step("sh", "export EARLY=sh-value\nsleep 30");
    sh.spec.output_variables = vec!["EARLY".into()];
    let mut python = run_step(
        "py",
        "import os, time\nos.environ['EARLY'] = 'py-value'\ntime.sleep(30)",
    );
    python.spec.shell = Some("Python".into());
    python.spec.output_variables = vec!["EARLY".into()];
    let stage = timed_stage(
        "test",
        Some(Duration::from_secs(2)),
        vec![Node::Parallel {
            nodes: vec![node(sh), node(python)],
            max_concurrency: None,
        }],
    );

    let started = Instant::now();
    let outcome = run(vec![stage]);
    assert!(
        started.elapsed() < WELL_UNDER_SLEEP,
        "took {:?}",
        started.elapsed()
    );
    for (id, value) in [("sh", "sh-value"), ("py", "py-value")] {
        let step = outcome.step(id);
        assert_eq!(step.status, Status::Expired, "{}", outcome.console);
        assert_eq!(
            step.output_variables.get("EARLY").map(String::as_str),
            Some(value),
            "{id}: {}",
            outcome.console
        );
    }
}
