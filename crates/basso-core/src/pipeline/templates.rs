//! Compiled templates shared by the checks and the resolution of one file,
//! so each distinct field text is parsed once.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use foldhash::fast::FixedState;

use crate::error::{ExprError, codes};
use crate::options::{EvalMode, Options, ScanMode, Unresolved};
use crate::template::Template;
use crate::value::Value;

/// A cache of compiled templates keyed by their text. The keys are hashed
/// with foldhash, as in `value::Map`, because SipHash was a measurable share
/// of resolving a large pipeline.
#[derive(Default)]
pub struct Templates {
    compiled: RefCell<HashMap<String, Compiled, FixedState>>,
    /// The result of [`Templates::secret_use_error`] for each text it was
    /// called with.
    secret_use: RefCell<HashMap<String, Option<ExprError>, FixedState>>,
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

    /// Renders `text` without context values, keeping each block that reads
    /// one as written, and returns the `secret-opaque` error of an
    /// expression that reads, compares or changes a secret itself. The
    /// result is kept per text, because many fields share one text, such
    /// as `<+secrets.getValue("token")>`.
    pub(crate) fn secret_use_error(&self, text: &str) -> Option<ExprError> {
        if let Some(known) = self.secret_use.borrow().get(text) {
            return known.clone();
        }
        let options = Options {
            scan: ScanMode::Harness,
            mode: EvalMode::Render,
            unresolved: Unresolved::Keep,
            ..Options::default()
        };
        let no_values = Value::Map(Default::default());
        let error = self
            .with(text, |template| template.run(&no_values, &options))
            .err()
            .filter(|error| error.code == codes::SECRET_OPAQUE);
        self.secret_use
            .borrow_mut()
            .insert(text.to_string(), error.clone());
        error
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
