//! The schema layer: validates the parsed document against the generated JSON Schema (the
//! `jsonschema` crate) and turns each failure into a [`PolicyError`] that says what was found,
//! what is expected and what was probably meant. Knows nothing of the file format.

use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{ValidationError, Validator};
use serde_json::Value;

use crate::error::PolicyError;
use crate::model::{
    ACCOUNT_PATTERN, ASSET_ID_PATTERN, EMAIL_PATTERN, KMS_ARN_PATTERN, NAME_PATTERN,
    NAMESPACE_PATTERN, PREFIX_PATTERN, REGION_PATTERN, SNS_ARN_PATTERN,
};
use crate::position::escape;
use crate::schema::schema;
use crate::suggest::{KNOWN_REGIONS, closest};

/// An error and whether it is best located at its key (unknown and duplicate keys) rather than
/// its value.
pub(crate) type Located = (PolicyError, bool);

struct Compiled {
    schema: Value,
    validator: Validator,
}

fn compiled() -> Result<&'static Compiled, String> {
    static COMPILED: OnceLock<Result<Compiled, String>> = OnceLock::new();
    COMPILED
        .get_or_init(|| {
            let schema = schema();
            jsonschema::draft202012::new(&schema)
                .map(|validator| Compiled { schema, validator })
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Every schema violation in `doc`.
pub(crate) fn check(doc: &Value) -> Vec<Located> {
    let c = match compiled() {
        Ok(c) => c,
        Err(e) => {
            return vec![(
                PolicyError::new(
                    "",
                    "internal",
                    format!("the policy schema does not compile: {e}"),
                ),
                false,
            )];
        }
    };
    let mut out = Vec::new();
    for err in c.validator.iter_errors(doc) {
        translate(&err, &c.schema, &mut out);
    }
    // A value of the wrong type gets that one message, not also every rule it then breaks.
    let typed: Vec<String> = out
        .iter()
        .filter(|(e, _)| e.code == "type")
        .map(|(e, _)| e.path.clone())
        .collect();
    out.retain(|(e, _)| e.code == "type" || !typed.contains(&e.path));
    out
}

/// The schema node that holds the failing keyword (`schema_path` minus its last segment),
/// following `$ref`s on the way.
fn keyword_parent<'a>(root: &'a Value, schema_path: &str) -> Option<&'a Value> {
    let parent = schema_path.rsplit_once('/').map_or("", |(p, _)| p);
    walk(root, parent)
}

fn walk<'a>(root: &'a Value, pointer: &str) -> Option<&'a Value> {
    let mut node = root;
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        node = if seg == "$ref" {
            deref(root, node)
        } else {
            match node {
                Value::Object(o) => o.get(&seg)?,
                Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
                _ => return None,
            }
        };
    }
    Some(node)
}

/// Follows a local `$ref` (`#/$defs/X`), if the node has one.
fn deref<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix('#')
            .and_then(|p| root.pointer(p))
            .unwrap_or(node),
        None => node,
    }
}

/// The fixed values a node accepts (`const`, `enum`, or alternatives of those), if that is all
/// it accepts.
fn choices(root: &Value, node: &Value) -> Option<Vec<Value>> {
    let node = deref(root, node);
    if let Some(c) = node.get("const") {
        return Some(vec![c.clone()]);
    }
    if let Some(Value::Array(e)) = node.get("enum") {
        return Some(e.clone());
    }
    let alts = node
        .get("oneOf")
        .or_else(|| node.get("anyOf"))?
        .as_array()?;
    let mut all = Vec::new();
    for a in alts {
        all.extend(choices(root, a)?);
    }
    Some(all)
}

fn quote_list(values: &[Value]) -> String {
    let items: Vec<String> = values.iter().map(Value::to_string).collect();
    match items.len() {
        1 => items[0].clone(),
        _ => format!("one of {}", items.join(", ")),
    }
}

/// A short description of what a schema node accepts, for `expected …`.
fn describe(root: &Value, node: &Value) -> String {
    let target = deref(root, node);
    if let Some(c) = choices(root, target) {
        return quote_list(&c);
    }
    if let Some(alts) = target
        .get("anyOf")
        .or_else(|| target.get("oneOf"))
        .and_then(Value::as_array)
    {
        return alts
            .iter()
            .map(|a| describe(root, a))
            .collect::<Vec<_>>()
            .join(" or ");
    }
    if let Some(p) = target.get("pattern").and_then(Value::as_str) {
        return pattern_label(p).0.to_owned();
    }
    match target.get("type").and_then(Value::as_str) {
        Some("array") => match target.get("items") {
            Some(items) => format!("a list of {}", describe_plural(root, items)),
            None => "a list".to_owned(),
        },
        Some("object") => match ref_name(node) {
            Some(name) => format!("a {name} mapping"),
            None => "a mapping".to_owned(),
        },
        Some("boolean") => "true or false".to_owned(),
        Some("integer") => "an integer".to_owned(),
        Some("number") => "a number".to_owned(),
        Some("string") => "a string".to_owned(),
        _ => "a value".to_owned(),
    }
}

/// What the items of a list accept, in the plural ("strings", "Target mappings", …).
fn describe_plural(root: &Value, node: &Value) -> String {
    let target = deref(root, node);
    if let Some(c) = choices(root, target) {
        let items: Vec<String> = c.iter().map(Value::to_string).collect();
        return format!("values from {}", items.join(", "));
    }
    if let Some(p) = target.get("pattern").and_then(Value::as_str) {
        return pattern_label(p).1.to_owned();
    }
    match target.get("type").and_then(Value::as_str) {
        Some("object") => match ref_name(node) {
            Some(name) => format!("{name} mappings"),
            None => "mappings".to_owned(),
        },
        Some("array") => "lists".to_owned(),
        Some("boolean") => "booleans".to_owned(),
        Some("integer") => "integers".to_owned(),
        Some("number") => "numbers".to_owned(),
        Some("string") => "strings".to_owned(),
        _ => "values".to_owned(),
    }
}

/// The definition name a node refers to (`#/$defs/Target` → `Target`).
fn ref_name(node: &Value) -> Option<&str> {
    node.get("$ref")?.as_str()?.strip_prefix("#/$defs/")
}

/// Words for the patterns used in the schema: one, and several.
fn pattern_label(pattern: &str) -> (&'static str, &'static str) {
    match pattern {
        p if p == REGION_PATTERN => ("an AWS Region code such as us-east-1", "AWS Region codes"),
        p if p == ACCOUNT_PATTERN => ("a 12-digit AWS account id", "12-digit AWS account ids"),
        p if p == NAME_PATTERN => ("1–64 letters, digits, '-' or '_'", "names"),
        p if p == KMS_ARN_PATTERN => (
            "a KMS key ARN such as arn:aws:kms:us-east-1:111122223333:key/…",
            "KMS key ARNs",
        ),
        p if p == SNS_ARN_PATTERN => (
            "an SNS topic ARN such as arn:aws:sns:us-east-1:111122223333:topic",
            "SNS topic ARNs",
        ),
        p if p == EMAIL_PATTERN => ("an e-mail address", "e-mail addresses"),
        p if p == PREFIX_PATTERN => (
            "'/'-separated segments of letters, digits, '_', '.', '=', '-' (each starting with a letter or digit)",
            "prefixes",
        ),
        p if p == NAMESPACE_PATTERN => (
            "a namespace name (letters, digits, '.', '_', '-')",
            "namespace names",
        ),
        p if p == ASSET_ID_PATTERN => ("an asset id (letters, digits, '_', '-')", "asset ids"),
        _ => (
            "a value matching the pattern",
            "values matching the pattern",
        ),
    }
}

/// The JSON type of a value, in words.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "mapping",
    }
}

/// A value, shown briefly.
pub(crate) fn show(v: &Value) -> String {
    let s = match v {
        Value::Array(a) if a.is_empty() => return "an empty list".to_owned(),
        Value::Array(a) => {
            let s = v.to_string();
            if s.chars().count() > 60 {
                return format!("a list of {} items", a.len());
            }
            s
        }
        Value::Object(o) => {
            let s = v.to_string();
            if s.chars().count() > 60 {
                return format!("a mapping with {} keys", o.len());
            }
            s
        }
        _ => v.to_string(),
    };
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(57).collect::<String>())
    } else {
        s
    }
}

fn matches_type(root: &Value, node: &Value, v: &Value) -> bool {
    let node = deref(root, node);
    if let Some(c) = choices(root, node) {
        return c.iter().any(|c| type_name(c) == type_name(v));
    }
    match node.get("type").and_then(Value::as_str) {
        Some("array") => v.is_array(),
        Some("object") => v.is_object(),
        Some("string") => v.is_string(),
        Some("boolean") => v.is_boolean(),
        Some("integer") => v.is_i64() || v.is_u64(),
        Some("number") => v.is_number(),
        _ => false,
    }
}

fn translate(err: &ValidationError<'_>, root: &Value, out: &mut Vec<Located>) {
    let path = err.instance_path().as_str().to_owned();
    let instance: &Value = err.instance();
    let node = keyword_parent(root, err.schema_path().as_str());
    let found = show(instance);
    let e = match err.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let allowed: Vec<String> = node
                .and_then(|n| n.get("properties"))
                .and_then(Value::as_object)
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default();
            for key in unexpected {
                let e = PolicyError::new(
                    format!("{path}/{}", escape(key)),
                    "unknown-property",
                    format!("unknown property \"{key}\""),
                )
                .expected(format!("one of {}", allowed.join(", ")))
                .suggest(closest(key, allowed.iter().map(String::as_str)));
                out.push((e, true));
            }
            return;
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let expected = node
                .and_then(|n| n.get("properties"))
                .and_then(|p| p.get(name))
                .map(|p| describe(root, p));
            let mut e = PolicyError::new(
                format!("{path}/{}", escape(name)),
                "required",
                format!("missing required property \"{name}\""),
            );
            e.expected = expected;
            e
        }
        ValidationErrorKind::Type { .. } => {
            let expected = node.map_or_else(|| "another type".to_owned(), |n| describe(root, n));
            let found = if instance.is_null() {
                "null".to_owned()
            } else {
                format!("{} {found}", type_name(instance))
            };
            let mut e = PolicyError::new(&path, "type", "wrong type")
                .found(found)
                .expected(expected.clone());
            if expected.contains("true or false") {
                if let Some(s) = instance.as_str() {
                    let b = match s.to_ascii_lowercase().as_str() {
                        "yes" | "y" | "on" | "true" => Some("true"),
                        "no" | "n" | "off" | "false" => Some("false"),
                        _ => None,
                    };
                    e = e.suggest(b.map(str::to_owned));
                }
            } else if (expected == "a string" || expected == pattern_label(ACCOUNT_PATTERN).0)
                && (instance.is_number() || instance.is_boolean())
            {
                e.message = "wrong type (put the value in quotes to make it a string)".to_owned();
            } else if expected.starts_with("a list")
                && !instance.is_array()
                && !instance.is_object()
            {
                e.message = "wrong type (write a single value as a one-item list)".to_owned();
            }
            e
        }
        ValidationErrorKind::Enum { .. } | ValidationErrorKind::Constant { .. } => {
            let all = node.and_then(|n| choices(root, n)).unwrap_or_default();
            enum_error(&path, instance, &all, &found)
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            let Some(node) = node else {
                out.push((PolicyError::new(&path, "invalid", err.to_string()), false));
                return;
            };
            if let Some(all) = choices(root, node) {
                enum_error(&path, instance, &all, &found)
            } else {
                let alts = node
                    .get("anyOf")
                    .or_else(|| node.get("oneOf"))
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let matching: Vec<usize> = (0..alts.len())
                    .filter(|&i| matches_type(root, &alts[i], instance))
                    .collect();
                match matching.as_slice() {
                    [i] if choices(root, &alts[*i]).is_none() => {
                        if let Some(errs) = context.get(*i) {
                            for inner in errs {
                                translate(inner, root, out);
                            }
                            return;
                        }
                        PolicyError::new(&path, "invalid", "invalid value")
                    }
                    _ => PolicyError::new(&path, "invalid", "invalid value")
                        .found(format!("{} {found}", type_name(instance)))
                        .expected(describe(root, node)),
                }
            }
        }
        ValidationErrorKind::Minimum { limit }
        | ValidationErrorKind::Maximum { limit }
        | ValidationErrorKind::ExclusiveMinimum { limit }
        | ValidationErrorKind::ExclusiveMaximum { limit } => {
            let min = node.and_then(|n| n.get("minimum"));
            let max = node.and_then(|n| n.get("maximum"));
            let expected = match (min, max) {
                (Some(a), Some(b)) if a == b => format!("{a}"),
                (Some(a), Some(b)) => format!("{a}–{b}"),
                (Some(a), None) => format!("at least {a}"),
                (None, Some(b)) => format!("at most {b}"),
                (None, None) => format!("a limit of {limit}"),
            };
            PolicyError::new(&path, "range", "number out of range")
                .found(found)
                .expected(expected)
        }
        ValidationErrorKind::MinLength { limit } => {
            if instance.as_str().is_some_and(str::is_empty) {
                PolicyError::new(&path, "empty", "must not be empty")
                    .expected(node.map_or_else(|| "a value".to_owned(), |n| describe(root, n)))
            } else {
                PolicyError::new(&path, "length", "too short")
                    .found(found)
                    .expected(format!("at least {limit} characters"))
            }
        }
        ValidationErrorKind::MaxLength { limit } => PolicyError::new(&path, "length", "too long")
            .found(format!(
                "{} characters",
                instance.as_str().map_or(0, |s| s.chars().count())
            ))
            .expected(format!("at most {limit} characters")),
        ValidationErrorKind::Pattern { pattern } => {
            let mut e = PolicyError::new(&path, "pattern", "invalid value")
                .found(found)
                .expected(pattern_label(pattern).0);
            if pattern == REGION_PATTERN {
                if let Some(s) = instance.as_str() {
                    e = e.suggest(closest(s, KNOWN_REGIONS.iter().copied()));
                }
            } else if pattern == ACCOUNT_PATTERN
                && let Some(s) = instance.as_str()
            {
                let digits = s.chars().filter(char::is_ascii_digit).count();
                if digits == s.chars().count() {
                    e.message = format!("invalid account id: {digits} digits");
                } else if digits == 12 {
                    e = e.suggest(Some(s.chars().filter(char::is_ascii_digit).collect()));
                }
            }
            e
        }
        ValidationErrorKind::MinItems { limit } => {
            if instance.as_array().is_some_and(Vec::is_empty) {
                PolicyError::new(&path, "empty", "list is empty").expected(format!(
                    "at least {limit} item{}",
                    if *limit == 1 { "" } else { "s" }
                ))
            } else {
                PolicyError::new(&path, "length", "too few items")
                    .found(found)
                    .expected(format!("at least {limit} items"))
            }
        }
        ValidationErrorKind::MaxItems { limit } => {
            PolicyError::new(&path, "length", "too many items")
                .expected(format!("at most {limit} items"))
        }
        ValidationErrorKind::UniqueItems => {
            let dup = instance.as_array().and_then(|a| {
                a.iter()
                    .enumerate()
                    .find(|(i, x)| a[..*i].contains(x))
                    .map(|(_, x)| show(x))
            });
            let mut e = PolicyError::new(&path, "duplicate-item", "the list repeats an item");
            e.found = dup;
            e
        }
        _ => PolicyError::new(&path, "invalid", err.to_string()),
    };
    out.push((e, false));
}

fn enum_error(path: &str, instance: &Value, all: &[Value], found: &str) -> PolicyError {
    let suggestion = instance
        .as_str()
        .and_then(|s| closest(s, all.iter().filter_map(Value::as_str)));
    let code = if all.len() == 1 { "const" } else { "enum" };
    let message = if all.len() == 1 {
        "invalid value"
    } else {
        "unknown value"
    };
    PolicyError::new(path, code, message)
        .found(found.to_owned())
        .expected(quote_list(all))
        .suggest(suggestion)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(doc: Value) -> Vec<PolicyError> {
        check(&doc).into_iter().map(|(e, _)| e).collect()
    }

    fn base() -> Value {
        json!({"version": 1, "name": "p", "targets": [{"account": "123456789012"}]})
    }

    #[test]
    fn a_minimal_policy_passes_the_schema() {
        assert_eq!(errors(base()), vec![]);
    }

    #[test]
    fn unknown_keys_get_a_suggestion_from_the_schema() {
        let mut d = base();
        d["schedule"] = json!({"timezone": "UTC"});
        let e = &errors(d)[0];
        assert_eq!(e.path, "/schedule/timezone");
        assert_eq!(e.suggestion.as_deref(), Some("timeZone"));
    }

    #[test]
    fn enum_values_get_a_suggestion() {
        let mut d = base();
        d["mode"] = json!("asset-only");
        let e = &errors(d)[0];
        assert_eq!((e.path.as_str(), e.code.as_str()), ("/mode", "enum"));
        assert_eq!(e.suggestion.as_deref(), Some("assets-only"));
    }

    #[test]
    fn errors_inside_optional_sections_are_reported_at_their_own_path() {
        let mut d = base();
        d["storage"] = json!({"s3": {"objectLock": {"mode": "GOVERNANCE", "days": 0}}});
        let e = &errors(d)[0];
        assert_eq!(e.path, "/storage/s3/objectLock/days");
        assert_eq!(e.expected.as_deref(), Some("1–36500"));
    }

    #[test]
    fn namespaces_accept_all_or_a_list() {
        let mut d = base();
        d["source"] = json!({"namespaces": "default"});
        let e = &errors(d.clone())[0];
        assert_eq!(e.path, "/source/namespaces");
        d["source"] = json!({"namespaces": ["default"]});
        assert_eq!(errors(d), vec![]);
    }
}
