//! The qsbackup engine. Core decides, adapters do I/O; library code never prints.
//!
//! A backup run is a small state machine of steps (`begin`, `discover`, `snapshot_identities`,
//! per batch `start_export` → `check_export` → `store_bundle` | `split_batch`, `finalize`),
//! methods of [`Engine`] with serializable inputs and outputs, hosted by the CLI
//! ([`Engine::run_backup`]) and by the Lambda functions of the Step Functions workflow.

pub mod catalog;
pub mod engine;
pub mod export;
pub mod identities;
pub mod inventory;
pub mod layout;
pub mod overrides;
pub mod plan;
pub mod qs;
pub mod report;
pub mod restore;
pub mod retention;
pub mod run;
pub mod store;

pub use engine::{Connect, Engine, Event, Settings};
pub use restore::{RestoreError, RestorePlan, RestoreReport, RestoreRequest, Restorer};
pub use run::{FinalizeOutput, Manifest, RunStatus};

/// A step's failure, with the stable name Step Functions Retry/Catch match on.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("{0}")]
    Retryable(String),
    #[error("{0}")]
    Throttled(String),
    #[error("{0}")]
    NonRetryable(String),
    /// Another run holds the lock of this account/Region.
    #[error("{0}")]
    LockHeld(String),
    /// Storage is missing or refuses access (checked before anything is exported).
    #[error("{0}")]
    Storage(String),
}

impl StepError {
    /// The error name a Step Functions Retry/Catch matches on.
    pub fn name(&self) -> &'static str {
        match self {
            StepError::Retryable(_) => "Retryable",
            StepError::Throttled(_) => "Throttled",
            StepError::NonRetryable(_) | StepError::LockHeld(_) | StepError::Storage(_) => {
                "NonRetryable"
            }
        }
    }
}

impl From<qs::QsError> for StepError {
    fn from(e: qs::QsError) -> Self {
        match e.class {
            qs::ErrorClass::Throttled => StepError::Throttled(e.to_string()),
            _ if e.is_retryable() => StepError::Retryable(e.to_string()),
            _ => StepError::NonRetryable(e.to_string()),
        }
    }
}

impl From<store::StoreError> for StepError {
    fn from(e: store::StoreError) -> Self {
        match &e {
            store::StoreError::Unusable { .. } => StepError::Storage(e.to_string()),
            _ if e.is_retryable() => StepError::Retryable(e.to_string()),
            _ => StepError::NonRetryable(e.to_string()),
        }
    }
}
