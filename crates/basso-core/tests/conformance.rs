//! Runs every vector in `tests/conformance/*.json` against the engine.
//! The file format is described in `tests/conformance/README.md`; the Node
//! and browser runners of the wasm package read the same files.

// The vector files are test data; the library itself reads no files.
#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;

use basso_core::input::FieldKind;
use basso_core::{ExprError, Limits, Options, ScanMode, Template, Unresolved, Value};
use serde_json::{Value as Json, json};

/// Minimum number of vectors, so a lost file cannot pass quietly.
const MIN_VECTORS: usize = 550;

fn conformance_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance")
}

#[test]
fn conformance_vectors() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(conformance_dir())
        .expect("tests/conformance exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();

    let mut failures = Vec::new();
    let mut count = 0;
    let mut names = std::collections::HashSet::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable vector file");
        let doc: Json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: invalid JSON: {e}", file.display()));
        let file_context = doc.get("context").cloned().unwrap_or_else(|| json!({}));
        let file_name = file.file_name().unwrap().to_string_lossy().to_string();
        for vector in doc["vectors"].as_array().expect("a `vectors` array") {
            count += 1;
            let name = vector["name"].as_str().expect("every vector has a name");
            assert!(
                names.insert(format!("{file_name}/{name}")),
                "duplicate vector name {file_name}/{name}"
            );
            if let Err(problem) = check_vector(vector, &file_context) {
                failures.push(format!("{file_name} / {name}: {problem}"));
            }
        }
    }

    assert!(
        failures.is_empty(),
        "{} of {count} vectors failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        count >= MIN_VECTORS,
        "only {count} vectors found, expected at least {MIN_VECTORS}"
    );
}

/// Runs one vector; returns a description of the mismatch, if any.
fn check_vector(vector: &Json, file_context: &Json) -> Result<(), String> {
    let op = vector["op"].as_str().ok_or("missing `op`")?;
    let input = vector["input"].as_str().ok_or("missing `input`")?;
    let context = Value::from_json(
        vector
            .get("context")
            .cloned()
            .unwrap_or_else(|| file_context.clone()),
    );
    let options = options_of(vector.get("options"))?;

    let actual: Result<Json, ExprError> = match op {
        "render" => Template::parse_with_limits(input, options.scan, options.limits)
            .and_then(|t| t.render(&context, &options))
            .map(Json::String),
        "evaluate" => Template::parse_with_limits(input, options.scan, options.limits)
            .and_then(|t| t.evaluate(&context, &options))
            .map(|v| v.to_json()),
        "references" => Template::parse(input, options.scan).map(|t| {
            let refs = t.references();
            json!({"paths": refs.paths, "secretIds": refs.secret_ids, "dynamicSecrets": refs.dynamic_secrets})
        }),
        "input" => run_input(input, vector),
        other => return Err(format!("unknown op `{other}`")),
    };
    compare(vector, actual)
}

fn run_input(input: &str, vector: &Json) -> Result<Json, ExprError> {
    let kind = FieldKind::classify_checked(input)?;
    let supplied = vector.get("supplied").cloned().map(Value::from_json);
    if supplied.is_none() && vector.get("useDefault") != Some(&Json::Bool(true)) {
        return Ok(kind.to_json());
    }
    let validators = match &kind {
        FieldKind::RuntimeInput(input) => input,
        FieldKind::Validated { validators, .. } => validators,
        _ => return Ok(supplied.unwrap_or(Value::Null).to_json()),
    };
    validators.resolve(supplied.as_ref()).map(|v| v.to_json())
}

fn options_of(json: Option<&Json>) -> Result<Options, String> {
    let mut options = Options::default();
    let Some(json) = json else { return Ok(options) };
    if let Some(unresolved) = json.get("unresolved").and_then(Json::as_str) {
        options.unresolved = match unresolved {
            "null" => Unresolved::Null,
            "keep" => Unresolved::Keep,
            "error" => Unresolved::Error,
            other => return Err(format!("unknown unresolved mode `{other}`")),
        };
    }
    if let Some(scan) = json.get("scan").and_then(Json::as_str) {
        options.scan = match scan {
            "harness" => ScanMode::Harness,
            "smart" => ScanMode::Smart,
            other => return Err(format!("unknown scan mode `{other}`")),
        };
    }
    if let Some(limits) = json.get("limits") {
        let defaults = Limits::default();
        let get = |key: &str, default: usize| {
            limits
                .get(key)
                .and_then(Json::as_u64)
                .map_or(default, |v| v as usize)
        };
        options.limits = Limits {
            max_template_bytes: get("maxTemplateBytes", defaults.max_template_bytes),
            max_block_depth: get("maxBlockDepth", defaults.max_block_depth),
            max_expression_depth: get("maxExpressionDepth", defaults.max_expression_depth),
            max_steps: get("maxSteps", defaults.max_steps as usize) as u64,
            max_result_bytes: get("maxResultBytes", defaults.max_result_bytes),
            max_resolution_depth: get("maxResolutionDepth", defaults.max_resolution_depth),
        };
    }
    Ok(options)
}

fn compare(vector: &Json, actual: Result<Json, ExprError>) -> Result<(), String> {
    let expect = vector.get("expect").ok_or("missing `expect`")?;
    match (expect.get("value"), expect.get("error"), actual) {
        (Some(expected), None, Ok(value)) => {
            if !json_equal(expected, &value) {
                return Err(format!("expected value {expected}, got {value}"));
            }
            if let Some(kind) = vector.get("valueType").and_then(Json::as_str) {
                let actual_kind = json_type(&value);
                if kind != actual_kind {
                    return Err(format!("expected a {kind}, got a {actual_kind} ({value})"));
                }
            }
            Ok(())
        }
        (Some(expected), None, Err(error)) => Err(format!(
            "expected value {expected}, got error {}",
            error.to_json()
        )),
        (None, Some(expected), Ok(value)) => {
            Err(format!("expected error {expected}, got value {value}"))
        }
        (None, Some(expected), Err(error)) => {
            let code = expected
                .get("code")
                .and_then(Json::as_str)
                .ok_or("error without `code`")?;
            if code != error.code {
                return Err(format!(
                    "expected error code {code}, got {}",
                    error.to_json()
                ));
            }
            if let Some(column) = expected.get("column").and_then(Json::as_u64)
                && column as usize != error.column
            {
                return Err(format!("expected column {column}, got {}", error.to_json()));
            }
            if let Some(part) = expected.get("messageContains").and_then(Json::as_str)
                && !error.message.contains(part)
            {
                return Err(format!(
                    "expected the message to contain `{part}`, got {}",
                    error.to_json()
                ));
            }
            if let Some(part) = expected.get("helpContains").and_then(Json::as_str)
                && !error.help.contains(part)
            {
                return Err(format!(
                    "expected the help to contain `{part}`, got {}",
                    error.to_json()
                ));
            }
            if error.help.is_empty() {
                return Err("error has no help line".to_string());
            }
            Ok(())
        }
        _ => Err("`expect` needs exactly one of `value` and `error`".to_string()),
    }
}

/// Deep equality in which numbers compare by value, as in JavaScript.
fn json_equal(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

fn json_type(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(n) if n.is_f64() => "decimal",
        Json::Number(_) => "integer",
        Json::String(_) => "string",
        Json::Array(_) => "list",
        Json::Object(_) => "map",
    }
}
