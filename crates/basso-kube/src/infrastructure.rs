//! The pod settings of a KubernetesDirect `infrastructure.spec`: service
//! account, node selection, tolerations, pod labels and annotations, host
//! aliases, volumes and the default security context of every step
//! container.

use std::collections::BTreeMap;

use basso_core::Diagnostic;
use basso_core::pipeline::quantity::{QuantityError, parse_memory};
use k8s_openapi::api::core::v1::{
    Capabilities, EmptyDirVolumeSource, HostPathVolumeSource, PersistentVolumeClaimVolumeSource,
    SecurityContext, Toleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::{Map, Value as Json};

use crate::model::Stage;
use crate::names::{is_dns1123_subdomain, is_label_value, is_qualified_name};

const NOT_KEPT: &str = "infrastructure-not-kept";

/// The settings of `infrastructure.spec` that the pod keeps.
#[derive(Debug, Default)]
pub(crate) struct PodSettings {
    pub service_account_name: Option<String>,
    pub automount_service_account_token: Option<bool>,
    pub priority_class_name: Option<String>,
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<Toleration>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// `hostNames`, which resolve to the pod's loopback address.
    // NOTE: 127.0.0.1 matches the export's aliases of Background steps; the
    // address Harness itself gives these names was not checked in its code.
    pub host_names: Vec<String>,
    /// `volumes`, each with the mount every container gets.
    pub volumes: Vec<(Volume, VolumeMount)>,
    /// `containerSecurityContext` with `runAsUser`, the security context of
    /// every step container before the step's own settings.
    pub security_context: Option<SecurityContext>,
}

/// Reads the stage's KubernetesDirect settings, warning about each one the
/// pod cannot keep.
pub(crate) fn pod_settings(stage: &Stage, diagnostics: &mut Vec<Diagnostic>) -> PodSettings {
    let mut settings = PodSettings::default();
    let Some(spec) = stage.infrastructure.as_object() else {
        return settings;
    };
    for (key, value) in spec {
        if value.is_null() {
            continue;
        }
        if key == "volumes" {
            settings.volumes = volumes(stage, value, diagnostics);
            continue;
        }
        if key == "tolerations" {
            settings.tolerations = tolerations(stage, value, diagnostics);
            continue;
        }
        if let Err(reason) = apply(&mut settings, key, value) {
            diagnostics.push(not_kept(stage, key, &reason));
        }
    }
    settings.security_context = security_context(spec, diagnostics, stage);
    settings
}

/// Builds the warning for setting `key`, which may be a dotted path such as
/// `containerSecurityContext.procMount`; it points at the top-level setting.
fn not_kept(stage: &Stage, key: &str, reason: &str) -> Diagnostic {
    let top_level = key.split('.').next().unwrap_or(key);
    Diagnostic::warning(
        NOT_KEPT,
        format!("infrastructure setting `{key}` is not kept in the pod: {reason}"),
        stage.infrastructure_span(top_level),
    )
}

/// Stores one setting, or returns why the pod cannot keep it.
fn apply(settings: &mut PodSettings, key: &str, value: &Json) -> Result<(), String> {
    match key {
        "serviceAccountName" => settings.service_account_name = Some(object_name(value)?),
        "priorityClassName" => settings.priority_class_name = Some(object_name(value)?),
        "automountServiceAccountToken" => {
            settings.automount_service_account_token = Some(boolean(value)?);
        }
        "nodeSelector" => settings.node_selector = labels(value)?,
        "labels" => settings.labels = labels(value)?,
        "annotations" => settings.annotations = annotations(value)?,
        "hostNames" => settings.host_names = host_names(value)?,
        // Read by `security_context`.
        "runAsUser" | "containerSecurityContext" => {}
        "initTimeout" => {
            return Err("a Job has no deadline for starting its pod; `activeDeadlineSeconds` bounds the whole run".into());
        }
        "harnessImageConnectorRef" | "imagePullPolicy" => {
            return Err(
                "it applies to Harness' own images, which the exported pod does not run".into(),
            );
        }
        "podSpecOverlay" => {
            return Err("the overlay is not merged; edit the exported Job instead".into());
        }
        _ => return Err("the export does not know this setting".into()),
    }
    Ok(())
}

fn text(value: &Json) -> Result<String, String> {
    match value {
        Json::String(text) => Ok(text.clone()),
        Json::Number(number) => Ok(number.to_string()),
        Json::Bool(flag) => Ok(flag.to_string()),
        other => Err(format!("expected text, found `{other}`")),
    }
}

fn boolean(value: &Json) -> Result<bool, String> {
    match value {
        Json::Bool(flag) => Ok(*flag),
        Json::String(text) if text == "true" => Ok(true),
        Json::String(text) if text == "false" => Ok(false),
        other => Err(format!("expected `true` or `false`, found `{other}`")),
    }
}

fn integer(value: &Json) -> Result<i64, String> {
    let number = match value {
        Json::Number(number) => number.as_i64(),
        Json::String(text) => text.trim().parse().ok(),
        _ => None,
    };
    number
        .filter(|n| (0..=i64::from(i32::MAX)).contains(n))
        .ok_or_else(|| format!("expected a user or group id, found `{value}`"))
}

fn object_name(value: &Json) -> Result<String, String> {
    let name = text(value)?;
    if !is_dns1123_subdomain(&name) {
        return Err(format!(
            "`{name}` is not a valid name (lower-case letters, digits, `-` and `.`)"
        ));
    }
    Ok(name)
}

fn mapping(value: &Json) -> Result<&Map<String, Json>, String> {
    value
        .as_object()
        .ok_or_else(|| format!("expected a mapping, found `{value}`"))
}

fn list(value: &Json) -> Result<&[Json], String> {
    value
        .as_array()
        .map(Vec::as_slice)
        .ok_or_else(|| format!("expected a list, found `{value}`"))
}

/// Reads a map of label keys to label values, the form of `labels` and
/// `nodeSelector`.
fn labels(value: &Json) -> Result<BTreeMap<String, String>, String> {
    let mut labels = BTreeMap::new();
    for (key, value) in mapping(value)? {
        let value = text(value)?;
        if !is_qualified_name(key) {
            return Err(format!("`{key}` is not a valid label key"));
        }
        if !is_label_value(&value) {
            return Err(format!(
                "`{value}` of `{key}` is not a valid label value (at most 63 letters, digits, `-`, `_` and `.`)"
            ));
        }
        labels.insert(key.clone(), value);
    }
    Ok(labels)
}

fn annotations(value: &Json) -> Result<BTreeMap<String, String>, String> {
    let mut annotations = BTreeMap::new();
    for (key, value) in mapping(value)? {
        if !is_qualified_name(key) {
            return Err(format!("`{key}` is not a valid annotation key"));
        }
        annotations.insert(key.clone(), text(value)?);
    }
    Ok(annotations)
}

/// Reads `tolerations`, warning about each entry that the pod does not keep.
fn tolerations(stage: &Stage, value: &Json, diagnostics: &mut Vec<Diagnostic>) -> Vec<Toleration> {
    let items = match list(value) {
        Ok(items) => items,
        Err(reason) => {
            diagnostics.push(not_kept(stage, "tolerations", &reason));
            return Vec::new();
        }
    };

    let mut tolerations = Vec::new();
    for (index, item) in items.iter().enumerate() {
        match toleration(item) {
            Ok(toleration) => tolerations.push(toleration),
            Err(reason) => {
                let warning = Diagnostic::warning(
                    NOT_KEPT,
                    format!(
                        "toleration {} of the infrastructure is not kept: {reason}",
                        index + 1
                    ),
                    stage.infrastructure_span("tolerations"),
                );
                diagnostics.push(warning);
            }
        }
    }
    tolerations
}

/// Reads one toleration, or returns the rule of Kubernetes' pod validation
/// (`ValidateTolerations`) that it breaks.
fn toleration(item: &Json) -> Result<Toleration, String> {
    let item = mapping(item)?;
    let field = |name: &str| -> Result<String, String> {
        let value = item.get(name).filter(|v| !v.is_null());
        Ok(value.map(text).transpose()?.unwrap_or_default())
    };
    let key = field("key")?;
    let operator = field("operator")?;
    let value = field("value")?;
    let effect = field("effect")?;
    let seconds = match item.get("tolerationSeconds").filter(|v| !v.is_null()) {
        Some(seconds) => Some(toleration_seconds(seconds)?),
        None => None,
    };

    if !key.is_empty() && !is_qualified_name(&key) {
        return Err(format!("`key` `{key}` is not a valid label key"));
    }
    match operator.as_str() {
        // An empty operator means `Equal`.
        "" | "Equal" if key.is_empty() => {
            return Err("`operator` must be `Exists` when `key` is empty".into());
        }
        "" | "Equal" if !is_label_value(&value) => {
            return Err(format!(
                "`value` `{value}` is not a valid label value (at most 63 letters, digits, `-`, `_` and `.`)"
            ));
        }
        "" | "Equal" => {}
        "Exists" if !value.is_empty() => {
            return Err("`value` must be empty when `operator` is `Exists`".into());
        }
        "Exists" => {}
        other => {
            return Err(format!(
                "unknown `operator` `{other}`, expected `Equal` or `Exists`"
            ));
        }
    }
    if !matches!(
        effect.as_str(),
        "" | "NoSchedule" | "PreferNoSchedule" | "NoExecute"
    ) {
        return Err(format!(
            "unknown `effect` `{effect}`, expected `NoSchedule`, `PreferNoSchedule` or `NoExecute`"
        ));
    }
    if seconds.is_some() && effect != "NoExecute" {
        return Err("`tolerationSeconds` is allowed only with `effect: NoExecute`".into());
    }

    let non_empty = |text: String| (!text.is_empty()).then_some(text);
    Ok(Toleration {
        key: non_empty(key),
        operator: non_empty(operator),
        value: non_empty(value),
        effect: non_empty(effect),
        toleration_seconds: seconds,
    })
}

fn toleration_seconds(value: &Json) -> Result<i64, String> {
    let seconds = match value {
        Json::Number(number) => number.as_i64(),
        Json::String(text) => text.trim().parse().ok(),
        _ => None,
    };
    seconds.ok_or_else(|| {
        let written = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_string);
        format!("`tolerationSeconds` `{written}` is not a whole number of seconds")
    })
}

fn host_names(value: &Json) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    for item in list(value)? {
        let name = text(item)?;
        if !is_dns1123_subdomain(&name) {
            return Err(format!("`{name}` is not a valid host name"));
        }
        names.push(name);
    }
    Ok(names)
}

/// Builds the step containers' default security context from
/// `containerSecurityContext`, with `runAsUser` over its `runAsUser`.
fn security_context(
    spec: &Map<String, Json>,
    diagnostics: &mut Vec<Diagnostic>,
    stage: &Stage,
) -> Option<SecurityContext> {
    let mut context = SecurityContext::default();
    if let Some(written) = spec
        .get("containerSecurityContext")
        .filter(|v| !v.is_null())
    {
        context = container_security_context(stage, written, diagnostics);
    }
    if let Some(user) = spec.get("runAsUser").filter(|v| !v.is_null()) {
        match integer(user) {
            Ok(user) => context.run_as_user = Some(user),
            Err(reason) => diagnostics.push(not_kept(stage, "runAsUser", &reason)),
        }
    }
    allow_escalation_where_granted(stage, &mut context, diagnostics);
    (context != SecurityContext::default()).then_some(context)
}

/// Reads `containerSecurityContext`, warning about each setting that the
/// pod does not keep and keeping the others.
fn container_security_context(
    stage: &Stage,
    value: &Json,
    diagnostics: &mut Vec<Diagnostic>,
) -> SecurityContext {
    let mut context = SecurityContext::default();
    let settings = match mapping(value) {
        Ok(settings) => settings,
        Err(reason) => {
            diagnostics.push(not_kept(stage, "containerSecurityContext", &reason));
            return context;
        }
    };
    for (key, value) in settings {
        if value.is_null() {
            continue;
        }
        if let Err(reason) = apply_security_setting(&mut context, key, value) {
            let key = format!("containerSecurityContext.{key}");
            diagnostics.push(not_kept(stage, &key, &reason));
        }
    }
    context
}

/// Stores one setting of `containerSecurityContext`, or returns why the pod
/// cannot keep it.
fn apply_security_setting(
    context: &mut SecurityContext,
    key: &str,
    value: &Json,
) -> Result<(), String> {
    match key {
        "allowPrivilegeEscalation" => context.allow_privilege_escalation = Some(boolean(value)?),
        "privileged" => context.privileged = Some(boolean(value)?),
        "readOnlyRootFilesystem" => context.read_only_root_filesystem = Some(boolean(value)?),
        "runAsNonRoot" => context.run_as_non_root = Some(boolean(value)?),
        "runAsUser" => context.run_as_user = Some(integer(value)?),
        "runAsGroup" => context.run_as_group = Some(integer(value)?),
        "procMount" => context.proc_mount = Some(proc_mount(value)?),
        "capabilities" => context.capabilities = Some(capabilities(value)?),
        _ => return Err("the export does not know this setting".into()),
    }
    Ok(())
}

fn proc_mount(value: &Json) -> Result<String, String> {
    let proc_mount = text(value)?;
    match proc_mount.as_str() {
        "Default" => Ok(proc_mount),
        // Kubernetes' `ValidateSecurityContext` requires a user namespace.
        "Unmasked" => Err(
            "the API server accepts `Unmasked` only in a pod with `hostUsers: false`, which the export does not set"
                .into(),
        ),
        other => Err(format!(
            "unknown `procMount` `{other}`, expected `Default` or `Unmasked`"
        )),
    }
}

/// Sets `allowPrivilegeEscalation: false` to `true` next to `privileged:
/// true` or capability `CAP_SYS_ADMIN`. The API server rejects either pair,
/// and Kubernetes lets such a container escalate whatever the setting.
fn allow_escalation_where_granted(
    stage: &Stage,
    context: &mut SecurityContext,
    diagnostics: &mut Vec<Diagnostic>,
) {
    if context.allow_privilege_escalation != Some(false) {
        return;
    }
    let adds_sys_admin = context
        .capabilities
        .as_ref()
        .and_then(|c| c.add.as_ref())
        .is_some_and(|add| add.iter().any(|name| name == "CAP_SYS_ADMIN"));
    let grant = match (context.privileged, adds_sys_admin) {
        (Some(true), _) => "`privileged: true`",
        (_, true) => "capability `CAP_SYS_ADMIN`",
        _ => return,
    };

    context.allow_privilege_escalation = Some(true);
    let reason = format!(
        "the API server rejects `false` together with {grant}, so every step container gets `true`, which Kubernetes applies to such a container anyway"
    );
    let key = "containerSecurityContext.allowPrivilegeEscalation";
    diagnostics.push(not_kept(stage, key, &reason));
}

fn capabilities(value: &Json) -> Result<Capabilities, String> {
    let names = |key: &str| -> Result<Option<Vec<String>>, String> {
        match value.get(key).filter(|v| !v.is_null()) {
            Some(items) => list(items)?
                .iter()
                .map(text)
                .collect::<Result<_, _>>()
                .map(Some),
            None => Ok(None),
        }
    };
    Ok(Capabilities {
        add: names("add")?,
        drop: names("drop")?,
    })
}

/// Reads `volumes`, warning about each entry the pod cannot mount. Volume
/// names are `volume-<index>` after the entry's place in the list.
fn volumes(
    stage: &Stage,
    value: &Json,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<(Volume, VolumeMount)> {
    let span = stage.infrastructure_span("volumes");
    let items = match list(value) {
        Ok(items) => items,
        Err(reason) => {
            diagnostics.push(not_kept(stage, "volumes", &reason));
            return Vec::new();
        }
    };

    let mut volumes = Vec::new();
    for (index, item) in items.iter().enumerate() {
        match volume(&format!("volume-{index}"), item) {
            Ok(volume) => volumes.push(volume),
            Err(reason) => {
                let warning = Diagnostic::warning(
                    NOT_KEPT,
                    format!(
                        "volume {} of the infrastructure is not mounted: {reason}",
                        index + 1
                    ),
                    span,
                );
                diagnostics.push(warning);
            }
        }
    }
    volumes
}

/// `type` values of a HostPath volume that the API server accepts; the empty
/// one skips the check on the node.
const HOST_PATH_TYPES: [&str; 8] = [
    "",
    "DirectoryOrCreate",
    "Directory",
    "FileOrCreate",
    "File",
    "Socket",
    "CharDevice",
    "BlockDevice",
];

/// Reads one entry of `volumes`, or returns the rule of Kubernetes' pod
/// validation that it breaks.
fn volume(name: &str, item: &Json) -> Result<(Volume, VolumeMount), String> {
    let item = mapping(item)?;
    let mount_path = item
        .get("mountPath")
        .map(text)
        .transpose()?
        .filter(|path| path.starts_with('/'))
        .ok_or("`mountPath` is not an absolute path")?;
    let spec = item.get("spec").filter(|v| !v.is_null());
    // An empty text counts as missing, as it does for the API server.
    let field = |key: &str| -> Result<Option<String>, String> {
        let value = spec.and_then(|s| s.get(key)).filter(|v| !v.is_null());
        Ok(value.map(text).transpose()?.filter(|text| !text.is_empty()))
    };

    let mut volume = Volume {
        name: name.to_string(),
        ..Volume::default()
    };
    let volume_type = item.get("type").map(text).transpose()?.unwrap_or_default();
    match volume_type.as_str() {
        "EmptyDir" => {
            let size = field("size")?;
            if let Some(size) = &size
                && let Err(QuantityError(reason)) = parse_memory(size)
            {
                return Err(format!(
                    "EmptyDir `spec.size` `{size}` is not a Kubernetes quantity such as `1Gi`: {reason}"
                ));
            }
            volume.empty_dir = Some(EmptyDirVolumeSource {
                medium: field("medium")?,
                size_limit: size.map(Quantity),
            });
        }
        "HostPath" => {
            let path = field("path")?.ok_or("a HostPath volume has no `spec.path`")?;
            if path.split('/').any(|part| part == "..") {
                return Err(format!("HostPath `spec.path` `{path}` contains `..`"));
            }
            let host_path_type = field("type")?;
            if let Some(unknown) = host_path_type
                .as_deref()
                .filter(|t| !HOST_PATH_TYPES.contains(t))
            {
                return Err(format!(
                    "unknown HostPath `type` `{unknown}`, expected one of {}",
                    HOST_PATH_TYPES[1..]
                        .iter()
                        .map(|t| format!("`{t}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            volume.host_path = Some(HostPathVolumeSource {
                path,
                type_: host_path_type,
            });
        }
        "PersistentVolumeClaim" => {
            let read_only = match spec
                .and_then(|s| s.get("readOnly"))
                .filter(|v| !v.is_null())
            {
                Some(flag) => Some(boolean(flag)?),
                None => None,
            };
            volume.persistent_volume_claim = Some(PersistentVolumeClaimVolumeSource {
                claim_name: field("claimName")?
                    .ok_or("a PersistentVolumeClaim volume has no `spec.claimName`")?,
                read_only,
            });
        }
        other => {
            return Err(format!(
                "unknown volume type `{other}`, expected `EmptyDir`, `HostPath` or `PersistentVolumeClaim`"
            ));
        }
    }
    let mount = VolumeMount {
        name: name.to_string(),
        mount_path,
        ..VolumeMount::default()
    };
    Ok((volume, mount))
}
