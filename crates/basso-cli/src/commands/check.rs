//! `basso check`: validate pipeline, pipeline template and input set files.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::render;
use crate::resolution_args::read_text;
use crate::{exit, output};

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Args)]
pub struct CheckArgs {
    /// Output format: `text` draws each diagnostic with its source excerpt,
    /// `json` prints `{"schemaVersion": 1, "diagnostics": [...]}`
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Pipeline, pipeline template or input set files. An input set is also
    /// checked against a pipeline given beside it whose identifier it names.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

pub fn run(args: CheckArgs) -> u8 {
    let mut all = Vec::new();
    let mut text = String::new();
    let mut unreadable = 0usize;
    // The pipelines without errors of their own and the input sets, whose
    // values are then checked against the pipelines they name. An input
    // set's own errors, such as a missing `name`, do not hide its values'.
    let mut clean = Vec::new();
    for path in &args.files {
        let name = path.display().to_string();
        let source = match read_text(path) {
            Ok(source) => source,
            Err(error) => {
                err_println!("error: {error}");
                unreadable += 1;
                // The JSON document lists the failure too, so a tool that
                // reads only stdout does not take the file for clean. The
                // text output keeps it on stderr and in the summary.
                if let Format::Json = args.format {
                    all.push(error.to_diagnostic());
                }
                continue;
            }
        };
        let diagnostics = basso_core::pipeline::check(&source, &name);
        text.push_str(&render::render_text(&diagnostics, &name, &source));
        if !diagnostics.iter().any(basso_core::Diagnostic::is_error) || is_input_set(&source) {
            clean.push((name, source));
        }
        all.extend(diagnostics);
    }
    let against = basso_core::pipeline::input_set::check_against_pipelines(&clean);
    for (name, source) in &clean {
        let in_file: Vec<_> = against
            .iter()
            .filter(|d| d.file.as_deref() == Some(name.as_str()))
            .cloned()
            .collect();
        text.push_str(&render::render_text(&in_file, name, source));
    }
    all.extend(against);
    match args.format {
        Format::Json => {
            let document = basso_core::report::CheckReport::new(&all).to_json();
            output::print(&format!(
                "{}\n",
                serde_json::to_string_pretty(&document).unwrap_or_default()
            ));
        }
        Format::Text => {
            output::print(&text);
            let mut summary = render::summary(&all);
            if unreadable > 0 {
                let files = if unreadable == 1 { "file" } else { "files" };
                summary.push_str(&format!(", {unreadable} {files} not read"));
            }
            output::print(&format!("{summary}\n"));
        }
    }
    if unreadable > 0 {
        exit::USAGE
    } else if all.iter().any(basso_core::Diagnostic::is_error) {
        exit::FAILURE
    } else {
        exit::SUCCESS
    }
}

/// Returns whether `source` is an input set file (`inputSet:`).
fn is_input_set(source: &str) -> bool {
    use basso_core::pipeline::model::{DocumentKind, Report, document_kind};
    let root = basso_core::pipeline::yaml::load(
        basso_core::pipeline::without_bom(source),
        basso_core::pipeline::yaml::Limits::default(),
    );
    matches!(root, Ok(Some(root)) if document_kind(&mut Report::default(), &root) == Some(DocumentKind::InputSet))
}
