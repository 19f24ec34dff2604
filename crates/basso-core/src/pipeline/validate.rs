//! Validation rules for stages and for Background and Run step settings.
//!
//! Each rule reports a diagnostic that names the offending value and the
//! fix. Fields whose value is an expression or a runtime input are checked
//! for the capability class only here; their resolved values are checked
//! again during resolution.

use std::collections::HashMap;

use crate::diagnostic::{Diagnostic, Span};
use crate::options::{EvalMode, Options, ScanMode, Unresolved};
use crate::pipeline::duration::parse_duration;
use crate::pipeline::field::{Capability, ValueKind, classify, classify_node};
use crate::pipeline::image::parse_image_parts;
use crate::pipeline::model::{DocumentKind, Pipeline, Report, Stage, Step, key_span};
use crate::pipeline::quantity::{parse_cpu, parse_memory};
use crate::pipeline::resolved::{ImagePullPolicy, InfrastructureKind, Shell};
use crate::pipeline::shared_path::SharedPath;
use crate::pipeline::suggest::did_you_mean;
use crate::pipeline::templates::Templates;
use crate::pipeline::yaml::{Node, NodeValue};
use crate::template::has_block_start;
use crate::value::Value;

const BACKGROUND_SPEC_KEYS: &[&str] = &[
    "connectorRef",
    "image",
    "shell",
    "entrypoint",
    "command",
    "privileged",
    "reports",
    "envVariables",
    "imagePullPolicy",
    "portBindings",
    "runAsUser",
    "resources",
    "ports",
    "retry",
    "networkAliases",
    "registryRef",
];
const RUN_SPEC_KEYS: &[&str] = &[
    "connectorRef",
    "image",
    "shell",
    "command",
    "privileged",
    "reports",
    "envVariables",
    "imagePullPolicy",
    "runAsUser",
    "resources",
    "outputVariables",
    "outputAlias",
    "registryRef",
];
/// Keys of the `pipeline` mapping in Harness's v0 schema.
const PIPELINE_KEYS: &[&str] = &[
    "name",
    "identifier",
    "description",
    "tags",
    "projectIdentifier",
    "orgIdentifier",
    "properties",
    "stages",
    "variables",
    "timeout",
    "notificationRules",
    "flowControl",
    "delegateSelectors",
    "allowStageExecutions",
    "fixedInputsOnRerun",
    "template",
];

/// Keys of a `stage` mapping.
const STAGE_KEYS: &[&str] = &[
    "name",
    "identifier",
    "description",
    "type",
    "spec",
    "tags",
    "variables",
    "when",
    "failureStrategies",
    "strategy",
    "timeout",
    "delegateSelectors",
    "template",
];

/// Keys of a CI stage's `spec`.
const CI_STAGE_SPEC_KEYS: &[&str] = &[
    "cloneCodebase",
    "execution",
    "infrastructure",
    "platform",
    "runtime",
    "serviceDependencies",
    "sharedPaths",
    "caching",
    "buildIntelligence",
    "slsa_provenance",
    "rollbackSteps",
];

/// Keys of a stage's `execution`.
const EXECUTION_KEYS: &[&str] = &["steps", "rollbackSteps"];

/// Keys of a `stepGroup` mapping.
const STEP_GROUP_KEYS: &[&str] = &[
    "name",
    "identifier",
    "description",
    "steps",
    "when",
    "failureStrategies",
    "strategy",
    "timeout",
    "delegateSelectors",
    "variables",
    "sharedPaths",
    "stepGroupInfra",
    "template",
];

/// The looping kinds of a strategy, of which it takes exactly one.
const LOOP_KINDS: &[&str] = &["matrix", "repeat", "parallelism"];

/// The keys of `strategy` in Harness's v0 schema (`StrategyConfig`). basso
/// reads only the looping kinds.
const STRATEGY_KEYS: &[&str] = &["matrix", "repeat", "parallelism", "when", "onFailure"];

const STEP_NODE_KEYS: &[&str] = &[
    "identifier",
    "name",
    "type",
    "spec",
    "description",
    "timeout",
    "when",
    "failureStrategies",
    "strategy",
    "enforce",
    "template",
];
const SHELLS: &[&str] = &["Sh", "Bash", "Powershell", "Pwsh", "Python"];
const PULL_POLICIES: &[&str] = &["Always", "Never", "IfNotPresent"];
const STATUSES: &[&str] = &["Success", "Failure", "All"];

/// The infrastructure a stage runs on after following `useFromStage`.
pub fn effective_infrastructure<'a>(
    stages: &'a [Stage<'a>],
    index: usize,
) -> (InfrastructureKind, Option<&'a str>) {
    let mut current = index;
    for _ in 0..stages.len() {
        let stage = &stages[current];
        match &stage.infra.use_from_stage {
            Some((from, _)) => match stages.iter().position(|s| &s.identifier == from) {
                Some(next) if next != current => current = next,
                _ => return (InfrastructureKind::Unknown, None),
            },
            None => return (stage.infra.kind, stage.infra.type_name.as_deref()),
        }
    }
    (InfrastructureKind::Unknown, None)
}

/// Runs every rule over the pipeline.
pub fn validate(report: &mut Report, pipeline: &Pipeline<'_>, templates: &Templates) {
    check_codebase(report, pipeline.node);
    if pipeline.kind == DocumentKind::Pipeline {
        check_unknown_keys(report, pipeline.node, PIPELINE_KEYS, "the pipeline");
    }
    if let Some(timeout) = pipeline.node.get("timeout") {
        check_timeout(report, timeout);
    }
    let mut unmodelled_steps: HashMap<String, (Span, usize)> = HashMap::new();
    let mut unmodelled_stages: HashMap<String, (Span, usize)> = HashMap::new();
    for (index, stage) in pipeline.stages.iter().enumerate() {
        if stage.get("template").is_some() {
            report.warning(
                "template-ref",
                format!(
                    "stage `{}` comes from a template, which basso does not check",
                    stage.identifier
                ),
                key_span(stage.node),
                "templates live outside this file; check the template on its own",
            );
            continue;
        }
        if !stage.is_ci() {
            let span = stage.get("type").map_or(key_span(stage.node), |n| n.span);
            let entry = unmodelled_stages
                .entry(stage.stage_type.clone())
                .or_insert((span, 0));
            entry.1 += 1;
            continue;
        }
        let (infra, _) = effective_infrastructure(&pipeline.stages, index);
        check_stage(report, pipeline, index, infra, templates);
        for group in &stage.groups {
            if group.node.get("template").is_some() {
                continue;
            }
            check_unknown_keys(report, group.node, STEP_GROUP_KEYS, "a step group");
            check_when(report, group.node.get("when"), "stageStatus", templates);
            if let Some(strategy) = group.node.get("strategy") {
                check_strategy(report, strategy, &group.identifier);
            }
            if let Some(failure) = group.node.get("failureStrategies") {
                check_failure_strategies(report, failure);
            }
        }
        let mut host_ports: HashMap<u32, Span> = HashMap::new();
        for step in &stage.steps {
            check_step_node(report, step, templates);
            if step.get("template").is_some() {
                report.warning(
                    "template-ref",
                    format!(
                        "step `{}` comes from a template, which basso does not check",
                        step.identifier
                    ),
                    key_span(step.node),
                    "templates live outside this file; check the template on its own",
                );
                continue;
            }
            check_step_failure_strategies(report, step);
            if !step.is_modelled() {
                let span = step.type_node.map_or(key_span(step.node), |n| n.span);
                let entry = unmodelled_steps
                    .entry(step.step_type.clone())
                    .or_insert((span, 0));
                entry.1 += 1;
                continue;
            }
            check_step_spec(report, step, infra, &mut host_ports);
            check_looped_host_ports(report, step, infra);
        }
    }
    crate::pipeline::expansion::check(report, pipeline);
    let mut unmodelled: Vec<_> = unmodelled_steps.into_iter().collect();
    unmodelled.sort_by_key(|(_, (span, _))| span.byte_start);
    for (step_type, (span, count)) in unmodelled {
        if step_type.is_empty() {
            continue;
        }
        let plural = if count == 1 { "step" } else { "steps" };
        report.info("step-not-validated", format!("step type `{step_type}` is not validated ({count} {plural})"), span, "basso validates and resolves Background and Run steps; other types are kept as written");
    }
    let mut stages: Vec<_> = unmodelled_stages.into_iter().collect();
    stages.sort_by_key(|(_, (span, _))| span.byte_start);
    for (stage_type, (span, count)) in stages {
        let plural = if count == 1 { "stage" } else { "stages" };
        report.info(
            "stage-not-validated",
            format!("stage type `{stage_type}` is not validated ({count} {plural})"),
            span,
            "basso validates CI stages; other stage types are kept as written",
        );
    }
}

fn text_of(node: &Node) -> Option<&str> {
    node.as_str()
}

/// Reports a value that the field's capability class does not accept.
/// Returns true when the value is fixed and should be checked further.
fn check_capability(report: &mut Report, node: &Node, field: &str, capability: Capability) -> bool {
    let Some(text) = text_of(node) else {
        return true;
    };
    if has_block_start(text)
        && let Some(reason) = capability.reject(text)
    {
        report.error(
            "expression-not-allowed",
            format!("`{field}` {reason}"),
            node.span,
            format!("write a fixed value for `{field}`, or `<+input>`"),
        );
        return false;
    }
    // `<+input>` after other text gets `runtime-input-not-first` where
    // runtime inputs are collected.
    classify(text) == ValueKind::Fixed
}

fn check_codebase(report: &mut Report, pipeline: &Node) {
    let Some(build) = pipeline
        .get("properties")
        .and_then(|p| p.get("ci"))
        .and_then(|c| c.get("codebase"))
        .and_then(|c| c.get("build"))
    else {
        return;
    };
    if !check_capability(
        report,
        build,
        "codebase.build",
        Capability::RuntimeInputOnly,
    ) {
        return;
    }
    if build.as_mapping().is_none() {
        report.error(
            "wrong-type",
            format!(
                "`codebase.build` must be a mapping, found {}",
                build.kind_name()
            ),
            build.span,
            "write `build: {type: branch, spec: {branch: main}}` or `build: <+input>`",
        );
        return;
    }
    if let Some(kind) = build.get("type").and_then(Node::as_str)
        && classify(kind) == ValueKind::Fixed
        && !["branch", "tag", "PR", "commitSha"].contains(&kind)
    {
        let help = did_you_mean(kind, &["branch", "tag", "PR", "commitSha"])
            .unwrap_or_else(|| "use `branch`, `tag`, `PR` or `commitSha`".into());
        report.error(
            "unknown-build-type",
            format!("unknown codebase build type `{kind}`"),
            build.get("type").map_or(build.span, |n| n.span),
            help,
        );
    }
}

fn check_enum(report: &mut Report, node: &Node, field: &str, allowed: &[&str], code: &str) {
    let Some(text) = text_of(node) else {
        report.error(
            "wrong-type",
            format!("`{field}` must be text, found {}", node.kind_name()),
            node.span,
            format!("use one of {}", list(allowed)),
        );
        return;
    };
    if classify(text) != ValueKind::Fixed || allowed.contains(&text) {
        return;
    }
    let help = did_you_mean(text, allowed)
        .unwrap_or_else(|| format!("use one of {} (case-sensitive)", list(allowed)));
    report.error(code, format!("unknown {field} `{text}`"), node.span, help);
}

/// Formats names as a comma-separated list of code spans.
pub(crate) fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|item| format!("`{item}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_stage(
    report: &mut Report,
    pipeline: &Pipeline<'_>,
    index: usize,
    infra: InfrastructureKind,
    templates: &Templates,
) {
    let stage = &pipeline.stages[index];
    check_unknown_keys(report, stage.node, STAGE_KEYS, "a stage");
    if let Some(timeout) = stage.get("timeout") {
        check_timeout(report, timeout);
    }
    check_when(report, stage.get("when"), "pipelineStatus", templates);
    if let Some(strategy) = stage.get("strategy") {
        check_strategy(report, strategy, &stage.identifier);
    }
    if let Some(failure) = stage.get("failureStrategies") {
        check_failure_strategies(report, failure);
    }
    let Some(spec) = stage.spec else {
        report.error(
            "missing-field",
            format!("stage `{}` has no `spec`", stage.identifier),
            key_span(stage.node),
            "add `spec:` with `execution` and the build infrastructure",
        );
        return;
    };
    check_unknown_keys(report, spec, CI_STAGE_SPEC_KEYS, "a CI stage's `spec`");
    if let Some(execution) = spec.get("execution")
        && execution.as_mapping().is_some()
    {
        check_unknown_keys(report, execution, EXECUTION_KEYS, "`execution`");
    }
    if let Some(clone) = spec.get("cloneCodebase")
        && check_capability(report, clone, "cloneCodebase", Capability::RuntimeInputOnly)
    {
        check_boolean(report, clone, "cloneCodebase");
    }
    if let Some(paths) = spec.get("sharedPaths") {
        check_string_list(report, paths, "sharedPaths");
        check_shared_paths(report, paths);
    }
    check_infrastructure(report, pipeline, index, spec, infra);
}

fn check_infrastructure(
    report: &mut Report,
    pipeline: &Pipeline<'_>,
    index: usize,
    spec: &Node,
    infra: InfrastructureKind,
) {
    let stage = &pipeline.stages[index];
    if let Some((from, node)) = &stage.infra.use_from_stage {
        let earlier: Vec<&str> = pipeline.stages[..index]
            .iter()
            .map(|s| s.identifier.as_str())
            .collect();
        if !earlier.contains(&from.as_str()) {
            let exists_later = pipeline.stages.iter().any(|s| &s.identifier == from);
            let message = if exists_later {
                format!("`useFromStage` names stage `{from}`, which runs later")
            } else {
                format!("`useFromStage` names stage `{from}`, which does not exist")
            };
            let help = did_you_mean(from, &earlier)
                .unwrap_or_else(|| "name a stage that runs before this one".into());
            report.error("unknown-stage", message, node.span, help);
        }
        return;
    }
    match (spec.get("infrastructure"), spec.get("runtime")) {
        (None, None) => {
            report.error(
                "missing-infrastructure",
                format!(
                    "CI stage `{}` has no build infrastructure",
                    stage.identifier
                ),
                key_span(spec),
                "add `platform` and `runtime`, or `infrastructure`",
            );
        }
        (Some(infrastructure), _) => check_infrastructure_node(report, infrastructure, infra),
        (None, Some(runtime)) => {
            match runtime.get("type").and_then(Node::as_str) {
                Some("Cloud") => {
                    if let Some(size) = runtime.get("spec").and_then(|s| s.get("size")) {
                        check_enum(
                            report,
                            size,
                            "Cloud machine size",
                            &[
                                "xsmall", "flex", "small", "medium", "large", "xlarge", "xxlarge",
                                "xxxlarge",
                            ],
                            "unknown-machine-size",
                        );
                    }
                }
                Some("Docker") => {}
                Some(other) => {
                    let help = did_you_mean(other, &["Cloud", "Docker"])
                        .unwrap_or_else(|| "use `Cloud` or `Docker`".into());
                    report.error(
                        "unknown-runtime",
                        format!("unknown runtime type `{other}`"),
                        runtime.get("type").map_or(runtime.span, |n| n.span),
                        help,
                    );
                }
                None => report.error(
                    "missing-field",
                    "`runtime` has no `type`",
                    key_span(runtime),
                    "add `type: Cloud` or `type: Docker`",
                ),
            }
            if spec.get("platform").is_none() {
                report.warning(
                    "missing-platform",
                    "`runtime` without `platform` runs on Linux Amd64",
                    key_span(runtime),
                    "add `platform: {os: Linux, arch: Amd64}` to state it",
                );
            }
        }
    }
    if let Some(platform) = spec.get("platform") {
        if let Some(os) = platform.get("os") {
            check_enum(
                report,
                os,
                "platform os",
                &["Linux", "MacOS", "Windows"],
                "unknown-platform",
            );
        }
        if let Some(arch) = platform.get("arch") {
            check_enum(
                report,
                arch,
                "platform arch",
                &["Amd64", "Arm64"],
                "unknown-platform",
            );
        }
    }
}

fn check_infrastructure_node(
    report: &mut Report,
    infrastructure: &Node,
    infra: InfrastructureKind,
) {
    let type_node = infrastructure.get("type");
    let type_name = type_node.and_then(Node::as_str).unwrap_or_default();
    match infra {
        InfrastructureKind::KubernetesDirect => {
            let spec = infrastructure.get("spec");
            for key in ["connectorRef", "namespace"] {
                if spec.and_then(|s| s.get(key)).is_none_or(Node::is_null) {
                    report.error(
                        "missing-field",
                        format!("KubernetesDirect infrastructure has no `{key}`"),
                        spec.map_or(infrastructure.span, key_span),
                        format!("add `{key}:` under `infrastructure.spec`"),
                    );
                }
            }
            if let Some(os) = spec.and_then(|s| s.get("os")) {
                check_enum(
                    report,
                    os,
                    "infrastructure os",
                    &["Linux", "MacOS", "Windows"],
                    "unknown-platform",
                );
            }
        }
        InfrastructureKind::Vm => {
            let pool = infrastructure.get("spec");
            if let Some(kind) = pool.and_then(|p| p.get("type")).and_then(Node::as_str)
                && kind != "Pool"
            {
                report.error(
                    "unknown-infrastructure",
                    format!("unknown VM infrastructure type `{kind}`"),
                    pool.and_then(|p| p.get("type"))
                        .map_or(infrastructure.span, |n| n.span),
                    "use `type: Pool` with `spec.poolName`",
                );
            }
        }
        _ if type_node.is_none() => {
            report.error(
                "missing-field",
                "`infrastructure` has no `type`",
                key_span(infrastructure),
                "add `type: KubernetesDirect` or `type: VM`, or use `useFromStage`",
            );
        }
        _ => {
            let help = match did_you_mean(type_name, &["KubernetesDirect", "VM"]) {
                Some(suggestion) => suggestion,
                None => "use `KubernetesDirect` or `VM`, or `platform` with `runtime`; checks that depend on the infrastructure are skipped".into(),
            };
            report.warning(
                "unknown-infrastructure",
                format!("infrastructure type `{type_name}` is not in the v0 schema"),
                type_node.map_or(infrastructure.span, |n| n.span),
                help,
            );
        }
    }
}

pub(crate) fn check_when(
    report: &mut Report,
    when: Option<&Node>,
    status_key: &str,
    templates: &Templates,
) {
    let Some(when) = when else { return };
    if !check_capability(report, when, "when", Capability::BareInputOnly) {
        return;
    }
    if when.as_mapping().is_none() {
        report.error(
            "wrong-type",
            format!("`when` must be a mapping, found {}", when.kind_name()),
            when.span,
            format!("write `when: {{{status_key}: Success, condition: ...}}`"),
        );
        return;
    }
    check_unknown_keys(report, when, &[status_key, "condition"], "`when`");
    match when.get(status_key) {
        Some(status) => check_status(report, status, status_key),
        None => report.error(
            "missing-field",
            format!("`when` has no `{status_key}`"),
            key_span(when),
            format!("add `{status_key}: Success`, `Failure` or `All`"),
        ),
    }
    if let Some(condition) = when.get("condition")
        && let Some(text) = condition.as_str()
    {
        if text.contains(".executionInput()") {
            report.error(
                "expression-not-allowed",
                "`when.condition` cannot use `.executionInput()`",
                condition.span,
                "give the condition's input a value before the run starts",
            );
        } else {
            check_condition(report, condition, text, templates);
        }
    }
}

/// Reports a `when` status (`stageStatus` or `pipelineStatus`) that is not
/// `Success`, `Failure` or `All`. Harness reads the status as one of these
/// names, so an expression there is an error, while a runtime input is
/// checked once it has a value.
pub(crate) fn check_status(report: &mut Report, status: &Node, status_key: &str) {
    if let Some(text) = text_of(status)
        && classify(text) == ValueKind::Expression
    {
        report.error(
            "expression-not-allowed",
            format!("`{status_key}` cannot be an expression, found `{text}`"),
            status.span,
            format!("write `{status_key}: Success`, `Failure` or `All`, and put the logic in `condition`"),
        );
        return;
    }
    check_enum(report, status, status_key, STATUSES, "unknown-status");
}

/// Reports a `when.condition` whose text stays text once its blocks are
/// spliced in, and warns about a constant that Harness always reads as
/// false (`yes`, a name that reads as null). Harness converts any other
/// value to a decision ([`Value::condition_decision`]). The condition is
/// evaluated with every reference null, so a condition whose result
/// depends on its values is not reported.
pub(crate) fn check_condition(
    report: &mut Report,
    condition: &Node,
    text: &str,
    templates: &Templates,
) {
    if classify(text) == ValueKind::RuntimeInput || text.trim().is_empty() {
        return;
    }
    let options = Options {
        scan: ScanMode::Harness,
        mode: EvalMode::Evaluate,
        unresolved: Unresolved::Null,
        ..Options::default()
    };
    // The runner evaluates the whole condition as one expression, so text
    // around the blocks must parse too. A block's own syntax error is
    // reported with the other expression checks.
    if let Ok(template) = &*templates.get(text)
        && let Err(error) = template.whole_unit()
    {
        report.error(
            error.code,
            format!(
                "`when.condition` `{text}` is not a valid expression: {}",
                error.message
            ),
            condition.span,
            error.help.clone(),
        );
        return;
    }
    if has_block_start(text) {
        check_bare_names(report, condition, text, templates);
    }
    let no_values = Value::Map(Default::default());
    // The template is compiled once for the checks and the resolution.
    let Ok(value) = templates.with(text, |template| template.evaluate(&no_values, &options)) else {
        return;
    };
    let has_blocks = has_block_start(text);
    let help = if has_blocks && text.contains('>') {
        "a `>` ends a block in Harness: compare inside a block with `gt` \
         (`<+pipeline.variables.n gt 3>`) or outside it (`<+pipeline.variables.n> > 3`)"
    } else {
        "write an expression that gives `true` or `false`, such as \
         `<+pipeline.variables.deploy> == \"yes\"`"
    };
    let splices = matches!(&*templates.get(text), Ok(template) if template.splices_blocks());
    match &value {
        Value::String(result) if splices => report.error(
            "invalid-condition",
            format!(
                "`when.condition` `{text}` resolves to text (`{result}` with unknown values), \
                 not an expression"
            ),
            condition.span,
            help,
        ),
        Value::Bool(_) => {}
        constant if !has_blocks && constant.condition_decision() == Some(false) => report.warning(
            "constant-condition",
            format!(
                "`when.condition` `{text}` gives `{}`, which Harness reads as false, so it never runs",
                constant.to_json()
            ),
            condition.span,
            "quote text to compare it (`\"yes\"`), or write `true` or `false`",
        ),
        _ => {}
    }
}

/// The first path segments of the values an expression can read: the
/// context roots of Harness CI and basso's `--context`.
pub(crate) const CONTEXT_ROOTS: &[&str] = &[
    "pipeline",
    "stage",
    "stages",
    "stepGroup",
    "step",
    "steps",
    "execution",
    "codebase",
    "trigger",
    "variable",
    "secrets",
    "matrix",
    "repeat",
    "strategy",
    "variables",
    "env",
    "service",
    "infra",
    "artifact",
    "artifacts",
    "serviceVariables",
    "account",
    "org",
    "project",
    "exportedVariables",
    "json",
    "regex",
    "xml",
    "datetime",
];

/// Warns about a name outside the blocks of a condition with blocks that
/// is not a context root (`prod` in `<+pipeline.variables.env> == prod`). JEXL reads
/// it as null, so `== prod` is true only when the other side is null too,
/// and the author almost always meant the quoted text `"prod"`.
fn check_bare_names(report: &mut Report, condition: &Node, text: &str, templates: &Templates) {
    let Ok(template) = &*templates.get(text) else {
        return;
    };
    for name in template.bare_names() {
        if CONTEXT_ROOTS.contains(&name.as_str()) {
            continue;
        }
        report.warning(
            "unquoted-name",
            format!(
                "`{name}` in `when.condition` `{text}` is neither a reference nor a literal, so it reads as null"
            ),
            condition.span,
            format!("quote it to compare with the text: `\"{name}\"`"),
        );
    }
}

fn check_boolean(report: &mut Report, node: &Node, field: &str) {
    let Some(text) = node.as_str() else {
        report.error(
            "wrong-type",
            format!(
                "`{field}` must be `true` or `false`, found {}",
                node.kind_name()
            ),
            node.span,
            "write `true` or `false`",
        );
        return;
    };
    if !matches!(text, "true" | "false" | "True" | "False" | "TRUE" | "FALSE") {
        report.error(
            "invalid-boolean",
            format!("`{field}` must be `true` or `false`, found `{text}`"),
            node.span,
            "write `true` or `false`, or `<+input>`",
        );
    }
}

/// Warns about fixed `sharedPaths` entries that share nothing. Entries
/// with a block are read once resolved, by `run` and `export`.
fn check_shared_paths(report: &mut Report, paths: &Node) {
    for entry in paths.as_sequence().unwrap_or_default() {
        let Some(written) = entry.as_str() else {
            continue;
        };
        if entry.is_null() || classify(written) != ValueKind::Fixed {
            continue;
        }
        if let Some((problem, help)) = SharedPath::read(written).not_shared() {
            report.warning(
                "invalid-shared-path",
                format!("shared path `{}` {problem}", written.trim()),
                entry.span,
                help,
            );
        }
    }
}

fn check_string_list(report: &mut Report, node: &Node, field: &str) {
    match &node.value {
        NodeValue::Scalar(_) => {
            if classify_node(node) == ValueKind::Fixed && !node.is_null() {
                report.error(
                    "wrong-type",
                    format!("`{field}` must be a list"),
                    node.span,
                    format!("write `{field}:` followed by `- item` lines"),
                );
            }
        }
        NodeValue::Sequence(items) => {
            for item in items {
                if item.scalar().is_none() {
                    report.error(
                        "wrong-type",
                        format!(
                            "each `{field}` entry must be text, found {}",
                            item.kind_name()
                        ),
                        item.span,
                        "write each entry as a single value",
                    );
                }
            }
        }
        NodeValue::Mapping(_) => {
            report.error(
                "wrong-type",
                format!("`{field}` must be a list, found a mapping"),
                node.span,
                format!("write `{field}:` followed by `- item` lines"),
            );
        }
    }
}

pub(crate) fn check_unknown_keys(report: &mut Report, node: &Node, allowed: &[&str], what: &str) {
    let entries = node.as_mapping().unwrap_or_default();
    // A key the map already sets is no fix for a misspelt one. The list is
    // built at the first unknown key, because most maps have none.
    let mut unset: Option<Vec<&str>> = None;
    for (key, _) in entries {
        let Some(text) = key.as_str() else { continue };
        if allowed.contains(&text) {
            continue;
        }
        let unset = unset.get_or_insert_with(|| {
            allowed
                .iter()
                .copied()
                .filter(|name| node.get(name).is_none())
                .collect()
        });
        let help = did_you_mean(text, unset)
            .unwrap_or_else(|| format!("remove it; {what} accepts {}", list(allowed)));
        report.warning(
            "unknown-key",
            format!("unknown key `{text}` in {what}"),
            key.span,
            help,
        );
    }
}

fn check_step_node(report: &mut Report, step: &Step<'_>, templates: &Templates) {
    if !step.is_modelled() {
        return;
    }
    check_unknown_keys(report, step.node, STEP_NODE_KEYS, "a step");
    if let Some(timeout) = step.get("timeout") {
        check_timeout(report, timeout);
    }
    check_when(report, step.get("when"), "stageStatus", templates);
    if let Some(strategy) = step.get("strategy") {
        check_strategy(report, strategy, &step.identifier);
    }
    if step.spec.is_none() {
        report.error(
            "missing-field",
            format!("step `{}` has no `spec`", step.identifier),
            key_span(step.node),
            "add `spec:` with the step's settings",
        );
    }
}

/// Checks a step's `failureStrategies`, which Background steps may not have.
fn check_step_failure_strategies(report: &mut Report, step: &Step<'_>) {
    let Some(failure) = step.get("failureStrategies") else {
        return;
    };
    let non_empty =
        !failure.is_null() && failure.as_sequence().is_none_or(|items| !items.is_empty());
    if step.step_type == "Background" && non_empty {
        report.error(
            "background-failure-strategies",
            "Background steps do not support failure strategies",
            failure.span,
            "remove `failureStrategies`, or move the service into a Run step",
        );
        return;
    }
    check_failure_strategies(report, failure);
}

/// Checks a `failureStrategies` value of a stage, step group or step.
fn check_failure_strategies(report: &mut Report, node: &Node) {
    if check_capability(report, node, "failureStrategies", Capability::BareInputOnly) {
        crate::pipeline::failure::read(report, node);
    }
}

/// Checks a step, stage or pipeline `timeout`.
pub fn check_timeout(report: &mut Report, node: &Node) {
    let Some(text) = node.as_str() else {
        report.error(
            "wrong-type",
            format!(
                "`timeout` must be text such as `10m`, found {}",
                node.kind_name()
            ),
            node.span,
            "write a duration such as `10m` or `1h30m`",
        );
        return;
    };
    if has_block_start(text) {
        if check_no_secret(report, node, "a timeout") {
            return;
        }
        if text.contains(".executionInput()") {
            report.error(
                "expression-not-allowed",
                "`timeout` cannot use `.executionInput()`",
                node.span,
                "give the timeout a value before the run starts",
            );
        }
        return;
    }
    if let Err(reason) = parse_duration(text) {
        report.error(
            "invalid-timeout",
            format!("invalid timeout `{text}`: {reason}"),
            node.span,
            "write a duration such as `30s`, `10m`, `1h30m` or `2h 30m`",
        );
    }
}

pub(crate) fn check_strategy(report: &mut Report, strategy: &Node, identifier: &str) {
    if !check_capability(report, strategy, "strategy", Capability::BareInputOnly) {
        return;
    }
    let Some(entries) = strategy.as_mapping() else {
        report.error(
            "wrong-type",
            format!(
                "`strategy` must be a mapping, found {}",
                strategy.kind_name()
            ),
            strategy.span,
            "write `strategy: {matrix: ...}`, `{repeat: ...}` or `{parallelism: N}`",
        );
        return;
    };
    let kinds: Vec<&Node> = entries
        .iter()
        .filter(|(key, _)| key.as_str().is_some_and(|text| LOOP_KINDS.contains(&text)))
        .map(|(key, _)| key)
        .collect();
    // A misspelt kind gets its "did you mean" from the error below, so it
    // gets no `unknown-key` warning as well.
    let misspelt_kind = entries.iter().map(|(key, _)| key).find(|key| {
        key.as_str().is_some_and(|text| {
            !STRATEGY_KEYS.contains(&text) && did_you_mean(text, LOOP_KINDS).is_some()
        })
    });
    for (key, _) in entries {
        let Some(text) = key.as_str() else { continue };
        if STRATEGY_KEYS.contains(&text)
            || (kinds.is_empty() && misspelt_kind.is_some_and(|k| k.span == key.span))
        {
            continue;
        }
        let help = if text == "maxConcurrency" {
            "a strategy has no `maxConcurrency` of its own: write it inside `matrix` or `repeat` (`repeat: {times: 3, maxConcurrency: 2}` runs like `parallelism: 3`, two at a time)".to_string()
        } else {
            did_you_mean(text, STRATEGY_KEYS)
                .unwrap_or_else(|| format!("remove it; a strategy accepts {}", list(STRATEGY_KEYS)))
        };
        report.warning(
            "unknown-key",
            format!("unknown key `{text}` in a strategy"),
            key.span,
            help,
        );
    }
    if kinds.is_empty() {
        let (span, help) = match misspelt_kind {
            Some(key) => (
                key.span,
                did_you_mean(key.as_str().unwrap_or_default(), LOOP_KINDS).unwrap_or_default(),
            ),
            None => (
                strategy.span,
                "add `matrix: {axis: [a, b]}`, `repeat: {times: 3}` or `parallelism: 3`"
                    .to_string(),
            ),
        };
        report.error(
            "invalid-strategy",
            "a strategy needs exactly one of `matrix`, `repeat` or `parallelism`, and this one has none",
            span,
            help,
        );
        return;
    }
    if kinds.len() > 1 {
        report.error(
            "invalid-strategy",
            "a strategy needs exactly one of `matrix`, `repeat` or `parallelism`",
            kinds[1].span,
            "keep one looping kind per strategy",
        );
        return;
    }
    crate::pipeline::strategy::check(report, strategy, identifier);
}

fn check_step_spec(
    report: &mut Report,
    step: &Step<'_>,
    infra: InfrastructureKind,
    host_ports: &mut HashMap<u32, Span>,
) {
    let Some(spec) = step.spec else { return };
    if spec.as_mapping().is_none() {
        if !check_capability(report, spec, "spec", Capability::BareInputOnly) {
            return;
        }
        report.error(
            "wrong-type",
            format!("`spec` must be a mapping, found {}", spec.kind_name()),
            spec.span,
            "write the step's settings indented below `spec:`",
        );
        return;
    }
    let background = step.step_type == "Background";
    let allowed = if background {
        BACKGROUND_SPEC_KEYS
    } else {
        RUN_SPEC_KEYS
    };
    let what = if background {
        "a Background step's spec"
    } else {
        "a Run step's spec"
    };
    for (key, _) in spec.as_mapping().unwrap_or_default() {
        let Some(text) = key.as_str() else { continue };
        if allowed.contains(&text) {
            continue;
        }
        if background && text == "outputVariables" {
            let value = spec.get(text);
            if value.is_some_and(|v| v.is_null() || v.as_sequence().is_some_and(<[Node]>::is_empty))
            {
                continue;
            }
            report.error(
                "background-output-variables",
                "Background steps do not support output variables",
                key.span,
                "remove `outputVariables`; export values from a Run step instead",
            );
            continue;
        }
        if !background && matches!(text, "entrypoint" | "portBindings") {
            report.error(
                "not-a-run-setting",
                format!("`{text}` is a Background step setting, not a Run step setting"),
                key.span,
                "remove it, or change the step's type to `Background`",
            );
            continue;
        }
        let help = did_you_mean(text, allowed)
            .unwrap_or_else(|| format!("remove it; {what} accepts {}", list(allowed)));
        report.warning(
            "unknown-key",
            format!("unknown key `{text}` in {what}"),
            key.span,
            help,
        );
    }

    check_image(report, step, spec, infra);
    if let Some(connector) = spec.get("connectorRef") {
        check_connector_ref(report, connector);
    }
    if let Some(shell) = spec.get("shell")
        && !check_no_secret(report, shell, "a shell")
    {
        check_enum(report, shell, "shell", SHELLS, "unknown-shell");
    }
    if let Some(command) = spec.get("command")
        && command.scalar().is_none()
    {
        report.error(
            "wrong-type",
            format!("`command` must be text, found {}", command.kind_name()),
            command.span,
            "write the script as a block: `command: |` followed by indented lines",
        );
    }
    if !background && spec.get("command").is_none_or(Node::is_null) {
        report.error(
            "missing-field",
            format!("Run step `{}` has no `command`", step.identifier),
            key_span(spec),
            "add `command:` with the script to run",
        );
    }
    if background {
        check_entrypoint(report, spec);
    }
    if let Some(privileged) = spec.get("privileged")
        && check_capability(
            report,
            privileged,
            "privileged",
            Capability::RuntimeInputOnly,
        )
    {
        check_boolean(report, privileged, "privileged");
    }
    if let Some(reports) = spec.get("reports") {
        check_reports(report, reports);
    }
    if let Some(env) = spec.get("envVariables") {
        check_env_variables(report, env);
    }
    if let Some(policy) = spec.get("imagePullPolicy")
        && !check_no_secret(report, policy, "an image pull policy")
    {
        check_enum(
            report,
            policy,
            "imagePullPolicy",
            PULL_POLICIES,
            "unknown-image-pull-policy",
        );
    }
    if let Some(bindings) = spec.get("portBindings") {
        check_port_bindings(report, bindings, infra, host_ports);
        if spec.get("image").is_none_or(Node::is_null) {
            check_host_port_bindings(report, step, bindings, infra);
        }
    }
    if let Some(user) = spec.get("runAsUser")
        && !check_no_secret(report, user, "a user id")
    {
        check_run_as_user(report, user);
    }
    if let Some(resources) = spec.get("resources")
        && check_capability(report, resources, "resources", Capability::BareInputOnly)
    {
        check_resources(report, resources);
    }
    if let Some(outputs) = spec.get("outputVariables")
        && !background
    {
        check_output_variables(report, outputs);
    }
}

/// Reports a secret reference in a field that takes a duration, port,
/// user id, report path or name from a fixed list, and returns whether it
/// did. The resolver keeps a secret as its reference text, which only text
/// fields such as `command` and `envVariables` turn into the value.
fn check_no_secret(report: &mut Report, node: &Node, role: &str) -> bool {
    let Some(text) = node.as_str() else {
        return false;
    };
    if !has_block_start(text) || !text.contains("secrets.getValue(") {
        return false;
    }
    report.error(
        "secret-not-allowed",
        format!("`{text}` requests a secret, but a secret cannot be {role}"),
        node.span,
        "write the value itself, or take it from a String or Number variable or a runtime input",
    );
    true
}

fn check_image(report: &mut Report, step: &Step<'_>, spec: &Node, infra: InfrastructureKind) {
    let image = spec.get("image");
    let blank = image.is_none_or(|node| node.is_null() || node.as_str() == Some(""));
    if blank {
        if matches!(
            infra,
            InfrastructureKind::KubernetesDirect | InfrastructureKind::Docker
        ) {
            let span = image.map_or(key_span(spec), |n| n.span);
            let infra_name = if infra == InfrastructureKind::Docker {
                "a Docker runtime"
            } else {
                "KubernetesDirect infrastructure"
            };
            report.error(
                "missing-image",
                format!(
                    "step `{}` has no `image`, which {infra_name} requires",
                    step.identifier
                ),
                span,
                "add `image:` with the container image, such as `postgres:15`",
            );
        }
        return;
    }
    let Some(node) = image else { return };
    let Some(text) = node.as_str() else {
        report.error(
            "wrong-type",
            format!("`image` must be text, found {}", node.kind_name()),
            node.span,
            "write an image reference such as `postgres:15`",
        );
        return;
    };
    if classify(text) != ValueKind::Fixed {
        return;
    }
    if let Err(reason) = parse_image_parts(text) {
        let lowercase = text.to_lowercase();
        if reason.contains("lowercase") && parse_image_parts(&lowercase).is_ok() {
            // Docker rejects upper-case repository names, but some registries
            // and Harness Cloud images accept them, so this is only a warning.
            report.warning("invalid-image", format!("image `{text}` has upper-case letters in its repository name"), node.span, format!("did you mean `{lowercase}`? Docker registries require lowercase repository names"));
            return;
        }
        report.error("invalid-image", format!("invalid image `{text}`: {reason}"), node.span, "write `name[:tag]`, `registry/path/name[:tag]` or `name@sha256:digest`, such as `library/tomcat` or `postgres:15`");
    }
}

/// Checks `connectorRef`: a connector identifier, optionally scoped with
/// `account.` or `org.`; an empty value means no connector.
pub fn check_connector_ref(report: &mut Report, node: &Node) {
    let Some(text) = node.as_str() else {
        report.error(
            "wrong-type",
            format!("`connectorRef` must be text, found {}", node.kind_name()),
            node.span,
            "write a connector identifier such as `account.harnessImage`",
        );
        return;
    };
    if text.is_empty() || node.is_null() || classify(text) != ValueKind::Fixed {
        return;
    }
    let (scope, id) = match text.split_once('.') {
        Some((scope, id)) => (Some(scope), id),
        None => (None, text),
    };
    if let Some(scope) = scope
        && !matches!(scope, "account" | "org")
    {
        let help = did_you_mean(scope, &["account", "org"])
            .map(|s| {
                format!(
                    "{s} (`{}.{id}`)",
                    s.trim_start_matches("did you mean `")
                        .trim_end_matches("`?")
                )
            })
            .unwrap_or_else(|| {
                format!("use `{id}` for a project connector, `org.{id}` or `account.{id}`")
            });
        report.error(
            "invalid-connector-ref",
            format!("unknown connector scope `{scope}` in `{text}`"),
            node.span,
            help,
        );
        return;
    }
    let valid_id = id
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '-'));
    if !valid_id {
        report.error("invalid-connector-ref", format!("invalid connector identifier `{text}`"), node.span, "a connector identifier starts with a letter or `_` and uses letters, digits and `_`, optionally prefixed with `org.` or `account.`");
    }
}

fn check_entrypoint(report: &mut Report, spec: &Node) {
    let Some(entrypoint) = spec.get("entrypoint") else {
        return;
    };
    match &entrypoint.value {
        NodeValue::Scalar(_) if entrypoint.is_null() => {}
        NodeValue::Scalar(scalar) => {
            if classify(&scalar.text) == ValueKind::Fixed {
                report.error(
                    "invalid-entrypoint",
                    format!(
                        "`entrypoint` must be a list, found the text `{}`",
                        scalar.text
                    ),
                    entrypoint.span,
                    format!(
                        "write each argument as a list item: `entrypoint: [\"{}\"]`",
                        scalar.text.replace('"', "\\\"")
                    ),
                );
            }
        }
        NodeValue::Sequence(items) => {
            for item in items {
                if item.scalar().is_none() || item.is_null() {
                    report.error(
                        "invalid-entrypoint",
                        format!(
                            "each `entrypoint` argument must be text, found {}",
                            item.kind_name()
                        ),
                        item.span,
                        "quote the argument",
                    );
                }
            }
            let has_command = spec
                .get("command")
                .is_some_and(|c| !c.is_null() && c.as_str() != Some(""));
            if !items.is_empty() && has_command {
                let command_key = spec
                    .entry("command")
                    .map_or(entrypoint.span, |(key, _)| key.span);
                report.push(
                    Diagnostic::warning("entrypoint-overrides-command", "`command` is not run because `entrypoint` is set", command_key)
                        .with_label(entrypoint.span, "this entrypoint replaces the image's entrypoint and `command`")
                        .with_help("put the script in `entrypoint` (for example `[\"sh\", \"-c\", \"...\"]`) or remove `entrypoint`"),
                );
            }
        }
        NodeValue::Mapping(_) => {
            report.error(
                "invalid-entrypoint",
                "`entrypoint` must be a list, found a mapping",
                entrypoint.span,
                "write each argument as a list item: `- docker-entrypoint.sh`",
            );
        }
    }
}

pub(crate) fn check_reports(report: &mut Report, reports: &Node) {
    if !check_capability(report, reports, "reports", Capability::RuntimeInputOnly) {
        return;
    }
    if reports.as_mapping().is_none() {
        report.error(
            "wrong-type",
            format!("`reports` must be a mapping, found {}", reports.kind_name()),
            reports.span,
            "write `reports: {type: JUnit, spec: {paths: [\"**/*.xml\"]}}`",
        );
        return;
    }
    match reports.get("type") {
        Some(kind) => check_enum(
            report,
            kind,
            "report type",
            &["JUnit"],
            "unknown-report-type",
        ),
        None => report.error(
            "missing-field",
            "`reports` has no `type`",
            key_span(reports),
            "add `type: JUnit`",
        ),
    }
    let Some(paths) = reports.get("spec").and_then(|spec| spec.get("paths")) else {
        report.error(
            "missing-field",
            "`reports` has no `spec.paths`",
            key_span(reports),
            "add `spec: {paths: [\"**/*.xml\"]}` with the JUnit XML files",
        );
        return;
    };
    let Some(items) = paths.as_sequence() else {
        if paths.scalar().is_some() && classify_node(paths) != ValueKind::Fixed {
            return;
        }
        report.error(
            "wrong-type",
            format!(
                "`reports.spec.paths` must be a list, found {}",
                paths.kind_name()
            ),
            paths.span,
            "write each path as a list item: `- \"**/*.xml\"`",
        );
        return;
    };
    if items.is_empty() {
        report.error(
            "missing-field",
            "`reports.spec.paths` is empty",
            paths.span,
            "add the glob of the JUnit XML files, such as `**/*.xml`",
        );
    }
    for item in items {
        let Some(text) = item.as_str() else {
            report.error(
                "wrong-type",
                format!("a report path must be text, found {}", item.kind_name()),
                item.span,
                "write the path as text",
            );
            continue;
        };
        if check_no_secret(report, item, "a report path") || classify(text) != ValueKind::Fixed {
            continue;
        }
        if text.is_empty() {
            report.error(
                "invalid-report-path",
                "a report path is empty",
                item.span,
                "write a glob such as `reports/**/*.xml`",
            );
            continue;
        }
        if let Err(error) = super::glob::check(text) {
            report.error(
                "invalid-report-path",
                format!("invalid report glob `{text}`: {error}"),
                item.span,
                "fix the glob, such as `reports/**/*.xml`",
            );
        }
    }
}

/// Turns `name` into a name a shell can read as `$NAME`: other characters
/// become `_`, and `_` goes first when the name starts with a digit.
fn shell_env_name(name: &str) -> String {
    let mut fixed: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if fixed.starts_with(|c: char| c.is_ascii_digit()) {
        fixed.insert(0, '_');
    }
    fixed
}

/// Returns the help for a name that a shell cannot read: the name with its
/// other characters replaced, unless no letter of the name is left.
fn env_name_help(name: &str) -> String {
    let fixed = shell_env_name(name);
    if fixed.chars().any(|c| c.is_ascii_alphabetic()) {
        format!("did you mean `{fixed}`?")
    } else {
        "use ASCII letters, digits and `_`, such as `API_KEY`".to_string()
    }
}

/// Returns whether `name` cannot be an environment variable name at all:
/// the process environment stores `NAME=value` strings, so an empty name,
/// one with `=` or a NUL byte would change another variable or be lost.
pub(crate) fn is_invalid_env_name(name: &str) -> bool {
    name.is_empty()
        || name.contains('=')
        || name.chars().any(char::is_whitespace)
        || name.contains('\0')
}

/// The help line of an `invalid-env-name` error.
pub(crate) const INVALID_ENV_NAME_HELP: &str =
    "names cannot be empty or contain `=` or spaces; use letters, digits and `_`";

fn check_env_variables(report: &mut Report, env: &Node) {
    let Some(entries) = env.as_mapping() else {
        if env.scalar().is_some() && (env.is_null() || classify_node(env) != ValueKind::Fixed) {
            return;
        }
        report.error(
            "wrong-type",
            format!(
                "`envVariables` must be a mapping of names to values, found {}",
                env.kind_name()
            ),
            env.span,
            "write `envVariables:` followed by `NAME: value` lines",
        );
        return;
    };
    for (key, value) in entries {
        let name = key.as_str().unwrap_or_default();
        if classify(name) != ValueKind::Fixed {
            report.warning(
                "invalid-env-name",
                format!(
                    "environment variable name `{name}` holds an expression, which is not evaluated in a name: Sh and Bash drop such a variable, and other programs get it with this text as its name"
                ),
                key.span,
                "write the name as plain text, and put the expression in the value",
            );
        } else if is_invalid_env_name(name) {
            report.error(
                "invalid-env-name",
                format!("invalid environment variable name `{name}`"),
                key.span,
                INVALID_ENV_NAME_HELP,
            );
        } else if classify(name) == ValueKind::Fixed
            && !(name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            report.warning(
                "invalid-env-name",
                format!(
                    "environment variable name `{name}` cannot be read as `${name}` in a shell"
                ),
                key.span,
                env_name_help(name),
            );
        }
        match &value.value {
            NodeValue::Scalar(scalar) if scalar.text.contains('\0') => {
                report.error(
                    "invalid-env-value",
                    format!(
                        "environment variable `{name}` contains a NUL character (`\\0`), which a process environment cannot hold"
                    ),
                    value.span,
                    "remove the `\\0` from the value",
                );
            }
            NodeValue::Scalar(_) => {}
            NodeValue::Sequence(_) | NodeValue::Mapping(_) => {
                let raw = &value.span;
                report.error(
                    "invalid-env-value",
                    format!(
                        "environment variable `{name}` must be text, found {}",
                        value.kind_name()
                    ),
                    *raw,
                    "quote the value, for example `\"[1,2]\"`, so it stays text",
                );
            }
        }
    }
}

fn check_port(report: &mut Report, node: &Node, text: &str, role: &str) -> Option<u32> {
    if check_no_secret(report, node, "a port") || classify(text) != ValueKind::Fixed {
        return None;
    }
    match text.trim().parse::<u32>() {
        Ok(port @ 1..=65535) => Some(port),
        _ => {
            report.error(
                "invalid-port",
                format!("invalid {role} port `{text}`"),
                node.span,
                "ports are integers from 1 to 65535",
            );
            None
        }
    }
}

fn check_port_bindings(
    report: &mut Report,
    bindings: &Node,
    infra: InfrastructureKind,
    host_ports: &mut HashMap<u32, Span>,
) {
    let Some(entries) = bindings.as_mapping() else {
        if bindings.scalar().is_some()
            && (bindings.is_null() || classify_node(bindings) != ValueKind::Fixed)
        {
            return;
        }
        report.error(
            "wrong-type",
            format!(
                "`portBindings` must be a mapping of host port to container port, found {}",
                bindings.kind_name()
            ),
            bindings.span,
            "write `portBindings:` followed by `\"8080\": \"80\"` lines (host: container)",
        );
        return;
    };
    if infra == InfrastructureKind::KubernetesDirect && !entries.is_empty() {
        let example = entries
            .first()
            .and_then(|(_, value)| value.as_str())
            .unwrap_or("PORT");
        report.error("unsupported-on-infrastructure", "`portBindings` is not supported on KubernetesDirect infrastructure", bindings.span, format!("remove `portBindings`; steps in the same pod reach the service at `localhost:{example}`"));
        return;
    }
    for (key, value) in entries {
        let host_text = key.as_str().unwrap_or_default();
        if classify(host_text) == ValueKind::RuntimeInput {
            report_runtime_input_key(report, key, host_text);
        }
        let host = check_port(report, key, host_text, "host");
        match value.as_str() {
            Some(container_text) if !value.is_null() => {
                check_port(report, value, container_text, "container");
            }
            _ => report.error(
                "invalid-port",
                format!("host port `{host_text}` has no container port"),
                value.span,
                format!("write `\"{host_text}\": \"{host_text}\"` to use the same port"),
            ),
        }
        if let Some(host) = host {
            if let Some(first) = host_ports.get(&host) {
                report.push(
                    Diagnostic::error("duplicate-host-port", format!("host port `{host}` is bound twice in this stage"), key.span)
                        .with_label(*first, "first bound here")
                        .with_help("bind each host port once per stage; pick another host port and keep the container port"),
                );
            } else {
                host_ports.insert(host, key.span);
            }
        }
    }
}

/// Reports a `portBindings` key (a host port) written as a runtime input.
/// Input sets, `--input` and the runtime-input form supply values only, so
/// such a key never gets a value, and resolution keeps its text as written.
fn report_runtime_input_key(report: &mut Report, key: &Node, text: &str) {
    report.error(
        "invalid-port",
        format!("host port `{text}` is a runtime input, but a `portBindings` key cannot take one"),
        key.span,
        "a runtime input supplies a value, never a key: write the host port as a number, or declare a pipeline variable with the value `<+input>` and write the key as `\"<+pipeline.variables.NAME>\"`",
    );
}

/// Reports the entries of `portBindings` whose fixed host and container
/// ports differ on a step without `image`. On Cloud, VM or unnamed
/// infrastructure such a step runs on the machine itself, with no
/// container to forward the host port to, and `basso run` rejects it for
/// the same reason.
fn check_host_port_bindings(
    report: &mut Report,
    step: &Step<'_>,
    bindings: &Node,
    infra: InfrastructureKind,
) {
    let on_host = matches!(
        infra,
        InfrastructureKind::Cloud | InfrastructureKind::Vm | InfrastructureKind::Unknown
    );
    let Some(entries) = bindings.as_mapping().filter(|_| on_host) else {
        return;
    };
    let fixed_port = |node: &Node| {
        let text = node.as_str()?;
        let fixed = classify(text) == ValueKind::Fixed;
        fixed.then(|| text.trim().parse::<u32>().ok()).flatten()
    };
    for (key, value) in entries {
        let (Some(host), Some(container)) = (fixed_port(key), fixed_port(value)) else {
            continue;
        };
        if host == container {
            continue;
        }
        let message = format!(
            "step `{}` binds host port `{host}` to container port `{container}`, but without `image` it runs on the host, where no container port exists",
            step.identifier
        );
        let help = format!(
            "the service listens on the port its command opens: write `\"{host}\": \"{host}\"` if that is {host}, or add an `image`"
        );
        report.push(Diagnostic::warning("host-port-binding", message, key.span).with_help(help));
    }
}

/// Reports the fixed host ports of a Background step inside a loop that
/// the file fixes at more than one iteration. A service runs until the
/// stage ends, so the second iteration's service finds the port taken.
fn check_looped_host_ports(report: &mut Report, step: &Step<'_>, infra: InfrastructureKind) {
    if step.step_type != "Background" || infra == InfrastructureKind::KubernetesDirect {
        return;
    }
    let Some(entries) = step.spec_field("portBindings").and_then(Node::as_mapping) else {
        return;
    };
    let owners = std::iter::once(("step", step.identifier.as_str(), step.node)).chain(
        step.groups
            .iter()
            .rev()
            .map(|group| ("step group", group.identifier.as_str(), group.node)),
    );
    let Some((kind, identifier, owner, count)) = owners
        .filter_map(|(kind, identifier, node)| {
            let count = crate::pipeline::expansion::fixed_count(node)?;
            (count > 1).then_some((kind, identifier, node, count))
        })
        .next()
    else {
        return;
    };
    let loop_span = owner
        .entry("strategy")
        .map_or(owner.span, |(key, _)| key.span);
    for (key, _) in entries {
        let text = key.as_str().unwrap_or_default();
        if classify(text) != ValueKind::Fixed {
            continue;
        }
        let Ok(host @ 1..=65535) = text.trim().parse::<u32>() else {
            continue;
        };
        report.push(
            Diagnostic::error(
                "duplicate-host-port",
                format!("host port `{host}` is bound by each of the {count} iterations of {kind} `{identifier}`"),
                key.span,
            )
            .with_label(loop_span, "the loop that runs the service again")
            .with_help("a service runs until the stage ends, so the next iteration finds the port taken: move the Background step out of the loop, so that one service serves every iteration"),
        );
    }
}

pub(crate) fn check_run_as_user(report: &mut Report, node: &Node) {
    let Some(text) = node.as_str() else {
        report.error(
            "wrong-type",
            format!("`runAsUser` must be a user id, found {}", node.kind_name()),
            node.span,
            "write a numeric user id such as `1000`",
        );
        return;
    };
    if classify(text) != ValueKind::Fixed {
        return;
    }
    if !matches!(text.trim().parse::<i64>(), Ok(0..=2_147_483_647)) {
        report.error(
            "invalid-run-as-user",
            format!("invalid `runAsUser` `{text}`"),
            node.span,
            "write a numeric user id from 0 to 2147483647, such as `1000`",
        );
    }
}

pub(crate) fn check_resources(report: &mut Report, resources: &Node) {
    let Some(entries) = resources.as_mapping() else {
        report.error(
            "wrong-type",
            format!(
                "`resources` must be a mapping, found {}",
                resources.kind_name()
            ),
            resources.span,
            "write `resources: {limits: {memory: 500Mi, cpu: 400m}}`",
        );
        return;
    };
    if entries.is_empty() {
        report.error(
            "missing-field",
            "`resources` has neither `limits` nor `requests`",
            resources.span,
            "add `limits: {memory: 500Mi, cpu: 400m}`",
        );
    }
    check_unknown_keys(report, resources, &["limits", "requests"], "`resources`");
    for section in ["limits", "requests"] {
        let Some(limits) = resources.get(section) else {
            continue;
        };
        check_unknown_keys(
            report,
            limits,
            &["memory", "cpu"],
            &format!("`resources.{section}`"),
        );
        if let Some(memory) = limits.get("memory")
            && let Some(text) = memory.as_str()
            && classify(text) == ValueKind::Fixed
            && let Err(error) = parse_memory(text)
        {
            report.error("invalid-memory", format!("invalid memory `{text}`: {}", error.0), memory.span, "write an integer or fixed-point number with an optional suffix and no spaces: `500Mi`, `1Gi`, `512M`, `2G`");
        } else if let Some(memory) = limits.get("memory")
            && let Some(text) = memory.as_str()
            && classify(text) == ValueKind::Fixed
            && let Some(number) = text.trim().strip_suffix('m')
        {
            // Kubernetes reads `m` as one thousandth, so `500m` is half a
            // byte, and no container starts with that limit.
            report.warning(
                "invalid-memory",
                format!(
                    "memory `{text}` is {number} thousandths of a byte: the suffix `m` means milli"
                ),
                memory.span,
                format!("did you mean `{number}Mi` or `{number}M`?"),
            );
        } else if let Some(memory) = limits.get("memory")
            && let Some(text) = memory.as_str()
            && classify(text) == ValueKind::Fixed
            && parse_memory(text).is_ok_and(|bytes| bytes < MIN_CONTAINER_MEMORY)
        {
            report.warning(
                "memory-too-small",
                format!("memory `{text}` is less than 6Mi, too little for a container to start"),
                memory.span,
                "Docker's smallest memory limit is 6Mi; give the step at least that, such as `64Mi`",
            );
        }
        if let Some(cpu) = limits.get("cpu")
            && let Some(text) = cpu.as_str()
            && classify(text) == ValueKind::Fixed
            && let Err(error) = parse_cpu(text)
        {
            report.error(
                "invalid-cpu",
                format!("invalid cpu `{text}`: {}", error.0),
                cpu.span,
                "write cores or millicores: `0.5`, `2` or `500m`",
            );
        }
    }
}

/// Docker's smallest memory limit, 6 MiB. The kernel refuses a limit below
/// what the container's first process already uses, so runc cannot start a
/// container with much less.
const MIN_CONTAINER_MEMORY: u64 = 6 * 1024 * 1024;

/// The keys of an `outputVariables` entry: Harness's `OutputNGVariable`
/// model has `name` and `description`, and newer pipelines also write
/// `type` and `value`, the shell variable to read.
const OUTPUT_VARIABLE_KEYS: &[&str] = &["name", "type", "value", "description"];

/// The `type` values of an `outputVariables` entry. A `Secret` value is
/// masked in the log and the run summary once its step has finished.
const OUTPUT_VARIABLE_TYPES: &[&str] = &["String", "Number", "Secret"];

pub(crate) fn check_output_variables(report: &mut Report, outputs: &Node) {
    if !check_capability(
        report,
        outputs,
        "outputVariables",
        Capability::RuntimeInputOnly,
    ) {
        return;
    }
    let Some(items) = outputs.as_sequence() else {
        if !outputs.is_null() {
            report.error(
                "wrong-type",
                format!(
                    "`outputVariables` must be a list, found {}",
                    outputs.kind_name()
                ),
                outputs.span,
                "write `outputVariables:` followed by `- name: VAR` lines",
            );
        }
        return;
    };
    let mut seen: Vec<(&str, Span)> = Vec::new();
    for item in items {
        if item.as_mapping().is_some() {
            check_unknown_keys(report, item, OUTPUT_VARIABLE_KEYS, "an output variable");
        }
        if let Some(type_node) = item.get("type") {
            check_enum(
                report,
                type_node,
                "output variable type",
                OUTPUT_VARIABLE_TYPES,
                "unknown-variable-type",
            );
        }
        let Some(name_node) = item.get("name") else {
            report.error(
                "missing-field",
                "an output variable has no `name`",
                item.span,
                "write `- name: VAR`",
            );
            continue;
        };
        let name = name_node.as_str().unwrap_or_default();
        check_output_value(report, item, name);
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && name.chars().count() <= 128;
        if !valid {
            report.error(
                "invalid-output-variable",
                format!("invalid output variable name `{name}`"),
                name_node.span,
                "output variable names start with a letter or `_` and use letters, digits and `_`",
            );
        }
        if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
            report.push(
                Diagnostic::error(
                    "duplicate-output-variable",
                    format!("output variable `{name}` is listed twice"),
                    name_node.span,
                )
                .with_label(*first, "first listed here")
                .with_help("remove one of the two entries"),
            );
        } else {
            seen.push((name, name_node.span));
        }
    }
}

/// Warns about an output variable whose `value` names another shell
/// variable, because `basso run` reads the variable `name` itself.
// TODO: capture the shell variable that `value` names.
fn check_output_value(report: &mut Report, item: &Node, name: &str) {
    let Some(value_node) = item.get("value") else {
        return;
    };
    let Some(value) = text_of(value_node) else {
        return;
    };
    if value == name || value.is_empty() || classify(value) != ValueKind::Fixed {
        return;
    }
    report.warning(
        "output-value-ignored",
        format!(
            "`basso run` reads output variable `{name}` from the shell variable `{name}`, not from `{value}`"
        ),
        value_node.span,
        format!("also run `export {name}=\"${value}\"` at the end of the script"),
    );
}

/// Returns true when a shell name is valid; the list lives on [`Shell`].
pub fn is_shell(text: &str) -> bool {
    Shell::parse(text).is_some()
}

/// Returns true when an image pull policy is valid.
pub fn is_pull_policy(text: &str) -> bool {
    ImagePullPolicy::parse(text).is_some()
}

#[cfg(test)]
mod tests {
    use super::shell_env_name;

    #[test]
    fn env_name_fix_readable_by_shell() {
        assert_eq!(shell_env_name("1BAD"), "_1BAD");
        assert_eq!(shell_env_name("my-var"), "my_var");
        assert_eq!(shell_env_name("a.b"), "a_b");
    }
}
