//! Restore: plan first, then act. [`Restorer::plan`] resolves the run (latest, an id, or
//! as-of a time), checks every bundle against the manifest, applies the selection, compares with
//! the target and returns a [`RestorePlan`] with a digest; it changes nothing. [`Restorer::execute`]
//! re-checks the digest, the manifest and every bundle it reads before the first change, then
//! re-creates identities, runs the import jobs (≤ 5 in flight), verifies each restored asset and
//! writes the report beside the backup run. Library code never prints.

pub mod identities;
pub mod jobs;
pub mod plan;
pub mod report;
pub mod source;
pub mod verify;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::stream::{FuturesUnordered, StreamExt};
use qsbackup_policy::AssetType;
use serde_json::Value;
use tokio::sync::Semaphore;

pub use identities::UsersMode;
pub use plan::{
    Action, FailureAction, PlannedAsset, PlannedJob, RestorePlan, RestoreTarget, Selection,
};
pub use report::{AssetOutcome, AssetResult, RestoreReport};
pub use source::RunRef;
pub use verify::Verification;

use crate::engine::Engine;
use crate::layout::{is_run_id, new_run_id};
use crate::overrides::{Overrides, PrincipalMapper};
use crate::qs::QsError;
use crate::store::{Store, StoreError};
use jobs::{JobOutcome, JobRequest, Source, ZipPart};
use plan::{BundleRef, Candidate, MAX_OVERRIDES_PER_TYPE, RESTORE_PLAN_FORMAT};
use source::{ArnIndex, LoadedBundle, asset_key, parse_asset_arn, split_key};

/// Import jobs in flight at once (QuickSight runs at most 5 per account).
pub const MAX_JOBS_IN_FLIGHT: usize = 5;

/// Why a restore stopped. `Invalid` and `Integrity` happen before any change.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The request or plan is not acceptable (exit code 2).
    #[error("{0}")]
    Invalid(String),
    /// The backup does not match its manifest: tampered, truncated or missing files.
    #[error("{0}")]
    Integrity(String),
    #[error(transparent)]
    Qs(#[from] QsError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Other(String),
}

/// Where and how much to restore.
#[derive(Clone, Debug, Default)]
pub struct RestoreRequest {
    pub from: Option<RunRef>,
    pub selection: Selection,
    /// Target account (default: the backup's).
    pub account: Option<String>,
    /// Target Region (default: the backup's).
    pub region: Option<String>,
    /// Target identity Region (default: the backup's for the same account, else the target Region).
    pub identity_region: Option<String>,
    /// Target namespace (default `default`).
    pub namespace: Option<String>,
    /// The namespace of the run's identity snapshot (default `default`).
    pub source_namespace: Option<String>,
    pub overrides: Overrides,
    pub failure_action: FailureAction,
    /// Re-import assets that have not changed since the backup.
    pub include_unchanged: bool,
    /// Leave groups and memberships alone.
    pub no_groups: bool,
    pub users: UsersMode,
}

/// QuickSight clients for the target account and its identity Region.
#[derive(Clone, Debug)]
pub struct TargetClients {
    pub qs: aws_sdk_quicksight::Client,
    pub qs_identity: aws_sdk_quicksight::Client,
}

/// An S3 bucket (in the target account) for bundles too large to send inline.
#[derive(Clone, Debug)]
pub struct Staging {
    pub client: aws_sdk_s3::Client,
    pub bucket: String,
}

/// One restore session: plan and/or execute against one target.
pub struct Restorer<'a> {
    engine: &'a Engine,
    clients: TargetClients,
    pub staging: Option<Staging>,
    /// Bundles up to this size go inline (`Body`); default 20 MB.
    pub inline_limit: u64,
    loaded: tokio::sync::Mutex<HashMap<String, Arc<LoadedBundle>>>,
}

impl<'a> Restorer<'a> {
    pub fn new(engine: &'a Engine, clients: TargetClients) -> Restorer<'a> {
        Restorer {
            engine,
            clients,
            staging: None,
            inline_limit: jobs::MAX_INLINE_BYTES,
            loaded: Default::default(),
        }
    }

    /// Downloads and checks a bundle once per session.
    async fn bundle(
        &self,
        key: &str,
        sha256: &str,
        size: u64,
        index: &ArnIndex,
    ) -> Result<Arc<LoadedBundle>, RestoreError> {
        let mut loaded = self.loaded.lock().await;
        if let Some(b) = loaded
            .get(key)
            .filter(|b| b.sha256 == sha256 && b.size == size)
        {
            return Ok(b.clone());
        }
        let b = Arc::new(self.engine.load_bundle(key, sha256, size, index).await?);
        loaded.insert(key.to_string(), b.clone());
        Ok(b)
    }

    fn index_of(manifest: &crate::run::Manifest) -> ArnIndex {
        ArnIndex {
            region: manifest.region.clone(),
            account: manifest.account.clone(),
            keys: manifest
                .assets
                .iter()
                .filter(|a| a.bundle_key.is_some())
                .map(|a| asset_key(a.kind, &a.id))
                .collect(),
        }
    }

    /// Computes what a restore would do. Reads storage and the target; changes nothing.
    pub async fn plan(
        &self,
        req: &RestoreRequest,
        now: DateTime<Utc>,
    ) -> Result<RestorePlan, RestoreError> {
        let e = self.engine;
        let (run_id, manifest_bytes) = e
            .resolve_run(req.from.as_ref().unwrap_or(&RunRef::Latest))
            .await?;
        let manifest = source::parse_manifest(&run_id, &manifest_bytes)?;
        let target = resolve_target(req, &manifest)?;
        let source_ns = req
            .source_namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        for ns in [&source_ns, &target.namespace] {
            let ok = !ns.is_empty()
                && ns.len() <= 64
                && ns
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                && ns != "."
                && ns != "..";
            if !ok {
                return Err(RestoreError::Invalid(format!(
                    "{ns:?} is not a namespace name"
                )));
            }
        }
        PrincipalMapper::new(
            &req.overrides,
            &manifest.account,
            &source_ns,
            &target.account,
            &target.identity_region,
            &target.namespace,
        )
        .map_err(RestoreError::Invalid)?;

        // Every bundle is checked against the manifest and indexed.
        let index = Self::index_of(&manifest);
        let mut bundles = Vec::new();
        for b in &manifest.bundles {
            bundles.push(self.bundle(&b.key, &b.sha256, b.size, &index).await?);
        }
        let plain: Vec<&LoadedBundle> = bundles.iter().map(|b| b.as_ref()).collect();
        let holders = holders_of(&manifest, &plain);
        let backup_plan: Option<crate::plan::Plan> = e
            .store
            .get(&e.scope.run(&run_id).plan())
            .await?
            .and_then(|b| serde_json::from_slice(&b).ok());

        let (deps, tags) = dependencies_and_tags(backup_plan.as_ref(), &plain, &index);

        let backed: Vec<&crate::run::ManifestAsset> = manifest
            .assets
            .iter()
            .filter(|a| a.bundle_key.is_some())
            .collect();
        let candidates: Vec<Candidate> = backed
            .iter()
            .map(|a| {
                let key = asset_key(a.kind, &a.id);
                Candidate {
                    tags: tags.get(&key).cloned().unwrap_or_default(),
                    key,
                    kind: a.kind,
                    id: &a.id,
                    name: &a.name,
                }
            })
            .collect();
        let selected = plan::select(&req.selection, &candidates).map_err(RestoreError::Invalid)?;
        if selected.is_empty() {
            return Err(RestoreError::Invalid(format!(
                "the selection matches none of the {} assets backed up in run {run_id}",
                backed.len()
            )));
        }
        let wanted = if req.selection.follow_dependencies {
            plan::closure(&selected, &deps)
        } else {
            selected.clone()
        };

        // Compare with the target.
        let prefix = req.overrides.prefix().to_string();
        let identical = target.account == manifest.account
            && target.region == manifest.region
            && prefix.is_empty();
        let kinds: BTreeSet<AssetType> = wanted
            .iter()
            .filter_map(|k| split_key(k).map(|(t, _)| t))
            .collect();
        let existing = self.existing(&target.account, &kinds).await?;
        let by_key: HashMap<String, &crate::run::ManifestAsset> = backed
            .iter()
            .map(|a| (asset_key(a.kind, &a.id), *a))
            .collect();
        let decide = |key: &str| -> Option<PlannedAsset> {
            let a = by_key.get(key)?;
            let target_id = format!("{prefix}{}", a.id);
            let (action, reason) = match existing.get(&asset_key(a.kind, &target_id)) {
                None => (Action::Create, "missing in the target".to_string()),
                Some(t)
                    if identical
                        && !req.include_unchanged
                        && t.is_some()
                        && *t == a.last_updated =>
                {
                    (Action::Skip, "unchanged since the backup".to_string())
                }
                Some(_) if identical => (Action::Update, "changed since the backup".to_string()),
                Some(_) => (
                    Action::Update,
                    "exists in the target; replaced by the backed-up version".to_string(),
                ),
            };
            let reason = if selected.contains(key) {
                reason
            } else {
                format!("{reason} (dependency of a selected asset)")
            };
            Some(PlannedAsset {
                kind: a.kind,
                id: a.id.clone(),
                target_id,
                name: a.name.clone(),
                action,
                reason,
                job: None,
            })
        };
        let mut assets: BTreeMap<String, PlannedAsset> = wanted
            .iter()
            .filter_map(|k| decide(k).map(|p| (k.clone(), p)))
            .collect();
        // A re-created folder gets back its members that still exist in the target: they are
        // re-imported with it (membership travels with the member). Missing members are not
        // pulled in: restoring a folder does not restore everything that was in it.
        if req.selection.follow_dependencies {
            let folders: BTreeSet<String> = assets
                .iter()
                .filter(|(k, p)| p.action == Action::Create && k.starts_with("folder/"))
                .map(|(k, _)| k.clone())
                .collect();
            for (key, d) in &deps {
                let Some(folder) = d.iter().find(|x| folders.contains(*x)) else {
                    continue;
                };
                if assets.get(key).is_some_and(|p| p.action != Action::Skip) {
                    continue;
                }
                if let Some(mut p) = decide(key).filter(|p| p.action != Action::Create) {
                    p.action = Action::Update;
                    p.reason = format!("member of re-created {folder}");
                    assets.insert(key.clone(), p);
                }
            }
        }

        // Jobs: rebuilt bundles when every asset's document was found, else whole bundles.
        let restore: BTreeSet<String> = assets
            .iter()
            .filter(|(_, p)| p.action != Action::Skip)
            .map(|(k, _)| k.clone())
            .collect();
        let mut notes = Vec::new();
        let whole = restore.iter().any(|k| !holders.contains_key(k));
        let restore_id = new_run_id(now);
        let mut planned_jobs = Vec::new();
        let mut used_bundles: BTreeSet<String> = BTreeSet::new();
        let groups: Vec<(Vec<String>, Vec<String>)> = if whole {
            notes.push("the bundles' inner layout was not recognised, so whole bundles are imported: assets that ride along in them are replaced too".into());
            let mut by_bundle: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for a in &backed {
                by_bundle
                    .entry(a.bundle_key.clone().unwrap_or_default())
                    .or_default()
                    .push(asset_key(a.kind, &a.id));
            }
            let mut out = Vec::new();
            for (bundle, mut keys) in by_bundle
                .into_iter()
                .filter(|(_, keys)| keys.iter().any(|k| restore.contains(k)))
            {
                for k in &keys {
                    if !restore.contains(k)
                        && let Some(mut p) = decide(k)
                    {
                        if p.action == Action::Skip {
                            p.action = Action::Update;
                        }
                        p.reason = format!("rides along in {bundle}, which is imported whole");
                        assets.insert(k.clone(), p);
                    }
                }
                keys.sort_by(|a, b| plan::order_key(a).cmp(&plan::order_key(b)));
                out.push((keys, vec![bundle]));
            }
            out
        } else {
            plan::group_jobs(&restore, &deps)
                .into_iter()
                .map(|keys| {
                    let mut from: Vec<String> = keys
                        .iter()
                        .filter_map(|k| holders.get(k)?.first().map(|i| bundles[*i].key.clone()))
                        .collect();
                    from.sort();
                    from.dedup();
                    (keys, from)
                })
                .collect()
        };
        for (i, (keys, from)) in groups.into_iter().enumerate() {
            let index = i as u32;
            let doc_of = |key: &str| {
                holders
                    .get(key)
                    .and_then(|h| h.first())
                    .and_then(|i| bundles[*i].primary(key))
                    .and_then(|e| e.doc.as_ref())
            };
            let (data_sources, vpc_connections) = job_overrides(&keys, &req.overrides, doc_of)?;
            for k in &keys {
                if let Some(p) = assets.get_mut(k) {
                    p.job = Some(index);
                }
            }
            if data_sources.len() > MAX_OVERRIDES_PER_TYPE
                || vpc_connections.len() > MAX_OVERRIDES_PER_TYPE
            {
                return Err(RestoreError::Invalid(format!(
                    "import job {index} would need more than {MAX_OVERRIDES_PER_TYPE} data source or VPC connection overrides (QuickSight's limit); restore a smaller selection"
                )));
            }
            used_bundles.extend(from.iter().cloned());
            planned_jobs.push(PlannedJob {
                index,
                job_id: format!("qsr-{restore_id}-j{index:03}"),
                assets: keys,
                bundles: from,
                whole_bundle: whole,
                data_sources,
                vpc_connections,
            });
        }
        notes.extend(unused_overrides(&req.overrides, &restore));

        let (identities, id_notes) = if req.no_groups && req.users == UsersMode::Ignore {
            (vec![], vec![])
        } else {
            let (mut items, notes) = e
                .plan_identities(
                    &self.clients.qs_identity,
                    &run_id,
                    &source_ns,
                    &target,
                    req.users,
                )
                .await?;
            if req.no_groups {
                items.retain(|i| i.kind == "user");
            }
            (items, notes)
        };
        notes.extend(id_notes);

        let mut assets: Vec<PlannedAsset> = assets.into_values().collect();
        assets.sort_by(|a, b| (plan::rank(a.kind), &a.id).cmp(&(plan::rank(b.kind), &b.id)));
        let mut plan = RestorePlan {
            format: RESTORE_PLAN_FORMAT,
            restore_id,
            created_at: now.to_rfc3339(),
            run_id,
            source_account: manifest.account.clone(),
            source_region: manifest.region.clone(),
            source_namespace: source_ns,
            manifest_sha256: source::sha256_hex(&manifest_bytes),
            target,
            failure_action: req.failure_action,
            overrides: req.overrides.clone(),
            bundles: manifest
                .bundles
                .iter()
                .filter(|b| used_bundles.contains(&b.key))
                .map(|b| BundleRef {
                    key: b.key.clone(),
                    sha256: b.sha256.clone(),
                    size: b.size,
                })
                .collect(),
            assets,
            jobs: planned_jobs,
            identities,
            notes,
            digest: String::new(),
        };
        plan.digest = plan.compute_digest();
        Ok(plan)
    }

    /// Target assets of `kinds`: key (with the target ID) → last-updated time.
    async fn existing(
        &self,
        account: &str,
        kinds: &BTreeSet<AssetType>,
    ) -> Result<HashMap<String, Option<String>>, RestoreError> {
        let lists = futures::future::try_join_all(
            kinds
                .iter()
                .map(|k| self.engine.list_assets(&self.clients.qs, account, *k)),
        )
        .await?;
        Ok(lists
            .into_iter()
            .flatten()
            .map(|(a, _)| (asset_key(a.kind, &a.id), a.last_updated))
            .collect())
    }

    /// Runs a plan: checks, identities, import jobs, verification, report.
    pub async fn execute(
        &self,
        plan: &RestorePlan,
        now: DateTime<Utc>,
    ) -> Result<RestoreReport, RestoreError> {
        let e = self.engine;
        if plan.format != RESTORE_PLAN_FORMAT {
            return Err(RestoreError::Invalid(format!(
                "plan format {} is not {RESTORE_PLAN_FORMAT}",
                plan.format
            )));
        }
        let digest = plan.compute_digest();
        if digest != plan.digest {
            return Err(RestoreError::Invalid(format!(
                "the plan's digest does not match its content (recorded {}, computed {digest}): it was changed after it was made; make and review a new plan",
                plan.digest
            )));
        }
        if (plan.source_account.as_str(), plan.source_region.as_str())
            != (e.scope.account.as_str(), e.scope.region.as_str())
        {
            return Err(RestoreError::Invalid(format!(
                "the plan restores from {}/{}, but this policy target backs up {}",
                plan.source_account,
                plan.source_region,
                e.scope.id()
            )));
        }
        if !is_run_id(&plan.run_id) || !is_run_id(&plan.restore_id) {
            return Err(RestoreError::Invalid(
                "the plan's run or restore id is malformed".into(),
            ));
        }
        let run = e.scope.run(&plan.run_id);
        let manifest_bytes = e.store.get(&run.manifest()).await?.ok_or_else(|| {
            RestoreError::Integrity(format!(
                "the manifest of run {} is missing; nothing was restored",
                plan.run_id
            ))
        })?;
        if source::sha256_hex(&manifest_bytes) != plan.manifest_sha256 {
            return Err(RestoreError::Integrity(format!(
                "the manifest of run {} changed since the plan was made; nothing was restored",
                plan.run_id
            )));
        }
        let manifest = source::parse_manifest(&plan.run_id, &manifest_bytes)?;
        let index = Self::index_of(&manifest);
        let mut loaded: HashMap<String, Arc<LoadedBundle>> = HashMap::new();
        for b in &plan.bundles {
            loaded.insert(
                b.key.clone(),
                self.bundle(&b.key, &b.sha256, b.size, &index).await?,
            );
        }
        let mapper = PrincipalMapper::new(
            &plan.overrides,
            &plan.source_account,
            &plan.source_namespace,
            &plan.target.account,
            &plan.target.identity_region,
            &plan.target.namespace,
        )
        .map_err(RestoreError::Invalid)?;

        // Every job's bundle is built before the first change.
        let mut built = Vec::new();
        for job in &plan.jobs {
            built.push(
                self.build_job_bundle(job, &job.assets, &loaded, &mapper)
                    .await?,
            );
        }
        let restore_dir = format!("{}/restores/{}", run.base, plan.restore_id);
        if built.iter().any(|(_, size)| *size > self.inline_limit)
            && self.staging.is_none()
            && !matches!(e.store, Store::S3 { .. })
        {
            return Err(RestoreError::Invalid(format!(
                "a rebuilt bundle is larger than {} bytes and must go through S3, but the backup is stored locally; give a staging bucket (--staging-bucket)",
                self.inline_limit
            )));
        }
        // A plan runs once: its record is written without overwriting before anything changes.
        let body =
            serde_json::to_vec_pretty(plan).map_err(|e| RestoreError::Other(e.to_string()))?;
        match e
            .store
            .put_new(&format!("{restore_dir}/plan.json"), body)
            .await
        {
            Ok(()) => {}
            Err(StoreError::AlreadyExists { .. }) => {
                return Err(RestoreError::Invalid(format!(
                    "restore {} already ran (its record is in {restore_dir}); make a new plan",
                    plan.restore_id
                )));
            }
            Err(err) => return Err(err.into()),
        }
        let started_at = now.to_rfc3339();
        let mut errors = Vec::new();

        let identity_outcomes = e
            .apply_identities(&self.clients.qs_identity, &plan.target, &plan.identities)
            .await;

        let slots = Semaphore::new(MAX_JOBS_IN_FLIGHT);
        let mut running: FuturesUnordered<_> = plan
            .jobs
            .iter()
            .zip(built)
            .map(|(job, (file, size))| {
                let (slots, loaded, mapper, restore_dir) = (&slots, &loaded, &mapper, &restore_dir);
                async move {
                    self.run_job(plan, job, file, size, slots, loaded, mapper, restore_dir)
                        .await
                }
            })
            .collect();
        let mut outcomes: Vec<JobOutcome> = Vec::new();
        while let Some(r) = running.next().await {
            match r {
                Ok(mut o) => outcomes.append(&mut o),
                Err(err) => errors.push(err.to_string()),
            }
        }
        drop(running);
        outcomes.sort_by(|a, b| a.job_id.cmp(&b.job_id));

        let assets = self.asset_outcomes(plan, &outcomes, &loaded, &mapper).await;
        let report_key = format!("{restore_dir}/report.md");
        let report = RestoreReport::new(
            plan,
            started_at,
            assets,
            outcomes,
            identity_outcomes,
            errors,
            report_key.clone(),
        );
        let report = RestoreReport {
            finished_at: Utc::now().to_rfc3339(),
            ..report
        };
        let json =
            serde_json::to_vec_pretty(&report).map_err(|e| RestoreError::Other(e.to_string()))?;
        e.store
            .put_new(&format!("{restore_dir}/report.json"), json)
            .await?;
        e.store
            .put_new(&report_key, report.markdown().into_bytes())
            .await?;
        Ok(report)
    }

    /// Writes the zip of (part of) a job into a spool file; returns it with its size.
    async fn build_job_bundle(
        &self,
        job: &PlannedJob,
        keys: &[String],
        loaded: &HashMap<String, Arc<LoadedBundle>>,
        mapper: &PrincipalMapper,
    ) -> Result<(tempfile::TempPath, u64), RestoreError> {
        let mut parts = Vec::new();
        for bkey in &job.bundles {
            let b = loaded.get(bkey).ok_or_else(|| {
                RestoreError::Invalid(format!("the plan does not list bundle {bkey}"))
            })?;
            // An asset's entries come from the first listed bundle that holds its document;
            // entries of other assets stay out, anything else (metadata, padding) rides along.
            let names = (!job.whole_bundle).then(|| {
                b.entries
                    .iter()
                    .filter(|en| match &en.owner {
                        Some(o) => {
                            keys.contains(o) && first_holder(job, loaded, o) == Some(bkey.as_str())
                        }
                        None => !source::looks_like_asset(&en.name),
                    })
                    .map(|en| en.name.clone())
                    .collect()
            });
            parts.push(ZipPart {
                file: b.file.to_path_buf(),
                names,
            });
        }
        let dest = tempfile::Builder::new()
            .prefix("qsrestore-job-")
            .suffix(".qs")
            .tempfile_in(&self.engine.settings.work_dir)
            .map_err(|e| RestoreError::Other(format!("temp file: {e}")))?
            .into_temp_path();
        let (path, mapper) = (dest.to_path_buf(), mapper.clone());
        let size = tokio::task::spawn_blocking(move || jobs::build_zip(&path, &parts, &mapper))
            .await
            .map_err(|e| RestoreError::Other(e.to_string()))?
            .map_err(|e| {
                RestoreError::Other(format!("building the bundle of {}: {e}", job.job_id))
            })?;
        Ok((dest, size))
    }

    /// How a job's bundle reaches QuickSight: inline, or staged in S3 when it is large.
    async fn source_for(
        &self,
        job_id: &str,
        file: &std::path::Path,
        size: u64,
        restore_dir: &str,
    ) -> Result<Source, RestoreError> {
        if size <= self.inline_limit {
            let bytes = tokio::fs::read(file)
                .await
                .map_err(|e| RestoreError::Other(format!("{}: {e}", file.display())))?;
            return Ok(Source::Body(bytes.into()));
        }
        let (store, bucket, key) = match (&self.staging, &self.engine.store) {
            (Some(s), _) => (
                Store::S3 {
                    client: s.client.clone(),
                    bucket: s.bucket.clone(),
                    kms_key_arn: None,
                },
                s.bucket.clone(),
                format!(
                    "qsbackup-restores/{}/{job_id}.qs",
                    restore_dir.rsplit('/').next().unwrap_or("restore")
                ),
            ),
            (None, Store::S3 { bucket, .. }) => (
                self.engine.store.clone(),
                bucket.clone(),
                format!("{restore_dir}/bundles/{job_id}.qs"),
            ),
            (None, Store::Local { .. }) => {
                return Err(RestoreError::Invalid(
                    "a large bundle needs a staging bucket".into(),
                ));
            }
        };
        match store.put_file_new(&key, file).await {
            Ok(()) | Err(StoreError::AlreadyExists { .. }) => {
                Ok(Source::S3Uri(format!("s3://{bucket}/{key}")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Runs one planned job; when it fails and the service names some of its assets, runs the
    /// rest again without them (and without what depends on them), so one broken asset does not
    /// keep the others out. Returns the outcome of each attempt.
    #[allow(clippy::too_many_arguments)]
    async fn run_job(
        &self,
        plan: &RestorePlan,
        job: &PlannedJob,
        file: tempfile::TempPath,
        size: u64,
        slots: &Semaphore,
        loaded: &HashMap<String, Arc<LoadedBundle>>,
        mapper: &PrincipalMapper,
        restore_dir: &str,
    ) -> Result<Vec<JobOutcome>, RestoreError> {
        let first = self
            .attempt(
                plan,
                job,
                job.job_id.clone(),
                job.assets.clone(),
                &file,
                size,
                slots,
                restore_dir,
            )
            .await?;
        let prefix = plan.overrides.prefix();
        let named: BTreeSet<String> = first
            .errors
            .iter()
            .filter_map(|er| er.arn.as_deref().and_then(|a| key_of_target_arn(a, prefix)))
            .filter(|k| job.assets.contains(k))
            .collect();
        if first.succeeded()
            || job.whole_bundle
            || plan.failure_action != FailureAction::Rollback
            || named.is_empty()
        {
            return Ok(vec![first]);
        }
        // Drop the named assets and everything in the job that depends on them.
        let mut dropped = named;
        loop {
            let before = dropped.len();
            for k in &job.assets {
                let refs = loaded
                    .values()
                    .flat_map(|b| b.entries.iter())
                    .filter(|en| en.owner.as_ref() == Some(k))
                    .flat_map(|en| en.refs.iter());
                if refs.into_iter().any(|r| dropped.contains(r)) {
                    dropped.insert(k.clone());
                }
            }
            if dropped.len() == before {
                break;
            }
        }
        let rest: Vec<String> = job
            .assets
            .iter()
            .filter(|k| !dropped.contains(*k))
            .cloned()
            .collect();
        if rest.is_empty() {
            return Ok(vec![first]);
        }
        let (file, size) = self.build_job_bundle(job, &rest, loaded, mapper).await?;
        let second = self
            .attempt(
                plan,
                job,
                format!("{}-r", job.job_id),
                rest,
                &file,
                size,
                slots,
                restore_dir,
            )
            .await?;
        Ok(vec![first, second])
    }

    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        plan: &RestorePlan,
        job: &PlannedJob,
        job_id: String,
        assets: Vec<String>,
        file: &std::path::Path,
        size: u64,
        slots: &Semaphore,
        restore_dir: &str,
    ) -> Result<JobOutcome, RestoreError> {
        let invalid = |e: String| RestoreError::Invalid(format!("{}: {e}", job.job_id));
        let parameters = jobs::override_parameters(job, &plan.overrides).map_err(invalid)?;
        let tags = jobs::override_tags(job, &plan.overrides).map_err(invalid)?;
        let _slot = slots
            .acquire()
            .await
            .map_err(|e| RestoreError::Other(e.to_string()))?;
        let source = match self.source_for(&job_id, file, size, restore_dir).await {
            Ok(s) => s,
            Err(err) => {
                return Ok(JobOutcome {
                    job_id,
                    status: "NOT_STARTED".into(),
                    source: String::new(),
                    assets,
                    errors: vec![jobs::JobError {
                        arn: None,
                        message: err.to_string(),
                    }],
                });
            }
        };
        let request = JobRequest {
            qs: &self.clients.qs,
            account: &plan.target.account,
            job_id: job_id.clone(),
            assets: assets.clone(),
            source,
            failure_action: plan.failure_action,
            parameters,
            tags,
        };
        Ok(match self.engine.run_import_job(request).await {
            Ok(o) => o,
            Err(err) => JobOutcome {
                job_id,
                status: "NOT_STARTED".into(),
                source: String::new(),
                assets,
                errors: vec![jobs::JobError {
                    arn: None,
                    message: err.to_string(),
                }],
            },
        })
    }

    /// Per-asset results from the job outcomes, with verification of each restored asset.
    async fn asset_outcomes(
        &self,
        plan: &RestorePlan,
        outcomes: &[JobOutcome],
        loaded: &HashMap<String, Arc<LoadedBundle>>,
        mapper: &PrincipalMapper,
    ) -> Vec<AssetOutcome> {
        let prefix = plan.overrides.prefix();
        let restored: BTreeSet<String> = plan
            .assets
            .iter()
            .filter(|a| a.action != Action::Skip)
            .map(PlannedAsset::key)
            .collect();
        let mut out = Vec::new();
        for a in &plan.assets {
            let key = a.key();
            let base = AssetOutcome {
                kind: a.kind,
                id: a.id.clone(),
                target_id: a.target_id.clone(),
                name: a.name.clone(),
                action: a.action,
                result: AssetResult::Skipped,
                message: a.reason.clone(),
                job_id: None,
                verification: None,
            };
            if a.action == Action::Skip {
                out.push(base);
                continue;
            }
            // The last attempt that included the asset decides.
            let Some(job) = outcomes.iter().rev().find(|o| o.assets.contains(&key)) else {
                out.push(AssetOutcome {
                    result: AssetResult::Failed,
                    message: "its import job did not run".into(),
                    ..base
                });
                continue;
            };
            if !job.succeeded() {
                let own: Vec<&str> = job
                    .errors
                    .iter()
                    .filter(|er| {
                        er.arn
                            .as_deref()
                            .and_then(|x| key_of_target_arn(x, prefix))
                            .as_deref()
                            == Some(key.as_str())
                    })
                    .map(|er| er.message.as_str())
                    .collect();
                let message = if own.is_empty() {
                    let all: Vec<&str> = job
                        .errors
                        .iter()
                        .map(|er| er.message.as_str())
                        .take(3)
                        .collect();
                    format!(
                        "not restored: job {} ended {} ({})",
                        job.job_id,
                        job.status,
                        all.join("; ")
                    )
                } else {
                    own.join("; ")
                };
                out.push(AssetOutcome {
                    result: AssetResult::Failed,
                    message,
                    job_id: Some(job.job_id.clone()),
                    ..base
                });
                continue;
            }
            let verification = self.verify_asset(plan, a, loaded, mapper, &restored).await;
            out.push(AssetOutcome {
                result: AssetResult::Restored,
                message: a.reason.clone(),
                job_id: Some(job.job_id.clone()),
                verification: Some(verification),
                ..base
            });
        }
        out
    }

    async fn verify_asset(
        &self,
        plan: &RestorePlan,
        a: &PlannedAsset,
        loaded: &HashMap<String, Arc<LoadedBundle>>,
        mapper: &PrincipalMapper,
        restored: &BTreeSet<String>,
    ) -> Verification {
        let actual = match self
            .engine
            .describe_json(&self.clients.qs, &plan.target.account, a.kind, &a.target_id)
            .await
        {
            Ok(None) => return Verification::Missing,
            Ok(Some(v)) => v,
            Err(e) => {
                return Verification::Error {
                    message: e.to_string(),
                };
            }
        };
        let key = a.key();
        let doc = plan
            .jobs
            .iter()
            .filter(|j| j.assets.contains(&key))
            .flat_map(|j| j.bundles.iter())
            .filter_map(|b| loaded.get(b))
            .find_map(|b| b.primary(&key).and_then(|en| en.doc.clone()));
        let definition = doc.as_ref().and_then(verify::backed_up_definition);
        let Some((name, props)) = definition.filter(|_| !actual.is_null()) else {
            // Another bundle layout: existence and name only.
            return match actual.get("Name").and_then(Value::as_str) {
                Some(n) if n != a.name => Verification::Mismatch {
                    fields: vec!["Name".into()],
                },
                _ => Verification::Exists,
            };
        };
        let mut props = Value::Object(props);
        retarget_arns(&mut props, plan, restored);
        mapper.rewrite(&mut props);
        let Value::Object(mut props) = props else {
            return Verification::Exists;
        };
        let mut name = name;
        match a.kind {
            AssetType::Datasource => {
                if let Some(d) = plan
                    .jobs
                    .iter()
                    .flat_map(|j| j.data_sources.iter())
                    .find(|d| d.id == a.id)
                {
                    name = d.name.clone().unwrap_or(name);
                    if let Some(p) = &d.parameters {
                        props.insert("DataSourceParameters".into(), p.clone());
                    }
                    if let Some(v) = &d.vpc_connection_arn {
                        props.insert(
                            "VpcConnectionProperties".into(),
                            serde_json::json!({"VpcConnectionArn": v}),
                        );
                    }
                    if let Some(off) = d.disable_ssl {
                        props.insert(
                            "SslProperties".into(),
                            serde_json::json!({"DisableSsl": off}),
                        );
                    }
                    if d.secret_arn.is_some() {
                        props.remove("SecretArn");
                    }
                }
            }
            AssetType::VpcConnection => {
                if let Some(v) = plan.overrides.vpc_connection(&a.id) {
                    name = v.name.clone().unwrap_or(name);
                    for (k, list) in [
                        ("SecurityGroupIds", &v.security_group_ids),
                        ("DnsResolvers", &v.dns_resolvers),
                    ] {
                        if !list.is_empty() {
                            props.insert(k.into(), serde_json::json!(list));
                        }
                    }
                    if let Some(r) = &v.role_arn {
                        props.insert("RoleArn".into(), serde_json::json!(r));
                    }
                }
            }
            _ => {}
        }
        verify::compare(&name, props, &actual)
    }
}

/// The target of a request, with the defaults filled in from the backed-up run.
fn resolve_target(
    req: &RestoreRequest,
    manifest: &crate::run::Manifest,
) -> Result<RestoreTarget, RestoreError> {
    let same_account = req.account.as_deref().is_none_or(|a| a == manifest.account);
    let region = req
        .region
        .clone()
        .unwrap_or_else(|| manifest.region.clone());
    let target = RestoreTarget {
        account: req
            .account
            .clone()
            .unwrap_or_else(|| manifest.account.clone()),
        identity_region: req.identity_region.clone().unwrap_or_else(|| {
            if same_account {
                manifest.identity_region.clone()
            } else {
                region.clone()
            }
        }),
        region,
        namespace: req.namespace.clone().unwrap_or_else(|| "default".into()),
    };
    if target.account.len() != 12 || !target.account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RestoreError::Invalid(format!(
            "target account {} is not a 12-digit account id",
            target.account
        )));
    }
    Ok(target)
}

type Deps = HashMap<String, BTreeSet<String>>;

/// Dependencies (the backup plan's, plus every asset ARN an asset's documents mention) and tags
/// (the backup plan's, else the bundle documents') by asset key.
fn dependencies_and_tags(
    backup_plan: Option<&crate::plan::Plan>,
    bundles: &[&LoadedBundle],
    index: &ArnIndex,
) -> (Deps, HashMap<String, BTreeMap<String, String>>) {
    let mut deps: Deps = HashMap::new();
    let mut tags: HashMap<String, BTreeMap<String, String>> = HashMap::new();
    for a in backup_plan
        .iter()
        .flat_map(|p| p.batches.iter().flat_map(|b| b.assets.iter()))
    {
        let key = asset_key(a.kind, &a.id);
        deps.entry(key.clone())
            .or_default()
            .extend(a.deps.iter().filter_map(|d| index.key_of(d)));
        if !a.tags.is_empty() {
            tags.insert(key, a.tags.clone());
        }
    }
    for en in bundles.iter().flat_map(|b| b.entries.iter()) {
        if let Some(o) = &en.owner {
            deps.entry(o.clone())
                .or_default()
                .extend(en.refs.iter().cloned());
            if let Some(doc) = &en.doc {
                tags.entry(o.clone())
                    .or_insert_with(|| source::doc_tags(doc));
            }
        }
    }
    (deps, tags)
}

/// The data source and VPC connection overrides one job needs, resolved against the backup.
fn job_overrides<'d>(
    keys: &[String],
    overrides: &Overrides,
    doc_of: impl Fn(&str) -> Option<&'d Value>,
) -> Result<
    (
        Vec<plan::ResolvedDataSource>,
        Vec<crate::overrides::VpcConnectionOverride>,
    ),
    RestoreError,
> {
    let mut data_sources = Vec::new();
    let mut vpc_connections = Vec::new();
    for k in keys {
        match split_key(k) {
            Some((AssetType::Datasource, id)) => {
                if let Some(o) = overrides.data_source(id) {
                    data_sources.push(
                        plan::resolve_data_source(o, doc_of(k)).map_err(RestoreError::Invalid)?,
                    );
                }
            }
            Some((AssetType::VpcConnection, id)) => {
                vpc_connections.extend(overrides.vpc_connection(id).cloned())
            }
            _ => {}
        }
    }
    Ok((data_sources, vpc_connections))
}

/// Notes for overrides that match nothing the restore imports (likely a typo in an ID).
fn unused_overrides(overrides: &Overrides, restore: &BTreeSet<String>) -> Vec<String> {
    let ds = overrides.data_sources.iter().map(|d| {
        (
            "data source",
            asset_key(AssetType::Datasource, &d.id),
            &d.id,
        )
    });
    let vpc = overrides.vpc_connections.iter().map(|d| {
        (
            "VPC connection",
            asset_key(AssetType::VpcConnection, &d.id),
            &d.id,
        )
    });
    ds.chain(vpc)
        .filter(|(_, key, _)| !restore.contains(key))
        .map(|(what, _, id)| {
            format!("the override of {what} {id} applies to nothing this restore imports")
        })
        .collect()
}

/// Moves asset ARNs of the source account/Region to the target, with the ID prefix on assets
/// this restore imports (as the import job itself does).
fn retarget_arns(v: &mut Value, plan: &RestorePlan, restored: &BTreeSet<String>) {
    match v {
        Value::String(s) => {
            if let Some((region, account, kind, id)) = parse_asset_arn(s)
                && (region, account) == (plan.source_region.as_str(), plan.source_account.as_str())
            {
                let new_id = if restored.contains(&asset_key(kind, id)) {
                    format!("{}{id}", plan.overrides.prefix())
                } else {
                    id.to_string()
                };
                let tail = s
                    .split_once(&format!("{kind}/{id}"))
                    .map(|(_, t)| t.to_string())
                    .unwrap_or_default();
                *s = format!(
                    "arn:aws:quicksight:{}:{}:{kind}/{new_id}{tail}",
                    plan.target.region, plan.target.account
                );
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|i| retarget_arns(i, plan, restored)),
        Value::Object(m) => m
            .values_mut()
            .for_each(|i| retarget_arns(i, plan, restored)),
        _ => {}
    }
}

/// The asset key (source ID) of an ARN in the target.
fn key_of_target_arn(arn: &str, prefix: &str) -> Option<String> {
    let (_, _, kind, id) = parse_asset_arn(arn)?;
    Some(asset_key(kind, id.strip_prefix(prefix).unwrap_or(id)))
}

/// The first bundle of the job that holds `key`'s document.
fn first_holder<'b>(
    job: &'b PlannedJob,
    loaded: &HashMap<String, Arc<LoadedBundle>>,
    key: &str,
) -> Option<&'b str> {
    job.bundles
        .iter()
        .find(|b| loaded.get(*b).is_some_and(|l| l.primary(key).is_some()))
        .map(String::as_str)
}

fn holders_of(
    manifest: &crate::run::Manifest,
    bundles: &[&LoadedBundle],
) -> HashMap<String, Vec<usize>> {
    let mut out: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, b) in bundles.iter().enumerate() {
        for en in b.entries.iter().filter(|e| e.primary) {
            if let Some(o) = &en.owner {
                out.entry(o.clone()).or_default().push(i);
            }
        }
    }
    for a in &manifest.assets {
        if let (Some(list), Some(bk)) = (out.get_mut(&asset_key(a.kind, &a.id)), &a.bundle_key) {
            list.sort_by_key(|i| bundles[*i].key != *bk);
        }
    }
    out
}

/// Builds QuickSight clients for a target account/Region with the standard AWS configuration
/// chain (profile, `AWS_ENDPOINT_URL_QUICKSIGHT`, …); SDK retries are off as for the engine.
pub async fn target_clients(
    region: &str,
    identity_region: &str,
    profile: Option<&str>,
    endpoint: Option<&str>,
    static_credentials: bool,
) -> TargetClients {
    async fn one(
        region: &str,
        profile: Option<&str>,
        endpoint: Option<&str>,
        static_credentials: bool,
    ) -> aws_sdk_quicksight::Client {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_string()));
        if let Some(p) = profile {
            loader = loader.profile_name(p);
        }
        if static_credentials {
            loader = loader.credentials_provider(aws_credential_types::Credentials::new(
                "AKIDLOCAL",
                "local",
                None,
                None,
                "qsbackup-local",
            ));
        }
        let conf = loader.load().await;
        let mut b = aws_sdk_quicksight::config::Builder::from(&conf)
            .retry_config(aws_config::retry::RetryConfig::disabled());
        if let Some(e) = endpoint {
            b = b.endpoint_url(e);
        }
        aws_sdk_quicksight::Client::from_conf(b.build())
    }
    TargetClients {
        qs: one(region, profile, endpoint, static_credentials).await,
        qs_identity: one(identity_region, profile, endpoint, static_credentials).await,
    }
}

/// A staging bucket client for `region` (path-style when a custom S3 endpoint is configured).
pub async fn staging(bucket: &str, region: &str, profile: Option<&str>) -> Staging {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()));
    if let Some(p) = profile {
        loader = loader.profile_name(p);
    }
    let conf = loader.load().await;
    let custom = std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
        || std::env::var_os("AWS_ENDPOINT_URL").is_some();
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&conf)
            .force_path_style(custom)
            .build(),
    );
    Staging {
        client,
        bucket: bucket.to_string(),
    }
}

impl RestoreError {
    /// True when nothing in QuickSight can have changed (refused before the first change).
    pub fn before_any_change(&self) -> bool {
        matches!(self, RestoreError::Invalid(_) | RestoreError::Integrity(_))
    }
}
