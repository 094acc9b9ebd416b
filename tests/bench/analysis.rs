//! Reads back what a run stored (local folder or S3 on moto): report, manifest, plan, outcomes
//! and the documents in each bundle, and joins them with the emulator's job list into the jobs
//! of the lower bound.

use std::collections::{BTreeSet, HashMap};
use std::io::Cursor;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::bound::Job;

/// Where a run's files are.
pub enum Store {
    Local(PathBuf),
    S3 {
        client: aws_sdk_s3::Client,
        bucket: String,
    },
}

impl Store {
    pub async fn get(&self, key: &str) -> Result<Vec<u8>> {
        match self {
            Store::Local(root) => {
                std::fs::read(root.join(key)).with_context(|| format!("reading {key}"))
            }
            Store::S3 { client, bucket } => {
                let out = client
                    .get_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .with_context(|| format!("GetObject {key}"))?;
                Ok(out.body.collect().await?.into_bytes().to_vec())
            }
        }
    }

    /// Every object under `prefix` (a folder, ending with `/`), with its size.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        match self {
            Store::Local(root) => {
                let mut out = Vec::new();
                let mut dirs = vec![root.join(prefix)];
                while let Some(dir) = dirs.pop() {
                    for e in std::fs::read_dir(&dir)? {
                        let e = e?;
                        let meta = e.metadata()?;
                        if meta.is_dir() {
                            dirs.push(e.path());
                        } else if let Ok(rel) = e.path().strip_prefix(root) {
                            out.push((rel.to_string_lossy().replace('\\', "/"), meta.len()));
                        }
                    }
                }
                Ok(out)
            }
            Store::S3 { client, bucket } => {
                let mut out = Vec::new();
                let mut token = None;
                for _ in 0..10_000 {
                    let page = client
                        .list_objects_v2()
                        .bucket(bucket)
                        .prefix(prefix)
                        .set_continuation_token(token)
                        .send()
                        .await?;
                    for o in page.contents() {
                        let size = o.size().unwrap_or(0).max(0) as u64;
                        out.push((o.key().unwrap_or_default().to_string(), size));
                    }
                    token = page.next_continuation_token().map(str::to_string);
                    if token.is_none() {
                        return Ok(out);
                    }
                }
                bail!("listing {prefix} did not end")
            }
        }
    }
}

/// The asset documents of one bundle (`<type>/<id>.json`) and its refresh-schedule documents.
#[derive(Clone, Debug, Default)]
pub struct Docs {
    pub assets: BTreeSet<String>,
    pub schedules: usize,
}

impl Docs {
    /// What the emulator counts for the job's duration: every document in the bundle.
    pub fn count(&self) -> usize {
        self.assets.len() + self.schedules
    }
}

const KINDS: [&str; 7] = [
    "vpcConnection",
    "datasource",
    "dataset",
    "theme",
    "analysis",
    "dashboard",
    "folder",
];

fn bundle_docs(bytes: Vec<u8>) -> Result<Docs> {
    let zip = zip::ZipArchive::new(Cursor::new(bytes))?;
    let mut docs = Docs::default();
    for name in zip.file_names() {
        let Some((folder, file)) = name.split_once('/') else {
            continue;
        };
        if !file.ends_with(".json") {
            continue;
        }
        if folder == "refreshSchedule" {
            docs.schedules += 1;
        } else if KINDS.contains(&folder) {
            docs.assets.insert(name.to_string());
        }
    }
    Ok(docs)
}

/// The bundle document name of an asset ARN (`…:dashboard/ID` → `dashboard/ID.json`).
fn doc_of(arn: &str) -> String {
    format!("{}.json", arn.rsplit(':').next().unwrap_or(arn))
}

/// What one run stored, read back.
pub struct RunFacts {
    pub run_id: String,
    pub report: Value,
    pub manifest: Value,
    pub stored_bytes: u64,
    pub stored_objects: usize,
    /// Assets per plan batch.
    pub batch_lens: Vec<u32>,
    /// Documents of each stored bundle, by part name (`b0007`, `b0007-0010-0025`).
    pub bundles: HashMap<String, Docs>,
    /// (batch, index in batch, document name) of every asset that failed.
    pub failed: Vec<(u32, u32, String)>,
    /// Jobs whose failure isolated assets (from the outcome records).
    pub failed_jobs: BTreeSet<String>,
}

fn parse(bytes: &[u8], what: &str) -> Result<Value> {
    serde_json::from_slice(bytes).with_context(|| format!("{what} is not JSON"))
}

/// Reads the run whose manifest is at `manifest_key`; with `bundles`, opens every bundle too.
pub async fn read_run(store: &Store, manifest_key: &str, bundles: bool) -> Result<RunFacts> {
    let base = manifest_key
        .strip_suffix("manifest.json")
        .with_context(|| format!("unexpected manifest key {manifest_key}"))?;
    let manifest = parse(&store.get(manifest_key).await?, "manifest.json")?;
    let report = parse(
        &store.get(&format!("{base}report.json")).await?,
        "report.json",
    )?;
    let plan = parse(&store.get(&format!("{base}plan.json")).await?, "plan.json")?;
    let batch_lens = plan["batches"]
        .as_array()
        .context("plan.json has no batches")?
        .iter()
        .map(|b| b["assets"].as_array().map_or(0, |a| a.len() as u32))
        .collect();
    let objects = store.list(base).await?;
    let mut facts = RunFacts {
        run_id: manifest["runId"].as_str().unwrap_or_default().to_string(),
        report,
        manifest,
        stored_bytes: objects.iter().map(|(_, s)| s).sum(),
        stored_objects: objects.len(),
        batch_lens,
        bundles: HashMap::new(),
        failed: Vec::new(),
        failed_jobs: BTreeSet::new(),
    };
    let outcomes_prefix = format!("{base}state/outcomes/");
    for (key, _) in objects
        .iter()
        .filter(|(k, _)| k.starts_with(&outcomes_prefix))
    {
        let o = parse(&store.get(key).await?, key)?;
        let part = o["part"].as_str().unwrap_or_default().to_string();
        let batch = o["batch"].as_u64().unwrap_or(0) as u32;
        let at = o["range"][0].as_u64().unwrap_or(0) as u32;
        match o["bundleKey"].as_str() {
            Some(bundle) if bundles => {
                let docs = bundle_docs(store.get(bundle).await?)
                    .with_context(|| format!("bundle {bundle}"))?;
                facts.bundles.insert(part, docs);
            }
            Some(_) => {}
            None => {
                if let Some(job) = o["jobId"].as_str() {
                    facts.failed_jobs.insert(job.to_string());
                }
                for e in o["errors"].as_array().into_iter().flatten() {
                    let arn = e["arn"].as_str().unwrap_or_default();
                    facts.failed.push((batch, at, doc_of(arn)));
                }
            }
        }
    }
    Ok(facts)
}

/// `b0007` (the whole batch) or `b0007-0010-0025` → (batch, lo, hi).
pub fn parse_part(part: &str, batch_lens: &[u32]) -> Result<(u32, u32, u32)> {
    let mut it = part.trim_start_matches('b').split('-');
    let batch: u32 = it.next().unwrap_or_default().parse()?;
    match (it.next(), it.next()) {
        (Some(lo), Some(hi)) => Ok((batch, lo.parse()?, hi.parse()?)),
        _ => {
            let len = batch_lens
                .get(batch as usize)
                .with_context(|| format!("part {part}: the plan has no batch {batch}"))?;
            Ok((batch, 0, *len))
        }
    }
}

/// An export job as `ListAssetBundleExportJobs` shows it.
#[derive(Clone, Debug)]
pub struct Listed {
    pub id: String,
    pub status: String,
    pub created_s: f64,
}

/// The run's jobs with the document counts that set their durations on the emulator. A failed
/// job's count is estimated from below: the documents of every bundle later exported from its
/// range plus the assets it failed on (the emulator counted the closure of the whole range).
pub fn jobs(listed: &[Listed], facts: &RunFacts) -> Result<Vec<Job>> {
    let prefix = format!("qsb-{}-", facts.run_id);
    let mut stored = Vec::new();
    for (part, docs) in &facts.bundles {
        stored.push((parse_part(part, &facts.batch_lens)?, docs));
    }
    let mut out = Vec::new();
    for l in listed {
        let Some(part) = l.id.strip_prefix(&prefix) else {
            continue;
        };
        let (batch, lo, hi) = parse_part(part, &facts.batch_lens)?;
        let ok = match l.status.as_str() {
            "SUCCESSFUL" => true,
            "FAILED" => false,
            other => bail!("job {} ended the run in state {other}", l.id),
        };
        let docs = if ok {
            facts
                .bundles
                .get(part)
                .with_context(|| format!("job {} succeeded but its bundle is not stored", l.id))?
                .count()
        } else {
            let mut names: BTreeSet<&str> = BTreeSet::new();
            for ((b, plo, phi), d) in &stored {
                if *b == batch && lo <= *plo && *phi <= hi {
                    names.extend(d.assets.iter().map(String::as_str));
                }
            }
            for (b, at, doc) in &facts.failed {
                if *b == batch && lo <= *at && *at < hi {
                    names.insert(doc.as_str());
                }
            }
            names.len().max((hi - lo) as usize)
        };
        out.push(Job {
            batch,
            lo,
            hi,
            ok,
            docs,
            created_s: l.created_s,
        });
    }
    Ok(out)
}
