//! The restore plan: what will be created, updated or skipped, in which import jobs, from which
//! bundles, with which overrides — plain data with a digest, so a reviewer can approve exactly
//! what runs. The functions here are pure (selection, actions, job grouping, digest).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use globset::GlobBuilder;
use qsbackup_policy::AssetType;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::source::split_key;
use crate::overrides::{Overrides, VpcConnectionOverride};

/// The plan format; `run` refuses plans of another format.
pub const RESTORE_PLAN_FORMAT: u32 = 1;
/// At most this many assets go into one import job (components larger than this stay whole).
pub const JOB_ASSETS: usize = 100;
/// QuickSight accepts at most 50 entries per type in `OverrideParameters`.
pub const MAX_OVERRIDES_PER_TYPE: usize = 50;

/// Which assets to restore. Empty criteria match everything; all given criteria must match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Selection {
    pub types: Vec<AssetType>,
    pub ids: Vec<String>,
    /// Name globs, case-insensitive.
    pub names: Vec<String>,
    /// Tag key → value (`*` for any value).
    pub tags: BTreeMap<String, String>,
    /// Also restore what the selected assets depend on (changed or missing ones only).
    pub follow_dependencies: bool,
}

impl Default for Selection {
    fn default() -> Self {
        Selection {
            types: vec![],
            ids: vec![],
            names: vec![],
            tags: BTreeMap::new(),
            follow_dependencies: true,
        }
    }
}

/// What QuickSight does when an import job fails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailureAction {
    /// Undo every change of the failed job (the default).
    #[default]
    Rollback,
    /// Keep whatever the failed job managed to import.
    DoNothing,
}

/// Where a restore goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreTarget {
    pub account: String,
    pub region: String,
    /// The Region that holds the target account's users and groups.
    pub identity_region: String,
    pub namespace: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    Create,
    Update,
    Skip,
}

/// One asset of the run the plan considered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedAsset {
    #[serde(rename = "type")]
    pub kind: AssetType,
    pub id: String,
    /// The ID in the target (with the resource-ID prefix).
    pub target_id: String,
    pub name: String,
    pub action: Action,
    pub reason: String,
    /// The import job that restores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<u32>,
}

impl PlannedAsset {
    pub fn key(&self) -> String {
        super::source::asset_key(self.kind, &self.id)
    }
}

/// The connection override of one data source, resolved against its backed-up parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedDataSource {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `{"<Variant>Parameters": {...}}` as the API names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_connection_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_ssl: Option<bool>,
}

/// One import job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedJob {
    pub index: u32,
    pub job_id: String,
    /// Asset keys (`<type>/<id>`) in dependency order.
    pub assets: Vec<String>,
    /// The backed-up bundles its entries come from.
    pub bundles: Vec<String>,
    /// The bundle is imported as it was backed up (its layout was not recognised).
    #[serde(default)]
    pub whole_bundle: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_sources: Vec<ResolvedDataSource>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vpc_connections: Vec<VpcConnectionOverride>,
}

/// A bundle the restore reads, as the manifest records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleRef {
    pub key: String,
    pub sha256: String,
    pub size: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdentityAction {
    Create,
    /// Already in the target.
    Skip,
    /// Not done; `reason` says why (e.g. registering users needs confirmation).
    Blocked,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedIdentity {
    /// `group`, `user` or `membership`.
    pub kind: String,
    /// Group or user name; `group/member` for memberships.
    pub name: String,
    pub action: IdentityAction,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// Everything a restore will do. `digest` covers every other field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestorePlan {
    pub format: u32,
    pub restore_id: String,
    pub created_at: String,
    pub run_id: String,
    pub source_account: String,
    pub source_region: String,
    pub source_namespace: String,
    pub manifest_sha256: String,
    pub target: RestoreTarget,
    pub failure_action: FailureAction,
    pub overrides: Overrides,
    pub bundles: Vec<BundleRef>,
    /// In dependency order: VPC connections, data sources, data sets, themes, analyses,
    /// dashboards, folders.
    pub assets: Vec<PlannedAsset>,
    pub jobs: Vec<PlannedJob>,
    pub identities: Vec<PlannedIdentity>,
    /// Notes for the reviewer (e.g. why bundles are imported whole).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub digest: String,
}

impl RestorePlan {
    /// SHA-256 of the plan's canonical JSON with an empty digest.
    pub fn compute_digest(&self) -> String {
        let mut copy = self.clone();
        copy.digest = String::new();
        super::source::sha256_hex(&serde_json::to_vec(&copy).unwrap_or_default())
    }

    pub fn count(&self, action: Action) -> usize {
        self.assets.iter().filter(|a| a.action == action).count()
    }

    /// Whether running the plan would change nothing.
    pub fn is_noop(&self) -> bool {
        self.jobs.is_empty()
            && self
                .identities
                .iter()
                .all(|i| i.action != IdentityAction::Create)
    }
}

/// Dependency order of types (what the plan lists first).
pub fn rank(t: AssetType) -> u8 {
    match t {
        AssetType::VpcConnection => 0,
        AssetType::Datasource => 1,
        AssetType::Dataset => 2,
        AssetType::Theme => 3,
        AssetType::Analysis => 4,
        AssetType::Dashboard => 5,
        AssetType::Folder => 6,
    }
}

/// Sort key for asset keys in dependency order.
pub fn order_key(key: &str) -> (u8, &str) {
    split_key(key).map_or((9, key), |(k, id)| (rank(k), id))
}

/// An asset of the run as selection sees it.
pub struct Candidate<'a> {
    pub key: String,
    pub kind: AssetType,
    pub id: &'a str,
    pub name: &'a str,
    pub tags: BTreeMap<String, String>,
}

/// The keys the selection matches (before dependencies).
pub fn select(sel: &Selection, candidates: &[Candidate<'_>]) -> Result<BTreeSet<String>, String> {
    let globs = sel
        .names
        .iter()
        .map(|g| {
            GlobBuilder::new(g)
                .case_insensitive(true)
                .build()
                .map(|g| g.compile_matcher())
                .map_err(|e| format!("name glob {g:?}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(candidates
        .iter()
        .filter(|c| sel.types.is_empty() || sel.types.contains(&c.kind))
        .filter(|c| sel.ids.is_empty() || sel.ids.iter().any(|i| i == c.id))
        .filter(|c| globs.is_empty() || globs.iter().any(|g| g.is_match(c.name)))
        .filter(|c| {
            sel.tags
                .iter()
                .all(|(k, v)| c.tags.get(k).is_some_and(|x| v == "*" || x == v))
        })
        .map(|c| c.key.clone())
        .collect())
}

/// `start` plus everything reachable through `deps`.
pub fn closure(
    start: &BTreeSet<String>,
    deps: &HashMap<String, BTreeSet<String>>,
) -> BTreeSet<String> {
    let mut out = start.clone();
    let mut stack: Vec<String> = start.iter().cloned().collect();
    while let Some(k) = stack.pop() {
        for d in deps.get(&k).into_iter().flatten() {
            if out.insert(d.clone()) {
                stack.push(d.clone());
            }
        }
    }
    out
}

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

/// Groups the assets to import into jobs: assets linked by a dependency share a job (so each
/// job is self-contained and each asset is imported once); small groups are packed together up
/// to [`JOB_ASSETS`]. Deterministic; each job lists its assets in dependency order.
pub fn group_jobs(
    keys: &BTreeSet<String>,
    deps: &HashMap<String, BTreeSet<String>>,
) -> Vec<Vec<String>> {
    let list: Vec<&String> = keys.iter().collect();
    let index: HashMap<&str, usize> = list
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let mut parent: Vec<usize> = (0..list.len()).collect();
    for (i, k) in list.iter().enumerate() {
        for d in deps.get(*k).into_iter().flatten() {
            if let Some(&j) = index.get(d.as_str()) {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                if a != b {
                    parent[a.max(b)] = a.min(b);
                }
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (i, k) in list.iter().enumerate() {
        let root = find(&mut parent, i);
        groups.entry(root).or_default().push((*k).clone());
    }
    let mut groups: Vec<Vec<String>> = groups.into_values().collect();
    groups.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a[0].cmp(&b[0])));
    let mut jobs: Vec<Vec<String>> = Vec::new();
    for g in groups {
        match jobs.iter_mut().find(|j| j.len() + g.len() <= JOB_ASSETS) {
            Some(j) => j.extend(g),
            None => jobs.push(g),
        }
    }
    for j in &mut jobs {
        j.sort_by(|a, b| order_key(a).cmp(&order_key(b)));
    }
    jobs
}

/// The API variant member for a data source type, e.g. `REDSHIFT` → `RedshiftParameters`.
pub fn variant_for_type(t: &str) -> Option<&'static str> {
    Some(match t {
        "ATHENA" => "AthenaParameters",
        "REDSHIFT" => "RedshiftParameters",
        "POSTGRESQL" => "PostgreSqlParameters",
        "MYSQL" => "MySqlParameters",
        "MARIADB" => "MariaDbParameters",
        "AURORA" => "AuroraParameters",
        "AURORA_POSTGRESQL" => "AuroraPostgreSqlParameters",
        "SQLSERVER" => "SqlServerParameters",
        "ORACLE" => "OracleParameters",
        "SNOWFLAKE" => "SnowflakeParameters",
        "DATABRICKS" => "DatabricksParameters",
        "PRESTO" => "PrestoParameters",
        "TRINO" => "TrinoParameters",
        "STARBURST" => "StarburstParameters",
        "SPARK" => "SparkParameters",
        "TERADATA" => "TeradataParameters",
        "AMAZON_OPENSEARCH" => "AmazonOpenSearchParameters",
        _ => return None,
    })
}

/// The backed-up connection parameters in a data source document, `{"<Variant>": {...}}`.
pub fn doc_parameters(doc: &Value) -> Option<(String, serde_json::Map<String, Value>)> {
    fn find(v: &Value) -> Option<&Value> {
        let m = v.as_object()?;
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("DataSourceParameters"))
            .map(|(_, v)| v)
            .or_else(|| m.values().find_map(find))
    }
    let (variant, fields) = find(doc)?.as_object()?.iter().next()?;
    Some((variant.clone(), fields.as_object()?.clone()))
}

/// The type of a data source document (`Type`), if recorded.
pub fn doc_type(doc: &Value) -> Option<String> {
    fn find(v: &Value, depth: u8) -> Option<String> {
        let m = v.as_object()?;
        m.get("Type")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| {
                (depth < 2)
                    .then(|| m.values().find_map(|c| find(c, depth + 1)))
                    .flatten()
            })
    }
    find(doc, 0)
}

/// Merges a data source override into the backed-up parameters of that data source.
pub fn resolve_data_source(
    o: &crate::overrides::DataSourceOverride,
    doc: Option<&Value>,
) -> Result<ResolvedDataSource, String> {
    let fields = o.connection_fields();
    let parameters = if fields.is_empty() {
        None
    } else {
        let (variant, mut base) = match doc.and_then(doc_parameters) {
            Some(p) => p,
            None => {
                let t = o.kind.clone().or_else(|| doc.and_then(doc_type)).ok_or_else(|| {
                    format!("data source {}: its connection parameters are not readable from the bundle; give its `type`", o.id)
                })?;
                let v = variant_for_type(&t).ok_or_else(|| {
                    format!(
                        "data source {}: connection overrides for type {t} are not supported",
                        o.id
                    )
                })?;
                (v.to_string(), serde_json::Map::new())
            }
        };
        for (k, v) in fields {
            base.insert(k.to_string(), v);
        }
        Some(serde_json::json!({ variant: base }))
    };
    Ok(ResolvedDataSource {
        id: o.id.clone(),
        name: o.name.clone(),
        parameters,
        secret_arn: o.secret_arn.clone(),
        vpc_connection_arn: o.vpc_connection_arn.clone(),
        disable_ssl: o.disable_ssl,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn set(keys: &[&str]) -> BTreeSet<String> {
        keys.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn linked_assets_share_a_job_and_jobs_list_dependencies_first() {
        let deps: HashMap<String, BTreeSet<String>> = [
            ("dashboard/d1".to_string(), set(&["dataset/ds1", "theme/t"])),
            ("dataset/ds1".to_string(), set(&["datasource/src"])),
            ("dashboard/d2".to_string(), set(&["dataset/other"])),
        ]
        .into();
        let keys = set(&[
            "dashboard/d1",
            "dataset/ds1",
            "datasource/src",
            "dashboard/d2",
            "folder/f",
        ]);
        let jobs = group_jobs(&keys, &deps);
        assert_eq!(jobs.len(), 1, "small groups are packed into one job");
        assert_eq!(
            jobs[0],
            [
                "datasource/src",
                "dataset/ds1",
                "dashboard/d1",
                "dashboard/d2",
                "folder/f"
            ]
        );
        let many: BTreeSet<String> = (0..250).map(|i| format!("dashboard/d{i:03}")).collect();
        let jobs = group_jobs(&many, &HashMap::new());
        assert_eq!(
            jobs.iter().map(Vec::len).collect::<Vec<_>>(),
            [100, 100, 50]
        );
    }

    #[test]
    fn selection_by_type_id_glob_and_tag() {
        let c = |key: &str, name: &'static str, tags: &[(&str, &str)]| {
            let (kind, _) = split_key(key).unwrap();
            Candidate {
                key: key.to_string(),
                kind,
                id: key.split_once('/').unwrap().1.to_string().leak(),
                name,
                tags: tags
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            }
        };
        let all = vec![
            c("dashboard/a", "Sales Overview", &[("team", "sales")]),
            c("dashboard/b", "Ops", &[("team", "ops")]),
            c("dataset/c", "Sales", &[]),
        ];
        let sel = Selection {
            names: vec!["sales*".into()],
            ..Selection::default()
        };
        assert_eq!(
            select(&sel, &all).unwrap(),
            set(&["dashboard/a", "dataset/c"])
        );
        let sel = Selection {
            types: vec![AssetType::Dashboard],
            tags: [("team".into(), "*".into())].into(),
            ..Selection::default()
        };
        assert_eq!(
            select(&sel, &all).unwrap(),
            set(&["dashboard/a", "dashboard/b"])
        );
        let sel = Selection {
            ids: vec!["b".into()],
            ..Selection::default()
        };
        assert_eq!(select(&sel, &all).unwrap(), set(&["dashboard/b"]));
    }

    #[test]
    fn data_source_overrides_merge_into_the_backed_up_parameters() {
        let doc = serde_json::json!({"properties": {"Type": "REDSHIFT", "DataSourceParameters": {"RedshiftParameters": {"Host": "old", "Port": 5439, "Database": "dev"}}}});
        let o = crate::overrides::DataSourceOverride {
            id: "src".into(),
            host: Some("new".into()),
            ..Default::default()
        };
        let r = resolve_data_source(&o, Some(&doc)).unwrap();
        assert_eq!(
            r.parameters.unwrap(),
            serde_json::json!({"RedshiftParameters": {"Host": "new", "Port": 5439, "Database": "dev"}})
        );
        let err = resolve_data_source(&o, None).unwrap_err();
        assert!(err.contains("give its `type`"), "{err}");
    }
}
