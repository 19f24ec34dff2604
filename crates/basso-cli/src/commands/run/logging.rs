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

/// Sets `cancel` on SIGINT and SIGTERM. A second signal only sets the flag
/// again, so it does not cut the cleanup short.
pub fn cancel_on_signals() -> Result<Arc<AtomicBool>, String> {
    let cancel = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, cancel.clone())
            .map_err(|error| format!("cannot handle signal {signal}: {error}"))?;
    }
    Ok(cancel)
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
