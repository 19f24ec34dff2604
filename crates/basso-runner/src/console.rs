//! The console: every line basso prints while a stage runs goes through
//! here, so that each one is masked, prefixed with its step id and, on a
//! terminal, coloured and kept below a live progress line.
//!
//! A writer thread does the actual writes from a bounded queue. While the
//! stream is blocked, callers wait for room in the queue. Once the run is
//! cancelled they drop their text instead, so a blocked stderr cannot keep
//! basso from stopping (see [`Console::set_cancel`]).

use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::secrets::Masker;

/// ANSI colours cycled over step ids on a terminal.
const COLOURS: [&str; 6] = ["36", "33", "35", "32", "34", "31"];

/// Maximum bytes queued for the writer thread; callers wait beyond it.
const MAX_QUEUED_BYTES: usize = 1 << 20;

/// How often a caller waiting for room in the queue looks at cancellation.
const CANCEL_POLL: Duration = Duration::from_millis(50);

/// How long [`Console::flush`] waits for a blocked stream after
/// cancellation.
const CANCELLED_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// The output stream for log lines, with masking and optional colour and
/// progress.
pub struct Console {
    out: Mutex<ConsoleState>,
    queue: Arc<Queue>,
    masker: Mutex<Masker>,
    terminal: bool,
    cancel: OnceLock<Arc<AtomicBool>>,
}

struct ConsoleState {
    running: Vec<(String, Instant)>,
    status_shown: bool,
    colours: Vec<String>,
}

/// Text waiting for the writer thread.
struct Queue {
    state: Mutex<QueueState>,
    changed: Condvar,
}

#[derive(Default)]
struct QueueState {
    chunks: VecDeque<Vec<u8>>,
    bytes: usize,
    writing: bool,
    closed: bool,
    dropped_bytes: usize,
}

impl Console {
    /// Creates a console writing to `writer` from a writer thread.
    /// `terminal` turns on colour and the progress line.
    pub fn new(writer: Box<dyn Write + Send>, terminal: bool) -> Console {
        let queue = Arc::new(Queue {
            state: Mutex::new(QueueState::default()),
            changed: Condvar::new(),
        });
        let drained = queue.clone();
        std::thread::Builder::new()
            .name("basso-console".into())
            .spawn(move || write_queued(&drained, writer))
            .expect("cannot start the console writer thread");
        Console {
            out: Mutex::new(ConsoleState {
                running: Vec::new(),
                status_shown: false,
                colours: Vec::new(),
            }),
            queue,
            masker: Mutex::new(Masker::default()),
            terminal,
            cancel: OnceLock::new(),
        }
    }

    /// Creates a console that appends plain lines to `buffer`, for tests.
    pub fn memory(buffer: Arc<Mutex<Vec<u8>>>) -> Console {
        Console::new(Box::new(SharedBuffer(buffer)), false)
    }

    /// Sets the run's cancel flag. Once it is set, text that finds the
    /// queue full is dropped, so a blocked stderr cannot hold up stopping
    /// the run. Only the first call has an effect.
    pub fn set_cancel(&self, cancel: Arc<AtomicBool>) {
        let _ = self.cancel.set(cancel);
    }

    fn cancelled(&self) -> bool {
        self.cancel
            .get()
            .is_some_and(|cancel| cancel.load(Ordering::SeqCst))
    }

    /// Replaces the masker, once the secret values are known.
    pub fn set_masker(&self, masker: Masker) {
        *self.masker.lock().expect("masker lock") = masker;
    }

    /// Returns `text` with every secret value masked.
    pub fn mask(&self, text: &str) -> String {
        self.masker.lock().expect("masker lock").mask(text)
    }

    /// Returns basso's own message `text` masked with
    /// [`Masker::mask_message`].
    pub fn mask_message(&self, text: &str) -> String {
        self.masker.lock().expect("masker lock").mask_message(text)
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
        let bytes = state.render(self.terminal, &format!("{prefix} {masked}\n"));
        self.enqueue(bytes);
    }

    /// Prints text that is already formatted (log events), masked.
    pub fn write_text(&self, text: &str) {
        let masked = self.mask_message(text);
        let mut state = self.out.lock().expect("console lock");
        let bytes = state.render(self.terminal, &masked);
        self.enqueue(bytes);
    }

    /// Marks a step as running for the progress line.
    pub fn step_started(&self, step_id: &str) {
        let mut state = self.out.lock().expect("console lock");
        state.running.push((step_id.to_string(), Instant::now()));
        let bytes = state.render(self.terminal, "");
        self.enqueue(bytes);
    }

    /// Removes a step from the progress line.
    pub fn step_finished(&self, step_id: &str) {
        let mut state = self.out.lock().expect("console lock");
        state.running.retain(|(id, _)| id != step_id);
        let bytes = state.render(self.terminal, "");
        self.enqueue(bytes);
    }

    /// Redraws the progress line; a no-op off a terminal.
    pub fn tick(&self) {
        if self.terminal {
            let mut state = self.out.lock().expect("console lock");
            let bytes = state.render(true, "");
            self.enqueue(bytes);
        }
    }

    /// Removes the progress line before the program prints its summary.
    pub fn clear_progress(&self) {
        let mut state = self.out.lock().expect("console lock");
        state.running.clear();
        let bytes = state.render(self.terminal, "");
        self.enqueue(bytes);
    }

    /// Waits until the writer thread has written everything queued so far.
    /// After cancellation it waits at most 2 s, because the stream may be
    /// blocked for good.
    pub fn flush(&self) {
        let deadline = Instant::now() + CANCELLED_FLUSH_TIMEOUT;
        let mut queue = self.queue.state.lock().expect("queue lock");
        if queue.dropped_bytes > 0 {
            let note = format!(
                "basso dropped {} bytes of output because stderr was blocked when the run was cancelled\n",
                queue.dropped_bytes
            );
            queue.dropped_bytes = 0;
            queue.bytes += note.len();
            queue.chunks.push_back(note.into_bytes());
            self.queue.changed.notify_all();
        }
        while !queue.chunks.is_empty() || queue.writing {
            let now = Instant::now();
            if self.cancelled() && now >= deadline {
                return;
            }
            queue = self.queue.wait_for_change(queue);
        }
    }

    /// Queues `bytes` for the writer thread. While the queue is full this
    /// waits for room, unless the run is cancelled: then the text is dropped
    /// and counted.
    fn enqueue(&self, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        let mut queue = self.queue.state.lock().expect("queue lock");
        while queue.bytes > 0 && queue.bytes + bytes.len() > MAX_QUEUED_BYTES {
            if self.cancelled() {
                queue.dropped_bytes += bytes.len();
                return;
            }
            queue = self.queue.wait_for_change(queue);
        }
        queue.bytes += bytes.len();
        queue.chunks.push_back(bytes);
        self.queue.changed.notify_all();
    }
}

impl Queue {
    /// Waits until the queue changes or `CANCEL_POLL` passes.
    fn wait_for_change<'a>(
        &self,
        state: std::sync::MutexGuard<'a, QueueState>,
    ) -> std::sync::MutexGuard<'a, QueueState> {
        self.changed
            .wait_timeout(state, CANCEL_POLL)
            .expect("queue lock")
            .0
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let mut queue = self.queue.state.lock().expect("queue lock");
        queue.closed = true;
        self.queue.changed.notify_all();
    }
}

/// Runs on the writer thread: writes queued chunks in order until the
/// console is dropped and the queue is empty. Write errors are ignored, as
/// a closed stderr leaves nowhere to report them.
fn write_queued(queue: &Queue, mut writer: Box<dyn Write + Send>) {
    loop {
        let chunk = {
            let mut state = queue.state.lock().expect("queue lock");
            loop {
                if let Some(chunk) = state.chunks.pop_front() {
                    state.writing = true;
                    break chunk;
                }
                if state.closed {
                    return;
                }
                state = queue.changed.wait(state).expect("queue lock");
            }
        };
        let _ = writer.write_all(&chunk);
        let _ = writer.flush();
        let mut state = queue.state.lock().expect("queue lock");
        state.bytes -= chunk.len();
        state.writing = false;
        queue.changed.notify_all();
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

    /// Returns the bytes that print `text`, redrawing the progress line
    /// below it on a terminal.
    fn render(&mut self, terminal: bool, text: &str) -> Vec<u8> {
        let mut bytes = Vec::new();
        if terminal && self.status_shown {
            bytes.extend_from_slice(b"\r\x1b[K");
            self.status_shown = false;
        }
        bytes.extend_from_slice(text.as_bytes());
        if terminal && !self.running.is_empty() {
            let now = Instant::now();
            let steps: Vec<String> = self
                .running
                .iter()
                .map(|(id, started)| format!("{id} {}s", now.duration_since(*started).as_secs()))
                .collect();
            let status = format!("\x1b[2mrunning: {}\x1b[0m", steps.join(", "));
            bytes.extend_from_slice(status.as_bytes());
            self.status_shown = true;
        }
        bytes
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
