//! Lambda handlers: thin shells over the engine's steps. The policy is read and the clients are
//! built once per process (cold start), outside the handler; each invocation deserializes a small
//! JSON event, runs one step and maps failures to stable error names for Step Functions.

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

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Builds the engine from the function's environment (set by the CDK stack).
pub async fn engine_from_env() -> Result<Engine, String> {
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
        ..Connect::default()
    };
    let mut engine = Engine::connect(&policy, &target, &how)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(prefix) = var("QSBACKUP_PREFIX") {
        engine.scope =
            qsbackup_core::layout::Scope::new(&prefix, &engine.scope.account, &engine.scope.region);
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
        Task::Prune => to_value(engine.prune(now, false).await?),
    };
    Ok(out)
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
            async move { handle(&engine, task, event.payload).await }
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
