//! The `basso` command. Each subcommand lives in `commands/`; this file only
//! parses arguments and maps outcomes to the documented exit codes.

mod commands;
mod exit;

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
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Eval(args) => commands::eval::run(args),
    };
    std::process::ExitCode::from(code)
}
