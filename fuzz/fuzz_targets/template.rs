//! Feeds arbitrary text through scanning, parsing, rendering, evaluation and
//! runtime-input classification in every mode.

#![no_main]

use basso_core::input::FieldKind;
use basso_core::{EvalMode, Options, ScanMode, Template, Unresolved, Value};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let ctx = Value::from_json(serde_json::json!({
        "a": 5, "f": "abc", "c": "<+a> + 2 * <+a>", "loop": "<+loop>", "list": [1, 2, 3], "m": {"k": 1},
    }));
    for scan in [ScanMode::Harness, ScanMode::Smart] {
        let Ok(template) = Template::parse(text, scan) else { continue };
        let _ = template.references();
        for unresolved in [Unresolved::Null, Unresolved::Keep, Unresolved::Error] {
            for mode in [EvalMode::Render, EvalMode::Evaluate] {
                let options = Options { scan, mode, unresolved, ..Options::default() };
                let _ = template.run(&ctx, &options);
            }
        }
    }
    if let Ok(FieldKind::RuntimeInput(input)) = FieldKind::classify(text) {
        let _ = input.validate_default();
    }
});
