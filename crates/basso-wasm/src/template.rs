//! `render`, `evaluate`, `references` and `runtimeInput`: the expression
//! engine, with the options and JSON documents of `basso eval`.

use basso_core::input::FieldKind;
use basso_core::report::Outcome;
use basso_core::{EvalMode, ExprError, Limits, Options, ScanMode, Template, Unresolved, Value};
use serde::{Deserialize, Deserializer};
use serde_json::Value as Json;
use wasm_bindgen::JsError;

use crate::convert;
use crate::value::JsonValue;

/// Options of `render` and `evaluate`, named as the flags of `basso eval`.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateOptions {
    /// `render` splices values into the text; `evaluate` returns a typed
    /// value. The default is the function's own mode.
    #[cfg_attr(test, ts(optional))]
    pub mode: Option<ModeOption>,
    /// What an unresolved reference becomes; `null` when absent.
    #[cfg_attr(test, ts(optional))]
    pub unresolved: Option<UnresolvedOption>,
    /// How `>` closes a block; `harness` when absent.
    #[cfg_attr(test, ts(optional))]
    pub scan: Option<ScanOption>,
    /// Engine limits; absent ones keep the defaults.
    #[cfg_attr(test, ts(optional))]
    pub limits: Option<LimitsOption>,
}

/// Options of `references`.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReferencesOptions {
    /// How `>` closes a block; `harness` when absent.
    #[cfg_attr(test, ts(optional))]
    pub scan: Option<ScanOption>,
}

/// Options of `runtimeInput`. Without `supplied` or `useDefault` the
/// function classifies the field; with either it validates a value.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuntimeInputOptions {
    /// The value supplied for the input, `null` included.
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(test, ts(optional, type = "ContextValue"))]
    pub supplied: Option<Json>,
    /// Resolve with no supplied value: the default, else `null`.
    #[cfg_attr(test, ts(optional))]
    pub use_default: Option<bool>,
}

/// Reads a field that is present, `null` included, as `Some`.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Json>, D::Error> {
    Json::deserialize(deserializer).map(Some)
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum ModeOption {
    Render,
    Evaluate,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum UnresolvedOption {
    Null,
    Keep,
    Error,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum ScanOption {
    Harness,
    Smart,
}

/// Engine limits, as in the conformance vectors' `options.limits`.
///
/// Every limit is read as a 64-bit integer, as natively. A limit above what
/// the 32-bit module can count becomes the largest value it can, except
/// `maxResultBytes`, which is capped at [`MAX_RESULT_BYTES`].
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitsOption {
    /// Maximum template length in bytes of UTF-8; 262,144 when absent.
    #[cfg_attr(test, ts(optional, type = "number"))]
    pub max_template_bytes: Option<u64>,
    /// Maximum nesting of `<+…>` blocks; 16 when absent. Any value is safe:
    /// one above 200, where evaluation stops whatever the limit, is read as
    /// 200.
    #[cfg_attr(test, ts(optional, type = "number"))]
    pub max_block_depth: Option<u64>,
    /// Maximum nesting of brackets and ternaries in one expression; 24
    /// when absent and at most 64, because deeper expressions can overflow
    /// the stack in WebAssembly.
    #[cfg_attr(test, ts(optional, type = "number"))]
    pub max_expression_depth: Option<u64>,
    /// Maximum evaluation steps per call; 100,000 when absent.
    #[cfg_attr(test, ts(optional, type = "number"))]
    pub max_steps: Option<u64>,
    /// Maximum size of any value and of the rendered text, in bytes;
    /// 262,144 when absent and at most 268,435,456 (256 MiB): a larger
    /// value is read as 256 MiB.
    #[cfg_attr(test, ts(optional, type = "number"))]
    pub max_result_bytes: Option<u64>,
    /// Maximum re-resolution depth of context strings that contain blocks;
    /// 15 when absent. Any value is safe, because evaluation stops at 200
    /// nested levels whatever it is.
    #[cfg_attr(test, ts(optional, type = "number"))]
    pub max_resolution_depth: Option<u64>,
}

/// The largest `maxExpressionDepth` the package accepts. The parser
/// recurses several frames per nesting level, on the module's 1 MiB stack
/// and on the JavaScript engine's. With no limit, 230 nested parentheses
/// trapped in Node 20.20 and in Chromium 156. In Node, expressions as deep
/// as the limit, parsed inside re-resolved context strings that already
/// nest brackets, overflowed with a limit of 128 but not with 64 or 100
/// (`pkg/tests/node/limits.test.js` runs those cases at this maximum).
const MAX_EXPRESSION_DEPTH: usize = 64;

/// The largest `maxResultBytes` the package uses; a larger limit is read
/// as this one. A wasm32 allocation cannot exceed 2 GiB, and a string that
/// grows past 1 GiB doubles its buffer beyond that, which panicked with
/// "capacity overflow". The result is also written as JSON text and
/// decoded into a JavaScript string, which V8 (Node 20) limits to
/// 2^29 - 24 UTF-16 code units, so 256 MiB leaves room for escapes.
const MAX_RESULT_BYTES: usize = 256 * 1024 * 1024;

/// Rejects limits that the module cannot honour without overflowing its
/// stack.
fn check_limits(limits: &LimitsOption) -> Result<(), String> {
    match limits.max_expression_depth {
        Some(depth) if depth > MAX_EXPRESSION_DEPTH as u64 => Err(format!(
            "invalid options: `limits.maxExpressionDepth` is {depth}, above the maximum of \
             {MAX_EXPRESSION_DEPTH}; deeper expressions can overflow the WebAssembly stack"
        )),
        _ => Ok(()),
    }
}

fn scan_mode(scan: Option<ScanOption>) -> ScanMode {
    match scan {
        None | Some(ScanOption::Harness) => ScanMode::Harness,
        Some(ScanOption::Smart) => ScanMode::Smart,
    }
}

fn core_options(options: TemplateOptions, default_mode: EvalMode) -> Result<Options, JsError> {
    let defaults = Limits::default();
    let limits = options.limits.unwrap_or_default();
    check_limits(&limits).map_err(|message| JsError::new(&message))?;
    Ok(Options {
        scan: scan_mode(options.scan),
        mode: match options.mode {
            None => default_mode,
            Some(ModeOption::Render) => EvalMode::Render,
            Some(ModeOption::Evaluate) => EvalMode::Evaluate,
        },
        unresolved: match options.unresolved {
            None | Some(UnresolvedOption::Null) => Unresolved::Null,
            Some(UnresolvedOption::Keep) => Unresolved::Keep,
            Some(UnresolvedOption::Error) => Unresolved::Error,
        },
        limits: Limits {
            max_template_bytes: saturating(limits.max_template_bytes, defaults.max_template_bytes),
            max_block_depth: saturating(limits.max_block_depth, defaults.max_block_depth),
            max_expression_depth: saturating(
                limits.max_expression_depth,
                defaults.max_expression_depth,
            ),
            max_steps: limits.max_steps.unwrap_or(defaults.max_steps),
            max_result_bytes: saturating(limits.max_result_bytes, defaults.max_result_bytes)
                .min(MAX_RESULT_BYTES),
            max_resolution_depth: saturating(
                limits.max_resolution_depth,
                defaults.max_resolution_depth,
            ),
        },
    })
}

/// Returns `limit` as a `usize`, `usize::MAX` when it is larger, or
/// `default` when it is absent.
fn saturating(limit: Option<u64>, default: usize) -> usize {
    limit.map_or(default, |limit| {
        usize::try_from(limit).unwrap_or(usize::MAX)
    })
}

/// Reads the context argument: an object whose keys are the expression
/// roots, as in the file `basso eval --context` reads.
fn context_value(context: &str) -> Result<Value, JsError> {
    let JsonValue(value) = convert::parse_argument(context, "context")?;
    match value {
        Value::Null => Ok(Value::Map(Default::default())),
        Value::Map(_) => Ok(value),
        _ => Err(JsError::new(
            "invalid context: expected an object whose keys are the expression roots",
        )),
    }
}

/// Runs a template as `basso eval` does, in `default_mode` unless the
/// options name another.
pub fn run(
    template: &str,
    context: &str,
    options: &str,
    default_mode: EvalMode,
) -> Result<String, JsError> {
    let options = core_options(convert::from_text(options, "options")?, default_mode)?;
    let context = context_value(context)?;

    let result = Template::parse_with_limits(template, options.scan, options.limits)
        .and_then(|parsed| parsed.run(&context, &options))
        .map(|value| value.to_json());
    outcome_to_text(template, result)
}

/// Lists the context paths and secret ids a template uses.
pub fn references(template: &str, options: &str) -> Result<String, JsError> {
    let options: ReferencesOptions = convert::from_text(options, "options")?;
    let result =
        Template::parse(template, scan_mode(options.scan)).map(|parsed| parsed.references());
    outcome_to_text(template, result)
}

/// Classifies a field (fixed text, expression, runtime input) or, with a
/// supplied value or `useDefault`, validates the value a runtime input gets.
pub fn runtime_input(field: &str, options: &str) -> Result<String, JsError> {
    let options: RuntimeInputOptions = convert::from_text(options, "options")?;
    let result = FieldKind::classify_checked(field).and_then(|kind| {
        let supplied = options.supplied.map(Value::from_json);
        if supplied.is_none() && options.use_default != Some(true) {
            return Ok(kind.to_json());
        }
        let validators = match &kind {
            FieldKind::RuntimeInput(input) => input,
            FieldKind::Validated { validators, .. } => validators,
            _ => return Ok(supplied.unwrap_or(Value::Null).to_json()),
        };
        validators
            .resolve(supplied.as_ref())
            .map(|value| value.to_json())
    });
    outcome_to_text(field, result)
}

/// Converts an engine result into the text of `{schemaVersion, value}` or
/// `{schemaVersion, error}`, adding `columnUtf16` to the error.
fn outcome_to_text<T: serde::Serialize>(
    source: &str,
    result: Result<T, ExprError>,
) -> Result<String, JsError> {
    let position = result
        .as_ref()
        .err()
        .map(|error| (error.line, error.column));
    let mut document = Outcome::from_result(result).to_json();
    if let (Some((line, column)), Some(error)) = (position, document.get_mut("error")) {
        error["columnUtf16"] = convert::column_utf16(source, line, column).into();
    }
    convert::to_text(&document)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expression_depth(depth: u64) -> LimitsOption {
        LimitsOption {
            max_expression_depth: Some(depth),
            ..LimitsOption::default()
        }
    }

    #[test]
    fn expression_depth_at_maximum_accepted() {
        assert_eq!(
            check_limits(&expression_depth(MAX_EXPRESSION_DEPTH as u64)),
            Ok(())
        );
        assert_eq!(check_limits(&LimitsOption::default()), Ok(()));
    }

    #[test]
    fn expression_depth_above_maximum_rejected() {
        let error = check_limits(&expression_depth(MAX_EXPRESSION_DEPTH as u64 + 1)).unwrap_err();
        assert!(
            error.contains("`limits.maxExpressionDepth` is 65"),
            "{error}"
        );
        assert!(error.contains("maximum of 64"), "{error}");
    }

    #[test]
    fn default_expression_depth_within_maximum() {
        assert!(Limits::default().max_expression_depth <= MAX_EXPRESSION_DEPTH);
    }
}
