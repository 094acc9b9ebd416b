//! JSON Schema generation from the model types (schemars, draft 2020-12), tidied for editors
//! and for error messages. The committed `schema/policy.schema.json` must equal [`schema_string`].

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};

use crate::model::Policy;

/// How to regenerate the committed schema and reference.
pub const REGENERATE_HINT: &str = "regenerate with `cargo run -p qsbackup-cli -- policy schema > \
     schema/policy.schema.json` or `UPDATE_SCHEMA=1 cargo test -p qsbackup-policy`";

/// Properties that must be present, per definition (`""` is the root object).
const REQUIRED: &[(&str, &[&str])] = &[
    ("", &["version", "name", "targets"]),
    ("Target", &["account"]),
];

/// The policy JSON Schema (draft 2020-12), generated from [`Policy`].
pub fn schema() -> Value {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let mut root = generator.into_root_schema_for::<Policy>().to_value();
    tidy(&mut root);
    for (def, props) in REQUIRED {
        let node = if def.is_empty() {
            Some(&mut root)
        } else {
            root.pointer_mut(&format!("/$defs/{def}"))
        };
        if let Some(Value::Object(obj)) = node {
            mark_required(obj, props);
        }
    }
    order_root(root)
}

/// The policy JSON Schema as pretty JSON with a trailing newline: exactly the content of the
/// committed `schema/policy.schema.json`.
pub fn schema_string() -> String {
    let mut s = serde_json::to_string_pretty(&schema()).unwrap_or_default();
    s.push('\n');
    s
}

/// Removes the `null` alternatives schemars adds for `Option` fields (leave a key out to get
/// its default) and joins hard-wrapped description lines, recursively.
fn tidy(v: &mut Value) {
    match v {
        Value::Object(obj) => {
            if let Some(Value::Array(types)) = obj.get("type") {
                let non_null: Vec<Value> = types
                    .iter()
                    .filter(|t| t.as_str() != Some("null"))
                    .cloned()
                    .collect();
                if non_null.len() == 1 && types.len() == 2 {
                    obj.insert("type".into(), non_null[0].clone());
                }
            }
            let nullable_ref = match obj.get("anyOf") {
                Some(Value::Array(alts)) if alts.len() == 2 => {
                    let is_null = |a: &Value| a.get("type").and_then(Value::as_str) == Some("null");
                    match (is_null(&alts[0]), is_null(&alts[1])) {
                        (false, true) => Some(alts[0].clone()),
                        (true, false) => Some(alts[1].clone()),
                        _ => None,
                    }
                }
                _ => None,
            };
            if let Some(Value::Object(inner)) = nullable_ref {
                obj.remove("anyOf");
                let rest = std::mem::take(obj);
                obj.extend(inner);
                obj.extend(rest);
            }
            if let Some(Value::String(d)) = obj.get_mut("description") {
                *d = unwrap_lines(d);
            }
            for (_, child) in obj.iter_mut() {
                tidy(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(tidy),
        _ => {}
    }
}

/// Joins lines within a paragraph; keeps blank lines between paragraphs.
fn unwrap_lines(text: &str) -> String {
    text.split("\n\n")
        .map(|para| para.lines().map(str::trim).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn mark_required(obj: &mut Map<String, Value>, props: &[&str]) {
    if let Some(Value::Object(properties)) = obj.get_mut("properties") {
        for p in props {
            if let Some(Value::Object(prop)) = properties.get_mut(*p) {
                prop.remove("default");
            }
        }
    }
    obj.insert(
        "required".into(),
        Value::Array(
            props
                .iter()
                .map(|p| Value::String((*p).to_owned()))
                .collect(),
        ),
    );
}

/// Puts the root keywords in reading order: `$schema`, `$comment`, `title`, `description`, ….
fn order_root(root: Value) -> Value {
    let Value::Object(mut obj) = root else {
        return root;
    };
    let mut out = Map::new();
    let first = [
        "$schema",
        "$comment",
        "title",
        "description",
        "type",
        "required",
        "additionalProperties",
        "properties",
    ];
    obj.insert(
        "$comment".into(),
        Value::String(format!(
            "Generated from the Rust types in runtime/policy; do not edit: {REGENERATE_HINT}."
        )),
    );
    for k in first {
        if let Some(v) = obj.remove(k) {
            out.insert(k.to_owned(), v);
        }
    }
    out.extend(obj);
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_fields_are_not_nullable_in_the_schema() {
        let s = schema_string();
        assert!(!s.contains("\"null\""), "{s}");
    }

    #[test]
    fn the_schema_is_a_valid_draft_2020_12_schema() {
        jsonschema::meta::validate(&schema()).unwrap();
    }

    #[test]
    fn export_limits_follow_the_quicksight_quotas() {
        let s = schema();
        let e = &s["$defs"]["ExportSettings"]["properties"];
        assert_eq!(
            (
                e["assetsPerBundle"]["minimum"].as_u64(),
                e["assetsPerBundle"]["maximum"].as_u64()
            ),
            (Some(1), Some(100))
        );
        assert_eq!(
            (
                e["concurrentJobs"]["minimum"].as_u64(),
                e["concurrentJobs"]["maximum"].as_u64()
            ),
            (Some(1), Some(5))
        );
    }

    #[test]
    fn required_fields_have_no_default() {
        let s = schema();
        assert_eq!(
            s["required"],
            serde_json::json!(["version", "name", "targets"])
        );
        assert!(s["properties"]["name"].get("default").is_none());
        assert_eq!(
            s["$defs"]["Target"]["required"],
            serde_json::json!(["account"])
        );
    }
}
