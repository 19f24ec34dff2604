//! Compiled templates shared by the checks and the resolution of one file,
//! so each distinct field text is parsed once.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use foldhash::fast::FixedState;

use crate::error::ExprError;
use crate::options::ScanMode;
use crate::template::Template;

/// A cache of compiled templates keyed by their text. The keys are hashed
/// with foldhash, as in `value::Map`, because SipHash was a measurable share
/// of resolving a large pipeline.
#[derive(Default)]
pub struct Templates {
    compiled: RefCell<HashMap<String, Compiled, FixedState>>,
}

/// A template compiled once and shared by every field with the same text.
type Compiled = Rc<Result<Template, ExprError>>;

impl Templates {
    /// Returns the compiled template for `text`, parsing it on first use
    /// with Harness's scan rules.
    pub fn get(&self, text: &str) -> Rc<Result<Template, ExprError>> {
        if let Some(found) = self.compiled.borrow().get(text) {
            return Rc::clone(found);
        }
        let compiled = Rc::new(Template::parse(text, ScanMode::Harness));
        self.compiled
            .borrow_mut()
            .insert(text.to_string(), Rc::clone(&compiled));
        compiled
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
