//! The values a resolution reads besides the pipeline file: `--input`
//! pairs, `--inputs` input set files and the `--context` object.
//! `resolve`, `export` and `run` read all three, and `eval` reads the context.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

/// Maximum size in bytes of a file basso reads: a pipeline, an input set, a
/// context or a secrets file. It equals the size limit of `basso-core`'s
/// YAML loader, so no file is rejected here that the loader would accept.
pub const MAX_FILE_BYTES: usize = basso_core::pipeline::yaml::Limits::DEFAULT_MAX_BYTES;

/// Runtime input values and the context, read from the command line.
pub struct ResolutionArgs {
    /// `--input PATH=VALUE` pairs, in the order given.
    pub arguments: Vec<(String, String)>,
    /// Input set files as (file name, text), in the order given.
    pub input_sets: Vec<(String, String)>,
    /// The `--context` object, or an empty object.
    pub context: Json,
}

/// The reason the values of a resolution could not be read.
#[derive(Debug)]
pub enum ArgsError {
    /// A malformed `--input`, or a context file that cannot be used.
    Usage(String),
    /// An input set file that could not be read as text.
    File(ReadError),
}

impl std::fmt::Display for ArgsError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArgsError::Usage(message) => formatter.write_str(message),
            ArgsError::File(error) => error.fmt(formatter),
        }
    }
}

impl From<ArgsError> for String {
    fn from(error: ArgsError) -> String {
        error.to_string()
    }
}

impl ResolutionArgs {
    /// Splits the `--input` pairs and reads the input set and context files.
    pub fn read(
        inputs: &[String],
        input_sets: &[PathBuf],
        context: Option<&Path>,
    ) -> Result<ResolutionArgs, ArgsError> {
        let arguments = inputs
            .iter()
            .map(|input| parse_input(input))
            .collect::<Result<_, _>>()
            .map_err(ArgsError::Usage)?;
        let input_sets = input_sets
            .iter()
            .map(|path| Ok((path.display().to_string(), read_text(path)?)))
            .collect::<Result<_, ReadError>>()
            .map_err(ArgsError::File)?;
        let context = match context {
            Some(path) => read_context(path).map_err(ArgsError::Usage)?,
            None => Json::Object(Default::default()),
        };
        Ok(ResolutionArgs {
            arguments,
            input_sets,
            context,
        })
    }
}

/// Lists the texts that resolution diagnostics point into: the pipeline,
/// each input set, and each `--input` pair under the name that
/// [`basso_core::pipeline::inputs::argument_file`] gives it.
pub fn diagnostic_sources(
    name: &str,
    source: &str,
    input_sets: &[(String, String)],
    arguments: &[(String, String)],
) -> Vec<(String, String)> {
    let mut sources = vec![(name.to_string(), source.to_string())];
    sources.extend(input_sets.iter().cloned());
    for (index, (path, value)) in arguments.iter().enumerate() {
        sources.push((
            basso_core::pipeline::inputs::argument_file(index),
            format!("{path}={value}"),
        ));
    }
    sources
}

/// Reads a UTF-8 text file without its byte order mark, with the file name
/// in the error. A file in another encoding gets the position of its first
/// undecodable byte.
pub fn read_file(path: &Path) -> Result<String, String> {
    read_text(path).map_err(|error| error.to_string())
}

/// A pipeline or input set file that could not be read as UTF-8 text.
#[derive(Debug)]
pub struct ReadError {
    /// The path as given on the command line.
    pub file: String,
    /// The failure, without the file name or position.
    pub reason: String,
    /// The first byte that is not UTF-8, when that is what failed.
    pub span: Option<basso_core::Span>,
    /// How to fix a file in another encoding, which the text output shows
    /// after the reason.
    pub encoding_help: Option<&'static str>,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ReadError { file, reason, .. } = self;
        match self.span {
            Some(span) => write!(formatter, "{file}:{}:{}: {reason}", span.line, span.column)?,
            None => write!(formatter, "cannot read `{file}`: {reason}")?,
        }
        match self.encoding_help {
            Some(help) => write!(formatter, "; help: {help}"),
            None => Ok(()),
        }
    }
}

impl ReadError {
    /// Converts the error into an `unreadable-file` diagnostic: at the
    /// first byte that is not UTF-8, or at the start of the file.
    pub fn to_diagnostic(&self) -> basso_core::Diagnostic {
        let span = self
            .span
            .unwrap_or_else(|| basso_core::Span::from_byte_range("", 0, 0));
        // The help goes in its own field, not again in the message.
        let message = match self.span {
            Some(_) => self.reason.clone(),
            None => format!("cannot read `{}`: {}", self.file, self.reason),
        };
        let help = self
            .encoding_help
            .unwrap_or("check the path and the file's permissions");
        basso_core::Diagnostic::error("unreadable-file", message, span)
            .with_help(help)
            .with_file(&self.file)
    }
}

/// Reads a UTF-8 text file without its byte order mark. A file in another
/// encoding gets the position of its first undecodable byte.
pub fn read_text(path: &Path) -> Result<String, ReadError> {
    let file = path.display().to_string();
    let bytes = read_bounded(path, MAX_FILE_BYTES).map_err(|reason| ReadError {
        file: file.clone(),
        reason,
        span: None,
        encoding_help: None,
    })?;
    if looks_like_utf16(&bytes) {
        return Err(utf16_error(file));
    }
    let text = String::from_utf8(bytes)
        .map_err(|error| not_utf8(file.clone(), error.as_bytes(), error.utf8_error()))?;
    // basso-core counts positions after a byte order mark, so excerpts are
    // drawn from the text without it.
    Ok(match basso_core::pipeline::without_bom(&text) {
        rest if rest.len() < text.len() => rest.to_string(),
        _ => text,
    })
}

/// Reads at most `max_bytes` bytes of a file, so an endless or huge file
/// such as `/dev/zero` fails at the limit instead of filling memory.
pub fn read_bounded(path: &Path, max_bytes: usize) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|error| error.to_string())?;
    let mut bytes = Vec::new();
    // Reading one byte past the limit distinguishes a file of exactly
    // `max_bytes` from a larger one.
    file.take(max_bytes as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| error.to_string())?;
    if bytes.len() > max_bytes {
        return Err(format!(
            "the file is larger than the limit of {} MiB ({max_bytes} bytes)",
            max_bytes / (1024 * 1024)
        ));
    }
    Ok(bytes)
}

/// Reads a UTF-8 text file of at most [`MAX_FILE_BYTES`], with the reason in
/// the error.
pub fn read_text_bounded(path: &Path) -> Result<String, String> {
    let bytes = read_bounded(path, MAX_FILE_BYTES)?;
    if looks_like_utf16(&bytes) {
        return Err(format!("{UTF16_REASON}; help: {UTF16_HELP}"));
    }
    String::from_utf8(bytes).map_err(|error| error.utf8_error().to_string())
}

/// Returns whether `bytes` look like UTF-16 text: a UTF-16 byte order mark,
/// or, without one, a zero byte in every other place of the first bytes,
/// which ASCII text written as UTF-16 has.
fn looks_like_utf16(bytes: &[u8]) -> bool {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return true;
    }
    let start = &bytes[..bytes.len().min(64)];
    if start.len() < 4 {
        return false;
    }
    let zero_at = |offset: usize| start.iter().skip(offset).step_by(2).all(|&b| b == 0);
    let nonzero_at = |offset: usize| start.iter().skip(offset).step_by(2).any(|&b| b != 0);
    (zero_at(1) && nonzero_at(0)) || (zero_at(0) && nonzero_at(1))
}

/// The reason a UTF-16 file cannot be read, and the fix.
const UTF16_REASON: &str = "the file is UTF-16 text";
const UTF16_HELP: &str = "save it as UTF-8";

/// Returns the error for a file in UTF-16.
fn utf16_error(file: String) -> ReadError {
    ReadError {
        file,
        reason: UTF16_REASON.to_string(),
        span: None,
        encoding_help: Some(UTF16_HELP),
    }
}

/// Describes a file that is not UTF-8 (and not UTF-16, which
/// [`looks_like_utf16`] finds first): the line and column of the first byte
/// that does not decode, counted as the diagnostics of the file would count
/// them.
fn not_utf8(file: String, bytes: &[u8], error: std::str::Utf8Error) -> ReadError {
    let at = error.valid_up_to();
    // The prefix is valid UTF-8 by the error's own account.
    let before = std::str::from_utf8(&bytes[..at]).unwrap_or_default();
    let before = basso_core::pipeline::without_bom(before);
    let start = basso_core::Span::from_byte_range(before, before.len(), before.len());
    // The span covers the one byte, which `before` does not contain.
    let span = basso_core::Span {
        byte_end: start.byte_start + 1,
        end_column: start.column + 1,
        ..start
    };
    ReadError {
        file,
        reason: format!("byte 0x{:02X} is not UTF-8 text", bytes[at]),
        span: Some(span),
        encoding_help: Some(
            "save the file as UTF-8: pick UTF-8 as the encoding in your editor, or convert a Latin-1 file with `iconv -f LATIN1 -t UTF-8`",
        ),
    }
}

/// Splits `PATH=VALUE` at the first `=`, trimming the path.
fn parse_input(input: &str) -> Result<(String, String), String> {
    let (path, value) = input
        .split_once('=')
        .ok_or_else(|| format!("`--input {input}` has no `=`; write `--input PATH=VALUE`"))?;
    if path.trim().is_empty() {
        return Err(format!(
            "`--input {input}` has no path before `=`; write `--input PATH=VALUE`, with a path that `basso inputs FILE` lists"
        ));
    }
    Ok((path.trim().to_string(), value.to_string()))
}

/// Reads a context file, which must contain a JSON object.
pub fn read_context(path: &Path) -> Result<Json, String> {
    let text = read_text_bounded(path)
        .map_err(|error| format!("cannot read context `{}`: {error}", path.display()))?;
    let json: Json = serde_json::from_str(&text)
        .map_err(|error| format!("context `{}` is not valid JSON: {error}", path.display()))?;
    if !json.is_object() {
        return Err(format!(
            "context `{}` must be a JSON object whose keys are expression roots, such as `pipeline` or `codebase`",
            path.display()
        ));
    }
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_splits_at_first_equals() {
        let (path, value) = parse_input(" pipeline.variables.url =a=b").unwrap();
        assert_eq!(path, "pipeline.variables.url");
        assert_eq!(value, "a=b");
    }

    #[test]
    fn input_without_path_is_rejected() {
        let error = parse_input(" =5").unwrap_err();
        assert!(error.contains("has no path before `=`"), "{error}");
    }

    #[test]
    fn input_without_equals_is_rejected() {
        let error = parse_input("pipeline.variables.tag").unwrap_err();
        assert!(
            error.contains("`--input pipeline.variables.tag` has no `=`"),
            "{error}"
        );
    }

    #[test]
    fn latin1_file_names_first_bad_byte() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("pipeline.yaml");
        std::fs::write(&path, b"pipeline:\n  name: caf\xE9\n").unwrap();
        let error = read_file(&path).unwrap_err();
        assert!(
            error.ends_with(
                "pipeline.yaml:2:12: byte 0xE9 is not UTF-8 text; help: save the file as UTF-8: pick UTF-8 as the encoding in your editor, or convert a Latin-1 file with `iconv -f LATIN1 -t UTF-8`"
            ),
            "{error}"
        );

        let diagnostic = read_text(&path).unwrap_err().to_diagnostic();
        assert_eq!(diagnostic.code, "unreadable-file");
        assert_eq!(diagnostic.message, "byte 0xE9 is not UTF-8 text");
        assert_eq!((diagnostic.span.line, diagnostic.span.column), (2, 12));
        assert_eq!(diagnostic.span.end_column, 13);

        std::fs::write(&path, b"\xFF\xFEp\x00").unwrap();
        let error = read_file(&path).unwrap_err();
        assert!(error.contains("is UTF-16 text"), "{error}");
        // Without a byte order mark, ASCII text in UTF-16 has a zero byte
        // in every other place, which is valid UTF-8.
        std::fs::write(
            &path,
            "pipeline:\n"
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect::<Vec<u8>>(),
        )
        .unwrap();
        let error = read_file(&path).unwrap_err();
        assert!(error.contains("is UTF-16 text"), "{error}");
        let error = read_context(&path).unwrap_err();
        assert!(error.contains("is UTF-16 text"), "{error}");
        std::fs::write(&path, b"\xFF\xFEp\x00").unwrap();
        // The diagnostic carries the help once, in its own field.
        let diagnostic = read_text(&path).unwrap_err().to_diagnostic();
        assert!(
            diagnostic.message.ends_with("the file is UTF-16 text"),
            "{}",
            diagnostic.message
        );
        assert_eq!(diagnostic.help.as_deref(), Some("save it as UTF-8"));
    }

    #[test]
    fn bounded_read_stops_past_limit() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("pipeline.yaml");
        std::fs::write(&path, "12345").unwrap();
        assert_eq!(read_bounded(&path, 5).unwrap(), b"12345");

        let error = read_bounded(&path, 4).unwrap_err();
        assert!(error.contains("larger than the limit"), "{error}");
        assert!(error.contains("(4 bytes)"), "{error}");
    }

    #[cfg(unix)]
    #[test]
    fn endless_file_is_rejected_at_limit() {
        let path = Path::new("/dev/zero");
        let error = read_file(path).unwrap_err();
        assert_eq!(
            error,
            "cannot read `/dev/zero`: the file is larger than the limit of 16 MiB (16777216 bytes)"
        );
        let error = read_context(path).unwrap_err();
        assert!(error.contains("larger than the limit of 16 MiB"), "{error}");
    }

    #[test]
    fn context_must_be_an_object() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("context.json");
        std::fs::write(&path, "[1, 2]").unwrap();
        let error = read_context(&path).unwrap_err();
        assert!(error.contains("must be a JSON object"), "{error}");

        std::fs::write(&path, "{\"pipeline\": ").unwrap();
        let error = read_context(&path).unwrap_err();
        assert!(error.contains("is not valid JSON"), "{error}");

        std::fs::write(&path, "{\"pipeline\": {\"name\": \"p\"}}").unwrap();
        assert_eq!(read_context(&path).unwrap()["pipeline"]["name"], "p");
    }
}
