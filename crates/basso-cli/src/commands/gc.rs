//! `basso gc`: removes what runners that were killed left in containerd and
//! in the network namespaces, found by the `io.basso.run` label and by the
//! records basso keeps of the namespaces it creates, and their temporary run
//! folders.

use clap::Args;

use crate::commands::containerd::ContainerdArgs;
use crate::{exit, output};

/// Arguments of `basso gc`.
#[derive(Args)]
pub struct GcArgs {
    /// Also remove containerd objects of runs whose runner process still
    /// runs (run folders and network namespaces of such runs are kept)
    #[arg(long)]
    all: bool,

    #[command(flatten)]
    containerd: ContainerdArgs,
}

/// Runs `basso gc` and returns its exit code.
pub fn run(args: GcArgs) -> u8 {
    // Folders of runs that still run are kept even with --all: removing them
    // would pull the workspace from under running steps.
    let base = basso_runner::folders::default_base();
    let leftovers = basso_runner::folders::remove_leftovers(&base);
    let folders = leftovers.removed.len();
    for (_, reason) in &leftovers.not_removed {
        err_println!("error: the folder of an ended run is still there: {reason}");
    }

    let config = args.containerd.executor_config();
    // Without the socket at the default address, as on a machine that runs
    // only host steps, there is no containerd to ask, which is no failure of
    // gc. An address the user gave that does not exist is an error below.
    let default = std::path::Path::new(basso_containerd::DEFAULT_ADDRESS);
    if no_containerd(&config.address, default) {
        output::print(&format!("removed {folders} run folders\n"));
        err_println!(
            "note: containerd's socket `{}` does not exist, so no containers, snapshots or network namespaces were looked for",
            config.address.display()
        );
        return if leftovers.not_removed.is_empty() {
            exit::SUCCESS
        } else {
            exit::FAILURE
        };
    }
    let report = basso_containerd::block_on(async {
        let containerd =
            basso_containerd::Containerd::connect(&config.address, &config.namespace).await?;
        basso_containerd::gc::collect(&containerd, &config.snapshotter, args.all).await
    });
    match report {
        Ok(report) => {
            // Scripts and tests read the counts by position, so new ones go last.
            output::print(&format!(
                "removed {} containers, {} snapshots and {} network namespaces of {} runs, \
                 and {folders} run folders\n",
                report.containers,
                report.snapshots,
                report.network_namespaces,
                report.runs.len()
            ));
            if leftovers.not_removed.is_empty() {
                exit::SUCCESS
            } else {
                exit::FAILURE
            }
        }
        Err(error) => {
            output::print(&format!("removed {folders} run folders\n"));
            err_println!("error: {error}");
            exit::FAILURE
        }
    }
}

/// Returns whether `address` is the `default` socket and does not exist:
/// no containerd runs here, and gc has nothing to ask it.
fn no_containerd(address: &std::path::Path, default: &std::path::Path) -> bool {
    address == default && !address.exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_default_socket_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("containerd.sock");
        assert!(no_containerd(&missing, &missing));

        // An address the user gave is asked even when it does not exist.
        let typo = dir.path().join("contaner.sock");
        assert!(!no_containerd(&typo, &missing));

        // A socket that exists is asked.
        std::fs::write(&missing, "").unwrap();
        assert!(!no_containerd(&missing, &missing));
    }
}
