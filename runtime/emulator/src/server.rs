//! The HTTP server: one fallback handler that routes on the raw path, applies latency,
//! throttling and faults, and runs the operation against the (account, Region) state.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::response::Response;

use crate::behaviour::Governor;
use crate::jobs::{self, Source};
use crate::model::Account;
use crate::ops;
use crate::wire::{self, ApiError, Ctx, Json};

/// Largest request body accepted (a 20 MB bundle is ~27 MB of base64).
const MAX_REQUEST: usize = 40 << 20;
/// Largest bundle read from S3.
const MAX_S3_BUNDLE: usize = 1 << 30;

/// Shared state of one emulator.
pub struct App {
    pub world: Mutex<HashMap<(String, String), Account>>,
    pub gov: Governor,
    pub clock_offset_ms: AtomicI64,
    pub base_url: String,
    pub s3_endpoint: Option<String>,
    pub http: reqwest::Client,
}

impl App {
    /// Emulated now (wall clock + admin offset), epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        i64::try_from(wall)
            .unwrap_or(i64::MAX)
            .saturating_add(self.clock_offset_ms.load(Ordering::Relaxed))
    }

    /// Runs `f` on an account (created empty on first use) after advancing its jobs.
    pub fn with_account<R>(
        &self,
        account: &str,
        region: &str,
        f: impl FnOnce(&mut Account) -> R,
    ) -> R {
        let now = self.now_ms();
        let mut world = self
            .world
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let acct = world
            .entry((account.to_owned(), region.to_owned()))
            .or_insert_with(|| Account::empty(account, region));
        jobs::tick(acct, now);
        f(acct)
    }
}

/// The fallback handler for every request.
pub async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    if req.uri().path().starts_with("/_emulator/") {
        return crate::admin::handle(&app, req).await;
    }
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, MAX_REQUEST).await;
    let ctx = Ctx::new(
        parts.method,
        parts.uri.path(),
        parts.uri.query(),
        &parts.headers,
        body.as_ref().cloned().unwrap_or_default(),
        app.now_ms(),
    );
    let result = match body {
        Ok(_) => api(&app, &ctx).await,
        Err(_) => Err(ApiError::invalid(format!(
            "The request body is larger than {MAX_REQUEST} bytes."
        ))),
    };
    match result {
        Ok(out) => wire::ok(&ctx.request_id, out),
        Err(e) => {
            tracing::debug!(code = e.code, path = %parts.uri.path(), "error response");
            wire::error(&ctx.request_id, &e)
        }
    }
}

fn valid_account(a: &str) -> bool {
    a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit())
}

async fn api(app: &App, ctx: &Ctx) -> Result<Json, ApiError> {
    let route = ops::route(ctx).ok_or_else(ApiError::unknown_operation)?;
    let latency = app.gov.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    app.gov.admit(route.op)?;
    if route.op == "ListTagsForResource" && route.region.is_none() {
        return Err(ApiError::invalid(format!(
            "{} is not a valid QuickSight ARN.",
            route.args.join("")
        )));
    }
    if !valid_account(&route.account) {
        return Err(ApiError::invalid(format!(
            "1 validation error detected: Value '{}' at 'awsAccountId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[0-9]{{12}}$",
            route.account
        )));
    }
    let region = route.region.clone().unwrap_or_else(|| ctx.region.clone());
    let behaviour = app.gov.behaviour();
    let ttl = behaviour.download_ttl_ms();
    let id = route.args.first().cloned().unwrap_or_default();
    let on = |f: &mut dyn FnMut(&mut Account) -> Result<Json, ApiError>| {
        app.with_account(&route.account, &region, f)
    };
    match route.op {
        "StartAssetBundleExportJob" => {
            let out = on(&mut |a| jobs::start_export(a, ctx, &behaviour))?;
            app.gov.job_started(true);
            Ok(out)
        }
        "DescribeAssetBundleExportJob" => {
            on(&mut |a| jobs::describe_export(a, ctx, &id, &app.base_url, ttl))
        }
        "ListAssetBundleExportJobs" => on(&mut |a| jobs::list_export(a, ctx)),
        "StartAssetBundleImportJob" => {
            let start = jobs::parse_import(ctx)?;
            let file = match &start.source {
                Source::Body(b) => Ok(b.clone()),
                Source::S3(uri) => fetch_s3(app, uri).await,
            };
            let mut slot = Some((start, file));
            let out = on(&mut |a| match slot.take() {
                Some((start, file)) => jobs::start_import(a, start, file, app.now_ms(), &behaviour),
                None => Err(ApiError::internal("import started twice")),
            })?;
            app.gov.job_started(false);
            Ok(out)
        }
        "DescribeAssetBundleImportJob" => {
            on(&mut |a| jobs::describe_import(a, ctx, &id, &app.base_url, ttl))
        }
        "ListAssetBundleImportJobs" => on(&mut |a| jobs::list_import(a, ctx)),
        _ => on(&mut |a| ops::dispatch(a, &route, ctx)),
    }
}

/// Reads an import bundle from S3 (unsigned GET, path style on the configured endpoint).
async fn fetch_s3(app: &App, uri: &str) -> Result<Vec<u8>, String> {
    let url = jobs::s3_url(uri, app.s3_endpoint.as_deref()).ok_or_else(|| {
        format!("Unable to read {uri}: no S3 endpoint is configured for s3:// URIs.")
    })?;
    let resp = app
        .http
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("Unable to read {uri}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("Unable to read {uri}: HTTP {}", resp.status()));
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| format!("Unable to read {uri}: {e}"))?;
    if bytes.len() > MAX_S3_BUNDLE {
        return Err(format!("The bundle at {uri} is larger than 1 GB."));
    }
    Ok(bytes.to_vec())
}
