//! The `basso eval` command-line contract: JSON shapes, text output with a
//! caret, defaults and exit codes.

use std::process::{Command, Output};

fn basso(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_basso"))
        .args(args)
        .output()
        .expect("basso runs")
}

fn context_file(json: &str) -> tempfile_path::TempFile {
    tempfile_path::TempFile::new(json)
}

/// A context file in the system temporary directory, removed on drop.
mod tempfile_path {
    pub struct TempFile(pub std::path::PathBuf);

    impl TempFile {
        pub fn new(contents: &str) -> TempFile {
            static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let path = std::env::temp_dir()
                .join(format!("basso-eval-test-{}-{n}.json", std::process::id()));
            std::fs::write(&path, contents).expect("temp file is writable");
            TempFile(path)
        }

        pub fn path(&self) -> &str {
            self.0.to_str().expect("utf-8 temp path")
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn stdout_json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON document")
}

#[test]
fn json_render_prints_value() {
    let ctx = context_file(r#"{"pipeline": {"variables": {"tag": "1.2.3"}}}"#);
    let output = basso(&[
        "eval",
        "--context",
        ctx.path(),
        "--format",
        "json",
        "v<+pipeline.variables.tag>",
    ]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout_json(&output),
        serde_json::json!({"schemaVersion": 1, "value": "v1.2.3"})
    );
}

#[test]
fn json_evaluate_prints_typed_value() {
    let ctx = context_file(r#"{"a": 5, "b": 12}"#);
    let output = basso(&[
        "eval",
        "--context",
        ctx.path(),
        "--mode",
        "evaluate",
        "--format",
        "json",
        "<+a> + <+b>",
    ]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout_json(&output),
        serde_json::json!({"schemaVersion": 1, "value": 17})
    );
}

#[test]
fn json_error_has_code_line_column_and_help() {
    let output = basso(&[
        "eval",
        "--unresolved",
        "error",
        "--format",
        "json",
        "abc<+missing> def",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let json = stdout_json(&output);
    assert_eq!(json["schemaVersion"], 1);
    assert_eq!(json.as_object().unwrap().len(), 2);
    assert_eq!(json["error"]["code"], "unresolved-expression");
    assert_eq!(json["error"]["line"], 1);
    assert_eq!(json["error"]["column"], 6);
    assert_eq!(json["error"]["message"], "unresolved expression `missing`");
    assert!(
        json["error"]["help"]
            .as_str()
            .is_some_and(|h| !h.is_empty())
    );
    assert_eq!(json["error"].as_object().unwrap().len(), 5);
}

#[test]
fn defaults_render_null_for_missing() {
    let output = basso(&["eval", "abc<+missing> def"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "abcnull def\n");
}

#[test]
fn keep_and_smart_modes() {
    let kept = basso(&["eval", "--unresolved", "keep", "x <+missing>"]);
    assert_eq!(String::from_utf8_lossy(&kept.stdout), "x <+missing>\n");
    let smart = basso(&[
        "eval",
        "--scan",
        "smart",
        "--mode",
        "evaluate",
        "<+(1 > 0)>",
    ]);
    assert_eq!(String::from_utf8_lossy(&smart.stdout), "true\n");
}

#[test]
fn text_error_shows_caret_and_help() {
    let output = basso(&["eval", "<+(1 + 2))>"]);
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("error[expression-syntax]: unexpected `)`"),
        "{text}"
    );
    assert!(
        text.contains("\n  | <+(1 + 2))>\n  |          ^\n"),
        "{text}"
    );
    assert!(text.contains("help:"), "{text}");
}

#[test]
fn missing_context_file_is_usage_error() {
    let output = basso(&["eval", "--context", "/nonexistent/basso/context.json", "x"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read context"));
    assert!(output.stdout.is_empty());
}

#[test]
fn non_object_context_is_usage_error() {
    let ctx = context_file("[1, 2]");
    let output = basso(&["eval", "--context", ctx.path(), "x"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn unknown_option_value_is_usage_error() {
    let output = basso(&["eval", "--mode", "bogus", "x"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn json_error_of_multiline_template_has_line() {
    let output = basso(&["eval", "--format", "json", "abcdefgh\nxy <+1 +>"]);
    assert_eq!(output.status.code(), Some(1));
    let json = stdout_json(&output);
    assert_eq!(json["error"]["code"], "expression-syntax");
    assert_eq!(json["error"]["line"], 2);
    assert_eq!(json["error"]["column"], 9);
}
