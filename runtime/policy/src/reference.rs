//! The policy reference (`docs/policy.md`), generated from the JSON Schema: one table per
//! object (field, type, default, description) and one per enumeration. Pure text building.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::schema::schema;
use crate::semantic::{COLD_STORAGE_MINIMUM_DAYS, STORAGE_CLASSES};

const INTRO: &str = "\
A policy declares *what* qsbackup backs up, *when*, *how* and *for how long*. It is a YAML or
JSON file; `cdk deploy` turns it into a scheduled pipeline per target account, and
`qsbackup backup --policy FILE` runs it from a laptop. The JSON Schema in
[`schema/policy.schema.json`](../schema/policy.schema.json) is the contract; examples live in
[`examples/`](../examples).

Start a YAML policy with these lines so that editors complete and check it:

```yaml
# yaml-language-server: $schema=../schema/policy.schema.json
$schema: ../schema/policy.schema.json
version: 1
name: nightly
targets:
  - account: \"111122223333\"
```

Every section is optional except `version`, `name` and `targets`; a left-out field takes the
default shown below. Leave a key out to get its default (`null` is not accepted). Unknown keys are
errors, with a suggestion when they look like a typo.

## Checking a policy

`qsbackup policy validate FILE… [--json]` reports every problem at once, one per line:

```text
policy.yaml:12:7: /selection/include/2/names/0: invalid name glob: unclosed character class; missing ']' (found \"Sales[*\", expected a glob with *, ?, [abc] or {a,b})
policy.yaml:4:3: /shedule: unknown property \"shedule\" (expected one of …) — did you mean \"schedule\"?
```

The path is a JSON pointer into the document. Files larger than 1 MiB, files that are not UTF-8,
YAML files with more than one document, and duplicate keys are refused. YAML is read as YAML 1.2:
`yes`, `no`, `on` and `off` are strings, not booleans; quote account ids (`\"012345678901\"`).

Besides the schema, these rules are checked:

- `schedule.expression` is an EventBridge Scheduler expression: `cron(minutes hours day-of-month
  month day-of-week year)` with exactly one of day-of-month and day-of-week set to `?`,
  `rate(N minutes|hours|days)` with the singular unit for 1 (`rate(1 hour)`), or
  `at(yyyy-mm-ddThh:mm:ss)`.
- `schedule.timeZone` is an IANA time zone (`UTC`, `Europe/Berlin`, …).
- Selection rules have at least one criterion; name globs compile; folder paths have no empty
  segment.
- `storage` has `s3` or `local`, not both; bucket names follow the S3 naming rules;
  `storageClass` is one of STORAGE_CLASSES.
- Retention keeps at least one backup (one keep rule ≥ 1); `deleteAfterDays` is at least
  `coldStorageAfterDays` + COLD_DAYS (the minimum billing period of S3 Glacier Flexible
  Retrieval); `minimumDays` ≤ `deleteAfterDays`; cold storage needs S3 storage.
- Object Lock `days` ≤ `retention.deleteAfterDays` (otherwise retention could not delete).
- No two targets name the same account and Region; a KMS key is in the Region of every target
  that uses it (override `storage` for targets elsewhere).
- `mode: users-only` needs `identities.enabled: true`.

Targets may override `storage`, `schedule`, `retention` and `notifications`; an override
replaces the whole section for that target (its left-out fields take their defaults, not the
policy's values).
";

/// The policy reference as Markdown (the content of the committed `docs/policy.md`).
pub fn reference_markdown() -> String {
    let root = schema();
    let empty = Map::new();
    let defs = root
        .get("$defs")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut md = String::new();
    md.push_str("# Policy reference\n\n");
    let _ = writeln!(
        md,
        "<!-- Generated from the policy types by reference_markdown() in runtime/policy; do not \
         edit: regenerate with `UPDATE_SCHEMA=1 cargo test -p qsbackup-policy`. -->\n"
    );
    md.push_str(
        &INTRO
            .replace(
                "STORAGE_CLASSES",
                &STORAGE_CLASSES
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
            )
            .replace("COLD_DAYS", &COLD_STORAGE_MINIMUM_DAYS.to_string()),
    );
    md.push_str("\n## Contents\n\n- [Policy](#policy) (the document)\n");
    for name in defs.keys() {
        let _ = writeln!(md, "- [{name}](#{})", name.to_lowercase());
    }
    section(&mut md, &root, "Policy", &root);
    for (name, node) in defs {
        section(&mut md, &root, name, node);
    }
    md
}

fn section(md: &mut String, root: &Value, name: &str, node: &Value) {
    let _ = writeln!(md, "\n## {name}\n");
    if let Some(d) = node.get("description").and_then(Value::as_str) {
        let _ = writeln!(md, "{d}\n");
    }
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        let required: Vec<&str> = node
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        md.push_str("| Field | Type | Default | Description |\n| --- | --- | --- | --- |\n");
        for (field, p) in props {
            let default = if required.contains(&field.as_str()) {
                "**required**".to_owned()
            } else {
                match (p.get("default"), p.get("type").and_then(Value::as_str)) {
                    (Some(d), _) => show_default(d),
                    (None, Some("array")) => "`[]`".to_owned(),
                    (None, Some("object")) => "`{}`".to_owned(),
                    (None, _) => "none".to_owned(),
                }
            };
            let desc = p
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let _ = writeln!(
                md,
                "| `{field}` | {} | {} | {} |",
                cell(&type_of(root, p)),
                cell(&default),
                cell(desc)
            );
        }
    } else if let Some(values) = enum_values(node) {
        md.push_str("| Value | Meaning |\n| --- | --- |\n");
        for (v, d) in values {
            let _ = writeln!(md, "| `{v}` | {} |", cell(&d));
        }
    } else if let Some(alts) = node.get("anyOf").and_then(Value::as_array) {
        md.push_str("One of:\n\n");
        for a in alts {
            let d = a
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let _ = writeln!(md, "- {}: {d}", type_of(root, a));
        }
    }
}

/// `(value, description)` of an enumeration written as `oneOf` constants or `enum`.
fn enum_values(node: &Value) -> Option<Vec<(String, String)>> {
    if let Some(Value::Array(e)) = node.get("enum") {
        return Some(e.iter().map(|v| (plain(v), String::new())).collect());
    }
    let alts = node.get("oneOf")?.as_array()?;
    alts.iter()
        .map(|a| {
            let v = a.get("const")?;
            let d = a
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default();
            Some((plain(v), d.to_owned()))
        })
        .collect()
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A type, with its constraints, for the Type column.
fn type_of(root: &Value, node: &Value) -> String {
    if let Some(r) = node.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        let link = format!("[{name}](#{})", name.to_lowercase());
        let target = r.strip_prefix('#').and_then(|p| root.pointer(p));
        if let Some(values) = target.and_then(enum_values) {
            let list: Vec<String> = values.iter().map(|(v, _)| format!("`{v}`")).collect();
            return format!("{} ({link})", list.join(" \\| "));
        }
        return link;
    }
    if let Some(c) = node.get("const") {
        return format!("`{}`", plain(c));
    }
    if let Some(values) = enum_values(node) {
        return values
            .iter()
            .map(|(v, _)| format!("`{v}`"))
            .collect::<Vec<_>>()
            .join(" \\| ");
    }
    let ty = node.get("type").and_then(Value::as_str).unwrap_or("any");
    let mut parts = vec![match ty {
        "array" => match node.get("items") {
            Some(items) => {
                let t = type_of(root, items);
                if t.contains(", ") {
                    format!("list of ({t})")
                } else {
                    format!("list of {t}")
                }
            }
            None => "list".to_owned(),
        },
        "object" => match node.get("additionalProperties") {
            Some(v @ Value::Object(_)) => format!("map of string to {}", type_of(root, v)),
            _ => "object".to_owned(),
        },
        other => other.to_owned(),
    }];
    let num = |k: &str| node.get(k).and_then(Value::as_u64);
    match (num("minimum"), num("maximum")) {
        (Some(a), Some(b)) => parts.push(format!("{a}–{b}")),
        (Some(a), None) if a > 0 => parts.push(format!("≥ {a}")),
        (None, Some(b)) => parts.push(format!("≤ {b}")),
        _ => {}
    }
    let range = |lo: &str, hi: &str, unit: &str| match (num(lo), num(hi)) {
        (Some(a), Some(b)) => Some(format!("{a}–{b} {unit}")),
        (Some(a), None) => Some(format!("≥ {a} {unit}")),
        (None, Some(b)) => Some(format!("≤ {b} {unit}")),
        _ => None,
    };
    parts.extend(range("minLength", "maxLength", "chars"));
    parts.extend(range("minItems", "maxItems", "items"));
    if node.get("uniqueItems") == Some(&Value::Bool(true)) {
        parts.push("unique".to_owned());
    }
    if let Some(p) = node.get("pattern").and_then(Value::as_str) {
        parts.push(format!("pattern `{p}`"));
    }
    parts.join(", ")
}

fn show_default(v: &Value) -> String {
    match v {
        Value::Object(_) => "see fields".to_owned(),
        Value::Array(a) if a.is_empty() => "`[]`".to_owned(),
        Value::Array(a) => format!("`[{}]`", a.iter().map(plain).collect::<Vec<_>>().join(", ")),
        Value::String(s) if s.is_empty() => "`\"\"`".to_owned(),
        other => format!("`{}`", plain(other)),
    }
}

/// Makes text safe for one table cell.
fn cell(text: &str) -> String {
    let mut out = String::new();
    let mut in_code = false;
    let mut prev = '\0';
    for c in text.chars() {
        match c {
            '`' => {
                in_code = !in_code;
                out.push(c);
            }
            '|' if prev != '\\' => out.push_str("\\|"),
            '\n' => out.push_str(if in_code { " " } else { "<br>" }),
            _ => out.push(c),
        }
        prev = c;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_of_every_object_has_a_row() {
        let md = reference_markdown();
        for field in [
            "`assetsPerBundle`",
            "`kmsKeyArn`",
            "`coldStorageAfterDays`",
            "`followDependencies`",
        ] {
            assert!(md.contains(&format!("| {field} |")), "{field}");
        }
        assert!(md.contains(
            "| `name` | string, 1–64 chars, pattern `^[A-Za-z0-9_-]{1,64}$` | **required** |"
        ));
        assert!(md.contains("| `concurrentJobs` | integer, 1–5 | `5` |"));
    }

    #[test]
    fn pipes_in_cells_are_escaped() {
        assert_eq!(cell("a|b"), "a\\|b");
        assert_eq!(cell("a\\|b"), "a\\|b");
    }
}
