//! `check`, `resolve` and `inputs`: whole pipeline files, with the
//! arguments and JSON documents of `basso check`, `basso resolve` and
//! `basso inputs`.

use basso_core::pipeline::{Resolution, ResolvedStage};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use wasm_bindgen::JsError;

use crate::convert;

/// The file name diagnostics carry when the caller names none.
const DEFAULT_FILE_NAME: &str = "pipeline.yaml";

/// Options of `check` and `inputs`.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckOptions {
    /// The file name diagnostics carry in `file`; `pipeline.yaml` when absent.
    #[cfg_attr(test, ts(optional))]
    pub file: Option<String>,
}

/// Arguments of `resolve`, as the flags of `basso resolve`.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResolveOptions {
    /// Runtime input values by input path (`--input PATH=VALUE`), such as
    /// `{"pipeline.variables.tag": "1.2.3"}`; `inputs()` lists the paths.
    /// Values other than strings are passed as their JSON text. A `null` or
    /// `undefined` value supplies nothing, but still counts in the number N
    /// of the file `--input#N` of later entries. Paths are trimmed.
    #[cfg_attr(test, ts(optional, type = "Record<string, ContextValue>"))]
    pub inputs: Option<serde_json::Map<String, Json>>,
    /// Input set files (`--inputs`); later ones win.
    #[cfg_attr(test, ts(optional))]
    pub input_sets: Option<Vec<InputSetFile>>,
    /// Run-time values (`--context`): `pipeline` metadata, `codebase`,
    /// `trigger`, `variable`.
    #[cfg_attr(test, ts(optional, type = "Record<string, ContextValue>"))]
    pub context: Option<Json>,
    /// The pipeline's file name in diagnostics; `pipeline.yaml` when absent.
    #[cfg_attr(test, ts(optional))]
    pub file: Option<String>,
}

/// An input set file given to `resolve`.
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct InputSetFile {
    /// The name diagnostics in this file carry.
    pub file: String,
    /// The file's YAML text.
    pub yaml: String,
}

pub fn check(yaml: &str, options: &str) -> Result<String, JsError> {
    let options: CheckOptions = convert::from_text(options, "options")?;
    let file = options.file.as_deref().unwrap_or(DEFAULT_FILE_NAME);

    let diagnostics = basso_core::pipeline::check(yaml, file);
    let mut document = basso_core::report::CheckReport::new(&diagnostics).to_json();
    convert::add_utf16_columns(&mut document, yaml);
    convert::to_text(&document)
}

pub fn resolve(yaml: &str, options: &str) -> Result<String, JsError> {
    let options: ResolveOptions = convert::from_text(options, "options")?;
    let file = options.file.as_deref().unwrap_or(DEFAULT_FILE_NAME);
    let InputArguments { arguments, numbers } =
        input_arguments(options.inputs.unwrap_or_default())?;
    let input_sets: Vec<(String, String)> = options
        .input_sets
        .unwrap_or_default()
        .into_iter()
        .map(|set| (set.file, set.yaml))
        .collect();
    let context = match options.context {
        None | Some(Json::Null) => Json::Object(Default::default()),
        Some(context @ Json::Object(_)) => context,
        Some(_) => {
            return Err(JsError::new(
                "invalid options: `context` must be an object whose keys are expression roots",
            ));
        }
    };

    let mut resolution =
        basso_core::pipeline::resolve(yaml, file, &arguments, &input_sets, &context);
    renumber_arguments(&mut resolution.diagnostics, &numbers);
    // Diagnostics of an input point into its `PATH=VALUE` text, in the file
    // `--input#N`, as on the command line.
    let mut sources = input_sets;
    sources.extend(
        arguments
            .iter()
            .zip(&numbers)
            .map(|((path, value), &number)| {
                (
                    basso_core::pipeline::inputs::argument_file(number),
                    format!("{path}={value}"),
                )
            }),
    );
    resolve_text(&resolution, yaml, &sources)
}

/// The `--input PATH=VALUE` arguments of the `inputs` option.
struct InputArguments {
    arguments: Vec<(String, String)>,
    /// The 0-based position of each argument's entry among all entries.
    numbers: Vec<usize>,
}

/// Converts the `inputs` option into `--input PATH=VALUE` arguments. Paths
/// are trimmed, as `basso resolve --input` trims them. An entry whose value
/// is `null` gives no argument but keeps its position, so `--input#N` names
/// the N-th entry as the caller wrote it.
fn input_arguments(inputs: serde_json::Map<String, Json>) -> Result<InputArguments, JsError> {
    let mut arguments = Vec::new();
    let mut numbers = Vec::new();
    for (index, (path, value)) in inputs.into_iter().enumerate() {
        let trimmed = path.trim();
        if trimmed.is_empty() {
            return Err(JsError::new(&format!(
                "invalid options: the `inputs` key `{path}` has no path; use a path that \
                 `inputs()` lists, as `basso resolve` requires for `--input PATH=VALUE`"
            )));
        }
        if value.is_null() {
            continue;
        }
        arguments.push((trimmed.to_string(), basso_core::pipeline::json_text(&value)));
        numbers.push(index);
    }
    Ok(InputArguments { arguments, numbers })
}

/// Renames the file `--input#K` of the K-th argument to `--input#N`, where N
/// is its entry's position in the `inputs` option (`numbers`), and renumbers
/// the earlier `--input` that a `repeated-input` warning names.
fn renumber_arguments(diagnostics: &mut [basso_core::Diagnostic], numbers: &[usize]) {
    use basso_core::pipeline::inputs::argument_file;
    let positions: Vec<(String, usize)> = numbers
        .iter()
        .enumerate()
        .map(|(index, &number)| (argument_file(index), number))
        .collect();
    for diagnostic in diagnostics {
        let Some((_, number)) = positions
            .iter()
            .find(|(file, _)| diagnostic.file.as_deref() == Some(file.as_str()))
        else {
            continue;
        };
        diagnostic.file = Some(argument_file(*number));
        if diagnostic.code == "repeated-input" {
            // The message ends with "the one of `--input` number K".
            let renumbered = diagnostic
                .message
                .rsplit_once(' ')
                .and_then(|(head, earlier)| Some((head, earlier.parse::<usize>().ok()?)))
                .and_then(|(head, earlier)| {
                    Some(format!(
                        "{head} {}",
                        numbers.get(earlier.checked_sub(1)?)? + 1
                    ))
                });
            if let Some(message) = renumbered {
                diagnostic.message = message;
            }
        }
    }
}

/// The document `resolve` returns: `Resolution`'s JSON form with UTF-16
/// columns in the diagnostics. It is serialised directly, because in a CPU
/// profile of a 1,000-step resolution in Node, building the whole document
/// as a `serde_json::Value`, writing it and dropping it took about 9%.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResolveDocument<'a> {
    schema_version: u32,
    pipeline: &'a Option<String>,
    timeout_seconds: Option<u64>,
    stages: &'a [ResolvedStage],
    diagnostics: Vec<convert::EditorDiagnostic>,
}

/// Writes the JSON text of `resolution`, whose diagnostics lie in `yaml` or
/// in one of `sources` (file name, text).
fn resolve_text(
    resolution: &Resolution,
    yaml: &str,
    sources: &[(String, String)],
) -> Result<String, JsError> {
    let document = ResolveDocument {
        schema_version: resolution.schema_version,
        pipeline: &resolution.pipeline,
        timeout_seconds: resolution.timeout_seconds,
        stages: &resolution.stages,
        diagnostics: convert::editor_diagnostics(&resolution.diagnostics, yaml, sources),
    };
    Ok(serde_json::to_string(&document)?)
}

pub fn inputs(yaml: &str, options: &str) -> Result<String, JsError> {
    let options: CheckOptions = convert::from_text(options, "options")?;
    let file = options.file.as_deref().unwrap_or(DEFAULT_FILE_NAME);

    let listing = basso_core::pipeline::inputs(yaml, file);
    let mut document = serde_json::to_value(&listing)?;
    convert::add_utf16_columns(&mut document, yaml);
    convert::add_input_utf16_columns(&mut document, yaml);
    convert::to_text(&document)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIPELINE: &str = r#"pipeline:
  name: démo
  identifier: demo
  variables:
    - name: tag
      type: String
      value: <+input>.allowedValues(1.0,2.0)
  stages:
    - stage:
        name: bäck
        identifier: back
        type: CI
        spec:
          platform:
            os: Linux
            arch: Amd64
          runtime:
            type: Docker
            spec: {}
          execution:
            steps:
              - step:
                  type: Run
                  name: ünïcode
                  identifier: run
                  spec:
                    image: alpine
                    shell: sh
                    command: echo "😀" <+steps.missing.output.outputVariables.x>
"#;

    const INPUT_SET: &str = r#"inputSet:
  identifier: set
  pipeline:
    identifier: demo
    variables:
      - name: tag
        type: String
        value: "é3.0"
      - name: ünknown
        type: String
        value: x
"#;

    /// The direct document must equal the `Value` path it replaced: the
    /// CLI's JSON with UTF-16 columns added to every diagnostic.
    #[test]
    fn resolve_text_equals_value_path() {
        let input_sets = vec![("set.yaml".to_string(), INPUT_SET.to_string())];
        let resolution = basso_core::pipeline::resolve(
            PIPELINE,
            "demo.yaml",
            &[],
            &input_sets,
            &Json::Object(Default::default()),
        );
        let files: Vec<_> = resolution
            .diagnostics
            .iter()
            .map(|diagnostic| diagnostic.file.clone())
            .collect();
        assert!(files.contains(&Some("demo.yaml".to_string())), "{files:?}");
        assert!(
            files.contains(&Some("set.yaml".to_string())),
            "{:#?}",
            resolution.diagnostics
        );

        let mut expected = resolution.to_json();
        convert::add_utf16_columns_by_file(&mut expected, PIPELINE, &input_sets);
        let text = resolve_text(&resolution, PIPELINE, &input_sets).unwrap();
        assert_eq!(text, convert::to_text(&expected).unwrap());
    }

    /// The npm package gets the CLI's `secret-not-allowed` error for a
    /// secret supplied to a typed runtime input.
    #[test]
    fn secret_input_for_typed_field_rejected() {
        let pipeline = PIPELINE.replace(
            "shell: sh",
            "shell: sh\n                    runAsUser: <+input>",
        );
        let path = "pipeline.stages.back.spec.execution.steps.run.spec.runAsUser";
        let options = serde_json::json!({
            "inputs": {
                "pipeline.variables.tag": "1.0",
                path: "<+secrets.getValue(\"uid\")>",
            },
        });

        let text = resolve(&pipeline, &options.to_string()).unwrap();
        let document: Json = serde_json::from_str(&text).unwrap();
        let rejected: Vec<&Json> = document["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["code"] == "secret-not-allowed")
            .collect();

        assert_eq!(rejected.len(), 1, "{text}");
        assert_eq!(rejected[0]["severity"], "error", "{text}");
        let line = pipeline
            .lines()
            .position(|l| l.contains("runAsUser"))
            .unwrap()
            + 1;
        assert_eq!(rejected[0]["line"], line, "{text}");
        let message = rejected[0]["message"].as_str().unwrap();
        assert!(
            message.starts_with("`runAsUser` resolves to secret `uid`"),
            "{message}"
        );
        assert!(rejected[0]["help"].is_string(), "{text}");
    }

    /// Each listed input carries its column in UTF-16 code units: an
    /// astral character before it on its line takes two.
    #[test]
    fn inputs_list_utf16_columns() {
        let pipeline = PIPELINE.replace(
            "      value: <+input>.allowedValues(1.0,2.0)",
            "      value: \"😀\" \n    - name: other\n      type: String\n      value: {a: 😀, b: <+input>}",
        );
        let text = inputs(&pipeline, "null").unwrap();
        let document: Json = serde_json::from_str(&text).unwrap();
        let listed = document["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|input| input["path"] == "pipeline.variables.other.b")
            .unwrap_or_else(|| panic!("{text}"));
        let column = listed["column"].as_u64().unwrap();
        assert_eq!(listed["columnUtf16"], column + 1, "{text}");
    }

    #[test]
    fn input_diagnostic_columns_count_its_text() {
        let options = r#"{"inputs": {"pipeline.variables.😀": "x"}}"#;
        let text = resolve(PIPELINE, options).unwrap();
        let document: Json = serde_json::from_str(&text).unwrap();
        let diagnostic = document["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["file"] == "--input#1")
            .unwrap_or_else(|| panic!("{text}"));
        assert_eq!(diagnostic["endColumn"], 21);
        assert_eq!(diagnostic["endColumnUtf16"], 22);
    }
}
