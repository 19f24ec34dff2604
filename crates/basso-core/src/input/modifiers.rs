//! The `.name(argument)` modifiers after `<+input>` or a validated value.

use std::ops::Range;

use super::{RuntimeInput, codes};
use crate::error::ExprError;
use crate::value::Value;

const MODIFIERS: &[&str] = &[
    "default",
    "allowedValues",
    "regex",
    "executionInput",
    "selectOneFrom",
    "selectManyFrom",
];

/// Byte ranges of modifiers in the field text.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Spans {
    pub default: Range<usize>,
    pub choices: Range<usize>,
    pub regex: Range<usize>,
}

/// Returns where a validator suffix (`.allowedValues(` or `.regex(`) starts
/// in a field that is not a runtime input.
pub(super) fn validator_start(text: &str) -> Option<usize> {
    [".allowedValues(", ".regex("]
        .iter()
        .filter_map(|needle| text.find(needle))
        .min()
}

/// Parses a chain of modifiers, `rest`, which starts at byte `start` of
/// `text`.
///
/// An argument ends at the first `)` that is followed by the end of the text
/// or by another known modifier. Harness picks the shortest `\.name\((.*?)\)`
/// match the same way, so an argument may contain `)` elsewhere.
pub(super) fn parse(text: &str, start: usize, rest: &str) -> Result<RuntimeInput, ExprError> {
    let mut input = RuntimeInput {
        text: text.to_string(),
        ..RuntimeInput::default()
    };
    let mut at = 0;
    let mut seen: Vec<&str> = Vec::new();
    while at < rest.len() {
        let here = &rest[at..];
        let error_at = |message: String, help: &str, len: usize| {
            ExprError::new(
                codes::INVALID_RUNTIME_INPUT,
                message,
                help,
                text,
                start + at..start + at + len,
            )
        };
        let Some(name) = MODIFIERS.iter().find(|name| {
            here.strip_prefix('.')
                .and_then(|h| h.strip_prefix(**name))
                .is_some_and(|h| h.starts_with('('))
        }) else {
            let shown: String = here.chars().take(24).collect();
            return Err(error_at(
                format!("unexpected `{shown}` in a runtime input"),
                "modifiers are `.default(…)`, `.allowedValues(…)`, `.regex(…)`, `.executionInput()`, `.selectOneFrom(…)` and `.selectManyFrom(…)`",
                here.chars().next().map_or(0, char::len_utf8),
            ));
        };

        let open = 1 + name.len() + 1;
        let close = argument_end(&here[open..]).ok_or_else(|| match here[open..].rfind(')') {
            // The last `)` is followed by text that starts no modifier.
            Some(last) => {
                let after = &here[open + last + 1..];
                let excerpt: String = after.chars().take(24).collect();
                error_at(
                    format!("unexpected `{excerpt}` after `.{name}(…)` in a runtime input"),
                    "end the field after the modifier's `)`, or start another modifier such as `.allowedValues(…)`",
                    open + last + 1 + after.chars().next().map_or(0, char::len_utf8),
                )
            }
            None => error_at(
                format!("`.{name}(` has no closing `)`"),
                "close the modifier's argument with `)`; in a YAML flow list such as `[a, <+input>.allowedValues(b,c)]` the comma splits the item, so quote it or write a block list",
                open,
            ),
        })?;
        let argument = &here[open..open + close];
        if let Some((offset, written, meant)) = misspelt_modifier(argument) {
            let from = at + open + offset;
            return Err(ExprError::new(
                codes::INVALID_RUNTIME_INPUT,
                format!(
                    "`.{written}(` is no runtime-input modifier, so the argument of `.{name}(…)` would run on to the end"
                ),
                format!("did you mean `.{meant}(`?"),
                text,
                start + from..start + from + 1 + written.len() + 1,
            ));
        }
        let span = start + at..start + at + open + close + 1;
        if seen.contains(name) {
            input.repeated.push((*name, span.clone()));
        }
        seen.push(*name);
        apply(&mut input, name, argument, span, text)?;
        at += open + close + 1;
    }
    Ok(input)
}

/// Finds a misspelt modifier inside a modifier's argument, where the
/// argument's end is found only at a known modifier: `).allowedValue(`
/// after `.default(x` makes the default `x).allowedValue(x`. Returns the
/// offset of the misspelt name's `.` in `argument`, the name as written and
/// the modifier it is close to.
fn misspelt_modifier(argument: &str) -> Option<(usize, &str, &'static str)> {
    argument.match_indices(").").find_map(|(at, _)| {
        let after = &argument[at + 2..];
        let length = after
            .find(|c: char| !c.is_ascii_alphanumeric())
            .filter(|&end| after[end..].starts_with('('))?;
        let written = &after[..length];
        let meant = crate::pipeline::suggest::closest(written, MODIFIERS)?;
        Some((at + 1, written, meant))
    })
}

/// Finds the `)` that ends an argument.
fn argument_end(after_open: &str) -> Option<usize> {
    after_open.match_indices(')').map(|(i, _)| i).find(|&i| {
        let following = &after_open[i + 1..];
        following.is_empty()
            || MODIFIERS.iter().any(|name| {
                following
                    .strip_prefix('.')
                    .and_then(|f| f.strip_prefix(*name))
                    .is_some_and(|f| f.starts_with('('))
            })
    })
}

fn apply(
    input: &mut RuntimeInput,
    name: &str,
    argument: &str,
    span: Range<usize>,
    text: &str,
) -> Result<(), ExprError> {
    let is_choice_list = matches!(name, "allowedValues" | "selectOneFrom" | "selectManyFrom");
    if is_choice_list && argument.trim().is_empty() {
        return Err(ExprError::new(
            codes::INVALID_RUNTIME_INPUT,
            format!("`.{name}()` lists no values"),
            format!("list the values, as in `.{name}(dev, prod)`, or remove `.{name}()`"),
            text,
            span,
        ));
    }
    match name {
        "default" => {
            input.default = Some(parse_default(argument, span.clone(), text)?);
            input.spans.default = span;
        }
        "allowedValues" => {
            input.allowed_values = Some(split_values(argument));
            input.spans.choices = span;
        }
        "selectOneFrom" => {
            input.select_one_from = Some(split_values(argument));
            if input.allowed_values.is_none() {
                input.spans.choices = span;
            }
        }
        "selectManyFrom" => {
            input.select_many_from = Some(split_values(argument));
            if input.allowed_values.is_none() && input.select_one_from.is_none() {
                input.spans.choices = span;
            }
        }
        "regex" => {
            input.regex = Some(argument.to_string());
            input.spans.regex = span;
        }
        _ => {
            if !argument.trim().is_empty() {
                return Err(ExprError::new(
                    codes::INVALID_RUNTIME_INPUT,
                    format!("`.executionInput()` takes no argument, but got `{argument}`"),
                    "write `.executionInput()`",
                    text,
                    span,
                ));
            }
            input.execution_input = true;
        }
    }
    Ok(())
}

/// Parses a default as Harness does: JSON when the argument is `[…]` or
/// `"…"`, otherwise the argument wrapped in quotes and read as a JSON
/// string, so `.default(5)` is the string `"5"`.
///
/// A default quoted as `\"x,y\"` or `\'x,y\'`, the way choices are quoted, is
/// the text inside the quotes, so it can equal a choice that contains a comma.
fn parse_default(argument: &str, span: Range<usize>, text: &str) -> Result<Value, ExprError> {
    if let Some(inner) = strip_item_quotes(argument) {
        return Ok(Value::String(inner.to_string()));
    }
    let is_json = (argument.starts_with('[') && argument.ends_with(']'))
        || (argument.len() >= 2 && argument.starts_with('"') && argument.ends_with('"'));
    let json_text = if is_json {
        argument.to_string()
    } else {
        format!("\"{argument}\"")
    };
    serde_json::from_str::<serde_json::Value>(&json_text).map(Value::from_json).map_err(|error| {
        let (message, help) = if is_json {
            (
                format!("default `{argument}` is not valid JSON: {error}"),
                "quote list items, such as `.default([\"a\", \"b\"])`, and escape `\\` and `\"` in strings",
            )
        } else {
            (
                format!("default `{argument}` is read as the JSON string `{json_text}`, which is not valid: {error}"),
                "escape each `\"` and `\\` in the default with `\\`; a JSON object goes in a quoted string, such as `.default(\"{\\\"a\\\":1}\")`",
            )
        };
        ExprError::new(codes::INVALID_DEFAULT, message, help, text, span)
    })
}

/// Splits a list of values as Harness's `AllowedValuesHelper` does: on
/// commas outside `\'…\'` or `\"…\"` quoting, each item trimmed and its
/// quoting removed. `abc, \'def, ghi\'` gives `abc` and `def, ghi`.
pub fn split_values(text: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && matches!(chars.peek(), Some('\'') | Some('"')) {
            let q = chars.next().expect("peeked");
            match quote {
                None => quote = Some(q),
                Some(open) if open == q => quote = None,
                Some(_) => {}
            }
            current.push('\\');
            current.push(q);
            continue;
        }
        if c == ',' && quote.is_none() {
            items.push(unquote(&current));
            current.clear();
            continue;
        }
        current.push(c);
    }
    items.push(unquote(&current));
    items
}

fn unquote(item: &str) -> String {
    strip_item_quotes(item).unwrap_or(item.trim()).to_string()
}

/// Returns the text inside `\'…\'` or `\"…\"` around the whole trimmed
/// item, or `None` when the item is not quoted that way.
pub(super) fn strip_item_quotes(item: &str) -> Option<&str> {
    let item = item.trim();
    ["\\'", "\\\""]
        .iter()
        .find_map(|quote| item.strip_prefix(quote).and_then(|i| i.strip_suffix(quote)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_honours_escaped_quotes() {
        assert_eq!(
            split_values(r#"abc, \'def, ghi\', \"jkl, mn\""#),
            vec!["abc", "def, ghi", "jkl, mn"]
        );
    }

    #[test]
    fn text_after_modifier_named() {
        let error = RuntimeInput::parse("<+input>.default(\"q\")x").unwrap_err();
        assert_eq!(
            error.message,
            "unexpected `x` after `.default(…)` in a runtime input"
        );
        let unclosed = RuntimeInput::parse("<+input>.default(q").unwrap_err();
        assert_eq!(unclosed.message, "`.default(` has no closing `)`");
    }

    #[test]
    fn unquoted_default_error_shows_json_text() {
        let error = RuntimeInput::parse("<+input>.default({\"a\":1})").unwrap_err();
        assert!(
            error.message.starts_with(
                "default `{\"a\":1}` is read as the JSON string `\"{\"a\":1}\"`, which is not valid"
            ),
            "{}",
            error.message
        );
        let quoted = RuntimeInput::parse("<+input>.default(\"{\\\"a\\\":1}\")").unwrap();
        assert_eq!(quoted.default, Some(Value::String("{\"a\":1}".to_string())));
        let list = RuntimeInput::parse("<+input>.default([a])").unwrap_err();
        assert!(
            list.message.starts_with("default `[a]` is not valid JSON"),
            "{}",
            list.message
        );
    }

    #[test]
    fn argument_may_contain_parentheses() {
        assert_eq!(argument_end("a(b)c).regex(x)"), Some(5));
        assert_eq!(argument_end("x)"), Some(1));
    }
}
