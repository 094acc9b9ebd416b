//! The engine context shared by every step: the target's resolved policy, the clients (built once
//! per process), storage, optional DynamoDB tables and tuning. Building it does no QuickSight call.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use qsbackup_policy::{Policy, StorageBackend, Target};

use crate::layout::Scope;
use crate::plan::Plan;
use crate::qs::{CallStats, RetrySettings};
use crate::store::Store;

/// DynamoDB tables of a deployed stack (optional for the CLI).
#[derive(Clone, Debug)]
pub struct Tables {
    pub client: aws_sdk_dynamodb::Client,
    pub catalog: Option<String>,
    pub lock: Option<String>,
    pub identities: Option<String>,
}

/// Export polling: the first check after `initial`, then ×`factor` up to `max`, with jitter.
#[derive(Clone, Debug)]
pub struct PollSettings {
    pub initial: Duration,
    pub factor: f64,
    pub max: Duration,
}

impl Default for PollSettings {
    fn default() -> Self {
        PollSettings {
            initial: Duration::from_secs(3),
            factor: 1.5,
            max: Duration::from_secs(20),
        }
    }
}

impl PollSettings {
    pub fn wait(&self, polls: u32) -> Duration {
        let d = self
            .initial
            .mul_f64(self.factor.powi(polls.min(30) as i32))
            .min(self.max);
        d.mul_f64(0.9 + 0.2 * fastrand::f64())
    }
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub retry: RetrySettings,
    pub poll: PollSettings,
    /// How long a run lock is held before another run may take it over.
    pub lock_lease: Duration,
    /// Attempts to download and verify one bundle.
    pub download_attempts: u32,
    /// Folder for spooling downloads before they are verified and stored.
    pub work_dir: PathBuf,
    /// Plans with more batches than this go to a Distributed Map in Step Functions.
    pub inline_batch_limit: usize,
    /// Retention only reports what it would delete (a central vault enforces it itself).
    pub prune_report_only: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            retry: RetrySettings::default(),
            poll: PollSettings::default(),
            lock_lease: Duration::from_secs(12 * 3600),
            download_attempts: 5,
            work_dir: std::env::temp_dir(),
            inline_batch_limit: 40,
            prune_report_only: false,
        }
    }
}

/// Something the host may show (progress bars, log lines). Library code never prints.
#[derive(Clone, Debug)]
pub enum Event {
    Discovered {
        assets: usize,
        skipped: usize,
        batches: usize,
    },
    JobStarted {
        part: String,
        assets: usize,
    },
    JobFinished {
        part: String,
        assets: usize,
        ok: bool,
    },
    Stored {
        part: String,
        bytes: u64,
        assets: usize,
    },
    AssetFailed {
        arn: String,
        message: String,
    },
    Identities {
        users: usize,
        groups: usize,
    },
}

pub type Observer = Arc<dyn Fn(Event) + Send + Sync>;

/// Everything a step needs. Cheap to share behind an `Arc`.
pub struct Engine {
    pub policy: Policy,
    pub scope: Scope,
    pub qs: aws_sdk_quicksight::Client,
    pub qs_identity: aws_sdk_quicksight::Client,
    pub store: Store,
    pub tables: Option<Tables>,
    pub http: reqwest::Client,
    pub settings: Settings,
    pub stats: CallStats,
    pub observer: Option<Observer>,
    pub(crate) plan_cache: Mutex<Option<Arc<Plan>>>,
}

/// How to reach AWS (or local stand-ins) and where to write.
#[derive(Clone, Debug, Default)]
pub struct Connect {
    /// Overrides the policy's storage with a local folder.
    pub output_dir: Option<PathBuf>,
    /// Overrides the policy's bucket (e.g. the stack's bucket in Lambda).
    pub bucket: Option<String>,
    pub catalog_table: Option<String>,
    pub lock_table: Option<String>,
    pub identity_table: Option<String>,
    /// An explicit QuickSight endpoint (the embedded emulator); otherwise the standard chain
    /// (`AWS_ENDPOINT_URL_QUICKSIGHT`, profiles …) applies.
    pub quicksight_endpoint: Option<String>,
    /// One endpoint for every other service (S3, DynamoDB), e.g. a local moto server; S3 then
    /// uses path-style addressing.
    pub endpoint_url: Option<String>,
    /// Static credentials for local endpoints that need none of their own.
    pub static_credentials: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("the policy has no storage that this host can use: {0}")]
    NoStorage(String),
}

impl Engine {
    /// Builds the clients for `target` from the standard AWS configuration chain.
    pub async fn connect(
        policy: &Policy,
        target: &Target,
        how: &Connect,
    ) -> Result<Engine, ConnectError> {
        let policy = policy.for_target(target);
        let region = policy.source.region.clone();
        let base = load_config(&region, how).await;
        let identity = load_config(policy.identity_region(), how).await;
        let qs_client = |conf: &SdkConfig| {
            let mut b = aws_sdk_quicksight::config::Builder::from(conf)
                .retry_config(aws_config::retry::RetryConfig::disabled());
            if let Some(e) = &how.quicksight_endpoint {
                b = b.endpoint_url(e);
            }
            aws_sdk_quicksight::Client::from_conf(b.build())
        };
        let store = match (&how.output_dir, policy.storage.backend()) {
            (Some(dir), _) => Store::Local { root: dir.clone() },
            (None, StorageBackend::Local(l)) => Store::Local {
                root: PathBuf::from(&l.path),
            },
            (None, StorageBackend::S3(s3)) => {
                let bucket = how.bucket.clone().or_else(|| s3.bucket.clone()).ok_or_else(|| {
                    ConnectError::NoStorage(
                        "storage.s3.bucket is not set (the bucket is created by the stack); pass --bucket or --output-dir".into(),
                    )
                })?;
                let client = aws_sdk_s3::Client::from_conf(
                    aws_sdk_s3::config::Builder::from(&base)
                        .force_path_style(how.endpoint_url.is_some() || custom_endpoint("S3"))
                        .build(),
                );
                Store::S3 {
                    client,
                    bucket,
                    kms_key_arn: s3.kms_key_arn.clone(),
                }
            }
        };
        let tables = (how.catalog_table.is_some()
            || how.lock_table.is_some()
            || how.identity_table.is_some())
        .then(|| Tables {
            client: aws_sdk_dynamodb::Client::new(&base),
            catalog: how.catalog_table.clone(),
            lock: how.lock_table.clone(),
            identities: how.identity_table.clone(),
        });
        let scope = Scope::new(&policy.storage.prefix, &target.account, &region);
        Ok(Engine {
            qs: qs_client(&base),
            qs_identity: qs_client(&identity),
            policy,
            scope,
            store,
            tables,
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .read_timeout(Duration::from_secs(60))
                .build()
                .unwrap_or_default(),
            settings: Settings::default(),
            stats: CallStats::default(),
            observer: None,
            plan_cache: Mutex::new(None),
        })
    }

    pub(crate) fn emit(&self, e: Event) {
        if let Some(o) = &self.observer {
            o(e);
        }
    }
}

fn custom_endpoint(service: &str) -> bool {
    std::env::var_os(format!("AWS_ENDPOINT_URL_{service}")).is_some()
        || std::env::var_os("AWS_ENDPOINT_URL").is_some()
}

async fn load_config(region: &str, how: &Connect) -> SdkConfig {
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region.to_string()));
    if let Some(e) = &how.endpoint_url {
        loader = loader.endpoint_url(e);
    }
    if how.static_credentials {
        loader = loader.credentials_provider(aws_credential_types::Credentials::new(
            "AKIDLOCAL",
            "local",
            None,
            None,
            "qsbackup-local",
        ));
    }
    loader.load().await
}
