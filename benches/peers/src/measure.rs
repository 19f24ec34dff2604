//! The timing loop shared by every Rust engine. It is the same loop as the
//! Java harness's: a warm-up that also sizes the batch, then `samples`
//! batches, each reported as nanoseconds per iteration.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// How long to warm up and how many batches of what length to time.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub samples: usize,
    pub batch: Duration,
    pub warmup: Duration,
}

/// Median and interquartile range of the per-iteration times of one case.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    pub median_ns: f64,
    pub iqr_ns: f64,
    pub samples: usize,
    /// CPU time of the timing thread per iteration over all batches, which
    /// other processes on a loaded machine inflate far less than wall time.
    /// `None` where Linux's `/proc/thread-self/schedstat` cannot be read.
    pub cpu_ns: Option<f64>,
}

/// Times `body` and returns the summary of its per-iteration nanoseconds.
pub fn measure<T>(settings: &Settings, mut body: impl FnMut() -> T) -> Summary {
    let start = Instant::now();
    let mut iterations: u64 = 0;
    loop {
        black_box(body());
        iterations += 1;
        if start.elapsed() >= settings.warmup {
            break;
        }
    }
    let nanos_per_iteration = start.elapsed().as_nanos() as f64 / iterations as f64;
    let batch = ((settings.batch.as_nanos() as f64 / nanos_per_iteration) as u64).max(1);

    let mut per_iteration = Vec::with_capacity(settings.samples);
    let cpu_begin = thread_cpu_nanos();
    for _ in 0..settings.samples {
        let begin = Instant::now();
        for _ in 0..batch {
            black_box(body());
        }
        per_iteration.push(begin.elapsed().as_nanos() as f64 / batch as f64);
    }
    let cpu_end = thread_cpu_nanos();

    let mut summary = summarize(per_iteration);
    if let (Some(begin), Some(end)) = (cpu_begin, cpu_end) {
        summary.cpu_ns = Some((end - begin) as f64 / (settings.samples as u64 * batch) as f64);
    }
    summary
}

/// Returns the CPU time the calling thread has used, in nanoseconds: the
/// first field of `/proc/thread-self/schedstat` on Linux.
fn thread_cpu_nanos() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Returns the median and interquartile range, with the same quartile
/// indexes as the Java harness.
pub fn summarize(mut values: Vec<f64>) -> Summary {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    let q1 = values[(n - 1) / 4];
    let q3 = values[3 * (n - 1) / 4];
    Summary {
        median_ns: median,
        iqr_ns: q3 - q1,
        samples: n,
        cpu_ns: None,
    }
}
