//! Runs basso steps as containers on containerd.
//!
//! [`ContainerExecutor`] connects to a containerd socket, pulls or finds the
//! step's image ([`image`], [`registry`]), builds an OCI runtime spec from the step
//! settings ([`spec`]), places the container in the stage network
//! ([`network`]) and runs it as a containerd task. Every object carries the
//! `io.basso.run` label, and [`gc`] removes what a killed runner left.
//!
//! ```no_run
//! use std::path::{Path, PathBuf};
//! use std::sync::Arc;
//! use basso_containerd::{ContainerExecutor, ContainerStep, ExecutorConfig, Program};
//!
//! let config = ExecutorConfig::new(Path::new("/run/containerd/containerd.sock"));
//! let executor = ContainerExecutor::connect(config)?;
//! let program = Program::Script { shell: "sh".into(), script: "id -u".into() };
//! let step = ContainerStep::new("whoami", "busybox:1.36", program, PathBuf::from("."));
//! let mut task = executor.start(&step, Arc::new(|line: &str| println!("{line}")))?;
//! let exit = task.wait(std::time::Duration::from_secs(60))?;
//! executor.end_stage(std::time::Duration::from_secs(5))?;
//! # Ok::<(), basso_containerd::Error>(())
//! ```

pub mod client;
pub mod connectors;
mod error;
pub mod executor;
pub mod gc;
pub mod image;
pub mod network;
pub mod registry;
pub mod runner;
mod signals;
pub mod spec;
mod task;
mod user;

pub use client::{Containerd, DEFAULT_ADDRESS, DEFAULT_NAMESPACE, RUN_LABEL};
pub use connectors::{Connector, Connectors};
pub use error::{Error, Result};
pub use executor::{ContainerExecutor, ContainerTask, ExecutorConfig, LogSink, SecretLookup};
pub use task::{ContainerExit, ContainerStep, Program, format_bytes};

/// Installs rustls' ring provider once. `oci-client` is built without a
/// default provider, so every registry client needs this first.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Runs a future to completion on a new single-threaded tokio runtime, for
/// callers without one (the CLI's one-shot commands).
pub fn block_on<T>(future: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| Error::new(format!("starting the async runtime failed: {error}")))?;
    runtime.block_on(future)
}
