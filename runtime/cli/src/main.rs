//! `qsbackup`: the command-line host of the engine. Parses arguments, renders progress and
//! results, maps outcomes to exit codes. All backup logic lives in qsbackup-core.

mod render;
mod restore;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use qsbackup_core::{Connect, Engine, RunStatus, StepError};
use qsbackup_policy::{Mode, Policy, Target};

/// Exit codes (documented in the README).
pub const EXIT_OK: u8 = 0;
pub const EXIT_PARTIAL: u8 = 1;
pub const EXIT_INVALID: u8 = 2;
pub const EXIT_FAILED: u8 = 3;

#[derive(Parser)]
#[command(
    name = "qsbackup",
    version,
    about = "Back up and restore Amazon QuickSight assets and identities",
    after_help = "Examples:\n  qsbackup demo\n  qsbackup policy validate examples/*.yaml\n  qsbackup backup --policy policy.yaml --dry-run\n  qsbackup backup --policy policy.yaml --target 123456789012/us-east-1 --output-dir ./backups\n\nExit codes: 0 completed, 1 partially failed, 2 invalid input, 3 failed."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Also write logs to this file.
    #[arg(long, global = true, value_name = "FILE")]
    log_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Back up what a policy selects.
    #[command(
        after_help = "Examples:\n  qsbackup backup --policy examples/local-laptop.yaml\n  qsbackup backup --policy prod.yaml --target 123456789012/eu-west-1 --mode assets-only --json"
    )]
    Backup(BackupArgs),
    /// Run a backup of the embedded QuickSight emulator's sample account into a local folder.
    Demo(DemoArgs),
    /// Work with policy files.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Restore assets (and groups) from a backup run: plan first, then act.
    #[command(
        after_help = "Examples:\n  qsbackup restore --policy prod.yaml --dry-run\n  qsbackup restore --policy prod.yaml --as-of 2026-12-04T00:00:00Z --type dashboard --name 'Sales*'\n  qsbackup restore --policy prod.yaml --to-account 210987654321 --to-region eu-west-1 --to-profile dr --overrides dr.yaml --plan-out plan.json\n  qsbackup restore --policy prod.yaml --to-profile dr --plan-in plan.json\n\nExit codes: 0 completed, 1 partially failed, 2 invalid input, 3 failed."
    )]
    Restore(Box<restore::RestoreArgs>),
}

#[derive(Args)]
struct BackupArgs {
    /// The policy file (YAML or JSON).
    #[arg(long, short = 'p', value_name = "FILE")]
    policy: PathBuf,
    /// Which of the policy's targets to back up, as ACCOUNT/REGION (required when it has several).
    #[arg(long, value_name = "ACCOUNT/REGION")]
    target: Option<String>,
    /// Override the policy's mode.
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// Write to this local folder instead of the policy's storage.
    #[arg(long, value_name = "DIR")]
    output_dir: Option<PathBuf>,
    /// The S3 bucket, when the policy leaves it to the stack.
    #[arg(long, env = "QSBACKUP_BUCKET")]
    bucket: Option<String>,
    /// DynamoDB catalog table (run records).
    #[arg(long, env = "QSBACKUP_CATALOG_TABLE")]
    catalog_table: Option<String>,
    /// DynamoDB lock table; without it the lock is an object in the backup storage.
    #[arg(long, env = "QSBACKUP_LOCK_TABLE")]
    lock_table: Option<String>,
    /// DynamoDB identity snapshot table.
    #[arg(long, env = "QSBACKUP_IDENTITY_TABLE")]
    identity_table: Option<String>,
    /// Print the plan (and the skipped assets with reasons) and stop; writes nothing.
    #[arg(long)]
    dry_run: bool,
    /// No progress bars, even on a terminal.
    #[arg(long)]
    no_progress: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// First export poll after this many milliseconds (tuning for emulators and tests).
    #[arg(long, hide = true, env = "QSBACKUP_POLL_INITIAL_MS")]
    poll_initial_ms: Option<u64>,
}

#[derive(Args)]
struct DemoArgs {
    /// Where the demo backup goes.
    #[arg(long, default_value = "./qsbackup-demo", value_name = "DIR")]
    dir: PathBuf,
    /// No progress bars, even on a terminal.
    #[arg(long)]
    no_progress: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Validate policy files; exit 0 when all are valid, 2 otherwise.
    Validate {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Machine-readable errors on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Print the policy JSON Schema (the committed schema/policy.schema.json).
    Schema,
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    Full,
    AssetsOnly,
    UsersOnly,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::Full => Mode::Full,
            ModeArg::AssetsOnly => Mode::AssetsOnly,
            ModeArg::UsersOnly => Mode::UsersOnly,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = render::init_logging(cli.verbose, cli.quiet, cli.log_file.as_deref()) {
        eprintln!("error: {e:#}");
        return ExitCode::from(EXIT_INVALID);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Policy(PolicyCommand::Schema) => {
                print!("{}", qsbackup_policy::schema_string());
                Ok(EXIT_OK)
            }
            Command::Policy(PolicyCommand::Validate { files, json }) => Ok(validate(&files, json)),
            Command::Backup(args) => backup(args).await,
            Command::Demo(args) => demo(args).await,
            Command::Restore(args) => restore::run(*args).await,
        }
    });
    ExitCode::from(code.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        EXIT_FAILED
    }))
}

fn validate(files: &[PathBuf], json: bool) -> u8 {
    let mut reports = Vec::new();
    let mut ok = true;
    for f in files {
        match qsbackup_policy::load(f) {
            Ok(_) => {
                if !json {
                    println!("{}: valid", f.display());
                }
                reports.push(serde_json::json!({"file": f.display().to_string(), "valid": true, "errors": []}));
            }
            Err(errs) => {
                ok = false;
                if !json {
                    eprintln!("{errs}");
                }
                reports.push(serde_json::json!({"file": f.display().to_string(), "valid": false, "errors": errs.to_json()}));
            }
        }
    }
    if json {
        println!("{}", serde_json::Value::Array(reports));
    }
    if ok { EXIT_OK } else { EXIT_INVALID }
}

/// Picks the target: `--target`, else the policy's only target.
fn pick_target(policy: &Policy, wanted: Option<&str>) -> Result<Target, String> {
    let label = |t: &Target| format!("{}/{}", t.account, policy.target_region(t));
    match wanted {
        Some(w) => policy
            .targets
            .iter()
            .find(|t| label(t) == w || t.account == w)
            .cloned()
            .ok_or_else(|| {
                let known: Vec<String> = policy.targets.iter().map(label).collect();
                format!(
                    "--target {w} is not a target of the policy (targets: {})",
                    known.join(", ")
                )
            }),
        None => match policy.targets.as_slice() {
            [one] => Ok(one.clone()),
            many => Err(format!(
                "the policy has {} targets; choose one with --target ({})",
                many.len(),
                many.iter().map(label).collect::<Vec<_>>().join(", ")
            )),
        },
    }
}

async fn backup(args: BackupArgs) -> Result<u8> {
    let policy = match qsbackup_policy::load(&args.policy) {
        Ok(p) => p,
        Err(errs) => {
            eprintln!("{errs}");
            return Ok(EXIT_INVALID);
        }
    };
    let target = match pick_target(&policy, args.target.as_deref()) {
        Ok(t) => t,
        Err(msg) => {
            eprintln!("error: {msg}");
            return Ok(EXIT_INVALID);
        }
    };
    let how = Connect {
        output_dir: args.output_dir,
        bucket: args.bucket,
        catalog_table: args.catalog_table,
        lock_table: args.lock_table,
        identity_table: args.identity_table,
        ..Connect::default()
    };
    let mut engine = match Engine::connect(&policy, &target, &how).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_INVALID);
        }
    };
    if let Some(ms) = args.poll_initial_ms {
        engine.settings.poll.initial = Duration::from_millis(ms);
        engine.settings.poll.max = Duration::from_millis(ms * 5);
    }
    execute(
        engine,
        args.mode.map(Mode::from),
        args.dry_run,
        !args.no_progress,
        args.json,
    )
    .await
}

/// Runs (or plans) a backup and renders the result; returns the exit code.
async fn execute(
    mut engine: Engine,
    mode: Option<Mode>,
    dry_run: bool,
    progress: bool,
    json: bool,
) -> Result<u8> {
    let progress = progress && std::io::stderr().is_terminal();
    if dry_run {
        let plan = engine.plan("dry-run").await.context("discovery failed")?;
        render::print_plan(&plan, json);
        return Ok(EXIT_OK);
    }
    let bars = render::Progress::new(progress);
    engine.observer = Some(bars.observer());
    let engine = Arc::new(engine);
    match engine.run_backup(mode, chrono::Utc::now()).await {
        Ok(out) => {
            bars.finish();
            let location = engine.store.location();
            render::print_result(
                &out,
                &location,
                engine.store.local_file(&out.manifest_key),
                json,
            );
            Ok(match out.status {
                RunStatus::Completed => EXIT_OK,
                RunStatus::PartiallyFailed => EXIT_PARTIAL,
                RunStatus::Failed => EXIT_FAILED,
            })
        }
        Err(e @ (StepError::LockHeld(_) | StepError::Storage(_))) => {
            bars.finish();
            eprintln!("error: {e}");
            Ok(EXIT_FAILED)
        }
        Err(e) => {
            bars.finish();
            Err(anyhow::Error::new(e).context("backup run failed"))
        }
    }
}

async fn demo(args: DemoArgs) -> Result<u8> {
    let behaviour = qsbackup_emulator::Behaviour {
        job_base_ms: 300,
        job_per_asset_ms: 5,
        ..Default::default()
    };
    let emulator = qsbackup_emulator::start(qsbackup_emulator::EmulatorConfig {
        seed: qsbackup_emulator::Seed::Sample,
        behaviour,
        s3_endpoint: None,
        port: 0,
    })
    .await
    .context("starting the embedded QuickSight emulator")?;
    eprintln!(
        "Embedded QuickSight emulator (sample account 123456789012, us-east-1) at {}",
        emulator.endpoint()
    );
    let policy = Policy {
        name: "demo".into(),
        targets: vec![Target {
            account: "123456789012".into(),
            region: Some("us-east-1".into()),
            name: None,
            overrides: None,
        }],
        storage: qsbackup_policy::Storage {
            s3: None,
            local: Some(qsbackup_policy::LocalStorage {
                path: args.dir.display().to_string(),
            }),
            prefix: "qsbackup".into(),
        },
        ..Policy::default()
    };
    let how = Connect {
        quicksight_endpoint: Some(emulator.endpoint()),
        static_credentials: true,
        ..Connect::default()
    };
    let target = policy.targets[0].clone();
    let mut engine = Engine::connect(&policy, &target, &how).await?;
    engine.settings.poll = qsbackup_core::engine::PollSettings {
        initial: Duration::from_millis(300),
        factor: 1.3,
        max: Duration::from_secs(2),
    };
    let code = execute(engine, None, false, !args.no_progress, args.json).await;
    emulator.shutdown().await;
    // The sample account holds deliberately broken assets; isolating them is the point of the demo.
    match code? {
        EXIT_PARTIAL => {
            eprintln!(
                "The sample account contains deliberately broken dashboards and analyses: qsbackup isolated them and backed up everything else."
            );
            Ok(EXIT_OK)
        }
        other => Ok(other),
    }
}
