//! Resolves the generated pipeline of `benches/resolve.rs` a given number
//! of times, for instruction counts under callgrind:
//!
//! ```sh
//! cargo build --release -p basso-core --example resolve_profile
//! valgrind --tool=callgrind target/release/examples/resolve_profile 300 1
//! ```
//!
//! The arguments are the number of steps and of resolutions (1 if absent).

#[path = "../benches/support/pipeline.rs"]
mod support;

/// The allocator of the `basso` binary, so that the counts match it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let steps: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .expect("usage: resolve_profile STEPS [RUNS]");
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);

    let source = support::pipeline(steps);
    let context = serde_json::json!({});
    for _ in 0..runs {
        let resolution = basso_core::pipeline::resolve(&source, "bench.yaml", &[], &[], &context);
        assert!(!resolution.has_errors(), "{:?}", resolution.diagnostics);
        assert_eq!(resolution.stages[0].steps.len(), steps);
        std::hint::black_box(resolution);
    }
}
