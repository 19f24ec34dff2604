//! Random and mutated templates go through scanning, parsing, rendering,
//! evaluation and runtime-input classification, and none may panic. Deeply
//! nested input must fail with an error instead of overflowing the stack.

// The vector files are test data; the library itself reads no files.
#![allow(clippy::disallowed_methods)]

use basso_core::input::FieldKind;
use basso_core::{EvalMode, Options, ScanMode, Template, Unresolved, Value};
use proptest::prelude::*;

/// Fragments that exercise the scanner, the grammar and the built-ins.
const FRAGMENTS: &[&str] = &[
    "<+",
    ">",
    "\\>",
    "<+a>",
    "<+f>",
    "<+c>",
    "<+loop>",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "'",
    "\"",
    ".",
    ",",
    "?",
    ":",
    "?:",
    "==",
    "!=",
    "=~",
    "!~",
    "=^",
    "=$",
    "!^",
    "!$",
    "&&",
    "||",
    "+",
    "-",
    "*",
    "/",
    "%",
    "!",
    " and ",
    " or ",
    " not ",
    " div ",
    " mod ",
    " gt ",
    "empty(",
    "size(",
    "null",
    "true",
    "1",
    "0",
    "-1",
    "2.5",
    "0x1F",
    "07",
    "9223372036854775807",
    "'x'",
    "\"y\"",
    " ",
    "\n",
    "a",
    "f",
    "list",
    "map",
    "m.k",
    "[0]",
    ".get(\"k\")",
    ".split(',')",
    ".substring(1, 2)",
    ".charAt(0)",
    ".replaceAll('(a)', '$1')",
    ".matches('(?=a)a')",
    ".length()",
    ".toUpperCase()",
    "secrets.getValue('id')",
    "json.select('a', '{}')",
    "json.list('$..a', m)",
    "json.object('[1]')",
    "json.format(m)",
    "regex.extract('[0-9]+', 'a1')",
    "regex.replace('a', 'b', 'a')",
    "regex.match('a', 'a')",
    "<+input>",
    ".default(",
    ".allowedValues(",
    ".regex(",
    ".executionInput()",
    "\\'",
    "\u{E000}",
    "é",
    "steps.",
    "stages.",
    "pipeline.variables.",
    "<+pipeline.variables.<+f>>",
];

fn context() -> Value {
    Value::from_json(serde_json::json!({
        "a": 5, "f": "abc", "c": "<+a> + 2 * <+a>", "loop": "<+loop>", "list": [1, 2, 3], "m": {"k": 1},
        "pipeline": {"variables": {"abc": "<+f>", "x": "def:ghi"}},
        "execution": {"steps": {"s": {"output": {"outputVariables": {"o": "<+c>"}}}}},
    }))
}

fn exercise(text: &str) {
    let ctx = context();
    for scan in [ScanMode::Harness, ScanMode::Smart] {
        let Ok(template) = Template::parse(text, scan) else {
            continue;
        };
        let _ = template.references();
        for unresolved in [Unresolved::Null, Unresolved::Keep, Unresolved::Error] {
            for mode in [EvalMode::Render, EvalMode::Evaluate] {
                let options = Options {
                    scan,
                    mode,
                    unresolved,
                    ..Options::default()
                };
                let _ = template.run(&ctx, &options);
            }
        }
    }
    if let Ok(FieldKind::RuntimeInput(input)) = FieldKind::classify(text) {
        let _ = input.validate_default();
        let _ = input.resolve(Some(&Value::from("a,b")));
    }
}

fn fragments() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(FRAGMENTS), 0..24).prop_map(|parts| parts.concat())
}

fn conformance_inputs() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance");
    let mut inputs = Vec::new();
    for entry in std::fs::read_dir(dir).expect("tests/conformance exists") {
        let path = entry.expect("readable entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let doc: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            for vector in doc["vectors"].as_array().unwrap() {
                if let Some(input) = vector["input"].as_str().filter(|i| i.len() < 4096) {
                    inputs.push(input.to_string());
                }
            }
        }
    }
    inputs
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn fragment_soup_never_panics(text in fragments()) {
        exercise(&text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,64}") {
        exercise(&text);
    }

    #[test]
    fn mutated_vectors_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(FRAGMENTS), any::<bool>()), 1..6),
    ) {
        let inputs = conformance_inputs();
        let mut text = inputs[pick.index(inputs.len())].clone();
        for (at, fragment, delete) in edits {
            let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
            let position = boundaries[at.index(boundaries.len())];
            if delete && position < text.len() {
                let next = boundaries.iter().copied().find(|b| *b > position).unwrap_or(text.len());
                text.replace_range(position..next, "");
            } else {
                text.insert_str(position, fragment);
            }
        }
        exercise(&text);
    }
}

/// Runs `exercise` on a thread with a 1 MiB stack, smaller than the 2 MiB
/// test threads and the main thread, so deep recursion would show.
fn exercise_on_small_stack(text: String) {
    std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(move || exercise(&text))
        .expect("thread starts")
        .join()
        .expect("no panic or stack overflow");
}

#[test]
fn deep_parentheses_are_rejected() {
    exercise_on_small_stack(format!("<+{}1{}>", "(".repeat(5000), ")".repeat(5000)));
    let error =
        basso_core::evaluate(&"(".repeat(5000), &context(), &Options::default()).unwrap_err();
    assert_eq!(error.code, "nesting-limit");
}

/// Ternaries side by side do not nest, so thousands of them in a list or
/// a sum parse within a small stack.
#[test]
fn many_ternaries_side_by_side_stay_within_stack() {
    let listed = vec!["1 ? 1 : 0"; 5000].join(", ");
    exercise_on_small_stack(format!("<+[{listed}]>"));
    let summed = vec!["(1 ? (0 ? 0 : 1) : 0)"; 5000].join(" + ");
    exercise_on_small_stack(format!("<+{summed}>"));
    let value = basso_core::evaluate(&summed, &context(), &Options::default()).unwrap();
    assert_eq!(value, basso_core::Value::from(5000));
}

/// A block limit far above evaluation's own nesting limit is read as that
/// limit, so 20,000 nested blocks are rejected on a small stack.
#[test]
fn deep_blocks_rejected_whatever_the_limit() {
    let text = format!("{}1{}", "<+".repeat(20_000), ">".repeat(20_000));
    std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(move || {
            let options = Options {
                limits: basso_core::Limits {
                    max_block_depth: usize::MAX,
                    ..basso_core::Limits::default()
                },
                ..Options::default()
            };
            let error = basso_core::render(&text, &context(), &options).unwrap_err();
            assert_eq!(error.code, "nesting-limit");
            assert!(
                error.message.contains("deeper than 200 levels"),
                "{}",
                error.message
            );
        })
        .expect("thread starts")
        .join()
        .expect("no panic or stack overflow");
}

#[test]
fn deep_blocks_are_rejected() {
    exercise_on_small_stack(format!("{}a{}", "<+".repeat(5000), ">".repeat(5000)));
    let error = Template::parse(
        &format!("{}a{}", "<+".repeat(5000), ">".repeat(5000)),
        ScanMode::Harness,
    )
    .unwrap_err();
    assert_eq!(error.code, "nesting-limit");
}

#[test]
fn deep_mixed_nesting_stays_within_stack() {
    let limits = basso_core::Limits::default();
    let brackets = "[".repeat(limits.max_expression_depth);
    let closing = "]".repeat(limits.max_expression_depth);
    let inner = format!("{brackets}1{closing}");
    let mut text = inner.clone();
    for _ in 0..limits.max_block_depth - 1 {
        text = format!("<+{text} == {inner}>");
    }
    exercise_on_small_stack(text);
}

#[test]
fn long_chains_stay_flat() {
    exercise_on_small_stack(format!("<+{}true>", "!".repeat(20_000)));
    exercise_on_small_stack(format!("<+{}>", vec!["1"; 20_000].join(" + ")));
    exercise_on_small_stack(format!("<+a{}>", ".b".repeat(20_000)));
    exercise_on_small_stack(format!(
        "<+{}1{}>",
        "1 ? ".repeat(5000),
        " : 0".repeat(5000)
    ));
    exercise_on_small_stack(format!("<+'x'{}>", ".trim()".repeat(20_000)));
}

#[test]
fn deep_re_resolution_stays_within_stack() {
    let mut map = serde_json::Map::new();
    for i in 0..200 {
        map.insert(
            format!("v{i}"),
            serde_json::Value::String(format!("<+[[[[<+v{}>]]]]>", i + 1)),
        );
    }
    let ctx = Value::from_json(serde_json::Value::Object(map));
    std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(move || {
            let error = basso_core::render("<+v0>", &ctx, &Options::default()).unwrap_err();
            assert_eq!(error.code, "recursion-limit");
        })
        .unwrap()
        .join()
        .unwrap();
}
