//! Looping strategies: `matrix`, `repeat` and `parallelism` on stages and
//! steps. Expansion turns one node into one iteration per combination,
//! with Harness's identifier suffixes: `_0`, `_1` for `repeat` and
//! `parallelism`, the position of each axis's value for `matrix` (`_0_1`),
//! or `_` plus the rendered `nodeName`.

use indexmap::IndexMap;
use serde_json::Value as Json;

use crate::diagnostic::Diagnostic;
use crate::pipeline::field::{ValueKind, classify, classify_node};
use crate::pipeline::model::Report;
use crate::pipeline::resolved::{Iteration, json_text};
use crate::pipeline::yaml::{Node, NodeValue};
use crate::template::has_block_start;

/// Most iterations one strategy may expand to. Harness caps matrices well
/// below this; the bound keeps untrusted files from exhausting memory.
pub const MAX_ITERATIONS: usize = 1024;

/// The keys of a `matrix` that are settings, not axes.
pub(crate) const MATRIX_KEYS: &[&str] = &["exclude", "maxConcurrency", "nodeName"];

/// The keys Harness accepts in `repeat`. basso reads only `times`, `items`
/// and `maxConcurrency`.
pub(crate) const REPEAT_KEYS: &[&str] = &[
    "times",
    "items",
    "maxConcurrency",
    "start",
    "end",
    "unit",
    "partitionSize",
];

/// Checks a strategy's shape (exactly one looping kind was already checked).
/// `identifier` is the identifier of the stage or step that loops.
pub fn check(report: &mut Report, strategy: &Node, identifier: &str) {
    if let Some(matrix) = strategy.get("matrix") {
        check_matrix(report, matrix);
        check_fixed_node_names(report, matrix, identifier);
    } else if let Some(repeat) = strategy.get("repeat") {
        check_repeat(report, repeat);
    } else if let Some(parallelism) = strategy.get("parallelism") {
        check_count(report, parallelism, "parallelism");
    }
}

fn check_count(report: &mut Report, node: &Node, field: &str) {
    let Some(text) = node.as_str() else {
        report.error(
            "invalid-strategy",
            format!("`{field}` must be a number, found {}", node.kind_name()),
            node.span,
            format!("write `{field}: 3`"),
        );
        return;
    };
    if classify(text) != ValueKind::Fixed {
        return;
    }
    match text.trim().parse::<usize>() {
        Ok(1..=MAX_ITERATIONS) => {}
        _ => report.error(
            "invalid-strategy",
            format!("invalid `{field}` `{text}`"),
            node.span,
            format!("write a whole number from 1 to {MAX_ITERATIONS}"),
        ),
    }
}

fn check_matrix(report: &mut Report, matrix: &Node) {
    if matrix.scalar().is_some() && classify_node(matrix) != ValueKind::Fixed {
        return;
    }
    let Some(entries) = matrix.as_mapping() else {
        report.error(
            "invalid-strategy",
            format!(
                "`matrix` must be a mapping of axes to lists, found {}",
                matrix.kind_name()
            ),
            matrix.span,
            "write `matrix: {axis: [a, b]}`",
        );
        return;
    };
    let mut axes = 0;
    for (key, value) in entries {
        let name = key.as_str().unwrap_or_default();
        if MATRIX_KEYS.contains(&name) {
            continue;
        }
        axes += 1;
        warn_setting_like_axis(report, key, name);
        match &value.value {
            NodeValue::Sequence(items) if items.is_empty() => {
                report.error(
                    "invalid-strategy",
                    format!("matrix axis `{name}` has no values"),
                    value.span,
                    "list at least one value",
                );
            }
            NodeValue::Sequence(_) => {}
            NodeValue::Scalar(_) if classify_node(value) != ValueKind::Fixed => {}
            _ => report.error(
                "invalid-strategy",
                format!(
                    "matrix axis `{name}` must be a list, found {}",
                    value.kind_name()
                ),
                value.span,
                format!("write `{name}: [a, b]`"),
            ),
        }
    }
    if axes == 0 {
        report.error(
            "invalid-strategy",
            "`matrix` has no axes",
            matrix.span,
            "add an axis such as `version: [\"1.20\", \"1.21\"]`",
        );
    }
    if let Some(limit) = matrix.get("maxConcurrency") {
        check_count(report, limit, "maxConcurrency");
    }
    if let Some(exclude) = matrix.get("exclude")
        && exclude.as_sequence().is_none()
        && classify_node(exclude) != ValueKind::RuntimeInput
    {
        report.error(
            "invalid-strategy",
            "`exclude` must be a list of axis values",
            exclude.span,
            "write `exclude: [{axis: value}]`",
        );
    }
    check_exclude_axes(report, matrix);
    // Only `exclude` can leave a fixed matrix of non-empty axes without
    // iterations; an empty axis was reported above. Axes and entries with
    // inputs or expressions get their values only in resolution.
    if let Ok(count) = matrix_size(matrix)
        && (1..=MAX_ITERATIONS).contains(&count)
        && matrix.get("exclude").is_some()
        && has_fixed_combinations(matrix)
        && let Err(diagnostic) = expand_matrix(matrix, &mut |_, _| None, None)
    {
        report.push(diagnostic);
    }
    if let Ok(count) = matrix_size(matrix)
        && count > MAX_ITERATIONS
    {
        report.error(
            "invalid-strategy",
            format!("the matrix has {count} combinations, more than {MAX_ITERATIONS}"),
            matrix.span,
            "split the matrix or reduce its axes",
        );
    }
}

/// Warns about a matrix axis whose name is close to a matrix setting
/// (`exlcude`, `maxConcurency`): Harness reads every key other than the
/// settings as an axis, so a misspelt setting silently becomes one.
fn warn_setting_like_axis(report: &mut Report, key: &Node, name: &str) {
    let Some(setting) = crate::pipeline::suggest::closest(name, MATRIX_KEYS) else {
        return;
    };
    report.warning(
        "unknown-key",
        format!("`{name}` is not a matrix setting, so the matrix reads it as an axis"),
        key.span,
        format!("did you mean `{setting}`? The matrix settings are `exclude`, `maxConcurrency` and `nodeName`, and every other key is an axis"),
    );
}

/// Warns about `exclude` keys that are not axes of the matrix.
fn check_exclude_axes(report: &mut Report, matrix: &Node) {
    let entries = matrix.as_mapping().unwrap_or_default();
    let axes: Vec<&str> = entries
        .iter()
        .filter_map(|(key, _)| key.as_str())
        .filter(|name| !MATRIX_KEYS.contains(name))
        .collect();
    let excludes = matrix
        .get("exclude")
        .and_then(Node::as_sequence)
        .unwrap_or_default();
    for exclude in excludes {
        for (key, _) in exclude.as_mapping().unwrap_or_default() {
            let name = key.as_str().unwrap_or_default();
            if axes.contains(&name) {
                continue;
            }
            report.warning(
                "invalid-strategy",
                format!(
                    "`exclude` names `{name}`, which is not a matrix axis, so Harness ignores this entry and every later one"
                ),
                key.span,
                format!(
                    "name one of the axes: {}",
                    crate::pipeline::iterations::backticked(&axes)
                ),
            );
        }
    }
}

fn matrix_size(matrix: &Node) -> Result<usize, ()> {
    let mut count: usize = 1;
    for (key, value) in matrix.as_mapping().unwrap_or_default() {
        if MATRIX_KEYS.contains(&key.as_str().unwrap_or_default()) {
            continue;
        }
        let len = value.as_sequence().map(<[Node]>::len).ok_or(())?;
        count = count.saturating_mul(len);
    }
    Ok(count)
}

fn check_repeat(report: &mut Report, repeat: &Node) {
    if repeat.as_mapping().is_none() {
        report.error(
            "invalid-strategy",
            format!("`repeat` must be a mapping, found {}", repeat.kind_name()),
            repeat.span,
            "write `repeat: {times: 3}` or `repeat: {items: [a, b]}`",
        );
        return;
    }
    crate::pipeline::validate::check_unknown_keys(report, repeat, REPEAT_KEYS, "`repeat`");
    match (repeat.get("times"), repeat.get("items")) {
        (Some(times), None) => check_count(report, times, "times"),
        (None, Some(items)) => {
            if items.as_sequence().is_some_and(<[Node]>::is_empty) {
                report.push(no_items(items));
            } else if items.as_sequence().is_none() && classify_node(items) == ValueKind::Fixed {
                report.error(
                    "invalid-strategy",
                    format!("`repeat.items` must be a list, found {}", items.kind_name()),
                    items.span,
                    "write `items: [a, b]`",
                );
            }
        }
        _ => report.error(
            "invalid-strategy",
            "`repeat` needs exactly one of `times` or `items`",
            repeat.span,
            "write `repeat: {times: 3}` or `repeat: {items: [a, b]}`",
        ),
    }
    if let Some(limit) = repeat.get("maxConcurrency") {
        check_count(report, limit, "maxConcurrency");
    }
}

/// Resolves an expression or runtime-input strategy field to JSON, given
/// the node and its path inside `strategy` (such as `repeat.times`).
/// Returns `None` when the field cannot be resolved, and the caller reports
/// why.
pub type Evaluate<'e> = dyn FnMut(&Node, &str) -> Option<Json> + 'e;

/// Expands a strategy into its iterations. Values written as expressions
/// are resolved through `evaluate`. `nodeName` is left to the caller, which
/// renders it per iteration and replaces `identifier_post_fix`.
pub fn expand(strategy: &Node, evaluate: &mut Evaluate<'_>) -> Result<Vec<Iteration>, Diagnostic> {
    // A written value outside 1 to 1024 is an error of validation, and a
    // value from an input or expression is one here. An input without a
    // value means no limit: its `missing-input` error stops the run.
    let mut max_concurrency = |node: &Node, path: &str| -> Result<Option<usize>, Diagnostic> {
        let Some(limit) = node.get("maxConcurrency") else {
            return Ok(None);
        };
        match value_of(limit, path, evaluate) {
            None | Some(Json::Null) => Ok(None),
            Some(value) => as_count(&value).map(Some).ok_or_else(|| {
                Diagnostic::error(
                    "invalid-strategy",
                    format!(
                        "`{path}` resolved to `{value}`, which is not a whole number from 1 to {MAX_ITERATIONS}"
                    ),
                    limit.span,
                )
                .with_help("give `maxConcurrency` a whole number from 1 to 1024, or leave it out for no limit")
            }),
        }
    };
    if let Some(matrix) = strategy.get("matrix") {
        let limit = max_concurrency(matrix, "matrix.maxConcurrency")?;
        return expand_matrix(matrix, evaluate, limit);
    }
    if let Some(repeat) = strategy.get("repeat") {
        let limit = max_concurrency(repeat, "repeat.maxConcurrency")?;
        if let Some(items) = repeat.get("items") {
            let list = match value_of(items, "repeat.items", evaluate) {
                Some(Json::Array(list)) => as_text_items(list, items),
                Some(Json::String(text)) => text
                    .split(',')
                    .map(|s| Json::String(s.trim().to_string()))
                    .collect(),
                other => return Err(unresolved(items, "repeat.items", other.as_ref())),
            };
            if list.is_empty() {
                return Err(no_items(items));
            }
            let iterations = list.len();
            return Ok(list
                .into_iter()
                .enumerate()
                .map(|(index, item)| {
                    iteration(index, iterations, IndexMap::new(), Some(item), limit)
                })
                .collect());
        }
        if let Some(times) = repeat.get("times") {
            let value = value_of(times, "repeat.times", evaluate);
            let count = value
                .as_ref()
                .and_then(as_count)
                .ok_or_else(|| unresolved(times, "repeat.times", value.as_ref()))?;
            return Ok((0..count)
                .map(|index| iteration(index, count, IndexMap::new(), None, limit))
                .collect());
        }
    }
    if let Some(parallelism) = strategy.get("parallelism") {
        let value = value_of(parallelism, "parallelism", evaluate);
        let count = value
            .as_ref()
            .and_then(as_count)
            .ok_or_else(|| unresolved(parallelism, "parallelism", value.as_ref()))?;
        return Ok((0..count)
            .map(|index| iteration(index, count, IndexMap::new(), None, None))
            .collect());
    }
    Ok(Vec::new())
}

/// Returns the value of `node` at `path` (such as `matrix.os`), resolving
/// each scalar written as an expression or runtime input, also inside lists
/// and maps (`[a, <+input>]`, whose item has the path `matrix.os.1`, or an
/// `exclude` entry `{os: <+input>}` at `matrix.exclude.0.os`).
fn value_of(node: &Node, path: &str, evaluate: &mut Evaluate<'_>) -> Option<Json> {
    if node.scalar().is_some() {
        if classify_node(node) == ValueKind::Fixed {
            return Some(node.to_json());
        }
        return evaluate(node, path);
    }
    if !has_written_value(node) {
        return Some(node.to_json());
    }
    if let Some(items) = node.as_sequence() {
        let mut values = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            values.push(value_of(item, &format!("{path}.{index}"), evaluate)?);
        }
        return Some(Json::Array(values));
    }
    let mut map = serde_json::Map::new();
    for (key, value) in node.as_mapping().unwrap_or_default() {
        let key = key.as_str().unwrap_or_default();
        map.insert(
            key.to_string(),
            value_of(value, &format!("{path}.{key}"), evaluate)?,
        );
    }
    Some(Json::Object(map))
}

/// Returns whether the axes and `exclude` of `matrix` hold only fixed
/// values, so its combinations are known without a context.
fn has_fixed_combinations(matrix: &Node) -> bool {
    matrix
        .as_mapping()
        .unwrap_or_default()
        .iter()
        .filter(|(key, _)| !matches!(key.as_str(), Some("nodeName" | "maxConcurrency")))
        .all(|(_, value)| !has_written_value(value))
}

/// Returns whether a scalar in `node` is written as an expression or
/// runtime input.
fn has_written_value(node: &Node) -> bool {
    if node.scalar().is_some() {
        return classify_node(node) != ValueKind::Fixed;
    }
    if let Some(items) = node.as_sequence() {
        return items.iter().any(has_written_value);
    }
    node.as_mapping()
        .unwrap_or_default()
        .iter()
        .any(|(_, value)| has_written_value(value))
}

fn as_count(value: &Json) -> Option<usize> {
    let count = match value {
        Json::Number(number) => number.as_u64().or_else(|| {
            number
                .as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        })?,
        Json::String(text) => text.trim().parse().ok()?,
        _ => return None,
    };
    usize::try_from(count)
        .ok()
        .filter(|count| (1..=MAX_ITERATIONS).contains(count))
}

/// Reports a `repeat.items` list without items, like an empty matrix axis.
/// Running the step once without a loop value would hide the empty list.
fn no_items(items: &Node) -> Diagnostic {
    Diagnostic::error(
        "invalid-strategy",
        "`repeat.items` has no values",
        items.span,
    )
    .with_help("list at least one value, or remove the `strategy`")
}

/// Reports a strategy field whose value, `value` when it resolved to one,
/// is not what the field takes.
fn unresolved(node: &Node, field: &str, value: Option<&Json>) -> Diagnostic {
    // Matrix axes and `repeat.items` are lists, the other fields counts.
    let expected = if field.starts_with("matrix.") || field == "repeat.items" {
        format!("a list of 1 to {MAX_ITERATIONS} values")
    } else {
        format!("a whole number from 1 to {MAX_ITERATIONS}")
    };
    match value.filter(|value| !value.is_null()) {
        Some(value) => Diagnostic::error(
            "invalid-strategy",
            format!(
                "`{field}` resolved to `{}`, which is not {expected}",
                json_text(value)
            ),
            node.span,
        )
        .with_help(format!("make the value {expected}")),
        None => Diagnostic::error(
            "invalid-strategy",
            format!("`{field}` did not resolve to {expected}"),
            node.span,
        )
        .with_help("give the strategy a fixed value, or an expression the context resolves"),
    }
}

fn iteration(
    index: usize,
    iterations: usize,
    matrix: IndexMap<String, Json>,
    item: Option<Json>,
    max_concurrency: Option<usize>,
) -> Iteration {
    Iteration {
        iteration: index,
        iterations,
        identifier_post_fix: format!("_{index}"),
        matrix,
        item,
        max_concurrency: max_concurrency.map(|n| n as u64),
        from_data: false,
        data_axes: Vec::new(),
    }
}

fn expand_matrix(
    matrix: &Node,
    evaluate: &mut Evaluate<'_>,
    max_concurrency: Option<usize>,
) -> Result<Vec<Iteration>, Diagnostic> {
    let mut axes: Vec<(String, Vec<Json>)> = Vec::new();
    for (key, value) in matrix.as_mapping().unwrap_or_default() {
        let name = key.as_str().unwrap_or_default();
        if MATRIX_KEYS.contains(&name) {
            continue;
        }
        let values = match value_of(value, &format!("matrix.{name}"), evaluate) {
            Some(Json::Array(values)) if !values.is_empty() => as_text_items(values, value),
            other => return Err(unresolved(value, &format!("matrix.{name}"), other.as_ref())),
        };
        axes.push((name.to_string(), values));
    }
    // Entries written as runtime inputs or expressions take their values,
    // and so does an `exclude` list given as one input.
    let written_excludes = match matrix.get("exclude") {
        Some(exclude) => match value_of(exclude, "matrix.exclude", evaluate) {
            Some(Json::Array(entries)) => entries,
            _ => Vec::new(),
        },
        None => Vec::new(),
    };
    let exclude_nodes = matrix
        .get("exclude")
        .and_then(Node::as_sequence)
        .unwrap_or_default();
    let mut excludes: Vec<IndexMap<String, Json>> = written_excludes
        .into_iter()
        .enumerate()
        .map(|(index, entry)| match entry {
            Json::Object(map) => map
                .into_iter()
                .map(|(key, value)| {
                    let node = exclude_nodes.get(index).and_then(|entry| entry.get(&key));
                    let value = as_text(value, node);
                    (key, value)
                })
                .collect(),
            _ => IndexMap::new(),
        })
        .collect();
    // Harness (`MatrixConfigServiceHelper.shouldExclude` in harness-core)
    // stops reading `exclude` at the first entry that names a key missing
    // from the combination, so that entry and every later one never apply.
    let is_axis = |key: &String| axes.iter().any(|(name, _)| name == key);
    if let Some(first_unknown) = excludes
        .iter()
        .position(|exclude| !exclude.keys().all(is_axis))
    {
        excludes.truncate(first_unknown);
    }
    // Each combination keeps the position of its value on every axis:
    // Harness's suffix joins them (`_1_0`), so an excluded combination
    // leaves a gap instead of renumbering the rest.
    let mut combinations: Vec<(IndexMap<String, Json>, Vec<usize>)> =
        vec![(IndexMap::new(), Vec::new())];
    for (name, values) in &axes {
        let mut next = Vec::with_capacity(combinations.len() * values.len());
        for (combination, positions) in &combinations {
            for (position, value) in values.iter().enumerate() {
                let mut extended = combination.clone();
                extended.insert(name.clone(), value.clone());
                let mut extended_positions = positions.clone();
                extended_positions.push(position);
                next.push((extended, extended_positions));
            }
        }
        if next.len() > MAX_ITERATIONS {
            return Err(Diagnostic::error(
                "invalid-strategy",
                format!("the matrix has more than {MAX_ITERATIONS} combinations"),
                matrix.span,
            )
            .with_help("split the matrix or reduce its axes"));
        }
        combinations = next;
    }
    combinations.retain(|(combination, _)| {
        !excludes.iter().any(|exclude| {
            !exclude.is_empty()
                && exclude
                    .iter()
                    .all(|(k, v)| combination.get(k).is_some_and(|c| same_value(c, v)))
        })
    });
    if combinations.is_empty() {
        let span = matrix.get("exclude").map_or(matrix.span, |n| n.span);
        return Err(Diagnostic::error(
            "invalid-strategy",
            "`exclude` removes every combination of the matrix, so it has no iterations",
            span,
        )
        .with_help(
            "remove the `exclude` entries that match every combination, or add axis values",
        ));
    }
    let iterations = combinations.len();
    Ok(combinations
        .into_iter()
        .enumerate()
        .map(|(index, (values, positions))| {
            let mut iteration = iteration(index, iterations, values, None, max_concurrency);
            // Without axes, Harness falls back to the iteration's number.
            if !positions.is_empty() {
                iteration.identifier_post_fix =
                    positions.iter().fold(String::new(), |mut text, position| {
                        text.push('_');
                        text.push_str(&position.to_string());
                        text
                    });
            }
            iteration
        })
        .collect())
}

/// Returns the identifier suffix Harness derives from a rendered
/// `nodeName`: `_` followed by the text with every character other than an
/// ASCII letter, digit or `_` replaced by `_`.
pub fn node_name_post_fix(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("_{cleaned}")
}

/// Checks the identifiers a `nodeName` gives when the matrix axes are
/// fixed lists and `nodeName` refers to nothing but `<+matrix.AXIS>`.
/// Any other expression needs the resolver's context, so it is skipped.
fn check_fixed_node_names(report: &mut Report, matrix: &Node, identifier: &str) {
    let Some(template) = matrix.get("nodeName").and_then(Node::as_str) else {
        return;
    };
    if matrix_size(matrix).is_err() {
        return;
    }
    let Ok(mut iterations) = expand_matrix(matrix, &mut |_, _| None, None) else {
        return;
    };
    if !apply_fixed_node_name(template, &mut iterations) {
        return;
    }
    let node_name = matrix.get("nodeName").unwrap_or(matrix);
    for diagnostic in check_node_names(&iterations, Some(identifier), node_name) {
        report.push(diagnostic);
    }
}

/// Replaces each iteration's suffix with the one `nodeName` gives it.
/// Returns false, leaving some suffixes unchanged, when `nodeName` reads
/// more than `<+matrix.AXIS>`.
fn apply_fixed_node_name(template: &str, iterations: &mut [Iteration]) -> bool {
    for iteration in iterations {
        let mut rendered = template.to_string();
        for (axis, value) in &iteration.matrix {
            rendered = rendered.replace(&format!("<+matrix.{axis}>"), &json_text(value));
        }
        if has_block_start(&rendered) {
            return false;
        }
        iteration.identifier_post_fix = node_name_post_fix(&rendered);
    }
    true
}

/// Returns the identifier suffixes of a strategy's iterations, such as
/// `_0` or `_` plus the rendered `nodeName`, or `None` when they depend on
/// values known only at run time.
pub fn fixed_post_fixes(strategy: &Node) -> Option<Vec<String>> {
    let mut iterations = expand(strategy, &mut |_, _| None).ok()?;
    let node_name = strategy.get("matrix").and_then(|m| m.get("nodeName"));
    if let Some(node_name) = node_name
        && !apply_fixed_node_name(node_name.as_str()?, &mut iterations)
    {
        return None;
    }
    let post_fixes = iterations.into_iter().map(|i| i.identifier_post_fix);
    Some(post_fixes.collect())
}

/// Reports iterations whose rendered `nodeName` gives an empty suffix or
/// the same suffix as an earlier iteration, because Harness needs every
/// looped node's identifier to be non-empty and unique. `node_name` is the
/// `nodeName` node and `identifier` the looped node's identifier.
pub fn check_node_names(
    iterations: &[Iteration],
    identifier: Option<&str>,
    node_name: &Node,
) -> Vec<Diagnostic> {
    let identifier = identifier.unwrap_or_default();
    let mut diagnostics = Vec::new();
    let mut first_with: IndexMap<&str, &Iteration> = IndexMap::new();
    let mut empty_reported = false;
    for iteration in iterations {
        let post_fix = iteration.identifier_post_fix.as_str();
        if post_fix == "_" && !empty_reported {
            empty_reported = true;
            diagnostics.push(
                Diagnostic::error(
                    "invalid-strategy",
                    format!(
                        "`nodeName` is empty in iteration {}, so the identifier would be `{identifier}_`",
                        iteration.iteration
                    ),
                    node_name.span,
                )
                .with_help("make `nodeName` render to text, such as `<+matrix.AXIS>`"),
            );
            continue;
        }
        if post_fix == "_" {
            continue;
        }
        if let Some(first) = first_with.get(post_fix) {
            diagnostics.push(
                Diagnostic::error(
                    "duplicate-identifier",
                    format!(
                        "`nodeName` gives iteration {} ({}) and iteration {} ({}) the same identifier `{identifier}{post_fix}`",
                        first.iteration,
                        describe_values(first),
                        iteration.iteration,
                        describe_values(iteration),
                    ),
                    node_name.span,
                )
                .with_help(
                    "use matrix values that stay distinct after characters other than letters, digits and `_` become `_`",
                ),
            );
            continue;
        }
        first_with.insert(post_fix, iteration);
    }
    diagnostics
}

/// Lists an iteration's matrix values as `axis: value, ...`.
fn describe_values(iteration: &Iteration) -> String {
    let values: Vec<String> = iteration
        .matrix
        .iter()
        .map(|(axis, value)| format!("{axis}: {}", json_text(value)))
        .collect();
    values.join(", ")
}

/// Returns the scalar items of a matrix axis or of `repeat.items` as text,
/// given the node the list was written as. Harness reads these lists as
/// lists of strings, so a written `2.50` stays `2.50`.
fn as_text_items(values: Vec<Json>, node: &Node) -> Vec<Json> {
    let items = node.as_sequence().unwrap_or_default();
    values
        .into_iter()
        .enumerate()
        .map(|(index, value)| as_text(value, items.get(index)))
        .collect()
}

/// Returns a number or boolean `value` as text: the text of `node` when it
/// is the fixed scalar the value was read from, else the value's own text.
fn as_text(value: Json, node: Option<&Node>) -> Json {
    if !matches!(value, Json::Number(_) | Json::Bool(_)) {
        return value;
    }
    let written = node
        .filter(|node| classify_node(node) == ValueKind::Fixed)
        .and_then(Node::as_str);
    Json::String(written.map_or_else(
        || crate::pipeline::resolved::json_text(&value),
        str::to_string,
    ))
}

fn same_value(a: &Json, b: &Json) -> bool {
    a == b || crate::pipeline::resolved::json_text(a) == crate::pipeline::resolved::json_text(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::yaml::{Limits, load};

    fn strategy(source: &str) -> Node {
        load(source, Limits::default()).unwrap().unwrap()
    }

    /// Returns the (code, help) of each diagnostic for `source` as a
    /// step's strategy.
    fn strategy_diagnostics(source: &str) -> Vec<(String, String)> {
        let mut report = Report::default();
        crate::pipeline::validate::check_strategy(&mut report, &strategy(source), "s");
        report
            .diagnostics
            .into_iter()
            .map(|d| (d.code, d.help.unwrap_or_default()))
            .collect()
    }

    #[test]
    fn strategy_without_kind_help() {
        let none = strategy_diagnostics("when: {condition: \"true\"}\n");
        assert_eq!(none.len(), 1, "{none:?}");
        assert_eq!(none[0].0, "invalid-strategy");
        assert!(none[0].1.starts_with("add `matrix"), "{none:?}");
        let misspelt = strategy_diagnostics("paralelism: 3\n");
        assert_eq!(misspelt.len(), 1, "{misspelt:?}");
        assert_eq!(misspelt[0].1, "did you mean `parallelism`?");
    }

    #[test]
    fn strategy_unknown_keys_warned() {
        let beside = strategy_diagnostics("parallelism: 3\nmaxConcurrency: 2\n");
        assert_eq!(beside.len(), 1, "{beside:?}");
        assert_eq!(beside[0].0, "unknown-key");
        assert!(
            beside[0].1.contains("inside `matrix` or `repeat`"),
            "{beside:?}"
        );
        let repeat = strategy_diagnostics("repeat:\n  items: [a]\n  timez: 2\n");
        assert_eq!(
            repeat,
            [(
                "unknown-key".to_string(),
                "did you mean `times`?".to_string()
            )]
        );
        let matrix = strategy_diagnostics("matrix:\n  v: [a]\n  maxConcurency: 1\n");
        assert!(
            matrix.iter().any(|(code, help)| code == "unknown-key"
                && help.starts_with("did you mean `maxConcurrency`?")),
            "{matrix:?}"
        );
        let known =
            strategy_diagnostics("repeat:\n  times: 4\n  partitionSize: 2\n  unit: Count\n");
        assert_eq!(known, []);
    }

    #[test]
    fn matrix_expands_in_axis_order() {
        let node = strategy(
            "matrix:\n  os: [linux, windows]\n  go: [\"1.20\", \"1.21\"]\n  exclude:\n    - os: windows\n      go: \"1.20\"\n",
        );
        let iterations = expand(&node, &mut |_, _| None).unwrap();
        let combos: Vec<String> = iterations
            .iter()
            .map(|i| format!("{}-{}", i.matrix["os"], i.matrix["go"]))
            .collect();
        assert_eq!(
            combos,
            [
                "\"linux\"-\"1.20\"",
                "\"linux\"-\"1.21\"",
                "\"windows\"-\"1.21\""
            ]
        );
        // The suffix gives each axis's value position; the excluded
        // combination leaves a gap.
        let post_fixes: Vec<&str> = iterations
            .iter()
            .map(|i| i.identifier_post_fix.as_str())
            .collect();
        assert_eq!(post_fixes, ["_0_0", "_0_1", "_1_1"]);
        assert_eq!(iterations[2].iteration, 2);
        assert_eq!(iterations[2].iterations, 3);

        let node = strategy("matrix:\n  x: [p, q, r]\n  exclude:\n    - x: q\n");
        let iterations = expand(&node, &mut |_, _| None).unwrap();
        let post_fixes: Vec<&str> = iterations
            .iter()
            .map(|i| i.identifier_post_fix.as_str())
            .collect();
        assert_eq!(post_fixes, ["_0", "_2"]);
    }

    #[test]
    fn repeat_items_and_times() {
        let items = expand(&strategy("repeat:\n  items: [a, b]\n"), &mut |_, _| None).unwrap();
        assert_eq!(items[1].item, Some(Json::String("b".into())));
        let times = expand(&strategy("repeat:\n  times: 3\n"), &mut |_, _| None).unwrap();
        assert_eq!(times.len(), 3);
        let parallel = expand(&strategy("parallelism: 2\n"), &mut |_, _| None).unwrap();
        assert_eq!(parallel.len(), 2);
    }

    fn check_codes(source: &str) -> Vec<String> {
        let mut report = Report::default();
        check(&mut report, &strategy(source), "r");
        report
            .diagnostics
            .iter()
            .map(|d| format!("{}: {}", d.code, d.message))
            .collect()
    }

    #[test]
    fn node_names_must_differ_after_cleaning() {
        let found =
            check_codes("matrix:\n  a: [\"1.2\", \"1-2\", \"3\"]\n  nodeName: v<+matrix.a>\n");
        assert_eq!(
            found,
            [
                "duplicate-identifier: `nodeName` gives iteration 0 (a: 1.2) and iteration 1 (a: 1-2) the same identifier `r_v1_2`"
            ]
        );
    }

    #[test]
    fn empty_node_name_is_reported_once() {
        let found = check_codes("matrix:\n  a: [x, y]\n  nodeName: \"\"\n");
        assert_eq!(
            found,
            [
                "invalid-strategy: `nodeName` is empty in iteration 0, so the identifier would be `r_`"
            ]
        );
    }

    #[test]
    fn node_name_expressions_skipped() {
        let found = check_codes("matrix:\n  a: [x, y]\n  nodeName: <+pipeline.name>\n");
        assert_eq!(found, Vec::<String>::new());
        let distinct = check_codes("matrix:\n  a: [x, y]\n  nodeName: v<+matrix.a>\n");
        assert_eq!(distinct, Vec::<String>::new());
    }

    #[test]
    fn exclude_of_every_combination_is_an_error() {
        let node = strategy("matrix:\n  a: [1, 2]\n  exclude:\n    - a: 1\n    - a: 2\n");
        let error = expand(&node, &mut |_, _| None).unwrap_err();
        assert_eq!(
            error.message,
            "`exclude` removes every combination of the matrix, so it has no iterations"
        );
        let found = check_codes("matrix:\n  a: [1]\n  exclude:\n    - a: 1\n");
        assert_eq!(
            found,
            [
                "invalid-strategy: `exclude` removes every combination of the matrix, so it has no iterations"
            ]
        );
    }

    #[test]
    fn loop_values_keep_written_text() {
        let node =
            strategy("matrix:\n  v: [2.50, 007, true, \"x\", {a: 1}]\n  exclude:\n    - v: 007\n");
        let iterations = expand(&node, &mut |_, _| None).unwrap();
        let values: Vec<&Json> = iterations.iter().map(|i| &i.matrix["v"]).collect();
        assert_eq!(
            values,
            [
                &Json::from("2.50"),
                &Json::from("true"),
                &Json::from("x"),
                &serde_json::json!({"a": 1})
            ]
        );

        let node = strategy("repeat:\n  items: [1.10, 2]\n");
        let iterations = expand(&node, &mut |_, _| None).unwrap();
        let items: Vec<Option<&Json>> = iterations.iter().map(|i| i.item.as_ref()).collect();
        assert_eq!(items, [Some(&Json::from("1.10")), Some(&Json::from("2"))]);
    }

    #[test]
    fn exclude_stops_at_unknown_axis() {
        let node =
            strategy("matrix:\n  a: [1, 2, 3]\n  exclude:\n    - a: 1\n    - c: 1\n    - a: 3\n");
        let iterations = expand(&node, &mut |_, _| None).unwrap();
        let values: Vec<&Json> = iterations.iter().map(|i| &i.matrix["a"]).collect();
        assert_eq!(values, [&Json::from("2"), &Json::from("3")]);
        let found = check_codes("matrix:\n  a: [1, 2]\n  exclude:\n    - c: 1\n");
        assert_eq!(
            found,
            [
                "invalid-strategy: `exclude` names `c`, which is not a matrix axis, so Harness ignores this entry and every later one"
            ]
        );
    }

    #[test]
    fn expression_values_use_evaluator() {
        let node = strategy("matrix:\n  repo: <+pipeline.variables.repos>\n");
        let iterations = expand(&node, &mut |_, _| Some(serde_json::json!(["x", "y"]))).unwrap();
        assert_eq!(iterations.len(), 2);
        assert!(expand(&node, &mut |_, _| None).is_err());
    }
}
