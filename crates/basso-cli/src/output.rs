//! Printing to stdout, and JSON documents as JSON or YAML.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use saphyr::{Mapping, Scalar, Yaml, YamlEmitter};
use serde_json::Value as Json;

/// Prints to stderr as `eprint!` does, but drops the text when stderr is a
/// closed pipe (`basso resolve FILE 2>&1 | head -1`) or fails otherwise, where
/// `eprint!` panics.
macro_rules! err_print {
    ($($arg:tt)*) => {
        $crate::output::write_stderr(&format!($($arg)*))
    };
}

/// Prints a line to stderr as `eprintln!` does, with the failures of
/// [`err_print!`] dropped.
macro_rules! err_println {
    ($($arg:tt)*) => {
        $crate::output::write_stderr(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// Writes `text` to stderr and drops it when the write fails: stderr is
/// where a failure would be reported, so none can be.
pub fn write_stderr(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes());
    let _ = stderr.flush();
}

fn to_yaml(value: &Json) -> Yaml<'static> {
    match value {
        Json::Null => Yaml::Value(Scalar::Null),
        Json::Bool(b) => Yaml::Value(Scalar::Boolean(*b)),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Value(Scalar::Integer(i)),
            None => Yaml::Value(Scalar::FloatingPoint(n.as_f64().unwrap_or(f64::NAN).into())),
        },
        // The text of these strings needs no escapes inside double quotes.
        Json::String(s) if reads_as_other_type_in_yaml_1_1(s) => Yaml::Representation(
            s.clone().into(),
            saphyr_parser::ScalarStyle::DoubleQuoted,
            None,
        ),
        Json::String(s) => Yaml::Value(Scalar::String(s.clone().into())),
        Json::Array(items) => Yaml::Sequence(items.iter().map(to_yaml).collect()),
        Json::Object(map) => {
            let mut mapping = Mapping::new();
            for (key, value) in map {
                mapping.insert(
                    Yaml::Value(Scalar::String(key.clone().into())),
                    to_yaml(value),
                );
            }
            Yaml::Mapping(mapping)
        }
    }
}

/// Returns true for text that YAML 1.1 readers (PyYAML, SnakeYAML) may read
/// as a date or number when it is left unquoted, such as `2002-12-14`,
/// `0b101`, `1_000` or `+0x_1F`. That is text with a digit and otherwise
/// only signs, `.`, `_`, `:`, `-`, hexadecimal letters and the `x`, `o` and
/// `b` of number prefixes. Quoting text that would read as text anyway
/// changes nothing.
fn reads_as_other_type_in_yaml_1_1(text: &str) -> bool {
    text.bytes().any(|b| b.is_ascii_digit())
        && text
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b"xXoO+-._:".contains(&b))
}

/// Formats a JSON document as YAML (saphyr's emitter quotes strings that
/// would otherwise read as other types, so `"8080"` and `"true"` stay text).
pub fn yaml(value: &Json) -> String {
    let mut out = String::new();
    let mut emitter = YamlEmitter::new(&mut out);
    emitter.multiline(true);
    if emitter.dump(&to_yaml(value)).is_err() {
        return serde_json::to_string_pretty(value).unwrap_or_default();
    }
    out.push('\n');
    out
}

/// Formats a JSON document with two-space indentation.
pub fn json(value: &Json) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default() + "\n"
}

/// Prints `text` like [`print`] from another thread and returns after at
/// most `timeout`, even when stdout is blocked (a full pipe that no process reads).
/// A blocked write goes on in the background until the process exits.
pub fn print_within(text: String, timeout: std::time::Duration) {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        print(&text);
        let _ = sender.send(());
    });
    let _ = receiver.recv_timeout(timeout);
}

/// Set when a write to stdout failed for another reason than a closed pipe.
static WRITE_FAILED: AtomicBool = AtomicBool::new(false);

/// Returns true when a write to stdout failed for another reason than a
/// closed pipe, such as a full disk, so that the command does not exit 0
/// without its output.
pub fn write_failed() -> bool {
    WRITE_FAILED.load(Ordering::SeqCst)
}

/// Writes `text` to stdout and flushes it. When the reader has closed the
/// pipe (`basso check FILE | head -1`), the rest of the output is dropped
/// quietly, as other Unix tools do. Other write errors are reported on
/// stderr, and [`write_failed`] turns a success exit into exit 2.
pub fn print(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    match written {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(error) => {
            WRITE_FAILED.store(true, Ordering::SeqCst);
            let _ = writeln!(std::io::stderr(), "error: cannot write to stdout: {error}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{reads_as_other_type_in_yaml_1_1, yaml};

    #[test]
    fn yaml_1_1_lookalikes_quoted() {
        let quoted = [
            "2002-12-14",
            "2002-1-4",
            "0b101",
            "-0b1",
            "1_000",
            "1_000.5",
            "+0x_1F",
            "0.1_2e+3",
            "1_000.5e-3",
        ];
        for text in quoted {
            assert!(reads_as_other_type_in_yaml_1_1(text), "{text}");
        }
        for text in ["v1_0", "main", "1.2.3-rc", "release-2"] {
            assert!(!reads_as_other_type_in_yaml_1_1(text), "{text}");
        }
        let printed = yaml(&serde_json::json!({"date": "2002-12-14", "plain": "v-1"}));
        assert!(printed.contains("date: \"2002-12-14\""), "{printed}");
        assert!(printed.contains("plain: v-1"), "{printed}");
    }
}
