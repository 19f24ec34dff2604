//! Parses and evaluates every `render` and `evaluate` vector of
//! `tests/conformance/` (the ones that succeed), as three measurements:
//! parsing alone, evaluating pre-parsed templates, and both together.
//! Run with `cargo bench -p basso-core --bench conformance`.

// The vector files are test data; the library itself reads no files.
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;

use basso_core::{EvalMode, Options, ScanMode, Template, Unresolved, Value};
use criterion::{Criterion, criterion_group, criterion_main};

struct Case {
    input: String,
    context: Value,
    options: Options,
}

fn load_cases() -> Vec<Case> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .expect("tests/conformance exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();

    let mut cases = Vec::new();
    for path in paths {
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let file_context = doc
            .get("context")
            .cloned()
            .unwrap_or_else(|| serde_json::json!({}));
        for vector in doc["vectors"].as_array().unwrap() {
            let mode = match vector["op"].as_str() {
                Some("render") => EvalMode::Render,
                Some("evaluate") => EvalMode::Evaluate,
                _ => continue,
            };
            if vector["expect"].get("value").is_none() || vector.get("options").is_some() {
                continue;
            }
            let context = Value::from_json(
                vector
                    .get("context")
                    .cloned()
                    .unwrap_or_else(|| file_context.clone()),
            );
            let options = Options {
                mode,
                unresolved: Unresolved::Null,
                scan: ScanMode::Harness,
                ..Options::default()
            };
            cases.push(Case {
                input: vector["input"].as_str().unwrap().to_string(),
                context,
                options,
            });
        }
    }
    cases
}

fn bench(c: &mut Criterion) {
    let cases = load_cases();
    let templates: Vec<Template> = cases
        .iter()
        .map(|case| Template::parse(&case.input, ScanMode::Harness).expect("vector parses"))
        .collect();
    eprintln!("{} vectors", cases.len());

    c.bench_function("parse conformance set", |b| {
        b.iter(|| {
            for case in &cases {
                black_box(Template::parse(black_box(&case.input), ScanMode::Harness).ok());
            }
        })
    });
    c.bench_function("evaluate parsed conformance set", |b| {
        b.iter(|| {
            for (case, template) in cases.iter().zip(&templates) {
                black_box(template.run(&case.context, &case.options).ok());
            }
        })
    });
    c.bench_function("parse and evaluate conformance set", |b| {
        b.iter(|| {
            for case in &cases {
                let template = Template::parse(black_box(&case.input), ScanMode::Harness)
                    .expect("vector parses");
                black_box(template.run(&case.context, &case.options).ok());
            }
        })
    });

    let context = Value::from_json(
        serde_json::json!({"pipeline": {"variables": {"tag": "v1.2.3", "env": "qa"}}}),
    );
    let field = "docker build -t repo/app:<+pipeline.variables.tag.split('v')[1]> --build-arg ENV=<+pipeline.variables.env>";
    c.bench_function("parse typical field", |b| {
        b.iter(|| black_box(Template::parse(black_box(field), ScanMode::Harness).unwrap()))
    });
    let typical = Template::parse(field, ScanMode::Harness).unwrap();
    c.bench_function("render typical field", |b| {
        b.iter(|| black_box(typical.render(&context, &Options::default()).unwrap()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
