//! The stage the exporter reads: resolved step settings with the source
//! spans that diagnostics point at.

use basso_core::Span;
use basso_core::pipeline::FailureStrategy;

/// One resolved CI stage.
#[derive(Debug, Clone, Default)]
pub struct Stage {
    /// The pipeline `identifier`.
    pub pipeline_id: String,
    /// The stage `identifier`.
    pub id: String,
    pub name: String,
    /// The file the spans point into, as the caller named it.
    pub file: Option<String>,
    /// Span of the stage node, used when no closer span exists.
    pub span: Span,
    /// `platform.os` (`Linux`, `Windows`, `MacOS`), or the KubernetesDirect
    /// `os`.
    pub os: Option<String>,
    /// `platform.arch` (`Amd64`, `Arm64`).
    pub arch: Option<String>,
    /// The KubernetesDirect `namespace`, used when the caller names none.
    pub namespace: Option<String>,
    /// Span of the `namespace` value, else of the stage.
    pub namespace_span: Span,
    /// The other resolved KubernetesDirect `infrastructure.spec` settings
    /// (`nodeSelector`, `volumes`, `runAsUser` and the rest) as a JSON
    /// object, without `namespace`, `connectorRef` and `os`. It is `Null` on
    /// other infrastructure.
    pub infrastructure: serde_json::Value,
    /// Span of each `infrastructure.spec` setting, by its YAML key.
    pub infrastructure_spans: Vec<(String, Span)>,
    /// `cloneCodebase`: Harness clones the repository into the workspace
    /// before the first step.
    pub clone_codebase: bool,
    /// The stage `when`, or `None` when the stage has none.
    pub when: Option<StageWhen>,
    /// `sharedPaths`, each with its span.
    pub shared_paths: Vec<(String, Span)>,
    /// The stage `timeout` in whole seconds, which caps the Job's deadline.
    pub timeout_seconds: Option<u64>,
    /// The steps in execution order, step groups flattened.
    pub steps: Vec<Step>,
}

impl Stage {
    /// Returns the span of the `infrastructure.spec` setting `key`, else of
    /// the stage.
    pub fn infrastructure_span(&self, key: &str) -> Span {
        self.infrastructure_spans
            .iter()
            .find(|(name, _)| name == key)
            .map_or(self.span, |(_, span)| *span)
    }
}

/// The step `type`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StepKind {
    Background,
    #[default]
    Run,
    /// Any other step type, by its name (`Plugin`, `BuildAndPushECR`).
    Other(String),
}

/// A step `when` block after resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct When {
    /// `Success`, `Failure` or `All`.
    pub stage_status: String,
    /// The resolved `condition`, such as `true` or an expression text that
    /// could not be decided before the stage runs.
    pub condition: Option<String>,
}

/// A stage `when` block after resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageWhen {
    /// `Success`, `Failure` or `All`.
    pub pipeline_status: String,
    /// The resolved `condition`, such as `false` or an expression text that
    /// could not be decided before the pipeline runs.
    pub condition: Option<String>,
    /// Span of the stage's `when` key.
    pub span: Span,
}

/// The `when` of a step group around a step, after resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupWhen {
    /// The group `identifier`, with the iteration suffix when it loops.
    pub step_group: String,
    pub when: When,
    /// Span of the group's `when` key.
    pub span: Span,
}

/// One `portBindings` entry: host port to container port, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortBinding {
    pub host_port: String,
    pub container_port: String,
}

/// A failure strategy that applies to a step, with the span of the entry
/// that declares it, which may be in a step group or the stage.
#[derive(Debug, Clone, PartialEq)]
pub struct StepFailureStrategy {
    pub strategy: FailureStrategy,
    pub span: Span,
}

/// One resolved Background or Run step.
#[derive(Debug, Clone, Default)]
pub struct Step {
    /// The step `identifier`.
    pub id: String,
    pub name: String,
    pub kind: StepKind,
    /// The `identifier` of the enclosing step group, if any.
    pub step_group: Option<String>,
    /// Steps that share a value here were written in one `parallel` block.
    pub parallel_group: Option<u32>,
    pub when: Option<When>,
    /// The `when` blocks of the step groups around the step, outermost
    /// first, one per group that has one.
    pub group_when: Vec<GroupWhen>,
    /// The step `timeout` in whole seconds.
    pub timeout_seconds: Option<u64>,
    pub image: Option<String>,
    pub connector_ref: Option<String>,
    pub shell: Option<String>,
    pub command: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    /// `envVariables` in the order written.
    pub env_variables: Vec<(String, String)>,
    /// Span of each `envVariables` name as written in the file. A name
    /// missing here, such as one supplied with `--input`, is reported at
    /// the `envVariables` key.
    pub env_name_spans: Vec<(String, Span)>,
    pub privileged: Option<bool>,
    pub run_as_user: Option<i64>,
    /// `resources.limits.memory`, a Kubernetes quantity.
    pub limit_memory: Option<String>,
    /// `resources.limits.cpu`, a Kubernetes quantity.
    pub limit_cpu: Option<String>,
    /// `resources.requests` as written, by resource name (`memory`, `cpu`).
    /// The pod does not keep them.
    pub resource_requests: Vec<(String, String)>,
    pub image_pull_policy: Option<String>,
    pub port_bindings: Vec<PortBinding>,
    /// `reports.spec.paths`.
    pub report_paths: Vec<String>,
    /// `outputVariables` names.
    pub output_variables: Vec<String>,
    /// The failure strategies that apply to the step, in the order Harness
    /// tries them: the step's own, its step groups' and the stage's.
    pub failure_strategies: Vec<StepFailureStrategy>,
    /// Span of the step node (its `identifier`).
    pub span: Span,
    /// Spans of single settings, keyed by the YAML key (`portBindings`,
    /// `when`, `timeout`); diagnostics fall back to `span`.
    pub setting_spans: Vec<(&'static str, Span)>,
}

impl Step {
    /// Returns the step's path inside the stage: `group.step` inside a step
    /// group.
    pub fn path(&self) -> String {
        match &self.step_group {
            Some(group) => format!("{group}.{}", self.id),
            None => self.id.clone(),
        }
    }

    /// Returns the span of the `envVariables` name `name`, else of the
    /// `envVariables` setting.
    pub fn env_name_span(&self, name: &str) -> Span {
        self.env_name_spans
            .iter()
            .find(|(written, _)| written == name)
            .map_or_else(|| self.span_of("envVariables"), |(_, span)| *span)
    }

    /// Returns the span of setting `key`, or of the step when none was
    /// recorded.
    pub fn span_of(&self, key: &str) -> Span {
        self.setting_spans
            .iter()
            .find(|(name, _)| *name == key)
            .map_or(self.span, |(_, span)| *span)
    }
}
