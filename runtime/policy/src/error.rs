//! Policy errors: every problem found in one file, each with its JSON pointer, source position,
//! what was found, what is expected and a suggestion. Rendering only; no I/O.

use std::fmt;

use serde::Serialize;

/// One problem in a policy file.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    /// JSON pointer of the offending value (`""` is the whole document), e.g.
    /// `/selection/include/2/names/0`.
    pub path: String,
    /// 1-based line in the file, when known.
    pub line: Option<usize>,
    /// 1-based column (in characters) in the file, when known.
    pub column: Option<usize>,
    /// Stable machine-readable kind of the problem, e.g. `unknown-property`, `type`, `cron`.
    pub code: String,
    /// What is wrong, in words.
    pub message: String,
    /// What was found, when that helps.
    pub found: Option<String>,
    /// What is expected, when that helps.
    pub expected: Option<String>,
    /// A likely fix, e.g. the property name that was probably meant.
    pub suggestion: Option<String>,
}

impl PolicyError {
    /// A new error at `path` with a code and message and nothing else.
    pub fn new(path: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            line: None,
            column: None,
            code: code.to_owned(),
            message: message.into(),
            found: None,
            expected: None,
            suggestion: None,
        }
    }

    /// Sets what was found.
    pub fn found(mut self, found: impl Into<String>) -> Self {
        self.found = Some(found.into());
        self
    }

    /// Sets what is expected.
    pub fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    /// Sets a suggestion (rendered as `did you mean "…"?`).
    pub fn suggest(mut self, suggestion: Option<String>) -> Self {
        self.suggestion = suggestion;
        self
    }

    /// Sets the source position.
    pub fn at(mut self, line: usize, column: usize) -> Self {
        self.line = Some(line);
        self.column = Some(column);
        self
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        write!(f, "{path}: {}", self.message)?;
        match (&self.found, &self.expected) {
            (Some(found), Some(expected)) => write!(f, " (found {found}, expected {expected})")?,
            (Some(found), None) => write!(f, " (found {found})")?,
            (None, Some(expected)) => write!(f, " (expected {expected})")?,
            (None, None) => {}
        }
        if let Some(s) = &self.suggestion {
            write!(f, " — did you mean \"{s}\"?")?;
        }
        Ok(())
    }
}

/// Every problem found in one policy file. `Display` prints one error per line as
/// `file:line:col: /json/pointer: message (found X, expected Y) — did you mean "z"?`.
#[derive(Serialize, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct PolicyErrors {
    /// The file as named by the caller.
    pub file: String,
    /// The problems, in file order.
    pub errors: Vec<PolicyError>,
}

impl PolicyErrors {
    /// A single error for `file`.
    pub fn single(file: &str, error: PolicyError) -> Self {
        Self {
            file: file.to_owned(),
            errors: vec![error],
        }
    }

    /// The errors as JSON: `{"file": "...", "errors": [{"path", "line", "column", "code",
    /// "message", "found", "expected", "suggestion"}, ...]}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Puts the errors in file order (position, then path) and drops exact duplicates.
    pub(crate) fn sort(&mut self) {
        self.errors.sort_by(|a, b| {
            (
                a.line.unwrap_or(usize::MAX),
                a.column.unwrap_or(0),
                &a.path,
                &a.message,
            )
                .cmp(&(
                    b.line.unwrap_or(usize::MAX),
                    b.column.unwrap_or(0),
                    &b.path,
                    &b.message,
                ))
        });
        self.errors.dedup();
    }
}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match (e.line, e.column) {
                (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {e}", self.file)?,
                (Some(l), None) => write!(f, "{}:{l}: {e}", self.file)?,
                _ => write!(f, "{}: {e}", self.file)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_puts_one_error_per_line_with_position_found_expected_and_suggestion() {
        let errs = PolicyErrors {
            file: "p.yaml".into(),
            errors: vec![
                PolicyError::new("/mode", "enum", "unknown value")
                    .found("\"ful\"")
                    .expected("one of \"full\", \"assets-only\"")
                    .suggest(Some("full".into()))
                    .at(3, 7),
                PolicyError::new("", "empty", "the file is empty"),
            ],
        };
        assert_eq!(
            errs.to_string(),
            "p.yaml:3:7: /mode: unknown value (found \"ful\", expected one of \"full\", \
             \"assets-only\") — did you mean \"full\"?\np.yaml: /: the file is empty"
        );
        assert_eq!(errs.to_json()["errors"][0]["line"], 3);
    }
}
