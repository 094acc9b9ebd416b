//! The shared test harness: the QuickSight emulator in-process and a moto server (S3, DynamoDB,
//! STS) on loopback, with SDK clients configured for them. Both are torn down even when a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

pub use qsbackup_emulator as emulator;

/// The account and Region of the emulator's `sample` preset.
pub const SAMPLE_ACCOUNT: &str = "123456789012";
pub const SAMPLE_REGION: &str = "us-east-1";

/// The workspace root (the folder holding Cargo.toml and .venv).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A moto server shared by every test of one test binary. It runs as a child Python process that
/// exits when its stdin closes, which happens when the test process ends in any way (pass, panic,
/// abort), so no server outlives its tests.
pub struct Moto {
    pub endpoint: String,
    _child: Child,
    _stdin: ChildStdin,
}

const MOTO_LAUNCHER: &str = r#"
import socket, sys
from moto.server import ThreadedMotoServer
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
server.start()
print(port, flush=True)
sys.stdin.read()
server.stop()
"#;

/// The Python interpreter of the venv that the test command creates (`.venv`), or `QSBACKUP_PYTHON`.
fn python() -> PathBuf {
    if let Ok(p) = std::env::var("QSBACKUP_PYTHON") {
        return PathBuf::from(p);
    }
    workspace_root().join(".venv/bin/python")
}

impl Moto {
    fn start() -> Moto {
        let python = python();
        let mut child = Command::new(&python)
            .arg("-c")
            .arg(MOTO_LAUNCHER)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start moto with {} ({e}); run the README test command, which creates the venv",
                    python.display()
                )
            });
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("moto prints its port");
        let port: u16 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("moto did not start: {line:?}"));
        let stdin = child.stdin.take().expect("piped stdin");
        Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            _child: child,
            _stdin: stdin,
        }
    }
}

/// The moto server of this test binary, started on first use.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(Moto::start)
}

/// Static test credentials; moto and the emulator accept any.
pub fn credentials() -> Credentials {
    Credentials::new("AKIDTESTTESTTEST", "secret", None, None, "qsbackup-tests")
}

/// SDK configuration for `region` with every service pointed at `endpoint`.
pub async fn sdk_config(endpoint: &str, region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .credentials_provider(credentials())
        .endpoint_url(endpoint)
        .load()
        .await
}

/// An S3 client for the moto server (path-style addressing, as local servers need).
pub async fn s3_client() -> aws_sdk_s3::Client {
    let conf = sdk_config(&moto().endpoint, SAMPLE_REGION).await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&conf)
            .force_path_style(true)
            .build(),
    )
}

/// A DynamoDB client for the moto server.
pub async fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk_config(&moto().endpoint, SAMPLE_REGION).await)
}

/// A QuickSight client for an emulator, with SDK retries off so tests see every error.
pub async fn quicksight_client(endpoint: &str, region: &str) -> aws_sdk_quicksight::Client {
    let conf = sdk_config(endpoint, region).await;
    aws_sdk_quicksight::Client::from_conf(
        aws_sdk_quicksight::config::Builder::from(&conf)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
            .build(),
    )
}

/// A name unique within this test process, for buckets and tables (moto is shared).
pub fn unique(prefix: &str) -> String {
    static COUNTER: Mutex<u32> = Mutex::new(0);
    let mut n = COUNTER.lock().expect("counter");
    *n += 1;
    format!("{prefix}-{}-{}", std::process::id(), *n)
}

/// Creates a fresh S3 bucket on moto and returns its name.
pub async fn new_bucket() -> String {
    let name = unique("qsb-test");
    s3_client()
        .await
        .create_bucket()
        .bucket(&name)
        .send()
        .await
        .expect("create bucket");
    name
}

/// Writes `text` to a file in a new temporary folder and returns both (keep the folder alive).
pub fn temp_file(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .expect("write");
    (dir, path)
}

/// Starts an in-process emulator with the `sample` account and the given behaviour.
pub async fn emulator(behaviour: emulator::Behaviour) -> emulator::Emulator {
    emulator::start(emulator::EmulatorConfig {
        seed: emulator::Seed::Sample,
        behaviour,
        s3_endpoint: Some(moto().endpoint.clone()),
        port: 0,
    })
    .await
    .expect("emulator starts")
}

/// A quick emulator: jobs take 150 ms + 2 ms per asset.
pub fn quick() -> emulator::Behaviour {
    emulator::Behaviour {
        job_base_ms: 150,
        job_per_asset_ms: 2,
        ..Default::default()
    }
}

/// The default policy aimed at the sample account, storing into `dir`.
pub fn sample_policy(dir: &std::path::Path) -> qsbackup_policy::Policy {
    let mut p = qsbackup_policy::Policy {
        name: "test".into(),
        ..Default::default()
    };
    p.targets = vec![qsbackup_policy::Target {
        account: SAMPLE_ACCOUNT.into(),
        region: Some(SAMPLE_REGION.into()),
        name: None,
        overrides: None,
    }];
    p.storage.s3 = None;
    p.storage.local = Some(qsbackup_policy::LocalStorage {
        path: dir.display().to_string(),
    });
    p
}

/// An engine for the emulator with fast polling and retries, storing where the policy says.
pub async fn engine(
    emu: &emulator::Emulator,
    policy: &qsbackup_policy::Policy,
) -> qsbackup_core::Engine {
    use std::time::Duration;
    let how = qsbackup_core::Connect {
        quicksight_endpoint: Some(emu.endpoint()),
        static_credentials: true,
        ..Default::default()
    };
    let mut e = qsbackup_core::Engine::connect(policy, &policy.targets[0], &how)
        .await
        .expect("engine");
    e.settings.poll = qsbackup_core::engine::PollSettings {
        initial: Duration::from_millis(100),
        factor: 1.3,
        max: Duration::from_millis(500),
    };
    e.settings.retry = qsbackup_core::qs::RetrySettings {
        max_attempts: 20,
        base: Duration::from_millis(20),
        max_delay: Duration::from_millis(300),
    };
    e
}

/// Points an engine at a moto bucket (SSE-S3) instead of local storage.
pub async fn use_bucket(e: &mut qsbackup_core::Engine, bucket: &str) {
    e.store = qsbackup_core::store::Store::S3 {
        client: s3_client().await,
        bucket: bucket.into(),
        kms_key_arn: None,
    };
}

/// Creates catalog, lock and identity tables on moto with the stack's key schema and attaches
/// them to the engine. Returns (catalog, lock, identities).
pub async fn use_tables(e: &mut qsbackup_core::Engine) -> (String, String, String) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let ddb = dynamodb_client().await;
    let names = (unique("catalog"), unique("lock"), unique("identities"));
    for (name, pk, sk) in [
        (&names.0, "scope", Some("runId")),
        (&names.1, "lockId", None),
        (&names.2, "runId", Some("itemKey")),
    ] {
        let mut req = ddb
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(pk)
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(pk)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            );
        if let Some(sk) = sk {
            req = req
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name(sk)
                        .key_type(KeyType::Range)
                        .build()
                        .unwrap(),
                )
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name(sk)
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .unwrap(),
                );
        }
        req.send().await.expect("create table");
    }
    e.tables = Some(qsbackup_core::engine::Tables {
        client: ddb,
        catalog: Some(names.0.clone()),
        lock: Some(names.1.clone()),
        identities: Some(names.2.clone()),
    });
    names
}

/// The environment the CDK stack gives every Lambda function, aimed at the emulator and moto
/// (a new bucket and new tables). Also returns the bucket and the lock table.
pub async fn lambda_env(
    emu: &emulator::Emulator,
) -> (
    std::collections::HashMap<&'static str, String>,
    String,
    String,
) {
    let bucket = new_bucket().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut probe = engine(emu, &sample_policy(dir.path())).await;
    let (catalog, lock, identities) = use_tables(&mut probe).await;
    let mut policy = sample_policy(dir.path());
    policy.storage.local = None;
    policy.storage.s3 = Some(qsbackup_policy::S3Storage::default());
    let env = std::collections::HashMap::from([
        (
            "QSBACKUP_POLICY_JSON",
            serde_json::to_string(&policy).expect("policy json"),
        ),
        ("QSBACKUP_ACCOUNT", SAMPLE_ACCOUNT.to_string()),
        ("QSBACKUP_REGION", SAMPLE_REGION.to_string()),
        ("QSBACKUP_BUCKET", bucket.clone()),
        ("QSBACKUP_PREFIX", "qsbackup".to_string()),
        ("QSBACKUP_CATALOG_TABLE", catalog),
        ("QSBACKUP_LOCK_TABLE", lock.clone()),
        ("QSBACKUP_IDENTITY_TABLE", identities),
        ("QSBACKUP_QUICKSIGHT_ENDPOINT", emu.endpoint()),
        ("QSBACKUP_ENDPOINT_URL", moto().endpoint.clone()),
        ("QSBACKUP_STATIC_CREDENTIALS", "1".to_string()),
        ("QSBACKUP_POLL_INITIAL_MS", "200".to_string()),
    ]);
    (env, bucket, lock)
}

/// Reads and parses a manifest from a moto bucket.
pub async fn s3_manifest(bucket: &str, key: &str) -> qsbackup_core::Manifest {
    let out = s3_client()
        .await
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("get manifest");
    let body = out
        .body
        .collect()
        .await
        .expect("manifest body")
        .into_bytes();
    serde_json::from_slice(&body).expect("manifest json")
}

/// Number of items in a moto DynamoDB table.
pub async fn table_count(table: &str) -> i32 {
    dynamodb_client()
        .await
        .scan()
        .table_name(table)
        .send()
        .await
        .expect("scan")
        .count()
}
