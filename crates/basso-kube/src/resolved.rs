//! Conversion from basso-core's resolved stage, with spans looked up in the
//! pipeline file's YAML tree so diagnostics point at `file:line:col`.

use basso_core::Span;
use basso_core::pipeline::yaml::Node;
use basso_core::pipeline::{InfrastructureKind, ResolvedStage, ResolvedStep, json_text};

use crate::model::{
    GroupWhen, PortBinding, Stage, StageWhen, Step, StepFailureStrategy, StepKind, When,
};

/// Step settings whose value span diagnostics point at, by YAML key under
/// `spec`.
const SPEC_KEYS: [&str; 13] = [
    "image",
    "connectorRef",
    "shell",
    "command",
    "entrypoint",
    "envVariables",
    "imagePullPolicy",
    "portBindings",
    "reports",
    "outputVariables",
    "resources",
    "privileged",
    "runAsUser",
];
/// Step settings beside `spec`.
const STEP_KEYS: [&str; 2] = ["when", "timeout"];

/// Converts one resolved stage of pipeline `pipeline_id`. `source` is the
/// pipeline file's YAML tree and the name to print for it, when there is one.
pub fn stage_from_resolved(
    pipeline_id: &str,
    resolved: &ResolvedStage,
    source: Option<(&Node, &str)>,
) -> Stage {
    let stage_node = source.and_then(|(root, _)| {
        find_stage(
            root,
            written_id(&resolved.identifier, resolved.strategy.as_ref()),
        )
    });
    let step_nodes = stage_node.map(step_nodes).unwrap_or_default();
    let stage_span = stage_node.map_or_else(Span::default, identifier_span);

    let steps = resolved
        .steps
        .iter()
        .map(|step| {
            let found = find_step(&step_nodes, step);
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

/// Returns the identifier as written in the file, because looped stages and
/// steps carry an iteration suffix that the YAML does not.
fn written_id<'a>(
    identifier: &'a str,
    strategy: Option<&basso_core::pipeline::Iteration>,
) -> &'a str {
    strategy
        .and_then(|iteration| identifier.strip_suffix(iteration.identifier_post_fix.as_str()))
        .unwrap_or(identifier)
}

fn identifier_span(node: &Node) -> Span {
    node.get("identifier").map_or(node.span, |id| id.span)
}

fn setting_spans(node: &Node) -> Vec<(&'static str, Span)> {
    let spec = node.get("spec");
    let in_spec = SPEC_KEYS
        .iter()
        .filter_map(|key| Some((*key, setting_span(spec?, key)?)));
    let beside_spec = STEP_KEYS
        .iter()
        .filter_map(|key| Some((*key, setting_span(node, key)?)));
    in_spec.chain(beside_spec).collect()
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

/// Returns the span of a scalar setting's value, or of the key when the
/// value is a mapping or list, which would underline many lines.
fn setting_span(owner: &Node, key: &str) -> Option<Span> {
    let (key_node, value) = owner.entry(key)?;
    Some(if value.scalar().is_some() {
        value.span
    } else {
        key_node.span
    })
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

/// Finds `pipeline.stages[*].stage` (also inside `parallel`) by identifier.
fn find_stage<'a>(root: &'a Node, identifier: &str) -> Option<&'a Node> {
    let stages = root.get("pipeline")?.get("stages")?.as_sequence()?;
    find_in_stage_list(stages, identifier)
}

fn find_in_stage_list<'a>(items: &'a [Node], identifier: &str) -> Option<&'a Node> {
    for item in items {
        if let Some(stage) = item.get("stage")
            && stage.get("identifier").and_then(Node::as_str) == Some(identifier)
        {
            return Some(stage);
        }
        if let Some(found) = item
            .get("parallel")
            .and_then(Node::as_sequence)
            .and_then(|inner| find_in_stage_list(inner, identifier))
        {
            return Some(found);
        }
    }
    None
}

/// A step node with the step groups around it.
struct StepNode<'a> {
    /// The innermost group's identifier.
    group: Option<String>,
    node: &'a Node,
    /// The group nodes around the step, outermost first.
    groups: Vec<&'a Node>,
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

fn step_nodes(stage: &Node) -> Vec<StepNode<'_>> {
    let mut found = Vec::new();
    if let Some(items) = stage
        .get("spec")
        .and_then(|spec| spec.get("execution")?.get("steps")?.as_sequence())
    {
        collect_steps(items, &mut Vec::new(), &mut found);
    }
    found
}

/// Collects the step nodes of `items`, which lie inside the group nodes
/// `groups` (outermost first).
fn collect_steps<'a>(items: &'a [Node], groups: &mut Vec<&'a Node>, found: &mut Vec<StepNode<'a>>) {
    for item in items {
        if let Some(step) = item.get("step") {
            let group = groups
                .iter()
                .rev()
                .find_map(|group| group.get("identifier").and_then(Node::as_str));
            found.push(StepNode {
                group: group.map(str::to_string),
                node: step,
                groups: groups.clone(),
            });
        }
        if let Some(inner) = item.get("parallel").and_then(Node::as_sequence) {
            collect_steps(inner, groups, found);
        }
        if let Some(step_group) = item.get("stepGroup")
            && let Some(inner) = step_group.get("steps").and_then(Node::as_sequence)
        {
            groups.push(step_group);
            collect_steps(inner, groups, found);
            groups.pop();
        }
    }
}

fn find_step<'n, 'a>(nodes: &'n [StepNode<'a>], step: &ResolvedStep) -> Option<&'n StepNode<'a>> {
    let identifier = written_id(&step.identifier, step.strategy.as_ref());
    let mut same_id = nodes.iter().filter(|candidate| {
        candidate.node.get("identifier").and_then(Node::as_str) == Some(identifier)
    });
    let exact = same_id
        .clone()
        .find(|candidate| candidate.group == step.step_group);
    exact.or_else(|| {
        same_id.find(|candidate| in_looped_group(candidate, step.step_group.as_deref()))
    })
}

/// Returns whether `resolved_group`, such as `checks_0`, is an iteration of
/// the looped step group around `candidate`, such as `checks`. The resolved
/// step names only its innermost group, with the suffix `_` plus the index
/// or `nodeName`, so the identifier before that suffix is compared.
fn in_looped_group(candidate: &StepNode<'_>, resolved_group: Option<&str>) -> bool {
    let (Some(written), Some(resolved)) = (candidate.group.as_deref(), resolved_group) else {
        return false;
    };
    let looped = candidate
        .groups
        .last()
        .is_some_and(|group| group.get("strategy").is_some());
    looped
        && resolved
            .strip_prefix(written)
            .is_some_and(|suffix| suffix.starts_with('_'))
}
