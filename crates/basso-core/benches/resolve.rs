//! Resolution time of generated pipelines with 10, 100, 1,000 and 10,000
//! steps: YAML loading, validation, reference checks and resolution of
//! every step, from source text to `Resolution`.
//!
//! Run with `cargo bench -p basso-core --bench resolve`.

#[path = "support/pipeline.rs"]
mod support;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// The allocator of the `basso` binary, so that the timings match it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench_resolve(c: &mut Criterion) {
    let mut group = c.benchmark_group("resolve");
    group.sample_size(10);
    group.warm_up_time(std::time::Duration::from_secs(1));
    group.measurement_time(std::time::Duration::from_secs(4));
    let context = serde_json::json!({});
    for steps in [10, 100, 1_000, 10_000] {
        let source = support::pipeline(steps);
        // The generated pipeline must resolve cleanly, or the figure would
        // measure error paths.
        let check = basso_core::pipeline::resolve(&source, "bench.yaml", &[], &[], &context);
        assert!(
            !check.has_errors(),
            "{:?}",
            check.diagnostics.iter().find(|d| d.is_error())
        );
        assert_eq!(check.stages[0].steps.len(), steps);
        group.throughput(Throughput::Elements(steps as u64));
        group.bench_with_input(BenchmarkId::from_parameter(steps), &source, |b, source| {
            b.iter(|| basso_core::pipeline::resolve(source, "bench.yaml", &[], &[], &context));
        });
    }
    group.finish();
}

criterion_group!(benches, bench_resolve);
criterion_main!(benches);
