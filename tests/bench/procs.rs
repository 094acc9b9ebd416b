//! Child processes of the benchmark: the emulator and moto (killed when dropped), and measured
//! runs, which go through `qsbackup-bench measure-child`: a re-exec of this binary whose only
//! child is the measured program, so getrusage(RUSAGE_CHILDREN) is that program's peak RSS.
//! Every wait has a timeout.

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use nix::sys::resource::{UsageWho, getrusage};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Milliseconds since the Unix epoch (the emulator's job clock uses the same wall clock).
pub fn epoch_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// The first line a child prints on stdout (its address), within `timeout`.
async fn first_line(child: &mut Child, timeout: Duration) -> Result<String> {
    let out = child.stdout.take().context("stdout is not piped")?;
    let mut lines = BufReader::new(out).lines();
    match tokio::time::timeout(timeout, lines.next_line()).await {
        Ok(Ok(Some(line))) => Ok(line),
        Ok(Ok(None)) => bail!("it exited before printing its address"),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => bail!("it printed nothing within {timeout:?}"),
    }
}

/// A running `qsbackup-emulator` (separate process, so the CLI's RSS is measured alone).
pub struct Emulator {
    _child: Child,
    pub endpoint: String,
}

impl Emulator {
    pub async fn start(bin: &Path, args: &[String], log: &Path) -> Result<Emulator> {
        let mut child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log)?)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let line = first_line(&mut child, Duration::from_secs(120))
            .await
            .context("the emulator did not start")?;
        let endpoint = line
            .strip_prefix("listening on ")
            .with_context(|| format!("unexpected emulator output {line:?}"))?
            .trim()
            .to_string();
        Ok(Emulator {
            _child: child,
            endpoint,
        })
    }

    /// `GET` (no body) or `POST` (with a body) on the admin API under `/_emulator/`.
    pub async fn admin(
        &self,
        http: &reqwest::Client,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let url = format!("{}/_emulator/{path}", self.endpoint);
        let req = match body {
            Some(b) => http
                .post(&url)
                .header("content-type", "application/json")
                .body(b.to_string()),
            None => http.get(&url),
        };
        let resp = req.send().await?.error_for_status()?;
        Ok(serde_json::from_slice(&resp.bytes().await?)?)
    }
}

/// A moto server (S3) on a free loopback port; it stops when its stdin closes (on drop).
pub struct Moto {
    _child: Child,
    pub endpoint: String,
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

impl Moto {
    pub async fn start(python: &Path) -> Result<Moto> {
        let mut child = Command::new(python)
            .arg("-c")
            .arg(MOTO_LAUNCHER)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "starting moto with {} (bash scripts/test.sh creates the venv)",
                    python.display()
                )
            })?;
        let line = first_line(&mut child, Duration::from_secs(60))
            .await
            .context("moto did not start")?;
        let port: u16 = line.trim().parse().context("moto printed no port")?;
        Ok(Moto {
            _child: child,
            endpoint: format!("http://127.0.0.1:{port}"),
        })
    }
}

/// What `measure-child` saw of one program run.
#[derive(Clone, Debug)]
pub struct Measured {
    /// None when it was killed (timeout or signal).
    pub exit: Option<i32>,
    pub wall_s: f64,
    pub started_epoch_ms: f64,
    pub max_rss_kib: i64,
    pub cpu_s: f64,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

/// Runs `program` under `measure-child` with exactly `env` (plus PATH and HOME), its output
/// going to files in `dir`.
pub async fn run_measured(
    program: &Path,
    args: &[String],
    env: &[(String, String)],
    dir: &Path,
    timeout: Duration,
) -> Result<Measured> {
    let me = std::env::current_exe()?;
    let report = dir.join("measure.json");
    let stdout = dir.join("stdout.txt");
    let stderr = dir.join("stderr.txt");
    let mut cmd = Command::new(me);
    cmd.arg("measure-child")
        .arg(&report)
        .arg(timeout.as_secs().to_string())
        .arg(program)
        .args(args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout)?)
        .stderr(std::fs::File::create(&stderr)?)
        .kill_on_drop(true);
    for var in ["PATH", "HOME"] {
        if let Some(v) = std::env::var_os(var) {
            cmd.env(var, v);
        }
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    let mut child = cmd.spawn()?;
    // measure-child enforces `timeout` on the program itself; this only guards against a hang.
    let _status = tokio::time::timeout(timeout + Duration::from_secs(30), child.wait())
        .await
        .context("measure-child did not return")??;
    let r: Value =
        serde_json::from_slice(&std::fs::read(&report).with_context(|| {
            format!("measure-child wrote no report; see {}", stderr.display())
        })?)?;
    let num = |k: &str| r.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    Ok(Measured {
        exit: r.get("exit").and_then(Value::as_i64).map(|c| c as i32),
        wall_s: num("wallSeconds"),
        started_epoch_ms: num("startedEpochMs"),
        max_rss_kib: r.get("maxRssKiB").and_then(Value::as_i64).unwrap_or(0),
        cpu_s: num("cpuSeconds"),
        stdout,
        stderr,
    })
}

/// `qsbackup-bench measure-child REPORT TIMEOUT_SECS PROGRAM [ARGS…]`: runs PROGRAM (inheriting
/// stdio and environment), kills it after the timeout, writes wall time, exit code, CPU time
/// and peak RSS (ru_maxrss of the only child this process ever waits for) to REPORT.
pub fn measure_child(args: &[String]) -> ExitCode {
    match measure(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("measure-child: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn measure(args: &[String]) -> Result<()> {
    let [report, timeout, program, rest @ ..] = args else {
        bail!("usage: measure-child REPORT TIMEOUT_SECS PROGRAM [ARGS...]");
    };
    let timeout = Duration::from_secs(timeout.parse().context("TIMEOUT_SECS")?);
    let started_epoch_ms = epoch_ms();
    let t0 = Instant::now();
    let mut child = std::process::Command::new(program)
        .args(rest)
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break Some(s);
        }
        if t0.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let wall = t0.elapsed().as_secs_f64();
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN)?;
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    let out = json!({
        "exit": status.and_then(|s| s.code()),
        "timedOut": status.is_none(),
        "wallSeconds": wall,
        "startedEpochMs": started_epoch_ms,
        // Linux reports ru_maxrss in KiB.
        "maxRssKiB": usage.max_rss(),
        "cpuSeconds": secs(usage.user_time()) + secs(usage.system_time()),
    });
    std::fs::write(report, out.to_string())?;
    Ok(())
}
