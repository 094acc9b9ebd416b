//! The standalone binary: started on a free port, it answers an SDK client configured only
//! through `AWS_ENDPOINT_URL_QUICKSIGHT` (set on a child process, so no test shares the env).
#![allow(clippy::expect_used, clippy::unwrap_used)] // test helpers panic on purpose

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use aws_config::BehaviorVersion;

const CHILD_MARKER: &str = "QSBACKUP_EMULATOR_ENV_CHILD";

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn binary_serves_a_client_configured_by_aws_endpoint_url_quicksight() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_qsbackup-emulator"))
        .args(["--port", "0", "--seed", "sample"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn emulator");
    let stdout = child.stdout.take().expect("stdout");
    let server = Kill(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read listening line");
    let endpoint = line
        .trim()
        .strip_prefix("listening on ")
        .expect("listening line")
        .to_owned();
    assert!(endpoint.starts_with("http://127.0.0.1:"));

    // Re-run this test binary as the SDK client, with only the environment pointing at the emulator.
    let status = Command::new(std::env::current_exe().expect("test exe"))
        .args([
            "--exact",
            "sdk_client_from_environment",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_MARKER, "1")
        .env("AWS_ENDPOINT_URL_QUICKSIGHT", &endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .status()
        .expect("run child client");
    assert!(status.success(), "the env-configured SDK client failed");

    let counters: serde_json::Value =
        reqwest::blocking_get(&format!("{endpoint}/_emulator/counters"));
    assert!(
        counters["operations"]["ListDashboards"]["calls"]
            .as_u64()
            .is_some_and(|n| n >= 1),
        "{counters}"
    );
    drop(server);
}

/// Fetches JSON with a plain TCP HTTP/1.0 request (keeps this test free of an async runtime).
mod reqwest {
    pub fn blocking_get(url: &str) -> serde_json::Value {
        use std::io::{Read, Write};
        let rest = url.strip_prefix("http://").expect("http url");
        let (host, path) = rest.split_once('/').expect("path");
        let mut s = std::net::TcpStream::connect(host).expect("connect");
        write!(s, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").expect("write");
        let mut text = String::new();
        s.read_to_string(&mut text).expect("read");
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        serde_json::from_str(body).expect("json body")
    }
}

/// Runs only as the child of the test above (ignored otherwise).
#[tokio::test]
#[ignore = "runs as a child process of binary_serves_a_client_configured_by_aws_endpoint_url_quicksight"]
async fn sdk_client_from_environment() {
    assert_eq!(
        std::env::var(CHILD_MARKER).as_deref(),
        Ok("1"),
        "run through the parent test"
    );
    let conf = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let c = aws_sdk_quicksight::Client::new(&conf);
    let d = c
        .list_dashboards()
        .aws_account_id("123456789012")
        .send()
        .await
        .expect("list dashboards via env endpoint");
    assert!(
        d.dashboard_summary_list()
            .iter()
            .any(|d| d.dashboard_id() == Some("dashboard-sales-overview"))
    );
}
