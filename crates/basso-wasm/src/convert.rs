//! Conversions between the JSON text that the package's wrappers exchange
//! with this module and Rust values. Arguments arrive as JSON text that
//! `pkg/json.js` writes, and results leave as the exact text that
//! `--format json` prints, which the wrappers read with `JSON.parse`, so the
//! package cannot return another shape.

use basso_core::{Diagnostic, DiagnosticJson};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use wasm_bindgen::JsError;

/// Returns the JSON text of a result document.
pub fn to_text(document: &Value) -> Result<String, JsError> {
    Ok(serde_json::to_string(document)?)
}

/// Parses the JSON text of an argument. The wrappers send `null` for
/// `undefined` and `null`.
///
/// serde_json's limit of 128 nested levels is off, because the package read
/// deeper values before it passed JSON text. NOTE: the wrappers reject
/// values nested deeper than 1,000 levels (`MAX_DEPTH` in `pkg/json.js`),
/// and this function relies on that: in Node 20 text nested about 1,500
/// levels deep exhausts the stack.
pub fn parse_argument<T: DeserializeOwned>(text: &str, argument: &str) -> Result<T, JsError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    deserializer.disable_recursion_limit();
    let value = T::deserialize(&mut deserializer).and_then(|value| {
        deserializer.end()?;
        Ok(value)
    });
    value.map_err(|error| JsError::new(&format!("invalid {argument}: {error}")))
}

/// Reads an argument's JSON text; `null` becomes `T::default()`.
///
/// The text is parsed into a `serde_json::Value` first, so that error
/// messages name the field. A line and column of the JSON text would mean
/// nothing to the caller, who passed a JavaScript value.
pub fn from_text<T: DeserializeOwned + Default>(text: &str, argument: &str) -> Result<T, JsError> {
    let json: Value = parse_argument(text, argument)?;
    if json.is_null() {
        return Ok(T::default());
    }
    serde_json::from_value(json)
        .map_err(|error| JsError::new(&format!("invalid {argument}: {error}")))
}

/// Adds `columnUtf16` and `endColumnUtf16` to every object in the
/// `diagnostics` arrays of `document`, counting UTF-16 code units of
/// `source` as JavaScript strings and editors do.
pub fn add_utf16_columns(document: &mut Value, source: &str) {
    add_utf16_columns_by_file(document, source, &[]);
}

/// Like [`add_utf16_columns`], for diagnostics from several files: a
/// diagnostic whose `file` names one of `others` (file name, text) is
/// counted in that text, every other one in `source`.
pub fn add_utf16_columns_by_file(document: &mut Value, source: &str, others: &[(String, String)]) {
    let main = LineIndex::for_file(source);
    let indexes: Vec<(&str, LineIndex)> = others
        .iter()
        .map(|(file, text)| (file.as_str(), LineIndex::for_file(text)))
        .collect();
    for_each_diagnostic(document, &mut |diagnostic| {
        let file = diagnostic.get("file").and_then(Value::as_str);
        let lines = indexes
            .iter()
            .find(|(name, _)| Some(*name) == file)
            .map_or(&main, |(_, index)| index);
        let position = |line_key: &str, column_key: &str| {
            let line = diagnostic.get(line_key).and_then(Value::as_u64)?;
            let column = diagnostic.get(column_key).and_then(Value::as_u64)?;
            Some(lines.column_utf16(line as usize, column as usize))
        };
        let start = position("line", "column");
        let end = position("endLine", "endColumn");
        if let (Some(start), Some(end)) = (start, end) {
            diagnostic.insert("columnUtf16".into(), start.into());
            diagnostic.insert("endColumnUtf16".into(), end.into());
        }
    });
}

/// Adds `columnUtf16` to every entry of the `inputs` array of a `basso
/// inputs` document, counting UTF-16 code units of `source`.
pub fn add_input_utf16_columns(document: &mut Value, source: &str) {
    let lines = LineIndex::for_file(source);
    let Some(inputs) = document.get_mut("inputs").and_then(Value::as_array_mut) else {
        return;
    };
    for input in inputs.iter_mut().filter_map(Value::as_object_mut) {
        let line = input.get("line").and_then(Value::as_u64);
        let column = input.get("column").and_then(Value::as_u64);
        if let (Some(line), Some(column)) = (line, column) {
            let units = lines.column_utf16(line as usize, column as usize);
            input.insert("columnUtf16".into(), units.into());
        }
    }
}

/// A diagnostic as the package returns it: the CLI's fields, then the
/// start and end columns in UTF-16 code units.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EditorDiagnostic {
    #[serde(flatten)]
    pub diagnostic: DiagnosticJson,
    pub column_utf16: usize,
    pub end_column_utf16: usize,
}

/// Converts `diagnostics` to their JSON form with the UTF-16 columns that
/// [`add_utf16_columns_by_file`] adds, for documents that are serialised
/// without a `serde_json::Value`.
pub fn editor_diagnostics(
    diagnostics: &[Diagnostic],
    source: &str,
    others: &[(String, String)],
) -> Vec<EditorDiagnostic> {
    let main = LineIndex::for_file(source);
    let indexes: Vec<(&str, LineIndex)> = others
        .iter()
        .map(|(file, text)| (file.as_str(), LineIndex::for_file(text)))
        .collect();
    diagnostics
        .iter()
        .map(|diagnostic| {
            let shape = diagnostic.to_json_shape();
            let lines = indexes
                .iter()
                .find(|(name, _)| Some(*name) == shape.file.as_deref())
                .map_or(&main, |(_, index)| index);
            EditorDiagnostic {
                column_utf16: lines.column_utf16(shape.line, shape.column),
                end_column_utf16: lines.column_utf16(shape.end_line, shape.end_column),
                diagnostic: shape,
            }
        })
        .collect()
}

fn for_each_diagnostic(
    value: &mut Value,
    visit: &mut dyn FnMut(&mut serde_json::Map<String, Value>),
) {
    match value {
        Value::Object(object) => {
            for (key, child) in object.iter_mut() {
                if key == "diagnostics" {
                    if let Value::Array(items) = child {
                        items
                            .iter_mut()
                            .filter_map(Value::as_object_mut)
                            .for_each(&mut *visit);
                    }
                } else {
                    for_each_diagnostic(child, visit);
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| for_each_diagnostic(item, visit)),
        _ => {}
    }
}

/// Converts a 1-based character column on a 1-based line of `source` into
/// a 1-based UTF-16 column.
pub fn column_utf16(source: &str, line: usize, column: usize) -> usize {
    LineIndex::new(source).column_utf16(line, column)
}

/// Byte offsets of line starts, for converting character columns.
struct LineIndex<'a> {
    /// The text after a leading byte order mark, where basso-core counts
    /// columns.
    source: &'a str,
    line_starts: Vec<usize>,
    /// UTF-16 units before column 1 of line 1: 1 when the caller's string
    /// starts with a byte order mark, else 0.
    mark_units: usize,
}

impl<'a> LineIndex<'a> {
    /// Indexes a template, where basso-core counts every character and
    /// starts a line only after `\n`.
    fn new(source: &'a str) -> Self {
        let newlines = source.match_indices('\n').map(|(index, _)| index + 1);
        LineIndex {
            source,
            line_starts: std::iter::once(0).chain(newlines).collect(),
            mark_units: 0,
        }
    }

    /// Indexes a pipeline or input set file, where basso-core counts
    /// columns after a leading byte order mark. Lines end where the YAML
    /// parser and basso-core's file positions end them: at `\n`, `\r\n`
    /// and a lone `\r`.
    fn for_file(text: &'a str) -> Self {
        let source = basso_core::pipeline::without_bom(text);
        // U+FEFF is one UTF-16 unit.
        let mark_units = usize::from(source.len() < text.len());
        LineIndex {
            source,
            line_starts: std::iter::once(0)
                .chain(basso_core::diagnostic::yaml_line_starts(source))
                .collect(),
            mark_units,
        }
    }

    /// Converts a 1-based character column on a 1-based line into a 1-based
    /// UTF-16 column. Positions outside the source keep their column.
    fn column_utf16(&self, line: usize, column: usize) -> usize {
        let Some(&start) = line
            .checked_sub(1)
            .and_then(|index| self.line_starts.get(index))
        else {
            return column;
        };
        // The line includes its break. A break character is one UTF-16 unit,
        // as is each missing character counted below.
        let end = self
            .line_starts
            .get(line)
            .copied()
            .unwrap_or(self.source.len());
        let mut units = 0;
        let mut characters = self.source[start..end].chars();
        for _ in 1..column {
            match characters.next() {
                Some(character) => units += character.len_utf16(),
                // Past the end of the line (an end position after the last
                // character): count the missing characters as one unit each.
                None => units += 1,
            }
        }
        if line == 1 {
            units += self.mark_units;
        }
        units + 1
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn utf16_columns_count_surrogate_pairs() {
        let source = "a: 1\nb: \"😀é\" x\n";
        let mut document = json!({
            "schemaVersion": 1,
            "diagnostics": [{"line": 2, "column": 8, "endLine": 2, "endColumn": 9}],
        });
        add_utf16_columns(&mut document, source);
        let diagnostic = &document["diagnostics"][0];
        assert_eq!(diagnostic["column"], 8);
        assert_eq!(diagnostic["columnUtf16"], 9);
        assert_eq!(diagnostic["endColumnUtf16"], 10);
    }

    #[test]
    fn utf16_columns_skip_byte_order_mark() {
        let source = "\u{feff}pipelin: 1\nb: x\n";
        let mut document = json!({"diagnostics": [
            {"line": 1, "column": 1, "endLine": 1, "endColumn": 8},
            {"line": 2, "column": 4, "endLine": 2, "endColumn": 5},
        ]});
        add_utf16_columns(&mut document, source);
        let first = &document["diagnostics"][0];
        assert_eq!(first["columnUtf16"], 2);
        assert_eq!(first["endColumnUtf16"], 9);
        let second = &document["diagnostics"][1];
        assert_eq!(second["columnUtf16"], 4);
    }

    #[test]
    fn utf16_columns_of_ascii_equal_columns() {
        let source = "steps:\n  - run: x\n";
        let mut document =
            json!({"diagnostics": [{"line": 2, "column": 5, "endLine": 2, "endColumn": 8}]});
        add_utf16_columns(&mut document, source);
        assert_eq!(document["diagnostics"][0]["columnUtf16"], 5);
        assert_eq!(document["diagnostics"][0]["endColumnUtf16"], 8);
    }

    #[test]
    fn utf16_columns_after_carriage_returns() {
        // A lone `\r` ends line 1, `\r\n` line 2 and a lone `\r` line 3,
        // as the YAML parser counts them.
        let source = "a: 1\rb: \"😀😀\" x\r\nc: \"😀\" y\rd: 2\n";
        let mut document = json!({"diagnostics": [
            {"line": 2, "column": 9, "endLine": 2, "endColumn": 10},
            {"line": 3, "column": 8, "endLine": 3, "endColumn": 9},
            {"line": 4, "column": 1, "endLine": 4, "endColumn": 5},
        ]});
        add_utf16_columns(&mut document, source);
        let diagnostics = &document["diagnostics"];
        assert_eq!(diagnostics[0]["columnUtf16"], 11);
        assert_eq!(diagnostics[0]["endColumnUtf16"], 12);
        assert_eq!(diagnostics[1]["columnUtf16"], 9);
        assert_eq!(diagnostics[1]["endColumnUtf16"], 10);
        assert_eq!(diagnostics[2]["columnUtf16"], 1);
        assert_eq!(diagnostics[2]["endColumnUtf16"], 5);
    }

    #[test]
    fn utf16_columns_past_carriage_return() {
        // Columns past the `\r` count one unit each, not the emoji of line 2.
        let source = "😀\r😀";
        let mut document =
            json!({"diagnostics": [{"line": 1, "column": 1, "endLine": 1, "endColumn": 4}]});
        add_utf16_columns(&mut document, source);
        assert_eq!(document["diagnostics"][0]["endColumnUtf16"], 5);
    }

    #[test]
    fn template_columns_count_carriage_return() {
        // basso-core starts a template line only after `\n`, so `\r` is a
        // character of the line.
        assert_eq!(column_utf16("😀\r😀x", 1, 4), 6);
        assert_eq!(column_utf16("😀\r\n😀x", 2, 2), 3);
    }

    #[test]
    fn utf16_columns_in_nested_diagnostics() {
        let source = "é";
        let mut document = json!({"stages": [{"diagnostics": [{"line": 1, "column": 2, "endLine": 1, "endColumn": 2}]}]});
        add_utf16_columns(&mut document, source);
        assert_eq!(document["stages"][0]["diagnostics"][0]["columnUtf16"], 2);
    }

    #[test]
    fn utf16_columns_past_source_keep_column() {
        let source = "x";
        let mut document =
            json!({"diagnostics": [{"line": 7, "column": 3, "endLine": 7, "endColumn": 4}]});
        add_utf16_columns(&mut document, source);
        assert_eq!(document["diagnostics"][0]["columnUtf16"], 3);
        assert_eq!(document["diagnostics"][0]["endColumnUtf16"], 4);
    }

    #[test]
    fn utf16_columns_past_line_end() {
        let source = "😀\nnext";
        let mut document =
            json!({"diagnostics": [{"line": 1, "column": 1, "endLine": 1, "endColumn": 3}]});
        add_utf16_columns(&mut document, source);
        assert_eq!(document["diagnostics"][0]["endColumnUtf16"], 4);
    }
}
