//! Stage networks on real containerd: services by step id, port bindings,
//! two services on one container port, and cleanup.

mod common;

use std::time::Duration;

use basso_containerd::ContainerStep;
use common::*;

/// A busybox httpd Background service that serves `body` on `port`.
fn web_service(step_id: &str, body: &str, port: u16, workspace: &std::path::Path) -> ContainerStep {
    let script = format!(
        "mkdir -p /tmp/www && echo '{body}' > /tmp/www/index.html && exec httpd -f -p {port} -h /tmp/www"
    );
    let mut step = script_step(step_id, &script, workspace);
    step.service = true;
    step
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn service_reached_by_step_id_and_host_port() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let executor = executor(state.path());
    let mut service = web_service(
        "webService",
        "hello from webService",
        8080,
        workspace.path(),
    );
    service.host_names.push("group1_webService".into());
    let port = free_port();
    service.port_bindings = vec![(port, 8080)];
    let firewall_before = firewall_rules();

    let _service = executor.start(&service, Lines::default().sink()).unwrap();
    let by_id = script_step(
        "client",
        &fetch_script("http://webService:8080/"),
        workspace.path(),
    );
    let (exit, output) = run(&executor, &by_id);
    assert!(exit.success(), "{output}");
    assert_eq!(output, "hello from webService");

    let by_group = script_step(
        "client2",
        &fetch_script("http://group1_webService:8080/"),
        workspace.path(),
    );
    let (exit, output) = run(&executor, &by_group);
    assert!(exit.success(), "{output}");
    assert_eq!(output, "hello from webService");

    // A host step reaches the service at localhost:hostPort.
    let response = http_get_local(port);
    assert!(response.contains("hello from webService"), "{response}");

    let run_id = executor.run_id().to_string();
    assert!(!netns_of(&run_id).is_empty());
    executor.end_stage(Duration::from_secs(5)).unwrap();
    assert_eq!(containerd_objects_of(&run_id), Vec::<String>::new());
    assert_eq!(netns_of(&run_id), Vec::<String>::new());
    assert_eq!(firewall_rules(), firewall_before);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "host port still open"
    );
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn two_services_share_a_container_port() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let executor = executor(state.path());
    let mut first = web_service("dbOne", "one", 5432, workspace.path());
    let (port_one, port_two) = (free_port(), free_port());
    first.port_bindings = vec![(port_one, 5432)];
    let mut second = web_service("dbTwo", "two", 5432, workspace.path());
    second.port_bindings = vec![(port_two, 5432)];

    let _first = executor.start(&first, Lines::default().sink()).unwrap();
    let _second = executor.start(&second, Lines::default().sink()).unwrap();
    let (exit_one, output_one) = run(
        &executor,
        &script_step(
            "clientOne",
            &fetch_script("http://dbOne:5432/"),
            workspace.path(),
        ),
    );
    let (exit_two, output_two) = run(
        &executor,
        &script_step(
            "clientTwo",
            &fetch_script("http://dbTwo:5432/"),
            workspace.path(),
        ),
    );

    assert!(exit_one.success(), "{output_one}");
    assert_eq!(output_one, "one");
    assert!(exit_two.success(), "{output_two}");
    assert_eq!(output_two, "two");
    assert!(http_get_local(port_one).ends_with("one\n"));
    assert!(http_get_local(port_two).ends_with("two\n"));
    executor.end_stage(Duration::from_secs(5)).unwrap();
}

/// Reaches a service whose step id has `_` by that id and by its container
/// host name `my-db`, which the stage's hosts file lists so that the
/// service can resolve its own host name.
#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn service_own_host_name_resolves() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let executor = executor(state.path());
    let service = web_service("my_db", "db", 8080, workspace.path());

    let _service = executor.start(&service, Lines::default().sink()).unwrap();
    for name in ["my_db", "my-db"] {
        let (exit, output) = run(
            &executor,
            &script_step(
                "client",
                &fetch_script(&format!("http://{name}:8080/")),
                workspace.path(),
            ),
        );
        assert!(exit.success(), "{name}: {output}");
        assert_eq!(output, "db", "{name}");
    }
    executor.end_stage(Duration::from_secs(5)).unwrap();
}

/// Checks that a step that is not a service resolves its own host name,
/// `my-step` for step id `my_step`, as Java's `InetAddress.getLocalHost`
/// needs.
#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn step_own_host_name_resolves() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let executor = executor(state.path());

    // wget resolves the name as any program does, and a server in the
    // step itself listens on the address the name resolves to.
    let script = format!(
        "mkdir -p /tmp/www && echo self > /tmp/www/index.html \
         && httpd -p 8081 -h /tmp/www && hostname && {}",
        fetch_script("\"http://$(hostname):8081/\"")
    );
    let step = script_step("my_step", &script, workspace.path());
    let (exit, output) = run(&executor, &step);
    executor.end_stage(Duration::from_secs(5)).unwrap();

    assert!(exit.success(), "{output}");
    assert_eq!(output, "my-step\nself", "{output}");
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn service_stops_on_sigterm_through_init() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let executor = executor(state.path());
    let service = web_service("quick", "x", 8080, workspace.path());

    let mut task = executor.start(&service, Lines::default().sink()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let exit = task.stop(Duration::from_secs(10)).unwrap();

    // httpd as PID 1 would ignore SIGTERM until the 10 s SIGKILL.
    assert_eq!(exit.status, 143);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    executor.end_stage(Duration::from_secs(2)).unwrap();
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn each_stage_gets_a_new_network() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let executor = executor(state.path());
    let service = web_service("svc", "first stage", 8080, workspace.path());
    let _service = executor.start(&service, Lines::default().sink()).unwrap();
    let first = netns_of(executor.run_id());
    executor.end_stage(Duration::from_secs(5)).unwrap();

    // The service of the first stage is gone, so the name no longer resolves.
    // wget's message goes to stderr, which reaches the log in no fixed order
    // with stdout, so it is dropped.
    let probe = script_step(
        "probe",
        "timeout 2 wget -qO- http://svc:8080/ 2>/dev/null || echo unreachable",
        workspace.path(),
    );
    let (_, output) = run(&executor, &probe);
    let second = netns_of(executor.run_id());
    executor.end_stage(Duration::from_secs(5)).unwrap();

    assert_eq!(output.lines().last(), Some("unreachable"), "{output}");
    assert_eq!(first.len(), 2);
    assert_eq!(second.len(), 1);
    assert!(!first.contains(&second[0]));
}
