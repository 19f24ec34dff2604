//! Registry connectors: the `connectorRef` of a step names one, and it gives
//! the registry URL and the credentials for pulls.
//!
//! The file is JSON (and therefore also valid YAML):
//!
//! ```json
//! {"connectors": [{"identifier": "localRegistry", "url": "http://127.0.0.1:5000",
//!                  "username": "ci", "passwordRef": "registryPassword"}]}
//! ```
//!
//! `passwordRef` is a secret id; the password itself never appears in the
//! file, on a command line or in a log line.

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// A Docker registry connector.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Connector {
    /// The id a `connectorRef` uses.
    pub identifier: String,
    /// The registry URL, such as `https://index.docker.io/v1/` or
    /// `http://127.0.0.1:5000`. `http://` means plain HTTP.
    pub url: String,
    /// The user name for basic authentication; none means anonymous pulls.
    #[serde(default)]
    pub username: Option<String>,
    /// The id of the secret that holds the password.
    #[serde(default)]
    pub password_ref: Option<String>,
}

impl Connector {
    /// The registry host (and port) from the URL, with Docker Hub's
    /// addresses mapped to `docker.io`.
    pub fn registry_host(&self) -> String {
        let without_scheme = self
            .url
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        let host = without_scheme.split('/').next().unwrap_or_default();
        match host {
            "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
                "docker.io".to_string()
            }
            _ => host.to_string(),
        }
    }

    /// Whether the registry is reached over plain HTTP.
    pub fn plain_http(&self) -> bool {
        self.url.starts_with("http://")
    }
}

/// The connectors of a run.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Connectors {
    /// Every connector, in file order.
    #[serde(default)]
    pub connectors: Vec<Connector>,
}

impl Connectors {
    /// Reads a connectors file.
    pub fn load(path: &Path) -> Result<Connectors> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            Error::io(
                "reading connectors file",
                &path.display().to_string(),
                error,
            )
        })?;
        Connectors::parse(&text).map_err(|error| Error::new(format!("{}: {error}", path.display())))
    }

    /// Parses the JSON text of a connectors file.
    pub fn parse(text: &str) -> Result<Connectors> {
        serde_json::from_str(text).map_err(|error| {
            Error::new(format!(
                "{}:{}: invalid connectors file: {error}\n\
                 help: write {{\"connectors\": [{{\"identifier\": \"ID\", \"url\": \"URL\", \
                 \"username\": \"USER\", \"passwordRef\": \"SECRET_ID\"}}]}}",
                error.line(),
                error.column()
            ))
        })
    }

    /// Finds the connector a `connectorRef` names. `account.` and `org.`
    /// scope prefixes are ignored, since basso has one flat list.
    pub fn find(&self, connector_ref: &str) -> Result<&Connector> {
        let id = connector_ref
            .strip_prefix("account.")
            .or_else(|| connector_ref.strip_prefix("org."))
            .unwrap_or(connector_ref);
        self.connectors
            .iter()
            .find(|connector| connector.identifier == id)
            .ok_or_else(|| {
                let known: Vec<&str> = self
                    .connectors
                    .iter()
                    .map(|c| c.identifier.as_str())
                    .collect();
                Error::new(format!(
                    "connector `{connector_ref}` not found\n\
                     help: add it to the connectors file (--connectors); known: {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connectors_parse_and_find() {
        let connectors = Connectors::parse(
            r#"{"connectors": [{"identifier": "hub", "url": "https://index.docker.io/v1/"},
                {"identifier": "local", "url": "http://127.0.0.1:5000", "username": "ci",
                 "passwordRef": "regpass"}]}"#,
        )
        .unwrap();
        assert_eq!(
            connectors.find("account.hub").unwrap().registry_host(),
            "docker.io"
        );
        let local = connectors.find("local").unwrap();
        assert_eq!(local.registry_host(), "127.0.0.1:5000");
        assert!(local.plain_http());
        assert_eq!(local.password_ref.as_deref(), Some("regpass"));
    }

    #[test]
    fn missing_connector_lists_known() {
        let connectors =
            Connectors::parse(r#"{"connectors": [{"identifier": "a", "url": "x"}]}"#).unwrap();
        let message = connectors.find("b").unwrap_err().to_string();
        assert!(message.contains("connector `b` not found"), "{message}");
        assert!(message.contains("known: a"), "{message}");
    }

    #[test]
    fn unknown_field_is_rejected_with_position() {
        let message = Connectors::parse(
            r#"{"connectors": [{"identifier": "a", "url": "x", "password": "p"}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(message.contains("1:"), "{message}");
        assert!(message.contains("unknown field `password`"), "{message}");
    }
}
