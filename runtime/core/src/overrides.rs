//! Restore overrides: the file model (serde + schemars; the schema is committed as
//! `schema/overrides.schema.json`), loading (JSON or YAML, schema-validated, a `password` key
//! anywhere refused with its path) and the principal mapping. Reads one file; no AWS calls.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Secrets Manager secret ARNs, as the import API accepts them.
pub const SECRET_ARN_PATTERN: &str =
    r"^arn:[-a-z0-9]*:secretsmanager:[-a-z0-9]*:[0-9]{12}:secret:.+$";
/// Resource-ID prefixes (QuickSight IDs are `[\w\-]+`).
pub const PREFIX_PATTERN: &str = r"^[A-Za-z0-9_-]{1,64}$";
/// Overrides files larger than this are refused before parsing.
pub const MAX_OVERRIDES_BYTES: usize = 1024 * 1024;
/// How to regenerate the committed schema.
pub const REGENERATE_HINT: &str = "regenerate with `qsbackup restore --print-overrides-schema > schema/overrides.schema.json` or `UPDATE_SCHEMA=1 cargo test -p qsbackup-tests --test restore`";

/// What a restore changes on the way in. Every part is optional; an empty file changes nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "qsbackup restore overrides")]
pub struct Overrides {
    /// The schema this file follows (for editors); ignored.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Prepended to the ID of every restored asset (QuickSight's `PrefixForAllResources`), so a
    /// restore lands beside the existing assets instead of replacing them. Names do not change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(PREFIX_PATTERN))]
    pub resource_id_prefix: Option<String>,
    /// Connection settings and credentials of data sources, by the data source ID in the backup.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_sources: Vec<DataSourceOverride>,
    /// Network settings of VPC connections, by the VPC connection ID in the backup (required by
    /// QuickSight when a VPC connection is restored into another account or Region).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vpc_connections: Vec<VpcConnectionOverride>,
    /// Permission principals to replace, applied after the automatic remapping of the source
    /// account's users and groups to the target account. Keys and values are principal ARNs or
    /// the short forms `group/NAME` and `user/NAME` (source namespace for keys, target for values).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub principals: BTreeMap<String, String>,
    /// Tags added to (or replacing same-key tags of) every restored asset.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(inner(length(min = 0, max = 256)))]
    pub tags: BTreeMap<String, String>,
}

/// Overrides for one data source. Connection fields are merged into the backed-up connection
/// parameters of the data source's type.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataSourceOverride {
    /// The data source ID in the backup.
    #[schemars(required, length(min = 1, max = 512))]
    pub id: String,
    /// A new display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub name: Option<String>,
    /// The data source type (e.g. `REDSHIFT`), needed only when the bundle's own connection
    /// parameters cannot be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Host name of the database endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Port of the database endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u32>,
    /// Database name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Snowflake warehouse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouse: Option<String>,
    /// Redshift cluster ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// Athena workgroup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_group: Option<String>,
    /// Presto / Trino / Starburst catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<String>,
    /// OpenSearch domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Databricks SQL endpoint path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql_endpoint_path: Option<String>,
    /// RDS instance ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// Credentials, only as a Secrets Manager secret ARN (never a password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(SECRET_ARN_PATTERN))]
    pub secret_arn: Option<String>,
    /// The VPC connection (ARN in the target) the data source connects through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_connection_arn: Option<String>,
    /// Turn SSL off (`true`) or on (`false`) for the connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_ssl: Option<bool>,
}

/// Network settings for one VPC connection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VpcConnectionOverride {
    /// The VPC connection ID in the backup.
    #[schemars(required, length(min = 1, max = 1000))]
    pub id: String,
    /// A new display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub name: Option<String>,
    /// Subnets in the target VPC (2–15).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 2, max = 15))]
    pub subnet_ids: Vec<String>,
    /// Security groups in the target VPC (1–16).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 1, max = 16))]
    pub security_group_ids: Vec<String>,
    /// DNS resolver IPv4 addresses (at most 15).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 15))]
    pub dns_resolvers: Vec<String>,
    /// The IAM role QuickSight uses for the VPC connection in the target account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

impl Overrides {
    /// The resource-ID prefix, `""` when none.
    pub fn prefix(&self) -> &str {
        self.resource_id_prefix.as_deref().unwrap_or("")
    }

    pub fn data_source(&self, id: &str) -> Option<&DataSourceOverride> {
        self.data_sources.iter().find(|d| d.id == id)
    }

    pub fn vpc_connection(&self, id: &str) -> Option<&VpcConnectionOverride> {
        self.vpc_connections.iter().find(|d| d.id == id)
    }
}

impl DataSourceOverride {
    /// The connection fields set, as the API's member names and JSON values.
    pub fn connection_fields(&self) -> Vec<(&'static str, Value)> {
        let s =
            |k: &'static str, v: &Option<String>| v.as_ref().map(|v| (k, Value::String(v.clone())));
        [
            s("Host", &self.host),
            self.port.map(|p| ("Port", Value::from(p))),
            s("Database", &self.database),
            s("Warehouse", &self.warehouse),
            s("ClusterId", &self.cluster_id),
            s("WorkGroup", &self.work_group),
            s("Catalog", &self.catalog),
            s("Domain", &self.domain),
            s("SqlEndpointPath", &self.sql_endpoint_path),
            s("InstanceId", &self.instance_id),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// Why an overrides file was refused.
#[derive(Debug, thiserror::Error)]
pub enum OverridesError {
    #[error("{file}: cannot read the file: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: the file is larger than {MAX_OVERRIDES_BYTES} bytes")]
    TooLarge { file: String },
    #[error("{file}: not valid {format}: {message}")]
    Syntax {
        file: String,
        format: &'static str,
        message: String,
    },
    #[error(
        "{file}: {path}: plaintext passwords are not accepted; store the credentials in AWS Secrets Manager and give the secret with `secretArn`"
    )]
    Password { file: String, path: String },
    #[error("{file}: {}", .errors.join("; "))]
    Invalid { file: String, errors: Vec<String> },
}

/// Reads and validates an overrides file (`.json`, else YAML).
pub fn load(path: &Path) -> Result<Overrides, OverridesError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| OverridesError::Io {
        file: file.clone(),
        source,
    })?;
    if bytes.len() > MAX_OVERRIDES_BYTES {
        return Err(OverridesError::TooLarge { file });
    }
    let text = String::from_utf8_lossy(&bytes);
    let json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    parse(&text, &file, json)
}

/// Parses overrides text (JSON when `json`, YAML otherwise; YAML is a superset of JSON).
pub fn parse(text: &str, file: &str, json: bool) -> Result<Overrides, OverridesError> {
    let value: Value = if json {
        serde_json::from_str(text).map_err(|e| OverridesError::Syntax {
            file: file.into(),
            format: "JSON",
            message: e.to_string(),
        })?
    } else if text.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_norway::from_str(text).map_err(|e| OverridesError::Syntax {
            file: file.into(),
            format: "YAML",
            message: e.to_string(),
        })?
    };
    from_value(value, file)
}

/// Validates a parsed document: plaintext passwords first, then the schema, then the types.
pub fn from_value(value: Value, file: &str) -> Result<Overrides, OverridesError> {
    if let Some(path) = find_password(&value, "") {
        return Err(OverridesError::Password {
            file: file.into(),
            path,
        });
    }
    let errors = schema_errors(&value);
    if !errors.is_empty() {
        return Err(OverridesError::Invalid {
            file: file.into(),
            errors,
        });
    }
    let o: Overrides = serde_json::from_value(value).map_err(|e| OverridesError::Invalid {
        file: file.into(),
        errors: vec![e.to_string()],
    })?;
    let mut errors = Vec::new();
    for (what, ids) in [
        (
            "dataSources",
            o.data_sources
                .iter()
                .map(|d| d.id.as_str())
                .collect::<Vec<_>>(),
        ),
        (
            "vpcConnections",
            o.vpc_connections.iter().map(|d| d.id.as_str()).collect(),
        ),
    ] {
        for (i, id) in ids.iter().enumerate() {
            if ids[..i].contains(id) {
                errors.push(format!("{what}[{i}].id: {id} appears more than once"));
            }
        }
    }
    if errors.is_empty() {
        Ok(o)
    } else {
        Err(OverridesError::Invalid {
            file: file.into(),
            errors,
        })
    }
}

/// The path of the first key named `password` (any case), e.g. `dataSources[0].password`.
fn find_password(v: &Value, path: &str) -> Option<String> {
    match v {
        Value::Object(m) => m.iter().find_map(|(k, child)| {
            let here = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            if k.eq_ignore_ascii_case("password") {
                Some(here)
            } else {
                find_password(child, &here)
            }
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, c)| find_password(c, &format!("{path}[{i}]"))),
        _ => None,
    }
}

fn schema_errors(v: &Value) -> Vec<String> {
    static VALIDATOR: OnceLock<Result<jsonschema::Validator, String>> = OnceLock::new();
    let validator = VALIDATOR
        .get_or_init(|| jsonschema::draft202012::new(&schema()).map_err(|e| e.to_string()));
    match validator {
        Ok(val) => val
            .iter_errors(v)
            .map(|e| {
                let path = dotted(e.instance_path().as_str());
                format!(
                    "{}: {e}",
                    if path.is_empty() {
                        "(top level)".into()
                    } else {
                        path
                    }
                )
            })
            .collect(),
        Err(e) => vec![format!("the overrides schema does not compile: {e}")],
    }
}

/// `/dataSources/0/host` → `dataSources[0].host`.
fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if seg.chars().all(|c| c.is_ascii_digit()) && !seg.is_empty() {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

/// The overrides JSON Schema (draft 2020-12), generated from [`Overrides`].
pub fn schema() -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let mut root = generator.into_root_schema_for::<Overrides>().to_value();
    tidy(&mut root);
    let Value::Object(mut m) = root else {
        return root;
    };
    m.insert(
        "$comment".into(),
        Value::String(format!(
            "Generated from the Rust types in runtime/core/src/overrides.rs; do not edit: {REGENERATE_HINT}."
        )),
    );
    // Reading order: `$schema`, `$comment`, `title`, `description`, then the rest.
    let mut out = Map::new();
    for k in [
        "$schema",
        "$comment",
        "title",
        "description",
        "type",
        "additionalProperties",
        "properties",
    ] {
        if let Some(v) = m.remove(k) {
            out.insert(k.into(), v);
        }
    }
    out.extend(m);
    Value::Object(out)
}

/// The schema as committed in `schema/overrides.schema.json` (pretty, trailing newline).
pub fn schema_string() -> String {
    let mut s = serde_json::to_string_pretty(&schema()).unwrap_or_default();
    s.push('\n');
    s
}

/// Optional fields: leave the key out rather than writing `null`; descriptions are joined
/// into one line per paragraph.
fn tidy(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(types)) = m.get("type") {
                let kept: Vec<Value> = types
                    .iter()
                    .filter(|t| t.as_str() != Some("null"))
                    .cloned()
                    .collect();
                if kept.len() == 1 {
                    m.insert("type".into(), kept[0].clone());
                }
            }
            if let Some(Value::String(d)) = m.get_mut("description") {
                *d = d
                    .split("\n\n")
                    .map(|p| p.lines().map(str::trim).collect::<Vec<_>>().join(" "))
                    .collect::<Vec<_>>()
                    .join("\n\n");
            }
            m.values_mut().for_each(tidy);
        }
        Value::Array(items) => items.iter_mut().for_each(tidy),
        _ => {}
    }
}

/// Rewrites user and group ARNs of the source account to the target account, Region and
/// namespace, then applies the explicit mapping of the overrides file.
#[derive(Clone, Debug)]
pub struct PrincipalMapper {
    pub source_account: String,
    pub source_namespace: String,
    pub target_account: String,
    pub target_identity_region: String,
    pub target_namespace: String,
    /// (kind, namespace, name) → target ARN.
    explicit: BTreeMap<(String, String, String), String>,
}

/// A parsed principal ARN: (region, account, kind, namespace, name).
fn parse_principal(s: &str) -> Option<(&str, &str, &str, &str, &str)> {
    let rest = s.strip_prefix("arn:")?;
    let (_partition, rest) = rest.split_once(':')?;
    let rest = rest.strip_prefix("quicksight:")?;
    let (region, rest) = rest.split_once(':')?;
    let (account, rest) = rest.split_once(':')?;
    let (kind, rest) = rest.split_once('/')?;
    if kind != "user" && kind != "group" {
        return None;
    }
    let (ns, name) = rest.split_once('/')?;
    (!name.is_empty()).then_some((region, account, kind, ns, name))
}

impl PrincipalMapper {
    pub fn new(
        overrides: &Overrides,
        source_account: &str,
        source_namespace: &str,
        target_account: &str,
        target_identity_region: &str,
        target_namespace: &str,
    ) -> Result<PrincipalMapper, String> {
        let mut m = PrincipalMapper {
            source_account: source_account.into(),
            source_namespace: source_namespace.into(),
            target_account: target_account.into(),
            target_identity_region: target_identity_region.into(),
            target_namespace: target_namespace.into(),
            explicit: BTreeMap::new(),
        };
        for (from, to) in &overrides.principals {
            let key = match parse_principal(from) {
                Some((_, _, kind, ns, name)) => {
                    (kind.to_string(), ns.to_string(), name.to_string())
                }
                None => match from.split_once('/') {
                    Some((kind @ ("user" | "group"), name)) if !name.is_empty() => (
                        kind.to_string(),
                        source_namespace.to_string(),
                        name.to_string(),
                    ),
                    _ => {
                        return Err(format!(
                            "principals: {from} is neither a principal ARN nor group/NAME or user/NAME"
                        ));
                    }
                },
            };
            let value = if parse_principal(to).is_some() {
                to.clone()
            } else {
                match to.split_once('/') {
                    Some((kind @ ("user" | "group"), name)) if !name.is_empty() => {
                        m.target_arn(kind, name)
                    }
                    _ => {
                        return Err(format!(
                            "principals: {to} is neither a principal ARN nor group/NAME or user/NAME"
                        ));
                    }
                }
            };
            m.explicit.insert(key, value);
        }
        Ok(m)
    }

    fn target_arn(&self, kind: &str, name: &str) -> String {
        format!(
            "arn:aws:quicksight:{}:{}:{kind}/{}/{name}",
            self.target_identity_region, self.target_account, self.target_namespace
        )
    }

    /// The target principal for `s`, when `s` is a principal of the source account.
    pub fn map(&self, s: &str) -> Option<String> {
        let (_, account, kind, ns, name) = parse_principal(s)?;
        if let Some(to) = self
            .explicit
            .get(&(kind.to_string(), ns.to_string(), name.to_string()))
        {
            return Some(to.clone());
        }
        (account == self.source_account && ns == self.source_namespace)
            .then(|| self.target_arn(kind, name))
    }

    /// Rewrites every principal string in `v`; returns how many changed.
    pub fn rewrite(&self, v: &mut Value) -> usize {
        match v {
            Value::String(s) => match self.map(s) {
                Some(n) if n != *s => {
                    *s = n;
                    1
                }
                _ => 0,
            },
            Value::Array(items) => items.iter_mut().map(|i| self.rewrite(i)).sum(),
            Value::Object(m) => m.values_mut().map(|i| self.rewrite(i)).sum(),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_password_anywhere_is_refused_with_its_path() {
        let text =
            "dataSources:\n  - id: ds-1\n    host: h\n    credentials:\n      Password: hunter2\n";
        let err = parse(text, "o.yaml", false).unwrap_err();
        assert!(
            matches!(&err, OverridesError::Password { path, .. } if path == "dataSources[0].credentials.Password"),
            "{err}"
        );
        assert!(err.to_string().contains("Secrets Manager"));
    }

    #[test]
    fn unknown_keys_bad_secrets_and_duplicates_are_refused() {
        let err = parse(r#"{"dataSources":[{"id":"a","hots":"x"}]}"#, "o.json", true).unwrap_err();
        assert!(err.to_string().contains("dataSources[0]"), "{err}");
        let err = parse(
            r#"{"dataSources":[{"id":"a","secretArn":"plain"}]}"#,
            "o.json",
            true,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("dataSources[0].secretArn"),
            "{err}"
        );
        let err = parse(r#"{"dataSources":[{"id":"a"},{"id":"a"}]}"#, "o.json", true).unwrap_err();
        assert!(err.to_string().contains("more than once"), "{err}");
        let ok = parse(
            "resourceIdPrefix: dr-\ntags: {restored: 'yes'}\n",
            "o.yaml",
            false,
        )
        .unwrap();
        assert_eq!(ok.prefix(), "dr-");
    }

    #[test]
    fn principals_move_to_the_target_account_and_namespace() {
        let o = Overrides {
            principals: [("group/admins".to_string(), "group/dr-admins".to_string())].into(),
            ..Overrides::default()
        };
        let m = PrincipalMapper::new(
            &o,
            "123456789012",
            "default",
            "210987654321",
            "eu-west-1",
            "dr",
        )
        .unwrap();
        assert_eq!(
            m.map("arn:aws:quicksight:us-east-1:123456789012:group/default/analysts")
                .as_deref(),
            Some("arn:aws:quicksight:eu-west-1:210987654321:group/dr/analysts")
        );
        assert_eq!(
            m.map("arn:aws:quicksight:us-east-1:123456789012:user/default/role/Admin Session")
                .as_deref(),
            Some("arn:aws:quicksight:eu-west-1:210987654321:user/dr/role/Admin Session")
        );
        assert_eq!(
            m.map("arn:aws:quicksight:us-east-1:123456789012:group/default/admins")
                .as_deref(),
            Some("arn:aws:quicksight:eu-west-1:210987654321:group/dr/dr-admins")
        );
        assert_eq!(
            m.map("arn:aws:quicksight:us-east-1:123456789012:dashboard/d1"),
            None
        );
    }
}
