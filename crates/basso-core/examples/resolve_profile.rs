//! Resolves the generated pipeline of `benches/resolve.rs` a given number
//! of times, for instruction counts under callgrind:
//!
//! ```sh
//! cargo build --release -p basso-core --example resolve_profile
//! valgrind --tool=callgrind target/release/examples/resolve_profile 300 1
//! ```
//!
//! The arguments are the number of steps, or the path of a pipeline file
//! to resolve instead, and the number of resolutions (1 if absent).

// A profiling driver, not part of the library: it reads the file itself.
#![allow(clippy::disallowed_methods)]

#[path = "../benches/support/pipeline.rs"]
mod support;

/// The allocator of the `basso` binary, so that the counts match it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().expect("usage: resolve_profile STEPS|FILE [RUNS]");
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);

    let (source, steps) = match what.parse::<usize>() {
        Ok(steps) => (support::pipeline(steps), Some(steps)),
        Err(_) => (std::fs::read_to_string(&what).expect("a readable pipeline file"), None),
    };
    let context = serde_json::json!({});
    for _ in 0..runs {
        let resolution = basso_core::pipeline::resolve(&source, "bench.yaml", &[], &[], &context);
        assert!(!resolution.has_errors(), "{:?}", resolution.diagnostics);
        if let Some(steps) = steps {
            assert_eq!(resolution.stages[0].steps.len(), steps);
        }
        std::hint::black_box(resolution);
    }
}
