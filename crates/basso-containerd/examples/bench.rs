//! Measures the container executor on the private containerd that
//! `scripts/containerd-env.sh` starts (see `scripts/bench-containerd.sh`):
//!
//! 1. per-step overhead: `true` in the busybox image through basso against
//!    a bare `ctr run --rm` of the same image and command, as a ratio of
//!    medians taken in the same run;
//! 2. stage start: the time until 1 and until 5 Background services
//!    (started concurrently) run, and until all answer on their host ports.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use basso_containerd::{ContainerExecutor, ContainerStep, ExecutorConfig, Program};

const NAMESPACE: &str = "basso-bench";
const IMAGE: &str = "docker.io/library/basso-busybox:latest";
const RUNS: usize = 15;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn millis(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

fn step(id: &str, script: &str, workspace: &Path) -> ContainerStep {
    let program = Program::Script {
        shell: "sh".into(),
        script: script.into(),
    };
    let mut step = ContainerStep::new(id, IMAGE, program, workspace.to_path_buf());
    step.image_pull_policy = Some("Never".into());
    step
}

fn main() {
    let address = PathBuf::from(
        std::env::var("BASSO_TEST_CONTAINERD").expect("run through scripts/bench-containerd.sh"),
    );
    let archive = std::env::var("BASSO_TEST_IMAGE_ARCHIVE").unwrap();
    let state = std::env::temp_dir().join(format!("basso-bench-{}", std::process::id()));
    let workspace = state.join("workspace");
    std::fs::create_dir_all(&workspace).unwrap();
    let mut config = ExecutorConfig::new(&address);
    config.namespace = NAMESPACE.into();
    config.state_dir = state.clone();
    let executor = ContainerExecutor::connect(config).unwrap();
    executor.import_archive(Path::new(&archive)).unwrap();

    // Warm both paths once: first runs pay for page cache and namespaces.
    run_basso(&executor, &workspace, "warm");
    run_ctr(&address, "warm-ctr");

    let mut basso = Vec::new();
    let mut ctr = Vec::new();
    for index in 0..RUNS {
        basso.push(run_basso(&executor, &workspace, &format!("b{index}")));
        ctr.push(run_ctr(&address, &format!("bench-ctr-{index}")));
    }
    executor.end_stage(Duration::from_secs(2)).unwrap();
    let (basso, ctr) = (median(basso), median(ctr));
    println!(
        "per-step `true`, median of {RUNS}: basso {}, ctr run --rm {}, ratio {:.2}",
        millis(basso),
        millis(ctr),
        basso.as_secs_f64() / ctr.as_secs_f64()
    );

    let executor = Arc::new(executor);
    for services in [1usize, 5] {
        let mut started = Vec::new();
        let mut answering = Vec::new();
        for round in 0..5 {
            let (start, answer) = start_stage(&executor, &workspace, services, round);
            started.push(start);
            answering.push(answer);
        }
        println!(
            "stage with {services} services, median of 5: all started {}, all answering {}",
            millis(median(started)),
            millis(median(answering))
        );
    }
    let _ = std::fs::remove_dir_all(&state);
}

fn run_basso(executor: &ContainerExecutor, workspace: &Path, id: &str) -> Duration {
    let started = Instant::now();
    let mut task = executor
        .start(&step(id, "true", workspace), Arc::new(|_: &str| {}))
        .unwrap();
    let exit = task.wait(Duration::from_secs(60)).unwrap().unwrap();
    assert!(exit.success());
    started.elapsed()
}

fn run_ctr(address: &Path, id: &str) -> Duration {
    let started = Instant::now();
    let status = Command::new("ctr")
        .arg("--address")
        .arg(address)
        .args(["--namespace", NAMESPACE, "run", "--rm", IMAGE, id, "true"])
        .status()
        .unwrap();
    assert!(status.success());
    started.elapsed()
}

/// Starts `count` httpd services at once on host ports 18500 + n; returns
/// the time until all run and until all answer.
fn start_stage(
    executor: &Arc<ContainerExecutor>,
    workspace: &Path,
    count: usize,
    round: usize,
) -> (Duration, Duration) {
    let started = Instant::now();
    let threads: Vec<_> = (0..count)
        .map(|index| {
            let executor = Arc::clone(executor);
            let mut service = step(
                &format!("svc{round}x{index}"),
                "exec httpd -f -p 80 -h /www",
                workspace,
            );
            service.service = true;
            service.port_bindings = vec![(18500 + index as u16, 80)];
            std::thread::spawn(move || executor.start(&service, Arc::new(|_: &str| {})).unwrap())
        })
        .collect();
    let tasks: Vec<_> = threads
        .into_iter()
        .map(|thread| thread.join().unwrap())
        .collect();
    let all_started = started.elapsed();
    for index in 0..count {
        while !answers(18500 + index as u16) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let all_answering = started.elapsed();
    drop(tasks);
    executor.end_stage(Duration::from_secs(5)).unwrap();
    (all_started, all_answering)
}

fn answers(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(b"GET / HTTP/1.0\r\n\r\n").is_err() {
        return false;
    }
    let mut response = String::new();
    stream.read_to_string(&mut response).is_ok() && response.contains(" 200 OK")
}
