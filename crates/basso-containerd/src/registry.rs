//! Requests to an image registry during a pull: the client, the time limits
//! of the requests and the errors they give.
//!
//! A pull fails when a connection to the registry takes longer than
//! [`CONNECT_TIMEOUT`], when the registry sends no data for
//! [`STALL_TIMEOUT`], and once the [`StartDeadline`] of the step passes.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use basso_runner::StartDeadline;
use basso_runner::runner::humantime;
use oci_client::Reference;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use tokio::io::AsyncWrite;

use crate::connectors::Connector;
use crate::error::{Error, Result};
use crate::image::PullAuth;

/// The time a connection to a registry gets for its TCP connection and TLS
/// handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The time a pull waits for data from the registry: for the response to a
/// request, or for the next bytes of a blob. containerd's CRI plugin gives up
/// a pull after the same time without data (`image_pull_progress_timeout`,
/// 5 minutes by default in containerd 2).
pub const STALL_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// How often a pull checks whether its run was cancelled.
const CANCEL_POLL: Duration = Duration::from_millis(50);

/// The registry side of one pull: the client, the credentials and what
/// ends the pull's requests early.
pub(crate) struct Registry<'p> {
    pub(crate) client: oci_client::Client,
    pub(crate) credentials: RegistryAuth,
    reference: &'p Reference,
    connector: Option<&'p Connector>,
    deadline: &'p StartDeadline,
    stall_timeout: Duration,
    /// When the registry last sent data, or when the current request began.
    last_data: Arc<Mutex<Instant>>,
}

impl<'p> Registry<'p> {
    /// Prepares the requests of a pull of `reference`, which fail once
    /// `deadline` passes.
    pub(crate) fn new(
        reference: &'p Reference,
        auth: &PullAuth<'p>,
        deadline: &'p StartDeadline,
    ) -> Registry<'p> {
        Registry::with_timeouts(reference, auth, deadline, CONNECT_TIMEOUT, STALL_TIMEOUT)
    }

    fn with_timeouts(
        reference: &'p Reference,
        auth: &PullAuth<'p>,
        deadline: &'p StartDeadline,
        connect_timeout: Duration,
        stall_timeout: Duration,
    ) -> Registry<'p> {
        Registry {
            client: registry_client(auth.connector, connect_timeout),
            credentials: registry_auth(auth),
            reference,
            connector: auth.connector,
            deadline,
            stall_timeout,
            last_data: Arc::new(Mutex::new(Instant::now())),
        }
    }

    /// Awaits one request of the pull. It fails when the registry sends no
    /// data for the stall timeout and once the deadline passes. Dropping
    /// the request closes its connection.
    pub(crate) async fn send<T>(
        &self,
        request: impl Future<Output = std::result::Result<T, OciDistributionError>>,
    ) -> Result<T> {
        self.record_data();
        tokio::select! {
            result = request => {
                result.map_err(|error| pull_error(self.reference, self.connector, &error))
            }
            () = self.stalled() => Err(self.stalled_error()),
            () = deadline_passed(self.deadline) => Err(self.stopped_error()),
        }
    }

    /// Returns a writer that appends a blob's bytes to `data` and counts
    /// each write as data from the registry.
    pub(crate) fn blob_writer<'d>(&self, data: &'d mut Vec<u8>) -> BlobWriter<'d> {
        BlobWriter {
            data,
            last_data: Arc::clone(&self.last_data),
        }
    }

    fn record_data(&self) {
        record_data(&self.last_data);
    }

    /// Returns once the registry has sent no data for the stall timeout.
    async fn stalled(&self) {
        loop {
            let idle = match self.last_data.lock() {
                Ok(last_data) => last_data.elapsed(),
                Err(_) => Duration::ZERO,
            };
            if idle >= self.stall_timeout {
                return;
            }
            tokio::time::sleep(self.stall_timeout - idle).await;
        }
    }

    fn stalled_error(&self) -> Error {
        Error::new(format!(
            "pulling image `{}` from `{}`{} failed: the registry sent no data for {}\n\
             help: check that the registry is reachable and serves the registry API on that port",
            self.reference,
            self.reference.registry(),
            connector_phrase(self.connector),
            humantime(self.stall_timeout)
        ))
    }

    fn stopped_error(&self) -> Error {
        let reason = if self.deadline.cancelled() {
            "the run was cancelled"
        } else {
            "a timeout of the step, its stage or the pipeline passed"
        };
        Error::new(format!(
            "stopped pulling image `{}` from `{}`{}: {reason}",
            self.reference,
            self.reference.registry(),
            connector_phrase(self.connector)
        ))
    }
}

fn record_data(last_data: &Mutex<Instant>) {
    if let Ok(mut last_data) = last_data.lock() {
        *last_data = Instant::now();
    }
}

/// Returns once `deadline` passes. The run's cancellation is a flag, so it
/// is checked every [`CANCEL_POLL`].
async fn deadline_passed(deadline: &StartDeadline) {
    while !deadline.passed() {
        let pause = deadline
            .remaining()
            .map_or(CANCEL_POLL, |left| left.min(CANCEL_POLL));
        tokio::time::sleep(pause).await;
    }
}

/// Collects a blob in memory and records when its bytes arrive.
pub(crate) struct BlobWriter<'d> {
    data: &'d mut Vec<u8>,
    last_data: Arc<Mutex<Instant>>,
}

impl AsyncWrite for BlobWriter<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let writer = self.get_mut();
        record_data(&writer.last_data);
        writer.data.extend_from_slice(bytes);
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Returns a client for the registry of `connector`, or for a registry
/// reached through HTTPS without one. Each connection fails after
/// `connect_timeout` without a completed TCP connection and TLS handshake.
fn registry_client(connector: Option<&Connector>, connect_timeout: Duration) -> oci_client::Client {
    crate::install_crypto_provider();
    let protocol = match connector {
        Some(connector) if connector.plain_http() => {
            ClientProtocol::HttpsExcept(vec![connector.registry_host()])
        }
        _ => ClientProtocol::Https,
    };
    oci_client::Client::new(ClientConfig {
        protocol,
        connect_timeout: Some(connect_timeout),
        ..ClientConfig::default()
    })
}

fn registry_auth(auth: &PullAuth<'_>) -> RegistryAuth {
    match (
        auth.connector.and_then(|c| c.username.clone()),
        &auth.password,
    ) {
        (Some(username), Some(password)) => RegistryAuth::Basic(username, password.clone()),
        _ => RegistryAuth::Anonymous,
    }
}

pub(crate) fn connector_phrase(connector: Option<&Connector>) -> String {
    match connector {
        Some(connector) => format!(" (connector `{}`)", connector.identifier),
        None => String::new(),
    }
}

/// The hint for a registry that refuses the pull.
const ACCESS_DENIED_HELP: &str = "help: the registry denied access; check that the connector's \
     credentials may pull this image, or set `connectorRef` to a connector for this registry";

fn pull_error(
    reference: &Reference,
    connector: Option<&Connector>,
    error: &oci_client::errors::OciDistributionError,
) -> Error {
    use oci_client::errors::OciDistributionError as E;
    let help = match error {
        E::AuthenticationFailure(_) | E::UnauthorizedError { .. } => {
            "help: check the username and the passwordRef secret of the connector"
        }
        E::ImageManifestNotFoundError(_) => "help: check the image name and tag",
        E::ServerError {
            code: 401 | 403, ..
        } => ACCESS_DENIED_HELP,
        E::RegistryError { envelope, .. }
            if envelope.errors.iter().any(|error| {
                matches!(
                    error.code,
                    oci_client::errors::OciErrorCode::Denied
                        | oci_client::errors::OciErrorCode::Unauthorized
                )
            }) =>
        {
            ACCESS_DENIED_HELP
        }
        _ if with_causes(error).contains("timed out") => {
            "help: the registry did not complete the TCP connection and TLS handshake in time; \
             check that it is reachable and serves the registry API on that port"
        }
        _ if speaks_plain_http(&with_causes(error)) => {
            "help: the registry responded to TLS with plain HTTP; give it a connector whose URL starts with `http://`"
        }
        _ => "help: check that the registry is reachable and the image exists",
    };
    Error::new(format!(
        "pulling image `{reference}` from `{}`{} failed: {}\n{help}",
        reference.registry(),
        connector_phrase(connector),
        with_causes(error)
    ))
}

/// Returns `error`'s message followed by the messages of its causes, so
/// that "connection refused" and a failed TLS handshake read differently.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let message = inner.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        cause = inner.source();
    }
    text
}

/// Returns whether a pull error's text shows that a TLS client received a
/// plain HTTP response, as rustls reports it.
fn speaks_plain_http(text: &str) -> bool {
    text.contains("InvalidContentType") || text.contains("corrupt message")
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    /// Pulls through HTTPS from a server on 127.0.0.1 that responds in plain
    /// HTTP, and from a port where nothing listens.
    #[tokio::test]
    async fn pull_errors_name_their_cause() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            while let Ok((mut socket, _)) = listener.accept().await {
                let _ = socket
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let message = |port: u16| {
            let reference: Reference = format!("127.0.0.1:{port}/app:1").parse().unwrap();
            async move {
                let client = registry_client(None, CONNECT_TIMEOUT);
                let error = client
                    .fetch_manifest_digest(&reference, &RegistryAuth::Anonymous)
                    .await
                    .unwrap_err();
                pull_error(&reference, None, &error).to_string()
            }
        };

        let plain_http = message(port).await;
        assert!(
            plain_http.contains("connector whose URL starts with `http://`"),
            "{plain_http}"
        );

        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        let refused = message(closed_port).await;
        assert!(refused.to_lowercase().contains("refused"), "{refused}");
        assert!(
            refused.contains("check that the registry is reachable"),
            "{refused}"
        );
        server.abort();
    }

    /// Accepts connections on 127.0.0.1 and never sends a byte, as a
    /// registry that hangs does. Returns its port.
    async fn silent_listener() -> (u16, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let mut open_sockets = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                open_sockets.push(socket);
            }
        });
        (port, server)
    }

    fn anonymous() -> PullAuth<'static> {
        PullAuth {
            connector: None,
            password: None,
        }
    }

    /// A TLS handshake that never completes fails by the connect timeout.
    #[tokio::test]
    async fn silent_registry_fails_connect() {
        let (port, server) = silent_listener().await;
        let reference: Reference = format!("127.0.0.1:{port}/x/y:1").parse().unwrap();
        let deadline = StartDeadline::never();
        let registry = Registry::with_timeouts(
            &reference,
            &anonymous(),
            &deadline,
            Duration::from_millis(200),
            Duration::from_secs(60),
        );

        let started = Instant::now();
        let request = registry
            .client
            .fetch_manifest_digest(&reference, &registry.credentials);
        let error = registry.send(request).await.unwrap_err().to_string();

        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        let prefix = format!("pulling image `127.0.0.1:{port}/x/y:1` from `127.0.0.1:{port}`");
        assert!(error.starts_with(&prefix), "{error}");
        assert!(error.contains("timed out"), "{error}");
        assert!(
            error.contains("help: the registry did not complete"),
            "{error}"
        );
        server.abort();
    }

    /// A registry that refuses the pull, by HTTP status or by an error
    /// envelope with `DENIED`, gets the hint about credentials.
    #[test]
    fn refused_pull_names_credentials() {
        use oci_client::errors::OciDistributionError as E;
        let reference: Reference = "registry.example/x/y:1".parse().unwrap();
        let envelope: oci_client::errors::OciEnvelope = serde_json::from_str(
            r#"{"errors": [{"code": "DENIED", "message": "requested access to the resource is denied"}]}"#,
        )
        .unwrap();
        let errors = [
            E::ServerError {
                code: 403,
                url: "https://registry.example/v2/x/y/manifests/1".into(),
                message: "forbidden".into(),
            },
            E::RegistryError {
                envelope,
                url: "https://registry.example/v2/x/y/manifests/1".into(),
            },
        ];
        for error in &errors {
            let message = pull_error(&reference, None, error).to_string();
            assert!(
                message.contains("help: the registry denied access"),
                "{message}"
            );
        }
        let other = E::ServerError {
            code: 500,
            url: "https://registry.example/v2/".into(),
            message: "oops".into(),
        };
        let message = pull_error(&reference, None, &other).to_string();
        assert!(!message.contains("denied access"), "{message}");
    }

    /// A request over plain HTTP that the registry never responds to fails
    /// by the stall timeout.
    #[tokio::test]
    async fn silent_registry_fails_stalled() {
        let (port, server) = silent_listener().await;
        let reference: Reference = format!("127.0.0.1:{port}/x/y:1").parse().unwrap();
        let connector = Connector {
            identifier: "reg".into(),
            url: format!("http://127.0.0.1:{port}"),
            username: None,
            password_ref: None,
        };
        let auth = PullAuth {
            connector: Some(&connector),
            password: None,
        };
        let deadline = StartDeadline::never();
        let registry = Registry::with_timeouts(
            &reference,
            &auth,
            &deadline,
            Duration::from_secs(60),
            Duration::from_millis(300),
        );

        let started = Instant::now();
        let request = registry
            .client
            .fetch_manifest_digest(&reference, &registry.credentials);
        let error = registry.send(request).await.unwrap_err().to_string();

        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert!(
            error.starts_with(&format!(
                "pulling image `127.0.0.1:{port}/x/y:1` from `127.0.0.1:{port}` \
                 (connector `reg`) failed: the registry sent no data for 300ms"
            )),
            "{error}"
        );
        assert!(
            error.contains("help: check that the registry is reachable"),
            "{error}"
        );
        server.abort();
    }

    #[tokio::test]
    async fn cancel_stops_request() {
        let (port, server) = silent_listener().await;
        let reference: Reference = format!("127.0.0.1:{port}/x/y:1").parse().unwrap();
        let cancel = Arc::new(AtomicBool::new(false));
        let deadline = StartDeadline::new(None, cancel.clone());
        let registry = Registry::new(&reference, &anonymous(), &deadline);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            cancel.store(true, Ordering::SeqCst);
        });

        let started = Instant::now();
        let request = registry
            .client
            .fetch_manifest_digest(&reference, &registry.credentials);
        let error = registry.send(request).await.unwrap_err().to_string();

        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            error,
            format!(
                "stopped pulling image `127.0.0.1:{port}/x/y:1` from `127.0.0.1:{port}`: \
                 the run was cancelled"
            )
        );
        server.abort();
    }

    #[tokio::test]
    async fn deadline_stops_request() {
        let (port, server) = silent_listener().await;
        let reference: Reference = format!("127.0.0.1:{port}/x/y:1").parse().unwrap();
        let at = Instant::now() + Duration::from_millis(300);
        let deadline = StartDeadline::new(Some(at), Arc::new(AtomicBool::new(false)));
        let registry = Registry::new(&reference, &anonymous(), &deadline);

        let request = registry
            .client
            .fetch_manifest_digest(&reference, &registry.credentials);
        let error = registry.send(request).await.unwrap_err().to_string();

        assert!(Instant::now() >= at);
        assert!(
            error.ends_with(": a timeout of the step, its stage or the pipeline passed"),
            "{error}"
        );
        server.abort();
    }

    /// Each write of a blob restarts the stall timeout.
    #[tokio::test]
    async fn blob_data_restarts_stall_timeout() {
        use tokio::io::AsyncWriteExt;

        let reference: Reference = "127.0.0.1:5000/x/y:1".parse().unwrap();
        let deadline = StartDeadline::never();
        let registry = Registry::with_timeouts(
            &reference,
            &anonymous(),
            &deadline,
            Duration::from_secs(60),
            Duration::from_millis(300),
        );
        let mut data = Vec::new();
        let mut writer = registry.blob_writer(&mut data);
        let trickle = async move {
            for _ in 0..6 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                writer.write_all(b"x").await.unwrap();
            }
            Ok::<(), OciDistributionError>(())
        };

        let sent = registry.send(trickle).await;

        assert!(sent.is_ok(), "{sent:?}");
        assert_eq!(data, b"xxxxxx");
    }
}
