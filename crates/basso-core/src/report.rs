//! The JSON documents of `basso check` and `basso eval` with `--format
//! json`, shared with the npm package so that both print the same shape.

use serde::{Deserialize, Serialize};

use crate::diagnostic::{Diagnostic, DiagnosticJson};
use crate::error::ExprError;
use crate::pipeline::SCHEMA_VERSION;

/// `basso check --format json`: `{"schemaVersion": 1, "diagnostics": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct CheckReport {
    pub schema_version: u32,
    pub diagnostics: Vec<DiagnosticJson>,
}

impl CheckReport {
    /// Builds the document for the diagnostics of one or more files.
    pub fn new<'a>(diagnostics: impl IntoIterator<Item = &'a Diagnostic>) -> Self {
        CheckReport {
            schema_version: SCHEMA_VERSION,
            diagnostics: diagnostics
                .into_iter()
                .map(Diagnostic::to_json_shape)
                .collect(),
        }
    }

    /// Serializes to the command-line JSON contract.
    pub fn to_json(&self) -> serde_json::Value {
        // Serializing strings and integers cannot fail.
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// `basso eval --format json`: `{"schemaVersion": 1, "value": V}` or
/// `{"schemaVersion": 1, "error": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Outcome<T> {
    pub schema_version: u32,
    #[serde(flatten)]
    pub result: OutcomeResult<T>,
}

/// The value or the error of an [`Outcome`], serialized as its `value` or
/// `error` key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum OutcomeResult<T> {
    Value(T),
    Error(ExprErrorJson),
}

impl<T: Serialize> Outcome<T> {
    /// Wraps a result of the expression engine.
    pub fn from_result(result: Result<T, ExprError>) -> Self {
        let result = match result {
            Ok(value) => OutcomeResult::Value(value),
            Err(error) => OutcomeResult::Error(error.to_json_shape()),
        };
        Outcome {
            schema_version: SCHEMA_VERSION,
            result,
        }
    }

    /// Serializes to the command-line JSON contract.
    pub fn to_json(&self) -> serde_json::Value {
        // Serializing JSON values, strings and integers cannot fail.
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// An expression error as `basso eval --format json` prints it. `line` is
/// the 1-based line of the template (lines end at `\n`), and `column` is
/// 1-based and counts characters on that line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ExprErrorJson {
    pub code: String,
    pub message: String,
    pub help: String,
    pub line: usize,
    pub column: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Span;

    #[test]
    fn check_report_json_shape() {
        let diagnostic =
            Diagnostic::warning("unused", "unused `x`", Span::from_byte_range("x", 0, 1));
        let json = CheckReport::new([&diagnostic]).to_json();
        assert_eq!(json["schemaVersion"], 1);
        assert_eq!(json["diagnostics"][0], diagnostic.to_json());
        assert_eq!(json.as_object().unwrap().len(), 2);
    }

    #[test]
    fn outcome_json_shapes() {
        let value = Outcome::from_result(Ok(serde_json::json!([1, "a"]))).to_json();
        assert_eq!(
            value,
            serde_json::json!({"schemaVersion": 1, "value": [1, "a"]})
        );

        let error = ExprError::new(
            "expression-syntax",
            "unexpected `)`",
            "remove it",
            "a\n b)",
            4..5,
        );
        let json = Outcome::<serde_json::Value>::from_result(Err(error)).to_json();
        assert_eq!(
            json,
            serde_json::json!({
                "schemaVersion": 1,
                "error": {"code": "expression-syntax", "message": "unexpected `)`", "help": "remove it", "line": 2, "column": 3}
            })
        );
    }
}
