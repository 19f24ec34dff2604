//! Times basso's expression engine and the Rust engines a team might use
//! instead (cel, evalexpr, minijinja) on the shared workload, in one process,
//! and prints the generated pipelines that the pipeline timings resolve.
//!
//! ```text
//! basso-bench-peers expressions WORKLOAD SAMPLES BATCH_MILLIS WARMUP_MILLIS
//! basso-bench-peers pipeline-yaml STEPS
//! basso-bench-peers pipeline FILE STEPS SAMPLES
//! basso-bench-peers pipeline-json FILE STEPS SAMPLES
//! basso-bench-peers corpus FOLDER SAMPLES
//! basso-bench-peers profile WORKLOAD ITERATIONS evaluate|parse_evaluate
//! ```
//!
//! `pipeline` times resolving to the in-memory `Resolution`;
//! `pipeline-json` also writes its JSON text, the document that `basso
//! resolve --format json` prints and the npm package's `resolve` returns.
//!
//! `profile` runs basso alone over every case without timing it, for
//! `valgrind --tool=callgrind`, as `scripts/bench.sh` does.
//!
//! Timings go to stdout as one JSON line per measurement, in the format that
//! `scripts/bench-report.py` reads. The exit status is 1 when an engine
//! returns a result that differs from the workload's expected value, and 2
//! for a usage or I/O error.

mod engines;
mod measure;
mod pipeline;
mod resolution;

mod run;
mod workload;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use measure::{Settings, Summary};
use resolution::Output;

/// The allocator of the `basso` binary. Every engine timed in this process
/// runs with it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: basso-bench-peers expressions WORKLOAD SAMPLES BATCH_MILLIS WARMUP_MILLIS
       basso-bench-peers pipeline-yaml STEPS
       basso-bench-peers pipeline FILE STEPS SAMPLES
       basso-bench-peers pipeline-json FILE STEPS SAMPLES
       basso-bench-peers corpus FOLDER SAMPLES
       basso-bench-peers profile WORKLOAD ITERATIONS evaluate|parse_evaluate";

/// Batch and warm-up lengths of the pipeline and corpus timings. A
/// resolution that takes longer than a batch is timed one at a time.
const WHOLE_FILE_BATCH: Duration = Duration::from_millis(5);
const WHOLE_FILE_WARMUP: Duration = Duration::from_millis(20);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("expressions") => expressions(&args[1..]),
        Some("pipeline-yaml") => pipeline_yaml(&args[1..]),
        Some("pipeline") => time_pipeline(&args[1..], Output::Resolution),
        Some("pipeline-json") => time_pipeline(&args[1..], Output::JsonText),
        Some("corpus") => time_corpus(&args[1..]),
        Some("profile") => profile(&args[1..]),
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
    failures.extend(run::run(&engines::basso::engine(&workload)?, &workload, &settings));
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

fn time_pipeline(args: &[String], output: Output) -> Result<bool, String> {
    let [path, steps, samples] = args else {
        return Err(USAGE.into());
    };
    let steps = parse_count(steps, "STEPS")?;
    let summary = resolution::time_pipeline(Path::new(path), steps, output, &whole_file_settings(samples)?)?;

    let mut line = summary_json(&summary);
    line["kind"] = "pipeline".into();
    line["runtime"] = match output {
        Output::Resolution => "native",
        Output::JsonText => "native-json",
    }
    .into();
    line["steps"] = steps.into();
    println!("{line}");
    Ok(true)
}

fn time_corpus(args: &[String]) -> Result<bool, String> {
    let [folder, samples] = args else {
        return Err(USAGE.into());
    };
    let (files, summary) = resolution::time_corpus(Path::new(folder), &whole_file_settings(samples)?)?;

    let mut line = summary_json(&summary);
    line["kind"] = "corpus".into();
    line["runtime"] = "native".into();
    line["files"] = files.into();
    println!("{line}");
    Ok(true)
}

fn profile(args: &[String]) -> Result<bool, String> {
    let [path, iterations, mode] = args else {
        return Err(USAGE.into());
    };
    let parse_each_time = match mode.as_str() {
        "evaluate" => false,
        "parse_evaluate" => true,
        _ => return Err(format!("mode must be `evaluate` or `parse_evaluate`, got `{mode}`")),
    };
    let workload = workload::load(path)?;
    let engine = engines::basso::engine(&workload)?;
    Ok(run::profile(&engine, &workload, parse_count(iterations, "ITERATIONS")?, parse_each_time))
}

fn whole_file_settings(samples: &str) -> Result<Settings, String> {
    Ok(Settings {
        samples: parse_count(samples, "SAMPLES")?,
        batch: WHOLE_FILE_BATCH,
        warmup: WHOLE_FILE_WARMUP,
    })
}

fn summary_json(summary: &Summary) -> serde_json::Value {
    let mut line = serde_json::json!({
        "median_ns": summary.median_ns.round(),
        "iqr_ns": summary.iqr_ns.round(),
        "samples": summary.samples,
    });
    if let Some(cpu_ns) = summary.cpu_ns {
        line["cpu_ns"] = cpu_ns.round().into();
    }
    line
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
