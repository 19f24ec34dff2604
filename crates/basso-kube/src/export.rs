//! A whole stage as one `batch/v1` Job: step order, services, names, host
//! aliases, volumes, deadlines and the Secret the steps read.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use basso_core::pipeline::shared_path::{self, SharedPath, clean_path};
use basso_core::{Diagnostic, Span};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, HostAlias, LocalObjectReference, PodSpec, PodTemplateSpec,
    Secret, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::container::{BuiltContainer, ContainerContext, build_container};
use crate::failure::check_failure_strategies;
use crate::infrastructure::{PodSettings, pod_settings};
use crate::model::{Stage, Step, StepKind};
use crate::names::{
    is_dns1123_label, is_dns1123_subdomain, to_dns1123_label, to_dns1123_subdomain,
    to_joined_dns1123_label,
};
use crate::schedule::{check_stage_when, check_when, deadline, warn_parallel_runs, warn_timeouts};
use crate::secrets::find_secret_refs;

/// Mount path of the stage workspace in every step container, as on Harness.
pub const WORKSPACE_PATH: &str = "/harness";
/// Annotation prefix for the step path of each container: the key is
/// `step.basso/<container name>`.
pub const STEP_ANNOTATION_PREFIX: &str = "step.basso/";
/// Job annotation naming the Secret the steps read.
pub const SECRET_NAME_ANNOTATION: &str = "basso/secret-name";
/// Job annotation listing the keys that Secret must hold, comma-separated.
pub const SECRET_KEYS_ANNOTATION: &str = "basso/secret-keys";

const LOOPBACK: &str = "127.0.0.1";
const WORKSPACE_VOLUME: &str = "harness";

/// Choices the caller makes about the exported objects.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// `metadata.namespace` of every object; omitted when `None`.
    pub namespace: Option<String>,
    /// Name of the Secret that contains every secret the steps read; defaults
    /// to `<pipeline>-secrets`.
    pub secret_name: Option<String>,
    /// Also produce an empty Secret with every key to fill in.
    pub with_secret_template: bool,
}

/// The exported objects.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub job: Job,
    /// The Secret to fill in, when requested.
    pub secret_template: Option<Secret>,
    /// The Secret every `secretKeyRef` names.
    pub secret_name: String,
    /// The keys that Secret must hold, one per secret id.
    pub secret_keys: Vec<String>,
    /// The docker-registry Secrets named in `imagePullSecrets`, one per
    /// `connectorRef`; the cluster must already have them.
    pub image_pull_secrets: Vec<String>,
}

/// The result of an export: objects unless an error was found, and every
/// diagnostic.
#[derive(Debug, Clone)]
pub struct Export {
    pub manifest: Option<Manifest>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Export {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Exports `stage` as a Job whose pod runs its steps in order.
///
/// Background steps become native sidecars (init containers with
/// `restartPolicy: Always`), Run steps become init containers in step order
/// and the last Run step becomes the main container, so the first failing
/// step fails the pod and, with `backoffLimit: 0`, the Job.
pub fn export_stage(stage: &Stage, options: &ExportOptions) -> Export {
    let mut diagnostics = Vec::new();
    if !check_stage_when(stage, &mut diagnostics) {
        return finish(stage, None, diagnostics);
    }
    let steps = exported_steps(stage, &mut diagnostics);
    let names = container_names(&steps, &mut diagnostics);
    let secret_name = secret_name(stage, options, &mut diagnostics);
    check_namespace(stage, options, &mut diagnostics);
    stage_warnings(stage, &mut diagnostics);
    let mut settings = pod_settings(stage, &mut diagnostics);

    let infra_volumes = std::mem::take(&mut settings.volumes);
    let (volumes, mounts) = volumes(stage, infra_volumes, &mut diagnostics);
    let context = |name| ContainerContext {
        name,
        secret_name: &secret_name,
        volume_mounts: &mounts,
        workspace: WORKSPACE_PATH,
        security_context: settings.security_context.as_ref(),
        pipeline_id: &stage.pipeline_id,
        stage_id: &stage.id,
    };
    let built: Vec<BuiltContainer> = steps
        .iter()
        .zip(&names)
        .map(|(step, name)| build_container(step, &context(name), &mut diagnostics))
        .collect();
    for step in &steps {
        step_warnings(step, &mut diagnostics);
    }
    check_ports(&steps, &built, &mut diagnostics);
    check_failure_strategies(&steps, &mut diagnostics);
    warn_parallel_runs(&steps, &mut diagnostics);
    warn_timeouts(&steps, &mut diagnostics);
    let deadline = deadline(&steps, stage.timeout_seconds);
    let mut host_aliases = host_aliases(&steps, &mut diagnostics);
    for name in std::mem::take(&mut settings.host_names) {
        if !host_aliases.contains(&name) {
            host_aliases.push(name);
        }
    }
    let node_selector = node_selector(stage, &settings.node_selector, &mut diagnostics);

    let Some(main_index) = steps.iter().rposition(|s| s.kind == StepKind::Run) else {
        let error = Diagnostic::error(
            "no-run-step",
            format!("stage `{}` has no Run step to export", stage.id),
            stage.span,
        )
        .with_help("a Job needs a step that ends: add a Run step after the Background steps");
        diagnostics.push(error);
        return finish(stage, None, diagnostics);
    };
    warn_services_after_last_run(&steps, main_index, &mut diagnostics);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return finish(stage, None, diagnostics);
    }

    let secret_keys = collect_secret_keys(&built);
    let image_pull_secrets = image_pull_secrets(&steps, &mut diagnostics);
    let pod = Pod {
        steps: &steps,
        names: &names,
        built,
        main_index,
        volumes,
        host_aliases,
        node_selector,
        image_pull_secrets: &image_pull_secrets,
        settings,
    };
    let job = job(stage, options, pod, deadline, &secret_name, &secret_keys);
    let secret_template = options
        .with_secret_template
        .then(|| secret_template(stage, &secret_name, options, &secret_keys));
    let manifest = Manifest {
        job,
        secret_template,
        secret_name,
        secret_keys,
        image_pull_secrets,
    };
    finish(stage, Some(manifest), diagnostics)
}

/// Sorts the diagnostics by position and names the stage's file on each.
fn finish(stage: &Stage, manifest: Option<Manifest>, mut diagnostics: Vec<Diagnostic>) -> Export {
    diagnostics.sort_by_key(|d| (d.span.byte_start, d.span.byte_end));
    let diagnostics = diagnostics
        .into_iter()
        .map(|d| match &stage.file {
            Some(file) if d.file.is_none() => d.with_file(file.clone()),
            _ => d,
        })
        .collect();
    Export {
        manifest,
        diagnostics,
    }
}

/// Keeps the Background and Run steps that run, reporting the rest.
fn exported_steps<'a>(stage: &'a Stage, diagnostics: &mut Vec<Diagnostic>) -> Vec<&'a Step> {
    let mut steps = Vec::new();
    let mut reported_groups = HashSet::new();
    for step in &stage.steps {
        if let StepKind::Other(kind) = &step.kind {
            let error = Diagnostic::error(
                "unsupported-step-type",
                format!("step `{}` of type `{kind}` cannot be exported to Kubernetes", step.path()),
                step.span,
            )
            .with_help("only Background and Run steps can be exported; replace it with a Run step that runs the same tool");
            diagnostics.push(error);
            continue;
        }
        if check_when(step, &mut reported_groups, diagnostics) {
            steps.push(step);
        }
    }
    steps
}

/// Derives a DNS-1123 container name from each step path; two steps with
/// the same name are an error.
fn container_names(steps: &[&Step], diagnostics: &mut Vec<Diagnostic>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut owners: BTreeMap<String, &Step> = BTreeMap::new();
    for step in steps {
        let path = step.path();
        let Some(name) = to_dns1123_label(&path) else {
            let error = Diagnostic::error(
                "invalid-container-name",
                format!("step id `{path}` gives no valid container name"),
                step.span,
            )
            .with_help("use a step identifier with at least one letter or digit");
            diagnostics.push(error);
            names.push(String::new());
            continue;
        };
        if let Some(first) = owners.get(&name) {
            let error = Diagnostic::error(
                "container-name-collision",
                format!(
                    "steps `{}` and `{path}` both become container `{name}`",
                    first.path()
                ),
                step.span,
            )
            .with_label(first.span, "first step with this container name")
            .with_help("rename one of the steps: container names are lower case with `-` for `_`");
            diagnostics.push(error);
        } else {
            owners.insert(name.clone(), step);
        }
        names.push(name);
    }
    names
}

fn secret_name(
    stage: &Stage,
    options: &ExportOptions,
    diagnostics: &mut Vec<Diagnostic>,
) -> String {
    if let Some(name) = &options.secret_name {
        if !is_dns1123_subdomain(name) {
            let error = Diagnostic::error(
                "invalid-secret-name",
                format!("invalid Secret name `{name}`"),
                Span::default(),
            )
            .with_help(
                "a Secret name is lower-case letters, digits, `-` and `.`, such as `ci-secrets`",
            );
            diagnostics.push(error);
        }
        return name.clone();
    }
    let base = to_dns1123_label(&stage.pipeline_id).unwrap_or_else(|| "basso".to_string());
    let mut base = base;
    base.truncate(63 - "-secrets".len());
    format!("{}-secrets", base.trim_end_matches('-'))
}

/// Returns the namespace the caller names, else the stage's KubernetesDirect one.
fn namespace(stage: &Stage, options: &ExportOptions) -> Option<String> {
    options
        .namespace
        .clone()
        .or_else(|| stage.namespace.clone())
}

fn check_namespace(stage: &Stage, options: &ExportOptions, diagnostics: &mut Vec<Diagnostic>) {
    let Some(namespace) = namespace(stage, options) else {
        return;
    };
    // A namespace from the options has no place in the file.
    let span = match options.namespace {
        Some(_) => Span::default(),
        None => stage.namespace_span,
    };
    // Kubernetes reads the namespace from the object, never from a Secret.
    if let Some(secret) = find_secret_refs(&namespace).first() {
        let error = Diagnostic::error(
            "secret-outside-env",
            format!(
                "secret `{}` cannot be used in `namespace` on Kubernetes",
                secret.id
            ),
            span,
        )
        .with_help("a pod reads secrets only into environment variables, `command` and `entrypoint`: write the namespace itself, or pass it with `--namespace`");
        diagnostics.push(error);
        return;
    }
    if !is_dns1123_label(&namespace) {
        let error = Diagnostic::error(
            "invalid-namespace",
            format!("invalid namespace `{namespace}`"),
            span,
        )
        .with_help("a namespace is lower-case letters, digits and `-`, at most 63 characters");
        diagnostics.push(error);
    }
}

fn stage_warnings(stage: &Stage, diagnostics: &mut Vec<Diagnostic>) {
    if stage.clone_codebase {
        let warning = Diagnostic::warning(
            "clone-codebase-not-exported",
            format!(
                "stage `{}` clones the codebase, which the exported pod does not",
                stage.id
            ),
            stage.span,
        )
        .with_help(format!(
            "add a first Run step that clones the repository into `{WORKSPACE_PATH}`"
        ));
        diagnostics.push(warning);
    }
}

/// Reports settings a pod cannot keep for one step.
fn step_warnings(step: &Step, diagnostics: &mut Vec<Diagnostic>) {
    if !step.resource_requests.is_empty() {
        let written: Vec<String> = step
            .resource_requests
            .iter()
            .map(|(name, value)| format!("`{name}: {value}`"))
            .collect();
        let warning = Diagnostic::warning(
            "requests-not-kept",
            format!(
                "`resources.requests` of step `{}` is not kept in the pod: {}",
                step.path(),
                written.join(", ")
            ),
            step.span_of("resources"),
        )
        .with_help("set `resources.limits` instead: the export keeps only limits, and Kubernetes sets a container's requests equal to them");
        diagnostics.push(warning);
    }
    if !step.report_paths.is_empty() {
        let warning = Diagnostic::warning(
            "reports-not-collected",
            format!(
                "JUnit reports of step `{}` are not collected from the pod",
                step.path()
            ),
            step.span_of("reports"),
        )
        .with_help(format!(
            "the files stay in `{WORKSPACE_PATH}`; copy them out in a last Run step"
        ));
        diagnostics.push(warning);
    }
    if !step.output_variables.is_empty() {
        let warning = Diagnostic::warning(
            "output-variables-not-passed",
            format!(
                "output variables of step `{}` are not passed to later steps",
                step.path()
            ),
            step.span_of("outputVariables"),
        )
        .with_help(format!(
            "write them to a file in `{WORKSPACE_PATH}` and read that file in the later step"
        ));
        diagnostics.push(warning);
    }
}

/// Reports `portBindings` as on KubernetesDirect infrastructure, where a
/// service is reached on `localhost:<containerPort>`, and two services on
/// one container port as an error: all containers share one network.
fn check_ports(steps: &[&Step], built: &[BuiltContainer], diagnostics: &mut Vec<Diagnostic>) {
    let mut owners: BTreeMap<i32, &Step> = BTreeMap::new();
    for (step, container) in steps.iter().zip(built) {
        port_binding_warnings(step, diagnostics);
        if step.kind == StepKind::Background && step.port_bindings.is_empty() {
            let warning = Diagnostic::warning(
                "no-startup-probe",
                format!("Background step `{}` has no container port, so it gets no startup probe", step.path()),
                step.span,
            )
            .with_help("later steps may start before the service listens: add `portBindings` with the container port, or wait for the port in the next step");
            diagnostics.push(warning);
        }
        if container.ports.len() > 1 {
            let warning = Diagnostic::warning(
                "startup-probe-first-port",
                format!(
                    "the startup probe of step `{}` checks only port {}",
                    step.path(),
                    container.ports[0]
                ),
                step.span_of("portBindings"),
            )
            .with_help("a probe checks one port, so list first the port the service opens last");
            diagnostics.push(warning);
        }

        for port in &container.ports {
            if let Some(first) = owners.get(port) {
                let error = Diagnostic::error(
                    "duplicate-container-port",
                    format!(
                        "steps `{}` and `{}` both listen on container port {port}",
                        first.path(),
                        step.path()
                    ),
                    step.span_of("portBindings"),
                )
                .with_label(first.span_of("portBindings"), "first service on this port")
                .with_help("containers in one pod share one network: start one of the services on another port, and use that port in its `portBindings` value and in the steps that reach it");
                diagnostics.push(error);
            } else {
                owners.insert(*port, step);
            }
        }
    }
}

/// Reports `portBindings` of a stage exported from VM, Cloud or Docker
/// infrastructure, with the code `basso check` uses on KubernetesDirect
/// infrastructure, as a warning: the export still reads the container ports
/// for the startup probe. On a KubernetesDirect stage `basso check` has
/// already made it an error, which stops the export.
fn port_binding_warnings(step: &Step, diagnostics: &mut Vec<Diagnostic>) {
    let Some(first) = step.port_bindings.first() else {
        return;
    };
    let ignored_host_ports: Vec<String> = step
        .port_bindings
        .iter()
        .filter(|b| b.host_port.trim() != b.container_port.trim())
        .map(|b| format!("`{}`", b.host_port.trim()))
        .collect();
    let mut help = format!(
        "steps in the same pod reach the service at `localhost:{}`; the export uses the container ports only for the startup probe",
        first.container_port.trim()
    );
    if !ignored_host_ports.is_empty() {
        help.push_str(&format!(
            ", and host ports {} have no effect",
            ignored_host_ports.join(", ")
        ));
    }

    let warning = Diagnostic::warning(
        "unsupported-on-infrastructure",
        "`portBindings` has no host ports in a Kubernetes pod; the export keeps only the container ports",
        step.span_of("portBindings"),
    )
    .with_help(help);
    diagnostics.push(warning);
}

/// Maps every Background step id that is a valid host name to the loopback
/// address, so a step that calls `postgres:5432` reaches the service.
fn host_aliases(steps: &[&Step], diagnostics: &mut Vec<Diagnostic>) -> Vec<String> {
    let mut hostnames = Vec::new();
    for step in steps.iter().filter(|s| s.kind == StepKind::Background) {
        // Harness names a service in a step group `<group>_<step>`; the `_`
        // keeps that from ever being a host name.
        let host = match &step.step_group {
            Some(group) => format!("{group}_{}", step.id),
            None => step.id.clone(),
        };
        if is_dns1123_label(&host) {
            if !hostnames.contains(&host) {
                hostnames.push(host);
            }
            continue;
        }
        let warning = Diagnostic::warning(
            "service-host-name",
            format!("`{host}` is not a valid host name, so no host alias is added for it"),
            step.span,
        )
        .with_help("reach the service on `localhost:<containerPort>` instead");
        diagnostics.push(warning);
    }
    hostnames
}

/// Merges the infrastructure's `nodeSelector` with the selector on the
/// stage's operating system and architecture, which wins over a
/// `kubernetes.io/os` or `kubernetes.io/arch` entry of its own.
fn node_selector(
    stage: &Stage,
    written: &BTreeMap<String, String>,
    diagnostics: &mut Vec<Diagnostic>,
) -> BTreeMap<String, String> {
    let mut selector = BTreeMap::new();
    match stage.os.as_deref() {
        Some("Linux") => _ = selector.insert("kubernetes.io/os".into(), "linux".into()),
        Some("Windows") => _ = selector.insert("kubernetes.io/os".into(), "windows".into()),
        Some(os) => {
            let error = Diagnostic::error(
                "unsupported-os",
                format!("platform os `{os}` cannot run on Kubernetes"),
                stage.span,
            )
            .with_help("Kubernetes nodes run `Linux` or `Windows`");
            diagnostics.push(error);
        }
        None => {}
    }
    match stage.arch.as_deref() {
        Some("Amd64") => _ = selector.insert("kubernetes.io/arch".into(), "amd64".into()),
        Some("Arm64") => _ = selector.insert("kubernetes.io/arch".into(), "arm64".into()),
        _ => {}
    }

    for (key, value) in written {
        match selector.get(key) {
            Some(platform) if platform != value => {
                let warning = Diagnostic::warning(
                    "infrastructure-not-kept",
                    format!("`nodeSelector` entry `{key}: {value}` is replaced by `{key}: {platform}` from the stage's platform"),
                    stage.infrastructure_span("nodeSelector"),
                )
                .with_help("set the stage's `os` or `platform` to the value the nodes have");
                diagnostics.push(warning);
            }
            Some(_) => {}
            None => _ = selector.insert(key.clone(), value.clone()),
        }
    }
    selector
}

fn warn_services_after_last_run(
    steps: &[&Step],
    main_index: usize,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let last_run = steps[main_index];
    for step in &steps[main_index + 1..] {
        let warning = Diagnostic::warning(
            "service-after-last-step",
            format!(
                "Background step `{}` comes after the last Run step `{}` and starts before it",
                step.path(),
                last_run.path()
            ),
            step.span,
        )
        .with_help("init containers start before the main container; move the Background step earlier or drop it");
        diagnostics.push(warning);
    }
}

/// Builds the workspace volume, one `emptyDir` per distinct `sharedPaths`
/// entry and the infrastructure's `volumes`, with mounts at the same paths
/// for every container.
fn volumes(
    stage: &Stage,
    infra_volumes: Vec<(Volume, VolumeMount)>,
    diagnostics: &mut Vec<Diagnostic>,
) -> (Vec<Volume>, Vec<VolumeMount>) {
    let mut volumes = vec![empty_dir(WORKSPACE_VOLUME)];
    let mut mounts = vec![mount(WORKSPACE_VOLUME, WORKSPACE_PATH)];
    for (written, span) in &stage.shared_paths {
        let path = match SharedPath::read(written) {
            SharedPath::Empty => continue,
            SharedPath::NotAbsolute => {
                let warning = Diagnostic::warning(
                    "invalid-shared-path",
                    format!(
                        "shared path `{}` is not an absolute path and is not mounted",
                        written.trim()
                    ),
                    *span,
                )
                .with_help(shared_path::NOT_ABSOLUTE_HELP);
                diagnostics.push(warning);
                continue;
            }
            SharedPath::Reserved(reason) => {
                let warning = Diagnostic::warning(
                    "invalid-shared-path",
                    format!(
                        "shared path `{}` is not mounted, because {reason}",
                        written.trim()
                    ),
                    *span,
                )
                .with_help(shared_path::RESERVED_HELP);
                diagnostics.push(warning);
                continue;
            }
            SharedPath::Folder(path) => path,
        };
        // The workspace and a path listed twice are shared already.
        if mounts.iter().any(|m| m.mount_path == path) {
            continue;
        }
        let name = format!("shared-{}", volumes.len());
        volumes.push(empty_dir(&name));
        mounts.push(mount(&name, &path));
    }

    for (volume, mut volume_mount) in infra_volumes {
        let written = volume_mount.mount_path;
        volume_mount.mount_path = clean_path(&written);
        // The API server rejects two mounts at one path in a container. Both
        // paths are in clean form, so `/harness/` counts as `/harness`.
        if mounts
            .iter()
            .any(|m| m.mount_path == volume_mount.mount_path)
        {
            let path = if written == volume_mount.mount_path {
                format!("`{written}`")
            } else {
                format!("`{written}`, which is `{}`,", volume_mount.mount_path)
            };
            let warning = Diagnostic::warning(
                "infrastructure-not-kept",
                format!("infrastructure volume at {path} is not mounted: the path already has a volume"),
                stage.infrastructure_span("volumes"),
            )
            .with_help(format!("mount it elsewhere: `{WORKSPACE_PATH}` and the `sharedPaths` have volumes of their own"));
            diagnostics.push(warning);
            continue;
        }
        volumes.push(volume);
        mounts.push(volume_mount);
    }
    (volumes, mounts)
}

fn empty_dir(name: &str) -> Volume {
    Volume {
        name: name.to_string(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    }
}

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.to_string(),
        mount_path: path.to_string(),
        ..VolumeMount::default()
    }
}

fn collect_secret_keys(built: &[BuiltContainer]) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for id in built.iter().flat_map(|b| &b.secret_ids) {
        if !keys.contains(id) {
            keys.push(id.clone());
        }
    }
    keys
}

/// Names one docker-registry Secret per `connectorRef`, after the connector.
fn image_pull_secrets(steps: &[&Step], diagnostics: &mut Vec<Diagnostic>) -> Vec<String> {
    let mut names = Vec::new();
    for step in steps {
        let Some(connector) = step.connector_ref.as_deref().map(str::trim) else {
            continue;
        };
        if connector.is_empty() {
            continue;
        }
        let Some(name) = to_dns1123_subdomain(connector) else {
            let warning = Diagnostic::warning(
                "connector-pull-secret",
                format!("connector `{connector}` gives no valid Secret name; it is left out of `imagePullSecrets`"),
                step.span_of("connectorRef"),
            )
            .with_help("add the registry's docker-registry Secret to `imagePullSecrets` by hand");
            diagnostics.push(warning);
            continue;
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// The containers of one pod and what they share.
struct Pod<'a> {
    steps: &'a [&'a Step],
    names: &'a [String],
    built: Vec<BuiltContainer>,
    main_index: usize,
    volumes: Vec<Volume>,
    host_aliases: Vec<String>,
    node_selector: BTreeMap<String, String>,
    image_pull_secrets: &'a [String],
    /// The infrastructure settings not yet placed above.
    settings: PodSettings,
}

fn job(
    stage: &Stage,
    options: &ExportOptions,
    pod: Pod<'_>,
    deadline: Option<Duration>,
    secret_name: &str,
    secret_keys: &[String],
) -> Job {
    let mut step_annotations = BTreeMap::new();
    for (step, name) in pod.steps.iter().zip(pod.names) {
        step_annotations.insert(format!("{STEP_ANNOTATION_PREFIX}{name}"), step.path());
    }

    let mut containers: Vec<Container> = pod.built.into_iter().map(|b| b.container).collect();
    let main = containers.remove(pod.main_index);
    let host_aliases = (!pod.host_aliases.is_empty()).then(|| {
        vec![HostAlias {
            ip: LOOPBACK.to_string(),
            hostnames: Some(pod.host_aliases),
        }]
    });
    let pull_secrets: Vec<LocalObjectReference> = pod
        .image_pull_secrets
        .iter()
        .map(|name| LocalObjectReference { name: name.clone() })
        .collect();
    let settings = pod.settings;
    let pod_spec = PodSpec {
        restart_policy: Some("Never".to_string()),
        init_containers: (!containers.is_empty()).then_some(containers),
        containers: vec![main],
        volumes: Some(pod.volumes),
        host_aliases,
        image_pull_secrets: (!pull_secrets.is_empty()).then_some(pull_secrets),
        node_selector: (!pod.node_selector.is_empty()).then_some(pod.node_selector),
        service_account_name: settings.service_account_name,
        automount_service_account_token: settings.automount_service_account_token,
        priority_class_name: settings.priority_class_name,
        tolerations: (!settings.tolerations.is_empty()).then_some(settings.tolerations),
        ..PodSpec::default()
    };
    // The export's own labels and step annotations win over the
    // infrastructure's, because tools read them back.
    let mut pod_labels = settings.labels;
    pod_labels.extend(managed_by());
    let mut pod_annotations = settings.annotations;
    pod_annotations.extend(step_annotations);

    let mut annotations = BTreeMap::from([
        ("basso/pipeline".to_string(), stage.pipeline_id.clone()),
        ("basso/stage".to_string(), stage.id.clone()),
    ]);
    if !secret_keys.is_empty() {
        annotations.insert(SECRET_NAME_ANNOTATION.to_string(), secret_name.to_string());
        annotations.insert(SECRET_KEYS_ANNOTATION.to_string(), secret_keys.join(","));
    }
    Job {
        metadata: ObjectMeta {
            name: Some(job_name(stage)),
            namespace: namespace(stage, options),
            labels: Some(managed_by()),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            active_deadline_seconds: deadline.map(|d| d.as_secs() as i64),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(pod_annotations),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod_spec),
            },
            ..JobSpec::default()
        }),
        status: None,
    }
}

/// `<pipeline>-<stage>` as one DNS-1123 label, so it also fits the
/// `job-name` label Kubernetes puts on the pods. A long name keeps the
/// stage part and gets a hash, so each stage of a pipeline has its own Job.
fn job_name(stage: &Stage) -> String {
    to_joined_dns1123_label(&stage.pipeline_id, &stage.id)
        .unwrap_or_else(|| "basso-stage".to_string())
}

fn managed_by() -> BTreeMap<String, String> {
    BTreeMap::from([(
        "app.kubernetes.io/managed-by".to_string(),
        "basso".to_string(),
    )])
}

fn secret_template(
    stage: &Stage,
    secret_name: &str,
    options: &ExportOptions,
    keys: &[String],
) -> Secret {
    let string_data = keys
        .iter()
        .map(|key| (key.clone(), String::new()))
        .collect();
    Secret {
        metadata: ObjectMeta {
            name: Some(secret_name.to_string()),
            namespace: namespace(stage, options),
            labels: Some(managed_by()),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_string()),
        string_data: Some(string_data),
        ..Secret::default()
    }
}
