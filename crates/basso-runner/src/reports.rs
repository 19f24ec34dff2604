//! JUnit reports: files matching a step's `reports.spec.paths` globs,
//! read with `quick-xml` and counted.
//!
//! Test tools write many variants of JUnit XML, and a crashed test run often
//! leaves a report cut short, so the reader is lenient. It needs no
//! attribute, and it counts `<testcase>` elements, or the `tests`,
//! `failures`, `errors` and `skipped` attributes of a suite without test
//! cases. It keeps what it counted before a document ends early or turns
//! malformed.

use std::path::{Path, PathBuf};

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use serde::Serialize;

/// The folder Harness mounts the workspace at in build containers. Report
/// paths under it are read from the workspace.
pub(crate) const HARNESS_WORKSPACE: &str = "/harness";

/// Test counts from one or more JUnit files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TestCounts {
    /// Test cases found.
    pub tests: usize,
    /// Test cases that failed or had an error.
    pub failed: usize,
    /// Test cases that were skipped.
    pub skipped: usize,
}

impl TestCounts {
    /// Adds `other` to these counts.
    pub fn add(&mut self, other: TestCounts) {
        self.tests = self.tests.saturating_add(other.tests);
        self.failed = self.failed.saturating_add(other.failed);
        self.skipped = self.skipped.saturating_add(other.skipped);
    }

    /// Returns the counts as the summary shows them (`3 passed, 1 failed`).
    pub fn describe(&self) -> String {
        let passed = self
            .tests
            .saturating_sub(self.failed.saturating_add(self.skipped));
        let mut text = format!("{passed} passed");
        if self.failed > 0 {
            text.push_str(&format!(", {} failed", self.failed));
        }
        if self.skipped > 0 {
            text.push_str(&format!(", {} skipped", self.skipped));
        }
        text
    }
}

/// The outcome of collecting one step's reports.
#[derive(Clone, Debug, Default)]
pub struct Collected {
    /// Counts over every file that parsed; `None` when no file matched.
    pub counts: Option<TestCounts>,
    /// One message per path that is invalid, matches nothing or leaves the
    /// workspace, and per file that could not be read completely.
    pub warnings: Vec<String>,
}

/// Finds the files matching `globs` (relative to `workspace` unless
/// absolute, with `/harness` standing for `workspace`) and counts their
/// test cases. Files outside `workspace` are not read, with a warning: a
/// path that leaves it is usually a mistake, and a pipeline's reports
/// should not read the host's files.
pub fn collect(workspace: &Path, globs: &[String]) -> Collected {
    let mut collected = Collected::default();
    let root = workspace
        .canonicalize()
        .unwrap_or_else(|_| workspace.to_path_buf());
    let mut files = Vec::new();
    for pattern in globs {
        let full = full_pattern(workspace, pattern);
        let paths = match glob::glob(&full) {
            Ok(paths) => paths,
            Err(error) => {
                collected
                    .warnings
                    .push(format!("invalid report path `{pattern}`: {error}"));
                continue;
            }
        };

        let mut matched = false;
        for path in paths.flatten() {
            if let Some(target) = dangling_link_target(&path) {
                matched = true;
                collected.warnings.push(format!(
                    "report path `{pattern}` matches `{}`, a symbolic link to `{}`, which does not \
                     exist on the host, where basso reads reports; the file is not read; help: \
                     link with a relative target, such as `ln -s real.xml report.xml`",
                    path.display(),
                    target.display()
                ));
                continue;
            }
            // A folder that a glob matches is no report itself.
            if path.is_dir() {
                continue;
            }
            matched = true;
            if !path.is_file() {
                collected.warnings.push(format!(
                    "report path `{pattern}` matches `{}`, which is not a regular file \
                     (a FIFO, socket or device); it is not read; help: write the report to a file",
                    path.display()
                ));
                continue;
            }
            match path.canonicalize() {
                Ok(real) if real.starts_with(&root) => files.push(real),
                Ok(real) => collected.warnings.push(format!(
                    "report path `{pattern}` matches `{}`, which is outside the workspace \
                     `{}`; the file is not read; help: write the path relative to the workspace",
                    real.display(),
                    root.display()
                )),
                Err(error) => collected.warnings.push(format!(
                    "cannot read JUnit report `{}`: {error}",
                    path.display()
                )),
            }
        }
        if !matched {
            collected
                .warnings
                .push(format!("no JUnit report matches report path `{pattern}`"));
        }
    }
    files.sort();
    files.dedup();

    for file in files {
        match parse_file(&file) {
            Ok(report) => {
                collected.counts.get_or_insert_default().add(report.counts);
                if let Some(problem) = report.problem {
                    collected
                        .warnings
                        .push(format!("JUnit report `{}` {problem}", file.display()));
                }
            }
            Err(error) => collected.warnings.push(format!(
                "cannot read JUnit report `{}`: {error}",
                file.display()
            )),
        }
    }
    collected
}

/// Returns the target of `path` when it is a symbolic link whose target does
/// not exist, such as a link a container step made to an absolute path
/// inside the container.
fn dangling_link_target(path: &Path) -> Option<PathBuf> {
    let is_link = path
        .symlink_metadata()
        .is_ok_and(|metadata| metadata.file_type().is_symlink());
    if !is_link || path.exists() {
        return None;
    }
    std::fs::read_link(path).ok()
}

/// Returns the glob pattern for `pattern` as written in `reports.spec.paths`:
/// relative paths and paths under `/harness` are read from `workspace`.
fn full_pattern(workspace: &Path, pattern: &str) -> String {
    let relative = match pattern.strip_prefix(HARNESS_WORKSPACE) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest.trim_start_matches('/'),
        _ if Path::new(pattern).is_absolute() => return pattern.to_string(),
        _ => pattern,
    };
    let mut full = PathBuf::from(workspace);
    if !relative.is_empty() {
        full.push(relative);
    }
    full.display().to_string()
}

/// The counts read from one JUnit file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedReport {
    /// The test cases counted.
    pub counts: TestCounts,
    /// Why the counts may be incomplete: the document ended early or was
    /// malformed after its first test cases.
    pub problem: Option<String>,
}

/// Parses one JUnit XML file. Bytes that are not valid UTF-8 are replaced,
/// because only element names and number attributes are read.
pub fn parse_file(path: &Path) -> Result<ParsedReport, String> {
    let bytes = std::fs::read(path).map_err(|error| error.to_string())?;
    parse(&String::from_utf8_lossy(&bytes))
}

/// Parses JUnit XML text whose root is `<testsuites>` or `<testsuite>`.
/// Entities are not expanded, so a document type cannot make the text grow.
pub fn parse(text: &str) -> Result<ParsedReport, String> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = false;
    let mut counter = Counter::default();
    let mut root_seen = false;
    loop {
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(error) if counter.counts.tests > 0 => {
                let problem = format!(
                    "is malformed at byte {}: {error}; only the test cases before it are counted",
                    reader.error_position()
                );
                return Ok(counter.finish(Some(problem)));
            }
            Err(error) => {
                return Err(format!(
                    "invalid XML at byte {}: {error}",
                    reader.error_position()
                ));
            }
        };

        match &event {
            Event::Start(element) | Event::Empty(element) if !root_seen => {
                let name = element.local_name();
                if !is_suite(name.as_ref()) {
                    return Err(format!(
                        "the root element is `<{}>`, expected `<testsuites>` or `<testsuite>`",
                        String::from_utf8_lossy(name.as_ref())
                    ));
                }
                root_seen = true;
            }
            Event::Eof if !root_seen => {
                return Err("no `<testsuites>` or `<testsuite>` element".into());
            }
            _ => {}
        }

        match event {
            Event::Start(element) => counter.open(&element),
            Event::Empty(element) => {
                counter.open(&element);
                counter.close(element.local_name().as_ref());
            }
            Event::End(element) => counter.close(element.local_name().as_ref()),
            Event::Eof => {
                let problem = (!counter.suites.is_empty())
                    .then(|| "ends before its last element is closed".to_string());
                return Ok(counter.finish(problem));
            }
            _ => {}
        }
    }
}

fn is_suite(name: &[u8]) -> bool {
    name == b"testsuites" || name == b"testsuite"
}

/// The result of one test case, from its child elements.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CaseStatus {
    Passed,
    Skipped,
    Failed,
}

/// A `<testsuites>` or `<testsuite>` element that is still open.
#[derive(Default)]
struct OpenSuite {
    /// The counts its attributes declare.
    declared: TestCounts,
    /// Whether a test case or another suite occurs inside it.
    has_content: bool,
}

/// Counts test cases while the reader walks the document.
#[derive(Default)]
struct Counter {
    counts: TestCounts,
    suites: Vec<OpenSuite>,
    case: Option<CaseStatus>,
}

impl Counter {
    fn open(&mut self, element: &BytesStart) {
        let name = element.local_name();
        match name.as_ref() {
            name if is_suite(name) => {
                if let Some(parent) = self.suites.last_mut() {
                    parent.has_content = true;
                }
                self.suites.push(OpenSuite {
                    declared: declared_counts(element),
                    has_content: false,
                });
            }
            b"testcase" => {
                self.end_case();
                for suite in &mut self.suites {
                    suite.has_content = true;
                }
                self.case = Some(CaseStatus::Passed);
            }
            b"failure" | b"error" => self.mark_case(CaseStatus::Failed),
            b"skipped" => self.mark_case(CaseStatus::Skipped),
            _ => {}
        }
    }

    fn close(&mut self, name: &[u8]) {
        if name == b"testcase" {
            self.end_case();
        } else if is_suite(name) {
            self.end_case();
            self.end_suite();
        }
    }

    fn mark_case(&mut self, status: CaseStatus) {
        if let Some(case) = &mut self.case
            && *case != CaseStatus::Failed
        {
            *case = status;
        }
    }

    fn end_case(&mut self) {
        let Some(status) = self.case.take() else {
            return;
        };
        self.counts.tests += 1;
        match status {
            CaseStatus::Passed => {}
            CaseStatus::Skipped => self.counts.skipped += 1,
            CaseStatus::Failed => self.counts.failed += 1,
        }
    }

    /// Closes the innermost suite. A suite with neither test cases nor
    /// suites inside adds the counts its attributes declare.
    fn end_suite(&mut self) {
        if let Some(suite) = self.suites.pop()
            && !suite.has_content
        {
            self.counts.add(suite.declared);
        }
    }

    fn finish(mut self, problem: Option<String>) -> ParsedReport {
        self.end_case();
        while !self.suites.is_empty() {
            self.end_suite();
        }
        ParsedReport {
            counts: self.counts,
            problem,
        }
    }
}

/// Reads the `tests`, `failures`, `errors` and `skipped` attributes of a
/// suite. A missing or non-numeric attribute counts as 0, and `tests` is
/// raised to at least the failed and skipped cases.
fn declared_counts(element: &BytesStart) -> TestCounts {
    let mut counts = TestCounts::default();
    for attribute in element.attributes().with_checks(false).flatten() {
        let value = std::str::from_utf8(&attribute.value)
            .ok()
            .and_then(|value| value.trim().parse::<usize>().ok())
            .unwrap_or(0);
        match attribute.key.local_name().as_ref() {
            b"tests" => counts.tests = value,
            b"failures" | b"errors" => counts.failed = counts.failed.saturating_add(value),
            b"skipped" => counts.skipped = value,
            _ => {}
        }
    }
    counts.tests = counts
        .tests
        .max(counts.failed.saturating_add(counts.skipped));
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(tests: usize, failed: usize, skipped: usize) -> TestCounts {
        TestCounts {
            tests,
            failed,
            skipped,
        }
    }

    #[test]
    fn parse_counts_statuses() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="s" tests="3">
    <testcase name="a"/>
    <testcase name="b"><failure message="boom"/></testcase>
    <testcase name="c"><skipped/></testcase>
    <testcase name="d"><error/><system-out>x</system-out></testcase>
  </testsuite>
</testsuites>"#;
        let report = parse(xml).unwrap();
        assert_eq!(report.counts, counts(4, 2, 1));
        assert_eq!(report.problem, None);
        assert_eq!(report.counts.describe(), "1 passed, 2 failed, 1 skipped");
    }

    #[test]
    fn parse_accepts_bare_testsuite() {
        let xml = r#"<testsuite name="s" tests="1"><testcase name="a" classname="x"/></testsuite>"#;
        assert_eq!(parse(xml).unwrap().counts, counts(1, 0, 0));
    }

    #[test]
    fn parse_accepts_suite_without_name() {
        let xml = r#"<testsuite><testcase name="a"><failure/></testcase></testsuite>"#;
        assert_eq!(parse(xml).unwrap().counts, counts(1, 1, 0));
    }

    #[test]
    fn parse_keeps_cases_of_unclosed_report() {
        let xml = r#"<testsuite><testcase name="a"><failure/></testcase><testcase name="b"><skipped/></testcase><testcase name="c"><error/></testcase>"#;
        let report = parse(xml).unwrap();
        assert_eq!(report.counts, counts(3, 2, 1));
        let problem = report.problem.unwrap();
        assert!(problem.contains("ends before"), "{problem}");
    }

    #[test]
    fn parse_keeps_cases_before_malformed_tail() {
        let xml = r#"<testsuites><testsuite><testcase name="a"><failure/></testcase><testcase name="b" <"#;
        let report = parse(xml).unwrap();
        assert_eq!(report.counts, counts(1, 1, 0));
        let problem = report.problem.unwrap();
        assert!(problem.contains("malformed at byte"), "{problem}");
    }

    #[test]
    fn parse_reads_counts_of_suites_without_cases() {
        let xml = r#"<testsuites><testsuite tests="5" failures="2"/></testsuites>"#;
        assert_eq!(parse(xml).unwrap().counts, counts(5, 2, 0));

        let xml = r#"<testsuites tests="9" failures="9">
  <testsuite tests="4" failures="1" errors="1" skipped="1"/>
  <testsuite tests="x"><testcase name="a"/></testsuite>
</testsuites>"#;
        assert_eq!(parse(xml).unwrap().counts, counts(5, 2, 1));
    }

    #[test]
    fn parse_raises_tests_to_declared_failures() {
        let xml = r#"<testsuite tests="1" failures="3" skipped="2"/>"#;
        let report = parse(xml).unwrap();
        assert_eq!(report.counts, counts(5, 3, 2));
        assert_eq!(report.counts.describe(), "0 passed, 3 failed, 2 skipped");
    }

    #[test]
    fn parse_does_not_expand_entities() {
        let lol = "&lol;".repeat(10);
        let xml = format!(
            "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY lol \"lol\"><!ENTITY lol2 \"{lol}\">]>\
             <testsuite name=\"&lol2;\"><testcase name=\"x\"/></testsuite>"
        );
        assert_eq!(parse(&xml).unwrap().counts, counts(1, 0, 0));
    }

    #[test]
    fn parse_rejects_malformed_xml() {
        assert!(parse("<testsuites><testsuite name=").is_err());
        let error = parse("not xml").unwrap_err();
        assert!(error.contains("no `<testsuites>`"), "{error}");
        let error = parse("<html><testcase/></html>").unwrap_err();
        assert!(error.contains("root element is `<html>`"), "{error}");
    }

    #[test]
    fn harness_workspace_paths_map_to_workspace() {
        let workspace = Path::new("/tmp/ws");
        assert_eq!(full_pattern(workspace, "r/*.xml"), "/tmp/ws/r/*.xml");
        assert_eq!(
            full_pattern(workspace, "/harness/r/*.xml"),
            "/tmp/ws/r/*.xml"
        );
        assert_eq!(
            full_pattern(workspace, "/harnessx/a.xml"),
            "/harnessx/a.xml"
        );
        assert_eq!(full_pattern(workspace, "/etc/host*"), "/etc/host*");
    }

    #[test]
    fn collect_names_unmatched_and_outside_paths() {
        let workspace = tempfile::tempdir().unwrap();
        let inside = workspace.path().join("in");
        std::fs::create_dir(&inside).unwrap();
        std::fs::write(
            inside.join("a.xml"),
            r#"<testsuite><testcase name="a"/></testsuite>"#,
        )
        .unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("b.xml"), "<testsuite tests=\"7\"/>").unwrap();
        let escape = format!(
            "../{}/b.xml",
            outside.path().file_name().unwrap().to_string_lossy()
        );
        let absolute = outside.path().join("*.xml").display().to_string();
        let globs = [
            "in/*.xml".to_string(),
            "none/*.xml".to_string(),
            "gone.xml".to_string(),
            escape.clone(),
            absolute.clone(),
        ];

        let collected = collect(workspace.path(), &globs);
        assert_eq!(collected.counts, Some(counts(1, 0, 0)));
        let warnings = collected.warnings.join("\n");
        assert_eq!(collected.warnings.len(), 4, "{warnings}");
        for path in ["none/*.xml", "gone.xml"] {
            let expected = format!("no JUnit report matches report path `{path}`");
            assert!(warnings.contains(&expected), "{warnings}");
        }
        for path in [escape, absolute] {
            let expected = format!("report path `{path}` matches");
            assert!(warnings.contains(&expected), "{warnings}");
        }
        assert!(warnings.contains("outside the workspace"), "{warnings}");
    }

    #[test]
    fn dangling_link_named_with_target() {
        let workspace = tempfile::tempdir().unwrap();
        let link = workspace.path().join("abs.xml");
        std::os::unix::fs::symlink("/harness/rep/real.xml", &link).unwrap();

        let collected = collect(workspace.path(), &["*.xml".to_string()]);

        assert_eq!(collected.counts, None);
        let warnings = collected.warnings.join("\n");
        assert_eq!(collected.warnings.len(), 1, "{warnings}");
        assert!(
            warnings.contains("a symbolic link to `/harness/rep/real.xml`"),
            "{warnings}"
        );
    }

    #[test]
    fn fifo_named_and_folder_skipped() {
        let workspace = tempfile::tempdir().unwrap();
        let fifo = workspace.path().join("pipe.xml");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        std::fs::create_dir(workspace.path().join("folder.xml")).unwrap();

        let collected = collect(workspace.path(), &["*.xml".to_string()]);

        assert_eq!(collected.counts, None);
        let warnings = collected.warnings.join("\n");
        assert_eq!(collected.warnings.len(), 1, "{warnings}");
        assert!(
            warnings.contains("pipe.xml`, which is not a regular file"),
            "{warnings}"
        );
    }
}
