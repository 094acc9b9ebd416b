//! Asset bundles: the export closure, the `.qs` zip (`<type>/<id>.json`, one document per asset),
//! the CloudFormation variant, and the import that re-creates exactly what was exported.

use std::collections::{BTreeSet, HashMap};
use std::io::{Cursor, Read, Write};

use serde_json::{Value, json};
use zip::write::SimpleFileOptions;

use crate::model::{
    Account, Asset, Kind, dependencies, parse_arn, soft_dependencies, unsupported_reason,
};
use crate::wire::Json;

/// Options of an export job (the request flags).
#[derive(Clone, Debug, Default)]
pub struct ExportOptions {
    pub all_dependencies: bool,
    pub permissions: bool,
    pub tags: bool,
    pub folder_memberships: bool,
    /// `NONE`, `ONE_LEVEL` or `RECURSE`.
    pub folder_members: String,
    pub cloudformation: bool,
}

/// What an export produced: the file (empty when failed), per-asset errors, asset count.
pub struct Exported {
    pub file: Vec<u8>,
    pub errors: Vec<Value>,
    pub assets: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("the bundle is not a valid QUICKSIGHT_JSON zip: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("the bundle could not be written: {0}")]
    Io(#[from] std::io::Error),
    #[error("the bundle document {0} is not valid: {1}")]
    Document(String, String),
    #[error("the bundle contains no assets")]
    Empty,
}

fn error(arn: &str, kind: &str, message: impl Into<String>) -> Value {
    json!({ "Arn": arn, "Type": kind, "Message": message.into() })
}

/// Computes the closure of `arns` (already checked to exist) and writes the bundle.
pub fn export(acct: &Account, arns: &[String], o: &ExportOptions) -> Result<Exported, BundleError> {
    let mut set: BTreeSet<(Kind, String)> = BTreeSet::new();
    let mut expanded: BTreeSet<String> = BTreeSet::new();
    let mut errors = Vec::new();
    // (kind, id, expand folder members, recurse into sub-folders)
    let mut work: Vec<(Kind, String, bool, bool)> = Vec::new();
    for a in arns {
        if let Some((k, asset)) = acct.resolve(a) {
            let expand =
                k == Kind::Folder && o.folder_members != "NONE" && !o.folder_members.is_empty();
            work.push((k, asset.id.clone(), expand, o.folder_members == "RECURSE"));
        }
    }
    while let Some((kind, id, expand, recurse)) = work.pop() {
        let newly = set.insert((kind, id.clone()));
        let expand = expand && expanded.insert(id.clone());
        if !newly && !expand {
            continue;
        }
        let Some(asset) = acct.get(kind, &id) else {
            continue;
        };
        let arn = acct.arn(kind, &id);
        let follow = o.all_dependencies || kind == Kind::Folder;
        for dep in dependencies(kind, &asset.props) {
            match acct.resolve(&dep) {
                Some((k, d)) if follow => work.push((k, d.id.clone(), false, false)),
                Some(_) => {}
                None if follow => errors.push(error(
                    &arn,
                    "ResourceNotFoundException",
                    format!("The dependency {dep} of {arn} was not found."),
                )),
                None => {}
            }
        }
        if o.all_dependencies {
            // Soft dependencies (a dashboard's source analysis) travel along when they exist.
            for dep in soft_dependencies(kind, &asset.props) {
                if let Some((k, d)) = acct.resolve(&dep) {
                    work.push((k, d.id.clone(), false, false));
                }
            }
        }
        if o.folder_memberships && kind != Kind::Folder {
            for f in acct.folders_of(&arn) {
                work.push((Kind::Folder, f, false, false));
            }
        }
        if expand {
            for member in acct
                .folder_members
                .get(&id)
                .into_iter()
                .flat_map(|m| m.keys())
            {
                if let Some((k, m)) = acct.resolve(member) {
                    work.push((k, m.id.clone(), false, false));
                }
            }
            if recurse {
                for f in acct.map(Kind::Folder).values() {
                    if f.props.get("ParentFolderArn").and_then(Value::as_str) == Some(arn.as_str())
                    {
                        work.push((Kind::Folder, f.id.clone(), true, true));
                    }
                }
            }
        }
    }
    for (kind, id) in &set {
        let Some(asset) = acct.get(*kind, id) else {
            continue;
        };
        let arn = acct.arn(*kind, id);
        if let Some(reason) = unsupported_reason(*kind, asset) {
            errors.push(error(&arn, "InvalidRequestException", reason));
        } else if *kind == Kind::DataSet {
            for dep in dependencies(*kind, &asset.props) {
                if let Some((Kind::DataSource, src)) = acct.resolve(&dep)
                    && unsupported_reason(Kind::DataSource, src).is_some()
                {
                    errors.push(error(
                        &arn,
                        "InvalidRequestException",
                        format!("The dataset depends on data source {dep}, which is not supported by the asset bundle APIs."),
                    ));
                }
            }
        }
    }
    errors.sort_by_key(Value::to_string);
    errors.dedup();
    if !errors.is_empty() {
        return Ok(Exported {
            file: Vec::new(),
            errors,
            assets: set.len(),
        });
    }
    let folders_in: BTreeSet<String> = set
        .iter()
        .filter(|(k, _)| *k == Kind::Folder)
        .map(|(_, id)| acct.arn(Kind::Folder, id))
        .collect();
    let mut docs: Vec<(String, Value)> = Vec::new();
    for (kind, id) in &set {
        let Some(asset) = acct.get(*kind, id) else {
            continue;
        };
        let arn = acct.arn(*kind, id);
        let mut doc = json!({
            "resourceType": kind.arn_type(),
            "resourceId": asset.id,
            "arn": arn,
            "name": asset.name,
            "properties": asset.props,
        });
        if o.permissions {
            doc["permissions"] = json!(asset.permissions);
        }
        if o.tags {
            doc["tags"] = json!(asset.tags);
        }
        if *kind != Kind::Folder && !folders_in.is_empty() {
            let member_of: Vec<String> = acct
                .folders_of(&arn)
                .into_iter()
                .map(|f| acct.arn(Kind::Folder, &f))
                .filter(|f| folders_in.contains(f))
                .collect();
            if !member_of.is_empty() {
                doc["folderArns"] = json!(member_of);
            }
        }
        docs.push((format!("{}/{}.json", kind.arn_type(), id), doc));
        if *kind == Kind::DataSet && o.all_dependencies {
            for s in acct.refresh_schedules.get(id).into_iter().flatten() {
                let sid = s
                    .get("ScheduleId")
                    .and_then(Value::as_str)
                    .unwrap_or("schedule");
                let doc = json!({
                    "resourceType": "refreshSchedule",
                    "resourceId": sid,
                    "arn": format!("{arn}/refresh-schedule/{sid}"),
                    "dataSetArn": arn,
                    "properties": s,
                });
                docs.push((format!("refreshSchedule/{id}.{sid}.json"), doc));
            }
        }
    }
    let assets = docs.len();
    let file = if o.cloudformation {
        cloudformation(acct, &docs)
    } else {
        zip_docs(&docs)?
    };
    Ok(Exported {
        file,
        errors,
        assets,
    })
}

fn zip_docs(docs: &[(String, Value)]) -> Result<Vec<u8>, BundleError> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, doc) in docs {
        w.start_file(name.as_str(), opts)?;
        let text = serde_json::to_vec_pretty(doc)
            .map_err(|e| BundleError::Document(name.clone(), e.to_string()))?;
        w.write_all(&text)?;
    }
    Ok(w.finish()?.into_inner())
}

fn cloudformation(acct: &Account, docs: &[(String, Value)]) -> Vec<u8> {
    let mut resources = Json::new();
    for (_, doc) in docs {
        let t = doc["resourceType"].as_str().unwrap_or("");
        let cfn_type = match t {
            "vpcConnection" => "VPCConnection",
            "datasource" => "DataSource",
            "dataset" => "DataSet",
            "theme" => "Theme",
            "analysis" => "Analysis",
            "dashboard" => "Dashboard",
            "folder" => "Folder",
            _ => "RefreshSchedule",
        };
        let id = doc["resourceId"].as_str().unwrap_or("");
        let logical: String = format!("{cfn_type}{id}")
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let mut props = doc["properties"].as_object().cloned().unwrap_or_default();
        props.insert("AwsAccountId".into(), json!({ "Ref": "AWS::AccountId" }));
        if let Some(name) = doc.get("name") {
            props.insert("Name".into(), name.clone());
        }
        resources.insert(
            logical,
            json!({ "Type": format!("AWS::QuickSight::{cfn_type}"), "Properties": props }),
        );
    }
    let template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!("QuickSight assets exported from {} in {}", acct.account, acct.region),
        "Resources": resources,
    });
    serde_json::to_vec_pretty(&template).unwrap_or_default()
}

/// One document read back from a bundle.
#[derive(Clone, Debug)]
pub struct Doc {
    /// `None` for refresh schedules.
    pub kind: Option<Kind>,
    pub id: String,
    pub arn: String,
    pub name: String,
    pub props: Json,
    pub permissions: Option<Vec<Value>>,
    pub tags: Option<Vec<Value>>,
    pub folder_arns: Vec<String>,
    pub data_set_arn: Option<String>,
}

/// Reads the asset documents of a `.qs` zip; other entries (padding, unknown folders) are ignored.
pub fn read_docs(bytes: &[u8]) -> Result<Vec<Doc>, BundleError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))?;
    let mut docs = Vec::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i)?;
        let name = f.name().to_owned();
        let Some((folder, file)) = name.split_once('/') else {
            continue;
        };
        let known = folder == "refreshSchedule" || Kind::from_arn_type(folder).is_some();
        if !known || !file.ends_with(".json") {
            continue;
        }
        let mut text = Vec::new();
        f.read_to_end(&mut text)?;
        let bad = |m: &str| BundleError::Document(name.clone(), m.to_owned());
        let v: Value = serde_json::from_slice(&text).map_err(|e| bad(&e.to_string()))?;
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let list = |k: &str| v.get(k).and_then(Value::as_array).cloned();
        docs.push(Doc {
            kind: Kind::from_arn_type(folder),
            id: s("resourceId").ok_or_else(|| bad("resourceId is missing"))?,
            arn: s("arn").ok_or_else(|| bad("arn is missing"))?,
            name: s("name").unwrap_or_default(),
            props: v
                .get("properties")
                .and_then(Value::as_object)
                .cloned()
                .ok_or_else(|| bad("properties are missing"))?,
            permissions: list("permissions"),
            tags: list("tags"),
            folder_arns: list("folderArns")
                .unwrap_or_default()
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
            data_set_arn: s("dataSetArn"),
        });
    }
    if docs.iter().all(|d| d.kind.is_none()) {
        return Err(BundleError::Empty);
    }
    Ok(docs)
}

/// Number of asset documents in a bundle (0 when unreadable).
pub fn count_docs(bytes: &[u8]) -> usize {
    read_docs(bytes).map(|d| d.len()).unwrap_or(0)
}

/// The import request members that shape the result.
#[derive(Clone, Debug, Default)]
pub struct ImportRequest {
    pub job_arn: String,
    pub override_parameters: Json,
    pub override_permissions: Json,
    pub override_tags: Json,
    pub rollback: bool,
}

/// Final state of an import.
#[derive(Clone, Debug)]
pub struct ImportOutcome {
    pub status: &'static str,
    pub errors: Vec<Value>,
}

enum Undo {
    Asset(Kind, String, Option<Asset>),
    Schedules(String, Option<Vec<Value>>),
    Member(String, String),
}

/// Per kind: (override list key, ID member in override parameters, IDs member in permissions/tags overrides).
fn override_keys(kind: Kind) -> (&'static str, &'static str, &'static str) {
    match kind {
        Kind::VpcConnection => ("VPCConnections", "VPCConnectionId", "VPCConnectionIds"),
        Kind::DataSource => ("DataSources", "DataSourceId", "DataSourceIds"),
        Kind::DataSet => ("DataSets", "DataSetId", "DataSetIds"),
        Kind::Theme => ("Themes", "ThemeId", "ThemeIds"),
        Kind::Analysis => ("Analyses", "AnalysisId", "AnalysisIds"),
        Kind::Dashboard => ("Dashboards", "DashboardId", "DashboardIds"),
        Kind::Folder => ("Folders", "FolderId", "FolderIds"),
    }
}

fn entries<'a>(o: &'a Json, key: &str) -> impl Iterator<Item = &'a Json> {
    o.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
}

/// Rewrites ARNs of the source account/Region to the target, renaming bundle assets.
struct Rewriter<'a> {
    src: (String, String),
    dst: (String, String),
    renames: &'a HashMap<(String, String), String>,
}

impl Rewriter<'_> {
    fn arn(&self, s: &str) -> Option<String> {
        let a = parse_arn(s)?;
        if (a.region.as_str(), a.account.as_str()) != (self.src.0.as_str(), self.src.1.as_str()) {
            return None;
        }
        let (id, rest) = match a.resource.split_once('/') {
            Some((id, rest)) => (id.to_owned(), format!("/{rest}")),
            None => (a.resource.clone(), String::new()),
        };
        let id = self
            .renames
            .get(&(a.resource_type.clone(), id.clone()))
            .cloned()
            .unwrap_or(id);
        Some(format!(
            "arn:aws:quicksight:{}:{}:{}/{id}{rest}",
            self.dst.0, self.dst.1, a.resource_type
        ))
    }

    fn value(&self, v: &mut Value) {
        match v {
            Value::String(s) => {
                if let Some(n) = self.arn(s) {
                    *s = n;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.value(i)),
            Value::Object(m) => m.values_mut().for_each(|i| self.value(i)),
            _ => {}
        }
    }
}

/// Applies a bundle to an account. On failure either rolls back (ROLLBACK) or leaves the partial
/// result (DO_NOTHING).
pub fn import(acct: &mut Account, bytes: &[u8], req: &ImportRequest, now: f64) -> ImportOutcome {
    let docs = match read_docs(bytes) {
        Ok(d) => d,
        Err(e) => {
            return ImportOutcome {
                status: "FAILED",
                errors: vec![error(
                    &req.job_arn,
                    "InvalidRequestException",
                    e.to_string(),
                )],
            };
        }
    };
    let prefix = req
        .override_parameters
        .get("ResourceIdOverrideConfiguration")
        .and_then(|c| c.get("PrefixForAllResources"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let src = docs
        .iter()
        .filter_map(|d| parse_arn(&d.arn))
        .map(|a| (a.region, a.account))
        .next()
        .unwrap_or_else(|| (acct.region.clone(), acct.account.clone()));
    let renames: HashMap<(String, String), String> = docs
        .iter()
        .filter_map(|d| {
            d.kind.map(|k| {
                (
                    (k.arn_type().to_owned(), d.id.clone()),
                    format!("{prefix}{}", d.id),
                )
            })
        })
        .collect();
    let rw = Rewriter {
        src,
        dst: (acct.region.clone(), acct.account.clone()),
        renames: &renames,
    };

    let mut undo: Vec<Undo> = Vec::new();
    let mut errors: Vec<Value> = Vec::new();
    let mut order: Vec<&Doc> = Vec::new();
    // Folders first, parents before children; then the other kinds in dependency order.
    let mut folders: Vec<&Doc> = docs
        .iter()
        .filter(|d| d.kind == Some(Kind::Folder))
        .collect();
    folders.sort_by_key(|d| {
        let mut depth = 0;
        let mut cur = d.props.get("ParentFolderArn").and_then(Value::as_str);
        while let Some(p) = cur {
            depth += 1;
            cur = docs
                .iter()
                .find(|x| x.arn == p)
                .and_then(|x| x.props.get("ParentFolderArn"))
                .and_then(Value::as_str);
            if depth > 10 {
                break;
            }
        }
        depth
    });
    order.extend(folders);
    for k in Kind::ALL.into_iter().filter(|k| *k != Kind::Folder) {
        order.extend(docs.iter().filter(|d| d.kind == Some(k)));
    }

    for d in order {
        let Some(kind) = d.kind else { continue };
        let new_id = format!("{prefix}{}", d.id);
        let new_arn = acct.arn(kind, &new_id);
        let mut props = d.props.clone();
        let mut v = Value::Object(std::mem::take(&mut props));
        rw.value(&mut v);
        let mut props = match v {
            Value::Object(m) => m,
            _ => Json::new(),
        };
        let mut name = d.name.clone();
        let (list_key, id_key, ids_key) = override_keys(kind);
        for o in entries(&req.override_parameters, list_key) {
            let target = o.get(id_key).and_then(Value::as_str);
            if target != Some(d.id.as_str()) && target != Some(new_id.as_str()) {
                continue;
            }
            if let Some(n) = o.get("Name").and_then(Value::as_str) {
                name = n.to_owned();
            }
            let replace: &[&str] = match kind {
                Kind::DataSource => &[
                    "DataSourceParameters",
                    "VpcConnectionProperties",
                    "SslProperties",
                ],
                Kind::VpcConnection => &["SecurityGroupIds", "DnsResolvers", "RoleArn"],
                Kind::Folder => &["ParentFolderArn"],
                _ => &[],
            };
            for key in replace {
                if let Some(val) = o.get(*key) {
                    props.insert((*key).to_owned(), val.clone());
                }
            }
        }
        let mut asset = Asset {
            id: new_id.clone(),
            name,
            created: now,
            updated: now,
            props,
            permissions: d.permissions.clone().unwrap_or_default(),
            tags: d.tags.clone().unwrap_or_default(),
        };
        let matches = |o: &Json| {
            o.get(ids_key).and_then(Value::as_array).is_some_and(|ids| {
                ids.iter().any(|i| {
                    matches!(i.as_str(), Some("*"))
                        || i.as_str() == Some(&d.id)
                        || i.as_str() == Some(&new_id)
                })
            })
        };
        for o in entries(&req.override_permissions, list_key).filter(|o| matches(o)) {
            let p = o.get("Permissions");
            let actions = p
                .and_then(|p| p.get("Actions"))
                .cloned()
                .unwrap_or(json!([]));
            let principals = p
                .and_then(|p| p.get("Principals"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            asset.permissions = principals
                .into_iter()
                .map(|pr| json!({ "Principal": pr, "Actions": actions }))
                .collect();
        }
        for o in entries(&req.override_tags, list_key).filter(|o| matches(o)) {
            for t in o
                .get("Tags")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let key = t.get("Key").cloned();
                asset.tags.retain(|x| x.get("Key") != key.as_ref());
                asset.tags.push(t.clone());
            }
        }
        if let Some(reason) = unsupported_reason(kind, &asset) {
            errors.push(error(&new_arn, "InvalidRequestException", reason));
            continue;
        }
        let missing: Vec<String> = dependencies(kind, &asset.props)
            .into_iter()
            .filter(|dep| !acct.exists(dep))
            .collect();
        if !missing.is_empty() {
            for dep in missing {
                errors.push(error(
                    &new_arn,
                    "ResourceNotFoundException",
                    format!("The dependency {dep} of {new_arn} is neither in the bundle nor in the account."),
                ));
            }
            continue;
        }
        if let Some(prev) = acct.get(kind, &new_id) {
            asset.created = prev.created;
        }
        let prev = acct.map_mut(kind).insert(new_id.clone(), asset);
        undo.push(Undo::Asset(kind, new_id, prev));
    }

    for d in docs.iter().filter(|d| d.kind.is_none()) {
        let Some(ds_arn) = d
            .data_set_arn
            .as_deref()
            .map(|a| rw.arn(a).unwrap_or_else(|| a.to_owned()))
        else {
            continue;
        };
        let Some((Kind::DataSet, ds)) = acct.resolve(&ds_arn) else {
            errors.push(error(
                &d.arn,
                "ResourceNotFoundException",
                format!("The dataset {ds_arn} of the refresh schedule is not found."),
            ));
            continue;
        };
        let ds_id = ds.id.clone();
        let mut v = Value::Object(d.props.clone());
        rw.value(&mut v);
        let prev = acct.refresh_schedules.get(&ds_id).cloned();
        let list = acct.refresh_schedules.entry(ds_id.clone()).or_default();
        list.retain(|s| s.get("ScheduleId") != v.get("ScheduleId"));
        list.push(v);
        undo.push(Undo::Schedules(ds_id, prev));
    }

    for d in docs
        .iter()
        .filter(|d| d.kind.is_some_and(|k| k != Kind::Folder))
    {
        let Some(kind) = d.kind else { continue };
        let new_id = format!("{prefix}{}", d.id);
        if acct.get(kind, &new_id).is_none() {
            continue;
        }
        let member_arn = acct.arn(kind, &new_id);
        for f in &d.folder_arns {
            let f = rw.arn(f).unwrap_or_else(|| f.clone());
            match acct.resolve(&f) {
                Some((Kind::Folder, folder)) => {
                    let fid = folder.id.clone();
                    let members = acct.folder_members.entry(fid.clone()).or_default();
                    if members.insert(member_arn.clone(), new_id.clone()).is_none() {
                        undo.push(Undo::Member(fid, member_arn.clone()));
                    }
                }
                _ => errors.push(error(
                    &member_arn,
                    "ResourceNotFoundException",
                    format!("The folder {f} is not found."),
                )),
            }
        }
    }

    if errors.is_empty() {
        return ImportOutcome {
            status: "SUCCESSFUL",
            errors,
        };
    }
    if !req.rollback {
        return ImportOutcome {
            status: "FAILED",
            errors,
        };
    }
    for u in undo.into_iter().rev() {
        match u {
            Undo::Asset(kind, id, Some(prev)) => {
                acct.map_mut(kind).insert(id, prev);
            }
            Undo::Asset(kind, id, None) => {
                acct.remove(kind, &id);
            }
            Undo::Schedules(ds, Some(prev)) => {
                acct.refresh_schedules.insert(ds, prev);
            }
            Undo::Schedules(ds, None) => {
                acct.refresh_schedules.remove(&ds);
            }
            Undo::Member(folder, member) => {
                if let Some(m) = acct.folder_members.get_mut(&folder) {
                    m.remove(&member);
                }
            }
        }
    }
    ImportOutcome {
        status: "FAILED_ROLLBACK_COMPLETED",
        errors,
    }
}
