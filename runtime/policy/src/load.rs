//! Reading a policy: file → text (size and UTF-8 checks) → document (JSON or YAML, with
//! positions) → schema and semantic validation → [`Policy`]. Reads one file; nothing else.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

use crate::error::{PolicyError, PolicyErrors};
use crate::model::Policy;
use crate::position::{PositionIndex, line_col, scan_json};
use crate::validate::Located;
use crate::{semantic, validate, yaml};

/// Policy files larger than this are refused before parsing.
pub const MAX_POLICY_BYTES: usize = 1024 * 1024;

/// The syntax of a policy file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// JSON.
    Json,
    /// YAML 1.2.
    Yaml,
    /// Decide from the content: JSON when it starts with `{`, YAML otherwise.
    Sniff,
}

impl Format {
    /// The format for a file name: `.json` → JSON, `.yaml`/`.yml` → YAML, else sniff.
    pub fn from_path(path: &Path) -> Format {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("json") => Format::Json,
            Some("yaml" | "yml") => Format::Yaml,
            _ => Format::Sniff,
        }
    }
}

/// Reads, parses and validates the policy file at `path` (JSON or YAML by extension, otherwise
/// sniffed). Errors name the file as `path` was given.
pub fn load(path: &Path) -> Result<Policy, PolicyErrors> {
    let file = path.display().to_string();
    let fail = |e: PolicyError| PolicyErrors::single(&file, e);
    let f = std::fs::File::open(path).map_err(|e| {
        fail(PolicyError::new(
            "",
            "io",
            format!("cannot read the file: {e}"),
        ))
    })?;
    if let Ok(meta) = f.metadata() {
        if meta.is_dir() {
            return Err(fail(PolicyError::new(
                "",
                "io",
                "this is a directory, not a policy file",
            )));
        }
        if meta.len() > MAX_POLICY_BYTES as u64 {
            return Err(fail(too_large(meta.len())));
        }
    }
    let mut bytes = Vec::new();
    // Read one byte past the limit so a file that grew after the size check is caught too.
    f.take(MAX_POLICY_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            fail(PolicyError::new(
                "",
                "io",
                format!("cannot read the file: {e}"),
            ))
        })?;
    if bytes.len() > MAX_POLICY_BYTES {
        return Err(fail(too_large(bytes.len() as u64)));
    }
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let prefix = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
            let p = line_col(&prefix, valid);
            let byte = e.as_bytes().get(valid).copied().unwrap_or_default();
            return Err(fail(
                PolicyError::new("", "encoding", "the file is not UTF-8 text")
                    .found(format!("byte 0x{byte:02X} at offset {valid}"))
                    .expected("UTF-8 (save the file as UTF-8)")
                    .at(p.line, p.column),
            ));
        }
    };
    parse(&text, &file, Format::from_path(path))
}

fn too_large(len: u64) -> PolicyError {
    PolicyError::new("", "too-large", "the file is too large for a policy")
        .found(format!("{len} bytes"))
        .expected(format!("at most {MAX_POLICY_BYTES} bytes (1 MiB)"))
}

/// Parses and validates policy text. `file` names the source in errors.
pub fn parse(text: &str, file: &str, format: Format) -> Result<Policy, PolicyErrors> {
    let fail = |errors: Vec<PolicyError>| {
        let mut e = PolicyErrors {
            file: file.to_owned(),
            errors,
        };
        e.sort();
        e
    };
    if text.len() > MAX_POLICY_BYTES {
        return Err(fail(vec![too_large(text.len() as u64)]));
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(fail(vec![
            PolicyError::new("", "empty", "the file is empty")
                .expected("a policy with at least version, name and targets"),
        ]));
    }
    let format = match format {
        Format::Sniff if text.trim_start().starts_with('{') => Format::Json,
        Format::Sniff => Format::Yaml,
        f => f,
    };
    let (doc, index, mut errors) = match format {
        Format::Json => read_json(text).map_err(fail)?,
        _ => {
            let d = yaml::read_yaml(text).map_err(fail)?;
            match d.value {
                Some(v) => (v, d.index, d.errors),
                None => {
                    return Err(fail(vec![
                        PolicyError::new("", "empty", "the file has no content, only comments")
                            .expected("a policy with at least version, name and targets"),
                    ]));
                }
            }
        }
    };
    validate_document(&doc, &index, &mut errors);
    if !errors.is_empty() {
        return Err(fail(errors));
    }
    serde_json::from_value::<Policy>(integral_floats(doc)).map_err(|e| {
        fail(vec![PolicyError::new(
            "",
            "deserialize",
            format!("cannot read the policy: {e}"),
        )])
    })
}

/// Turns numbers such as `2.0` into integers: JSON Schema counts them as integers, serde's
/// integer types would refuse them.
fn integral_floats(v: Value) -> Value {
    match v {
        Value::Number(n) if n.is_f64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f >= 0.0 && f < u64::MAX as f64 => Value::from(f as u64),
            Some(f) if f.fract() == 0.0 && f < 0.0 && f > i64::MIN as f64 => Value::from(f as i64),
            _ => Value::Number(n),
        },
        Value::Array(a) => Value::Array(a.into_iter().map(integral_floats).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| (k, integral_floats(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Runs both validation layers on a parsed document and adds positions. A semantic error at a
/// path the schema layer already reported is dropped (one message per value).
fn validate_document(doc: &Value, index: &PositionIndex, errors: &mut Vec<PolicyError>) {
    let parse_paths: Vec<String> = errors.iter().map(|e| e.path.clone()).collect();
    let schema_errors: Vec<Located> = validate::check(doc)
        .into_iter()
        .filter(|(e, _)| !parse_paths.contains(&e.path))
        .collect();
    let semantic_errors: Vec<Located> = semantic::check(doc)
        .into_iter()
        .filter(|(e, _)| {
            !parse_paths.contains(&e.path) && !schema_errors.iter().any(|(s, _)| s.path == e.path)
        })
        .collect();
    for (mut e, at_key) in schema_errors.into_iter().chain(semantic_errors) {
        if let Some(p) = index.locate(&e.path, at_key) {
            e.line = Some(p.line);
            e.column = Some(p.column);
        }
        errors.push(e);
    }
}

/// Parses JSON text and indexes the positions of its values; duplicate keys are errors.
#[allow(clippy::type_complexity)]
fn read_json(text: &str) -> Result<(Value, PositionIndex, Vec<PolicyError>), Vec<PolicyError>> {
    let doc: Value = serde_json::from_str(text).map_err(|e| {
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
        vec![
            PolicyError::new("", "json-syntax", format!("JSON syntax error: {msg}"))
                .at(e.line(), e.column()),
        ]
    })?;
    let scan = scan_json(text);
    let errors = scan
        .duplicates
        .iter()
        .map(|(ptr, p)| {
            let key = ptr.rsplit('/').next().unwrap_or_default();
            PolicyError::new(ptr, "duplicate-key", "duplicate key")
                .found(format!("\"{key}\" a second time"))
                .at(p.line, p.column)
        })
        .collect();
    Ok((doc, scan.index, errors))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "version: 1\nname: p\ntargets: [{account: \"111122223333\"}]\n";

    #[test]
    fn whole_floats_are_accepted_where_integers_are_expected() {
        let p = parse(
            &format!("{MINIMAL}retention: {{daily: 2.0}}\n"),
            "p.yaml",
            Format::Yaml,
        )
        .unwrap();
        assert_eq!(p.retention.daily, 2);
    }

    #[test]
    fn the_format_is_sniffed_from_the_content_when_unknown() {
        assert!(parse(MINIMAL, "p", Format::Sniff).is_ok());
        let json = r#"{"version": 1, "name": "p", "targets": [{"account": "111122223333"}]}"#;
        assert!(parse(json, "p", Format::Sniff).is_ok());
        assert_eq!(Format::from_path(Path::new("a/b.YML")), Format::Yaml);
        assert_eq!(Format::from_path(Path::new("b.json")), Format::Json);
        assert_eq!(Format::from_path(Path::new("policy")), Format::Sniff);
    }

    #[test]
    fn a_byte_order_mark_is_ignored() {
        assert!(parse(&format!("\u{feff}{MINIMAL}"), "p.yaml", Format::Yaml).is_ok());
    }

    #[test]
    fn parse_problems_and_validation_problems_are_reported_together() {
        let text = format!("{MINIMAL}mode: full\nmode: full\nexport: {{concurrentJobs: 9}}\n");
        let errs = parse(&text, "p.yaml", Format::Yaml).unwrap_err();
        let codes: Vec<&str> = errs.errors.iter().map(|e| e.code.as_str()).collect();
        assert_eq!(codes, ["duplicate-key", "range"]);
    }

    #[test]
    fn a_bad_tag_is_reported_once() {
        let text = format!("{MINIMAL}description: !!int abc\n");
        let errs = parse(&text, "p.yaml", Format::Yaml).unwrap_err();
        assert_eq!(errs.errors.len(), 1, "{errs}");
    }
}
