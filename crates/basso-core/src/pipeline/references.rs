//! Static checks of the expressions in a pipeline: syntax, references to
//! steps, stages and variables that exist (with "did you mean"), no reads
//! of outputs from steps that have not finished, no outputs of Background
//! steps, and untrusted values spliced into shell commands.

use std::collections::HashMap;

use foldhash::fast::FixedState;
use smallvec::SmallVec;

use crate::diagnostic::{Diagnostic, Span};
use crate::error::codes;
use crate::pipeline::field::{ValueKind, classify};
use crate::pipeline::inputs::{expr_diagnostic, text_span};
use crate::pipeline::iterations::{
    LoopedNode, ReferenceIds, backticked, check_iteration_id, missing_suffix, unsuffixed_file_value,
};
use crate::pipeline::model::{Group, Pipeline, Report, Stage, Step, Variable};
use crate::pipeline::paths::{Visit, walk};
use crate::pipeline::resolve::is_run_state;
use crate::pipeline::strategy::MATRIX_KEYS;
use crate::pipeline::suggest::did_you_mean;
use crate::pipeline::templates::Templates;
use crate::pipeline::yaml::Node;
use crate::template::has_block_start;

/// Expression roots whose values come from whoever opens a pull request or
/// pushes a commit, not from the repository's owners.
pub const UNTRUSTED_ROOTS: &[&str] = &[
    "trigger.payload",
    "trigger.prTitle",
    "trigger.commitMessage",
    "trigger.sourceBranch",
    "trigger.prLabels",
    "codebase.prTitle",
    "codebase.commitMessage",
    "codebase.pullRequestBody",
    "codebase.sourceBranch",
];

/// Where an expression sits: the stage and step (if any) it belongs to.
struct Site<'p, 'a> {
    stage_index: Option<usize>,
    step: Option<&'p Step<'a>>,
    /// For a field of a step group itself (its `when`, say), the groups
    /// around the field, outermost first. Empty inside a step, whose
    /// `groups` list them.
    groups: Vec<&'p Group<'a>>,
    /// The step index of every stage, in stage order.
    step_indexes: &'p [StepIndex<'p>],
    /// The pipeline and stage variables whose values read an untrusted
    /// value, directly or through other variables, with the path read.
    untrusted_variables: &'p HashMap<VariableKey<'p>, String, FixedState>,
}

/// A stage's steps by identifier, so each reference finds its target step
/// without scanning the stage.
struct StepIndex<'p> {
    /// The position of the first step with each identifier.
    exact: HashMap<&'p str, usize, FixedState>,
    /// Positions of the steps with their own `strategy`. Only these also
    /// match an identifier with an iteration suffix. A step inside a looped
    /// group keeps its identifier, because the group's iterations get the
    /// suffixes.
    looped: Vec<usize>,
    /// The `parallel` block the stage belongs to, if any.
    parallel: Option<u32>,
}

impl<'p> StepIndex<'p> {
    fn new(stage: &'p Stage<'_>) -> Self {
        let mut exact = HashMap::default();
        let mut looped = Vec::new();
        for (position, step) in stage.steps.iter().enumerate() {
            exact.entry(step.identifier.as_str()).or_insert(position);
            if step.get("strategy").is_some() {
                looped.push(position);
            }
        }
        StepIndex {
            exact,
            looped,
            parallel: stage.parallel,
        }
    }

    /// Returns the position of the first step that `target` names, exactly
    /// or with a loop's iteration suffix.
    fn find(&self, steps: &[Step<'_>], target: &str) -> Option<usize> {
        let exact = self.exact.get(target).copied();
        let suffixed = self
            .looped
            .iter()
            .copied()
            .find(|&position| matches_identifier(&steps[position].identifier, target, true));
        match (exact, suffixed) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Checks the references of `text`, a value supplied for the runtime input
/// at `path` or its default, as if it were written there: steps, outputs,
/// variables and loop keys that do not exist, later steps, and
/// `exportedVariables`. The diagnostics have no span yet.
pub(crate) fn check_value(
    pipeline: &Pipeline<'_>,
    templates: &Templates,
    path: &str,
    text: &str,
) -> Vec<Diagnostic> {
    let Ok(references) = templates.with(text, |template| Ok(template.references())) else {
        return Vec::new();
    };
    if references.paths.is_empty() {
        return Vec::new();
    }
    let step_indexes: Vec<StepIndex<'_>> = pipeline.stages.iter().map(StepIndex::new).collect();
    let is_command = path.ends_with(".spec.command");
    let untrusted_variables = if is_command {
        untrusted_variables(pipeline, templates)
    } else {
        HashMap::default()
    };
    let stage_index = pipeline
        .stages
        .iter()
        .position(|stage| is_inside(path, &stage.path));
    let (step, groups) = match stage_index.map(|index| &pipeline.stages[index]) {
        Some(stage) => {
            let step = stage
                .steps
                .iter()
                .filter(|step| is_inside(path, &step.path))
                .max_by_key(|step| step.path.len());
            let groups = match step {
                Some(_) => Vec::new(),
                None => groups_around(stage, path),
            };
            (step, groups)
        }
        None => (None, Vec::new()),
    };
    let site = Site {
        stage_index,
        step,
        groups,
        step_indexes: &step_indexes,
        untrusted_variables: &untrusted_variables,
    };
    let mut diagnostics: Vec<Diagnostic> = references
        .paths
        .iter()
        .filter_map(|reference| {
            check_reference(pipeline, &site, reference, &segments(reference), text)
        })
        .collect();
    if is_command {
        for reference in &references.paths {
            if let Some(warning) = untrusted_in_command(pipeline, &site, reference) {
                diagnostics.push(warning);
            }
        }
    }
    diagnostics
}

/// Returns whether `path` lies inside the node at `prefix`.
fn is_inside(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.starts_with('.'))
}

/// Returns the step groups of `stage` around the field at `path`,
/// outermost first.
fn groups_around<'p, 'a>(stage: &'p Stage<'a>, path: &str) -> Vec<&'p Group<'a>> {
    stage
        .groups
        .iter()
        .filter(|group| is_inside(path, &group.path))
        .collect()
}

/// Runs every expression check over the pipeline.
pub fn check(report: &mut Report, pipeline: &Pipeline<'_>, source: &str, templates: &Templates) {
    let step_indexes: Vec<StepIndex<'_>> = pipeline.stages.iter().map(StepIndex::new).collect();
    let untrusted_variables = untrusted_variables(pipeline, templates);
    walk(pipeline.node, "pipeline", &mut |path, node| {
        if path.starts_with("pipeline.stages.") {
            return Visit::Skip;
        }
        check_text(
            report,
            templates,
            pipeline,
            &Site {
                stage_index: None,
                step: None,
                groups: Vec::new(),
                step_indexes: &step_indexes,
                untrusted_variables: &untrusted_variables,
            },
            path,
            node,
            source,
        );
        Visit::Descend
    });
    for (index, stage) in pipeline.stages.iter().enumerate() {
        let by_path: HashMap<&str, &Step<'_>, FixedState> = stage
            .steps
            .iter()
            .map(|step| (step.path.as_str(), step))
            .collect();
        walk(stage.node, &stage.path, &mut |path, node| {
            // Resolution evaluates the expressions in `portBindings` keys
            // (host ports), so they get the checks of values. The walk
            // visits only values, so the keys are checked with their map.
            let keys: Vec<&Node> = match node.as_mapping() {
                Some(entries) if path.ends_with(".spec.portBindings") => entries
                    .iter()
                    .map(|(key, _)| key)
                    .filter(|key| key.as_str().is_some_and(has_block_start))
                    .collect(),
                _ => Vec::new(),
            };
            let texts = node
                .as_str()
                .filter(|text| has_block_start(text))
                .map(|_| node)
                .into_iter()
                .chain(keys.iter().copied());
            for key in &keys {
                check_port_key_run_state(report, templates, key);
            }
            for node in texts {
                // The innermost enclosing step: the longest prefix that is a step path.
                let step = path
                    .char_indices()
                    .filter(|(_, c)| *c == '.')
                    .map(|(at, _)| &path[..at])
                    .rev()
                    .find_map(|prefix| by_path.get(prefix).copied());
                let groups = match step {
                    Some(_) => Vec::new(),
                    None => groups_around(stage, path),
                };
                check_text(
                    report,
                    templates,
                    pipeline,
                    &Site {
                        stage_index: Some(index),
                        step,
                        groups,
                        step_indexes: &step_indexes,
                        untrusted_variables: &untrusted_variables,
                    },
                    path,
                    node,
                    source,
                );
            }
            Visit::Descend
        });
    }
    check_variable_cycles(report, pipeline, source, templates);
    check_secret_ids_from_run_state(report, pipeline, source, templates);
}

/// Rejects a `portBindings` key (a host port) that reads a step output or
/// status. The host ports are bound before the run, when those values do
/// not exist yet, so the key would resolve to null.
fn check_port_key_run_state(report: &mut Report, templates: &Templates, key: &Node) {
    let Some(text) = key.as_str() else {
        return;
    };
    let Ok(references) = templates.with(text, |template| Ok(template.references())) else {
        return;
    };
    if references.paths.iter().any(|path| is_run_state(path)) {
        report.error(
            "invalid-port",
            format!(
                "the host port `{text}` reads a step output or status, which has no value until the run, but ports are bound before it"
            ),
            key.span,
            "write the host port in the file, or take it from a pipeline variable or a runtime input",
        );
    }
}

/// Reports a `Secret` variable whose value, the secret's id, reads a step
/// output or status, directly or through the pipeline and stage variables
/// it reads. That value exists only during the run, and run-time data may
/// not choose a secret, so every step that reads the variable would fail
/// when it starts.
fn check_secret_ids_from_run_state(
    report: &mut Report,
    pipeline: &Pipeline<'_>,
    source: &str,
    templates: &Templates,
) {
    let mut variables: Vec<(Option<usize>, &Variable<'_>)> = pipeline
        .variables
        .iter()
        .map(|variable| (None, variable))
        .collect();
    for (index, stage) in pipeline.stages.iter().enumerate() {
        let group_variables = stage.groups.iter().flat_map(|group| &group.variables);
        variables.extend(
            stage
                .variables
                .iter()
                .chain(group_variables)
                .map(|variable| (Some(index), variable)),
        );
    }
    for (stage, variable) in variables {
        if variable.var_type != "Secret" {
            continue;
        }
        let Some(node) = variable.value else {
            continue;
        };
        let Some(reference) = run_state_read(pipeline, templates, stage, node) else {
            continue;
        };
        report.error(
            codes::SECRET_FROM_DATA,
            format!(
                "`Secret` variable `{}` takes its secret id from `{reference}`, which is known only during the run",
                variable.name
            ),
            locate(source, node, &reference),
            "write the secret id in the pipeline file, or supply it as a runtime input; run-time data cannot choose a secret",
        );
    }
}

/// Returns the first step output or status path that the value at `node`
/// reads, directly or through the pipeline and stage variables it reads.
/// `stage` is the index of the stage the value belongs to.
fn run_state_read(
    pipeline: &Pipeline<'_>,
    templates: &Templates,
    stage: Option<usize>,
    node: &Node,
) -> Option<String> {
    first_read(pipeline, templates, stage, node, is_run_state)
}

/// Returns the first path that `matches` accepts among the paths the value
/// at `node` reads, directly or through the pipeline and stage variables
/// it reads. `stage` is the index of the stage the value belongs to.
fn first_read(
    pipeline: &Pipeline<'_>,
    templates: &Templates,
    stage: Option<usize>,
    node: &Node,
    matches: impl Fn(&str) -> bool,
) -> Option<String> {
    let mut pending = vec![(stage, node)];
    let mut visited: Vec<VariableKey<'_>> = Vec::new();
    while let Some((stage, node)) = pending.pop() {
        let Some(text) = node.as_str().filter(|text| has_block_start(text)) else {
            continue;
        };
        let Ok(references) = templates.with(text, |template| Ok(template.references())) else {
            continue;
        };
        if let Some(path) = references.paths.iter().find(|path| matches(path)) {
            return Some(path.clone());
        }
        for reference in &references.paths {
            let Some((key, variable)) = variable_target(pipeline, stage, reference) else {
                continue;
            };
            if visited.contains(&key) {
                continue;
            }
            visited.push(key);
            if let Some(value) = variable.value {
                pending.push((key.0, value));
            }
        }
    }
    None
}

fn check_text(
    report: &mut Report,
    templates: &Templates,
    pipeline: &Pipeline<'_>,
    site: &Site<'_, '_>,
    path: &str,
    node: &Node,
    source: &str,
) {
    let Some(text) = node.as_str() else {
        return;
    };
    if !has_block_start(text) || classify(text) == ValueKind::RuntimeInput {
        return;
    }
    let compiled = templates.get(text);
    let template = match &*compiled {
        Ok(template) => template,
        Err(error) => {
            report.push(expr_diagnostic(error, source, node));
            return;
        }
    };
    let references = template.cached_references();
    let unclosed = template.unclosed_block_start();
    if let Some(start) = unclosed {
        report.push(unclosed_block(text, start, source, node));
    }
    if !references.secret_ids.is_empty() {
        check_secret_use(report, templates, text, node, source);
    }
    for id in &references.secret_ids {
        if let Some(problem) = secret_id_problem(id) {
            report.push(
                Diagnostic::warning(
                    "invalid-secret-id",
                    format!("secret id `{id}` {problem}"),
                    locate(source, node, id),
                )
                .with_help(
                    "a secret id starts with a letter or `_` and contains letters, digits, `_`, `-` and `$`, \
                     after an optional `account.` or `org.` scope; Harness fails the step when it cannot find the secret",
                ),
            );
        }
    }
    let is_command = path.ends_with(".spec.command") || is_shell_script_item(site, path);
    for reference in &references.paths {
        // Both checks below match on the segments, which are split once.
        let parts = segments(reference);
        if let Some(mut diagnostic) = check_reference(pipeline, site, reference, &parts, text) {
            let span = reference_span(templates, text, source, node, reference);
            quote_as_written(&mut diagnostic, reference, source, span);
            report.push(diagnostic.with_span(span));
        } else if !path.ends_with(".when.condition")
            && let Some((warning, block)) =
                secret_output_in_expression(pipeline, site, templates, &parts, text)
        {
            let span = crate::pipeline::inputs::text_span(source, node, block);
            report.push(warning.with_span(span));
        }
        if !is_command {
            continue;
        }
        if let Some(warning) = untrusted_in_command(pipeline, site, reference) {
            let span = reference_span(templates, text, source, node, reference);
            report.push(warning.with_span(span));
        }
    }
}

/// Returns the `secret-output-in-expression` warning when the reference
/// whose [`segments`] are `parts` reads a `type: Secret` output of a step
/// of the same stage inside a larger expression, such as `json.select` or
/// a string method. The warning has no
/// span yet, and the range returned with it is the first such block in
/// `text`.
/// The runner masks the output's whole value, but not what an expression
/// derives from it.
fn secret_output_in_expression(
    pipeline: &Pipeline<'_>,
    site: &Site<'_, '_>,
    templates: &Templates,
    parts: &[&str],
    text: &str,
) -> Option<(Diagnostic, std::ops::Range<usize>)> {
    let at = parts.iter().position(|part| *part == "output")?;
    let ["steps", step_id] = parts.get(at.checked_sub(2)?..at)? else {
        return None;
    };
    // A path that ends at `outputVariables` reads the outputs by a key
    // computed at run time (`["TOKEN"]`, `.get("TOKEN")`), any of them.
    let named = match parts.get(at..)? {
        ["output", "outputVariables", name] => Some(*name),
        ["output", "outputVariables"] => None,
        _ => return None,
    };
    let stage_index = site.stage_index?;
    let stage = &pipeline.stages[stage_index];
    let position = site.step_indexes[stage_index].find(&stage.steps, step_id)?;

    let declared = stage.steps[position].spec_field("outputVariables")?;
    let name = declared.as_sequence()?.iter().find_map(|item| {
        let name = item.get("name").and_then(Node::as_str)?;
        let secret = item.get("type").and_then(Node::as_str) == Some("Secret");
        (secret && named.is_none_or(|named| named == name)).then_some(name)
    })?;
    // A block that is the path alone passes the whole value, which the
    // runner masks. The check goes block by block, because one text lists
    // each path once however often it is read.
    let prefix = format!("{step_id}.output.outputVariables");
    let block = templates
        .with(text, |template| Ok(template.block_ranges()))
        .unwrap_or_default()
        .into_iter()
        .find(|range| {
            text.get(range.start + 2..range.end - 1)
                .is_some_and(|inner| reads_derived(inner, &prefix, name))
        })?;
    Some((
        Diagnostic::warning(
            "secret-output-in-expression",
            format!(
                "`type: Secret` output `{name}` of step `{step_id}` is read inside an expression, whose result the log does not mask"
            ),
            Span::default(),
        )
        .with_help(format!(
            "use the output whole (`<+steps.{step_id}.output.outputVariables.{name}>`), or make the part you need a `type: Secret` output of its own"
        )),
        block,
    ))
}

/// Returns whether the block text `inner` reads a part of output `name`
/// at the path ending in `prefix` (`ID.output.outputVariables`), written
/// `.NAME`, `["NAME"]` or `.get("NAME")`: through a method or an index on
/// it, or as the argument of a function. Concatenation keeps the whole
/// value in the text, where it is masked, and a comparison gives a boolean.
fn reads_derived(inner: &str, prefix: &str, name: &str) -> bool {
    let path_char = |c: char| c.is_alphanumeric() || matches!(c, '_' | '$' | '-');
    let keys = [
        format!(".{name}"),
        format!("[\"{name}\"]"),
        format!("['{name}']"),
        format!(".get(\"{name}\")"),
        format!(".get('{name}')"),
    ];
    inner.match_indices(prefix).any(|(at, _)| {
        let rest = &inner[at + prefix.len()..];
        let Some(key) = keys.iter().find(|key| rest.starts_with(key.as_str())) else {
            return false;
        };
        let after = &rest[key.len()..];
        if key.starts_with('.') && !key.starts_with(".get(") && after.starts_with(path_char) {
            return false;
        }
        let opened = inner[..at].matches('(').count();
        let closed = inner[..at].matches(')').count();
        let in_call = opened > closed;
        let next = after.trim_start_matches(|c: char| c == '>' || c.is_whitespace());
        in_call || next.starts_with(['.', '['])
    })
}

/// Returns the `untrusted-input-in-command` warning, without a span, when
/// `reference` in a command at `site` reads a value from outside the
/// repository's owners, directly or through a pipeline or stage variable.
fn untrusted_in_command(
    pipeline: &Pipeline<'_>,
    site: &Site<'_, '_>,
    reference: &str,
) -> Option<Diagnostic> {
    // A variable whose value reads an untrusted value passes it on.
    let direct = untrusted_root(reference);
    let through = if direct.is_some() || site.untrusted_variables.is_empty() {
        None
    } else {
        variable_target(pipeline, site.stage_index, reference)
            .and_then(|(key, _)| site.untrusted_variables.get(&key).cloned())
    };
    let root = direct.or_else(|| through.as_deref().and_then(untrusted_root))?;
    let variable = env_name(reference);
    let origin = match &through {
        Some(path) => format!(", and its value reads `<+{path}>`, which comes"),
        None => ", but its value comes".to_string(),
    };
    Some(
        Diagnostic::warning(
            "untrusted-input-in-command",
            format!("`<+{reference}>` is spliced into a shell command{origin} from outside the repository's owners"),
            Span::default(),
        )
        .with_help(untrusted_help(site, &variable, reference, root)),
    )
}

/// Builds the help of `untrusted-input-in-command`: how the step's shell
/// reads the value from the environment variable `variable` instead.
fn untrusted_help(site: &Site<'_, '_>, variable: &str, reference: &str, root: &str) -> String {
    let shell = site
        .step
        .and_then(|step| step.spec_field("shell"))
        .and_then(Node::as_str)
        .unwrap_or("Sh");
    let read = match shell {
        "Python" => format!("read `os.environ[\"{variable}\"]` in the script"),
        "Powershell" | "Pwsh" => format!("use `$env:{variable}` in the command"),
        _ => format!("use the quoted variable \"${variable}\" in the command"),
    };
    format!(
        "pass it through `envVariables` (`{variable}: <+{reference}>`) and {read}; `{root}` can contain {} syntax",
        if shell == "Python" { "Python" } else { "shell" }
    )
}

/// Returns whether `path` is an `entrypoint` item that a shell runs as a
/// script: the item after `-c` (`[sh, -c, "…"]`).
fn is_shell_script_item(site: &Site<'_, '_>, path: &str) -> bool {
    let Some((head, index)) = path.rsplit_once('.') else {
        return false;
    };
    let Ok(index) = index.parse::<usize>() else {
        return false;
    };
    if !head.ends_with(".spec.entrypoint") || index == 0 {
        return false;
    }
    site.step
        .and_then(|step| step.spec_field("entrypoint"))
        .and_then(Node::as_sequence)
        .and_then(|items| items.get(index - 1))
        .and_then(Node::as_str)
        .is_some_and(|flag| flag.trim() == "-c")
}

/// Returns the pipeline and stage variables whose values read an untrusted
/// value, directly or through other variables, with the path they read.
fn untrusted_variables<'p>(
    pipeline: &'p Pipeline<'_>,
    templates: &Templates,
) -> HashMap<VariableKey<'p>, String, FixedState> {
    let stage_variables = pipeline
        .stages
        .iter()
        .enumerate()
        .flat_map(|(index, stage)| stage.variables.iter().map(move |v| (Some(index), v)));
    let mut found = HashMap::default();
    for (stage, variable) in pipeline
        .variables
        .iter()
        .map(|v| (None, v))
        .chain(stage_variables)
    {
        let Some(value) = variable.value else {
            continue;
        };
        let read = first_read(pipeline, templates, stage, value, |path| {
            untrusted_root(path).is_some()
        });
        if let Some(path) = read {
            found.entry((stage, variable.name.as_str())).or_insert(path);
        }
    }
    found
}

/// Returns the root of [`UNTRUSTED_ROOTS`] that `reference` reads: a path
/// under one, or a whole map that contains one (`<+trigger>`).
fn untrusted_root(reference: &str) -> Option<&'static str> {
    // Every root starts with one of two names, which rule out most paths.
    if !(reference.starts_with("trigger") || reference.starts_with("codebase")) {
        return None;
    }
    UNTRUSTED_ROOTS
        .iter()
        .find(|root| is_under(reference, root) || is_under(root, reference))
        .copied()
}

/// Quotes `reference` in the message of `diagnostic` as the file writes it
/// at `span` (`<+steps.a.status>`), when that is the short form of the
/// canonical path (`execution.steps.a.status`), so that the user can
/// search the file for it.
fn quote_as_written(diagnostic: &mut Diagnostic, reference: &str, source: &str, span: Span) {
    let written = source
        .get(span.byte_start..span.byte_end)
        .unwrap_or_default();
    if let Some(written) = crate::expr::short_form(reference, written) {
        diagnostic.message = diagnostic
            .message
            .replace(&format!("<+{reference}>"), &format!("<+{written}>"));
    }
}

/// Warns about the `<+` at byte `start` of `text`, the scalar `node`'s
/// text, that no `>` closes. Harness keeps such text as written, so the
/// expression's characters reach the step instead of its value.
fn unclosed_block(text: &str, start: usize, source: &str, node: &Node) -> Diagnostic {
    let rest = &text[start..];
    let end = rest
        .char_indices()
        .find(|&(at, c)| c.is_whitespace() || at >= 40)
        .map_or(rest.len(), |(at, _)| at);
    let opening = &rest[..end];
    Diagnostic::warning(
        "unclosed-block",
        format!("`{opening}` has no closing `>`, so it is not an expression and stays text as written"),
        text_span(source, node, start..start + 2),
    )
    .with_help(if opening.len() > 2 {
        format!("add the closing `>` (`{opening}>`); Harness passes everything from an unclosed `<+` to the end of the field unchanged")
    } else {
        // `<+` followed by a space or by nothing: `<+>` would be an empty
        // expression, so no example is given.
        "add the expression and its closing `>` after `<+`, or write the text without `<+`; Harness passes everything from an unclosed `<+` to the end of the field unchanged".to_string()
    })
}

/// Reports a secret whose value an expression reads, compares or changes,
/// which resolution rejects as `secret-opaque`. The text is rendered
/// without context values, and a block that reads one is kept as written,
/// so only operations on the secret itself are reported.
fn check_secret_use(
    report: &mut Report,
    templates: &Templates,
    text: &str,
    node: &Node,
    source: &str,
) {
    if let Some(error) = templates.secret_use_error(text) {
        report.push(expr_diagnostic(&error, source, node));
    }
}

/// Returns why `id` is not a Harness secret identifier, or `None`. Secret
/// identifiers follow the entity identifier rule and may also contain `-`;
/// an `account.` or `org.` prefix selects a secret of that scope.
fn secret_id_problem(id: &str) -> Option<String> {
    let name = id
        .strip_prefix("account.")
        .or_else(|| id.strip_prefix("org."))
        .unwrap_or(id);
    let Some(first) = name.chars().next() else {
        return Some("is empty".to_string());
    };
    if !(first.is_ascii_alphabetic() || first == '_') {
        return Some(format!("must start with a letter or `_`, not `{first}`"));
    }
    if name.chars().count() > 128 {
        return Some("is longer than 128 characters".to_string());
    }
    name.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_-$".contains(*c)))
        .map(|bad| format!("contains `{bad}`"))
}

/// Returns true when `reference` is `root` or a path below it.
fn is_under(reference: &str, root: &str) -> bool {
    reference
        .strip_prefix(root)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

fn env_name(reference: &str) -> String {
    let last = reference.rsplit('.').next().unwrap_or(reference);
    let mut name = String::new();
    for (i, c) in last.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_uppercase());
        }
    }
    if name.is_empty() {
        "VALUE".to_string()
    } else {
        name
    }
}

/// Returns the span of the first use of `reference` among the blocks of
/// `text`, the scalar `node`'s text. A search of the written text finds
/// the reference's characters inside a longer path too, such as
/// `execution.steps.a` inside `pipeline.stages.s1.spec.execution.steps.a`,
/// so it is only the fallback.
fn reference_span(
    templates: &Templates,
    text: &str,
    source: &str,
    node: &Node,
    reference: &str,
) -> Span {
    let range = match &*templates.get(text) {
        Ok(template) => template.reference_range(reference),
        Err(_) => None,
    };
    match range {
        Some(range) => text_span(source, node, range),
        None => locate(source, node, reference),
    }
}

/// Finds the reference's text in the node's source; the whole node otherwise.
pub(crate) fn locate(source: &str, node: &Node, reference: &str) -> Span {
    let slice = source
        .get(node.span.byte_start..node.span.byte_end)
        .unwrap_or_default();
    let found = match ["pipeline.", "execution."]
        .into_iter()
        .find_map(|prefix| Some((prefix, reference.strip_prefix(prefix)?)))
    {
        Some((prefix, short)) => find_with_prefix(slice, prefix, short),
        None => find_text(slice, reference).map(|at| (at, reference.len())),
    };
    match found {
        Some((at, len)) => Span::from_byte_range_within(
            source,
            node.span,
            node.span.byte_start + at,
            node.span.byte_start + at + len,
        ),
        None => node.span,
    }
}

/// Returns the offset and length of the first `prefix` + `short` in
/// `haystack`, or else of the first `short`. Every match of the whole text
/// ends in a match of `short`, so one search for `short` finds both.
fn find_with_prefix(haystack: &str, prefix: &str, short: &str) -> Option<(usize, usize)> {
    let Some(&first) = short.as_bytes().first() else {
        // An empty `short` matches at the start.
        return Some(find_text(haystack, prefix).map_or((0, 0), |at| (at, prefix.len())));
    };
    let bytes = haystack.as_bytes();
    let mut first_short = None;
    for at in memchr::memchr_iter(first, bytes) {
        if !bytes[at..].starts_with(short.as_bytes()) {
            continue;
        }
        if bytes[..at].ends_with(prefix.as_bytes()) {
            return Some((at - prefix.len(), prefix.len() + short.len()));
        }
        first_short.get_or_insert((at, short.len()));
    }
    first_short
}

/// Returns the byte offset of the first `needle` in `haystack`, as
/// `str::find` does. `str::find` sets up a substring searcher on every
/// call, which cost more than the search itself on field-sized texts.
fn find_text(haystack: &str, needle: &str) -> Option<usize> {
    let Some(&first) = needle.as_bytes().first() else {
        return Some(0);
    };
    let bytes = haystack.as_bytes();
    memchr::memchr_iter(first, bytes).find(|&at| bytes[at..].starts_with(needle.as_bytes()))
}

trait WithSpan {
    fn with_span(self, span: Span) -> Self;
}

impl WithSpan for Diagnostic {
    fn with_span(mut self, span: Span) -> Self {
        self.span = span;
        self
    }
}

/// Splits a reference at its dots, as `split('.')` does. References seldom
/// have more than eight segments, so the list usually stays on the stack.
/// `split` with a `char` ran memchr from each segment, which cost more than
/// scanning these short segments byte by byte.
fn segments(reference: &str) -> SmallVec<[&str; 8]> {
    let mut parts = SmallVec::new();
    let mut start = 0;
    for (at, byte) in reference.bytes().enumerate() {
        if byte == b'.' {
            parts.push(&reference[start..at]);
            start = at + 1;
        }
    }
    parts.push(&reference[start..]);
    parts
}

fn unresolvable(segment: &str) -> bool {
    segment == "*" || segment.contains(['[', '"', '('])
}

/// Checks `reference`, whose [`segments`] are `parts`, as read in `text`
/// at `site`, and returns its diagnostic.
fn check_reference<'a>(
    pipeline: &Pipeline<'a>,
    site: &Site<'_, 'a>,
    reference: &str,
    parts: &[&str],
    text: &str,
) -> Option<Diagnostic> {
    let lookup = |name| VariableLookup {
        name,
        reference,
        text,
    };
    match parts {
        ["pipeline", "variables", name, ..] => {
            check_variable(&pipeline.variables, &lookup(name), "pipeline")
        }
        ["pipeline", "stages", stage_id, rest @ ..] => {
            if unresolvable(stage_id) {
                return None;
            }
            let Some(index) = find_stage(pipeline, stage_id) else {
                let mut ids = ReferenceIds::default();
                for stage in &pipeline.stages {
                    ids.add("stage", &stage.identifier, stage.node);
                }
                return Some(ids.unknown("unknown-stage", "stage", stage_id, ""));
            };
            let stage = &pipeline.stages[index];
            let looped = LoopedNode::of("stage", &stage.identifier, stage.node);
            if let Some(diagnostic) = looped
                .as_ref()
                .and_then(|looped| check_iteration_id(looped, "unknown-stage", stage_id))
            {
                return Some(diagnostic);
            }
            let found = match rest {
                ["variables", name, ..] => check_variable(&stage.variables, &lookup(name), "stage"),
                ["spec", "execution", "steps", step_path @ ..] => {
                    check_step_path(pipeline, site, index, step_path, reference)
                }
                _ => None,
            };
            let unsuffixed = looped.filter(|_| *stage_id == stage.identifier);
            found.or_else(|| unsuffixed_read(unsuffixed.as_ref(), reference, !rest.is_empty()))
        }
        ["execution", "steps", step_path @ ..] => {
            check_step_path(pipeline, site, site.stage_index?, step_path, reference)
        }
        ["stage", "variables", name, ..] => {
            let stage = &pipeline.stages[site.stage_index?];
            check_variable(&stage.variables, &lookup(name), "stage")
        }
        ["stepGroup", "variables", name, ..] => {
            let group = site.step?.groups.last()?;
            check_variable(&group.variables, &lookup(name), "step group")
        }
        ["stage", "matrix", rest @ ..] => {
            let Some(strategy) = pipeline.stages[site.stage_index?].get("strategy") else {
                return Some(
                    Diagnostic::error(
                        "not-in-loop",
                        format!("`<+{reference}>` is used in a stage without a looping strategy"),
                        Span::default(),
                    )
                    .with_help(
                        "add `strategy: {matrix: ...}` to the stage, or remove the reference",
                    ),
                );
            };
            let [axis, ..] = rest else {
                return None;
            };
            check_loop_key(&loop_keys(strategy)?, &["matrix", axis], reference)
        }
        ["matrix" | "repeat" | "strategy", ..] => check_loop_context(pipeline, site, reference)
            .or_else(|| {
                let keys = loop_keys(innermost_strategy(pipeline, site)?)?;
                check_loop_key(&keys, parts, reference)
            }),
        ["pipeline", key, ..] => check_pipeline_key(pipeline, key),
        ["stage", key, ..] => {
            let stage = &pipeline.stages[site.stage_index?];
            check_root_key("stage", &STAGE_RUN_TIME_KEYS, Some(stage.node), key)
        }
        ["step", key, ..] => {
            check_root_key("step", &STEP_RUN_TIME_KEYS, Some(site.step?.node), key)
        }
        ["codebase", key, ..] => check_root_key("codebase", &CODEBASE_KEYS, None, key),
        ["trigger", key, ..] => check_root_key("trigger", &TRIGGER_KEYS, None, key),
        ["exportedVariables", ..] => Some(exported_variables_unsupported(reference)),
        [root, ..] => check_root(root),
        _ => None,
    }
}

/// Reports a first segment that is no expression root but close to one,
/// such as `pipline` or `secret`: Harness reads null for it.
/// NOTE: a warning, because Harness has roots outside CI that
/// [`CONTEXT_ROOTS`] does not list.
fn check_root(root: &str) -> Option<Diagnostic> {
    use crate::pipeline::validate::CONTEXT_ROOTS;
    if unresolvable(root) || CONTEXT_ROOTS.contains(&root) {
        return None;
    }
    let help = did_you_mean(root, CONTEXT_ROOTS)?;
    Some(
        Diagnostic::warning(
            "unknown-expression-root",
            format!("`{root}` is no expression root, so the reference resolves to null"),
            Span::default(),
        )
        .with_help(help),
    )
}

/// Builds the error for a read of `exportedVariables`. Harness fills it
/// from the outputs that steps publish with `outputAlias`, and basso
/// publishes none, so `resolve` and `run` would read null.
fn exported_variables_unsupported(reference: &str) -> Diagnostic {
    Diagnostic::error(
        "unsupported-expression",
        format!(
            "`{reference}` reads outputs published with `outputAlias`, which basso does not support"
        ),
        Span::default(),
    )
    .with_help(
        "read the output from its step, such as \
         `<+pipeline.stages.STAGE.spec.execution.steps.STEP.output.outputVariables.NAME>`",
    )
}

/// The `pipeline.*` keys that Harness supplies at run time. Expressions can
/// read the keys of the pipeline's own mapping too.
const PIPELINE_RUN_TIME_KEYS: [&str; 21] = [
    "name",
    "identifier",
    "tags",
    "variables",
    "stages",
    "executionId",
    "resumedExecutionId",
    "sequenceId",
    "executionUrl",
    "executionMode",
    "startTs",
    "triggerType",
    "triggeredBy",
    "selectedStages",
    "delegateSelectors",
    "storeType",
    "repo",
    "branch",
    "orgIdentifier",
    "projectIdentifier",
    "properties",
];

/// Reports a `pipeline.KEY` whose key is a likely typo of a known key.
/// NOTE: a key that is close to no known key passes, because the list of
/// run-time keys above may miss some that Harness supplies.
fn check_pipeline_key(pipeline: &Pipeline<'_>, key: &str) -> Option<Diagnostic> {
    let (known, _) = likely_typo(key, &PIPELINE_RUN_TIME_KEYS, Some(pipeline.node))?;
    Some(unknown(
        "unknown-pipeline-key",
        "pipeline key",
        key,
        "",
        &known,
    ))
}

/// The `stage.*` keys that Harness supplies at run time, besides the
/// stage's own keys.
const STAGE_RUN_TIME_KEYS: [&str; 17] = [
    "startTs",
    "endTs",
    "executionId",
    "identifierPostFix",
    "name",
    "identifier",
    "description",
    "tags",
    "variables",
    "executionUrl",
    "delegateSelectors",
    "matrix",
    "repeat",
    "spec",
    "type",
    "status",
    "currentStatus",
];

/// The `step.*` keys that Harness supplies at run time, besides the step's
/// own keys.
const STEP_RUN_TIME_KEYS: [&str; 14] = [
    "startTs",
    "endTs",
    "executionId",
    "name",
    "identifier",
    "type",
    "spec",
    "executionUrl",
    "exitCode",
    "identifierPostFix",
    "status",
    "currentStatus",
    "retryCount",
    "output",
];

/// The `codebase.*` keys of a CI stage.
const CODEBASE_KEYS: [&str; 24] = [
    "build",
    "branch",
    "tag",
    "prNumber",
    "prTitle",
    "pullRequestBody",
    "pullRequestLink",
    "sourceBranch",
    "targetBranch",
    "baseCommitSha",
    "commitSha",
    "shortCommitSha",
    "commitMessage",
    "commitRef",
    "mergeSha",
    "gitUser",
    "gitUserId",
    "gitUserEmail",
    "gitUserAvatar",
    "repoUrl",
    "repoName",
    "state",
    "prState",
    "event",
];

/// The `trigger.*` keys of a run that a trigger starts.
const TRIGGER_KEYS: [&str; 20] = [
    "sourceType",
    "type",
    "event",
    "branch",
    "tag",
    "prNumber",
    "prTitle",
    "prLabels",
    "sourceBranch",
    "targetBranch",
    "commitSha",
    "baseCommitSha",
    "repoUrl",
    "sourceRepo",
    "gitUser",
    "payload",
    "artifact",
    "header",
    "triggerName",
    "triggeredBy",
];

/// Warns about a `ROOT.KEY` whose key is a likely typo of a known key of
/// `root`: one of `run_time` or of `node`'s own mapping.
/// NOTE: a warning, and only for a key close to a known one, because
/// Harness may supply keys that the lists above miss.
fn check_root_key(
    root: &str,
    run_time: &[&str],
    node: Option<&Node>,
    key: &str,
) -> Option<Diagnostic> {
    let (_, help) = likely_typo(key, run_time, node)?;
    Some(
        Diagnostic::warning(
            "unknown-expression-key",
            format!("`{root}` has no key `{key}`, so `<+{root}.{key}>` would be null"),
            Span::default(),
        )
        .with_help(help),
    )
}

/// Returns the known keys (`run_time` and the keys of `node`'s own
/// mapping) and the "did you mean" help when `key` is none of them but
/// close to one, or `None` otherwise.
fn likely_typo<'k>(
    key: &str,
    run_time: &[&'k str],
    node: Option<&'k Node>,
) -> Option<(Vec<&'k str>, String)> {
    if unresolvable(key) {
        return None;
    }
    let known = match node {
        Some(node) => known_keys(run_time, node),
        None => run_time.to_vec(),
    };
    if known.contains(&key) {
        return None;
    }
    let help = did_you_mean(key, &known)?;
    Some((known, help))
}

/// Returns the run-time keys followed by the keys of `node`'s own mapping
/// that are not among them.
fn known_keys<'k>(run_time: &[&'k str], node: &'k Node) -> Vec<&'k str> {
    let mut known = run_time.to_vec();
    let own_keys = node.as_mapping().into_iter().flatten();
    for key in own_keys.filter_map(|(key, _)| key.as_str()) {
        if !known.contains(&key) {
            known.push(key);
        }
    }
    known
}

/// Reports `{what} `name` does not exist{place}` with a suggestion.
fn unknown(code: &str, what: &str, name: &str, place: &str, candidates: &[&str]) -> Diagnostic {
    let help = did_you_mean(name, candidates).unwrap_or_else(|| {
        if candidates.is_empty() {
            format!("no {what} is declared here; declare `{name}` or fix the reference")
        } else {
            format!("declared {what}s: {}", backticked(candidates))
        }
    });
    Diagnostic::error(
        code,
        format!("{what} `{name}` does not exist{place}"),
        Span::default(),
    )
    .with_help(help)
}

/// A read of a variable by name, with the reference that ends in the name
/// and the field text that contains the reference.
struct VariableLookup<'r> {
    name: &'r str,
    reference: &'r str,
    text: &'r str,
}

fn check_variable(
    variables: &[Variable<'_>],
    lookup: &VariableLookup<'_>,
    scope: &str,
) -> Option<Diagnostic> {
    let name = lookup.name;
    if unresolvable(name) || variables.iter().any(|v| v.name == name) {
        return None;
    }
    let names: Vec<&str> = variables.iter().map(|v| v.name.as_str()).collect();
    let diagnostic = unknown(
        "unknown-variable",
        &format!("{scope} variable"),
        name,
        "",
        &names,
    );
    match hyphenated_variable(variables, lookup) {
        Some((full, read)) => Some(diagnostic.with_help(format!(
            "variable `{full}` exists, but `-` between names subtracts; read it with `<+{read}>`"
        ))),
        None => Some(diagnostic),
    }
}

/// Finds a variable whose name is `name`, a `-` and the name that follows
/// the reference in the text, as `my-thing` for `pipeline.variables.my-thing`
/// (which parses as `pipeline.variables.my` minus `thing`). Returns the
/// variable's name and the `get` call that reads it.
fn hyphenated_variable(
    variables: &[Variable<'_>],
    lookup: &VariableLookup<'_>,
) -> Option<(String, String)> {
    let parent = lookup
        .reference
        .strip_suffix(lookup.name)?
        .strip_suffix('.')?;
    let written = format!("{}-", lookup.reference);
    let mut search = 0;
    while let Some(found) = find_text(&lookup.text[search..], &written) {
        let tail_start = search + found + written.len();
        search = tail_start;
        let tail = &lookup.text[tail_start..];
        let tail_len = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '-')))
            .unwrap_or(tail.len());
        let tail = &tail[..tail_len];
        // Longer names are tried first, so `my-thing-x` finds `my-thing-x`
        // before `my-thing` when both exist.
        let ends = tail
            .match_indices('-')
            .map(|(at, _)| at)
            .chain([tail.len()]);
        let mut ends: Vec<usize> = ends.collect();
        ends.reverse();
        for end in ends {
            let full = format!("{}-{}", lookup.name, &tail[..end]);
            if variables.iter().any(|v| v.name == full) {
                let read = format!("{parent}.get(\"{full}\")");
                return Some((full, read));
            }
        }
    }
    None
}

/// Looped stages and steps are referenced with their iteration suffix.
fn matches_identifier(identifier: &str, candidate: &str, looped: bool) -> bool {
    candidate == identifier
        || (looped
            && candidate
                .strip_prefix(identifier)
                .is_some_and(|rest| rest.starts_with('_') && rest.len() > 1))
}

fn find_stage(pipeline: &Pipeline<'_>, id: &str) -> Option<usize> {
    pipeline.stages.iter().position(|stage| {
        matches_identifier(&stage.identifier, id, stage.get("strategy").is_some())
    })
}

fn check_step_path(
    pipeline: &Pipeline<'_>,
    site: &Site<'_, '_>,
    stage_index: usize,
    step_path: &[&str],
    reference: &str,
) -> Option<Diagnostic> {
    let stage: &Stage<'_> = &pipeline.stages[stage_index];
    if stage.get("template").is_some() {
        return None;
    }
    let step_index = &site.step_indexes[stage_index];

    // `steps.GROUP.steps.ID...` walks into a group, at any depth, and a
    // looped group is named by an iteration's identifier.
    let mut rest = step_path;
    let mut parent: Option<&Group<'_>> = None;
    let mut unsuffixed: Option<LoopedNode<'_>> = None;
    let target_id = loop {
        let (first, tail) = rest.split_first()?;
        if unresolvable(first) {
            return None;
        }
        let Some(group) = find_group(stage, step_index, parent, first) else {
            break *first;
        };
        if let Some(looped) = LoopedNode::of("step group", &group.identifier, group.node) {
            if let Some(diagnostic) = check_iteration_id(&looped, "unknown-step", first) {
                return Some(diagnostic);
            }
            if *first == group.identifier && unsuffixed.is_none() {
                unsuffixed = Some(looped);
            }
        }
        match tail {
            ["steps", inner, ..] if !unresolvable(inner) => rest = &tail[1..],
            _ => return unsuffixed_read(unsuffixed.as_ref(), reference, !tail.is_empty()),
        }
        parent = Some(group);
    };
    let by_id = parent.is_none();
    let checked = check_step(
        site,
        stage,
        stage_index,
        target_id,
        &rest[1..],
        reference,
        by_id,
    );
    checked.or_else(|| unsuffixed_read(unsuffixed.as_ref(), reference, true))
}

/// Returns whether a field at `site` reaches `target` by its identifier
/// alone (`<+steps.ID>`): resolution finds such a step at the stage's level
/// or in one of the step groups around the field, nowhere else.
fn reaches_by_id(site: &Site<'_, '_>, target: &Step<'_>) -> bool {
    let Some(home) = target.groups.last() else {
        return true;
    };
    match site.step {
        Some(step) => step.groups.iter().any(|group| group.path == home.path),
        None => site.groups.iter().any(|group| group.path == home.path),
    }
}

/// Builds the warning for `reference`, which names `target`, a step inside
/// step groups, by its identifier from outside those groups.
fn step_not_in_scope(target: &Step<'_>, reference: &str) -> Diagnostic {
    // A looped group is named with an iteration's suffix, such as its
    // first one (`g_0`).
    let through: Vec<String> = target
        .groups
        .iter()
        .map(|group| {
            let first_post_fix = group.node.get("strategy").map(|strategy| {
                crate::pipeline::strategy::fixed_post_fixes(strategy)
                    .and_then(|post_fixes| post_fixes.into_iter().next())
                    .unwrap_or_else(|| "_0".to_string())
            });
            format!("{}{}", group.identifier, first_post_fix.unwrap_or_default())
        })
        .collect();
    let home = target
        .groups
        .last()
        .map(|group| group.identifier.as_str())
        .unwrap_or_default();
    let path = format!(
        "steps.{}.steps.{}",
        through.join(".steps."),
        target.identifier
    );
    Diagnostic::warning(
        STEP_NOT_IN_SCOPE,
        format!(
            "`<+{reference}>` names step `{}` of step group `{home}` by its identifier alone, \
             which reaches it only from inside that group, so it resolves to null",
            target.identifier
        ),
        Span::default(),
    )
    .with_help(format!("write the path through the groups: `<+{path}...>`"))
}

/// The code of [`step_not_in_scope`].
pub(crate) const STEP_NOT_IN_SCOPE: &str = "step-not-in-scope";

/// Reports `reference` when it reads an output, a status or, when
/// `reads_value` is true, any other value of `looped`, a looped node named
/// without an iteration suffix. A reference to the node itself
/// (`<+pipeline.stages.S>`) reads no value of one iteration.
fn unsuffixed_read(
    looped: Option<&LoopedNode<'_>>,
    reference: &str,
    reads_value: bool,
) -> Option<Diagnostic> {
    let looped = looped?;
    if is_run_state(reference) {
        return Some(missing_suffix(looped, reference));
    }
    reads_value.then(|| unsuffixed_file_value(looped, reference))
}

/// Finds the step group that `id` names inside `parent` (anywhere in the
/// stage without one): a group with that identifier, or else an iteration
/// of a looped group, unless a step has the identifier `id`.
fn find_group<'p, 'a>(
    stage: &'p Stage<'a>,
    step_index: &StepIndex<'_>,
    parent: Option<&Group<'_>>,
    id: &str,
) -> Option<&'p Group<'a>> {
    let inside = |group: &&Group<'_>| parent.is_none_or(|p| is_inside(&group.path, &p.path));
    let mut groups = stage.groups.iter().filter(inside);
    if let Some(exact) = groups.clone().find(|group| group.identifier == id) {
        return Some(exact);
    }
    if step_index.exact.contains_key(id) {
        return None;
    }
    groups.find(|group| {
        matches_identifier(&group.identifier, id, group.node.get("strategy").is_some())
    })
}

/// Checks a reference to the step `target_id` of `stage`, followed by
/// `rest`, the segments after the identifier, in the whole `reference`.
fn check_step(
    site: &Site<'_, '_>,
    stage: &Stage<'_>,
    stage_index: usize,
    target_id: &str,
    rest: &[&str],
    reference: &str,
    by_id: bool,
) -> Option<Diagnostic> {
    let target = site.step_indexes[stage_index]
        .find(&stage.steps, target_id)
        .map(|position| &stage.steps[position]);
    let Some(target) = target else {
        let mut ids = ReferenceIds::default();
        for step in &stage.steps {
            ids.add("step", &step.identifier, step.node);
        }
        for group in &stage.groups {
            ids.add("step group", &group.identifier, group.node);
        }
        let place = format!(" in stage `{}`", stage.identifier);
        return Some(ids.unknown("unknown-step", "step", target_id, &place));
    };
    let looped = LoopedNode::of("step", &target.identifier, target.node);
    if let Some(looped) = &looped
        && let Some(diagnostic) = check_iteration_id(looped, "unknown-step", target_id)
    {
        return Some(diagnostic);
    }
    let unsuffixed = looped.filter(|_| target_id == target.identifier);
    check_step_target(site, stage, stage_index, target, rest)
        .or_else(|| unsuffixed_read(unsuffixed.as_ref(), reference, !rest.is_empty()))
        .or_else(|| {
            (by_id && !reaches_by_id(site, target)).then(|| step_not_in_scope(target, reference))
        })
}

/// Checks the segments `rest` after the identifier of the step `target`
/// of `stage`.
fn check_step_target(
    site: &Site<'_, '_>,
    stage: &Stage<'_>,
    stage_index: usize,
    target: &Step<'_>,
    rest: &[&str],
) -> Option<Diagnostic> {
    let field = rest.first()?;
    if *field == "status" {
        return check_status_order(site, stage, stage_index, target);
    }
    if *field != "output" {
        return check_step_field(target, field);
    }
    if target.step_type == "Background" {
        return Some(
            Diagnostic::error("background-output-reference", format!("Background step `{}` has no output variables to read", target.identifier), Span::default())
                .with_help("Background steps cannot export outputs; read the value from a Run step's `outputVariables`"),
        );
    }
    if let Some(diagnostic) = check_order(site, stage_index, target) {
        return Some(diagnostic);
    }
    match rest {
        ["output", "outputVariables", name, ..] => check_output_name(target, name),
        ["output", key, ..] if !unresolvable(key) => {
            let help = did_you_mean(key, &["outputVariables"])?;
            let message = format!(
                "the output of step `{}` has no key `{key}`, so the reference resolves to null",
                target.identifier
            );
            Some(
                Diagnostic::warning("unknown-step-field", message, Span::default()).with_help(help),
            )
        }
        _ => None,
    }
}

/// The `steps.ID.*` fields that Harness supplies at run time. Expressions
/// can read the keys of the step's own mapping too.
const STEP_RUN_TIME_FIELDS: [&str; 12] = [
    "identifier",
    "name",
    "type",
    "status",
    "currentStatus",
    "liveStatus",
    "retryCount",
    "startTs",
    "endTs",
    "executionUrl",
    "output",
    "spec",
];

/// Reports a `steps.ID.FIELD` whose field is neither a run-time field nor
/// a key of the step.
/// NOTE: a warning, because the list of run-time fields above may miss
/// some that Harness supplies.
fn check_step_field(target: &Step<'_>, field: &str) -> Option<Diagnostic> {
    if unresolvable(field) {
        return None;
    }
    let known = known_keys(&STEP_RUN_TIME_FIELDS, target.node);
    if known.contains(&field) {
        return None;
    }
    let help = did_you_mean(field, &known)
        .unwrap_or_else(|| format!("known step fields: {}", backticked(&known)));
    let message = format!(
        "step `{}` has no field `{field}`, so the reference resolves to null",
        target.identifier
    );
    Some(Diagnostic::warning("unknown-step-field", message, Span::default()).with_help(help))
}

/// Warns about a read of the final `status` of a step that has not
/// finished when the reading step runs, which reads as null: a later step
/// of the same stage, or any step of a later stage.
fn check_status_order(
    site: &Site<'_, '_>,
    stage: &Stage<'_>,
    stage_index: usize,
    target: &Step<'_>,
) -> Option<Diagnostic> {
    let reader_stage = site.stage_index?;
    let help = if reader_stage == stage_index {
        let reader = site.step?;
        if std::ptr::eq(reader, target) || target.finish <= reader.start {
            return None;
        }
        format!(
            "move `{}` before the reading step, outside any `parallel` block they share",
            target.identifier
        )
    } else if stage_index > reader_stage {
        format!(
            "stage `{}` runs after this stage; read the status in that stage or a later one",
            stage.identifier
        )
    } else if same_parallel_block(site, reader_stage, stage_index) {
        format!(
            "stage `{}` runs at the same time as this stage; read the status in a stage after their `parallel` block",
            stage.identifier
        )
    } else {
        return None;
    };
    let (reader, reading) = match site.step {
        Some(step) => (
            format!("step `{}`", step.identifier),
            format!("`{}` runs", step.identifier),
        ),
        None => ("this field".to_string(), "this field is read".to_string()),
    };
    Some(
        Diagnostic::warning(
            "later-step-status",
            format!(
                "{reader} reads the status of step `{}`, which has not finished when {reading}, so the status is null",
                target.identifier
            ),
            Span::default(),
        )
        .with_help(help),
    )
}

/// Returns whether stages `a` and `b` (indexes) are in one `parallel`
/// block, so that neither has finished when the other runs.
fn same_parallel_block(site: &Site<'_, '_>, a: usize, b: usize) -> bool {
    let parallel = |index: usize| site.step_indexes.get(index).and_then(|i| i.parallel);
    a != b && parallel(a).is_some() && parallel(a) == parallel(b)
}

fn check_order(site: &Site<'_, '_>, stage_index: usize, target: &Step<'_>) -> Option<Diagnostic> {
    let reader_stage = site.stage_index?;
    if reader_stage == stage_index && site.step.is_some_and(|reader| std::ptr::eq(reader, target)) {
        return Some(
            Diagnostic::error(
                "later-step-output",
                format!("step `{}` cannot read its own output variables", target.identifier),
                Span::default(),
            )
            .with_help("output variables get their values when the step ends; read the shell variable in this step, or the output in a later step"),
        );
    }
    let later = if reader_stage == stage_index {
        let reader = site.step?;
        target.finish > reader.start
    } else {
        stage_index > reader_stage || same_parallel_block(site, reader_stage, stage_index)
    };
    if !later {
        return None;
    }
    let reader = site.step.map_or_else(
        || "this field".to_string(),
        |s| format!("step `{}`", s.identifier),
    );
    Some(
        Diagnostic::error(
            "later-step-output",
            format!(
                "{reader} reads an output of step `{}`, which has not finished when {reader} runs",
                target.identifier
            ),
            Span::default(),
        )
        .with_help(format!(
            "move `{}` before the reading step, outside any `parallel` block they share",
            target.identifier
        )),
    )
}

fn check_output_name(target: &Step<'_>, name: &str) -> Option<Diagnostic> {
    if unresolvable(name) {
        return None;
    }
    let Some(declared) = target.spec_field("outputVariables") else {
        // Plugin and other steps write outputs without declaring them.
        let declares = matches!(target.step_type.as_str(), "Run" | "RunTests" | "Test");
        if !declares || target.get("template").is_some() {
            return None;
        }
        return Some(no_output_variables(target, name));
    };
    let declared = declared.as_sequence()?;
    let names: Vec<&str> = declared
        .iter()
        .filter_map(|item| item.get("name").and_then(Node::as_str))
        .collect();
    if names.contains(&name) {
        return None;
    }
    let mut diagnostic = unknown(
        "unknown-output-variable",
        "output variable",
        name,
        &format!(" in step `{}`", target.identifier),
        &names,
    );
    if diagnostic
        .help
        .as_deref()
        .is_some_and(|h| h.starts_with("no "))
    {
        diagnostic.help = Some(format!(
            "add `- name: {name}` to the `outputVariables` of step `{}`",
            target.identifier
        ));
    }
    Some(diagnostic)
}

fn no_output_variables(target: &Step<'_>, name: &str) -> Diagnostic {
    Diagnostic::error(
        "unknown-output-variable",
        format!(
            "output variable `{name}` does not exist: step `{}` declares no `outputVariables`",
            target.identifier
        ),
        Span::default(),
    )
    .with_help(format!(
        "add `outputVariables: [{{name: {name}}}]` to the `spec` of step `{}`",
        target.identifier
    ))
}

fn check_loop_context(
    pipeline: &Pipeline<'_>,
    site: &Site<'_, '_>,
    reference: &str,
) -> Option<Diagnostic> {
    let stage_loops = site
        .stage_index
        .is_some_and(|i| pipeline.stages[i].get("strategy").is_some());
    let step_loops = site.step.is_some_and(|step| {
        step.get("strategy").is_some()
            || step.groups.iter().any(|g| g.node.get("strategy").is_some())
    });
    let group_loops = site.groups.iter().any(|g| g.node.get("strategy").is_some());
    if stage_loops || step_loops || group_loops || site.stage_index.is_none() {
        return None;
    }
    Some(
        Diagnostic::error("not-in-loop", format!("`<+{reference}>` is used outside a looping strategy"), Span::default())
            .with_help("add `strategy: {matrix: ...}` or `{repeat: ...}` to the step or stage, or remove the reference"),
    )
}

/// The keys that `<+repeat.*>` reads in a repeat loop.
const REPEAT_KEYS: &[&str] = &["item", "partition"];

/// The keys that `<+strategy.*>` reads in any loop.
const STRATEGY_KEYS: &[&str] = &[
    "iteration",
    "iterations",
    "identifierPostFix",
    "currentStatus",
    "node",
    "matrix",
    "repeat",
];

/// The looping kind of a `strategy` node, with the axes of a matrix.
enum LoopKeys<'n> {
    Matrix(Vec<&'n str>),
    /// A `repeat` loop; `items` is false for a `times` loop, which gives no
    /// `<+repeat.item>`, and true when the loop may have items.
    Repeat {
        items: bool,
    },
    Parallelism,
}

/// Returns the keys a strategy gives its nodes, or `None` when they are
/// not known before the run: the strategy or its matrix is a runtime input
/// or an expression, or an axis name contains an expression.
fn loop_keys(strategy: &Node) -> Option<LoopKeys<'_>> {
    if let Some(matrix) = strategy.get("matrix") {
        let mut axes = Vec::new();
        for (key, _) in matrix.as_mapping()? {
            let name = key.as_str()?;
            if has_block_start(name) {
                return None;
            }
            if !MATRIX_KEYS.contains(&name) {
                axes.push(name);
            }
        }
        return Some(LoopKeys::Matrix(axes));
    }
    if let Some(repeat) = strategy.get("repeat") {
        let times_only = repeat.as_mapping().is_some()
            && repeat.get("items").is_none()
            && repeat.get("times").is_some();
        return Some(LoopKeys::Repeat { items: !times_only });
    }
    strategy.get("parallelism").map(|_| LoopKeys::Parallelism)
}

/// Returns the `strategy` node of the innermost loop around the site: the
/// step's own, then its step groups' from the innermost out, then the
/// stage's. Returns `None` for a field of a stage with looped step groups,
/// because the site does not record whether the field sits inside a group.
fn innermost_strategy<'a>(pipeline: &Pipeline<'a>, site: &Site<'_, 'a>) -> Option<&'a Node> {
    let stage = &pipeline.stages[site.stage_index?];
    let group_strategy = |g: &Group<'a>| g.node.get("strategy");
    match site.step {
        Some(step) => step
            .get("strategy")
            .or_else(|| step.groups.iter().rev().find_map(group_strategy))
            .or_else(|| stage.get("strategy")),
        None if !site.groups.is_empty() => site
            .groups
            .iter()
            .rev()
            .find_map(|g| group_strategy(g))
            .or_else(|| stage.get("strategy")),
        None if stage.groups.iter().any(|g| group_strategy(g).is_some()) => None,
        None => stage.get("strategy"),
    }
}

/// Checks the key that a `matrix.*`, `repeat.*` or `strategy.*` reference
/// reads against the loop that gives it a value. `parts` starts at the
/// reference's root.
fn check_loop_key(keys: &LoopKeys<'_>, parts: &[&str], reference: &str) -> Option<Diagnostic> {
    let (root, key) = match parts {
        ["strategy", root @ ("matrix" | "repeat"), key, ..] => (*root, *key),
        ["strategy", key, ..] => ("strategy", *key),
        [root, key, ..] => (*root, *key),
        _ => return None,
    };
    if unresolvable(key) {
        return None;
    }
    match (root, keys) {
        ("matrix", LoopKeys::Matrix(axes)) if !axes.contains(&key) => {
            Some(unknown("unknown-loop-key", "matrix axis", key, "", axes))
        }
        ("matrix", LoopKeys::Repeat { .. } | LoopKeys::Parallelism) => Some(
            Diagnostic::error(
                "unknown-loop-key",
                format!(
                    "`<+{reference}>` is used in a {} loop, which has no matrix axes",
                    loop_name(keys)
                ),
                Span::default(),
            )
            .with_help(match keys {
                LoopKeys::Repeat { items: true } => {
                    "an expression reads the innermost loop only; use `<+repeat.item>` or \
                     `<+strategy.iteration>` here, or `<+stage.matrix.AXIS>` for a matrix on the stage"
                }
                _ => {
                    "an expression reads the innermost loop only; use `<+strategy.iteration>` \
                     here, or `<+stage.matrix.AXIS>` for a matrix on the stage"
                }
            }),
        ),
        ("repeat", LoopKeys::Repeat { items: false }) if key == "item" || key == "partition" => {
            Some(
                Diagnostic::warning(
                    "unknown-loop-key",
                    format!(
                        "`<+{reference}>` is used in a repeat loop with `times`, which has no \
                         items, so it resolves to null"
                    ),
                    Span::default(),
                )
                .with_help(
                    "use `<+strategy.iteration>` for the 0-based index, or loop over `items`",
                ),
            )
        }
        ("repeat", LoopKeys::Repeat { .. }) if !REPEAT_KEYS.contains(&key) => Some(
            Diagnostic::error(
                "unknown-loop-key",
                format!("repeat key `{key}` does not exist"),
                Span::default(),
            )
            .with_help(did_you_mean(key, REPEAT_KEYS).unwrap_or_else(|| {
                "a repeat loop gives `<+repeat.item>` and `<+repeat.partition>`; \
                 the 0-based index is `<+strategy.iteration>`"
                    .to_string()
            })),
        ),
        ("repeat", LoopKeys::Matrix(_) | LoopKeys::Parallelism) => Some(
            Diagnostic::error(
                "unknown-loop-key",
                format!(
                    "`<+{reference}>` is used in a {} loop, which has no repeat items",
                    loop_name(keys)
                ),
                Span::default(),
            )
            .with_help(
                "an expression reads the innermost loop only; use `<+matrix.AXIS>` or \
                 `<+strategy.iteration>` here",
            ),
        ),
        ("strategy", _) if !STRATEGY_KEYS.contains(&key) => Some(unknown(
            "unknown-loop-key",
            "strategy key",
            key,
            "",
            STRATEGY_KEYS,
        )),
        _ => None,
    }
}

fn loop_name(keys: &LoopKeys<'_>) -> &'static str {
    match keys {
        LoopKeys::Matrix(_) => "matrix",
        LoopKeys::Repeat { .. } => "repeat",
        LoopKeys::Parallelism => "parallelism",
    }
}

/// A variable in the reference graph: the stage it belongs to (`None` for a
/// pipeline variable) and its name.
type VariableKey<'p> = (Option<usize>, &'p str);

/// Reports each cycle among pipeline and stage variables whose values refer
/// to one another, once, at the value of the first variable of the cycle in
/// file order. `resolve` finds the same cycles while evaluating; this finds
/// them without a context, so `check` reports them too.
fn check_variable_cycles(
    report: &mut Report,
    pipeline: &Pipeline<'_>,
    source: &str,
    templates: &Templates,
) {
    let mut variables: Vec<(VariableKey<'_>, &Variable<'_>)> = pipeline
        .variables
        .iter()
        .map(|variable| ((None, variable.name.as_str()), variable))
        .collect();
    for (index, stage) in pipeline.stages.iter().enumerate() {
        variables.extend(
            stage
                .variables
                .iter()
                .map(|variable| ((Some(index), variable.name.as_str()), variable)),
        );
    }
    let position: HashMap<VariableKey<'_>, usize, FixedState> = variables
        .iter()
        .enumerate()
        .map(|(at, (key, _))| (*key, at))
        .collect();

    // The edges: for each variable, the variables its value reads.
    let edges: Vec<Vec<usize>> = variables
        .iter()
        .map(|((stage, _), variable)| {
            let Some(text) = variable.value.and_then(Node::as_str) else {
                return Vec::new();
            };
            if !text.contains("<+") || classify(text) == ValueKind::RuntimeInput {
                return Vec::new();
            }
            let Ok(references) = templates.with(text, |template| Ok(template.references())) else {
                return Vec::new();
            };
            references
                .paths
                .iter()
                .filter_map(|reference| variable_target(pipeline, *stage, reference))
                .filter_map(|(key, _)| position.get(&key).copied())
                .collect()
        })
        .collect();

    // Depth-first search; a back edge to a variable on the stack closes a cycle.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }
    let mut marks = vec![Mark::New; variables.len()];
    for start in 0..variables.len() {
        if marks[start] != Mark::New {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        marks[start] = Mark::OnStack;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&target) = edges[node].get(*next) {
                *next += 1;
                match marks[target] {
                    Mark::New => {
                        marks[target] = Mark::OnStack;
                        stack.push((target, 0));
                    }
                    Mark::OnStack => {
                        let from = stack.iter().position(|&(n, _)| n == target).unwrap_or(0);
                        let cycle: Vec<usize> = stack[from..].iter().map(|&(n, _)| n).collect();
                        report_cycle(report, &variables, &cycle, source);
                    }
                    Mark::Done => {}
                }
            } else {
                marks[node] = Mark::Done;
                stack.pop();
            }
        }
    }
}

/// Returns the variable a reference reads, if any, with its key:
/// `pipeline.variables.x`, `pipeline.stages.S.variables.x`, or
/// `stage.variables.x` inside stage `stage`.
fn variable_target<'p, 'a>(
    pipeline: &'p Pipeline<'a>,
    stage: Option<usize>,
    reference: &str,
) -> Option<(VariableKey<'p>, &'p Variable<'a>)> {
    let parts = segments(reference);
    let (stage, name) = match parts.as_slice() {
        ["pipeline", "variables", name, ..] => (None, *name),
        ["pipeline", "stages", stage_id, "variables", name, ..] => {
            (Some(find_stage(pipeline, stage_id)?), *name)
        }
        ["stage", "variables", name, ..] => (Some(stage?), *name),
        _ => return None,
    };
    let list = match stage {
        None => &pipeline.variables,
        Some(index) => &pipeline.stages[index].variables,
    };
    let variable = list.iter().find(|variable| variable.name == name)?;
    Some(((stage, variable.name.as_str()), variable))
}

fn report_cycle(
    report: &mut Report,
    variables: &[(VariableKey<'_>, &Variable<'_>)],
    cycle: &[usize],
    source: &str,
) {
    let Some(&first) = cycle.iter().min() else {
        return;
    };
    // Start the chain at the variable written first, so each cycle reads the same way.
    let start = cycle.iter().position(|&n| n == first).unwrap_or(0);
    let mut chain: Vec<String> = cycle[start..]
        .iter()
        .chain(&cycle[..start])
        .map(|&n| format!("`{}`", variables[n].1.path))
        .collect();
    chain.push(chain[0].clone());
    let variable = variables[first].1;
    let node = variable.value.unwrap_or(variable.node);
    let next = &variables[cycle[(start + 1) % cycle.len()]].1.path;
    report.push(
        Diagnostic::error(
            crate::error::codes::CYCLE,
            format!("variable cycle: {}", chain.join(" → ")),
            locate(source, node, next),
        )
        .with_help("change one of these values so it no longer refers back to itself"),
    );
}

#[cfg(test)]
mod tests {
    use super::{find_text, find_with_prefix, secret_id_problem};

    #[test]
    fn secret_ids_valid_and_invalid() {
        for id in [
            "token",
            "_x",
            "org.db-pass",
            "account.A$1",
            "dockerhub-infrasplit-token",
        ] {
            assert_eq!(secret_id_problem(id), None, "`{id}`");
        }
        let cases = [
            ("org.my secret", "contains ` `"),
            ("a/b", "contains `/`"),
            (
                "${HARNESS_API_KEY_SECRET}",
                "must start with a letter or `_`, not `$`",
            ),
            ("1abc", "must start with a letter or `_`, not `1`"),
            ("", "is empty"),
            ("org.", "is empty"),
        ];
        for (id, problem) in cases {
            assert_eq!(secret_id_problem(id).as_deref(), Some(problem), "`{id}`");
        }
        let long = "a".repeat(129);
        assert_eq!(
            secret_id_problem(&long).as_deref(),
            Some("is longer than 128 characters")
        );
    }

    #[test]
    fn find_with_prefix_prefers_whole_text() {
        let cases = [
            ("echo <+steps.a.x>", "execution.", "steps.a.x"),
            (
                "echo <+execution.steps.a.x> <+steps.a.x>",
                "execution.",
                "steps.a.x",
            ),
            (
                "echo <+steps.a.x> <+execution.steps.a.x>",
                "execution.",
                "steps.a.x",
            ),
            (
                "<+stages.s.status><+pipeline.stages.s.status>",
                "pipeline.",
                "stages.s.status",
            ),
            ("pipeline.pipeline.name", "pipeline.", "name"),
            ("echo <+steps.b.x>", "execution.", "steps.a.x"),
            ("echo pipeline.", "pipeline.", ""),
            ("echo", "pipeline.", ""),
        ];
        for (text, prefix, short) in cases {
            // The whole text's first match, or else the first `short`.
            let whole = format!("{prefix}{short}");
            let expected = text
                .find(&whole)
                .map(|at| (at, whole.len()))
                .or_else(|| text.find(short).map(|at| (at, short.len())));
            assert_eq!(find_with_prefix(text, prefix, short), expected, "{text}");
        }
    }

    #[test]
    fn unknown_step_points_at_its_block() {
        let stage = |id: &str, command: &str| {
            format!(
                "    - stage:\n        name: {id}\n        identifier: {id}\n        type: CI\n        spec:\n          platform: {{os: Linux, arch: Amd64}}\n          runtime: {{type: Cloud, spec: {{}}}}\n          execution:\n            steps:\n              - step:\n                  type: Run\n                  name: {id}a\n                  identifier: a{id}\n                  spec:\n                    shell: Sh\n                    outputVariables:\n                      - name: X\n                    command: {command}\n"
            )
        };
        let cross_stage = "<+pipeline.stages.s1.spec.execution.steps.as1.output.outputVariables.X>";
        let wrong = "<+steps.as1.output.outputVariables.X>";
        for (style, command) in [
            ("plain", format!("echo {cross_stage} {wrong}")),
            (
                "literal",
                format!(
                    "|\n                      echo {cross_stage}\n                      echo {wrong}"
                ),
            ),
        ] {
            let source = format!(
                "pipeline:\n  name: p\n  identifier: p\n  stages:\n{}{}",
                stage("s1", "echo one"),
                stage("s2", &command)
            );
            let diagnostics = crate::pipeline::check(&source, "p.yaml");
            let unknown: Vec<_> = diagnostics
                .iter()
                .filter(|d| d.code == "unknown-step")
                .collect();
            assert_eq!(unknown.len(), 1, "{style}: {diagnostics:?}");
            let expected = source.rfind(wrong).unwrap() + "<+".len();
            assert_eq!(unknown[0].span.byte_start, expected, "{style}");
        }
    }

    #[test]
    fn unknown_step_help_lists_twenty_steps() {
        let steps: String = (0..30)
            .map(|i| {
                format!(
                    "              - step:\n                  type: Run\n                  name: s{i}\n                  identifier: s{i}\n                  spec:\n                    command: echo <+steps.unrelated.status>\n"
                )
            })
            .collect();
        let source = format!(
            "pipeline:\n  name: p\n  identifier: p\n  stages:\n    - stage:\n        name: b\n        identifier: b\n        type: CI\n        spec:\n          platform: {{os: Linux, arch: Amd64}}\n          runtime: {{type: Cloud, spec: {{}}}}\n          execution:\n            steps:\n{steps}"
        );

        let diagnostics = crate::pipeline::check(&source, "p.yaml");

        let unknown: Vec<_> = diagnostics
            .iter()
            .filter(|d| d.code == "unknown-step")
            .collect();
        assert_eq!(unknown.len(), 30, "{diagnostics:?}");
        let listed: Vec<String> = (0..20).map(|i| format!("`s{i}`")).collect();
        let expected = format!("declared steps: {} and 10 more", listed.join(", "));
        assert_eq!(unknown[0].help.as_deref(), Some(expected.as_str()));
    }

    /// Checks a one-stage pipeline whose one step `a` runs `command`.
    fn check_step_command(command: &str) -> Vec<crate::Diagnostic> {
        let source = format!(
            "pipeline:\n  name: p\n  identifier: p\n  variables:\n    - name: v\n      type: String\n      value: x\n  stages:\n    - stage:\n        name: s\n        identifier: s\n        type: CI\n        spec:\n          platform: {{os: Linux, arch: Amd64}}\n          runtime: {{type: Cloud, spec: {{}}}}\n          execution:\n            steps:\n              - step:\n                  type: Run\n                  name: a\n                  identifier: a\n                  spec:\n                    shell: Sh\n                    outputVariables:\n                      - name: X\n                    command: {command}\n"
        );
        crate::pipeline::check(&source, "p.yaml")
    }

    #[test]
    fn port_binding_key_references_checked() {
        let source = "pipeline:\n  name: p\n  identifier: p\n  variables:\n    - name: port\n      type: String\n      value: \"8080\"\n  stages:\n    - stage:\n        name: s\n        identifier: s\n        type: CI\n        spec:\n          platform: {os: Linux, arch: Amd64}\n          runtime: {type: Cloud, spec: {}}\n          execution:\n            steps:\n              - step:\n                  type: Background\n                  name: c\n                  identifier: c\n                  spec:\n                    image: redis\n                    portBindings:\n                      \"<+pipeline.variables.port>\": \"80\"\n                      \"<+pipeline.variables.prot>\": \"81\"\n                      \"<+steps.nope.status>\": \"82\"\n";
        let diagnostics = crate::pipeline::check(source, "p.yaml");
        let codes: Vec<&str> = diagnostics.iter().map(|d| d.code.as_str()).collect();
        assert!(codes.contains(&"unknown-variable"), "{diagnostics:?}");
        assert!(codes.contains(&"unknown-step"), "{diagnostics:?}");
        let variable = diagnostics
            .iter()
            .find(|d| d.code == "unknown-variable")
            .unwrap();
        let expected = source.find("pipeline.variables.prot").unwrap();
        assert_eq!(variable.span.byte_start, expected);
        let declared = source.find("pipeline.variables.port").unwrap();
        assert!(
            diagnostics.iter().all(|d| d.span.byte_start != declared),
            "{diagnostics:?}"
        );
    }

    #[test]
    fn own_output_read_rejected() {
        let diagnostics = check_step_command("echo <+steps.a.output.outputVariables.X>");
        let own: Vec<_> = diagnostics
            .iter()
            .filter(|d| d.code == "later-step-output")
            .collect();
        assert_eq!(own.len(), 1, "{diagnostics:?}");
        assert_eq!(
            own[0].message,
            "step `a` cannot read its own output variables"
        );
        let help = own[0].help.as_deref().unwrap_or_default();
        assert!(!help.contains("move"), "{help}");
        assert!(help.contains("later step"), "{help}");
    }

    #[test]
    fn pipeline_key_typo_suggested() {
        let diagnostics = check_step_command("echo <+pipeline.variabels.v>");
        let typo: Vec<_> = diagnostics
            .iter()
            .filter(|d| d.code == "unknown-pipeline-key")
            .collect();
        assert_eq!(typo.len(), 1, "{diagnostics:?}");
        assert_eq!(typo[0].message, "pipeline key `variabels` does not exist");
        assert_eq!(typo[0].help.as_deref(), Some("did you mean `variables`?"));
    }

    #[test]
    fn pipeline_keys_known_or_distant_accepted() {
        for key in [
            "variables.v",
            "name",
            "sequenceId",
            "executionId",
            "triggeredBy.email",
            "properties.ci.codebase.repoName",
            "someFutureKey",
        ] {
            let diagnostics = check_step_command(&format!("echo <+pipeline.{key}>"));
            assert!(
                diagnostics.iter().all(|d| d.code != "unknown-pipeline-key"),
                "{key}: {diagnostics:?}"
            );
        }
    }

    #[test]
    fn find_text_matches_str_find() {
        let cases = [
            (
                "echo <+steps.a.output.outputVariables.OUT>",
                "steps.a.output",
            ),
            (
                "echo <+stage.variables.x> <+stage.variables.x>",
                "stage.variables.x",
            ),
            ("ss steps.a", "steps.a"),
            ("héllo <+pipeline.variables.é>", "variables.é"),
            ("short", "much longer than the text"),
            ("no match here", "steps"),
            ("anything", ""),
            ("", "steps"),
        ];
        for (haystack, needle) in cases {
            assert_eq!(
                find_text(haystack, needle),
                haystack.find(needle),
                "`{needle}` in `{haystack}`"
            );
        }
    }
}
