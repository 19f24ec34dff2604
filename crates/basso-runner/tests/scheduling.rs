//! Scheduling tests against a fake executor: which steps start, in what
//! order, and what the runner records, without real processes.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use basso_runner::*;
use common::{node, run_step, service, stage};

/// A fake executor. A step's command is read as `exit CODE`, `run MILLIS`
/// (runs that long, then exits 0), `forever`, `unstoppable` (runs forever
/// and refuses to stop), `output NAME=VALUE` or `stalled-pull` (its start
/// waits until the start deadline passes, as a pull from a registry that
/// never responds does, and then fails).
#[derive(Default)]
struct FakeExecutor {
    events: Arc<Mutex<Vec<String>>>,
}

struct FakeTask {
    id: String,
    exit_after: Option<(Duration, i32)>,
    started: Instant,
    outputs: BTreeMap<String, String>,
    events: Arc<Mutex<Vec<String>>>,
    stopped: bool,
    unstoppable: bool,
}

impl Executor for FakeExecutor {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn runs_images(&self) -> bool {
        true
    }

    fn check(&self, _: &TaskSpec) -> Vec<basso_runner::Problem> {
        Vec::new()
    }

    fn start(
        &self,
        spec: TaskSpec,
        logs: LogSink,
        deadline: &StartDeadline,
    ) -> Result<Box<dyn Task>, ExecError> {
        let Program::Script { script, .. } = &spec.program else {
            return Err(ExecError("fake runs scripts only".into()));
        };
        if script == "stalled-pull" {
            return Err(stall_until(deadline, &spec.step_id, &self.events));
        }
        let env: BTreeMap<_, _> = spec.env.iter().cloned().collect();
        logs(&format!("env STEP={}", env["HARNESS_STEP_ID"]));
        let mut outputs = BTreeMap::new();
        let exit_after = match script.split_once(' ').unwrap_or((script, "")) {
            ("exit", code) => Some((Duration::ZERO, code.parse().unwrap())),
            ("run", millis) => Some((Duration::from_millis(millis.parse().unwrap()), 0)),
            ("forever" | "unstoppable", _) => None,
            ("output", pair) => {
                let (name, value) = pair.split_once('=').unwrap();
                outputs.insert(name.to_string(), value.to_string());
                Some((Duration::ZERO, 0))
            }
            (other, _) => panic!("fake cannot run `{other}`"),
        };
        self.events
            .lock()
            .unwrap()
            .push(format!("start {}", spec.step_id));
        Ok(Box::new(FakeTask {
            id: spec.step_id,
            exit_after,
            started: Instant::now(),
            outputs,
            events: self.events.clone(),
            stopped: false,
            unstoppable: script == "unstoppable",
        }))
    }
}

/// Waits until `deadline` passes, 30 s at most, and returns the error of a
/// pull given up there.
fn stall_until(deadline: &StartDeadline, step_id: &str, events: &Mutex<Vec<String>>) -> ExecError {
    events.lock().unwrap().push(format!("pull {step_id}"));
    let limit = Instant::now() + Duration::from_secs(30);
    while !deadline.passed() && Instant::now() < limit {
        std::thread::sleep(Duration::from_millis(10));
    }
    events.lock().unwrap().push(format!("gave up {step_id}"));
    ExecError(format!("step `{step_id}`: gave up pulling the image"))
}

impl Task for FakeTask {
    fn pid(&self) -> Option<u32> {
        None
    }

    fn wait(&mut self, timeout: Duration) -> Result<Option<Exit>, ExecError> {
        if self.stopped {
            return Ok(Some(Exit::Signal(15)));
        }
        let Some((after, code)) = self.exit_after else {
            std::thread::sleep(timeout);
            return Ok(None);
        };
        let left = after.saturating_sub(self.started.elapsed());
        if left > timeout {
            std::thread::sleep(timeout);
            return Ok(None);
        }
        std::thread::sleep(left);
        Ok(Some(Exit::Code(code)))
    }

    fn stop(&mut self, _: &StopDeadline) -> Result<Exit, ExecError> {
        self.events
            .lock()
            .unwrap()
            .push(format!("stop {}", self.id));
        if self.unstoppable {
            return Err(ExecError(format!("step `{}` did not stop", self.id)));
        }
        self.stopped = true;
        Ok(Exit::Signal(15))
    }

    fn outputs(&mut self) -> Result<BTreeMap<String, String>, ExecError> {
        Ok(self.outputs.clone())
    }
}

/// Conditions are `true` or `false`, or `failing` (true while the stage fails).
struct FakeExpressions;

impl Expressions for FakeExpressions {
    fn prepare(&self, step: &StepPlan, state: &RunState) -> Result<StepPlan, String> {
        common::OutputLookup.prepare(step, state)
    }

    fn condition(
        &self,
        condition: &str,
        _: Option<basso_core::Span>,
        stage: &str,
        _: Option<&StepPlan>,
        state: &RunState,
    ) -> Result<bool, String> {
        match condition {
            "failing" => Ok(state.current().is_some_and(|stage| stage.failing)),
            "broken" => Err("unknown operator".into()),
            other => LiteralExpressions.condition(other, None, stage, None, state),
        }
    }
}

struct FakeRun {
    summary: RunSummary,
    events: Vec<String>,
}

fn fake_run(stages: Vec<StagePlan>, cancel: Arc<AtomicBool>) -> FakeRun {
    let executor = FakeExecutor::default();
    let console = Arc::new(Console::memory(Arc::new(Mutex::new(Vec::new()))));
    let workspace = std::env::temp_dir();
    let runner = Runner::new(
        &executor,
        &FakeExpressions,
        console,
        Secrets::new(),
        RunOptions::new(workspace),
        cancel,
    );
    let summary = runner.run(&stages);
    let events = executor.events.lock().unwrap().clone();
    FakeRun { summary, events }
}

fn run(stages: Vec<StagePlan>) -> FakeRun {
    fake_run(stages, Arc::new(AtomicBool::new(false)))
}

fn when(status: StatusRule, condition: Option<&str>) -> Option<When> {
    Some(When {
        status,
        condition: condition.map(str::to_string),
        condition_span: None,
    })
}

fn statuses(summary: &RunSummary) -> Vec<(String, Status)> {
    summary.stages[0]
        .steps
        .iter()
        .map(|step| (step.id.clone(), step.status))
        .collect()
}

#[test]
fn steps_run_in_order() {
    let outcome = run(vec![stage(vec![
        node(run_step("a", "exit 0")),
        node(run_step("b", "exit 0")),
    ])]);

    assert_eq!(outcome.events, vec!["start a", "start b"]);
    assert_eq!(outcome.summary.status, Status::Succeeded);
}

#[test]
fn unstoppable_service_fails_stage() {
    let outcome = run(vec![stage(vec![
        node(service("db", "unstoppable", None)),
        node(run_step("test", "exit 0")),
    ])]);

    let db = &outcome.summary.stages[0].steps[0];
    assert_eq!(db.status, Status::Failed);
    assert_eq!(
        db.message.as_deref(),
        Some("cannot stop service: step `db` did not stop")
    );
    assert_eq!(outcome.summary.status, Status::Failed);
}

#[test]
fn when_rules_after_failure() {
    let mut on_failure = run_step("on_failure", "exit 0");
    on_failure.when = when(StatusRule::Failure, None);
    let mut always = run_step("always", "exit 0");
    always.when = when(StatusRule::All, None);
    let mut conditional = run_step("conditional", "exit 0");
    conditional.when = when(StatusRule::All, Some("false"));
    let outcome = run(vec![stage(vec![
        node(run_step("fails", "exit 2")),
        node(run_step("default", "exit 0")),
        node(on_failure),
        node(always),
        node(conditional),
    ])]);

    assert_eq!(
        statuses(&outcome.summary),
        vec![
            ("fails".to_string(), Status::Failed),
            ("default".to_string(), Status::Skipped),
            ("on_failure".to_string(), Status::Succeeded),
            ("always".to_string(), Status::Succeeded),
            ("conditional".to_string(), Status::Skipped),
        ]
    );
}

/// A skip names the part of `when` that did not hold: a true condition
/// is not blamed when the status rule skipped the step.
#[test]
fn skip_message_names_when_part() {
    let mut status_only = run_step("status_only", "exit 0");
    status_only.when = when(StatusRule::Success, Some("true"));
    let mut condition = run_step("condition", "exit 0");
    condition.when = when(StatusRule::Failure, Some("false"));
    let group = Node::Group(GroupPlan {
        id: "group".into(),
        name: "group".into(),
        when: when(StatusRule::Success, Some("true")),
        iteration: None,
        nodes: vec![node(run_step("in_group", "exit 0"))],
        ..GroupPlan::default()
    });
    let outcome = run(vec![stage(vec![
        node(run_step("fails", "exit 2")),
        node(run_step("default", "exit 0")),
        node(status_only),
        node(condition),
        group,
    ])]);

    let message = |id: &str| {
        outcome.summary.stages[0]
            .steps
            .iter()
            .find(|step| step.id.ends_with(id))
            .and_then(|step| step.message.clone())
            .unwrap_or_else(|| panic!("no message for `{id}`"))
    };
    assert_eq!(message("default"), "the stage is failing");
    assert_eq!(
        message("status_only"),
        "its `when.stageStatus` is `Success` but the stage is failing"
    );
    assert_eq!(message("condition"), "its `when.condition` is false");
    assert_eq!(
        message("in_group"),
        "step group `group`: its `when.stageStatus` is `Success` but the stage is failing"
    );
}

#[test]
fn condition_reads_run_state() {
    let mut check = run_step("check", "exit 0");
    check.when = when(StatusRule::All, Some("failing"));
    let outcome = run(vec![stage(vec![
        node(run_step("fails", "exit 1")),
        node(check),
    ])]);

    assert_eq!(outcome.events, vec!["start fails", "start check"]);
}

#[test]
fn broken_condition_fails_step() {
    let mut step = run_step("odd", "exit 0");
    step.when = when(StatusRule::Success, Some("broken"));
    let outcome = run(vec![stage(vec![node(step)])]);

    let result = &outcome.summary.stages[0].steps[0];
    assert_eq!(result.status, Status::Failed);
    assert!(
        result
            .message
            .as_deref()
            .unwrap()
            .contains("unknown operator")
    );
    assert!(outcome.events.is_empty());
}

#[test]
fn group_when_skips_its_steps() {
    let group = GroupPlan {
        id: "g".into(),
        name: "g".into(),
        when: when(StatusRule::Success, Some("false")),
        iteration: None,
        nodes: vec![node(run_step("inner", "exit 0"))],
        ..GroupPlan::default()
    };
    let outcome = run(vec![stage(vec![
        Node::Group(group),
        node(run_step("after", "exit 0")),
    ])]);

    assert_eq!(outcome.events, vec!["start after"]);
    assert_eq!(outcome.summary.stages[0].steps[0].status, Status::Skipped);
}

#[test]
fn max_concurrency_limits_parallel() {
    let nodes = (0..4)
        .map(|i| node(run_step(&format!("s{i}"), "run 30")))
        .collect();
    let outcome = run(vec![stage(vec![Node::Parallel {
        nodes,
        max_concurrency: Some(1),
    }])]);

    let steps = &outcome.summary.stages[0].steps;
    for pair in steps.windows(2) {
        assert!(
            pair[0].finished_at_ms.unwrap() <= pair[1].started_at_ms.unwrap(),
            "{pair:?}"
        );
    }
}

#[test]
fn services_stopped_at_stage_end() {
    let outcome = run(vec![stage(vec![
        node(service("svc", "forever", None)),
        node(run_step("use", "exit 0")),
    ])]);

    assert_eq!(outcome.events, vec!["start svc", "start use", "stop svc"]);
    assert_eq!(outcome.summary.stages[0].steps[0].status, Status::Succeeded);
}

#[test]
fn outputs_reach_later_steps() {
    let mut second = run_step("second", "exit 0");
    second.spec.command = Some("output COPY=<+steps.first.output.outputVariables.V>".into());
    second.spec.output_variables = vec!["COPY".into()];
    let outcome = run(vec![stage(vec![
        node(run_step("first", "output V=7")),
        node(second),
    ])]);

    let copied = &outcome.summary.stages[0].steps[1].output_variables;
    assert_eq!(copied.get("COPY").map(String::as_str), Some("7"));
}

#[test]
fn stage_when_after_failed_stage() {
    let mut second = stage(vec![node(run_step("b", "exit 0"))]);
    second.id = "second".into();
    let mut third = stage(vec![node(run_step("c", "exit 0"))]);
    third.id = "third".into();
    third.when = when(StatusRule::Failure, None);
    let outcome = run(vec![
        stage(vec![node(run_step("a", "exit 1"))]),
        second,
        third,
    ]);

    let stages: Vec<Status> = outcome
        .summary
        .stages
        .iter()
        .map(|stage| stage.status)
        .collect();
    assert_eq!(
        stages,
        vec![Status::Failed, Status::Skipped, Status::Succeeded]
    );
    assert_eq!(outcome.events, vec!["start a", "start c"]);
}

/// Returns a cancel flag that a thread sets after `delay`, as Ctrl-C would.
fn cancel_after(delay: Duration) -> Arc<AtomicBool> {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        flag.store(true, Ordering::SeqCst);
    });
    cancel
}

#[test]
fn cancel_stops_running_step() {
    let cancel = cancel_after(Duration::from_millis(200));
    let outcome = fake_run(
        vec![stage(vec![
            node(service("svc", "forever", None)),
            node(run_step("long", "forever")),
            node(run_step("never", "exit 0")),
        ])],
        cancel,
    );

    assert_eq!(
        outcome.events,
        vec!["start svc", "start long", "stop long", "stop svc"]
    );
    assert_eq!(outcome.summary.status, Status::Aborted);
    let statuses = statuses(&outcome.summary);
    assert_eq!(statuses[0], ("svc".to_string(), Status::Aborted));
    assert_eq!(statuses[1], ("long".to_string(), Status::Aborted));
    assert_eq!(statuses[2], ("never".to_string(), Status::Aborted));
}

#[test]
fn timeout_expires_step() {
    let mut slow = run_step("slow", "forever");
    slow.timeout = Some(Duration::from_millis(100));
    let outcome = run(vec![stage(vec![node(slow)])]);

    assert_eq!(outcome.events, vec!["start slow", "stop slow"]);
    assert_eq!(outcome.summary.stages[0].steps[0].status, Status::Expired);
}

#[test]
fn step_timeout_ends_stalled_start() {
    let mut pull = run_step("pull", "stalled-pull");
    pull.timeout = Some(Duration::from_millis(300));
    let started = Instant::now();
    let outcome = run(vec![stage(vec![node(pull)])]);

    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(outcome.events, vec!["pull pull", "gave up pull"]);
    let step = &outcome.summary.stages[0].steps[0];
    assert_eq!(step.status, Status::Expired);
    let message = step.message.as_deref().unwrap_or_default();
    assert!(
        message.starts_with("the step timed out after 300ms; cannot start:"),
        "{message}"
    );
    assert!(
        step.duration >= Duration::from_millis(300),
        "{:?}",
        step.duration
    );
}

#[test]
fn stage_timeout_ends_stalled_start() {
    let mut timed = stage(vec![
        node(service("svc", "forever", None)),
        node(run_step("pull", "stalled-pull")),
    ]);
    timed.timeout = Some(Duration::from_millis(300));
    let outcome = run(vec![timed]);

    assert_eq!(
        outcome.events,
        vec!["start svc", "pull pull", "gave up pull", "stop svc"]
    );
    let step = &outcome.summary.stages[0].steps[1];
    assert_eq!(step.status, Status::Expired);
    let message = step.message.as_deref().unwrap_or_default();
    assert!(
        message.starts_with("the stage timed out after 300ms; "),
        "{message}"
    );
    assert_eq!(outcome.summary.stages[0].status, Status::Expired);
}

#[test]
fn cancel_ends_stalled_start() {
    let cancel = cancel_after(Duration::from_millis(200));
    let started = Instant::now();
    let outcome = fake_run(
        vec![stage(vec![
            node(service("svc", "forever", None)),
            node(run_step("pull", "stalled-pull")),
            node(run_step("never", "exit 0")),
        ])],
        cancel,
    );

    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        outcome.events,
        vec!["start svc", "pull pull", "gave up pull", "stop svc"]
    );
    assert_eq!(outcome.summary.status, Status::Aborted);
    let statuses = statuses(&outcome.summary);
    assert_eq!(statuses[0], ("svc".to_string(), Status::Aborted));
    assert_eq!(statuses[1], ("pull".to_string(), Status::Aborted));
    assert_eq!(statuses[2], ("never".to_string(), Status::Aborted));
}

#[test]
fn service_timeout_ends_stalled_start() {
    let mut db = service("db", "stalled-pull", None);
    db.timeout = Some(Duration::from_millis(300));
    let started = Instant::now();
    let outcome = run(vec![stage(vec![node(db)])]);

    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(outcome.events, vec!["pull db", "gave up db"]);
    let db = &outcome.summary.stages[0].steps[0];
    assert_eq!(db.status, Status::Expired);
    let message = db.message.as_deref().unwrap_or_default();
    assert!(
        message.starts_with("the step timed out after 300ms; cannot start:"),
        "{message}"
    );
    assert!(
        db.duration >= Duration::from_millis(300),
        "{:?}",
        db.duration
    );
}

#[test]
fn cancel_ends_stalled_service_start() {
    let cancel = cancel_after(Duration::from_millis(200));
    let outcome = fake_run(
        vec![stage(vec![
            node(service("db", "stalled-pull", None)),
            node(run_step("never", "exit 0")),
        ])],
        cancel,
    );

    assert_eq!(outcome.events, vec!["pull db", "gave up db"]);
    let db = &outcome.summary.stages[0].steps[0];
    assert_eq!(db.status, Status::Aborted);
    let message = db.message.as_deref().unwrap_or_default();
    assert!(
        message.starts_with("interrupted; cannot start:"),
        "{message}"
    );
    assert_eq!(outcome.summary.status, Status::Aborted);
}
