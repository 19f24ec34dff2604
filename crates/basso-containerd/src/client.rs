//! The connection to containerd: every request carries basso's containerd
//! namespace, and every object basso creates carries the run label.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use containerd_client::Client;
use sha2::{Digest, Sha256};
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

/// The maximum length of a containerd id (containerd's `identifiers`
/// package, 1.6 and later).
pub const MAX_ID_LENGTH: usize = 76;

/// Returns `text` as a containerd id component: `[A-Za-z0-9]` runs joined by
/// single `.`, `_` or `-`, which is the form containerd accepts. Other
/// characters become `-`, and separators at the ends or next to each other
/// are dropped.
pub fn sanitize_id(text: &str) -> String {
    let mut id = String::with_capacity(text.len());
    for c in text.chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
            c
        } else {
            '-'
        };
        let separator = !c.is_ascii_alphanumeric();
        let after_separator = id
            .chars()
            .next_back()
            .is_none_or(|last| !last.is_ascii_alphanumeric());
        if separator && after_separator {
            continue;
        }
        id.push(c);
    }
    while id.ends_with(['_', '.', '-']) {
        id.pop();
    }
    id
}

/// Returns the container id of the `number`th container of run `run_id`:
/// `<run id>-<number>-<step id>`. A step id too long for containerd's
/// 76-character limit is cut, and the first 12 hex digits of its SHA-256
/// follow, so the id stays readable and distinct steps keep distinct ids.
pub fn container_id(run_id: &str, number: usize, step_id: &str) -> String {
    let prefix = format!("{run_id}-{number}");
    let step = sanitize_id(step_id);
    let id = if step.is_empty() {
        prefix.clone()
    } else {
        format!("{prefix}-{step}")
    };
    if id.len() <= MAX_ID_LENGTH {
        return id;
    }

    let digest = Sha256::digest(step_id.as_bytes());
    let hash: String = digest[..6]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    // `<prefix>-<cut step>-<hash>`; step ids are ASCII once sanitized.
    let room = MAX_ID_LENGTH.saturating_sub(prefix.len() + hash.len() + 2);
    let mut cut = step[..room.min(step.len())].to_string();
    while cut.ends_with(['_', '.', '-']) {
        cut.pop();
    }
    if cut.is_empty() {
        format!("{prefix}-{hash}")
    } else {
        format!("{prefix}-{cut}-{hash}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_id_round_trips_pid() {
        let id = new_run_id();
        assert_eq!(run_pid(&id), Some(std::process::id() as i32));
    }

    /// Checks containerd's identifier form: alphanumeric runs joined by
    /// single separators, at most 76 characters.
    fn valid_containerd_id(id: &str) -> bool {
        let parts_valid = id
            .split(['_', '.', '-'])
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric()));
        parts_valid && id.len() <= MAX_ID_LENGTH
    }

    #[test]
    fn sanitize_id_replaces_dollar() {
        assert_eq!(sanitize_id("step$1 a"), "step-1-a");
    }

    #[test]
    fn sanitize_id_joins_separators() {
        assert_eq!(sanitize_id("_lead__double$_end_"), "lead_double-end");
    }

    #[test]
    fn short_container_id_is_unchanged() {
        assert_eq!(
            container_id("123x0abcde", 4, "g.build"),
            "123x0abcde-4-g.build"
        );
    }

    #[test]
    fn long_container_id_fits_limit() {
        let long = format!("group_{}.svc_{}", "g".repeat(40), "a".repeat(100));
        let id = container_id("4194304xffffff", 123456, &long);
        assert_eq!(id.len(), MAX_ID_LENGTH, "{id}");
        assert!(valid_containerd_id(&id), "{id}");
        assert!(id.starts_with("4194304xffffff-123456-group_ggg"), "{id}");
    }

    #[test]
    fn long_container_ids_stay_distinct() {
        let first = format!("{}_1", "s".repeat(120));
        let second = format!("{}_2", "s".repeat(120));
        assert_ne!(
            container_id("1x0", 0, &first),
            container_id("1x0", 0, &second)
        );
    }

    #[test]
    fn awkward_step_ids_are_valid() {
        for step_id in ["_a", "a__b", "$", "a$", &"_".repeat(100), &"x_".repeat(60)] {
            let id = container_id("99x00ff00", 7, step_id);
            assert!(valid_containerd_id(&id), "{step_id} -> {id}");
        }
    }
}
