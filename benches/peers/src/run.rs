//! Runs one engine over the workload: checks each case's result, then times
//! "evaluate a parsed expression" and "parse and evaluate".

use std::hint::black_box;

use crate::measure::{Settings, Summary, measure};
use crate::workload::{Case, Workload};

/// The functions that parse, evaluate and print the results of one engine.
pub struct Engine<P, V> {
    pub name: &'static str,
    pub compile: Box<dyn Fn(&Case, &str) -> Result<P, String>>,
    pub evaluate: Box<dyn Fn(&P) -> Result<V, String>>,
    pub text: fn(&V) -> String,
}

/// Runs every case the engine can express and prints one JSON line per case
/// and mode. Returns the ids of cases whose result was wrong or that failed.
pub fn run<P, V>(engine: &Engine<P, V>, workload: &Workload, settings: &Settings) -> Vec<String> {
    let mut failures = Vec::new();
    for case in &workload.cases {
        let Some(source) = case.spelling(engine.name) else {
            continue;
        };
        if let Err(message) = check(engine, case, source) {
            eprintln!("{}: case {}: {message}", engine.name, case.id);
            failures.push(case.id.clone());
            continue;
        }

        let parsed = (engine.compile)(case, source).expect("compiled in check");
        let evaluate = measure(settings, || (engine.evaluate)(&parsed));
        let parse_evaluate = measure(settings, || {
            let parsed = (engine.compile)(case, source);
            parsed.map(|parsed| (engine.evaluate)(&parsed))
        });
        report(engine.name, "evaluate", &case.id, &evaluate);
        report(engine.name, "parse_evaluate", &case.id, &parse_evaluate);
    }
    failures
}

/// Runs every case the engine can express without timing it, for
/// `valgrind --tool=callgrind --dump-after=*profile_batch*`. Each case runs
/// one warm-up batch of one iteration, then one batch of `iterations`, so the
/// second dump of each case contains exactly `iterations` iterations. Prints the
/// id of each case in that order. Returns false when a case fails to parse.
pub fn profile<P, V>(engine: &Engine<P, V>, workload: &Workload, iterations: usize, parse_each_time: bool) -> bool {
    let mut passed = true;
    for case in &workload.cases {
        let Some(source) = case.spelling(engine.name) else {
            continue;
        };
        let Ok(parsed) = (engine.compile)(case, source) else {
            eprintln!("{}: case {}: parse failed", engine.name, case.id);
            passed = false;
            continue;
        };
        println!("{}", case.id);
        profile_batch(engine, case, source, &parsed, 1, parse_each_time);
        profile_batch(engine, case, source, &parsed, iterations, parse_each_time);
    }
    passed
}

#[inline(never)]
fn profile_batch<P, V>(
    engine: &Engine<P, V>,
    case: &Case,
    source: &str,
    parsed: &P,
    iterations: usize,
    parse_each_time: bool,
) {
    for _ in 0..iterations {
        if parse_each_time {
            let parsed = (engine.compile)(case, source);
            black_box(parsed.map(|parsed| (engine.evaluate)(&parsed)).is_ok());
        } else {
            black_box((engine.evaluate)(parsed).is_ok());
        }
    }
}

fn check<P, V>(engine: &Engine<P, V>, case: &Case, source: &str) -> Result<(), String> {
    let parsed = (engine.compile)(case, source).map_err(|error| format!("parse failed: {error}"))?;
    let value = (engine.evaluate)(&parsed).map_err(|error| format!("evaluation failed: {error}"))?;
    let actual = (engine.text)(&value);
    let expected = case.expected_text();
    if actual != expected {
        return Err(format!("returned `{actual}`, expected `{expected}`"));
    }
    Ok(())
}

/// Prints one measurement in the line format scripts/bench-report.py reads.
pub fn report(engine: &str, mode: &str, case: &str, summary: &Summary) {
    let line = serde_json::json!({
        "engine": engine,
        "mode": mode,
        "case": case,
        "median_ns": (summary.median_ns * 10.0).round() / 10.0,
        "iqr_ns": (summary.iqr_ns * 10.0).round() / 10.0,
        "samples": summary.samples,
    });
    println!("{line}");
}
