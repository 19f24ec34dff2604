//! Resolution: every stage and step of a pipeline with runtime inputs
//! applied, expressions rendered or evaluated, looping strategies expanded
//! and the infrastructure's defaults added.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use foldhash::fast::FixedState;
use indexmap::IndexMap;
use serde_json::Value as Json;
use smallvec::SmallVec;

use crate::diagnostic::{Diagnostic, Span};
use crate::error::{ExprError, codes};
use crate::eval::Context;
use crate::expr::{PathSegment, alias_of, canonical, dotted};
use crate::input::RuntimeInput;
use crate::options::{EvalMode, Options, ScanMode, Unresolved};
use crate::pipeline::duration::parse_duration;
use crate::pipeline::expansion::{self, MAX_EXPANDED_NODES};
use crate::pipeline::failure::{self, FailureStrategy};
use crate::pipeline::field::{ValueKind, classify, classify_node};
use crate::pipeline::image::{ImageParts, parse_image_parts};
use crate::pipeline::inputs::{self, expr_diagnostic};
use crate::pipeline::iteration_values::{IterationValues, variables_map};
use crate::pipeline::iterations::MISSING_ITERATION_SUFFIX;
use crate::pipeline::model::{self, DocumentKind, Group, Pipeline, Report, Stage, Step};
use crate::pipeline::paths::{
    FieldType, field_type, push_index, push_key, secret_free_field_of_type,
};
use crate::pipeline::provenance::{FILE_ROOTS, RunTimeData};
use crate::pipeline::quantity::{parse_cpu, parse_memory};
use crate::pipeline::references::STEP_NOT_IN_SCOPE;
use crate::pipeline::resolved::*;
use crate::pipeline::scope::{Scope, merge, tree};
use crate::pipeline::shared_path::SharedPath;
use crate::pipeline::templates::Templates;
use crate::pipeline::validate::{self, effective_infrastructure};
use crate::pipeline::yaml::{Node, NodeValue, Scalar, scalar_to_json};
use crate::pipeline::{load_document, strategy, without_bom};
use crate::template::has_block_start;
use crate::value::Value;

/// Memory limit a container step gets when it sets none (Harness's default).
pub const DEFAULT_MEMORY: &str = "500Mi";
/// CPU limit a container step gets when it sets none (Harness's default).
pub const DEFAULT_CPU: &str = "400m";

/// A run-time value that had no value, and where it was first used.
struct Miss {
    path: String,
    span: Span,
    /// Whether the field keeps the block as written for the runner, rather
    /// than resolving it to null.
    kept: bool,
}

/// The byte ranges of the errors found in the pipeline file, and of the
/// warnings about references to stages and steps that no iteration of a
/// loop has and about loop values a loop does not give, for finding whether
/// a span overlaps one in logarithmic time.
struct ErrorRanges {
    /// `(start, end)` pairs sorted by start.
    ranges: Vec<(usize, usize)>,
    /// `max_end[i]` is the largest end among `ranges[..=i]`.
    max_end: Vec<usize>,
}

impl ErrorRanges {
    fn new(diagnostics: &[Diagnostic]) -> Self {
        let mut ranges: Vec<(usize, usize)> = diagnostics
            .iter()
            .filter(|diagnostic| {
                let rejected = diagnostic.is_error()
                    || matches!(
                        diagnostic.code.as_str(),
                        MISSING_ITERATION_SUFFIX
                            | STEP_NOT_IN_SCOPE
                            | "unknown-step"
                            | "unknown-stage"
                            | "unknown-loop-key"
                    );
                rejected && diagnostic.file.is_none()
            })
            .map(|diagnostic| (diagnostic.span.byte_start, diagnostic.span.byte_end))
            .collect();
        ranges.sort_unstable();
        let max_end = ranges
            .iter()
            .scan(0, |max, &(_, end)| {
                *max = end.max(*max);
                Some(*max)
            })
            .collect();
        ErrorRanges { ranges, max_end }
    }

    /// Returns whether `span` shares at least one byte with an error's range.
    fn overlaps(&self, span: &Span) -> bool {
        let before_end = self
            .ranges
            .partition_point(|&(start, _)| start < span.byte_end);
        before_end > 0 && self.max_end[before_end - 1] > span.byte_start
    }
}

/// State shared by the whole resolution.
struct Resolver<'p, 'a> {
    source: &'a str,
    pipeline: &'p Pipeline<'a>,
    templates: &'p Templates,
    report: Report,
    misses: Vec<Miss>,
    /// The paths in `misses`, so recording a repeated miss costs one hash lookup.
    missed_paths: HashSet<String, FixedState>,
    /// The byte ranges of the fields whose expressions read a step output
    /// or status without a value yet: their resolved value is a placeholder
    /// until the runner resolves the step again, so it is not checked.
    run_state_fields: HashSet<(usize, usize), FixedState>,
    /// The spans of the fields whose expressions read a path with no value,
    /// or, with `narrow_unknown_spans`, of the parts of those fields from a
    /// top-level block that read one up to the next block.
    unknown_value_spans: Vec<Span>,
    /// Whether `check` reads `unknown_value_spans` to leave out errors that
    /// may not happen with run-time values: an error elsewhere in the same
    /// field is one of the file.
    narrow_unknown_spans: bool,
    /// The strings of the context and the secrets the file's expressions use.
    data: RunTimeData,
    /// Stages and steps resolved so far, counting every iteration.
    expanded: usize,
    /// Bytes of text in the `spec` of the steps resolved so far.
    resolved_bytes: usize,
    /// How many expressions stopped because the shared evaluation budget
    /// ran out.
    over_budget: usize,
    /// Whether expansion stopped at [`MAX_EXPANDED_NODES`], so no further
    /// stage or step is resolved.
    expansion_stopped: bool,
    /// The host ports bound by the Background steps of the stage iteration
    /// being resolved, with the span of the `portBindings` key and the step.
    service_host_ports: Vec<(u16, Span, String)>,
    /// The host names of the Background steps of the stage iteration being
    /// resolved, with the span of the step's identifier and its name.
    service_hostnames: Vec<(String, Span, String)>,
    /// The entries of `service_hostnames` of steps without a loop of their
    /// own.
    repeated_services: Vec<(String, Span, String)>,
    /// The origin of each supplied runtime input, keyed by the byte range
    /// of its field, so that errors in a supplied value can name it.
    input_origins: HashMap<(usize, usize), inputs::Origin, FixedState>,
}

/// One iteration of a step group around the steps being resolved.
struct GroupFrame {
    /// The group's path as written (`...steps.G`).
    path: String,
    /// The group's identifier, with the iteration suffix when it loops.
    identifier: String,
    /// The group's path with every enclosing loop's suffix
    /// (`pipeline.stages.S_0.spec.execution.steps.G_1`).
    fqn: String,
    iteration: Option<Iteration>,
    /// The group's own `failureStrategies`.
    failure_strategies: Vec<FailureStrategy>,
    /// The group's `when`, resolved for this iteration.
    when: Option<GroupWhen>,
}

/// The step-group iterations around the steps being resolved, and the
/// `parallel` numbers of group iterations after the first.
struct Nesting {
    /// The stage's path as written and with its iteration suffix.
    stage_path: String,
    stage_fqn: String,
    /// Enclosing group iterations, outermost first.
    frames: Vec<GroupFrame>,
    /// New numbers for the `parallel` blocks inside a group iteration
    /// after the first. Each iteration's blocks are separate blocks, and
    /// the runner groups steps by this number.
    parallel: HashMap<u32, u32>,
    /// The largest `parallel` number given out in the stage so far.
    last_parallel: u32,
}

impl Nesting {
    /// Returns the path as written and the expanded path of the innermost
    /// group, or of the stage for a step outside groups.
    fn parent(&self) -> (&str, &str) {
        match self.frames.last() {
            Some(frame) => (&frame.path, &frame.fqn),
            None => (&self.stage_path, &self.stage_fqn),
        }
    }

    /// Returns the iteration of the innermost looped group.
    fn iteration(&self) -> Option<&Iteration> {
        self.frames
            .iter()
            .rev()
            .find_map(|frame| frame.iteration.as_ref())
    }

    fn group_identifier(&self) -> Option<&str> {
        self.frames.last().map(|frame| frame.identifier.as_str())
    }

    /// Returns the path of a node inside the innermost group (or the
    /// stage) as resolved: `written` with the group's expanded path in
    /// front and its last segment `old_last` replaced by `last`.
    fn expand_path(&self, written: &str, old_last: &str, last: &str) -> String {
        let (path, fqn) = self.parent();
        let middle = written
            .strip_prefix(path)
            .and_then(|rest| rest.strip_suffix(old_last))
            .unwrap_or_default();
        concat(&[fqn, middle, last])
    }

    /// Gives the `parallel` blocks of `steps` new numbers, except the
    /// block `enclosing` around their group.
    fn renumber_parallel(&mut self, steps: &[Step<'_>], enclosing: Option<u32>) {
        let mut renumbered = HashSet::new();
        for number in steps.iter().filter_map(|step| step.parallel) {
            if Some(number) != enclosing && renumbered.insert(number) {
                self.last_parallel += 1;
                self.parallel.insert(number, self.last_parallel);
            }
        }
    }
}

/// A context in which only step outputs and statuses are unresolved. Any
/// other path without a value reads as null, as `Unresolved::Null` renders
/// it, so a method called on it is still an error.
struct RunStateUnknown<'c> {
    inner: &'c dyn Context,
}

impl Context for RunStateUnknown<'_> {
    fn lookup(&self, path: &[PathSegment]) -> Option<Cow<'_, Value>> {
        if let Some(value) = self.inner.lookup(path) {
            return Some(value);
        }
        // The evaluator tries a path's alias only after the path itself
        // finds nothing, so the alias is tried here before reading null.
        if let Some(value) = alias_of(path).and_then(|alias| self.inner.lookup(&alias)) {
            return Some(value);
        }
        let name = dotted(&canonical(path));
        if is_run_state(&name) {
            None
        } else {
            // Any other missing value reads null here as it did in the
            // first attempt, and gets the same warning.
            self.inner.missed(&name);
            Some(Cow::Owned(Value::Null))
        }
    }

    fn missed(&self, path: &str) {
        self.inner.missed(path);
    }

    fn is_run_time_value(&self, path: &[PathSegment], value: &Value) -> bool {
        if self.inner.is_run_time_value(path, value) {
            return true;
        }
        // `lookup` reads a missing value as null, which the evaluator then
        // never reports as missing.
        matches!(value, Value::Null)
            && self.inner.lookup(path).is_none()
            && alias_of(path).is_none_or(|alias| self.inner.lookup(&alias).is_none())
            && self.inner.is_absent_run_time_data(path)
    }

    fn is_loop_data(&self, path: &[PathSegment]) -> bool {
        self.inner.is_loop_data(path)
    }

    fn is_absent_run_time_data(&self, path: &[PathSegment]) -> bool {
        self.inner.is_absent_run_time_data(path)
    }

    fn used_secret(&self, id: &str) {
        self.inner.used_secret(id);
    }

    fn shared_steps_left(&self) -> Option<u64> {
        self.inner.shared_steps_left()
    }

    fn spent_steps(&self, steps: u64) {
        self.inner.spent_steps(steps);
    }
}

/// Returns whether `path` reads a step output, a status or a retry count,
/// the values that exist only once the run reaches them.
/// The help of an `unresolved-at-run-time` warning about a step output,
/// status or retry count, which `basso run` supplies when the step starts.
const RUN_STATE_HELP: &str =
    "the runner resolves this step again with the outputs and statuses of earlier steps";

/// The start of the help of an `unresolved-at-run-time` warning about a
/// value that the context does not give and a run supplies (`trigger`,
/// `codebase`, `pipeline.executionUrl`).
const CONTEXT_HELP_START: &str = "the runner supplies it at execution";

/// Returns whether `diagnostic` is an `unresolved-at-run-time` warning about
/// a value that the context does not give and that Harness's runner would
/// supply. `basso run` supplies only some of them, so it rewords these.
pub fn is_context_warning(diagnostic: &Diagnostic) -> bool {
    diagnostic.code == "unresolved-at-run-time"
        && diagnostic
            .help
            .as_deref()
            .is_some_and(|help| help.starts_with(CONTEXT_HELP_START))
}

/// Returns whether `diagnostic` is an `unresolved-at-run-time` warning about
/// a step output, status or retry count: a value that `basso run` supplies,
/// so the warning matters only before the run.
pub fn is_run_state_warning(diagnostic: &Diagnostic) -> bool {
    diagnostic.code == "unresolved-at-run-time"
        && diagnostic.help.as_deref() == Some(RUN_STATE_HELP)
}

pub(crate) fn is_run_state(path: &str) -> bool {
    path.contains(".output.")
        || path.ends_with(".output")
        || path.ends_with(".status")
        || path.ends_with(".retryCount")
        || path.contains("Status")
}

/// Builds the error for secret `id`, which the expression `text` at `node`
/// gave the field `name`, whose `role` (such as `a timeout`) cannot be a
/// secret.
fn secret_not_allowed(text: &str, node: &Node, name: &str, role: &str, id: &str) -> Diagnostic {
    Diagnostic::error(
        "secret-not-allowed",
        format!("`{name}` resolves to secret `{id}` through `{text}`, but a secret cannot be {role}"),
        node.span,
    )
    .with_help("give the field its value directly, or through a variable or runtime input that holds no secret")
}

/// Returns the text of a resolved field, or `None` for null.
fn into_text(value: Json) -> Option<String> {
    match value {
        Json::Null => None,
        Json::String(text) => Some(text),
        other => Some(json_text(&other)),
    }
}

/// Joins `parts` into one string allocated at its final size. Paths and
/// identifiers of every step are built this way, because `format!` costs
/// several times more on such short strings.
fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|part| part.len()).sum());
    for part in parts {
        out.push_str(part);
    }
    out
}

/// Finds the subtree at a dotted input path (`pipeline.stages.S...`).
fn subtree<'v>(root: &'v Value, path: &str) -> Option<&'v Value> {
    get_keys(root, path)
}

/// Follows the `.`-separated keys of `path` from `root`, as
/// [`Value::get_path`] follows [`PathSegment::Key`]s: a key on a list is
/// read as an index, and a map key may contain dots. The keys are borrowed
/// from `path`, where building the segments allocated one string per key.
fn get_keys<'v>(root: &'v Value, path: &str) -> Option<&'v Value> {
    match root {
        Value::Map(entries) => get_dotted_key(entries, path),
        Value::List(items) => {
            let dot = next_dot(path, 0);
            let item = items.get(path[..dot.unwrap_or(path.len())].parse::<usize>().ok()?)?;
            match dot {
                Some(dot) => get_keys(item, &path[dot + 1..]),
                None => Some(item),
            }
        }
        _ => None,
    }
}

/// Returns the position of the first `.` of `path` at or after `start`.
/// A byte scan, because `str::find` with a `char` sets up a searcher that
/// costs more than these short keys.
fn next_dot(path: &str, start: usize) -> Option<usize> {
    path.as_bytes()[start..]
        .iter()
        .position(|&byte| byte == b'.')
        .map(|offset| start + offset)
}

/// Follows `path` from the map `entries`, whose keys may contain dots
/// (an environment variable named `my.var`). The first segment is tried as
/// the key first, then the first two segments, and so on, so a path that
/// the file writes as nested maps is found as such.
fn get_dotted_key<'v>(entries: &'v crate::value::Map, path: &str) -> Option<&'v Value> {
    let mut start = 0;
    loop {
        let dot = next_dot(path, start);
        let key = &path[..dot.unwrap_or(path.len())];
        if let Some(entry) = entries.get(key) {
            let found = match dot {
                Some(dot) => get_keys(entry, &path[dot + 1..]),
                None => Some(entry),
            };
            if found.is_some() {
                return found;
            }
        }
        start = dot? + 1;
    }
}

/// Resolves a pipeline file. See [`crate::pipeline::resolve`].
pub fn resolve(
    source: &str,
    file_name: &str,
    arguments: &[(String, String)],
    input_sets: &[(String, String)],
    context: &Json,
) -> Resolution {
    resolve_tracked(
        source,
        file_name,
        arguments,
        input_sets,
        context,
        InputsWithoutValue::Null,
    )
    .0
}

/// Resolves a pipeline file with no inputs and no context for `check`, and
/// returns the resolution's diagnostics with the spans of the fields whose
/// expressions read a path that had no value (a codebase, trigger or step
/// value, say). An error in such a field may not happen at run time.
///
/// A runtime input without a value is left out of the value tree, so a field
/// that reads it through a variable counts as reading an unknown value.
pub(crate) fn resolve_with_defaults(source: &str, file_name: &str) -> (Vec<Diagnostic>, Vec<Span>) {
    resolve_with_input_sets(source, file_name, &[])
}

/// Resolves a pipeline file like [`resolve_with_defaults`], with
/// `input_sets` applied, for `check` of input sets beside their pipeline.
pub(crate) fn resolve_with_input_sets(
    source: &str,
    file_name: &str,
    input_sets: &[(String, String)],
) -> (Vec<Diagnostic>, Vec<Span>) {
    let (resolution, unknown_value_spans) = resolve_tracked(
        source,
        file_name,
        &[],
        input_sets,
        &Json::Null,
        InputsWithoutValue::Unknown,
    );
    (resolution.diagnostics, unknown_value_spans)
}

/// The value that a runtime input without a value reads as during
/// resolution.
#[derive(Clone, Copy, PartialEq, Eq)]
enum InputsWithoutValue {
    /// Null, after its `missing-input` error.
    Null,
    /// No value at all, like a run-time value that the context lacks.
    Unknown,
}

/// Removes the map entry at `path` from `node`, and returns whether one was
/// removed. Keys may contain dots (a variable named `my.timeout`), so each
/// key of a map that starts the rest of the path is tried. An item of a
/// list stays, because removing it would move the later ones.
fn remove_path(node: &mut Value, path: &str) -> bool {
    let Value::Map(entries) = node else {
        return false;
    };
    if entries.shift_remove(path).is_some() {
        return true;
    }
    let keys: Vec<String> = entries
        .keys()
        .filter(|key| {
            path.len() > key.len()
                && path.starts_with(key.as_str())
                && path.as_bytes()[key.len()] == b'.'
        })
        .cloned()
        .collect();
    keys.iter().any(|key| {
        entries
            .get_mut(key)
            .is_some_and(|entry| remove_path(entry, &path[key.len() + 1..]))
    })
}

fn resolve_tracked(
    source: &str,
    file_name: &str,
    arguments: &[(String, String)],
    input_sets: &[(String, String)],
    context: &Json,
    without_value: InputsWithoutValue,
) -> (Resolution, Vec<Span>) {
    let source = without_bom(source);
    let mut report = Report::default();
    let Some(root) = load_document(source, &mut report) else {
        return (
            finish(None, Vec::new(), report.diagnostics, file_name),
            Vec::new(),
        );
    };
    let pipeline = match model::document_kind(&mut report, &root) {
        Some(DocumentKind::InputSet) => {
            report.error(
                "not-a-pipeline",
                "this file is an input set, not a pipeline",
                root.span,
                "resolve the pipeline file and pass this file with `--inputs`",
            );
            None
        }
        Some(kind) => model::read_pipeline(&mut report, &root, kind),
        None => None,
    };
    let Some(pipeline) = pipeline else {
        return (
            finish(None, Vec::new(), report.diagnostics, file_name),
            Vec::new(),
        );
    };
    let templates = Templates::default();
    crate::pipeline::validate::validate(&mut report, &pipeline, &templates);
    crate::pipeline::references::check(&mut report, &pipeline, source, &templates);

    let fields = inputs::collect(&mut report, pipeline.node, source);
    let mut supplied = IndexMap::new();
    for (set_name, set_source) in input_sets {
        inputs::apply_input_set(
            &mut report,
            &fields,
            set_name,
            set_source,
            &pipeline.identifier,
            &mut supplied,
        );
    }
    inputs::apply_arguments(&mut report, &fields, arguments, &mut supplied);
    let values = inputs::finalize(&mut report, &fields, &supplied);
    // Supplied values that an error rejected, which now read as null.
    let invalid_inputs: HashSet<String> = supplied
        .iter()
        .filter(|(path, given)| {
            given.rejected
                || !matches!(given.value, Value::Null)
                    && matches!(values.get(*path), Some(Value::Null))
        })
        .map(|(path, _)| path.clone())
        .collect();
    check_value_references(
        &mut report,
        &pipeline,
        &fields,
        &supplied,
        &values,
        &templates,
    );

    let mut tree_root = tree(pipeline.node, "pipeline", &values);
    if let Value::Map(map) = &mut tree_root {
        map.entry("identifier".to_string())
            .or_insert(Value::String(pipeline.identifier.clone()));
        map.entry("name".to_string())
            .or_insert(Value::String(pipeline.name.clone()));
    }
    let mut root_value = Value::Map([("pipeline".to_string(), tree_root)].into_iter().collect());
    if without_value == InputsWithoutValue::Unknown {
        for (path, _) in values
            .iter()
            .filter(|(_, value)| matches!(value, Value::Null))
        {
            remove_path(&mut root_value, path);
        }
    }
    if context.is_object() {
        let secret_paths = warn_context_overrides(&mut report, &pipeline, context);
        warn_context_replacements(&mut report, &pipeline, &root_value, context);
        // A context value of a `Secret` variable is an error, and it is not
        // merged either, so that no resolved field prints it.
        let mut merged = context.clone();
        for keys in &secret_paths {
            remove_json_at(&mut merged, keys);
        }
        merge(&mut root_value, Value::from_json(merged));
    }

    let mut resolver = Resolver {
        source,
        pipeline: &pipeline,
        templates: &templates,
        report,
        misses: Vec::new(),
        missed_paths: HashSet::default(),
        run_state_fields: HashSet::default(),
        unknown_value_spans: Vec::new(),
        narrow_unknown_spans: without_value == InputsWithoutValue::Unknown,
        data: RunTimeData::new(context, &root_value),
        expanded: 0,
        resolved_bytes: 0,
        over_budget: 0,
        // Validation reported a fixed expansion over the cap.
        expansion_stopped: expansion::count(&pipeline).crossing.is_some(),
        service_host_ports: Vec::new(),
        service_hostnames: Vec::new(),
        repeated_services: Vec::new(),
        input_origins: input_origins(&fields, &supplied),
    };
    resolver.data.set_invalid_inputs(invalid_inputs);
    let timeout_seconds = pipeline.node.get("timeout").and_then(|node| {
        let scope = Scope::new(&root_value);
        resolver.timeout_seconds(node, "pipeline", &scope, TimeoutOwner::Pipeline)
    });
    resolver.check_pipeline_variable_inputs(&fields, &root_value);
    let mut stages = Vec::new();
    let iteration_values = IterationValues::default();
    for index in 0..pipeline.stages.len() {
        resolver.stage(index, &root_value, &iteration_values, &mut stages);
    }
    resolver.report_misses(&iteration_values);
    let diagnostics = once_over_budget(resolver.report.diagnostics, resolver.over_budget);
    let identifier = Some(pipeline.identifier.clone()).filter(|id| !id.is_empty());
    let mut resolution = finish(identifier, stages, diagnostics, file_name);
    resolution.timeout_seconds = timeout_seconds;
    (resolution, resolver.unknown_value_spans)
}

/// Keeps the first `shared-budget-exceeded` error of `diagnostics` and drops
/// the others, which every field evaluated after it gets, and counts them
/// in the first one's message. `stopped` is how many expressions stopped
/// this way in all, also those that got no diagnostic.
fn once_over_budget(mut diagnostics: Vec<Diagnostic>, stopped: usize) -> Vec<Diagnostic> {
    let over = |d: &Diagnostic| d.code == codes::SHARED_BUDGET_EXCEEDED;
    let Some(first) = diagnostics.iter().position(over) else {
        return diagnostics;
    };
    let listed = diagnostics.iter().filter(|d| over(d)).count();
    let later = listed.max(stopped) - 1;
    let mut index = 0;
    diagnostics.retain(|d| {
        index += 1;
        index - 1 == first || !over(d)
    });
    if later > 0 {
        let message = &mut diagnostics[first].message;
        message.push_str(&format!("; {later} more expressions stopped the same way"));
    }
    diagnostics
}

/// Checks the references in input values, supplied or default, as if they
/// were written in the field, because `check` cannot see them in the file.
/// It reports steps, outputs and variables that do not exist, later steps,
/// and `exportedVariables`, whose `outputAlias` outputs basso never
/// publishes.
fn check_value_references(
    report: &mut Report,
    pipeline: &Pipeline<'_>,
    fields: &IndexMap<String, inputs::InputField<'_>>,
    supplied: &IndexMap<String, inputs::Supplied>,
    values: &IndexMap<String, Value>,
    templates: &Templates,
) {
    for (path, value) in values {
        let Some(field) = fields.get(path) else {
            continue;
        };
        let mut texts = Vec::new();
        collect_texts(value, &mut texts);
        for text in texts.into_iter().filter(|text| has_block_start(text)) {
            let place = match supplied.get(path) {
                Some(given) => format!("in the value from {}", given.origin.describe()),
                None => format!("in the default of `{path}`"),
            };
            for mut diagnostic in
                crate::pipeline::references::check_value(pipeline, templates, path, text)
            {
                diagnostic.message = format!("{} ({place})", diagnostic.message);
                diagnostic.span = field.node.span;
                report.push(diagnostic);
            }
        }
    }
}

/// Adds the strings of `value`, and of the lists and maps in it, to `texts`.
fn collect_texts<'v>(value: &'v Value, texts: &mut Vec<&'v str>) {
    match value {
        Value::String(text) => texts.push(text),
        Value::List(items) => items.iter().for_each(|item| collect_texts(item, texts)),
        Value::Map(entries) => entries
            .values()
            .for_each(|entry| collect_texts(entry, texts)),
        _ => {}
    }
}

fn input_origins(
    fields: &IndexMap<String, inputs::InputField<'_>>,
    supplied: &IndexMap<String, inputs::Supplied>,
) -> HashMap<(usize, usize), inputs::Origin, FixedState> {
    let mut origins = HashMap::default();
    for (path, field) in fields {
        if let Some(given) = supplied.get(path) {
            let span = field.node.span;
            origins.insert((span.byte_start, span.byte_end), given.origin.clone());
        }
    }
    origins
}

/// The entry of `Iteration::data_axes` that counts every matrix axis as
/// run-time data.
pub(crate) const EVERY_AXIS: &str = "*";

/// The code of a loop whose strategy reads a step output or status. Harness
/// evaluates such a strategy when the node starts, so the file is valid,
/// but basso plans every loop before the run.
pub(crate) const LOOP_OVER_RUN_STATE: &str = "loop-over-step-output";

/// The code of a warning about a secret in process arguments, which
/// `check` passes on from resolution.
pub(crate) const SECRET_IN_ARGUMENTS: &str = "secret-in-arguments";

/// The code of a warning about two services with one host name, which
/// `check` passes on from resolution.
pub(crate) const DUPLICATE_HOST_NAME: &str = "duplicate-host-name";

const LOOP_OVER_RUN_STATE_HELP: &str = "it reads a step output or status, and basso expands loops before the run starts, when those have no value: loop over a fixed list, a variable or a runtime input";

/// Warns about the values of the `--context` object that replace what the
/// pipeline file sets (its pipeline, stage and step group variables, `name` and
/// `identifier`), and about context keys that basso never reads. The
/// context wins over the file and over supplied inputs, which a user who
/// passed `--input` for the same variable would not expect. Returns the
/// paths of the `Secret` variables that the context sets, which are errors.
fn warn_context_overrides(
    report: &mut Report,
    pipeline: &Pipeline<'_>,
    context: &serde_json::Value,
) -> Vec<Vec<String>> {
    let mut secret_paths = Vec::new();
    let stage_variables = pipeline.stages.iter().flat_map(|stage| &stage.variables);
    let group_variables = pipeline
        .stages
        .iter()
        .flat_map(|stage| &stage.groups)
        .flat_map(|group| &group.variables);
    for variable in pipeline
        .variables
        .iter()
        .chain(stage_variables)
        .chain(group_variables)
    {
        let path = variable.path.as_str();
        // A variable name may contain `.`, so it is one key.
        let prefix = path
            .strip_suffix(variable.name.as_str())
            .and_then(|prefix| prefix.strip_suffix('.'))
            .unwrap_or(path);
        let mut keys: Vec<String> = prefix.split('.').map(str::to_string).collect();
        keys.push(variable.name.clone());
        if json_at_keys(context, &keys).is_none() {
            continue;
        }
        if variable.var_type == "Secret" {
            // The context would hand the step a plain value, which the
            // runner neither requests from the secret store nor masks.
            secret_paths.push(keys);
            report.error(
                codes::SECRET_FROM_DATA,
                format!(
                    "the `--context` file sets `{path}`, which the pipeline file declares as a `Secret` variable; a context value would reach the steps as plain, unmasked text"
                ),
                variable.name_node.span,
                format!(
                    "remove `{path}` from the context file; give the secret's value with `--secret ID=VALUE` or `BASSO_SECRET_<ID>`, or its id with `--input {path}=ID` when the variable is a runtime input"
                ),
            );
        } else {
            report.warning(
                "context-overrides-file",
                format!(
                    "the `--context` file sets `{path}`, which the pipeline file declares; the context's value replaces the file's value and any supplied input"
                ),
                variable.name_node.span,
                format!(
                    "remove `{path}` from the context file, and give its value with `--input {path}=VALUE` instead"
                ),
            );
        }
    }
    for key in ["name", "identifier"] {
        if json_at_keys(context, &["pipeline", key]).is_some() {
            let span = pipeline
                .header
                .get(key)
                .map_or(pipeline.header.span, |node| node.span);
            report.warning(
                "context-overrides-file",
                format!("the `--context` file sets `pipeline.{key}`, which the pipeline file sets; the context's value is used"),
                span,
                format!("remove `pipeline.{key}` from the context file"),
            );
        }
    }
    for key in FILE_ROOTS
        .into_iter()
        .filter(|key| context.get(key).is_some())
    {
        report.warning(
            "context-key-unused",
            format!(
                "the `--context` file sets `{key}`, which basso takes from the pipeline file; the context's value is not used"
            ),
            header_start(pipeline),
            format!(
                "remove `{key}` from the context file, and set the value in the pipeline file or with `--input`"
            ),
        );
    }
    secret_paths
}

/// Warns about the other values of the pipeline file that the `--context`
/// object replaces (a stage's `name`, the pipeline's `tags`, or all of
/// `pipeline` with `null`), at the pipeline's header, and about context
/// keys that no expression can read (`triger`).
fn warn_context_replacements(
    report: &mut Report,
    pipeline: &Pipeline<'_>,
    root: &Value,
    context: &serde_json::Value,
) {
    let Some(overlay) = context.as_object() else {
        return;
    };
    if overlay.contains_key("secrets") {
        report.warning(
            "context-key-unused",
            "the `--context` file sets `secrets`, which no expression reads: `secrets.getValue` reads the secret store, never the context",
            header_start(pipeline),
            "remove `secrets` from the context; resolution keeps secrets as references, and `basso run` takes their values from `--secret ID=VALUE`, `--secrets-file FILE` or `BASSO_SECRET_<ID>` variables",
        );
    }
    for key in overlay.keys() {
        if !crate::pipeline::validate::CONTEXT_ROOTS.contains(&key.as_str()) {
            report.warning(
                "context-key-unused",
                format!("the `--context` file sets `{key}`, which no expression reads"),
                header_start(pipeline),
                format!(
                    "check the spelling of `{key}`; expressions read {}",
                    crate::pipeline::validate::list(&[
                        "pipeline", "codebase", "trigger", "variable"
                    ])
                ),
            );
        }
    }
    let mut replaced = Vec::new();
    replaced_paths(root, context, &mut String::new(), &mut replaced);
    // Variables, `name` and `identifier` get their own warning.
    let declared = |path: &str| {
        let stage_variables = pipeline.stages.iter().flat_map(|stage| &stage.variables);
        let mut variables = pipeline.variables.iter().chain(stage_variables);
        path == "pipeline.name"
            || path == "pipeline.identifier"
            || variables.any(|variable| variable.path == path)
    };
    for path in replaced.iter().filter(|path| !declared(path)) {
        report.warning(
            "context-overrides-file",
            format!(
                "the `--context` file sets `{path}`, which the pipeline file also sets; expressions that read `<+{path}>` get the context's value"
            ),
            header_start(pipeline),
            format!("remove `{path}` from the context file"),
        );
    }
}

/// Returns an empty span at the start of the pipeline's header, where
/// diagnostics about the `--context` object point.
fn header_start(pipeline: &Pipeline<'_>) -> Span {
    let span = pipeline.header.span;
    Span {
        byte_end: span.byte_start,
        end_line: span.line,
        end_column: span.column,
        ..span
    }
}

/// Adds to `out` the paths where `overlay`, merged into `base`, replaces a
/// value of `base` instead of adding to a map.
fn replaced_paths(
    base: &Value,
    overlay: &serde_json::Value,
    path: &mut String,
    out: &mut Vec<String>,
) {
    let (Value::Map(entries), serde_json::Value::Object(given)) = (base, overlay) else {
        out.push(path.clone());
        return;
    };
    for (key, value) in given {
        let Some(entry) = entries.get(key) else {
            continue;
        };
        let len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
        replaced_paths(entry, value, path, out);
        path.truncate(len);
    }
}

/// Removes the value at `keys` from `json`.
fn remove_json_at(json: &mut serde_json::Value, keys: &[String]) {
    let Some((last, parents)) = keys.split_last() else {
        return;
    };
    let parent = parents
        .iter()
        .try_fold(json, |value, key| value.get_mut(key.as_str()));
    if let Some(serde_json::Value::Object(map)) = parent {
        map.remove(last);
    }
}

/// Returns the value at `keys` in `json`.
fn json_at_keys<'j, K: AsRef<str>>(
    json: &'j serde_json::Value,
    keys: &[K],
) -> Option<&'j serde_json::Value> {
    keys.iter()
        .try_fold(json, |value, key| value.get(key.as_ref()))
}

fn finish(
    pipeline: Option<String>,
    stages: Vec<ResolvedStage>,
    diagnostics: Vec<Diagnostic>,
    file_name: &str,
) -> Resolution {
    let diagnostics = diagnostics
        .into_iter()
        .map(|d| {
            if d.file.is_some() {
                d
            } else {
                d.with_file(file_name)
            }
        })
        .collect::<Vec<_>>();
    let mut diagnostics = diagnostics;
    diagnostics.sort_by(|a, b| {
        (a.file.as_deref() != Some(file_name), a.span.byte_start)
            .cmp(&(b.file.as_deref() != Some(file_name), b.span.byte_start))
    });
    diagnostics.dedup_by(|a, b| {
        a.span == b.span && a.code == b.code && a.message == b.message && a.file == b.file
    });
    Resolution {
        schema_version: SCHEMA_VERSION,
        pipeline,
        timeout_seconds: None,
        stages,
        diagnostics,
    }
}

/// Resolves a scalar written as a fixed value: typed by YAML's core schema,
/// then coerced to the field's type.
fn fixed_value(scalar: &Scalar, node: &Node, field: FieldType) -> Json {
    let json = scalar_to_json(scalar);
    // Text in a text field is the common case and needs no conversion. A
    // number or boolean in a text field keeps its text as written (`1.10`,
    // `010`), as Harness reads the field into a Java String.
    if field == FieldType::String && !json.is_null() {
        return match json {
            Json::String(_) => json,
            _ => Json::String(scalar.text.clone()),
        };
    }
    coerce(inputs::typed_scalar(node), field)
        .unwrap_or_else(|_| inputs::typed_scalar(node).to_json())
}

fn coerce(value: Value, field: FieldType) -> Result<Json, String> {
    // Text in a text field is the common case, and moving it saves a copy.
    let value = match (field, value) {
        (FieldType::String, Value::String(text)) => return Ok(Json::String(text)),
        (_, value) => value,
    };
    let json = value.to_json();
    match (field, &json) {
        (_, Json::Null) => Ok(Json::Null),
        (FieldType::String, Json::String(_)) => Ok(json),
        (FieldType::String, _) => Ok(Json::String(value.render())),
        (FieldType::Boolean, Json::Bool(_)) => Ok(json),
        (FieldType::Boolean, Json::String(text)) => match text.trim() {
            "true" | "True" | "TRUE" => Ok(Json::Bool(true)),
            "false" | "False" | "FALSE" => Ok(Json::Bool(false)),
            _ => Err(format!("expected `true` or `false`, found `{text}`")),
        },
        (FieldType::Integer, Json::Number(n)) => match n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
        {
            Some(i) => Ok(Json::from(i)),
            None => Err(format!("expected a whole number, found `{n}`")),
        },
        (FieldType::Integer, Json::String(text)) => text
            .trim()
            .parse::<i64>()
            .map(Json::from)
            .map_err(|_| format!("expected a whole number, found `{text}`")),
        (FieldType::Number, Json::Number(_)) => Ok(json),
        (FieldType::List, Json::Array(_)) | (FieldType::Map, Json::Object(_)) => Ok(json),
        (FieldType::List | FieldType::Map, Json::String(text)) => {
            match inputs::read_value(text, field) {
                Ok(Value::String(_)) | Err(_) => Err(format!(
                    "expected a {}, found the text `{text}`",
                    if field == FieldType::List {
                        "list"
                    } else {
                        "mapping"
                    }
                )),
                Ok(parsed) => Ok(parsed.to_json()),
            }
        }
        (_, other) => Err(format!("expected a {field:?} value, found `{other}`").to_lowercase()),
    }
}

impl<'p, 'a> Resolver<'p, 'a> {
    fn options(mode: EvalMode, unresolved: Unresolved) -> Options {
        Options {
            mode,
            unresolved,
            scan: ScanMode::Harness,
            ..Options::default()
        }
    }

    /// Records the paths that had no value, and returns whether one of them
    /// is a step output or status, which gets a value during the run.
    fn record_misses(&mut self, scope: &Scope<'_>, node: &Node, mode: EvalMode) -> bool {
        let mut reads_run_state = false;
        let paths = scope.take_misses();
        if !paths.is_empty() {
            if self.narrow_unknown_spans && mode == EvalMode::Render {
                let spans = self.block_parts(node, &paths);
                self.unknown_value_spans.extend(spans);
            } else {
                self.unknown_value_spans.push(node.span);
            }
        }
        for path in paths {
            reads_run_state |= is_run_state(&path);
            if !self.missed_paths.contains(&path) {
                self.missed_paths.insert(path.clone());
                let span = crate::pipeline::references::locate(self.source, node, &path);
                self.misses.push(Miss {
                    path,
                    span,
                    kept: false,
                });
            }
        }
        reads_run_state
    }

    /// Returns the parts of the rendered field `node` that the reads of
    /// `paths` lie in. Each part runs from the start of the top-level block
    /// with a read to the start of the next block, because rendering
    /// evaluates each block on its own. The whole field is returned when a
    /// read is not in its text (it came through a variable) or when it has
    /// a single block.
    fn block_parts(&self, node: &Node, paths: &[String]) -> Vec<Span> {
        let whole = vec![node.span];
        let (start, end) = (node.span.byte_start, node.span.byte_end);
        let Some(slice) = self.source.get(start..end) else {
            return whole;
        };
        let starts = self.templates.with(slice, |template| {
            Ok(template
                .block_ranges()
                .iter()
                .map(|range| range.start)
                .collect::<Vec<usize>>())
        });
        let Ok(starts) = starts else {
            return whole;
        };
        if starts.len() < 2 {
            return whole;
        }
        let mut parts = Vec::with_capacity(paths.len());
        // Each block that reads a path counts, not only the first: a later
        // block that reads the same value fails alike.
        let offsets: Vec<usize> = paths
            .iter()
            .flat_map(|path| {
                let short = ["pipeline.", "execution."]
                    .into_iter()
                    .find_map(|prefix| path.strip_prefix(prefix))
                    .unwrap_or(path);
                let found: Vec<usize> = slice.match_indices(short).map(|(at, _)| at).collect();
                if found.is_empty() {
                    vec![usize::MAX]
                } else {
                    found
                }
            })
            .collect();
        for offset in offsets {
            if offset == usize::MAX {
                return whole;
            }
            let index = starts.partition_point(|&block| block <= offset);
            let from = if index <= 1 { 0 } else { starts[index - 1] };
            // `check` counts touching spans as overlapping, so a part
            // ends before the next block's first byte.
            let to = match starts.get(index) {
                Some(&next) => {
                    let mut end = next.saturating_sub(1).max(from);
                    while !slice.is_char_boundary(end) {
                        end -= 1;
                    }
                    end
                }
                None => slice.len(),
            };
            parts.push(Span::from_byte_range_within(
                self.source,
                node.span,
                start + from,
                start + to,
            ));
        }
        parts
    }

    /// Renders a string field (`Unresolved::Null`, as Harness renders CI
    /// step fields) or evaluates a typed one, then coerces it.
    /// `secret_free` names a field that cannot take a secret, with its role
    /// (see [`crate::pipeline::paths::secret_free_field`]).
    fn expression(
        &mut self,
        text: &str,
        node: &Node,
        field: FieldType,
        secret_free: Option<(&str, &str)>,
        scope: &Scope<'_>,
    ) -> Json {
        let mode = if field == FieldType::String {
            EvalMode::Render
        } else {
            EvalMode::Evaluate
        };
        let uses_before = self.data.secret_uses();
        let reads_before = self.data.data_reads();
        self.data.take_read_invalid();
        let result = self.templates.with(text, |t| {
            t.run(
                &self.data.over(scope),
                &Self::options(mode, Unresolved::Null),
            )
        });
        let read_data = self.data.data_reads() > reads_before;
        // An input whose value was rejected reads as null, and its own error
        // explains what follows from that.
        let read_invalid = self.data.take_read_invalid();
        let first_new_miss = self.misses.len();
        let reads_run_state = self.record_misses(scope, node, mode);
        if reads_run_state {
            self.run_state_fields
                .insert((node.span.byte_start, node.span.byte_end));
        }
        let uses = self.data.secret_uses() - uses_before;
        // Both arms below test for secret reference text that no use
        // explains, so the value is searched once.
        let forged = result
            .as_ref()
            .ok()
            .and_then(|value| RunTimeData::forged_reference(value, uses));
        match result {
            Ok(_) if !read_data && let Some(id) = &forged => {
                // A whole map or list renders the reference text of the
                // secrets it contains without requesting them. So does an
                // unclosed `<+secrets.getValue(`, which stays text, and then
                // the id that follows it is no clean id.
                let text = self.quoted_part(text);
                let clean_id = !id.is_empty()
                    && !id.contains(|c: char| c.is_whitespace() || "'\"<>()".contains(c));
                let rendered = if clean_id {
                    format!("the reference text of secret `{id}`")
                } else {
                    format!(
                        "secret reference text (`{}`)",
                        crate::value::SECRET_REFERENCE_START
                    )
                };
                self.report.error(
                    codes::SECRET_OPAQUE,
                    format!("`{text}` renders {rendered}, which does not request the secret"),
                    node.span,
                    "a whole map or list renders the reference text of its secrets, and so does an unclosed `<+secrets.getValue(`: read each secret at its own path, such as `<+pipeline.variables.NAME>`, and close each `<+secrets.getValue(\"ID\")>`",
                );
                Json::Null
            }
            Ok(_) if let Some(id) = &forged => {
                let text = self.quoted_part(text);
                let step = scope
                    .step_identifier
                    .map(|step| format!("step `{step}`: "))
                    .unwrap_or_default();
                self.report.error(
                    codes::SECRET_FROM_DATA,
                    format!(
                        "{step}`{text}` builds the reference text of secret `{id}` from run-time data, \
                         which may not request secrets"
                    ),
                    node.span,
                    "reference the secret with `<+secrets.getValue(\"ID\")>` in the pipeline file, \
                     and remove secret reference text from trigger, codebase and step output values",
                );
                Json::Null
            }
            Ok(value)
                if uses > 0
                    && let Some((name, role)) = secret_free
                    && let Some(id) = value.secret_reference() =>
            {
                self.reject_secret(text, node, name, role, &id);
                Json::Null
            }
            Ok(value) => match coerce(value, field) {
                Ok(json) => json,
                Err(_) if read_invalid => Json::Null,
                Err(reason) => {
                    self.report.error(
                        "type-mismatch",
                        format!("`{text}` resolved to a value of the wrong type: {reason}"),
                        node.span,
                        "make the expression produce a value of the field's type",
                    );
                    Json::Null
                }
            },
            Err(_) if reads_run_state => {
                let resolved = self.keep_run_state(text, node, mode, scope);
                if resolved.is_string() {
                    for miss in &mut self.misses[first_new_miss..] {
                        miss.kept = is_run_state(&miss.path);
                    }
                }
                resolved
            }
            Err(_) if read_invalid => Json::Null,
            Err(error) => {
                let after = error.byte_range.end;
                self.report_expression_error(error, node, scope);
                if mode == EvalMode::Render {
                    self.report_later_blocks(text, node, after, scope);
                }
                Json::Null
            }
        }
    }

    fn report_expression_error(&mut self, mut error: ExprError, node: &Node, scope: &Scope<'_>) {
        // Every expression after the shared budget ran out fails the same
        // way. Only the first gets a diagnostic, because finding a
        // diagnostic's position in its field costs more than evaluating.
        if error.code == codes::SHARED_BUDGET_EXCEEDED {
            self.over_budget += 1;
            if self.over_budget > 1 {
                return;
            }
        }
        if let (codes::SECRET_FROM_DATA, Some(step)) = (error.code, scope.step_identifier) {
            error.message = format!("step `{step}`: {}", error.message);
        }
        self.report.push(expr_diagnostic(&error, self.source, node));
    }

    /// Reports the errors of the blocks of `text` that start at or after
    /// the byte offset `after`, where the first error stopped rendering, so
    /// that one resolution lists every failing block. A block that reads a
    /// step output or status is left for the runner, as a whole field is.
    fn report_later_blocks(&mut self, text: &str, node: &Node, after: usize, scope: &Scope<'_>) {
        let ranges = match &*self.templates.get(text) {
            Ok(template) => template.block_ranges(),
            Err(_) => return,
        };
        for range in ranges.into_iter().filter(|range| range.start >= after) {
            let result = self.templates.with(&text[range.clone()], |t| {
                t.run(
                    &self.data.over(scope),
                    &Self::options(EvalMode::Render, Unresolved::Null),
                )
            });
            let reads_run_state = self.record_misses(scope, node, EvalMode::Render);
            if let Err(mut error) = result
                && !reads_run_state
            {
                // The block was evaluated on its own, so its error's range
                // starts at the block's start in `text`.
                let start = error.byte_range.start + range.start;
                error.byte_range = start..error.byte_range.end + range.start;
                self.report_expression_error(error, node, scope);
            }
        }
    }

    /// Reports secret `id`, which the expression `text` at `node` gave the
    /// field `name`, unless validation reported a secret written there.
    fn reject_secret(&mut self, text: &str, node: &Node, name: &str, role: &str, id: &str) {
        if self.has_error_at(node.span, "secret-not-allowed") {
            return;
        }
        let text = self.quoted_part(text);
        self.report
            .push(secret_not_allowed(text, node, name, role, id));
    }

    /// Warns about `sharedPaths` entries written with an expression whose
    /// value shares nothing. Validation warns about fixed entries, so each
    /// entry is reported once.
    fn warn_resolved_shared_paths(&mut self, node: &Node, value: &Json) {
        let written: Vec<(&Node, Option<&Json>)> = match (node.as_sequence(), value) {
            (Some(items), Json::Array(values)) if items.len() == values.len() => items
                .iter()
                .zip(values)
                .map(|(item, v)| (item, Some(v)))
                .collect(),
            // One expression for the whole list: each of its paths points
            // at it.
            _ => vec![(node, None)],
        };
        for (item, item_value) in written {
            if classify_node(item) == ValueKind::Fixed {
                continue;
            }
            let paths: Vec<String> = match item_value.unwrap_or(value) {
                Json::Array(values) => values.iter().map(json_text).collect(),
                Json::String(text) if item_value.is_none() => {
                    text.split(',').map(str::to_string).collect()
                }
                Json::String(text) => vec![text.clone()],
                _ => Vec::new(),
            };
            let source = item.as_str().map_or("", str::trim);
            for path in paths {
                // A value still holding a block was not resolved, as a
                // runtime input left open: nothing is known yet.
                if classify(&path) != ValueKind::Fixed {
                    continue;
                }
                if let Some((problem, help)) = SharedPath::read(&path).not_shared() {
                    self.report.warning(
                        "invalid-shared-path",
                        format!(
                            "shared path `{source}` is `{}`, which {problem}",
                            path.trim()
                        ),
                        item.span,
                        help,
                    );
                }
            }
        }
    }

    /// Warns when `step`'s resolved `entrypoint` contains secret reference
    /// text: the runner passes the entrypoint as process arguments, which
    /// every user of the machine can read in the process list, while a
    /// `command` is passed as a file.
    fn warn_secret_in_arguments(&mut self, step: &Step<'_>, spec: &Json) {
        let has_secret = spec.get("entrypoint").is_some_and(|entrypoint| {
            entrypoint
                .to_string()
                .contains(crate::value::SECRET_REFERENCE_START)
        });
        if let (true, Some(node)) = (has_secret, step.spec_field("entrypoint")) {
            self.report.warning(
                SECRET_IN_ARGUMENTS,
                "`entrypoint` holds a secret, which every user of this machine can read in the process list while the step runs",
                node.span,
                "pass the secret through `envVariables` and read the variable in `command` or in the entrypoint's script",
            );
        }
    }

    /// Returns the part of the field text `text` that a message quotes: its
    /// only top-level block when it has exactly one, else the whole text.
    fn quoted_part<'t>(&self, text: &'t str) -> &'t str {
        match self.templates.with(text, |t| Ok(t.block_ranges())) {
            Ok(ranges) if ranges.len() == 1 => &text[ranges[0].clone()],
            _ => text,
        }
    }

    /// Returns whether an error with `code` was reported at `span`.
    fn has_error_at(&self, span: Span, code: &str) -> bool {
        self.report
            .diagnostics
            .iter()
            .any(|d| d.span == span && d.code == code && d.is_error())
    }

    /// Resolves a field whose evaluation failed after reading a step output
    /// or status, which has no value before that step runs. The blocks that
    /// read such values stay as written for the runner, which resolves the
    /// step again with them. An error in a block that reads none is still
    /// reported. A typed field resolves to null, as a plain read does.
    fn keep_run_state(
        &mut self,
        text: &str,
        node: &Node,
        mode: EvalMode,
        scope: &Scope<'_>,
    ) -> Json {
        let result = self.templates.with(text, |t| {
            let traced = self.data.over(scope);
            t.run(
                &RunStateUnknown { inner: &traced },
                &Self::options(mode, Unresolved::Keep),
            )
        });
        // The first attempt stopped at its error, so a later block may
        // read a value that is missing only now.
        self.record_misses(scope, node, mode);
        match result {
            Ok(Value::String(kept)) if mode == EvalMode::Render => Json::String(kept),
            Ok(_) => Json::Null,
            Err(error) => {
                self.report.push(expr_diagnostic(&error, self.source, node));
                Json::Null
            }
        }
    }

    /// Resolves a node into JSON, with runtime inputs taken from the tree.
    fn value(&mut self, node: &Node, path: &str, scope: &Scope<'_>) -> Json {
        let mut buffer = String::with_capacity(path.len() + 64);
        buffer.push_str(path);
        self.value_at(node, &mut buffer, scope)
    }

    /// Resolves the value supplied for the runtime input at `node`. Harness
    /// evaluates the expressions in supplied values, so text with a `<+`
    /// block is evaluated, and so is each entry of a supplied map of text
    /// (`envVariables`, `portBindings`) or list of text (`entrypoint`,
    /// `sharedPaths`, `paths`). Other maps and lists, such as a supplied
    /// `when`, keep their text for the checks that read them.
    fn supplied_value(
        &mut self,
        supplied: Value,
        node: &Node,
        path: &mut String,
        scope: &Scope<'_>,
    ) -> Json {
        let field = field_type(path);
        match supplied {
            Value::String(text) if has_block_start(&text) => {
                let secret_free = secret_free_field_of_type(path, field);
                let unknown_before = self.unknown_value_spans.len();
                let value = self.expression(&text, node, field, secret_free, scope);
                if self.unknown_value_spans.len() > unknown_before {
                    return value;
                }
                self.check_evaluated_input(value, node, path, &text)
            }
            Value::Map(entries) if inputs::is_text_map(path) => {
                let mut map = serde_json::Map::with_capacity(entries.len());
                for (key, value) in entries {
                    let len = push_key(path, &key);
                    let resolved = self.supplied_entry(value, node, path, scope);
                    path.truncate(len);
                    map.insert(key, resolved);
                }
                Json::Object(map)
            }
            Value::List(items) if inputs::is_text_list(path) => {
                let mut list = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    let len = push_index(path, i);
                    let resolved = self.supplied_entry(item, node, path, scope);
                    path.truncate(len);
                    list.push(resolved);
                }
                Json::Array(list)
            }
            other => coerce(other.clone(), field).unwrap_or_else(|_| other.to_json()),
        }
    }

    /// Checks each pipeline variable whose supplied value is an expression
    /// against the variable's validators. Other expressions read these
    /// values, but no field resolves them on their own. An expression that
    /// fails is reported where it is read, so it is not reported here.
    fn check_pipeline_variable_inputs(
        &mut self,
        fields: &IndexMap<String, inputs::InputField<'_>>,
        root: &Value,
    ) {
        let scope = Scope::new(root);
        for (path, field) in fields {
            if !path.starts_with("pipeline.variables.") {
                continue;
            }
            let Some(Value::String(text)) = subtree(root, path) else {
                continue;
            };
            if !has_block_start(text) {
                continue;
            }
            let mode = if field.value_type == FieldType::String {
                EvalMode::Render
            } else {
                EvalMode::Evaluate
            };
            let result = self.templates.with(text, |t| {
                t.run(
                    &self.data.over(&scope),
                    &Self::options(mode, Unresolved::Null),
                )
            });
            if !scope.take_misses().is_empty() {
                continue;
            }
            if let Ok(json) = result.map(|value| coerce(value, field.value_type)) {
                let value = json.unwrap_or(Json::Null);
                self.check_evaluated_input(value, field.node, path, text);
            }
        }
    }

    /// Checks `value`, which the expression `text` supplied for the runtime
    /// input `node` evaluated to, against the input's `.allowedValues(...)`
    /// and `.regex(...)`, as Harness checks such a value when the run
    /// evaluates it. Returns the value, or null after an error. A null
    /// value and a value that still holds a block are not checked. Callers
    /// skip values that read a run-time value not known yet.
    fn check_evaluated_input(&mut self, value: Json, node: &Node, path: &str, text: &str) -> Json {
        let written = node.as_str().unwrap_or_default();
        if value.is_null() || classify(written) != ValueKind::RuntimeInput {
            return value;
        }
        let Ok(input) = RuntimeInput::parse(written) else {
            return value;
        };
        if let Json::String(rendered) = &value
            && has_block_start(rendered)
        {
            // A secret stays a reference until the step starts, so its value
            // cannot be compared with the choices or the pattern.
            let validated = input.choices().is_some() || input.regex.is_some();
            if validated && rendered.contains(crate::value::SECRET_REFERENCE_START) {
                let place = self.supplied_value_place(path, node);
                self.report.warning(
                    "secret-not-validated",
                    format!(
                        "`{path}`: `{text}` {place} is a secret, which is not checked against the input's `.allowedValues(...)` or `.regex(...)`"
                    ),
                    node.span,
                    "supply a value that is not secret for an input that lists its allowed values, or remove the validator",
                );
            }
            return value;
        }
        let Err(error) = input.validate(&Value::from_json(value.clone())) else {
            return value;
        };
        let place = self.supplied_value_place(path, node);
        self.report.error(
            error.code,
            format!(
                "`{path}`: {} (the value of `{text}` {place})",
                error.message
            ),
            node.span,
            error.help,
        );
        Json::Null
    }

    /// Resolves one entry of a supplied map or list of text, at `path`:
    /// text with a `<+` block is evaluated, other values pass unchanged.
    fn supplied_entry(&mut self, entry: Value, node: &Node, path: &str, scope: &Scope<'_>) -> Json {
        match entry {
            Value::String(text) if has_block_start(&text) => {
                let field = field_type(path);
                let secret_free = secret_free_field_of_type(path, field);
                self.expression(&text, node, field, secret_free, scope)
            }
            other => other.to_json(),
        }
    }

    /// Resolves `node`, whose path is `path`. Children push their segment
    /// onto the same buffer and truncate it afterwards.
    fn value_at(&mut self, node: &Node, path: &mut String, scope: &Scope<'_>) -> Json {
        match &node.value {
            NodeValue::Scalar(scalar) => {
                let field = field_type(path);
                match classify(&scalar.text) {
                    ValueKind::Fixed => fixed_value(scalar, node, field),
                    ValueKind::Expression => {
                        let secret_free = secret_free_field_of_type(path, field);
                        self.expression(&scalar.text, node, field, secret_free, scope)
                    }
                    ValueKind::RuntimeInput => {
                        let supplied = subtree(scope.root, path).cloned().unwrap_or(Value::Null);
                        self.supplied_value(supplied, node, path, scope)
                    }
                }
            }
            NodeValue::Sequence(items) => {
                let mut list = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let len = push_index(path, i);
                    list.push(self.value_at(item, path, scope));
                    path.truncate(len);
                }
                Json::Array(list)
            }
            NodeValue::Mapping(entries) => {
                let mut map = serde_json::Map::with_capacity(entries.len());
                for (key_node, value) in entries {
                    let key_text = key_node.as_str().unwrap_or_default();
                    let len = push_key(path, key_text);
                    let resolved = self.value_at(value, path, scope);
                    path.truncate(len);
                    map.insert(key_text.to_string(), resolved);
                }
                Json::Object(map)
            }
        }
    }

    /// Resolves a `when` condition, keeping the blocks that have no value
    /// yet for the runner, which evaluates the condition once run-time
    /// values exist. The blocks that have a value are written in as values.
    fn keep_unresolved(&mut self, node: &Node, scope: &Scope<'_>) -> Option<String> {
        let text = node.as_str()?;
        if !has_block_start(text) {
            return Some(text.to_string());
        }
        // A condition whose every reference has a value is evaluated now, so
        // strings stay strings: splicing `fast` into `<+v> == "fast"` as
        // text would compare a name with a string.
        let uses_before = self.data.secret_uses();
        let evaluated = self.templates.with(text, |t| {
            t.evaluate(
                &self.data.over(scope),
                &Self::options(EvalMode::Evaluate, Unresolved::Error),
            )
        });
        scope.take_misses();
        // The secret's reference text would decide as true, so the step
        // would always run while the condition looks like a check.
        if self.data.secret_uses() > uses_before
            && let Ok(value) = &evaluated
            && let Some(id) = value.secret_reference()
        {
            self.reject_secret(text, node, "condition", "a condition", &id);
            return Some(text.to_string());
        }
        // The runner cannot compare or measure a secret, so a condition that
        // reads one would fail its step on every run.
        if self.data.secret_uses() > uses_before {
            self.reject_secret_in_condition(text, node, scope);
            return Some(text.to_string());
        }
        if let Some(decision) = evaluated.ok().as_ref().and_then(decision_literal) {
            return Some(decision);
        }
        // Otherwise the blocks with a value are written in as values, and
        // the rest stay blocks for the runner.
        let result = self.templates.with(text, |t| {
            t.substitute_values(
                &self.data.over(scope),
                &Self::options(EvalMode::Evaluate, Unresolved::Keep),
            )
        });
        scope.take_misses();
        if self.data.secret_uses() > uses_before {
            self.reject_secret_in_condition(text, node, scope);
            return Some(text.to_string());
        }
        match result {
            Ok(substituted) if has_block_start(&substituted) => Some(substituted),
            Ok(substituted) => {
                // Every block has a value, so only names outside blocks
                // (`== prod`) lack one. Those that are not step outputs or
                // statuses read null at run time too, as JEXL reads them.
                let evaluated = self.templates.with(&substituted, |t| {
                    t.evaluate(
                        &RunStateUnknown {
                            inner: &self.data.over(scope),
                        },
                        &Self::options(EvalMode::Evaluate, Unresolved::Error),
                    )
                });
                scope.take_misses();
                Some(
                    evaluated
                        .ok()
                        .as_ref()
                        .and_then(decision_literal)
                        .unwrap_or(substituted),
                )
            }
            Err(error) => {
                self.report.push(expr_diagnostic(&error, self.source, node));
                Some(text.to_string())
            }
        }
    }

    /// Reports the condition `text` at `node`, whose evaluation read a
    /// secret, naming the path or secret id it read the secret from.
    fn reject_secret_in_condition(&mut self, text: &str, node: &Node, scope: &Scope<'_>) {
        if self.has_error_at(node.span, "secret-not-allowed") {
            return;
        }
        let references = self.templates.with(text, |t| Ok(t.references()));
        let references = references.unwrap_or_default();
        let secret_path = references.paths.iter().find(|path| {
            let uses_before = self.data.secret_uses();
            let _ = self.templates.with(&format!("<+{path}>"), |t| {
                t.evaluate(
                    &self.data.over(scope),
                    &Self::options(EvalMode::Evaluate, Unresolved::Null),
                )
            });
            scope.take_misses();
            self.data.secret_uses() > uses_before
        });
        let source = match (secret_path, references.secret_ids.first()) {
            (Some(path), _) => format!("a secret through `{path}`"),
            (None, Some(id)) => format!("secret `{id}`"),
            (None, None) => "a secret".to_string(),
        };
        self.report.error(
            "secret-not-allowed",
            format!(
                "`condition` reads {source} in `{text}`, but a secret cannot be used in a condition"
            ),
            node.span,
            "compare a value that is not a secret, such as a String variable or a runtime input",
        );
    }

    /// Resolves the field `field` of the node at `owner`, whose path is
    /// built once in the buffer that the field's children extend.
    fn field_value(&mut self, node: &Node, owner: &str, field: &str, scope: &Scope<'_>) -> Json {
        let mut buffer = String::with_capacity(owner.len() + field.len() + 64);
        buffer.push_str(owner);
        push_key(&mut buffer, field);
        self.value_at(node, &mut buffer, scope)
    }

    fn text(&mut self, node: Option<&Node>, path: &str, scope: &Scope<'_>) -> Option<String> {
        let node = node?;
        let value = self.value(node, path, scope);
        into_text(value)
    }

    /// Reports the paths that had no value. `iteration_values` contains the
    /// values of every iteration of a looped node, now that all are resolved.
    fn report_misses(&mut self, iteration_values: &IterationValues) {
        // A reference the checks already rejected or warned about (a step
        // that does not exist, say) needs no second diagnostic.
        let rejected = ErrorRanges::new(&self.report.diagnostics);
        let misses = std::mem::take(&mut self.misses);
        // Each miss adds at most one warning, so room for all of them is
        // made before the loop.
        self.report.diagnostics.reserve(misses.len());
        for miss in misses {
            if rejected.overlaps(&miss.span) {
                continue;
            }
            let quoted = self.as_written(&miss);
            let (message, help) = if miss.kept {
                (
                    format!(
                        "`<+{quoted}>` has no value until that step runs; the field keeps the block as written"
                    ),
                    RUN_STATE_HELP.to_string(),
                )
            } else if is_run_state(&miss.path) {
                (
                    format!("`<+{quoted}>` has no value until that step runs; it resolves to null"),
                    RUN_STATE_HELP.to_string(),
                )
            } else if iteration_values.is_under_iteration(&miss.path) {
                if iteration_values.contains_dotted(&miss.path) {
                    (
                        format!(
                            "`<+{quoted}>` reads an iteration of a looped node that is resolved after this field; it resolves to null"
                        ),
                        "stages, step groups and steps are resolved in file order, and a field reads only the iterations resolved before it".to_string(),
                    )
                } else {
                    (
                        format!(
                            "`<+{quoted}>` reads a value that basso does not record for an iteration of a looped node; it resolves to null"
                        ),
                        "by an iteration's identifier, basso reads a stage's `identifier`, `name`, `type` and `variables`, a step group's `identifier` and `name`, and a step's `identifier`, `name`, `type` and `spec`".to_string(),
                    )
                }
            } else {
                let root = miss.path.split('.').next().unwrap_or_default();
                if FILE_ROOTS.contains(&root) {
                    (
                        format!(
                            "`<+{quoted}>` has no value in the pipeline file; it resolves to null"
                        ),
                        format!(
                            "`{root}` values come from the pipeline file: check that the path exists here, for example that the step or stage has a `strategy` that resolves"
                        ),
                    )
                } else if !crate::pipeline::validate::CONTEXT_ROOTS.contains(&root) {
                    (
                        format!("`<+{quoted}>` names no value that a run supplies; it resolves to null"),
                        "an expression starts with a root such as `pipeline`, `stage`, `steps`, `codebase`, `trigger` or `secrets`".to_string(),
                    )
                } else {
                    (
                        format!(
                            "`<+{quoted}>` has no value before the run starts; it resolves to null"
                        ),
                        format!(
                            "{CONTEXT_HELP_START}; to preview it, pass `--context FILE.json` with a `{root}` object"
                        ),
                    )
                }
            };
            self.report
                .warning("unresolved-at-run-time", message, miss.span, help);
        }
    }

    /// Returns the path of `miss` as the file writes it at its span
    /// (`steps.a.output`) when that is the short form of the canonical path
    /// (`execution.steps.a.output`), and the canonical path otherwise. A
    /// message then quotes what the user can search the file for.
    fn as_written(&self, miss: &Miss) -> String {
        let written = self
            .source
            .get(miss.span.byte_start..miss.span.byte_end)
            .unwrap_or_default();
        crate::expr::short_form(&miss.path, written)
            .map_or_else(|| miss.path.clone(), str::to_string)
    }

    /// Expands the strategy of `owner`, the stage, group or step at input
    /// path `path`.
    fn expand(&mut self, owner: &Node, path: &str, scope: &Scope<'_>) -> Vec<Option<Iteration>> {
        let Some(written) = owner.get("strategy") else {
            return vec![None];
        };
        let supplied;
        let strategy_node = if classify_node(written) == ValueKind::RuntimeInput {
            let input_path = format!("{path}.strategy");
            let value = self.value(written, &input_path, scope);
            // A runtime input without a value was reported as `missing-input`.
            if value.is_null() {
                return vec![None];
            }
            supplied = Node::from_json(&value, written.span);
            let mut local = Report::default();
            let identifier = owner
                .get("identifier")
                .and_then(Node::as_str)
                .unwrap_or_default();
            crate::pipeline::validate::check_strategy(&mut local, &supplied, identifier);
            let invalid = local.has_errors();
            self.push_supplied(local, &input_path, written);
            if invalid {
                return vec![None];
            }
            &supplied
        } else if written.scalar().is_some() {
            return vec![None];
        } else {
            written
        };
        let source = self.source;
        let templates = self.templates;
        let data = &self.data;
        let mut evaluation_errors = Vec::new();
        let mut missing_input = false;
        let mut from_data = Vec::new();
        let loop_reads_before = data.data_reads();
        let mut scheduling_reads = 0;
        let mut data_axes: Vec<String> = Vec::new();
        let mut every_axis_from_data = false;
        let mut run_state_field: Option<(Span, String)> = None;
        let mut secret_rejected = false;
        let result = strategy::expand(strategy_node, &mut |node: &Node, field: &str| {
            let mut text = node.as_str()?;
            // A runtime input takes its supplied or default value, which may
            // itself be an expression.
            let input_path = format!("{path}.strategy.{field}");
            if classify_node(node) == ValueKind::RuntimeInput {
                match subtree(scope.root, &input_path)? {
                    Value::String(supplied) if has_block_start(supplied) => text = supplied,
                    Value::Null => {
                        missing_input = true;
                        return None;
                    }
                    supplied => return Some(supplied.to_json()),
                }
            }
            let uses_before = data.secret_uses();
            let reads_before = data.data_reads();
            let misses_before = scope.miss_count();
            let value = templates.with(text, |t| {
                t.evaluate(
                    &data.over(scope),
                    &Self::options(EvalMode::Evaluate, Unresolved::Null),
                )
            });
            if run_state_field.is_none()
                && !field.ends_with("maxConcurrency")
                && scope.missed_since(misses_before, is_run_state)
            {
                run_state_field = Some((node.span, field.to_string()));
            }
            // The runner substitutes secrets only into text fields, so a
            // secret cannot be a count or a list of loop values.
            if data.secret_uses() > uses_before
                && let Ok(value) = &value
                && let Some(id) = value.secret_reference()
            {
                evaluation_errors.push(secret_not_allowed(text, node, field, "a loop value", &id));
                secret_rejected = true;
                return None;
            }
            let json = match value {
                Ok(Value::String(text)) => inputs::read_value(&text, FieldType::List)
                    .ok()
                    .map(|v| v.to_json())
                    .or(Some(Json::String(text))),
                Ok(value) => Some(value.to_json()),
                Err(error) => {
                    evaluation_errors.push(expr_diagnostic(&error, source, node));
                    None
                }
            };
            let reads = data.data_reads() - reads_before;
            if field.ends_with("maxConcurrency") {
                // A limit on concurrency gives no loop value.
                scheduling_reads += reads;
            } else if reads > 0 {
                from_data.extend(json.clone());
                match field
                    .strip_prefix("matrix.")
                    .and_then(|rest| rest.split('.').next())
                {
                    // A `nodeName` from data names the iterations (run-time
                    // data too), but gives no axis its values.
                    Some("nodeName") => {}
                    // An `exclude` from data decides which combinations
                    // exist.
                    Some(axis) if !strategy::MATRIX_KEYS.contains(&axis) => {
                        data_axes.push(axis.to_string());
                    }
                    _ => every_axis_from_data = true,
                }
            }
            json
        });
        // Loop values computed from run-time data are data too, so
        // `<+matrix.x>` may not choose a secret or use one that they contain.
        for json in &from_data {
            self.data.add(json);
        }
        // A loop over step outputs fails because they have no value yet,
        // which the diagnostic below explains. Errors such as a method
        // called on the missing value would only hide that cause.
        let missed = scope.take_misses();
        let reads_run_state = missed.iter().any(|path| is_run_state(path));
        if !missed.is_empty() {
            self.unknown_value_spans
                .extend(evaluation_errors.iter().map(|diagnostic| diagnostic.span));
        }
        if !reads_run_state {
            for diagnostic in evaluation_errors {
                self.report.push(diagnostic);
            }
        }
        // A loop value computed with null for a step output may still be a
        // valid loop, but not the one the run would give.
        if result.is_ok()
            && let Some((span, field)) = run_state_field
        {
            self.unknown_value_spans.push(span);
            self.report.error(
                LOOP_OVER_RUN_STATE,
                format!("`{field}` reads a step output or status, which has no value before the run starts"),
                span,
                LOOP_OVER_RUN_STATE_HELP,
            );
            return vec![None];
        }
        let mut iterations = match result {
            Ok(iterations) if !iterations.is_empty() => iterations,
            Ok(_) => return vec![None],
            // A runtime input without a value was reported as `missing-input`,
            // and a secret as `secret-not-allowed`.
            Err(_) if missing_input || secret_rejected => return vec![None],
            Err(mut diagnostic) => {
                // A loop over trigger or codebase values has them only with
                // a context, so `check` leaves the error out.
                if !missed.is_empty() {
                    self.unknown_value_spans.push(diagnostic.span);
                }
                if reads_run_state {
                    diagnostic.code = LOOP_OVER_RUN_STATE.to_string();
                    diagnostic.help = Some(LOOP_OVER_RUN_STATE_HELP.to_string());
                }
                // Validation already reported a written value it rejects.
                let known = self
                    .report
                    .diagnostics
                    .iter()
                    .any(|d| d.is_error() && d.span == diagnostic.span);
                if !known {
                    self.report.push(diagnostic);
                }
                return vec![None];
            }
        };
        if let Some(node_name) = strategy_node.get("matrix").and_then(|m| m.get("nodeName")) {
            for iteration in &mut iterations {
                let mut iteration_scope = Scope::new(scope.root);
                iteration_scope.stage = scope.stage;
                iteration_scope.step_iteration = Some(iteration);
                let name_path = format!("{path}.strategy.matrix.nodeName");
                let rendered = self.text(Some(node_name), &name_path, &iteration_scope);
                if let Some(name) = rendered {
                    iteration.identifier_post_fix = strategy::node_name_post_fix(&name);
                }
            }
            let identifier = owner.get("identifier").and_then(Node::as_str);
            let diagnostics = strategy::check_node_names(&iterations, identifier, node_name);
            for diagnostic in diagnostics {
                self.report.push(diagnostic);
            }
        }
        // A loop whose values, count or names read run-time data gives
        // run-time data: `<+strategy.iteration>` indexes with a payload's
        // count and the identifier carries a payload's `nodeName`.
        if self.data.data_reads() - loop_reads_before > scheduling_reads {
            let data_axes = if every_axis_from_data {
                vec![EVERY_AXIS.to_string()]
            } else {
                data_axes
            };
            for iteration in &mut iterations {
                iteration.from_data = true;
                iteration.data_axes.clone_from(&data_axes);
            }
        }
        iterations.into_iter().map(Some).collect()
    }

    /// Counts `iterations` more stages or steps of `owner` when they are
    /// `looped` (inside a loop or looping themselves). Once the count would
    /// pass [`MAX_EXPANDED_NODES`], reports an error at `owner`'s strategy,
    /// stops expansion and returns false. This catches loops whose counts
    /// come from expressions or runtime inputs, which validation cannot
    /// count.
    fn reserve(&mut self, owner: &Node, iterations: usize, looped: bool) -> bool {
        if self.expansion_stopped {
            return false;
        }
        if !looped {
            return true;
        }
        let total = self.expanded.saturating_add(iterations);
        if total <= MAX_EXPANDED_NODES {
            self.expanded = total;
            return true;
        }
        self.expansion_stopped = true;
        let span = owner.get("strategy").map_or(owner.span, |s| s.span);
        self.report.error(
            "invalid-strategy",
            format!(
                "the loops expand the pipeline to more than {MAX_EXPANDED_NODES} stages and steps: this loop brings it to {total}"
            ),
            span,
            "reduce the loop counts or matrix axes that expressions or inputs supply, or split the pipeline",
        );
        false
    }

    /// Reads the `failureStrategies` of `owner`, the stage, group or step at
    /// input path `path`. Validation reported the problems of a written
    /// list. The problems of a runtime input's value are reported here, at
    /// the `<+input>`.
    fn failure_strategies(
        &mut self,
        owner: &Node,
        path: &str,
        scope: &Scope<'_>,
    ) -> Vec<FailureStrategy> {
        let Some(node) = owner.get("failureStrategies") else {
            return Vec::new();
        };
        if classify_node(node) != ValueKind::RuntimeInput {
            return failure::read(&mut Report::default(), node);
        }
        let input_path = format!("{path}.failureStrategies");
        let supplied = self.value(node, &input_path, scope);
        // A runtime input without a value was reported as `missing-input`.
        if supplied.is_null() {
            return Vec::new();
        }
        let mut local = Report::default();
        let strategies = failure::read(&mut local, &Node::from_json(&supplied, node.span));
        self.push_supplied(local, &input_path, node);
        strategies
    }

    /// Returns the failure strategies that apply to `step`: its own, then
    /// its groups' from the innermost out, then the stage's. Background
    /// steps get none.
    fn applicable_failure_strategies(
        &mut self,
        place: &StagePlace<'_, '_>,
        step: &Step<'_>,
        nesting: &Nesting,
        scope: &Scope<'_>,
    ) -> Vec<FailureStrategy> {
        if step.step_type == "Background" {
            return Vec::new();
        }
        let mut strategies = self.failure_strategies(step.node, &step.path, scope);
        for frame in nesting.frames.iter().rev() {
            strategies.extend(frame.failure_strategies.iter().cloned());
        }
        strategies.extend(place.failure_strategies.iter().cloned());
        strategies
    }

    fn stage(
        &mut self,
        index: usize,
        root: &Value,
        iteration_values: &IterationValues,
        out: &mut Vec<ResolvedStage>,
    ) {
        let stage = &self.pipeline.stages[index];
        if !stage.is_ci() || stage.get("template").is_some() {
            return;
        }
        let stage_tree = subtree(root, &stage.path);
        let mut base_scope = Scope::new(root);
        base_scope.stage = stage_tree;
        base_scope.stage_identifier = Some(&stage.identifier);
        base_scope.iteration_values = Some(iteration_values);
        if self.expansion_stopped {
            return;
        }
        let failure_strategies = self.failure_strategies(stage.node, &stage.path, &base_scope);
        let iterations = self.expand(stage.node, &stage.path, &base_scope);
        let looped = iterations.iter().any(Option::is_some);
        if !self.reserve(stage.node, iterations.len(), looped) {
            return;
        }
        for iteration in iterations {
            if self.expansion_stopped {
                break;
            }
            let identifier = format!(
                "{}{}",
                stage.identifier,
                iteration
                    .as_ref()
                    .map_or("", |i| i.identifier_post_fix.as_str())
            );
            let mut scope = Scope::new(root);
            scope.stage = stage_tree;
            scope.stage_iteration = iteration.as_ref();
            scope.stage_identifier = Some(&identifier);
            scope.iteration_values = Some(iteration_values);
            let resolved = self.stage_body(
                index,
                &identifier,
                iteration.clone(),
                &failure_strategies,
                &scope,
            );
            let variables_bytes: usize = resolved
                .variables
                .iter()
                .map(|(name, value)| name.len() + text_bytes(value))
                .sum();
            // A step that crossed the limit has reported it already.
            if !self.expansion_stopped
                && !self.reserve_text(stage.node, "stage", &identifier, variables_bytes)
            {
                return;
            }
            out.push(resolved);
        }
    }

    fn stage_body(
        &mut self,
        index: usize,
        identifier: &str,
        iteration: Option<Iteration>,
        failure_strategies: &[FailureStrategy],
        scope: &Scope<'_>,
    ) -> ResolvedStage {
        let pipeline = self.pipeline;
        let stage = &pipeline.stages[index];
        let (kind, type_name) = effective_infrastructure(&pipeline.stages, index);
        let infra_stage = origin_stage(&pipeline.stages, index);
        let infrastructure = self.infrastructure(infra_stage, stage, kind, type_name, scope);
        let platform = self.platform(infra_stage, kind, scope);
        let spec_path = format!("{}.spec", stage.path);
        let clone_codebase = match stage.spec_field("cloneCodebase") {
            Some(node) => self
                .value(node, &format!("{spec_path}.cloneCodebase"), scope)
                .as_bool()
                .unwrap_or(true),
            None => true,
        };
        let shared_paths = match stage.spec_field("sharedPaths") {
            Some(node) => {
                let value = self.value(node, &format!("{spec_path}.sharedPaths"), scope);
                self.warn_resolved_shared_paths(node, &value);
                match value {
                    Json::Array(items) => items
                        .iter()
                        .map(json_text)
                        .filter(|p| !p.is_empty())
                        .collect(),
                    Json::String(text) => text
                        .split(',')
                        .map(|p| p.trim().to_string())
                        .filter(|p| !p.is_empty())
                        .collect(),
                    _ => Vec::new(),
                }
            }
            None => Vec::new(),
        };
        let timeout_seconds = stage
            .get("timeout")
            .and_then(|node| self.timeout_seconds(node, &stage.path, scope, TimeoutOwner::Stage));
        let when = self
            .when(stage.node, &stage.path, "pipelineStatus", scope)
            .map(|(pipeline_status, condition, condition_span)| StageWhen {
                pipeline_status,
                condition,
                condition_span,
            });
        let mut variables = IndexMap::new();
        let mut data_variables = Vec::new();
        for variable in &stage.variables {
            let reads_before = self.data.data_reads();
            let value = match variable.value {
                Some(node) => self.variable_value(node, &variable.path, &variable.var_type, scope),
                None => Json::Null,
            };
            if self.data.data_reads() > reads_before {
                data_variables.push(variable.name.clone());
            }
            variables.insert(variable.name.clone(), value);
        }
        if iteration.is_some()
            && let Some(iteration_values) = scope.iteration_values
        {
            iteration_values.record_stage(
                &format!("pipeline.stages.{identifier}"),
                identifier,
                &stage.name,
                &stage.stage_type,
                variables_map(variables.iter()),
                &data_variables,
            );
        }
        // One resolved step per step unless strategies loop, so the large
        // `ResolvedStep`s are seldom moved by the vector growing.
        let mut steps = Vec::with_capacity(stage.steps.len());
        let mut nesting = Nesting {
            stage_path: stage.path.clone(),
            stage_fqn: format!("pipeline.stages.{identifier}"),
            frames: Vec::new(),
            parallel: HashMap::new(),
            last_parallel: stage
                .steps
                .iter()
                .filter_map(|step| step.parallel)
                .max()
                .unwrap_or(0),
        };
        let place = StagePlace {
            stage,
            identifier,
            infra: &infrastructure,
            platform: &platform,
            failure_strategies,
            scope,
        };
        self.service_host_ports.clear();
        self.service_hostnames.clear();
        self.repeated_services.clear();
        self.steps(&place, &stage.steps, &mut nesting, &mut steps);
        self.check_service_host_ports();
        self.check_service_hostnames();
        ResolvedStage {
            identifier: identifier.to_string(),
            name: stage.name.clone(),
            parallel: stage.parallel,
            infrastructure,
            platform,
            clone_codebase,
            shared_paths,
            timeout_seconds,
            when,
            variables,
            strategy: iteration,
            steps,
        }
    }

    fn variable_value(
        &mut self,
        node: &Node,
        path: &str,
        var_type: &str,
        scope: &Scope<'_>,
    ) -> Json {
        let field = if var_type == "Number" {
            FieldType::Number
        } else {
            FieldType::String
        };
        let raw = subtree(scope.root, path).cloned();
        match (var_type, raw) {
            (_, Some(Value::String(text))) if has_block_start(&text) => {
                let unknown_before = self.unknown_value_spans.len();
                let value = self.expression(&text, node, field, None, scope);
                if self.unknown_value_spans.len() > unknown_before {
                    return value;
                }
                self.check_evaluated_input(value, node, path, &text)
            }
            ("Secret", Some(value)) | (_, Some(value @ Value::Secret(_))) => value.to_json(),
            (_, Some(value)) => coerce(value.clone(), field).unwrap_or_else(|_| value.to_json()),
            (_, None) => Json::Null,
        }
    }

    fn infrastructure(
        &mut self,
        origin: &Stage<'_>,
        stage: &Stage<'_>,
        kind: InfrastructureKind,
        type_name: Option<&str>,
        scope: &Scope<'_>,
    ) -> Infrastructure {
        let infra_node = origin.spec_field("infrastructure");
        let spec = infra_node.and_then(|i| i.get("spec"));
        let field = |name: &str| spec.and_then(|s| s.get(name));
        let base = format!("{}.spec.infrastructure.spec", origin.path);
        let namespace = self.text(field("namespace"), &format!("{base}.namespace"), scope);
        let connector_ref = self.text(
            field("connectorRef"),
            &format!("{base}.connectorRef"),
            scope,
        );
        let kubernetes_spec = match spec {
            Some(spec) if kind == InfrastructureKind::KubernetesDirect => {
                self.kubernetes_spec(spec, &base, scope)
            }
            _ => Json::Null,
        };
        let pool_name = self.text(
            spec.and_then(|s| s.get("spec"))
                .and_then(|s| s.get("poolName")),
            &format!("{base}.spec.poolName"),
            scope,
        );
        let size = self.text(
            origin
                .spec_field("runtime")
                .and_then(|r| r.get("spec"))
                .and_then(|s| s.get("size")),
            &format!("{}.spec.runtime.spec.size", origin.path),
            scope,
        );
        Infrastructure {
            kind,
            type_name: type_name.map(str::to_string),
            use_from_stage: stage
                .infra
                .use_from_stage
                .as_ref()
                .map(|(id, _)| id.clone()),
            namespace,
            connector_ref,
            pool_name,
            size,
            spec: kubernetes_spec,
        }
    }

    /// Resolves the pod settings of a KubernetesDirect `infrastructure.spec`
    /// at `base`. `namespace` and `connectorRef` have their own fields, and
    /// `os` is read into the platform, so they are not resolved again.
    fn kubernetes_spec(&mut self, spec: &Node, base: &str, scope: &Scope<'_>) -> Json {
        let mut settings = serde_json::Map::new();
        for (key, value) in spec.as_mapping().unwrap_or(&[]) {
            let Some(key) = key.as_str() else { continue };
            if matches!(key, "namespace" | "connectorRef" | "os") {
                continue;
            }
            let value = self.field_value(value, base, key, scope);
            settings.insert(key.to_string(), value);
        }
        Json::Object(settings)
    }

    fn platform(
        &mut self,
        origin: &Stage<'_>,
        kind: InfrastructureKind,
        scope: &Scope<'_>,
    ) -> Platform {
        let mut platform = Platform::default();
        let base = format!("{}.spec", origin.path);
        if let Some(node) = origin.spec_field("platform") {
            if let Some(os) = self.text(node.get("os"), &format!("{base}.platform.os"), scope) {
                platform.os = os;
            }
            if let Some(arch) = self.text(node.get("arch"), &format!("{base}.platform.arch"), scope)
            {
                platform.arch = arch;
            }
        }
        let infra_spec = origin
            .spec_field("infrastructure")
            .and_then(|i| i.get("spec"));
        let os_node = match kind {
            InfrastructureKind::KubernetesDirect => infra_spec.and_then(|s| s.get("os")),
            InfrastructureKind::Vm => infra_spec
                .and_then(|s| s.get("spec"))
                .and_then(|s| s.get("os")),
            _ => None,
        };
        if let Some(os) = os_node
            .and_then(Node::as_str)
            .filter(|os| classify(os) == ValueKind::Fixed)
        {
            platform.os = os.to_string();
        }
        platform
    }

    /// Resolves `steps`, which share the first `nesting.frames.len()`
    /// groups, expanding each looped group they enter.
    fn steps(
        &mut self,
        place: &StagePlace<'_, '_>,
        steps: &[Step<'_>],
        nesting: &mut Nesting,
        out: &mut Vec<ResolvedStep>,
    ) {
        let depth = nesting.frames.len();
        let mut index = 0;
        while index < steps.len() {
            let Some(group) = steps[index].groups.get(depth) else {
                self.step(place, &steps[index], nesting, out);
                index += 1;
                continue;
            };
            // A group's steps are consecutive in source order.
            let end = index
                + steps[index..]
                    .iter()
                    .take_while(|step| step.groups.get(depth).is_some_and(|g| g.path == group.path))
                    .count();
            self.group(place, group, &steps[index..end], nesting, out);
            index = end;
        }
    }

    /// Resolves the steps of `group` once per iteration of its strategy
    /// (once when it has none).
    fn group(
        &mut self,
        place: &StagePlace<'_, '_>,
        group: &Group<'_>,
        steps: &[Step<'_>],
        nesting: &mut Nesting,
        out: &mut Vec<ResolvedStep>,
    ) {
        let fqn = nesting.expand_path(&group.path, &group.identifier, &group.identifier);
        let stage_scope = place.scope;
        let mut base = Scope::new(stage_scope.root);
        base.stage = stage_scope.stage;
        base.stage_iteration = stage_scope.stage_iteration;
        base.stage_identifier = Some(place.identifier);
        base.group = stage_subtree(place, &group.path);
        base.group_iteration = nesting.iteration();
        base.group_identifier = Some(&group.identifier);
        base.iteration_values = stage_scope.iteration_values;
        if self.expansion_stopped {
            return;
        }
        let failure_strategies = self.failure_strategies(group.node, &group.path, &base);
        let iterations = self.expand(group.node, &group.path, &base);
        let mut applicable = failure_strategies.clone();
        for frame in nesting.frames.iter().rev() {
            applicable.extend(frame.failure_strategies.iter().cloned());
        }
        applicable.extend(place.failure_strategies.iter().cloned());
        let whens: Vec<Option<GroupWhen>> = iterations
            .iter()
            .map(|iteration| {
                let mut when = self.group_when(group, iteration.as_ref(), &base)?;
                when.failure_strategies.clone_from(&applicable);
                Some(when)
            })
            .collect();
        for (index, iteration) in iterations.into_iter().enumerate() {
            if self.expansion_stopped {
                break;
            }
            let post_fix = iteration
                .as_ref()
                .map_or("", |i| i.identifier_post_fix.as_str());
            let identifier = format!("{}{post_fix}", group.identifier);
            let frame_fqn = format!("{fqn}{post_fix}");
            if frame_fqn != group.path
                && let Some(iteration_values) = stage_scope.iteration_values
            {
                let name = group.node.get("name").and_then(Node::as_str);
                iteration_values.record_group(&frame_fqn, &identifier, name.unwrap_or_default());
            }
            let frame = GroupFrame {
                path: group.path.clone(),
                identifier: identifier.clone(),
                fqn: frame_fqn,
                iteration: iteration.clone(),
                failure_strategies: failure_strategies.clone(),
                when: whens[index].clone(),
            };
            let outer_parallel = (index > 0).then(|| nesting.parallel.clone());
            if index > 0 {
                nesting.renumber_parallel(steps, group.parallel);
            }
            nesting.frames.push(frame);
            self.steps(place, steps, nesting, out);
            nesting.frames.pop();
            if let Some(outer_parallel) = outer_parallel {
                nesting.parallel = outer_parallel;
            }
        }
    }

    fn step(
        &mut self,
        place: &StagePlace<'_, '_>,
        step: &Step<'_>,
        nesting: &Nesting,
        out: &mut Vec<ResolvedStep>,
    ) {
        if step.get("template").is_some() {
            return;
        }
        let stage_scope = place.scope;
        let step_tree = stage_subtree(place, &step.path);
        let group_tree = step
            .groups
            .last()
            .and_then(|group| stage_subtree(place, &group.path));
        // A run records the outputs and statuses of a group's steps under
        // the group's path with every loop suffix (`S_0` and `G_1`), which
        // `fqn` carries, in the context merged into the root. The file's
        // values of the group are under its written path, which differs
        // when the stage or the group loops.
        let enclosing_groups: Vec<&Value> = nesting
            .frames
            .iter()
            .rev()
            .flat_map(|frame| {
                let recorded = get_keys(stage_scope.root, &frame.fqn);
                let written = (frame.fqn != frame.path)
                    .then(|| stage_subtree(place, &frame.path))
                    .flatten();
                recorded.into_iter().chain(written)
            })
            .collect();
        let enclosing_paths: Vec<&str> = nesting
            .frames
            .iter()
            .rev()
            .map(|frame| frame.fqn.as_str())
            .collect();
        let mut base = Scope::new(stage_scope.root);
        base.stage = stage_scope.stage;
        base.stage_iteration = stage_scope.stage_iteration;
        base.stage_identifier = Some(place.identifier);
        base.step = step_tree;
        base.group = group_tree;
        base.enclosing_groups = enclosing_groups.clone();
        base.enclosing_paths = enclosing_paths.clone();
        base.iteration_values = stage_scope.iteration_values;
        base.group_iteration = nesting.iteration();
        base.group_identifier = nesting.group_identifier();
        base.step_identifier = Some(&step.identifier);
        if self.expansion_stopped {
            return;
        }
        let failure_strategies = self.applicable_failure_strategies(place, step, nesting, &base);
        let iterations = self.expand(step.node, &step.path, &base);
        let looped = stage_scope.stage_iteration.is_some()
            || nesting.frames.iter().any(|frame| frame.iteration.is_some())
            || iterations.iter().any(Option::is_some);
        if !self.reserve(step.node, iterations.len(), looped) {
            return;
        }
        for iteration in iterations {
            let post_fix = iteration
                .as_ref()
                .map_or("", |i| i.identifier_post_fix.as_str());
            let identifier = concat(&[&step.identifier, post_fix]);
            let mut scope = Scope::new(stage_scope.root);
            scope.stage = stage_scope.stage;
            scope.stage_iteration = stage_scope.stage_iteration;
            scope.stage_identifier = Some(place.identifier);
            scope.step = step_tree;
            scope.group = group_tree;
            scope.enclosing_groups = enclosing_groups.clone();
            scope.enclosing_paths = enclosing_paths.clone();
            scope.iteration_values = stage_scope.iteration_values;
            scope.group_iteration = nesting.iteration();
            scope.group_identifier = nesting.group_identifier();
            scope.step_iteration = iteration.as_ref();
            scope.step_identifier = Some(&identifier);
            let reads_before = self.data.data_reads();
            let mut resolved =
                self.step_body(place, step, nesting, &identifier, iteration.clone(), &scope);
            let from_data = self.data.data_reads() > reads_before;
            if !self.reserve_text(step.node, "step", &identifier, text_bytes(&resolved.spec)) {
                return;
            }
            resolved.failure_strategies = failure_strategies.clone();
            if resolved.fqn != step.path
                && let Some(iteration_values) = stage_scope.iteration_values
            {
                iteration_values.record_step(&resolved, from_data);
            }
            out.push(resolved);
        }
    }

    /// Counts `bytes` more resolved text: a step's `spec` or a stage's
    /// variables. Once the stages and steps resolved so far hold more than
    /// [`MAX_RESOLVED_TEXT_BYTES`], reports an error at `owner`, the stage or
    /// step named `identifier` (at its strategy when it loops), stops
    /// resolving and returns false. Each value is capped on its own, but a
    /// loop can copy a large value into thousands of stages or steps.
    fn reserve_text(&mut self, owner: &Node, kind: &str, identifier: &str, bytes: usize) -> bool {
        self.resolved_bytes = self.resolved_bytes.saturating_add(bytes);
        if self.resolved_bytes <= MAX_RESOLVED_TEXT_BYTES {
            return true;
        }
        self.expansion_stopped = true;
        let span = owner.get("strategy").map_or(owner.span, |s| s.span);
        self.report.error(
            "resolution-too-large",
            format!(
                "the resolved stages and steps hold more than {} MiB of text once {kind} `{identifier}` is resolved, so resolution stops there",
                MAX_RESOLVED_TEXT_BYTES / (1024 * 1024)
            ),
            span,
            "a loop copies a large value into many stages or steps; pass the value in a file or a shared path, or loop fewer times",
        );
        false
    }

    /// Resolves the `when` of one iteration of `group`, in the scope `base`
    /// of the group's steps with the iteration's values added.
    fn group_when(
        &mut self,
        group: &Group<'_>,
        iteration: Option<&Iteration>,
        base: &Scope<'_>,
    ) -> Option<GroupWhen> {
        let post_fix = iteration.map_or("", |i| i.identifier_post_fix.as_str());
        let identifier = format!("{}{post_fix}", group.identifier);
        let mut scope = Scope::new(base.root);
        scope.stage = base.stage;
        scope.stage_iteration = base.stage_iteration;
        scope.stage_identifier = base.stage_identifier;
        scope.group = base.group;
        scope.group_iteration = iteration.or(base.group_iteration);
        scope.group_identifier = Some(&identifier);
        scope.iteration_values = base.iteration_values;
        let (stage_status, condition, condition_span) =
            self.when(group.node, &group.path, "stageStatus", &scope)?;
        Some(GroupWhen {
            step_group: identifier.clone(),
            stage_status,
            condition,
            condition_span,
            failure_strategies: Vec::new(),
        })
    }

    /// Reads the `when` of `owner`, a stage, step group or step, as its
    /// status rule (the value of `status_key`, `Success` by default), its
    /// resolved condition and the span of the condition in the file. A
    /// `when` that is not a mapping (a bare `<+input>`) is not read.
    fn when(
        &mut self,
        owner: &Node,
        path: &str,
        status_key: &str,
        scope: &Scope<'_>,
    ) -> Option<(String, Option<String>, Span)> {
        let node = owner.get("when")?;
        let supplied;
        let when = if classify_node(node) == ValueKind::RuntimeInput {
            let input_path = format!("{path}.when");
            let value = self.value(node, &input_path, scope);
            // A runtime input without a value was reported as `missing-input`.
            if value.is_null() {
                return None;
            }
            supplied = Node::from_json(&value, node.span);
            let mut local = Report::default();
            crate::pipeline::validate::check_when(
                &mut local,
                Some(&supplied),
                status_key,
                self.templates,
            );
            self.push_supplied(local, &input_path, node);
            &supplied
        } else {
            node
        };
        let when = Some(when).filter(|w| w.as_mapping().is_some())?;
        let status = match when.get(status_key) {
            Some(node) => {
                let status_path = format!("{path}.when.{status_key}");
                let status = self.when_field(node, &status_path, scope)?;
                if classify_node(node) == ValueKind::RuntimeInput {
                    let mut local = Report::default();
                    crate::pipeline::validate::check_status(&mut local, &status, status_key);
                    self.push_supplied(local, &status_path, node);
                }
                status.as_str().unwrap_or("Success").to_string()
            }
            None => "Success".to_string(),
        };
        let condition = match when.get("condition") {
            Some(node) => {
                let condition_path = format!("{path}.when.condition");
                let condition = self.when_field(node, &condition_path, scope)?;
                if classify_node(node) == ValueKind::RuntimeInput {
                    let mut local = Report::default();
                    let text = condition.as_str().unwrap_or_default();
                    let templates = self.templates;
                    crate::pipeline::validate::check_condition(
                        &mut local, &condition, text, templates,
                    );
                    let invalid = local.has_errors();
                    self.push_supplied(local, &condition_path, node);
                    // The error names the input, and evaluating the text
                    // would report it a second time without that origin.
                    if invalid {
                        return Some((status, Some(text.to_string()), node.span));
                    }
                }
                self.keep_unresolved(&condition, scope)
            }
            None => None,
        };
        let condition_span = when.get("condition").map_or(when.span, |node| node.span);
        Some((status, condition, condition_span))
    }

    /// Returns `node`, a field of a `when` at `path`, or, when it is a
    /// runtime input, its supplied or default value as text at the same
    /// position. `None` means the input has no value, which was reported as
    /// `missing-input`.
    fn when_field(&self, node: &Node, path: &str, scope: &Scope<'_>) -> Option<Node> {
        if classify_node(node) != ValueKind::RuntimeInput {
            return Some(node.clone());
        }
        let text = match subtree(scope.root, path)? {
            Value::Null => return None,
            Value::String(text) => text.clone(),
            other => other.render(),
        };
        Some(Node::from_json(&Json::String(text), node.span))
    }

    /// Reports the diagnostics of `local`, found in the value supplied for
    /// the runtime input at `node` (`input_path`), naming where it came from.
    fn push_supplied(&mut self, local: Report, input_path: &str, node: &Node) {
        let place = self.supplied_value_place(input_path, node);
        for mut diagnostic in local.diagnostics {
            diagnostic.message = format!("{} ({place})", diagnostic.message);
            self.report.push(diagnostic);
        }
    }

    /// Returns ` (from ORIGIN)` for a runtime input field whose value was
    /// supplied, naming the `--input` argument or the input-set position,
    /// and an empty string otherwise.
    fn supplied_from(&self, node: &Node) -> String {
        let range = (node.span.byte_start, node.span.byte_end);
        self.input_origins
            .get(&range)
            .map_or_else(String::new, |origin| {
                format!(" (from {})", origin.describe())
            })
    }

    /// Describes where a runtime input value sits, for errors found inside
    /// it: `in the value from ORIGIN` when it was supplied, else `in the
    /// value supplied for `PATH`` (its default).
    fn supplied_value_place(&self, input_path: &str, node: &Node) -> String {
        let range = (node.span.byte_start, node.span.byte_end);
        match self.input_origins.get(&range) {
            Some(origin) => format!("in the value from {}", origin.describe()),
            None => format!("in the value supplied for `{input_path}`"),
        }
    }

    /// Resolves the `timeout` field `node` of the step, stage or pipeline at
    /// `owner` into whole seconds. Returns `None`, meaning no timeout, for an
    /// empty or null field, an invalid one and one kept for the run because
    /// it reads a step output or status. An invalid value is reported here
    /// when an expression or a runtime input produced it, and by validation
    /// when it is written.
    fn timeout_seconds(
        &mut self,
        node: &Node,
        owner: &str,
        scope: &Scope<'_>,
        kind: TimeoutOwner,
    ) -> Option<u64> {
        let text = into_text(self.field_value(node, owner, "timeout", scope))?;
        // A block that read null renders as `null`: a missing input or a
        // run-time value, which have their own diagnostics, so no timeout.
        let written = node.as_str().unwrap_or_default();
        if text == "null" && classify(written) == ValueKind::Expression {
            return None;
        }
        let kept_for_run = has_block_start(&text) && classify(&text) == ValueKind::Expression
            || self
                .run_state_fields
                .contains(&(node.span.byte_start, node.span.byte_end));
        if kept_for_run {
            // The runner resolves a step again before it starts, so a step
            // timeout gets its value then. Stages and the pipeline are not
            // resolved again, so they run without a timeout.
            if kind != TimeoutOwner::Step {
                self.report.warning(
                    "unresolved-timeout",
                    format!(
                        "the {} `timeout` reads a step output or status, which has no value before the run starts, so basso runs without this timeout",
                        kind.name()
                    ),
                    node.span,
                    "write a duration such as `10m`, or an expression over pipeline variables or runtime inputs",
                );
            }
            return None;
        }
        match parse_duration(&text) {
            Ok(seconds) => seconds,
            Err(reason) => {
                if classify(node.as_str().unwrap_or_default()) != ValueKind::Fixed {
                    let from = self.supplied_from(node);
                    self.report.error(
                        "invalid-timeout",
                        format!("timeout resolved to `{text}`: {reason}{from}"),
                        node.span,
                        "make the expression produce a duration such as `10m`",
                    );
                }
                None
            }
        }
    }

    fn step_body(
        &mut self,
        place: &StagePlace<'_, '_>,
        step: &Step<'_>,
        nesting: &Nesting,
        identifier: &str,
        iteration: Option<Iteration>,
        scope: &Scope<'_>,
    ) -> ResolvedStep {
        let infra = place.infra;
        let platform = place.platform;
        self.data.take_used_secrets();
        let mut spec = match step.spec {
            Some(node) => self.field_value(node, &step.path, "spec", scope),
            None => Json::Object(serde_json::Map::new()),
        };
        // Only secrets that the file's expressions use reach the step. Text
        // in the resolved fields that looks like a secret reference may come
        // from run-time data, so the fields are not scanned for secrets.
        let secrets = self.data.take_used_secrets();
        if !secrets.is_empty() {
            self.warn_secret_in_arguments(step, &spec);
        }
        let when = self.when(step.node, &step.path, "stageStatus", scope).map(
            |(stage_status, condition, condition_span)| StepWhen {
                stage_status,
                condition,
                condition_span,
            },
        );
        let timeout_seconds = step
            .get("timeout")
            .and_then(|node| self.timeout_seconds(node, &step.path, scope, TimeoutOwner::Step));
        let modelled = step.is_modelled();
        let mut host_ports = Vec::new();
        if modelled {
            host_ports = self.resolve_port_bindings(step, &mut spec, scope);
            self.check_resolved(step, &spec);
        }
        let effective = if modelled {
            effective(&spec, infra, platform)
        } else {
            Effective::default()
        };
        let fqn = nesting.expand_path(&step.path, &step.identifier, identifier);
        let step_group = nesting.group_identifier();
        let mut resolved = ResolvedStep {
            identifier: identifier.to_string(),
            name: step.name.clone(),
            step_type: step.step_type.clone(),
            fqn,
            step_group: step_group.map(str::to_string),
            parallel: step
                .parallel
                .map(|number| nesting.parallel.get(&number).copied().unwrap_or(number)),
            when,
            group_when: nesting
                .frames
                .iter()
                .filter_map(|frame| frame.when.clone())
                .collect(),
            group_iterations: nesting
                .frames
                .iter()
                .filter_map(|frame| {
                    let iteration = frame.iteration.as_ref()?;
                    Some(GroupIteration {
                        step_group: frame.identifier.clone(),
                        iteration: iteration.iteration,
                        iterations: iteration.iterations,
                        max_concurrency: iteration.max_concurrency,
                    })
                })
                .collect(),
            timeout_seconds,
            failure_strategies: Vec::new(),
            spec,
            effective,
            endpoints: None,
            secrets,
            strategy: iteration,
            source_span: step.node.span,
        };
        if step.step_type == "Background" {
            // A Background step in a group without a strategy inside a
            // looped group gets the same hostname in every iteration, which
            // `check_service_hostnames` warns about.
            let hostname = match step_group {
                Some(group) => format!("{group}_{identifier}"),
                None => identifier.to_string(),
            };
            let name = match step_group {
                Some(group) => format!("{group}.{identifier}"),
                None => identifier.to_string(),
            };
            // The identifier's span stands for the step: the iterations of
            // a looped step share it.
            let span = step
                .node
                .get("identifier")
                .map_or(step.node.span, |id| id.span);
            // A looped step's own iterations differ by their suffix, unless
            // `nodeName` makes them equal, which is an error of its own.
            if resolved.strategy.is_none() {
                self.repeated_services
                    .push((hostname.clone(), span, name.clone()));
            }
            self.service_hostnames
                .push((hostname.clone(), span, name.clone()));
            resolved.endpoints = Some(endpoints(hostname, &resolved, infra.kind));
            for (port, span) in host_ports {
                self.service_host_ports.push((port, span, name.clone()));
            }
        }
        resolved
    }

    /// Resolves the `portBindings` keys written as expressions, which
    /// `value_at` keeps as written, and checks each host or container port
    /// that an expression supplied, as validation checks written ones.
    /// Returns the valid host ports with the spans of their keys.
    fn resolve_port_bindings(
        &mut self,
        step: &Step<'_>,
        spec: &mut Json,
        scope: &Scope<'_>,
    ) -> Vec<(u16, Span)> {
        let mut host_ports = Vec::new();
        let Some(bindings) = step.spec_field("portBindings") else {
            return host_ports;
        };
        let Some(entries) = bindings.as_mapping() else {
            // A whole map from a runtime input or expression: each port it
            // supplied is checked at the field.
            if let Some(Json::Object(resolved)) = spec.get("portBindings")
                && !self
                    .run_state_fields
                    .contains(&(bindings.span.byte_start, bindings.span.byte_end))
            {
                for (host, container) in resolved {
                    self.check_resolved_port(bindings, host, "host");
                    self.check_resolved_port(bindings, &json_text(container), "container");
                    if let Ok(port @ 1..=65535) = host.trim().parse::<u16>() {
                        host_ports.push((port, bindings.span));
                    }
                }
            }
            return host_ports;
        };
        let Some(Json::Object(resolved)) = spec.get_mut("portBindings") else {
            return host_ports;
        };
        let mut rebuilt = serde_json::Map::with_capacity(resolved.len());
        for (key_node, value_node) in entries {
            let key_text = key_node.as_str().unwrap_or_default();
            let Some(value) = resolved.remove(key_text) else {
                continue;
            };
            let host = if classify(key_text) == ValueKind::Expression {
                let secret_free = Some(("portBindings", "a port"));
                let host =
                    self.expression(key_text, key_node, FieldType::String, secret_free, scope);
                let host = into_text(host).unwrap_or_default();
                self.check_resolved_port(key_node, &host, "host");
                host
            } else {
                key_text.to_string()
            };
            if value_node
                .as_str()
                .is_some_and(|text| classify(text) == ValueKind::Expression)
            {
                self.check_resolved_port(value_node, &json_text(&value), "container");
            }
            if let Ok(port @ 1..=65535) = host.trim().parse::<u16>() {
                host_ports.push((port, key_node.span));
            }
            rebuilt.insert(host, value);
        }
        *resolved = rebuilt;
        host_ports
    }

    /// Reports a host port that two services of the stage iteration bind,
    /// once per `portBindings` key, unless validation reported it there.
    /// This finds duplicates that only resolution shows: ports written as
    /// expressions, and services in loops whose count an expression sets.
    fn check_service_host_ports(&mut self) {
        let bindings = std::mem::take(&mut self.service_host_ports);
        let mut reported: Vec<Span> = self
            .report
            .diagnostics
            .iter()
            .filter(|d| d.code == "duplicate-host-port")
            .map(|d| d.span)
            .collect();
        for (index, (port, span, step)) in bindings.iter().enumerate() {
            let Some((_, first_span, first_step)) =
                bindings[..index].iter().find(|(other, ..)| other == port)
            else {
                continue;
            };
            if reported.contains(span) {
                continue;
            }
            reported.push(*span);
            let message = if first_step == step {
                format!("host port `{port}` is bound twice by step `{step}`")
            } else {
                format!(
                    "host port `{port}` is bound by both `{first_step}` and `{step}` in this stage"
                )
            };
            let error = Diagnostic::error("duplicate-host-port", message, *span)
            .with_label(*first_span, "first bound here")
            .with_help("a service runs until the stage ends, so bind each host port once per stage: move a looped service out of its loop, or pick another host port");
            self.report.push(error);
        }
    }

    /// Warns about two Background steps of the stage iteration that get
    /// the same host name (`a` with step `b_c` and `a_b` with step `c` both
    /// give `a_b_c`): only one of them is reachable by it.
    fn check_service_hostnames(&mut self) {
        let services = std::mem::take(&mut self.service_hostnames);
        let unlooped = std::mem::take(&mut self.repeated_services);
        // A service in a group without a strategy inside a looped group
        // runs once per iteration under one host name.
        let mut repeated: Vec<Span> = Vec::new();
        for (index, (hostname, span, name)) in unlooped.iter().enumerate() {
            let again = unlooped[..index]
                .iter()
                .any(|(other, other_span, _)| other == hostname && other_span == span);
            if again && !repeated.contains(span) {
                repeated.push(*span);
                self.report.push(
                    Diagnostic::warning(
                        DUPLICATE_HOST_NAME,
                        format!("service `{name}` runs in each iteration of a looped step group around it, and every one gets the host name `{hostname}`, so other steps reach only one of them by it"),
                        *span,
                    )
                    .with_help("move the service out of the looped step group, so that one service serves every iteration"),
                );
            }
        }
        for (index, (hostname, span, name)) in services.iter().enumerate() {
            // The iterations of one looped step share its span.
            // Host names are looked up without regard to case.
            let Some((first_hostname, first_span, first_name)) =
                services[..index].iter().find(|(other, other_span, _)| {
                    other.eq_ignore_ascii_case(hostname) && other_span != span
                })
            else {
                continue;
            };
            let names = if first_hostname == hostname {
                format!("both get the host name `{hostname}`")
            } else {
                format!(
                    "get the host names `{first_hostname}` and `{hostname}`, which name resolution does not tell apart"
                )
            };
            self.report.push(
                Diagnostic::warning(
                    DUPLICATE_HOST_NAME,
                    format!("services `{first_name}` and `{name}` {names}, so other steps reach only one of them by it"),
                    *span,
                )
                .with_label(*first_span, "the other service with this host name")
                .with_help("rename one of the steps or step groups"),
            );
        }
    }

    /// Reports `text`, the value an expression at `node` resolved to, when
    /// it is not a port.
    fn check_resolved_port(&mut self, node: &Node, text: &str, role: &str) {
        // NOTE: a block kept because it reads a step output is not checked,
        // and `ResolvedStep::port_bindings` skips it if it is not a port.
        if has_block_start(text) || self.has_error_at(node.span, "secret-not-allowed") {
            return;
        }
        if matches!(text.trim().parse::<u32>(), Ok(1..=65535)) {
            return;
        }
        self.report.error(
            "invalid-port",
            format!("{role} port resolved to `{text}`, which is not a port"),
            node.span,
            "make the expression produce an integer from 1 to 65535",
        );
    }

    /// Checks resolved values of fields that were written as expressions
    /// or runtime inputs; fixed values were checked by validation.
    fn check_resolved(&mut self, step: &Step<'_>, spec: &Json) {
        // The settings written as an expression or runtime input, found in
        // one pass over the spec, as most steps have one or two.
        let run_state_fields = &self.run_state_fields;
        let written: SmallVec<[(&str, &Node); 4]> = step
            .spec
            .and_then(Node::as_mapping)
            .unwrap_or_default()
            .iter()
            .filter_map(|(key, node)| Some((key.as_str()?, node)))
            .filter(|(key, node)| {
                RESOLVED_CHECKS.contains(key)
                    && node
                        .as_str()
                        .is_some_and(|t| classify(t) != ValueKind::Fixed)
                    && !run_state_fields.contains(&(node.span.byte_start, node.span.byte_end))
            })
            .collect();
        let dynamic = |key: &str| {
            written
                .iter()
                .find(|(name, _)| *name == key)
                .map(|(_, node)| *node)
        };
        if let Some(node) = dynamic("shell")
            && let Some(shell) = spec.get("shell").and_then(Json::as_str)
            && Shell::parse(shell).is_none()
        {
            let help = crate::pipeline::suggest::did_you_mean(
                shell,
                &["Sh", "Bash", "Powershell", "Pwsh", "Python"],
            )
            .unwrap_or_else(|| "use `Sh`, `Bash`, `Powershell`, `Pwsh` or `Python`".into());
            self.report.error(
                "unknown-shell",
                format!("shell resolved to `{shell}`, which is not a shell"),
                node.span,
                help,
            );
        }
        if let Some(node) = dynamic("resources")
            && let Some(value) = spec.get("resources").filter(|v| !v.is_null())
        {
            let mut local = Report::default();
            crate::pipeline::validate::check_resources(
                &mut local,
                &Node::from_json(value, node.span),
            );
            for mut diagnostic in local.diagnostics {
                diagnostic.message = format!(
                    "{} (in the value supplied for `resources`)",
                    diagnostic.message
                );
                self.report.push(diagnostic);
            }
        }
        if let Some(node) = dynamic("imagePullPolicy")
            && let Some(policy) = spec.get("imagePullPolicy").and_then(Json::as_str)
            && ImagePullPolicy::parse(policy).is_none()
        {
            self.report.error(
                "unknown-image-pull-policy",
                format!("imagePullPolicy resolved to `{policy}`"),
                node.span,
                "use `Always`, `Never` or `IfNotPresent`",
            );
        }
        if let Some(node) = dynamic("image")
            && let Some(image) = spec.get("image").and_then(Json::as_str)
            && !image.is_empty()
            && let Err(reason) = parse_image_parts(image)
        {
            self.report.error(
                "invalid-image",
                format!("image resolved to `{image}`: {reason}"),
                node.span,
                "supply an image such as `postgres:15`",
            );
        }
        // An entrypoint from a runtime input or expression replaces a
        // `command` as a written one does.
        if let Some(node) = dynamic("entrypoint")
            && spec
                .get("entrypoint")
                .and_then(Json::as_array)
                .is_some_and(|items| !items.is_empty())
            && spec
                .get("command")
                .is_some_and(|command| !command.is_null() && command.as_str() != Some(""))
        {
            let command_key = step
                .spec
                .and_then(|spec| spec.entry("command"))
                .map_or(node.span, |(key, _)| key.span);
            self.report.push(
                Diagnostic::warning(
                    "entrypoint-overrides-command",
                    "`command` is not run because the value supplied for `entrypoint` is set",
                    command_key,
                )
                .with_label(node.span, "this entrypoint replaces the image's entrypoint and `command`")
                .with_help("put the script in `entrypoint` (for example `[\"sh\", \"-c\", \"...\"]`) or leave `entrypoint` empty"),
            );
        }
        // Whole settings from a runtime input or expression get the checks
        // that validation gives written ones.
        for (key, check) in [
            (
                "runAsUser",
                validate::check_run_as_user as fn(&mut Report, &Node),
            ),
            ("reports", validate::check_reports),
            ("outputVariables", validate::check_output_variables),
        ] {
            let Some(node) = dynamic(key) else {
                continue;
            };
            let Some(value) = spec.get(key).filter(|v| !v.is_null()) else {
                continue;
            };
            let mut local = Report::default();
            check(&mut local, &Node::from_json(value, node.span));
            for mut diagnostic in local.diagnostics {
                diagnostic.message =
                    format!("{} (in the value supplied for `{key}`)", diagnostic.message);
                self.report.push(diagnostic);
            }
        }
        if let Some(resources) = step.spec_field("resources").and_then(|r| r.get("limits")) {
            for (name, parse) in [
                ("memory", parse_memory as fn(&str) -> Result<u64, _>),
                ("cpu", parse_cpu),
            ] {
                if let Some(node) = resources.get(name).filter(|n| {
                    n.as_str().is_some_and(|t| classify(t) != ValueKind::Fixed)
                        && !self
                            .run_state_fields
                            .contains(&(n.span.byte_start, n.span.byte_end))
                        && !self.has_error_at(n.span, "secret-not-allowed")
                }) && let Some(value) = spec
                    .get("resources")
                    .and_then(|r| r.get("limits"))
                    .and_then(|l| l.get(name))
                    // Null is a missing input or a run-time value, which
                    // have their own diagnostics.
                    .filter(|value| !value.is_null())
                    .map(json_text)
                {
                    match parse(&value) {
                        Err(error) => self.report.error(
                            &format!("invalid-{name}"),
                            format!("{name} resolved to `{value}`: {}", error.0),
                            node.span,
                            "supply a quantity such as `500Mi` or `400m`",
                        ),
                        // A quantity that parses may still be one that
                        // validation warns about (`500m` of memory, or less
                        // than a container needs).
                        Ok(_) => {
                            let written = serde_json::json!({ "limits": { name: value } });
                            let mut local = Report::default();
                            validate::check_resources(
                                &mut local,
                                &Node::from_json(&written, node.span),
                            );
                            for mut diagnostic in local.diagnostics {
                                diagnostic.message =
                                    format!("{} (the value of `{name}`)", diagnostic.message);
                                self.report.push(diagnostic);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The spec settings that [`Resolver::check_resolved`] checks when they are
/// written as an expression or runtime input.
const RESOLVED_CHECKS: [&str; 8] = [
    "shell",
    "resources",
    "imagePullPolicy",
    "image",
    "entrypoint",
    "runAsUser",
    "reports",
    "outputVariables",
];

/// The node whose `timeout` is resolved.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TimeoutOwner {
    Pipeline,
    Stage,
    Step,
}

impl TimeoutOwner {
    fn name(self) -> &'static str {
        match self {
            TimeoutOwner::Pipeline => "pipeline",
            TimeoutOwner::Stage => "stage",
            TimeoutOwner::Step => "step",
        }
    }
}

/// A resolved stage iteration, as its steps see it.
struct StagePlace<'s, 'v> {
    stage: &'s Stage<'s>,
    /// The stage identifier with its iteration suffix.
    identifier: &'s str,
    infra: &'s Infrastructure,
    platform: &'s Platform,
    /// The stage's own `failureStrategies`.
    failure_strategies: &'s [FailureStrategy],
    scope: &'s Scope<'v>,
}

/// Finds the subtree at `path`, a path inside the stage, in the stage's tree.
fn stage_subtree<'v>(place: &StagePlace<'_, 'v>, path: &str) -> Option<&'v Value> {
    let relative = path
        .strip_prefix(&place.stage.path)
        .and_then(|rest| rest.strip_prefix('.'))
        .unwrap_or(path);
    get_keys(place.scope.stage?, relative)
}

/// The stage whose infrastructure `index` uses, after following `useFromStage`.
fn origin_stage<'p, 'a>(stages: &'p [Stage<'a>], index: usize) -> &'p Stage<'a> {
    let mut current = index;
    for _ in 0..stages.len() {
        match &stages[current].infra.use_from_stage {
            Some((from, _)) => match stages.iter().position(|s| &s.identifier == from) {
                Some(next) if next != current => current = next,
                _ => break,
            },
            None => break,
        }
    }
    &stages[current]
}

/// Adds the defaults the infrastructure applies to a Background or Run
/// step: the `latest` tag, Kubernetes' pull policy rule (`Always` for
/// `latest`, else `IfNotPresent`), the shell (`Sh`, or `Powershell` on
/// Windows) and, for containers on Kubernetes and Docker runtimes, the
/// 500Mi memory and 400m CPU limits. VM and Cloud steps get no resource
/// defaults because those infrastructures ignore container limits. On
/// KubernetesDirect infrastructure, a step without `runAsUser` gets the
/// infrastructure's `runAsUser`, which Harness applies to the whole pod.
pub fn effective(spec: &Json, infra: &Infrastructure, platform: &Platform) -> Effective {
    let kind = infra.kind;
    let Json::Object(map) = spec else {
        return Effective::default();
    };
    // One pass over the keys finds the image and the keys that get a
    // default, without hashing them with serde_json's SipHash.
    let mut has_image = false;
    let mut latest = false;
    let mut tagged = None;
    let mut pull_policy = KeyState::Missing;
    let mut shell = KeyState::Missing;
    let mut privileged = KeyState::Missing;
    let mut run_as_user = KeyState::Missing;
    let mut resources = None;
    for (key, value) in map {
        match key.as_str() {
            "image" => {
                if let Json::String(image) = value
                    && !image.is_empty()
                {
                    has_image = true;
                    (tagged, latest) = tag_image(image);
                }
            }
            "imagePullPolicy" => pull_policy = KeyState::of(value),
            "shell" => shell = KeyState::of(value),
            "privileged" => privileged = KeyState::of(value),
            "runAsUser" => run_as_user = KeyState::of(value),
            "resources" => resources = Some(value),
            _ => {}
        }
    }

    let mut settings = Vec::new();
    if let Some(image) = tagged {
        settings.push(Setting {
            key: "image",
            value: Cow::Owned(Json::String(image)),
            replaces: true,
        });
    }
    let in_container = has_image || !kind.allows_host_steps();
    if has_image {
        let policy = if latest { &ALWAYS } else { &IF_NOT_PRESENT };
        push_default(&mut settings, "imagePullPolicy", pull_policy, || {
            Cow::Borrowed(&**policy)
        });
    }
    push_default(&mut settings, "shell", shell, || {
        let shell = if platform.os == "Windows" {
            &POWERSHELL
        } else {
            &SH
        };
        Cow::Borrowed(&**shell)
    });
    if in_container {
        push_default(&mut settings, "privileged", privileged, || {
            Cow::Borrowed(&FALSE)
        });
    }
    if let Some(user) = infra.spec.get("runAsUser").filter(|user| !user.is_null()) {
        push_default(&mut settings, "runAsUser", run_as_user, || {
            Cow::Owned(user.clone())
        });
    }
    if in_container
        && matches!(
            kind,
            InfrastructureKind::KubernetesDirect | InfrastructureKind::Docker
        )
    {
        match resources {
            None => settings.push(Setting {
                key: "resources",
                value: Cow::Borrowed(&*DEFAULT_RESOURCES),
                replaces: false,
            }),
            Some(Json::Object(resources)) => {
                if let Some(value) = with_default_limits(resources) {
                    settings.push(Setting {
                        key: "resources",
                        value: Cow::Owned(value),
                        replaces: true,
                    });
                }
            }
            Some(_) => {}
        }
    }
    Effective::over(settings)
}

/// The `resources` of a container step that sets none. Sharing it saves
/// each step a copy of its hash tables.
static DEFAULT_RESOURCES: std::sync::LazyLock<Json> = std::sync::LazyLock::new(
    || serde_json::json!({ "limits": { "memory": DEFAULT_MEMORY, "cpu": DEFAULT_CPU } }),
);

/// The default values `effective` shares between steps.
static ALWAYS: std::sync::LazyLock<Json> = std::sync::LazyLock::new(|| Json::from("Always"));
static IF_NOT_PRESENT: std::sync::LazyLock<Json> =
    std::sync::LazyLock::new(|| Json::from("IfNotPresent"));
static SH: std::sync::LazyLock<Json> = std::sync::LazyLock::new(|| Json::from("Sh"));
static POWERSHELL: std::sync::LazyLock<Json> =
    std::sync::LazyLock::new(|| Json::from("Powershell"));
static FALSE: Json = Json::Bool(false);

/// `resources` with the default memory and CPU limits where `limits` lacks
/// them or sets them to null, or `None` when it needs none. `limits` set
/// to something other than a map stays as it is.
fn with_default_limits(resources: &serde_json::Map<String, Json>) -> Option<Json> {
    let (memory, cpu) = match resources.get("limits") {
        None => (KeyState::Missing, KeyState::Missing),
        Some(Json::Object(limits)) => (
            KeyState::of_key(limits, "memory"),
            KeyState::of_key(limits, "cpu"),
        ),
        Some(_) => return None,
    };
    if memory == KeyState::Set && cpu == KeyState::Set {
        return None;
    }
    let mut resources = resources.clone();
    let limits = resources
        .entry("limits")
        .or_insert_with(|| Json::Object(serde_json::Map::new()));
    if let Json::Object(limits) = limits {
        set_default(limits, "memory", memory, || {
            Json::String(DEFAULT_MEMORY.into())
        });
        set_default(limits, "cpu", cpu, || Json::String(DEFAULT_CPU.into()));
    }
    Some(Json::Object(resources))
}

/// Returns `image` with the `latest` tag added when it has neither a tag
/// nor a digest, else `None`, and whether the image then names the
/// `latest` tag without a digest. An invalid image stays as it is and
/// names no `latest` tag.
fn tag_image(image: &str) -> (Option<String>, bool) {
    let is_latest =
        |parsed: &ImageParts<'_>| parsed.tag == Some("latest") && parsed.digest.is_none();
    // Same result as `ImageRef::with_default_tag` followed by a parse of
    // its output, with one parse when the image already has a tag.
    match parse_image_parts(image) {
        Ok(parsed) if parsed.tag.is_none() && parsed.digest.is_none() => {
            let tagged = format!("{image}:latest");
            let latest = parse_image_parts(&tagged).is_ok_and(|p| is_latest(&p));
            (Some(tagged), latest)
        }
        Ok(parsed) => (None, is_latest(&parsed)),
        Err(_) => (None, false),
    }
}

/// The state of a key in a map: missing, set to null, or set to another
/// value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyState {
    Missing,
    Null,
    Set,
}

impl KeyState {
    fn of(value: &Json) -> KeyState {
        if value.is_null() {
            KeyState::Null
        } else {
            KeyState::Set
        }
    }

    /// Finds `key` by comparing it with each key of the small `map`,
    /// without hashing it.
    fn of_key(map: &serde_json::Map<String, Json>, key: &str) -> KeyState {
        map.iter()
            .find(|(candidate, _)| *candidate == key)
            .map_or(KeyState::Missing, |(_, value)| KeyState::of(value))
    }
}

/// Sets `key`, whose state in `map` is `state`, to `value()` when it is
/// missing or null. A null value is replaced in place, so the key keeps its
/// position in the map.
fn set_default(
    map: &mut serde_json::Map<String, Json>,
    key: &str,
    state: KeyState,
    value: impl FnOnce() -> Json,
) {
    match state {
        KeyState::Set => {}
        KeyState::Null => {
            if let Some(slot) = map.get_mut(key) {
                *slot = value();
            }
        }
        KeyState::Missing => {
            map.insert(key.to_string(), value());
        }
    }
}

/// Adds the setting of `key`, whose state in a step's spec is `state`, to
/// `settings` when it is missing or null. A null value is replaced in
/// place, so the key keeps its position in the map.
fn push_default(
    settings: &mut Vec<Setting>,
    key: &'static str,
    state: KeyState,
    value: impl FnOnce() -> Cow<'static, Json>,
) {
    let replaces = match state {
        KeyState::Set => return,
        KeyState::Null => true,
        KeyState::Missing => false,
    };
    settings.push(Setting {
        key,
        value: value(),
        replaces,
    });
}

/// Computes how other steps reach a Background step.
fn endpoints(hostname: String, step: &ResolvedStep, kind: InfrastructureKind) -> Endpoints {
    let bindings = step.port_bindings();
    let on_host = step.image().is_none();
    let container = if on_host || kind == InfrastructureKind::KubernetesDirect {
        Vec::new()
    } else {
        bindings
            .iter()
            .map(|(_, port)| format!("{hostname}:{port}"))
            .collect()
    };
    let host = if kind == InfrastructureKind::KubernetesDirect {
        Vec::new()
    } else {
        bindings
            .iter()
            .map(|(port, _)| format!("localhost:{port}"))
            .collect()
    };
    let pod = if kind == InfrastructureKind::KubernetesDirect {
        bindings
            .iter()
            .map(|(_, port)| format!("localhost:{port}"))
            .collect()
    } else {
        Vec::new()
    };
    Endpoints {
        hostname,
        container,
        host,
        pod,
    }
}

/// Writes the decision of a condition whose value is known, `true` or
/// `false`, converted as Harness converts it ([`Value::condition_decision`]).
fn decision_literal(value: &Value) -> Option<String> {
    value
        .condition_decision()
        .map(|decision| decision.to_string())
}

/// The maximum text, in bytes, that the `spec` of all resolved steps and
/// the variables of all resolved stages may hold together. The generated benchmark pipeline of 10,000 steps resolves to
/// 0.9 MB of such text, and the JSON document of a resolution, which
/// repeats each `spec` in `effective`, stays far within what a JavaScript
/// string can hold.
pub const MAX_RESOLVED_TEXT_BYTES: usize = 32 * 1024 * 1024;

/// Returns the bytes of the strings and keys in `value`.
fn text_bytes(value: &Json) -> usize {
    match value {
        Json::String(text) => text.len(),
        Json::Array(items) => items.iter().map(text_bytes).sum(),
        Json::Object(entries) => entries
            .iter()
            .map(|(key, entry)| key.len() + text_bytes(entry))
            .sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_budget_error_kept_once() {
        let over = |message: &str| {
            Diagnostic::error(codes::SHARED_BUDGET_EXCEEDED, message, Span::default())
        };
        let other = Diagnostic::error("missing-input", "other", Span::default());
        let diagnostics = vec![
            other.clone(),
            over("first"),
            over("second"),
            over("third"),
            other,
        ];

        let kept = once_over_budget(diagnostics, 2);

        let messages: Vec<&str> = kept.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "other",
                "first; 2 more expressions stopped the same way",
                "other"
            ]
        );
    }
}
