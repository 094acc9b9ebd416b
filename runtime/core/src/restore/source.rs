//! The backup side of a restore: which run (`latest`, an id, or the last run before a time), its
//! manifest, and its bundles — downloaded to spool files, checked against the manifest (size,
//! SHA-256, zip structure) and indexed entry by entry. Reads storage only.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use chrono::{DateTime, Utc};
use qsbackup_policy::AssetType;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::RestoreError;
use crate::engine::Engine;
use crate::layout::{is_run_id, run_time};
use crate::run::{MANIFEST_FORMAT, Manifest, RunStatus};

/// Which backup run to restore from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RunRef {
    /// The newest run that did not fail.
    Latest,
    /// One run by id.
    Run(String),
    /// The newest run that started at or before this time and did not fail.
    AsOf(DateTime<Utc>),
}

/// The key of an asset in plans and reports: `<type>/<id>`, e.g. `dashboard/sales`.
pub fn asset_key(kind: AssetType, id: &str) -> String {
    format!("{kind}/{id}")
}

/// The type and id of an asset key.
pub fn split_key(key: &str) -> Option<(AssetType, &str)> {
    let (t, id) = key.split_once('/')?;
    AssetType::ALL
        .into_iter()
        .find(|k| k.as_str() == t)
        .map(|k| (k, id))
}

/// A parsed QuickSight asset ARN: (region, account, type, id).
pub fn parse_asset_arn(s: &str) -> Option<(&str, &str, AssetType, &str)> {
    let rest = s
        .strip_prefix("arn:")?
        .split_once(':')?
        .1
        .strip_prefix("quicksight:")?;
    let (region, rest) = rest.split_once(':')?;
    let (account, rest) = rest.split_once(':')?;
    let (kind, rest) = rest.split_once('/')?;
    let kind = AssetType::ALL.into_iter().find(|k| k.as_str() == kind)?;
    let id = rest.split('/').next().filter(|id| !id.is_empty())?;
    Some((region, account, kind, id))
}

/// One entry of a bundle zip, as far as restore understands it.
#[derive(Clone, Debug)]
pub struct Entry {
    pub name: String,
    /// The asset this entry belongs to (`<type>/<id>.json`, or a data set's
    /// `refreshSchedule/<dataSetId>.<scheduleId>.json`); `None` for anything else.
    pub owner: Option<String>,
    /// Whether this is the asset's own document (not an attachment such as a refresh schedule).
    pub primary: bool,
    /// Asset keys of the run this entry mentions (by ARN).
    pub refs: BTreeSet<String>,
    /// The parsed document of an asset entry.
    pub doc: Option<Value>,
}

/// A verified bundle in a spool file.
pub struct LoadedBundle {
    pub key: String,
    pub sha256: String,
    pub size: u64,
    pub file: tempfile::TempPath,
    pub entries: Vec<Entry>,
}

impl LoadedBundle {
    /// The primary entry of `key` in this bundle.
    pub fn primary(&self, key: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.primary && e.owner.as_deref() == Some(key))
    }
}

impl Engine {
    /// The run a restore reads, with its manifest bytes. Failed runs are never picked implicitly.
    pub(crate) async fn resolve_run(
        &self,
        from: &RunRef,
    ) -> Result<(String, Vec<u8>), RestoreError> {
        if let RunRef::Run(id) = from {
            if !is_run_id(id) {
                return Err(RestoreError::Invalid(format!(
                    "{id} is not a run id (expected e.g. 20261204T020000Z-ab12cd)"
                )));
            }
            let key = self.scope.run(id).manifest();
            return match self.store.get(&key).await? {
                Some(b) => Ok((id.clone(), b)),
                None => Err(RestoreError::Invalid(format!(
                    "run {id} has no manifest at {} (it does not exist, or it never finished)",
                    self.store.location() + "/" + &key
                ))),
            };
        }
        let mut runs: Vec<String> = self
            .store
            .list(&self.scope.runs())
            .await?
            .into_iter()
            .filter_map(|k| {
                let rest = k.strip_prefix(&self.scope.runs())?;
                let (id, file) = rest.split_once('/')?;
                (file == "manifest.json" && is_run_id(id)).then(|| id.to_string())
            })
            .collect();
        runs.sort();
        let cutoff = match from {
            RunRef::AsOf(t) => Some(*t),
            _ => None,
        };
        for id in runs.iter().rev() {
            if cutoff.is_some_and(|t| run_time(id).is_none_or(|rt| rt > t)) {
                continue;
            }
            let Some(bytes) = self.store.get(&self.scope.run(id).manifest()).await? else {
                continue;
            };
            let status = serde_json::from_slice::<Manifest>(&bytes).map(|m| m.status);
            if matches!(
                status,
                Ok(RunStatus::Completed | RunStatus::PartiallyFailed)
            ) {
                return Ok((id.clone(), bytes));
            }
        }
        let known = if runs.is_empty() {
            "none".to_string()
        } else {
            runs.join(", ")
        };
        Err(RestoreError::Invalid(match cutoff {
            Some(t) => format!(
                "no usable backup run started at or before {} in {} (runs: {known})",
                t.to_rfc3339(),
                self.scope.root()
            ),
            None => format!(
                "no usable backup run in {} of {} (runs: {known})",
                self.scope.root(),
                self.store.location()
            ),
        }))
    }

    /// Downloads one bundle, checks it against the manifest and indexes its entries.
    pub(crate) async fn load_bundle(
        &self,
        key: &str,
        sha256: &str,
        size: u64,
        index: &ArnIndex,
    ) -> Result<LoadedBundle, RestoreError> {
        let dir = &self.settings.work_dir;
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| RestoreError::Other(format!("work dir {}: {e}", dir.display())))?;
        let file = tempfile::Builder::new()
            .prefix("qsrestore-")
            .suffix(".qs")
            .tempfile_in(dir)
            .map_err(|e| RestoreError::Other(format!("temp file: {e}")))?
            .into_temp_path();
        if !self.store.download(key, &file).await? {
            return Err(RestoreError::Integrity(format!(
                "bundle {key} is missing from {}; the backup is incomplete, nothing was restored",
                self.store.location()
            )));
        }
        let (path, key_owned, expected, index) = (
            file.to_path_buf(),
            key.to_string(),
            sha256.to_string(),
            index.clone(),
        );
        let (actual_sha, actual_size, entries) = tokio::task::spawn_blocking(move || {
            let (sha, len) = hash_file(&path)?;
            if sha != expected || len != size {
                return Err(RestoreError::Integrity(format!(
                    "bundle {key_owned} does not match the manifest (SHA-256 {sha}, {len} bytes; manifest: {expected}, {size} bytes): it was altered or truncated; nothing was restored"
                )));
            }
            crate::export::verify_zip(&path).map_err(|e| {
                RestoreError::Integrity(format!("bundle {key_owned} is not a valid zip ({e}); nothing was restored"))
            })?;
            let entries = index_entries(&path, &index)
                .map_err(|e| RestoreError::Integrity(format!("bundle {key_owned}: {e}")))?;
            Ok((sha, len, entries))
        })
        .await
        .map_err(|e| RestoreError::Other(e.to_string()))??;
        Ok(LoadedBundle {
            key: key.to_string(),
            sha256: actual_sha,
            size: actual_size,
            file,
            entries,
        })
    }
}

fn hash_file(path: &Path) -> Result<(String, u64), RestoreError> {
    let mut f = std::fs::File::open(path)
        .map_err(|e| RestoreError::Other(format!("{}: {e}", path.display())))?;
    let mut h = Sha256::new();
    let n = std::io::copy(&mut f, &mut h)
        .map_err(|e| RestoreError::Other(format!("{}: {e}", path.display())))?;
    Ok((hex::encode(h.finalize()), n))
}

/// Resolves ARNs of the source account/Region to the asset keys of the run.
#[derive(Clone, Debug)]
pub struct ArnIndex {
    pub region: String,
    pub account: String,
    pub keys: BTreeSet<String>,
}

impl ArnIndex {
    pub fn key_of(&self, arn: &str) -> Option<String> {
        let (region, account, kind, id) = parse_asset_arn(arn)?;
        let key = asset_key(kind, id);
        (region == self.region && account == self.account && self.keys.contains(&key))
            .then_some(key)
    }

    /// Asset keys of the run mentioned anywhere in `v`.
    pub fn refs(&self, v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::String(s) => out.extend(self.key_of(s)),
            Value::Array(items) => items.iter().for_each(|i| self.refs(i, out)),
            Value::Object(m) => m.values().for_each(|i| self.refs(i, out)),
            _ => {}
        }
    }
}

/// Whether an entry name has the `<type>/<id>.json` shape of an asset document.
pub fn looks_like_asset(name: &str) -> bool {
    name.split_once('/').is_some_and(|(folder, file)| {
        file.ends_with(".json")
            && (folder == "refreshSchedule" || AssetType::ALL.iter().any(|k| k.as_str() == folder))
    })
}

/// Which asset an entry name belongs to, if the name follows the `<type>/<id>.json` layout.
fn owner_of(name: &str, keys: &BTreeSet<String>) -> Option<(String, bool)> {
    let (folder, file) = name.split_once('/')?;
    let stem = file.strip_suffix(".json")?;
    if folder == "refreshSchedule" {
        let data_set = stem.split_once('.').map_or(stem, |(d, _)| d);
        let key = asset_key(AssetType::Dataset, data_set);
        return keys.contains(&key).then_some((key, false));
    }
    let kind = AssetType::ALL.into_iter().find(|k| k.as_str() == folder)?;
    let key = asset_key(kind, stem);
    keys.contains(&key).then_some((key, true))
}

/// Indexes every entry of a bundle zip: owner, referenced assets, parsed document.
fn index_entries(path: &Path, index: &ArnIndex) -> Result<Vec<Entry>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).map_err(|e| e.to_string())?;
        let name = f.name().to_string();
        let owner = owner_of(&name, &index.keys);
        let mut entry = Entry {
            name,
            owner: owner.as_ref().map(|o| o.0.clone()),
            primary: owner.is_some_and(|o| o.1),
            refs: BTreeSet::new(),
            doc: None,
        };
        if entry.owner.is_some() {
            let mut text = Vec::new();
            f.read_to_end(&mut text)
                .map_err(|e| format!("{}: {e}", entry.name))?;
            let doc: Value = serde_json::from_slice(&text)
                .map_err(|e| format!("{} is not JSON: {e}", entry.name))?;
            index.refs(&doc, &mut entry.refs);
            if let Some(o) = &entry.owner {
                entry.refs.remove(o);
            }
            entry.doc = entry.primary.then_some(doc);
        }
        out.push(entry);
    }
    Ok(out)
}

/// Parses and checks a manifest.
pub fn parse_manifest(run_id: &str, bytes: &[u8]) -> Result<Manifest, RestoreError> {
    let m: Manifest = serde_json::from_slice(bytes).map_err(|e| {
        RestoreError::Integrity(format!("the manifest of run {run_id} is not readable: {e}"))
    })?;
    if m.format != MANIFEST_FORMAT {
        return Err(RestoreError::Invalid(format!(
            "the manifest of run {run_id} has format {} but this qsbackup reads format {MANIFEST_FORMAT}",
            m.format
        )));
    }
    Ok(m)
}

/// Tags of a backed-up asset as its bundle document records them (`tags: [{Key, Value}]`).
pub fn doc_tags(doc: &Value) -> BTreeMap<String, String> {
    let tags = doc
        .as_object()
        .and_then(|m| m.iter().find(|(k, _)| k.eq_ignore_ascii_case("tags")))
        .map(|(_, v)| v);
    let mut out = BTreeMap::new();
    for t in tags.and_then(Value::as_array).into_iter().flatten() {
        let get = |k: &str| {
            t.as_object()?
                .iter()
                .find(|(x, _)| x.eq_ignore_ascii_case(k))?
                .1
                .as_str()
        };
        if let (Some(k), Some(v)) = (get("key"), get("value")) {
            out.insert(k.to_string(), v.to_string());
        }
    }
    out
}

/// The sha256 (hex) of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_map_to_assets_and_arns_to_keys() {
        let keys: BTreeSet<String> = ["dataset/ds-1", "dashboard/d1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            owner_of("dataset/ds-1.json", &keys),
            Some(("dataset/ds-1".into(), true))
        );
        assert_eq!(
            owner_of("refreshSchedule/ds-1.s1.json", &keys),
            Some(("dataset/ds-1".into(), false))
        );
        assert_eq!(owner_of("padding/filler.bin", &keys), None);
        assert_eq!(owner_of("dashboard/other.json", &keys), None);
        let idx = ArnIndex {
            region: "us-east-1".into(),
            account: "123456789012".into(),
            keys,
        };
        assert_eq!(
            idx.key_of("arn:aws:quicksight:us-east-1:123456789012:dataset/ds-1/refresh-schedule/s")
                .as_deref(),
            Some("dataset/ds-1")
        );
        assert_eq!(
            idx.key_of("arn:aws:quicksight:eu-west-1:123456789012:dataset/ds-1"),
            None
        );
        assert_eq!(
            split_key("vpcConnection/v-1"),
            Some((AssetType::VpcConnection, "v-1"))
        );
    }
}
