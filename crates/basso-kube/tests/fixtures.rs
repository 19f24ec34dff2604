//! Snapshot tests of the exported objects for the fixtures in
//! tests/fixtures/kubernetes/, the pipelines in examples/, and every corpus
//! stage whose steps are all Background and Run steps. Each manifest is read back through the
//! k8s-openapi types and saved for `kubernetes-validate`.

mod common;

use std::path::{Path, PathBuf};

use basso_core::Diagnostic;
use basso_core::pipeline::yaml::{self, Limits};
use basso_kube::{ExportOptions, export_stage, stage_from_resolved};
use common::yaml_round_trip;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Renders diagnostics one per line as `severity[code] line:col: message`,
/// with the help on the next line.
fn render(diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let severity = format!("{:?}", d.severity).to_lowercase();
        out.push_str(&format!(
            "{severity}[{}] {}:{}: {}\n",
            d.code, d.span.line, d.span.column, d.message
        ));
        if let Some(help) = &d.help {
            out.push_str(&format!("  help: {help}\n"));
        }
    }
    out
}

/// Exports every stage of `path` that `keep` accepts and returns one
/// snapshot text per stage, with the stage identifier.
fn export_file(
    path: &Path,
    options: &ExportOptions,
    keep: impl Fn(&basso_core::pipeline::ResolvedStage) -> bool,
) -> Vec<(String, String)> {
    let source = std::fs::read_to_string(path).expect("read pipeline");
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let resolution = common::resolve(&source, &name);
    let root = yaml::load(&source, Limits::default())
        .expect("YAML loads")
        .expect("a document");
    let pipeline_id = resolution
        .pipeline
        .clone()
        .unwrap_or_else(|| "pipeline".into());

    let mut snapshots = Vec::new();
    for resolved in resolution.stages.iter().filter(|s| keep(s)) {
        let stage = stage_from_resolved(&pipeline_id, resolved, Some((&root, &name)));
        let export = export_stage(&stage, options);
        let mut text = format!("diagnostics:\n{}", render(&export.diagnostics));
        if let Some(manifest) = &export.manifest {
            let stem = format!("{}-{}", name.trim_end_matches(".yaml"), resolved.identifier);
            text.push_str("manifest:\n");
            text.push_str(&yaml_round_trip(manifest, &stem));
        }
        snapshots.push((resolved.identifier.clone(), text));
    }
    snapshots
}

fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/kubernetes").join(name)
}

fn snapshot_fixture(name: &str, options: &ExportOptions) -> Vec<(String, String)> {
    let snapshots = export_file(&fixture(name), options, |_| true);
    assert!(!snapshots.is_empty(), "{name} has no stage");
    for (stage, text) in &snapshots {
        let snapshot = format!("{}-{stage}", name.trim_end_matches(".yaml"));
        insta::assert_snapshot!(snapshot, text);
    }
    snapshots
}

#[test]
fn fixture_services() {
    let options = ExportOptions {
        with_secret_template: true,
        ..ExportOptions::default()
    };
    let snapshots = snapshot_fixture("services.yaml", &options);
    let text = &snapshots[0].1;
    assert!(text.contains("manifest:"), "{text}");
    assert!(!text.contains("<+secrets"), "{text}");
}

#[test]
fn fixture_kubernetes_direct() {
    let snapshots = snapshot_fixture("kubernetes-direct.yaml", &ExportOptions::default());
    assert!(
        snapshots[0].1.contains("namespace: ci"),
        "{}",
        snapshots[0].1
    );
}

#[test]
fn fixture_infrastructure_settings() {
    let snapshots = snapshot_fixture("infrastructure.yaml", &ExportOptions::default());
    let text = &snapshots[0].1;
    for expected in [
        "serviceAccountName: build-runner",
        "automountServiceAccountToken: false",
        "priorityClassName: ci-high",
        "pool: builders",
        "kubernetes.io/os: linux",
        "team: payments",
        "example.com/owner: payments",
        "- registry.local",
        "claimName: maven-cache",
        "mountPath: /cache",
        "runAsUser: 2000",
        "runAsUser: 1500",
        "runAsNonRoot: true",
        "tolerationSeconds: 300",
    ] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }
    assert!(
        text.contains(
            "warning[infrastructure-not-kept] 62:28: infrastructure setting `initTimeout`"
        ),
        "{text}"
    );
}

#[test]
fn fixture_duplicate_port() {
    let snapshots = snapshot_fixture("duplicate-port.yaml", &ExportOptions::default());
    let text = &snapshots[0].1;
    assert!(text.contains("error[duplicate-container-port]"), "{text}");
    assert!(!text.contains("manifest:"), "{text}");
}

#[test]
fn fixture_name_collision() {
    let snapshots = snapshot_fixture("name-collision.yaml", &ExportOptions::default());
    let text = &snapshots[0].1;
    assert!(text.contains("error[container-name-collision]"), "{text}");
}

#[test]
fn fixture_failure_strategies() {
    let snapshots = snapshot_fixture("failure-strategies.yaml", &ExportOptions::default());
    let text = &snapshots[0].1;
    assert!(
        text.contains(
            "error[failure-strategy-not-kept] 31:33: failure strategy `Ignore` of step `lint`"
        ),
        "{text}"
    );
    assert!(
        text.contains("error[failure-strategy-not-kept] 43:33: failure strategy `Retry, then MarkAsSuccess` of step `flaky`"),
        "{text}"
    );
    assert!(
        text.contains(
            "warning[failure-strategy-not-kept] 13:23: failure strategy `Abort` of step `unit`"
        ),
        "{text}"
    );
    assert!(!text.contains("manifest:"), "{text}");
}

#[test]
fn fixture_looped_group_positions() {
    let snapshots = export_file(
        &fixture("looped-group.yaml"),
        &ExportOptions::default(),
        |_| true,
    );
    let text = &snapshots[0].1;

    assert!(!text.contains(" 1:1: "), "{text}");
    for iteration in ["checks_0", "checks_1"] {
        let when = format!(
            "warning[when-not-kept] 35:29: condition `<+pipeline.sequenceId> > 3` of step `{iteration}.lint`"
        );
        assert!(text.contains(&when), "{when}\n{text}");
        let timeout =
            format!("warning[timeout-per-job] 27:38: timeout of 1800 s of step `{iteration}.unit`");
        assert!(text.contains(&timeout), "{timeout}\n{text}");
        let parallel =
            format!("warning[parallel-runs-in-sequence] 26:41: parallel steps `{iteration}.unit`");
        assert!(text.contains(&parallel), "{parallel}\n{text}");
    }
}

#[test]
fn fixture_invalid_namespace_position() {
    let snapshots = export_file(
        &fixture("invalid-namespace.yaml"),
        &ExportOptions::default(),
        |_| true,
    );
    let text = &snapshots[0].1;
    assert!(
        text.contains("error[invalid-namespace] 17:26: invalid namespace `Team_NS`"),
        "{text}"
    );
}

fn only_background_and_run(stage: &basso_core::pipeline::ResolvedStage) -> bool {
    !stage.steps.is_empty()
        && stage
            .steps
            .iter()
            .all(|step| matches!(step.step_type.as_str(), "Background" | "Run"))
}

#[test]
fn corpus_background_and_run_stages() {
    let corpus = repo_root().join("../shared/corpus/harness");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap_or_else(|e| panic!("corpus folder {} missing: {e}", corpus.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();

    let mut exported = 0;
    for path in &files {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        for (stage, text) in export_file(path, &ExportOptions::default(), only_background_and_run) {
            insta::assert_snapshot!(format!("corpus-{stem}-{stage}"), text);
            exported += 1;
        }
    }
    assert!(exported >= 3, "only {exported} corpus stages exported");
}

#[test]
fn examples_background_and_run_stages() {
    let examples = repo_root().join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&examples)
        .unwrap_or_else(|e| panic!("examples folder {} missing: {e}", examples.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no pipeline in {}", examples.display());

    for path in &files {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let snapshots = export_file(path, &ExportOptions::default(), only_background_and_run);
        assert!(
            !snapshots.is_empty(),
            "{stem} has no Background and Run stage"
        );
        for (stage, text) in snapshots {
            insta::assert_snapshot!(format!("example-{stem}-{stage}"), text);
        }
    }
}
