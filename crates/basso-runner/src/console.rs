//! The console: every line basso prints while a stage runs goes through
//! here, so that each one is masked, prefixed with its step id and, on a
//! terminal, coloured and kept below a live progress line.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::secrets::Masker;

/// ANSI colours cycled over step ids on a terminal.
const COLOURS: [&str; 6] = ["36", "33", "35", "32", "34", "31"];

/// The output stream for log lines, with masking and optional colour and
/// progress.
pub struct Console {
    out: Mutex<ConsoleState>,
    masker: Mutex<Masker>,
    terminal: bool,
}

struct ConsoleState {
    writer: Box<dyn Write + Send>,
    running: Vec<(String, Instant)>,
    status_shown: bool,
    colours: Vec<String>,
}

impl Console {
    /// Creates a console writing to `writer`. `terminal` turns on colour and
    /// the progress line.
    pub fn new(writer: Box<dyn Write + Send>, terminal: bool) -> Console {
        Console {
            out: Mutex::new(ConsoleState {
                writer,
                running: Vec::new(),
                status_shown: false,
                colours: Vec::new(),
            }),
            masker: Mutex::new(Masker::default()),
            terminal,
        }
    }

    /// Creates a console that appends plain lines to `buffer`, for tests.
    pub fn memory(buffer: Arc<Mutex<Vec<u8>>>) -> Console {
        Console::new(Box::new(SharedBuffer(buffer)), false)
    }

    /// Replaces the masker, once the secret values are known.
    pub fn set_masker(&self, masker: Masker) {
        *self.masker.lock().expect("masker lock") = masker;
    }

    /// Returns `text` with every secret value masked.
    pub fn mask(&self, text: &str) -> String {
        self.masker.lock().expect("masker lock").mask(text)
    }

    /// Prints one output line of step `step_id`.
    pub fn step_line(&self, step_id: &str, line: &str) {
        let masked = self.mask(line);
        let mut state = self.out.lock().expect("console lock");
        let prefix = if self.terminal {
            let colour = state.colour_of(step_id);
            format!("\x1b[{colour}m{step_id}\x1b[0m |")
        } else {
            format!("{step_id} |")
        };
        state.print(self.terminal, &format!("{prefix} {masked}\n"));
    }

    /// Prints text that is already formatted (log events), masked.
    pub fn write_text(&self, text: &str) {
        let masked = self.mask(text);
        let mut state = self.out.lock().expect("console lock");
        state.print(self.terminal, &masked);
    }

    /// Marks a step as running for the progress line.
    pub fn step_started(&self, step_id: &str) {
        let mut state = self.out.lock().expect("console lock");
        state.running.push((step_id.to_string(), Instant::now()));
        state.print(self.terminal, "");
    }

    /// Removes a step from the progress line.
    pub fn step_finished(&self, step_id: &str) {
        let mut state = self.out.lock().expect("console lock");
        state.running.retain(|(id, _)| id != step_id);
        state.print(self.terminal, "");
    }

    /// Redraws the progress line; a no-op off a terminal.
    pub fn tick(&self) {
        if self.terminal {
            self.out.lock().expect("console lock").print(true, "");
        }
    }

    /// Removes the progress line before the program prints its summary.
    pub fn clear_progress(&self) {
        let mut state = self.out.lock().expect("console lock");
        state.running.clear();
        state.print(self.terminal, "");
    }
}

impl ConsoleState {
    fn colour_of(&mut self, step_id: &str) -> &'static str {
        let index = match self.colours.iter().position(|id| id == step_id) {
            Some(index) => index,
            None => {
                self.colours.push(step_id.to_string());
                self.colours.len() - 1
            }
        };
        COLOURS[index % COLOURS.len()]
    }

    fn print(&mut self, terminal: bool, text: &str) {
        if terminal && self.status_shown {
            let _ = self.writer.write_all(b"\r\x1b[K");
            self.status_shown = false;
        }
        let _ = self.writer.write_all(text.as_bytes());
        if terminal && !self.running.is_empty() {
            let now = Instant::now();
            let steps: Vec<String> = self
                .running
                .iter()
                .map(|(id, started)| format!("{id} {}s", now.duration_since(*started).as_secs()))
                .collect();
            let status = format!("\x1b[2mrunning: {}\x1b[0m", steps.join(", "));
            let _ = self.writer.write_all(status.as_bytes());
            self.status_shown = true;
        }
        let _ = self.writer.flush();
    }
}

struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("buffer lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
