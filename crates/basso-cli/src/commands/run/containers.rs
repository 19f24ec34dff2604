//! The executor of `basso run` when steps name an image: the host executor
//! for steps without one, containerd for the others.

use std::path::PathBuf;
use std::sync::Arc;

use basso_containerd::Connectors;
use basso_containerd::runner::{ContainerdExecutor, StageExecutor};
use basso_runner::{Executor, HostExecutor, Node, Secrets, StagePlan};
use clap::Args;

use crate::commands::containerd::ContainerdArgs;

/// Options of `basso run` for steps in containers.
#[derive(Args)]
pub struct ContainerArgs {
    #[command(flatten)]
    pub containerd: ContainerdArgs,

    /// Registry connectors for `connectorRef`: a JSON file
    /// `{"connectors": [{"identifier", "url", "username", "passwordRef"}]}`
    #[arg(long, value_name = "FILE")]
    pub connectors: Option<PathBuf>,
}

impl ContainerArgs {
    /// Reads the connectors file, if one was given.
    pub fn load_connectors(&self) -> Result<Connectors, String> {
        match &self.connectors {
            Some(path) => Connectors::load(path).map_err(|error| error.to_string()),
            None => Ok(Connectors::default()),
        }
    }
}

/// Returns the ids of the secrets the connectors' passwords come from.
pub fn connector_secret_ids(connectors: &Connectors) -> Vec<String> {
    connectors
        .connectors
        .iter()
        .filter_map(|connector| connector.password_ref.clone())
        .collect()
}

/// Returns the host executor alone when no step names an image, and else
/// the host executor combined with a containerd executor.
pub fn executor(
    args: &ContainerArgs,
    connectors: Connectors,
    stages: &[StagePlan],
    secrets: &Secrets,
    host: HostExecutor,
    state_dir: PathBuf,
) -> Result<Box<dyn Executor>, String> {
    if !stages.iter().any(|stage| names_image(&stage.nodes)) {
        return Ok(Box::new(host));
    }
    let mut config = args.containerd.executor_config();
    config.state_dir = state_dir;
    config.connectors = connectors;
    let secrets = secrets.clone();
    config.secrets = Arc::new(move |id: &str| secrets.get(id).map(str::to_string));
    match ContainerdExecutor::connect(config) {
        Ok(containers) => Ok(Box::new(StageExecutor::new(Box::new(host), containers))),
        Err(error) => {
            // The preflight then lists every image step as one basso cannot run.
            tracing::warn!("containers are unavailable: {error}");
            Ok(Box::new(host))
        }
    }
}

fn names_image(nodes: &[Node]) -> bool {
    nodes.iter().any(|node| match node {
        Node::Step(step) => step
            .spec
            .image
            .as_deref()
            .is_some_and(|image| !image.is_empty()),
        Node::Parallel { nodes, .. } => names_image(nodes),
        Node::Group(group) => names_image(&group.nodes),
    })
}
