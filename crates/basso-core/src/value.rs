//! The values expressions produce and contexts hold.
//!
//! [`Value`] mirrors the Java objects Harness's JEXL engine works with:
//! null, booleans, 64-bit integers, doubles, strings, lists, insertion-ordered
//! maps, plus an opaque [`SecretHandle`] in place of a secret whose value
//! basso-core never sees.

use std::borrow::Cow;
use std::fmt::Write as _;

use indexmap::IndexMap;

/// An insertion-ordered map from keys to values, as JSON objects arrive.
///
/// Keys are hashed with foldhash rather than the standard SipHash, because
/// every path segment of every expression is a lookup here and SipHash was
/// the largest cost of reading a path. The seed is fixed, so the map gives
/// no protection against keys chosen to collide; the keys come from the
/// caller's own pipeline and context. Create maps with `Map::default()`.
pub type Map = IndexMap<String, Value, foldhash::fast::FixedState>;

/// A value produced by an expression or held by a context.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    List(Vec<Value>),
    Map(Map),
    /// A reference to a secret by its resolved id; the runner substitutes the
    /// value at execution time.
    Secret(SecretHandle),
}

/// A secret reference. Only the id is known to basso-core.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretHandle {
    /// The secret's identifier, scope prefix included (`org.token`).
    pub id: String,
}

impl SecretHandle {
    pub fn new(id: impl Into<String>) -> Self {
        SecretHandle { id: id.into() }
    }

    /// Returns the environment variable that carries the secret's value
    /// into a host step, a container or a Kubernetes pod. The name is
    /// `BASSO_SECRET_` and the id in upper case, each character other than
    /// an ASCII letter or digit turned into `_`.
    pub fn env_var(&self) -> String {
        let mut name = String::with_capacity(self.id.len() + 13);
        name.push_str("BASSO_SECRET_");
        name.extend(self.id.chars().map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        }));
        name
    }

    /// Returns the expression text the handle renders as,
    /// `<+secrets.getValue("id")>`, with `"` and `\` in the id escaped.
    pub fn expression_text(&self) -> String {
        let mut text = String::with_capacity(self.id.len() + 24);
        text.push_str("<+secrets.getValue(\"");
        for c in self.id.chars() {
            if c == '"' || c == '\\' {
                text.push('\\');
            }
            text.push(c);
        }
        text.push_str("\")>");
        text
    }
}

/// The start of the text a secret renders as, `<+secrets.getValue("ID")>`.
pub(crate) const SECRET_REFERENCE_START: &str = "<+secrets.getValue(";

/// Returns the id of the secret reference text at the start of `text`,
/// without its quotes and escapes.
pub(crate) fn reference_id(text: &str) -> String {
    text[SECRET_REFERENCE_START.len()..]
        .split(")>")
        .next()
        .unwrap_or_default()
        .trim()
        .trim_matches(|c| c == '"' || c == '\'' || c == '\\')
        .to_string()
}

impl Value {
    /// Returns the id of the first secret that the value contains, as a
    /// secret or as secret reference text, in the order the value renders,
    /// or `None` when it contains none.
    pub(crate) fn secret_reference(&self) -> Option<String> {
        let in_text = |text: &str| {
            text.find(SECRET_REFERENCE_START)
                .map(|at| reference_id(&text[at..]))
        };
        match self {
            Value::Secret(handle) => Some(handle.id.clone()),
            Value::String(text) => in_text(text),
            Value::List(items) => items.iter().find_map(Value::secret_reference),
            Value::Map(entries) => entries
                .iter()
                .find_map(|(key, value)| in_text(key).or_else(|| value.secret_reference())),
            Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) => None,
        }
    }

    /// Converts JSON to a value. Integers that fit in `i64` become
    /// [`Value::Int`]; every other number becomes [`Value::Float`].
    pub fn from_json(json: serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::String(s),
            serde_json::Value::Array(items) => {
                Value::List(items.into_iter().map(Value::from_json).collect())
            }
            serde_json::Value::Object(entries) => Value::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Converts the value to JSON. A secret becomes its expression text, and
    /// a float that is NaN or infinite becomes `null` because JSON has no
    /// such numbers.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::List(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json).collect())
            }
            Value::Map(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
            Value::Secret(handle) => serde_json::Value::String(handle.expression_text()),
        }
    }

    /// Renders the value as Harness splices it into text: `null` for null,
    /// Java's `Double.toString` form for floats, strings as they are,
    /// collections as compact JSON and a secret as its expression text.
    pub fn render(&self) -> String {
        match self {
            Value::String(s) => s.clone(),
            _ => {
                let mut out = String::new();
                self.render_into(&mut out);
                out
            }
        }
    }

    /// Returns the rendered text (see [`Value::render`]), borrowed when the
    /// value is a string.
    pub fn render_text(&self) -> Cow<'_, str> {
        match self {
            Value::String(s) => Cow::Borrowed(s),
            _ => Cow::Owned(self.render()),
        }
    }

    /// Appends the rendered text of the value to `out` (see [`Value::render`]).
    pub fn render_into(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&java_double_to_string(*f)),
            Value::String(s) => out.push_str(s),
            Value::List(_) | Value::Map(_) => {
                out.push_str(&serde_json::to_string(&self.to_json()).unwrap_or_default())
            }
            Value::Secret(handle) => out.push_str(&handle.expression_text()),
        }
    }

    /// Returns the type name used in error messages (`string`, `integer`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "decimal",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Map(_) => "map",
            Value::Secret(_) => "secret",
        }
    }

    /// Returns the type name with its article, for messages: `an integer`,
    /// `a string`, `null`.
    pub fn type_with_article(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a decimal",
            Value::String(_) => "a string",
            Value::List(_) => "a list",
            Value::Map(_) => "a map",
            Value::Secret(_) => "a secret",
        }
    }

    /// Returns the string inside a [`Value::String`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Converts the value of a `when` condition to run or skip, as JEXL's
    /// `toBoolean` does in Harness. Null is false, and numbers are true
    /// unless zero or NaN. Strings are true unless empty or exactly `false`,
    /// so `False` and `no` are true. Lists and maps are true, and a secret
    /// has no decision.
    pub fn condition_decision(&self) -> Option<bool> {
        match self {
            Value::Null => Some(false),
            Value::Bool(b) => Some(*b),
            Value::Int(i) => Some(*i != 0),
            Value::Float(f) => Some(*f != 0.0 && !f.is_nan()),
            Value::String(s) => Some(!s.is_empty() && s != "false"),
            Value::List(_) | Value::Map(_) => Some(true),
            Value::Secret(_) => None,
        }
    }

    /// Estimates the size in bytes for the result-size limit: exact for
    /// strings, close to the JSON length for collections.
    pub(crate) fn approximate_size(&self) -> usize {
        match self {
            Value::String(s) => s.len(),
            Value::List(items) => {
                items
                    .iter()
                    .map(|v| v.approximate_size() + 1)
                    .sum::<usize>()
                    + 2
            }
            Value::Map(entries) => {
                entries
                    .iter()
                    .map(|(k, v)| k.len() + 4 + v.approximate_size())
                    .sum::<usize>()
                    + 2
            }
            Value::Secret(handle) => handle.id.len() + 24,
            _ => 8,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

/// Formats a double the way Java's `Double.toString` does: plain decimal
/// notation with at least one fractional digit for magnitudes in
/// [10^-3, 10^7), otherwise `d.dddE±n`. Digits are the shortest that read
/// back to the same double, as in JDK 19 and later.
pub fn java_double_to_string(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.to_string();
    }

    let magnitude = f.abs();
    if (1e-3..1e7).contains(&magnitude) {
        let text = format!("{f}");
        return if text.contains('.') {
            text
        } else {
            text + ".0"
        };
    }

    // Scientific form: Rust's `{:e}` gives the shortest digits as `d.ddde-n`.
    let sci = format!("{f:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let mantissa = if mantissa.contains('.') {
        mantissa.to_string()
    } else {
        format!("{mantissa}.0")
    };
    format!("{mantissa}E{exponent}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condition_decision_follows_jexl_to_boolean() {
        let cases = [
            (Value::Null, Some(false)),
            (Value::Bool(true), Some(true)),
            (Value::Bool(false), Some(false)),
            (Value::from("a"), Some(true)),
            (Value::from("yes"), Some(true)),
            (Value::from("False"), Some(true)),
            (Value::from("FALSE"), Some(true)),
            (Value::from(" false"), Some(true)),
            (Value::from("false"), Some(false)),
            (Value::from(""), Some(false)),
            (Value::from("0"), Some(true)),
            (Value::Int(0), Some(false)),
            (Value::Int(-1), Some(true)),
            (Value::Float(0.0), Some(false)),
            (Value::Float(f64::NAN), Some(false)),
            (Value::Float(0.5), Some(true)),
            (Value::List(Vec::new()), Some(true)),
            (Value::Map(Map::default()), Some(true)),
            (Value::Secret(SecretHandle::new("token")), None),
        ];
        for (value, expected) in cases {
            assert_eq!(value.condition_decision(), expected, "{value:?}");
        }
    }

    #[test]
    fn double_formatting_matches_java() {
        assert_eq!(java_double_to_string(1.0), "1.0");
        assert_eq!(java_double_to_string(1.5), "1.5");
        assert_eq!(java_double_to_string(1e8), "1.0E8");
        assert_eq!(java_double_to_string(1e-4), "1.0E-4");
        assert_eq!(java_double_to_string(0.001), "0.001");
        assert_eq!(java_double_to_string(1234567.0), "1234567.0");
        assert_eq!(java_double_to_string(-2.5e10), "-2.5E10");
        assert_eq!(java_double_to_string(0.1 + 0.2), "0.30000000000000004");
    }

    #[test]
    fn secret_renders_as_expression_text() {
        let value = Value::Secret(SecretHandle::new("org.a\"b"));
        assert_eq!(value.render(), r#"<+secrets.getValue("org.a\"b")>"#);
    }

    #[test]
    fn collections_render_as_compact_json() {
        let value = Value::from_json(serde_json::json!({"b": [1, 2.5, "x"], "a": null}));
        assert_eq!(value.render(), r#"{"b":[1,2.5,"x"],"a":null}"#);
    }
}
