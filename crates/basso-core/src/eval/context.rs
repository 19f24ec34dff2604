//! Contexts: the sources of values for expression paths.

use std::borrow::Cow;
use std::cell::RefCell;

use crate::expr::PathSegment;
use crate::value::Value;

/// A source of values for expression paths.
///
/// The engine calls [`Context::lookup`] with the whole path of a reference
/// (`pipeline.variables.tag` arrives as three segments). When a path under an
/// alias has no value, the engine tries the aliased form too: `steps.x` and
/// `execution.steps.x` name the same thing, as do `stages.s` and
/// `pipeline.stages.s`. [`Context::missed`] is called once per reference that
/// stays unresolved after both tries, so a caller can collect the paths that
/// only have values at run time.
pub trait Context {
    /// Returns the value at `path`, or `None` when there is none.
    fn lookup(&self, path: &[PathSegment]) -> Option<Cow<'_, Value>>;

    /// Records that `path` (dotted, canonical alias form) had no value.
    fn missed(&self, path: &str) {
        let _ = path;
    }

    /// Returns whether `value`, which this context's `lookup` returned for
    /// `path`, is run-time data (a trigger payload, a codebase field, a
    /// step output, a loop value computed from them) of any type, rather
    /// than a value of the pipeline file. The evaluator still resolves
    /// blocks in run-time data again, but rejects any secret that this
    /// would request and any secret id computed from it.
    fn is_run_time_value(&self, path: &[PathSegment], value: &Value) -> bool {
        let _ = (path, value);
        false
    }

    /// Returns whether `path` reads a value of a loop (a matrix value, an
    /// iteration number, a looped node's identifier) whose strategy read
    /// run-time data.
    fn is_loop_data(&self, path: &[PathSegment]) -> bool {
        let _ = path;
        false
    }

    /// Returns whether `path`, which has no value here, names run-time data
    /// that this run did not supply, such as a payload key absent from a
    /// push event. Its absence decides a condition as its value would.
    fn is_absent_run_time_data(&self, path: &[PathSegment]) -> bool {
        let _ = path;
        false
    }

    /// Records that the pipeline file's own expressions use secret `id`.
    fn used_secret(&self, id: &str) {
        let _ = id;
    }

    /// Returns how many evaluation steps are left of a budget that every
    /// evaluation with this context shares, or `None` without one.
    fn shared_steps_left(&self) -> Option<u64> {
        None
    }

    /// Records that one evaluation with this context took `steps` steps.
    fn spent_steps(&self, steps: u64) {
        let _ = steps;
    }
}

/// A value tree is a context: the keys of a top-level map are the roots.
impl Context for Value {
    fn lookup(&self, path: &[PathSegment]) -> Option<Cow<'_, Value>> {
        self.get_path(path).map(Cow::Borrowed)
    }
}

impl<C: Context + ?Sized> Context for &C {
    fn lookup(&self, path: &[PathSegment]) -> Option<Cow<'_, Value>> {
        (**self).lookup(path)
    }

    fn missed(&self, path: &str) {
        (**self).missed(path)
    }

    fn is_run_time_value(&self, path: &[PathSegment], value: &Value) -> bool {
        (**self).is_run_time_value(path, value)
    }

    fn is_loop_data(&self, path: &[PathSegment]) -> bool {
        (**self).is_loop_data(path)
    }

    fn is_absent_run_time_data(&self, path: &[PathSegment]) -> bool {
        (**self).is_absent_run_time_data(path)
    }

    fn used_secret(&self, id: &str) {
        (**self).used_secret(id)
    }

    fn shared_steps_left(&self) -> Option<u64> {
        (**self).shared_steps_left()
    }

    fn spent_steps(&self, steps: u64) {
        (**self).spent_steps(steps)
    }
}

impl Value {
    /// Follows `path` through maps and lists. A key on a list is read as an
    /// index and an index on a map as a key, as JEXL does.
    pub fn get_path(&self, path: &[PathSegment]) -> Option<&Value> {
        let mut current = self;
        for segment in path {
            current = match (current, segment) {
                (Value::Map(entries), PathSegment::Key(k)) => entries.get(k.as_str())?,
                (Value::Map(entries), PathSegment::Index(i)) => {
                    entries.get(i.to_string().as_str())?
                }
                (Value::List(items), PathSegment::Index(i)) => {
                    items.get(usize::try_from(*i).ok()?)?
                }
                (Value::List(items), PathSegment::Key(k)) => items.get(k.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(current)
    }
}

/// Wraps a context and records every path that stayed unresolved.
pub struct RecordingContext<C> {
    pub inner: C,
    misses: RefCell<Vec<String>>,
}

impl<C: Context> RecordingContext<C> {
    pub fn new(inner: C) -> Self {
        RecordingContext {
            inner,
            misses: RefCell::new(Vec::new()),
        }
    }

    /// Returns the unresolved paths in order of first miss, without duplicates.
    pub fn misses(&self) -> Vec<String> {
        self.misses.borrow().clone()
    }
}

impl<C: Context> Context for RecordingContext<C> {
    fn lookup(&self, path: &[PathSegment]) -> Option<Cow<'_, Value>> {
        self.inner.lookup(path)
    }

    fn missed(&self, path: &str) {
        let mut misses = self.misses.borrow_mut();
        if !misses.iter().any(|known| known == path) {
            misses.push(path.to_string());
        }
        drop(misses);
        self.inner.missed(path);
    }

    fn is_run_time_value(&self, path: &[PathSegment], value: &Value) -> bool {
        self.inner.is_run_time_value(path, value)
    }

    fn is_loop_data(&self, path: &[PathSegment]) -> bool {
        self.inner.is_loop_data(path)
    }

    fn is_absent_run_time_data(&self, path: &[PathSegment]) -> bool {
        self.inner.is_absent_run_time_data(path)
    }

    fn used_secret(&self, id: &str) {
        self.inner.used_secret(id)
    }

    fn shared_steps_left(&self) -> Option<u64> {
        self.inner.shared_steps_left()
    }

    fn spent_steps(&self, steps: u64) {
        self.inner.spent_steps(steps)
    }
}
