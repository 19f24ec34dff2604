//! The provenance of the values of a resolution: the pipeline file, or
//! run-time data such as the `--context` object and step outputs.
//!
//! The evaluator resolves blocks inside run-time data again, as Harness
//! does, but rejects any secret that this would request
//! ([`crate::eval`]). A step lists only the secrets that the file's own
//! expressions use, so the runner never substitutes secret reference text
//! that arrives as data.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;

use foldhash::fast::FixedState;
use serde_json::Value as Json;

use crate::eval::Context;
use crate::expr::{PathSegment, canonical, dotted};
use crate::value::{SECRET_REFERENCE_START, Value, reference_id};

/// The strings of the run-time data, and the secrets the file's
/// expressions use since the last [`RunTimeData::take_used_secrets`].
#[derive(Default)]
pub struct RunTimeData {
    texts: HashSet<String>,
    /// The addresses of the nodes of the resolution's value tree that the
    /// caller's data set, and of the maps and lists that contain such nodes.
    nodes: HashSet<usize, FixedState>,
    used_secrets: RefCell<Vec<String>>,
    /// How many secret values evaluation produced so far, repeats included.
    secret_uses: Cell<usize>,
    /// How many values evaluation read from run-time data so far.
    data_reads: Cell<usize>,
    /// How many evaluation steps all expressions of the resolution took so far.
    steps_spent: Cell<u64>,
    /// The input paths whose supplied value was rejected, so that they
    /// read as null.
    invalid_inputs: HashSet<String>,
    /// Whether evaluation read one of `invalid_inputs` since the last
    /// [`RunTimeData::take_read_invalid`].
    read_invalid: Cell<bool>,
}

/// The evaluation steps that all expressions of one resolution may take
/// together. One expression may take 100,000 (`Limits::max_steps`); this
/// bounds a file in which many fields, or many iterations of a loop, each
/// take nearly that many. Resolving the 10,000-step pipeline of
/// `basso-bench-peers pipeline-yaml 10000` takes 56,000 steps.
pub const MAX_RESOLUTION_STEPS: u64 = 5_000_000;

impl RunTimeData {
    /// Marks the nodes of `root` that `context`, the caller's run-time data
    /// merged into `root`, set. A value read at any of them counts as
    /// run-time data, whatever its type or content, and whichever path
    /// reached it (`stage.variables.x` or `pipeline.stages.s.variables.x`).
    /// `root` may not change while the result is in use.
    pub fn new(context: &Json, root: &Value) -> RunTimeData {
        let mut data = RunTimeData::default();
        if let (Json::Object(overlay), Value::Map(entries)) = (context, root) {
            for (key, value) in overlay {
                if let Some(node) = entries.get(key) {
                    data.mark_merged(node, value);
                }
            }
        }
        data
    }

    /// Marks `node`, into which `merge` put `overlay`: a map merged into a
    /// map contains data, and anything else was replaced by the data.
    fn mark_merged(&mut self, node: &Value, overlay: &Json) {
        match (node, overlay) {
            (Value::Map(entries), Json::Object(overlay)) => {
                if overlay.is_empty() {
                    return;
                }
                self.nodes.insert(address(node));
                for (key, value) in overlay {
                    if let Some(entry) = entries.get(key) {
                        self.mark_merged(entry, value);
                    }
                }
            }
            _ => self.mark_all(node),
        }
    }

    /// Marks `node` and everything below it.
    fn mark_all(&mut self, node: &Value) {
        self.nodes.insert(address(node));
        match node {
            Value::List(items) => items.iter().for_each(|item| self.mark_all(item)),
            Value::Map(entries) => entries.values().for_each(|entry| self.mark_all(entry)),
            _ => {}
        }
    }

    /// Marks every string value of `value`, a loop value computed from
    /// run-time data, as run-time data.
    // NOTE: loop values are read at paths of their own (`matrix.x`), so
    // their strings are matched by content: a string of the pipeline file
    // that equals one of them also counts as data. Its secrets are then
    // rejected, never delivered.
    pub fn add(&mut self, value: &Json) {
        match value {
            Json::String(text) if !self.texts.contains(text) => {
                self.texts.insert(text.clone());
            }
            Json::Array(items) => items.iter().for_each(|item| self.add(item)),
            Json::Object(map) => map.values().for_each(|item| self.add(item)),
            _ => {}
        }
    }

    /// Returns `scope` as a context that marks run-time data and records
    /// the secrets evaluation uses.
    /// Records the input paths whose supplied value was rejected.
    pub fn set_invalid_inputs(&mut self, paths: HashSet<String>) {
        self.invalid_inputs = paths;
    }

    /// Returns whether evaluation read an input whose supplied value was
    /// rejected since the last call, and clears that mark.
    pub fn take_read_invalid(&self) -> bool {
        self.read_invalid.replace(false)
    }

    pub fn over<'s>(&'s self, scope: &'s dyn Context) -> Traced<'s> {
        Traced { scope, data: self }
    }

    /// Returns how many secret values evaluation produced so far.
    pub fn secret_uses(&self) -> usize {
        self.secret_uses.get()
    }

    /// Returns how many values evaluation read from run-time data so far.
    pub fn data_reads(&self) -> usize {
        self.data_reads.get()
    }

    /// Counts one read of run-time data when `from_data` is true, and
    /// returns `from_data`.
    fn count_read(&self, from_data: bool) -> bool {
        if from_data {
            self.data_reads.set(self.data_reads.get() + 1);
        }
        from_data
    }

    /// Returns the id in the first secret reference text of `value`, rendered,
    /// when it has more such texts than the `uses` secret values that
    /// evaluation produced for it. The extra text was then built from
    /// run-time data, for example by joining two strings of a payload.
    // NOTE: a secret inside a list or map that an expression returns whole
    // (`<+pipeline.variables>`) is not counted as a use, so such a value is
    // rejected as well.
    pub fn forged_reference(value: &Value, uses: usize) -> Option<String> {
        let rendered = rendered_text(value)?;
        // Every resolved field comes here, and `str::matches` set up a
        // substring searcher per call. The marker starts with its only `<`,
        // so two matches never overlap and the `<`s find all of them.
        let bytes = rendered.as_bytes();
        let mut starts = memchr::memchr_iter(b'<', bytes)
            .filter(|&at| bytes[at..].starts_with(SECRET_REFERENCE_START.as_bytes()));
        let first = starts.next()?;
        let count = starts.count() + 1;
        if count <= uses {
            return None;
        }
        Some(reference_id(&rendered[first..]))
    }

    /// Takes the secret ids used since the last call, in order of first use.
    pub fn take_used_secrets(&self) -> Vec<String> {
        std::mem::take(&mut *self.used_secrets.borrow_mut())
    }
}

/// Returns the text of a string, list, map or secret as Harness renders it,
/// or `None` for a value that cannot contain secret reference text.
fn rendered_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(text) => Some(Cow::Borrowed(text.as_str())),
        Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) => None,
        other => Some(Cow::Owned(other.render())),
    }
}

/// Roots of expression paths that name the stage, step group, step or loop
/// being resolved. basso takes them from the pipeline file, never from the
/// `--context` object.
pub(crate) const FILE_ROOTS: [&str; 7] = [
    "stage",
    "stepGroup",
    "step",
    "execution",
    "matrix",
    "repeat",
    "strategy",
];

/// Returns the address of `node`, which identifies it while its tree does
/// not change.
fn address(node: &Value) -> usize {
    std::ptr::from_ref(node) as usize
}

/// A context that adds [`RunTimeData`]'s marks to another one.
pub struct Traced<'s> {
    scope: &'s dyn Context,
    data: &'s RunTimeData,
}

impl Context for Traced<'_> {
    fn lookup(&self, path: &[PathSegment]) -> Option<Cow<'_, Value>> {
        self.scope.lookup(path)
    }

    fn missed(&self, path: &str) {
        self.scope.missed(path)
    }

    // NOTE: a map that mixes file and run-time keys (`<+pipeline>` once the
    // run adds `pipeline.stages`) counts as run-time data as a whole, so an
    // id taken from its file part is rejected as well.
    fn is_run_time_value(&self, path: &[PathSegment], value: &Value) -> bool {
        if !self.data.invalid_inputs.is_empty()
            && self.data.invalid_inputs.contains(&dotted(&canonical(path)))
        {
            self.data.read_invalid.set(true);
        }
        let from_data = self.data.nodes.contains(&address(value))
            || matches!(value, Value::String(text)
                if !self.data.texts.is_empty() && self.data.texts.contains(text))
            || self.scope.is_loop_data(path);
        self.data.count_read(from_data)
    }

    // NOTE: the reference checks reject paths to steps, stages and
    // variables that the file does not declare, so a missing path outside
    // the file's roots, or to a step output, names a value that only the
    // run supplies.
    fn is_absent_run_time_data(&self, path: &[PathSegment]) -> bool {
        let from_data = path
            .first()
            .is_some_and(|root| !FILE_ROOTS.contains(&root.as_key().as_ref()))
            || path.iter().any(|segment| segment.as_key() == "output");
        self.data.count_read(from_data)
    }

    fn shared_steps_left(&self) -> Option<u64> {
        Some(MAX_RESOLUTION_STEPS.saturating_sub(self.data.steps_spent.get()))
    }

    fn spent_steps(&self, steps: u64) {
        let spent = &self.data.steps_spent;
        spent.set(spent.get().saturating_add(steps));
    }

    fn used_secret(&self, id: &str) {
        self.data.secret_uses.set(self.data.secret_uses.get() + 1);
        let mut used = self.data.used_secrets.borrow_mut();
        if !used.iter().any(|known| known == id) {
            used.push(id.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::cell::Cell;

    use super::*;
    use crate::error::codes;
    use crate::options::{Options, ScanMode};
    use crate::template::Template;

    /// A context in which every path reads 1, with a shared budget of `left`
    /// steps.
    struct Budgeted {
        left: Cell<u64>,
    }

    impl Context for Budgeted {
        fn lookup(&self, _: &[PathSegment]) -> Option<Cow<'_, Value>> {
            Some(Cow::Owned(Value::Int(1)))
        }

        fn shared_steps_left(&self) -> Option<u64> {
            Some(self.left.get())
        }

        fn spent_steps(&self, steps: u64) {
            self.left.set(self.left.get().saturating_sub(steps));
        }
    }

    #[test]
    fn shared_budget_spent_across_calls() {
        let template = Template::parse("<+x + x + x + x>", ScanMode::Harness).unwrap();
        let context = Budgeted {
            left: Cell::new(20),
        };
        let options = Options::default();

        assert!(template.evaluate(&context, &options).is_ok());
        let left = context.left.get();
        assert!(left < 20, "{left}");
        let mut outcomes = Vec::new();
        for _ in 0..20 {
            outcomes.push(template.evaluate(&context, &options));
        }
        let error = outcomes.into_iter().find_map(Result::err).unwrap();
        assert_eq!(error.code, codes::SHARED_BUDGET_EXCEEDED);
    }

    #[test]
    fn traced_context_counts_resolution_steps() {
        let data = RunTimeData::default();
        let scope = Value::Null;
        let traced = data.over(&scope);

        assert_eq!(traced.shared_steps_left(), Some(MAX_RESOLUTION_STEPS));
        traced.spent_steps(10);
        assert_eq!(traced.shared_steps_left(), Some(MAX_RESOLUTION_STEPS - 10));
        traced.spent_steps(u64::MAX);
        assert_eq!(traced.shared_steps_left(), Some(0));
    }
}
