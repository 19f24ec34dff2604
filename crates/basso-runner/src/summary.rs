//! The results of a run: per step and per stage, as a text table and as
//! JSON.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::reports::TestCounts;
use crate::secrets::Masker;
use crate::state::Status;

/// The result of one step.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepResult {
    /// The step path inside its stage (`group.step` in step groups).
    pub id: String,
    /// The step `name`.
    pub name: String,
    /// The step `type`.
    #[serde(rename = "type")]
    pub step_type: String,
    /// How the step ended.
    pub status: Status,
    /// The process exit code, when the process exited by itself.
    pub exit_code: Option<i32>,
    /// Why the step failed, was skipped or warned.
    pub message: Option<String>,
    /// When the step started, in milliseconds since the Unix epoch.
    pub started_at_ms: Option<u128>,
    /// When the step ended, in milliseconds since the Unix epoch.
    pub finished_at_ms: Option<u128>,
    /// How long the step ran.
    #[serde(serialize_with = "serialize_millis", rename = "durationMs")]
    pub duration: Duration,
    /// JUnit counts, when the step has report paths that matched.
    pub tests: Option<TestCounts>,
    /// Captured `outputVariables`; masked before they are printed.
    pub output_variables: BTreeMap<String, String>,
    /// How many times a `Retry` failure strategy ran the step again.
    pub retry_count: u32,
}

impl StepResult {
    /// Creates a result for a step that did not run.
    pub fn skipped(id: String, name: String, step_type: String, message: Option<String>) -> Self {
        StepResult {
            id,
            name,
            step_type,
            status: Status::Skipped,
            exit_code: None,
            message,
            started_at_ms: None,
            finished_at_ms: None,
            duration: Duration::ZERO,
            tests: None,
            output_variables: BTreeMap::new(),
            retry_count: 0,
        }
    }
}

/// The result of one stage.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StageResult {
    /// The stage identifier.
    pub id: String,
    /// How the stage ended.
    pub status: Status,
    /// Why the stage failed or was skipped.
    pub message: Option<String>,
    /// Step results in the order the steps started.
    pub steps: Vec<StepResult>,
    /// JUnit counts over all steps, when any step had reports.
    pub tests: Option<TestCounts>,
    /// How long the stage ran.
    #[serde(serialize_with = "serialize_millis", rename = "durationMs")]
    pub duration: Duration,
}

/// The result of a whole run.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// Always 1; bumped when the JSON shape changes incompatibly.
    pub schema_version: u32,
    /// `SUCCEEDED`, `FAILED`, `EXPIRED` (the pipeline `timeout` passed) or
    /// `ABORTED`.
    pub status: Status,
    /// Stage results in order.
    pub stages: Vec<StageResult>,
}

impl RunSummary {
    /// Returns the summary with every output variable and message masked.
    pub fn masked(&self, masker: &Masker) -> RunSummary {
        let mut summary = self.clone();
        for stage in &mut summary.stages {
            stage.message = stage.message.as_deref().map(|m| masker.mask_message(m));
            for step in &mut stage.steps {
                step.message = step.message.as_deref().map(|m| masker.mask_message(m));
                for value in step.output_variables.values_mut() {
                    *value = masker.mask(value);
                }
            }
        }
        summary
    }

    /// Renders the closing table: step, type, status, duration, tests.
    pub fn to_table(&self) -> String {
        let mut rows = vec![[
            "stage".to_string(),
            "step".to_string(),
            "type".to_string(),
            "status".to_string(),
            "duration".to_string(),
            "tests".to_string(),
        ]];
        for stage in &self.stages {
            for step in &stage.steps {
                rows.push([
                    stage.id.clone(),
                    step.id.clone(),
                    step.step_type.clone(),
                    step.status.word().to_string(),
                    format_duration(step.duration),
                    step.tests.map(|t| t.describe()).unwrap_or_default(),
                ]);
            }
            let tests = stage.tests.map(|t| t.describe()).unwrap_or_default();
            rows.push([
                stage.id.clone(),
                "(stage)".to_string(),
                "CI".to_string(),
                stage.status.word().to_string(),
                format_duration(stage.duration),
                tests,
            ]);
        }

        let mut widths = [0usize; 6];
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut table = String::new();
        for row in &rows {
            let cells: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            table.push_str(cells.join("  ").trim_end());
            table.push('\n');
        }
        table.push_str(&format!("result: {}\n", self.status.word()));
        table
    }
}

/// Formats a duration as the table shows it (`0.42s`, `1m05s`).
pub fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds < 60.0 {
        format!("{seconds:.2}s")
    } else {
        let whole = duration.as_secs();
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

/// Returns milliseconds since the Unix epoch.
pub fn epoch_millis(time: SystemTime) -> u128 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

fn serialize_millis<S: serde::Serializer>(
    duration: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_u128(duration.as_millis())
}
