//! Times basso's expression engine and the Rust engines a team might use
//! instead (cel, evalexpr, minijinja) on the shared workload, in one process,
//! and prints the generated pipelines that the pipeline timings resolve.
//!
//! ```text
//! basso-bench-peers expressions WORKLOAD SAMPLES BATCH_MILLIS WARMUP_MILLIS
//! basso-bench-peers pipeline-yaml STEPS
//! ```
//!
//! Timings go to stdout as one JSON line per measurement, in the format that
//! `scripts/bench-report.py` reads. The exit status is 1 when an engine
//! returns a result that differs from the workload's expected value, and 2
//! for a usage or I/O error.

mod engines;
mod measure;
mod pipeline;
mod run;
mod workload;

use std::process::ExitCode;
use std::time::Duration;

use measure::Settings;

const USAGE: &str = "usage: basso-bench-peers expressions WORKLOAD SAMPLES BATCH_MILLIS WARMUP_MILLIS
       basso-bench-peers pipeline-yaml STEPS";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("expressions") => expressions(&args[1..]),
        Some("pipeline-yaml") => pipeline_yaml(&args[1..]),
        _ => Err(USAGE.to_string()),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("basso-bench-peers: {message}");
            ExitCode::from(2)
        }
    }
}

fn expressions(args: &[String]) -> Result<bool, String> {
    let [path, samples, batch_millis, warmup_millis] = args else {
        return Err(USAGE.into());
    };
    let settings = Settings {
        samples: parse_count(samples, "SAMPLES")?,
        batch: parse_millis(batch_millis, "BATCH_MILLIS")?,
        warmup: parse_millis(warmup_millis, "WARMUP_MILLIS")?,
    };
    let workload = workload::load(path)?;

    let mut failures = Vec::new();
    failures.extend(run::run(&engines::cel::engine(&workload)?, &workload, &settings));
    failures.extend(run::run(&engines::evalexpr::engine(&workload)?, &workload, &settings));
    failures.extend(run::run(&engines::minijinja::engine(&workload)?, &workload, &settings));
    Ok(failures.is_empty())
}

fn pipeline_yaml(args: &[String]) -> Result<bool, String> {
    let [steps] = args else {
        return Err(USAGE.into());
    };
    print!("{}", pipeline::generate(parse_count(steps, "STEPS")?));
    Ok(true)
}

fn parse_count(text: &str, name: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(count) if count > 0 => Ok(count),
        _ => Err(format!("{name} must be a positive integer, got `{text}`")),
    }
}

fn parse_millis(text: &str, name: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(millis) if millis > 0.0 && millis.is_finite() => Ok(Duration::from_secs_f64(millis / 1000.0)),
        _ => Err(format!("{name} must be a positive number of milliseconds, got `{text}`")),
    }
}
