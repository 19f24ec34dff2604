//! Conversion from basso-core's resolved stage, with spans looked up in the
//! pipeline file's YAML tree so diagnostics point at `file:line:col`.

use basso_core::Span;
use basso_core::pipeline::locate::{self, StepNode, identifier_span, setting_span, setting_spans};
use basso_core::pipeline::yaml::Node;
use basso_core::pipeline::{InfrastructureKind, ResolvedStage, ResolvedStep, json_text};

use crate::model::{
    GroupWhen, PortBinding, Stage, StageWhen, Step, StepFailureStrategy, StepKind, When,
};

/// Converts one resolved stage of pipeline `pipeline_id`. `source` is the
/// pipeline file's YAML tree and the name to print for it, when there is one.
pub fn stage_from_resolved(
    pipeline_id: &str,
    resolved: &ResolvedStage,
    source: Option<(&Node, &str)>,
) -> Stage {
    let stage_node = source.and_then(|(root, _)| locate::stage_node(root, resolved));
    let step_nodes = stage_node.map(locate::step_nodes).unwrap_or_default();
    let stage_span = stage_node.map_or_else(Span::default, identifier_span);

    let steps = resolved
        .steps
        .iter()
        .map(|step| {
            let found = locate::find_step(&step_nodes, step);
            let mut converted = step_from_resolved(step, found.map(|found| found.node));
            if let Some(found) = found {
                set_group_when_spans(&mut converted, &found.groups);
            }
            converted.failure_strategies = failure_strategies(step, found, stage_node);
            converted
        })
        .collect();
    let shared_paths = shared_paths(resolved, stage_node);
    let declares_arch = stage_node
        .and_then(|node| node.get("spec")?.get("platform")?.get("arch"))
        .is_some();
    let kubernetes = resolved.infrastructure.kind == InfrastructureKind::KubernetesDirect;
    let infra_spec_node =
        stage_node.and_then(|node| node.get("spec")?.get("infrastructure")?.get("spec"));
    let infrastructure_spans = infra_spec_node
        .and_then(Node::as_mapping)
        .unwrap_or(&[])
        .iter()
        .filter_map(|(key, _)| {
            let name = key.as_str()?;
            Some((name.to_string(), setting_span(infra_spec_node?, name)?))
        })
        .collect();
    let when = resolved.when.as_ref().map(|when| StageWhen {
        pipeline_status: when.pipeline_status.clone(),
        condition: when.condition.clone(),
        span: stage_node
            .and_then(|node| node.entry("when"))
            .map_or(stage_span, |(key, _)| key.span),
    });

    Stage {
        pipeline_id: pipeline_id.to_string(),
        id: resolved.identifier.clone(),
        name: resolved.name.clone(),
        file: source.map(|(_, file)| file.to_string()),
        span: stage_span,
        os: Some(resolved.platform.os.clone()),
        arch: (declares_arch || source.is_none()).then(|| resolved.platform.arch.clone()),
        namespace: resolved
            .infrastructure
            .namespace
            .clone()
            .filter(|_| kubernetes),
        namespace_span: infra_spec_node
            .and_then(|node| setting_span(node, "namespace"))
            .unwrap_or(stage_span),
        infrastructure: if kubernetes {
            resolved.infrastructure.spec.clone()
        } else {
            serde_json::Value::Null
        },
        infrastructure_spans,
        clone_codebase: resolved.clone_codebase,
        when,
        shared_paths,
        timeout_seconds: resolved.timeout_seconds,
        steps,
    }
}

fn step_from_resolved(step: &ResolvedStep, node: Option<&Node>) -> Step {
    let kind = match step.step_type.as_str() {
        "Background" => StepKind::Background,
        "Run" => StepKind::Run,
        other => StepKind::Other(other.to_string()),
    };
    let effective_text = |key: &str| {
        step.effective_value(key)
            .map(json_text)
            .filter(|t| !t.is_empty())
    };
    // The infrastructure's defaults in `effective` are not settings the
    // user gave, so the pull policy is taken from `spec` as written.
    let spec_text = |key: &str| step.spec.get(key).map(json_text).filter(|t| !t.is_empty());
    let limit = |key: &str| {
        let value = step.spec.get("resources")?.get("limits")?.get(key)?;
        Some(json_text(value)).filter(|t| !t.is_empty())
    };
    let resource_requests = step
        .spec
        .get("resources")
        .and_then(|resources| resources.get("requests")?.as_object())
        .into_iter()
        .flatten()
        .filter(|(_, value)| !value.is_null())
        .map(|(name, value)| (name.clone(), json_text(value)))
        .collect();
    let port_bindings = step
        .port_bindings()
        .into_iter()
        .map(|(host, container)| PortBinding {
            host_port: host.to_string(),
            container_port: container.to_string(),
        })
        .collect();
    let entrypoint = step.entrypoint();

    Step {
        id: step.identifier.clone(),
        name: step.name.clone(),
        kind,
        step_group: step.step_group.clone(),
        parallel_group: step.parallel,
        when: step.when.as_ref().map(|when| When {
            stage_status: when.stage_status.clone(),
            condition: when.condition.clone(),
        }),
        group_when: step
            .group_when
            .iter()
            .map(|group| GroupWhen {
                step_group: group.step_group.clone(),
                when: When {
                    stage_status: group.stage_status.clone(),
                    condition: group.condition.clone(),
                },
                span: node.map_or_else(Span::default, identifier_span),
            })
            .collect(),
        timeout_seconds: step.timeout_seconds,
        image: step.image().map(str::to_string),
        connector_ref: step.connector_ref().map(str::to_string),
        shell: effective_text("shell"),
        command: step.command().map(str::to_string),
        entrypoint: (!entrypoint.is_empty()).then_some(entrypoint),
        env_variables: step.env_variables().into_iter().collect(),
        env_name_spans: node.map(env_name_spans).unwrap_or_default(),
        // As written, because a step's own `privileged: false` overrides the
        // infrastructure's `containerSecurityContext`.
        privileged: step
            .spec
            .get("privileged")
            .and_then(serde_json::Value::as_bool),
        run_as_user: step.run_as_user(),
        limit_memory: limit("memory"),
        limit_cpu: limit("cpu"),
        resource_requests,
        image_pull_policy: spec_text("imagePullPolicy"),
        port_bindings,
        report_paths: step.report_paths(),
        output_variables: step.output_variables(),
        failure_strategies: Vec::new(),
        span: node.map_or_else(Span::default, identifier_span),
        setting_spans: node.map(setting_spans).unwrap_or_default(),
    }
}

fn env_name_spans(node: &Node) -> Vec<(String, Span)> {
    let entries = node
        .get("spec")
        .and_then(|spec| spec.get("envVariables")?.as_mapping())
        .unwrap_or(&[]);
    entries
        .iter()
        .filter_map(|(key, _)| Some((key.as_str()?.to_string(), key.span)))
        .collect()
}

/// Pairs each resolved shared path with the span of the entry it comes
/// from, so that a warning about it points where the resolution's does.
/// Resolution drops empty entries, so they are left out here too. When the
/// entries still do not match the paths one to one, as with one runtime
/// input for the whole list, a path points at the fixed entry of its text,
/// else at the `sharedPaths` value.
fn shared_paths(resolved: &ResolvedStage, stage_node: Option<&Node>) -> Vec<(String, Span)> {
    let node = stage_node.and_then(|node| node.get("spec")?.get("sharedPaths"));
    let whole = node.map_or_else(Span::default, |node| node.span);
    let items: Vec<&Node> = node
        .and_then(Node::as_sequence)
        .unwrap_or(&[])
        .iter()
        .filter(|item| !(item.is_null() || item.as_str().is_some_and(str::is_empty)))
        .collect();
    let one_to_one = items.len() == resolved.shared_paths.len();
    resolved
        .shared_paths
        .iter()
        .enumerate()
        .map(|(index, path)| {
            let span = if one_to_one {
                items[index].span
            } else {
                items
                    .iter()
                    .find(|item| item.as_str().is_some_and(|text| text.trim() == path.trim()))
                    .map_or(whole, |item| item.span)
            };
            (path.clone(), span)
        })
        .collect()
}

/// Pairs the step's failure strategies with the spans of the entries that
/// declare them: the step's, its groups' from the innermost out, then the
/// stage's, the order in which resolution lists them. When the written
/// entries do not match the resolved list one to one, as with a runtime
/// input, every strategy points at the first `failureStrategies` key found.
fn failure_strategies(
    step: &ResolvedStep,
    found: Option<&StepNode<'_>>,
    stage_node: Option<&Node>,
) -> Vec<StepFailureStrategy> {
    let owners = found
        .map(|found| std::iter::once(found.node).chain(found.groups.iter().rev().copied()))
        .into_iter()
        .flatten()
        .chain(stage_node);
    let mut entry_spans = Vec::new();
    let mut first_key = None;
    for owner in owners {
        let Some((key, value)) = owner.entry("failureStrategies") else {
            continue;
        };
        first_key.get_or_insert(key.span);
        for item in value.as_sequence().unwrap_or(&[]) {
            let action_type = item
                .get("onFailure")
                .and_then(|on_failure| on_failure.get("action")?.get("type"));
            entry_spans.push(action_type.map_or(item.span, |node| node.span));
        }
    }
    let fallback =
        first_key.unwrap_or_else(|| found.map_or_else(Span::default, |f| identifier_span(f.node)));
    let matched = entry_spans.len() == step.failure_strategies.len();
    step.failure_strategies
        .iter()
        .enumerate()
        .map(|(index, strategy)| StepFailureStrategy {
            strategy: strategy.clone(),
            span: if matched {
                entry_spans[index]
            } else {
                fallback
            },
        })
        .collect()
}

/// Points each group `when` of `step` at the `when` key of its group node.
/// The resolved entries are the groups whose `when` is a mapping, in the
/// same order.
fn set_group_when_spans(step: &mut Step, groups: &[&Node]) {
    let with_when = groups.iter().filter_map(|group| {
        let (key, value) = group.entry("when")?;
        value.as_mapping().map(|_| key.span)
    });
    for (entry, span) in step.group_when.iter_mut().zip(with_when) {
        entry.span = span;
    }
}
