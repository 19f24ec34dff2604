//! The connection to containerd: every request carries basso's containerd
//! namespace, and every object basso creates carries the run label.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use containerd_client::Client;
use tonic::Request;
use tonic::metadata::MetadataValue;

use crate::error::{Error, Result};

/// The label that names the run an object belongs to.
pub const RUN_LABEL: &str = "io.basso.run";

/// The containerd namespace basso uses unless told otherwise. Images are
/// per namespace, so images must be imported or pulled into this one.
pub const DEFAULT_NAMESPACE: &str = "basso";

/// The default gRPC socket of a system containerd.
pub const DEFAULT_ADDRESS: &str = "/run/containerd/containerd.sock";

/// A connected containerd client bound to one containerd namespace.
#[derive(Clone)]
pub struct Containerd {
    client: std::sync::Arc<Client>,
    address: PathBuf,
    namespace: String,
}

impl Containerd {
    /// Connects to the containerd socket at `address`.
    pub async fn connect(address: &Path, namespace: &str) -> Result<Containerd> {
        let client = Client::from_path(address).await.map_err(|error| {
            Error::new(format!(
                "cannot connect to containerd at `{}`: {error}\n\
                 help: start containerd or pass its socket with --containerd-address",
                address.display()
            ))
        })?;
        let containerd = Containerd {
            client: std::sync::Arc::new(client),
            address: address.to_path_buf(),
            namespace: namespace.to_string(),
        };
        // The channel connects lazily: one cheap call proves the socket works.
        containerd
            .client
            .version()
            .version(())
            .await
            .map_err(|status| {
                Error::new(format!(
                    "cannot connect to containerd at `{}`: {}\n\
                     help: start containerd or pass its socket with --containerd-address",
                    address.display(),
                    status.message()
                ))
            })?;
        Ok(containerd)
    }

    /// The generated gRPC clients.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The socket path this client talks to.
    pub fn address(&self) -> &Path {
        &self.address
    }

    /// The containerd namespace of every request.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Wraps `message` in a request for basso's namespace.
    pub fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        if let Ok(value) = MetadataValue::try_from(self.namespace.as_str()) {
            request.metadata_mut().insert("containerd-namespace", value);
        }
        request
    }

    /// Wraps `message` in a request for basso's namespace under a lease, so
    /// containerd's garbage collector keeps what the request creates.
    pub fn leased_request<T>(&self, message: T, lease: &str) -> Request<T> {
        let mut request = self.request(message);
        if let Ok(value) = MetadataValue::try_from(lease) {
            request.metadata_mut().insert("containerd-lease", value);
        }
        request
    }
}

/// Returns the labels every object of run `run_id` carries.
pub fn run_labels(run_id: &str) -> HashMap<String, String> {
    HashMap::from([(RUN_LABEL.to_string(), run_id.to_string())])
}

/// Creates a run id: the runner's process id, then a random suffix. `basso
/// gc` reads the process id back to tell live runs from abandoned ones.
pub fn new_run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|duration| duration.subsec_nanos())
        .unwrap_or(0);
    format!("{}x{:06x}", std::process::id(), nanos & 0xff_ffff)
}

/// Returns the process id a run id starts with.
pub fn run_pid(run_id: &str) -> Option<i32> {
    run_id.split('x').next()?.parse().ok()
}

/// Replaces what containerd rejects in ids (`[A-Za-z0-9_.-]` only).
pub fn sanitize_id(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_id_round_trips_pid() {
        let id = new_run_id();
        assert_eq!(run_pid(&id), Some(std::process::id() as i32));
    }

    #[test]
    fn sanitize_id_replaces_dollar() {
        assert_eq!(sanitize_id("step$1 a"), "step-1-a");
    }
}
