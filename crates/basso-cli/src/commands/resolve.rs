//! `basso resolve`: resolve every step of a pipeline to the settings it runs with.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::resolution_args::{ArgsError, ResolutionArgs, diagnostic_sources, read_text};
use crate::{exit, output, render};

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

#[derive(Args)]
pub struct ResolveArgs {
    /// A runtime input value as `PATH=VALUE`, such as
    /// `pipeline.variables.tag=1.2.3`; `basso inputs FILE` lists the paths
    #[arg(long = "input", value_name = "PATH=VALUE")]
    pub inputs: Vec<String>,
    /// An input set file (`inputSet:`); several apply in order, later wins
    #[arg(long = "inputs", value_name = "INPUTSET.yaml")]
    pub input_sets: Vec<PathBuf>,
    /// JSON file with run-time values: `pipeline` metadata, `codebase`,
    /// `trigger`, `variable` (project variables)
    #[arg(long, value_name = "FILE.json")]
    pub context: Option<PathBuf>,
    /// Output format of the resolution on stdout
    #[arg(long, value_enum, default_value = "yaml")]
    pub format: Format,
    /// The pipeline file
    pub file: PathBuf,
}

pub fn run(args: ResolveArgs) -> u8 {
    match run_inner(args) {
        Ok(code) | Err(code) => code,
    }
}

fn run_inner(args: ResolveArgs) -> Result<u8, u8> {
    let name = args.file.display().to_string();
    let read = read_text(&args.file)
        .map_err(ArgsError::File)
        .and_then(|source| {
            let values =
                ResolutionArgs::read(&args.inputs, &args.input_sets, args.context.as_deref())?;
            Ok((source, values))
        });
    let (source, values) = read.map_err(|error| {
        err_println!("error: {error}");
        // As with `check`, a tool that reads only stdout gets a document
        // that names a file that could not be read.
        if let (ArgsError::File(error), Format::Json) = (&error, args.format) {
            let resolution = basso_core::pipeline::Resolution {
                schema_version: basso_core::pipeline::SCHEMA_VERSION,
                pipeline: None,
                timeout_seconds: None,
                stages: Vec::new(),
                diagnostics: vec![error.to_diagnostic()],
            };
            output::print(&output::json(&resolution.to_json()));
        }
        exit::USAGE
    })?;
    let ResolutionArgs {
        arguments,
        input_sets,
        context,
    } = values;

    let resolution =
        basso_core::pipeline::resolve(&source, &name, &arguments, &input_sets, &context);
    let document = resolution.to_json();
    match args.format {
        Format::Json => output::print(&output::json(&document)),
        Format::Yaml => output::print(&output::yaml(&document)),
    }
    let sources = diagnostic_sources(&name, &source, &input_sets, &arguments);
    err_print!(
        "{}",
        render::render_files(&resolution.diagnostics, &sources)
    );
    Ok(if resolution.has_errors() {
        exit::FAILURE
    } else {
        exit::SUCCESS
    })
}
