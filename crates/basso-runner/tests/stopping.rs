//! Stopping a stage's processes with the host executor: services and steps
//! that ignore SIGTERM get SIGKILL after one grace period in total, not one
//! grace period each, and the kill-now flag ends that period at once.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use basso_runner::*;
use common::*;

/// The grace period of these tests. Stopping four tasks one after the
/// other takes four of them, 12 s.
const GRACE: Duration = Duration::from_secs(3);

/// Far below four grace periods, and well above one grace period plus the
/// time to start and stop the processes on a busy machine.
const WELL_UNDER_SERIAL: Duration = Duration::from_secs(8);

/// Returns a command that ignores SIGTERM, writes its process id to
/// `pid_file` once it does, waits for every file in `wait_for`, then
/// sleeps for 300 s.
fn stubborn(pid_file: &Path, wait_for: &[PathBuf]) -> String {
    let mut command = String::from("trap '' TERM\n");
    for file in wait_for {
        command.push_str(&format!(
            "while [ ! -s {} ]; do sleep 0.05; done\n",
            file.display()
        ));
    }
    // `exec` keeps the ignored SIGTERM, so the process id is the sleep's.
    command.push_str(&format!(
        "echo $$ > {file}.tmp\nmv {file}.tmp {file}\nexec sleep 300",
        file = pid_file.display()
    ));
    command
}

/// Returns three services and then a Run step, all ignoring SIGTERM, and
/// the files their process ids go to. The step starts its sleep once
/// every service has written its file.
fn stubborn_stage(dir: &Path, timeout: Option<Duration>) -> (StagePlan, Vec<PathBuf>) {
    let files: Vec<PathBuf> = (0..4).map(|i| dir.join(format!("{i}.pid"))).collect();
    let mut nodes: Vec<Node> = (0..3)
        .map(|i| node(service(&format!("svc{i}"), &stubborn(&files[i], &[]), None)))
        .collect();
    nodes.push(node(run_step("long", &stubborn(&files[3], &files[..3]))));
    let mut stage = stage(nodes);
    stage.timeout = timeout;
    (stage, files)
}

/// Waits up to 30 s until every file in `files` contains a process id.
fn read_pids(files: &[PathBuf]) -> Vec<u32> {
    let started = Instant::now();
    while files.iter().any(|file| !file.exists()) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "process id files missing: {files:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    files
        .iter()
        .map(|file| {
            std::fs::read_to_string(file)
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        })
        .collect()
}

fn assert_all_gone(pids: &[u32]) {
    let left: Vec<&u32> = pids.iter().filter(|pid| process_runs(**pid)).collect();
    assert!(left.is_empty(), "processes still running: {left:?}");
}

/// Starts a thread that sets `cancel` once every file in `files` contains a
/// process id, then `kill_now` after `kill_after` when one is given, and
/// returns the moment `cancel` was set.
fn interrupt_when_started(
    files: Vec<PathBuf>,
    cancel: Arc<AtomicBool>,
    kill_now: Arc<AtomicBool>,
    kill_after: Option<Duration>,
) -> std::thread::JoinHandle<Instant> {
    std::thread::spawn(move || {
        read_pids(&files);
        let cancelled = Instant::now();
        cancel.store(true, Ordering::SeqCst);
        if let Some(pause) = kill_after {
            std::thread::sleep(pause);
            kill_now.store(true, Ordering::SeqCst);
        }
        cancelled
    })
}

#[test]
fn stage_end_stops_services_at_once() {
    let files = tempfile::tempdir().unwrap();
    let pid_files: Vec<PathBuf> = (0..4)
        .map(|i| files.path().join(format!("{i}.pid")))
        .collect();
    let mut nodes: Vec<Node> = (0..4)
        .map(|i| {
            let command = stubborn(&pid_files[i], &[]);
            node(service(&format!("svc{i}"), &command, None))
        })
        .collect();
    let wait = pid_files
        .iter()
        .map(|file| format!("while [ ! -s {} ]; do sleep 0.05; done", file.display()))
        .collect::<Vec<_>>()
        .join("\n");
    nodes.push(node(run_step("ready", &wait)));
    let setup = Setup {
        stop_grace: GRACE,
        ..Setup::default()
    };

    let started = Instant::now();
    let outcome = run_with(vec![stage(nodes)], setup);
    let elapsed = started.elapsed();

    assert_eq!(
        outcome.stage_status(),
        Status::Succeeded,
        "{}",
        outcome.console
    );
    assert!(
        elapsed < WELL_UNDER_SERIAL,
        "took {elapsed:?}\n{}",
        outcome.console
    );
    assert!(
        outcome
            .console
            .contains("waiting up to 3s for 4 services to stop"),
        "{}",
        outcome.console
    );
    for i in 0..4 {
        assert_eq!(outcome.step(&format!("svc{i}")).status, Status::Succeeded);
    }
    assert_all_gone(&read_pids(&pid_files));
}

#[test]
fn interrupt_stops_step_and_services_together() {
    let files = tempfile::tempdir().unwrap();
    let (stage, pid_files) = stubborn_stage(files.path(), None);
    let setup = Setup {
        stop_grace: GRACE,
        ..Setup::default()
    };
    let interrupter = interrupt_when_started(
        pid_files.clone(),
        setup.cancel.clone(),
        setup.kill_now.clone(),
        None,
    );

    let outcome = run_with(vec![stage], setup);
    let elapsed = interrupter.join().unwrap().elapsed();

    assert!(
        elapsed < WELL_UNDER_SERIAL,
        "took {elapsed:?}\n{}",
        outcome.console
    );
    assert!(
        outcome
            .console
            .contains("waiting up to 3s for 3 services and 1 step to stop"),
        "{}",
        outcome.console
    );
    assert_eq!(outcome.step("long").status, Status::Aborted);
    for i in 0..3 {
        let service = outcome.step(&format!("svc{i}"));
        assert_eq!(service.status, Status::Aborted, "{}", outcome.console);
    }
    assert_all_gone(&read_pids(&pid_files));
}

#[test]
fn kill_now_ends_grace_at_once() {
    let files = tempfile::tempdir().unwrap();
    let (stage, pid_files) = stubborn_stage(files.path(), None);
    let setup = Setup {
        stop_grace: Duration::from_secs(120),
        ..Setup::default()
    };
    let interrupter = interrupt_when_started(
        pid_files.clone(),
        setup.cancel.clone(),
        setup.kill_now.clone(),
        Some(Duration::from_millis(500)),
    );

    let outcome = run_with(vec![stage], setup);
    let elapsed = interrupter.join().unwrap().elapsed();

    // Far below the 120 s grace period.
    assert!(
        elapsed < Duration::from_secs(10),
        "took {elapsed:?}\n{}",
        outcome.console
    );
    assert!(
        outcome
            .console
            .contains("sent SIGKILL to the processes that were still running"),
        "{}",
        outcome.console
    );
    assert_eq!(outcome.step("long").status, Status::Aborted);
    assert_all_gone(&read_pids(&pid_files));
}

#[test]
fn stage_timeout_stops_step_and_services_together() {
    let files = tempfile::tempdir().unwrap();
    let (stage, pid_files) = stubborn_stage(files.path(), Some(Duration::from_secs(1)));
    let setup = Setup {
        stop_grace: GRACE,
        ..Setup::default()
    };

    let started = Instant::now();
    let outcome = run_with(vec![stage], setup);
    let elapsed = started.elapsed();

    // One second of stage timeout comes before the grace period.
    assert!(
        elapsed < WELL_UNDER_SERIAL + Duration::from_secs(1),
        "took {elapsed:?}\n{}",
        outcome.console
    );
    assert!(
        outcome
            .console
            .contains("waiting up to 3s for 3 services and 1 step to stop"),
        "{}",
        outcome.console
    );
    assert_eq!(outcome.step("long").status, Status::Expired);
    for i in 0..3 {
        let service = outcome.step(&format!("svc{i}"));
        assert_eq!(service.status, Status::Expired, "{}", outcome.console);
    }
    assert_all_gone(&read_pids(&pid_files));
}

#[test]
fn stopped_step_duration_excludes_service_grace() {
    let files = tempfile::tempdir().unwrap();
    let service_pid = files.path().join("svc.pid");
    let step_pid = files.path().join("step.pid");
    // The step obeys SIGTERM; the service waits out the whole grace period.
    let step_command = format!(
        "echo $$ > {file}.tmp\nmv {file}.tmp {file}\nexec sleep 300",
        file = step_pid.display()
    );
    let nodes = vec![
        node(service("svc", &stubborn(&service_pid, &[]), None)),
        node(run_step("long", &step_command)),
    ];
    let setup = Setup {
        stop_grace: GRACE,
        ..Setup::default()
    };
    let interrupter = interrupt_when_started(
        vec![service_pid.clone(), step_pid.clone()],
        setup.cancel.clone(),
        setup.kill_now.clone(),
        None,
    );

    let outcome = run_with(vec![stage(nodes)], setup);
    interrupter.join().unwrap();

    let long = outcome.step("long");
    assert_eq!(long.status, Status::Aborted, "{}", outcome.console);
    // The step ran for moments before the interruption and ended at its
    // SIGTERM; the service took the whole 3 s grace period.
    assert!(
        long.duration < GRACE - Duration::from_secs(1),
        "step took {:?}\n{}",
        long.duration,
        outcome.console
    );
    let service = outcome.step("svc");
    assert!(
        service.duration >= GRACE,
        "service took {:?}",
        service.duration
    );
    assert_all_gone(&read_pids(&[service_pid, step_pid]));
}

/// A step whose TERM trap needs 1 s of the grace period runs the trap to
/// its end: the step's process group gets one SIGTERM, and no second one
/// kills the trap's `sleep`.
#[test]
fn interrupt_lets_term_trap_finish() {
    let files = tempfile::tempdir().unwrap();
    let dir = files.path();
    let (pid_file, terms, finished) = (dir.join("step.pid"), dir.join("terms"), dir.join("done"));
    let command = format!(
        "trap 'echo TERM >> {terms}; sleep 1 && echo done > {finished}; exit 0' TERM\n\
         echo $$ > {pid}.tmp\nmv {pid}.tmp {pid}\n\
         while :; do sleep 0.1 || true; done",
        terms = terms.display(),
        finished = finished.display(),
        pid = pid_file.display()
    );
    let setup = Setup {
        stop_grace: GRACE,
        ..Setup::default()
    };
    let interrupter = interrupt_when_started(
        vec![pid_file],
        setup.cancel.clone(),
        setup.kill_now.clone(),
        None,
    );

    let outcome = run_with(
        vec![stage(vec![node(run_step("trapped", &command))])],
        setup,
    );
    let elapsed = interrupter.join().unwrap().elapsed();

    let terms = std::fs::read_to_string(&terms).unwrap_or_default();
    let finished = std::fs::read_to_string(&finished).ok();
    assert_eq!(terms, "TERM\n", "{}", outcome.console);
    assert_eq!(finished.as_deref(), Some("done\n"), "{}", outcome.console);
    assert_eq!(outcome.step("trapped").status, Status::Aborted);
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(elapsed < GRACE, "{elapsed:?}");
}
