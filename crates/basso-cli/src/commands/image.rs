//! `basso image`: images in basso's containerd namespace.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::commands::containerd::ContainerdArgs;
use crate::{exit, output};

/// Image subcommands.
#[derive(Subcommand)]
pub enum ImageCommand {
    /// Import OCI layout or `docker save` archives (tar), so steps can use
    /// them with imagePullPolicy `Never` or `IfNotPresent`
    Import(ImportArgs),
}

/// Arguments of `basso image import`.
#[derive(Args)]
pub struct ImportArgs {
    /// Image archives to import
    #[arg(required = true, value_name = "ARCHIVE")]
    archives: Vec<PathBuf>,

    #[command(flatten)]
    containerd: ContainerdArgs,
}

/// Runs an image subcommand and returns its exit code.
pub fn run(command: ImageCommand) -> u8 {
    match command {
        ImageCommand::Import(args) => import(args),
    }
}

fn import(args: ImportArgs) -> u8 {
    for archive in &args.archives {
        if !archive.is_file() {
            err_println!(
                "error: image archive `{}` not found\nhelp: pass the path of a tar file",
                archive.display()
            );
            return exit::USAGE;
        }
    }
    let config = args.containerd.executor_config();
    let containerd = match connect(&config) {
        Ok(containerd) => containerd,
        Err(error) => {
            err_println!("error: {error}");
            return exit::USAGE;
        }
    };
    let images = basso_containerd::image::Images::new(&containerd, &config.snapshotter);
    for archive in &args.archives {
        match images.import_archive(archive) {
            Ok(names) => {
                for name in names {
                    output::print(&format!("{name}\n"));
                }
            }
            Err(error) => {
                err_println!("error: {error}");
                return exit::FAILURE;
            }
        }
    }
    exit::SUCCESS
}

/// Connects to containerd on a small runtime of its own.
fn connect(
    config: &basso_containerd::ExecutorConfig,
) -> basso_containerd::Result<basso_containerd::Containerd> {
    basso_containerd::block_on(basso_containerd::Containerd::connect(
        &config.address,
        &config.namespace,
    ))
}
