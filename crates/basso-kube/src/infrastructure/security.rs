//! The default security context of every step container, from
//! `containerSecurityContext` and `runAsUser`.

use basso_core::Diagnostic;
use k8s_openapi::api::core::v1::{Capabilities, SecurityContext};
use serde_json::{Map, Value as Json};

use super::{Rejection, boolean, integer, list, mapping, not_kept, reject_secret, text, warning};
use crate::model::Stage;

/// Builds the step containers' default security context from
/// `containerSecurityContext`, with `runAsUser` over its `runAsUser`.
pub(super) fn security_context(
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
        match reject_secret(user).and_then(|()| Ok(integer(user)?)) {
            Ok(user) => context.run_as_user = Some(user),
            Err(rejection) => diagnostics.push(not_kept(stage, "runAsUser", rejection)),
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
            diagnostics.push(not_kept(stage, "containerSecurityContext", reason));
            return context;
        }
    };
    for (key, value) in settings {
        if value.is_null() {
            continue;
        }
        if key == "capabilities" {
            context.capabilities = capabilities(stage, value, diagnostics);
            continue;
        }
        let applied = reject_secret(value)
            .and_then(|()| Ok(apply_security_setting(&mut context, key, value)?));
        if let Err(rejection) = applied {
            let key = format!("containerSecurityContext.{key}");
            diagnostics.push(not_kept(stage, &key, rejection));
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
        _ => return Err("the export does not know this setting".into()),
    }
    Ok(())
}

fn proc_mount(value: &Json) -> Result<String, String> {
    let proc_mount = text(value)?;
    match proc_mount.as_str() {
        "Default" => Ok(proc_mount),
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
    diagnostics.push(not_kept(stage, key, reason));
}

/// Reads `capabilities`, warning about each capability name that the pod
/// does not keep and keeping the others.
fn capabilities(
    stage: &Stage,
    value: &Json,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Capabilities> {
    let key = "containerSecurityContext.capabilities";
    let written = match mapping(value) {
        Ok(written) => written,
        Err(reason) => {
            diagnostics.push(not_kept(stage, key, reason));
            return None;
        }
    };

    let mut capabilities = Capabilities::default();
    for (list_key, items) in written {
        if items.is_null() {
            continue;
        }
        let setting = format!("{key}.{list_key}");
        let names = match list_key.as_str() {
            "add" => &mut capabilities.add,
            "drop" => &mut capabilities.drop,
            _ => {
                let reason = "the export does not know this setting";
                diagnostics.push(not_kept(stage, &setting, reason));
                continue;
            }
        };
        let items = match list(items) {
            Ok(items) => items,
            Err(reason) => {
                diagnostics.push(not_kept(stage, &setting, reason));
                continue;
            }
        };
        let mut valid_names = Vec::new();
        for (index, item) in items.iter().enumerate() {
            match reject_secret(item).and_then(|()| capability(item).map_err(Rejection::from)) {
                Ok(name) => valid_names.push(name),
                Err(rejection) => {
                    let subject = format!(
                        "capability {} of `{setting}` is not kept in the pod",
                        index + 1
                    );
                    diagnostics.push(warning(stage, key, &subject, rejection));
                }
            }
        }
        *names = (!valid_names.is_empty()).then_some(valid_names);
    }
    (capabilities != Capabilities::default()).then_some(capabilities)
}

/// Reads one capability name. Linux capability names (`CAP_NET_ADMIN`, and
/// `ALL` in a pod) are letters and `_`, so no container runtime accepts a
/// name with another character. Digits after the first letter are accepted,
/// though no capability has one yet.
fn capability(item: &Json) -> Result<String, String> {
    let name = text(item)?;
    let mut chars = name.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if !starts_with_letter || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "`{name}` is not a capability name (a letter, then letters, digits and `_`, such as `NET_ADMIN`)"
        ));
    }
    Ok(name)
}
