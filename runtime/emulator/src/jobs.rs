//! Asset bundle export and import jobs: validation, quotas (5 running per kind, ID reuse),
//! lazy time-based progress, 14-day retention, and expiring download tickets.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::behaviour::Behaviour;
use crate::bundle::{self, ExportOptions, ImportOutcome, ImportRequest};
use crate::model::{Account, Kind, parse_arn};
use crate::ops::obj;
use crate::wire::{
    ApiError, Ctx, Json, Page, check_id, one_of, opt_bool, opt_obj, opt_str, req_str, with_token,
};

const RETENTION_MS: i64 = 14 * 24 * 3600 * 1000;
const MAX_RUNNING: usize = 5;
/// `AssetBundleImportSource.Body` limit (model `max 20971520`).
pub const MAX_BODY: usize = 20_971_520;

#[derive(Debug)]
pub struct ExportJob {
    pub id: String,
    pub arn: String,
    pub created_ms: i64,
    pub duration_ms: i64,
    pub echo: Json,
    pub errors: Vec<Value>,
    pub file: Bytes,
    pub cloudformation: bool,
}

#[derive(Debug)]
pub struct ImportJob {
    pub id: String,
    pub arn: String,
    pub created_ms: i64,
    pub duration_ms: i64,
    pub echo: Json,
    pub s3_uri: Option<String>,
    pub file: Bytes,
    pub request: ImportRequest,
    /// Failures known at start (unreadable source).
    pub pre_errors: Vec<Value>,
    pub outcome: Option<ImportOutcome>,
}

fn progress(created: i64, duration: i64, now: i64) -> Option<&'static str> {
    let elapsed = now - created;
    if elapsed >= duration {
        None
    } else if elapsed.saturating_mul(10) < duration {
        Some("QUEUED_FOR_IMMEDIATE_EXECUTION")
    } else {
        Some("IN_PROGRESS")
    }
}

impl ExportJob {
    pub fn status(&self, now: i64) -> &'static str {
        progress(self.created_ms, self.duration_ms, now).unwrap_or(if self.errors.is_empty() {
            "SUCCESSFUL"
        } else {
            "FAILED"
        })
    }
    fn running(&self, now: i64) -> bool {
        progress(self.created_ms, self.duration_ms, now).is_some()
    }
}

impl ImportJob {
    pub fn status(&self, now: i64) -> &'static str {
        match &self.outcome {
            Some(o) => o.status,
            None => progress(self.created_ms, self.duration_ms, now).unwrap_or("IN_PROGRESS"),
        }
    }
}

/// Advances the account's jobs to `now`: drops jobs older than 14 days, applies due imports.
pub fn tick(acct: &mut Account, now: i64) {
    acct.export_jobs
        .retain(|_, j| now - j.created_ms < RETENTION_MS);
    acct.import_jobs
        .retain(|_, j| now - j.created_ms < RETENTION_MS);
    let mut due: Vec<(i64, String)> = acct
        .import_jobs
        .values()
        .filter(|j| j.outcome.is_none() && now - j.created_ms >= j.duration_ms)
        .map(|j| (j.created_ms, j.id.clone()))
        .collect();
    due.sort();
    for (_, id) in due {
        let Some(mut job) = acct.import_jobs.remove(&id) else {
            continue;
        };
        let outcome = if job.pre_errors.is_empty() {
            bundle::import(acct, &job.file, &job.request, now as f64 / 1000.0)
        } else {
            ImportOutcome {
                status: "FAILED",
                errors: job.pre_errors.clone(),
            }
        };
        job.outcome = Some(outcome);
        acct.import_jobs.insert(id, job);
    }
}

fn job_arn(acct: &Account, kind: &str, id: &str) -> String {
    format!(
        "arn:aws:quicksight:{}:{}:asset-bundle-{kind}-job/{id}",
        acct.region, acct.account
    )
}

pub fn start_export(
    acct: &mut Account,
    ctx: &Ctx,
    behaviour: &Behaviour,
) -> Result<Json, ApiError> {
    let body = ctx.json()?;
    let id = req_str(&body, "AssetBundleExportJobId")?.to_owned();
    check_id("AssetBundleExportJobId", &id)?;
    let arns: Vec<String> = match body.get("ResourceArns") {
        None | Some(Value::Null) => return Err(ApiError::missing("ResourceArns")),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| ApiError::invalid("ResourceArns must contain strings."))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(ApiError::invalid("ResourceArns must be a list.")),
    };
    if arns.is_empty() || arns.len() > 100 {
        return Err(ApiError::invalid(format!(
            "1 validation error detected: Value at 'resourceArns' failed to satisfy constraint: Member must have length between 1 and 100 (got {})",
            arns.len()
        )));
    }
    let format = req_str(&body, "ExportFormat")?;
    one_of(
        "ExportFormat",
        format,
        &["CLOUDFORMATION_JSON", "QUICKSIGHT_JSON"],
    )?;
    let members = opt_str(&body, "IncludeFolderMembers")?.unwrap_or("NONE");
    one_of(
        "IncludeFolderMembers",
        members,
        &["RECURSE", "ONE_LEVEL", "NONE"],
    )?;
    opt_obj(&body, "CloudFormationOverridePropertyConfiguration")?;
    opt_obj(&body, "ValidationStrategy")?;
    let o = ExportOptions {
        all_dependencies: opt_bool(&body, "IncludeAllDependencies")?,
        permissions: opt_bool(&body, "IncludePermissions")?,
        tags: opt_bool(&body, "IncludeTags")?,
        folder_memberships: opt_bool(&body, "IncludeFolderMemberships")?,
        folder_members: members.to_owned(),
        cloudformation: format == "CLOUDFORMATION_JSON",
    };
    for arn in &arns {
        let parsed = parse_arn(arn)
            .ok_or_else(|| ApiError::invalid(format!("{arn} is not a valid QuickSight ARN.")))?;
        let kind = Kind::from_arn_type(&parsed.resource_type);
        if acct.resolve(arn).is_none() {
            return Err(match kind {
                Some(k) => ApiError::not_found(
                    k.error_type(),
                    format!("The resource {arn} doesn't exist."),
                ),
                None => ApiError::invalid(format!(
                    "{arn} is not a resource type that asset bundles support."
                )),
            });
        }
    }
    let now = ctx.now_ms;
    if acct.export_jobs.get(&id).is_some_and(|j| j.running(now)) {
        return Err(ApiError::conflict(format!(
            "The export job {id} is still running; its ID can't be reused yet."
        )));
    }
    if acct.export_jobs.values().filter(|j| j.running(now)).count() >= MAX_RUNNING {
        return Err(ApiError::limit(
            "ASSET_BUNDLE_EXPORT_JOB",
            "Each account can run up to 5 export jobs concurrently.",
        ));
    }
    let exported =
        bundle::export(acct, &arns, &o).map_err(|e| ApiError::internal(e.to_string()))?;
    let mut echo = Json::new();
    echo.insert("ResourceArns".into(), json!(arns));
    echo.insert("IncludeAllDependencies".into(), json!(o.all_dependencies));
    echo.insert("ExportFormat".into(), json!(format));
    for key in [
        "CloudFormationOverridePropertyConfiguration",
        "ValidationStrategy",
    ] {
        if let Some(v) = body.get(key).filter(|v| !v.is_null()) {
            echo.insert(key.into(), v.clone());
        }
    }
    echo.insert("IncludePermissions".into(), json!(o.permissions));
    echo.insert("IncludeTags".into(), json!(o.tags));
    echo.insert(
        "IncludeFolderMemberships".into(),
        json!(o.folder_memberships),
    );
    echo.insert("IncludeFolderMembers".into(), json!(members));
    let arn = job_arn(acct, "export", &id);
    let job = ExportJob {
        id: id.clone(),
        arn: arn.clone(),
        created_ms: now,
        duration_ms: i64::try_from(behaviour.job_duration_ms(exported.assets)).unwrap_or(i64::MAX),
        echo,
        errors: exported.errors,
        file: Bytes::from(exported.file),
        cloudformation: o.cloudformation,
    };
    acct.export_jobs.insert(id.clone(), job);
    Ok(obj(json!({ "Arn": arn, "AssetBundleExportJobId": id })))
}

/// A download ticket, carried (base64url JSON) in the download URL itself.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ticket {
    /// `e` (export bundle) or `i` (import source).
    pub k: String,
    pub a: String,
    pub r: String,
    pub j: String,
    /// Job creation time (a replaced job invalidates old URLs).
    pub c: i64,
    /// Expiry, emulated epoch ms.
    pub x: i64,
    /// Makes every issued URL distinct.
    pub n: String,
}

impl Ticket {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }
    pub fn decode(token: &str) -> Option<Ticket> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token).ok()?).ok()
    }
}

fn download_url(
    base_url: &str,
    acct: &Account,
    kind: &str,
    id: &str,
    created: i64,
    expires: i64,
) -> String {
    let t = Ticket {
        k: kind.into(),
        a: acct.account.clone(),
        r: acct.region.clone(),
        j: id.into(),
        c: created,
        x: expires,
        n: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
    };
    format!("{base_url}/_emulator/download/{}", t.encode())
}

pub fn describe_export(
    acct: &Account,
    ctx: &Ctx,
    id: &str,
    base_url: &str,
    ttl_ms: i64,
) -> Result<Json, ApiError> {
    let job = acct
        .export_jobs
        .get(id)
        .ok_or_else(|| job_not_found("export", id))?;
    let status = job.status(ctx.now_ms);
    let mut out = obj(json!({
        "Arn": job.arn,
        "AssetBundleExportJobId": job.id,
        "AwsAccountId": acct.account,
        "CreatedTime": job.created_ms as f64 / 1000.0,
        "JobStatus": status,
    }));
    out.extend(job.echo.clone());
    match status {
        "SUCCESSFUL" => {
            let url = download_url(
                base_url,
                acct,
                "e",
                &job.id,
                job.created_ms,
                ctx.now_ms.saturating_add(ttl_ms),
            );
            out.insert("DownloadUrl".into(), json!(url));
        }
        "FAILED" => {
            out.insert("Errors".into(), json!(job.errors));
        }
        _ => {}
    }
    out.insert("Warnings".into(), json!([]));
    Ok(out)
}

pub fn list_export(acct: &Account, ctx: &Ctx) -> Result<Json, ApiError> {
    let (page, next) = Page::from(ctx, "ListAssetBundleExportJobs")?.slice(&acct.export_jobs);
    let items: Vec<Value> = page
        .into_iter()
        .map(|(_, j)| {
            json!({
                "JobStatus": j.status(ctx.now_ms),
                "Arn": j.arn,
                "CreatedTime": j.created_ms as f64 / 1000.0,
                "AssetBundleExportJobId": j.id,
                "IncludeAllDependencies": j.echo.get("IncludeAllDependencies"),
                "ExportFormat": j.echo.get("ExportFormat"),
                "IncludePermissions": j.echo.get("IncludePermissions"),
                "IncludeTags": j.echo.get("IncludeTags"),
            })
        })
        .collect();
    Ok(with_token(
        obj(json!({ "AssetBundleExportJobSummaryList": items })),
        next,
    ))
}

fn job_not_found(kind: &str, id: &str) -> ApiError {
    ApiError::not_found(
        None,
        format!("The asset bundle {kind} job {id} is not found."),
    )
}

/// Where an import reads its bundle from.
#[derive(Clone, Debug)]
pub enum Source {
    Body(Vec<u8>),
    S3(String),
}

/// A validated StartAssetBundleImportJob request, before its source is read.
#[derive(Clone, Debug)]
pub struct ImportStart {
    pub id: String,
    pub source: Source,
    pub echo: Json,
    pub request: ImportRequest,
}

pub fn parse_import(ctx: &Ctx) -> Result<ImportStart, ApiError> {
    let body = ctx.json()?;
    let id = req_str(&body, "AssetBundleImportJobId")?.to_owned();
    check_id("AssetBundleImportJobId", &id)?;
    let src = opt_obj(&body, "AssetBundleImportSource")?
        .ok_or_else(|| ApiError::missing("AssetBundleImportSource"))?;
    let source = match (opt_str(src, "Body")?, opt_str(src, "S3Uri")?) {
        (Some(b), None) => {
            let bytes = STANDARD.decode(b.trim()).map_err(|e| {
                ApiError::invalid(format!(
                    "AssetBundleImportSource.Body is not valid base64: {e}"
                ))
            })?;
            if bytes.len() > MAX_BODY {
                return Err(ApiError::invalid(format!(
                    "AssetBundleImportSource.Body is {} bytes; the limit is {MAX_BODY} bytes (20 MB). Use S3Uri instead.",
                    bytes.len()
                )));
            }
            Source::Body(bytes)
        }
        (None, Some(uri))
            if uri.starts_with("s3://")
                || uri.starts_with("https://")
                || uri.starts_with("http://") =>
        {
            Source::S3(uri.to_owned())
        }
        (None, Some(uri)) => {
            return Err(ApiError::invalid(format!(
                "S3Uri '{uri}' must start with s3:// or https://."
            )));
        }
        _ => {
            return Err(ApiError::invalid(
                "AssetBundleImportSource needs exactly one of Body or S3Uri.",
            ));
        }
    };
    let failure = opt_str(&body, "FailureAction")?.unwrap_or("DO_NOTHING");
    one_of("FailureAction", failure, &["DO_NOTHING", "ROLLBACK"])?;
    let part =
        |k: &str| -> Result<Json, ApiError> { Ok(opt_obj(&body, k)?.cloned().unwrap_or_default()) };
    let override_parameters = part("OverrideParameters")?;
    if let Some(p) = override_parameters
        .get("ResourceIdOverrideConfiguration")
        .and_then(|c| c.get("PrefixForAllResources"))
    {
        let ok = p.as_str().is_some_and(|s| {
            s.len() <= 512
                && s.chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        });
        if !ok {
            return Err(ApiError::invalid(
                "PrefixForAllResources must match [\\w\\-]* (at most 512 characters).",
            ));
        }
    }
    let request = ImportRequest {
        job_arn: String::new(),
        override_parameters: override_parameters.clone(),
        override_permissions: part("OverridePermissions")?,
        override_tags: part("OverrideTags")?,
        rollback: failure == "ROLLBACK",
    };
    part("OverrideValidationStrategy")?;
    let mut echo = Json::new();
    echo.insert("FailureAction".into(), json!(failure));
    let mut params = override_parameters;
    if let Some(Value::Array(sources)) = params.get_mut("DataSources") {
        for s in sources.iter_mut().filter_map(Value::as_object_mut) {
            s.remove("Credentials");
        }
    }
    if !params.is_empty() {
        echo.insert("OverrideParameters".into(), Value::Object(params));
    }
    for key in [
        "OverridePermissions",
        "OverrideTags",
        "OverrideValidationStrategy",
    ] {
        if let Some(v) = body.get(key).filter(|v| !v.is_null()) {
            echo.insert(key.into(), v.clone());
        }
    }
    Ok(ImportStart {
        id,
        source,
        echo,
        request,
    })
}

/// `s3://bucket/key` or an S3 https URL → path-style URL on the configured endpoint.
pub fn s3_url(uri: &str, endpoint: Option<&str>) -> Option<String> {
    if let Some(rest) = uri.strip_prefix("s3://") {
        let (bucket, key) = rest.split_once('/')?;
        let ep = endpoint?.trim_end_matches('/');
        return Some(format!("{ep}/{bucket}/{key}"));
    }
    let Some(ep) = endpoint else {
        return Some(uri.to_owned());
    };
    let rest = uri.split_once("://")?.1;
    let (host, path) = rest.split_once('/')?;
    let ep = ep.trim_end_matches('/');
    // Virtual-hosted style (bucket.s3.<region>.amazonaws.com/key) → path style.
    match host.split_once(".s3") {
        Some((bucket, _)) if !bucket.is_empty() => Some(format!("{ep}/{bucket}/{path}")),
        _ => Some(format!("{ep}/{path}")),
    }
}

pub fn start_import(
    acct: &mut Account,
    start: ImportStart,
    file: Result<Vec<u8>, String>,
    now: i64,
    behaviour: &Behaviour,
) -> Result<Json, ApiError> {
    let id = start.id;
    if acct
        .import_jobs
        .get(&id)
        .is_some_and(|j| j.outcome.is_none())
    {
        return Err(ApiError::conflict(format!(
            "The import job {id} is still running; its ID can't be reused yet."
        )));
    }
    if acct
        .import_jobs
        .values()
        .filter(|j| j.outcome.is_none())
        .count()
        >= MAX_RUNNING
    {
        return Err(ApiError::limit(
            "ASSET_BUNDLE_IMPORT_JOB",
            "Each account can run up to 5 import jobs concurrently.",
        ));
    }
    let arn = job_arn(acct, "import", &id);
    let (file, pre_errors) = match file {
        Ok(f) => (f, Vec::new()),
        Err(e) => (
            Vec::new(),
            vec![json!({ "Arn": arn, "Type": "InvalidRequestException", "Message": e })],
        ),
    };
    let assets = bundle::count_docs(&file);
    let s3_uri = match start.source {
        Source::S3(u) => Some(u),
        Source::Body(_) => None,
    };
    let mut request = start.request;
    request.job_arn = arn.clone();
    let job = ImportJob {
        id: id.clone(),
        arn: arn.clone(),
        created_ms: now,
        duration_ms: i64::try_from(behaviour.job_duration_ms(assets)).unwrap_or(i64::MAX),
        echo: start.echo,
        s3_uri,
        file: Bytes::from(file),
        request,
        pre_errors,
        outcome: None,
    };
    acct.import_jobs.insert(id.clone(), job);
    // A zero-duration job completes right away.
    tick(acct, now);
    Ok(obj(json!({ "Arn": arn, "AssetBundleImportJobId": id })))
}

pub fn describe_import(
    acct: &Account,
    ctx: &Ctx,
    id: &str,
    base_url: &str,
    ttl_ms: i64,
) -> Result<Json, ApiError> {
    let job = acct
        .import_jobs
        .get(id)
        .ok_or_else(|| job_not_found("import", id))?;
    let source = match &job.s3_uri {
        Some(u) => json!({ "S3Uri": u }),
        None => {
            json!({ "Body": download_url(base_url, acct, "i", &job.id, job.created_ms, ctx.now_ms.saturating_add(ttl_ms)) })
        }
    };
    let mut out = obj(json!({
        "Arn": job.arn,
        "AssetBundleImportJobId": job.id,
        "AwsAccountId": acct.account,
        "CreatedTime": job.created_ms as f64 / 1000.0,
        "JobStatus": job.status(ctx.now_ms),
        "AssetBundleImportSource": source,
    }));
    out.extend(job.echo.clone());
    if let Some(o) = &job.outcome {
        out.insert("Errors".into(), json!(o.errors));
        out.insert("RollbackErrors".into(), json!([]));
    }
    out.insert("Warnings".into(), json!([]));
    Ok(out)
}

pub fn list_import(acct: &Account, ctx: &Ctx) -> Result<Json, ApiError> {
    let (page, next) = Page::from(ctx, "ListAssetBundleImportJobs")?.slice(&acct.import_jobs);
    let items: Vec<Value> = page
        .into_iter()
        .map(|(_, j)| {
            json!({
                "JobStatus": j.status(ctx.now_ms),
                "Arn": j.arn,
                "CreatedTime": j.created_ms as f64 / 1000.0,
                "AssetBundleImportJobId": j.id,
                "FailureAction": j.echo.get("FailureAction"),
            })
        })
        .collect();
    Ok(with_token(
        obj(json!({ "AssetBundleImportJobSummaryList": items })),
        next,
    ))
}

/// The bytes a ticket points at, if the job still exists and is the same job.
pub fn ticket_file(acct: &Account, t: &Ticket) -> Option<(Bytes, bool)> {
    if t.k == "e" {
        let j = acct.export_jobs.get(&t.j).filter(|j| j.created_ms == t.c)?;
        Some((j.file.clone(), j.cloudformation))
    } else {
        let j = acct.import_jobs.get(&t.j).filter(|j| j.created_ms == t.c)?;
        Some((j.file.clone(), false))
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn s3_uris_map_to_path_style_on_the_endpoint() {
        assert_eq!(
            s3_url("s3://b/k/x.qs", Some("http://127.0.0.1:5000/")).as_deref(),
            Some("http://127.0.0.1:5000/b/k/x.qs")
        );
        assert_eq!(
            s3_url(
                "https://b.s3.us-east-1.amazonaws.com/k.qs",
                Some("http://h:1")
            )
            .as_deref(),
            Some("http://h:1/b/k.qs")
        );
        assert_eq!(s3_url("s3://b/k", None), None);
    }

    #[test]
    fn job_progress_goes_queued_then_in_progress_then_done() {
        assert_eq!(
            progress(0, 1000, 50),
            Some("QUEUED_FOR_IMMEDIATE_EXECUTION")
        );
        assert_eq!(progress(0, 1000, 500), Some("IN_PROGRESS"));
        assert_eq!(progress(0, 1000, 1000), None);
        assert_eq!(progress(0, 0, 0), None);
    }
}
