//! Fixture and corpus tests for `basso check`, run against the real binary.
//!
//! Each file in `tests/fixtures/pipelines/invalid/` is named after the
//! diagnostic code it must produce (`unknown-shell.yaml`, or
//! `invalid-image--digest.yaml` for a second case of the same rule); each
//! file in `valid/` must produce no error. The JSON and the rendered text
//! of every file are pinned in snapshots.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// Runs `basso` from the repository root and returns (exit code, stdout).
fn basso(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_basso"))
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("run basso");
    let code = output.status.code().expect("basso exited by a signal");
    assert!(
        code == 0 || code == 1,
        "basso {args:?} exited with {code}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        code,
        String::from_utf8(output.stdout).expect("utf-8 output"),
    )
}

fn fixtures(kind: &str) -> Vec<String> {
    let dir = repo_root().join("tests/fixtures/pipelines").join(kind);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", dir.display()))
        .map(|entry| {
            entry
                .expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    files.sort();
    files
}

fn codes(json: &serde_json::Value) -> Vec<String> {
    json["diagnostics"]
        .as_array()
        .expect("diagnostics array")
        .iter()
        .map(|d| d["code"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn check_json(path: &str) -> (i32, serde_json::Value) {
    check_json_files(&[path])
}

/// Resolving with no context fails on fields that read codebase and
/// trigger values, or an input asked when the step runs, but those have
/// values at run time, so check stays green.
#[test]
fn check_ignores_errors_of_run_time_values() {
    for path in [
        "tests/fixtures/pipelines/run-time-values.yaml",
        "tests/fixtures/pipelines/execution-input-timeout.yaml",
    ] {
        let (_, resolved) = basso(&["resolve", path]);
        let (code, json) = check_json(path);

        assert!(resolved.contains("severity: error"), "{path}: {resolved}");
        assert_eq!(code, 0, "{path}: {json}");
        assert_eq!(json["diagnostics"], serde_json::json!([]), "{path}: {json}");
    }
}

#[test]
fn valid_fixtures_have_no_errors() {
    let files = fixtures("valid");
    assert!(!files.is_empty());
    for file in files {
        let path = format!("tests/fixtures/pipelines/valid/{file}");
        let (code, json) = check_json(&path);
        let errors: Vec<&serde_json::Value> = json["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["severity"] == "error")
            .collect();
        assert!(errors.is_empty(), "{file}: {errors:#?}");
        assert_eq!(code, 0, "{file}");
        let (_, text) = basso(&["check", &path]);
        insta::assert_snapshot!(
            format!("valid__{file}"),
            format!("{}\n{text}", serde_json::to_string_pretty(&json).unwrap())
        );
    }
}

#[test]
fn invalid_fixtures_report_their_rule() {
    let files = fixtures("invalid");
    assert!(files.len() >= 30, "one fixture per rule");
    for file in files {
        let path = format!("tests/fixtures/pipelines/invalid/{file}");
        let expected = file
            .trim_end_matches(".yaml")
            .split("--")
            .next()
            .unwrap()
            .to_string();
        let (code, json) = check_json(&path);
        let found = codes(&json);
        assert!(
            found.contains(&expected),
            "{file}: expected `{expected}`, found {found:?}"
        );
        let has_error = json["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["severity"] == "error");
        assert_eq!(
            code,
            i32::from(has_error),
            "{file}: exit code follows errors"
        );
        for diagnostic in json["diagnostics"].as_array().unwrap() {
            assert!(
                diagnostic["help"].is_string(),
                "{file}: every diagnostic has a help line: {diagnostic}"
            );
            assert!(diagnostic["line"].as_u64().unwrap() >= 1, "{file}");
        }
        let (_, text) = basso(&["check", &path]);
        assert!(
            text.contains(&format!("{path}:")),
            "{file}: text names file:line:col"
        );
        insta::assert_snapshot!(
            format!("invalid__{file}"),
            format!("{}\n{text}", serde_json::to_string_pretty(&json).unwrap())
        );
    }
}

#[test]
fn check_unreadable_file_exits_2() {
    let output = Command::new(env!("CARGO_BIN_EXE_basso"))
        .args(["check", "no/such/file.yaml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no/such/file.yaml"));
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(summary.contains("1 file not read"), "{summary}");
}

#[test]
fn full_stdout_fails_command() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_basso"))
        .args([
            "check",
            "--format",
            "json",
            "tests/fixtures/pipelines/valid/background-cloud-ports.yaml",
        ])
        .current_dir(repo_root())
        .stdout(full)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot write to stdout"), "{stderr}");

    for args in [["--version"], ["--help"]] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_basso"))
            .args(args)
            .stdout(full)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn check_json_lists_unreadable_file() {
    let output = Command::new(env!("CARGO_BIN_EXE_basso"))
        .args(["check", "--format", "json", "no/such/file.yaml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let json: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("check prints JSON");
    let diagnostics = json["diagnostics"].as_array().expect("diagnostics array");
    assert_eq!(diagnostics.len(), 1, "{json}");
    assert_eq!(diagnostics[0]["code"], "unreadable-file");
    assert_eq!(diagnostics[0]["severity"], "error");
    assert_eq!(diagnostics[0]["file"], "no/such/file.yaml");
    let message = diagnostics[0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("no/such/file.yaml"), "{message}");
}

/// Every command that reads a pipeline prints its JSON document for a file
/// that is not UTF-8, with the first bad byte's position, and exits 2.
#[test]
fn non_utf8_file_gets_json_document() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("latin1.yaml");
    std::fs::write(
        &path,
        b"pipeline:\n  name: demo\n  identifier: demo\n  description: caf\xE9\n",
    )
    .unwrap();
    let path = path.to_str().unwrap();
    for (command, key) in [
        ("check", None),
        ("inputs", Some("inputs")),
        ("resolve", Some("stages")),
        ("run", Some("stages")),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_basso"))
            .args([command, "--format", "json", path])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{command}");
        let json: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|error| panic!("{command} prints JSON: {error}"));
        assert_eq!(json["schemaVersion"], 1, "{command}: {json}");
        if let Some(key) = key {
            assert_eq!(json[key], serde_json::json!([]), "{command}: {json}");
        }
        let diagnostic = &json["diagnostics"][0];
        assert_eq!(diagnostic["code"], "unreadable-file", "{command}: {json}");
        assert_eq!(diagnostic["line"], 4, "{command}: {json}");
        assert_eq!(diagnostic["column"], 19, "{command}: {json}");
        assert_eq!(
            diagnostic["message"], "byte 0xE9 is not UTF-8 text",
            "{command}"
        );
        let help = diagnostic["help"].as_str().unwrap_or_default();
        assert!(
            help.starts_with("save the file as UTF-8"),
            "{command}: {help}"
        );
    }

    // An input set file is read the same way.
    let pipeline = "tests/fixtures/pipelines/valid/runtime-inputs.yaml";
    let output = Command::new(env!("CARGO_BIN_EXE_basso"))
        .args(["resolve", "--format", "json", "--inputs", path, pipeline])
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let json: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("resolve prints JSON");
    assert_eq!(json["diagnostics"][0]["file"], path, "{json}");
    assert_eq!(json["diagnostics"][0]["line"], 4, "{json}");
}

/// The corpus of real pipelines lives beside the repository (`../shared`).
fn corpus_dir() -> PathBuf {
    let dir = repo_root().join("../shared/corpus/harness");
    assert!(dir.is_dir(), "the corpus must be at {}", dir.display());
    dir
}

/// Files that are not valid v0 pipelines, with the error they must get.
const CORPUS_EXPECTED_ERRORS: &[(&str, &str)] = &[
    (
        "ansibleautomates__oss-native-clone-lab__.harness-pipeline.yaml",
        "v1-format",
    ),
    (
        "harness-community__go-pipeline-sample__.harness-Pipeline.yaml",
        "missing-header",
    ),
    (
        "harness-community__python-pipeline-samples__.harness-Pipeline.yaml",
        "missing-header",
    ),
    (
        "harness-community__python-pipeline-samples__.harness-matrix.yaml",
        "missing-header",
    ),
    (
        "harness-community__solutions-architecture__harness-ci-factory-templates-templates-gather-harness-ci-image-list.yaml",
        "missing-header",
    ),
    // A sample that keeps `<YOUR_DOCKER_CONNECTOR>` placeholders for the reader to fill in.
    (
        "harness-community__ci-tidbits-parallel-steps__.harness-pipeline.yaml",
        "invalid-connector-ref",
    ),
    // A secret is read through `<+pipeline.variables.sonarqube_token>`, a
    // variable the pipeline never declares.
    (
        "splitio__ruby-client__.harness-orgs-PROD-projects-Harness_Split-pipelines-rubyclient.yaml",
        "unknown-variable",
    ),
];

#[test]
fn corpus_checks_without_false_errors() {
    let dir = corpus_dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 22, "corpus has {} files", names.len());
    for name in names {
        let path = dir.join(&name);
        let path_text = path.to_string_lossy().into_owned();
        let (_, json) = check_json(&path_text);
        let error_codes: Vec<String> = json["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["severity"] == "error")
            .map(|d| d["code"].as_str().unwrap().to_string())
            .collect();
        match CORPUS_EXPECTED_ERRORS
            .iter()
            .find(|(file, _)| *file == name)
        {
            Some((_, code)) => assert!(
                error_codes.iter().any(|c| c == code),
                "{name}: expected `{code}`, found {error_codes:?}"
            ),
            None => assert!(
                error_codes.is_empty(),
                "{name}: unexpected errors {error_codes:?}"
            ),
        }
        let pinned: Vec<String> = json["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                format!(
                    "{}:{}:{} {} [{}] {} (help: {})",
                    name,
                    d["line"],
                    d["column"],
                    d["severity"].as_str().unwrap(),
                    d["code"].as_str().unwrap(),
                    d["message"].as_str().unwrap(),
                    d["help"].as_str().unwrap_or("")
                )
            })
            .collect();
        insta::assert_snapshot!(format!("corpus_check__{name}"), pinned.join("\n"));
    }
}

fn corpus_files() -> Vec<(String, PathBuf)> {
    let dir = corpus_dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let path = dir.join(&name);
            (name, path)
        })
        .collect()
}

#[test]
fn corpus_resolves_without_crash() {
    for (name, path) in corpus_files() {
        let path_text = path.to_string_lossy().into_owned();
        let output = Command::new(env!("CARGO_BIN_EXE_basso"))
            .args(["resolve", "--format", "json", &path_text])
            .output()
            .unwrap();
        let code = output.status.code().expect("no signal");
        assert!(code == 0 || code == 1, "{name}: exit {code}");
        let json: serde_json::Value =
            serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(json["schemaVersion"], 1);
        let allowed: Vec<&str> = CORPUS_EXPECTED_ERRORS
            .iter()
            .filter(|(file, _)| *file == name)
            .map(|(_, code)| *code)
            .collect();
        for diagnostic in json["diagnostics"].as_array().unwrap() {
            let code = diagnostic["code"].as_str().unwrap();
            if diagnostic["severity"] == "error" {
                // Runtime inputs without values are errors until supplied;
                // input sets are not pipelines.
                let expected =
                    allowed.contains(&code) || code == "missing-input" || code == "not-a-pipeline";
                assert!(expected, "{name}: unexpected {diagnostic}");
            }
        }
        for stage in json["stages"].as_array().unwrap() {
            for step in stage["steps"].as_array().unwrap() {
                assert!(
                    step["fqn"]
                        .as_str()
                        .unwrap()
                        .starts_with("pipeline.stages."),
                    "{name}: {}",
                    step["fqn"]
                );
                if step["type"] == "Background" {
                    assert!(
                        step["endpoints"]["hostname"].is_string(),
                        "{name}: Background step has endpoints"
                    );
                }
            }
        }
        let pinned: Vec<String> = json["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                format!(
                    "{}:{} {} [{}] {}",
                    d["line"],
                    d["column"],
                    d["severity"].as_str().unwrap(),
                    d["code"].as_str().unwrap(),
                    d["message"].as_str().unwrap()
                )
            })
            .collect();
        insta::assert_snapshot!(format!("corpus_resolve__{name}"), pinned.join("\n"));
    }
}

#[test]
fn corpus_python_sample_with_input_set() {
    // The input set belongs to the header-less python sample; it still
    // names fields that are runtime inputs in that pipeline.
    let dir = corpus_dir();
    let input_set = dir.join("harness-community__python-pipeline-samples__.harness-input.yaml");
    let (code, stdout) = basso(&["check", "--format", "json", &input_set.to_string_lossy()]);
    assert_eq!(code, 0, "{stdout}");
}

#[test]
fn resolve_renders_input_errors_against_their_source() {
    let output = Command::new(env!("CARGO_BIN_EXE_basso"))
        .args([
            "resolve",
            "--input",
            "pipeline.stages.build.spec.execution.steps.db.spec.image=mysql:8",
            "--input",
            "pipeline.variables.nope=1",
            "tests/fixtures/pipelines/valid/runtime-inputs.yaml",
        ])
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("--input#2:1:1"), "{stderr}");
    assert!(stderr.contains("runtime-inputs.yaml:31:28"), "{stderr}");
    insta::assert_snapshot!("resolve_input_errors", stderr);
}

/// The input path of the `db` step's image in the runtime input fixture.
const DB_IMAGE_INPUT: &str = "pipeline.stages.build.spec.execution.steps.db.spec.image";

/// Resolves the runtime input fixture with `--input` `arguments`, and
/// returns the JSON output and the diagnostics with `code`.
fn resolve_with_inputs(arguments: &[String], code: &str) -> (String, Vec<serde_json::Value>) {
    let mut args = vec!["resolve".to_string(), "--format".into(), "json".into()];
    for argument in arguments {
        args.extend(["--input".to_string(), argument.clone()]);
    }
    args.push("tests/fixtures/pipelines/valid/runtime-inputs.yaml".into());
    let output = Command::new(env!("CARGO_BIN_EXE_basso"))
        .args(&args)
        .current_dir(repo_root())
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let found = json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == code)
        .cloned()
        .collect();
    (stdout, found)
}

#[test]
fn repeated_input_path_warned() {
    let (stdout, repeated) = resolve_with_inputs(
        &[
            format!("{DB_IMAGE_INPUT}=mysql:8"),
            format!("{DB_IMAGE_INPUT}=mysql:9"),
        ],
        "repeated-input",
    );
    assert_eq!(repeated.len(), 1, "{stdout}");
    assert_eq!(repeated[0]["severity"], "warning");
    assert_eq!(repeated[0]["file"], "--input#2");
    assert!(
        repeated[0]["message"]
            .as_str()
            .unwrap()
            .contains("replaces the one of `--input` number 1"),
        "{stdout}"
    );
    assert!(stdout.contains("mysql:9"), "{stdout}");
}

#[test]
fn runtime_input_as_input_value_warned() {
    let (stdout, open) =
        resolve_with_inputs(&[format!("{DB_IMAGE_INPUT}=<+input>")], "input-left-open");
    assert_eq!(open.len(), 1, "{stdout}");
    assert_eq!(open[0]["file"], "--input#1");
    assert_eq!(open[0]["column"], DB_IMAGE_INPUT.len() + 2);
}

#[test]
fn inputs_command_prints_paths() {
    let (code, stdout) = basso(&[
        "inputs",
        "--format",
        "json",
        "tests/fixtures/pipelines/valid/runtime-inputs.yaml",
    ]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["schemaVersion"], 1);
    assert_eq!(
        json["inputs"][1]["path"],
        "pipeline.stages.build.spec.execution.steps.db.spec.image"
    );
    let (_, yaml) = basso(&[
        "inputs",
        "tests/fixtures/pipelines/valid/runtime-inputs.yaml",
    ]);
    insta::assert_snapshot!("inputs_yaml", yaml);
}

#[test]
fn byte_order_mark_keeps_line_one_columns() {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bom-first-line.yaml");
    std::fs::write(&path, "\u{feff}pipelin: 1\n").unwrap();
    let path = path.to_str().unwrap();

    let (code, json) = check_json(path);
    assert_eq!(code, 1);
    let diagnostic = &json["diagnostics"][0];
    assert_eq!(diagnostic["code"], "unknown-document");
    assert_eq!(diagnostic["column"], 1);
    assert_eq!(diagnostic["endColumn"], 8);

    let (_, text) = basso(&["check", path]);
    assert!(text.contains("bom-first-line.yaml:1:1"), "{text}");
    assert!(!text.contains('\u{feff}'), "{text}");
}

#[test]
fn resolve_rejects_nested_map_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = "pipeline:
  name: p
  identifier: p
  stages:
    - stage:
        name: s
        identifier: s
        type: CI
        spec:
          cloneCodebase: false
          platform: {os: Linux, arch: Amd64}
          runtime: {type: Cloud, spec: {}}
          execution:
            steps:
              - step:
                  type: Background
                  name: db
                  identifier: db
                  spec:
                    command: sleep 5
                    envVariables: <+input>
                    portBindings: <+input>
";
    let input_set = "inputSet:
  name: set
  identifier: set
  pipeline:
    identifier: p
    stages:
      - stage:
          identifier: s
          spec:
            execution:
              steps:
                - step:
                    identifier: db
                    spec:
                      envVariables:
                        A: {b: 1}
";
    std::fs::write(dir.path().join("p.yaml"), pipeline).unwrap();
    std::fs::write(dir.path().join("set.yaml"), input_set).unwrap();
    let ports = "pipeline.stages.s.spec.execution.steps.db.spec.portBindings";
    let output = Command::new(env!("CARGO_BIN_EXE_basso"))
        .args(["resolve", "--inputs", "set.yaml", "--input"])
        .arg(format!("{ports}={{'8080': [80]}}"))
        .arg("p.yaml")
        .current_dir(dir.path())
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("set.yaml:16:28"), "{stderr}");
    assert!(stderr.contains("`A` is a map"), "{stderr}");
    assert!(stderr.contains("--input#1:1:"), "{stderr}");
    assert!(stderr.contains("`8080` is a list"), "{stderr}");
    insta::assert_snapshot!("resolve_nested_map_inputs", stderr);
}

#[test]
fn check_input_set_against_pipeline_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    };
    let pipeline = write(
        "pipeline.yaml",
        "pipeline:
  name: p
  identifier: p
  variables:
    - name: env
      type: String
      value: <+input>.allowedValues(dev,qa)
  stages:
    - stage:
        name: s
        identifier: s
        type: CI
        spec:
          cloneCodebase: false
          platform: {os: Linux, arch: Amd64}
          runtime: {type: Docker, spec: {}}
          execution:
            steps:
              - step: {type: Run, name: r, identifier: r, spec: {image: alpine, command: echo <+pipeline.variables.env>}}
",
    );
    let set_for = |pipeline_id: &str| {
        format!(
            "inputSet:
  name: s
  identifier: s
  pipeline:
    identifier: {pipeline_id}
    variables:
      - {{name: env, type: String, value: prod}}
      - {{name: nosuch, type: String, value: x}}
"
        )
    };
    let set = write("set.yaml", &set_for("p"));
    let other = write("other.yaml", &set_for("other"));

    let (code, json) = check_json_files(&[&pipeline, &set]);
    assert_eq!(code, 1, "{json:#}");
    let found: Vec<(String, String)> = json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let file = d["file"].as_str().unwrap_or_default();
            let file = Path::new(file).file_name().unwrap().to_string_lossy();
            (d["code"].as_str().unwrap().to_string(), file.into_owned())
        })
        .collect();
    let expected = [
        ("value-not-allowed".to_string(), "pipeline.yaml".to_string()),
        ("not-a-runtime-input".to_string(), "set.yaml".to_string()),
    ];
    assert_eq!(found, expected, "{json:#}");

    let (code, json) = check_json_files(&[&set]);
    assert_eq!(code, 0, "{json:#}");
    let (code, json) = check_json_files(&[&pipeline, &other]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(codes(&json), ["input-set-pipeline"], "{json:#}");

    // A set without `name` still has its values checked.
    let nameless = write(
        "nameless.yaml",
        &set_for("p").replacen("  name: s\n", "", 1),
    );
    let (code, json) = check_json_files(&[&pipeline, &nameless]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(
        codes(&json),
        ["missing-field", "value-not-allowed", "not-a-runtime-input"],
        "{json:#}"
    );

    // Input sets apply together, in order, so a later value replaces an
    // earlier one.
    let set_variable = |name: &str, value: &str| {
        format!(
            "inputSet:\n  name: {name}\n  identifier: {name}\n  pipeline:\n    identifier: p\n    variables:\n      - {{name: env, type: String, value: \"{value}\"}}\n"
        )
    };
    let reads = write("reads.yaml", &set_variable("reads", "<+pipeline.name>"));
    let (code, json) = check_json_files(&[&pipeline, &reads]);
    assert_eq!(codes(&json), ["value-not-allowed"], "{json:#}");
    assert_eq!(code, 1);
    let fixes = write("fixes.yaml", &set_variable("fixes", "dev"));
    let (code, json) = check_json_files(&[&pipeline, &reads, &fixes]);
    assert_eq!(code, 0, "{json:#}");

    // A set's value that reads an input no set gives is checked when the
    // run has that input's value, not before.
    let with_tag = std::fs::read_to_string(&pipeline).unwrap().replace(
        "  variables:\n",
        "  variables:\n    - name: tag\n      type: String\n      value: <+input>\n",
    );
    let pipeline = write("pipeline.yaml", &with_tag);
    let unsupplied = write(
        "unsupplied.yaml",
        &set_variable("unsupplied", "<+pipeline.variables.tag>"),
    );
    let (code, json) = check_json_files(&[&pipeline, &unsupplied]);
    assert_eq!(code, 0, "{json:#}");
}

#[test]
fn check_input_set_command_untrusted() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    };
    let pipeline = write(
        "pipeline.yaml",
        "pipeline:
  name: p
  identifier: p
  stages:
    - stage:
        name: s
        identifier: s
        type: CI
        spec:
          cloneCodebase: false
          platform: {os: Linux, arch: Amd64}
          runtime: {type: Cloud, spec: {}}
          execution:
            steps:
              - step: {type: Run, name: r, identifier: r, spec: {shell: Sh, command: <+input>}}
",
    );
    let set = write(
        "set.yaml",
        "inputSet:
  name: s
  identifier: s
  pipeline:
    identifier: p
    stages:
      - stage:
          identifier: s
          type: CI
          spec:
            execution:
              steps:
                - step:
                    identifier: r
                    type: Run
                    spec:
                      command: echo <+codebase.prTitle>
",
    );

    let (code, json) = check_json_files(&[&pipeline, &set]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(codes(&json), ["untrusted-input-in-command"], "{json:#}");
    let warning = &json["diagnostics"][0];
    assert!(
        warning["file"].as_str().unwrap().ends_with("pipeline.yaml"),
        "{json:#}"
    );
    assert_eq!(warning["line"], 15, "{json:#}");
    assert!(
        warning["message"]
            .as_str()
            .unwrap()
            .contains("set.yaml:17:32"),
        "{json:#}"
    );
}

/// An expression that does not compile in an input set value or an
/// `--input` value is reported once, where that value is written, whether
/// or not the pipeline reads it.
#[test]
fn supplied_expression_error_at_its_value() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    };
    let pipeline = write(
        "pipeline.yaml",
        "pipeline:
  name: p
  identifier: p
  variables:
    - name: used
      type: String
      value: <+input>
    - name: unused
      type: String
      value: <+input>
  stages:
    - stage:
        name: s
        identifier: s
        type: CI
        spec:
          cloneCodebase: false
          platform: {os: Linux, arch: Amd64}
          runtime: {type: Cloud, spec: {}}
          execution:
            steps:
              - step: {type: Run, name: r, identifier: r, spec: {shell: Sh, command: echo <+pipeline.variables.used>}}
",
    );
    let set = write(
        "set.yaml",
        "inputSet:
  name: s
  identifier: s
  pipeline:
    identifier: p
    variables:
      - name: used
        type: String
        value: ok
      - name: unused
        type: String
        value: <+ 1 + >
",
    );
    let position = |json: &serde_json::Value| {
        let d = &json["diagnostics"][0];
        let file = d["file"].as_str().unwrap_or_default();
        let file = Path::new(file)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        (
            file,
            d["line"].as_u64().unwrap(),
            d["column"].as_u64().unwrap(),
        )
    };

    for files in [vec![set.as_str()], vec![pipeline.as_str(), set.as_str()]] {
        let (code, json) = check_json_files(&files);
        assert_eq!(code, 1, "{json:#}");
        assert_eq!(codes(&json), ["expression-syntax"], "{json:#}");
        assert_eq!(
            position(&json),
            ("set.yaml".to_string(), 12, 23),
            "{json:#}"
        );
    }

    let (code, stdout) = basso(&[
        "resolve",
        "--format",
        "json",
        "--input",
        "pipeline.variables.unused=ok",
        "--input",
        "pipeline.variables.used=a <+ 1 + >",
        &pipeline,
    ]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let errors: Vec<&serde_json::Value> = json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{json:#}");
    assert_eq!(errors[0]["code"], "expression-syntax");
    assert_eq!(errors[0]["file"], "--input#2");
    assert_eq!(errors[0]["column"], 34);
}

/// A runtime input whose regex does not compile is still listed by
/// `inputs`, and a value for it gets the `invalid-regex` error alone.
#[test]
fn input_with_invalid_regex_listed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pipeline.yaml");
    std::fs::write(
        &path,
        "pipeline:
  name: p
  identifier: p
  variables:
    - name: tag
      type: String
      value: <+input>.regex([a-z)
  stages:
    - stage:
        name: s
        identifier: s
        type: CI
        spec:
          cloneCodebase: false
          platform: {os: Linux, arch: Amd64}
          runtime: {type: Cloud, spec: {}}
          execution:
            steps:
              - step: {type: Run, name: r, identifier: r, spec: {shell: Sh, command: echo <+pipeline.variables.tag>}}
",
    )
    .unwrap();
    let path = path.to_string_lossy().into_owned();

    let (_, stdout) = basso(&["inputs", "--format", "json", &path]);
    let listing: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let paths: Vec<&str> = listing["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|input| input["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["pipeline.variables.tag"], "{listing:#}");

    let (code, stdout) = basso(&[
        "resolve",
        "--format",
        "json",
        "--input",
        "pipeline.variables.tag=a",
        &path,
    ]);
    assert_eq!(code, 1);
    let document: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let errors: Vec<&str> = document["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "error")
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(errors, ["invalid-regex"], "{document:#}");
}

/// A loop that copies a large value into many steps stops at the cap on
/// the text of all resolved steps, with an error at its strategy, instead
/// of printing gigabytes.
#[test]
fn resolution_text_capped() {
    let dir = tempfile::tempdir().unwrap();
    let value = "x".repeat(200 * 1024);
    let text = format!(
        "pipeline:
  name: p
  identifier: p
  variables:
    - name: big
      type: String
      value: {value}
  stages:
    - stage:
        name: s
        identifier: s
        type: CI
        spec:
          cloneCodebase: false
          platform: {{os: Linux, arch: Amd64}}
          runtime: {{type: Cloud, spec: {{}}}}
          execution:
            steps:
              - step:
                  type: Run
                  name: r
                  identifier: r
                  strategy:
                    repeat:
                      times: 1000
                  spec:
                    shell: Sh
                    command: echo <+pipeline.variables.big>
"
    );
    let path = dir.path().join("pipeline.yaml");
    std::fs::write(&path, text).unwrap();
    let path = path.to_string_lossy().into_owned();

    let (code, stdout) = basso(&["resolve", "--format", "json", &path]);
    assert_eq!(code, 1);
    assert!(stdout.len() < 200 * 1024 * 1024, "{} bytes", stdout.len());
    let document: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let errors: Vec<&serde_json::Value> = document["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["code"], "resolution-too-large");
    assert_eq!(errors[0]["line"], 24);
    let steps = document["stages"][0]["steps"].as_array().unwrap().len();
    assert!((100..1000).contains(&steps), "{steps} steps");

    // A looped stage copies its variables into every iteration.
    let stage_loop = format!(
        "pipeline:
  name: p
  identifier: p
  variables:
    - name: big
      type: String
      value: {value}
  stages:
    - stage:
        name: s
        identifier: s
        type: CI
        strategy:
          repeat:
            times: 1000
        variables:
          - name: copy
            type: String
            value: <+pipeline.variables.big>
        spec:
          cloneCodebase: false
          platform: {{os: Linux, arch: Amd64}}
          runtime: {{type: Cloud, spec: {{}}}}
          execution:
            steps:
              - step: {{type: Run, name: r, identifier: r, spec: {{shell: Sh, command: echo}}}}
"
    );
    let path = dir.path().join("stages.yaml");
    std::fs::write(&path, stage_loop).unwrap();
    let path = path.to_string_lossy().into_owned();
    let (code, stdout) = basso(&["resolve", "--format", "json", &path]);
    assert_eq!(code, 1);
    let document: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        codes(&document)
            .iter()
            .filter(|c| *c == "resolution-too-large")
            .count(),
        1
    );
    let stages = document["stages"].as_array().unwrap().len();
    assert!((100..1000).contains(&stages), "{stages} stages");
}

fn check_json_files(files: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec!["check", "--format", "json"];
    args.extend_from_slice(files);
    let (code, stdout) = basso(&args);
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("check prints JSON");
    assert_eq!(json["schemaVersion"], 1);
    (code, json)
}
