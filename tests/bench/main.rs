//! `qsbackup-bench`: full backups of the QuickSight emulator by the release `qsbackup` binary,
//! side by side with the lower bound that the emulated QuickSight limits allow, one job at a
//! time, a 200 MiB bundle, and the Lambda artefacts. BENCHMARKS.md explains every figure.

mod analysis;
mod bound;
mod lambda;
mod procs;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::analysis::{Listed, Store};
use crate::procs::{Emulator, Moto};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
const MIB: f64 = 1024.0 * 1024.0;

/// The quota and latency model, in emulator time. It is an assumed QuickSight sped up 100×:
/// durations ÷ 100, rates × 100, counts (bursts, slots) unchanged. BENCHMARKS.md states it.
#[derive(Clone, Debug)]
struct Model {
    limits: bound::Limits,
    /// The engine's first export poll (its default 3 s ÷ 100; the CLI then caps at 5×).
    poll_initial_ms: u64,
    /// The emulator's generator seed.
    seed: u64,
}

impl Model {
    fn standard() -> Model {
        Model {
            limits: bound::Limits {
                slots: 5,
                job_base_ms: 200,
                job_per_doc_ms: 2,
                latency_ms: 1,
                call_bucket: (10_000.0, 100),
                job_api_bucket: (200.0, 10),
            },
            poll_initial_ms: 30,
            seed: 1,
        }
    }

    fn emulator_args(&self, assets: usize, padding: u64) -> Vec<String> {
        let l = &self.limits;
        [
            ("--port", "0".to_string()),
            ("--seed", self.seed.to_string()),
            ("--assets", assets.to_string()),
            ("--job-base-ms", l.job_base_ms.to_string()),
            ("--job-per-asset-ms", l.job_per_doc_ms.to_string()),
            ("--latency-ms", l.latency_ms.to_string()),
            ("--throttle-rate", l.call_bucket.0.to_string()),
            ("--throttle-burst", l.call_bucket.1.to_string()),
            ("--padding-bytes", padding.to_string()),
        ]
        .into_iter()
        .flat_map(|(k, v)| [k.to_string(), v])
        .collect()
    }

    /// The token buckets, as posted to `/_emulator/behaviour` (the job APIs get their own).
    fn throttle(&self) -> Value {
        let b = |(rate, burst): (f64, u32)| json!({"ratePerSec": rate, "burst": burst});
        json!({
            "*": b(self.limits.call_bucket),
            "StartAssetBundleExportJob": b(self.limits.job_api_bucket),
            "DescribeAssetBundleExportJob": b(self.limits.job_api_bucket),
        })
    }
}

struct Opts {
    sizes: Vec<usize>,
    baseline: bool,
    memory_bytes: u64,
    lambda: bool,
    fast_poll: bool,
    bin_dir: PathBuf,
    out: PathBuf,
    timeout: Duration,
}

const USAGE: &str = "usage: qsbackup-bench [--quick] [--sizes 500,2000,10000|none] [--no-baseline] \
[--no-memory] [--no-lambda] [--no-fast-poll] [--only-lambda] [--bin-dir DIR] [--out DIR] [--timeout-secs N]";

fn opts() -> Result<Opts> {
    let exe = std::env::current_exe()?;
    let mut o = Opts {
        sizes: vec![500, 2_000, 10_000],
        baseline: true,
        memory_bytes: 200 << 20,
        lambda: true,
        fast_poll: true,
        bin_dir: exe.parent().context("no exe dir")?.to_path_buf(),
        out: qsbackup_tests::workspace_root().join("target/bench"),
        timeout: Duration::from_secs(600),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .with_context(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--quick" => {
                o.sizes = vec![150];
                o.memory_bytes = 20 << 20;
            }
            "--sizes" => {
                o.sizes = value()?
                    .split(',')
                    .filter(|s| !matches!(s.trim(), "" | "none"))
                    .map(|s| s.trim().replace('_', "").parse())
                    .collect::<Result<_, _>>()?
            }
            "--no-baseline" => o.baseline = false,
            "--no-memory" => o.memory_bytes = 0,
            "--no-lambda" => o.lambda = false,
            "--no-fast-poll" => o.fast_poll = false,
            "--only-lambda" => {
                o.sizes.clear();
                o.memory_bytes = 0;
            }
            "--bin-dir" => o.bin_dir = value()?.into(),
            "--out" => o.out = value()?.into(),
            "--timeout-secs" => o.timeout = Duration::from_secs(value()?.parse()?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    Ok(o)
}

/// What every run shares.
struct Bench {
    opts: Opts,
    model: Model,
    http: reqwest::Client,
    moto: Moto,
    s3: aws_sdk_s3::Client,
}

/// One backup to run.
#[derive(Clone, Debug)]
struct Spec {
    name: String,
    assets: usize,
    s3: bool,
    jobs: u32,
    padding: u64,
    /// The engine's first export poll (`--poll-initial-ms`; the CLI caps polls at 5×).
    poll_ms: u64,
    /// Select only this dashboard (and what it depends on).
    only: Option<&'static str>,
    /// Read every bundle back and compute the lower bound.
    analyse: bool,
}

impl Bench {
    fn bin(&self, name: &str) -> Result<PathBuf> {
        let p = self.opts.bin_dir.join(name);
        if !p.is_file() {
            bail!(
                "{} is missing; build it first: cargo build --release -p qsbackup-cli -p qsbackup-emulator -p qsbackup-lambda -p qsbackup-tests --bin qsbackup --bin qsbackup-emulator --bin qsbackup-lambda-local --bin qsbackup-bench",
                p.display()
            );
        }
        Ok(p)
    }

    async fn new_bucket(&self, name: &str) -> Result<String> {
        let bucket = format!("qsb-bench-{}", name.to_lowercase().replace('_', "-"));
        self.http
            .put(format!("{}/{bucket}", self.moto.endpoint))
            .send()
            .await?
            .error_for_status()
            .with_context(|| format!("creating bucket {bucket} on moto"))?;
        Ok(bucket)
    }

    async fn backup(&self, spec: &Spec) -> Result<Value> {
        let dir = self.opts.out.join("work").join(&spec.name);
        let _ = std::fs::remove_dir_all(&dir);
        let (store_dir, tmp) = (dir.join("store"), dir.join("tmp"));
        std::fs::create_dir_all(&store_dir)?;
        std::fs::create_dir_all(&tmp)?;
        let emulator_args = self.model.emulator_args(spec.assets, spec.padding);
        let emulator = Emulator::start(
            &self.bin("qsbackup-emulator")?,
            &emulator_args,
            &dir.join("emulator.log"),
        )
        .await?;
        let mut behaviour = emulator.admin(&self.http, "behaviour", None).await?;
        behaviour["throttle"] = self.model.throttle();
        emulator
            .admin(&self.http, "behaviour", Some(&behaviour))
            .await?;

        let mut policy = json!({
            "version": 1,
            "name": format!("bench-{}", spec.name),
            "targets": [{"account": ACCOUNT, "region": REGION}],
            "schedule": {"enabled": false},
            "export": {"concurrentJobs": spec.jobs},
            "storage": if spec.s3 { json!({"s3": {}}) } else { json!({"local": {"path": store_dir}}) },
        });
        if let Some(id) = spec.only {
            policy["selection"] = json!({"include": [{"ids": [id]}]});
        }
        let policy_file = dir.join("policy.json");
        std::fs::write(&policy_file, serde_json::to_vec_pretty(&policy)?)?;
        let mut args: Vec<String> = vec![
            "backup".into(),
            "--policy".into(),
            policy_file.to_string_lossy().into_owned(),
            "--no-progress".into(),
            "--json".into(),
            "--poll-initial-ms".into(),
            spec.poll_ms.to_string(),
        ];
        let none = dir.join("none").to_string_lossy().to_string();
        let mut env: Vec<(String, String)> = [
            ("AWS_ENDPOINT_URL_QUICKSIGHT", emulator.endpoint.clone()),
            ("AWS_REGION", REGION.into()),
            ("AWS_ACCESS_KEY_ID", "bench".into()),
            ("AWS_SECRET_ACCESS_KEY", "bench".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_CONFIG_FILE", none.clone()),
            ("AWS_SHARED_CREDENTIALS_FILE", none),
            ("TMPDIR", tmp.to_string_lossy().to_string()),
        ]
        .map(|(k, v)| (k.to_string(), v))
        .to_vec();
        let bucket = if spec.s3 {
            let b = self.new_bucket(&spec.name).await?;
            args.extend(["--bucket".to_string(), b.clone()]);
            env.push(("AWS_ENDPOINT_URL_S3".into(), self.moto.endpoint.clone()));
            Some(b)
        } else {
            None
        };
        let qsbackup = self.bin("qsbackup")?;
        let m = procs::run_measured(&qsbackup, &args, &env, &dir, self.opts.timeout).await?;
        if !matches!(m.exit, Some(0 | 1)) {
            let err = std::fs::read_to_string(&m.stderr).unwrap_or_default();
            let tail: String = err.lines().rev().take(15).collect::<Vec<_>>().join("\n");
            bail!(
                "qsbackup exited with {:?} after {:.1} s; stderr (last lines, reversed):\n{tail}",
                m.exit,
                m.wall_s
            );
        }
        let result: Value = serde_json::from_slice(&std::fs::read(&m.stdout)?)
            .context("qsbackup --json printed no result")?;
        let counters = emulator.admin(&self.http, "counters", None).await?;
        let listed = list_jobs(&emulator.endpoint).await?;
        drop(emulator);

        let store = match &bucket {
            Some(b) => Store::S3 {
                client: self.s3.clone(),
                bucket: b.clone(),
            },
            None => Store::Local(store_dir.clone()),
        };
        let manifest_key = result["manifestKey"]
            .as_str()
            .context("no manifestKey in the result")?;
        let facts = analysis::read_run(&store, manifest_key, spec.analyse).await?;
        let row = self.row(spec, &m, &result, &counters, &listed, &facts)?;
        let rerun = format!(
            "qsbackup-emulator {}  # then POST /_emulator/behaviour with throttle {}\n{} {}",
            emulator_args.join(" "),
            self.model.throttle(),
            env.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
            std::iter::once(qsbackup.to_string_lossy().to_string())
                .chain(args)
                .collect::<Vec<_>>()
                .join(" ")
        );
        std::fs::write(dir.join("rerun.sh"), rerun)?;
        let _ = std::fs::remove_dir_all(&store_dir);
        let _ = std::fs::remove_dir_all(&tmp);
        Ok(row)
    }

    fn row(
        &self,
        spec: &Spec,
        m: &procs::Measured,
        result: &Value,
        counters: &Value,
        listed: &[Listed],
        facts: &analysis::RunFacts,
    ) -> Result<Value> {
        let ops = counters["operations"]
            .as_object()
            .context("counters without operations")?;
        let sum = |k: &str| {
            ops.values()
                .map(|o| o[k].as_u64().unwrap_or(0))
                .sum::<u64>()
        };
        let engine_failed: u64 = facts.report["apiCalls"]
            .as_object()
            .map(|o| o.values().map(|s| s["failed"].as_u64().unwrap_or(0)).sum())
            .unwrap_or(0);
        let engine_calls: u64 = facts.report["apiCalls"]
            .as_object()
            .map(|o| o.values().map(|s| s["calls"].as_u64().unwrap_or(0)).sum())
            .unwrap_or(0);
        let prefix = format!("qsb-{}-", facts.run_id);
        let run_jobs: Vec<&Listed> = listed
            .iter()
            .filter(|l| l.id.starts_with(&prefix))
            .collect();
        let bundles = facts.manifest["bundles"].as_array().map_or(0, Vec::len);
        let mut row = json!({
            "name": spec.name,
            "inventory": spec.assets,
            "storage": if spec.s3 { "s3 (moto)" } else { "local" },
            "concurrentJobs": spec.jobs,
            "pollInitialMs": spec.poll_ms,
            "exit": m.exit,
            "status": result["status"],
            "assets": {"backedUp": result["assets"], "failed": result["failed"], "skipped": result["skipped"]},
            "wallSeconds": m.wall_s,
            "cpuSeconds": m.cpu_s,
            "peakRssMiB": m.max_rss_kib as f64 / 1024.0,
            "apiCalls": {"total": sum("calls"), "throttled": sum("throttled"), "faults": sum("faults"),
                "engineCounted": engine_calls, "engineFailed": engine_failed,
                "perAsset": sum("calls") as f64 / spec.assets.max(1) as f64,
                "byOperation": counters["operations"]},
            "exportJobs": {"started": counters["exportJobsStarted"], "listed": run_jobs.len(),
                "bundles": bundles, "failedJobs": facts.failed_jobs.len(),
                "batches": facts.batch_lens.len()},
            "downloads": counters["downloads"],
            "bytes": {"bundles": facts.report["bytes"], "stored": facts.stored_bytes,
                "objects": facts.stored_objects},
        });
        if !spec.analyse {
            return Ok(row);
        }
        let limits = bound::Limits {
            slots: spec.jobs as usize,
            ..self.model.limits.clone()
        };
        let jobs = analysis::jobs(listed, facts)?;
        let timeline: Vec<Value> = jobs
            .iter()
            .map(|j| {
                json!({"batch": j.batch, "range": [j.lo, j.hi], "ok": j.ok, "docs": j.docs,
                    "createdS": j.created_s - m.started_epoch_ms / 1000.0,
                    "modelS": limits.job_s(j.docs)})
            })
            .collect();
        let work = self
            .opts
            .out
            .join("work")
            .join(&spec.name)
            .join("jobs.json");
        std::fs::write(work, serde_json::to_vec_pretty(&timeline)?)?;
        let discovery = bound::discovery_s(counters, &limits);
        let export = bound::export(&jobs, &limits);
        let lower = discovery + export.lpt_s;
        let first = jobs.iter().map(|j| j.created_s).fold(f64::MAX, f64::min);
        let last_end = jobs
            .iter()
            .filter(|j| j.ok)
            .map(|j| j.created_s + limits.job_s(j.docs))
            .fold(0.0, f64::max);
        let start = m.started_epoch_ms / 1000.0;
        let docs: usize = jobs.iter().filter(|j| j.ok).map(|j| j.docs).sum();
        let describe_job = ops
            .get("DescribeAssetBundleExportJob")
            .and_then(|o| o["calls"].as_u64())
            .unwrap_or(0);
        row["lowerBound"] = json!({
            "seconds": lower,
            "discoverySeconds": discovery,
            "exportSeconds": export.lpt_s,
            "exportAreaSeconds": export.area_s,
            "exportChainSeconds": export.chain_s,
            "ratio": m.wall_s / lower,
            "jobs": jobs.len(),
            "failedJobsEstimated": jobs.iter().filter(|j| !j.ok).count(),
            "docsInBundles": docs,
        });
        row["measuredPhases"] = json!({
            "untilFirstJobSeconds": first - start,
            "exportSeconds": last_end - first,
            "afterLastJobSeconds": start + m.wall_s - last_end,
        });
        row["describeJobPerJob"] = json!(describe_job as f64 / jobs.len().max(1) as f64);
        Ok(row)
    }
}

/// Every export job the emulator knows, with its state and creation time.
async fn list_jobs(endpoint: &str) -> Result<Vec<Listed>> {
    let conf = qsbackup_tests::sdk_config(endpoint, REGION).await;
    let qs = aws_sdk_quicksight::Client::new(&conf);
    let mut out = Vec::new();
    let mut token = None;
    for _ in 0..10_000 {
        let page = qs
            .list_asset_bundle_export_jobs()
            .aws_account_id(ACCOUNT)
            .max_results(100)
            .set_next_token(token)
            .send()
            .await
            .context("ListAssetBundleExportJobs")?;
        for j in page.asset_bundle_export_job_summary_list() {
            out.push(Listed {
                id: j.asset_bundle_export_job_id().unwrap_or_default().into(),
                status: j
                    .job_status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                created_s: j.created_time().map_or(0.0, |t| t.as_secs_f64()),
            });
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
    bail!("ListAssetBundleExportJobs did not end")
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("measure-child") {
        return procs::measure_child(&args[1..]);
    }
    let run = || -> Result<()> {
        let opts = opts()?;
        tokio::runtime::Runtime::new()?.block_on(run(opts))
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(opts: Opts) -> Result<()> {
    std::fs::create_dir_all(&opts.out)?;
    let moto = Moto::start(&qsbackup_tests::workspace_root().join(".venv/bin/python")).await?;
    let conf = qsbackup_tests::sdk_config(&moto.endpoint, REGION).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&conf)
            .force_path_style(true)
            .build(),
    );
    let bench = Bench {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?,
        model: Model::standard(),
        opts,
        moto,
        s3,
    };
    let started = std::time::Instant::now();
    let mut rows = Vec::new();
    let mut specs = Vec::new();
    for &n in &bench.opts.sizes {
        let poll = bench.model.poll_initial_ms;
        let spec = |name: &str, s3: bool, jobs: u32, poll_ms: u64| Spec {
            name: format!("{n}-{name}"),
            assets: n,
            s3,
            jobs,
            padding: 0,
            poll_ms,
            only: None,
            analyse: true,
        };
        specs.push(spec("local", false, 5, poll));
        specs.push(spec("s3", true, 5, poll));
        if bench.opts.baseline {
            specs.push(spec("one-job", false, 1, poll));
        }
        if bench.opts.fast_poll {
            specs.push(spec("local-poll10", false, 5, 10));
        }
    }
    if bench.opts.memory_bytes > 0 {
        let mib = bench.opts.memory_bytes >> 20;
        for s3 in [false, true] {
            specs.push(Spec {
                name: format!("bundle-{mib}mib-{}", if s3 { "s3" } else { "local" }),
                assets: 100,
                s3,
                jobs: 5,
                padding: bench.opts.memory_bytes,
                poll_ms: bench.model.poll_initial_ms,
                only: Some("dashboard-sales-overview"),
                analyse: false,
            });
        }
    }
    for spec in &specs {
        eprintln!(
            "[{:>6.1} s] running {} …",
            started.elapsed().as_secs_f64(),
            spec.name
        );
        let row = match bench.backup(spec).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("  {} failed: {e:#}", spec.name);
                json!({"name": spec.name, "error": format!("{e:#}")})
            }
        };
        if let Some(w) = row["wallSeconds"].as_f64() {
            eprintln!(
                "  {:.2} s, ratio {}, peak RSS {:.1} MiB",
                w,
                row["lowerBound"]["ratio"]
                    .as_f64()
                    .map_or("-".into(), |r| format!("{r:.3}")),
                row["peakRssMiB"].as_f64().unwrap_or(0.0)
            );
        }
        rows.push(row);
    }
    let lambda = if bench.opts.lambda {
        eprintln!("[{:>6.1} s] lambda …", started.elapsed().as_secs_f64());
        lambda_figures(&bench).await
    } else {
        json!(null)
    };
    let results = json!({
        "machine": machine(),
        "model": {
            "jobBaseMs": bench.model.limits.job_base_ms,
            "jobPerDocumentMs": bench.model.limits.job_per_doc_ms,
            "latencyMs": bench.model.limits.latency_ms,
            "throttle": bench.model.throttle(),
            "pollInitialMs": bench.model.poll_initial_ms,
            "seed": bench.model.seed,
        },
        "benchSeconds": started.elapsed().as_secs_f64(),
        "runs": rows,
        "lambda": lambda,
    });
    std::fs::write(
        bench.opts.out.join("results.json"),
        serde_json::to_vec_pretty(&results)?,
    )?;
    let table = tables(&results);
    std::fs::write(bench.opts.out.join("table.md"), &table)?;
    println!("{table}");
    eprintln!(
        "results: {} (total {:.0} s)",
        bench.opts.out.join("results.json").display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn lambda_figures(bench: &Bench) -> Value {
    let target = bench
        .opts
        .bin_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let cold = async {
        let dir = bench.opts.out.join("work/lambda");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let emulator = Emulator::start(
            &bench.bin("qsbackup-emulator")?,
            &bench.model.emulator_args(100, 0),
            &dir.join("emulator.log"),
        )
        .await?;
        lambda::cold_starts(
            &bench.bin("qsbackup-lambda-local")?,
            &emulator.endpoint,
            &dir,
            &bench.http,
            5,
        )
        .await
    };
    let cold = cold.await;
    let cargo_lambda = qsbackup_tests::workspace_root().join(".venv/bin/cargo-lambda");
    let zip = target.join("lambda/qsbackup-begin/bootstrap.zip");
    let artefact = async {
        if !cargo_lambda.is_file() || !zip.is_file() {
            bail!("needs .venv/bin/cargo-lambda and a built {}", zip.display());
        }
        let dir = bench.opts.out.join("work/lambda-artefact");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let emulator = Emulator::start(
            &bench.bin("qsbackup-emulator")?,
            &bench.model.emulator_args(100, 0),
            &dir.join("emulator.log"),
        )
        .await?;
        lambda::artefact_cold_starts(
            &cargo_lambda,
            &zip,
            &emulator.endpoint,
            &dir,
            &bench.http,
            5,
        )
        .await
    };
    let as_json = |r: Result<Vec<Value>>| match r {
        Ok(v) => json!(v),
        Err(e) => json!({"error": format!("{e:#}")}),
    };
    json!({
        "artefacts": lambda::artefacts(&target),
        "coldStarts": as_json(cold),
        "artefactColdStarts": as_json(artefact.await),
    })
}

/// nproc, memory and CPU model of this machine.
fn machine() -> Value {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|r| r.trim_start_matches([' ', '\t', ':']))
        })
        .unwrap_or("unknown")
        .to_string();
    let mem_kib: u64 = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|r| r.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let load = read("/proc/loadavg");
    json!({
        "nproc": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "memGiB": mem_kib as f64 / 1024.0 / 1024.0,
        "cpu": model,
        "loadAvgAtEnd": load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    })
}

fn f(v: &Value, digits: usize) -> String {
    v.as_f64().map_or("-".into(), |x| format!("{x:.digits$}"))
}

/// The Markdown tables of BENCHMARKS.md, from the results.
fn tables(r: &Value) -> String {
    let mut s = String::new();
    let runs = r["runs"].as_array().cloned().unwrap_or_default();
    let m = &r["machine"];
    let _ = writeln!(
        s,
        "Machine: {} CPUs ({}), {:.1} GiB RAM; load average at the end {}. Bench took {:.0} s.\n",
        m["nproc"],
        m["cpu"].as_str().unwrap_or("?"),
        m["memGiB"].as_f64().unwrap_or(0.0),
        m["loadAvgAtEnd"].as_str().unwrap_or("?"),
        r["benchSeconds"].as_f64().unwrap_or(0.0)
    );
    let _ = writeln!(
        s,
        "| run | inventory | backed up / failed / skipped | jobs in flight | wall s | lower bound s (discovery + export) | ratio | API calls (per asset) | throttled / faults / other errors | export jobs started = bundles + failed jobs | qsbackup CPU s | peak RSS MiB | stored MiB (bundles MiB) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for row in &runs {
        if let Some(e) = row["error"].as_str() {
            let _ = writeln!(
                s,
                "| {} | failed: {} |",
                row["name"].as_str().unwrap_or("?"),
                e.lines().next().unwrap_or("")
            );
            continue;
        }
        let lb = &row["lowerBound"];
        let a = &row["assets"];
        let c = &row["apiCalls"];
        let j = &row["exportJobs"];
        let b = &row["bytes"];
        let _ = writeln!(
            s,
            "| {} | {} | {} / {} / {} | {} | {} | {} ({} + {}) | {} | {} ({}) | {} / {} / {} | {} = {} + {} | {} | {} | {} ({}) |",
            row["name"].as_str().unwrap_or("?"),
            row["inventory"],
            a["backedUp"],
            a["failed"],
            a["skipped"],
            row["concurrentJobs"],
            f(&row["wallSeconds"], 2),
            f(&lb["seconds"], 2),
            f(&lb["discoverySeconds"], 2),
            f(&lb["exportSeconds"], 2),
            f(&lb["ratio"], 3),
            c["total"],
            f(&c["perAsset"], 2),
            c["throttled"],
            c["faults"],
            c["engineFailed"],
            j["started"],
            j["bundles"],
            j["failedJobs"],
            f(&row["cpuSeconds"], 2),
            f(&row["peakRssMiB"], 1),
            f(&json!(b["stored"].as_f64().unwrap_or(0.0) / MIB), 1),
            f(&json!(b["bundles"].as_f64().unwrap_or(0.0) / MIB), 1),
        );
    }
    let by_name = |name: &str| runs.iter().find(|r| r["name"] == name);
    let _ = writeln!(
        s,
        "\n| inventory | ours, 5 jobs (local) s | one job at a time s | one job at a time ÷ ours |\n|---:|---:|---:|---:|"
    );
    for row in runs.iter().filter(|r| r["concurrentJobs"] == 1) {
        let n = &row["inventory"];
        if let Some(ours) = by_name(&format!("{n}-local")) {
            let (a, b) = (
                ours["wallSeconds"].as_f64().unwrap_or(0.0),
                row["wallSeconds"].as_f64().unwrap_or(0.0),
            );
            let _ = writeln!(s, "| {n} | {a:.2} | {b:.2} | {:.2}× |", b / a.max(1e-9));
        }
    }
    let _ = writeln!(
        s,
        "\n| run | until first job s | export phase s (bound) | after last job s | Describe job calls per job | bundle documents (assets in plan) |\n|---|---:|---:|---:|---:|---:|"
    );
    for row in runs.iter().filter(|r| r["measuredPhases"].is_object()) {
        let p = &row["measuredPhases"];
        let lb = &row["lowerBound"];
        let _ = writeln!(
            s,
            "| {} | {} | {} ({}) | {} | {} | {} ({}) |",
            row["name"].as_str().unwrap_or("?"),
            f(&p["untilFirstJobSeconds"], 2),
            f(&p["exportSeconds"], 2),
            f(&lb["exportSeconds"], 2),
            f(&p["afterLastJobSeconds"], 2),
            f(&row["describeJobPerJob"], 2),
            lb["docsInBundles"],
            row["assets"]["backedUp"].as_u64().unwrap_or(0)
                + row["assets"]["failed"].as_u64().unwrap_or(0),
        );
    }
    let locals: Vec<&Value> = runs
        .iter()
        .filter(|r| {
            r["name"].as_str().is_some_and(|n| n.ends_with("-local")) && r["lowerBound"].is_object()
        })
        .collect();
    if !locals.is_empty() {
        let mut ops: Vec<String> = locals
            .iter()
            .flat_map(|r| {
                r["apiCalls"]["byOperation"]
                    .as_object()
                    .into_iter()
                    .flat_map(|o| o.keys().cloned())
            })
            .collect();
        ops.sort();
        ops.dedup();
        let _ = write!(s, "\n| operation (runs `N-local`) |");
        for r in &locals {
            let _ = write!(s, " {} |", r["inventory"]);
        }
        let _ = write!(s, "\n|---|");
        for _ in &locals {
            let _ = write!(s, "---:|");
        }
        let _ = writeln!(s);
        for op in ops {
            let _ = write!(s, "| {op} |");
            for r in &locals {
                let _ = write!(
                    s,
                    " {} |",
                    r["apiCalls"]["byOperation"][&op]["calls"]
                        .as_u64()
                        .unwrap_or(0)
                );
            }
            let _ = writeln!(s);
        }
    }
    let l = &r["lambda"];
    if l.is_object() {
        let _ = writeln!(
            s,
            "\n| Lambda function | zip KiB | bootstrap KiB |\n|---|---:|---:|"
        );
        for a in l["artefacts"].as_array().into_iter().flatten() {
            let kib = |v: &Value| {
                v.as_f64()
                    .map_or("not built".into(), |b| format!("{:.0}", b / 1024.0))
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} |",
                a["function"].as_str().unwrap_or("?"),
                kib(&a["zipBytes"]),
                kib(&a["unpackedBytes"])
            );
        }
        match l["coldStarts"].as_array() {
            Some(c) => {
                let ms: Vec<String> = c.iter().map(|x| f(&x["firstInvocationMs"], 0)).collect();
                let listen: Vec<String> = c.iter().map(|x| f(&x["listeningMs"], 0)).collect();
                let _ = writeln!(
                    s,
                    "\nqsbackup-lambda-local, process start → first successful qsbackup-begin invocation: {} ms (listening after {} ms).",
                    ms.join(", "),
                    listen.join(", ")
                );
            }
            None => {
                let _ = writeln!(s, "\nCold start not measured: {}", l["coldStarts"]["error"]);
            }
        }
        match l["artefactColdStarts"].as_array() {
            Some(c) => {
                let ms: Vec<String> = c.iter().map(|x| f(&x["firstInvocationMs"], 0)).collect();
                let _ = writeln!(
                    s,
                    "\nqsbackup-begin artefact (bootstrap from its zip) under cargo lambda watch --only-lambda-apis, process start → first invocation answered: {} ms.",
                    ms.join(", ")
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "\nArtefact cold start not measured: {}",
                    l["artefactColdStarts"]["error"]
                );
            }
        }
    }
    s
}
