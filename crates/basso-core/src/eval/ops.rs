//! JEXL 3.1 operators with the engine's default strict arithmetic, which is
//! what Harness's `new JexlBuilder().create()` gives: `+` concatenates when
//! either side is a string, strings that read as numbers take part in other
//! arithmetic, null operands are errors, integer division truncates.

use std::borrow::Cow;
use std::ops::Range;

use crate::error::{ExprError, codes};
use crate::expr::{BinaryOp, UnaryOp};
use crate::value::Value;

/// A number after JEXL's coercion.
#[derive(Clone, Copy)]
enum Number {
    Int(i64),
    Float(f64),
}

pub(crate) fn secret_error(source: &str, span: Range<usize>) -> ExprError {
    ExprError::new(
        codes::SECRET_OPAQUE,
        "a secret's value cannot be read, compared or changed by an expression",
        "use the secret only as a whole value or concatenate it into text",
        source,
        span,
    )
}

fn null_operand(op: &str, source: &str, span: Range<usize>) -> ExprError {
    ExprError::new(
        codes::NULL_OPERAND,
        format!("`{op}` has a null operand"),
        "guard the value with a ternary, such as `x == null ? 0 : x`, or give it a default",
        source,
        span,
    )
}

/// JEXL's boolean coercion ([`Value::condition_decision`]). Null is an
/// error, as in strict mode.
pub(crate) fn truthy(value: &Value, source: &str, span: Range<usize>) -> Result<bool, ExprError> {
    match value {
        Value::Null => Err(ExprError::new(
            codes::NULL_OPERAND,
            "a null value is used as a condition",
            "compare explicitly, such as `x != null && x`",
            source,
            span,
        )),
        Value::Secret(_) => Err(secret_error(source, span)),
        other => Ok(other.condition_decision().unwrap_or(true)),
    }
}

fn to_number(
    value: &Value,
    op: &str,
    source: &str,
    span: Range<usize>,
) -> Result<Number, ExprError> {
    match value {
        Value::Null => Err(null_operand(op, source, span)),
        Value::Bool(b) => Ok(Number::Int(i64::from(*b))),
        Value::Int(i) => Ok(Number::Int(*i)),
        Value::Float(f) => Ok(Number::Float(*f)),
        Value::String(s) => parse_number(s).ok_or_else(|| number_format(s, source, span)),
        Value::Secret(_) => Err(secret_error(source, span)),
        Value::List(_) | Value::Map(_) => Err(ExprError::new(
            codes::TYPE_MISMATCH,
            format!(
                "`{op}` cannot use {} as a number",
                value.type_with_article()
            ),
            "apply the operator to numbers or strings",
            source,
            span,
        )),
    }
}

fn number_format(text: &str, source: &str, span: Range<usize>) -> ExprError {
    ExprError::new(
        codes::NUMBER_FORMAT,
        format!("`{text}` is not a number"),
        "compare or combine it with strings, or convert the other operand with `.toString()`",
        source,
        span,
    )
}

/// Returns the error for a decimal string, such as `"5.0"`, that an
/// equality or comparison with a whole number reads as a Java long, as
/// JEXL does.
fn decimal_text_as_whole(
    left: &Value,
    right: &Value,
    source: &str,
    span: Range<usize>,
) -> ExprError {
    let text = if matches!(left, Value::String(_)) {
        left.render()
    } else {
        right.render()
    };
    ExprError::new(
        codes::NUMBER_FORMAT,
        format!("`{text}` is not a whole number, and beside a whole number it is read as one"),
        "compare with a decimal (`5.0` rather than `5`), or compare strings with `.toString()`",
        source,
        span,
    )
}

/// Reads a string as JEXL does: an integer, or a decimal when it contains a
/// point or an exponent.
fn parse_number(text: &str) -> Option<Number> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Some(Number::Int(0));
    }
    if let Ok(i) = trimmed.parse::<i64>() {
        return Some(Number::Int(i));
    }
    let decimal = trimmed
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    if decimal {
        return trimmed.parse::<f64>().ok().map(Number::Float);
    }
    None
}

fn to_f64(n: Number) -> f64 {
    match n {
        Number::Int(i) => i as f64,
        Number::Float(f) => f,
    }
}

fn overflow(op: BinaryOp, source: &str, span: Range<usize>) -> ExprError {
    ExprError::new(
        codes::INTEGER_OVERFLOW,
        format!("integer overflow in `{}`", op.symbol()),
        "JEXL would switch to BigInteger here; use decimals such as `1.0 * x` instead",
        source,
        span,
    )
}

/// Applies a binary operator other than `&&`, `||`, `=~` and `!~`.
pub(crate) fn binary(
    op: BinaryOp,
    left: &Value,
    right: &Value,
    source: &str,
    span: Range<usize>,
) -> Result<Value, ExprError> {
    match op {
        BinaryOp::Add => add(left, right, source, span),
        BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => {
            arithmetic(op, left, right, source, span)
        }
        BinaryOp::Eq => equals(left, right, source, span).map(Value::Bool),
        BinaryOp::Ne => equals(left, right, source, span).map(|eq| Value::Bool(!eq)),
        BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
            compare(op, left, right, source, span).map(Value::Bool)
        }
        BinaryOp::StartsWith
        | BinaryOp::NotStartsWith
        | BinaryOp::EndsWith
        | BinaryOp::NotEndsWith => affix(op, left, right, source, span).map(Value::Bool),
        BinaryOp::Match | BinaryOp::NotMatch | BinaryOp::And | BinaryOp::Or => {
            unreachable!("handled by the evaluator")
        }
    }
}

fn add(left: &Value, right: &Value, source: &str, span: Range<usize>) -> Result<Value, ExprError> {
    if matches!(left, Value::Null) || matches!(right, Value::Null) {
        return Err(null_operand("+", source, span));
    }
    let concatenates = |v: &Value| {
        matches!(
            v,
            Value::String(_) | Value::Secret(_) | Value::List(_) | Value::Map(_)
        )
    };
    if concatenates(left) || concatenates(right) {
        let mut text = left.render();
        right.render_into(&mut text);
        return Ok(Value::String(text));
    }
    arithmetic(BinaryOp::Add, left, right, source, span)
}

fn arithmetic(
    op: BinaryOp,
    left: &Value,
    right: &Value,
    source: &str,
    span: Range<usize>,
) -> Result<Value, ExprError> {
    let symbol = op.symbol();
    let l = to_number(left, symbol, source, span.clone())?;
    let r = to_number(right, symbol, source, span.clone())?;
    let division_by_zero = || {
        ExprError::new(
            codes::DIVISION_BY_ZERO,
            format!("division by zero in `{symbol}`"),
            "check the divisor before dividing, such as `d == 0 ? 0 : n / d`",
            source,
            span.clone(),
        )
    };

    if let (Number::Int(a), Number::Int(b)) = (l, r) {
        let result = match op {
            BinaryOp::Add => a.checked_add(b),
            BinaryOp::Sub => a.checked_sub(b),
            BinaryOp::Mul => a.checked_mul(b),
            BinaryOp::Div if b == 0 => return Err(division_by_zero()),
            BinaryOp::Div => a.checked_div(b),
            BinaryOp::Mod if b == 0 => return Err(division_by_zero()),
            // JEXL 3.1 computes integer `%` with BigInteger.mod: the result is
            // never negative and a negative divisor is an error.
            BinaryOp::Mod if b < 0 => {
                return Err(ExprError::new(
                    codes::NEGATIVE_MODULUS,
                    format!("`%` needs a positive divisor, not {b}"),
                    "use a positive divisor, or decimals such as `7.0 % -3` for Java's remainder",
                    source,
                    span.clone(),
                ));
            }
            BinaryOp::Mod => a.checked_rem_euclid(b),
            _ => unreachable!("arithmetic operator"),
        };
        return result
            .map(Value::Int)
            .ok_or_else(|| overflow(op, source, span.clone()));
    }

    let (a, b) = (to_f64(l), to_f64(r));
    Ok(Value::Float(match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div if b == 0.0 => return Err(division_by_zero()),
        BinaryOp::Div => a / b,
        BinaryOp::Mod if b == 0.0 => return Err(division_by_zero()),
        BinaryOp::Mod => a % b,
        _ => unreachable!("arithmetic operator"),
    }))
}

/// JEXL's `==`: numbers compare numerically (strings are read as numbers
/// when the other side is one), booleans by truth, strings by text, lists
/// and maps by content.
pub(crate) fn equals(
    left: &Value,
    right: &Value,
    source: &str,
    span: Range<usize>,
) -> Result<bool, ExprError> {
    use Value::*;
    Ok(match (left, right) {
        (Secret(_), _) | (_, Secret(_)) => return Err(secret_error(source, span)),
        (Null, Null) => true,
        (Null, _) | (_, Null) => false,
        (Float(_), _) | (_, Float(_)) => {
            to_f64(to_number(left, "==", source, span.clone())?)
                == to_f64(to_number(right, "==", source, span)?)
        }
        (Int(_), _) | (_, Int(_)) => {
            let l = to_number(left, "==", source, span.clone())?;
            let r = to_number(right, "==", source, span.clone())?;
            match (l, r) {
                (Number::Int(a), Number::Int(b)) => a == b,
                _ => return Err(decimal_text_as_whole(left, right, source, span)),
            }
        }
        (Bool(a), _) => *a == truthy(right, source, span)?,
        (_, Bool(b)) => truthy(left, source, span)? == *b,
        (String(a), b) => a.as_str() == b.render_text(),
        (a, String(b)) => a.render_text() == b.as_str(),
        (List(a), List(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| strict_equals(x, y))
        }
        (Map(a), Map(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|w| strict_equals(v, w)))
        }
        _ => false,
    })
}

/// Java's `equals`: the same type and the same content, as used by list
/// membership (`x =~ [..]`, `list.contains(x)`).
pub(crate) fn strict_equals(left: &Value, right: &Value) -> bool {
    use Value::*;
    match (left, right) {
        (Float(a), Float(b)) => a == b,
        (List(a), List(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| strict_equals(x, y))
        }
        (Map(a), Map(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|w| strict_equals(v, w)))
        }
        _ => left == right,
    }
}

fn compare(
    op: BinaryOp,
    left: &Value,
    right: &Value,
    source: &str,
    span: Range<usize>,
) -> Result<bool, ExprError> {
    use Value::*;
    use std::cmp::Ordering;

    let ordering: Option<Ordering> = match (left, right) {
        (Null, _) | (_, Null) => return Ok(false),
        (Secret(_), _) | (_, Secret(_)) => return Err(secret_error(source, span)),
        (String(a), String(b)) => Some(a.as_str().cmp(b.as_str())),
        (Bool(a), Bool(b)) => Some(a.cmp(b)),
        (Int(_) | Float(_) | String(_) | Bool(_), Int(_) | Float(_) | String(_) | Bool(_)) => {
            let l = to_number(left, op.symbol(), source, span.clone())?;
            let r = to_number(right, op.symbol(), source, span.clone())?;
            match (l, r) {
                (Number::Int(a), Number::Int(b)) => Some(a.cmp(&b)),
                // JEXL compares as decimals only when an operand is a
                // decimal value, and reads strings as longs otherwise.
                _ if !matches!(left, Float(_)) && !matches!(right, Float(_)) => {
                    return Err(decimal_text_as_whole(left, right, source, span));
                }
                (a, b) => to_f64(a).partial_cmp(&to_f64(b)),
            }
        }
        _ => {
            return Err(ExprError::new(
                codes::TYPE_MISMATCH,
                format!(
                    "`{}` cannot compare {} with {}",
                    op.symbol(),
                    left.type_with_article(),
                    right.type_with_article()
                ),
                "compare numbers with numbers or strings with strings",
                source,
                span,
            ));
        }
    };
    let Some(ordering) = ordering else {
        return Ok(false);
    };
    Ok(match op {
        BinaryOp::Lt => ordering == Ordering::Less,
        BinaryOp::Le => ordering != Ordering::Greater,
        BinaryOp::Gt => ordering == Ordering::Greater,
        _ => ordering != Ordering::Less,
    })
}

fn affix(
    op: BinaryOp,
    left: &Value,
    right: &Value,
    source: &str,
    span: Range<usize>,
) -> Result<bool, ExprError> {
    if matches!(left, Value::Secret(_)) || matches!(right, Value::Secret(_)) {
        return Err(secret_error(source, span));
    }
    let negated = matches!(op, BinaryOp::NotStartsWith | BinaryOp::NotEndsWith);
    if matches!(left, Value::Null) || matches!(right, Value::Null) {
        return Ok(negated);
    }
    let (text, affix) = (left.render_text(), right.render_text());
    let found = match op {
        BinaryOp::StartsWith | BinaryOp::NotStartsWith => text.starts_with(affix.as_ref()),
        _ => text.ends_with(affix.as_ref()),
    };
    Ok(found != negated)
}

/// Applies a prefix operator.
pub(crate) fn unary(
    op: UnaryOp,
    value: &Value,
    source: &str,
    span: Range<usize>,
) -> Result<Value, ExprError> {
    match op {
        UnaryOp::Not => truthy(value, source, span).map(|b| Value::Bool(!b)),
        UnaryOp::Empty => Ok(Value::Bool(is_empty(value))),
        UnaryOp::Negate => match value {
            Value::Int(i) => i.checked_neg().map(Value::Int).ok_or_else(|| {
                ExprError::new(
                    codes::INTEGER_OVERFLOW,
                    "integer overflow in unary `-`",
                    "use a decimal",
                    source,
                    span,
                )
            }),
            Value::Float(f) => Ok(Value::Float(-f)),
            Value::Null => Err(null_operand("-", source, span)),
            Value::Secret(_) => Err(secret_error(source, span)),
            other => Err(ExprError::new(
                codes::TYPE_MISMATCH,
                format!("unary `-` cannot negate {}", other.type_with_article()),
                "negate numbers only; write `0 - x` to convert a numeric string",
                source,
                span,
            )),
        },
    }
}

/// JEXL's `empty`: null, "", 0, and empty lists and maps are empty.
pub(crate) fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Int(i) => *i == 0,
        Value::Float(f) => *f == 0.0,
        Value::List(items) => items.is_empty(),
        Value::Map(entries) => entries.is_empty(),
        Value::Bool(_) | Value::Secret(_) => false,
    }
}

/// JEXL's `size`: characters of a string, entries of a collection, 0 for
/// null, null for anything else.
pub(crate) fn size(value: &Value) -> Value {
    match value {
        Value::Null => Value::Int(0),
        Value::String(s) => Value::Int(s.chars().count() as i64),
        Value::List(items) => Value::Int(items.len() as i64),
        Value::Map(entries) => Value::Int(entries.len() as i64),
        _ => Value::Null,
    }
}

/// A property name or list index, borrowed from the expression or from the
/// value that computed it.
#[derive(Clone, Copy)]
pub(crate) enum Key<'k> {
    Name(&'k str),
    Index(i64),
}

impl Key<'_> {
    /// Returns the key as error messages show it.
    fn text(self) -> String {
        match self {
            Key::Name(name) => name.to_string(),
            Key::Index(i) => i.to_string(),
        }
    }
}

/// Reads a property or index of a computed value.
pub(crate) fn access<'a>(
    value: Cow<'a, Value>,
    key: Key<'_>,
    source: &str,
    span: Range<usize>,
) -> Result<Cow<'a, Value>, ExprError> {
    let out_of_bounds = |len: usize| {
        ExprError::new(
            codes::INDEX_OUT_OF_BOUNDS,
            format!(
                "index {} is out of bounds for a list of {len} items",
                key.text()
            ),
            "check the length with `size(x)` before indexing",
            source,
            span.clone(),
        )
    };
    let index_of = |items: &[Value]| -> Result<usize, ExprError> {
        if let Key::Name(name) = key
            && name.parse::<i64>().is_err()
        {
            return Err(list_property_error(name, source, span.clone()));
        }
        let index = match key {
            Key::Index(i) => usize::try_from(i).ok(),
            Key::Name(k) => k.parse::<usize>().ok(),
        };
        index
            .filter(|i| *i < items.len())
            .ok_or_else(|| out_of_bounds(items.len()))
    };
    let index_text;
    let map_key = match key {
        Key::Name(name) => name,
        Key::Index(i) => {
            index_text = i.to_string();
            index_text.as_str()
        }
    };

    match value {
        Cow::Borrowed(Value::Map(entries)) => Ok(entries
            .get(map_key)
            .map_or(Cow::Owned(Value::Null), Cow::Borrowed)),
        Cow::Owned(Value::Map(mut entries)) => Ok(Cow::Owned(
            entries.swap_remove(map_key).unwrap_or(Value::Null),
        )),
        Cow::Borrowed(Value::List(items)) => Ok(Cow::Borrowed(&items[index_of(items)?])),
        Cow::Owned(Value::List(mut items)) => {
            let i = index_of(&items)?;
            Ok(Cow::Owned(items.swap_remove(i)))
        }
        other => Err(match other.as_ref() {
            Value::Null => ExprError::new(
                codes::NULL_VALUE,
                format!("cannot read `{}` of null", key.text()),
                "check that the value exists before reading its properties",
                source,
                span,
            ),
            Value::Secret(_) => secret_error(source, span),
            Value::String(_) if matches!(key, Key::Name("length" | "size")) => ExprError::new(
                codes::UNKNOWN_PROPERTY,
                format!("a string has no property `{}`", key.text()),
                "call `.length()` for the number of characters",
                source,
                span,
            ),
            value => ExprError::new(
                codes::UNKNOWN_PROPERTY,
                format!(
                    "{} has no property `{}`",
                    value.type_with_article(),
                    key.text()
                ),
                "read properties of maps and indexes of lists; call methods with `()`",
                source,
                span,
            ),
        }),
    }
}

/// Builds the error for a read of `.name` on a list, which has indexes but
/// no properties.
fn list_property_error(name: &str, source: &str, span: Range<usize>) -> ExprError {
    let help = if matches!(name, "length" | "size" | "count") {
        "call `.size()` or `size(x)` for the number of items".to_string()
    } else {
        format!("read an item by index (`x[0]`); call methods with `()`, as `.{name}()`")
    };
    ExprError::new(
        codes::UNKNOWN_PROPERTY,
        format!("a list has no properties, so `{name}` cannot be read"),
        help,
        source,
        span,
    )
}
