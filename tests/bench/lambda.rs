//! Lambda figures: the size of each release artefact that `cargo lambda build --release
//! --output-format zip` left in target/lambda, and the time from process start to the first
//! invocation served: the built `qsbackup-begin` bootstrap under `cargo lambda watch
//! --only-lambda-apis` (a local Lambda runtime API), and `qsbackup-lambda-local` (the handlers
//! behind a local Invoke API). Both run on this host: approximations of a cold start.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// The workflow functions (runtime/lambda/Cargo.toml), one artefact each.
pub const FUNCTIONS: [&str; 9] = [
    "qsbackup-begin",
    "qsbackup-identities",
    "qsbackup-discover",
    "qsbackup-start-export",
    "qsbackup-check-export",
    "qsbackup-store-bundle",
    "qsbackup-split-batch",
    "qsbackup-finalize",
    "qsbackup-prune",
];

/// `target/lambda/<function>/bootstrap.zip`: zip size and unpacked bootstrap size, when built.
pub fn artefacts(target: &Path) -> Vec<Value> {
    FUNCTIONS
        .iter()
        .map(|f| {
            let zip = target.join("lambda").join(f).join("bootstrap.zip");
            let size = std::fs::metadata(&zip).map(|m| m.len()).ok();
            let unpacked = std::fs::File::open(&zip)
                .ok()
                .and_then(|file| zip::ZipArchive::new(file).ok())
                .map(|mut a| {
                    (0..a.len())
                        .filter_map(|i| a.by_index(i).ok().map(|e| e.size()))
                        .sum::<u64>()
                });
            json!({"function": f, "zipBytes": size, "unpackedBytes": unpacked})
        })
        .collect()
}

/// Process start → first successful `qsbackup-begin` invocation, `runs` times, each with a
/// fresh process and a fresh output folder.
pub async fn cold_starts(
    bin: &Path,
    quicksight: &str,
    work: &Path,
    http: &reqwest::Client,
    runs: usize,
) -> Result<Vec<Value>> {
    let policy = json!({
        "version": 1, "name": "bench-lambda",
        "targets": [{"account": crate::ACCOUNT, "region": crate::REGION}],
        "schedule": {"enabled": false},
        "storage": {"local": {"path": "unused"}},
    });
    let mut out = Vec::new();
    for i in 0..runs {
        let dir = work.join(format!("lambda-{i}"));
        std::fs::create_dir_all(&dir)?;
        let t0 = Instant::now();
        let mut child = Command::new(bin)
            .arg("0")
            .env_clear()
            .env("QSBACKUP_POLICY_JSON", policy.to_string())
            .env("QSBACKUP_ACCOUNT", crate::ACCOUNT)
            .env("QSBACKUP_REGION", crate::REGION)
            .env("QSBACKUP_OUTPUT_DIR", &dir)
            .env("QSBACKUP_QUICKSIGHT_ENDPOINT", quicksight)
            .env("QSBACKUP_STATIC_CREDENTIALS", "1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("stderr.txt"))?)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().context("stdout is not piped")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .context("qsbackup-lambda-local printed nothing within 60 s")??
            .context("qsbackup-lambda-local exited")?;
        let listening = t0.elapsed();
        let addr = line
            .strip_prefix("listening on ")
            .with_context(|| format!("unexpected output {line:?}"))?
            .trim()
            .to_string();
        let mut served = None;
        for _ in 0..1000 {
            if invoke_begin(http, &addr, "qsbackup-begin").await {
                served = Some(t0.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let Some(served) = served else {
            bail!(
                "qsbackup-begin never answered successfully; see {}",
                dir.display()
            );
        };
        out.push(json!({
            "listeningMs": listening.as_secs_f64() * 1000.0,
            "firstInvocationMs": served.as_secs_f64() * 1000.0,
        }));
        drop(child);
    }
    Ok(out)
}

/// `cargo lambda watch --only-lambda-apis` on a free loopback port, once it accepts connections.
async fn runtime_api(cargo_lambda: &Path, log: &Path) -> Result<(tokio::process::Child, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let watch = Command::new(cargo_lambda)
        .args([
            "lambda",
            "watch",
            "--only-lambda-apis",
            "-A",
            "127.0.0.1",
            "-P",
        ])
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(log)?)
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", cargo_lambda.display()))?;
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok((watch, format!("http://127.0.0.1:{port}")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("cargo lambda watch did not listen on 127.0.0.1:{port} within 30 s")
}

/// Invokes function `name` (the begin handler) with `{}`; true when it answered with a
/// result, not an error.
async fn invoke_begin(http: &reqwest::Client, base: &str, name: &str) -> bool {
    let url = format!("{base}/2015-03-31/functions/{name}/invocations");
    let Ok(r) = http
        .post(&url)
        .timeout(Duration::from_secs(20))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
    else {
        return false;
    };
    let ok = r.status().is_success() && r.headers().get("X-Amz-Function-Error").is_none();
    let body = r.bytes().await.unwrap_or_default();
    ok && serde_json::from_slice::<Value>(&body).is_ok_and(|v| v.get("runId").is_some())
}

/// Process start of the `qsbackup-begin` artefact (unzipped bootstrap) → its first invocation
/// answered through `cargo lambda watch --only-lambda-apis` on loopback, `runs` times.
pub async fn artefact_cold_starts(
    cargo_lambda: &Path,
    zip: &Path,
    quicksight: &str,
    work: &Path,
    http: &reqwest::Client,
    runs: usize,
) -> Result<Vec<Value>> {
    let bootstrap = work.join("bootstrap");
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zip)?)?;
    std::io::copy(
        &mut archive.by_name("bootstrap")?,
        &mut std::fs::File::create(&bootstrap)?,
    )?;
    std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755))?;
    let policy = json!({
        "version": 1, "name": "bench-lambda",
        "targets": [{"account": crate::ACCOUNT, "region": crate::REGION}],
        "schedule": {"enabled": false},
        "storage": {"local": {"path": "unused"}},
    });
    let mut out = Vec::new();
    for i in 0..runs {
        let dir = work.join(format!("artefact-{i}"));
        std::fs::create_dir_all(&dir)?;
        // A runtime API per run: a killed earlier process still waiting for its next event must
        // not receive this run's invocation.
        let (watch, base) = runtime_api(cargo_lambda, &dir.join("watch.log")).await?;
        let name = "qsbackup-begin";
        let t0 = Instant::now();
        let child = Command::new(&bootstrap)
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", format!("{base}/.rt/{name}"))
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("QSBACKUP_POLICY_JSON", policy.to_string())
            .env("QSBACKUP_ACCOUNT", crate::ACCOUNT)
            .env("QSBACKUP_REGION", crate::REGION)
            .env("QSBACKUP_OUTPUT_DIR", &dir)
            .env("QSBACKUP_QUICKSIGHT_ENDPOINT", quicksight)
            .env("QSBACKUP_STATIC_CREDENTIALS", "1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("stdout.txt"))?)
            .stderr(std::fs::File::create(dir.join("stderr.txt"))?)
            .kill_on_drop(true)
            .spawn()?;
        // The runtime API holds the invocation until the function has asked for its next event.
        if !invoke_begin(http, &base, name).await {
            bail!(
                "the qsbackup-begin artefact did not answer; see {}",
                dir.display()
            );
        }
        out.push(json!({"firstInvocationMs": t0.elapsed().as_secs_f64() * 1000.0}));
        drop(child);
        drop(watch);
    }
    Ok(out)
}
