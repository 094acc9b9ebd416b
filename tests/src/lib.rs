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
        BufReader::new(stdout).read_line(&mut line).expect("moto prints its port");
        let port: u16 = line.trim().parse().unwrap_or_else(|_| panic!("moto did not start: {line:?}"));
        let stdin = child.stdin.take().expect("piped stdin");
        Moto { endpoint: format!("http://127.0.0.1:{port}"), _child: child, _stdin: stdin }
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
        aws_sdk_s3::config::Builder::from(&conf).force_path_style(true).build(),
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
    s3_client().await.create_bucket().bucket(&name).send().await.expect("create bucket");
    name
}

/// Writes `text` to a file in a new temporary folder and returns both (keep the folder alive).
pub fn temp_file(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::File::create(&path).and_then(|mut f| f.write_all(text.as_bytes())).expect("write");
    (dir, path)
}
