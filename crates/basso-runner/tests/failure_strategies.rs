//! Failure strategies on steps that fail before their process starts: a
//! `when` that cannot be evaluated, or a program that cannot be started.

mod common;

use basso_runner::*;
use common::*;

/// Returns `step` with one failure strategy for all errors.
fn on_failure(mut step: StepPlan, action: FailureAction) -> StepPlan {
    step.failure_strategies = vec![FailureStrategy {
        errors: vec!["AllErrors".into()],
        action,
    }];
    step
}

fn retry_twice_then(then: FailureAction) -> FailureAction {
    FailureAction::Retry {
        count: 2,
        intervals: Vec::new(),
        on_retry_failure: Box::new(then),
    }
}

/// Returns a step whose `when` condition the test engine cannot evaluate.
fn broken_when(id: &str) -> StepPlan {
    let mut step = run_step(id, "echo must not run");
    step.when = Some(When {
        status: StatusRule::Success,
        condition: Some("not a condition".into()),
        condition_span: None,
    });
    step
}

/// Returns a step whose program does not exist, so it cannot start.
fn unstartable(id: &str) -> StepPlan {
    let mut step = run_step(id, "");
    step.spec.command = None;
    step.spec.entrypoint = vec!["/nonexistent/basso-test/program".into()];
    step
}

#[test]
fn when_error_ignored_by_strategy() {
    let step = on_failure(broken_when("check"), FailureAction::Ignore);
    let outcome = run(vec![stage(vec![
        node(step),
        node(run_step("after", "echo after ran")),
    ])]);

    let check = outcome.step("check");
    assert_eq!(check.status, Status::IgnoreFailed, "{}", outcome.console);
    let message = check.message.as_deref().unwrap_or_default();
    assert!(message.starts_with("cannot evaluate `when`"), "{message}");
    assert!(
        message.ends_with("ignored by a failure strategy"),
        "{message}"
    );
    assert!(
        !outcome.console.contains("must not run"),
        "{}",
        outcome.console
    );
    assert_eq!(outcome.step("after").status, Status::Succeeded);
    assert!(outcome.console.contains("after ran"), "{}", outcome.console);
    assert_eq!(outcome.stage_status(), Status::Succeeded);
}

#[test]
fn when_error_retry_takes_final_action() {
    let step = on_failure(
        broken_when("check"),
        retry_twice_then(FailureAction::MarkAsSuccess),
    );
    let outcome = run(vec![stage(vec![node(step)])]);

    let check = outcome.step("check");
    assert_eq!(check.status, Status::Succeeded, "{}", outcome.console);
    assert_eq!(check.retry_count, 0);
    assert_eq!(outcome.stage_status(), Status::Succeeded);
}

#[test]
fn when_error_without_strategy_fails_stage() {
    let outcome = run(vec![stage(vec![
        node(broken_when("check")),
        node(run_step("after", "echo after ran")),
    ])]);

    assert_eq!(outcome.step("check").status, Status::Failed);
    assert_eq!(outcome.step("after").status, Status::Skipped);
    assert_eq!(outcome.stage_status(), Status::Failed);
}

#[test]
fn start_failure_retried_by_strategy() {
    let step = on_failure(unstartable("tool"), retry_twice_then(FailureAction::Ignore));
    let outcome = run(vec![stage(vec![node(step)])]);

    let tool = outcome.step("tool");
    assert_eq!(tool.status, Status::IgnoreFailed, "{}", outcome.console);
    assert_eq!(tool.retry_count, 2);
    let message = tool.message.as_deref().unwrap_or_default();
    assert!(message.starts_with("cannot start"), "{message}");
    assert!(
        outcome.console.contains("retry 2 of 2"),
        "{}",
        outcome.console
    );
    // Each retry names why the attempt before it failed.
    assert!(
        outcome
            .console
            .contains("step failed: cannot start: `/nonexistent/basso-test/program`: No such file"),
        "{}",
        outcome.console
    );
    assert_eq!(outcome.stage_status(), Status::Succeeded);
}

/// Returns a group around `steps` whose `when` condition the test engine
/// cannot evaluate, with one failure strategy for all errors.
fn broken_group(steps: Vec<Node>, action: Option<FailureAction>) -> Node {
    Node::Group(GroupPlan {
        id: "g".into(),
        name: "g".into(),
        when: Some(When {
            status: StatusRule::Success,
            condition: Some("not a condition".into()),
            condition_span: None,
        }),
        failure_strategies: action
            .into_iter()
            .map(|action| FailureStrategy {
                errors: vec!["AllErrors".into()],
                action,
            })
            .collect(),
        nodes: steps,
        ..GroupPlan::default()
    })
}

#[test]
fn group_when_error_ignored_by_strategy() {
    let group = broken_group(
        vec![node(run_step("inner", "echo must not run"))],
        Some(FailureAction::Ignore),
    );
    let outcome = run(vec![stage(vec![
        group,
        node(run_step("after", "echo after ran")),
    ])]);

    assert_eq!(outcome.step("inner").status, Status::Skipped);
    assert_eq!(
        outcome.step("after").status,
        Status::Succeeded,
        "{}",
        outcome.console
    );
    assert!(
        outcome.console.contains("failure strategy applied"),
        "{}",
        outcome.console
    );
    assert!(
        !outcome.console.contains("must not run"),
        "{}",
        outcome.console
    );
    assert_eq!(outcome.stage_status(), Status::Succeeded);
}

#[test]
fn group_when_error_retry_takes_final_action() {
    let group = broken_group(
        vec![node(run_step("inner", "echo must not run"))],
        Some(retry_twice_then(FailureAction::Abort)),
    );
    let outcome = run(vec![stage(vec![
        group,
        node(run_step("after", "echo must not run either")),
    ])]);

    assert_eq!(outcome.step("inner").status, Status::Aborted);
    assert_eq!(outcome.step("after").status, Status::Aborted);
    assert!(
        !outcome.console.contains("must not run"),
        "{}",
        outcome.console
    );
}

#[test]
fn group_when_error_without_strategy_fails_stage() {
    let group = broken_group(vec![node(run_step("inner", "echo must not run"))], None);
    let outcome = run(vec![stage(vec![
        group,
        node(run_step("after", "echo after ran")),
    ])]);

    assert_eq!(outcome.step("inner").status, Status::Skipped);
    assert_eq!(outcome.step("after").status, Status::Skipped);
    assert_eq!(outcome.stage_status(), Status::Failed);
}
