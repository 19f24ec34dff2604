//! Internal faults. With `panic = "abort"` (the only strategy of
//! `wasm32-unknown-unknown` on stable Rust) a panic ends in an `unreachable`
//! trap, which JavaScript sees as `RuntimeError: unreachable` with no
//! message, and `catch_unwind` cannot stop it. The hook installed here runs
//! before that trap and throws a JavaScript `Error` carrying the panic
//! message instead. The package's entry module (`pkg/basso.js`) catches
//! errors with the [`INTERNAL_ERROR_PREFIX`] and replaces the instance,
//! whose unwound frames never released their stack space or borrows.

use std::panic::PanicHookInfo;

/// Installs the panic hook; called once when the module starts.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(throw_internal_error));
}

/// The start of every internal error's message; `pkg/basso.js` matches it.
pub const INTERNAL_ERROR_PREFIX: &str = "basso internal error: ";

fn throw_internal_error(info: &PanicHookInfo) {
    let message = format!(
        "{INTERNAL_ERROR_PREFIX}{info}; this is a bug in basso, please report it with the input"
    );
    wasm_bindgen::throw_str(&message);
}
