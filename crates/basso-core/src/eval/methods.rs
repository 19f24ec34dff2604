//! Java methods on strings, lists, maps and numbers.
//!
//! String indexes count characters (Unicode scalar values); Java counts
//! UTF-16 code units, so the two differ only for characters outside the
//! Basic Multilingual Plane.

use std::borrow::Cow;
use std::ops::Range;

use super::{Evaluator, Flow, ops};
use crate::error::{ExprError, codes};
use crate::value::Value;

/// Arguments of one call, with what error messages need.
pub(crate) struct Call<'x> {
    pub name: &'x str,
    pub args: &'x [Cow<'x, Value>],
    pub source: &'x str,
    pub span: Range<usize>,
}

impl Call<'_> {
    fn error(&self, code: &'static str, message: String, help: &str) -> ExprError {
        ExprError::new(code, message, help, self.source, self.span.clone())
    }

    fn arity(&self, counts: &[usize]) -> Result<(), ExprError> {
        if counts.contains(&self.args.len()) {
            return Ok(());
        }
        let expected: Vec<String> = counts.iter().map(usize::to_string).collect();
        Err(self.error(
            codes::INVALID_ARGUMENT,
            format!(
                "`{}` takes {} arguments, not {}",
                self.name,
                expected.join(" or "),
                self.args.len()
            ),
            "check the method's Java signature",
        ))
    }

    fn string(&self, i: usize) -> Result<&str, ExprError> {
        match self.args[i].as_ref() {
            Value::String(s) => Ok(s),
            other => Err(self.error(
                codes::INVALID_ARGUMENT,
                format!(
                    "argument {} of `{}` must be a string, not {}",
                    i + 1,
                    self.name,
                    other.type_with_article()
                ),
                "quote the argument or convert it with `.toString()`",
            )),
        }
    }

    fn int(&self, i: usize) -> Result<i64, ExprError> {
        match self.args[i].as_ref() {
            Value::Int(n) => Ok(*n),
            other => Err(self.error(
                codes::INVALID_ARGUMENT,
                format!(
                    "argument {} of `{}` must be an integer, not {}",
                    i + 1,
                    self.name,
                    other.type_with_article()
                ),
                "pass a whole number",
            )),
        }
    }

    fn out_of_bounds(&self, detail: String) -> ExprError {
        self.error(
            codes::INDEX_OUT_OF_BOUNDS,
            format!("`{}`: {detail}", self.name),
            "check the length with `.length()` before indexing",
        )
    }
}

const STRING_METHODS: &[&str] = &[
    "charAt",
    "compareTo",
    "concat",
    "contains",
    "endsWith",
    "equals",
    "equalsIgnoreCase",
    "indexOf",
    "isBlank",
    "isEmpty",
    "lastIndexOf",
    "length",
    "matches",
    "replace",
    "replaceAll",
    "replaceFirst",
    "size",
    "split",
    "startsWith",
    "strip",
    "substring",
    "toLowerCase",
    "toString",
    "toUpperCase",
    "trim",
];
const LIST_METHODS: &[&str] = &[
    "contains", "equals", "get", "indexOf", "isEmpty", "size", "toString",
];
const MAP_METHODS: &[&str] = &[
    "contains",
    "containsKey",
    "containsValue",
    "equals",
    "get",
    "isEmpty",
    "keySet",
    "size",
    "toString",
    "values",
];
const SCALAR_METHODS: &[&str] = &["doubleValue", "equals", "intValue", "longValue", "toString"];

impl Evaluator<'_> {
    /// Calls method `name` on `target`.
    pub(crate) fn call_method(
        &mut self,
        target: &Value,
        name: &str,
        args: &[Cow<'_, Value>],
        source: &str,
        span: Range<usize>,
    ) -> Flow<Value> {
        let call = Call {
            name,
            args,
            source,
            span,
        };
        let value = match target {
            Value::String(s) => self.string_method(s, &call)?,
            Value::List(items) => list_method(items, &call)?,
            Value::Map(entries) => map_method(entries, &call)?,
            Value::Null => {
                return Err(call
                    .error(
                        codes::NULL_VALUE,
                        format!("cannot call `{name}()` on null"),
                        "check that the value exists, such as `x != null ? x.trim() : ''`",
                    )
                    .into());
            }
            Value::Secret(_) => return Err(ops::secret_error(call.source, call.span).into()),
            scalar => scalar_method(scalar, &call)?,
        };
        Ok(value)
    }

    fn string_method(&mut self, s: &str, call: &Call<'_>) -> Flow<Value> {
        let chars = || s.chars().collect::<Vec<char>>();
        let value = match call.name {
            "length" | "size" => {
                call.arity(&[0])?;
                Value::Int(s.chars().count() as i64)
            }
            "isEmpty" => {
                call.arity(&[0])?;
                Value::Bool(s.is_empty())
            }
            "isBlank" => {
                call.arity(&[0])?;
                Value::Bool(s.chars().all(char::is_whitespace))
            }
            "toString" => {
                call.arity(&[0])?;
                Value::String(s.to_string())
            }
            "toUpperCase" => {
                call.arity(&[0])?;
                Value::String(s.to_uppercase())
            }
            "toLowerCase" => {
                call.arity(&[0])?;
                Value::String(s.to_lowercase())
            }
            "trim" => {
                call.arity(&[0])?;
                Value::String(s.trim_matches(|c| c <= ' ').to_string())
            }
            "strip" => {
                call.arity(&[0])?;
                Value::String(s.trim().to_string())
            }
            "concat" => {
                call.arity(&[1])?;
                Value::String(format!("{s}{}", call.string(0)?))
            }
            "contains" => {
                call.arity(&[1])?;
                Value::Bool(s.contains(call.string(0)?))
            }
            "equals" => {
                call.arity(&[1])?;
                Value::Bool(matches!(call.args[0].as_ref(), Value::String(o) if o == s))
            }
            "equalsIgnoreCase" => {
                call.arity(&[1])?;
                let other = match call.args[0].as_ref() {
                    Value::String(o) => o.as_str(),
                    _ => return Ok(Value::Bool(false)),
                };
                Value::Bool(
                    s.chars().count() == other.chars().count()
                        && s.chars()
                            .zip(other.chars())
                            .all(|(a, b)| same_ignoring_case(a, b)),
                )
            }
            "compareTo" => {
                call.arity(&[1])?;
                Value::Int(java_compare(s, call.string(0)?))
            }
            "startsWith" => {
                call.arity(&[1, 2])?;
                let prefix = call.string(0)?;
                let offset = if call.args.len() == 2 {
                    call.int(1)?
                } else {
                    0
                };
                let start = usize::try_from(offset).ok().and_then(|o| char_offset(s, o));
                Value::Bool(start.is_some_and(|at| s[at..].starts_with(prefix)))
            }
            "endsWith" => {
                call.arity(&[1])?;
                Value::Bool(s.ends_with(call.string(0)?))
            }
            "indexOf" => {
                call.arity(&[1, 2])?;
                let from = if call.args.len() == 2 {
                    call.int(1)?
                } else {
                    0
                };
                Value::Int(index_of(
                    &chars(),
                    &call.string(0)?.chars().collect::<Vec<_>>(),
                    from,
                ))
            }
            "lastIndexOf" => {
                call.arity(&[1, 2])?;
                let all = chars();
                let from = if call.args.len() == 2 {
                    call.int(1)?
                } else {
                    all.len() as i64
                };
                Value::Int(last_index_of(
                    &all,
                    &call.string(0)?.chars().collect::<Vec<_>>(),
                    from,
                ))
            }
            "charAt" => {
                call.arity(&[1])?;
                let index = call.int(0)?;
                let found = usize::try_from(index).ok().and_then(|i| s.chars().nth(i));
                let c = found.ok_or_else(|| {
                    call.out_of_bounds(format!(
                        "index {index} is outside a string of {} characters",
                        s.chars().count()
                    ))
                })?;
                Value::String(c.to_string())
            }
            "substring" => {
                call.arity(&[1, 2])?;
                let all = chars();
                let begin = call.int(0)?;
                let end = if call.args.len() == 2 {
                    call.int(1)?
                } else {
                    all.len() as i64
                };
                if begin < 0 || end > all.len() as i64 || begin > end {
                    return Err(call
                        .out_of_bounds(format!("begin {begin}, end {end}, length {}", all.len()))
                        .into());
                }
                Value::String(all[begin as usize..end as usize].iter().collect())
            }
            "replace" => {
                call.arity(&[2])?;
                let mut out = BoundedText::new(s.len(), self.options.limits.max_result_bytes, call);
                let (target, replacement) = (call.string(0)?, call.string(1)?);
                let mut last = 0;
                for (at, found) in s.match_indices(target) {
                    out.push_str(&s[last..at])?;
                    out.push_str(replacement)?;
                    last = at + found.len();
                }
                out.push_str(&s[last..])?;
                Value::String(out.text)
            }
            "matches" => {
                call.arity(&[1])?;
                let regex = self.regex_anchored(call.string(0)?, call.source, call.span.clone())?;
                Value::Bool(super::regex::full_match(
                    &regex,
                    s,
                    call.source,
                    call.span.clone(),
                )?)
            }
            "replaceAll" | "replaceFirst" => {
                call.arity(&[2])?;
                let regex = self.regex(call.string(0)?, call.source, call.span.clone())?;
                let limit = if call.name == "replaceFirst" {
                    1
                } else {
                    usize::MAX
                };
                let max_bytes = self.options.limits.max_result_bytes;
                Value::String(replace_regex(
                    &regex,
                    s,
                    call.string(1)?,
                    limit,
                    max_bytes,
                    call,
                )?)
            }
            "split" => {
                call.arity(&[1, 2])?;
                let limit = if call.args.len() == 2 {
                    call.int(1)?
                } else {
                    0
                };
                let pattern = call.string(0)?;
                let parts = match literal_split_char(pattern) {
                    Some(c) => split_matches(
                        s,
                        s.match_indices(c).map(|(i, m)| Ok((i, i + m.len()))),
                        limit,
                    )?,
                    None => {
                        let regex = self.regex(pattern, call.source, call.span.clone())?;
                        let matches = regex.find_iter(s).map(|found| {
                            found.map(|m| (m.start(), m.end())).map_err(|e| {
                                super::regex::runtime_error(&e, call.source, call.span.clone())
                            })
                        });
                        split_matches(s, matches, limit)?
                    }
                };
                Value::List(parts.into_iter().map(Value::String).collect())
            }
            _ => return Err(unknown_method("a string", STRING_METHODS, call).into()),
        };
        Ok(value)
    }
}

fn list_method(items: &[Value], call: &Call<'_>) -> Result<Value, ExprError> {
    Ok(match call.name {
        "size" => {
            call.arity(&[0])?;
            Value::Int(items.len() as i64)
        }
        "isEmpty" => {
            call.arity(&[0])?;
            Value::Bool(items.is_empty())
        }
        "get" => {
            call.arity(&[1])?;
            let index = call.int(0)?;
            let found = usize::try_from(index).ok().and_then(|i| items.get(i));
            found.cloned().ok_or_else(|| {
                call.out_of_bounds(format!(
                    "index {index} is outside a list of {} items",
                    items.len()
                ))
            })?
        }
        "contains" => {
            call.arity(&[1])?;
            Value::Bool(
                items
                    .iter()
                    .any(|item| ops::strict_equals(item, &call.args[0])),
            )
        }
        "indexOf" => {
            call.arity(&[1])?;
            Value::Int(
                items
                    .iter()
                    .position(|item| ops::strict_equals(item, &call.args[0]))
                    .map_or(-1, |i| i as i64),
            )
        }
        "equals" => {
            call.arity(&[1])?;
            Value::Bool(
                matches!(call.args[0].as_ref(), Value::List(o) if o.len() == items.len() && o.iter().zip(items).all(|(a, b)| ops::strict_equals(a, b))),
            )
        }
        "toString" => {
            call.arity(&[0])?;
            Value::String(Value::List(items.to_vec()).render())
        }
        _ => return Err(unknown_method("a list", LIST_METHODS, call)),
    })
}

fn map_method(entries: &crate::value::Map, call: &Call<'_>) -> Result<Value, ExprError> {
    Ok(match call.name {
        "size" => {
            call.arity(&[0])?;
            Value::Int(entries.len() as i64)
        }
        "isEmpty" => {
            call.arity(&[0])?;
            Value::Bool(entries.is_empty())
        }
        "get" => {
            call.arity(&[1])?;
            entries
                .get(call.args[0].render().as_str())
                .cloned()
                .unwrap_or(Value::Null)
        }
        "contains" | "containsKey" => {
            call.arity(&[1])?;
            Value::Bool(
                matches!(call.args[0].as_ref(), Value::String(k) if entries.contains_key(k)),
            )
        }
        "containsValue" => {
            call.arity(&[1])?;
            Value::Bool(
                entries
                    .values()
                    .any(|v| ops::strict_equals(v, &call.args[0])),
            )
        }
        "keySet" => {
            call.arity(&[0])?;
            Value::List(entries.keys().map(|k| Value::String(k.clone())).collect())
        }
        "values" => {
            call.arity(&[0])?;
            Value::List(entries.values().cloned().collect())
        }
        "equals" => {
            call.arity(&[1])?;
            Value::Bool(ops::strict_equals(
                &Value::Map(entries.clone()),
                &call.args[0],
            ))
        }
        "toString" => {
            call.arity(&[0])?;
            Value::String(Value::Map(entries.clone()).render())
        }
        _ => return Err(unknown_method("a map", MAP_METHODS, call)),
    })
}

fn scalar_method(value: &Value, call: &Call<'_>) -> Result<Value, ExprError> {
    Ok(match (call.name, value) {
        ("toString", _) => {
            call.arity(&[0])?;
            Value::String(value.render())
        }
        ("equals", _) => {
            call.arity(&[1])?;
            Value::Bool(ops::strict_equals(value, &call.args[0]))
        }
        ("intValue" | "longValue", Value::Int(i)) => Value::Int(*i),
        ("intValue" | "longValue", Value::Float(f)) => Value::Int(*f as i64),
        ("doubleValue", Value::Int(i)) => Value::Float(*i as f64),
        ("doubleValue", Value::Float(f)) => Value::Float(*f),
        _ => {
            return Err(unknown_method(
                value.type_with_article(),
                SCALAR_METHODS,
                call,
            ));
        }
    })
}

fn unknown_method(described: &str, known: &[&str], call: &Call<'_>) -> ExprError {
    let help = match closest(call.name, known) {
        Some(candidate) => format!("did you mean `{candidate}`?"),
        None => format!("{described} has the methods {}", known.join(", ")),
    };
    call.error(
        codes::UNKNOWN_METHOD,
        format!("{described} has no method `{}`", call.name),
        &help,
    )
}

/// Returns the known name nearest to `name` by edit distance, if close.
fn closest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    let lower = name.to_lowercase();
    known
        .iter()
        .map(|k| (edit_distance(&lower, &k.to_lowercase()), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

fn same_ignoring_case(a: char, b: char) -> bool {
    a == b || a.to_uppercase().eq(b.to_uppercase()) || a.to_lowercase().eq(b.to_lowercase())
}

fn java_compare(a: &str, b: &str) -> i64 {
    for (x, y) in a.chars().zip(b.chars()) {
        if x != y {
            return x as i64 - y as i64;
        }
    }
    a.chars().count() as i64 - b.chars().count() as i64
}

fn index_of(haystack: &[char], needle: &[char], from: i64) -> i64 {
    let start = from.max(0) as usize;
    if start > haystack.len() {
        return -1;
    }
    (start..=haystack.len().saturating_sub(needle.len()))
        .find(|&i| i + needle.len() <= haystack.len() && haystack[i..i + needle.len()] == *needle)
        .map_or(-1, |i| i as i64)
}

fn last_index_of(haystack: &[char], needle: &[char], from: i64) -> i64 {
    if from < 0 || needle.len() > haystack.len() {
        return -1;
    }
    let last_start = (haystack.len() - needle.len()).min(from as usize);
    (0..=last_start)
        .rev()
        .find(|&i| haystack[i..i + needle.len()] == *needle)
        .map_or(-1, |i| i as i64)
}

/// Returns the character of a pattern that Java's `String.split` treats as
/// a literal without compiling a regex: one character that is not a regex
/// metacharacter, or a backslash and a character that is not a letter or digit.
fn literal_split_char(pattern: &str) -> Option<char> {
    let mut chars = pattern.chars();
    match (chars.next(), chars.next(), chars.next()) {
        (Some(c), None, None) if !".$|()[{^?*+\\".contains(c) => Some(c),
        (Some('\\'), Some(c), None) if !c.is_ascii_alphanumeric() => Some(c),
        _ => None,
    }
}

/// Returns the byte index of character `n` of `s`, or `s.len()` when `n`
/// is the number of characters. Returns `None` when `n` is larger.
fn char_offset(s: &str, n: usize) -> Option<usize> {
    s.char_indices()
        .map(|(at, _)| at)
        .chain(std::iter::once(s.len()))
        .nth(n)
}

/// Java's `String.split` over the given matches: a zero-width match at the
/// start adds no leading empty string, a positive `limit` caps the number
/// of parts, and with `limit` 0 trailing empty strings are dropped.
fn split_matches(
    s: &str,
    matches: impl Iterator<Item = Result<(usize, usize), ExprError>>,
    limit: i64,
) -> Result<Vec<String>, ExprError> {
    let mut parts = Vec::new();
    let mut index = 0;
    for found in matches {
        let (start, end) = found?;
        if limit > 0 && parts.len() as i64 >= limit - 1 {
            break;
        }
        if start == 0 && end == 0 {
            continue;
        }
        parts.push(s[index..start].to_string());
        index = end;
    }
    if index == 0 && parts.is_empty() {
        return Ok(vec![s.to_string()]);
    }
    parts.push(s[index..].to_string());
    if limit == 0 {
        while parts.last().is_some_and(String::is_empty) {
            parts.pop();
        }
    }
    Ok(parts)
}

/// Text that a replacement builds, which fails with `result-too-large` as
/// soon as it would grow past `max_bytes`. Checking only the finished text
/// would let n `a`s, each replaced by n characters, allocate n² bytes.
struct BoundedText<'c> {
    text: String,
    max_bytes: usize,
    call: &'c Call<'c>,
}

impl<'c> BoundedText<'c> {
    fn new(capacity: usize, max_bytes: usize, call: &'c Call<'c>) -> Self {
        BoundedText {
            text: String::with_capacity(capacity.min(max_bytes)),
            max_bytes,
            call,
        }
    }

    fn push_str(&mut self, piece: &str) -> Result<(), ExprError> {
        let size = self.text.len() + piece.len();
        if size > self.max_bytes {
            let size = format!("at least {size}");
            return Err(super::result_too_large(
                &size,
                self.max_bytes,
                self.call.source,
                self.call.span.clone(),
            ));
        }
        self.text.push_str(piece);
        Ok(())
    }

    fn push(&mut self, c: char) -> Result<(), ExprError> {
        self.push_str(c.encode_utf8(&mut [0; 4]))
    }
}

/// Java's `replaceAll`/`replaceFirst` with Java replacement syntax: `$n`
/// and `${name}` insert groups, `\x` is a literal `x`. Fails with
/// `result-too-large` once the result would exceed `max_bytes`.
pub(crate) fn replace_regex(
    regex: &fancy_regex::Regex,
    s: &str,
    replacement: &str,
    limit: usize,
    max_bytes: usize,
    call: &Call<'_>,
) -> Result<String, ExprError> {
    let mut out = BoundedText::new(s.len(), max_bytes, call);
    let mut last = 0;
    let mut search_start = 0;
    let mut count = 0;
    while count < limit && search_start <= s.len() {
        let found = regex
            .captures_from_pos(s, search_start)
            .map_err(|e| super::regex::runtime_error(&e, call.source, call.span.clone()))?;
        let Some(captures) = found else { break };
        let whole = captures.get(0).expect("group 0 exists");
        out.push_str(&s[last..whole.start()])?;
        expand_replacement(replacement, &captures, regex, &mut out, call)?;
        last = whole.end();
        search_start = next_search_start(s, whole.start(), whole.end());
        count += 1;
    }
    out.push_str(&s[last..])?;
    Ok(out.text)
}

/// Returns where `java.util.regex.Matcher.find` searches after a match at
/// `start..end`: at `end`, or one character later when the match is empty.
/// Unlike the regex crates' iterators, Java keeps an empty match right after
/// a non-empty one, so `"aaa".replaceAll("a*", "X")` is `XX`.
///
/// NOTE: Java steps one UTF-16 code unit, so it also finds an empty match
/// between the two halves of a surrogate pair. Here the step is one
/// character, so such a match is not found.
fn next_search_start(s: &str, start: usize, end: usize) -> usize {
    if start < end {
        return end;
    }
    let next_char_len = s[end..].chars().next().map_or(1, char::len_utf8);
    end + next_char_len
}

fn expand_replacement(
    replacement: &str,
    captures: &fancy_regex::Captures<'_, str>,
    regex: &fancy_regex::Regex,
    out: &mut BoundedText<'_>,
    call: &Call<'_>,
) -> Result<(), ExprError> {
    let invalid = |detail: String| {
        call.error(
            codes::INVALID_ARGUMENT,
            format!("invalid replacement `{replacement}`: {detail}"),
            "write `$1` for a group, `\\$` for a dollar sign",
        )
    };
    let chars: Vec<char> = replacement.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                let c = *chars
                    .get(i + 1)
                    .ok_or_else(|| invalid("it ends with a backslash".to_string()))?;
                out.push(c)?;
                i += 2;
            }
            '$' if chars.get(i + 1) == Some(&'{') => {
                let name: String = chars[i + 2..].iter().take_while(|c| **c != '}').collect();
                let group = captures
                    .name(&name)
                    .ok_or_else(|| invalid(format!("no group named `{name}`")))?;
                out.push_str(group.as_str())?;
                i += 3 + name.chars().count();
            }
            '$' => {
                let first = chars
                    .get(i + 1)
                    .and_then(|c| c.to_digit(10))
                    .ok_or_else(|| invalid("`$` is not followed by a group".to_string()))?;
                let mut group = first as usize;
                i += 2;
                // Java takes further digits while the group number stays valid.
                while let Some(d) = chars.get(i).and_then(|c| c.to_digit(10)) {
                    let next = group * 10 + d as usize;
                    if next >= regex.captures_len() {
                        break;
                    }
                    group = next;
                    i += 1;
                }
                if group >= regex.captures_len() {
                    return Err(invalid(format!("no group {group}")));
                }
                out.push_str(captures.get(group).map_or("", |m| m.as_str()))?;
            }
            c => {
                out.push(c)?;
                i += 1;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::{Options, ScanMode, Template, Value};

    fn evaluate(text: &str) -> Value {
        let template = Template::parse(text, ScanMode::Harness).expect("template parses");
        template
            .evaluate(&Value::Null, &Options::default())
            .expect("template evaluates")
    }

    /// Evaluates `text` and returns the message of its `result-too-large` error.
    fn result_too_large_message(text: &str) -> String {
        let template = Template::parse(text, ScanMode::Harness).expect("template parses");
        let error = template
            .evaluate(&Value::Null, &Options::default())
            .expect_err("result is too large");
        assert_eq!(error.code, "result-too-large", "{}", error.message);
        error.message
    }

    /// Returns the size that a `result is at least N bytes` message states.
    fn stated_size(message: &str) -> usize {
        let size = message
            .strip_prefix("result is at least ")
            .and_then(|rest| rest.split(' ').next());
        size.and_then(|size| size.parse().ok())
            .unwrap_or_else(|| panic!("no size in {message:?}"))
    }

    /// The default result limit plus one replacement: the most a bounded
    /// replacement may build before it stops.
    const MAX_BUILT_BYTES: usize = 256 * 1024 + 20_000;

    #[test]
    fn replacements_stop_at_result_limit() {
        let (a, b) = ("a".repeat(20_000), "b".repeat(20_000));
        let templates = [
            format!("<+'{a}'.replace('a', '{b}')>"),
            format!("<+'{a}'.replaceAll('a', '{b}')>"),
            // One match whose replacement copies the whole match 1,000 times.
            format!("<+'{a}'.replaceFirst('a+', '{}')>", "$0".repeat(1_000)),
            format!("<+regex.replace('a', '{b}', '{a}')>"),
        ];
        for text in templates {
            let message = result_too_large_message(&text);
            assert!(
                stated_size(&message) <= MAX_BUILT_BYTES,
                "{}…: {message}",
                &text[..20]
            );
        }
    }

    #[test]
    fn replacements_within_limit_unchanged() {
        assert_eq!(
            evaluate("<+'abc'.replace('', '-')>"),
            Value::String("-a-b-c-".into())
        );
        assert_eq!(
            evaluate("<+'a.b.c'.replace('.', '::')>"),
            Value::String("a::b::c".into())
        );
        assert_eq!(
            evaluate("<+'abab'.replaceAll('(a)b', '$1-')>"),
            Value::String("a-a-".into())
        );
        assert_eq!(
            evaluate("<+'abab'.replaceFirst('b', 'é')>"),
            Value::String("aéab".into())
        );
        assert_eq!(
            evaluate("<+regex.replace('b', 'c', 'abab')>"),
            Value::String("acac".into())
        );
    }

    #[test]
    fn starts_with_counts_characters() {
        assert_eq!(
            evaluate(r#"<+"héllo".startsWith("é", 1)>"#),
            Value::Bool(true)
        );
        assert_eq!(
            evaluate(r#"<+"héllo".startsWith("llo", 2)>"#),
            Value::Bool(true)
        );
        assert_eq!(
            evaluate(r#"<+"héllo".startsWith("lo", 2)>"#),
            Value::Bool(false)
        );
    }

    #[test]
    fn starts_with_offset_bounds() {
        assert_eq!(
            evaluate(r#"<+"héllo".startsWith("", 5)>"#),
            Value::Bool(true)
        );
        assert_eq!(
            evaluate(r#"<+"héllo".startsWith("", 6)>"#),
            Value::Bool(false)
        );
        assert_eq!(
            evaluate(r#"<+"héllo".startsWith("h", -1)>"#),
            Value::Bool(false)
        );
    }
}
