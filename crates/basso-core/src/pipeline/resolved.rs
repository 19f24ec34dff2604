//! The result of resolving a pipeline: one entry per stage and per step
//! (after looping strategies are expanded), with every field resolved.
//!
//! These types are what the runner, the Kubernetes export and the wasm
//! bindings consume. Their JSON form is the `basso resolve` contract:
//! `{"schemaVersion": 1, "stages": [...], "diagnostics": [...]}` with the
//! YAML key names kept inside `spec` and `effective`.

use std::borrow::Cow;

use indexmap::IndexMap;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value as Json;

use crate::diagnostic::{Diagnostic, Span};
use crate::pipeline::failure::FailureStrategy;

/// The version of the JSON documents printed by `check`, `resolve` and `inputs`.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything `resolve` produces for one pipeline file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Resolution {
    pub schema_version: u32,
    /// The pipeline's identifier, or `None` when the file has none.
    pub pipeline: Option<String>,
    /// The pipeline `timeout` in whole seconds, or `None` when it sets none.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub timeout_seconds: Option<u64>,
    pub stages: Vec<ResolvedStage>,
    #[serde(with = "diagnostics_json")]
    #[cfg_attr(feature = "ts", ts(as = "Vec<crate::DiagnosticJson>"))]
    pub diagnostics: Vec<Diagnostic>,
}

impl Resolution {
    /// Returns true when any diagnostic is an error (`basso resolve` then exits 1).
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Serialises to the command-line JSON contract.
    pub fn to_json(&self) -> Json {
        serde_json::to_value(self).unwrap_or(Json::Null)
    }

    /// Finds a stage by its (possibly looped, suffixed) identifier.
    pub fn stage(&self, identifier: &str) -> Option<&ResolvedStage> {
        self.stages
            .iter()
            .find(|stage| stage.identifier == identifier)
    }
}

/// Serialises diagnostics in the `Diagnostic::to_json` shape. Deserialising
/// is not supported for diagnostics (they are output only), so an empty list
/// is read back.
mod diagnostics_json {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::diagnostic::Diagnostic;

    pub fn serialize<S: Serializer>(
        diagnostics: &[Diagnostic],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let values: Vec<serde_json::Value> = diagnostics.iter().map(Diagnostic::to_json).collect();
        serde::Serialize::serialize(&values, serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Diagnostic>, D::Error> {
        let _ = serde_json::Value::deserialize(deserializer)?;
        Ok(Vec::new())
    }
}

/// Kind of build infrastructure a stage runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum InfrastructureKind {
    /// `infrastructure.type: KubernetesDirect`: every step is a container in one pod.
    KubernetesDirect,
    /// `infrastructure.type: VM` (a pool of VMs): steps run on the VM or in containers.
    #[serde(rename = "VM")]
    Vm,
    /// `runtime.type: Cloud` (Harness Cloud): like a VM.
    Cloud,
    /// `runtime.type: Docker` (local runner): steps run in containers.
    Docker,
    /// An infrastructure type basso does not model, such as the legacy
    /// `KubernetesHosted`, or a missing one.
    Unknown,
}

impl InfrastructureKind {
    /// Returns true when steps without an image run on the host (VM and Cloud).
    pub fn allows_host_steps(self) -> bool {
        matches!(self, InfrastructureKind::Vm | InfrastructureKind::Cloud)
    }
}

/// A stage's build infrastructure, after `useFromStage` is followed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Infrastructure {
    pub kind: InfrastructureKind,
    /// The type text as written (`KubernetesDirect`, `VM`, `Cloud`, `Docker`,
    /// `KubernetesHosted`), or `None` when the stage declares none.
    pub type_name: Option<String>,
    /// The stage whose infrastructure this stage reuses (`useFromStage`).
    pub use_from_stage: Option<String>,
    /// Kubernetes namespace (`KubernetesDirect` only).
    pub namespace: Option<String>,
    /// Kubernetes cluster connector (`KubernetesDirect` only).
    pub connector_ref: Option<String>,
    /// VM pool name (`VM` only).
    pub pool_name: Option<String>,
    /// Harness Cloud machine size (`Cloud` only).
    pub size: Option<String>,
    /// The resolved pod settings of a KubernetesDirect `infrastructure.spec`
    /// (`nodeSelector`, `volumes`, `runAsUser` and the rest), which the
    /// Kubernetes export reads. It is `null` on other infrastructure, and
    /// the JSON output leaves it out.
    #[serde(skip)]
    #[cfg_attr(feature = "ts", ts(skip))]
    pub spec: Json,
}

/// Operating system and architecture a stage runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Platform {
    /// `Linux`, `MacOS` or `Windows`.
    pub os: String,
    /// `Amd64` or `Arm64`.
    pub arch: String,
}

impl Default for Platform {
    fn default() -> Self {
        Platform {
            os: "Linux".to_string(),
            arch: "Amd64".to_string(),
        }
    }
}

/// A stage's `when`: run it depending on the pipeline's status and a condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct StageWhen {
    /// `Success`, `Failure` or `All`.
    pub pipeline_status: String,
    /// The JEXL condition text with every block the context could resolve
    /// substituted, or `None` when the stage has no condition.
    pub condition: Option<String>,
    /// The span of the `condition` as the file writes it, or of the `when`
    /// without one. It is not part of the JSON form, so a resolution read
    /// back from JSON has an empty span here.
    #[serde(skip)]
    #[cfg_attr(feature = "ts", ts(skip))]
    pub condition_span: Span,
}

/// A step's `when`: run it depending on the stage's status and a condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct StepWhen {
    /// `Success`, `Failure` or `All`.
    pub stage_status: String,
    /// The JEXL condition text with every block the context could resolve
    /// substituted, or `None` when the step has no condition.
    pub condition: Option<String>,
    /// The span of the `condition` as the file writes it, or of the `when`
    /// without one. It is not part of the JSON form, so a resolution read
    /// back from JSON has an empty span here.
    #[serde(skip)]
    #[cfg_attr(feature = "ts", ts(skip))]
    pub condition_span: Span,
}

/// The `when` of a step group around a step. Harness skips every step of a
/// group whose `when` is false, whatever the steps' own `when` blocks are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct GroupWhen {
    /// The group's identifier, with the iteration suffix when it loops.
    pub step_group: String,
    /// `Success`, `Failure` or `All`.
    pub stage_status: String,
    /// The JEXL condition text with every block the context could resolve
    /// substituted, or `None` when the group has no condition.
    pub condition: Option<String>,
    /// The span of the `condition` as the file writes it, or of the `when`
    /// without one. It is not part of the JSON form, so a resolution read
    /// back from JSON has an empty span here.
    #[serde(skip)]
    #[cfg_attr(feature = "ts", ts(skip))]
    pub condition_span: Span,
    /// The failure strategies that apply when the `when` cannot be
    /// evaluated: the group's own, then each enclosing group's from the
    /// innermost out, then the stage's.
    #[serde(default)]
    pub failure_strategies: Vec<FailureStrategy>,
}

/// A looped step group around a step, with the iteration that the step
/// belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct GroupIteration {
    /// The group's identifier with the iteration suffix (`g_0`, `g_linux`).
    pub step_group: String,
    /// 0-based index of the iteration.
    pub iteration: usize,
    /// Number of iterations.
    pub iterations: usize,
    /// `maxConcurrency` of the group's strategy, if given.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub max_concurrency: Option<u64>,
}

/// Position of a node in a looping strategy (`matrix`, `repeat`, `parallelism`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Iteration {
    /// 0-based index (`<+strategy.iteration>`).
    pub iteration: usize,
    /// Number of iterations (`<+strategy.iterations>`).
    pub iterations: usize,
    /// The suffix added to the identifier (`_0`, or `_` plus the `nodeName`).
    pub identifier_post_fix: String,
    /// Matrix axis values (`<+matrix.AXIS>`); empty for other strategies.
    pub matrix: IndexMap<String, Json>,
    /// The `repeat` item (`<+repeat.item>`), if the strategy is `repeat` with `items`.
    pub item: Option<Json>,
    /// `maxConcurrency` of the strategy, if given.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub max_concurrency: Option<u64>,
    /// The strategy read run-time data, so every value the loop gives
    /// (`<+matrix.x>`, `<+strategy.iteration>`, the identifier) counts as
    /// run-time data.
    #[serde(skip)]
    #[cfg_attr(feature = "ts", ts(skip))]
    pub from_data: bool,
    /// The matrix axes whose values read run-time data, or `*` for every
    /// axis, when the loop's values (not only its names) read such data.
    #[serde(skip)]
    #[cfg_attr(feature = "ts", ts(skip))]
    pub data_axes: Vec<String>,
}

/// One stage of the resolved pipeline (one per iteration for looped stages).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ResolvedStage {
    /// Identifier, with the iteration suffix for looped stages.
    pub identifier: String,
    pub name: String,
    /// Integer shared by stages that run concurrently (`parallel:`), or `None`.
    pub parallel: Option<u32>,
    pub infrastructure: Infrastructure,
    pub platform: Platform,
    pub clone_codebase: bool,
    pub shared_paths: Vec<String>,
    /// The stage `timeout` in whole seconds, or `None` when it sets none.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub timeout_seconds: Option<u64>,
    pub when: Option<StageWhen>,
    /// Stage variables by name, resolved (secrets stay as `<+secrets.getValue("ID")>`).
    pub variables: IndexMap<String, Json>,
    pub strategy: Option<Iteration>,
    pub steps: Vec<ResolvedStep>,
}

impl ResolvedStage {
    /// Finds a step by its (possibly looped, suffixed) identifier.
    pub fn step(&self, identifier: &str) -> Option<&ResolvedStep> {
        self.steps.iter().find(|step| step.identifier == identifier)
    }
}

/// Step types basso models fully.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum StepType {
    Background,
    Run,
}

/// One step of a resolved stage (one per iteration for looped steps).
///
/// Its JSON form lists the fields below in order, with `effective` as the
/// whole map (`spec` merged with the defaults).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ResolvedStep {
    /// Identifier, with the iteration suffix for looped steps.
    pub identifier: String,
    pub name: String,
    /// The `type` as written (`Background`, `Run`, or another type basso
    /// keeps without validating).
    #[serde(rename = "type")]
    pub step_type: String,
    /// Full expression path: `pipeline.stages.S.spec.execution.steps.GROUP.steps.ID`.
    pub fqn: String,
    /// Identifier of the innermost step group, or `None`.
    pub step_group: Option<String>,
    /// Integer shared by steps that run concurrently, or `None`.
    pub parallel: Option<u32>,
    pub when: Option<StepWhen>,
    /// The `when` blocks of the step groups around the step, outermost
    /// first, one entry per group that has one. The step runs only when
    /// every entry allows it and then its own `when` does.
    #[serde(default)]
    pub group_when: Vec<GroupWhen>,
    /// The looped step groups around the step, outermost first, each with
    /// the iteration the step belongs to. Harness runs the iterations of a
    /// step group at the same time, up to `maxConcurrency`.
    #[serde(default)]
    pub group_iterations: Vec<GroupIteration>,
    /// Timeout in whole seconds, or `None` when the step sets none. The
    /// npm package reads it with `JSON.parse`, as a number.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub timeout_seconds: Option<u64>,
    /// The failure strategies that apply to the step, in the order Harness
    /// tries them: the step's own, then each enclosing step group's from
    /// the innermost out, then the stage's. The first entry whose `errors`
    /// match a failure decides what happens. Looped stages, groups and
    /// steps keep the strategies of what they were expanded from. Empty for
    /// Background steps, to which Harness applies no failure strategy.
    #[serde(default)]
    pub failure_strategies: Vec<FailureStrategy>,
    /// The step's `spec` with YAML key names and every value resolved.
    pub spec: Json,
    /// `spec` plus the defaults the stage's infrastructure adds.
    #[cfg_attr(feature = "ts", ts(as = "Json"))]
    pub effective: Effective,
    /// How other steps reach a Background step; `None` for other types.
    pub endpoints: Option<Endpoints>,
    /// Secret identifiers the step's fields use, in order of first use.
    pub secrets: Vec<String>,
    pub strategy: Option<Iteration>,
    /// The span of the step's mapping in the pipeline file, shared by the
    /// iterations of a looped step. `basso run` matches diagnostics to the
    /// step with it. It is not part of the JSON form, so a resolution read
    /// back from JSON has an empty span here.
    #[serde(skip)]
    #[cfg_attr(feature = "ts", ts(skip))]
    pub source_span: Span,
}

impl Serialize for ResolvedStep {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        StepJson {
            identifier: &self.identifier,
            name: &self.name,
            step_type: &self.step_type,
            fqn: &self.fqn,
            step_group: &self.step_group,
            parallel: self.parallel,
            when: &self.when,
            group_when: &self.group_when,
            group_iterations: &self.group_iterations,
            timeout_seconds: self.timeout_seconds,
            failure_strategies: &self.failure_strategies,
            spec: &self.spec,
            effective: EffectiveJson {
                spec: &self.spec,
                effective: &self.effective,
            },
            endpoints: &self.endpoints,
            secrets: &self.secrets,
            strategy: &self.strategy,
        }
        .serialize(serializer)
    }
}

/// The JSON form of a [`ResolvedStep`]: its fields in the same order, with
/// `effective` written as the whole map.
#[derive(Serialize)]
#[serde(rename = "ResolvedStep", rename_all = "camelCase")]
struct StepJson<'a> {
    identifier: &'a str,
    name: &'a str,
    #[serde(rename = "type")]
    step_type: &'a str,
    fqn: &'a str,
    step_group: &'a Option<String>,
    parallel: Option<u32>,
    when: &'a Option<StepWhen>,
    group_when: &'a [GroupWhen],
    group_iterations: &'a [GroupIteration],
    timeout_seconds: Option<u64>,
    failure_strategies: &'a [FailureStrategy],
    spec: &'a Json,
    effective: EffectiveJson<'a>,
    endpoints: &'a Option<Endpoints>,
    secrets: &'a [String],
    strategy: &'a Option<Iteration>,
}

/// A step's `spec` plus the defaults the stage's infrastructure adds.
/// Resolution keeps only the settings that differ from `spec`, so the
/// spec is not copied. [`ResolvedStep::effective_value`] reads one key,
/// and [`ResolvedStep::effective_json`] and the JSON form give the whole
/// map.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Effective(EffectiveRepr);

#[derive(Debug, Clone, PartialEq)]
enum EffectiveRepr {
    /// Settings over the step's `spec`.
    Over(Vec<Setting>),
    /// The whole map, as read back from JSON or given by a caller.
    Whole(Json),
}

impl Default for EffectiveRepr {
    fn default() -> Self {
        EffectiveRepr::Over(Vec::new())
    }
}

/// One setting of an [`Effective`] that differs from `spec`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Setting {
    pub(crate) key: &'static str,
    pub(crate) value: Cow<'static, Json>,
    /// True when `spec` has the key, whose value this one replaces in its
    /// place. Otherwise the key follows `spec`'s keys, in the order of the
    /// settings.
    pub(crate) replaces: bool,
}

impl Effective {
    /// Makes an `Effective` from the settings that differ from a step's `spec`.
    pub(crate) fn over(settings: Vec<Setting>) -> Effective {
        Effective(EffectiveRepr::Over(settings))
    }

    /// Returns the value of `key`, given the step's `spec`.
    fn get<'a>(&'a self, spec: &'a Json, key: &str) -> Option<&'a Json> {
        match &self.0 {
            EffectiveRepr::Whole(json) => json.get(key),
            EffectiveRepr::Over(settings) => match settings.iter().find(|s| s.key == key) {
                Some(setting) => Some(&setting.value),
                None => spec.get(key),
            },
        }
    }

    /// Builds the whole map from the step's `spec`.
    fn to_json(&self, spec: &Json) -> Json {
        let settings = match &self.0 {
            EffectiveRepr::Whole(json) => return json.clone(),
            EffectiveRepr::Over(settings) => settings,
        };
        let mut json = spec.clone();
        if let Json::Object(map) = &mut json {
            for setting in settings {
                let value = setting.value.clone().into_owned();
                match map.get_mut(setting.key) {
                    Some(slot) if setting.replaces => *slot = value,
                    _ => {
                        map.insert(setting.key.to_string(), value);
                    }
                }
            }
        }
        json
    }
}

/// Makes an `Effective` that is the whole map `json`, ignoring `spec`.
impl From<Json> for Effective {
    fn from(json: Json) -> Self {
        Effective(EffectiveRepr::Whole(json))
    }
}

/// Reads the whole map, as written by the JSON form of a step.
impl<'de> Deserialize<'de> for Effective {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Json::deserialize(deserializer).map(Effective::from)
    }
}

/// Writes an [`Effective`] as the map `Effective::to_json` returns, without
/// building it.
struct EffectiveJson<'a> {
    spec: &'a Json,
    effective: &'a Effective,
}

impl Serialize for EffectiveJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let settings = match &self.effective.0 {
            EffectiveRepr::Whole(json) => return json.serialize(serializer),
            EffectiveRepr::Over(settings) => settings,
        };
        let Json::Object(spec) = self.spec else {
            return self.spec.serialize(serializer);
        };
        let replaced = settings.iter().filter(|s| s.replaces).count();
        let added = settings.len() - replaced;
        let mut map = serializer.serialize_map(Some(spec.len() + added))?;
        for (key, value) in spec {
            // Most steps replace nothing, so their keys are not compared.
            let setting = match replaced {
                0 => None,
                _ => settings.iter().find(|s| s.replaces && s.key == key),
            };
            map.serialize_entry(key, setting.map_or(value, |s| &*s.value))?;
        }
        for setting in settings.iter().filter(|s| !s.replaces) {
            map.serialize_entry(setting.key, &*setting.value)?;
        }
        map.end()
    }
}

/// Shell that runs a step's `command`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Shell {
    Sh,
    Bash,
    Powershell,
    Pwsh,
    Python,
}

impl Shell {
    /// Every shell, in the spelling Harness expects (case-sensitive).
    pub const ALL: [Shell; 5] = [
        Shell::Sh,
        Shell::Bash,
        Shell::Powershell,
        Shell::Pwsh,
        Shell::Python,
    ];

    /// Parses the exact, case-sensitive spelling (`Sh`, not `sh`).
    pub fn parse(text: &str) -> Option<Shell> {
        Shell::ALL.into_iter().find(|shell| shell.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Shell::Sh => "Sh",
            Shell::Bash => "Bash",
            Shell::Powershell => "Powershell",
            Shell::Pwsh => "Pwsh",
            Shell::Python => "Python",
        }
    }
}

/// Kubernetes-style image pull policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum ImagePullPolicy {
    Always,
    Never,
    IfNotPresent,
}

impl ImagePullPolicy {
    pub const ALL: [ImagePullPolicy; 3] = [
        ImagePullPolicy::Always,
        ImagePullPolicy::Never,
        ImagePullPolicy::IfNotPresent,
    ];

    /// Parses the exact, case-sensitive spelling.
    pub fn parse(text: &str) -> Option<ImagePullPolicy> {
        ImagePullPolicy::ALL
            .into_iter()
            .find(|policy| policy.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ImagePullPolicy::Always => "Always",
            ImagePullPolicy::Never => "Never",
            ImagePullPolicy::IfNotPresent => "IfNotPresent",
        }
    }
}

/// Addresses at which later steps reach a Background step's service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    /// Host name on the stage's container network: the step identifier, or
    /// `GROUP_STEP` inside a step group.
    pub hostname: String,
    /// `hostname:containerPort` for callers running in containers (VM,
    /// Cloud and Docker infrastructure).
    pub container: Vec<String>,
    /// `localhost:hostPort` for callers running directly on the host (VM
    /// and Cloud infrastructure).
    pub host: Vec<String>,
    /// `localhost:containerPort` for callers in the same Kubernetes pod.
    pub pod: Vec<String>,
}

impl ResolvedStep {
    /// Returns the identifiers of the step groups around the step, outermost
    /// first, as `fqn` names them: a looped group's with its iteration
    /// suffix (`checks_0`).
    pub fn group_path(&self) -> Vec<&str> {
        let Some((_, inside)) = self.fqn.split_once(".spec.execution.steps.") else {
            return self.step_group.iter().map(String::as_str).collect();
        };
        let mut parts: Vec<&str> = inside.split(".steps.").collect();
        parts.pop();
        parts
    }

    /// Returns the parsed step type, or `None` for types basso does not model.
    pub fn kind(&self) -> Option<StepType> {
        match self.step_type.as_str() {
            "Background" => Some(StepType::Background),
            "Run" => Some(StepType::Run),
            _ => None,
        }
    }

    /// Returns the value of `key` in `effective`, which is the setting the
    /// infrastructure adds or replaces, else the one in `spec`.
    pub fn effective_value(&self, key: &str) -> Option<&Json> {
        self.effective.get(&self.spec, key)
    }

    /// Builds `effective` as one map, `spec` with the defaults merged in.
    pub fn effective_json(&self) -> Json {
        self.effective.to_json(&self.spec)
    }

    fn effective_str(&self, key: &str) -> Option<&str> {
        self.effective_value(key)?.as_str()
    }

    /// Image reference with the tag default applied (`postgres:latest`), or
    /// `None` when the step runs on the host (blank image on VM or Cloud).
    pub fn image(&self) -> Option<&str> {
        self.effective_str("image")
            .filter(|image| !image.is_empty())
    }

    pub fn connector_ref(&self) -> Option<&str> {
        self.effective_str("connectorRef")
            .filter(|text| !text.is_empty())
    }

    pub fn shell(&self) -> Option<Shell> {
        self.effective_str("shell").and_then(Shell::parse)
    }

    pub fn command(&self) -> Option<&str> {
        self.effective_str("command")
    }

    /// `entrypoint` arguments; when non-empty they replace both the image's
    /// entrypoint and `command`.
    pub fn entrypoint(&self) -> Vec<String> {
        string_list(self.effective_value("entrypoint"))
    }

    /// `envVariables` with every value rendered to text. Secret values stay
    /// `<+secrets.getValue("ID")>` for the runner to substitute.
    pub fn env_variables(&self) -> IndexMap<String, String> {
        let Some(Json::Object(map)) = self.effective_value("envVariables") else {
            return IndexMap::new();
        };
        map.iter()
            .map(|(name, value)| (name.clone(), json_text(value)))
            .collect()
    }

    pub fn privileged(&self) -> bool {
        self.effective_value("privileged")
            .and_then(Json::as_bool)
            .unwrap_or(false)
    }

    /// JUnit report glob paths (`reports.spec.paths`).
    pub fn report_paths(&self) -> Vec<String> {
        let paths = self
            .effective_value("reports")
            .and_then(|reports| reports.get("spec")?.get("paths"));
        string_list(paths)
    }

    pub fn image_pull_policy(&self) -> Option<ImagePullPolicy> {
        self.effective_str("imagePullPolicy")
            .and_then(ImagePullPolicy::parse)
    }

    /// `portBindings` as (host port, container port) pairs. Entries that are
    /// not valid ports were reported during resolution and are skipped here.
    pub fn port_bindings(&self) -> Vec<(u16, u16)> {
        let Some(Json::Object(map)) = self.effective_value("portBindings") else {
            return Vec::new();
        };
        map.iter()
            .filter_map(|(host, container)| {
                let host = host.trim().parse::<u16>().ok().filter(|port| *port > 0)?;
                let container = json_text(container)
                    .trim()
                    .parse::<u16>()
                    .ok()
                    .filter(|port| *port > 0)?;
                Some((host, container))
            })
            .collect()
    }

    pub fn run_as_user(&self) -> Option<i64> {
        match self.effective_value("runAsUser")? {
            Json::Number(number) => number.as_i64(),
            Json::String(text) => text.trim().parse().ok(),
            _ => None,
        }
    }

    /// `resources.limits.memory` in bytes (the effective value defaults to 500Mi).
    pub fn memory_bytes(&self) -> Option<u64> {
        let memory = self
            .effective_value("resources")?
            .get("limits")?
            .get("memory")?;
        crate::pipeline::quantity::parse_memory(&json_text(memory)).ok()
    }

    /// `resources.limits.cpu` in millicores (the effective value defaults to 400m).
    pub fn cpu_millis(&self) -> Option<u64> {
        let cpu = self
            .effective_value("resources")?
            .get("limits")?
            .get("cpu")?;
        crate::pipeline::quantity::parse_cpu(&json_text(cpu)).ok()
    }

    /// Names listed in a Run step's `outputVariables`.
    pub fn output_variables(&self) -> Vec<String> {
        let Some(Json::Array(items)) = self.effective_value("outputVariables") else {
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|item| item.get("name").and_then(Json::as_str).map(str::to_string))
            .collect()
    }

    /// Names of the `outputVariables` entries declared `type: Secret`, whose
    /// values the runner masks like secrets.
    pub fn secret_output_variables(&self) -> Vec<String> {
        let Some(Json::Array(items)) = self.effective_value("outputVariables") else {
            return Vec::new();
        };
        items
            .iter()
            .filter(|item| item.get("type").and_then(Json::as_str) == Some("Secret"))
            .filter_map(|item| item.get("name").and_then(Json::as_str).map(str::to_string))
            .collect()
    }
}

fn string_list(value: Option<&Json>) -> Vec<String> {
    match value {
        Some(Json::Array(items)) => items.iter().map(json_text).collect(),
        _ => Vec::new(),
    }
}

/// Renders a JSON value as a field's text: strings as they are, other
/// values as JSON.
pub fn json_text(value: &Json) -> String {
    match value {
        Json::String(text) => text.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}
