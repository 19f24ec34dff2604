//! The cap on how many stages and steps a pipeline's loops expand to.
//! [`MAX_ITERATIONS`] bounds each strategy, but a looped step inside a
//! looped step group inside a looped stage runs the product of the three
//! counts, so a short file could otherwise expand to millions of nodes.
//! Stages and steps outside every loop do not count, because the file-size
//! limit of the YAML loader already bounds them.

use smallvec::SmallVec;

use crate::diagnostic::Span;
use crate::pipeline::field::{ValueKind, classify_node};
use crate::pipeline::model::{Pipeline, Report};
use crate::pipeline::strategy::{self, MAX_ITERATIONS};
use crate::pipeline::yaml::Node;

/// Maximum number of stages and steps that one pipeline's loops may expand
/// to: every iteration of a looped stage or step, and every step inside a
/// looped stage or step group. Resolution builds about 8.5 KB per resolved
/// step (an estimate from `basso resolve --format json` on nested
/// matrices), so the cap keeps the looped part of a resolution near 100 MB.
pub const MAX_EXPANDED_NODES: usize = 10_000;

/// The expansion of a pipeline's loops whose counts the file fixes.
#[derive(Debug, Default)]
pub struct Expansion {
    /// Stages and steps inside loops after expansion. A loop whose count
    /// comes from an expression or a runtime input counts once.
    pub total: u64,
    /// The first stage or step whose iterations bring `total` over
    /// [`MAX_EXPANDED_NODES`].
    pub crossing: Option<Crossing>,
}

/// The stage or step at which the expansion crosses the cap.
#[derive(Debug)]
pub struct Crossing {
    /// The `strategy` of the innermost loop around that stage or step.
    pub span: Span,
    /// The node's count with its factors, such as
    /// "step `test` runs 2000 times: stage `build` × 20, step `test` × 100".
    pub description: String,
}

/// Returns the number of iterations `owner`'s strategy expands to when the
/// file fixes it. Returns 1 for a node without a strategy and `None` for a
/// strategy whose count depends on an expression or a runtime input, or
/// that validation rejects.
pub fn fixed_count(owner: &Node) -> Option<usize> {
    let Some(strategy) = owner.get("strategy") else {
        return Some(1);
    };
    if let Some(matrix) = strategy.get("matrix") {
        let mut product: usize = 1;
        for (key, axis) in matrix.as_mapping()? {
            if strategy::MATRIX_KEYS.contains(&key.as_str().unwrap_or_default()) {
                continue;
            }
            product = product.saturating_mul(axis.as_sequence()?.len());
        }
        if !(1..=MAX_ITERATIONS).contains(&product) {
            return None;
        }
        if matrix.get("exclude").is_none() {
            return Some(product);
        }
        return strategy::expand(strategy, &mut |_, _| None)
            .ok()
            .map(|iterations| iterations.len());
    }
    if let Some(repeat) = strategy.get("repeat") {
        if let Some(items) = repeat.get("items") {
            return items.as_sequence().map(<[Node]>::len).filter(|n| *n > 0);
        }
        return fixed_number(repeat.get("times")?);
    }
    fixed_number(strategy.get("parallelism")?)
}

fn fixed_number(node: &Node) -> Option<usize> {
    if classify_node(node) != ValueKind::Fixed {
        return None;
    }
    node.as_str()?
        .trim()
        .parse()
        .ok()
        .filter(|count| (1..=MAX_ITERATIONS).contains(count))
}

/// A stage, step group or step around a step, with its number of
/// iterations.
struct Factor<'n> {
    kind: &'static str,
    identifier: &'n str,
    node: &'n Node,
    count: usize,
}

impl<'n> Factor<'n> {
    fn new(kind: &'static str, identifier: &'n str, node: &'n Node) -> Self {
        Factor {
            kind,
            identifier,
            node,
            count: fixed_count(node).unwrap_or(1),
        }
    }

    /// Returns whether the node has a strategy that resolution expands.
    fn loops(&self) -> bool {
        self.node
            .get("strategy")
            .is_some_and(|strategy| strategy.as_mapping().is_some())
    }
}

/// Counts the looped stages and steps that `pipeline` expands to, the way
/// resolution expands them: CI stages that are not templates, and their
/// steps that are not templates.
pub fn count(pipeline: &Pipeline<'_>) -> Expansion {
    let mut expansion = Expansion::default();
    for stage in &pipeline.stages {
        if !stage.is_ci() || stage.get("template").is_some() {
            continue;
        }
        let stage_factor = Factor::new("stage", &stage.identifier, stage.node);
        expansion.add("stage", &[&stage_factor]);
        for step in &stage.steps {
            if step.get("template").is_some() {
                continue;
            }
            let group_factors: Vec<Factor<'_>> = step
                .groups
                .iter()
                .map(|group| Factor::new("step group", &group.identifier, group.node))
                .collect();
            let step_factor = Factor::new("step", &step.identifier, step.node);
            // A step seldom sits in more than two groups, so the list stays
            // on the stack instead of taking an allocation for each step.
            let mut factors: SmallVec<[&Factor<'_>; 4]> = SmallVec::new();
            factors.push(&stage_factor);
            factors.extend(&group_factors);
            factors.push(&step_factor);
            expansion.add("step", &factors);
        }
    }
    expansion
}

impl Expansion {
    /// Adds the copies of the last of `factors`, which runs once per
    /// iteration of each of them, when any of them loops.
    fn add(&mut self, kind: &str, factors: &[&Factor<'_>]) {
        if !factors.iter().any(|factor| factor.loops()) {
            return;
        }
        self.total = self.total.saturating_add(runs(factors));
        if self.total > MAX_EXPANDED_NODES as u64 && self.crossing.is_none() {
            self.crossing = Some(crossing(kind, factors));
        }
    }
}

fn runs(factors: &[&Factor<'_>]) -> u64 {
    factors.iter().fold(1u64, |runs, factor| {
        runs.saturating_mul(factor.count as u64)
    })
}

fn crossing(kind: &str, factors: &[&Factor<'_>]) -> Crossing {
    let node = factors.last().expect("a crossing has its own node");
    let loops: Vec<&&Factor<'_>> = factors.iter().filter(|f| f.count > 1).collect();
    let parts: Vec<String> = loops
        .iter()
        .map(|f| format!("{} `{}` × {}", f.kind, f.identifier, f.count))
        .collect();
    let span = loops
        .last()
        .and_then(|f| f.node.get("strategy"))
        .map_or(node.node.span, |strategy| strategy.span);
    Crossing {
        span,
        description: format!(
            "{kind} `{}` runs {} times: {}",
            node.identifier,
            runs(factors),
            parts.join(", ")
        ),
    }
}

/// Reports an error at the loop that brings `pipeline` over
/// [`MAX_EXPANDED_NODES`] looped stages and steps.
pub fn check(report: &mut Report, pipeline: &Pipeline<'_>) {
    let expansion = count(pipeline);
    let Some(crossing) = expansion.crossing else {
        return;
    };
    report.error(
        "invalid-strategy",
        format!(
            "the loops expand the pipeline to {} stages and steps, more than the limit of {MAX_EXPANDED_NODES}",
            expansion.total
        ),
        crossing.span,
        format!(
            "{}; reduce the matrix axes or loop counts, or split the pipeline",
            crossing.description
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{check as check_file, resolve};

    /// Builds a pipeline with one stage looped by `stage_strategy` and one step
    /// looped by `step_strategy`, each a flow mapping.
    fn looped(stage_strategy: &str, step_strategy: &str) -> String {
        format!(
            "pipeline:\n  name: p\n  identifier: p\n  stages:\n    - stage:\n        name: s\n        identifier: s\n        type: CI\n        strategy: {stage_strategy}\n        spec:\n          platform: {{os: Linux, arch: Amd64}}\n          runtime: {{type: Docker, spec: {{}}}}\n          execution:\n            steps:\n              - step:\n                  type: Run\n                  name: c\n                  identifier: c\n                  strategy: {step_strategy}\n                  spec:\n                    shell: Sh\n                    command: echo hi\n"
        )
    }

    fn strategy_errors(diagnostics: &[crate::Diagnostic]) -> Vec<&crate::Diagnostic> {
        diagnostics
            .iter()
            .filter(|d| d.code == "invalid-strategy")
            .collect()
    }

    #[test]
    fn fixed_count_of_each_kind() {
        let source = looped(
            "{matrix: {a: [1, 2, 3], b: [x, y], exclude: [{a: 1, b: x}]}}",
            "{repeat: {times: 4}}",
        );
        let root = crate::pipeline::yaml::load(&source, Default::default())
            .unwrap()
            .unwrap();
        let stage = root.get("pipeline").unwrap().get("stages").unwrap();
        let stage = &stage.as_sequence().unwrap()[0].get("stage").unwrap();
        assert_eq!(fixed_count(stage), Some(5));
        let step = stage.get("spec").unwrap().get("execution").unwrap();
        let step = step.get("steps").unwrap().as_sequence().unwrap()[0]
            .get("step")
            .unwrap();
        assert_eq!(fixed_count(step), Some(4));
        let input = looped("{parallelism: <+input>}", "{repeat: {items: [a, b]}}");
        let root = crate::pipeline::yaml::load(&input, Default::default())
            .unwrap()
            .unwrap();
        let stage = root.get("pipeline").unwrap().get("stages").unwrap();
        let stage = &stage.as_sequence().unwrap()[0].get("stage").unwrap();
        assert_eq!(fixed_count(stage), None);
    }

    #[test]
    fn steps_outside_loops_not_counted() {
        let step = "              - step:\n                  type: Run\n                  name: c\n                  identifier: c\n                  spec:\n                    shell: Sh\n                    command: echo hi\n";
        let mut source = looped("{parallelism: 2}", "{parallelism: 2}");
        // A second stage without loops, with 10,001 written steps.
        source.push_str("    - stage:\n        name: t\n        identifier: t\n        type: CI\n        spec:\n          platform: {os: Linux, arch: Amd64}\n          runtime: {type: Docker, spec: {}}\n          execution:\n            steps:\n");
        for index in 0..10_001 {
            source.push_str(&step.replace(": c\n", &format!(": c{index}\n")));
        }
        let root = crate::pipeline::yaml::load(&source, Default::default())
            .unwrap()
            .unwrap();
        let mut report = Report::default();
        let pipeline = crate::pipeline::model::read_pipeline(
            &mut report,
            &root,
            crate::pipeline::model::DocumentKind::Pipeline,
        )
        .unwrap();
        let expansion = count(&pipeline);
        assert_eq!(expansion.total, 6);
        assert!(expansion.crossing.is_none());
    }

    #[test]
    fn expansion_at_limit_passes() {
        // 10 stages and 10 × 999 steps.
        let source = looped("{parallelism: 10}", "{parallelism: 999}");
        let diagnostics = check_file(&source, "p.yaml");
        assert!(strategy_errors(&diagnostics).is_empty(), "{diagnostics:?}");
    }

    #[test]
    fn fixed_expansion_over_limit_rejected() {
        // 100 stages and 100 × 101 steps, 10,200 in all.
        let source = looped(
            "{parallelism: 100}",
            "{matrix: {a: [1], b: [1, 2], n: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50], exclude: [{b: 2, n: 50}]}}",
        );
        let diagnostics = check_file(&source, "p.yaml");
        let errors = strategy_errors(&diagnostics);
        assert_eq!(errors.len(), 1, "{diagnostics:?}");
        assert_eq!(
            errors[0].message,
            "the loops expand the pipeline to 10200 stages and steps, more than the limit of 10000"
        );
        assert_eq!(
            errors[0].help.as_deref(),
            Some(
                "step `c` runs 10100 times: stage `s` × 100, step `c` × 101; reduce the matrix axes or loop counts, or split the pipeline"
            )
        );
        let step_strategy = source.find("strategy: {matrix").unwrap() + "strategy: ".len();
        assert_eq!(errors[0].span.byte_start, step_strategy);

        let resolution = resolve::resolve(&source, "p.yaml", &[], &[], &serde_json::Value::Null);
        assert!(resolution.stages.is_empty());
        let errors = strategy_errors(&resolution.diagnostics);
        assert_eq!(errors.len(), 1, "{:?}", resolution.diagnostics);
    }

    #[test]
    fn input_expansion_over_limit_stops_resolution() {
        // 10 stages of 1,024 steps: the tenth stage's steps cross the cap.
        let source = looped("{parallelism: <+input>}", "{parallelism: 1024}");
        let diagnostics = check_file(&source, "p.yaml");
        assert!(strategy_errors(&diagnostics).is_empty(), "{diagnostics:?}");
        let arguments = [(
            "pipeline.stages.s.strategy.parallelism".to_string(),
            "10".to_string(),
        )];
        let resolution =
            resolve::resolve(&source, "p.yaml", &arguments, &[], &serde_json::Value::Null);
        let errors = strategy_errors(&resolution.diagnostics);
        assert_eq!(errors.len(), 1, "{:?}", resolution.diagnostics);
        assert_eq!(
            errors[0].message,
            "the loops expand the pipeline to more than 10000 stages and steps: this loop brings it to 10250"
        );
        let steps: usize = resolution.stages.iter().map(|s| s.steps.len()).sum();
        assert_eq!(steps, 9 * 1024);
    }
}
