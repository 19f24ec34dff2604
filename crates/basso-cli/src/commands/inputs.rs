//! `basso inputs`: list every runtime input of a pipeline, as a form needs them.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::resolution_args::read_text;
use crate::{exit, output, render};

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

#[derive(Args)]
pub struct InputsArgs {
    /// Output format
    #[arg(long, value_enum, default_value = "yaml")]
    pub format: Format,
    /// The pipeline file
    pub file: PathBuf,
}

pub fn run(args: InputsArgs) -> u8 {
    let name = args.file.display().to_string();
    let source = match read_text(&args.file) {
        Ok(source) => source,
        Err(error) => {
            err_println!("error: {error}");
            // As with `check`, a tool that reads only stdout gets a document
            // that names the failure.
            if let Format::Json = args.format {
                let listing = basso_core::pipeline::InputsListing {
                    schema_version: basso_core::pipeline::SCHEMA_VERSION,
                    inputs: Vec::new(),
                    diagnostics: vec![error.to_diagnostic()],
                };
                let document = serde_json::to_value(&listing).unwrap_or_default();
                output::print(&output::json(&document));
            }
            return exit::USAGE;
        }
    };
    let listing = basso_core::pipeline::inputs(&source, &name);
    let document = serde_json::to_value(&listing).unwrap_or_default();
    match args.format {
        Format::Json => output::print(&output::json(&document)),
        Format::Yaml => output::print(&output::yaml(&document)),
    }
    err_print!(
        "{}",
        render::render_text(&listing.diagnostics, &name, &source)
    );
    if listing
        .diagnostics
        .iter()
        .any(basso_core::Diagnostic::is_error)
    {
        exit::FAILURE
    } else {
        exit::SUCCESS
    }
}
