//! Field classification and runtime inputs.
//!
//! Harness reads every settable field the same way, in its
//! `ParameterFieldDeserializer`. After trimming, text that starts with
//! `<+input>` is a runtime input. Otherwise, text with an `.allowedValues(`
//! or `.regex(` suffix is a value with a validator. Otherwise, text with a
//! `<+…>` block is an expression, and anything else is a fixed value.

use std::ops::Range;

use crate::error::ExprError;
use crate::options::{Limits, ScanMode};
use crate::template::{Template, has_block_start};
use crate::value::Value;

mod modifiers;

pub use modifiers::split_values;

/// Error codes of runtime-input parsing and validation.
pub mod codes {
    /// The text after `<+input>` is not a chain of known modifiers.
    pub const INVALID_RUNTIME_INPUT: &str = "invalid-runtime-input";
    /// A `.default(…)` argument in `[…]` or `"…"` is not valid JSON.
    pub const INVALID_DEFAULT: &str = "invalid-default";
    /// A value is not among the allowed values.
    pub const VALUE_NOT_ALLOWED: &str = "value-not-allowed";
    /// A value does not match the `.regex(…)` pattern as a whole.
    pub const VALUE_MISMATCHES_REGEX: &str = "value-mismatches-regex";
}

/// The kind of a field's text.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldKind {
    /// Plain text with no block, such as `alpine:3.20`.
    Fixed(String),
    /// A runtime input, `<+input>` with optional modifiers.
    RuntimeInput(RuntimeInput),
    /// A fixed value or expression followed by `.allowedValues(…)` or
    /// `.regex(…)`; the validators apply to the resolved value.
    Validated {
        value: String,
        validators: RuntimeInput,
    },
    /// Text with at least one `<+…>` block.
    Expression(String),
}

/// A runtime input's modifiers. The same type contains the validators of a
/// [`FieldKind::Validated`] field.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuntimeInput {
    /// `.default(v)`: JSON when `v` is `[…]` or `"…"`, otherwise the text itself.
    pub default: Option<Value>,
    /// `.allowedValues(a, b)`, split as [`split_values`] describes.
    pub allowed_values: Option<Vec<String>>,
    /// `.regex(p)`: a Java pattern the whole value must match.
    pub regex: Option<String>,
    /// `.executionInput()`: the value is requested when the step is about to run.
    pub execution_input: bool,
    /// `.selectOneFrom(a, b)`: a single choice.
    pub select_one_from: Option<Vec<String>>,
    /// `.selectManyFrom(a, b)`: several choices, comma-joined.
    pub select_many_from: Option<Vec<String>>,
    /// Byte range of each modifier in the field text, for error locations.
    spans: modifiers::Spans,
    /// Each use of a modifier after its first, with the use's byte range in
    /// the field text. The last use of a modifier is the one that applies.
    repeated: Vec<(&'static str, Range<usize>)>,
    /// The field text the spans point into.
    text: String,
}

impl FieldKind {
    /// Classifies a field's text. Errors come from malformed modifiers; a
    /// default that breaks its own validators is reported by
    /// [`RuntimeInput::validate_default`], not here.
    pub fn classify(text: &str) -> Result<FieldKind, ExprError> {
        let trimmed = text.trim();
        let offset = text.len() - text.trim_start().len();

        if let Some(rest) = trimmed.strip_prefix("<+input>") {
            let input = modifiers::parse(text, offset + "<+input>".len(), rest)?;
            return Ok(FieldKind::RuntimeInput(input));
        }
        if let Some(at) = modifiers::validator_start(trimmed) {
            let validators = modifiers::parse(text, offset + at, &trimmed[at..])?;
            return Ok(FieldKind::Validated {
                value: trimmed[..at].to_string(),
                validators,
            });
        }
        let has_blocks = Template::parse_with_limits(text, ScanMode::Harness, Limits::default())
            .map(|t| t.has_blocks())
            .unwrap_or(true);
        Ok(if has_blocks {
            FieldKind::Expression(text.to_string())
        } else {
            FieldKind::Fixed(text.to_string())
        })
    }

    /// Classifies `text` as [`FieldKind::classify`] does, and rejects a
    /// runtime input or validated value whose regex does not compile, as
    /// `check` does. An editor that reads one field at a time gets the
    /// error there; `basso inputs` still lists such a field.
    pub fn classify_checked(text: &str) -> Result<FieldKind, ExprError> {
        let kind = FieldKind::classify(text)?;
        match &kind {
            FieldKind::RuntimeInput(input) => input.check_regex()?,
            FieldKind::Validated { validators, .. } => validators.check_regex()?,
            _ => {}
        }
        Ok(kind)
    }

    /// Converts the classification to JSON: `{"kind": "fixed" | "runtimeInput" |
    /// "validated" | "expression", ...}` with camelCase modifier names.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            FieldKind::Fixed(text) => serde_json::json!({"kind": "fixed", "value": text}),
            FieldKind::Expression(text) => serde_json::json!({"kind": "expression", "value": text}),
            FieldKind::RuntimeInput(input) => {
                let mut json = input.to_json();
                json["kind"] = "runtimeInput".into();
                json
            }
            FieldKind::Validated { value, validators } => {
                let mut json = validators.to_json();
                json["kind"] = "validated".into();
                json["value"] = value.clone().into();
                json
            }
        }
    }
}

/// Returns whether `text` has a `<+…>` block, closed or not compiling. A
/// text whose only `<+` is never closed stays plain text.
fn is_expression(text: &str) -> bool {
    has_block_start(text)
        && Template::parse_with_limits(text, ScanMode::Harness, Limits::default())
            .map(|template| template.has_blocks())
            .unwrap_or(true)
}

impl RuntimeInput {
    /// Parses the text of a runtime-input field, `<+input>` and modifiers.
    pub fn parse(text: &str) -> Result<RuntimeInput, ExprError> {
        match FieldKind::classify(text)? {
            FieldKind::RuntimeInput(input) => Ok(input),
            _ => Err(ExprError::new(
                codes::INVALID_RUNTIME_INPUT,
                format!("`{}` is not a runtime input", text.trim()),
                "a runtime input starts with `<+input>`",
                text,
                0..text.len(),
            )),
        }
    }

    /// The values a choice must come from: `allowedValues`, `selectOneFrom`
    /// or `selectManyFrom`, in that order of preference.
    pub fn choices(&self) -> Option<&[String]> {
        self.allowed_values
            .as_deref()
            .or(self.select_one_from.as_deref())
            .or(self.select_many_from.as_deref())
    }

    /// Returns each use of a modifier after its first, as the modifier's name
    /// and the use's byte range in the field text. The last use applies.
    pub fn repeated_modifiers(&self) -> &[(&'static str, Range<usize>)] {
        &self.repeated
    }

    /// Returns whether a value may hold several of the choices, comma-joined:
    /// the choices come from `selectManyFrom`.
    pub fn takes_many(&self) -> bool {
        self.allowed_values.is_none()
            && self.select_one_from.is_none()
            && self.select_many_from.is_some()
    }

    /// Checks a supplied value against the validators. Null passes, as in
    /// Harness. Choices are skipped when one of them is itself an
    /// expression. A supplied string must equal one choice, or be split like
    /// the choices with every part allowed. The regex must match the whole
    /// value, or each element of a list.
    pub fn validate(&self, value: &Value) -> Result<(), ExprError> {
        if matches!(value, Value::Null) {
            return Ok(());
        }
        self.validate_choices(value)?;
        self.validate_regex(value)
    }

    /// Returns the value to use: the supplied one when given, else the
    /// default, else null; validated either way. A supplied value that is
    /// an expression, such as `<+trigger.branch>`, is returned unchecked,
    /// because Harness checks what it evaluates to when the run evaluates it.
    /// A `<+` without its `>` makes no expression, so `staging<+` is checked.
    pub fn resolve(&self, supplied: Option<&Value>) -> Result<Value, ExprError> {
        match supplied {
            Some(Value::String(text)) if is_expression(text) => Ok(Value::String(text.clone())),
            Some(value) => {
                self.validate(value)?;
                Ok(self.without_choice_quoting(value))
            }
            None => {
                self.validate_default()?;
                Ok(self.default.clone().unwrap_or(Value::Null))
            }
        }
    }

    /// Returns a supplied string without the `\'…\'` or `\"…\"` quoting that
    /// keeps a comma inside one choice: `\'def, ghi\'` gives `def, ghi`. Other
    /// values, and every value of an input without choices, are returned as
    /// given.
    // NOTE: a value of several parts, such as `abc, \"jkl, mn\"`, keeps its
    // quoting, because joining the unquoted parts would lose their bounds.
    fn without_choice_quoting(&self, value: &Value) -> Value {
        match value {
            Value::String(text) if self.choices().is_some() => {
                match modifiers::strip_item_quotes(text) {
                    Some(inner) => Value::String(inner.to_string()),
                    None => value.clone(),
                }
            }
            _ => value.clone(),
        }
    }

    /// Checks the default against the validators; Harness requires a default
    /// to be one of the allowed values.
    pub fn validate_default(&self) -> Result<(), ExprError> {
        match &self.default {
            Some(default) => self.validate(default).map_err(|mut error| {
                error.message = format!("default {}", error.message);
                error
            }),
            None => Ok(()),
        }
    }

    fn validate_choices(&self, value: &Value) -> Result<(), ExprError> {
        let Some(choices) = self.choices() else {
            return Ok(());
        };
        if choices.iter().any(|choice| choice.contains("<+")) {
            return Ok(());
        }
        let parts: Vec<String> = match value {
            Value::List(items) => items.iter().map(Value::render).collect(),
            other => {
                // A value equal to one choice is allowed even when it contains
                // a comma, so `def, ghi` matches the choice `\'def, ghi\'`.
                let text = other.render();
                if choices.contains(&text) {
                    return Ok(());
                }
                split_values(&text)
            }
        };
        let rejected: Vec<String> = parts
            .into_iter()
            .filter(|part| !choices.contains(part))
            .collect();
        if rejected.is_empty() {
            return Ok(());
        }
        let backticked_list = |items: &[String]| {
            items
                .iter()
                .map(|v| format!("`{v}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        Err(ExprError::new(
            codes::VALUE_NOT_ALLOWED,
            format!("value {} is not allowed", backticked_list(&rejected)),
            format!(
                "use one of the allowed values: {}",
                backticked_list(choices)
            ),
            &self.text,
            self.spans.choices.clone(),
        ))
    }

    /// Compiles the `.regex(...)` pattern, so that an invalid pattern is
    /// reported before any value is supplied.
    pub fn check_regex(&self) -> Result<(), ExprError> {
        let Some(pattern) = &self.regex else {
            return Ok(());
        };
        crate::eval::regex::compile_java(pattern, true, &self.text, self.spans.regex.clone())
            .map(|_| ())
    }

    fn validate_regex(&self, value: &Value) -> Result<(), ExprError> {
        let Some(pattern) = &self.regex else {
            return Ok(());
        };
        let span = self.spans.regex.clone();
        let regex = crate::eval::regex::compile_java(pattern, true, &self.text, span.clone())?;
        let items: Vec<String> = match value {
            Value::List(items) => items.iter().map(Value::render).collect(),
            other => vec![other.render()],
        };
        for item in items {
            if !crate::eval::regex::full_match(&regex, &item, &self.text, span.clone())? {
                return Err(ExprError::new(
                    codes::VALUE_MISMATCHES_REGEX,
                    format!("value `{item}` does not match the pattern `{pattern}`"),
                    format!("supply a value that matches `{pattern}` as a whole"),
                    &self.text,
                    span,
                ));
            }
        }
        Ok(())
    }

    /// Converts the modifiers to JSON, with camelCase names and absent ones
    /// left out.
    pub fn to_json(&self) -> serde_json::Value {
        let mut json = serde_json::json!({"executionInput": self.execution_input});
        if let Some(default) = &self.default {
            json["default"] = default.to_json();
        }
        if let Some(values) = &self.allowed_values {
            json["allowedValues"] = values.clone().into();
        }
        if let Some(regex) = &self.regex {
            json["regex"] = regex.clone().into();
        }
        if let Some(values) = &self.select_one_from {
            json["selectOneFrom"] = values.clone().into();
        }
        if let Some(values) = &self.select_many_from {
            json["selectManyFrom"] = values.clone().into();
        }
        json
    }
}
