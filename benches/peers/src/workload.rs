//! The shared workload: cases, their expected results and each engine's
//! spelling, read from `benches/workload.json`.

use serde::Deserialize;
use serde_json::Value as Json;

/// The workload file: the context every case reads and the cases.
#[derive(Debug, Deserialize)]
pub struct Workload {
    pub context: Json,
    pub cases: Vec<Case>,
}

/// One expression, the result every engine must return, and how each engine
/// spells it.
#[derive(Debug, Deserialize)]
pub struct Case {
    pub id: String,
    /// `render` for text with blocks spliced in, `evaluate` for a typed value.
    pub op: String,
    pub expect: Json,
    #[serde(flatten)]
    pub spellings: serde_json::Map<String, Json>,
}

impl Case {
    /// Returns the engine's spelling, or `None` when the workload notes that
    /// the engine cannot express the case.
    pub fn spelling(&self, engine: &str) -> Option<&str> {
        self.spellings.get(engine).and_then(Json::as_str)
    }

    /// Returns the expected result as text, the form every harness compares.
    pub fn expected_text(&self) -> String {
        json_text(&self.expect)
    }
}

/// Converts a scalar to the text the harnesses compare: strings without
/// quotes, booleans and numbers as written.
pub fn json_text(value: &Json) -> String {
    match value {
        Json::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Reads and parses the workload file.
pub fn load(path: &str) -> Result<Workload, String> {
    let text = std::fs::read_to_string(path).map_err(|error| format!("{path}: {error}"))?;
    serde_json::from_str(&text).map_err(|error| format!("{path}: {error}"))
}
