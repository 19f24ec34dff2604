//! The JSONPath subset that `json.select` and `json.list` accept.
//!
//! Harness uses Jayway JsonPath, where the leading `$` may be left out
//! (`"[0].releaseCommitId"`). Supported: `.name`, `['name']`, `["name"]`,
//! `[n]` (negative counts from the end), `[a,b]`, `[start:end]`, `*`,
//! `[*]` and deep scan `..name`. Filters (`[?(…)]`) and functions are
//! rejected with an error.

use crate::value::Value;

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(i64),
    Keys(Vec<String>),
    Indexes(Vec<i64>),
    Slice(Option<i64>, Option<i64>),
    Wildcard,
    DeepKey(String),
    DeepWildcard,
}

/// The result of applying a path: one value for a definite path (no
/// wildcard, union, slice or deep scan), otherwise every match in a list.
pub(crate) enum Selection {
    Definite(Option<Value>),
    Matches(Vec<Value>),
}

/// Applies a JSONPath to a value.
pub(crate) fn select(root: &Value, path: &str) -> Result<Selection, String> {
    let steps = parse(path)?;
    let definite = steps
        .iter()
        .all(|s| matches!(s, Step::Key(_) | Step::Index(_)));
    let mut current: Vec<&Value> = vec![root];
    for step in &steps {
        let mut next = Vec::new();
        for value in current {
            apply(step, value, &mut next);
        }
        current = next;
    }
    Ok(if definite {
        Selection::Definite(current.first().map(|v| (*v).clone()))
    } else {
        Selection::Matches(current.into_iter().cloned().collect())
    })
}

fn apply<'v>(step: &Step, value: &'v Value, out: &mut Vec<&'v Value>) {
    match (step, value) {
        (Step::Key(k), Value::Map(m)) => out.extend(m.get(k)),
        (Step::Keys(keys), Value::Map(m)) => out.extend(keys.iter().filter_map(|k| m.get(k))),
        (Step::Index(i), Value::List(items)) => out.extend(index(items, *i)),
        (Step::Indexes(list), Value::List(items)) => {
            out.extend(list.iter().filter_map(|i| index(items, *i)))
        }
        (Step::Slice(start, end), Value::List(items)) => {
            let len = items.len() as i64;
            let clamp = |v: i64| if v < 0 { (len + v).max(0) } else { v.min(len) };
            let from = clamp(start.unwrap_or(0));
            let to = clamp(end.unwrap_or(len));
            if from < to {
                out.extend(&items[from as usize..to as usize]);
            }
        }
        (Step::Wildcard, Value::Map(m)) => out.extend(m.values()),
        (Step::Wildcard, Value::List(items)) => out.extend(items.iter()),
        (Step::DeepKey(k), _) => deep(value, &mut |v| {
            if let Value::Map(m) = v {
                out.extend(m.get(k));
            }
        }),
        (Step::DeepWildcard, _) => deep(value, &mut |v| match v {
            Value::Map(m) => out.extend(m.values()),
            Value::List(items) => out.extend(items.iter()),
            _ => {}
        }),
        _ => {}
    }
}

fn index(items: &[Value], i: i64) -> Option<&Value> {
    let at = if i < 0 { items.len() as i64 + i } else { i };
    usize::try_from(at).ok().and_then(|at| items.get(at))
}

/// Visits `value` and everything below it, parents first.
fn deep<'v>(value: &'v Value, visit: &mut dyn FnMut(&'v Value)) {
    visit(value);
    match value {
        Value::Map(m) => m.values().for_each(|v| deep(v, visit)),
        Value::List(items) => items.iter().for_each(|v| deep(v, visit)),
        _ => {}
    }
}

fn parse(path: &str) -> Result<Vec<Step>, String> {
    let chars: Vec<char> = path.trim().chars().collect();
    let mut steps = Vec::new();
    let mut i = usize::from(chars.first() == Some(&'$'));
    let name_end = |from: usize| {
        let mut j = from;
        while j < chars.len() && chars[j] != '.' && chars[j] != '[' {
            j += 1;
        }
        j
    };

    while i < chars.len() {
        match chars[i] {
            '.' if chars.get(i + 1) == Some(&'.') => {
                let end = name_end(i + 2);
                let name: String = chars[i + 2..end].iter().collect();
                steps.push(if name == "*" || name.is_empty() {
                    Step::DeepWildcard
                } else {
                    Step::DeepKey(name)
                });
                i = end;
            }
            '.' => {
                let end = name_end(i + 1);
                let name: String = chars[i + 1..end].iter().collect();
                if name.is_empty() {
                    return Err(format!("empty property name at character {}", i + 1));
                }
                steps.push(if name == "*" {
                    Step::Wildcard
                } else {
                    Step::Key(name)
                });
                i = end;
            }
            '[' => {
                let close = find_bracket_end(&chars, i).ok_or("unclosed `[`")?;
                let inside: String = chars[i + 1..close].iter().collect();
                steps.push(parse_bracket(inside.trim())?);
                i = close + 1;
            }
            _ => {
                let end = name_end(i);
                let name: String = chars[i..end].iter().collect();
                steps.push(if name == "*" {
                    Step::Wildcard
                } else {
                    Step::Key(name)
                });
                i = end;
            }
        }
    }
    Ok(steps)
}

fn find_bracket_end(chars: &[char], open: usize) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (j, &c) in chars.iter().enumerate().skip(open + 1) {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == ']' => return Some(j),
            None => {}
        }
    }
    None
}

fn parse_bracket(inside: &str) -> Result<Step, String> {
    if inside == "*" {
        return Ok(Step::Wildcard);
    }
    if inside.starts_with('?') || inside.starts_with('(') {
        return Err(format!(
            "filter and script expressions such as `[{inside}]` are not supported"
        ));
    }
    if inside.starts_with('\'') || inside.starts_with('"') {
        let keys: Vec<String> = inside
            .split(',')
            .map(|k| k.trim().trim_matches(|c| c == '\'' || c == '"').to_string())
            .collect();
        return Ok(if keys.len() == 1 {
            Step::Key(keys[0].clone())
        } else {
            Step::Keys(keys)
        });
    }
    if let Some((start, end)) = inside.split_once(':') {
        let bound = |s: &str| -> Result<Option<i64>, String> {
            let s = s.trim();
            if s.is_empty() {
                Ok(None)
            } else {
                s.parse()
                    .map(Some)
                    .map_err(|_| format!("invalid slice bound `{s}`"))
            }
        };
        return Ok(Step::Slice(bound(start)?, bound(end)?));
    }
    let indexes: Result<Vec<i64>, _> = inside.split(',').map(|s| s.trim().parse::<i64>()).collect();
    match indexes {
        Ok(list) if list.len() == 1 => Ok(Step::Index(list[0])),
        Ok(list) => Ok(Step::Indexes(list)),
        Err(_) => Err(format!("invalid index `[{inside}]`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Value {
        Value::from_json(serde_json::from_str(text).unwrap())
    }

    #[test]
    fn definite_paths_return_one_value() {
        let doc = json(r#"[{"releaseCommitId": "abc"}]"#);
        let Selection::Definite(Some(v)) = select(&doc, "[0].releaseCommitId").unwrap() else {
            panic!()
        };
        assert_eq!(v, Value::from("abc"));
    }

    #[test]
    fn deep_scan_collects_matches() {
        let doc = json(r#"{"a": {"id": 1, "b": {"id": 2}}}"#);
        let Selection::Matches(found) = select(&doc, "$..id").unwrap() else {
            panic!()
        };
        assert_eq!(found, vec![Value::Int(1), Value::Int(2)]);
    }

    #[test]
    fn filters_are_rejected() {
        assert!(select(&Value::Null, "$[?(@.a)]").is_err());
    }
}
