//! Options shared by every command that talks to containerd.

use std::path::PathBuf;

use clap::Args;

/// The containerd socket and namespace basso uses.
#[derive(Args, Clone, Debug)]
pub struct ContainerdArgs {
    /// containerd's gRPC socket
    #[arg(
        long,
        env = "BASSO_CONTAINERD_ADDRESS",
        value_name = "SOCKET",
        default_value = basso_containerd::DEFAULT_ADDRESS
    )]
    pub containerd_address: PathBuf,

    /// containerd namespace for basso's images, containers and snapshots
    #[arg(
        long,
        env = "BASSO_CONTAINERD_NAMESPACE",
        value_name = "NAME",
        default_value = basso_containerd::DEFAULT_NAMESPACE
    )]
    pub containerd_namespace: String,
}

impl ContainerdArgs {
    /// An executor configuration for these options.
    pub fn executor_config(&self) -> basso_containerd::ExecutorConfig {
        let mut config = basso_containerd::ExecutorConfig::new(&self.containerd_address);
        config.namespace = self.containerd_namespace.clone();
        config
    }
}
