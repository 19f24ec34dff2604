//! Output setup of `basso run`: `tracing` events and step output go
//! through one [`Console`] on stderr, which masks secrets and keeps the
//! progress line on a terminal.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use basso_runner::Console;

/// Creates the stderr console; colour and progress only on a terminal.
pub fn console() -> Arc<Console> {
    let terminal = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    Arc::new(Console::new(Box::new(std::io::stderr()), terminal))
}

/// Routes `tracing` events at info level and above (debug with
/// `BASSO_LOG=debug`) into `console`.
pub fn install(console: Arc<Console>) {
    let level = match std::env::var("BASSO_LOG").as_deref() {
        Ok("debug") => tracing::Level::DEBUG,
        Ok("trace") => tracing::Level::TRACE,
        _ => tracing::Level::INFO,
    };
    let terminal = std::io::stderr().is_terminal();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || ConsoleWriter(console.clone()))
        .with_max_level(level)
        .with_ansi(terminal)
        .with_target(false)
        .without_time()
        .compact()
        .finish();
    let _ = tracing::subscriber::set_global_default(subscriber);
}

struct ConsoleWriter(Arc<Console>);

impl Write for ConsoleWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.write_text(&String::from_utf8_lossy(bytes));
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The flags that SIGINT, SIGTERM and SIGHUP set while `basso run` runs.
pub struct Interrupts {
    /// Set by the first signal: the runner stops its steps and services,
    /// which get SIGTERM and a grace period before SIGKILL.
    pub cancel: Arc<AtomicBool>,
    /// Set by the second signal: what still runs gets SIGKILL at once.
    pub kill_now: Arc<AtomicBool>,
}

/// Starts the thread that turns SIGINT, SIGTERM and SIGHUP (a closed
/// terminal or a dropped SSH session) into [`Interrupts`]: the first signal
/// sets `cancel`, the second `kill_now`, and later ones change nothing.
pub fn handle_signals() -> Result<Interrupts, String> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

    // A run started with `nohup` inherits SIGHUP ignored, and keeps it so.
    let handled: &[i32] = if sighup_ignored() {
        &[SIGINT, SIGTERM]
    } else {
        &[SIGINT, SIGTERM, SIGHUP]
    };
    let mut signals = signal_hook::iterator::Signals::new(handled)
        .map_err(|error| format!("cannot handle SIGINT, SIGTERM and SIGHUP: {error}"))?;
    let interrupts = Interrupts {
        cancel: Arc::new(AtomicBool::new(false)),
        kill_now: Arc::new(AtomicBool::new(false)),
    };
    let cancel = interrupts.cancel.clone();
    let kill_now = interrupts.kill_now.clone();
    std::thread::Builder::new()
        .name("basso-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                let name = match signal {
                    SIGINT => "SIGINT",
                    SIGHUP => "SIGHUP",
                    _ => "SIGTERM",
                };
                if !cancel.swap(true, Ordering::SeqCst) {
                    tracing::warn!(
                        "received {name}: stopping the run; send it again to kill what still runs at once"
                    );
                    continue;
                }
                if !kill_now.swap(true, Ordering::SeqCst) {
                    tracing::warn!(
                        "received {name} again: sending SIGKILL to the processes still running without waiting for the rest of the grace period"
                    );
                }
            }
        })
        .map_err(|error| format!("cannot start the signal thread: {error}"))?;
    Ok(interrupts)
}

/// Returns whether this process ignores SIGHUP, as under `nohup`: bit 0
/// (signal 1) of the `SigIgn` mask in `/proc/self/status`.
fn sighup_ignored() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("SigIgn:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & 1 == 1)
}

/// Redraws the progress line twice a second until `done` is set.
pub fn start_ticker(console: Arc<Console>, done: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        while !done.load(Ordering::SeqCst) {
            console.tick();
            std::thread::sleep(Duration::from_millis(500));
        }
    });
}
