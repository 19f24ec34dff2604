//! Whole-pipeline timings: one generated pipeline resolved from its YAML
//! text, and every file of a corpus checked.

use std::path::{Path, PathBuf};

use basso_core::pipeline;
use serde_json::json;

use crate::measure::{Settings, Summary, measure};

/// Returns the run-time values that a CI run would supply. The generated pipeline reads
/// them, and the step outputs it reads stay unresolved as they would before
/// the steps run.
fn run_context() -> serde_json::Value {
    json!({
        "pipeline": {"sequenceId": 4127, "executionId": "Yx9kQ2LmT0aZ7Wc1bN3e8A"},
        "codebase": {
            "branch": "release/Payments-2.4",
            "shortCommitSha": "9f2c1e7",
            "build": {"type": "branch"},
        },
    })
}

/// The output of each timed iteration of a pipeline.
#[derive(Clone, Copy)]
pub enum Output {
    /// The in-memory `Resolution`.
    Resolution,
    /// The `Resolution` and its JSON text, as `basso resolve --format json`
    /// and the npm package produce it.
    JsonText,
}

/// Resolves the pipeline in `path` until `settings` are met, after checking
/// that it resolves without errors into `steps` steps.
pub fn time_pipeline(path: &Path, steps: usize, output: Output, settings: &Settings) -> Result<Summary, String> {
    let source = std::fs::read_to_string(path).map_err(|error| format!("{}: {error}", path.display()))?;
    let name = path.display().to_string();
    let context = run_context();

    let resolution = pipeline::resolve(&source, &name, &[], &[], &context);
    if let Some(error) = resolution.diagnostics.iter().find(|d| d.severity == basso_core::Severity::Error) {
        return Err(format!("{name}: resolution failed: {}", error.message));
    }
    let resolved_steps: usize = resolution.stages.iter().map(|stage| stage.steps.len()).sum();
    if resolved_steps != steps {
        return Err(format!("{name}: resolved {resolved_steps} steps, expected {steps}"));
    }

    let summary = match output {
        Output::Resolution => measure(settings, || pipeline::resolve(&source, &name, &[], &[], &context)),
        Output::JsonText => measure(settings, || {
            let resolution = pipeline::resolve(&source, &name, &[], &[], &context);
            serde_json::to_string(&resolution).expect("a resolution serialises to JSON")
        }),
    };
    Ok(summary)
}

/// Checks every `.yaml` file in `folder` per iteration and returns the
/// number of files with the timing.
pub fn time_corpus(folder: &Path, settings: &Settings) -> Result<(usize, Summary), String> {
    let files = read_corpus(folder)?;
    if files.is_empty() {
        return Err(format!("{}: no .yaml files", folder.display()));
    }
    let summary = measure(settings, || {
        files
            .iter()
            .map(|(name, source)| pipeline::check(source, name).len())
            .sum::<usize>()
    });
    Ok((files.len(), summary))
}

fn read_corpus(folder: &Path) -> Result<Vec<(String, String)>, String> {
    let entries = std::fs::read_dir(folder).map_err(|error| format!("{}: {error}", folder.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "yaml" || extension == "yml"))
        .collect();
    paths.sort();

    paths
        .into_iter()
        .map(|path| {
            let source = std::fs::read_to_string(&path).map_err(|error| format!("{}: {error}", path.display()))?;
            Ok((path.display().to_string(), source))
        })
        .collect()
}
