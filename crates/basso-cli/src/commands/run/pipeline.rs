//! The pipeline side of `basso run`: reading the file and its inputs,
//! resolving it with `basso-core`, and resolving it again for each step
//! with the outputs and statuses of the steps before it.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use basso_core::pipeline::{Resolution, ResolvedStage, ResolvedStep};
use basso_core::{Diagnostic, Span};
use basso_runner::{Expressions, PreflightProblem, RunState, Status, StepPlan};
use serde_json::{Value as Json, json};

use super::{RunArgs, StartError};
use crate::render;
use crate::resolution_args::{ArgsError, ResolutionArgs, diagnostic_sources, read_text};

/// The place of a stage or step in the pipeline file.
pub struct Place {
    /// The span of its `identifier` value.
    pub span: Span,
    /// The spans of a step's settings, by key (`image`, `shell`).
    pub settings: Vec<(&'static str, Span)>,
    /// The spans of the values of a step's `envVariables`, by name.
    pub env: Vec<(String, Span)>,
}

impl Place {
    /// Returns the span of setting `key`, when it is written.
    pub fn setting_span(&self, key: &str) -> Option<Span> {
        self.settings
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, span)| *span)
    }

    /// Returns the span of the entry `entry` of setting `key`, when it is
    /// written; only `envVariables` entries are recorded.
    pub fn entry_span(&self, key: &str, entry: &str) -> Option<Span> {
        if key != "envVariables" {
            return None;
        }
        self.env
            .iter()
            .find(|(name, _)| name == entry)
            .map(|(_, span)| *span)
    }
}

/// The pipeline file with its runtime inputs and context, read once.
pub struct Loaded {
    name: String,
    source: String,
    input_sets: Vec<(String, String)>,
    inputs: Vec<(String, String)>,
    /// The execution inputs answered at the prompt or given their default,
    /// as (input path, value), which `inputs` passes on as `--input`
    /// arguments.
    answered: Vec<(String, String)>,
    /// The `--context` object, or an empty object.
    pub base_context: Json,
}

impl Loaded {
    /// Returns `FILE:LINE:COLUMN` of `span` in the pipeline file.
    pub fn position(&self, span: Span) -> String {
        format!("{}:{}:{}", self.name, span.line, span.column)
    }

    /// Reads the pipeline, input set and context files, and rejects the
    /// pipeline when `check` finds errors.
    pub fn read(args: &RunArgs) -> Result<Loaded, StartError> {
        let name = args.file.display().to_string();
        let source = read_text(&args.file).map_err(StartError::unreadable)?;
        let diagnostics = basso_core::pipeline::check(&source, &name);
        if diagnostics.iter().any(basso_core::Diagnostic::is_error) {
            err_print!("{}", render::render_text(&diagnostics, &name, &source));
            err_println!("{}", render::summary(&diagnostics));
            return Err(StartError::invalid_pipeline(
                format!("`{name}` has errors; basso run starts nothing"),
                diagnostics,
            ));
        }
        reject_host_port_bindings(&diagnostics, &name, &source)?;
        let templates = template_parts(&diagnostics, &name);
        if !templates.is_empty() {
            return Err(StartError::failure(format!(
                "basso run cannot run this pipeline on this machine:\n{}",
                templates.join("\n")
            )));
        }

        let ResolutionArgs {
            arguments: mut inputs,
            input_sets,
            context: base_context,
        } = ResolutionArgs::read(&args.input, &args.inputs, args.context.as_deref()).map_err(
            |error| match error {
                ArgsError::File(error) => StartError::unreadable(error),
                ArgsError::Usage(message) => StartError::usage(message),
            },
        )?;
        let first_answer = inputs.len();
        ask_execution_inputs(&source, &name, &input_sets, &mut inputs)?;
        let answered = inputs[first_answer..].to_vec();

        Ok(Loaded {
            name,
            source,
            input_sets,
            inputs,
            answered,
            base_context,
        })
    }

    /// Resolves the pipeline against `context`; errors end the run.
    pub fn resolve(&self, context: &Json) -> Result<Resolution, StartError> {
        let mut resolution = self.resolve_quietly(context);
        self.name_answered_inputs(&mut resolution.diagnostics);
        if resolution.has_errors() {
            let errors: Vec<_> = resolution
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .cloned()
                .collect();
            let sources =
                diagnostic_sources(&self.name, &self.source, &self.input_sets, &self.inputs);
            err_print!("{}", render::render_files(&errors, &sources));
            return Err(StartError::invalid_pipeline(
                format!(
                    "`{}` cannot be resolved; basso run starts nothing",
                    self.name
                ),
                resolution.diagnostics,
            ));
        }
        let warnings = run_warnings(&resolution);
        if !warnings.is_empty() {
            let sources =
                diagnostic_sources(&self.name, &self.source, &self.input_sets, &self.inputs);
            err_print!("{}", render::render_files(&warnings, &sources));
        }
        Ok(resolution)
    }

    /// Names the origin of an execution input's value as the prompt or the
    /// default, where a message would name the `--input` argument that
    /// basso passed on and the user never wrote.
    fn name_answered_inputs(&self, diagnostics: &mut [basso_core::Diagnostic]) {
        for (path, value) in &self.answered {
            let as_argument = format!("(from `--input {path}={value}`)");
            for diagnostic in diagnostics.iter_mut() {
                if diagnostic.message.contains(&as_argument) {
                    diagnostic.message = diagnostic
                        .message
                        .replace(&as_argument, "(the execution input's answer or default)");
                }
            }
        }
    }

    /// Returns whether any expression may read step outputs, statuses or
    /// retry counts, the values that change while the run goes on: one in
    /// the file, in a supplied input or input set, or in the context, whose
    /// blocks are evaluated too. The keys are searched without the dot
    /// before them, so that the bracket form (`["output"]`) and `.get("output")`
    /// count. `tatus` matches `status` and `currentStatus`.
    ///
    /// NOTE: a key built at run time, such as `"out" + "put"`, is not found,
    /// and the step then keeps its value from before the run.
    fn reads_run_state(&self) -> bool {
        let reads = |text: &str| {
            text.contains("<+")
                && ["output", "tatus", "retryCount"]
                    .iter()
                    .any(|read| text.contains(read))
        };
        reads(&self.source)
            || self.input_sets.iter().any(|(_, text)| reads(text))
            || self.inputs.iter().any(|(_, value)| reads(value))
            || reads(&self.base_context.to_string())
    }

    /// Returns the diagnostic for `error`, a reason the run cannot start, at
    /// the setting it names, else at the identifier of its step or stage.
    /// `places` comes from [`Loaded::places`].
    pub fn preflight_diagnostic(
        &self,
        error: &PreflightProblem,
        places: &HashMap<(String, Option<String>), Place>,
    ) -> Option<Diagnostic> {
        let place = places.get(&(error.stage.clone(), error.step.clone()))?;
        let entry_span = || {
            let (setting, entry) = (error.setting?, error.entry.as_deref()?);
            place.entry_span(setting, entry)
        };
        let span = entry_span()
            .or_else(|| {
                error
                    .setting
                    .and_then(|setting| place.setting_span(setting))
            })
            .unwrap_or(place.span);
        let (message, help) = match error.message.split_once("; help: ") {
            Some((message, help)) => (message, Some(help)),
            None => (error.message.as_str(), None),
        };
        let mut diagnostic = Diagnostic::error("cannot-run", message, span).with_file(&self.name);
        diagnostic.help = help.map(str::to_string);
        Some(diagnostic)
    }

    /// Returns where each stage (with no step path) and each step (with its
    /// path inside the stage, `outer.inner.step` inside step groups) of
    /// `resolution` is written, keyed by stage identifier and step path.
    pub fn places(&self, resolution: &Resolution) -> HashMap<(String, Option<String>), Place> {
        use basso_core::pipeline::locate;
        let mut places = HashMap::new();
        let root = basso_core::pipeline::yaml::load(
            &self.source,
            basso_core::pipeline::yaml::Limits::default(),
        );
        let Ok(Some(root)) = root else {
            return places;
        };
        for stage in &resolution.stages {
            let Some(stage_node) = locate::stage_node(&root, stage) else {
                continue;
            };
            let stage_place = Place {
                span: locate::identifier_span(stage_node),
                settings: Vec::new(),
                env: Vec::new(),
            };
            places.insert((stage.identifier.clone(), None), stage_place);
            let step_nodes = locate::step_nodes(stage_node);
            for step in &stage.steps {
                let Some(found) = locate::find_step(&step_nodes, step) else {
                    continue;
                };
                let mut path = step.group_path().join(".");
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&step.identifier);
                let place = Place {
                    span: locate::identifier_span(found.node),
                    settings: locate::setting_spans(found.node),
                    env: locate::entry_spans(found.node, "envVariables"),
                };
                places.insert((stage.identifier.clone(), Some(path)), place);
            }
        }
        places
    }

    /// Returns the `file:line:col` of the `cloneCodebase` value of `stage`,
    /// when it is written.
    pub fn clone_codebase_position(
        &self,
        stage: &basso_core::pipeline::ResolvedStage,
    ) -> Option<String> {
        use basso_core::pipeline::locate;
        let root = basso_core::pipeline::yaml::load(
            &self.source,
            basso_core::pipeline::yaml::Limits::default(),
        );
        let root = root.ok().flatten()?;
        let spec = locate::stage_node(&root, stage)?.get("spec")?;
        Some(self.position(locate::setting_span(spec, "cloneCodebase")?))
    }

    /// Resolves the pipeline against `context` and returns the resolution
    /// with its errors, printing nothing.
    pub fn resolve_quietly(&self, context: &Json) -> Resolution {
        basso_core::pipeline::resolve(
            &self.source,
            &self.name,
            &self.inputs,
            &self.input_sets,
            context,
        )
    }
}

/// Rejects the `portBindings` that `check` warns about on steps without
/// `image`, with their `file:line:col`, because the host executor cannot
/// map one port to another. Ports that inputs or expressions supply are
/// left to the executor's own check before the run.
fn reject_host_port_bindings(
    diagnostics: &[basso_core::Diagnostic],
    name: &str,
    source: &str,
) -> Result<(), StartError> {
    let rejected: Vec<basso_core::Diagnostic> = diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.code == "host-port-binding")
        .map(|diagnostic| basso_core::Diagnostic {
            severity: basso_core::Severity::Error,
            ..diagnostic.clone()
        })
        .collect();
    if rejected.is_empty() {
        return Ok(());
    }
    err_print!("{}", render::render_text(&rejected, name, source));
    err_println!("{}", render::summary(&rejected));
    Err(StartError::invalid_pipeline(
        format!(
            "`{name}` binds host ports to other container ports on steps without `image`; basso run starts nothing"
        ),
        rejected,
    ))
}

/// Supplies every `.executionInput()` field that neither the input sets
/// nor the `--input` arguments give a value: asked on a terminal, else its
/// default. Without a terminal, the fields without a default are errors at
/// their `file:line:col`, all of them before the run starts.
fn ask_execution_inputs(
    source: &str,
    name: &str,
    input_sets: &[(String, String)],
    inputs: &mut Vec<(String, String)>,
) -> Result<(), StartError> {
    let listing = basso_core::pipeline::inputs(source, name);
    let from_sets = basso_core::pipeline::input_set_paths(source, input_sets);
    let mut missing = Vec::new();
    for field in listing.inputs.iter().filter(|field| field.execution_input) {
        if inputs.iter().any(|(path, _)| *path == field.path) || from_sets.contains(&field.path) {
            continue;
        }
        let default = field.default.as_ref().map(basso_core::pipeline::json_text);
        let answer = if super::interactive() {
            prompt(
                &field.path,
                default.as_deref(),
                field.allowed_values.as_deref(),
            )?
        } else {
            None
        };
        let value = if let Some(answer) = answer {
            answer
        } else if let Some(default) = default {
            tracing::info!(
                "execution input `{}` takes its default `{default}`",
                field.path
            );
            default
        } else {
            let path = &field.path;
            let span = listed_span(source, field.line, field.column, &field.text);
            missing.push(
                basso_core::Diagnostic::error(
                    "missing-input",
                    format!("input `{path}` is asked at execution time and has no default"),
                    span,
                )
                .with_help(format!(
                    "pass `--input {path}=VALUE` or an input set with a value for it, run basso on a terminal to be asked, or give it `.default(...)`"
                ))
                .with_file(name),
            );
            continue;
        };
        inputs.push((field.path.clone(), value));
    }
    if missing.is_empty() {
        return Ok(());
    }
    err_print!("{}", render::render_text(&missing, name, source));
    err_println!("{}", render::summary(&missing));
    Err(StartError::invalid_pipeline(
        format!("`{name}` has execution inputs without a value; basso run starts nothing"),
        missing,
    ))
}

/// Returns the span of a field that `basso inputs` lists at line `line`,
/// column `column` (1-based, in characters) of `source`, with the value
/// `text`: a quoted value to its closing quote, a plain one over its text,
/// and neither past the end of the line.
fn listed_span(source: &str, line: usize, column: usize, text: &str) -> Span {
    let line_start: usize = source
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let rest = source.get(line_start..).unwrap_or_default();
    let start = line_start
        + rest
            .chars()
            .take(column.saturating_sub(1))
            .map(char::len_utf8)
            .sum::<usize>();
    let after = source.get(start..).unwrap_or_default();
    let line_end = after.find(['\n', '\r']).unwrap_or(after.len());
    let length = match after.chars().next() {
        Some(quote @ ('"' | '\'')) => after[1..line_end]
            .find(quote)
            .map_or(line_end, |closing| closing + 2),
        _ => text.len().min(line_end),
    };
    Span::from_byte_range(source, start, start + length)
}

/// Prompts for one input value on the terminal. An empty line takes the
/// default, and gives `None` without one.
fn prompt(
    path: &str,
    default: Option<&str>,
    allowed: Option<&[String]>,
) -> Result<Option<String>, StartError> {
    let mut question = format!("value for `{path}`");
    if let Some(allowed) = allowed {
        question.push_str(&format!(" (one of {})", allowed.join(", ")));
    }
    if let Some(default) = default {
        question.push_str(&format!(" [{default}]"));
    }
    err_print!("{question}: ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).map_err(|error| {
        StartError::usage(format!("cannot read the value of `{path}`: {error}"))
    })?;
    let answer = answer.trim_end_matches(['\n', '\r']).to_string();
    match (answer.is_empty(), default) {
        (true, Some(default)) => Ok(Some(default.to_string())),
        (true, None) => Ok(None),
        (false, _) => Ok(Some(answer)),
    }
}

/// Lists the parts of the pipeline that `check` reports as coming from a
/// template (`template-ref`): stages, step groups, steps or the whole
/// pipeline. Their content is not in the file, so `run` cannot run them.
fn template_parts(diagnostics: &[basso_core::Diagnostic], name: &str) -> Vec<String> {
    diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.code == "template-ref")
        .map(|diagnostic| {
            let part = diagnostic
                .message
                .split(" comes from a template")
                .next()
                .unwrap_or_default();
            format!(
                "  - {part} ({name}:{}:{}) comes from a template, which lives outside this file",
                diagnostic.span.line, diagnostic.span.column
            )
        })
        .collect()
}

/// Lists every secret id the resolved steps use.
pub fn secret_ids(resolution: &Resolution) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for stage in &resolution.stages {
        for step in &stage.steps {
            for id in &step.secrets {
                if !ids.contains(id) {
                    ids.push(id.clone());
                }
            }
        }
    }
    ids
}

/// The expression engine for the runner: each step is resolved again with
/// a context that carries the run so far.
pub struct EngineExpressions {
    loaded: Loaded,
    context: Json,
    /// The spans and messages of the errors outside every step that were
    /// logged during the run, so that each is logged once.
    logged: Mutex<HashSet<(Span, String)>>,
}

impl EngineExpressions {
    /// Creates the engine over `loaded` with `context` as the base context.
    pub fn new(loaded: Loaded, context: Json) -> EngineExpressions {
        EngineExpressions {
            loaded,
            context,
            logged: Mutex::new(HashSet::new()),
        }
    }

    /// Resolves the pipeline again with the statuses and outputs of the run
    /// so far. The resolution is returned with its errors, which
    /// [`Self::step_errors`] sorts by the step they lie in.
    fn resolve_with(&self, state: &RunState) -> Resolution {
        let stage_id = state
            .current()
            .map(|stage| stage.id.as_str())
            .unwrap_or_default();
        let context = run_context(&self.context, state, stage_id);
        self.loaded.resolve_quietly(&context)
    }

    /// Returns the errors of `resolution` that lie in the file's mapping of
    /// `step`, which fail the step. Errors in another step are left for that
    /// step, which gets them when it is resolved again before it starts.
    /// Errors outside every step, such as one in a stage variable's value,
    /// fail no step and are logged once. The runner keeps the stage and
    /// group fields of the first resolution, and a step field that reads
    /// such a value gets an error of its own.
    fn step_errors<'r>(
        &self,
        resolution: &'r Resolution,
        step: &ResolvedStep,
        step_path: &str,
    ) -> Vec<&'r Diagnostic> {
        let steps = resolution.stages.iter().flat_map(|stage| &stage.steps);
        let step_spans: Vec<Span> = steps.map(|other| other.source_span).collect();
        let mut own = Vec::new();
        for error in resolution.diagnostics.iter().filter(|d| d.is_error()) {
            // NOTE: the iterations of a looped step share its mapping, so an
            // error that one iteration's values cause fails every iteration
            // resolved after it.
            if self.in_file(error) && contains(step.source_span, error.span) {
                own.push(error);
            } else if !self.in_file(error)
                || !step_spans.iter().any(|span| contains(*span, error.span))
            {
                self.log_outside_steps(error, step_path);
            }
        }
        own
    }

    fn in_file(&self, diagnostic: &Diagnostic) -> bool {
        diagnostic
            .file
            .as_deref()
            .is_none_or(|file| file == self.loaded.name)
    }

    fn log_outside_steps(&self, error: &Diagnostic, step_path: &str) {
        let mut logged = self.logged.lock().expect("logged errors lock");
        if logged.insert((error.span, error.message.clone())) {
            tracing::warn!(
                step_id = %step_path,
                "resolving again before this step gives an error outside every step, which fails no step: {}",
                self.describe(error)
            );
        }
    }

    /// Formats an error as `MESSAGE at FILE:LINE:COLUMN; help: HELP`.
    fn describe(&self, error: &Diagnostic) -> String {
        let file = error.file.as_deref().unwrap_or(&self.loaded.name);
        let mut message = format!(
            "{} at {file}:{}:{}",
            error.message, error.span.line, error.span.column
        );
        if let Some(help) = &error.help {
            message.push_str(&format!("; help: {help}"));
        }
        message
    }
}

/// Returns whether `inner` lies within `outer`; a span that ends where
/// `outer` ends counts, as the empty span just past a field's last
/// character does.
fn contains(outer: Span, inner: Span) -> bool {
    outer.byte_start <= inner.byte_start && inner.byte_end <= outer.byte_end
}

fn find_stage<'r>(resolution: &'r Resolution, stage_id: &str) -> Result<&'r ResolvedStage, String> {
    resolution
        .stage(stage_id)
        .ok_or_else(|| format!("stage `{stage_id}` is missing after resolving again"))
}

impl Expressions for EngineExpressions {
    fn prepare(&self, step: &StepPlan, state: &RunState) -> Result<StepPlan, String> {
        // Resolving again costs a whole resolution per step, so a pipeline
        // that reads no step output or status keeps its first resolution.
        if !self.loaded.reads_run_state() {
            return Ok(step.clone());
        }
        let resolution = self.resolve_with(state);
        let stage_id = state
            .current()
            .map(|stage| stage.id.clone())
            .ok_or("no stage is running")?;
        let stage = find_stage(&resolution, &stage_id)?;
        let fresh = stage
            .steps
            .iter()
            .find(|candidate| {
                candidate.identifier == step.id
                    && basso_runner::convert::step_plan(candidate).group_path == step.group_path
            })
            .ok_or_else(|| format!("step `{}` is missing after resolving again", step.path()))?;
        let errors = self.step_errors(&resolution, fresh, &step.path());
        if !errors.is_empty() {
            let described: Vec<String> = errors.iter().map(|error| self.describe(error)).collect();
            return Err(described.join("\n"));
        }
        Ok(basso_runner::convert::step_plan(fresh))
    }

    fn condition(
        &self,
        condition: &str,
        span: Option<Span>,
        stage_id: &str,
        step: Option<&StepPlan>,
        state: &RunState,
    ) -> Result<bool, String> {
        // The first resolution keeps the blocks it could not resolve (step
        // statuses and outputs) as written, so they are evaluated here with
        // the values of the run so far.
        let mut context = run_context(&self.context, state, stage_id);
        if let Some(step) = step {
            add_group_steps(&mut context, &step.group_path);
        }
        evaluate_condition(condition, &context).map_err(|error| match span {
            Some(span) => format!("{}: {error}", self.loaded.position(span)),
            None => error,
        })
    }
}

/// Adds the steps of each group in `group_path` (outermost first) to the
/// `steps` and `execution.steps` of `context`, where a step inside those
/// groups reads them as `<+steps.ID...>`, as its other fields do. A step
/// at the stage's level keeps its entry, and identifiers are unique within
/// a stage, so no entry is replaced.
fn add_group_steps(context: &mut Json, group_path: &[String]) {
    let mut group = context["steps"].clone();
    for id in group_path {
        group = group[id.as_str()]["steps"].clone();
        let Some(members) = group.as_object() else {
            return;
        };
        for root in ["/steps", "/execution/steps"] {
            if let Some(steps) = context.pointer_mut(root).and_then(Json::as_object_mut) {
                for (member, value) in members {
                    steps.entry(member.clone()).or_insert_with(|| value.clone());
                }
            }
        }
    }
}

/// Evaluates a condition the resolver left as text.
fn evaluate_condition(text: &str, context: &Json) -> Result<bool, String> {
    match text.trim() {
        "true" => return Ok(true),
        "false" | "" | "null" => return Ok(false),
        _ => {}
    }
    let value = basso_core::Value::from_json(context.clone());
    let result =
        basso_core::evaluate(text, &value, &basso_core::Options::default()).map_err(|error| {
            format!(
                "cannot evaluate `{text}`: {}; help: {}",
                error.message, error.help
            )
        })?;
    // Harness converts any value to run or skip, so a string such as `yes`
    // runs the step.
    result
        .condition_decision()
        .ok_or_else(|| format!("the condition `{text}` is a secret, which cannot decide a step"))
}

/// Returns the warnings of `resolution` that matter for a run: all but
/// those about step outputs and statuses, which the run supplies.
pub fn run_warnings(resolution: &Resolution) -> Vec<basso_core::Diagnostic> {
    resolution
        .diagnostics
        .iter()
        .filter(|d| !d.is_error() && !basso_core::pipeline::resolve::is_run_state_warning(d))
        .cloned()
        .map(in_this_run)
        .collect()
}

/// Rewords a warning about a run-time value that the context does not give
/// (`<+trigger.branch>`, `<+pipeline.executionUrl>`), whose help in
/// `resolve` expects the runner to supply it. In `basso run`, the run is
/// that runner, so the value stays null.
fn in_this_run(mut diagnostic: basso_core::Diagnostic) -> basso_core::Diagnostic {
    if basso_core::pipeline::resolve::is_context_warning(&diagnostic) {
        diagnostic.message = diagnostic.message.replace(
            "has no value before the run starts",
            "has no value in this run",
        );
        diagnostic.help = Some(
            "basso run does not supply it; give it in the `--context FILE.json` object".to_string(),
        );
    }
    diagnostic
}

/// Returns `base` with the statuses and output variables of the run so far
/// under `pipeline.stages.S`, and the short forms expressions use for them:
/// `stages.S`, and `steps.ID`, `execution.steps.ID` and `stage` for the
/// stage `current_stage`.
pub fn run_context(base: &Json, state: &RunState, current_stage: &str) -> Json {
    let mut context = base.clone();
    if !context.is_object() {
        context = json!({});
    }
    for stage in &state.stages {
        let stage_path = ["pipeline", "stages", stage.id.as_str()];
        let stage_node = node_at(&mut context, &stage_path);
        // A stage that runs is `RUNNING`; its `currentStatus` turns
        // `FAILED` once one of its steps failed.
        let running = Status::Running.as_str();
        let (status, current) = match stage.status {
            Some(status) => (status.as_str(), status.as_str()),
            None if stage.failing => (running, Status::Failed.as_str()),
            None => (running, running),
        };
        stage_node["status"] = json!(status);
        stage_node["currentStatus"] = json!(current);
        for (path, step) in &stage.steps {
            let step_node = node_at(stage_node, &execution_path(path));
            step_node["status"] = json!(step.status.as_str());
            step_node["retryCount"] = json!(step.retry_count);
            let mut outputs = json!(step.output_variables);
            for name in &step.unset_outputs {
                outputs[name.as_str()] = Json::Null;
            }
            step_node["output"] = json!({ "outputVariables": outputs });
        }
        for (path, status) in &stage.groups {
            node_at(stage_node, &execution_path(path))["status"] = json!(status.as_str());
        }
    }

    let stages = context["pipeline"]["stages"].clone();
    if stages.is_object() {
        context["stages"] = stages.clone();
    }
    if let Some(stage) = stages.get(current_stage) {
        let steps = stage
            .pointer("/spec/execution/steps")
            .cloned()
            .unwrap_or(json!({}));
        context["steps"] = steps.clone();
        context["execution"] = json!({ "steps": steps });
        let mut current = stage.clone();
        current["identifier"] = json!(current_stage);
        context["stage"] = current;
    }
    context
}

/// Returns the keys under a stage node that lead to the step or group at
/// `path` (`group.step` becomes `spec.execution.steps.group.steps.step`).
fn execution_path(path: &str) -> Vec<&str> {
    let mut segments = vec!["spec", "execution", "steps"];
    for (index, part) in path.split('.').enumerate() {
        if index > 0 {
            segments.push("steps");
        }
        segments.push(part);
    }
    segments
}

/// Returns the object at `path` under `value`, creating objects on the way.
fn node_at<'v>(value: &'v mut Json, path: &[&str]) -> &'v mut Json {
    let mut current = value;
    for key in path {
        if !current.get(*key).is_some_and(Json::is_object) {
            current[*key] = json!({});
        }
        current = current.get_mut(*key).expect("inserted above");
    }
    current
}
