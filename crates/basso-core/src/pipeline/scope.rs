//! The expression context for resolution: the pipeline file as a value
//! tree (stages and steps keyed by identifier, variables by name, runtime
//! inputs replaced by their values) merged with the caller's context, and
//! the relative roots (`stage`, `step`, `stepGroup`, `execution`, `matrix`,
//! `repeat`, `strategy`) of the node being resolved.

use std::borrow::Cow;
use std::cell::RefCell;

use indexmap::IndexMap;

use crate::eval::Context;
use crate::expr::{PathSegment, dotted};
use crate::pipeline::field::{ValueKind, classify};
use crate::pipeline::inputs::typed_scalar;
use crate::pipeline::iteration_values::IterationValues;
use crate::pipeline::paths::{FieldType, field_type, push_index, push_key};
use crate::pipeline::resolved::Iteration;
use crate::pipeline::yaml::{Node, NodeValue};
use crate::template::has_block_start;
use crate::value::{Map, SecretHandle, Value};

/// Builds the value tree of a pipeline node; `inputs` maps input paths to
/// their final values.
pub fn tree(node: &Node, path: &str, inputs: &IndexMap<String, Value>) -> Value {
    let mut buffer = String::with_capacity(128);
    buffer.push_str(path);
    tree_at(node, &mut buffer, inputs)
}

/// Builds the tree of `node`, whose path is `path`. Children push their
/// segment onto the same buffer and truncate it afterwards.
fn tree_at(node: &Node, path: &mut String, inputs: &IndexMap<String, Value>) -> Value {
    match &node.value {
        // Only runtime-input scalars have input paths: `inputs::collect`
        // records no other node.
        NodeValue::Scalar(scalar) => {
            if classify(&scalar.text) == ValueKind::RuntimeInput {
                return inputs.get(path.as_str()).cloned().unwrap_or(Value::Null);
            }
            match typed_scalar(node) {
                // Harness reads text fields (names, tags, `command`,
                // environment values) into Java strings, so a plain `1.10`
                // or `007` there keeps the text as written.
                Value::Int(_) | Value::Float(_) | Value::Bool(_)
                    if field_type(path) == FieldType::String =>
                {
                    Value::String(scalar.text.clone())
                }
                value => value,
            }
        }
        NodeValue::Sequence(items) => {
            let mut list = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let len = push_index(path, i);
                list.push(tree_at(item, path, inputs));
                path.truncate(len);
            }
            Value::List(list)
        }
        NodeValue::Mapping(entries) => {
            let mut map = Map::with_capacity_and_hasher(entries.len(), Default::default());
            for (key, value) in entries {
                let key_text = key.as_str().unwrap_or_default();
                let len = push_key(path, key_text);
                let entry = match (key_text, &value.value) {
                    ("stages" | "steps", NodeValue::Sequence(items)) => {
                        let mut wrappers = Map::default();
                        for item in items {
                            wrapper_tree(item, path, inputs, &mut wrappers);
                        }
                        Value::Map(wrappers)
                    }
                    ("variables", NodeValue::Sequence(items)) => {
                        Value::Map(variables_tree(items, path, inputs))
                    }
                    _ => tree_at(value, path, inputs),
                };
                path.truncate(len);
                map.insert(key_text.to_string(), entry);
            }
            Value::Map(map)
        }
    }
}

fn wrapper_tree(
    item: &Node,
    list_path: &mut String,
    inputs: &IndexMap<String, Value>,
    out: &mut Map,
) {
    for wrapper in ["stage", "step", "stepGroup"] {
        if let Some(inner) = item.get(wrapper) {
            let id = inner
                .get("identifier")
                .and_then(Node::as_str)
                .unwrap_or_default();
            let len = push_key(list_path, id);
            let value = tree_at(inner, list_path, inputs);
            list_path.truncate(len);
            out.insert(id.to_string(), value);
            return;
        }
    }
    if let Some(parallel) = item.get("parallel") {
        for inner in parallel.as_sequence().unwrap_or_default() {
            wrapper_tree(inner, list_path, inputs, out);
        }
    }
}

/// Variables by name. Number values become numbers, Secret values secret
/// handles (unless written as an expression, which resolves on its own).
fn variables_tree(items: &[Node], path: &mut String, inputs: &IndexMap<String, Value>) -> Map {
    let mut map = Map::default();
    for item in items {
        let Some(name) = item.get("name").and_then(Node::as_str) else {
            continue;
        };
        let kind = item.get("type").and_then(Node::as_str).unwrap_or("String");
        let value = match item.get("value") {
            None => Value::Null,
            Some(node) => {
                let len = push_key(path, name);
                let value = tree_at(node, path, inputs);
                path.truncate(len);
                value
            }
        };
        let value = match (kind, value) {
            ("Secret", Value::String(id)) if !has_block_start(&id) && !id.is_empty() => {
                Value::Secret(SecretHandle::new(id))
            }
            // An expression gives the secret's id, so reading the variable
            // requests that secret, as Harness does. Evaluating the id runs
            // the checks of any `secrets.getValue`, which reject an id that
            // run-time data supplies.
            ("Secret", Value::String(text)) if has_block_start(&text) => {
                Value::String(secret_reference_text(&text))
            }
            ("Number", Value::String(text)) => text
                .trim()
                .parse::<f64>()
                .map(Value::Float)
                .unwrap_or(Value::String(text)),
            ("Number", Value::Int(i)) => Value::Float(i as f64),
            // Harness reads a String variable into a Java String, so a plain
            // scalar such as `1.10` or `010` keeps the text as written.
            ("String", value @ (Value::Int(_) | Value::Float(_) | Value::Bool(_))) => {
                item.get("value").and_then(Node::scalar).map_or_else(
                    || Value::String(value.render()),
                    |s| Value::String(s.text.clone()),
                )
            }
            (_, value) => value,
        };
        map.insert(name.to_string(), value);
    }
    map
}

/// Returns the expression that requests the secret whose id the template
/// `text` gives. A single block is the argument itself. Other text is
/// quoted with a quote character it does not contain, so the blocks inside
/// keep their own string literals.
fn secret_reference_text(text: &str) -> String {
    let trimmed = text.trim();
    let one_block =
        trimmed.starts_with("<+") && trimmed.ends_with('>') && trimmed.matches("<+").count() == 1;
    if one_block {
        return format!("<+secrets.getValue({trimmed})>");
    }
    if !text.contains('\'') {
        return format!("<+secrets.getValue('{text}')>");
    }
    let quoted = text.replace('\\', "\\\\").replace('"', "\\\"");
    format!("<+secrets.getValue(\"{quoted}\")>")
}

/// Merges `overlay` into `base`; overlay values win except where both are maps.
pub fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Map(base_map), Value::Map(overlay_map)) => {
            for (key, value) in overlay_map {
                match base_map.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base_map.insert(key, value);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

/// The context of one stage or step during resolution.
pub struct Scope<'a> {
    pub root: &'a Value,
    /// The stage's subtree (`pipeline.stages.S`).
    pub stage: Option<&'a Value>,
    /// The step's subtree.
    pub step: Option<&'a Value>,
    /// The innermost step group's subtree.
    pub group: Option<&'a Value>,
    /// The subtrees of the step groups around the step, innermost first.
    /// For each group: the subtree under its path with every loop suffix
    /// (`S_0` and `G_1`), where a run records its steps' outputs and
    /// statuses, then, when that path differs, the subtree of the group as
    /// the file writes it.
    pub enclosing_groups: Vec<&'a Value>,
    /// The paths of the step groups around the step with every loop
    /// suffix, innermost first.
    pub enclosing_paths: Vec<&'a str>,
    /// The values of the iterations of looped nodes resolved so far, which
    /// expressions read by the iterations' identifiers.
    pub iteration_values: Option<&'a IterationValues>,
    pub stage_iteration: Option<&'a Iteration>,
    /// The iteration of the innermost looped step group around the step.
    pub group_iteration: Option<&'a Iteration>,
    pub step_iteration: Option<&'a Iteration>,
    /// Identifiers of the node being resolved, with loop suffixes.
    pub stage_identifier: Option<&'a str>,
    /// The innermost step group's identifier.
    pub group_identifier: Option<&'a str>,
    pub step_identifier: Option<&'a str>,
    misses: RefCell<Vec<String>>,
}

impl<'a> Scope<'a> {
    pub fn new(root: &'a Value) -> Self {
        Scope {
            root,
            stage: None,
            step: None,
            group: None,
            enclosing_groups: Vec::new(),
            enclosing_paths: Vec::new(),
            iteration_values: None,
            stage_iteration: None,
            group_iteration: None,
            step_iteration: None,
            stage_identifier: None,
            group_identifier: None,
            step_identifier: None,
            misses: RefCell::new(Vec::new()),
        }
    }

    /// Returns how many paths had no value since the last
    /// [`Scope::take_misses`].
    pub fn miss_count(&self) -> usize {
        self.misses.borrow().len()
    }

    /// Returns whether a path missed after the first `from` misses
    /// satisfies `test`.
    pub fn missed_since(&self, from: usize, test: impl Fn(&str) -> bool) -> bool {
        self.misses
            .borrow()
            .iter()
            .skip(from)
            .any(|path| test(path))
    }

    /// Takes the paths that had no value since the last call.
    pub fn take_misses(&self) -> Vec<String> {
        std::mem::take(&mut *self.misses.borrow_mut())
    }

    /// The innermost loop's iteration, which `matrix`, `repeat` and
    /// `strategy` read.
    fn iteration(&self) -> Option<&'a Iteration> {
        self.step_iteration
            .or(self.group_iteration)
            .or(self.stage_iteration)
    }
}

fn iteration_value(iteration: &Iteration) -> Value {
    let mut map = Map::default();
    map.insert("iteration".into(), Value::Int(iteration.iteration as i64));
    map.insert("iterations".into(), Value::Int(iteration.iterations as i64));
    map.insert(
        "identifierPostFix".into(),
        Value::String(iteration.identifier_post_fix.clone()),
    );
    map.insert("matrix".into(), matrix_value(iteration));
    let mut repeat = Map::default();
    if let Some(item) = &iteration.item {
        repeat.insert("item".into(), Value::from_json(item.clone()));
    }
    map.insert("repeat".into(), Value::Map(repeat));
    Value::Map(map)
}

fn matrix_value(iteration: &Iteration) -> Value {
    Value::Map(
        iteration
            .matrix
            .iter()
            .map(|(k, v)| (k.clone(), Value::from_json(v.clone())))
            .collect(),
    )
}

/// Returns the value of `key` in `value` when it is a map. For a key that
/// is not a number, as here, `get_path` finds nothing in any other value.
fn map_entry<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    match value {
        Value::Map(entries) => entries.get(key),
        _ => None,
    }
}

fn owned(value: Option<&Value>) -> Option<Cow<'_, Value>> {
    value.map(Cow::Borrowed)
}

impl Scope<'_> {
    /// Reads a value of a looped node's iteration by the iteration's
    /// identifier: `pipeline.stages.S_0...` from anywhere, and
    /// `execution.steps.ID_0...` from the step groups around the node being
    /// resolved, innermost first, then from its stage.
    fn lookup_iteration(&self, path: &[PathSegment]) -> Option<Value> {
        let values = self.iteration_values?;
        let (prefix, rest) =
            self.iteration_prefix(path, |prefix, rest| values.contains_under(prefix, rest))?;
        values.lookup_under(&prefix, rest)
    }

    /// Returns the first prefix under which `path` may name an iteration's
    /// value, with the rest of `path`, for which `found` returns true.
    fn iteration_prefix<'p>(
        &self,
        path: &'p [PathSegment],
        found: impl Fn(&str, &[PathSegment]) -> bool,
    ) -> Option<(String, &'p [PathSegment])> {
        let (first, rest) = path.split_first()?;
        match first.as_key().as_ref() {
            "pipeline" => found("", path).then(|| (String::new(), path)),
            "execution" => {
                let groups = self.enclosing_paths.iter().map(|group| group.to_string());
                let stage = self
                    .stage_identifier
                    .map(|stage| format!("pipeline.stages.{stage}.spec.execution"));
                groups
                    .chain(stage)
                    .find(|prefix| found(prefix, rest))
                    .map(|prefix| (prefix, rest))
            }
            _ => None,
        }
    }

    /// Returns whether `path` reads a value that only [`Self::lookup_iteration`]
    /// finds and whose resolution read run-time data.
    fn reads_iteration_data(&self, path: &[PathSegment]) -> bool {
        let Some(values) = self.iteration_values else {
            return false;
        };
        let Some((prefix, rest)) =
            self.iteration_prefix(path, |prefix, rest| values.contains_under(prefix, rest))
        else {
            return false;
        };
        let full = match (prefix.is_empty(), rest.is_empty()) {
            (true, _) => dotted(rest),
            (false, true) => prefix,
            (false, false) => format!("{prefix}.{}", dotted(rest)),
        };
        values.is_data(&full) && self.lookup_in_file(path).is_none()
    }

    /// Reads `path` in the file's value tree merged with the caller's
    /// context, through the relative roots of the node being resolved.
    fn lookup_in_file(&self, path: &[PathSegment]) -> Option<Cow<'_, Value>> {
        let (first, rest) = path.split_first()?;
        let root_name = first.as_key();
        match root_name.as_ref() {
            "stage" => {
                if let (Some(PathSegment::Key(key)), Some(iteration)) =
                    (rest.first(), self.stage_iteration)
                    && key == "matrix"
                {
                    return matrix_value(iteration)
                        .get_path(&rest[1..])
                        .cloned()
                        .map(Cow::Owned);
                }
                if rest.len() == 1 && rest[0].as_key() == "identifier" {
                    return self
                        .stage_identifier
                        .map(|id| Cow::Owned(Value::String(id.to_string())));
                }
                owned(self.stage?.get_path(rest))
            }
            "step" => {
                if rest.len() == 1 && rest[0].as_key() == "identifier" {
                    return self
                        .step_identifier
                        .map(|id| Cow::Owned(Value::String(id.to_string())));
                }
                if let Some(iteration) = self.step_iteration
                    && let Some(PathSegment::Key(key)) = rest.first()
                    && (key == "iteration" || key == "iterations")
                {
                    return iteration_value(iteration)
                        .get_path(rest)
                        .cloned()
                        .map(Cow::Owned);
                }
                owned(self.step?.get_path(rest))
            }
            "stepGroup" => {
                if let Some(id) = self.group_identifier
                    && rest.len() == 1
                    && rest[0].as_key() == "identifier"
                {
                    return Some(Cow::Owned(Value::String(id.to_string())));
                }
                owned(self.group?.get_path(rest))
            }
            "execution" => {
                // The same look-up as `get_path` with the keys `spec` and
                // `execution`, without building the two segments for every read.
                let execution = map_entry(map_entry(self.stage?, "spec")?, "execution")?;
                // A step inside step groups reaches the other steps of each
                // group around it as `steps.ID`, because Harness resolves a
                // relative path from the innermost group outwards before the
                // stage. Identifiers are unique within a stage, so the order
                // changes no result.
                owned(execution.get_path(rest).or_else(|| {
                    self.enclosing_groups
                        .iter()
                        .find_map(|group| group.get_path(rest))
                        .or_else(|| self.group?.get_path(rest))
                }))
            }
            "matrix" => matrix_value(self.iteration()?)
                .get_path(rest)
                .cloned()
                .map(Cow::Owned),
            "repeat" => {
                let item = self.iteration()?.item.as_ref()?;
                match rest.first().map(PathSegment::as_key).as_deref() {
                    Some("item") => Value::from_json(item.clone())
                        .get_path(&rest[1..])
                        .cloned()
                        .map(Cow::Owned),
                    _ => None,
                }
            }
            "strategy" => iteration_value(self.iteration()?)
                .get_path(rest)
                .cloned()
                .map(Cow::Owned),
            _ => owned(self.root.get_path(path)),
        }
    }
}

impl Context for Scope<'_> {
    fn lookup(&self, path: &[PathSegment]) -> Option<Cow<'_, Value>> {
        self.lookup_in_file(path)
            .or_else(|| self.lookup_iteration(path).map(Cow::Owned))
    }

    fn is_loop_data(&self, path: &[PathSegment]) -> bool {
        let Some((first, rest)) = path.split_first() else {
            return false;
        };
        // The marks of run-time data cover the nodes of the root's tree,
        // and the iterations' values are recorded in a tree of their own,
        // which keeps which of them read run-time data.
        if self.reads_iteration_data(path) {
            return true;
        }
        let next = rest.first().map(PathSegment::as_key);
        let (iteration, axis) = match (first.as_key().as_ref(), next.as_deref()) {
            ("matrix", axis) => (self.iteration(), axis.map(str::to_string)),
            ("stage", Some("matrix")) => (
                self.stage_iteration,
                rest.get(1).map(|segment| segment.as_key().into_owned()),
            ),
            ("repeat" | "strategy", _) => (self.iteration(), None),
            ("stage", Some("identifier")) => (self.stage_iteration, None),
            ("stepGroup", Some("identifier")) => (self.group_iteration, None),
            ("step", Some("identifier" | "iteration" | "iterations")) => {
                (self.step_iteration, None)
            }
            _ => (None, None),
        };
        // A matrix value is data when its own axis read data. The whole
        // matrix, the iteration numbers and the identifiers are data when
        // any part of the strategy read data.
        iteration.is_some_and(|iteration| {
            iteration.from_data
                && axis.is_none_or(|axis| {
                    iteration
                        .data_axes
                        .iter()
                        .any(|data| data == crate::pipeline::resolve::EVERY_AXIS || *data == axis)
                })
        })
    }

    fn missed(&self, path: &str) {
        let mut misses = self.misses.borrow_mut();
        if !misses.iter().any(|known| known == path) {
            misses.push(path.to_string());
        }
    }
}
