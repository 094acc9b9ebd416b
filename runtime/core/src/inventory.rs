//! Discovery: list every asset in scope (paginated, types in parallel, each list walked once),
//! learn dependencies, classify what asset bundles cannot export (with a reason each), and
//! collect tags and folder paths only when the selection rules need them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_quicksight::types::{DataSourceParameters, DataSourceType, ResourceStatus, ThemeType};
use futures::{StreamExt, TryStreamExt};
use qsbackup_policy::{AssetType, Policy};
use serde::{Deserialize, Serialize};

use crate::Engine;
use crate::qs::{QsError, paginate, retry, sdk};

/// One QuickSight asset as the plan and the manifest see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Asset {
    #[serde(rename = "type")]
    pub kind: AssetType,
    pub id: String,
    pub arn: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
    /// ARNs this asset needs (data sets of a dashboard, data sources of a data set, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deps: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Name paths of the folders that hold this asset, e.g. `Finance/Critical`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub folders: Vec<String>,
}

/// An asset that will not be exported, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Skipped {
    #[serde(rename = "type")]
    pub kind: AssetType,
    pub id: String,
    pub arn: String,
    pub name: String,
    pub reason: String,
}

/// Everything discovery found: exportable assets, and the others with the reason (kept whole,
/// so selection rules apply to them the same way).
#[derive(Clone, Debug, Default)]
pub struct Inventory {
    pub assets: Vec<Asset>,
    pub skipped: Vec<(Asset, String)>,
}

impl Skipped {
    pub fn new(a: &Asset, reason: &str) -> Skipped {
        Skipped {
            kind: a.kind,
            id: a.id.clone(),
            arn: a.arn.clone(),
            name: a.name.clone(),
            reason: reason.to_string(),
        }
    }
}

/// Data source types that asset bundle jobs cannot export (QuickSight developer guide).
pub const UNSUPPORTED_DATA_SOURCES: [&str; 7] = [
    "ADOBE_ANALYTICS",
    "FILE",
    "GITHUB",
    "JIRA",
    "SALESFORCE",
    "SERVICENOW",
    "TWITTER",
];

/// Page size for every List call (the service maximum).
const PAGE: i32 = 100;
/// Describe / ListTags calls in flight at once during discovery.
const DESCRIBE_CONCURRENCY: usize = 8;

fn ts(t: Option<&aws_smithy_types::DateTime>) -> Option<String> {
    t.and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
}

fn asset(
    kind: AssetType,
    id: Option<&str>,
    arn: Option<&str>,
    name: Option<&str>,
) -> Option<Asset> {
    Some(Asset {
        kind,
        id: id?.to_string(),
        arn: arn?.to_string(),
        name: name.unwrap_or_default().to_string(),
        last_updated: None,
        deps: Vec::new(),
        tags: BTreeMap::new(),
        folders: Vec::new(),
    })
}

/// Types that must be listed to export `wanted` correctly: dependencies decide what is exportable.
fn types_to_list(wanted: &[AssetType]) -> BTreeSet<AssetType> {
    let mut set: BTreeSet<AssetType> = wanted.iter().copied().collect();
    if set
        .iter()
        .any(|t| matches!(t, AssetType::Dashboard | AssetType::Analysis))
    {
        set.insert(AssetType::Dataset);
    }
    if set.contains(&AssetType::Dataset) {
        set.insert(AssetType::Datasource);
    }
    set
}

impl Engine {
    /// Lists, describes and classifies every asset in scope. Tags and folders are read only
    /// when `need_tags` / `need_folders`.
    pub async fn inventory(
        &self,
        need_tags: bool,
        need_folders: bool,
    ) -> Result<Inventory, QsError> {
        let wanted = types_to_list(&self.policy.selection.asset_types);
        let lists =
            futures::future::try_join_all(wanted.iter().map(|t| self.list_type(*t))).await?;
        let mut all: Vec<(Asset, Option<String>)> = lists.into_iter().flatten().collect();

        // Dependencies: one Describe per data set, analysis and dashboard that changed since the
        // previous run's plan (its assets carry their dependencies and last-updated times).
        let known = self.previous_dependencies().await;
        let mut to_describe: Vec<(AssetType, String, String)> = Vec::new();
        for (a, _) in &mut all {
            if !matches!(
                a.kind,
                AssetType::Dataset | AssetType::Analysis | AssetType::Dashboard
            ) {
                continue;
            }
            match known.get(&a.arn) {
                Some((updated, deps)) if a.last_updated.is_some() && *updated == a.last_updated => {
                    a.deps.extend(deps.iter().cloned());
                }
                _ => to_describe.push((a.kind, a.id.clone(), a.arn.clone())),
            }
        }
        let deps: HashMap<String, Result<Vec<String>, String>> =
            futures::stream::iter(to_describe)
                .map(|(kind, id, arn)| async move {
                    self.describe_deps(kind, &id).await.map(|d| (arn, d))
                })
                .buffer_unordered(DESCRIBE_CONCURRENCY)
                .try_collect()
                .await?;
        for (a, reason) in &mut all {
            match deps.get(&a.arn) {
                Some(Ok(d)) => a.deps.extend(d.iter().cloned()),
                Some(Err(why)) => *reason = Some(why.clone()),
                None => {}
            }
            a.deps.sort();
            a.deps.dedup();
        }

        if need_tags {
            let tags: HashMap<String, BTreeMap<String, String>> =
                futures::stream::iter(all.iter().map(|(a, _)| a.arn.clone()).collect::<Vec<_>>())
                    .map(|arn| async move { self.tags(&arn).await.map(|t| (arn, t)) })
                    .buffer_unordered(DESCRIBE_CONCURRENCY)
                    .try_collect()
                    .await?;
            for (a, _) in &mut all {
                a.tags = tags.get(&a.arn).cloned().unwrap_or_default();
            }
        }
        if need_folders {
            let membership = self.folder_membership().await?;
            for (a, _) in &mut all {
                a.folders = membership.get(&a.arn).cloned().unwrap_or_default();
            }
        }
        Ok(classify(all))
    }

    /// Dependencies recorded in the newest earlier plan of this scope: ARN → (last updated, deps).
    /// Best effort: nothing found or unreadable means everything is described again.
    async fn previous_dependencies(&self) -> HashMap<String, (Option<String>, Vec<String>)> {
        let runs = self
            .store
            .list_dirs(&self.scope.runs())
            .await
            .unwrap_or_default();
        for run in runs
            .iter()
            .rev()
            .filter(|r| crate::layout::is_run_id(r))
            .take(3)
        {
            let Ok(Some(bytes)) = self.store.get(&self.scope.run(run).plan()).await else {
                continue;
            };
            let Ok(plan) = serde_json::from_slice::<crate::plan::Plan>(&bytes) else {
                continue;
            };
            return plan
                .batches
                .into_iter()
                .flat_map(|b| b.assets)
                .map(|a| (a.arn, (a.last_updated, a.deps)))
                .collect();
        }
        HashMap::new()
    }

    async fn list_type(&self, kind: AssetType) -> Result<Vec<(Asset, Option<String>)>, QsError> {
        self.list_assets(&self.qs, &self.scope.account, kind).await
    }

    /// Every asset of `kind` in `acct` through `qs` (one walk of the List call), each with the
    /// reason it cannot be exported, if any. Restore lists its target account with it too.
    pub(crate) async fn list_assets(
        &self,
        qs: &aws_sdk_quicksight::Client,
        acct: &str,
        kind: AssetType,
    ) -> Result<Vec<(Asset, Option<String>)>, QsError> {
        let assets = match kind {
            AssetType::Dashboard => paginate!(
                self,
                "ListDashboards",
                qs.list_dashboards().aws_account_id(acct),
                dashboard_summary_list,
                |d| {
                    asset(kind, d.dashboard_id(), d.arn(), d.name()).map(|mut a| {
                        a.last_updated = ts(d.last_updated_time());
                        (a, None)
                    })
                }
            ),
            AssetType::Analysis => paginate!(
                self,
                "ListAnalyses",
                qs.list_analyses().aws_account_id(acct),
                analysis_summary_list,
                |d| {
                    (d.status() != Some(&ResourceStatus::Deleted))
                        .then(|| {
                            asset(kind, d.analysis_id(), d.arn(), d.name()).map(|mut a| {
                                a.last_updated = ts(d.last_updated_time());
                                (a, None)
                            })
                        })
                        .flatten()
                }
            ),
            AssetType::Dataset => paginate!(
                self,
                "ListDataSets",
                qs.list_data_sets().aws_account_id(acct),
                data_set_summaries,
                |d| {
                    asset(kind, d.data_set_id(), d.arn(), d.name()).map(|mut a| {
                        a.last_updated = ts(d.last_updated_time());
                        (a, None)
                    })
                }
            ),
            AssetType::Datasource => paginate!(
                self,
                "ListDataSources",
                qs.list_data_sources().aws_account_id(acct),
                data_sources,
                |d| {
                    asset(kind, d.data_source_id(), d.arn(), d.name()).map(|mut a| {
                        a.last_updated = ts(d.last_updated_time());
                        if let Some(v) = d.vpc_connection_properties() {
                            a.deps.push(v.vpc_connection_arn().to_string());
                        }
                        (
                            a,
                            unsupported_data_source(d.r#type(), d.data_source_parameters()),
                        )
                    })
                }
            ),
            AssetType::Theme => paginate!(
                self,
                "ListThemes",
                qs.list_themes()
                    .aws_account_id(acct)
                    .r#type(ThemeType::Custom),
                theme_summary_list,
                |d| {
                    asset(kind, d.theme_id(), d.arn(), d.name()).map(|mut a| {
                        a.last_updated = ts(d.last_updated_time());
                        (a, None)
                    })
                }
            ),
            AssetType::Folder => paginate!(
                self,
                "ListFolders",
                qs.list_folders().aws_account_id(acct),
                folder_summary_list,
                |d| {
                    asset(kind, d.folder_id(), d.arn(), d.name()).map(|mut a| {
                        a.last_updated = ts(d.last_updated_time());
                        (a, None)
                    })
                }
            ),
            AssetType::VpcConnection => paginate!(
                self,
                "ListVPCConnections",
                qs.list_vpc_connections().aws_account_id(acct),
                vpc_connection_summaries,
                |d| {
                    asset(kind, d.vpc_connection_id(), d.arn(), d.name()).map(|mut a| {
                        a.last_updated = ts(d.last_updated_time());
                        (a, None)
                    })
                }
            ),
        };
        Ok(assets)
    }

    /// The ARNs an asset depends on, or why it cannot be exported.
    async fn describe_deps(
        &self,
        kind: AssetType,
        id: &str,
    ) -> Result<Result<Vec<String>, String>, QsError> {
        let (qs, acct, rs) = (&self.qs, self.scope.account.as_str(), &self.settings.retry);
        let mut deps = Vec::new();
        match kind {
            AssetType::Dashboard => {
                let out = retry("DescribeDashboard", rs, &self.stats, &[], || async {
                    sdk(
                        "DescribeDashboard",
                        qs.describe_dashboard()
                            .aws_account_id(acct)
                            .dashboard_id(id)
                            .send()
                            .await,
                    )
                })
                .await?;
                if let Some(v) = out.dashboard().and_then(|d| d.version()) {
                    deps.extend(v.data_set_arns().iter().cloned());
                    deps.extend(v.theme_arn().map(str::to_string));
                }
            }
            AssetType::Analysis => {
                let out = retry("DescribeAnalysis", rs, &self.stats, &[], || async {
                    sdk(
                        "DescribeAnalysis",
                        qs.describe_analysis()
                            .aws_account_id(acct)
                            .analysis_id(id)
                            .send()
                            .await,
                    )
                })
                .await?;
                if let Some(a) = out.analysis() {
                    deps.extend(a.data_set_arns().iter().cloned());
                    deps.extend(a.theme_arn().map(str::to_string));
                }
            }
            AssetType::Dataset => {
                let out = retry("DescribeDataSet", rs, &self.stats, &[], || async {
                    sdk(
                        "DescribeDataSet",
                        qs.describe_data_set()
                            .aws_account_id(acct)
                            .data_set_id(id)
                            .send()
                            .await,
                    )
                })
                .await;
                // Data sets built from uploaded files cannot be described (nor exported).
                let out = match out {
                    Err(e) if e.code.as_deref() == Some("InvalidParameterValueException") => {
                        return Ok(Err(format!(
                            "data set cannot be read through the API ({})",
                            e.message
                        )));
                    }
                    other => other?,
                };
                if let Some(d) = out.data_set() {
                    for t in d.physical_table_map().into_iter().flat_map(|m| m.values()) {
                        if let Ok(r) = t.as_relational_table() {
                            deps.push(r.data_source_arn().to_string());
                        } else if let Ok(c) = t.as_custom_sql() {
                            deps.push(c.data_source_arn().to_string());
                        } else if let Ok(s) = t.as_s3_source() {
                            deps.push(s.data_source_arn().to_string());
                        }
                    }
                    for l in d.logical_table_map().into_iter().flat_map(|m| m.values()) {
                        deps.extend(
                            l.source()
                                .and_then(|s| s.data_set_arn())
                                .map(str::to_string),
                        );
                    }
                    deps.extend(
                        d.row_level_permission_data_set()
                            .map(|r| r.arn().to_string()),
                    );
                }
            }
            _ => {}
        }
        Ok(Ok(deps))
    }

    async fn tags(&self, arn: &str) -> Result<BTreeMap<String, String>, QsError> {
        let out = retry(
            "ListTagsForResource",
            &self.settings.retry,
            &self.stats,
            &[],
            || async {
                sdk(
                    "ListTagsForResource",
                    self.qs
                        .list_tags_for_resource()
                        .resource_arn(arn)
                        .send()
                        .await,
                )
            },
        )
        .await?;
        Ok(out
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect())
    }

    /// For each member ARN, the name paths of the folders holding it (sub-folders included).
    async fn folder_membership(&self) -> Result<HashMap<String, Vec<String>>, QsError> {
        let (qs, acct, rs) = (&self.qs, self.scope.account.as_str(), &self.settings.retry);
        let folders = self.list_type(AssetType::Folder).await?;
        let names: HashMap<String, String> = folders
            .iter()
            .map(|(f, _)| (f.arn.clone(), f.name.clone()))
            .collect();
        let ids: Vec<(String, String, String)> = folders
            .iter()
            .map(|(f, _)| (f.id.clone(), f.arn.clone(), f.name.clone()))
            .collect();
        let described: Vec<(String, String, Vec<String>, Vec<String>)> = futures::stream::iter(ids)
            .map(|(id, arn, name)| async move {
                let d = retry("DescribeFolder", rs, &self.stats, &[], || async {
                    sdk(
                        "DescribeFolder",
                        qs.describe_folder()
                            .aws_account_id(acct)
                            .folder_id(&id)
                            .send()
                            .await,
                    )
                })
                .await?;
                let ancestors: Vec<String> = d
                    .folder()
                    .map(|f| f.folder_path().to_vec())
                    .unwrap_or_default();
                let mut members = Vec::new();
                let mut token: Option<String> = None;
                loop {
                    let page = retry("ListFolderMembers", rs, &self.stats, &[], || {
                        let req = qs
                            .list_folder_members()
                            .aws_account_id(acct)
                            .folder_id(&id)
                            .max_results(PAGE)
                            .set_next_token(token.clone());
                        async move { sdk("ListFolderMembers", req.send().await) }
                    })
                    .await?;
                    members.extend(
                        page.folder_member_list()
                            .iter()
                            .filter_map(|m| m.member_arn().map(str::to_string)),
                    );
                    match page.next_token() {
                        Some(t) if !t.is_empty() && Some(t) != token.as_deref() => {
                            token = Some(t.to_string())
                        }
                        _ => break,
                    }
                }
                Ok::<_, QsError>((arn, name, ancestors, members))
            })
            .buffer_unordered(DESCRIBE_CONCURRENCY)
            .try_collect()
            .await?;
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for (_, name, ancestors, members) in &described {
            let mut path: Vec<&str> = ancestors
                .iter()
                .map(|a| names.get(a).map(String::as_str).unwrap_or("?"))
                .collect();
            path.push(name);
            // A member of Finance/Critical is also "in" Finance.
            for depth in 1..=path.len() {
                let p = path[..depth].join("/");
                for m in members {
                    let v = out.entry(m.clone()).or_default();
                    if !v.contains(&p) {
                        v.push(p.clone());
                    }
                }
            }
        }
        for v in out.values_mut() {
            v.sort();
        }
        Ok(out)
    }
}

/// Why a data source cannot be exported, if it cannot.
fn unsupported_data_source(
    kind: Option<&DataSourceType>,
    params: Option<&DataSourceParameters>,
) -> Option<String> {
    let kind = kind?;
    let name = kind.as_str();
    if UNSUPPORTED_DATA_SOURCES.contains(&name) {
        return Some(format!(
            "data source type {name} is not supported by asset bundle export"
        ));
    }
    if *kind == DataSourceType::S3 && !matches!(params, Some(DataSourceParameters::S3Parameters(_)))
    {
        return Some(
            "S3 data source created from an uploaded file is not supported by asset bundle export"
                .into(),
        );
    }
    None
}

/// Marks unsupported data sources, then everything that depends on a skipped asset.
fn classify(all: Vec<(Asset, Option<String>)>) -> Inventory {
    let mut reasons: HashMap<String, String> = all
        .iter()
        .filter_map(|(a, r)| r.clone().map(|r| (a.arn.clone(), r)))
        .collect();
    // Propagate through dependencies until nothing changes (chains are short).
    loop {
        let mut changed = false;
        for (a, _) in &all {
            if reasons.contains_key(&a.arn) {
                continue;
            }
            if let Some(dep) = a.deps.iter().find(|d| reasons.contains_key(*d)) {
                let dep_name = all
                    .iter()
                    .find(|(x, _)| &x.arn == dep)
                    .map(|(x, _)| format!("{} {}", x.kind, x.id))
                    .unwrap_or_else(|| dep.clone());
                reasons.insert(a.arn.clone(), format!("depends on unsupported {dep_name}"));
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut inv = Inventory::default();
    for (a, _) in all {
        match reasons.get(&a.arn) {
            Some(reason) => inv.skipped.push((a, reason.clone())),
            None => inv.assets.push(a),
        }
    }
    inv.assets.sort_by(|a, b| a.arn.cmp(&b.arn));
    inv.skipped.sort_by(|a, b| a.0.arn.cmp(&b.0.arn));
    inv
}

/// Whether the policy's rules need tags / folders read from QuickSight.
pub fn needs(policy: &Policy) -> (bool, bool) {
    let rules = policy
        .selection
        .include
        .iter()
        .chain(&policy.selection.exclude);
    let (mut tags, mut folders) = (false, false);
    for r in rules {
        tags |= !r.tags.is_empty();
        folders |= !r.folders.is_empty();
    }
    (tags, folders)
}

/// A bare asset for unit tests: ARN `arn:<id>`, dependencies `arn:<dep>`.
#[cfg(test)]
pub(crate) fn test_asset(kind: AssetType, id: &str, deps: &[&str]) -> Asset {
    Asset {
        kind,
        id: id.into(),
        arn: format!("arn:{id}"),
        name: id.into(),
        last_updated: None,
        deps: deps.iter().map(|d| format!("arn:{d}")).collect(),
        tags: BTreeMap::new(),
        folders: vec![],
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    use super::test_asset as a;

    #[test]
    fn unsupported_data_sources_taint_their_dependents_with_a_reason() {
        let inv = classify(vec![
            (
                a(AssetType::Datasource, "sf", &[]),
                Some("data source type SALESFORCE".into()),
            ),
            (a(AssetType::Datasource, "pg", &[]), None),
            (a(AssetType::Dataset, "ds1", &["sf"]), None),
            (a(AssetType::Dataset, "ds2", &["pg"]), None),
            (a(AssetType::Dashboard, "d1", &["ds1"]), None),
            (a(AssetType::Dashboard, "d2", &["ds2"]), None),
        ]);
        let kept: Vec<&str> = inv.assets.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(kept, ["d2", "ds2", "pg"]);
        let (_, why) = inv.skipped.iter().find(|(s, _)| s.id == "d1").unwrap();
        assert_eq!(why, "depends on unsupported dataset ds1");
    }

    #[test]
    fn uploaded_file_s3_sources_and_listed_types_are_unsupported() {
        assert!(unsupported_data_source(Some(&DataSourceType::S3), None).is_some());
        assert!(unsupported_data_source(Some(&DataSourceType::Jira), None).is_some());
        assert!(unsupported_data_source(Some(&DataSourceType::Postgresql), None).is_none());
    }

    #[test]
    fn dashboards_pull_in_the_types_they_depend_on() {
        let t = types_to_list(&[AssetType::Dashboard]);
        assert!(t.contains(&AssetType::Dataset) && t.contains(&AssetType::Datasource));
    }
}
