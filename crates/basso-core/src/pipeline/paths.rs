//! Expression paths of pipeline fields, as expressions and `--input` name
//! them: `pipeline.variables.tag`, `pipeline.stages.build.variables.x`,
//! `pipeline.stages.build.spec.execution.steps.GROUP.steps.pg.spec.image`.
//!
//! Lists of `stage`/`step`/`stepGroup` wrappers are addressed by
//! identifier (`parallel` adds nothing), `variables` by name, map entries
//! by key and other lists by index.

use crate::pipeline::yaml::{Node, NodeValue};

/// Whether the walk descends into a node's children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visit {
    Descend,
    Skip,
}

/// Calls `visit` with the path of every node under `node` (itself included).
pub fn walk<'a>(node: &'a Node, path: &str, visit: &mut dyn FnMut(&str, &'a Node) -> Visit) {
    // One buffer for every path of the walk: a child's path is its parent's
    // path with a segment pushed, and the segment is truncated afterwards.
    let mut buffer = String::with_capacity(128);
    buffer.push_str(path);
    walk_at(node, &mut buffer, visit);
}

/// Appends `.key` to `path`, and returns the length to truncate back to.
pub(crate) fn push_key(path: &mut String, key: &str) -> usize {
    let len = path.len();
    path.push('.');
    path.push_str(key);
    len
}

/// Appends `.index` to `path`, and returns the length to truncate back to.
pub(crate) fn push_index(path: &mut String, index: usize) -> usize {
    let len = path.len();
    path.push('.');
    // The digits are written by hand, because `write!` goes through the
    // formatting machinery, which costs more than the digits themselves.
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = index;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for &digit in &digits[start..] {
        path.push(char::from(digit));
    }
    len
}

fn walk_at<'a>(node: &'a Node, path: &mut String, visit: &mut dyn FnMut(&str, &'a Node) -> Visit) {
    if visit(path, node) == Visit::Skip {
        return;
    }
    match &node.value {
        NodeValue::Scalar(_) => {}
        NodeValue::Sequence(items) => {
            for (index, item) in items.iter().enumerate() {
                let len = push_index(path, index);
                walk_at(item, path, visit);
                path.truncate(len);
            }
        }
        NodeValue::Mapping(entries) => {
            for (key, value) in entries {
                let key_text = key.as_str().unwrap_or_default();
                let len = push_key(path, key_text);
                match (key_text, &value.value) {
                    ("stages" | "steps", NodeValue::Sequence(items)) => {
                        for item in items {
                            walk_wrapper(item, path, visit);
                        }
                    }
                    ("variables", NodeValue::Sequence(items)) => {
                        for item in items {
                            if let (Some(name), Some(value)) =
                                (item.get("name").and_then(Node::as_str), item.get("value"))
                            {
                                let variable_len = push_key(path, name);
                                walk_at(value, path, visit);
                                path.truncate(variable_len);
                            }
                        }
                    }
                    _ => walk_at(value, path, visit),
                }
                path.truncate(len);
            }
        }
    }
}

/// Walks one entry of a `stages` or `steps` list.
fn walk_wrapper<'a>(
    item: &'a Node,
    list_path: &mut String,
    visit: &mut dyn FnMut(&str, &'a Node) -> Visit,
) {
    for wrapper in ["stage", "step", "stepGroup"] {
        if let Some(inner) = item.get(wrapper) {
            let id = inner
                .get("identifier")
                .and_then(Node::as_str)
                .unwrap_or_default();
            let len = push_key(list_path, id);
            walk_at(inner, list_path, visit);
            list_path.truncate(len);
            return;
        }
    }
    if let Some(parallel) = item.get("parallel") {
        for inner in parallel.as_sequence().unwrap_or_default() {
            walk_wrapper(inner, list_path, visit);
        }
    }
}

/// The value type a field has in Harness's model, used to read `--input`
/// values and to coerce evaluated expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    String,
    Boolean,
    Integer,
    Number,
    List,
    Map,
}

/// Returns the type of the field at `path` from its last key.
pub fn field_type(path: &str) -> FieldType {
    // Every scalar of a resolution comes here. Splitting with `rsplit('.')`
    // set up a character searcher per segment, so the last three segments
    // are cut off by hand, with the same results.
    let (rest, last) = split_last(path);
    let (rest, parent) = split_last(rest);
    // Only a `matrix` parent needs the grandparent, so the third segment
    // is cut off there alone.
    let grandparent = || split_last(rest).1;
    let by_name = match (parent, last) {
        (_, "privileged" | "cloneCodebase") => FieldType::Boolean,
        (_, "runAsUser" | "retry" | "parallelism" | "times" | "maxConcurrency" | "depth") => {
            FieldType::Integer
        }
        (
            _,
            "entrypoint" | "sharedPaths" | "paths" | "outputVariables" | "failureStrategies"
            | "items",
        ) => FieldType::List,
        (
            _,
            "envVariables" | "portBindings" | "when" | "strategy" | "reports" | "resources"
            | "limits",
        ) => FieldType::Map,
        ("codebase", "build") => FieldType::Map,
        // Every key of `strategy.matrix` except these settings is an axis,
        // and an axis is a list of values.
        ("matrix", "nodeName") => FieldType::String,
        ("matrix", _) if grandparent() == "strategy" => FieldType::List,
        _ => FieldType::String,
    };
    // The entries of these maps are text whatever their keys are called:
    // an environment variable named `retry` is not a retry count. Keys may
    // contain dots, so the maps are found anywhere in the path. Most
    // fields are text by name already and skip that search.
    if by_name != FieldType::String && is_text_map_entry(path) {
        return FieldType::String;
    }
    by_name
}

/// The text maps whose entries a path can name: `envVariables` and
/// `portBindings`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TextMap {
    Env,
    Ports,
}

/// Returns the text map whose entry `path` names, if any. Map keys may
/// contain dots, so the map is found anywhere in the path rather than as
/// the parent segment.
fn text_map_entry(path: &str) -> Option<TextMap> {
    use memchr::memmem::Finder;
    use std::sync::LazyLock;
    // Every scalar's path is searched, so the searchers are built once.
    static ENV: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(".envVariables."));
    static PORTS: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(".portBindings."));
    if ENV.find(path.as_bytes()).is_some() {
        Some(TextMap::Env)
    } else if PORTS.find(path.as_bytes()).is_some() {
        Some(TextMap::Ports)
    } else {
        None
    }
}

/// Returns whether `path` names an entry of an `envVariables` or
/// `portBindings` map, whose values are text.
pub(crate) fn is_text_map_entry(path: &str) -> bool {
    text_map_entry(path).is_some()
}

/// Returns the name and the role (`a timeout`, `a port`) of the field at
/// `path` when it cannot take a secret, because the runner substitutes
/// secrets only in text fields such as `command` and `envVariables` values.
pub fn secret_free_field(path: &str) -> Option<(&str, &'static str)> {
    secret_free_field_of_type(path, field_type(path))
}

/// Returns [`secret_free_field`] of `path`, given `field`, which must be
/// [`field_type`] of `path`. Resolution has the type of every field already.
pub(crate) fn secret_free_field_of_type(
    path: &str,
    field: FieldType,
) -> Option<(&str, &'static str)> {
    match text_map_entry(path) {
        Some(TextMap::Env) => return None,
        Some(TextMap::Ports) => return Some(("portBindings", "a port")),
        None => {}
    }
    if is_report_path(path) {
        return Some(("paths", "a report path"));
    }
    if is_shared_path(path) {
        return Some(("sharedPaths", "a shared path"));
    }
    let (rest, last) = split_last(path);
    let (_, parent) = split_last(rest);
    let role = match (parent, last) {
        ("spec", "shell") => "a shell",
        ("spec", "imagePullPolicy") => "an image pull policy",
        ("spec", "runAsUser") => "a user id",
        ("limits", "cpu") => "a cpu quantity",
        ("limits", "memory") => "a memory quantity",
        ("matrix", _) => return None,
        (_, "timeout") => "a timeout",
        _ => match field {
            FieldType::Boolean => "a boolean",
            FieldType::Integer => "a whole number",
            FieldType::Number => "a number",
            FieldType::String | FieldType::List | FieldType::Map => return None,
        },
    };
    Some((last, role))
}

/// Returns whether `path` names a step's `reports.spec.paths` list or one
/// of its items. The runner globs these paths as resolved, so a secret's
/// reference text would never become its value there.
fn is_report_path(path: &str) -> bool {
    is_list_or_item(path, ".reports.spec.paths")
}

/// Returns whether `path` names a stage's `sharedPaths` list or one of its
/// items. The runner creates folders at these paths as resolved, so a
/// secret's reference text would become a folder's name.
fn is_shared_path(path: &str) -> bool {
    is_list_or_item(path, ".spec.sharedPaths")
}

/// Returns whether `path` names the list whose path ends with `list_end`,
/// or one of its items.
fn is_list_or_item(path: &str, list_end: &str) -> bool {
    let (rest, last) = split_last(path);
    let is_index = !last.is_empty() && last.bytes().all(|byte| byte.is_ascii_digit());
    let list = if is_index { rest } else { path };
    list.ends_with(list_end)
}

/// Splits `path` at its last `.` into what comes before and the last
/// segment. A path without a dot is all last segment.
fn split_last(path: &str) -> (&str, &str) {
    match path.as_bytes().iter().rposition(|&byte| byte == b'.') {
        Some(dot) => (&path[..dot], &path[dot + 1..]),
        None => ("", path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::yaml::{Limits, load};

    #[test]
    fn paths_follow_identifiers() {
        let source = "pipeline:\n  variables:\n    - name: tag\n      type: String\n      value: <+input>\n  stages:\n    - parallel:\n        - stage:\n            identifier: build\n            spec:\n              execution:\n                steps:\n                  - stepGroup:\n                      identifier: deps\n                      steps:\n                        - step:\n                            identifier: pg\n                            spec:\n                              image: <+input>\n                              envVariables:\n                                A: <+input>\n";
        let root = load(source, Limits::default()).unwrap().unwrap();
        let mut inputs = Vec::new();
        walk(&root, "", &mut |path, node| {
            if node.as_str() == Some("<+input>") {
                inputs.push(path.trim_start_matches('.').to_string());
            }
            Visit::Descend
        });
        assert_eq!(
            inputs,
            [
                "pipeline.variables.tag",
                "pipeline.stages.build.spec.execution.steps.deps.steps.pg.spec.image",
                "pipeline.stages.build.spec.execution.steps.deps.steps.pg.spec.envVariables.A",
            ]
        );
    }

    #[test]
    fn push_index_writes_decimal() {
        for index in [0, 7, 10, 99, 12_345, usize::MAX] {
            let mut path = String::from("a.b");
            let len = push_index(&mut path, index);
            assert_eq!(len, 3);
            assert_eq!(path, format!("a.b.{index}"));
        }
    }

    #[test]
    fn secret_free_fields() {
        let step = "pipeline.stages.s.spec.execution.steps.x";
        let cases = [
            ("pipeline.timeout", Some(("timeout", "a timeout"))),
            ("pipeline.stages.s.timeout", Some(("timeout", "a timeout"))),
            ("spec.runAsUser", Some(("runAsUser", "a user id"))),
            ("spec.shell", Some(("shell", "a shell"))),
            (
                "spec.imagePullPolicy",
                Some(("imagePullPolicy", "an image pull policy")),
            ),
            ("spec.privileged", Some(("privileged", "a boolean"))),
            ("spec.portBindings.8080", Some(("portBindings", "a port"))),
            (
                "spec.portBindings.<+pipeline.variables.p>",
                Some(("portBindings", "a port")),
            ),
            ("spec.resources.limits.cpu", Some(("cpu", "a cpu quantity"))),
            (
                "spec.resources.limits.memory",
                Some(("memory", "a memory quantity")),
            ),
            ("spec.command", None),
            ("spec.image", None),
            ("spec.envVariables.timeout", None),
            ("spec.envVariables.runAsUser", None),
            ("spec.envVariables.a.timeout", None),
            ("spec.reports.spec.paths", Some(("paths", "a report path"))),
            (
                "spec.reports.spec.paths.0",
                Some(("paths", "a report path")),
            ),
            (
                "spec.reports.spec.paths.12",
                Some(("paths", "a report path")),
            ),
            ("spec.envVariables.reports.spec.paths", None),
            ("spec.reports.spec.type", None),
            ("strategy.matrix.timeout", None),
        ];
        for (field, expected) in cases {
            let path = if field.starts_with("pipeline") {
                field.to_string()
            } else {
                format!("{step}.{field}")
            };
            assert_eq!(secret_free_field(&path), expected, "{path}");
        }
    }

    #[test]
    fn field_types() {
        assert_eq!(
            field_type("pipeline.stages.s.spec.execution.steps.x.spec.privileged"),
            FieldType::Boolean
        );
        assert_eq!(
            field_type("pipeline.stages.s.spec.execution.steps.x.spec.envVariables"),
            FieldType::Map
        );
        assert_eq!(
            field_type("pipeline.stages.s.spec.execution.steps.x.spec.envVariables.A"),
            FieldType::String
        );
        for key in ["retry", "privileged", "paths", "when", "a.times"] {
            assert_eq!(
                field_type(&format!(
                    "pipeline.stages.s.spec.execution.steps.x.spec.envVariables.{key}"
                )),
                FieldType::String,
                "{key}"
            );
        }
        assert_eq!(
            field_type("pipeline.stages.s.spec.execution.steps.x.spec.portBindings.depth"),
            FieldType::String
        );
        assert_eq!(
            field_type("pipeline.properties.ci.codebase.build"),
            FieldType::Map
        );
        assert_eq!(
            field_type("pipeline.stages.s.spec.execution.steps.x.strategy.matrix.os"),
            FieldType::List
        );
        assert_eq!(
            field_type("pipeline.stages.s.spec.execution.steps.matrix.name"),
            FieldType::String
        );
    }
}
