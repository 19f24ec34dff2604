//! `basso run`: resolve a pipeline, check what this machine can run, and
//! run the stages with the host executor.

#[cfg(feature = "containerd")]
mod containers;
mod logging;
mod pipeline;
mod secrets;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use basso_runner::folders::{self, RunFolder};
use basso_runner::{Codebase, Console, HostExecutor, RunOptions, Runner, StagePlan, Status};
use clap::{Args, ValueEnum};

use crate::exit;
use crate::resolution_args::ReadError;

/// How long an interrupted run tries to print its summary on stdout.
const SUMMARY_TIMEOUT_AFTER_SIGNAL: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Args)]
pub struct RunArgs {
    /// The pipeline file to run
    pub file: PathBuf,
    /// Run only the stage with this identifier
    #[arg(long, value_name = "ID")]
    pub stage: Option<String>,
    /// Set a runtime input, such as `pipeline.variables.tag=1.2`
    /// (repeatable; wins over --inputs)
    #[arg(long = "input", value_name = "PATH=VALUE")]
    pub input: Vec<String>,
    /// Read runtime inputs from an input set YAML file (repeatable; later
    /// files win)
    #[arg(long = "inputs", value_name = "FILE")]
    pub inputs: Vec<PathBuf>,
    /// Read expression context values (`pipeline.sequenceId`, `trigger`,
    /// `codebase`, ...) from a JSON file
    #[arg(long, value_name = "FILE")]
    pub context: Option<PathBuf>,
    /// Read secret values from a JSON object of secret id to value
    #[arg(long, value_name = "FILE")]
    pub secrets_file: Option<PathBuf>,
    /// Set a secret value (repeatable). The value shows in the process list
    /// to other users of this machine; prefer BASSO_SECRET_<ID> or
    /// --secrets-file
    #[arg(long = "secret", value_name = "ID=VALUE")]
    pub secret: Vec<String>,
    /// Run steps in this folder (created if missing, kept afterwards);
    /// default: a new folder under `$TMPDIR/basso-<uid>/` removed at the end
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// The git checkout used by stages with `cloneCodebase: true`; default:
    /// the checkout around the current folder
    #[arg(long, value_name = "DIR")]
    pub codebase: Option<PathBuf>,
    /// `text` prints a summary table; `json` prints the summary as JSON on
    /// stdout, also when the run starts nothing (with `message` and the
    /// pipeline's `diagnostics`). Logs go to stderr in both cases
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Start later steps without waiting for Background services' ports
    #[arg(long)]
    pub no_wait: bool,
    #[cfg(feature = "containerd")]
    #[command(flatten)]
    pub containers: containers::ContainerArgs,
}

/// A failure that ends `basso run` before any step starts.
struct StartError {
    code: u8,
    message: String,
    /// The pipeline's diagnostics, when its errors stopped the run.
    diagnostics: Vec<basso_core::Diagnostic>,
}

impl StartError {
    fn usage(message: impl Into<String>) -> StartError {
        StartError {
            code: exit::USAGE,
            message: message.into(),
            diagnostics: Vec::new(),
        }
    }

    fn failure(message: impl Into<String>) -> StartError {
        StartError {
            code: exit::FAILURE,
            message: message.into(),
            diagnostics: Vec::new(),
        }
    }

    /// Creates the failure for a pipeline or input set file that could not
    /// be read as text, with the problem as its diagnostic.
    fn unreadable(error: ReadError) -> StartError {
        StartError {
            diagnostics: vec![error.to_diagnostic()],
            ..StartError::usage(error.to_string())
        }
    }

    /// Creates the failure for a pipeline whose `diagnostics` have errors.
    fn invalid_pipeline(
        message: impl Into<String>,
        diagnostics: Vec<basso_core::Diagnostic>,
    ) -> StartError {
        StartError {
            diagnostics,
            ..StartError::failure(message)
        }
    }

    /// Renders the `--format json` document of a run that started nothing:
    /// the summary's fields with no stages, the reason as `message`, and the
    /// diagnostics in the shape `basso check --format json` prints.
    fn to_json(&self) -> String {
        let report = basso_core::report::CheckReport::new(&self.diagnostics);
        let document = serde_json::json!({
            "schemaVersion": report.schema_version,
            "status": Status::Failed,
            "stages": [],
            "message": self.message,
            "diagnostics": report.diagnostics,
        });
        let json = serde_json::to_string_pretty(&document).unwrap_or_default();
        format!("{json}\n")
    }
}

pub fn run(args: RunArgs) -> u8 {
    let console = logging::console();
    logging::install(console.clone());
    let result = execute(&args, &console);
    // Log events reach stderr through the console's writer thread, so they
    // are written out before the error below and before the process exits.
    console.flush();
    match result {
        Ok(code) => code,
        Err(error) => {
            if !error.message.is_empty() {
                err_println!("error: {}", error.message);
            }
            // A script that reads stdout gets a document even when no
            // step ran.
            if args.format == Format::Json {
                crate::output::print(&error.to_json());
            }
            error.code
        }
    }
}

fn execute(args: &RunArgs, console: &Arc<Console>) -> Result<u8, StartError> {
    // Resolve, with the codebase values when a stage clones the codebase.
    // Signals keep their default action until the questions for execution
    // inputs are answered, so Ctrl-C at a question ends basso at once.
    let loaded = pipeline::Loaded::read(args)?;
    let interrupts = logging::handle_signals().map_err(StartError::usage)?;
    let cancel = interrupts.cancel.clone();
    let mut context = with_sequence_id(loaded.base_context.clone()).map_err(StartError::usage)?;
    with_execution_values(&mut context);
    // A field may fail without the codebase values (`<+codebase.branch>.trim()`),
    // so this first resolution only finds the stages that clone the codebase.
    // The resolution with the codebase values reports the errors.
    let first = loaded.resolve_quietly(&context);
    let cloning = select_stages(&first, args.stage.as_deref())?
        .into_iter()
        .find(|stage| stage.clone_codebase);
    let codebase = if let Some(cloning) = cloning {
        let codebase = inspect_codebase(args.codebase.as_deref()).map_err(|mut error| {
            // The error names the stage that needs the checkout, at its
            // `cloneCodebase` setting.
            let written = first
                .stages
                .iter()
                .find(|stage| stage.identifier == cloning.id)
                .and_then(|stage| loaded.clone_codebase_position(stage));
            if let Some(position) = written {
                error.message = format!(
                    "{position}: stage `{}` clones the codebase, but {}",
                    cloning.id, error.message
                );
            }
            error
        })?;
        context["codebase"] = codebase.to_json();
        Some(codebase)
    } else {
        None
    };
    let resolution = loaded.resolve(&context)?;
    let mut warnings = pipeline::run_warnings(&resolution);
    let stages = select_stages(&resolution, args.stage.as_deref())?;

    // Check everything before anything starts.
    #[allow(unused_mut)]
    let mut needed = pipeline::secret_ids(&resolution);
    #[cfg(feature = "containerd")]
    let connectors = args
        .containers
        .load_connectors()
        .map_err(StartError::usage)?;
    #[cfg(feature = "containerd")]
    needed.extend(containers::connector_secret_ids(&connectors));
    let secrets = secrets::load(&needed, args.secrets_file.as_deref(), &args.secret)
        .map_err(StartError::usage)?;
    let mut workspace = Workspace::create(args.workspace.as_deref(), runs_as_other_users(&stages))?;
    let host = HostExecutor::new(&workspace.scratch).map_err(|e| StartError::usage(e.0))?;
    #[cfg(feature = "containerd")]
    let executor = containers::executor(
        &args.containers,
        connectors,
        &stages,
        &secrets,
        host,
        workspace.scratch.join("containerd"),
    )
    .map_err(StartError::usage)?;
    #[cfg(not(feature = "containerd"))]
    let executor: Box<dyn basso_runner::Executor> = Box::new(host);
    let mut preflight = basso_runner::preflight::check(&stages, executor.as_ref(), &secrets);
    for warning in &preflight.warnings {
        tracing::warn!("{warning}");
    }
    let places = if preflight.errors.is_empty()
        && preflight.ignored.is_empty()
        && preflight.deferred.is_empty()
    {
        Default::default()
    } else {
        loaded.places(&resolution)
    };
    // Settings the host ignores are warnings at their setting, in the log
    // and in the JSON document's diagnostics.
    for ignored in &preflight.ignored {
        match loaded.preflight_diagnostic(ignored, &places) {
            // The iterations of a looped stage point at the same setting.
            Some(diagnostic)
                if warnings.iter().any(|known| {
                    known.span == diagnostic.span && known.code == "ignored-on-host"
                }) => {}
            Some(mut diagnostic) => {
                tracing::warn!("{}: {ignored}", loaded.position(diagnostic.span));
                diagnostic.severity = basso_core::Severity::Warning;
                diagnostic.code = "ignored-on-host".to_string();
                warnings.push(diagnostic);
            }
            None => tracing::warn!("{ignored}"),
        }
    }
    // A step that may be skipped, or whose failure would be ignored, does
    // not keep the run from starting: its problem is a warning, once for
    // the iterations of a loop, and the step fails with it if it runs. The
    // failure in the log names the setting's position too.
    let mut deferred_seen: Vec<(basso_core::Span, String)> = Vec::new();
    let mut deferred_problems = Vec::with_capacity(preflight.deferred.len());
    for deferred in std::mem::take(&mut preflight.deferred) {
        let mut problem = deferred.problem;
        let because = deferred.because.describe();
        let Some(mut diagnostic) = loaded.preflight_diagnostic(&problem, &places) else {
            tracing::warn!("{problem}; the run starts, because {because}");
            deferred_problems.push(problem);
            continue;
        };
        let position = loaded.position(diagnostic.span);
        let path = problem.step.as_deref().unwrap_or_default();
        let key = (diagnostic.span, problem.message.replace(path, ""));
        problem.message = format!("{position}: {}", problem.message);
        deferred_problems.push(problem);
        if deferred_seen.contains(&key) {
            continue;
        }
        deferred_seen.push(key);
        let note = format!("; the run starts, because {because}, and the step fails if it runs");
        diagnostic.message.push_str(&note);
        diagnostic.severity = basso_core::Severity::Warning;
        let help = diagnostic
            .help
            .as_deref()
            .map(|help| format!("; help: {help}"));
        tracing::warn!(
            "{position}: {}{}",
            diagnostic.message,
            help.unwrap_or_default()
        );
        warnings.push(diagnostic);
    }
    if !preflight.errors.is_empty() {
        let mut list: Vec<String> = Vec::new();
        let mut diagnostics: Vec<basso_core::Diagnostic> = Vec::new();
        for error in &preflight.errors {
            let diagnostic = loaded.preflight_diagnostic(error, &places);
            let line = match &diagnostic {
                Some(diagnostic) => {
                    format!("  - {}: {error}", loaded.position(diagnostic.span))
                }
                None => format!("  - {error}"),
            };
            if !list.contains(&line) {
                list.push(line);
                diagnostics.extend(diagnostic);
            }
        }
        return Err(StartError::invalid_pipeline(
            format!(
                "basso run cannot run this pipeline on this machine:\n{}",
                list.join("\n")
            ),
            diagnostics,
        ));
    }

    // Run.
    workspace.keep();
    let mut options = RunOptions::new(workspace.path.clone());
    options.wait_for_ports = !args.no_wait;
    options.codebase = codebase;
    options.pipeline_id = resolution.pipeline.clone().unwrap_or_default();
    options.build_number = build_number(&context);
    options.pipeline_timeout = resolution
        .timeout_seconds
        .map(std::time::Duration::from_secs);
    options.shared_paths_base = Some(workspace.shared.clone());
    options.deferred = deferred_problems;
    let expressions = pipeline::EngineExpressions::new(loaded, context);
    let done = Arc::new(AtomicBool::new(false));
    logging::start_ticker(console.clone(), done.clone());
    tracing::info!(workspace = %workspace.path.display(), "running {} stage(s)", stages.len());
    let runner = Runner::new(
        executor.as_ref(),
        &expressions,
        console.clone(),
        secrets.clone(),
        options,
        cancel.clone(),
    )
    .with_kill_now(interrupts.kill_now.clone());
    let summary = runner.run(&stages);
    let masker = runner.masker();
    done.store(true, Ordering::SeqCst);
    drop(executor);

    // Report. After a signal, stdout may be a pipe that no process reads, so the
    // summary gets a time limit instead of holding the process.
    let summary = summary.masked(&masker);
    let text = match args.format {
        Format::Json => {
            let mut document = serde_json::to_value(&summary).unwrap_or_default();
            let report = basso_core::report::CheckReport::new(&warnings);
            document["diagnostics"] = serde_json::to_value(report.diagnostics).unwrap_or_default();
            let json = serde_json::to_string_pretty(&document).unwrap_or_default();
            format!("{json}\n")
        }
        Format::Text => summary.to_table(),
    };
    if cancel.load(Ordering::SeqCst) {
        crate::output::print_within(text, SUMMARY_TIMEOUT_AFTER_SIGNAL);
    } else {
        crate::output::print(&text);
    }
    Ok(match summary.status {
        Status::Succeeded => exit::SUCCESS,
        Status::Aborted => exit::INTERRUPTED,
        _ if cancel.load(Ordering::SeqCst) => exit::INTERRUPTED,
        _ => exit::FAILURE,
    })
}

fn select_stages(
    resolution: &basso_core::pipeline::Resolution,
    stage: Option<&str>,
) -> Result<Vec<StagePlan>, StartError> {
    let plans: Vec<StagePlan> = resolution
        .stages
        .iter()
        .map(basso_runner::convert::stage_plan)
        .collect();
    let Some(wanted) = stage else {
        return Ok(plans);
    };
    let known: Vec<String> = plans.iter().map(|plan| format!("`{}`", plan.id)).collect();
    let selected: Vec<StagePlan> = plans.into_iter().filter(|plan| plan.id == wanted).collect();
    if selected.is_empty() {
        return Err(StartError::usage(format!(
            "no stage `{wanted}` in the pipeline; help: use one of {}",
            known.join(", ")
        )));
    }
    Ok(selected)
}

fn inspect_codebase(dir: Option<&Path>) -> Result<Codebase, StartError> {
    let dir = match dir {
        Some(dir) => dir.to_path_buf(),
        None => std::env::current_dir()
            .map_err(|e| StartError::usage(format!("cannot read the current folder: {e}")))?,
    };
    Codebase::inspect(&dir).map_err(StartError::usage)
}

/// The build number of a run whose context gives no `pipeline.sequenceId`.
const FIRST_BUILD: u64 = 1;

/// Gives `<+pipeline.sequenceId>` the run's build number, 1, when the
/// context has none, so expressions and `HARNESS_BUILD_ID` agree. Fails when
/// the context's `sequenceId` is not a positive integer.
fn with_sequence_id(mut context: serde_json::Value) -> Result<serde_json::Value, String> {
    match context.get("pipeline") {
        None | Some(serde_json::Value::Object(_)) => {}
        Some(serde_json::Value::Null) => context["pipeline"] = serde_json::json!({}),
        Some(other) => {
            return Err(format!(
                "`pipeline` in the --context file is {other}, not an object; \
                 help: give `pipeline` an object such as {{\"sequenceId\": 7}}, or leave it out"
            ));
        }
    }
    if let Some(value) = context.pointer("/pipeline/sequenceId") {
        sequence_id(value)?;
        return Ok(context);
    }
    if let Some(root) = context.as_object_mut()
        && let Some(pipeline) = root
            .entry("pipeline")
            .or_insert_with(|| serde_json::json!({}))
            .as_object_mut()
    {
        pipeline.insert("sequenceId".to_string(), FIRST_BUILD.into());
    }
    Ok(context)
}

/// Gives `<+pipeline.executionId>` a random id (32 hexadecimal digits),
/// `<+pipeline.startTs>` the time the run starts (milliseconds since the
/// Unix epoch) and `<+pipeline.triggerType>` `MANUAL`, as Harness gives
/// every execution, unless the context has them. `pipeline` is an object
/// here, because [`with_sequence_id`] checked it.
fn with_execution_values(context: &mut serde_json::Value) {
    let Some(pipeline) = context
        .get_mut("pipeline")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return;
    };
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64);
    let values = [
        (
            "executionId",
            serde_json::Value::from(execution_id(started)),
        ),
        ("startTs", started.into()),
        ("triggerType", "MANUAL".into()),
    ];
    for (key, value) in values {
        pipeline.entry(key).or_insert(value);
    }
}

/// Returns 32 hexadecimal digits from the system's random source, or from
/// the start time and process id where it cannot be read.
fn execution_id(started: u64) -> String {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    let random =
        std::fs::File::open("/dev/urandom").and_then(|mut file| file.read_exact(&mut bytes));
    if random.is_err() {
        bytes[..8].copy_from_slice(&started.to_le_bytes());
        bytes[8..12].copy_from_slice(&std::process::id().to_le_bytes());
    }
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Reads a `pipeline.sequenceId` from the context: an integer from 1 to
/// 2^63 - 1, the range of expression integers, or a string of its digits.
fn sequence_id(value: &serde_json::Value) -> Result<u64, String> {
    let number = match value {
        serde_json::Value::Number(number) => number.as_i64(),
        // No sign and no leading zero, so the text equals the number.
        serde_json::Value::String(text)
            if !text.starts_with('0') && text.bytes().all(|b| b.is_ascii_digit()) =>
        {
            text.parse::<i64>().ok()
        }
        _ => None,
    };
    match number {
        Some(number) if number >= 1 => Ok(number as u64),
        _ => Err(format!(
            "invalid `pipeline.sequenceId` `{value}` in the --context file: expected a positive integer (the build number), such as 42"
        )),
    }
}

fn build_number(context: &serde_json::Value) -> u64 {
    context
        .pointer("/pipeline/sequenceId")
        .and_then(|value| sequence_id(value).ok())
        .unwrap_or(FIRST_BUILD)
}

/// Returns whether a step of `stages` may run as another user than basso:
/// it sets `runAsUser`, or it names an image, whose own user basso learns
/// only when it pulls the image.
fn runs_as_other_users(stages: &[StagePlan]) -> bool {
    stages
        .iter()
        .flat_map(|stage| basso_runner::preflight::steps_of(&stage.nodes))
        .any(|step| {
            let has_image = step
                .spec
                .image
                .as_deref()
                .is_some_and(|image| !image.trim().is_empty());
            step.spec.run_as_user.is_some() || has_image
        })
}

/// The run's folders: the workspace and, outside it, the folders for script
/// files and for the stages' `sharedPaths`, all in the run folder unless
/// `--workspace` names the workspace.
/// The run folder is removed when this is dropped; the folders of runs that
/// were killed are removed when the next run starts.
struct Workspace {
    path: PathBuf,
    scratch: PathBuf,
    shared: PathBuf,
    /// The `--workspace` folder and the first of its parent folders that
    /// this run created. They are removed again, where still empty, when
    /// the run ends before any stage starts.
    created: Option<(PathBuf, PathBuf)>,
    _folder: RunFolder,
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if let Some((folder, top)) = &self.created {
            // `remove_dir` removes only an empty folder.
            for path in folder.ancestors() {
                if std::fs::remove_dir(path).is_err() || path == top {
                    break;
                }
            }
        }
    }
}

impl Workspace {
    /// Creates the run folder and, unless `requested` names one, the
    /// workspace in it, writable by every user when `shared`. A requested
    /// workspace keeps its permissions.
    fn create(requested: Option<&Path>, shared: bool) -> Result<Workspace, StartError> {
        let base = folders::default_base();
        let leftovers = folders::remove_leftovers(&base);
        for path in leftovers.removed {
            tracing::info!(path = %path.display(), "removed the folder of a run that ended without cleaning up");
        }
        for (_, reason) in leftovers.not_removed {
            tracing::warn!("the folder of an ended run is still there: {reason}");
        }
        let folder = RunFolder::create(&base).map_err(StartError::usage)?;

        let mut created = None;
        let path = match requested {
            Some(dir) => {
                if dir.exists() && !dir.is_dir() {
                    return Err(StartError::usage(format!(
                        "`--workspace {}` is not a folder; help: name a folder, or a path that does not exist yet",
                        dir.display()
                    )));
                }
                if !dir.exists() {
                    let mut top = dir;
                    while let Some(parent) = top.parent()
                        && !parent.as_os_str().is_empty()
                        && !parent.exists()
                    {
                        top = parent;
                    }
                    created = Some((dir.to_path_buf(), top.to_path_buf()));
                }
                std::fs::create_dir_all(dir).map_err(|e| {
                    StartError::usage(format!("cannot create `{}`: {e}", dir.display()))
                })?;
                std::path::absolute(dir).map_err(|e| {
                    StartError::usage(format!("cannot resolve `{}`: {e}", dir.display()))
                })?
            }
            None => folder.create_workspace(shared).map_err(StartError::usage)?,
        };
        Ok(Workspace {
            path,
            scratch: folder.path().join("scripts"),
            shared: folder.path().join("shared"),
            created,
            _folder: folder,
        })
    }

    /// Keeps a `--workspace` folder that this run created, once a stage
    /// may have written to it.
    fn keep(&mut self) {
        self.created = None;
    }
}

/// Returns whether questions can be asked on this terminal.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}
