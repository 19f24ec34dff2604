//! Checks made before anything starts: what this executor cannot run, and
//! settings the host cannot apply.

use crate::executor::{Executor, Problem, Program, Shell, TaskKind, TaskSpec};
use crate::failure::before_start_action;
use crate::plan::{FailureAction, Node, StagePlan, StatusRule, StepPlan, When};
use crate::secrets::{self, Secrets};

/// Step types the runner executes.
pub const SUPPORTED_STEP_TYPES: [&str; 2] = ["Run", "Background"];

/// The outcome of [`check`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Preflight {
    /// Reasons the run cannot start, one per problem.
    pub errors: Vec<PreflightProblem>,
    /// Problems of steps that may be skipped or whose failure strategy
    /// ignores a failure before the start, one per step iteration: the run
    /// starts, and such a step fails with them if it comes to run.
    pub deferred: Vec<Deferred>,
    /// Settings of host steps that the host ignores, once for the
    /// iterations of a loop.
    pub ignored: Vec<PreflightProblem>,
    /// Failure strategy actions that basso run cannot perform, one per
    /// action.
    pub warnings: Vec<String>,
}

/// A problem found before the run starts, with where it is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreflightProblem {
    /// The identifier of the stage.
    pub stage: String,
    /// The path of the step (`group.step` inside a step group), or `None`
    /// for a problem of the stage itself.
    pub step: Option<String>,
    /// The step setting at fault, as the YAML spells its key, or `None`
    /// when no one setting is.
    pub setting: Option<&'static str>,
    /// The key of the entry of `setting` at fault (the name of an
    /// `envVariables` entry), or `None`.
    pub entry: Option<String>,
    /// One line, ending in `; help: ...` when there is a hint.
    pub message: String,
}

/// A problem of a step that does not stop the run from starting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deferred {
    /// The problem, as it would stop the run.
    pub problem: PreflightProblem,
    /// Why the run starts anyway: the step may be skipped, or its failure
    /// would be ignored or marked as success.
    pub because: Tolerance,
}

/// The reason a step's problem does not stop the run from starting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tolerance {
    /// A `when` of the step, of a step group around it or of its stage
    /// has a condition or runs only after a failure.
    MaySkip,
    /// The failure strategy that applies to a failure before the start
    /// is `Ignore`.
    Ignored,
    /// The failure strategy that applies to a failure before the start
    /// is `MarkAsSuccess`.
    MarkedAsSuccess,
}

impl Tolerance {
    /// Describes the reason in words, to follow "the run starts, because".
    pub fn describe(self) -> &'static str {
        match self {
            Tolerance::MaySkip => "a `when` may skip the step",
            Tolerance::Ignored => "the step's failure strategy ignores the failure",
            Tolerance::MarkedAsSuccess => {
                "the step's failure strategy marks the failure as success"
            }
        }
    }
}

impl std::fmt::Display for PreflightProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Checks every step of `stages` against `executor` and `secrets`.
pub fn check(stages: &[StagePlan], executor: &dyn Executor, secrets: &Secrets) -> Preflight {
    let mut preflight = Preflight::default();
    for stage in stages {
        for message in check_platform(stage) {
            preflight.errors.push(PreflightProblem {
                stage: stage.id.clone(),
                step: None,
                setting: None,
                entry: None,
                message,
            });
        }
        let mut places = Vec::new();
        let stage_may_skip = may_skip(stage.when.as_ref());
        step_places(
            &stage.nodes,
            Place {
                repeat: false,
                may_skip: stage_may_skip,
            },
            &mut places,
        );
        // The problems seen so far with the step's path taken out of their
        // message, so that a later iteration of a looped step or group,
        // which differs only in that path, does not list them again.
        let mut seen: Vec<(Option<&'static str>, String)> = Vec::new();
        for (step, place) in steps_of(&stage.nodes).into_iter().zip(places) {
            let repeat = place.repeat;
            let problems = check_step(&stage.id, step, executor, secrets, repeat, &mut preflight);
            let path = step.path();
            let tolerance = tolerance(step, place.may_skip || may_skip(step.when.as_ref()));
            let later = repeat || step.iteration.is_some_and(|i| i.index > 0);
            for problem in problems {
                let problem = PreflightProblem {
                    stage: stage.id.clone(),
                    step: Some(path.clone()),
                    setting: problem.setting,
                    entry: problem.entry,
                    message: problem.message,
                };
                // Every iteration of a tolerated step fails on its own when
                // it runs, so each keeps its problem.
                if let Some(because) = tolerance {
                    preflight.deferred.push(Deferred { problem, because });
                    continue;
                }
                let key = (problem.setting, problem.message.replace(&path, ""));
                if later && seen.contains(&key) {
                    continue;
                }
                seen.push(key);
                preflight.errors.push(problem);
            }
        }
    }
    let unsupported = crate::failure::unsupported_warnings(stages);
    preflight.warnings.extend(unsupported);
    preflight
}

/// Lists every step under `nodes`, in order.
pub fn steps_of(nodes: &[Node]) -> Vec<&StepPlan> {
    let mut steps = Vec::new();
    for node in nodes {
        match node {
            Node::Step(step) => steps.push(step.as_ref()),
            Node::Parallel { nodes, .. } => steps.extend(steps_of(nodes)),
            Node::Group(group) => steps.extend(steps_of(&group.nodes)),
        }
    }
    steps
}

/// The place of a step among loops and `when`s, as far as its problems go.
#[derive(Clone, Copy, Debug)]
struct Place {
    /// The step is in a later iteration of a looped step group.
    repeat: bool,
    /// A `when` around the step may skip it.
    may_skip: bool,
}

/// Pushes to `out`, for each step under `nodes` in the order of
/// [`steps_of`], whether it is in a later iteration of a looped step group
/// and whether a step group's `when` may skip it. Every step under `nodes`
/// has at least the flags of `inherited`.
fn step_places(nodes: &[Node], inherited: Place, out: &mut Vec<Place>) {
    for node in nodes {
        match node {
            Node::Step(_) => out.push(inherited),
            Node::Parallel { nodes, .. } => step_places(nodes, inherited, out),
            Node::Group(group) => {
                let place = Place {
                    repeat: inherited.repeat || group.iteration.is_some_and(|i| i.index > 0),
                    may_skip: inherited.may_skip || may_skip(group.when.as_ref()),
                };
                step_places(&group.nodes, place, out);
            }
        }
    }
}

/// Returns whether `when` may keep its step, group or stage from running
/// in a run where nothing fails: it has a condition, or it runs only after
/// a failure. Without a condition, `Success` and `All` run it.
fn may_skip(when: Option<&When>) -> bool {
    when.is_some_and(|when| {
        let constant_true = when
            .condition
            .as_deref()
            .is_some_and(|condition| matches!(condition.trim(), "true" | "<+true>"));
        let conditional = when.condition.is_some() && !constant_true;
        conditional || when.status == StatusRule::Failure
    })
}

/// Returns why a problem of `step` need not stop the run from starting,
/// or `None` when it must.
fn tolerance(step: &StepPlan, may_skip: bool) -> Option<Tolerance> {
    if may_skip {
        return Some(Tolerance::MaySkip);
    }
    // A Background step takes no failure strategy.
    if step.is_background() {
        return None;
    }
    match before_start_action(&step.failure_strategies)? {
        FailureAction::Ignore => Some(Tolerance::Ignored),
        FailureAction::MarkAsSuccess => Some(Tolerance::MarkedAsSuccess),
        _ => None,
    }
}

/// Returns why this host cannot run `stage`'s platform.
fn check_platform(stage: &StagePlan) -> Vec<String> {
    let mut errors = Vec::new();
    let host_os = host_os();
    if let Some(os) = &stage.os
        && !os.contains("<+")
        && !os.eq_ignore_ascii_case(host_os)
    {
        errors.push(format!(
            "stage `{}` is for os `{os}`, but this host runs `{host_os}`",
            stage.id
        ));
    }
    let host_arch = host_arch();
    if let Some(arch) = &stage.arch
        && !arch.contains("<+")
        && !arch.eq_ignore_ascii_case(host_arch)
    {
        errors.push(format!(
            "stage `{}` is for arch `{arch}`, but this host is `{host_arch}`",
            stage.id
        ));
    }
    errors
}

/// Returns this host's OS as `platform.os` names it.
pub fn host_os() -> &'static str {
    match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "MacOS",
        "windows" => "Windows",
        other => other,
    }
}

/// Returns this host's architecture as `platform.arch` names it.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "Amd64",
        "aarch64" => "Arm64",
        other => other,
    }
}

/// Returns what keeps `step` from running, and adds its warnings to
/// `preflight` unless it `repeat`s an earlier iteration. A missing secret
/// already listed is not returned again.
fn check_step(
    stage_id: &str,
    step: &StepPlan,
    executor: &dyn Executor,
    secrets: &Secrets,
    repeat: bool,
    preflight: &mut Preflight,
) -> Vec<Problem> {
    let id = step.path();
    if !SUPPORTED_STEP_TYPES.contains(&step.step_type.as_str()) {
        return vec![Problem::of_step(format!(
            "step `{id}` has type `{}`, which basso run does not run; it runs `Run` and `Background` steps",
            step.step_type
        ))];
    }

    let mut problems = Vec::new();
    let spec = &step.spec;
    if let Some(image) = &spec.image
        && !executor.runs_images()
    {
        problems.push(Problem::at(
            "image",
            format!(
                "step `{id}` names image `{image}`, and no container executor is available; \
                 help: remove `image` to run the step on the host"
            ),
        ));
    }

    match draft_task(step) {
        Ok(task) => {
            let mut task = task;
            // An executor without images already got its error above; the
            // image stays for one that runs images, which checks by it.
            if !executor.runs_images() {
                task.image = None;
            }
            problems.extend(executor.check(&task));
        }
        Err(problem) => problems.push(problem),
    }

    // Reference text with an id the step does not request came from
    // run-time data; the step fails on it when it starts.
    for (setting, entry, text) in step_texts(step) {
        for secret in secrets::referenced_ids(text) {
            let message = secrets::missing_secret(&secret);
            let listed = |listed: &str| listed == message;
            if step.spec.secrets.contains(&secret)
                && secrets.get(&secret).is_none()
                && !preflight.errors.iter().any(|error| listed(&error.message))
                && !problems.iter().any(|problem| listed(&problem.message))
            {
                problems.push(match entry {
                    Some(name) => Problem::at_entry(setting, name, message),
                    None => Problem::at(setting, message),
                });
            }
        }
    }
    if !repeat {
        warn_unsupported(stage_id, step, executor, &mut preflight.ignored);
    }
    problems
}

/// Adds to `ignored` the settings of a host step of stage `stage_id` that
/// the host cannot apply. A step with an image never runs on the host:
/// without a container executor it gets an error instead.
fn warn_unsupported(
    stage_id: &str,
    step: &StepPlan,
    executor: &dyn Executor,
    ignored: &mut Vec<PreflightProblem>,
) {
    // The iterations of a looped step share its settings, so the first
    // one speaks for all. The iterations of a looped stage point at the
    // same setting, where the CLI lists them once.
    let later_iteration = step.iteration.as_ref().is_some_and(|i| i.index > 0);
    if executor.runs_images() || step.spec.image.is_some() || later_iteration {
        return;
    }
    let id = step.path();
    let spec = &step.spec;
    let mut found = Vec::new();
    if spec.privileged {
        found.push((
            "privileged",
            format!("step `{id}`: `privileged` has no effect on the host"),
        ));
    }
    if spec.has_resources {
        found.push((
            "resources",
            format!("step `{id}`: `resources` limits are not applied on the host"),
        ));
    }
    if let Some(policy) = &spec.image_pull_policy {
        found.push((
            "imagePullPolicy",
            format!("step `{id}`: `imagePullPolicy` `{policy}` has no effect on the host"),
        ));
    }
    for (setting, message) in found {
        let message = format!(
            "{message}; help: give the step an `image` to run it in a container, where `{setting}` applies, or remove the setting"
        );
        let known =
            |problem: &PreflightProblem| problem.stage == stage_id && problem.message == message;
        if !ignored.iter().any(known) {
            ignored.push(PreflightProblem {
                stage: stage_id.to_string(),
                step: Some(id.clone()),
                setting: Some(setting),
                entry: None,
                message,
            });
        }
    }
}

/// Returns every text of a step that may carry a secret reference, each
/// with the setting it is written in and, for an `envVariables` value, the
/// variable's name.
pub fn step_texts(step: &StepPlan) -> Vec<(&'static str, Option<&str>, &str)> {
    let spec = &step.spec;
    let mut texts = Vec::new();
    texts.extend(spec.command.as_deref().map(|text| ("command", None, text)));
    texts.extend(
        spec.entrypoint
            .iter()
            .map(|text| ("entrypoint", None, text.as_str())),
    );
    texts.extend(
        spec.env
            .iter()
            .map(|(name, value)| ("envVariables", Some(name.as_str()), value.as_str())),
    );
    texts
}

/// Builds the task of `step` without environment or secrets, for checks.
pub fn draft_task(step: &StepPlan) -> Result<TaskSpec, Problem> {
    let id = step.path();
    let spec = &step.spec;
    let no_command = spec
        .command
        .as_deref()
        .is_none_or(|command| command.trim().is_empty());
    let program = if !spec.entrypoint.is_empty() {
        Program::Argv(spec.entrypoint.clone())
    } else if spec.image.is_some() && no_command {
        // As in Docker and Harness, the image's own Entrypoint and Cmd run;
        // an empty argument vector selects them.
        Program::Argv(Vec::new())
    } else {
        let shell_text = spec.shell.as_deref();
        let shell = Shell::parse(shell_text)
            .map_err(|error| Problem::at("shell", format!("step `{id}`: {error}")))?;
        Program::Script {
            shell,
            script: spec.command.clone().unwrap_or_default(),
        }
    };

    let mut port_bindings = Vec::new();
    for binding in &spec.port_bindings {
        let host = parse_port(&id, &binding.host)?;
        let container = parse_port(&id, &binding.container)?;
        port_bindings.push((host, container));
    }
    let user = match &spec.run_as_user {
        Some(user) => Some(parse_user(&id, user)?),
        None => None,
    };

    Ok(TaskSpec {
        step_id: id,
        kind: if step.is_background() {
            TaskKind::Service
        } else {
            TaskKind::Step
        },
        image: spec.image.clone(),
        program,
        env: Vec::new(),
        workdir: Default::default(),
        output_variables: spec.output_variables.clone(),
        user,
        port_bindings,
        privileged: spec.privileged,
        image_pull_policy: spec.image_pull_policy.clone(),
        connector_ref: spec.connector_ref.clone(),
        memory_bytes: spec.memory_bytes,
        cpu_millis: spec.cpu_millis,
        host_names: spec.host_name.iter().cloned().collect(),
        shared_paths: Vec::new(),
    })
}

fn parse_port(step_id: &str, text: &str) -> Result<u16, Problem> {
    match text.trim().parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(Problem::at(
            "portBindings",
            format!(
                "step `{step_id}` has port `{text}` in `portBindings`, which is not a port number from 1 to 65535"
            ),
        )),
    }
}

/// Turns a `runAsUser` value into a user id: a number, or a user name known
/// to this host.
fn parse_user(step_id: &str, text: &str) -> Result<u32, Problem> {
    if let Ok(uid) = text.trim().parse::<u32>() {
        return Ok(uid);
    }
    match nix::unistd::User::from_name(text.trim()) {
        Ok(Some(user)) => Ok(user.uid.as_raw()),
        _ => Err(Problem::at(
            "runAsUser",
            format!(
                "step `{step_id}` sets `runAsUser` to `{text}`, which is neither a user id nor a user on this host"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{FailureStrategy, GroupPlan, Iteration, StepSpec};

    fn step(image: Option<&str>, command: Option<&str>, entrypoint: &[&str]) -> StepPlan {
        StepPlan {
            id: "svc".to_string(),
            step_type: "Background".to_string(),
            spec: StepSpec {
                image: image.map(str::to_string),
                command: command.map(str::to_string),
                entrypoint: entrypoint.iter().map(|arg| arg.to_string()).collect(),
                ..StepSpec::default()
            },
            ..StepPlan::default()
        }
    }

    fn when(status: StatusRule, condition: Option<&str>) -> Option<When> {
        Some(When {
            status,
            condition: condition.map(str::to_string),
            condition_span: None,
        })
    }

    fn strategy(action: FailureAction) -> FailureStrategy {
        FailureStrategy {
            errors: vec!["AllErrors".to_string()],
            action,
        }
    }

    #[test]
    fn tolerance_follows_when_and_failure_strategy() {
        let mut run = step(None, Some("true"), &[]);
        run.step_type = "Run".to_string();
        assert_eq!(tolerance(&run, false), None);
        assert_eq!(tolerance(&run, true), Some(Tolerance::MaySkip));

        let retry_then_ignore = FailureAction::Retry {
            count: 2,
            intervals: Vec::new(),
            on_retry_failure: Box::new(FailureAction::Ignore),
        };
        let cases = [
            (FailureAction::Ignore, Some(Tolerance::Ignored)),
            (
                FailureAction::MarkAsSuccess,
                Some(Tolerance::MarkedAsSuccess),
            ),
            (retry_then_ignore, Some(Tolerance::Ignored)),
            (FailureAction::MarkAsFailure, None),
            (FailureAction::Abort, None),
        ];
        for (action, expected) in cases {
            run.failure_strategies = vec![strategy(action.clone())];
            assert_eq!(tolerance(&run, false), expected, "{action:?}");
        }
        // A strategy for timeouts only does not cover a failure before the
        // start.
        run.failure_strategies = vec![FailureStrategy {
            errors: vec!["Timeout".to_string()],
            action: FailureAction::Ignore,
        }];
        assert_eq!(tolerance(&run, false), None);
        // A Background step fails its stage whatever its strategies are.
        let mut service = step(None, Some("true"), &[]);
        service.failure_strategies = vec![strategy(FailureAction::Ignore)];
        assert_eq!(tolerance(&service, false), None);
    }

    #[test]
    fn may_skip_only_with_condition_or_failure_status() {
        assert!(!may_skip(None));
        assert!(!may_skip(when(StatusRule::Success, None).as_ref()));
        assert!(!may_skip(when(StatusRule::All, None).as_ref()));
        assert!(may_skip(when(StatusRule::Failure, None).as_ref()));
        assert!(may_skip(when(StatusRule::All, Some("<+x> == 1")).as_ref()));
        assert!(!may_skip(when(StatusRule::Success, Some(" true")).as_ref()));
        assert!(!may_skip(when(StatusRule::All, Some("<+true>")).as_ref()));
    }

    #[test]
    fn group_when_and_later_iterations_reach_their_steps() {
        let leaf = || Node::Step(Box::new(step(None, Some("true"), &[])));
        let group = |when, index| {
            Node::Group(GroupPlan {
                when,
                iteration: Some(Iteration {
                    index,
                    count: 2,
                    max_concurrency: None,
                }),
                nodes: vec![leaf()],
                ..GroupPlan::default()
            })
        };
        let nodes = vec![
            leaf(),
            group(None, 0),
            group(when(StatusRule::Failure, None), 1),
            Node::Parallel {
                nodes: vec![leaf()],
                max_concurrency: None,
            },
        ];
        let mut places = Vec::new();
        let start = Place {
            repeat: false,
            may_skip: false,
        };
        step_places(&nodes, start, &mut places);
        let flags: Vec<(bool, bool)> = places.iter().map(|p| (p.repeat, p.may_skip)).collect();
        assert_eq!(
            flags,
            [(false, false), (false, false), (true, true), (false, false)]
        );
    }

    #[test]
    fn image_without_command_runs_image_default() {
        let task = draft_task(&step(Some("postgres:16"), None, &[])).unwrap();
        assert_eq!(task.program, Program::Argv(Vec::new()));
    }

    #[test]
    fn image_with_blank_command_runs_image_default() {
        let task = draft_task(&step(Some("postgres:16"), Some(" \n"), &[])).unwrap();
        assert_eq!(task.program, Program::Argv(Vec::new()));
    }

    #[test]
    fn entrypoint_overrides_image_default() {
        let task = draft_task(&step(
            Some("redis:7"),
            None,
            &["redis-server", "--save", ""],
        ))
        .unwrap();
        assert_eq!(
            task.program,
            Program::Argv(vec!["redis-server".into(), "--save".into(), "".into()])
        );
    }

    #[test]
    fn host_step_without_command_is_empty_script() {
        let task = draft_task(&step(None, None, &[])).unwrap();
        assert!(
            matches!(task.program, Program::Script { .. }),
            "{:?}",
            task.program
        );
    }
}
