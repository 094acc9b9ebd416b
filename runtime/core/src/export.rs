//! The per-batch steps: `start_export` → `check_export` (Pending | Succeeded | Failed) →
//! `store_bundle`, or `split_batch` on failure. Inputs and outputs are small and serializable so
//! Step Functions can carry them; the plan itself is read from storage.

use std::path::Path;

use aws_sdk_quicksight::types::{AssetBundleExportFormat, AssetBundleExportJobStatus};
use futures::StreamExt;
use qsbackup_policy::ExportFormat;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::StepError;
use crate::engine::{Engine, Event};
use crate::inventory::Asset;
use crate::layout::part_name;
use crate::qs::{ErrorClass, QsError, retry, sdk};
use crate::store::StoreError;

/// One batch of the plan and the ranges of its assets still to export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchWork {
    pub run_id: String,
    pub batch: u32,
    pub pending: Vec<[u32; 2]>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState {
    Pending,
    Succeeded,
    Failed,
}

/// A running (or finished) export job for the first pending range of a batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportJob {
    #[serde(flatten)]
    pub work: BatchWork,
    pub job_id: String,
    pub status: JobState,
    pub wait_seconds: u64,
    #[serde(default)]
    pub polls: u32,
    /// When the job was started (RFC 3339), for the report's job timeline.
    #[serde(default)]
    pub started_at: String,
    /// The download URL of the Describe that saw the job succeed (valid 5 minutes), so storing
    /// needs no second Describe unless it expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_url: Option<String>,
}

/// A batch after a step that may finish it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchProgress {
    #[serde(flatten)]
    pub work: BatchWork,
    pub done: bool,
}

/// What happened to one part (range) of a batch; written to storage, read by finalize.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub part: String,
    pub batch: u32,
    pub range: [u32; 2],
    pub job_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Per-asset errors (a failed single-asset part).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<AssetError>,
    #[serde(default)]
    pub started_at: String,
    pub finished_at: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetError {
    pub arn: String,
    pub message: String,
}

/// The part name of `range` of a batch of `batch_len` assets (see `layout::part_name`).
fn part_of(work: &BatchWork, range: [u32; 2], batch_len: usize) -> String {
    part_name(work.batch, range[0], range[1], batch_len as u32)
}

/// The export job id of a part: derived from the run and the range, so a retried start is
/// recognised (ConflictException) instead of doubling the job.
fn job_id(work: &BatchWork, part: &str) -> String {
    format!("qsb-{}-{part}", work.run_id)
}

impl BatchWork {
    fn first(&self) -> Result<[u32; 2], StepError> {
        self.pending
            .first()
            .copied()
            .ok_or_else(|| StepError::NonRetryable("batch has no pending range".into()))
    }
}

impl Engine {
    async fn range_assets(
        &self,
        work: &BatchWork,
    ) -> Result<(Vec<Asset>, [u32; 2], usize), StepError> {
        let plan = self.load_plan(&work.run_id).await?;
        let batch = plan
            .batches
            .get(work.batch as usize)
            .ok_or_else(|| StepError::NonRetryable(format!("plan has no batch {}", work.batch)))?;
        let r = work.first()?;
        let assets = batch
            .assets
            .get(r[0] as usize..r[1] as usize)
            .ok_or_else(|| {
                StepError::NonRetryable(format!("range {r:?} is outside batch {}", work.batch))
            })?;
        Ok((assets.to_vec(), r, batch.assets.len()))
    }

    /// Starts the export job of the first pending range. Idempotent: the job id is derived from
    /// the run and the range, and a job already running under that id is adopted, never doubled.
    pub async fn start_export(&self, work: BatchWork) -> Result<ExportJob, StepError> {
        let (assets, range, len) = self.range_assets(&work).await?;
        let part = part_of(&work, range, len);
        let job_id = job_id(&work, &part);
        let arns: Vec<String> = assets.iter().map(|a| a.arn.clone()).collect();
        let e = &self.policy.export;
        let format = match e.format {
            ExportFormat::QuicksightJson => AssetBundleExportFormat::QuicksightJson,
            ExportFormat::CloudformationJson => AssetBundleExportFormat::CloudformationJson,
        };
        let started = retry(
            "StartAssetBundleExportJob",
            &self.settings.retry,
            &self.stats,
            &[ErrorClass::Conflict],
            || {
                let req = self
                    .qs
                    .start_asset_bundle_export_job()
                    .aws_account_id(&self.scope.account)
                    .asset_bundle_export_job_id(&job_id)
                    .set_resource_arns(Some(arns.clone()))
                    .include_all_dependencies(e.include_dependencies)
                    .include_permissions(e.include_permissions)
                    .include_tags(e.include_tags)
                    .include_folder_memberships(e.include_folder_memberships)
                    .export_format(format.clone());
                async move { sdk("StartAssetBundleExportJob", req.send().await) }
            },
        )
        .await;
        match started {
            Ok(_) => {}
            // Our own earlier attempt got through: adopt the running job.
            Err(err) if err.class == ErrorClass::Conflict => {
                tracing::info!(job_id, "export job already running; adopting it");
            }
            Err(err) => return Err(err.into()),
        }
        self.emit(Event::JobStarted {
            part,
            assets: arns.len(),
        });
        Ok(ExportJob {
            work,
            job_id,
            status: JobState::Pending,
            wait_seconds: self.settings.poll.wait(0).as_secs().max(1),
            polls: 0,
            started_at: chrono::Utc::now().to_rfc3339(),
            download_url: None,
        })
    }

    async fn describe_job(
        &self,
        job_id: &str,
    ) -> Result<aws_sdk_quicksight::operation::describe_asset_bundle_export_job::DescribeAssetBundleExportJobOutput, QsError>
    {
        retry(
            "DescribeAssetBundleExportJob",
            &self.settings.retry,
            &self.stats,
            &[],
            || async {
                sdk(
                    "DescribeAssetBundleExportJob",
                    self.qs
                        .describe_asset_bundle_export_job()
                        .aws_account_id(&self.scope.account)
                        .asset_bundle_export_job_id(job_id)
                        .send()
                        .await,
                )
            },
        )
        .await
    }

    /// Polls the job once.
    pub async fn check_export(&self, mut job: ExportJob) -> Result<ExportJob, StepError> {
        let out = self.describe_job(&job.job_id).await?;
        job.status = match out.job_status() {
            Some(AssetBundleExportJobStatus::Successful) => JobState::Succeeded,
            Some(AssetBundleExportJobStatus::Failed) => JobState::Failed,
            _ => JobState::Pending,
        };
        job.download_url = out.download_url().map(str::to_string);
        job.polls += 1;
        job.wait_seconds = self.settings.poll.wait(job.polls).as_secs().max(1);
        if job.status != JobState::Pending {
            let (assets, range, len) = self.range_assets(&job.work).await?;
            let part = part_of(&job.work, range, len);
            self.emit(Event::JobFinished {
                part,
                assets: assets.len(),
                ok: job.status == JobState::Succeeded,
            });
        }
        Ok(job)
    }

    /// Downloads the bundle of a succeeded job (renewing an expired URL, retrying truncated
    /// downloads), verifies it, stores it without overwriting, and records the outcome.
    pub async fn store_bundle(&self, job: ExportJob) -> Result<BatchProgress, StepError> {
        let (_, range, len) = self.range_assets(&job.work).await?;
        let part = part_of(&job.work, range, len);
        let keys = self.scope.run(&job.work.run_id);
        let key = keys.bundle(&part);
        tokio::fs::create_dir_all(&self.settings.work_dir)
            .await
            .map_err(|e| {
                StepError::Retryable(format!(
                    "work dir {}: {e}",
                    self.settings.work_dir.display()
                ))
            })?;
        let spool = tempfile::Builder::new()
            .prefix("qsbackup-")
            .suffix(".qs")
            .tempfile_in(&self.settings.work_dir)
            .map_err(|e| StepError::Retryable(format!("temp file: {e}")))?
            .into_temp_path();
        let zip = matches!(self.policy.export.format, ExportFormat::QuicksightJson);
        let (sha, size) = self
            .download_verified(&job.job_id, job.download_url.as_deref(), &spool, zip)
            .await?;
        match self.store.put_file_new(&key, &spool).await {
            Ok(()) => {}
            Err(StoreError::AlreadyExists { .. }) => {
                // A retried step: accept only an identical object, never replace it.
                let existing = self.store.get(&key).await?.unwrap_or_default();
                if hex::encode(Sha256::digest(&existing)) != sha {
                    return Err(StepError::NonRetryable(format!(
                        "{key} exists with different content; refusing to overwrite"
                    )));
                }
            }
            Err(e) => return Err(e.into()),
        }
        self.emit(Event::Stored {
            part: part.clone(),
            bytes: size,
            assets: (range[1] - range[0]) as usize,
        });
        let outcome = Outcome {
            part: part.clone(),
            batch: job.work.batch,
            range,
            job_id: job.job_id.clone(),
            bundle_key: Some(key),
            sha256: Some(sha),
            size: Some(size),
            errors: vec![],
            started_at: job.started_at.clone(),
            finished_at: chrono::Utc::now().to_rfc3339(),
        };
        self.write_outcome(&job.work.run_id, &outcome).await?;
        let mut work = job.work;
        work.pending.remove(0);
        let done = work.pending.is_empty();
        Ok(BatchProgress { work, done })
    }

    async fn write_outcome(&self, run_id: &str, o: &Outcome) -> Result<(), StepError> {
        let key = self.scope.run(run_id).outcome(&o.part);
        let body =
            serde_json::to_vec_pretty(o).map_err(|e| StepError::NonRetryable(e.to_string()))?;
        match self.store.put_new(&key, body).await {
            Ok(()) | Err(StoreError::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// A failed job. Assets the job's errors name are recorded as failed with the service's
    /// message and the rest of the range is exported again around them; when the errors name
    /// no asset of the range (a broken dependency), the range is bisected. Either way every
    /// other asset of the batch is still backed up.
    pub async fn split_batch(&self, job: ExportJob) -> Result<BatchProgress, StepError> {
        let (assets, range, len) = self.range_assets(&job.work).await?;
        let out = self.describe_job(&job.job_id).await?;
        let messages: Vec<(Option<&str>, String)> = out
            .errors()
            .iter()
            .map(|e| {
                let text = match (e.r#type(), e.message()) {
                    (Some(t), Some(m)) => format!("{t}: {m}"),
                    (_, Some(m)) => m.to_string(),
                    _ => "export failed without a message".to_string(),
                };
                (e.arn(), text)
            })
            .collect();
        let named: Vec<usize> = (0..assets.len())
            .filter(|i| {
                messages
                    .iter()
                    .any(|(arn, _)| *arn == Some(assets[*i].arn.as_str()))
            })
            .collect();
        let failing: Vec<usize> = match (named.is_empty(), assets.len()) {
            (false, _) => named,
            (true, 1) => vec![0],
            (true, n) => {
                let mut work = job.work.clone();
                let mid = range[0] + n as u32 / 2;
                work.pending
                    .splice(0..1, [[range[0], mid], [mid, range[1]]]);
                return Ok(BatchProgress { work, done: false });
            }
        };
        for &i in &failing {
            let asset = &assets[i];
            let own: Vec<&str> = messages
                .iter()
                .filter(|(a, _)| *a == Some(asset.arn.as_str()))
                .map(|(_, m)| m.as_str())
                .collect();
            let all: Vec<&str> = messages.iter().map(|(_, m)| m.as_str()).collect();
            let message = match (own.is_empty(), all.is_empty()) {
                (false, _) => own.join("; "),
                (true, false) => all.join("; "),
                (true, true) => "export job FAILED without errors".to_string(),
            };
            self.emit(Event::AssetFailed {
                arn: asset.arn.clone(),
                message: message.clone(),
            });
            let at = range[0] + i as u32;
            let outcome = Outcome {
                part: part_of(&job.work, [at, at + 1], len),
                batch: job.work.batch,
                range: [at, at + 1],
                job_id: job.job_id.clone(),
                bundle_key: None,
                sha256: None,
                size: None,
                started_at: job.started_at.clone(),
                errors: vec![AssetError {
                    arn: asset.arn.clone(),
                    message,
                }],
                finished_at: chrono::Utc::now().to_rfc3339(),
            };
            self.write_outcome(&job.work.run_id, &outcome).await?;
        }
        // The rest of the range, as the contiguous runs between failing assets.
        let mut rest = Vec::new();
        let mut lo = range[0];
        for &i in &failing {
            let at = range[0] + i as u32;
            if lo < at {
                rest.push([lo, at]);
            }
            lo = at + 1;
        }
        if lo < range[1] {
            rest.push([lo, range[1]]);
        }
        let mut work = job.work;
        work.pending.splice(0..1, rest);
        let done = work.pending.is_empty();
        Ok(BatchProgress { work, done })
    }

    /// Streams the bundle to `dest` while hashing it; retries with a fresh URL on expiry,
    /// errors and truncation. Returns (sha256 hex, size).
    async fn download_verified(
        &self,
        job_id: &str,
        known_url: Option<&str>,
        dest: &Path,
        zip: bool,
    ) -> Result<(String, u64), StepError> {
        let mut last = String::new();
        for attempt in 0..self.settings.download_attempts {
            if attempt > 0 {
                tokio::time::sleep(self.settings.retry.delay(attempt)).await;
            }
            // The first attempt uses the URL the check saw; every retry asks for a fresh one
            // (each Describe hands out a new 5-minute URL).
            let url = match (attempt, known_url) {
                (0, Some(u)) => u.to_string(),
                _ => match self.describe_job(job_id).await?.download_url() {
                    Some(u) => u.to_string(),
                    None => {
                        last = "the job has no download URL".into();
                        continue;
                    }
                },
            };
            match self.download_once(&url, dest).await {
                Ok((sha, size)) => match if zip {
                    verify_zip_blocking(dest).await
                } else {
                    Ok(0)
                } {
                    Ok(_) => return Ok((sha, size)),
                    Err(e) => {
                        last = format!("downloaded bundle is not a valid zip ({e}); retrying")
                    }
                },
                Err(e) => last = e,
            }
            tracing::warn!(job_id, attempt, "{last}");
        }
        Err(StepError::Retryable(format!(
            "bundle of {job_id} could not be downloaded intact: {last}"
        )))
    }

    async fn download_once(&self, url: &str, dest: &Path) -> Result<(String, u64), String> {
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("download failed: {e}"))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!(
                "download answered HTTP {status} (an expired URL is renewed)"
            ));
        }
        let expected = resp.content_length();
        let mut f = tokio::fs::File::create(dest)
            .await
            .map_err(|e| format!("{}: {e}", dest.display()))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|e| format!("download interrupted after {size} bytes: {e}"))?;
            hasher.update(&chunk);
            size += chunk.len() as u64;
            f.write_all(&chunk)
                .await
                .map_err(|e| format!("{}: {e}", dest.display()))?;
        }
        f.flush().await.map_err(|e| e.to_string())?;
        if let Some(n) = expected
            && n != size
        {
            return Err(format!("truncated download: {size} of {n} bytes"));
        }
        Ok((hex::encode(hasher.finalize()), size))
    }
}

async fn verify_zip_blocking(path: &Path) -> Result<usize, String> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || verify_zip(&path))
        .await
        .map_err(|e| e.to_string())?
}

/// Reads the zip's central directory and every entry (checking CRCs) without loading it whole.
pub fn verify_zip(path: &Path) -> Result<usize, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut archive =
        zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| e.to_string())?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| e.to_string())?;
        std::io::copy(&mut entry, &mut std::io::sink()).map_err(|e| format!("entry {i}: {e}"))?;
    }
    Ok(archive.len())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Write;

    #[test]
    fn truncated_zips_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.qs");
        let mut w = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        w.start_file(
            "dashboard/d1.json",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        w.write_all(&[b'x'; 4096]).unwrap();
        w.finish().unwrap();
        assert_eq!(verify_zip(&path), Ok(1));
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        assert!(verify_zip(&path).is_err());
    }

    #[test]
    fn step_payloads_use_the_documented_json_shape() {
        let job = ExportJob {
            work: BatchWork {
                run_id: "r".into(),
                batch: 7,
                pending: vec![[0, 50]],
            },
            job_id: "j".into(),
            status: JobState::Pending,
            wait_seconds: 3,
            polls: 0,
            started_at: "t".into(),
            download_url: None,
        };
        let v = serde_json::to_value(&job).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"runId": "r", "batch": 7, "pending": [[0, 50]], "jobId": "j",
                "status": "Pending", "waitSeconds": 3, "polls": 0, "startedAt": "t"})
        );
    }
}
