//! The container executor: runs steps and Background services as containerd
//! tasks, with a blocking API for the runner's threads.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use basso_runner::lines::forward_lines;
use basso_runner::{StartDeadline, StopDeadline};
use containerd_client::services::v1::container::Runtime as ContainerRuntime;
use containerd_client::services::v1::snapshots::{PrepareSnapshotRequest, RemoveSnapshotRequest};
use containerd_client::services::v1::{
    Container, CreateContainerRequest, CreateTaskRequest, DeleteContainerRequest,
    DeleteTaskRequest, KillRequest, StartRequest, WaitRequest,
};
use prost_types::Any;
use tokio::sync::watch;
use tonic::Code;

use crate::client::{Containerd, container_id, new_run_id, run_labels};
use crate::connectors::Connectors;
use crate::error::{Error, Result};
use crate::image::{ImageConfig, Images, PullAuth, PullPolicy, normalize_image};
use crate::network::{self, StageNetwork};
use crate::signals::accepts_sigterm;
use crate::spec::{BindMount, ContainerSettings, runtime_spec};
use crate::task::{ContainerExit, ContainerStep, Program};

/// Where the run's workspace appears inside every container.
pub const WORKSPACE_MOUNT: &str = "/harness";

/// The mount point of a step's output folder inside its container. The
/// folder lies outside the workspace, so other steps cannot replace it with a
/// link.
pub const OUTPUTS_MOUNT: &str = "/basso/outputs";

/// Receives output lines of a container, stdout and stderr merged.
pub type LogSink = Arc<dyn Fn(&str) + Send + Sync>;

/// Returns the value of a secret by id, or `None` when it is unknown.
pub type SecretLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// How the executor reaches containerd and what it mounts.
#[derive(Clone)]
pub struct ExecutorConfig {
    /// containerd's gRPC socket.
    pub address: PathBuf,
    /// The containerd namespace for every object.
    pub namespace: String,
    /// The snapshotter for container root filesystems.
    pub snapshotter: String,
    /// A directory for the output pipes, scripts and hosts files of running
    /// containers.
    pub state_dir: PathBuf,
    /// A static init (Debian's `tini-static`) mounted as PID 1; none runs
    /// the step's program as PID 1.
    pub init_binary: Option<PathBuf>,
    /// Registry connectors for `connectorRef`.
    pub connectors: Connectors,
    /// Secret values for connectors' `passwordRef`.
    pub secrets: SecretLookup,
}

impl ExecutorConfig {
    /// A configuration for the socket at `address` with basso's defaults: the
    /// `basso` namespace, overlayfs, state under `/run/basso` and tini from
    /// `/usr/bin/tini-static` when it exists.
    pub fn new(address: &Path) -> ExecutorConfig {
        let tini = PathBuf::from("/usr/bin/tini-static");
        ExecutorConfig {
            address: address.to_path_buf(),
            namespace: crate::client::DEFAULT_NAMESPACE.to_string(),
            snapshotter: "overlayfs".to_string(),
            state_dir: PathBuf::from("/run/basso"),
            init_binary: tini.exists().then_some(tini),
            connectors: Connectors::default(),
            secrets: Arc::new(|_| None),
        }
    }
}

/// Runs containers for one run. Each stage gets its own network, created
/// with the stage's first container and removed by [`end_stage`].
///
/// [`end_stage`]: ContainerExecutor::end_stage
pub struct ContainerExecutor {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: tokio::runtime::Runtime,
    containerd: Containerd,
    config: ExecutorConfig,
    run_id: String,
    counter: AtomicUsize,
    stage_counter: AtomicUsize,
    stage: Mutex<Option<Arc<StageNetwork>>>,
    ending: Mutex<()>,
    /// Containers not yet deleted, by id.
    live: Mutex<BTreeMap<String, LiveContainer>>,
}

/// A container that has not been deleted yet.
#[derive(Clone)]
struct LiveContainer {
    /// The host process id of its PID 1.
    pid: u32,
    exit: watch::Receiver<Option<ContainerExit>>,
}

impl ContainerExecutor {
    /// Connects to containerd and prepares the state directory.
    pub fn connect(config: ExecutorConfig) -> Result<ContainerExecutor> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("basso-containerd")
            .build()
            .map_err(|error| Error::io("starting", "async runtime", error))?;
        let containerd =
            runtime.block_on(Containerd::connect(&config.address, &config.namespace))?;
        std::fs::create_dir_all(&config.state_dir).map_err(|error| {
            Error::io(
                "creating state directory",
                &config.state_dir.display().to_string(),
                error,
            )
        })?;
        // Log files contain step output before basso masks secrets in it.
        std::fs::set_permissions(&config.state_dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|error| {
                Error::io(
                    "restricting state directory",
                    &config.state_dir.display().to_string(),
                    error,
                )
            })?;
        Ok(ContainerExecutor {
            inner: Arc::new(Inner {
                runtime,
                containerd,
                config,
                run_id: new_run_id(),
                counter: AtomicUsize::new(0),
                stage_counter: AtomicUsize::new(0),
                stage: Mutex::new(None),
                ending: Mutex::new(()),
                live: Mutex::new(BTreeMap::new()),
            }),
        })
    }

    /// The run id on every object's `io.basso.run` label.
    pub fn run_id(&self) -> &str {
        &self.inner.run_id
    }

    /// Returns the folder for output pipes and per-step files, which only root
    /// can enter.
    pub fn state_dir(&self) -> &Path {
        &self.inner.config.state_dir
    }

    /// Fails when the connector that `connector_ref` names is not in the
    /// connectors file, or when the secret its `passwordRef` names has no
    /// value, so that a run can stop before its first step.
    pub fn check_connector(&self, connector_ref: &str) -> Result<()> {
        self.inner.connector_auth(Some(connector_ref)).map(|_| ())
    }

    /// The connected client.
    pub fn containerd(&self) -> &Containerd {
        &self.inner.containerd
    }

    /// Imports an OCI or Docker archive into basso's namespace.
    pub fn import_archive(&self, archive: &Path) -> Result<Vec<String>> {
        Images::new(&self.inner.containerd, &self.inner.config.snapshotter).import_archive(archive)
    }

    /// Makes sure the step's image is present as its pull policy asks.
    pub fn ensure_image(&self, step: &ContainerStep) -> Result<ImageConfig> {
        let deadline = StartDeadline::never();
        self.inner
            .runtime
            .block_on(self.inner.ensure_image(step, &deadline))
    }

    /// Starts a container. A service returns once its process runs; a step
    /// is waited for with [`ContainerTask::wait`].
    pub fn start(&self, step: &ContainerStep, logs: LogSink) -> Result<ContainerTask> {
        self.start_by(step, logs, &StartDeadline::never())
    }

    /// Starts a container as [`start`](ContainerExecutor::start) does, but
    /// gives up pulling its image with an error once `deadline` passes.
    pub fn start_by(
        &self,
        step: &ContainerStep,
        logs: LogSink,
        deadline: &StartDeadline,
    ) -> Result<ContainerTask> {
        let inner = Arc::clone(&self.inner);
        let started = self
            .inner
            .runtime
            .block_on(inner.start(step, logs, deadline));
        started.map(|started| ContainerTask {
            inner: Arc::clone(&self.inner),
            id: started.id,
            pid: started.pid,
            exit: started.exit,
            probe: started.probe,
        })
    }

    /// Stops every container of the current stage (SIGTERM, then SIGKILL
    /// after `grace`), deletes them with their snapshots and removes the
    /// stage network. The next container starts a new stage.
    pub fn end_stage(&self, grace: Duration) -> Result<()> {
        // A signal handler and the runner may both end the stage; the second
        // call waits until the first one has removed everything.
        let _ending = self
            .inner
            .ending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let inner = Arc::clone(&self.inner);
        let stopped = self.inner.runtime.block_on(inner.stop_all(grace));
        let network = self
            .inner
            .stage
            .lock()
            .map(|mut stage| stage.take())
            .unwrap_or(None);
        let removed = match network {
            Some(network) => network.remove(),
            None => Ok(()),
        };
        // The first failure is reported; a cleanup failure after it is logged.
        match (stopped, removed) {
            (Err(first), Err(second)) => {
                tracing::warn!(error = %second, "removing the stage network also failed");
                Err(first)
            }
            (Err(error), Ok(())) | (Ok(()), Err(error)) => Err(error),
            (Ok(()), Ok(())) => Ok(()),
        }
    }
}

impl Drop for ContainerExecutor {
    fn drop(&mut self) {
        if let Err(error) = self.end_stage(Duration::from_secs(2)) {
            tracing::warn!(%error, "cleanup at executor drop failed");
        }
    }
}

/// A started container.
pub struct ContainerTask {
    inner: Arc<Inner>,
    id: String,
    pid: u32,
    exit: watch::Receiver<Option<ContainerExit>>,
    probe: Option<ServiceProbe>,
}

/// The container id, PID, exit watch and probe that [`Inner::start`] returns.
struct Started {
    id: String,
    pid: u32,
    exit: watch::Receiver<Option<ContainerExit>>,
    probe: Option<ServiceProbe>,
}

/// The address, stage namespace and port bindings through which a service is
/// reached from inside the stage network, the way the port forwarder does.
struct ServiceProbe {
    stage_netns: PathBuf,
    /// The service's own network namespace.
    service_netns: PathBuf,
    address: Ipv4Addr,
    port_bindings: Vec<(u16, u16)>,
}

/// The time one readiness probe waits for the service to accept.
const PROBE_TIMEOUT: Duration = Duration::from_millis(200);

/// How often a stop checks whether a container's PID 1 that could not
/// receive SIGTERM can receive it now.
const SIGNAL_READY_POLL: Duration = Duration::from_millis(50);

/// How often a stop checks whether its deadline was made to pass at once.
const KILL_NOW_POLL: Duration = Duration::from_millis(100);

impl ContainerTask {
    /// The containerd container id (also the snapshot key).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The host process id of the container's PID 1.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The container's cgroup directory under the v1 controller
    /// `controller`, such as `memory` or `cpu`.
    pub fn cgroup_dir(&self, controller: &str) -> PathBuf {
        Path::new("/sys/fs/cgroup")
            .join(controller)
            .join(self.inner.containerd.namespace())
            .join(&self.id)
    }

    /// Waits at most `timeout` for the container to end; `None` while it
    /// runs. After an exit all output has reached the sink and the container
    /// and its snapshot are deleted.
    pub fn wait(&mut self, timeout: Duration) -> Result<Option<ContainerExit>> {
        let mut exit = self.exit.clone();
        self.inner.runtime.block_on(async move {
            let ended = tokio::time::timeout(timeout, exit.wait_for(Option::is_some)).await;
            match ended {
                Ok(Ok(value)) => Ok(*value),
                Ok(Err(_)) => Err(Error::new("the container's exit watcher stopped")),
                Err(_) => Ok(None),
            }
        })
    }

    /// Returns whether the service accepts TCP connections on the container
    /// port bound to `host_port`, connecting from the stage network the way
    /// the port forwarder does. The forwarder's host port accepts as soon as
    /// the container starts, so a connection there does not show that the
    /// service listens. Returns `None` for a step or a port that is not bound.
    pub fn accepts_connections(&self, host_port: u16) -> Option<bool> {
        let probe = self.probe.as_ref()?;
        let &(_, container_port) = probe
            .port_bindings
            .iter()
            .find(|&&(host, _)| host == host_port)?;
        let target = SocketAddr::from((probe.address, container_port));
        Some(network::accepts_from(
            &probe.stage_netns,
            target,
            PROBE_TIMEOUT,
        ))
    }

    /// Returns the container port of the binding with host port
    /// `host_port` when the service accepts connections on it at
    /// `127.0.0.1` inside its own container, which other steps cannot
    /// reach, and `None` otherwise.
    pub fn own_loopback_port(&self, host_port: u16) -> Option<u16> {
        let probe = self.probe.as_ref()?;
        let &(_, container_port) = probe
            .port_bindings
            .iter()
            .find(|&&(host, _)| host == host_port)?;
        let target = SocketAddr::from((Ipv4Addr::LOCALHOST, container_port));
        network::accepts_from(&probe.service_netns, target, PROBE_TIMEOUT).then_some(container_port)
    }

    /// Sends SIGTERM, then SIGKILL after `grace`, and returns the exit.
    pub fn stop(&mut self, grace: Duration) -> Result<ContainerExit> {
        self.stop_by(&StopDeadline::after(grace))
    }

    /// Sends SIGTERM, then SIGKILL once `deadline` passes, and returns the
    /// exit.
    pub fn stop_by(&mut self, deadline: &StopDeadline) -> Result<ContainerExit> {
        let inner = Arc::clone(&self.inner);
        let id = self.id.clone();
        let exit = self.exit.clone();
        let pid = self.pid;
        self.inner
            .runtime
            .block_on(async move { inner.stop(&id, pid, exit, deadline).await })
    }
}

impl Inner {
    /// Finds the connector that `connector_ref` names and the value of the
    /// secret its `passwordRef` names.
    fn connector_auth(&self, connector_ref: Option<&str>) -> Result<PullAuth<'_>> {
        let Some(connector_ref) = connector_ref else {
            return Ok(PullAuth {
                connector: None,
                password: None,
            });
        };
        let connector = self.config.connectors.find(connector_ref)?;
        let password = match connector.password_ref.as_deref() {
            Some(secret_id) => Some((self.config.secrets)(secret_id).ok_or_else(|| {
                Error::new(format!(
                    "secret `{secret_id}` of connector `{}` has no value\n\
                     help: set `{}`, or pass --secret {secret_id}=VALUE or --secrets-file FILE",
                    connector.identifier,
                    basso_runner::secrets::env_name(secret_id)
                ))
            })?),
            None => None,
        };
        Ok(PullAuth {
            connector: Some(connector),
            password,
        })
    }

    async fn ensure_image(
        &self,
        step: &ContainerStep,
        deadline: &StartDeadline,
    ) -> Result<ImageConfig> {
        let auth = self.connector_auth(step.connector_ref.as_deref())?;
        let reference = normalize_image(&step.image, auth.connector)?;
        let policy = PullPolicy::parse(step.image_pull_policy.as_deref(), &reference)?;
        Images::new(&self.containerd, &self.config.snapshotter)
            .ensure(&reference, policy, &auth, deadline)
            .await
    }

    fn stage_network(&self) -> Result<Arc<StageNetwork>> {
        let mut stage = self
            .stage
            .lock()
            .map_err(|_| Error::new("stage lock poisoned"))?;
        if let Some(network) = stage.as_ref() {
            return Ok(Arc::clone(network));
        }
        let index = self.stage_counter.fetch_add(1, Ordering::SeqCst);
        let key = format!("{}-{index}", self.run_id);
        let network = Arc::new(StageNetwork::create(&key, &self.config.state_dir)?);
        *stage = Some(Arc::clone(&network));
        Ok(network)
    }

    async fn start(
        self: Arc<Self>,
        step: &ContainerStep,
        logs: LogSink,
        deadline: &StartDeadline,
    ) -> Result<Started> {
        let mut image = self.ensure_image(step, deadline).await?;
        // `runAsUser` replaces the image's `User`. A user without a group
        // gets its primary group from the image's /etc/passwd, as Docker
        // and containerd give it. A user name is looked up there too.
        if let Some(uid) = step.run_as_user {
            image.user = uid.to_string();
        }
        let named = parse_image_user(&image.user).is_none();
        let without_group =
            !image.user.is_empty() && image.user != "root" && !image.user.contains(':');
        if named || without_group {
            let (uid, gid) = Images::new(&self.containerd, &self.config.snapshotter)
                .user_ids(&image)
                .await?;
            image.user = format!("{uid}:{gid}");
        }
        let network = self.stage_network()?;
        let endpoint = if step.service {
            // The container's own host name resolves too, because software
            // such as Java's `InetAddress.getLocalHost` looks it up. It
            // differs from the step id when that has `_` or `$`.
            let mut host_names = step.host_names.clone();
            let own = sanitize_hostname(&step.step_id);
            if !host_names.contains(&own) {
                host_names.push(own);
            }
            Some(network.add_service(&host_names)?)
        } else {
            // A step in the stage namespace resolves its own host name too.
            network.add_local_name(&sanitize_hostname(&step.step_id))?;
            None
        };

        let number = self.counter.fetch_add(1, Ordering::SeqCst);
        let id = container_id(&self.run_id, number, &step.step_id);
        let netns_path = endpoint
            .as_ref()
            .map(|endpoint| endpoint.netns_path.clone())
            .unwrap_or_else(|| network.netns_path());
        let mut settings = self.settings(step, &image, &id, netns_path, network.hosts_path())?;
        let script_file = self.write_script(step, &id, &settings)?;
        if let (Some(file), Some(destination)) = (&script_file, step.program.script_path()) {
            settings.mounts.push(BindMount {
                source: file.clone(),
                destination: destination.to_string(),
                read_only: true,
            });
        }
        let spec = runtime_spec(&settings, self.config.init_binary.as_ref());
        let pipes = match OutputPipes::create(&self.config.state_dir, &id) {
            Ok(pipes) => pipes,
            Err(error) => {
                remove_script(script_file.as_deref());
                return Err(error);
            }
        };

        let created = self
            .create_and_start(step, &image, &id, &spec, &pipes)
            .await;
        let (pid, wait) = match created {
            Ok(started) => started,
            Err(error) => {
                self.delete(&id).await;
                pipes.remove();
                remove_script(script_file.as_deref());
                return Err(error);
            }
        };
        if let Some(endpoint) = &endpoint {
            for (host_port, container_port) in &step.port_bindings {
                if let Err(error) = network.publish(*host_port, endpoint.address, *container_port) {
                    let _ = self.kill(&id, 9, true).await;
                    self.delete(&id).await;
                    remove_script(script_file.as_deref());
                    return Err(error);
                }
            }
        }

        let (sender, receiver) = watch::channel(None);
        self.live
            .lock()
            .map_err(|_| Error::new("container registry lock poisoned"))?
            .insert(
                id.clone(),
                LiveContainer {
                    pid,
                    exit: receiver.clone(),
                },
            );
        let watcher = Arc::clone(&self);
        let watched_id = id.clone();
        let memory_bytes = step.memory_bytes;
        tokio::spawn(async move {
            watcher
                .watch(watched_id, wait, pipes, logs, memory_bytes, sender)
                .await;
            remove_script(script_file.as_deref());
        });
        let probe = endpoint.map(|endpoint| ServiceProbe {
            stage_netns: network.netns_path(),
            service_netns: endpoint.netns_path,
            address: endpoint.address,
            port_bindings: step.port_bindings.clone(),
        });
        Ok(Started {
            id,
            pid,
            exit: receiver,
            probe,
        })
    }

    /// Writes a script step's text to a file in the state folder, readable
    /// by the container's user only, and returns its path. The state folder
    /// is root's alone, so host users cannot read the file either.
    fn write_script(
        &self,
        step: &ContainerStep,
        id: &str,
        settings: &ContainerSettings,
    ) -> Result<Option<PathBuf>> {
        let Program::Script { script, .. } = &step.program else {
            return Ok(None);
        };
        let path = self.config.state_dir.join(format!("{id}.script"));
        let written = (|| {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o400)
                .open(&path)?;
            std::os::unix::fs::fchown(&file, Some(settings.uid), Some(settings.gid))?;
            file.write_all(script.as_bytes())
        })();
        if let Err(error) = written {
            remove_script(Some(&path));
            return Err(Error::io(
                "writing script",
                &path.display().to_string(),
                error,
            ));
        }
        Ok(Some(path))
    }

    fn settings(
        &self,
        step: &ContainerStep,
        image: &ImageConfig,
        id: &str,
        netns_path: PathBuf,
        hosts_path: &Path,
    ) -> Result<ContainerSettings> {
        let args = step.program.argv(&image.entrypoint, &image.cmd);
        if args.is_empty() {
            return Err(Error::new(format!(
                "image `{}` has no entry point or command\n\
                 help: set `command` or `entrypoint`",
                image.name
            )));
        }
        // `start` wrote the user with its group as numbers, `runAsUser`
        // included.
        let (uid, gid) = parse_image_user(&image.user).ok_or_else(|| {
            Error::new(format!(
                "image `{}` sets user `{}`, which is not numeric\n\
                 help: set runAsUser to a numeric user id",
                image.name, image.user
            ))
        })?;
        let workspace = step.workspace.canonicalize().map_err(|error| {
            Error::io(
                "opening workspace",
                &step.workspace.display().to_string(),
                error,
            )
        })?;
        let mut env = image.env.clone();
        for (name, value) in &step.env {
            env.retain(|entry| entry.split('=').next() != Some(name.as_str()));
            env.push(format!("{name}={value}"));
        }
        // Shared paths first: a later mount lies on top, so `/etc/hosts` and
        // basso's own folders stay visible under a shared `/etc`.
        let mut mounts: Vec<BindMount> = step
            .shared_paths
            .iter()
            .map(|(source, destination)| BindMount {
                source: source.clone(),
                destination: destination.clone(),
                read_only: false,
            })
            .collect();
        mounts.extend([
            BindMount {
                source: workspace,
                destination: WORKSPACE_MOUNT.to_string(),
                read_only: false,
            },
            BindMount {
                source: hosts_path.to_path_buf(),
                destination: "/etc/hosts".to_string(),
                read_only: true,
            },
        ]);
        if let Some(output_dir) = &step.output_dir {
            mounts.push(BindMount {
                source: output_dir.clone(),
                destination: OUTPUTS_MOUNT.to_string(),
                read_only: false,
            });
        }
        Ok(ContainerSettings {
            args,
            env,
            cwd: match step.program {
                // The image's own command runs in the image's `WorkingDir`,
                // as in Docker, or in `/` when the image sets none.
                Program::ImageDefault if image.working_dir.is_empty() => "/".to_string(),
                Program::ImageDefault => image.working_dir.clone(),
                _ => WORKSPACE_MOUNT.to_string(),
            },
            uid,
            gid,
            hostname: sanitize_hostname(&step.step_id),
            privileged: step.privileged,
            memory_bytes: step.memory_bytes,
            cpu_millis: step.cpu_millis,
            netns_path: Some(netns_path),
            mounts,
            cgroups_path: format!("/{}/{id}", self.containerd.namespace()),
        })
    }

    /// Creates the container, its snapshot and its task, and starts it.
    /// Returns the PID and the pending wait, issued before the start so a
    /// fast exit is not missed.
    async fn create_and_start(
        &self,
        step: &ContainerStep,
        image: &ImageConfig,
        id: &str,
        spec: &serde_json::Value,
        pipes: &OutputPipes,
    ) -> Result<(u32, tokio::task::JoinHandle<Result<u32>>)> {
        let client = self.containerd.client();
        let mut labels = run_labels(&self.run_id);
        labels.insert("io.basso.step".to_string(), step.step_id.clone());
        let spec_bytes = serde_json::to_vec(spec)
            .map_err(|error| Error::new(format!("cannot encode runtime spec: {error}")))?;
        let container = Container {
            id: id.to_string(),
            labels: labels.clone(),
            image: image.name.clone(),
            runtime: Some(ContainerRuntime {
                name: "io.containerd.runc.v2".to_string(),
                options: None,
            }),
            spec: Some(Any {
                type_url: "types.containerd.io/opencontainers/runtime-spec/1/Spec".to_string(),
                value: spec_bytes,
            }),
            snapshotter: self.config.snapshotter.clone(),
            snapshot_key: id.to_string(),
            ..Container::default()
        };
        // The container comes first: its snapshot_key keeps the snapshot
        // safe from containerd's garbage collector.
        client
            .containers()
            .create(self.containerd.request(CreateContainerRequest {
                container: Some(container),
            }))
            .await
            .map_err(|status| Error::api("container create", id, status))?;
        let mounts = client
            .snapshots()
            .prepare(self.containerd.request(PrepareSnapshotRequest {
                snapshotter: self.config.snapshotter.clone(),
                key: id.to_string(),
                parent: image.chain_id.clone(),
                labels: labels.clone(),
            }))
            .await
            .map_err(|status| Error::api("snapshot prepare", id, status))?
            .into_inner()
            .mounts;

        // A path without a scheme is a named pipe that the shim opens for
        // writing.
        let [stdout, stderr] = pipes
            .paths
            .each_ref()
            .map(|path| path.display().to_string());
        let created = client
            .tasks()
            .create(self.containerd.request(CreateTaskRequest {
                container_id: id.to_string(),
                rootfs: mounts,
                stdout,
                stderr,
                ..CreateTaskRequest::default()
            }))
            .await
            .map_err(|status| Error::api("task create", id, status))?
            .into_inner();

        let mut tasks = client.tasks();
        let wait_request = self.containerd.request(WaitRequest {
            container_id: id.to_string(),
            exec_id: String::new(),
        });
        let wait_id = id.to_string();
        let wait = tokio::spawn(async move {
            tasks
                .wait(wait_request)
                .await
                .map(|response| response.into_inner().exit_status)
                .map_err(|status| Error::api("task wait", &wait_id, status))
        });
        client
            .tasks()
            .start(self.containerd.request(StartRequest {
                container_id: id.to_string(),
                exec_id: String::new(),
            }))
            .await
            .map_err(|status| Error::api("task start", id, status))?;
        Ok((created.pid, wait))
    }

    /// Forwards the container's output to the sink until the task ends,
    /// then records an OOM kill, deletes the container and publishes the
    /// exit.
    async fn watch(
        self: Arc<Self>,
        id: String,
        wait: tokio::task::JoinHandle<Result<u32>>,
        pipes: OutputPipes,
        logs: LogSink,
        memory_bytes: Option<i64>,
        sender: watch::Sender<Option<ContainerExit>>,
    ) {
        let OutputPipes {
            paths,
            readers,
            write_ends,
        } = pipes;
        let forwards = readers.map(|reader| {
            let logs = logs.clone();
            let (done, finished) = tokio::sync::oneshot::channel::<()>();
            // A thread, not a blocking task of the runtime, so that a read
            // that never ends cannot hold up the runtime's shutdown.
            std::thread::spawn(move || {
                forward_lines(reader, |line| logs(line));
                let _ = done.send(());
            });
            finished
        });
        let status = match wait.await {
            Ok(Ok(status)) => status,
            Ok(Err(error)) => {
                tracing::warn!(container_id = %id, %error, "waiting for the task failed");
                255
            }
            Err(_) => 255,
        };
        let oom_killed = oom_kill_count(self.containerd.namespace(), &id) > 0;
        // The shim may still be copying output when the exit arrives. Once
        // the task is deleted, the shim has closed its ends of the pipes,
        // and closing basso's own write ends lets the reads end.
        self.delete_task(&id).await;
        drop(write_ends);
        for finished in forwards {
            if tokio::time::timeout(OUTPUT_DRAIN_TIMEOUT, finished)
                .await
                .is_err()
            {
                tracing::warn!(
                    container_id = %id,
                    "the container's output did not end within {}s of the task's deletion; the rest of it is not shown",
                    OUTPUT_DRAIN_TIMEOUT.as_secs()
                );
            }
        }
        self.delete(&id).await;
        for path in &paths {
            let _ = std::fs::remove_file(path);
        }
        if let Ok(mut live) = self.live.lock() {
            live.remove(&id);
        }
        let _ = sender.send(Some(ContainerExit {
            status,
            oom_killed,
            memory_bytes,
        }));
    }

    async fn kill(&self, id: &str, signal: u32, all: bool) -> Result<()> {
        let request = self.containerd.request(KillRequest {
            container_id: id.to_string(),
            exec_id: String::new(),
            signal,
            all,
        });
        match self.containerd.client().tasks().kill(request).await {
            Ok(_) => Ok(()),
            Err(status) if status.code() == Code::NotFound => Ok(()),
            Err(status) => Err(Error::api("task kill", id, status)),
        }
    }

    /// Stops the container whose PID 1 is `pid`: SIGTERM once, then
    /// SIGKILL to all its processes once `deadline` passes.
    async fn stop(
        &self,
        id: &str,
        pid: u32,
        mut exit: watch::Receiver<Option<ContainerExit>>,
        deadline: &StopDeadline,
    ) -> Result<ContainerExit> {
        if let Some(ended) = *exit.borrow() {
            return Ok(ended);
        }
        let ended_in_grace = match self.terminate(id, pid, &mut exit, deadline).await {
            Ok(ended) => ended,
            Err(error) => return exit_after_failed_kill(&mut exit, error).await,
        };
        if !ended_in_grace {
            tracing::warn!(
                container_id = id,
                "sent SIGKILL to the container, which was still running"
            );
            if let Err(error) = self.kill(id, 9, true).await {
                return exit_after_failed_kill(&mut exit, error).await;
            }
        }
        let ended = exit
            .wait_for(Option::is_some)
            .await
            .map_err(|_| Error::new(format!("the exit watcher of `{id}` stopped")))?;
        ended.ok_or_else(|| Error::new(format!("container `{id}` has no exit status")))
    }

    /// Sends SIGTERM to the container's PID 1 once and waits until the
    /// container ends or `deadline` passes. Returns whether it ended.
    ///
    /// tini forwards every SIGTERM to the step's whole process group, so a
    /// second one would interrupt a shutdown trap. `docker stop` and the
    /// kubelet also send only one. The exception is a PID 1 that could not
    /// receive the first one: the kernel discards a SIGTERM that the init
    /// process of a PID namespace neither catches nor blocks, as happens
    /// while that process is still starting. Such a PID 1 gets SIGTERM once
    /// more as soon as it can receive it, checked every
    /// [`SIGNAL_READY_POLL`].
    async fn terminate(
        &self,
        id: &str,
        pid: u32,
        exit: &mut watch::Receiver<Option<ContainerExit>>,
        deadline: &StopDeadline,
    ) -> Result<bool> {
        if deadline.passed() {
            return Ok(false);
        }
        // A PID 1 whose status cannot be read counts as receiving it.
        // NOTE: a SIGTERM sent while the container's setup still blocks
        // signals stays pending. A shell that then unblocks it without a
        // handler discards it, so such a stop ends with SIGKILL at the
        // deadline.
        let mut resend = !accepts_sigterm(pid).unwrap_or(true);
        self.kill(id, 15, false).await?;
        while !deadline.passed() {
            // Short waits, so that a second Ctrl-C, which makes the deadline
            // pass at once, is seen within one of them.
            let poll = if resend {
                SIGNAL_READY_POLL
            } else {
                KILL_NOW_POLL
            };
            let slice = deadline.remaining().min(poll);
            let ended = tokio::time::timeout(slice, exit.wait_for(Option::is_some))
                .await
                .is_ok();
            if ended {
                return Ok(true);
            }
            if resend && accepts_sigterm(pid) == Some(true) {
                tracing::debug!(
                    container_id = id,
                    pid,
                    "sending SIGTERM again: PID 1 could not receive the first one"
                );
                self.kill(id, 15, false).await?;
                resend = false;
            }
        }
        Ok(false)
    }

    async fn stop_all(self: Arc<Self>, grace: Duration) -> Result<()> {
        let live: Vec<(String, LiveContainer)> = match self.live.lock() {
            Ok(live) => live
                .iter()
                .map(|(id, container)| (id.clone(), container.clone()))
                .collect(),
            Err(_) => return Err(Error::new("container registry lock poisoned")),
        };
        // One deadline for every container, so that they share one grace
        // period.
        let deadline = StopDeadline::after(grace);
        let mut stops = tokio::task::JoinSet::new();
        for (id, container) in live {
            let inner = Arc::clone(&self);
            let deadline = deadline.clone();
            stops.spawn(async move {
                inner
                    .stop(&id, container.pid, container.exit, &deadline)
                    .await
            });
        }
        let mut first_error = None;
        while let Some(result) = stops.join_next().await {
            if let Ok(Err(error)) = result {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn delete_task(&self, id: &str) {
        let request = self.containerd.request(DeleteTaskRequest {
            container_id: id.to_string(),
        });
        let deleted = self.containerd.client().tasks().delete(request).await;
        if let Err(status) = deleted.filter_not_found() {
            tracing::warn!(
                container_id = id,
                error = status.message(),
                "task delete failed"
            );
        }
    }

    /// Deletes the task, the container and its snapshot; what is already
    /// gone is skipped.
    async fn delete(&self, id: &str) {
        let client = self.containerd.client();
        self.delete_task(id).await;
        let container = client
            .containers()
            .delete(
                self.containerd
                    .request(DeleteContainerRequest { id: id.to_string() }),
            )
            .await;
        let snapshot = client
            .snapshots()
            .remove(self.containerd.request(RemoveSnapshotRequest {
                snapshotter: self.config.snapshotter.clone(),
                key: id.to_string(),
            }))
            .await;
        if let Err(status) = container.filter_not_found() {
            tracing::warn!(
                container_id = id,
                error = status.message(),
                "container delete failed"
            );
        }
        if let Err(status) = snapshot.filter_not_found() {
            tracing::warn!(
                container_id = id,
                error = status.message(),
                "snapshot remove failed"
            );
        }
    }
}

fn remove_script(path: Option<&Path>) {
    if let Some(path) = path {
        let _ = std::fs::remove_file(path);
    }
}

/// Treats "not found" as success, for deletes of what may be gone already.
trait FilterNotFound {
    fn filter_not_found(self) -> Result<(), tonic::Status>;
}

impl<T> FilterNotFound for Result<T, tonic::Status> {
    fn filter_not_found(self) -> Result<(), tonic::Status> {
        match self {
            Ok(_) => Ok(()),
            Err(status) if status.code() == Code::NotFound => Ok(()),
            Err(status) => Err(status),
        }
    }
}

/// Parses an image `User` of the form `uid` or `uid:gid`; empty is root.
fn parse_image_user(user: &str) -> Option<(u32, u32)> {
    if user.is_empty() || user == "root" {
        return Some((0, 0));
    }
    let (uid, gid) = user.split_once(':').unwrap_or((user, "0"));
    Some((uid.parse().ok()?, gid.parse().ok()?))
}

/// Host names allow letters, digits and `-`; Harness ids also allow `_` and `$`.
fn sanitize_hostname(step_id: &str) -> String {
    let name: String = step_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    if name.is_empty() {
        "step".to_string()
    } else {
        name
    }
}

/// Reads the kernel's OOM kill counter of a container's memory cgroup
/// (`oom_kill` in `memory.oom_control` for cgroup v1, in `memory.events` for
/// v2). Must run before the task is deleted, which removes the cgroup.
fn oom_kill_count(namespace: &str, id: &str) -> u64 {
    let v1 = format!("/sys/fs/cgroup/memory/{namespace}/{id}/memory.oom_control");
    let v2 = format!("/sys/fs/cgroup/{namespace}/{id}/memory.events");
    for path in [v1, v2] {
        if let Ok(text) = std::fs::read_to_string(&path) {
            return text
                .lines()
                .find_map(|line| line.strip_prefix("oom_kill "))
                .and_then(|count| count.trim().parse().ok())
                .unwrap_or(0);
        }
    }
    0
}

/// How long the output of a deleted task may take to reach its end.
const OUTPUT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The named pipes that a container's stdout and stderr go through, in the
/// executor's state folder, with basso's ends. The shim copies each stream
/// into its own pipe, so neither stream can close the other's, and nothing
/// of the output reaches the disk.
struct OutputPipes {
    paths: [PathBuf; 2],
    readers: [std::fs::File; 2],
    /// basso's write ends. While they are open, a read waits for output
    /// instead of ending before the shim opens its end or between two of
    /// its writes.
    write_ends: [std::fs::File; 2],
}

impl OutputPipes {
    /// Creates the pipes `ID.stdout` and `ID.stderr` in `dir`, readable and
    /// writable by root only, and opens basso's ends.
    fn create(dir: &Path, id: &str) -> Result<OutputPipes> {
        let paths = ["stdout", "stderr"].map(|stream| dir.join(format!("{id}.{stream}")));
        let open = |path: &PathBuf| {
            open_pipe(path).map_err(|error| {
                Error::io("creating output pipe", &path.display().to_string(), error)
            })
        };
        let opened = open(&paths[0]).and_then(|stdout| Ok((stdout, open(&paths[1])?)));
        let ((stdout, stdout_write_end), (stderr, stderr_write_end)) = match opened {
            Ok(ends) => ends,
            Err(error) => {
                for path in &paths {
                    let _ = std::fs::remove_file(path);
                }
                return Err(error);
            }
        };
        Ok(OutputPipes {
            paths,
            readers: [stdout, stderr],
            write_ends: [stdout_write_end, stderr_write_end],
        })
    }

    /// Closes basso's ends and removes the pipes.
    fn remove(self) {
        for path in &self.paths {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Creates the named pipe `path` and returns its read end, in blocking mode,
/// and a write end.
fn open_pipe(path: &Path) -> std::io::Result<(std::fs::File, std::fs::File)> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    use nix::sys::stat::Mode;

    nix::unistd::mkfifo(path, Mode::S_IRUSR | Mode::S_IWUSR)?;
    // Opening the read end without O_NONBLOCK would wait for a writer.
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(OFlag::O_NONBLOCK.bits())
        .open(path)?;
    let write_end = std::fs::OpenOptions::new().write(true).open(path)?;
    fcntl(&reader, FcntlArg::F_SETFL(OFlag::empty()))?;
    Ok((reader, write_end))
}

/// Returns the task's exit status if it arrives within a second of a failed
/// kill, and the kill's error otherwise. A kill fails when the task has just
/// exited, and its exit event can reach the watcher a moment later.
async fn exit_after_failed_kill(
    exit: &mut watch::Receiver<Option<ContainerExit>>,
    error: Error,
) -> Result<ContainerExit> {
    let arrived =
        tokio::time::timeout(Duration::from_secs(1), exit.wait_for(Option::is_some)).await;
    match arrived {
        Ok(Ok(ended)) => ended.ok_or(error),
        _ => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_user_forms() {
        assert_eq!(parse_image_user(""), Some((0, 0)));
        assert_eq!(parse_image_user("1000"), Some((1000, 0)));
        assert_eq!(parse_image_user("1000:1000"), Some((1000, 1000)));
        assert_eq!(parse_image_user("ci"), None);
    }

    #[test]
    fn hostname_replaces_underscore() {
        assert_eq!(sanitize_hostname("my_service$1"), "my-service-1");
    }

    #[test]
    fn output_pipes_carry_each_stream() {
        use std::os::unix::fs::FileTypeExt;

        let dir = tempfile::tempdir().unwrap();
        let pipes = OutputPipes::create(dir.path(), "c").unwrap();
        // The shim's ends, opened as it opens them.
        let mut writers = pipes
            .paths
            .each_ref()
            .map(|path| std::fs::OpenOptions::new().write(true).open(path).unwrap());
        writeln!(writers[0], "out 1\nout 2").unwrap();
        write!(writers[1], "err without a newline").unwrap();
        drop(writers);
        let OutputPipes {
            paths,
            readers,
            write_ends,
        } = pipes;
        drop(write_ends);
        let [stdout, stderr] = readers.map(|reader| {
            let mut lines = Vec::new();
            forward_lines(reader, |line| lines.push(line.to_string()));
            lines
        });

        assert_eq!(stdout, ["out 1", "out 2"]);
        assert_eq!(stderr, ["err without a newline"]);
        for path in &paths {
            let metadata = std::fs::metadata(path).unwrap();
            assert!(metadata.file_type().is_fifo(), "{}", path.display());
            assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn output_pipe_read_waits_for_writer() {
        let dir = tempfile::tempdir().unwrap();
        let pipes = OutputPipes::create(dir.path(), "c").unwrap();
        let OutputPipes {
            paths,
            readers,
            write_ends,
        } = pipes;
        let [stdout, _] = readers;
        let (sender, received) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            forward_lines(stdout, |line| sender.send(line.to_string()).unwrap());
        });

        // No writer but basso's own has opened the pipe yet.
        assert_eq!(
            received.recv_timeout(Duration::from_millis(200)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout)
        );
        let mut writer = std::fs::OpenOptions::new()
            .write(true)
            .open(&paths[0])
            .unwrap();
        writeln!(writer, "late").unwrap();
        drop(writer);
        assert_eq!(
            received.recv_timeout(Duration::from_secs(5)).unwrap(),
            "late"
        );
        drop(write_ends);
    }
}
