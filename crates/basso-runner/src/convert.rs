//! Conversion from `basso-core`'s resolved pipeline into stage plans.
//!
//! The resolver lists a stage's steps flat, in execution order, each with
//! its full path (`fqn`) and the number of the innermost `parallel` block
//! around it. The plan tree is rebuilt from those: consecutive entries of
//! the same step group form a [`GroupPlan`], and consecutive entries that
//! share a `parallel` number form a [`Node::Parallel`].

use std::time::Duration;

use basso_core::pipeline::{GroupWhen, ResolvedStage, ResolvedStep, StageWhen, StepWhen};

use crate::plan::{
    GroupPlan, Iteration, Node, PortBinding, StagePlan, StatusRule, StepPlan, StepSpec, When,
};

/// Converts one resolved stage.
pub fn stage_plan(stage: &ResolvedStage) -> StagePlan {
    let steps: Vec<(Vec<String>, &ResolvedStep)> = stage
        .steps
        .iter()
        .map(|step| (group_path(step), step))
        .collect();
    StagePlan {
        id: stage.identifier.clone(),
        name: stage.name.clone(),
        when: stage.when.as_ref().map(stage_when),
        os: Some(stage.platform.os.clone()),
        arch: Some(stage.platform.arch.clone()),
        clone_codebase: stage.clone_codebase,
        timeout: stage.timeout_seconds.map(Duration::from_secs),
        shared_paths: stage.shared_paths.clone(),
        nodes: build_nodes(&steps, 0, None),
    }
}

/// Converts one resolved step.
pub fn step_plan(step: &ResolvedStep) -> StepPlan {
    let spec = StepSpec {
        image: step.image().map(str::to_string),
        shell: step.shell().map(|shell| shell.as_str().to_string()),
        command: step.command().map(str::to_string),
        entrypoint: step.entrypoint(),
        env: step.env_variables().into_iter().collect(),
        privileged: step.privileged(),
        report_paths: step.report_paths(),
        image_pull_policy: step
            .image_pull_policy()
            .map(|policy| policy.as_str().to_string()),
        port_bindings: step
            .port_bindings()
            .into_iter()
            .map(|(host, container)| PortBinding {
                host: host.to_string(),
                container: container.to_string(),
            })
            .collect(),
        run_as_user: step.run_as_user().map(|user| user.to_string()),
        has_resources: step.spec.get("resources").is_some(),
        memory_bytes: step.memory_bytes(),
        cpu_millis: step.cpu_millis(),
        connector_ref: step.connector_ref().map(str::to_string),
        host_name: step
            .endpoints
            .as_ref()
            .map(|endpoints| endpoints.hostname.clone()),
        output_variables: step.output_variables(),
        secret_output_variables: step.secret_output_variables(),
        secrets: step.secrets.clone(),
    };
    StepPlan {
        id: step.identifier.clone(),
        name: step.name.clone(),
        step_type: step.step_type.clone(),
        group_path: group_path(step),
        when: step.when.as_ref().map(step_when),
        timeout: step.timeout_seconds.map(Duration::from_secs),
        spec,
        iteration: step.strategy.as_ref().map(|strategy| Iteration {
            index: strategy.iteration,
            count: strategy.iterations,
            max_concurrency: strategy.max_concurrency.map(|limit| limit as usize),
        }),
        failure_strategies: step
            .failure_strategies
            .iter()
            .map(crate::failure::strategy)
            .collect(),
    }
}

/// Returns the step groups around a step, outermost first, from its `fqn`
/// (`pipeline.stages.S.spec.execution.steps.G.steps.ID`).
fn group_path(step: &ResolvedStep) -> Vec<String> {
    step.group_path().into_iter().map(str::to_string).collect()
}

/// Builds the nodes of `steps`, which all share the first `depth` groups
/// and the `parallel` block `outer`.
fn build_nodes(
    steps: &[(Vec<String>, &ResolvedStep)],
    depth: usize,
    outer: Option<u32>,
) -> Vec<Node> {
    // A unit is one step, or the consecutive steps of one group at `depth`.
    let mut units: Vec<&[(Vec<String>, &ResolvedStep)]> = Vec::new();
    let mut start = 0;
    while start < steps.len() {
        let group = steps[start].0.get(depth);
        let mut end = start + 1;
        if group.is_some() {
            while end < steps.len() && steps[end].0.get(depth) == group {
                end += 1;
            }
        }
        units.push(&steps[start..end]);
        start = end;
    }

    // Consecutive units that start in the same parallel block run together.
    let tag = |unit: &[(Vec<String>, &ResolvedStep)]| {
        unit[0].1.parallel.filter(|number| Some(*number) != outer)
    };
    let mut nodes = Vec::new();
    let mut index = 0;
    while index < units.len() {
        let parallel = tag(units[index]);
        let mut end = index + 1;
        if parallel.is_some() {
            while end < units.len() && tag(units[end]) == parallel {
                end += 1;
            }
        }
        // NOTE: a `parallel` block with a single step group is read as a
        // group whose steps run in parallel, because the flat list cannot
        // tell the two apart.
        let inside = if end - index > 1 {
            parallel.or(outer)
        } else {
            outer
        };
        let members: Vec<Node> = units[index..end]
            .iter()
            .map(|unit| unit_node(unit, depth, inside))
            .collect();
        if end - index > 1 {
            // A looped group's iterations among the members keep their own
            // `maxConcurrency`.
            let members = group_loops(members, LoopedNodes::Groups);
            let max_concurrency = units[index..end]
                .iter()
                .flat_map(|unit| unit.iter())
                .find_map(|(_, step)| step.strategy.as_ref()?.max_concurrency)
                .map(|limit| limit as usize);
            nodes.push(Node::Parallel {
                nodes: members,
                max_concurrency,
            });
        } else {
            nodes.extend(members);
        }
        index = end;
    }
    group_loops(nodes, LoopedNodes::All)
}

/// The looped nodes whose iterations [`group_loops`] puts together.
#[derive(Clone, Copy, PartialEq)]
enum LoopedNodes {
    All,
    /// Step groups only: inside a `parallel` block, a looped step's
    /// `maxConcurrency` applies to the whole block.
    Groups,
}

/// Puts the iterations of a looped step or step group into one
/// [`Node::Parallel`]: Harness runs them at the same time, up to
/// `maxConcurrency`.
fn group_loops(nodes: Vec<Node>, looped: LoopedNodes) -> Vec<Node> {
    let mut grouped = Vec::new();
    let mut pending: Vec<Node> = Vec::new();
    for node in nodes {
        let iteration = match &node {
            Node::Step(step) if looped == LoopedNodes::All => step.iteration,
            Node::Step(_) => None,
            Node::Group(group) => group.iteration,
            Node::Parallel { .. } => None,
        };
        match iteration {
            Some(Iteration {
                index: 0, count, ..
            }) if count > 1 => {
                grouped.append(&mut pending);
                pending.push(node);
            }
            Some(Iteration {
                index,
                count,
                max_concurrency,
            }) if index == pending.len() && !pending.is_empty() => {
                pending.push(node);
                if pending.len() == count {
                    grouped.push(Node::Parallel {
                        nodes: std::mem::take(&mut pending),
                        max_concurrency,
                    });
                }
            }
            _ => {
                grouped.append(&mut pending);
                grouped.push(node);
            }
        }
    }
    grouped.append(&mut pending);
    grouped
}

fn unit_node(unit: &[(Vec<String>, &ResolvedStep)], depth: usize, outer: Option<u32>) -> Node {
    let (path, step) = &unit[0];
    match path.get(depth) {
        Some(group) => Node::Group(GroupPlan {
            id: group.clone(),
            name: group.clone(),
            when: step
                .group_when
                .iter()
                .find(|when| when.step_group == *group)
                .map(group_when),
            failure_strategies: step
                .group_when
                .iter()
                .find(|when| when.step_group == *group)
                .map(|when| {
                    when.failure_strategies
                        .iter()
                        .map(crate::failure::strategy)
                        .collect()
                })
                .unwrap_or_default(),
            iteration: step
                .group_iterations
                .iter()
                .find(|iteration| iteration.step_group == *group)
                .map(|iteration| Iteration {
                    index: iteration.iteration,
                    count: iteration.iterations,
                    max_concurrency: iteration.max_concurrency.map(|limit| limit as usize),
                }),
            nodes: build_nodes(unit, depth + 1, outer),
        }),
        _ => Node::Step(Box::new(step_plan(step))),
    }
}

fn status_rule(text: &str) -> StatusRule {
    match text {
        "Failure" => StatusRule::Failure,
        "All" => StatusRule::All,
        _ => StatusRule::Success,
    }
}

fn stage_when(when: &StageWhen) -> When {
    When {
        status: status_rule(&when.pipeline_status),
        condition: when.condition.clone(),
        condition_span: Some(when.condition_span).filter(|span| span.line > 0),
    }
}

fn step_when(when: &StepWhen) -> When {
    When {
        status: status_rule(&when.stage_status),
        condition: when.condition.clone(),
        condition_span: Some(when.condition_span).filter(|span| span.line > 0),
    }
}

fn group_when(when: &GroupWhen) -> When {
    When {
        status: status_rule(&when.stage_status),
        condition: when.condition.clone(),
        condition_span: Some(when.condition_span).filter(|span| span.line > 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(fqn_tail: &str, parallel: Option<u32>) -> ResolvedStep {
        let identifier = fqn_tail.rsplit(".steps.").next().unwrap().to_string();
        let json = serde_json::json!({
            "identifier": identifier,
            "name": identifier,
            "type": "Run",
            "fqn": format!("pipeline.stages.s.spec.execution.steps.{fqn_tail}"),
            "stepGroup": null,
            "parallel": parallel,
            "when": null,
            "timeoutSeconds": 30,
            "spec": {"command": "echo"},
            "effective": {"command": "echo", "shell": "Bash", "portBindings": {"8080": "8080"}},
            "endpoints": null,
            "secrets": [],
            "strategy": null
        });
        serde_json::from_value(json).unwrap()
    }

    fn shape(nodes: &[Node]) -> String {
        let parts: Vec<String> = nodes
            .iter()
            .map(|node| match node {
                Node::Step(step) => step.id.clone(),
                Node::Parallel { nodes, .. } => format!("par({})", shape(nodes)),
                Node::Group(group) => format!("{}[{}]", group.id, shape(&group.nodes)),
            })
            .collect();
        parts.join(" ")
    }

    fn build(steps: Vec<ResolvedStep>) -> String {
        let paths: Vec<(Vec<String>, &ResolvedStep)> =
            steps.iter().map(|s| (group_path(s), s)).collect();
        shape(&build_nodes(&paths, 0, None))
    }

    #[test]
    fn sequence_parallel_and_groups() {
        let steps = vec![
            step("a", None),
            step("b", Some(1)),
            step("c", Some(1)),
            step("g.steps.d", Some(1)),
            step("g.steps.e", Some(1)),
            step("h.steps.f", None),
            step("h.steps.i.steps.j", None),
            step("k", Some(2)),
            step("l", Some(3)),
        ];
        assert_eq!(build(steps), "a par(b c g[d e]) h[f i[j]] k l");
    }

    #[test]
    fn parallel_inside_group() {
        let steps = vec![
            step("g.steps.a", Some(1)),
            step("g.steps.b", Some(1)),
            step("c", None),
        ];
        assert_eq!(build(steps), "g[par(a b)] c");
    }

    #[test]
    fn loop_iterations_run_in_parallel() {
        let mut steps = Vec::new();
        for index in 0..3 {
            let mut looped = step(&format!("t_{index}"), None);
            looped.strategy = Some(
                serde_json::from_value(serde_json::json!({
                    "iteration": index, "iterations": 3, "identifierPostFix": format!("_{index}"),
                    "matrix": {}, "item": null, "maxConcurrency": 2
                }))
                .unwrap(),
            );
            steps.push(looped);
        }
        steps.push(step("after", None));
        assert_eq!(build(steps.clone()), "par(t_0 t_1 t_2) after");

        let paths: Vec<(Vec<String>, &ResolvedStep)> =
            steps.iter().map(|s| (group_path(s), s)).collect();
        let nodes = build_nodes(&paths, 0, None);
        let Node::Parallel {
            max_concurrency, ..
        } = &nodes[0]
        else {
            panic!("not parallel")
        };
        assert_eq!(*max_concurrency, Some(2));
    }

    /// Resolves a Harness Cloud stage whose execution `steps` are written
    /// with two spaces per level, and returns the shape of its plan.
    fn resolved_shape(steps: &str) -> String {
        shape(&resolved_plan(steps).nodes)
    }

    /// Resolves a Harness Cloud stage as [`resolved_shape`] does, and returns
    /// its plan.
    fn resolved_plan(steps: &str) -> StagePlan {
        let steps: String = steps
            .lines()
            .map(|line| format!("              {line}\n"))
            .collect();
        let source = format!(
            "pipeline:
  name: p
  identifier: p
  stages:
    - stage:
        name: s
        identifier: s
        type: CI
        spec:
          platform: {{os: Linux, arch: Amd64}}
          runtime: {{type: Cloud, spec: {{}}}}
          execution:
            steps:
{steps}"
        );
        let resolution =
            basso_core::pipeline::resolve(&source, "p.yaml", &[], &[], &serde_json::json!({}));
        assert!(
            resolution.diagnostics.iter().all(|d| !d.is_error()),
            "{:#?}",
            resolution.diagnostics
        );
        stage_plan(&resolution.stages[0])
    }

    const LOOPED_GROUP: &str = "stepGroup:
  name: g
  identifier: g
  strategy:
    parallelism: 2
  steps:
    - step: {type: Run, name: a, identifier: a, spec: {command: echo a}}
    - step: {type: Run, name: b, identifier: b, spec: {command: echo b}}";

    #[test]
    fn looped_group_iterations_in_parallel() {
        let steps = format!("- {}", LOOPED_GROUP.replace('\n', "\n  "));
        assert_eq!(resolved_shape(&steps), "par(g_0[a b] g_1[a b])");
    }

    #[test]
    fn looped_group_max_concurrency_kept() {
        let group = LOOPED_GROUP.replace(
            "parallelism: 2",
            "repeat: {items: [x, y, z], maxConcurrency: 2}",
        );
        let steps = format!(
            "- {}\n- step: {{type: Run, name: c, identifier: c, spec: {{command: echo c}}}}",
            group.replace('\n', "\n  ")
        );
        let nodes = resolved_plan(&steps).nodes;
        assert_eq!(shape(&nodes), "par(g_0[a b] g_1[a b] g_2[a b]) c");
        let Node::Parallel {
            max_concurrency, ..
        } = &nodes[0]
        else {
            panic!("expected a parallel node: {}", shape(&nodes));
        };
        assert_eq!(*max_concurrency, Some(2));
    }

    #[test]
    fn looped_group_in_parallel_block() {
        let steps = format!(
            "- parallel:\n    - {}\n    - step: {{type: Run, name: c, identifier: c, spec: {{command: echo c}}}}",
            LOOPED_GROUP.replace('\n', "\n      ")
        );
        assert_eq!(resolved_shape(&steps), "par(par(g_0[a b] g_1[a b]) c)");
    }

    #[test]
    fn looped_group_in_parallel_block_keeps_limit() {
        let group = LOOPED_GROUP.replace(
            "parallelism: 2",
            "repeat: {items: [x, y], maxConcurrency: 1}",
        );
        let steps = format!(
            "- parallel:\n    - {}\n    - step: {{type: Run, name: c, identifier: c, spec: {{command: echo c}}}}",
            group.replace('\n', "\n      ")
        );
        let nodes = resolved_plan(&steps).nodes;
        assert_eq!(shape(&nodes), "par(par(g_0[a b] g_1[a b]) c)");
        let Node::Parallel {
            nodes: members,
            max_concurrency,
        } = &nodes[0]
        else {
            panic!("expected a parallel node: {}", shape(&nodes));
        };
        assert_eq!(
            *max_concurrency, None,
            "the block runs all its members at once"
        );
        let Node::Parallel {
            max_concurrency, ..
        } = &members[0]
        else {
            panic!(
                "expected the group's iterations together: {}",
                shape(&nodes)
            );
        };
        assert_eq!(*max_concurrency, Some(1));
    }

    #[test]
    fn looped_group_with_inner_parallel() {
        let steps = "- stepGroup:
    name: g
    identifier: g
    strategy:
      repeat: {items: [x, y]}
    steps:
      - parallel:
          - step: {type: Run, name: a, identifier: a, spec: {command: echo a}}
          - step: {type: Run, name: b, identifier: b, spec: {command: echo b}}
      - step: {type: Run, name: c, identifier: c, spec: {command: echo c}}";
        assert_eq!(
            resolved_shape(steps),
            "par(g_0[par(a b) c] g_1[par(a b) c])"
        );
    }

    #[test]
    fn step_fields_converted() {
        let plan = step_plan(&step("g.steps.a", None));
        assert_eq!(plan.group_path, vec!["g".to_string()]);
        assert_eq!(plan.path(), "g.a");
        assert_eq!(plan.timeout, Some(Duration::from_secs(30)));
        assert_eq!(plan.spec.shell.as_deref(), Some("Bash"));
        assert_eq!(plan.spec.port_bindings[0].host, "8080");
    }

    #[test]
    fn limits_connector_and_host_name_converted() {
        let mut resolved = step("g.steps.db", None);
        resolved.effective = serde_json::json!({
            "image": "postgres:15",
            "connectorRef": "account.dockerhub",
            "resources": {"limits": {"memory": "256Mi", "cpu": "500m"}}
        })
        .into();
        resolved.endpoints = Some(
            serde_json::from_value(serde_json::json!({
                "hostname": "g_db",
                "container": [],
                "host": [],
                "pod": []
            }))
            .unwrap(),
        );
        let plan = step_plan(&resolved);
        assert_eq!(plan.spec.memory_bytes, Some(256 << 20));
        assert_eq!(plan.spec.cpu_millis, Some(500));
        assert_eq!(
            plan.spec.connector_ref.as_deref(),
            Some("account.dockerhub")
        );
        assert_eq!(plan.spec.host_name.as_deref(), Some("g_db"));
    }
}
