//! One test per mapping rule of the Kubernetes export, on stages built in
//! code. Every manifest is also read back through the k8s-openapi types.

mod common;

use basso_core::pipeline::{ErrorType, FailureAction, FailureStrategy, RetryAction};
use basso_core::{Severity, Span};
use basso_kube::names::{is_dns1123_label, is_dns1123_subdomain};
use basso_kube::{
    ExportOptions, PortBinding, StageWhen, StepFailureStrategy, StepKind, When, to_json,
};
use common::*;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

const SECRET_TEXT: &str = r#"<+secrets.getValue("db_password")>"#;

fn options() -> ExportOptions {
    ExportOptions::default()
}

#[test]
fn background_becomes_native_sidecar() {
    let stage = stage(vec![
        background("postgres", "postgres:16", "5432"),
        run("t", "alpine", "true"),
    ]);
    let manifest = manifest(&stage, &options());
    yaml_round_trip(&manifest, "mapping-sidecar");

    let sidecar = &init_containers(&manifest)[0];
    assert_eq!(sidecar.name, "postgres");
    assert_eq!(sidecar.restart_policy.as_deref(), Some("Always"));
    let probe = sidecar.startup_probe.as_ref().expect("startup probe");
    let tcp = probe.tcp_socket.as_ref().expect("tcpSocket probe");
    assert_eq!(tcp.port, IntOrString::Int(5432));
    let ports = sidecar.ports.as_ref().expect("container ports");
    assert_eq!(ports[0].container_port, 5432);
}

#[test]
fn background_without_ports_warns() {
    let mut service = background("redis", "redis:7", "6379");
    service.port_bindings.clear();
    let stage = stage(vec![service, run("t", "alpine", "true")]);
    let export = export(&stage);

    assert!(codes(&export).contains(&"no-startup-probe"));
    let manifest = export.manifest.expect("manifest");
    let sidecar = &init_containers(&manifest)[0];
    assert!(sidecar.startup_probe.is_none());
    assert_eq!(sidecar.restart_policy.as_deref(), Some("Always"));
}

#[test]
fn run_steps_keep_order_last_is_main() {
    let stage = stage(vec![
        run("first", "alpine", "echo 1"),
        background("db", "postgres", "5432"),
        run("second", "alpine", "echo 2"),
        run("third", "alpine", "echo 3"),
    ]);
    let manifest = manifest(&stage, &options());
    yaml_round_trip(&manifest, "mapping-order");

    let init: Vec<&str> = init_containers(&manifest)
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(init, ["first", "db", "second"]);
    let pod = pod(&manifest);
    assert_eq!(pod.containers.len(), 1);
    assert_eq!(pod.containers[0].name, "third");
    assert!(init_containers(&manifest)[0].restart_policy.is_none());
}

#[test]
fn failing_step_fails_job() {
    let stage = stage(vec![
        run("a", "alpine", "false"),
        run("b", "alpine", "true"),
    ]);
    let manifest = manifest(&stage, &options());

    let spec = manifest.job.spec.as_ref().unwrap();
    assert_eq!(spec.backoff_limit, Some(0));
    assert_eq!(pod(&manifest).restart_policy.as_deref(), Some("Never"));
}

#[test]
fn entrypoint_maps_to_command() {
    let mut service = background("pg", "postgres", "5433");
    service.entrypoint = Some(vec![
        "docker-entrypoint.sh".into(),
        "-p".into(),
        "5433".into(),
    ]);
    let stage = stage(vec![service, run("t", "alpine", "true")]);
    let manifest = manifest(&stage, &options());

    let sidecar = container(&manifest, "pg");
    let expected: Vec<String> = ["docker-entrypoint.sh", "-p", "5433"]
        .map(String::from)
        .into();
    assert_eq!(sidecar.command.as_ref(), Some(&expected));
    assert!(sidecar.args.is_none());
}

#[test]
fn entrypoint_with_command_warns() {
    let mut service = background("pg", "postgres", "5432");
    service.entrypoint = Some(vec!["postgres".into()]);
    service.command = Some("echo ignored".into());
    let stage = stage(vec![service, run("t", "alpine", "true")]);
    let export = export(&stage);

    assert!(codes(&export).contains(&"entrypoint-overrides-command"));
    let manifest = export.manifest.unwrap();
    assert!(container(&manifest, "pg").args.is_none());
}

#[test]
fn command_with_each_shell() {
    let cases: [(Option<&str>, &[&str]); 6] = [
        (None, &["sh", "-e", "-c"]),
        (Some("Sh"), &["sh", "-e", "-c"]),
        (Some("Bash"), &["bash", "-e", "-c"]),
        (Some("Pwsh"), &["pwsh", "-Command"]),
        (Some("Powershell"), &["powershell", "-Command"]),
        (Some("Python"), &["python3", "-c"]),
    ];
    for (shell, expected) in cases {
        let mut step = run("s", "alpine", "echo hi");
        step.shell = shell.map(String::from);
        let manifest = manifest(&stage(vec![step]), &options());
        let main = container(&manifest, "s");
        let expected: Vec<String> = expected.iter().map(|part| part.to_string()).collect();
        assert_eq!(main.command.as_ref(), Some(&expected), "shell {shell:?}");
        assert_eq!(
            main.args.as_ref(),
            Some(&vec!["echo hi".to_string()]),
            "shell {shell:?}"
        );
    }
}

#[test]
fn unknown_shell_is_error() {
    let mut step = run("s", "alpine", "echo hi");
    step.shell = Some("zsh".into());
    let export = export(&stage(vec![step]));

    assert!(codes(&export).contains(&"unknown-shell"));
    assert!(export.manifest.is_none());
}

#[test]
fn dollars_survive_kubelet_expansion() {
    let mut step = run("s", "alpine", "echo $HOME $(date) $$");
    step.env_variables = vec![("PRICE".into(), "$(FIVE)$".into())];
    let manifest = manifest(&stage(vec![step]), &options());

    let main = container(&manifest, "s");
    assert_eq!(main.args.as_ref().unwrap()[0], "echo $$HOME $$(date) $$$$");
    let env = &own_env(main);
    assert_eq!(env[0].value.as_deref(), Some("$$(FIVE)$$"));
}

#[test]
fn secret_id_not_a_key_is_error() {
    for (name, value) in [
        ("WHOLE", r#"<+secrets.getValue("org.my secret")>"#),
        ("PART", r#"user:<+secrets.getValue('a/b')>"#),
        ("DOT", r#"<+secrets.getValue(".")>"#),
        ("DOT_DOT", r#"<+secrets.getValue("..")>"#),
        ("DOT_DOT_PREFIX", r#"x=<+secrets.getValue("..x")>"#),
    ] {
        let mut step = run("s", "alpine", "env");
        step.env_variables = vec![(name.into(), value.into())];
        let export = export(&stage(vec![step]));

        let errors: Vec<&str> = export
            .diagnostics
            .iter()
            .filter(|d| d.code == "invalid-secret-key")
            .map(|d| d.message.as_str())
            .collect();
        assert_eq!(errors.len(), 1, "{name}: {:#?}", export.diagnostics);
        assert!(export.manifest.is_none(), "{name}");
    }
}

#[test]
fn env_names_api_rejects_are_errors() {
    let span = Span {
        byte_start: 40,
        byte_end: 46,
        line: 23,
        column: 23,
        end_line: 23,
        end_column: 29,
    };
    let mut step = run("a", "alpine", "env");
    step.env_variables = vec![
        ("1ABC".into(), "x".into()),
        ("ÜBER".into(), "u".into()),
        ("GO.PROXY-2".into(), "ok".into()),
    ];
    step.env_name_spans = vec![("1ABC".into(), span)];
    let export = export(&stage(vec![step]));

    assert!(export.manifest.is_none());
    let errors: Vec<_> = export
        .diagnostics
        .iter()
        .filter(|d| d.code == "invalid-env-name")
        .collect();
    assert_eq!(errors.len(), 2, "{:#?}", export.diagnostics);
    for error in &errors {
        assert_eq!(error.severity, Severity::Error);
        assert!(
            error.message.contains("API server rejects"),
            "{}",
            error.message
        );
    }

    let digit = errors
        .iter()
        .find(|d| d.message.contains("`1ABC`"))
        .unwrap();
    assert_eq!((digit.span.line, digit.span.column), (23, 23));
    assert_eq!(digit.file.as_deref(), Some("pipeline.yaml"));
    let help = digit.help.as_deref().unwrap();
    assert!(help.contains("`_1ABC`"), "{help}");
    assert!(help.contains("1.32"), "{help}");

    let non_ascii = errors
        .iter()
        .find(|d| d.message.contains("`ÜBER`"))
        .unwrap();
    let help = non_ascii.help.as_deref().unwrap();
    assert!(help.contains("`_BER`"), "{help}");
    assert!(help.contains("only ASCII"), "{help}");
}

#[test]
fn env_variables_in_written_order() {
    let mut step = run("s", "alpine", "env");
    step.env_variables = vec![("B".into(), "2".into()), ("A".into(), "1".into())];
    let manifest = manifest(&stage(vec![step]), &options());

    let env = &own_env(container(&manifest, "s"));
    let pairs: Vec<(&str, Option<&str>)> = env
        .iter()
        .map(|e| (e.name.as_str(), e.value.as_deref()))
        .collect();
    assert_eq!(pairs, [("B", Some("2")), ("A", Some("1"))]);
}

#[test]
fn privileged_and_user_in_security_context() {
    let mut step = run("dind", "docker:dind", "dockerd");
    step.privileged = Some(true);
    step.run_as_user = Some(1000);
    let manifest = manifest(&stage(vec![step]), &options());

    let context = container(&manifest, "dind")
        .security_context
        .as_ref()
        .expect("securityContext");
    assert_eq!(context.privileged, Some(true));
    assert_eq!(context.run_as_user, Some(1000));
    let plain = manifest_of_plain_step();
    assert!(container(&plain, "s").security_context.is_none());
}

fn stage_with_infrastructure(
    steps: Vec<basso_kube::Step>,
    infrastructure: serde_json::Value,
) -> basso_kube::Stage {
    basso_kube::Stage {
        os: Some("Linux".into()),
        infrastructure,
        ..stage(steps)
    }
}

#[test]
fn infrastructure_security_context_step_overrides() {
    let mut own = run("own", "alpine", "true");
    own.privileged = Some(false);
    own.run_as_user = Some(0);
    let infrastructure = serde_json::json!({
        "runAsUser": 2000,
        "containerSecurityContext": {"privileged": true, "runAsUser": 3000, "runAsNonRoot": true},
    });
    let stage =
        stage_with_infrastructure(vec![run("plain", "alpine", "true"), own], infrastructure);
    let manifest = manifest(&stage, &options());
    yaml_round_trip(&manifest, "mapping-infrastructure-security-context");

    let plain = container(&manifest, "plain")
        .security_context
        .as_ref()
        .unwrap();
    assert_eq!(plain.privileged, Some(true));
    assert_eq!(plain.run_as_user, Some(2000));
    assert_eq!(plain.run_as_non_root, Some(true));
    let own = container(&manifest, "own")
        .security_context
        .as_ref()
        .unwrap();
    assert_eq!(own.privileged, Some(false));
    assert_eq!(own.run_as_user, Some(0));
    assert_eq!(own.run_as_non_root, Some(true));
}

#[test]
fn infrastructure_pod_settings() {
    let infrastructure = serde_json::json!({
        "serviceAccountName": "runner",
        "automountServiceAccountToken": "false",
        "priorityClassName": "high",
        "nodeSelector": {"disktype": "ssd"},
        "tolerations": [{"key": "ci", "operator": "Exists", "effect": "NoSchedule"}],
        "labels": {"team": "a"},
        "annotations": {"x/y": "z"},
        "hostNames": ["example.local"],
    });
    let stage = stage_with_infrastructure(
        vec![
            background("db", "postgres:16", "5432"),
            run("t", "alpine", "true"),
        ],
        infrastructure,
    );
    let export = export(&stage);
    assert!(
        export
            .diagnostics
            .iter()
            .all(|d| d.code != "infrastructure-not-kept"),
        "{:#?}",
        export.diagnostics
    );
    let manifest = export.manifest.expect("a manifest");
    yaml_round_trip(&manifest, "mapping-infrastructure-pod");

    let pod = pod(&manifest);
    assert_eq!(pod.service_account_name.as_deref(), Some("runner"));
    assert_eq!(pod.automount_service_account_token, Some(false));
    assert_eq!(pod.priority_class_name.as_deref(), Some("high"));
    let selector = pod.node_selector.as_ref().unwrap();
    assert_eq!(selector["disktype"], "ssd");
    assert_eq!(selector["kubernetes.io/os"], "linux");
    let toleration = &pod.tolerations.as_ref().unwrap()[0];
    assert_eq!(toleration.key.as_deref(), Some("ci"));
    assert_eq!(toleration.operator.as_deref(), Some("Exists"));
    let aliases = pod.host_aliases.as_ref().unwrap();
    assert_eq!(aliases[0].ip, "127.0.0.1");
    assert_eq!(
        aliases[0].hostnames.as_deref().unwrap(),
        ["db", "example.local"]
    );
    let template = manifest
        .job
        .spec
        .as_ref()
        .unwrap()
        .template
        .metadata
        .as_ref()
        .unwrap();
    assert_eq!(template.labels.as_ref().unwrap()["team"], "a");
    assert_eq!(
        template.labels.as_ref().unwrap()["app.kubernetes.io/managed-by"],
        "basso"
    );
    assert_eq!(template.annotations.as_ref().unwrap()["x/y"], "z");
    assert_eq!(template.annotations.as_ref().unwrap()["step.basso/t"], "t");
}

#[test]
fn infrastructure_volumes_in_every_container() {
    let infrastructure = serde_json::json!({
        "volumes": [
            {"mountPath": "/cache", "type": "EmptyDir", "spec": {"size": "1Gi"}},
            {"mountPath": "/host", "type": "HostPath", "spec": {"path": "/srv"}},
            {"mountPath": "/pvc", "type": "PersistentVolumeClaim", "spec": {"claimName": "c"}},
        ],
    });
    let stage = stage_with_infrastructure(
        vec![
            background("db", "postgres:16", "5432"),
            run("t", "alpine", "true"),
        ],
        infrastructure,
    );
    let manifest = manifest(&stage, &options());
    yaml_round_trip(&manifest, "mapping-infrastructure-volumes");

    let volumes = pod(&manifest).volumes.as_ref().unwrap();
    let cache = volumes.iter().find(|v| v.name == "volume-0").unwrap();
    let size = cache
        .empty_dir
        .as_ref()
        .unwrap()
        .size_limit
        .as_ref()
        .unwrap();
    assert_eq!(size.0, "1Gi");
    let host = volumes.iter().find(|v| v.name == "volume-1").unwrap();
    assert_eq!(host.host_path.as_ref().unwrap().path, "/srv");
    let claim = volumes.iter().find(|v| v.name == "volume-2").unwrap();
    assert_eq!(
        claim.persistent_volume_claim.as_ref().unwrap().claim_name,
        "c"
    );
    for name in ["db", "t"] {
        let mounts = container(&manifest, name).volume_mounts.as_ref().unwrap();
        let paths: Vec<&str> = mounts.iter().map(|m| m.mount_path.as_str()).collect();
        assert_eq!(paths, ["/harness", "/cache", "/host", "/pvc"], "{name}");
    }
}

#[test]
fn infrastructure_settings_not_kept_warn() {
    let infrastructure = serde_json::json!({
        "podSpecOverlay": "spec: {}",
        "nodeSelector": {"kubernetes.io/os": "windows"},
        "labels": {"team": "not a label value"},
        "volumes": [
            {"mountPath": "/harness", "type": "EmptyDir", "spec": {}},
            {"mountPath": "/config", "type": "ConfigMap", "spec": {"name": "c"}},
        ],
    });
    let stage = stage_with_infrastructure(vec![run("t", "alpine", "true")], infrastructure);
    let export = export(&stage);

    let warnings: Vec<&str> = export
        .diagnostics
        .iter()
        .filter(|d| d.code == "infrastructure-not-kept")
        .inspect(|d| assert_eq!(d.severity, Severity::Warning))
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(warnings.len(), 5, "{warnings:#?}");
    let has = |text: &str| warnings.iter().any(|w| w.contains(text));
    assert!(has("setting `podSpecOverlay`"), "{warnings:#?}");
    assert!(
        has("`kubernetes.io/os: windows` is replaced by `kubernetes.io/os: linux`"),
        "{warnings:#?}"
    );
    assert!(has("`labels` entry `team` is not kept"), "{warnings:#?}");
    assert!(has("volume at `/harness` is not mounted"), "{warnings:#?}");
    assert!(has("unknown volume type `ConfigMap`"), "{warnings:#?}");
    let manifest = export.manifest.expect("warnings still export");
    assert_eq!(pod(&manifest).volumes.as_ref().unwrap().len(), 1);
}

#[test]
fn infrastructure_secrets_are_not_kept() {
    let secret = |id: &str| format!(r#"<+secrets.getValue("{id}")>"#);
    let infrastructure = serde_json::json!({
        "serviceAccountName": secret("sa"),
        "priorityClassName": secret("pc"),
        "automountServiceAccountToken": secret("mount"),
        "labels": {"team": secret("lbl"), "ok": "123"},
        "annotations": {"note": secret("ann"), "x/y": "z"},
        "nodeSelector": {"disk": secret("ns"), "pool": "ci"},
        "hostNames": [secret("host"), "example.local"],
        "tolerations": [{"key": "k", "operator": "Equal", "value": secret("tol"), "effect": "NoSchedule"}],
        "volumes": [
            {"mountPath": "/data", "type": "PersistentVolumeClaim", "spec": {"claimName": secret("claim")}},
            {"mountPath": "/hp", "type": "HostPath", "spec": {"path": secret("path")}},
            {"mountPath": "/mem", "type": "EmptyDir", "spec": {"medium": secret("medium")}},
        ],
        "runAsUser": secret("uid"),
        "containerSecurityContext": {
            "runAsGroup": secret("gid"),
            "capabilities": {"add": ["NET_ADMIN", secret("cap")]},
        },
    });
    let stage = stage_with_infrastructure(vec![run("t", "alpine", "true")], infrastructure);
    let export = export(&stage);

    let subjects = [
        ("sa", "infrastructure setting `serviceAccountName`"),
        ("pc", "infrastructure setting `priorityClassName`"),
        (
            "mount",
            "infrastructure setting `automountServiceAccountToken`",
        ),
        ("lbl", "`labels` entry `team`"),
        ("ann", "`annotations` entry `note`"),
        ("ns", "`nodeSelector` entry `disk`"),
        ("host", "host name 1 of the infrastructure"),
        ("tol", "toleration 1 of the infrastructure"),
        ("claim", "volume 1 of the infrastructure"),
        ("path", "volume 2 of the infrastructure"),
        ("medium", "volume 3 of the infrastructure"),
        ("uid", "infrastructure setting `runAsUser`"),
        (
            "gid",
            "infrastructure setting `containerSecurityContext.runAsGroup`",
        ),
        (
            "cap",
            "capability 2 of `containerSecurityContext.capabilities.add`",
        ),
    ];
    let warnings: Vec<_> = export
        .diagnostics
        .iter()
        .filter(|d| d.code == "infrastructure-not-kept")
        .collect();
    assert_eq!(warnings.len(), subjects.len(), "{warnings:#?}");
    for (id, subject) in subjects {
        let reason = format!("it reads secret `{id}`");
        let warning = warnings
            .iter()
            .find(|w| w.message.starts_with(subject))
            .unwrap_or_else(|| panic!("no warning on {subject}: {warnings:#?}"));
        assert!(warning.message.contains(&reason), "{}", warning.message);
        let help = warning.help.as_deref().unwrap_or_default();
        assert!(help.contains("write the value itself"), "{subject}: {help}");
    }

    let manifest = export.manifest.expect("warnings still export");
    let yaml = yaml_round_trip(&manifest, "mapping-infrastructure-secrets");
    assert!(!yaml.contains("secrets.getValue"), "{yaml}");
    let pod = pod(&manifest);
    assert_eq!(pod.service_account_name, None);
    assert_eq!(pod.node_selector.as_ref().unwrap()["pool"], "ci");
    assert_eq!(pod.volumes.as_ref().unwrap().len(), 1, "only the workspace");
    let context = container(&manifest, "t").security_context.as_ref().unwrap();
    let added = context.capabilities.as_ref().unwrap().add.as_deref();
    assert_eq!(added, Some(&["NET_ADMIN".to_string()][..]));
    assert_eq!(context.run_as_user, None);
    assert_eq!(context.run_as_group, None);
}

#[test]
fn secret_namespace_is_error() {
    let mut stage = stage(vec![run("t", "alpine", "true")]);
    stage.namespace = Some(SECRET_TEXT.into());
    let export = export(&stage);

    let error = export
        .diagnostics
        .iter()
        .find(|d| d.code == "secret-outside-env")
        .unwrap_or_else(|| panic!("{:#?}", export.diagnostics));
    assert!(error.is_error());
    assert_eq!(
        error.message,
        "secret `db_password` cannot be used in `namespace` on Kubernetes"
    );
    assert!(!codes(&export).contains(&"invalid-namespace"));
    assert!(export.manifest.is_none());

    let option = ExportOptions {
        namespace: Some("ci".into()),
        ..ExportOptions::default()
    };
    let overridden = basso_kube::export_stage(&stage, &option);
    assert!(!overridden.has_errors(), "{:#?}", overridden.diagnostics);
}

#[test]
fn map_settings_keep_valid_entries() {
    let infrastructure = serde_json::json!({
        "labels": {"bad key!": "x", "ok": "123", "team": "a b"},
        "nodeSelector": {"disk": "ssd", "bad key!": "x"},
        "annotations": {"bad key!": "x", "x/y": "z"},
        "hostNames": ["good.local", "Bad_Host", "also.local"],
    });
    let stage = stage_with_infrastructure(vec![run("t", "alpine", "true")], infrastructure);
    let export = export(&stage);

    let warnings = not_kept_messages(&export);
    let expected = [
        "`labels` entry `bad key!` is not kept in the pod: `bad key!` is not a valid label key",
        "`labels` entry `team` is not kept in the pod: `a b` is not a valid label value",
        "`nodeSelector` entry `bad key!` is not kept in the pod: `bad key!` is not a valid label key",
        "`annotations` entry `bad key!` is not kept in the pod: `bad key!` is not a valid annotation key",
        "host name 2 of the infrastructure is not kept: `Bad_Host` is not a valid host name",
    ];
    assert_eq!(warnings.len(), expected.len(), "{warnings:#?}");
    for text in expected {
        assert!(
            warnings.iter().any(|w| w.starts_with(text)),
            "{text}: {warnings:#?}"
        );
    }

    let manifest = export.manifest.expect("warnings still export");
    yaml_round_trip(&manifest, "mapping-infrastructure-map-entries");
    let template = manifest
        .job
        .spec
        .as_ref()
        .unwrap()
        .template
        .metadata
        .as_ref()
        .unwrap();
    let labels = template.labels.as_ref().unwrap();
    assert_eq!(labels["ok"], "123");
    assert!(!labels.contains_key("team"));
    assert_eq!(template.annotations.as_ref().unwrap()["x/y"], "z");
    let pod = pod(&manifest);
    assert_eq!(pod.node_selector.as_ref().unwrap()["disk"], "ssd");
    let aliases = pod.host_aliases.as_ref().unwrap();
    assert_eq!(
        aliases[0].hostnames.as_deref().unwrap(),
        ["good.local", "also.local"]
    );
}

#[test]
fn capability_names_runtimes_reject_dropped() {
    let infrastructure = serde_json::json!({
        "containerSecurityContext": {
            "capabilities": {"add": ["NET_ADMIN", "bad cap", "SYS-TIME", 5], "drop": ["ALL"]},
        },
    });
    let stage = stage_with_infrastructure(vec![run("t", "alpine", "true")], infrastructure);
    let export = export(&stage);

    let warnings = not_kept_messages(&export);
    assert_eq!(warnings.len(), 3, "{warnings:#?}");
    for (index, name) in [(2, "bad cap"), (3, "SYS-TIME"), (4, "5")] {
        let text = format!(
            "capability {index} of `containerSecurityContext.capabilities.add` is not kept in the pod: `{name}` is not a capability name"
        );
        assert!(
            warnings.iter().any(|w| w.starts_with(&text)),
            "{text}: {warnings:#?}"
        );
    }
    let manifest = export.manifest.expect("warnings still export");
    yaml_round_trip(&manifest, "mapping-capabilities");
    let context = container(&manifest, "t").security_context.as_ref().unwrap();
    let capabilities = context.capabilities.as_ref().unwrap();
    assert_eq!(
        capabilities.add.as_deref(),
        Some(&["NET_ADMIN".to_string()][..])
    );
    assert_eq!(capabilities.drop.as_deref(), Some(&["ALL".to_string()][..]));
}

#[test]
fn capabilities_not_a_mapping_warns() {
    let infrastructure = serde_json::json!({
        "containerSecurityContext": {"runAsNonRoot": true, "capabilities": "NET_ADMIN"},
    });
    let stage = stage_with_infrastructure(vec![run("t", "alpine", "true")], infrastructure);
    let export = export(&stage);

    let warnings = not_kept_messages(&export);
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].contains("setting `containerSecurityContext.capabilities`"),
        "{warnings:#?}"
    );
    let manifest = export.manifest.expect("warnings still export");
    let context = container(&manifest, "t").security_context.as_ref().unwrap();
    assert!(context.capabilities.is_none());
}

#[test]
fn security_context_text_from_expressions_converts() {
    let source = r#"pipeline:
  name: p
  identifier: p
  variables:
    - {name: read_only, type: String, value: "true"}
    - {name: group, type: String, value: "3000"}
  stages:
    - stage:
        name: test
        identifier: test
        type: CI
        spec:
          infrastructure:
            type: KubernetesDirect
            spec:
              connectorRef: k8s
              namespace: ci
              containerSecurityContext:
                readOnlyRootFilesystem: <+pipeline.variables.read_only>
                runAsGroup: <+pipeline.variables.group>
                runAsNonRoot: "yes"
          execution:
            steps:
              - step: {type: Run, name: a, identifier: a, spec: {image: alpine, command: 'true'}}
"#;
    let resolution = common::resolve(source, "p.yaml");
    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    let stage = basso_kube::stage_from_resolved("p", &resolution.stages[0], None);
    let written = &stage.infrastructure["containerSecurityContext"];
    assert_eq!(
        written["readOnlyRootFilesystem"], "true",
        "resolves to text"
    );
    let export = export(&stage);

    let warnings = not_kept_messages(&export);
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].contains("`containerSecurityContext.runAsNonRoot`"),
        "{warnings:#?}"
    );
    assert!(warnings[0].contains("found `\"yes\"`"), "{warnings:#?}");
    let manifest = export.manifest.expect("warnings still export");
    let context = container(&manifest, "a").security_context.as_ref().unwrap();
    assert_eq!(context.read_only_root_filesystem, Some(true));
    assert_eq!(context.run_as_group, Some(3000));
    assert_eq!(context.run_as_non_root, None);
}

/// Returns the messages of the `infrastructure-not-kept` warnings.
fn not_kept_messages(export: &basso_kube::Export) -> Vec<&str> {
    export
        .diagnostics
        .iter()
        .filter(|d| d.code == "infrastructure-not-kept")
        .inspect(|d| assert_eq!(d.severity, Severity::Warning))
        .map(|d| d.message.as_str())
        .collect()
}

#[test]
fn tolerations_api_rejects_are_dropped() {
    let cases = [
        (
            serde_json::json!({"key": "a", "operator": "Exists", "value": "x"}),
            "`value` must be empty when `operator` is `Exists`",
        ),
        (
            serde_json::json!({"key": "a", "value": "x", "effect": "NoSchedule", "tolerationSeconds": 30}),
            "`tolerationSeconds` is allowed only with `effect: NoExecute`",
        ),
        (
            serde_json::json!({"key": "a", "operator": "Maybe"}),
            "unknown `operator` `Maybe`, expected `Equal` or `Exists`",
        ),
        (
            serde_json::json!({"key": "a", "operator": "Exists", "effect": "Sometimes"}),
            "unknown `effect` `Sometimes`, expected `NoSchedule`, `PreferNoSchedule` or `NoExecute`",
        ),
        (
            serde_json::json!({"key": "bad key", "operator": "Exists"}),
            "`key` `bad key` is not a valid label key",
        ),
        (
            serde_json::json!({"operator": "Equal", "value": "x"}),
            "`operator` must be `Exists` when `key` is empty",
        ),
        (
            serde_json::json!({"key": "a", "value": "not a label"}),
            "`value` `not a label` is not a valid label value",
        ),
        (
            serde_json::json!({"key": "a", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": "soon"}),
            "`tolerationSeconds` `soon` is not a whole number of seconds",
        ),
    ];
    for (rejected, rule) in cases {
        let valid = serde_json::json!({"key": "ci", "operator": "Exists", "effect": "NoSchedule"});
        let infrastructure = serde_json::json!({"tolerations": [valid, rejected]});
        let stage = stage_with_infrastructure(vec![run("t", "alpine", "true")], infrastructure);
        let export = export(&stage);

        let warnings = not_kept_messages(&export);
        assert_eq!(warnings.len(), 1, "{rule}: {warnings:#?}");
        assert!(
            warnings[0].contains("toleration 2 of the infrastructure is not kept"),
            "{rule}: {warnings:#?}"
        );
        assert!(warnings[0].contains(rule), "{rule}: {warnings:#?}");
        let manifest = export.manifest.expect("warnings still export");
        let tolerations = pod(&manifest).tolerations.as_ref().expect("tolerations");
        assert_eq!(tolerations.len(), 1, "{rule}");
        assert_eq!(tolerations[0].key.as_deref(), Some("ci"), "{rule}");
    }
}

#[test]
fn tolerations_api_accepts_are_kept() {
    let infrastructure = serde_json::json!({"tolerations": [
        {"operator": "Exists"},
        {"key": "example.com/pool", "value": "", "effect": "PreferNoSchedule"},
        {"key": "spot", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": -1},
    ]});
    let stage = stage_with_infrastructure(vec![run("t", "alpine", "true")], infrastructure);
    let export = export(&stage);

    assert!(
        not_kept_messages(&export).is_empty(),
        "{:#?}",
        export.diagnostics
    );
    let manifest = export.manifest.expect("a manifest");
    yaml_round_trip(&manifest, "mapping-infrastructure-tolerations");
    let tolerations = pod(&manifest).tolerations.as_ref().unwrap();
    assert_eq!(tolerations.len(), 3);
    assert_eq!(tolerations[2].toleration_seconds, Some(-1));
}

#[test]
fn volume_sources_api_rejects_are_dropped() {
    let cases = [
        (
            serde_json::json!({"mountPath": "/s", "type": "HostPath", "spec": {"path": "/tmp", "type": "Sockets"}}),
            "unknown HostPath `type` `Sockets`",
        ),
        (
            serde_json::json!({"mountPath": "/s", "type": "HostPath", "spec": {"path": "/var/../etc"}}),
            "HostPath `spec.path` `/var/../etc` contains `..`",
        ),
        (
            serde_json::json!({"mountPath": "/s", "type": "EmptyDir", "spec": {"size": "lots"}}),
            "EmptyDir `spec.size` `lots` is not a Kubernetes quantity",
        ),
        (
            serde_json::json!({"mountPath": "/s", "type": "PersistentVolumeClaim", "spec": {"claimName": ""}}),
            "a PersistentVolumeClaim volume has no `spec.claimName`",
        ),
    ];
    for (volume, rule) in cases {
        let infrastructure = serde_json::json!({"volumes": [volume]});
        let stage = stage_with_infrastructure(vec![run("t", "alpine", "true")], infrastructure);
        let export = export(&stage);

        let warnings = not_kept_messages(&export);
        assert_eq!(warnings.len(), 1, "{rule}: {warnings:#?}");
        assert!(
            warnings[0].contains("volume 1 of the infrastructure is not mounted"),
            "{rule}: {warnings:#?}"
        );
        assert!(warnings[0].contains(rule), "{rule}: {warnings:#?}");
        let manifest = export.manifest.expect("warnings still export");
        assert_eq!(pod(&manifest).volumes.as_ref().unwrap().len(), 1, "{rule}");
    }
}

#[test]
fn mount_paths_compared_in_normal_form() {
    let infrastructure = serde_json::json!({
        "volumes": [
            {"mountPath": "/harness/", "type": "EmptyDir", "spec": {}},
            {"mountPath": "//var/./run", "type": "EmptyDir", "spec": {}},
            {"mountPath": "/cache/", "type": "EmptyDir", "spec": {}},
            {"mountPath": "/tmp/../cache", "type": "EmptyDir", "spec": {}},
        ],
    });
    let mut stage = stage_with_infrastructure(vec![run("t", "alpine", "true")], infrastructure);
    stage.shared_paths = vec![
        ("/var/run/".into(), Span::default()),
        ("/harness/.".into(), Span::default()),
    ];
    let export = export(&stage);

    let warnings = not_kept_messages(&export);
    assert_eq!(warnings.len(), 3, "{warnings:#?}");
    for (written, path) in [
        ("/harness/", "/harness"),
        ("//var/./run", "/var/run"),
        ("/tmp/../cache", "/cache"),
    ] {
        let text = format!("volume at `{written}`, which is `{path}`, is not mounted");
        assert!(
            warnings.iter().any(|w| w.contains(&text)),
            "{written}: {warnings:#?}"
        );
    }
    let manifest = export.manifest.expect("warnings still export");
    let mounts = container(&manifest, "t").volume_mounts.as_ref().unwrap();
    let paths: Vec<&str> = mounts.iter().map(|m| m.mount_path.as_str()).collect();
    assert_eq!(paths, ["/harness", "/var/run", "/cache"]);
}

#[test]
fn security_context_api_rejects_are_dropped() {
    let cases = [
        (
            "procMount",
            serde_json::json!("Weird"),
            "unknown `procMount` `Weird`, expected `Default` or `Unmasked`",
        ),
        (
            "procMount",
            serde_json::json!("Unmasked"),
            "`hostUsers: false`",
        ),
        (
            "runAsGroup",
            serde_json::json!(-1),
            "expected a user or group id",
        ),
        (
            "privileged",
            serde_json::json!("sometimes"),
            "expected `true` or `false`",
        ),
    ];
    for (key, value, rule) in cases {
        let infrastructure = serde_json::json!({
            "containerSecurityContext": {"runAsNonRoot": true, key: value},
        });
        let stage = stage_with_infrastructure(vec![run("t", "alpine", "true")], infrastructure);
        let export = export(&stage);

        let warnings = not_kept_messages(&export);
        assert_eq!(warnings.len(), 1, "{key}: {warnings:#?}");
        let setting = format!("setting `containerSecurityContext.{key}`");
        assert!(warnings[0].contains(&setting), "{key}: {warnings:#?}");
        assert!(warnings[0].contains(rule), "{key}: {warnings:#?}");
        let manifest = export.manifest.expect("warnings still export");
        let context = container(&manifest, "t").security_context.as_ref().unwrap();
        assert_eq!(
            context.run_as_non_root,
            Some(true),
            "{key}: the other settings stay"
        );
        assert!(context.proc_mount.is_none(), "{key}");
    }
}

#[test]
fn privileged_step_allows_privilege_escalation() {
    let mut dind = run("dind", "docker:dind", "dockerd");
    dind.privileged = Some(true);
    let infrastructure = serde_json::json!({
        "containerSecurityContext": {"allowPrivilegeEscalation": false},
    });
    let stage =
        stage_with_infrastructure(vec![dind, run("plain", "alpine", "true")], infrastructure);
    let export = export(&stage);

    let warnings = not_kept_messages(&export);
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].contains("`allowPrivilegeEscalation: false` is not kept in step `dind`, which sets `privileged: true`"),
        "{warnings:#?}"
    );
    let manifest = export.manifest.expect("warnings still export");
    yaml_round_trip(&manifest, "mapping-privileged-escalation");
    let dind = container(&manifest, "dind")
        .security_context
        .as_ref()
        .unwrap();
    assert_eq!(dind.privileged, Some(true));
    assert_eq!(dind.allow_privilege_escalation, Some(true));
    let plain = container(&manifest, "plain")
        .security_context
        .as_ref()
        .unwrap();
    assert_eq!(plain.allow_privilege_escalation, Some(false));
}

#[test]
fn infrastructure_privilege_conflict_allows_escalation() {
    for (key, value) in [
        ("privileged", serde_json::json!(true)),
        (
            "capabilities",
            serde_json::json!({"add": ["CAP_SYS_ADMIN"]}),
        ),
    ] {
        let infrastructure = serde_json::json!({
            "containerSecurityContext": {"allowPrivilegeEscalation": false, key: value},
        });
        let stage = stage_with_infrastructure(
            vec![run("a", "alpine", "true"), run("b", "alpine", "true")],
            infrastructure,
        );
        let export = export(&stage);

        let warnings = not_kept_messages(&export);
        assert_eq!(warnings.len(), 1, "{key}: {warnings:#?}");
        assert!(
            warnings[0].contains("setting `containerSecurityContext.allowPrivilegeEscalation`"),
            "{key}: {warnings:#?}"
        );
        let manifest = export.manifest.expect("warnings still export");
        for name in ["a", "b"] {
            let context = container(&manifest, name)
                .security_context
                .as_ref()
                .unwrap();
            assert_eq!(
                context.allow_privilege_escalation,
                Some(true),
                "{key} {name}"
            );
        }
    }
}

fn manifest_of_plain_step() -> basso_kube::Manifest {
    manifest(&stage(vec![run("s", "alpine", "true")]), &options())
}

#[test]
fn limits_as_given() {
    let mut step = run("s", "alpine", "true");
    step.limit_memory = Some("500Mi".into());
    step.limit_cpu = Some("0.5".into());
    let manifest = manifest(&stage(vec![step]), &options());
    yaml_round_trip(&manifest, "mapping-limits");

    let resources = container(&manifest, "s")
        .resources
        .as_ref()
        .expect("resources");
    let limits = resources.limits.as_ref().expect("limits");
    assert_eq!(limits["memory"].0, "500Mi");
    assert_eq!(limits["cpu"].0, "0.5");
    assert!(resources.requests.is_none());
}

#[test]
fn resource_requests_warn() {
    let source = "pipeline:
  name: p
  identifier: p
  stages:
    - stage:
        name: test
        identifier: test
        type: CI
        spec:
          infrastructure:
            type: KubernetesDirect
            spec: {connectorRef: k8s, namespace: ci}
          execution:
            steps:
              - step:
                  type: Run
                  name: run
                  identifier: run
                  spec:
                    image: alpine
                    command: 'true'
                    resources:
                      requests: {memory: 1Mi, cpu: 0.5}
";
    let resolution = common::resolve(source, "p.yaml");
    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    let stage = basso_kube::stage_from_resolved("p", &resolution.stages[0], None);
    let export = export(&stage);

    let warning = export
        .diagnostics
        .iter()
        .find(|d| d.code == "requests-not-kept")
        .unwrap_or_else(|| panic!("{:#?}", export.diagnostics));
    assert_eq!(warning.severity, Severity::Warning);
    assert_eq!(
        warning.message,
        "`resources.requests` of step `run` is not kept in the pod: `memory: 1Mi`, `cpu: 0.5`"
    );
    assert!(
        warning
            .help
            .as_deref()
            .unwrap()
            .contains("`resources.limits`")
    );
    let manifest = export.manifest.expect("warnings still export");
    assert!(container(&manifest, "run").resources.is_none());
}

#[test]
fn image_pull_policy_as_given() {
    for policy in ["Always", "Never", "IfNotPresent"] {
        let mut step = run("s", "alpine", "true");
        step.image_pull_policy = Some(policy.into());
        let manifest = manifest(&stage(vec![step]), &options());
        assert_eq!(
            container(&manifest, "s").image_pull_policy.as_deref(),
            Some(policy)
        );
    }

    let mut step = run("s", "alpine", "true");
    step.image_pull_policy = Some("Sometimes".into());
    let export = export(&stage(vec![step]));
    assert!(codes(&export).contains(&"invalid-image-pull-policy"));
}

#[test]
fn connector_refs_become_pull_secrets() {
    let mut a = run("a", "alpine", "true");
    a.connector_ref = Some("account.Docker_Hub".into());
    let mut b = run("b", "alpine", "true");
    b.connector_ref = Some("account.Docker_Hub".into());
    let mut c = background("c", "redis", "6379");
    c.connector_ref = Some("ecr".into());
    let manifest = manifest(&stage(vec![c, a, b]), &options());
    yaml_round_trip(&manifest, "mapping-pull-secrets");

    let names: Vec<&str> = pod(&manifest)
        .image_pull_secrets
        .iter()
        .flatten()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(names, ["ecr", "account.docker-hub"]);
    assert_eq!(manifest.image_pull_secrets, names);
}

#[test]
fn workspace_and_shared_paths_are_empty_dirs() {
    let mut stage = stage(vec![
        background("db", "postgres", "5432"),
        run("s", "alpine", "true"),
    ]);
    stage.shared_paths = vec![
        ("/var/run".into(), Span::default()),
        ("/cache".into(), Span::default()),
        ("/var/run".into(), Span::default()),
    ];
    let manifest = manifest(&stage, &options());
    yaml_round_trip(&manifest, "mapping-volumes");

    let volumes = pod(&manifest).volumes.as_ref().unwrap();
    assert_eq!(volumes.len(), 3);
    assert!(volumes.iter().all(|v| v.empty_dir.is_some()));
    for name in ["db", "s"] {
        let mounts = container(&manifest, name).volume_mounts.as_ref().unwrap();
        let paths: Vec<&str> = mounts.iter().map(|m| m.mount_path.as_str()).collect();
        assert_eq!(
            paths,
            ["/harness", "/var/run", "/cache"],
            "container {name}"
        );
        assert_eq!(
            container(&manifest, name).working_dir.as_deref(),
            Some("/harness")
        );
    }
}

#[test]
fn relative_shared_path_warns() {
    let mut stage = stage(vec![run("s", "alpine", "true")]);
    stage.shared_paths = vec![
        ("".into(), Span::default()),
        ("cache".into(), Span::default()),
    ];
    let export = export(&stage);

    let warnings = codes(&export)
        .iter()
        .filter(|c| **c == "invalid-shared-path")
        .count();
    assert_eq!(
        warnings,
        1,
        "the empty entry is skipped quietly: {:?}",
        codes(&export)
    );
    let manifest = export.manifest.unwrap();
    assert_eq!(pod(&manifest).volumes.as_ref().unwrap().len(), 1);
}

#[test]
fn reserved_shared_path_not_mounted() {
    let mut stage = stage(vec![run("s", "alpine", "true")]);
    stage.shared_paths = vec![
        ("/proc/".into(), Span::default()),
        ("/cache/".into(), Span::default()),
    ];
    let export = export(&stage);

    let warnings: Vec<_> = export
        .diagnostics
        .iter()
        .filter(|d| d.code == "invalid-shared-path")
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("`/proc/`"), "{}", warnings[0]);
    let manifest = export.manifest.unwrap();
    let paths: Vec<&str> = container(&manifest, "s")
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| m.mount_path.as_str())
        .collect();
    assert_eq!(paths, ["/harness", "/cache"]);
}

#[test]
fn parallel_runs_warn() {
    let mut a = run("a", "alpine", "true");
    let mut b = run("b", "alpine", "true");
    let mut db = background("db", "postgres", "5432");
    a.parallel_group = Some(0);
    b.parallel_group = Some(0);
    db.parallel_group = Some(0);
    let export = export(&stage(vec![db, a, b, run("c", "alpine", "true")]));

    let warnings: Vec<_> = export
        .diagnostics
        .iter()
        .filter(|d| d.code == "parallel-runs-in-sequence")
        .collect();
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].message.contains("`a`, `b`"),
        "{}",
        warnings[0].message
    );
}

#[test]
fn parallel_services_do_not_warn() {
    let mut db = background("db", "postgres", "5432");
    let mut cache = background("cache", "redis", "6379");
    db.parallel_group = Some(0);
    cache.parallel_group = Some(0);
    let export = export(&stage(vec![db, cache, run("c", "alpine", "true")]));
    assert!(!codes(&export).contains(&"parallel-runs-in-sequence"));
}

fn with_when(stage_status: &str, condition: Option<&str>) -> basso_kube::Step {
    let mut step = run("guarded", "alpine", "true");
    step.when = Some(When {
        stage_status: stage_status.into(),
        condition: condition.map(String::from),
    });
    step
}

fn exported_names(export: &basso_kube::Export) -> Vec<String> {
    let manifest = export.manifest.as_ref().expect("manifest");
    let pod = pod(manifest);
    pod.init_containers
        .iter()
        .flatten()
        .chain(&pod.containers)
        .map(|c| c.name.clone())
        .collect()
}

#[test]
fn when_false_condition_skips_step() {
    let export = export(&stage(vec![
        with_when("Success", Some("false")),
        run("last", "alpine", "true"),
    ]));
    assert_eq!(exported_names(&export), ["last"]);
    let skipped = export
        .diagnostics
        .iter()
        .find(|d| d.code == "step-skipped")
        .unwrap();
    assert_eq!(skipped.severity, Severity::Info);
}

#[test]
fn when_true_condition_keeps_step_quietly() {
    let export = export(&stage(vec![
        with_when("Success", Some("true")),
        run("last", "alpine", "true"),
    ]));
    assert_eq!(exported_names(&export), ["guarded", "last"]);
    assert!(export.diagnostics.is_empty(), "{:?}", export.diagnostics);
}

#[test]
fn when_failure_drops_step() {
    let export = export(&stage(vec![
        run("first", "alpine", "true"),
        with_when("Failure", None),
    ]));
    assert_eq!(exported_names(&export), ["first"]);
    assert!(codes(&export).contains(&"when-not-kept"));
}

#[test]
fn when_all_and_undecided_warn() {
    for (status, condition) in [
        ("All", None),
        ("Success", Some("<+pipeline.variables.x> == \"y\"")),
    ] {
        let export = export(&stage(vec![
            with_when(status, condition),
            run("last", "alpine", "true"),
        ]));
        assert_eq!(
            exported_names(&export),
            ["guarded", "last"],
            "{status} {condition:?}"
        );
        assert!(
            codes(&export).contains(&"when-not-kept"),
            "{status} {condition:?}"
        );
    }
}

fn stage_with_when(pipeline_status: &str, condition: Option<&str>) -> basso_kube::Stage {
    let mut stage = stage(vec![run("t", "alpine", "true")]);
    stage.when = Some(StageWhen {
        pipeline_status: pipeline_status.into(),
        condition: condition.map(String::from),
        span: Span::default(),
    });
    stage
}

#[test]
fn stage_when_false_exports_nothing() {
    let export = export(&stage_with_when("Success", Some("false")));

    assert!(export.manifest.is_none());
    assert_eq!(codes(&export), ["stage-skipped"]);
    assert_eq!(export.diagnostics[0].severity, Severity::Error);
}

#[test]
fn stage_when_true_exports_quietly() {
    let export = export(&stage_with_when("Success", Some("true")));

    assert!(export.manifest.is_some());
    assert!(export.diagnostics.is_empty(), "{:?}", export.diagnostics);
}

#[test]
fn stage_when_failure_and_undecided_warn() {
    for (status, condition) in [
        ("Failure", None),
        (
            "Success",
            Some("<+pipeline.stages.build.status> == \"FAILED\""),
        ),
    ] {
        let export = export(&stage_with_when(status, condition));

        assert!(export.manifest.is_some(), "{status} {condition:?}");
        assert_eq!(codes(&export), ["when-not-kept"], "{status} {condition:?}");
        assert_eq!(
            export.diagnostics[0].severity,
            Severity::Warning,
            "{status} {condition:?}"
        );
    }
}

#[test]
fn timeouts_sum_into_job_deadline() {
    let mut a = run("a", "alpine", "true");
    a.timeout_seconds = Some(600);
    let mut b = run("b", "alpine", "true");
    b.timeout_seconds = Some(5400);
    let export = export(&stage(vec![a, b]));

    let manifest = export.manifest.as_ref().unwrap();
    let deadline = manifest.job.spec.as_ref().unwrap().active_deadline_seconds;
    assert_eq!(deadline, Some(600 + 5400));
    let warnings = codes(&export)
        .iter()
        .filter(|c| **c == "timeout-per-job")
        .count();
    assert_eq!(warnings, 2);
}

#[test]
fn stage_timeout_caps_job_deadline() {
    let mut a = run("a", "alpine", "true");
    a.timeout_seconds = Some(600);
    let mut b = run("b", "alpine", "true");
    b.timeout_seconds = Some(5400);
    let mut stage = stage(vec![a, b]);
    stage.timeout_seconds = Some(1800);
    let export = export(&stage);

    let manifest = export.manifest.as_ref().unwrap();
    let deadline = manifest.job.spec.as_ref().unwrap().active_deadline_seconds;
    assert_eq!(deadline, Some(1800));
}

#[test]
fn resolved_stage_timeout_caps_deadline() {
    let source = "pipeline:
  name: p
  identifier: p
  stages:
    - stage:
        name: test
        identifier: test
        type: CI
        timeout: 15m
        spec:
          infrastructure:
            type: KubernetesDirect
            spec: {connectorRef: k8s, namespace: ci}
          execution:
            steps:
              - step: {type: Run, name: a, identifier: a, timeout: 1h, spec: {image: alpine, command: 'true'}}
";
    let resolution = common::resolve(source, "p.yaml");
    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    let stage = basso_kube::stage_from_resolved("p", &resolution.stages[0], None);
    let export = export(&stage);

    assert_eq!(stage.timeout_seconds, Some(900));
    let manifest = export.manifest.as_ref().unwrap();
    let deadline = manifest.job.spec.as_ref().unwrap().active_deadline_seconds;
    assert_eq!(deadline, Some(900));
}

#[test]
fn longer_stage_timeout_keeps_step_sum() {
    let mut a = run("a", "alpine", "true");
    a.timeout_seconds = Some(600);
    let mut stage = stage(vec![a, run("b", "alpine", "true")]);
    stage.timeout_seconds = Some(86_400);
    let export = export(&stage);

    let manifest = export.manifest.as_ref().unwrap();
    let deadline = manifest.job.spec.as_ref().unwrap().active_deadline_seconds;
    assert_eq!(deadline, Some(600 + 10 * 3600));
}

#[test]
fn missing_timeout_counts_default() {
    let mut a = run("a", "alpine", "true");
    a.timeout_seconds = Some(300);
    let export = export(&stage(vec![a, run("b", "alpine", "true")]));
    let deadline = export
        .manifest
        .unwrap()
        .job
        .spec
        .unwrap()
        .active_deadline_seconds;
    assert_eq!(deadline, Some(300 + 10 * 3600));
}

#[test]
fn single_step_timeout_is_exact() {
    let mut a = run("a", "alpine", "true");
    a.timeout_seconds = Some(120);
    let export = export(&stage(vec![a]));
    assert!(!codes(&export).contains(&"timeout-per-job"));
    assert_eq!(
        export
            .manifest
            .unwrap()
            .job
            .spec
            .unwrap()
            .active_deadline_seconds,
        Some(120)
    );
}

#[test]
fn step_ids_become_container_names() {
    let stage = stage(vec![
        background("Redis_Cache", "redis", "6379"),
        run("api_tests", "alpine", "true"),
    ]);
    let manifest = manifest(&stage, &options());
    assert_eq!(
        container(&manifest, "api-tests").image.as_deref(),
        Some("alpine")
    );
    assert_eq!(
        container(&manifest, "redis-cache").image.as_deref(),
        Some("redis")
    );
}

#[test]
fn container_annotation_holds_step_id() {
    let mut grouped = run("unit", "alpine", "true");
    grouped.step_group = Some("checks".into());
    let stage = stage(vec![run("api_tests", "alpine", "true"), grouped]);
    let manifest = manifest(&stage, &options());

    let template = &manifest.job.spec.as_ref().unwrap().template;
    let annotations = template
        .metadata
        .as_ref()
        .unwrap()
        .annotations
        .as_ref()
        .unwrap();
    assert_eq!(annotations["step.basso/api-tests"], "api_tests");
    assert_eq!(annotations["step.basso/checks-unit"], "checks.unit");
}

#[test]
fn container_name_collision_is_error() {
    let stage = stage(vec![
        run("api_tests", "alpine", "true"),
        run("Api_Tests", "alpine", "true"),
    ]);
    let export = export(&stage);

    let error = export
        .diagnostics
        .iter()
        .find(|d| d.code == "container-name-collision")
        .unwrap();
    assert!(error.message.contains("`api_tests`"), "{}", error.message);
    assert!(error.message.contains("`api-tests`"), "{}", error.message);
    assert_eq!(error.labels.len(), 1);
    assert!(export.manifest.is_none());
}

#[test]
fn every_name_is_dns1123() {
    let mut a = run("Unit_Tests__2", "alpine", "true");
    a.connector_ref = Some("org.My_Registry".into());
    let mut b = background("_Cache_", "redis", "6379");
    b.step_group = Some("Services_Group".into());
    let mut stage = stage(vec![b, background("db", "postgres", "5432"), a]);
    stage.pipeline_id =
        "My_Pipeline__With_A_Very_Long_Identifier_That_Goes_On_And_On_Forever".into();
    stage.id = "Integration_Tests".into();
    stage.shared_paths = vec![("/cache".into(), Span::default())];
    let manifest = manifest(&stage, &options());
    yaml_round_trip(&manifest, "mapping-names");

    let job_name = manifest.job.metadata.name.as_deref().unwrap();
    assert!(is_dns1123_label(job_name), "job name {job_name}");
    assert!(
        is_dns1123_subdomain(&manifest.secret_name),
        "secret {}",
        manifest.secret_name
    );
    let pod = pod(&manifest);
    for container in pod.init_containers.iter().flatten().chain(&pod.containers) {
        assert!(
            is_dns1123_label(&container.name),
            "container {}",
            container.name
        );
    }
    for volume in pod.volumes.iter().flatten() {
        assert!(is_dns1123_label(&volume.name), "volume {}", volume.name);
    }
    for secret in pod.image_pull_secrets.iter().flatten() {
        assert!(
            is_dns1123_subdomain(&secret.name),
            "pull secret {}",
            secret.name
        );
    }
    for alias in pod.host_aliases.iter().flatten() {
        for host in alias.hostnames.iter().flatten() {
            assert!(is_dns1123_label(host), "host alias {host}");
        }
    }
}

fn job_name_of(pipeline_id: &str, stage_id: &str) -> String {
    let mut stage = stage(vec![run("t", "alpine", "true")]);
    stage.pipeline_id = pipeline_id.into();
    stage.id = stage_id.into();
    let manifest = manifest(&stage, &options());
    manifest.job.metadata.name.unwrap()
}

#[test]
fn long_pipeline_id_keeps_stage_in_job_name() {
    let pipeline = "A_very_long_pipeline_identifier_that_goes_on_and_on_and_on_and_on_forever";
    let unit = job_name_of(pipeline, "unit_tests");
    let deploy = job_name_of(pipeline, "deploy");

    assert_ne!(unit, deploy);
    assert!(is_dns1123_label(&unit), "{unit}");
    assert!(is_dns1123_label(&deploy), "{deploy}");
    assert!(unit.contains("-unit-tests-"), "{unit}");
    assert!(deploy.contains("-deploy-"), "{deploy}");
    assert_eq!(
        job_name_of(pipeline, "deploy"),
        deploy,
        "name is not stable"
    );
}

#[test]
fn short_job_name_unchanged() {
    assert_eq!(
        job_name_of("demo_pipeline", "integration"),
        "demo-pipeline-integration"
    );
}

#[test]
fn host_aliases_for_valid_service_ids() {
    let mut grouped = background("cache", "redis", "6379");
    grouped.step_group = Some("services".into());
    let stage = stage(vec![
        background("postgres", "postgres", "5432"),
        background("my_db", "mysql", "3306"),
        background("Mongo", "mongo", "27017"),
        grouped,
        run("t", "alpine", "true"),
    ]);
    let export = export(&stage);
    let manifest = export.manifest.as_ref().unwrap();

    let aliases = pod(manifest).host_aliases.as_ref().expect("hostAliases");
    assert_eq!(aliases.len(), 1);
    assert_eq!(aliases[0].ip, "127.0.0.1");
    assert_eq!(
        aliases[0].hostnames.as_deref(),
        Some(&["postgres".to_string()][..])
    );

    let warnings: Vec<&str> = export
        .diagnostics
        .iter()
        .filter(|d| d.code == "service-host-name")
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    for host in ["`my_db`", "`Mongo`", "`services_cache`"] {
        assert!(
            warnings.iter().any(|w| w.contains(host)),
            "{host} in {warnings:?}"
        );
    }
    let help = export
        .diagnostics
        .iter()
        .find(|d| d.code == "service-host-name")
        .unwrap();
    assert!(help.help.as_deref().unwrap().contains("localhost"));
}

#[test]
fn run_step_ids_get_no_host_alias() {
    let manifest = manifest(&stage(vec![run("builder", "alpine", "true")]), &options());
    assert!(pod(&manifest).host_aliases.is_none());
}

fn secret_stage() -> basso_kube::Stage {
    let mut db = background("postgres", "postgres:16", "5432");
    db.env_variables = vec![("POSTGRES_PASSWORD".into(), SECRET_TEXT.into())];
    let mut test = run(
        "api_tests",
        "curlimages/curl",
        r#"curl -u "ci:<+secrets.getValue("db_password")>" http://postgres:5432 -H 'X-Token: <+secrets.getValue("account.api_token")>'"#,
    );
    test.env_variables = vec![(
        "DATABASE_URL".into(),
        r#"postgres://ci:<+secrets.getValue("db_password")>@localhost:5432/app"#.into(),
    )];
    stage(vec![db, test])
}

#[test]
fn secrets_stay_out_of_manifest_text() {
    let options = ExportOptions {
        with_secret_template: true,
        ..ExportOptions::default()
    };
    let manifest = manifest(&secret_stage(), &options);
    let yaml = yaml_round_trip(&manifest, "mapping-secrets");
    let json = to_json(&manifest).unwrap().to_string();

    for text in [&yaml, &json] {
        assert!(
            !text.contains("<+secrets"),
            "secret expression in output:\n{text}"
        );
        assert!(
            !text.contains("getValue"),
            "secret expression in output:\n{text}"
        );
    }
}

#[test]
fn whole_secret_env_uses_secret_key_ref() {
    let manifest = manifest(&secret_stage(), &options());
    let env = &own_env(container(&manifest, "postgres"));

    assert_eq!(env.len(), 1);
    assert_eq!(env[0].name, "POSTGRES_PASSWORD");
    assert!(env[0].value.is_none());
    let selector = env[0]
        .value_from
        .as_ref()
        .unwrap()
        .secret_key_ref
        .as_ref()
        .unwrap();
    assert_eq!(selector.name, "demo-pipeline-secrets");
    assert_eq!(selector.key, "db_password");
}

#[test]
fn command_refers_to_secret_variable() {
    let manifest = manifest(&secret_stage(), &options());
    let main = container(&manifest, "api-tests");

    let script = &main.args.as_ref().unwrap()[0];
    assert_eq!(
        script,
        "curl -u \"ci:$(BASSO_SECRET_DB_PASSWORD)\" http://postgres:5432 -H 'X-Token: $(BASSO_SECRET_ACCOUNT_API_TOKEN)'"
    );
    let env = &own_env(main);
    let names: Vec<&str> = env.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "BASSO_SECRET_DB_PASSWORD",
            "BASSO_SECRET_ACCOUNT_API_TOKEN",
            "DATABASE_URL"
        ]
    );
    let token = env[1]
        .value_from
        .as_ref()
        .unwrap()
        .secret_key_ref
        .as_ref()
        .unwrap();
    assert_eq!(token.key, "account.api_token");
    assert_eq!(
        env[2].value.as_deref(),
        Some("postgres://ci:$(BASSO_SECRET_DB_PASSWORD)@localhost:5432/app")
    );
}

#[test]
fn secret_keys_listed() {
    let manifest = manifest(&secret_stage(), &options());
    assert_eq!(manifest.secret_keys, ["db_password", "account.api_token"]);

    let annotations = manifest.job.metadata.annotations.as_ref().unwrap();
    assert_eq!(
        annotations["basso/secret-keys"],
        "db_password,account.api_token"
    );
    assert_eq!(annotations["basso/secret-name"], "demo-pipeline-secrets");
    let yaml = basso_kube::to_yaml(&manifest).unwrap();
    assert!(
        yaml.contains("must hold the keys: db_password, account.api_token"),
        "{yaml}"
    );
}

#[test]
fn secret_template_has_empty_keys() {
    let options = ExportOptions {
        with_secret_template: true,
        secret_name: Some("ci-secrets".into()),
        namespace: Some("ci".into()),
    };
    let manifest = manifest(&secret_stage(), &options);
    let secret = manifest.secret_template.as_ref().expect("template");

    assert_eq!(secret.metadata.name.as_deref(), Some("ci-secrets"));
    assert_eq!(secret.metadata.namespace.as_deref(), Some("ci"));
    assert_eq!(manifest.job.metadata.namespace.as_deref(), Some("ci"));
    let data = secret.string_data.as_ref().unwrap();
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    assert_eq!(keys, ["account.api_token", "db_password"]);
    assert!(data.values().all(String::is_empty));
    let env = &own_env(container(&manifest, "postgres"));
    let selector = env[0]
        .value_from
        .as_ref()
        .unwrap()
        .secret_key_ref
        .as_ref()
        .unwrap();
    assert_eq!(selector.name, "ci-secrets");
}

#[test]
fn no_template_unless_asked() {
    let manifest = manifest(&secret_stage(), &options());
    assert!(manifest.secret_template.is_none());
}

#[test]
fn invalid_secret_name_is_error() {
    let options = ExportOptions {
        secret_name: Some("CI_Secrets".into()),
        ..ExportOptions::default()
    };
    let export = basso_kube::export_stage(&secret_stage(), &options);
    assert!(codes(&export).contains(&"invalid-secret-name"));
}

#[test]
fn invalid_namespace_points_at_value() {
    let span = Span {
        byte_start: 300,
        byte_end: 307,
        line: 17,
        column: 26,
        end_line: 17,
        end_column: 33,
    };
    let mut stage = stage(vec![run("t", "alpine", "true")]);
    stage.namespace = Some("Team_NS".into());
    stage.namespace_span = span;

    let from_file = export(&stage);
    let error = from_file
        .diagnostics
        .iter()
        .find(|d| d.code == "invalid-namespace")
        .unwrap();
    assert_eq!((error.span.line, error.span.column), (17, 26));

    let option = ExportOptions {
        namespace: Some("CI_Jobs".into()),
        ..ExportOptions::default()
    };
    let from_option = basso_kube::export_stage(&stage, &option);
    let error = from_option
        .diagnostics
        .iter()
        .find(|d| d.code == "invalid-namespace")
        .unwrap();
    assert!(error.message.contains("`CI_Jobs`"), "{}", error.message);
    assert_eq!(error.span, Span::default());
}

#[test]
fn secret_in_image_is_error() {
    let step = run("s", r#"registry/<+secrets.getValue("x")>"#, "true");
    let export = export(&stage(vec![step]));
    assert!(codes(&export).contains(&"secret-outside-env"));
    assert!(export.manifest.is_none());
}

#[test]
fn port_bindings_reported_as_check() {
    let mut service = background("web", "nginx", "80");
    service.port_bindings = vec![PortBinding {
        host_port: "8080".into(),
        container_port: "80".into(),
    }];
    let export = export(&stage(vec![service, run("t", "alpine", "true")]));

    let warning = export
        .diagnostics
        .iter()
        .find(|d| d.code == "unsupported-on-infrastructure")
        .unwrap();
    assert_eq!(warning.severity, Severity::Warning);
    assert_eq!(
        warning.message,
        "`portBindings` has no host ports in a Kubernetes pod; the export keeps only the container ports"
    );
    let help = warning.help.as_deref().unwrap();
    assert!(help.contains("localhost:80`"), "{help}");
    assert!(help.contains("host ports `8080` have no effect"), "{help}");
}

#[test]
fn same_container_port_is_error() {
    let first = background("pg_main", "postgres", "5432");
    let second = background("pg_replica", "postgres", "5432");
    let export = export(&stage(vec![first, second, run("t", "alpine", "true")]));

    let error = export
        .diagnostics
        .iter()
        .find(|d| d.code == "duplicate-container-port")
        .unwrap();
    assert!(error.message.contains("5432"), "{}", error.message);
    assert!(error.help.as_deref().unwrap().contains("another port"));
    assert!(export.manifest.is_none());
}

#[test]
fn invalid_container_port_is_error() {
    let service = background("web", "nginx", "http");
    let export = export(&stage(vec![service, run("t", "alpine", "true")]));
    assert!(codes(&export).contains(&"invalid-container-port"));
}

#[test]
fn several_ports_probe_first() {
    let mut service = background("web", "nginx", "80");
    service.port_bindings.push(PortBinding {
        host_port: "443".into(),
        container_port: "443".into(),
    });
    let export = export(&stage(vec![service, run("t", "alpine", "true")]));

    assert!(codes(&export).contains(&"startup-probe-first-port"));
    let manifest = export.manifest.unwrap();
    assert_eq!(container(&manifest, "web").ports.as_ref().unwrap().len(), 2);
}

#[test]
fn unsupported_step_type_is_error() {
    let mut plugin = run("push", "plugins/docker", "");
    plugin.kind = StepKind::Other("BuildAndPushDockerRegistry".into());
    let export = export(&stage(vec![run("t", "alpine", "true"), plugin]));
    assert!(codes(&export).contains(&"unsupported-step-type"));
}

#[test]
fn only_services_is_error() {
    let export = export(&stage(vec![background("db", "postgres", "5432")]));
    assert!(codes(&export).contains(&"no-run-step"));
    assert!(export.manifest.is_none());
}

#[test]
fn service_after_last_run_warns() {
    let export = export(&stage(vec![
        run("t", "alpine", "true"),
        background("db", "postgres", "5432"),
    ]));
    assert!(codes(&export).contains(&"service-after-last-step"));
    assert_eq!(exported_names(&export), ["db", "t"]);
}

#[test]
fn settings_pods_cannot_keep_warn() {
    let mut step = run("t", "alpine", "true");
    step.report_paths = vec!["reports/*.xml".into()];
    step.output_variables = vec!["VERSION".into()];
    let mut stage = stage(vec![step]);
    stage.clone_codebase = true;
    let export = export(&stage);

    for code in [
        "reports-not-collected",
        "output-variables-not-passed",
        "clone-codebase-not-exported",
    ] {
        assert!(codes(&export).contains(&code), "{code}");
    }
    assert!(export.manifest.is_some());
}

#[test]
fn unresolved_expression_warns() {
    let step = run("t", "alpine:<+pipeline.variables.tag>", "true");
    let export = export(&stage(vec![step]));
    assert!(codes(&export).contains(&"unresolved-expression"));
}

#[test]
fn platform_sets_node_selector() {
    let mut stage = stage(vec![run("t", "alpine", "true")]);
    stage.os = Some("Linux".into());
    stage.arch = Some("Arm64".into());
    let manifest = manifest(&stage, &options());
    let selector = pod(&manifest).node_selector.as_ref().unwrap();
    assert_eq!(selector["kubernetes.io/os"], "linux");
    assert_eq!(selector["kubernetes.io/arch"], "arm64");

    let mut mac = stage.clone();
    mac.os = Some("MacOS".into());
    assert!(codes(&export(&mac)).contains(&"unsupported-os"));
}

#[test]
fn diagnostics_carry_file_and_span() {
    let mut step = run("t", "alpine", "true");
    step.image_pull_policy = Some("Sometimes".into());
    let span = Span {
        byte_start: 10,
        byte_end: 19,
        line: 4,
        column: 7,
        end_line: 4,
        end_column: 16,
    };
    step.setting_spans = vec![("imagePullPolicy", span)];
    let export = export(&stage(vec![step]));

    let error = export
        .diagnostics
        .iter()
        .find(|d| d.code == "invalid-image-pull-policy")
        .unwrap();
    assert_eq!(error.file.as_deref(), Some("pipeline.yaml"));
    assert_eq!((error.span.line, error.span.column), (4, 7));
}

#[test]
fn json_is_a_list_of_objects() {
    let options = ExportOptions {
        with_secret_template: true,
        ..ExportOptions::default()
    };
    let manifest = manifest(&secret_stage(), &options);
    let json = to_json(&manifest).unwrap();

    assert_eq!(json["kind"], "List");
    let items = json["items"].as_array().unwrap();
    let job: k8s_openapi::api::batch::v1::Job = serde_json::from_value(items[0].clone()).unwrap();
    assert_eq!(job, manifest.job);
    let secret: k8s_openapi::api::core::v1::Secret =
        serde_json::from_value(items[1].clone()).unwrap();
    assert_eq!(Some(secret), manifest.secret_template);
}

#[test]
fn secret_variable_collision_is_error() {
    let step = run(
        "s",
        "alpine",
        r#"echo <+secrets.getValue("a.b")> <+secrets.getValue("a_b")>"#,
    );
    let export = export(&stage(vec![step]));
    assert!(codes(&export).contains(&"secret-variable-collision"));
    assert!(export.manifest.is_none());
}

#[test]
fn env_named_like_secret_variable_is_error() {
    let mut step = run("s", "alpine", r#"echo <+secrets.getValue("tok")>"#);
    step.env_variables = vec![("BASSO_SECRET_TOK".into(), "placeholder".into())];
    let export = export(&stage(vec![step]));

    assert_eq!(codes(&export), ["secret-variable-collision"]);
    assert!(export.manifest.is_none());
    assert!(
        export.diagnostics[0].message.contains("`BASSO_SECRET_TOK`"),
        "{}",
        export.diagnostics[0].message
    );
}

#[test]
fn env_named_like_unread_secret_is_kept() {
    let mut step = run("s", "alpine", r#"echo <+secrets.getValue("tok")>"#);
    step.env_variables = vec![("BASSO_SECRET_OTHER".into(), "value".into())];
    let manifest = manifest(&stage(vec![step]), &options());

    let env = &own_env(container(&manifest, "s"));
    let names: Vec<&str> = env.iter().map(|var| var.name.as_str()).collect();
    assert_eq!(names, ["BASSO_SECRET_TOK", "BASSO_SECRET_OTHER"]);
}

fn with_failure_strategy(
    step: basso_kube::Step,
    action: FailureAction,
    span: Span,
) -> basso_kube::Step {
    let strategy = FailureStrategy {
        errors: vec![ErrorType::AllErrors],
        action,
    };
    basso_kube::Step {
        failure_strategies: vec![StepFailureStrategy { strategy, span }],
        ..step
    }
}

#[test]
fn stage_mark_as_success_is_one_error() {
    let span = Span {
        byte_start: 10,
        byte_end: 23,
        ..Span::default()
    };
    let export = export(&stage(vec![
        with_failure_strategy(
            run("a", "alpine", "exit 1"),
            FailureAction::MarkAsSuccess,
            span,
        ),
        with_failure_strategy(
            run("b", "alpine", "true"),
            FailureAction::MarkAsSuccess,
            span,
        ),
    ]));

    assert!(export.manifest.is_none());
    assert_eq!(codes(&export), ["failure-strategy-not-kept"]);
    assert_eq!(export.diagnostics[0].severity, Severity::Error);
    assert!(
        export.diagnostics[0].message.contains("steps `a`, `b`"),
        "{}",
        export.diagnostics[0].message
    );
}

#[test]
fn failing_strategies_only_warn() {
    let retry = FailureAction::Retry(RetryAction {
        retry_count: 1,
        retry_interval_seconds: vec![],
        on_retry_failure: Box::new(FailureAction::Abort),
    });
    for action in [FailureAction::MarkAsFailure, FailureAction::Abort, retry] {
        let name = action.type_name();
        let export = export(&stage(vec![with_failure_strategy(
            run("a", "alpine", "exit 1"),
            action,
            Span::default(),
        )]));

        assert!(export.manifest.is_some(), "{name}");
        assert_eq!(codes(&export), ["failure-strategy-not-kept"], "{name}");
        assert_eq!(export.diagnostics[0].severity, Severity::Warning, "{name}");
    }
}

#[test]
fn root_step_under_run_as_non_root_warned() {
    let mut root = run("root", "alpine", "true");
    root.run_as_user = Some(0);
    let mut user = run("user", "alpine", "true");
    user.run_as_user = Some(1000);
    let infrastructure = serde_json::json!({
        "containerSecurityContext": {"runAsNonRoot": true},
    });
    let stage = stage_with_infrastructure(vec![root, user], infrastructure);
    let export = export(&stage);

    let warnings: Vec<&str> = export
        .diagnostics
        .iter()
        .filter(|d| d.code == "root-user-refused")
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(warnings.len(), 1, "{:#?}", export.diagnostics);
    assert!(
        warnings[0].contains("step `root` runs as user 0"),
        "{warnings:#?}"
    );
}

/// The names `basso run` and Harness give every step, which the export
/// sets first in each container.
const BUILTIN_ENV: [&str; 8] = [
    "CI",
    "HARNESS_WORKSPACE",
    "DRONE_WORKSPACE",
    "HARNESS_PIPELINE_ID",
    "HARNESS_STAGE_ID",
    "DRONE_STAGE_NAME",
    "HARNESS_STEP_ID",
    "DRONE_STEP_NAME",
];

/// Returns the variables of `container` other than the built-in ones.
fn own_env(
    container: &k8s_openapi::api::core::v1::Container,
) -> Vec<k8s_openapi::api::core::v1::EnvVar> {
    container
        .env
        .iter()
        .flatten()
        .filter(|var| !BUILTIN_ENV.contains(&var.name.as_str()))
        .cloned()
        .collect()
}

#[test]
fn builtin_variables_set_unless_overridden() {
    let mut step = run("s", "alpine", "env");
    step.env_variables = vec![("CI".into(), "no".into())];
    let manifest = manifest(&stage(vec![step]), &options());

    let env = container(&manifest, "s").env.as_ref().unwrap();
    let value = |name: &str| {
        let found: Vec<Option<&str>> = env
            .iter()
            .filter(|var| var.name == name)
            .map(|var| var.value.as_deref())
            .collect();
        assert_eq!(found.len(), 1, "{name}: {env:#?}");
        found[0]
    };
    assert_eq!(value("CI"), Some("no"));
    assert_eq!(value("HARNESS_STEP_ID"), Some("s"));
    assert_eq!(value("HARNESS_WORKSPACE"), Some("/harness"));
    for name in BUILTIN_ENV {
        value(name);
    }
}
