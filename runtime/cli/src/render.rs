//! What the CLI shows: logging setup, progress bars on a terminal (log lines elsewhere), the
//! plan of a dry run and the result of a run.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use qsbackup_core::FinalizeOutput;
use qsbackup_core::engine::{Event, Observer};
use qsbackup_core::plan::Plan;
use tracing_subscriber::EnvFilter;

pub fn init_logging(verbose: u8, quiet: bool, log_file: Option<&Path>) -> Result<()> {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_env("QSBACKUP_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},aws=warn,hyper=warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match log_file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open log file {}", path.display()))?;
            builder
                .with_ansi(false)
                .with_writer(Mutex::new(file))
                .init();
        }
        None => builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .init(),
    }
    Ok(())
}

/// Progress bars when on a terminal; `tracing` log lines otherwise.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(enabled: bool) -> Progress {
        let bar = enabled.then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} assets {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        Progress { bar }
    }

    pub fn observer(&self) -> Observer {
        let bar = self.bar.clone();
        let running = Arc::new(Mutex::new(0usize));
        Arc::new(move |e: Event| {
            let Some(bar) = &bar else {
                log_event(&e);
                return;
            };
            match e {
                Event::Discovered {
                    assets,
                    skipped,
                    batches,
                } => {
                    bar.set_length(assets as u64);
                    bar.println(format!(
                        "discovered {assets} assets in {batches} bundles, {skipped} skipped"
                    ));
                }
                Event::JobStarted { .. } => {
                    if let Ok(mut r) = running.lock() {
                        *r += 1;
                        bar.set_message(format!("· {} export jobs running", *r));
                    }
                }
                Event::JobFinished { .. } => {
                    if let Ok(mut r) = running.lock() {
                        *r = r.saturating_sub(1);
                        bar.set_message(format!("· {} export jobs running", *r));
                    }
                }
                Event::Stored { assets, .. } => bar.inc(assets as u64),
                Event::AssetFailed { arn, message } => {
                    bar.inc(1);
                    bar.println(format!("failed: {arn}: {message}"));
                }
                Event::Identities { users, groups } => {
                    bar.println(format!("identities: {users} users, {groups} groups"))
                }
            }
        })
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn log_event(e: &Event) {
    match e {
        Event::Discovered {
            assets,
            skipped,
            batches,
        } => tracing::info!(assets, skipped, batches, "discovered"),
        Event::JobStarted { part, assets } => tracing::info!(part, assets, "export job started"),
        Event::JobFinished { part, ok, .. } => tracing::info!(part, ok, "export job finished"),
        Event::Stored {
            part,
            bytes,
            assets,
        } => tracing::info!(part, bytes, assets, "bundle stored"),
        Event::AssetFailed { arn, message } => tracing::warn!(arn, message, "asset failed"),
        Event::Identities { users, groups } => tracing::info!(users, groups, "identities saved"),
    }
}

pub fn print_plan(plan: &Plan, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(plan).unwrap_or_default());
        return;
    }
    println!(
        "Plan: {} assets in {} bundles (dry run: nothing was exported or written)",
        plan.asset_count(),
        plan.batches.len()
    );
    for b in &plan.batches {
        println!("  bundle b{:04}: {} assets", b.index, b.assets.len());
        for a in &b.assets {
            println!("    {:<13} {:<40} {}", a.kind.as_str(), a.id, a.name);
        }
    }
    if !plan.skipped.is_empty() {
        println!("Skipped ({}):", plan.skipped.len());
        for s in &plan.skipped {
            println!("  {:<13} {:<40} {}", s.kind.as_str(), s.id, s.reason);
        }
    }
}

pub fn print_result(
    out: &FinalizeOutput,
    location: &str,
    manifest_file: Option<PathBuf>,
    json: bool,
) {
    if json {
        println!("{}", serde_json::to_string_pretty(out).unwrap_or_default());
        return;
    }
    println!(
        "Run {}: {:?} — {} assets backed up, {} failed, {} skipped",
        out.run_id, out.status, out.assets, out.failed, out.skipped
    );
    match manifest_file {
        Some(m) => {
            println!("Manifest: {}", m.display());
            println!("Report:   {}", m.with_file_name("report.md").display());
        }
        None => println!("Manifest: {location}/{}", out.manifest_key),
    }
}
