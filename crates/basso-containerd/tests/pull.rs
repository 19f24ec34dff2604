//! Pull policies against a private docker-registry with basic auth.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use basso_containerd::{Connectors, ContainerExecutor, ContainerStep, ExecutorConfig, Program};
use common::*;
use oci_client::Reference;
use oci_client::secrets::RegistryAuth;
use serde_json::Value;
use sha2::{Digest, Sha256};

const REPOSITORY: &str = "basso/busybox";

/// An executor whose connectors point at the test registry: `good` with the
/// right password, `bad` with a wrong one, `anonymous` with none.
fn pull_executor(state_dir: &Path) -> ContainerExecutor {
    let registry = env("BASSO_TEST_REGISTRY");
    let user = env("BASSO_TEST_REGISTRY_USER");
    let connectors = Connectors::parse(&format!(
        r#"{{"connectors": [
            {{"identifier": "good", "url": "http://{registry}", "username": "{user}", "passwordRef": "registryPassword"}},
            {{"identifier": "bad", "url": "http://{registry}", "username": "{user}", "passwordRef": "wrongPassword"}},
            {{"identifier": "anonymous", "url": "http://{registry}"}}
        ]}}"#
    ))
    .unwrap();
    let mut config = ExecutorConfig::new(&address());
    config.namespace = namespace();
    config.state_dir = state_dir.to_path_buf();
    config.connectors = connectors;
    config.secrets = Arc::new(|id: &str| match id {
        "registryPassword" => std::env::var("BASSO_TEST_REGISTRY_PASSWORD").ok(),
        "wrongPassword" => Some("not-the-password".to_string()),
        _ => None,
    });
    ContainerExecutor::connect(config).unwrap()
}

fn sha256(data: &[u8]) -> String {
    let hex: String = Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// Pushes the test image to `REPOSITORY:tag`, with `marker` written into
/// the config so that each marker gives another manifest digest. Returns
/// the manifest digest.
fn push_image(tag: &str, marker: &str) -> String {
    push_image_with(tag, |config| {
        config["config"]["Labels"] = serde_json::json!({"marker": marker});
    })
}

/// Pushes the test image to `REPOSITORY:tag` with its config changed by
/// `edit`, and returns the manifest digest.
fn push_image_with(tag: &str, edit: impl FnOnce(&mut Value)) -> String {
    let layout = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("tar")
        .arg("-xf")
        .arg(env("BASSO_TEST_IMAGE_ARCHIVE"))
        .arg("-C")
        .arg(layout.path())
        .status()
        .unwrap();
    assert!(status.success());
    let blob = |digest: &str| -> Vec<u8> {
        let path: PathBuf = layout.path().join("blobs/sha256").join(&digest[7..]);
        std::fs::read(path).unwrap()
    };
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.path().join("index.json")).unwrap()).unwrap();
    let mut manifest: Value =
        serde_json::from_slice(&blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    let mut config: Value =
        serde_json::from_slice(&blob(manifest["config"]["digest"].as_str().unwrap())).unwrap();
    edit(&mut config);
    let config_bytes = serde_json::to_vec(&config).unwrap();
    manifest["config"]["digest"] = Value::String(sha256(&config_bytes));
    manifest["config"]["size"] = Value::from(config_bytes.len());
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let layer_digest = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let layer = blob(&layer_digest);

    let registry = env("BASSO_TEST_REGISTRY");
    let reference: Reference = format!("{registry}/{REPOSITORY}:{tag}").parse().unwrap();
    let auth = RegistryAuth::Basic(
        env("BASSO_TEST_REGISTRY_USER"),
        env("BASSO_TEST_REGISTRY_PASSWORD"),
    );
    basso_containerd::install_crypto_provider();
    let client = oci_client::Client::new(oci_client::client::ClientConfig {
        protocol: oci_client::client::ClientProtocol::Http,
        ..Default::default()
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        client
            .auth(&reference, &auth, oci_client::RegistryOperation::Push)
            .await
            .unwrap();
        client
            .push_blob(&reference, layer, &layer_digest)
            .await
            .unwrap();
        client
            .push_blob(&reference, config_bytes.clone(), &sha256(&config_bytes))
            .await
            .unwrap();
        client
            .push_manifest_raw(
                &reference,
                manifest_bytes.clone(),
                http::HeaderValue::from_static("application/vnd.oci.image.manifest.v1+json"),
            )
            .await
            .unwrap();
    });
    sha256(&manifest_bytes)
}

/// The full name under which a pulled `tag` is stored.
fn image_name(tag: &str) -> String {
    format!("{}/{REPOSITORY}:{tag}", env("BASSO_TEST_REGISTRY"))
}

/// The manifest digest containerd stores for `name`, if the image exists.
fn local_digest(name: &str) -> Option<String> {
    ctr_list(&["images", "list"])
        .into_iter()
        .find(|line| line.split_whitespace().next() == Some(name))
        .and_then(|line| {
            line.split_whitespace()
                .find(|field| field.starts_with("sha256:"))
                .map(str::to_string)
        })
}

fn remove_local(name: &str) {
    let _ = std::process::Command::new("ctr")
        .arg("--address")
        .arg(address())
        .args([
            "--namespace",
            &namespace(),
            "images",
            "remove",
            "--sync",
            name,
        ])
        .output();
    assert_eq!(local_digest(name), None);
}

/// A step in `REPOSITORY:tag` through `connector` with `policy`.
fn pull_step(tag: &str, connector: &str, policy: &str, workspace: &Path) -> ContainerStep {
    let program = Program::Script {
        shell: "sh".into(),
        script: "echo pulled image runs".into(),
    };
    let mut step = ContainerStep::new(
        "pulled",
        &format!("{REPOSITORY}:{tag}"),
        program,
        workspace.to_path_buf(),
    );
    step.connector_ref = Some(connector.to_string());
    step.image_pull_policy = Some(policy.to_string());
    step
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn if_not_present_pulls_once() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let executor = pull_executor(state.path());
    let digest = push_image("ifnotpresent", "one");
    remove_local(&image_name("ifnotpresent"));

    let (exit, output) = run(
        &executor,
        &pull_step("ifnotpresent", "good", "IfNotPresent", workspace.path()),
    );
    assert!(exit.success(), "{output}");
    assert_eq!(output, "pulled image runs");
    assert_eq!(local_digest(&image_name("ifnotpresent")), Some(digest));

    // Present now: the registry is not asked, so wrong credentials do not matter.
    let (exit, output) = run(
        &executor,
        &pull_step("ifnotpresent", "bad", "IfNotPresent", workspace.path()),
    );
    assert!(exit.success(), "{output}");
    executor.end_stage(Duration::from_secs(2)).unwrap();
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn if_not_present_with_bad_credentials_fails() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let executor = pull_executor(state.path());
    push_image("badcredentials", "one");
    remove_local(&image_name("badcredentials"));

    for connector in ["bad", "anonymous"] {
        let error = executor
            .ensure_image(&pull_step(
                "badcredentials",
                connector,
                "IfNotPresent",
                workspace.path(),
            ))
            .unwrap_err()
            .to_string();
        assert!(error.contains(&image_name("badcredentials")), "{error}");
        assert!(
            error.contains(&format!("connector `{connector}`")),
            "{error}"
        );
        assert!(error.contains("help: check the username"), "{error}");
    }
    assert_eq!(local_digest(&image_name("badcredentials")), None);
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn never_uses_local_image_only() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let executor = pull_executor(state.path());
    push_image("never", "one");
    remove_local(&image_name("never"));

    let error = executor
        .ensure_image(&pull_step("never", "good", "Never", workspace.path()))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(&format!("image `{}` is not present", image_name("never"))),
        "{error}"
    );
    assert!(error.contains("`Never`"), "{error}");
    assert!(error.contains("connector `good`"), "{error}");

    executor
        .ensure_image(&pull_step(
            "never",
            "good",
            "IfNotPresent",
            workspace.path(),
        ))
        .unwrap();
    let (exit, output) = run(
        &executor,
        &pull_step("never", "bad", "Never", workspace.path()),
    );
    assert!(exit.success(), "{output}");
    executor.end_stage(Duration::from_secs(2)).unwrap();
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn always_follows_the_registry_digest() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let executor = pull_executor(state.path());
    let first = push_image("always", "first");
    remove_local(&image_name("always"));

    let (exit, output) = run(
        &executor,
        &pull_step("always", "good", "Always", workspace.path()),
    );
    assert!(exit.success(), "{output}");
    assert_eq!(local_digest(&image_name("always")), Some(first.clone()));

    let second = push_image("always", "second");
    assert_ne!(first, second);
    let (exit, output) = run(
        &executor,
        &pull_step("always", "good", "Always", workspace.path()),
    );
    assert!(exit.success(), "{output}");
    assert_eq!(local_digest(&image_name("always")), Some(second));

    // Always asks the registry every time, so wrong credentials fail even
    // though the image is present.
    let error = executor
        .ensure_image(&pull_step("always", "bad", "Always", workspace.path()))
        .unwrap_err()
        .to_string();
    assert!(error.contains(&image_name("always")), "{error}");
    assert!(error.contains("connector `bad`"), "{error}");
    executor.end_stage(Duration::from_secs(2)).unwrap();
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn missing_connector_or_secret_found_before_start() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let mut config = ExecutorConfig::new(&address());
    config.namespace = namespace();
    config.state_dir = state.path().to_path_buf();
    config.connectors = Connectors::parse(
        r#"{"connectors": [{"identifier": "reg", "url": "http://127.0.0.1:9", "username": "u", "passwordRef": "absent"}]}"#,
    )
    .unwrap();
    let executor = ContainerExecutor::connect(config).unwrap();

    let error = executor
        .ensure_image(&pull_step("x", "reg", "IfNotPresent", workspace.path()))
        .unwrap_err()
        .to_string();
    let checked = executor.check_connector("reg").unwrap_err().to_string();
    let unknown = executor
        .check_connector("org.other")
        .unwrap_err()
        .to_string();

    assert!(
        error.contains("secret `absent` of connector `reg` has no value"),
        "{error}"
    );
    assert!(error.contains("BASSO_SECRET_ABSENT"), "{error}");
    assert_eq!(checked, error);
    assert!(
        unknown.contains("connector `org.other` not found"),
        "{unknown}"
    );
}

/// Returns a step in `REPOSITORY:tag`, pulled from the test registry, that prints
/// its user and group ids.
fn id_step(tag: &str, workspace: &Path) -> ContainerStep {
    let mut step = pull_step(tag, "good", "Always", workspace);
    step.program = Program::Script {
        shell: "sh".into(),
        script: "echo $(id -u) $(id -g)".into(),
    };
    step
}

#[test]
#[ignore = "needs a private containerd: scripts/containerd-tests.sh"]
fn image_user_names_looked_up() {
    let state = state_dir();
    let workspace = tempfile::tempdir().unwrap();
    let executor = pull_executor(state.path());
    let cases = [
        ("user-name", "ci", "1000 1000"),
        ("user-name-group", "ci:nogroup", "1000 65534"),
        ("user-id-group", "1000:nogroup", "1000 65534"),
    ];
    for (tag, user, expected) in cases {
        push_image_with(tag, |config| config["config"]["User"] = Value::from(user));
        let (exit, output) = run(&executor, &id_step(tag, workspace.path()));
        assert!(exit.success(), "{user}: {output}");
        assert_eq!(output, expected, "{user}");
    }

    push_image_with("user-unknown", |config| {
        config["config"]["User"] = Value::from("postgres")
    });
    let lines = Lines::default();
    let error = executor
        .start(&id_step("user-unknown", workspace.path()), lines.sink())
        .err()
        .expect("an image user that /etc/passwd lacks fails the start")
        .to_string();
    assert!(error.contains("sets user `postgres`"), "{error}");
    assert!(
        error.contains("is not in the image's /etc/passwd"),
        "{error}"
    );
    assert!(error.contains("help: set runAsUser"), "{error}");

    let views: Vec<String> = ctr_list(&["snapshots", "list"])
        .into_iter()
        .filter(|line| line.contains("basso-user-"))
        .collect();
    assert_eq!(views, Vec::<String>::new());
    executor.end_stage(Duration::from_secs(2)).unwrap();
}
