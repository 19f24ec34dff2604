//! The pod settings of a KubernetesDirect `infrastructure.spec`: service
//! account, node selection, tolerations, pod labels and annotations, host
//! aliases, volumes and the default security context of every step
//! container.

use std::collections::BTreeMap;

use basso_core::Diagnostic;
use k8s_openapi::api::core::v1::{SecurityContext, Toleration, Volume, VolumeMount};
use serde_json::{Map, Value as Json};

use crate::model::Stage;
use crate::names::{is_dns1123_subdomain, is_label_value, is_qualified_name};
use crate::secrets::find_secret_refs;

mod security;
mod volumes;

use security::security_context;
use volumes::volumes;

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
        match key.as_str() {
            "volumes" => settings.volumes = volumes(stage, value, diagnostics),
            "tolerations" => settings.tolerations = tolerations(stage, value, diagnostics),
            "labels" => settings.labels = read_map(stage, key, value, diagnostics, label),
            "nodeSelector" => {
                settings.node_selector = read_map(stage, key, value, diagnostics, label);
            }
            "annotations" => {
                settings.annotations = read_map(stage, key, value, diagnostics, annotation);
            }
            "hostNames" => settings.host_names = host_names(stage, value, diagnostics),
            // Read by `security_context`.
            "runAsUser" | "containerSecurityContext" => {}
            _ => {
                if let Err(rejection) = apply(&mut settings, key, value) {
                    diagnostics.push(not_kept(stage, key, rejection));
                }
            }
        }
    }
    settings.security_context = security_context(spec, diagnostics, stage);
    settings
}

/// The reason the pod does not keep a setting or an entry of one.
struct Rejection {
    reason: String,
    /// The fix, for a rejection the user can fix in the pipeline.
    help: Option<&'static str>,
}

impl Rejection {
    /// Rejects a value that reads secret `id`. Kubernetes fills a container's
    /// environment variables and volumes from a Secret, but no pod setting.
    fn secret(id: &str) -> Self {
        Rejection {
            reason: format!(
                "it reads secret `{id}`, but a pod reads Secrets only into environment variables and files"
            ),
            help: Some(
                "write the value itself, because the API server stores pod settings as plain text",
            ),
        }
    }
}

impl From<String> for Rejection {
    fn from(reason: String) -> Self {
        Rejection { reason, help: None }
    }
}

impl From<&str> for Rejection {
    fn from(reason: &str) -> Self {
        Rejection::from(reason.to_string())
    }
}

/// Returns the id of the first secret that `value` reads, in a text or in a
/// mapping key at any depth.
fn secret_in(value: &Json) -> Option<String> {
    match value {
        Json::String(text) => secret_in_text(text),
        Json::Array(items) => items.iter().find_map(secret_in),
        Json::Object(entries) => entries
            .iter()
            .find_map(|(key, value)| secret_in_text(key).or_else(|| secret_in(value))),
        _ => None,
    }
}

fn secret_in_text(text: &str) -> Option<String> {
    find_secret_refs(text)
        .into_iter()
        .next()
        .map(|secret| secret.id)
}

/// Rejects `value` when it reads a secret.
fn reject_secret(value: &Json) -> Result<(), Rejection> {
    match secret_in(value) {
        Some(id) => Err(Rejection::secret(&id)),
        None => Ok(()),
    }
}

/// Builds the warning "`subject`: `reason`" about setting `key`, which may
/// be a dotted path such as `containerSecurityContext.procMount`. It points
/// at the top-level setting.
fn warning(stage: &Stage, key: &str, subject: &str, rejection: Rejection) -> Diagnostic {
    let top_level = key.split('.').next().unwrap_or(key);
    let warning = Diagnostic::warning(
        NOT_KEPT,
        format!("{subject}: {}", rejection.reason),
        stage.infrastructure_span(top_level),
    );
    match rejection.help {
        Some(help) => warning.with_help(help),
        None => warning,
    }
}

/// Builds the warning about setting `key`, which the pod does not keep.
fn not_kept(stage: &Stage, key: &str, rejection: impl Into<Rejection>) -> Diagnostic {
    let subject = format!("infrastructure setting `{key}` is not kept in the pod");
    warning(stage, key, &subject, rejection.into())
}

/// Stores one setting, or returns why the pod cannot keep it.
fn apply(settings: &mut PodSettings, key: &str, value: &Json) -> Result<(), Rejection> {
    if matches!(
        key,
        "serviceAccountName" | "priorityClassName" | "automountServiceAccountToken"
    ) {
        reject_secret(value)?;
    }
    match key {
        "serviceAccountName" => settings.service_account_name = Some(object_name(value)?),
        "priorityClassName" => settings.priority_class_name = Some(object_name(value)?),
        "automountServiceAccountToken" => {
            settings.automount_service_account_token = Some(boolean(value)?);
        }
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

/// Reads a mapping setting (`labels`, `nodeSelector`, `annotations`) entry
/// by entry with `read`, warning about each entry the pod does not keep and
/// keeping the others.
fn read_map(
    stage: &Stage,
    key: &str,
    value: &Json,
    diagnostics: &mut Vec<Diagnostic>,
    read: impl Fn(&str, &Json) -> Result<String, String>,
) -> BTreeMap<String, String> {
    let entries = match mapping(value) {
        Ok(entries) => entries,
        Err(reason) => {
            diagnostics.push(not_kept(stage, key, reason));
            return BTreeMap::new();
        }
    };

    let mut valid_entries = BTreeMap::new();
    for (name, item) in entries {
        let read = match secret_in_text(name).or_else(|| secret_in(item)) {
            Some(id) => Err(Rejection::secret(&id)),
            None => read(name, item).map_err(Rejection::from),
        };
        match read {
            Ok(text) => _ = valid_entries.insert(name.clone(), text),
            Err(rejection) => {
                let subject = format!("`{key}` entry `{name}` is not kept in the pod");
                diagnostics.push(warning(stage, key, &subject, rejection));
            }
        }
    }
    valid_entries
}

/// Reads the value of label or node selector `key`.
fn label(key: &str, value: &Json) -> Result<String, String> {
    let value = text(value)?;
    if !is_qualified_name(key) {
        return Err(format!("`{key}` is not a valid label key"));
    }
    if !is_label_value(&value) {
        return Err(format!(
            "`{value}` is not a valid label value (at most 63 letters, digits, `-`, `_` and `.`)"
        ));
    }
    Ok(value)
}

fn annotation(key: &str, value: &Json) -> Result<String, String> {
    if !is_qualified_name(key) {
        return Err(format!("`{key}` is not a valid annotation key"));
    }
    text(value)
}

/// Reads `tolerations`, warning about each entry that the pod does not keep.
fn tolerations(stage: &Stage, value: &Json, diagnostics: &mut Vec<Diagnostic>) -> Vec<Toleration> {
    let entry = ListEntry {
        key: "tolerations",
        noun: "toleration",
        outcome: "kept",
    };
    read_entries(stage, value, &entry, diagnostics, |_, item| {
        toleration(item)
    })
}

/// A list setting of `infrastructure.spec` and the words of the warning
/// about an entry the pod does not keep.
struct ListEntry {
    key: &'static str,
    noun: &'static str,
    outcome: &'static str,
}

/// Reads each entry of a list setting with `read`, which receives the
/// entry's index. Each entry that reads a secret or that `read` rejects gets
/// a warning such as "volume 2 of the infrastructure is not mounted:
/// `reason`".
fn read_entries<T>(
    stage: &Stage,
    value: &Json,
    entry: &ListEntry,
    diagnostics: &mut Vec<Diagnostic>,
    read: impl Fn(usize, &Json) -> Result<T, String>,
) -> Vec<T> {
    let items = match list(value) {
        Ok(items) => items,
        Err(reason) => {
            diagnostics.push(not_kept(stage, entry.key, reason));
            return Vec::new();
        }
    };

    let mut entries = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let read = reject_secret(item).and_then(|()| read(index, item).map_err(Rejection::from));
        match read {
            Ok(read) => entries.push(read),
            Err(rejection) => {
                let subject = format!(
                    "{} {} of the infrastructure is not {}",
                    entry.noun,
                    index + 1,
                    entry.outcome
                );
                diagnostics.push(warning(stage, entry.key, &subject, rejection));
            }
        }
    }
    entries
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

/// Reads `hostNames`, warning about each name that the pod does not keep.
fn host_names(stage: &Stage, value: &Json, diagnostics: &mut Vec<Diagnostic>) -> Vec<String> {
    let entry = ListEntry {
        key: "hostNames",
        noun: "host name",
        outcome: "kept",
    };
    read_entries(stage, value, &entry, diagnostics, |_, item| {
        let name = text(item)?;
        if !is_dns1123_subdomain(&name) {
            return Err(format!("`{name}` is not a valid host name"));
        }
        Ok(name)
    })
}
