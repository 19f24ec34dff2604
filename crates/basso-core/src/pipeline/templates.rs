//! Compiled templates shared by the checks and the resolution of one file,
//! so each distinct field text is parsed once, also when the checks run on
//! a thread of their own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use foldhash::fast::FixedState;

use crate::error::ExprError;
use crate::options::ScanMode;
use crate::template::Template;

/// A cache of compiled templates keyed by their text. The keys are hashed
/// with foldhash, as in `value::Map`, because SipHash was a measurable share
/// of resolving a large pipeline.
#[derive(Default)]
pub struct Templates {
    compiled: Mutex<HashMap<String, Compiled, FixedState>>,
}

/// A template compiled once and shared by every field with the same text.
type Compiled = Arc<Result<Template, ExprError>>;

impl Templates {
    /// Returns the compiled template for `text`, parsing it on first use
    /// with Harness's scan rules.
    /// The lock is not held while parsing, so two threads may parse the
    /// same text at once; the first result stored is the one kept.
    pub fn get(&self, text: &str) -> Compiled {
        if let Some(found) = self.entries().get(text) {
            return Arc::clone(found);
        }
        let compiled = Arc::new(Template::parse(text, ScanMode::Harness));
        Arc::clone(
            self.entries()
                .entry(text.to_string())
                .or_insert(compiled),
        )
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Compiled, FixedState>> {
        // A poisoned lock only means another thread panicked while holding
        // it; every stored template is complete.
        self.compiled
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the compiled template for `text`, or returns its parse error.
    pub fn with<T>(
        &self,
        text: &str,
        f: impl FnOnce(&Template) -> Result<T, ExprError>,
    ) -> Result<T, ExprError> {
        match &*self.get(text) {
            Ok(template) => f(template),
            Err(error) => Err(error.clone()),
        }
    }
}
