//! The `basso` command. Each subcommand lives in `commands/`; this file only
//! parses arguments and maps outcomes to the documented exit codes.

mod commands;
mod exit;
mod render;

use clap::{Parser, Subcommand};

/// Check, preview and run Harness CI pipelines.
#[derive(Parser)]
#[command(name = "basso", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render or evaluate one template against a JSON context
    Eval(commands::eval::EvalArgs),
    /// Validate pipeline, pipeline template and input set files
    Check(commands::check::CheckArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Eval(args) => commands::eval::run(args),
        Command::Check(args) => commands::check::run(args),
    };
    std::process::ExitCode::from(code)
}
