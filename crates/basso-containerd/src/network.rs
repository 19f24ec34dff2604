//! The network of one stage run.
//!
//! Steps of a stage share one network namespace, the stage namespace. Each
//! Background service gets a namespace of its own, joined to the stage
//! namespace by a veth pair: the stage end is `10.254.N.1/24`, the service
//! end `10.254.N.2/24`. The stage namespace routes between the pairs, so
//! steps and services reach every service by its address, and a shared
//! `/etc/hosts` maps the step id to it. Two services can therefore listen on
//! the same container port. The addresses exist only inside basso's
//! namespaces, so they never meet the host's routes.
//!
//! `portBindings` are served by a forwarder in the runner: it listens on
//! `127.0.0.1:hostPort` on the host and, per connection, connects from the
//! stage namespace to the service's `containerPort`. Nothing touches the
//! host's firewall tables.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use nix::sched::{CloneFlags, setns};
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

/// Where `ip netns` keeps named network namespaces.
pub const NETNS_DIR: &str = "/var/run/netns";

/// The prefix of every network namespace basso creates.
pub const NETNS_PREFIX: &str = "basso-";

/// The folder in which basso records each network namespace it creates, as
/// an empty file of the same name. `basso gc` deletes only recorded namespaces.
pub const MARKER_DIR: &str = "/run/basso/netns";

/// At most this many services per stage: each takes one `10.254.N.0/24`.
pub const MAX_SERVICES: usize = 250;

/// A service's place in the stage network.
#[derive(Clone, Debug)]
pub struct ServiceEndpoint {
    /// The namespace the service container joins.
    pub netns_path: PathBuf,
    /// The service's address, reachable from every namespace of the stage.
    pub address: Ipv4Addr,
}

/// The network namespaces, hosts file and port forwarders of one stage run.
pub struct StageNetwork {
    name: String,
    hosts_path: PathBuf,
    state: Mutex<NetworkState>,
}

#[derive(Default)]
struct NetworkState {
    services: usize,
    namespaces: Vec<String>,
    hosts: Vec<(Ipv4Addr, String)>,
    forwarders: Vec<JoinHandle<()>>,
    closed: bool,
}

impl StageNetwork {
    /// Creates the stage namespace `basso-<stage_key>` with loopback up and
    /// routing on, and its hosts file under `state_dir`.
    pub fn create(stage_key: &str, state_dir: &Path) -> Result<StageNetwork> {
        let name = format!("{NETNS_PREFIX}{stage_key}");
        let hosts_path = state_dir.join(format!("{stage_key}.hosts"));
        let network = StageNetwork {
            name: name.clone(),
            hosts_path,
            state: Mutex::new(NetworkState::default()),
        };
        add_netns(&name)?;
        network.lock().namespaces.push(name.clone());
        ip(&["-n", &name, "link", "set", "lo", "up"])?;
        // ip_forward is per network namespace: this turns routing on in the
        // stage namespace only, never on the host.
        in_netns_blocking(&netns_path(&name), || {
            std::fs::write("/proc/sys/net/ipv4/ip_forward", b"1")
        })
        .map_err(|error| Error::io("enabling routing in network namespace", &name, error))?;
        network.write_hosts()?;
        Ok(network)
    }

    /// The path of the stage namespace, for step containers.
    pub fn netns_path(&self) -> PathBuf {
        netns_path(&self.name)
    }

    /// The hosts file every container of the stage mounts as `/etc/hosts`.
    pub fn hosts_path(&self) -> &Path {
        &self.hosts_path
    }

    /// Creates a namespace for a service reachable under `host_names`.
    pub fn add_service(&self, host_names: &[String]) -> Result<ServiceEndpoint> {
        let index = {
            let mut state = self.lock();
            if state.closed {
                return Err(Error::new("the stage network is already removed"));
            }
            state.services += 1;
            state.services
        };
        if index > MAX_SERVICES {
            return Err(Error::new(format!(
                "a stage runs at most {MAX_SERVICES} Background services in containers"
            )));
        }

        let service_ns = format!("{}-{index}", self.name);
        let stage_if = format!("bsv{index}");
        let stage_address = format!("10.254.{index}.1");
        let address = Ipv4Addr::new(10, 254, index as u8, 2);
        add_netns(&service_ns)?;
        self.lock().namespaces.push(service_ns.clone());
        ip(&[
            "-n",
            &self.name,
            "link",
            "add",
            &stage_if,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &service_ns,
        ])?;
        ip(&[
            "-n",
            &self.name,
            "addr",
            "add",
            &format!("{stage_address}/24"),
            "dev",
            &stage_if,
        ])?;
        ip(&["-n", &self.name, "link", "set", &stage_if, "up"])?;
        ip(&[
            "-n",
            &service_ns,
            "addr",
            "add",
            &format!("{address}/24"),
            "dev",
            "eth0",
        ])?;
        ip(&["-n", &service_ns, "link", "set", "eth0", "up"])?;
        ip(&["-n", &service_ns, "link", "set", "lo", "up"])?;
        ip(&[
            "-n",
            &service_ns,
            "route",
            "add",
            "default",
            "via",
            &stage_address,
        ])?;

        {
            let mut state = self.lock();
            for host_name in host_names {
                state.hosts.push((address, host_name.clone()));
            }
        }
        self.write_hosts()?;
        Ok(ServiceEndpoint {
            netns_path: netns_path(&service_ns),
            address,
        })
    }

    /// Maps `host_name`, the host name of a container in the stage
    /// namespace, to `127.0.1.1` (the loopback address Debian gives a
    /// machine's own name), unless the hosts file already maps it. The file
    /// is shared, so in a service's namespace the name leads to the service
    /// itself.
    pub fn add_local_name(&self, host_name: &str) -> Result<()> {
        {
            let mut state = self.lock();
            if state.hosts.iter().any(|(_, name)| name == host_name) {
                return Ok(());
            }
            state
                .hosts
                .push((Ipv4Addr::new(127, 0, 1, 1), host_name.to_string()));
        }
        self.write_hosts()
    }

    /// Publishes `address:container_port` on `127.0.0.1:host_port`. Must run
    /// inside a tokio runtime, which serves the connections.
    pub fn publish(&self, host_port: u16, address: Ipv4Addr, container_port: u16) -> Result<()> {
        let listener =
            std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, host_port)).map_err(|error| {
                Error::new(format!(
                    "cannot publish port binding `{host_port}:{container_port}`: \
                     127.0.0.1:{host_port} is unavailable ({error})\n\
                     help: pick another hostPort in portBindings"
                ))
            })?;
        listener
            .set_nonblocking(true)
            .map_err(|error| Error::io("configuring listener", &host_port.to_string(), error))?;
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|error| Error::io("registering listener", &host_port.to_string(), error))?;
        let stage_ns = self.netns_path();
        let target = SocketAddr::from((address, container_port));
        let handle = tokio::spawn(forward_connections(listener, stage_ns, target));
        self.lock().forwarders.push(handle);
        Ok(())
    }

    /// Stops the forwarders and deletes every namespace of the stage (which
    /// deletes the veth pairs) and the hosts file. Safe to call twice.
    pub fn remove(&self) -> Result<()> {
        let (forwarders, namespaces) = {
            let mut state = self.lock();
            state.closed = true;
            (
                std::mem::take(&mut state.forwarders),
                std::mem::take(&mut state.namespaces),
            )
        };
        for forwarder in forwarders {
            forwarder.abort();
        }
        let mut first_error = None;
        for namespace in namespaces.iter().rev() {
            if let Err(error) = delete_netns(namespace) {
                first_error.get_or_insert(error);
            }
        }
        let _ = std::fs::remove_file(&self.hosts_path);
        first_error.map_or(Ok(()), Err)
    }

    fn write_hosts(&self) -> Result<()> {
        // The lock is held while writing, so services started concurrently
        // cannot overwrite each other's entries with an older list.
        let state = self.lock();
        let mut text = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost\n");
        for (address, name) in &state.hosts {
            text.push_str(&format!("{address}\t{name}\n"));
        }
        // Written in place, not renamed, so containers that already bind-mount
        // the file see services added later.
        std::fs::write(&self.hosts_path, text)
            .map_err(|error| Error::io("writing", &self.hosts_path.display().to_string(), error))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, NetworkState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for StageNetwork {
    fn drop(&mut self) {
        let _ = self.remove();
    }
}

/// Returns the path of the named network namespace.
pub fn netns_path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

/// Records `name` in [`MARKER_DIR`], then creates the named network
/// namespace. The record comes first, so a runner killed in between leaves a
/// record without a namespace, which `gc` removes, and never the reverse.
fn add_netns(name: &str) -> Result<()> {
    let marker = Path::new(MARKER_DIR).join(name);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(MARKER_DIR)
        .and_then(|()| std::fs::File::create(&marker))
        .map_err(|error| {
            Error::io(
                "recording network namespace",
                &marker.display().to_string(),
                error,
            )
        })?;
    ip(&["netns", "add", name])
}

/// Deletes a named network namespace and basso's record of it; a missing
/// one is not an error.
pub fn delete_netns(name: &str) -> Result<()> {
    if netns_path(name).exists() {
        ip(&["netns", "delete", name])?;
    }
    let _ = std::fs::remove_file(Path::new(MARKER_DIR).join(name));
    Ok(())
}

/// Lists the network namespaces that basso recorded in [`MARKER_DIR`] when
/// it created them, whether or not they still exist.
pub fn recorded_netns() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(MARKER_DIR) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| netns_run_id(name).is_some())
        .collect()
}

/// Returns the run id in a namespace name `basso-<pid>x<hex>-<stage>[-<service>]`.
pub fn netns_run_id(name: &str) -> Option<&str> {
    let run_id = name.strip_prefix(NETNS_PREFIX)?.split('-').next()?;
    let (pid, suffix) = run_id.split_once('x')?;
    let digits = !pid.is_empty() && pid.bytes().all(|byte| byte.is_ascii_digit());
    let hex = !suffix.is_empty() && suffix.bytes().all(|byte| byte.is_ascii_hexdigit());
    (digits && hex).then_some(run_id)
}

/// Lists the network namespaces whose names start with `basso-`, including
/// those that basso did not create.
pub fn list_netns() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(NETNS_DIR) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with(NETNS_PREFIX))
        .collect()
}

fn ip(args: &[&str]) -> Result<()> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|error| Error::io("running", "ip", error))?;
    if output.status.success() {
        return Ok(());
    }
    Err(Error::new(format!(
        "`ip {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    )))
}

/// Returns whether `target` accepts a TCP connection made from the network
/// namespace at `netns` within `timeout`.
pub fn accepts_from(netns: &Path, target: SocketAddr, timeout: Duration) -> bool {
    in_netns_blocking(netns, move || TcpStream::connect_timeout(&target, timeout)).is_ok()
}

/// Runs `work` on a new thread that has joined the network namespace at
/// `path`; sockets it creates stay in that namespace. The thread ends with
/// `work`, so no other code ever runs in the wrong namespace.
pub fn in_netns_blocking<T, F>(path: &Path, work: F) -> std::io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> std::io::Result<T> + Send + 'static,
{
    let path = path.to_path_buf();
    let thread = std::thread::spawn(move || {
        let namespace = File::open(&path)?;
        setns(&namespace, CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)?;
        work()
    });
    thread
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("network namespace thread panicked")))
}

/// Accepts connections until aborted. The connections live in a `JoinSet`,
/// so aborting the forwarder also closes every open connection.
async fn forward_connections(
    listener: tokio::net::TcpListener,
    stage_ns: PathBuf,
    target: SocketAddr,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            continue;
        };
        while connections.try_join_next().is_some() {}
        let stage_ns = stage_ns.clone();
        connections.spawn(async move {
            let connect = tokio::task::spawn_blocking(move || {
                // spawn_blocking reuses threads, so the namespace switch runs on
                // a thread of its own.
                in_netns_blocking(&stage_ns, move || {
                    TcpStream::connect_timeout(&target, Duration::from_secs(5))
                })
            });
            let outbound = match connect.await {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::debug!(%target, %error, "port binding: service refused the connection");
                    return;
                }
                Err(_) => return,
            };
            if outbound.set_nonblocking(true).is_err() {
                return;
            }
            let Ok(mut outbound) = tokio::net::TcpStream::from_std(outbound) else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
        });
    }
}
