//! Errors from scanning, parsing and evaluating templates.

use std::fmt;
use std::ops::Range;

use crate::diagnostic::{Diagnostic, Span, line_column};
use crate::report::ExprErrorJson;

/// An error located in a template's text.
///
/// `code` is a stable kebab-case identifier; see [`codes`] for the list.
/// `byte_range` indexes the template text; `line` and `column` are 1-based
/// and `column` counts characters from the start of that line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub code: &'static str,
    pub message: String,
    pub help: String,
    pub byte_range: Range<usize>,
    pub line: usize,
    pub column: usize,
}

/// The error codes [`ExprError::code`] takes.
pub mod codes {
    /// The expression text is not valid JEXL.
    pub const SYNTAX: &str = "expression-syntax";
    /// A reference has no value and the unresolved mode is `error`.
    pub const UNRESOLVED: &str = "unresolved-expression";
    /// An operator got operands it cannot combine.
    pub const TYPE_MISMATCH: &str = "type-mismatch";
    /// An arithmetic or boolean operator got a null operand.
    pub const NULL_OPERAND: &str = "null-operand";
    /// Integer or decimal division or remainder by zero.
    pub const DIVISION_BY_ZERO: &str = "division-by-zero";
    /// Integer `%` with a negative divisor, which JEXL 3.1 rejects.
    pub const NEGATIVE_MODULUS: &str = "negative-modulus";
    /// An integer result does not fit in 64 bits.
    pub const INTEGER_OVERFLOW: &str = "integer-overflow";
    /// A string cannot be read as a number where a number is needed.
    pub const NUMBER_FORMAT: &str = "number-format";
    /// No method of that name exists for the value's type.
    pub const UNKNOWN_METHOD: &str = "unknown-method";
    /// A method or built-in got the wrong number or kind of arguments.
    pub const INVALID_ARGUMENT: &str = "invalid-argument";
    /// An index or range lies outside a string or list.
    pub const INDEX_OUT_OF_BOUNDS: &str = "index-out-of-bounds";
    /// A property is read from a value that has no properties.
    pub const UNKNOWN_PROPERTY: &str = "unknown-property";
    /// A method or property is used on null.
    pub const NULL_VALUE: &str = "null-value";
    /// A regular expression is invalid.
    pub const INVALID_REGEX: &str = "invalid-regex";
    /// A regular expression uses a Java construct basso does not support.
    pub const UNSUPPORTED_REGEX: &str = "unsupported-regex";
    /// A regular expression backtracked past its limit.
    pub const REGEX_LIMIT: &str = "regex-backtrack-limit";
    /// A secret's value was inspected, compared or changed.
    pub const SECRET_OPAQUE: &str = "secret-opaque";
    /// Run-time data (a context value or a step output, not the pipeline
    /// file) requests a secret or chooses a secret's id.
    pub const SECRET_FROM_DATA: &str = "secret-from-run-time-data";
    /// JSON text given to a `json.*` built-in is invalid.
    pub const INVALID_JSON: &str = "invalid-json";
    /// A JSONPath given to a `json.*` built-in is invalid.
    pub const INVALID_JSON_PATH: &str = "invalid-json-path";
    /// A string value refers back to itself through `<+…>` blocks.
    pub const CYCLE: &str = "expression-cycle";
    /// String values re-resolved more than 15 levels deep.
    pub const RECURSION_LIMIT: &str = "recursion-limit";
    /// The template text is longer than the limit.
    pub const TEMPLATE_TOO_LONG: &str = "template-too-long";
    /// Blocks or brackets nest deeper than the limit.
    pub const NESTING_LIMIT: &str = "nesting-limit";
    /// Evaluation took more steps than the budget.
    pub const BUDGET_EXCEEDED: &str = "evaluation-budget-exceeded";
    /// The evaluations that share one budget, such as all of one pipeline
    /// resolution, took more steps than it allows.
    pub const SHARED_BUDGET_EXCEEDED: &str = "shared-budget-exceeded";
    /// A value or the rendered text grew past its size limit.
    pub const RESULT_TOO_LARGE: &str = "result-too-large";
    /// JEXL syntax basso does not implement (scripts, lambdas, sets).
    pub const UNSUPPORTED_SYNTAX: &str = "unsupported-syntax";
}

impl ExprError {
    /// Creates an error at `byte_range` of `source`, computing line and column.
    pub fn new(
        code: &'static str,
        message: impl Into<String>,
        help: impl Into<String>,
        source: &str,
        byte_range: Range<usize>,
    ) -> Self {
        let start = clamp_to_boundary(source, byte_range.start);
        let end = clamp_to_boundary(source, byte_range.end.max(start));
        let (line, column) = line_column(source, start);
        ExprError {
            code,
            message: message.into(),
            help: help.into(),
            byte_range: start..end,
            line,
            column,
        }
    }

    /// Converts the error into a [`Diagnostic`] for a template that starts at
    /// byte `template_offset` of `file_text`, the text of the file named `file`.
    pub fn to_diagnostic(&self, file: &str, file_text: &str, template_offset: usize) -> Diagnostic {
        let start = template_offset + self.byte_range.start;
        let end = template_offset + self.byte_range.end;
        let span = Span::from_byte_range(file_text, start, end);
        Diagnostic::error(self.code, self.message.clone(), span)
            .with_help(self.help.clone())
            .with_file(file)
    }

    /// Converts the error to the JSON that `basso eval --format json` prints:
    /// `{"code", "message", "help", "line", "column"}`.
    pub fn to_json(&self) -> serde_json::Value {
        // Serializing strings and integers cannot fail.
        serde_json::to_value(self.to_json_shape()).unwrap_or_default()
    }

    /// Copies the fields of the JSON contract into an [`ExprErrorJson`].
    pub fn to_json_shape(&self) -> ExprErrorJson {
        ExprErrorJson {
            code: self.code.to_string(),
            message: self.message.clone(),
            help: self.help.clone(),
            line: self.line,
            column: self.column,
        }
    }
}

fn clamp_to_boundary(source: &str, index: usize) -> usize {
    let mut index = index.min(source.len());
    while index > 0 && !source.is_char_boundary(index) {
        index -= 1;
    }
    index
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {} [{}]",
            self.line, self.column, self.message, self.code
        )
    }
}

impl std::error::Error for ExprError {}
