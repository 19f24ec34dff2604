//! JUnit reports: files matching a step's `reports.spec.paths` globs,
//! parsed with `quick-junit` and counted.

use std::path::Path;

use quick_junit::{Report, TestCaseStatus};
use serde::Serialize;

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
        self.tests += other.tests;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }

    /// Returns the counts as the summary shows them (`3 passed, 1 failed`).
    pub fn describe(&self) -> String {
        let passed = self.tests - self.failed - self.skipped;
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
    /// One message per glob that is invalid or file that did not parse.
    pub warnings: Vec<String>,
}

/// Finds the files matching `globs` (relative to `workspace` unless
/// absolute) and counts their test cases.
pub fn collect(workspace: &Path, globs: &[String]) -> Collected {
    let mut collected = Collected::default();
    let mut files = Vec::new();
    for pattern in globs {
        let full = if Path::new(pattern).is_absolute() {
            pattern.clone()
        } else {
            workspace.join(pattern).display().to_string()
        };
        match glob::glob(&full) {
            Ok(paths) => files.extend(paths.flatten().filter(|path| path.is_file())),
            Err(error) => collected
                .warnings
                .push(format!("invalid report path `{pattern}`: {error}")),
        }
    }
    files.sort();
    files.dedup();

    for file in files {
        match parse_file(&file) {
            Ok(counts) => collected.counts.get_or_insert_default().add(counts),
            Err(error) => collected.warnings.push(format!(
                "cannot read JUnit report `{}`: {error}",
                file.display()
            )),
        }
    }
    collected
}

/// Parses one JUnit XML file.
pub fn parse_file(path: &Path) -> Result<TestCounts, String> {
    let text = std::fs::read_to_string(path).map_err(|error| error.to_string())?;
    parse(&text)
}

/// Parses JUnit XML text. A document whose root is a single `<testsuite>`
/// is read as if it were wrapped in `<testsuites>`.
pub fn parse(text: &str) -> Result<TestCounts, String> {
    let body = strip_prolog(text);
    let report = if body.starts_with("<testsuite") && !body.starts_with("<testsuites") {
        Report::deserialize_from_str(&format!("<testsuites>{body}</testsuites>"))
    } else {
        Report::deserialize_from_str(body)
    }
    .map_err(|error| error.to_string())?;

    if !body.starts_with("<testsuite") {
        return Err("no <testsuites> or <testsuite> element".into());
    }
    let mut counts = TestCounts::default();
    for suite in &report.test_suites {
        for case in &suite.test_cases {
            counts.tests += 1;
            match case.status {
                TestCaseStatus::Success { .. } => {}
                TestCaseStatus::NonSuccess { .. } => counts.failed += 1,
                TestCaseStatus::Skipped { .. } => counts.skipped += 1,
            }
        }
    }
    Ok(counts)
}

/// Skips the XML declaration, comments and whitespace before the root.
fn strip_prolog(text: &str) -> &str {
    let mut rest = text.trim_start_matches('\u{feff}').trim_start();
    loop {
        if rest.starts_with("<?") {
            match rest.find("?>") {
                Some(end) => rest = rest[end + 2..].trim_start(),
                None => return rest,
            }
        } else if rest.starts_with("<!--") {
            match rest.find("-->") {
                Some(end) => rest = rest[end + 3..].trim_start(),
                None => return rest,
            }
        } else {
            return rest;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_counts_statuses() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="s" tests="3">
    <testcase name="a"/>
    <testcase name="b"><failure message="boom"/></testcase>
    <testcase name="c"><skipped/></testcase>
  </testsuite>
</testsuites>"#;
        let counts = parse(xml).unwrap();
        assert_eq!(
            counts,
            TestCounts {
                tests: 3,
                failed: 1,
                skipped: 1
            }
        );
        assert_eq!(counts.describe(), "1 passed, 1 failed, 1 skipped");
    }

    #[test]
    fn parse_accepts_bare_testsuite() {
        let xml = r#"<testsuite name="s" tests="1"><testcase name="a" classname="x"/></testsuite>"#;
        assert_eq!(parse(xml).unwrap().tests, 1);
    }

    #[test]
    fn parse_rejects_malformed_xml() {
        assert!(parse("<testsuites><testsuite name=").is_err());
        assert!(parse("not xml").is_err());
    }
}
