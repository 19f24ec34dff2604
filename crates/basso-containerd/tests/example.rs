//! `basso run examples/containers.yaml` on real containerd: the example
//! pipeline's services, container step and host step all succeed, and
//! nothing is left afterwards.

mod common;

use std::process::Command;

use common::*;

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn example_pipeline_runs_in_containers() {
    let state = state_dir();
    // Imports the test image under the name the example uses.
    drop(executor(state.path()));
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/containers.yaml"
    );
    let firewall_before = firewall_rules();

    let output = Command::new(env("BASSO_TEST_BASSO_BIN"))
        .args(["run", example, "--containerd-address"])
        .arg(address())
        .args(["--containerd-namespace", &namespace()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);

    assert!(output.status.success(), "{stdout}\n{stderr}");
    // Step output is logged to stderr; the summary goes to stdout.
    assert!(
        stderr.contains("hello as uid 1000 on in-container"),
        "{stderr}"
    );
    assert!(stderr.contains("in_container | blue"), "{stderr}");
    assert!(stderr.contains("in_container | green"), "{stderr}");
    assert!(stderr.contains("on_host | blue"), "{stderr}");
    assert!(stdout.contains("result: success"), "{stdout}");
    assert_eq!(
        ctr_list(&["containers", "list", "-q"]),
        Vec::<String>::new()
    );
    assert_eq!(ctr_list(&["tasks", "list", "-q"]), Vec::<String>::new());
    assert_eq!(firewall_rules(), firewall_before);
}
