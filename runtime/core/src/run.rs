//! Run-level steps: `begin` (lock, run record), `discover` (inventory → selection → plan, stored
//! next to the run), `finalize` (manifest written last, reports, catalog, lock release), and
//! `run_backup`, the in-process orchestrator the CLI uses to drive the same steps.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::stream::{FuturesUnordered, StreamExt, TryStreamExt};
use qsbackup_policy::{AssetType, Mode};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::StepError;
use crate::catalog::{attr_n, attr_s};
use crate::engine::{Engine, Event};
use crate::export::{BatchWork, JobState, Outcome};
use crate::identities::IdentitiesSummary;
use crate::inventory::{self, Skipped};
use crate::layout::new_run_id;
use crate::plan::{self, PLAN_FORMAT, Plan};

/// The manifest format; readers refuse formats they do not know.
pub const MANIFEST_FORMAT: u32 = 1;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BeginInput {
    #[serde(default)]
    pub mode: Option<Mode>,
}

/// `run.json`: written by `begin`, read by later steps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunStarted {
    pub run_id: String,
    pub mode: Mode,
    pub started_at: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoverOutput {
    pub run_id: String,
    pub batch_count: usize,
    pub asset_count: usize,
    pub skipped_count: usize,
    pub inline: bool,
    pub batches: Vec<BatchWork>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batches_bucket: Option<String>,
    pub batches_key: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FinalizeInput {
    pub run_id: String,
    /// The identities step's output, or an error object (`{"Error","Cause"}`), or nothing.
    #[serde(default)]
    pub identities: Option<serde_json::Value>,
    /// Whatever the export branch produced; an error object here means discovery or the map failed.
    #[serde(default)]
    pub export: Option<serde_json::Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunStatus {
    Completed,
    PartiallyFailed,
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FinalizeOutput {
    pub run_id: String,
    pub status: RunStatus,
    pub manifest_key: String,
    pub assets: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// One backed-up (or failed) asset in the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestAsset {
    #[serde(rename = "type")]
    pub kind: AssetType,
    pub id: String,
    pub arn: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestBundle {
    pub key: String,
    pub sha256: String,
    pub size: u64,
    pub job_id: String,
    pub batch: u32,
    pub range: [u32; 2],
    pub started_at: String,
    pub finished_at: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub format: u32,
    pub tool: String,
    pub run_id: String,
    pub policy_name: String,
    pub policy_digest: String,
    pub account: String,
    pub region: String,
    pub identity_region: String,
    pub mode: Mode,
    pub started_at: String,
    pub finished_at: String,
    pub status: RunStatus,
    pub assets: Vec<ManifestAsset>,
    pub bundles: Vec<ManifestBundle>,
    pub skipped: Vec<Skipped>,
    /// Run-level errors (discovery, identities, a batch that could not run).
    pub errors: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identities: Option<IdentitiesSummary>,
}

impl Manifest {
    pub fn failed(&self) -> usize {
        self.assets.iter().filter(|a| a.error.is_some()).count()
    }
    pub fn backed_up(&self) -> usize {
        self.assets
            .iter()
            .filter(|a| a.bundle_key.is_some())
            .count()
    }
}

fn effective_mode(policy_mode: Mode, requested: Option<Mode>) -> Mode {
    requested.unwrap_or(policy_mode)
}

impl Engine {
    /// Creates the run: id, lock, `run.json`, catalog record.
    pub async fn begin(
        &self,
        input: BeginInput,
        now: DateTime<Utc>,
    ) -> Result<RunStarted, StepError> {
        self.store.preflight(&self.scope.root()).await?;
        let run_id = new_run_id(now);
        self.acquire_lock(&run_id, now).await?;
        let started = RunStarted {
            run_id: run_id.clone(),
            mode: effective_mode(self.policy.mode, input.mode),
            started_at: now.to_rfc3339(),
        };
        self.put_json(&self.scope.run(&run_id).run_info(), &started)
            .await?;
        self.catalog_put(
            &run_id,
            HashMap::from([
                ("status", attr_s("Running")),
                ("startedAt", attr_s(now.to_rfc3339())),
                ("mode", attr_s(started.mode.as_str())),
                ("policy", attr_s(&self.policy.name)),
                ("policyDigest", attr_s(self.policy.digest())),
            ]),
        )
        .await?;
        Ok(started)
    }

    /// Lists, classifies and selects assets and cuts them into batches. Calls no write API.
    pub async fn plan(&self, run_id: &str) -> Result<Plan, StepError> {
        let (need_tags, need_folders) = inventory::needs(&self.policy);
        let inv = self.inventory(need_tags, need_folders).await?;
        let (selected, skipped) = plan::select(&self.policy, &inv);
        let batches = plan::batches(&selected, self.policy.export.assets_per_bundle as usize);
        let plan = Plan {
            format: PLAN_FORMAT,
            run_id: run_id.to_string(),
            policy_digest: self.policy.digest(),
            batches,
            skipped,
        };
        self.emit(Event::Discovered {
            assets: plan.asset_count(),
            skipped: plan.skipped.len(),
            batches: plan.batches.len(),
        });
        Ok(plan)
    }

    /// The `discover` step: plan, then store `plan.json` and `batches.json` next to the run.
    pub async fn discover(&self, run_id: &str) -> Result<DiscoverOutput, StepError> {
        let plan = self.plan(run_id).await?;
        let keys = self.scope.run(run_id);
        let work: Vec<BatchWork> = plan
            .batches
            .iter()
            .map(|b| BatchWork {
                run_id: run_id.to_string(),
                batch: b.index,
                pending: vec![[0, b.assets.len() as u32]],
            })
            .collect();
        self.put_json(&keys.plan(), &plan).await?;
        self.put_json(&keys.batches(), &work).await?;
        let inline = work.len() <= self.settings.inline_batch_limit;
        let out = DiscoverOutput {
            run_id: run_id.to_string(),
            batch_count: work.len(),
            asset_count: plan.asset_count(),
            skipped_count: plan.skipped.len(),
            inline,
            batches: if inline { work } else { Vec::new() },
            batches_bucket: match &self.store {
                crate::store::Store::S3 { bucket, .. } => Some(bucket.clone()),
                crate::store::Store::Local { .. } => None,
            },
            batches_key: keys.batches(),
        };
        *self
            .plan_cache
            .lock()
            .map_err(|_| StepError::NonRetryable("plan cache poisoned".into()))? =
            Some(Arc::new(plan));
        Ok(out)
    }

    pub(crate) async fn load_plan(&self, run_id: &str) -> Result<Arc<Plan>, StepError> {
        if let Ok(cache) = self.plan_cache.lock()
            && let Some(p) = cache.as_ref()
            && p.run_id == run_id
        {
            return Ok(p.clone());
        }
        let key = self.scope.run(run_id).plan();
        let bytes = self.store.get(&key).await?.ok_or_else(|| {
            StepError::NonRetryable(format!("{key} is missing: discovery did not finish"))
        })?;
        let plan: Plan = serde_json::from_slice(&bytes)
            .map_err(|e| StepError::NonRetryable(format!("{key}: {e}")))?;
        let plan = Arc::new(plan);
        if let Ok(mut cache) = self.plan_cache.lock() {
            *cache = Some(plan.clone());
        }
        Ok(plan)
    }

    async fn read_json<T: for<'de> Deserialize<'de>>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StepError> {
        match self.store.get(key).await? {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| StepError::NonRetryable(format!("{key}: {e}"))),
        }
    }

    /// Writes the reports and then the manifest (the commit marker), records the run in the
    /// catalog and releases the lock.
    pub async fn finalize(
        &self,
        input: FinalizeInput,
        now: DateTime<Utc>,
    ) -> Result<FinalizeOutput, StepError> {
        let run_id = input.run_id.as_str();
        let keys = self.scope.run(run_id);
        let started: Option<RunStarted> = self.read_json(&keys.run_info()).await?;
        let mode = started.as_ref().map(|s| s.mode).unwrap_or(self.policy.mode);
        let mut errors = Vec::new();
        let plan = match self.load_plan(run_id).await {
            Ok(p) => Some(p),
            Err(_) if mode.includes_assets() => {
                errors.push(format!(
                    "discovery failed: {}",
                    describe_error(input.export.as_ref())
                ));
                None
            }
            Err(_) => None,
        };
        // One small object per exported part: read them 16 at a time, not one after another.
        let outcome_keys = self.store.list(&keys.outcomes_prefix()).await?;
        let mut outcomes: Vec<Outcome> = futures::stream::iter(outcome_keys)
            .map(|key| async move { self.read_json::<Outcome>(&key).await })
            .buffer_unordered(16)
            .try_collect::<Vec<_>>()
            .await?
            .into_iter()
            .flatten()
            .collect();
        outcomes.sort_by_key(|o| (o.batch, o.range));
        let batch_errors = batch_errors(input.export.as_ref());
        let mut assets = Vec::new();
        for b in plan.iter().flat_map(|p| p.batches.iter()) {
            for (i, a) in b.assets.iter().enumerate() {
                let i = i as u32;
                let covering = outcomes
                    .iter()
                    .find(|o| o.batch == b.index && o.range[0] <= i && i < o.range[1]);
                let (bundle, error) =
                    match covering {
                        Some(o) if o.bundle_key.is_some() => (Some(o), None),
                        Some(o) => (
                            None,
                            Some(
                                o.errors
                                    .iter()
                                    .map(|e| e.message.clone())
                                    .collect::<Vec<_>>()
                                    .join("; "),
                            ),
                        ),
                        None => (
                            None,
                            Some(batch_errors.get(&b.index).cloned().unwrap_or_else(|| {
                                "not exported: the batch did not finish".into()
                            })),
                        ),
                    };
                assets.push(ManifestAsset {
                    kind: a.kind,
                    id: a.id.clone(),
                    arn: a.arn.clone(),
                    name: a.name.clone(),
                    last_updated: a.last_updated.clone(),
                    bundle_key: bundle.and_then(|o| o.bundle_key.clone()),
                    sha256: bundle.and_then(|o| o.sha256.clone()),
                    size: bundle.and_then(|o| o.size),
                    error,
                });
            }
        }
        let identities: Option<IdentitiesSummary> =
            self.read_json(&keys.identities_summary()).await?;
        let wants_identities = mode.includes_identities() && self.policy.identities.enabled;
        if wants_identities && identities.is_none() {
            errors.push(format!(
                "identity snapshot failed: {}",
                describe_error(input.identities.as_ref())
            ));
        }
        let failed = assets.iter().filter(|a| a.error.is_some()).count();
        let backed_up = assets.len() - failed;
        let nothing_saved = backed_up == 0 && identities.is_none();
        let status = if (plan.is_none() && mode.includes_assets())
            || (nothing_saved && (failed > 0 || !errors.is_empty()))
        {
            RunStatus::Failed
        } else if failed > 0 || !errors.is_empty() {
            RunStatus::PartiallyFailed
        } else {
            RunStatus::Completed
        };
        let manifest = Manifest {
            format: MANIFEST_FORMAT,
            tool: format!("qsbackup {}", env!("CARGO_PKG_VERSION")),
            run_id: run_id.to_string(),
            policy_name: self.policy.name.clone(),
            policy_digest: self.policy.digest(),
            account: self.scope.account.clone(),
            region: self.scope.region.clone(),
            identity_region: self.policy.identity_region().to_string(),
            mode,
            started_at: started.map(|s| s.started_at).unwrap_or_default(),
            finished_at: now.to_rfc3339(),
            status,
            assets,
            bundles: outcomes
                .iter()
                .filter_map(|o| {
                    Some(ManifestBundle {
                        key: o.bundle_key.clone()?,
                        sha256: o.sha256.clone()?,
                        size: o.size?,
                        job_id: o.job_id.clone(),
                        batch: o.batch,
                        range: o.range,
                        started_at: o.started_at.clone(),
                        finished_at: o.finished_at.clone(),
                    })
                })
                .collect(),
            skipped: plan.map(|p| p.skipped.clone()).unwrap_or_default(),
            errors,
            identities,
        };
        let report = crate::report::Report::from_manifest(&manifest, &self.stats.snapshot());
        self.put_json(&keys.report("json"), &report).await?;
        self.put_new_text(&keys.report("md"), report.markdown())
            .await?;
        self.put_json(&keys.manifest(), &manifest).await?;
        let bytes: u64 = manifest.bundles.iter().map(|b| b.size).sum();
        self.catalog_put(
            run_id,
            HashMap::from([
                ("status", attr_s(format!("{status:?}"))),
                ("finishedAt", attr_s(now.to_rfc3339())),
                ("manifestKey", attr_s(keys.manifest())),
                ("assets", attr_n(manifest.backed_up())),
                ("failed", attr_n(manifest.failed())),
                ("skipped", attr_n(manifest.skipped.len())),
                ("bytes", attr_n(bytes)),
                (
                    "expiresAt",
                    attr_n(crate::retention::identity_expiry(
                        &self.policy.retention,
                        now,
                    )),
                ),
            ]),
        )
        .await?;
        self.release_lock(run_id).await?;
        Ok(FinalizeOutput {
            run_id: run_id.to_string(),
            status,
            manifest_key: keys.manifest(),
            assets: manifest.backed_up(),
            failed: manifest.failed(),
            skipped: manifest.skipped.len(),
        })
    }

    async fn put_new_text(&self, key: &str, text: String) -> Result<(), StepError> {
        match self.store.put_new(key, text.into_bytes()).await {
            Ok(()) | Err(crate::store::StoreError::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Drives one batch to the end: start → poll → store | split, until no range is pending.
    /// An export slot is held only while a job runs, so the next job starts as soon as one ends.
    async fn run_batch(&self, mut work: BatchWork, slots: &Semaphore) -> Result<(), StepError> {
        while !work.pending.is_empty() {
            let job = {
                let _slot = slots
                    .acquire()
                    .await
                    .map_err(|e| StepError::NonRetryable(e.to_string()))?;
                let mut job = self.start_export(work.clone()).await?;
                loop {
                    tokio::time::sleep(self.settings.poll.wait(job.polls)).await;
                    job = self.check_export(job).await?;
                    if job.status != JobState::Pending {
                        break job;
                    }
                }
            };
            let progress = match job.status {
                JobState::Succeeded => self.store_bundle(job).await?,
                _ => self.split_batch(job).await?,
            };
            work = progress.work;
        }
        Ok(())
    }

    /// Runs a whole backup in this process with the same steps as the Step Functions workflow.
    pub async fn run_backup(
        self: &Arc<Self>,
        mode: Option<Mode>,
        now: DateTime<Utc>,
    ) -> Result<FinalizeOutput, StepError> {
        let started = self.begin(BeginInput { mode }, now).await?;
        let run_id = started.run_id.clone();
        let identities = async {
            if !(started.mode.includes_identities() && self.policy.identities.enabled) {
                return None;
            }
            Some(match self.snapshot_identities(&run_id).await {
                Ok(s) => serde_json::to_value(s).unwrap_or_default(),
                Err(e) => error_value(&e),
            })
        };
        let export = async {
            if !started.mode.includes_assets() {
                return None;
            }
            let discovered = match self.discover(&run_id).await {
                Ok(d) => d,
                Err(e) => return Some(error_value(&e)),
            };
            let plan = match self.load_plan(&run_id).await {
                Ok(p) => p,
                Err(e) => return Some(error_value(&e)),
            };
            let slots = Semaphore::new(self.policy.export.concurrent_jobs.clamp(1, 5) as usize);
            let mut running: FuturesUnordered<_> = plan
                .batches
                .iter()
                .map(|b| {
                    let work = BatchWork {
                        run_id: run_id.clone(),
                        batch: b.index,
                        pending: vec![[0, b.assets.len() as u32]],
                    };
                    let slots = &slots;
                    async move { (b.index, self.run_batch(work, slots).await) }
                })
                .collect();
            let mut results = Vec::new();
            while let Some((batch, r)) = running.next().await {
                if let Err(e) = r {
                    results.push(serde_json::json!({"batch": batch, "Error": e.name(), "Cause": e.to_string()}));
                }
            }
            Some(serde_json::json!({"batches": discovered.batch_count, "errors": results}))
        };
        let (identities, export) = tokio::join!(identities, export);
        self.finalize(
            FinalizeInput {
                run_id,
                identities,
                export,
            },
            Utc::now(),
        )
        .await
    }
}

fn error_value(e: &StepError) -> serde_json::Value {
    serde_json::json!({"Error": e.name(), "Cause": e.to_string()})
}

/// The message of a Step Functions style error object, if there is one.
fn describe_error(v: Option<&serde_json::Value>) -> String {
    v.and_then(|v| v.get("Cause").or_else(|| v.get("cause")))
        .and_then(|c| c.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| "no result was recorded".into())
}

/// Per-batch errors the host reported (a batch whose steps failed after retries).
fn batch_errors(v: Option<&serde_json::Value>) -> BTreeMap<u32, String> {
    let items: Vec<&serde_json::Value> = match v {
        Some(serde_json::Value::Array(a)) => a.iter().collect(),
        Some(v) => v
            .get("errors")
            .and_then(|e| e.as_array())
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
        None => vec![],
    };
    items
        .into_iter()
        .filter_map(|e| {
            let batch = e.get("batch")?.as_u64()? as u32;
            let cause = e
                .get("Cause")
                .or_else(|| e.get("error"))
                .map(|c| match c.as_str() {
                    Some(s) => s.to_string(),
                    None => c.to_string(),
                })?;
            Some((batch, format!("batch failed: {cause}")))
        })
        .collect()
}
