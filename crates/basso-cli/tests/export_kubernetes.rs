//! `basso export kubernetes` run as a process: exit codes, stdout and
//! stderr.

use std::path::PathBuf;
use std::process::{Command, Output};

use k8s_openapi::api::batch::v1::Job;

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/kubernetes")
        .join(name);
    path.display().to_string()
}

fn basso(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_basso"))
        .args(args)
        .output()
        .expect("basso runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn yaml_job_on_stdout() {
    let output = basso(&["export", "kubernetes", &fixture("services.yaml")]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));

    let yaml = stdout(&output);
    let job: Job = serde_saphyr::from_str(yaml.split("---\n").nth(1).expect("a document"))
        .expect("stdout is a Job");
    assert_eq!(job.metadata.name.as_deref(), Some("shop-api-integration"));
    assert!(!yaml.contains("<+secrets"), "{yaml}");
}

#[test]
fn warnings_on_stderr_with_position() {
    let output = basso(&["export", "kubernetes", &fixture("services.yaml")]);
    let errors = stderr(&output);
    assert!(errors.contains("services.yaml:"), "{errors}");
    assert!(
        errors.contains("warning[parallel-runs-in-sequence]"),
        "{errors}"
    );
    assert!(
        errors.contains("note: Secret `shop-api-secrets` must hold the keys"),
        "{errors}"
    );
}

#[test]
fn json_list_with_template() {
    let file = fixture("services.yaml");
    let output = basso(&[
        "export",
        "kubernetes",
        &file,
        "--format",
        "json",
        "--with-secret-template",
        "--secret-name",
        "shop-secrets",
        "--namespace",
        "ci",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));

    let list: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"][1]["kind"], "Secret");
    assert_eq!(list["items"][1]["metadata"]["name"], "shop-secrets");
    assert_eq!(list["items"][0]["metadata"]["namespace"], "ci");
}

#[test]
fn errors_exit_one_without_manifest() {
    let output = basso(&["export", "kubernetes", &fixture("duplicate-port.yaml")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    let errors = stderr(&output);
    assert!(
        errors.contains("error[duplicate-container-port]"),
        "{errors}"
    );
    assert!(errors.contains("duplicate-port.yaml:"), "{errors}");
}

#[test]
fn unknown_stage_is_usage_error() {
    let output = basso(&[
        "export",
        "kubernetes",
        &fixture("services.yaml"),
        "--stage",
        "deploy",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("stage `deploy` not found"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn unknown_stage_named_beside_errors() {
    let services = std::fs::read_to_string(fixture("services.yaml")).unwrap();
    let broken = services.replacen("identifier:", "identifier: <+input>\n  description:", 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.yaml");
    std::fs::write(&path, broken).unwrap();
    let output = basso(&[
        "export",
        "kubernetes",
        path.to_str().unwrap(),
        "--stage",
        "deploy",
    ]);

    let errors = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{errors}");
    assert!(errors.contains("error["), "{errors}");
    assert!(errors.contains("stage `deploy` not found"), "{errors}");
}

#[test]
fn invalid_namespace_is_usage_error() {
    let output = basso(&[
        "export",
        "kubernetes",
        &fixture("services.yaml"),
        "--namespace",
        "CI_Jobs",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("invalid `--namespace` `CI_Jobs`"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn missing_file_is_usage_error() {
    let output = basso(&["export", "kubernetes", "no-such-pipeline.yaml"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn input_overrides_variable() {
    let output = basso(&[
        "export",
        "kubernetes",
        &fixture("inputs.yaml"),
        "--input",
        "pipeline.variables.tag=2.0",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("image: alpine:2.0"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn step_group_when_applied() {
    let output = basso(&["export", "kubernetes", &fixture("group-when.yaml")]);
    let errors = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{errors}");

    // The group whose condition is false is left out with all its steps.
    assert!(
        errors.contains("note[step-skipped]: step group `skipped` is left out"),
        "{errors}"
    );
    assert!(errors.contains("group-when.yaml:30:19"), "{errors}");
    // A condition that reads a step output cannot be decided before the
    // pod runs, so the group's steps stay and one warning reports it.
    let undecided = "warning[when-not-kept]: condition \
        `<+steps.build.output.outputVariables.V> == \"x\"` of step group `checked` \
        cannot be decided before the stage runs; its steps always run";
    assert_eq!(errors.matches(undecided).count(), 1, "{errors}");
    assert!(errors.contains("group-when.yaml:39:19"), "{errors}");

    let yaml = stdout(&output);
    let job: Job = serde_saphyr::from_str(yaml.split("---\n").nth(1).expect("a document"))
        .expect("stdout is a Job");
    let pod = job.spec.unwrap().template.spec.unwrap();
    let names: Vec<String> = pod
        .init_containers
        .unwrap_or_default()
        .into_iter()
        .chain(pod.containers)
        .map(|container| container.name)
        .collect();
    assert_eq!(names, ["build", "checked-c", "checked-d", "last"]);
}

#[test]
fn stage_when_false_not_exported() {
    let output = basso(&["export", "kubernetes", &fixture("stage-when.yaml")]);
    let errors = stderr(&output);

    assert_eq!(output.status.code(), Some(1), "{errors}");
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    assert!(
        errors.contains("error[stage-skipped]: stage `deploy` is not exported"),
        "{errors}"
    );
    assert!(errors.contains("stage-when.yaml:13:9"), "{errors}");
}

#[test]
fn stage_when_true_exported() {
    let output = basso(&[
        "export",
        "kubernetes",
        &fixture("stage-when.yaml"),
        "--input",
        "pipeline.variables.target=prod",
    ]);
    let errors = stderr(&output);

    assert_eq!(output.status.code(), Some(0), "{errors}");
    assert!(!errors.contains("stage-skipped"), "{errors}");
    assert!(stdout(&output).contains("kind: Job"), "{}", stdout(&output));
}

#[test]
fn stage_when_unquoted_name_not_exported() {
    // `prod` is an undefined name, which JEXL reads as null, so the
    // condition is false before the run whatever `target` is.
    let source = std::fs::read_to_string(fixture("stage-when.yaml"))
        .unwrap()
        .replace("== \"prod\"", "== prod");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stage-when.yaml");
    std::fs::write(&file, source).unwrap();

    let output = basso(&["export", "kubernetes", file.to_str().unwrap()]);
    let errors = stderr(&output);

    assert_eq!(output.status.code(), Some(1), "{errors}");
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    assert!(errors.contains("warning[unquoted-name]"), "{errors}");
    assert!(
        errors.contains("error[stage-skipped]: stage `deploy` is not exported"),
        "{errors}"
    );
}

/// Exports the fixture `run-time-values.yaml`, whose `report` step reads
/// the codebase branch and another step's output variable, and returns the
/// process output with its stdout. Fails unless the export succeeds.
fn run_time_values(extra: &[&str]) -> (Output, String) {
    let file = fixture("run-time-values.yaml");
    let mut args = vec!["export", "kubernetes", file.as_str()];
    args.extend_from_slice(extra);
    let output = basso(&args);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let yaml = stdout(&output);
    (output, yaml)
}

#[test]
fn run_time_values_become_null_text() {
    let (output, yaml) = run_time_values(&[]);
    let errors = stderr(&output);

    assert!(yaml.contains("- echo branch=null version=null"), "{yaml}");
    assert!(
        errors.contains(
            "`<+codebase.branch>` has no value before the run starts; it resolves to null"
        ),
        "{errors}"
    );
}

#[test]
fn failing_output_block_kept_as_written() {
    let (_, yaml) = run_time_values(&[]);
    assert!(
        yaml.contains("value: <+steps.version.output.outputVariables.VERSION.length()>"),
        "{yaml}"
    );
}

#[test]
fn context_supplies_codebase_value() {
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path().join("context.json");
    std::fs::write(&context, r#"{"codebase": {"branch": "main"}}"#).unwrap();

    let (_, yaml) = run_time_values(&["--context", context.to_str().unwrap()]);
    assert!(yaml.contains("- echo branch=main version=null"), "{yaml}");
}

#[test]
fn env_names_api_rejects_exit_one() {
    let output = basso(&["export", "kubernetes", &fixture("env-names.yaml")]);
    let errors = stderr(&output);

    assert_eq!(output.status.code(), Some(1), "{errors}");
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    assert!(
        errors.contains("error[invalid-env-name]: the Kubernetes API server rejects environment variable name `1ABC` of step `env`"),
        "{errors}"
    );
    assert!(errors.contains("env-names.yaml:23:23"), "{errors}");
    assert!(
        errors.contains("error[invalid-env-name]: the Kubernetes API server rejects environment variable name `ÜBER` of step `env`"),
        "{errors}"
    );
    assert!(errors.contains("env-names.yaml:24:23"), "{errors}");
    // The export error replaces check's warning about the same name.
    assert!(!errors.contains("warning[invalid-env-name]"), "{errors}");
    assert!(!errors.contains("GO_PROXY"), "{errors}");
}

#[test]
fn dot_secret_keys_exit_one() {
    let output = basso(&["export", "kubernetes", &fixture("dot-secret-keys.yaml")]);
    let errors = stderr(&output);

    assert_eq!(output.status.code(), Some(1), "{errors}");
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    for (id, step) in [(".", "dot"), ("..", "dot_dot"), ("..x", "dot_dot_prefix")] {
        let message = format!(
            "error[invalid-secret-key]: secret `{id}` of step `{step}` cannot be a key of a Kubernetes Secret"
        );
        assert!(errors.contains(&message), "{message}\n{errors}");
    }
}

#[test]
fn api_rejected_infrastructure_warns() {
    let output = basso(&[
        "export",
        "kubernetes",
        &fixture("infrastructure-api-rules.yaml"),
    ]);
    let errors = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{errors}");

    let warnings = [
        "infrastructure-api-rules.yaml:17:15",
        "infrastructure setting `containerSecurityContext.procMount` is not kept in the pod: unknown `procMount` `Masked`",
        "infrastructure-api-rules.yaml:21:15",
        "toleration 1 of the infrastructure is not kept: `value` must be empty when `operator` is `Exists`",
        "infrastructure-api-rules.yaml:29:15",
        "volume 2 of the infrastructure is not mounted: unknown HostPath `type` `Dir`",
        "infrastructure volume at `/harness/`, which is `/harness`, is not mounted",
        "infrastructure-api-rules.yaml:53:33",
        "infrastructure setting `allowPrivilegeEscalation: false` is not kept in step `image`, which sets `privileged: true`",
    ];
    for warning in warnings {
        assert!(errors.contains(warning), "{warning}\n{errors}");
    }

    let yaml = stdout(&output);
    let job: Job = serde_saphyr::from_str(yaml.split("---\n").nth(1).expect("a document"))
        .expect("stdout is a Job");
    let pod = job.spec.unwrap().template.spec.unwrap();
    let tolerations = pod.tolerations.expect("the valid toleration");
    assert_eq!(tolerations.len(), 1);
    assert_eq!(tolerations[0].key.as_deref(), Some("spot"));
    let volumes = pod.volumes.expect("volumes");
    assert_eq!(volumes.len(), 1, "only the workspace: {volumes:?}");
    let test = &pod.init_containers.expect("init containers")[0];
    let test_context = test.security_context.as_ref().unwrap();
    assert_eq!(test_context.allow_privilege_escalation, Some(false));
    assert_eq!(test_context.run_as_non_root, Some(true));
    assert!(test_context.proc_mount.is_none());
    let image_context = pod.containers[0].security_context.as_ref().unwrap();
    assert_eq!(image_context.privileged, Some(true));
    assert_eq!(image_context.allow_privilege_escalation, Some(true));
}

#[test]
fn entrypoint_over_command_warned_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pipeline.yaml");
    let step = |id: &str, command: &str| {
        format!(
            "              - step:\n                  type: Background\n                  name: {id}\n                  identifier: {id}\n                  spec:\n                    image: alpine\n                    entrypoint: [\"sh\", \"-c\", \"echo hi\"]\n                    command: {command}\n"
        )
    };
    let text = format!(
        "pipeline:\n  name: p\n  identifier: p\n  stages:\n    - stage:\n        name: s\n        identifier: s\n        type: CI\n        spec:\n          infrastructure:\n            type: KubernetesDirect\n            spec:\n              connectorRef: k8s\n              namespace: ci\n          execution:\n            steps:\n{}{}",
        step("plain", "echo ignored"),
        step("block", "| # the build\n                      echo ignored")
    ) + "              - step:\n                  type: Run\n                  name: main\n                  identifier: main\n                  spec:\n                    image: alpine\n                    command: echo main\n";
    std::fs::write(&path, text).unwrap();

    let output = basso(&["export", "kubernetes", &path.display().to_string()]);

    let errors = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{errors}");
    let warnings = errors
        .matches("warning[entrypoint-overrides-command]")
        .count();
    assert_eq!(warnings, 2, "{errors}");
}

#[test]
fn shared_path_warned_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pipeline.yaml");
    let with_paths = |paths: &str| {
        format!(
            "pipeline:\n  name: p\n  identifier: p\n  variables:\n    - name: extra\n      type: String\n      value: proc\n  stages:\n    - stage:\n        name: s\n        identifier: s\n        type: CI\n        spec:\n          sharedPaths:{paths}\n          infrastructure:\n            type: KubernetesDirect\n            spec:\n              connectorRef: k8s\n              namespace: ci\n          execution:\n            steps:\n              - step:\n                  type: Run\n                  name: main\n                  identifier: main\n                  spec:\n                    image: alpine\n                    command: echo main\n"
        )
    };
    // An empty entry, which resolution drops, before the two warned ones;
    // then one runtime input for the whole list.
    for (paths, arguments, expected) in [
        (
            "\n            - \"\"\n            - cache\n            - <+pipeline.variables.extra>",
            vec![],
            ["`cache`", "is `proc`"],
        ),
        (
            " <+input>",
            vec![
                "--input",
                "pipeline.stages.s.spec.sharedPaths=/ok,cache,proc",
            ],
            ["is `cache`", "is `proc`"],
        ),
    ] {
        std::fs::write(&path, with_paths(paths)).unwrap();
        let file = path.display().to_string();
        let mut args = vec!["export", "kubernetes", file.as_str()];
        args.extend(arguments);
        let output = basso(&args);

        let errors = stderr(&output);
        assert_eq!(output.status.code(), Some(0), "{errors}");
        assert_eq!(
            errors.matches("warning[invalid-shared-path]").count(),
            2,
            "{errors}"
        );
        for part in expected {
            assert_eq!(errors.matches(part).count(), 1, "{part}: {errors}");
        }
        assert!(!errors.contains(":1:1"), "{errors}");
    }
}
