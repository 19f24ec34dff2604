//! Background services of one stage: started detached, watched for early
//! exits, waited on until their ports accept connections, and stopped when
//! the stage ends.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::console::Console;
use crate::executor::{Exit, StopDeadline, Task};
use crate::plan::StepPlan;
use crate::runner::humantime;
use crate::state::Status;
use crate::summary::epoch_millis;

/// How a service ended, for its step result.
#[derive(Debug)]
pub struct ServiceOutcome {
    /// Where the service's result sits in the stage's results.
    pub result_index: usize,
    /// The service step.
    pub step: StepPlan,
    /// `SUCCEEDED` when it ran until the stage stopped it or exited with 0,
    /// the [`EarlyStop`] status when the stage stopped early, `FAILED` when
    /// it crashed or could not be stopped.
    pub status: Status,
    /// The exit code when the service exited by itself.
    pub exit_code: Option<i32>,
    /// Why it failed, or the warning for an early exit with code 0.
    pub message: Option<String>,
    /// How long the service ran.
    pub duration: Duration,
    /// When it ended, in milliseconds since the Unix epoch.
    pub finished_at_ms: u128,
}

/// The cause of stopping a stage's services before the stage ends by
/// itself: an interrupted run (`ABORTED`) or a stage or pipeline timeout
/// (`EXPIRED`).
#[derive(Clone, Debug)]
pub struct EarlyStop {
    /// The status the services stopped now get.
    pub status: Status,
    /// The message the services stopped now get.
    pub message: String,
}

/// How a service ended, before it is matched with its result.
struct Ended {
    status: Status,
    exit_code: Option<i32>,
    message: Option<String>,
    duration: Duration,
    finished_at_ms: u128,
}

struct Entry {
    step: StepPlan,
    task: Box<dyn Task>,
    tail: Arc<Mutex<VecDeque<String>>>,
    /// `portBindings` as (host port, container port).
    ports: Vec<(u16, u16)>,
    ready: bool,
    started: Instant,
    result_index: usize,
    outcome: Option<Ended>,
    /// Whether watching the task failed and was logged.
    unwatched: bool,
}

/// The services of one stage.
pub struct Services {
    grace: Duration,
    entries: Mutex<Vec<Entry>>,
}

impl Services {
    /// Creates an empty set; `grace` is the time between SIGTERM and SIGKILL.
    pub fn new(grace: Duration) -> Services {
        Services {
            grace,
            entries: Mutex::new(Vec::new()),
        }
    }

    /// Adds a started service.
    pub fn add(
        &self,
        step: StepPlan,
        task: Box<dyn Task>,
        tail: Arc<Mutex<VecDeque<String>>>,
        ports: Vec<(u16, u16)>,
        result_index: usize,
    ) {
        self.entries.lock().expect("services lock").push(Entry {
            step,
            task,
            tail,
            ports,
            ready: false,
            started: Instant::now(),
            result_index,
            outcome: None,
            unwatched: false,
        });
    }

    /// Looks for services that exited. A non-zero exit calls `on_failure`
    /// and is logged with the service's last lines; exit 0 is a warning.
    pub fn check(&self, console: &Console, on_failure: impl Fn()) {
        if self.record_exits(None, console) {
            on_failure();
        }
    }

    /// Records the exit of every service that exited since the last look,
    /// except service `except`, and returns whether one of them failed. A
    /// service that cannot be watched is logged once.
    fn record_exits(&self, except: Option<usize>, console: &Console) -> bool {
        let mut entries = self.entries.lock().expect("services lock");
        let mut failed = false;
        for (index, entry) in entries.iter_mut().enumerate() {
            if Some(index) == except || entry.outcome.is_some() {
                continue;
            }
            match entry.task.wait(Duration::ZERO) {
                Ok(Some(exit)) => failed |= record_exit(entry, exit, console),
                Ok(None) => {}
                Err(error) if !entry.unwatched => {
                    tracing::warn!(step_id = %entry.step.path(), "cannot watch service: {error}");
                    entry.unwatched = true;
                }
                Err(_) => {}
            }
        }
        failed
    }

    /// Waits until the ports of every service not yet known to be ready
    /// accept connections on 127.0.0.1, or until `stop` returns true (an
    /// interrupted run, a stage or pipeline timeout). Returns whether a
    /// service failed (it exited or did not open its ports in time). The
    /// first failure ends the wait, because it fails the stage: a later step
    /// that still runs, such as one with `stageStatus: All`, waits again for
    /// the services not yet ready.
    pub fn wait_ready(
        &self,
        default_timeout: Duration,
        stop: &dyn Fn() -> bool,
        console: &Console,
    ) -> bool {
        let count = self.entries.lock().expect("services lock").len();
        (0..count).any(|index| !self.wait_one(index, default_timeout, stop, console))
    }

    fn wait_one(
        &self,
        index: usize,
        default_timeout: Duration,
        stop: &dyn Fn() -> bool,
        console: &Console,
    ) -> bool {
        let (id, ports, timeout, exited) = {
            let mut entries = self.entries.lock().expect("services lock");
            let entry = &mut entries[index];
            // A service that exited with 0 before its ports were ready fails
            // below.
            let exited = entry
                .outcome
                .as_ref()
                .is_some_and(|ended| ended.status == Status::Succeeded);
            if entry.ready || (entry.outcome.is_some() && !exited) {
                return true;
            }
            let id = entry.step.path();
            if entry.ports.is_empty() {
                if !exited {
                    tracing::info!(step_id = %id, "service has no port bindings; not waiting for it");
                }
                entry.ready = true;
                return true;
            }
            (
                id,
                entry.ports.clone(),
                entry.step.timeout.unwrap_or(default_timeout),
                exited,
            )
        };

        let port_list = describe_ports(&ports);
        tracing::info!(step_id = %id, "waiting for service to accept connections on port {port_list} (timeout {})", humantime(timeout));
        let started = Instant::now();
        loop {
            if self.accepts_connections(index, &ports) {
                tracing::info!(step_id = %id, "service ready on port {port_list} after {:.1}s", started.elapsed().as_secs_f64());
                self.entries.lock().expect("services lock")[index].ready = true;
                return true;
            }
            if stop() {
                return true;
            }
            // Another service that crashed fails the stage, so waiting for
            // this one's ports would only delay that.
            if self.other_failed(index, console) {
                return false;
            }

            let mut entries = self.entries.lock().expect("services lock");
            let entry = &mut entries[index];
            // The executors stop what a service leaves running when its
            // process exits, so nothing opens the ports after that.
            let exit = match entry.task.wait(Duration::ZERO) {
                Ok(Some(exit)) => Some(exit),
                _ if exited => Some(Exit::Code(0)),
                _ => None,
            };
            if let Some(exit) = exit {
                if !exit.success() {
                    if !exited {
                        record_exit(entry, exit, console);
                    }
                    return false;
                }
                let message = format!(
                    "service exited with code 0 before it accepted connections on port {port_list}{}\nhelp: {FOREGROUND_HELP}",
                    last_lines(&entry.tail)
                );
                tracing::error!(step_id = %id, "{}", console.mask(&message));
                entry.outcome = Some(outcome(entry, Status::Failed, Some(0), Some(message)));
                return false;
            }
            if started.elapsed() >= timeout {
                // Only the ports that still refuse connections get a hint.
                let hints: Vec<String> = ports
                    .iter()
                    .filter(|&&(port, _)| entry.task.accepts_connections(port) != Some(true))
                    .filter_map(|&(port, _)| entry.task.readiness_hint(port))
                    .map(|hint| format!("\nhelp: {hint}"))
                    .collect();
                let message = format!(
                    "service did not accept connections on port {port_list} within {}{}{}",
                    humantime(timeout),
                    last_lines(&entry.tail),
                    hints.concat()
                );
                tracing::error!(step_id = %id, "{}", console.mask(&message));
                entry.outcome = Some(outcome(entry, Status::Failed, None, Some(message)));
                let _ = entry.task.stop(&StopDeadline::after(self.grace));
                return false;
            }
            drop(entries);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Looks for services other than `index` that exited, as [`Services::check`]
    /// does, and returns whether one of them failed now. A failure found
    /// before has already made the stage fail, and a step that runs anyway,
    /// such as one with `stageStatus: All`, still waits for the ports.
    fn other_failed(&self, index: usize, console: &Console) -> bool {
        self.record_exits(Some(index), console)
    }

    /// Returns whether service `index` accepts connections on every port in
    /// `ports`, asking its executor first.
    fn accepts_connections(&self, index: usize, ports: &[(u16, u16)]) -> bool {
        let entries = self.entries.lock().expect("services lock");
        let task = &entries[index].task;
        ports.iter().all(|&(port, _)| {
            task.accepts_connections(port)
                .unwrap_or_else(|| crate::ports::accepts(port))
        })
    }

    /// Returns the step path and status of every service that has ended,
    /// as far as the last look found.
    pub fn ended(&self) -> Vec<(String, Status)> {
        let entries = self.entries.lock().expect("services lock");
        entries
            .iter()
            .filter_map(|entry| Some((entry.step.path(), entry.outcome.as_ref()?.status)))
            .collect()
    }

    /// Returns how many services still run, as far as the last look found.
    pub fn running(&self) -> usize {
        let entries = self.entries.lock().expect("services lock");
        entries
            .iter()
            .filter(|entry| entry.outcome.is_none())
            .count()
    }

    /// Stops every service that still runs, all at once: each gets SIGTERM
    /// (to its process group) now and SIGKILL when `deadline` passes. The
    /// services stopped now succeed, unless `early` gives them another
    /// status because the stage did not end by itself. A service that
    /// cannot be stopped is failed with the reason.
    pub fn stop_running(
        &self,
        deadline: &StopDeadline,
        console: &Console,
        early: Option<&EarlyStop>,
    ) {
        self.check(console, || {});
        let mut entries = self.entries.lock().expect("services lock");
        // One thread per service, so that each waits out the same grace
        // period instead of one after the other.
        std::thread::scope(|scope| {
            for entry in entries.iter_mut() {
                scope.spawn(|| stop_entry(entry, deadline, console, early));
            }
        });
    }

    /// Stops every service that still runs (see [`Services::stop_running`])
    /// and returns how each one ended.
    pub fn stop_all(
        &self,
        deadline: &StopDeadline,
        console: &Console,
        early: Option<&EarlyStop>,
    ) -> Vec<ServiceOutcome> {
        self.stop_running(deadline, console, early);
        let mut entries = self.entries.lock().expect("services lock");
        let mut outcomes = Vec::new();
        for mut entry in entries.drain(..) {
            console.step_finished(&entry.step.path());
            let ended = entry
                .outcome
                .take()
                .expect("stop_running sets every outcome");
            outcomes.push(ServiceOutcome {
                result_index: entry.result_index,
                step: entry.step,
                status: ended.status,
                exit_code: ended.exit_code,
                message: ended.message,
                duration: ended.duration,
                finished_at_ms: ended.finished_at_ms,
            });
        }
        outcomes
    }
}

/// Stops one service unless it has ended, and records its outcome.
fn stop_entry(
    entry: &mut Entry,
    deadline: &StopDeadline,
    console: &Console,
    early: Option<&EarlyStop>,
) {
    // A service that exited since `check` is judged by its own exit status.
    // NOTE: an exit in the moment between this look and the SIGTERM still
    // counts as stopped, because the exit status cannot tell the two apart.
    if entry.outcome.is_none()
        && let Ok(Some(exit)) = entry.task.wait(Duration::ZERO)
    {
        record_exit(entry, exit, console);
    }
    if entry.outcome.is_some() {
        return;
    }

    let stopped = entry.task.stop(deadline);
    tracing::info!(step_id = %entry.step.path(), pid = entry.task.pid(), "stopped service");
    let (status, message) = match stopped {
        // A service left running keeps its ports and files, so the stage
        // must not read as a clean success.
        Err(error) => {
            let message = format!("cannot stop service: {error}");
            tracing::error!(step_id = %entry.step.path(), "{}", console.mask(&message));
            (Status::Failed, Some(message))
        }
        Ok(exit) => match early {
            Some(early) => (early.status, Some(early.message.clone())),
            None if own_failure(exit) => {
                let message = format!(
                    "service ended with {exit} when the stage stopped it: it failed on its own \
                     or exited with an error on SIGTERM{}",
                    last_lines(&entry.tail)
                );
                tracing::error!(step_id = %entry.step.path(), "{}", console.mask(&message));
                let code = match exit {
                    Exit::Code(code) => Some(code),
                    Exit::Signal(_) => None,
                };
                entry.outcome = Some(outcome(entry, Status::Failed, code, Some(message)));
                return;
            }
            None => (Status::Succeeded, None),
        },
    };
    entry.outcome = Some(outcome(entry, status, None, message));
}

/// Returns whether `exit`, the status of a service that got SIGTERM and
/// maybe SIGKILL, is a failure of the service's own: an exit code other than
/// 0 and the 143 and 137 that shells give for those signals. Such a service
/// exited with an error just before the signal, or handled it with one.
fn own_failure(exit: Exit) -> bool {
    matches!(exit, Exit::Code(code) if !matches!(code, 0 | 137 | 143))
}

/// The fix for a service that starts a daemon and exits, whose daemon
/// basso stops with it.
const FOREGROUND_HELP: &str = "run the service in the foreground, such as `redis-server --daemonize no` or `postgres -D DIR` in place of `pg_ctl start`";

/// Records a service's own exit; returns whether it fails the stage.
fn record_exit(entry: &mut Entry, exit: Exit, console: &Console) -> bool {
    let id = entry.step.path();
    let code = match exit {
        Exit::Code(code) => Some(code),
        Exit::Signal(_) => None,
    };
    if exit.success() {
        let message = if entry.ports.is_empty() {
            "service exited with code 0 before the stage ended".to_string()
        } else {
            // A daemon it started is stopped with it, as every process a
            // step leaves behind is.
            format!(
                "service exited with code 0 before the stage ended, and basso stopped the processes it left running, so port {} is closed; help: {FOREGROUND_HELP}",
                describe_ports(&entry.ports)
            )
        };
        tracing::warn!(step_id = %id, "{message}");
        entry.outcome = Some(outcome(entry, Status::Succeeded, code, Some(message)));
        return false;
    }
    let message = format!(
        "service exited with {exit} before the stage ended{}",
        last_lines(&entry.tail)
    );
    tracing::error!(step_id = %id, "{}", console.mask(&message));
    entry.outcome = Some(outcome(entry, Status::Failed, code, Some(message)));
    true
}

fn outcome(
    entry: &Entry,
    status: Status,
    exit_code: Option<i32>,
    message: Option<String>,
) -> Ended {
    Ended {
        status,
        exit_code,
        message,
        duration: entry.started.elapsed(),
        finished_at_ms: epoch_millis(SystemTime::now()),
    }
}

fn last_lines(tail: &Mutex<VecDeque<String>>) -> String {
    let tail = tail.lock().expect("tail lock");
    if tail.is_empty() {
        return "; it printed nothing".to_string();
    }
    let lines: Vec<&str> = tail.iter().map(String::as_str).collect();
    format!("; last lines:\n  {}", lines.join("\n  "))
}

/// Lists `ports`, (host port, container port) pairs, for the readiness
/// messages. A container's executor connects to the container port in the
/// container's own network, so a pair with two ports names the container
/// port with its host binding: `8080 (host port 18922)`.
fn describe_ports(ports: &[(u16, u16)]) -> String {
    ports
        .iter()
        .map(|&(host, container)| {
            if host == container {
                container.to_string()
            } else {
                format!("{container} (host port {host})")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::describe_ports;

    #[test]
    fn ports_named_with_host_binding() {
        assert_eq!(describe_ports(&[(8080, 8080)]), "8080");
        assert_eq!(
            describe_ports(&[(18922, 8080), (5432, 5432)]),
            "8080 (host port 18922), 5432"
        );
    }
}
