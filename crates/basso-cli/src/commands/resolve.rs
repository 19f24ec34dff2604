//! `basso resolve`: resolve every step of a pipeline to the settings it runs with.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

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

fn read(path: &PathBuf) -> Result<String, u8> {
    std::fs::read_to_string(path).map_err(|error| {
        eprintln!("error: cannot read `{}`: {error}", path.display());
        exit::USAGE
    })
}

pub fn run(args: ResolveArgs) -> u8 {
    match run_inner(args) {
        Ok(code) | Err(code) => code,
    }
}

fn run_inner(args: ResolveArgs) -> Result<u8, u8> {
    let name = args.file.display().to_string();
    let source = read(&args.file)?;
    let mut arguments = Vec::new();
    for input in &args.inputs {
        let Some((path, value)) = input.split_once('=') else {
            eprintln!("error: `--input {input}` has no `=`; write `--input PATH=VALUE`");
            return Err(exit::USAGE);
        };
        arguments.push((path.trim().to_string(), value.to_string()));
    }
    let mut input_sets = Vec::new();
    for path in &args.input_sets {
        input_sets.push((path.display().to_string(), read(path)?));
    }
    let context = match &args.context {
        None => serde_json::json!({}),
        Some(path) => {
            let text = read(path)?;
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(json) if json.is_object() => json,
                Ok(_) => {
                    eprintln!(
                        "error: context `{}` must be a JSON object whose keys are expression roots",
                        path.display()
                    );
                    return Err(exit::USAGE);
                }
                Err(error) => {
                    eprintln!(
                        "error: context `{}` is not valid JSON: {error}",
                        path.display()
                    );
                    return Err(exit::USAGE);
                }
            }
        }
    };

    let resolution =
        basso_core::pipeline::resolve(&source, &name, &arguments, &input_sets, &context);
    let document = resolution.to_json();
    match args.format {
        Format::Json => print!("{}", output::json(&document)),
        Format::Yaml => print!("{}", output::yaml(&document)),
    }
    let mut sources = vec![(name, source)];
    sources.extend(input_sets);
    for (index, (path, value)) in arguments.iter().enumerate() {
        sources.push((
            basso_core::pipeline::inputs::argument_file(index),
            format!("{path}={value}"),
        ));
    }
    eprint!(
        "{}",
        render::render_files(&resolution.diagnostics, &sources)
    );
    Ok(if resolution.has_errors() {
        exit::FAILURE
    } else {
        exit::SUCCESS
    })
}
