//! The `basso` command. Each subcommand lives in `commands/`; this file only
//! parses arguments and maps outcomes to the documented exit codes.

#[macro_use]
mod output;
mod commands;
mod exit;
mod render;
mod resolution_args;

use clap::{Parser, Subcommand};

/// mimalloc in place of the system allocator, because resolving a pipeline
/// allocates and frees many small values (see docs/dependencies.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Manage images in basso's containerd namespace
    #[cfg(feature = "containerd")]
    #[command(subcommand)]
    Image(commands::image::ImageCommand),
    /// Remove containers, snapshots, network namespaces and folders that killed runs left
    #[cfg(feature = "containerd")]
    Gc(commands::gc::GcArgs),
    /// Resolve every step of a pipeline to the settings it runs with
    Resolve(commands::resolve::ResolveArgs),
    /// List the runtime inputs of a pipeline
    Inputs(commands::inputs::InputsArgs),
    /// Run a pipeline's stages on this machine
    Run(commands::run::RunArgs),
    /// Export a resolved stage for another system, such as Kubernetes
    Export(commands::export::ExportArgs),
}

fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help and version text go through `output::print`, so that a
        // failed write to stdout is an error here too.
        Err(error)
            if matches!(
                error.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) =>
        {
            let text = if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                error.render().ansi().to_string()
            } else {
                error.render().to_string()
            };
            output::print(&text);
            let code = if output::write_failed() {
                exit::USAGE
            } else {
                exit::SUCCESS
            };
            return std::process::ExitCode::from(code);
        }
        Err(error) => error.exit(),
    };
    let code = match cli.command {
        Command::Eval(args) => commands::eval::run(args),
        Command::Check(args) => commands::check::run(args),
        #[cfg(feature = "containerd")]
        Command::Image(command) => commands::image::run(command),
        #[cfg(feature = "containerd")]
        Command::Gc(args) => commands::gc::run(args),
        Command::Resolve(args) => commands::resolve::run(args),
        Command::Inputs(args) => commands::inputs::run(args),
        Command::Run(args) => commands::run::run(args),
        Command::Export(args) => commands::export::run(args),
    };
    // A command whose output could not be written did not succeed.
    if code == exit::SUCCESS && output::write_failed() {
        return std::process::ExitCode::from(exit::USAGE);
    }
    std::process::ExitCode::from(code)
}
