//! The values of each iteration of a looped stage, step group and step,
//! recorded under the iteration's path (`pipeline.stages.S_0`,
//! `pipeline.stages.S.spec.execution.steps.G_1.steps.ID`) as resolution
//! produces them. Harness runs each iteration as a node of its own, so an
//! expression reads an iteration's name, variables and `spec` by the
//! iteration's identifier, with that iteration's loop values.
//!
//! Only the nodes whose path carries a loop suffix are recorded: the file's
//! value tree already has every other node under its written path.

use std::cell::RefCell;
use std::collections::HashSet;

use serde_json::Value as Json;

use crate::expr::PathSegment;
use crate::pipeline::resolved::ResolvedStep;
use crate::value::{Map, Value};

/// The recorded iterations, keyed by path from the root of expressions.
#[derive(Default)]
pub struct IterationValues {
    tree: RefCell<Value>,
    /// The paths of the recorded stage, step group and step iterations.
    paths: RefCell<HashSet<String>>,
    /// The paths of the recorded values whose resolution read run-time
    /// data, such as the `--context` object or a step output.
    data_paths: RefCell<Vec<String>>,
}

impl IterationValues {
    /// Returns the value at `rest` below the dotted path `prefix`, or at
    /// `rest` from the root of expressions when `prefix` is empty.
    pub fn lookup_under(&self, prefix: &str, rest: &[PathSegment]) -> Option<Value> {
        self.read_under(prefix, rest, Value::clone)
    }

    /// Returns whether [`Self::lookup_under`] finds a value, without
    /// copying it.
    pub fn contains_under(&self, prefix: &str, rest: &[PathSegment]) -> bool {
        self.read_under(prefix, rest, |_| ()).is_some()
    }

    fn read_under<R>(
        &self,
        prefix: &str,
        rest: &[PathSegment],
        read: impl FnOnce(&Value) -> R,
    ) -> Option<R> {
        if self.paths.borrow().is_empty() {
            return None;
        }
        let tree = self.tree.borrow();
        let mut node = &*tree;
        for key in prefix.split('.').filter(|key| !key.is_empty()) {
            node = map_entry(node, key)?;
        }
        node.get_path(rest).map(read)
    }

    /// Returns whether the value at the dotted `path` is, contains or lies
    /// inside a value whose resolution read run-time data.
    pub fn is_data(&self, path: &str) -> bool {
        let inside = |outer: &str, inner: &str| {
            inner
                .strip_prefix(outer)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
        };
        self.data_paths
            .borrow()
            .iter()
            .any(|data| inside(data, path) || inside(path, data))
    }

    /// Returns whether the dotted `path` names a recorded value.
    pub fn contains_dotted(&self, path: &str) -> bool {
        let tree = self.tree.borrow();
        let mut node = &*tree;
        for key in path.split('.') {
            match map_entry(node, key) {
                Some(entry) => node = entry,
                None => return false,
            }
        }
        true
    }

    /// Returns whether the dotted `path` lies under a recorded iteration.
    pub fn is_under_iteration(&self, path: &str) -> bool {
        let paths = self.paths.borrow();
        let mut end = 0;
        while let Some(dot) = path[end..].find('.') {
            end += dot;
            if paths.contains(&path[..end]) {
                return true;
            }
            end += 1;
        }
        false
    }

    /// Records a stage iteration at `fqn` (`pipeline.stages.S_0`) with its
    /// identifier, name, type and resolved variables. `data_variables` names
    /// the variables whose resolution read run-time data.
    // NOTE: the stage's other fields (`description`, `tags`, the `spec`
    // settings outside `execution`) are not recorded, so reading them by an
    // iteration's identifier gives null.
    pub fn record_stage(
        &self,
        fqn: &str,
        identifier: &str,
        name: &str,
        stage_type: &str,
        variables: Map,
        data_variables: &[String],
    ) {
        let mut entry = node_entry(identifier, name, stage_type);
        entry.insert("variables".into(), Value::Map(variables));
        self.record(fqn, entry);
        let mut data_paths = self.data_paths.borrow_mut();
        for name in data_variables {
            data_paths.push(format!("{fqn}.variables.{name}"));
        }
    }

    /// Records a step group iteration at `fqn` with its identifier and name.
    /// Its steps are recorded below it as they are resolved.
    pub fn record_group(&self, fqn: &str, identifier: &str, name: &str) {
        let mut entry = Map::default();
        entry.insert("identifier".into(), Value::String(identifier.to_string()));
        entry.insert("name".into(), Value::String(name.to_string()));
        self.record(fqn, entry);
    }

    /// Records a resolved step at its `fqn`, with its resolved `spec`.
    /// `from_data` is true when the resolution of any of its fields read
    /// run-time data.
    pub fn record_step(&self, step: &ResolvedStep, from_data: bool) {
        let mut entry = node_entry(&step.identifier, &step.name, &step.step_type);
        entry.insert("spec".into(), Value::from_json(step.spec.clone()));
        self.record(&step.fqn, entry);
        if from_data {
            self.data_paths.borrow_mut().push(step.fqn.clone());
        }
    }

    /// Merges `entry` into the node at the dotted `fqn`, creating the maps
    /// on the way, and remembers `fqn` as an iteration's path.
    fn record(&self, fqn: &str, entry: Map) {
        let mut tree = self.tree.borrow_mut();
        let mut node = &mut *tree;
        for key in fqn.split('.') {
            if !matches!(node, Value::Map(_)) {
                *node = Value::Map(Map::default());
            }
            let Value::Map(entries) = node else {
                unreachable!("replaced by a map above");
            };
            node = entries
                .entry(key.to_string())
                .or_insert_with(|| Value::Map(Map::default()));
        }
        if !matches!(node, Value::Map(_)) {
            *node = Value::Map(Map::default());
        }
        if let Value::Map(entries) = node {
            entries.extend(entry);
        }
        self.paths.borrow_mut().insert(fqn.to_string());
    }
}

/// Converts resolved variables into the map that expressions read.
pub fn variables_map<'v>(variables: impl Iterator<Item = (&'v String, &'v Json)>) -> Map {
    variables
        .map(|(name, value)| (name.clone(), Value::from_json(value.clone())))
        .collect()
}

fn node_entry(identifier: &str, name: &str, node_type: &str) -> Map {
    let mut entry = Map::default();
    entry.insert("identifier".into(), Value::String(identifier.to_string()));
    entry.insert("name".into(), Value::String(name.to_string()));
    entry.insert("type".into(), Value::String(node_type.to_string()));
    entry
}

fn map_entry<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    match value {
        Value::Map(entries) => entries.get(key),
        _ => None,
    }
}
