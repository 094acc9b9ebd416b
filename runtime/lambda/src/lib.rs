//! Lambda handlers: thin shells over the engine's steps. The policy is read and the clients are
//! built once per process (cold start), outside the handler; each invocation deserializes a small
//! JSON event, runs one step and maps failures to stable error names for Step Functions.

pub mod local;

use std::process::ExitCode;
use std::sync::Arc;

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use qsbackup_core::{Connect, Engine, StepError};
use qsbackup_policy::{Format, Target};
use serde_json::Value;

/// The workflow task a binary hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    Begin,
    Identities,
    Discover,
    StartExport,
    CheckExport,
    StoreBundle,
    SplitBatch,
    Finalize,
    Prune,
}

impl Task {
    pub const ALL: [Task; 9] = [
        Task::Begin,
        Task::Identities,
        Task::Discover,
        Task::StartExport,
        Task::CheckExport,
        Task::StoreBundle,
        Task::SplitBatch,
        Task::Finalize,
        Task::Prune,
    ];

    /// The binary (and Lambda function) name, e.g. `qsbackup-start-export`.
    pub fn binary(&self) -> &'static str {
        match self {
            Task::Begin => "qsbackup-begin",
            Task::Identities => "qsbackup-identities",
            Task::Discover => "qsbackup-discover",
            Task::StartExport => "qsbackup-start-export",
            Task::CheckExport => "qsbackup-check-export",
            Task::StoreBundle => "qsbackup-store-bundle",
            Task::SplitBatch => "qsbackup-split-batch",
            Task::Finalize => "qsbackup-finalize",
            Task::Prune => "qsbackup-prune",
        }
    }
}

/// A step failure as Lambda reports it: `errorType` is the stable name Retry/Catch match.
#[derive(Debug)]
pub struct TaskError {
    pub name: &'static str,
    pub message: String,
}

impl From<StepError> for TaskError {
    fn from(e: StepError) -> Self {
        TaskError {
            name: e.name(),
            message: e.to_string(),
        }
    }
}

impl From<TaskError> for Diagnostic {
    fn from(e: TaskError) -> Self {
        Diagnostic {
            error_type: e.name.to_string(),
            error_message: e.message,
        }
    }
}

fn bad_event(e: serde_json::Error) -> TaskError {
    TaskError {
        name: "NonRetryable",
        message: format!("invalid event: {e}"),
    }
}

/// Builds the engine from the function's environment (set by the CDK stack).
pub async fn engine_from_env() -> Result<Engine, String> {
    engine_from(|name| std::env::var(name).ok()).await
}

/// Builds the engine from variables looked up with `var`: `QSBACKUP_POLICY_JSON`,
/// `QSBACKUP_ACCOUNT`, `QSBACKUP_REGION`, `QSBACKUP_BUCKET`, `QSBACKUP_PREFIX`, the table names,
/// and for local stand-ins `QSBACKUP_QUICKSIGHT_ENDPOINT`, `QSBACKUP_ENDPOINT_URL` (S3, DynamoDB)
/// and `QSBACKUP_STATIC_CREDENTIALS=1`.
pub async fn engine_from(var: impl Fn(&str) -> Option<String>) -> Result<Engine, String> {
    let var = |name: &str| var(name).filter(|v| !v.is_empty());
    let json = var("QSBACKUP_POLICY_JSON").ok_or("QSBACKUP_POLICY_JSON is not set")?;
    let policy = qsbackup_policy::parse(&json, "QSBACKUP_POLICY_JSON", Format::Json)
        .map_err(|e| e.to_string())?;
    let account = var("QSBACKUP_ACCOUNT").ok_or("QSBACKUP_ACCOUNT is not set")?;
    let target = Target {
        account,
        region: var("QSBACKUP_REGION"),
        name: None,
        overrides: None,
    };
    let how = Connect {
        bucket: var("QSBACKUP_BUCKET"),
        catalog_table: var("QSBACKUP_CATALOG_TABLE"),
        lock_table: var("QSBACKUP_LOCK_TABLE"),
        identity_table: var("QSBACKUP_IDENTITY_TABLE"),
        output_dir: var("QSBACKUP_OUTPUT_DIR").map(Into::into),
        quicksight_endpoint: var("QSBACKUP_QUICKSIGHT_ENDPOINT"),
        endpoint_url: var("QSBACKUP_ENDPOINT_URL"),
        static_credentials: var("QSBACKUP_STATIC_CREDENTIALS").as_deref() == Some("1"),
    };
    let mut engine = Engine::connect(&policy, &target, &how)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(prefix) = var("QSBACKUP_PREFIX") {
        engine.scope =
            qsbackup_core::layout::Scope::new(&prefix, &engine.scope.account, &engine.scope.region);
    }
    if let (Some(key), qsbackup_core::store::Store::S3 { kms_key_arn, .. }) =
        (var("QSBACKUP_KMS_KEY_ARN"), &mut engine.store)
    {
        *kms_key_arn = Some(key);
    }
    engine.settings.prune_report_only = var("QSBACKUP_PRUNE").as_deref() == Some("report");
    if let Some(ms) = var("QSBACKUP_POLL_INITIAL_MS").and_then(|v| v.parse().ok()) {
        engine.settings.poll.initial = std::time::Duration::from_millis(ms);
    }
    Ok(engine)
}

/// Runs one step for one event. Tests call this directly with JSON events.
pub async fn handle(engine: &Engine, task: Task, event: Value) -> Result<Value, TaskError> {
    let now = chrono::Utc::now();
    let field = |name: &str| event.get(name).and_then(Value::as_str).map(str::to_string);
    let run_id = || {
        field("runId").ok_or(TaskError {
            name: "NonRetryable",
            message: "event has no runId".into(),
        })
    };
    let out = match task {
        Task::Begin => to_value(
            engine
                .begin(
                    serde_json::from_value(event.clone()).map_err(bad_event)?,
                    now,
                )
                .await?,
        ),
        Task::Identities => to_value(engine.snapshot_identities(&run_id()?).await?),
        Task::Discover => to_value(engine.discover(&run_id()?).await?),
        Task::StartExport => to_value(
            engine
                .start_export(serde_json::from_value(event).map_err(bad_event)?)
                .await?,
        ),
        Task::CheckExport => to_value(
            engine
                .check_export(serde_json::from_value(event).map_err(bad_event)?)
                .await?,
        ),
        Task::StoreBundle => to_value(
            engine
                .store_bundle(serde_json::from_value(event).map_err(bad_event)?)
                .await?,
        ),
        Task::SplitBatch => to_value(
            engine
                .split_batch(serde_json::from_value(event).map_err(bad_event)?)
                .await?,
        ),
        Task::Finalize => to_value(
            engine
                .finalize(serde_json::from_value(event).map_err(bad_event)?, now)
                .await?,
        ),
        Task::Prune => to_value(engine.prune(now, engine.settings.prune_report_only).await?),
    };
    Ok(out)
}

/// The run's metrics as one CloudWatch Embedded Metric Format log line (namespace `QsBackup`,
/// dimension `Policy`): CloudWatch Logs turns it into the metrics the stack's alarms watch, with
/// no PutMetricData call.
pub fn metrics_line(policy: &str, finalized: &Value, now_ms: i64) -> String {
    let status = finalized["status"].as_str().unwrap_or("Failed");
    let one = |s: &str| u64::from(status == s);
    let names = [
        "RunsCompleted",
        "RunsPartiallyFailed",
        "RunsFailed",
        "AssetsBackedUp",
        "AssetsFailed",
    ];
    serde_json::json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": "QsBackup",
                "Dimensions": [["Policy"]],
                "Metrics": names.iter().map(|n| serde_json::json!({"Name": n, "Unit": "Count"})).collect::<Vec<_>>(),
            }],
        },
        "Policy": policy,
        "RunsCompleted": one("Completed"),
        "RunsPartiallyFailed": one("PartiallyFailed"),
        "RunsFailed": one("Failed"),
        "AssetsBackedUp": finalized["assets"].as_u64().unwrap_or(0),
        "AssetsFailed": finalized["failed"].as_u64().unwrap_or(0),
        "runId": finalized["runId"],
    })
    .to_string()
}

fn to_value<T: serde::Serialize>(v: T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The `main` of every Lambda binary.
pub fn main(task: Task) -> ExitCode {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_current_span(false)
        .without_time()
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let engine = match engine_from_env().await {
            Ok(e) => Arc::new(e),
            Err(e) => {
                tracing::error!(error = %e, "cold start failed");
                return ExitCode::FAILURE;
            }
        };
        let result = lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
            let engine = engine.clone();
            async move {
                let out = handle(&engine, task, event.payload).await;
                if let (Task::Finalize, Ok(done)) = (task, &out) {
                    let now = chrono::Utc::now().timestamp_millis();
                    println!("{}", metrics_line(&engine.policy.name, done, now));
                }
                out
            }
        }))
        .await;
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "lambda runtime stopped");
                ExitCode::FAILURE
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_partially_failed_run_emits_the_metric_the_alarm_watches() {
        let line = metrics_line(
            "prod",
            &serde_json::json!({"runId": "r", "status": "PartiallyFailed", "assets": 9, "failed": 1}),
            1,
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "QsBackup");
        assert_eq!(v["RunsPartiallyFailed"], 1);
        assert_eq!(v["RunsFailed"], 0);
        assert_eq!(v["Policy"], "prod");
        let names: Vec<&str> = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"RunsFailed") && names.contains(&"RunsPartiallyFailed"));
    }
}
