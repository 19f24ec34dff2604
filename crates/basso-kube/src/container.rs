//! One step as one container: image, command, environment, security
//! context, limits, ports and the startup probe of a service.

use std::collections::BTreeMap;

use basso_core::Diagnostic;
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, EnvVarSource, Probe, ResourceRequirements, SecretKeySelector,
    SecurityContext, TCPSocketAction, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::model::{Step, StepKind};
use crate::names::{is_env_var_name, to_env_var_name};
use crate::secrets::{
    find_secret_refs, secret_env_var, secret_key_problem, substitute_secrets, whole_secret_ref,
};

/// The shell a step runs `command` with when it names none.
const DEFAULT_SHELL: &str = "Sh";

/// Seconds between two startup probes of a service.
const PROBE_PERIOD_SECONDS: i32 = 2;
/// Failed probes before the kubelet restarts a service: 150 × 2 s gives a
/// service five minutes to start listening.
const PROBE_FAILURE_THRESHOLD: i32 = 150;

/// Settings of the whole export that each container needs.
pub(crate) struct ContainerContext<'a> {
    pub name: &'a str,
    pub secret_name: &'a str,
    pub volume_mounts: &'a [VolumeMount],
    pub workspace: &'a str,
    /// The infrastructure's `containerSecurityContext` and `runAsUser`,
    /// which the step's own `privileged` and `runAsUser` override.
    pub security_context: Option<&'a SecurityContext>,
    /// The identifiers of the pipeline and of the stage, for the built-in
    /// variables.
    pub pipeline_id: &'a str,
    pub stage_id: &'a str,
}

/// A built container with what the pod needs to know about it.
pub(crate) struct BuiltContainer {
    pub container: Container,
    /// Container ports the step listens on, from `portBindings`.
    pub ports: Vec<i32>,
    /// Secret ids the container reads.
    pub secret_ids: Vec<String>,
}

/// Builds the container for `step`, pushing every problem onto `diagnostics`.
pub(crate) fn build_container(
    step: &Step,
    context: &ContainerContext<'_>,
    diagnostics: &mut Vec<Diagnostic>,
) -> BuiltContainer {
    let mut secrets = SecretVars::default();
    let image = image(step, diagnostics);
    check_no_secret(
        step,
        "connectorRef",
        step.connector_ref.as_deref(),
        diagnostics,
    );
    let (command, args) = command_and_args(step, &mut secrets, diagnostics);
    let user_env = user_env(step, context.secret_name, &mut secrets);
    let ports = container_ports(step, diagnostics);

    check_env_names(step, diagnostics);
    check_variable_collisions(step, &secrets, diagnostics);
    check_secret_keys(step, &secrets, diagnostics);
    let mut env = builtin_env(step, context);
    env.extend(secrets.env_vars(context.secret_name));
    env.extend(user_env);
    let is_service = step.kind == StepKind::Background;
    let container = Container {
        name: context.name.to_string(),
        image: Some(image),
        image_pull_policy: image_pull_policy(step, diagnostics),
        command,
        args,
        env: (!env.is_empty()).then_some(env),
        security_context: security_context(step, context.security_context, diagnostics),
        resources: resources(step, diagnostics),
        ports: (!ports.is_empty()).then(|| ports.iter().map(|p| container_port(*p)).collect()),
        startup_probe: ports
            .first()
            .filter(|_| is_service)
            .map(|p| startup_probe(*p)),
        restart_policy: is_service.then(|| "Always".to_string()),
        working_dir: Some(context.workspace.to_string()),
        volume_mounts: Some(context.volume_mounts.to_vec()),
        ..Container::default()
    };
    BuiltContainer {
        container,
        ports,
        secret_ids: secrets.ids(),
    }
}

/// Secret ids that a container reads through `BASSO_SECRET_*` variables, and
/// every secret it reads at all.
#[derive(Default)]
struct SecretVars {
    /// Ids referred to as `$(BASSO_SECRET_…)` in text.
    by_reference: Vec<String>,
    /// Every id the container reads, including whole-value env variables.
    all: Vec<String>,
}

impl SecretVars {
    fn refer(&mut self, id: &str) -> String {
        push_unique(&mut self.by_reference, id);
        push_unique(&mut self.all, id);
        secret_env_var(id)
    }

    fn read(&mut self, id: &str) {
        push_unique(&mut self.all, id);
    }

    fn ids(&self) -> Vec<String> {
        self.all.clone()
    }

    /// Builds the `BASSO_SECRET_*` variables. They go before every variable
    /// that refers to them, because the kubelet expands only earlier ones.
    fn env_vars(&self, secret_name: &str) -> Vec<EnvVar> {
        self.by_reference
            .iter()
            .map(|id| secret_env(&secret_env_var(id), secret_name, id))
            .collect()
    }
}

/// Reports secret ids that cannot be keys of the stage's Secret, such as
/// `org.my secret`: the pod could not read them.
fn check_secret_keys(step: &Step, secrets: &SecretVars, diagnostics: &mut Vec<Diagnostic>) {
    for id in &secrets.all {
        let Some(problem) = secret_key_problem(id) else {
            continue;
        };
        let error = Diagnostic::error(
            "invalid-secret-key",
            format!(
                "secret `{id}` of step `{}` cannot be a key of a Kubernetes Secret",
                step.path()
            ),
            step.span,
        )
        .with_help(format!("rename the secret: {problem}"));
        diagnostics.push(error);
    }
}

/// Reports `envVariables` names that the Kubernetes API server rejects, so
/// that the Job is not printed only to fail on `kubectl apply`.
fn check_env_names(step: &Step, diagnostics: &mut Vec<Diagnostic>) {
    for (name, _) in &step.env_variables {
        if is_env_var_name(name) {
            continue;
        }
        let reason = if name.is_ascii() {
            "API servers without relaxed name validation (beta in Kubernetes 1.32, GA in 1.34) accept only letters, digits, `_`, `-` and `.`, with no digit first"
        } else {
            "API servers accept only ASCII names"
        };
        let error = Diagnostic::error(
            "invalid-env-name",
            format!(
                "the Kubernetes API server rejects environment variable name `{name}` of step `{}`",
                step.path()
            ),
            step.env_name_span(name),
        )
        .with_help(format!(
            "rename the variable, for example to `{}`: {reason}",
            to_env_var_name(name)
        ));
        diagnostics.push(error);
    }
}

/// Reports two secret ids that map to one `BASSO_SECRET_*` name, such as
/// `a.b` and `a_b`, because the text could not tell them apart. Also
/// reports an `envVariables` entry with a generated name, which would give
/// the container two variables of that name.
fn check_variable_collisions(step: &Step, secrets: &SecretVars, diagnostics: &mut Vec<Diagnostic>) {
    for (name, _) in &step.env_variables {
        let Some(id) = secrets
            .by_reference
            .iter()
            .find(|id| secret_env_var(id) == *name)
        else {
            continue;
        };
        let error = Diagnostic::error(
            "secret-variable-collision",
            format!(
                "variable `{name}` of step `{}` has the name the export gives secret `{id}`",
                step.path()
            ),
            step.span_of("envVariables"),
        )
        .with_help(format!(
            "rename the variable: the export reads secret `{id}` into `{name}` for the step's text"
        ));
        diagnostics.push(error);
    }

    for (index, id) in secrets.by_reference.iter().enumerate() {
        let variable = secret_env_var(id);
        let Some(other) = secrets.by_reference[..index]
            .iter()
            .find(|o| secret_env_var(o) == variable)
        else {
            continue;
        };
        let error = Diagnostic::error(
            "secret-variable-collision",
            format!(
                "secrets `{other}` and `{id}` in step `{}` both map to variable `{variable}`",
                step.path()
            ),
            step.span,
        )
        .with_help("use one of the two secret ids in this step, or rename one secret");
        diagnostics.push(error);
    }
}

fn push_unique(list: &mut Vec<String>, id: &str) {
    if !list.iter().any(|known| known == id) {
        list.push(id.to_string());
    }
}

fn secret_env(name: &str, secret_name: &str, id: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                key: id.to_string(),
                name: secret_name.to_string(),
                optional: None,
            }),
            ..EnvVarSource::default()
        }),
    }
}

fn image(step: &Step, diagnostics: &mut Vec<Diagnostic>) -> String {
    let image = step.image.as_deref().unwrap_or("").trim();
    if image.is_empty() {
        let error = Diagnostic::error(
            "missing-image",
            format!("step `{}` has no `image`", step.path()),
            step.span_of("image"),
        )
        .with_help("every step on Kubernetes runs in a container: set `image`");
        diagnostics.push(error);
        return String::new();
    }

    check_no_secret(step, "image", Some(image), diagnostics);
    warn_unresolved(step, "image", image, diagnostics);
    image.to_string()
}

fn check_no_secret(step: &Step, key: &str, value: Option<&str>, diagnostics: &mut Vec<Diagnostic>) {
    let Some(value) = value else { return };
    if let Some(secret) = find_secret_refs(value).first() {
        let error = Diagnostic::error(
            "secret-outside-env",
            format!(
                "secret `{}` cannot be used in `{key}` on Kubernetes",
                secret.id
            ),
            step.span_of(key),
        )
        .with_help(
            "a pod reads secrets only into environment variables, `command` and `entrypoint`",
        );
        diagnostics.push(error);
    }
}

/// Warns when resolved text still contains `<+…>` that is not a secret,
/// because the pod receives it as literal text.
fn warn_unresolved(step: &Step, key: &str, value: &str, diagnostics: &mut Vec<Diagnostic>) {
    let mut rest = value.to_string();
    for secret in find_secret_refs(value).iter().rev() {
        rest.replace_range(secret.byte_range.clone(), "");
    }
    if rest.contains("<+") {
        let warning = Diagnostic::warning(
            "unresolved-expression",
            format!("`{key}` of step `{}` still contains an expression: `{value}`", step.path()),
            step.span_of(key),
        )
        .with_help("pass the value with `--input`, `--inputs` or `--context`; the pod gets this text as written");
        diagnostics.push(warning);
    }
}

/// Maps `entrypoint` to `command`, and `command` with `shell` to
/// `command: [interpreter, flags…]` plus `args: [script]`.
fn command_and_args(
    step: &Step,
    secrets: &mut SecretVars,
    diagnostics: &mut Vec<Diagnostic>,
) -> (Option<Vec<String>>, Option<Vec<String>>) {
    let script = step.command.as_deref().filter(|c| !c.trim().is_empty());
    let entrypoint = step.entrypoint.as_ref().filter(|e| !e.is_empty());

    if let Some(entrypoint) = entrypoint {
        if script.is_some() {
            let warning = Diagnostic::warning(
                "entrypoint-overrides-command",
                format!("step `{}` sets both `entrypoint` and `command`; `command` is not run", step.path()),
                step.span_of("command"),
            )
            .with_help("Harness runs only `entrypoint` when both are set: move the script into `entrypoint` or drop one");
            diagnostics.push(warning);
        }
        for part in entrypoint {
            warn_unresolved(step, "entrypoint", part, diagnostics);
        }
        let command = entrypoint
            .iter()
            .map(|part| substitute_secrets(part, |id| secrets.refer(id)))
            .collect();
        return (Some(command), None);
    }

    let Some(script) = script else {
        if step.kind == StepKind::Run {
            let warning = Diagnostic::warning(
                "missing-command",
                format!(
                    "Run step `{}` has no `command`; the image's default command runs",
                    step.path()
                ),
                step.span,
            )
            .with_help("set `command` to the script the step runs");
            diagnostics.push(warning);
        }
        return (None, None);
    };

    warn_unresolved(step, "command", script, diagnostics);
    let shell = step.shell.as_deref().unwrap_or(DEFAULT_SHELL);
    let Some(interpreter) = interpreter(shell) else {
        let error = Diagnostic::error(
            "unknown-shell",
            format!("unknown shell `{shell}` in step `{}`", step.path()),
            step.span_of("shell"),
        )
        .with_help("use one of `Sh`, `Bash`, `Powershell`, `Pwsh`, `Python`");
        diagnostics.push(error);
        return (None, None);
    };

    let command = interpreter.iter().map(|s| s.to_string()).collect();
    let args = vec![substitute_secrets(script, |id| secrets.refer(id))];
    (Some(command), Some(args))
}

/// Returns the program and flags that run a script given as one argument,
/// for a Harness `shell` value. `Sh` and `Bash` scripts get errexit (`-e`),
/// so that the first failing command fails the container, as under
/// `basso run`.
fn interpreter(shell: &str) -> Option<&'static [&'static str]> {
    match shell {
        "Sh" => Some(&["sh", "-e", "-c"]),
        "Bash" => Some(&["bash", "-e", "-c"]),
        "Pwsh" => Some(&["pwsh", "-Command"]),
        "Powershell" => Some(&["powershell", "-Command"]),
        "Python" => Some(&["python3", "-c"]),
        _ => None,
    }
}

/// Returns the variables that `basso run` gives every step and Harness CI
/// gives its steps, except those the step's `envVariables` set. The build number
/// is known only when a run starts, so `HARNESS_BUILD_ID` and
/// `DRONE_BUILD_NUMBER` are not set.
fn builtin_env(step: &Step, context: &ContainerContext<'_>) -> Vec<EnvVar> {
    [
        ("CI", "true"),
        ("HARNESS_WORKSPACE", context.workspace),
        ("DRONE_WORKSPACE", context.workspace),
        ("HARNESS_PIPELINE_ID", context.pipeline_id),
        ("HARNESS_STAGE_ID", context.stage_id),
        ("DRONE_STAGE_NAME", context.stage_id),
        ("HARNESS_STEP_ID", step.id.as_str()),
        ("DRONE_STEP_NAME", step.id.as_str()),
    ]
    .into_iter()
    .filter(|(name, _)| !step.env_variables.iter().any(|(own, _)| own == name))
    .map(|(name, value)| EnvVar {
        name: name.to_string(),
        value: Some(value.to_string()),
        value_from: None,
    })
    .collect()
}

/// Maps `envVariables`: a value that is exactly one secret reads it with
/// `secretKeyRef`; any other value has its secrets replaced by `$(VAR)`.
fn user_env(step: &Step, secret_name: &str, secrets: &mut SecretVars) -> Vec<EnvVar> {
    let mut env = Vec::new();
    for (name, value) in &step.env_variables {
        if let Some(id) = whole_secret_ref(value) {
            secrets.read(&id);
            env.push(secret_env(name, secret_name, &id));
            continue;
        }
        let value = substitute_secrets(value, |id| secrets.refer(id));
        env.push(EnvVar {
            name: name.clone(),
            value: Some(value),
            value_from: None,
        });
    }
    env
}

fn image_pull_policy(step: &Step, diagnostics: &mut Vec<Diagnostic>) -> Option<String> {
    let policy = step.image_pull_policy.as_deref()?;
    if matches!(policy, "Always" | "Never" | "IfNotPresent") {
        return Some(policy.to_string());
    }

    let error = Diagnostic::error(
        "invalid-image-pull-policy",
        format!(
            "invalid `imagePullPolicy` `{policy}` in step `{}`",
            step.path()
        ),
        step.span_of("imagePullPolicy"),
    )
    .with_help("use `Always`, `Never` or `IfNotPresent`");
    diagnostics.push(error);
    None
}

/// Builds the container's security context: the infrastructure's defaults
/// under the step's `privileged` and `runAsUser`.
fn security_context(
    step: &Step,
    default: Option<&SecurityContext>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<SecurityContext> {
    let mut context = default.cloned().unwrap_or_default();
    if step.privileged.is_some() {
        context.privileged = step.privileged;
    }
    if step.run_as_user.is_some() {
        context.run_as_user = step.run_as_user;
    }

    // The API server rejects this pair, and Kubernetes lets a privileged
    // container escalate whatever the setting, so the step's request wins.
    if step.privileged == Some(true) && context.allow_privilege_escalation == Some(false) {
        context.allow_privilege_escalation = Some(true);
        let warning = Diagnostic::warning(
            "infrastructure-not-kept",
            format!(
                "infrastructure setting `allowPrivilegeEscalation: false` is not kept in step `{}`, which sets `privileged: true`",
                step.path()
            ),
            step.span_of("privileged"),
        )
        .with_help("the API server rejects `allowPrivilegeEscalation: false` together with `privileged: true`, so this container gets `allowPrivilegeEscalation: true`, as every privileged container has in Kubernetes");
        diagnostics.push(warning);
    }
    // The kubelet refuses to start a container that must not run as root
    // but is given user 0, so the Job would wait until its deadline.
    if context.run_as_non_root == Some(true) && context.run_as_user == Some(0) {
        let warning = Diagnostic::warning(
            "root-user-refused",
            format!(
                "step `{}` runs as user 0, but the infrastructure sets `runAsNonRoot: true`",
                step.path()
            ),
            step.span_of("runAsUser"),
        )
        .with_help("the kubelet does not start this container (`CreateContainerConfigError`); give the step a user id other than 0, or remove `runAsNonRoot` from `containerSecurityContext`");
        diagnostics.push(warning);
    }
    (context != SecurityContext::default()).then_some(context)
}

fn resources(step: &Step, diagnostics: &mut Vec<Diagnostic>) -> Option<ResourceRequirements> {
    let mut limits = BTreeMap::new();
    for (key, value) in [("memory", &step.limit_memory), ("cpu", &step.limit_cpu)] {
        let Some(value) = value.as_deref() else {
            continue;
        };
        check_no_secret(step, "resources", Some(value), diagnostics);
        limits.insert(key.to_string(), Quantity(value.to_string()));
    }
    (!limits.is_empty()).then(|| ResourceRequirements {
        limits: Some(limits),
        ..ResourceRequirements::default()
    })
}

/// Reads the container ports of `portBindings` (the values; keys are host
/// ports, which a pod does not have).
fn container_ports(step: &Step, diagnostics: &mut Vec<Diagnostic>) -> Vec<i32> {
    let span = step.span_of("portBindings");
    let mut ports = Vec::new();
    for binding in &step.port_bindings {
        let Some(port) = parse_port(&binding.container_port) else {
            let error = Diagnostic::error(
                "invalid-container-port",
                format!(
                    "invalid container port `{}` in `portBindings` of step `{}`",
                    binding.container_port,
                    step.path()
                ),
                span,
            )
            .with_help("a container port is a number from 1 to 65535");
            diagnostics.push(error);
            continue;
        };
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    ports
}

fn parse_port(text: &str) -> Option<i32> {
    let port: i32 = text.trim().parse().ok()?;
    (1..=65535).contains(&port).then_some(port)
}

fn container_port(port: i32) -> ContainerPort {
    ContainerPort {
        container_port: port,
        protocol: Some("TCP".to_string()),
        ..ContainerPort::default()
    }
}

/// Builds a TCP probe. A native sidecar counts as started, and the next init
/// container may start, only once the service accepts connections.
fn startup_probe(port: i32) -> Probe {
    Probe {
        tcp_socket: Some(TCPSocketAction {
            host: None,
            port: IntOrString::Int(port),
        }),
        period_seconds: Some(PROBE_PERIOD_SECONDS),
        failure_threshold: Some(PROBE_FAILURE_THRESHOLD),
        ..Probe::default()
    }
}
