//! The runner's executor interface on real containerd: a stage that mixes a
//! containerised Background service with a container step and a host step,
//! and the runner's readiness wait for a container service.

mod common;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use basso_containerd::ExecutorConfig;
use basso_containerd::runner::{ContainerdExecutor, StageExecutor};
use basso_runner::{
    Console, Executor, Exit, HostExecutor, LiteralExpressions, Node, PortBinding, Program,
    RunOptions, Runner, Secrets, Shell, StagePlan, StartDeadline, Status, StepPlan, StepSpec,
    StopDeadline, TaskKind, TaskSpec,
};
use common::*;

fn task(
    step_id: &str,
    image: Option<&str>,
    kind: TaskKind,
    script: &str,
    workdir: &std::path::Path,
) -> TaskSpec {
    TaskSpec {
        step_id: step_id.to_string(),
        kind,
        image: image.map(str::to_string),
        program: Program::Script {
            shell: Shell::Sh,
            script: script.to_string(),
        },
        env: vec![("GREETING".to_string(), "hi".to_string())],
        workdir: workdir.to_path_buf(),
        output_variables: Vec::new(),
        user: None,
        port_bindings: Vec::new(),
        privileged: false,
        image_pull_policy: Some("Never".to_string()),
        connector_ref: None,
        memory_bytes: None,
        cpu_millis: None,
        host_names: Vec::new(),
        shared_paths: Vec::new(),
    }
}

/// Returns an executor for stages that mix host steps and containers, with
/// the test image imported into the test namespace.
fn stage_executor(state: &std::path::Path, workspace: &std::path::Path) -> StageExecutor {
    let containers = containers_only(state);
    let host = HostExecutor::new(&workspace.join(".scripts")).unwrap();
    StageExecutor::new(Box::new(host), containers)
}

/// Returns the containerd executor alone, with the test image imported into
/// the test namespace.
fn containers_only(state: &std::path::Path) -> ContainerdExecutor {
    drop(executor(state));
    let mut config = ExecutorConfig::new(&address());
    config.namespace = namespace();
    config.state_dir = state.to_path_buf();
    ContainerdExecutor::connect(config).unwrap()
}

fn sink() -> (basso_runner::LogSink, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let collected = Arc::clone(&lines);
    let sink: basso_runner::LogSink =
        Arc::new(move |line: &str| collected.lock().unwrap().push(line.to_string()));
    (sink, lines)
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn mixed_stage_through_executor_trait() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let stage = stage_executor(state.path(), workspace.path());

    let mut service = task(
        "web",
        Some(IMAGE),
        TaskKind::Service,
        "exec httpd -f -p 80 -h /www",
        workspace.path(),
    );
    let port = free_port();
    service.port_bindings = vec![(port, 80)];
    let (service_sink, _) = sink();
    let mut service_task = stage
        .start(service, service_sink, &StartDeadline::never())
        .unwrap();

    let container_step = task(
        "inContainer",
        Some(IMAGE),
        TaskKind::Step,
        &format!("echo $GREETING; {}", fetch_script("http://web:80/")),
        workspace.path(),
    );
    let (container_sink, container_lines) = sink();
    let mut container_task = stage
        .start(container_step, container_sink, &StartDeadline::never())
        .unwrap();
    let container_exit = container_task.wait(Duration::from_secs(60)).unwrap();

    let host_step = task(
        "onHost",
        None,
        TaskKind::Step,
        &format!(
            "for i in $(seq 50); do busybox wget -qO- http://localhost:{port}/ && exit 0; sleep 0.1; done; exit 1"
        ),
        workspace.path(),
    );
    let (host_sink, host_lines) = sink();
    let mut host_task = stage
        .start(host_step, host_sink, &StartDeadline::never())
        .unwrap();
    let host_exit = host_task.wait(Duration::from_secs(60)).unwrap();

    let service_exit = service_task
        .stop(&StopDeadline::after(Duration::from_secs(5)))
        .unwrap();
    stage
        .containers()
        .finish_stage(Duration::from_secs(5))
        .unwrap();

    assert_eq!(
        container_exit,
        Some(Exit::Code(0)),
        "{:?}",
        container_lines.lock().unwrap()
    );
    assert_eq!(
        *container_lines.lock().unwrap(),
        ["hi", "hello from basso-busybox"]
    );
    assert_eq!(
        host_exit,
        Some(Exit::Code(0)),
        "{:?}",
        host_lines.lock().unwrap()
    );
    assert!(
        host_lines
            .lock()
            .unwrap()
            .contains(&"hello from basso-busybox".to_string())
    );
    assert_eq!(service_exit, Exit::Code(143));
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn container_outputs_and_errexit() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let containers = containers_only(state.path());

    let mut with_outputs = task(
        "version",
        Some(IMAGE),
        TaskKind::Step,
        "VERSION=1.2.3\nexport UNSET_LATER=x; unset UNSET_LATER",
        workspace.path(),
    );
    with_outputs.output_variables = vec!["VERSION".into(), "UNSET_LATER".into()];
    with_outputs.user = Some(1000);
    let (outputs_sink, _) = sink();
    let mut outputs_task = containers
        .start(with_outputs, outputs_sink, &StartDeadline::never())
        .unwrap();
    let outputs_exit = outputs_task.wait(Duration::from_secs(60)).unwrap();
    let outputs = outputs_task.outputs().unwrap();
    drop(outputs_task);

    let failing = task(
        "failing",
        Some(IMAGE),
        TaskKind::Step,
        "false\necho after",
        workspace.path(),
    );
    let (failing_sink, failing_lines) = sink();
    let mut failing_task = containers
        .start(failing, failing_sink, &StartDeadline::never())
        .unwrap();
    let failing_exit = failing_task.wait(Duration::from_secs(60)).unwrap();
    containers.finish_stage(Duration::from_secs(5)).unwrap();

    assert_eq!(outputs_exit, Some(Exit::Code(0)));
    assert_eq!(outputs.get("VERSION").map(String::as_str), Some("1.2.3"));
    assert!(!outputs.contains_key("UNSET_LATER"), "{outputs:?}");
    assert!(
        !workspace.path().join(".basso-outputs").exists(),
        "output files left"
    );
    assert_eq!(failing_exit, Some(Exit::Code(1)));
    assert!(
        failing_lines.lock().unwrap().is_empty(),
        "{:?}",
        failing_lines.lock().unwrap()
    );
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn container_script_lines_keep_order() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let containers = containers_only(state.path());
    let script = (1..=40)
        .map(|line| {
            let stream = if line % 2 == 0 { " >&2" } else { "" };
            format!("echo line-{line}{stream}")
        })
        .collect::<Vec<_>>()
        .join("\n");

    let mixed = task(
        "mixed",
        Some(IMAGE),
        TaskKind::Step,
        &script,
        workspace.path(),
    );
    let (mixed_sink, lines) = sink();
    let mut mixed_task = containers
        .start(mixed, mixed_sink, &StartDeadline::never())
        .unwrap();
    let exit = mixed_task.wait(Duration::from_secs(60)).unwrap();
    drop(mixed_task);
    containers.finish_stage(Duration::from_secs(5)).unwrap();

    assert_eq!(exit, Some(Exit::Code(0)));
    let expected: Vec<String> = (1..=40).map(|line| format!("line-{line}")).collect();
    assert_eq!(*lines.lock().unwrap(), expected);
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn missing_shell_program_explained() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let containers = containers_only(state.path());
    let mut python = task(
        "py",
        Some(IMAGE),
        TaskKind::Step,
        "print(1)",
        workspace.path(),
    );
    python.program = Program::Script {
        shell: Shell::Python,
        script: "print(1)".to_string(),
    };
    // busybox has `sh`, and a command the script cannot find also ends
    // with 127, which gets no explanation.
    let not_found = task(
        "nf",
        Some(IMAGE),
        TaskKind::Step,
        "no-such-command",
        workspace.path(),
    );

    let mut results = Vec::new();
    for spec in [python, not_found] {
        let (task_sink, lines) = sink();
        let mut started = containers
            .start(spec, task_sink, &StartDeadline::never())
            .unwrap();
        let exit = started.wait(Duration::from_secs(60)).unwrap();
        drop(started);
        let lines = lines.lock().unwrap().clone();
        results.push((exit, lines));
    }
    containers.finish_stage(Duration::from_secs(5)).unwrap();

    let (python_exit, python_lines) = &results[0];
    assert_eq!(*python_exit, Some(Exit::Code(127)));
    let explanation = format!(
        "basso: image `{IMAGE}` has no `python3`, which `shell: Python` runs scripts with; help: use an image that has it, or another `shell`"
    );
    assert_eq!(python_lines.last(), Some(&explanation), "{python_lines:?}");
    let (other_exit, other_lines) = &results[1];
    assert_eq!(*other_exit, Some(Exit::Code(127)));
    assert!(
        !other_lines.iter().any(|line| line.starts_with("basso:")),
        "{other_lines:?}"
    );
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn loopback_only_service_gets_hint() {
    let port = free_port();
    let mut service = plan_step(
        "local",
        "Background",
        Some(IMAGE),
        "exec httpd -f -p 127.0.0.1:80 -h /www",
    );
    service.spec.port_bindings = vec![PortBinding {
        host: port.to_string(),
        container: "80".to_string(),
    }];
    service.timeout = Some(Duration::from_secs(3));

    let (summary, printed) = run_stage(vec![service]);

    assert_eq!(summary.stages[0].status, Status::Failed, "{printed}");
    let message = summary.stages[0].steps[0]
        .message
        .clone()
        .unwrap_or_default();
    assert!(
        message.ends_with(
            "help: the service accepts connections on 127.0.0.1:80 inside its container only, where other steps cannot reach it; make it listen on 0.0.0.0"
        ),
        "{message}"
    );
}

/// Links that a step plants under `.basso-outputs` in the workspace do not
/// make basso, running as root, change the linked host folder.
#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn output_folder_ignores_links_in_workspace() {
    use std::os::unix::fs::PermissionsExt;

    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    std::fs::set_permissions(workspace.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let victim = tempfile::tempdir().unwrap();
    std::fs::set_permissions(victim.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let containers = containers_only(state.path());

    // One link for each predictable name `<pid>-<step>-<counter>`.
    let plant = format!(
        "mkdir -p /harness/.basso-outputs
         for n in $(seq 0 40); do
           ln -s {} /harness/.basso-outputs/{}-outputs-$n
         done",
        victim.path().display(),
        std::process::id()
    );
    let mut planter = task(
        "plant",
        Some(IMAGE),
        TaskKind::Step,
        &plant,
        workspace.path(),
    );
    planter.user = Some(1000);
    let (planter_sink, planter_lines) = sink();
    let mut planter_task = containers
        .start(planter, planter_sink, &StartDeadline::never())
        .unwrap();
    let planter_exit = planter_task.wait(Duration::from_secs(60)).unwrap();
    drop(planter_task);

    let mut with_outputs = task(
        "outputs",
        Some(IMAGE),
        TaskKind::Step,
        "export OUT=value",
        workspace.path(),
    );
    with_outputs.output_variables = vec!["OUT".into()];
    let (outputs_sink, _) = sink();
    let mut outputs_task = containers
        .start(with_outputs, outputs_sink, &StartDeadline::never())
        .unwrap();
    let outputs_exit = outputs_task.wait(Duration::from_secs(60)).unwrap();
    let outputs = outputs_task.outputs().unwrap();
    drop(outputs_task);
    containers.finish_stage(Duration::from_secs(5)).unwrap();

    let victim_mode = std::fs::metadata(victim.path())
        .unwrap()
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(
        planter_exit,
        Some(Exit::Code(0)),
        "{:?}",
        planter_lines.lock().unwrap()
    );
    assert_eq!(
        victim_mode, 0o700,
        "basso changed the mode of a linked folder"
    );
    assert_eq!(outputs_exit, Some(Exit::Code(0)));
    assert_eq!(outputs.get("OUT").map(String::as_str), Some("value"));
}

fn plan_step(id: &str, step_type: &str, image: Option<&str>, command: &str) -> StepPlan {
    StepPlan {
        id: id.to_string(),
        name: id.to_string(),
        step_type: step_type.to_string(),
        spec: StepSpec {
            image: image.map(str::to_string),
            command: Some(command.to_string()),
            image_pull_policy: Some("Never".to_string()),
            ..StepSpec::default()
        },
        ..StepPlan::default()
    }
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn readiness_waits_for_container_service() {
    // The port forwarder listens from the start, while the service starts
    // listening only after its sleep; the host step tries once.
    let port = free_port();
    let mut service = plan_step(
        "web",
        "Background",
        Some(IMAGE),
        "sleep 2\nexec httpd -f -p 80 -h /www",
    );
    service.spec.port_bindings = vec![PortBinding {
        host: port.to_string(),
        container: "80".to_string(),
    }];
    let fetch = plan_step(
        "fetch",
        "Run",
        None,
        &format!("busybox wget -qO- http://127.0.0.1:{port}/"),
    );
    let (summary, printed) = run_stage(vec![service, fetch]);

    let fetch_result = &summary.stages[0].steps[1];
    assert_eq!(fetch_result.id, "fetch");
    assert_eq!(fetch_result.status, Status::Succeeded, "{printed}");
    assert!(
        printed.contains("fetch | hello from basso-busybox"),
        "{printed}"
    );
    assert_eq!(summary.stages[0].status, Status::Succeeded, "{printed}");
}

/// Runs one stage of `steps` on a mixed executor with a new workspace, and
/// returns the summary and the console's text.
fn run_stage(steps: Vec<StepPlan>) -> (basso_runner::RunSummary, String) {
    run_stage_sharing(steps, &[])
}

/// Runs one stage as [`run_stage`] does, with `shared_paths` as its
/// `sharedPaths`.
fn run_stage_sharing(
    steps: Vec<StepPlan>,
    shared_paths: &[&str],
) -> (basso_runner::RunSummary, String) {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let shared_base = tempfile::tempdir().unwrap();
    let mixed = stage_executor(state.path(), workspace.path());
    let stage = StagePlan {
        id: "build".to_string(),
        name: "build".to_string(),
        shared_paths: shared_paths.iter().map(|path| path.to_string()).collect(),
        nodes: steps
            .into_iter()
            .map(|step| Node::Step(Box::new(step)))
            .collect(),
        ..StagePlan::default()
    };
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let console = Arc::new(Console::memory(Arc::clone(&buffer)));
    let mut options = RunOptions::new(workspace.path().to_path_buf());
    options.shared_paths_base = Some(shared_base.path().to_path_buf());
    let runner = Runner::new(
        &mixed,
        &LiteralExpressions,
        console,
        Secrets::new(),
        options,
        Arc::new(AtomicBool::new(false)),
    );
    let summary = runner.run(&[stage]);
    drop(mixed);

    let printed = String::from_utf8_lossy(&buffer.lock().unwrap()).into_owned();
    (summary, printed)
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn shared_paths_reach_later_containers() {
    let write = plan_step(
        "write",
        "Run",
        Some(IMAGE),
        "echo data > /shared/x && echo inside > /harness/sub/y && echo wrote",
    );
    let mut read = plan_step(
        "read",
        "Run",
        Some(IMAGE),
        "cat /shared/x; cat /harness/sub/y; ls -d /relative || true; test -s /etc/hosts && echo hosts-kept",
    );
    // Another user than the writer's: the shared folder is writable by all.
    read.spec.run_as_user = Some("1000".to_string());
    // `/etc/hosts` lies on top of a shared `/etc`; `/proc` is not shared.
    // `/harness/sub` is a folder in the workspace.
    let shared = ["/shared/", "relative", "/etc", "/proc", "/harness/sub"];
    let (summary, printed) = run_stage_sharing(vec![write, read], &shared);

    assert_eq!(summary.stages[0].status, Status::Succeeded, "{printed}");
    assert!(printed.contains("read | data\n"), "{printed}");
    assert!(printed.contains("read | inside\n"), "{printed}");
    assert!(printed.contains("/relative: No such file"), "{printed}");
    assert!(printed.contains("read | hosts-kept\n"), "{printed}");
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn service_without_command_runs_image_default() {
    // The test image's Entrypoint and Cmd print `image default command in`
    // and the working folder, its `WorkingDir` `/`.
    let mut service = plan_step("svc", "Background", Some(IMAGE), "");
    service.spec.command = None;
    let wait = plan_step("wait", "Run", None, "sleep 1");
    let (summary, printed) = run_stage(vec![service, wait]);

    assert!(
        printed.contains("svc | image default command in /\n"),
        "{printed}"
    );
    assert_eq!(summary.stages[0].status, Status::Succeeded, "{printed}");
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn workspace_variables_point_into_container() {
    let show = plan_step(
        "show",
        "Run",
        Some(IMAGE),
        "cd \"$HARNESS_WORKSPACE\"\necho \"harness=$HARNESS_WORKSPACE drone=$DRONE_WORKSPACE pwd=$(pwd)\"",
    );
    let (summary, printed) = run_stage(vec![show]);

    assert_eq!(summary.stages[0].status, Status::Succeeded, "{printed}");
    assert!(
        printed.contains("show | harness=/harness drone=/harness pwd=/harness"),
        "{printed}"
    );
}
