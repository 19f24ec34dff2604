//! The `secrets`, `json` and `regex` functors.

use std::borrow::Cow;
use std::ops::Range;

use super::jsonpath::{Selection, select};
use super::{Evaluator, Flow};
use crate::error::{ExprError, codes};
use crate::expr::Builtin;
use crate::value::{SecretHandle, Value};

impl Evaluator<'_> {
    pub(crate) fn call_builtin(
        &mut self,
        function: Builtin,
        args: &[Cow<'_, Value>],
        source: &str,
        span: Range<usize>,
    ) -> Flow<Value> {
        let error = |code: &'static str, message: String, help: &str| -> ExprError {
            ExprError::new(code, message, help, source, span.clone())
        };
        let arity = match function {
            Builtin::SecretsGetValue | Builtin::JsonObject | Builtin::JsonFormat => 1,
            Builtin::JsonSelect
            | Builtin::JsonList
            | Builtin::RegexExtract
            | Builtin::RegexMatch => 2,
            Builtin::RegexReplace => 3,
        };
        if args.len() != arity {
            return Err(error(
                codes::INVALID_ARGUMENT,
                format!(
                    "`{}` takes {arity} arguments, not {}",
                    function.name(),
                    args.len()
                ),
                "check the built-in's arguments",
            )
            .into());
        }
        let string = |i: usize| -> Result<&str, ExprError> {
            match args[i].as_ref() {
                Value::String(s) => Ok(s),
                other => Err(error(
                    codes::INVALID_ARGUMENT,
                    format!(
                        "argument {} of `{}` must be a string, not {}",
                        i + 1,
                        function.name(),
                        other.type_with_article()
                    ),
                    "quote the argument",
                )),
            }
        };

        let value = match function {
            // A secret as the id, as a `Secret` variable whose value reads
            // another one gives, names that same secret.
            Builtin::SecretsGetValue => match args[0].as_ref() {
                Value::Secret(handle) => Value::Secret(handle.clone()),
                _ => Value::Secret(SecretHandle::new(string(0)?)),
            },
            Builtin::JsonObject => parse_json(&args[0], &error)?,
            Builtin::JsonFormat => Value::String(args[0].to_json().to_string()),
            Builtin::JsonSelect | Builtin::JsonList => {
                let document = parse_json(&args[1], &error)?;
                let path = string(0)?;
                let selection = select(&document, path).map_err(|detail| {
                    error(
                        codes::INVALID_JSON_PATH,
                        format!("invalid JSONPath `{path}`: {detail}"),
                        "write a path such as `a.b[0].c`",
                    )
                })?;
                if function == Builtin::JsonList {
                    match selection {
                        Selection::Definite(value) => value.unwrap_or(Value::Null),
                        Selection::Matches(values) => Value::List(values),
                    }
                } else {
                    select_scalar(selection)
                }
            }
            Builtin::RegexExtract => {
                let regex = self.regex(string(0)?, source, span.clone())?;
                let text = string(1)?;
                let mut found = String::new();
                for m in regex.find_iter(text) {
                    let m = m.map_err(|e| super::regex::runtime_error(&e, source, span.clone()))?;
                    if !m.as_str().is_empty() {
                        found = m.as_str().to_string();
                        break;
                    }
                }
                Value::String(found)
            }
            Builtin::RegexMatch => {
                let regex = self.regex(string(0)?, source, span.clone())?;
                let found = regex
                    .is_match(string(1)?)
                    .map_err(|e| super::regex::runtime_error(&e, source, span.clone()))?;
                Value::Bool(found)
            }
            Builtin::RegexReplace => {
                let regex = self.regex(string(0)?, source, span.clone())?;
                let replacement = string(1)?;
                let text = string(2)?;
                let call = super::methods::Call {
                    name: "regex.replace",
                    args: &[],
                    source,
                    span: span.clone(),
                };
                let max_bytes = self.options.limits.max_result_bytes;
                Value::String(super::methods::replace_regex(
                    &regex,
                    text,
                    replacement,
                    usize::MAX,
                    max_bytes,
                    &call,
                )?)
            }
        };
        Ok(value)
    }
}

/// `json.select` returns a string, number or boolean, or the only element
/// of a one-element result; objects, lists and empty results are null.
fn select_scalar(selection: Selection) -> Value {
    let value = match selection {
        Selection::Definite(value) => value.unwrap_or(Value::Null),
        Selection::Matches(mut values) if values.len() == 1 => values.swap_remove(0),
        Selection::Matches(_) => Value::Null,
    };
    match value {
        Value::List(mut items) if items.len() == 1 => match items.swap_remove(0) {
            inner @ (Value::String(_) | Value::Int(_) | Value::Float(_) | Value::Bool(_)) => inner,
            _ => Value::Null,
        },
        scalar @ (Value::String(_) | Value::Int(_) | Value::Float(_) | Value::Bool(_)) => scalar,
        _ => Value::Null,
    }
}

/// Reads a `json.*` document argument: JSON text, or a map or list as is.
fn parse_json(
    value: &Value,
    error: &dyn Fn(&'static str, String, &str) -> ExprError,
) -> Result<Value, ExprError> {
    match value {
        Value::String(text) => serde_json::from_str::<serde_json::Value>(text)
            .map(Value::from_json)
            .map_err(|e| {
                error(
                    codes::INVALID_JSON,
                    format!("invalid JSON: {e}"),
                    "pass JSON text, such as a step output holding a JSON document",
                )
            }),
        Value::Map(_) | Value::List(_) => Ok(value.clone()),
        other => Err(error(
            codes::INVALID_ARGUMENT,
            format!(
                "a JSON document must be text, a map or a list, not {}",
                other.type_with_article()
            ),
            "pass JSON text",
        )),
    }
}
