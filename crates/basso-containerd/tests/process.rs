//! Process settings on real containerd: env, entry point, shell, user,
//! privileged mode, memory and CPU limits, OOM kills.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use basso_containerd::Program;
use common::*;

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn env_and_shell_reach_the_script() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let executor = executor(state.path());
    let mut step = script_step(
        "envStep",
        "echo \"greeting=$GREETING\"; echo \"shell=$(tr '\\0' ' ' < /proc/$$/cmdline)\"; pwd; hostname",
        workspace.path(),
    );
    step.env = vec![("GREETING".into(), "hello from env".into())];

    let (exit, output) = run(&executor, &step);

    assert!(exit.success(), "{exit:?}: {output}");
    assert!(output.contains("greeting=hello from env"), "{output}");
    assert!(output.contains("shell=sh /basso/script.sh"), "{output}");
    assert!(output.contains("/harness"), "{output}");
    assert!(output.contains("envStep"), "{output}");
    executor.end_stage(Duration::from_secs(2)).unwrap();
}

/// Returns the command lines of the host's processes that contain `text`.
fn command_lines_containing(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(bytes) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let line = String::from_utf8_lossy(&bytes).replace('\0', " ");
        if line.contains(text) {
            found.push(format!("{}: {line}", entry.file_name().to_string_lossy()));
        }
    }
    found
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn script_text_stays_out_of_process_list() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let executor = executor(state.path());
    // Built at run time, so the test's own command line cannot contain it.
    let secret = format!("s3cr3t-{}", std::process::id() * 7);
    let script = format!("TOKEN={secret}\necho started\nsleep 30");
    let step = script_step("secretStep", &script, workspace.path());

    let lines = Lines::default();
    let mut task = executor.start(&step, lines.sink()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !lines.text().contains("started") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let leaked = command_lines_containing(&secret);
    let script_files = std::fs::read_dir(state.path())
        .unwrap()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".script"))
        .map(|entry| entry.metadata().unwrap().permissions().mode() & 0o777)
        .collect::<Vec<_>>();
    task.stop(Duration::from_secs(2)).unwrap();
    executor.end_stage(Duration::from_secs(2)).unwrap();

    assert!(lines.text().contains("started"), "{}", lines.text());
    assert!(leaked.is_empty(), "script text in process list: {leaked:?}");
    assert_eq!(script_files, [0o400], "script file modes");
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn script_longer_than_argument_limit_runs() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let executor = executor(state.path());
    // Linux limits one argument to 128 KiB (MAX_ARG_STRLEN).
    let mut script = String::new();
    while script.len() < 200 * 1024 {
        script.push_str(": padding line to make the script longer than one argument\n");
    }
    script.push_str("echo long script done");
    let step = script_step("longScript", &script, workspace.path());

    let (exit, output) = run(&executor, &step);
    executor.end_stage(Duration::from_secs(2)).unwrap();

    assert!(exit.success(), "{exit:?}: {output}");
    assert_eq!(output, "long script done");
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn entrypoint_replaces_image_entrypoint_and_command() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let executor = executor(state.path());
    let mut step = script_step("entry", "unused", workspace.path());

    // The test image's own entry point and command print this line.
    step.program = Program::ImageDefault;
    let (exit, output) = run(&executor, &step);
    assert!(exit.success(), "{output}");
    assert!(output.contains("image default command"), "{output}");

    step.program = Program::Entrypoint(vec!["echo".into(), "from entrypoint".into()]);
    let (exit, output) = run(&executor, &step);
    assert!(exit.success(), "{output}");
    assert_eq!(output, "from entrypoint");
    executor.end_stage(Duration::from_secs(2)).unwrap();
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn workspace_is_shared_with_the_host() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let executor = executor(state.path());
    let step = script_step(
        "writer",
        "echo written > /harness/report.txt",
        workspace.path(),
    );

    let (exit, output) = run(&executor, &step);

    assert!(exit.success(), "{output}");
    let written = std::fs::read_to_string(workspace.path().join("report.txt")).unwrap();
    assert_eq!(written, "written\n");
    executor.end_stage(Duration::from_secs(2)).unwrap();
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn run_as_user_sets_uid() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let executor = executor(state.path());
    let mut step = script_step("whoami", "echo $(id -u):$(id -g)", workspace.path());

    let (_, output) = run(&executor, &step);
    assert_eq!(output, "0:0");

    // The image's /etc/passwd gives user 1000 the group 1000.
    step.run_as_user = Some(1000);
    let (exit, output) = run(&executor, &step);
    assert!(exit.success(), "{output}");
    assert_eq!(output, "1000:1000");

    // A user the file does not list gets group 0.
    step.run_as_user = Some(4242);
    let (exit, output) = run(&executor, &step);
    assert!(exit.success(), "{output}");
    assert_eq!(output, "4242:0");
    executor.end_stage(Duration::from_secs(2)).unwrap();
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn run_as_user_writes_shared_workspace() {
    let state = state_dir();
    let base = tempfile::tempdir().unwrap();
    let folder = basso_runner::RunFolder::create(&base.path().join("basso")).unwrap();
    // The workspace `basso run` creates when a step names an image.
    let workspace = folder.create_workspace(true).unwrap();
    let executor = executor(state.path());
    let mut step = script_step(
        "nobody",
        "id -u; echo from-container > written.txt",
        &workspace,
    );
    step.run_as_user = Some(65534);

    let (exit, output) = run(&executor, &step);

    assert!(exit.success(), "{exit:?}: {output}");
    assert_eq!(output, "65534");
    let written = workspace.join("written.txt");
    assert_eq!(
        std::fs::read_to_string(&written).unwrap(),
        "from-container\n"
    );
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&written).unwrap());
    assert_eq!(owner, 65534);
    executor.end_stage(Duration::from_secs(2)).unwrap();
}

/// Returns the effective capability mask the step reports.
fn effective_capabilities(output: &str) -> u64 {
    let hex = output
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .unwrap_or_else(|| panic!("no CapEff in {output}"));
    u64::from_str_radix(hex.trim(), 16).unwrap()
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn privileged_grants_sys_admin() {
    const CAP_SYS_ADMIN: u64 = 1 << 21;
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let executor = executor(state.path());
    let script = "grep CapEff /proc/self/status; mkdir -p /mnt/t; \
                  if mount -t tmpfs none /mnt/t 2>/dev/null; then echo mount=ok; else echo mount=denied; fi";
    let mut step = script_step("caps", script, workspace.path());

    let (_, output) = run(&executor, &step);
    assert_eq!(
        effective_capabilities(&output) & CAP_SYS_ADMIN,
        0,
        "{output}"
    );
    assert!(output.contains("mount=denied"), "{output}");

    step.privileged = true;
    let (_, output) = run(&executor, &step);
    assert_ne!(
        effective_capabilities(&output) & CAP_SYS_ADMIN,
        0,
        "{output}"
    );
    assert!(output.contains("mount=ok"), "{output}");
    executor.end_stage(Duration::from_secs(2)).unwrap();
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn limits_visible_inside_container() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let executor = executor(state.path());
    // cgroup v1 names the file memory/memory.limit_in_bytes, v2 memory.max.
    // A new cgroup cannot be made in the read-only mount.
    let script = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null; \
                  cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu.max 2>/dev/null; \
                  d=/sys/fs/cgroup; [ -d $d/memory ] && d=$d/memory; \
                  mkdir $d/probe 2>/dev/null || echo read-only";
    let mut step = script_step("seesLimits", script, workspace.path());
    step.memory_bytes = Some(80 << 20);
    // Below 10m, the quota is raised to the kernel's 1 ms minimum.
    step.cpu_millis = Some(1);

    let (exit, output) = run(&executor, &step);

    assert!(exit.success(), "{exit:?}: {output}");
    assert!(output.contains(&(80u64 << 20).to_string()), "{output}");
    assert!(output.contains("1000"), "{output}");
    assert!(output.contains("read-only"), "{output}");
    executor.end_stage(Duration::from_secs(2)).unwrap();
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn limits_appear_in_host_cgroup() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let executor = executor(state.path());
    let mut step = script_step("limited", "sleep 30", workspace.path());
    step.memory_bytes = Some(96 << 20);
    step.cpu_millis = Some(250);

    let mut task = executor.start(&step, Lines::default().sink()).unwrap();
    let memory = std::fs::read_to_string(task.cgroup_dir("memory").join("memory.limit_in_bytes"));
    let quota = std::fs::read_to_string(task.cgroup_dir("cpu").join("cpu.cfs_quota_us"));
    let period = std::fs::read_to_string(task.cgroup_dir("cpu").join("cpu.cfs_period_us"));
    let exit = task.stop(Duration::from_secs(5)).unwrap();

    assert_eq!(memory.unwrap().trim(), (96u64 << 20).to_string());
    assert_eq!(quota.unwrap().trim(), "25000");
    assert_eq!(period.unwrap().trim(), "100000");
    // tini passes SIGTERM on, so sleep ends at once: 128 + 15.
    assert_eq!(exit.status, 143);
    assert!(
        !task.cgroup_dir("memory").exists(),
        "cgroup left after stop"
    );
    executor.end_stage(Duration::from_secs(2)).unwrap();
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn oom_kill_is_reported_with_limit() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let executor = executor(state.path());
    // dd fills a 64 MiB buffer, twice the limit.
    let mut step = script_step(
        "hungry",
        "dd if=/dev/zero of=/dev/null bs=64M count=1",
        workspace.path(),
    );
    step.memory_bytes = Some(32 << 20);

    let (exit, output) = run(&executor, &step);

    assert!(exit.oom_killed, "{exit:?}: {output}");
    assert!(!exit.success());
    assert!(
        exit.describe().contains("memory limit 32Mi"),
        "{}",
        exit.describe()
    );
    executor.end_stage(Duration::from_secs(2)).unwrap();
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn failing_step_reports_exit_status() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let executor = executor(state.path());
    let step = script_step("fails", "echo before; exit 3", workspace.path());

    let (exit, output) = run(&executor, &step);

    assert_eq!(exit.status, 3);
    assert!(!exit.oom_killed);
    assert_eq!(output, "before");
    executor.end_stage(Duration::from_secs(2)).unwrap();
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn output_pipes_private_to_runner() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};

    let state = state_dir();
    let state_path = state.path().join("containerd");
    let workspace = tempfile::tempdir().unwrap();
    let executor = executor(&state_path);
    let step = script_step(
        "printer",
        "echo raw output before masking; sleep 30",
        workspace.path(),
    );
    let mut task = executor.start(&step, Lines::default().sink()).unwrap();

    // The shim writes a running container's output into these pipes
    // before basso masks it.
    let mut pipes: Vec<std::path::PathBuf> = std::fs::read_dir(&state_path)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "stdout" || ext == "stderr")
        })
        .collect();
    pipes.sort();
    let describe = |path: &std::path::Path| {
        let metadata = std::fs::metadata(path).unwrap();
        let kind = if metadata.file_type().is_fifo() {
            "fifo"
        } else {
            "other"
        };
        format!("{kind} {:o}", metadata.permissions().mode() & 0o777)
    };
    let folder_mode = std::fs::metadata(&state_path).unwrap().permissions().mode() & 0o777;
    let pipe_kinds: Vec<String> = pipes.iter().map(|path| describe(path)).collect();
    task.stop(Duration::from_secs(2)).unwrap();
    executor.end_stage(Duration::from_secs(2)).unwrap();

    assert_eq!(pipes.len(), 2, "{pipes:?}");
    assert_eq!(format!("{folder_mode:o}"), "700");
    assert_eq!(pipe_kinds, ["fifo 600", "fifo 600"]);
    assert!(
        pipes.iter().all(|path| !path.exists()),
        "pipes left after the container ended: {pipes:?}"
    );
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn stderr_kept_after_stdout_closes() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    // The script is PID 1, so closing its stdout ends that stream for the
    // shim while stderr goes on. When the shim's two copiers shared one
    // file, the stdout copier closed it, and every later stderr line was
    // lost.
    let executor = executor_with_init(state.path(), None);
    let step = script_step(
        "closesStdout",
        "echo first line on stdout\nexec 1>&-\nsleep 0.5\necho LAST LINE ON STDERR >&2",
        workspace.path(),
    );

    let (exit, output) = run(&executor, &step);
    executor.end_stage(Duration::from_secs(2)).unwrap();

    assert!(exit.success(), "{exit:?}: {output}");
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines, ["first line on stdout", "LAST LINE ON STDERR"]);
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn long_and_odd_step_ids_start() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let executor = executor(state.path());
    // Harness ids allow 128 characters, `_` first and `$`; containerd ids
    // allow 76 characters and no doubled separators.
    let long = format!("group_{}.svc_{}", "g".repeat(60), "a".repeat(110));
    for step_id in [long.as_str(), "_lead__double$x"] {
        let step = script_step(step_id, "echo started", workspace.path());
        let (exit, output) = run(&executor, &step);
        assert!(exit.success(), "{step_id}: {exit:?}: {output}");
        assert_eq!(output, "started", "{step_id}");
    }
    executor.end_stage(Duration::from_secs(2)).unwrap();
}

/// Waits up to 20 s until `lines` contains `text`.
fn wait_for_line(lines: &Lines, text: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !lines.text().contains(text) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(lines.text().contains(text), "{}", lines.text());
}

/// A shutdown trap that needs 2 s of a 5 s grace period runs to its end:
/// the container gets one SIGTERM, and no second one kills the trap's
/// `sleep`.
#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn stop_lets_term_trap_finish() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let executor = executor(state.path());
    let script = "trap 'echo TERM >> /harness/terms; sleep 2 && echo done > /harness/finished; exit 0' TERM\n\
                  echo ready\n\
                  while :; do sleep 1; done";
    let step = script_step("trapStep", script, workspace.path());
    let lines = Lines::default();
    let mut task = executor.start(&step, lines.sink()).unwrap();
    wait_for_line(&lines, "ready");

    let started = std::time::Instant::now();
    let exit = task.stop(Duration::from_secs(5)).unwrap();
    let elapsed = started.elapsed();
    executor.end_stage(Duration::from_secs(2)).unwrap();

    let terms = std::fs::read_to_string(workspace.path().join("terms")).unwrap_or_default();
    let finished = std::fs::read_to_string(workspace.path().join("finished"));
    assert_eq!(terms, "TERM\n");
    assert_eq!(finished.ok().as_deref(), Some("done\n"));
    assert_eq!(exit.status, 0);
    assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

/// A stop whose deadline is made to pass early, as a second Ctrl-C does,
/// kills the container then, not when the grace period would have ended.
#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn stop_kills_when_deadline_forced() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let executor = executor(state.path());
    let script = "trap 'sleep 20; exit 0' TERM\n\
                  echo ready\n\
                  while :; do sleep 1; done";
    let step = script_step("slowTrap", script, workspace.path());
    let lines = Lines::default();
    let mut task = executor.start(&step, lines.sink()).unwrap();
    wait_for_line(&lines, "ready");
    let kill_now = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = kill_now.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
    });

    let started = std::time::Instant::now();
    let deadline = basso_runner::StopDeadline::or_when(Duration::from_secs(10), kill_now);
    let exit = task.stop_by(&deadline).unwrap();
    let elapsed = started.elapsed();
    executor.end_stage(Duration::from_secs(2)).unwrap();

    // SIGKILL: 128 + 9.
    assert_eq!(exit.status, 137);
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

/// Without tini, the step's shell is PID 1, and the kernel discards a
/// SIGTERM that PID 1 has no handler for. A stop that begins before the
/// script has set its trap still reaches the trap once it is set.
#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn stop_waits_for_pid1_handler() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    // Imports the test image.
    drop(executor(state.path()));
    let mut config = basso_containerd::ExecutorConfig::new(&address());
    config.namespace = namespace();
    config.state_dir = state.path().to_path_buf();
    config.init_binary = None;
    let executor = basso_containerd::ContainerExecutor::connect(config).unwrap();
    let script = "touch /harness/started\n\
                  sleep 1\n\
                  trap 'echo TERM >> /harness/terms; exit 0' TERM\n\
                  while :; do sleep 1; done";
    let step = script_step("lateTrap", script, workspace.path());
    let mut task = executor.start(&step, Lines::default().sink()).unwrap();
    // The stop comes while the shell runs without a handler. Before the
    // shell runs, the container's setup may still hold a signal that the
    // shell then discards, which is not what this test is about.
    let marker = workspace.path().join("started");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !marker.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(marker.exists(), "the script never started");

    let started = std::time::Instant::now();
    let exit = task.stop(Duration::from_secs(5)).unwrap();
    let elapsed = started.elapsed();
    executor.end_stage(Duration::from_secs(2)).unwrap();

    let terms = std::fs::read_to_string(workspace.path().join("terms")).unwrap_or_default();
    assert_eq!(terms, "TERM\n");
    assert_eq!(exit.status, 0);
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}
