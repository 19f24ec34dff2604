//! `basso eval`: render or evaluate one template against a JSON context.
//!
//! With `--format json` the result is `{"schemaVersion": 1, "value": V}`
//! (exit 0) or `{"schemaVersion": 1, "error": {"code", "message", "help",
//! "line", "column"}}` (exit 1). The text format prints the value, or the
//! error with a caret under its column.

use std::path::PathBuf;

use basso_core::report::Outcome;
use basso_core::{EvalMode, ExprError, Options, ScanMode, Template, Unresolved, Value};
use clap::{Args, ValueEnum};

use crate::resolution_args::read_context;
use crate::{exit, output};

#[derive(Args)]
pub struct EvalArgs {
    /// JSON file whose top-level keys are the expression roots
    #[arg(long, value_name = "FILE.json")]
    pub context: Option<PathBuf>,
    /// `render` splices values into the text; `evaluate` returns a typed value
    #[arg(long, value_enum, default_value = "render")]
    pub mode: ModeArg,
    /// What an unresolved reference becomes: `null`, the original text, or an error
    #[arg(long, value_enum, default_value = "null")]
    pub unresolved: UnresolvedArg,
    /// `harness`: any `>` closes a block; `smart`: `>` inside quotes or brackets does not
    #[arg(long, value_enum, default_value = "harness")]
    pub scan: ScanArg,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    pub format: FormatArg,
    /// The template text, such as `<+pipeline.variables.tag>`
    pub template: String,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ModeArg {
    Render,
    Evaluate,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum UnresolvedArg {
    Null,
    Keep,
    Error,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ScanArg {
    Harness,
    Smart,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Text,
    Json,
}

pub fn run(args: EvalArgs) -> u8 {
    let context = match load_context(args.context.as_ref()) {
        Ok(context) => context,
        Err(message) => {
            err_println!("error: {message}");
            return exit::USAGE;
        }
    };
    let options = Options {
        scan: match args.scan {
            ScanArg::Harness => ScanMode::Harness,
            ScanArg::Smart => ScanMode::Smart,
        },
        mode: match args.mode {
            ModeArg::Render => EvalMode::Render,
            ModeArg::Evaluate => EvalMode::Evaluate,
        },
        unresolved: match args.unresolved {
            UnresolvedArg::Null => Unresolved::Null,
            UnresolvedArg::Keep => Unresolved::Keep,
            UnresolvedArg::Error => Unresolved::Error,
        },
        ..Options::default()
    };

    let result = Template::parse_with_limits(&args.template, options.scan, options.limits)
        .and_then(|template| template.run(&context, &options));
    match (result, args.format) {
        (Ok(value), FormatArg::Json) => {
            let document = Outcome::from_result(Ok(value.to_json())).to_json();
            output::print(&format!("{document}\n"));
            exit::SUCCESS
        }
        (Ok(value), FormatArg::Text) => {
            output::print(&format!("{}\n", value.render()));
            exit::SUCCESS
        }
        (Err(error), FormatArg::Json) => {
            output::print(&format!(
                "{}\n",
                Outcome::<serde_json::Value>::from_result(Err(error)).to_json()
            ));
            exit::FAILURE
        }
        (Err(error), FormatArg::Text) => {
            output::print(&format_error(&args.template, &error));
            exit::FAILURE
        }
    }
}

fn load_context(path: Option<&PathBuf>) -> Result<Value, String> {
    match path {
        Some(path) => Ok(Value::from_json(read_context(path)?)),
        None => Ok(Value::Map(Default::default())),
    }
}

/// Formats an error as `error[code]: message`, the template line with a
/// caret under the column, and the help line.
fn format_error(template: &str, error: &ExprError) -> String {
    let line = template
        .lines()
        .nth(error.line.saturating_sub(1))
        .unwrap_or("");
    let caret_pad = " ".repeat(error.column.saturating_sub(1));
    let width = template[error.byte_range.clone()].chars().count().max(1);
    format!(
        "error[{}]: {}\n --> template:{}:{}\n  |\n  | {line}\n  | {caret_pad}{}\n  = help: {}\n",
        error.code,
        error.message,
        error.line,
        error.column,
        "^".repeat(width.min(line.chars().count().saturating_sub(error.column - 1).max(1))),
        error.help
    )
}
