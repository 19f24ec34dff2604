//! Resolution time of generated pipelines with 10, 100, 1,000 and 10,000
//! steps: YAML loading, validation, reference checks and resolution of
//! every step, from source text to `Resolution`.
//!
//! Run with `cargo bench -p basso-core --bench resolve`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// Builds a pipeline with `steps` steps in one CI stage: every tenth is a
/// Background service with port bindings, the others Run steps whose
/// commands read a pipeline variable, a stage variable, a secret and the
/// previous step's output.
fn pipeline(steps: usize) -> String {
    let mut text = String::from(
        "pipeline:\n  name: bench\n  identifier: bench\n  variables:\n    - name: tag\n      type: String\n      value: <+input>.default(1.2.3)\n  stages:\n    - stage:\n        name: build\n        identifier: build\n        type: CI\n        variables:\n          - name: region\n            type: String\n            value: eu-west-1\n        spec:\n          platform:\n            os: Linux\n            arch: Amd64\n          runtime:\n            type: Docker\n            spec: {}\n          execution:\n            steps:\n",
    );
    for index in 0..steps {
        if index % 10 == 0 {
            let port = 10_000 + index;
            text.push_str(&format!(
                "              - step:\n                  type: Background\n                  name: svc{index}\n                  identifier: svc{index}\n                  spec:\n                    image: postgres:15\n                    envVariables:\n                      POSTGRES_PASSWORD: <+secrets.getValue(\"pg\")>\n                    portBindings:\n                      \"{port}\": \"5432\"\n"
            ));
        } else {
            let previous = if (index - 1) % 10 == 0 {
                String::from("none")
            } else {
                format!("<+steps.step{}.output.outputVariables.OUT>", index - 1)
            };
            text.push_str(&format!(
                "              - step:\n                  type: Run\n                  name: step{index}\n                  identifier: step{index}\n                  spec:\n                    image: alpine:3.20\n                    shell: Sh\n                    command: echo <+pipeline.variables.tag> <+stage.variables.region> {previous}\n                    envVariables:\n                      TOKEN: <+secrets.getValue(\"token\")>\n                    outputVariables:\n                      - name: OUT\n                  timeout: 10m\n"
            ));
        }
    }
    text
}

fn bench_resolve(c: &mut Criterion) {
    let mut group = c.benchmark_group("resolve");
    group.sample_size(10);
    group.warm_up_time(std::time::Duration::from_secs(1));
    group.measurement_time(std::time::Duration::from_secs(4));
    let context = serde_json::json!({});
    for steps in [10, 100, 1_000, 10_000] {
        let source = pipeline(steps);
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
