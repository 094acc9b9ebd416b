//! `qsbackup-emulator`: runs the QuickSight emulator standalone until killed.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Context;
use clap::Parser;
use qsbackup_emulator::{Behaviour, EmulatorConfig, Seed, TokenBucket};

/// A wire-compatible Amazon QuickSight emulator for tests, demos and benchmarks.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// `sample`, `empty`, or a numeric seed (with --assets).
    #[arg(long, default_value = "sample")]
    seed: String,
    /// Number of assets for a numeric seed.
    #[arg(long, default_value_t = 300)]
    assets: usize,
    /// Job duration base (ms).
    #[arg(long, default_value_t = 0)]
    job_base_ms: u64,
    /// Job duration per asset (ms).
    #[arg(long, default_value_t = 0)]
    job_per_asset_ms: u64,
    /// Latency added to every API call (ms).
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Token bucket rate applied to every operation (requests per second; 0 = no bucket).
    #[arg(long, default_value_t = 0.0)]
    throttle_rate: f64,
    /// Token bucket burst (with --throttle-rate).
    #[arg(long, default_value_t = 10)]
    throttle_burst: u32,
    /// Probability of a random ThrottlingException on any call.
    #[arg(long, default_value_t = 0.0)]
    throttle_probability: f64,
    /// Probability of a random InternalFailureException on any call.
    #[arg(long, default_value_t = 0.0)]
    fault_probability: f64,
    /// Probability that a bundle download is cut half-way.
    #[arg(long, default_value_t = 0.0)]
    truncate_probability: f64,
    /// Lifetime of download URLs in seconds (0 = 300).
    #[arg(long, default_value_t = 300)]
    download_url_ttl_secs: u64,
    /// Incompressible filler added to every export bundle (bytes).
    #[arg(long, default_value_t = 0)]
    padding_bytes: u64,
    /// Seed of throttle/fault/truncation draws.
    #[arg(long, default_value_t = 0)]
    fault_seed: u64,
    /// S3 endpoint for import S3Uris (path style, unsigned), e.g. a moto server.
    #[arg(long)]
    s3_endpoint: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let seed = match args.seed.as_str() {
        "sample" => Seed::Sample,
        "empty" => Seed::Empty,
        n => Seed::Generated {
            seed: n
                .parse()
                .with_context(|| format!("--seed must be sample, empty or a number, got {n:?}"))?,
            assets: args.assets,
        },
    };
    let mut throttle = BTreeMap::new();
    if args.throttle_rate > 0.0 {
        throttle.insert(
            "*".to_owned(),
            TokenBucket {
                rate_per_sec: args.throttle_rate,
                burst: args.throttle_burst,
            },
        );
    }
    let behaviour = Behaviour {
        job_base_ms: args.job_base_ms,
        job_per_asset_ms: args.job_per_asset_ms,
        latency_ms: args.latency_ms,
        throttle,
        throttle_probability: args.throttle_probability,
        fault_probability: args.fault_probability,
        truncate_probability: args.truncate_probability,
        download_url_ttl_secs: args.download_url_ttl_secs,
        padding_bytes: args.padding_bytes,
        fault_seed: args.fault_seed,
        ..Default::default()
    };
    let emulator = qsbackup_emulator::start(EmulatorConfig {
        seed,
        behaviour,
        s3_endpoint: args.s3_endpoint,
        port: args.port,
    })
    .await
    .context("starting the emulator")?;
    let mut out = std::io::stdout();
    writeln!(out, "listening on {}", emulator.endpoint())?;
    out.flush()?;
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    emulator.shutdown().await;
    Ok(())
}
