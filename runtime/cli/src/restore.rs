//! `qsbackup restore`: arguments → a restore request (or an approved plan file) → plan →
//! print / save / execute → report and exit code. All restore logic lives in qsbackup-core.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use qsbackup_core::restore::plan::IdentityAction;
use qsbackup_core::restore::{
    self, Action, FailureAction, RestoreError, RestorePlan, RestoreReport, RestoreRequest,
    Restorer, RunRef, Selection, TargetClients, UsersMode,
};
use qsbackup_core::{Connect, Engine, RunStatus};
use qsbackup_policy::AssetType;

use crate::{EXIT_FAILED, EXIT_INVALID, EXIT_OK, EXIT_PARTIAL};

#[derive(Args)]
pub struct RestoreArgs {
    /// The policy whose backups to restore from.
    #[arg(
        long,
        short = 'p',
        value_name = "FILE",
        required_unless_present = "print_overrides_schema"
    )]
    policy: Option<PathBuf>,
    /// Which of the policy's targets was backed up, as ACCOUNT/REGION (required when it has several).
    #[arg(long, value_name = "ACCOUNT/REGION")]
    target: Option<String>,
    /// The run to restore: a run id or `latest`.
    #[arg(
        long,
        value_name = "RUN|latest",
        default_value = "latest",
        conflicts_with = "as_of"
    )]
    from: String,
    /// Restore the newest run that started at or before this time (RFC 3339, e.g. 2026-12-04T02:00:00Z).
    #[arg(long, value_name = "TIME")]
    as_of: Option<String>,
    /// Only these asset types (repeatable): dashboard, analysis, dataset, datasource, theme, folder, vpcConnection.
    #[arg(long = "type", value_name = "TYPE")]
    types: Vec<String>,
    /// Only these asset ids (repeatable).
    #[arg(long = "id", value_name = "ID")]
    ids: Vec<String>,
    /// Only assets whose name matches this glob, case-insensitive (repeatable).
    #[arg(long = "name", value_name = "GLOB")]
    names: Vec<String>,
    /// Only assets with this tag (repeatable; VALUE `*` matches any value).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    tags: Vec<String>,
    /// Do not restore the changed or missing dependencies of the selected assets.
    #[arg(long)]
    no_dependencies: bool,
    /// Restore into this account (default: the backed-up one).
    #[arg(long, value_name = "ACCOUNT")]
    to_account: Option<String>,
    /// Restore into this Region (default: the backed-up one).
    #[arg(long, value_name = "REGION")]
    to_region: Option<String>,
    /// The target account's identity Region (default: the policy's for the same account, else --to-region).
    #[arg(long, value_name = "REGION")]
    to_identity_region: Option<String>,
    /// Restore identities and principals into this namespace (default: default).
    #[arg(long, value_name = "NAMESPACE")]
    to_namespace: Option<String>,
    /// The namespace of the backed-up identities (default: default).
    #[arg(long, value_name = "NAMESPACE")]
    source_namespace: Option<String>,
    /// AWS profile with credentials for the target account.
    #[arg(long, value_name = "PROFILE")]
    to_profile: Option<String>,
    /// Overrides file (JSON or YAML; schema/overrides.schema.json).
    #[arg(long, value_name = "FILE")]
    overrides: Option<PathBuf>,
    /// Also plan users: list the missing ones (register them with --yes-register-users).
    #[arg(long)]
    identities: bool,
    /// Register missing QuickSight users; each receives an invitation e-mail.
    #[arg(long, requires = "identities")]
    yes_register_users: bool,
    /// Leave groups and group memberships alone.
    #[arg(long)]
    no_groups: bool,
    /// What QuickSight does when an import job fails.
    #[arg(long, value_enum, default_value = "rollback")]
    failure_action: FailureArg,
    /// Re-import assets that have not changed since the backup.
    #[arg(long)]
    include_unchanged: bool,
    /// Print the plan and stop; changes nothing.
    #[arg(long)]
    dry_run: bool,
    /// Write the plan (with its digest) to FILE for review and stop.
    #[arg(long, value_name = "FILE", conflicts_with = "plan_in")]
    plan_out: Option<PathBuf>,
    /// Run exactly this reviewed plan (its digest is checked).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["as_of", "types", "ids", "names", "tags", "no_dependencies", "to_account", "to_region", "to_namespace", "overrides", "identities", "no_groups", "include_unchanged"])]
    plan_in: Option<PathBuf>,
    /// S3 bucket in the target account for bundles larger than 20 MB (default: the backup bucket).
    #[arg(long, value_name = "BUCKET")]
    staging_bucket: Option<String>,
    /// Read backups from this local folder instead of the policy's storage.
    #[arg(long, value_name = "DIR")]
    output_dir: Option<PathBuf>,
    /// The S3 bucket, when the policy leaves it to the stack.
    #[arg(long, env = "QSBACKUP_BUCKET")]
    bucket: Option<String>,
    /// Print the plan or the report as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Print the overrides JSON Schema (the committed schema/overrides.schema.json) and exit.
    #[arg(long)]
    print_overrides_schema: bool,
    /// First job poll after this many milliseconds (tuning for emulators and tests).
    #[arg(long, hide = true, env = "QSBACKUP_POLL_INITIAL_MS")]
    poll_initial_ms: Option<u64>,
}

#[derive(Clone, Copy, ValueEnum)]
enum FailureArg {
    Rollback,
    DoNothing,
}

fn invalid(msg: impl std::fmt::Display) -> Result<u8> {
    eprintln!("error: {msg}");
    Ok(EXIT_INVALID)
}

pub async fn run(args: RestoreArgs) -> Result<u8> {
    if args.print_overrides_schema {
        print!("{}", qsbackup_core::overrides::schema_string());
        return Ok(EXIT_OK);
    }
    let Some(policy_path) = &args.policy else {
        return invalid("--policy is required");
    };
    let policy = match qsbackup_policy::load(policy_path) {
        Ok(p) => p,
        Err(errs) => {
            eprintln!("{errs}");
            return Ok(EXIT_INVALID);
        }
    };
    let target = match crate::pick_target(&policy, args.target.as_deref()) {
        Ok(t) => t,
        Err(msg) => return invalid(msg),
    };
    let how = Connect {
        output_dir: args.output_dir.clone(),
        bucket: args.bucket.clone(),
        ..Connect::default()
    };
    let mut engine = match Engine::connect(&policy, &target, &how).await {
        Ok(e) => e,
        Err(e) => return invalid(e),
    };
    if let Some(ms) = args.poll_initial_ms {
        engine.settings.poll.initial = Duration::from_millis(ms);
        engine.settings.poll.max = Duration::from_millis(ms * 5);
    }

    let plan_in = match &args.plan_in {
        None => None,
        Some(path) => {
            let text =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            match serde_json::from_slice::<RestorePlan>(&text) {
                Ok(p) => Some(p),
                Err(e) => return invalid(format!("{} is not a restore plan: {e}", path.display())),
            }
        }
    };
    let source_account = engine.scope.account.clone();
    let (to_account, to_region) = match &plan_in {
        Some(p) => (
            Some(p.target.account.clone()),
            Some(p.target.region.clone()),
        ),
        None => (args.to_account.clone(), args.to_region.clone()),
    };
    let other_account = to_account.as_ref().is_some_and(|a| *a != source_account);
    let region = to_region
        .clone()
        .unwrap_or_else(|| engine.scope.region.clone());
    let identity_region = match &plan_in {
        Some(p) => p.target.identity_region.clone(),
        None => args.to_identity_region.clone().unwrap_or_else(|| {
            if other_account {
                region.clone()
            } else {
                policy.for_target(&target).identity_region().to_string()
            }
        }),
    };
    let clients = if to_account.is_none()
        && to_region.is_none()
        && args.to_profile.is_none()
        && args.to_identity_region.is_none()
    {
        TargetClients {
            qs: engine.qs.clone(),
            qs_identity: engine.qs_identity.clone(),
        }
    } else {
        restore::target_clients(
            &region,
            &identity_region,
            args.to_profile.as_deref(),
            None,
            false,
        )
        .await
    };
    let mut restorer = Restorer::new(&engine, clients);
    if let Some(bucket) = &args.staging_bucket {
        restorer.staging =
            Some(restore::staging(bucket, &region, args.to_profile.as_deref()).await);
    }

    let plan = match plan_in {
        Some(p) => p,
        None => {
            let request = match request(&args, to_account, to_region, identity_region) {
                Ok(r) => r,
                Err(msg) => return invalid(msg),
            };
            let plan = match restorer.plan(&request, chrono::Utc::now()).await {
                Ok(p) => p,
                Err(e) => return Ok(fail(&e)),
            };
            print_plan(&plan, args.json);
            if let Some(path) = &args.plan_out {
                let mut f = match std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(path)
                {
                    Ok(f) => f,
                    Err(e) => {
                        return invalid(format!(
                            "cannot create {} (an existing plan is never overwritten): {e}",
                            path.display()
                        ));
                    }
                };
                f.write_all(&serde_json::to_vec_pretty(&plan)?)?;
                eprintln!(
                    "Plan written to {}; run it with: qsbackup restore --policy {} --plan-in {}",
                    path.display(),
                    policy_path.display(),
                    path.display()
                );
                return Ok(EXIT_OK);
            }
            if args.dry_run {
                eprintln!("Dry run: nothing was changed.");
                return Ok(EXIT_OK);
            }
            plan
        }
    };
    if args.plan_in.is_some() && args.dry_run {
        print_plan(&plan, args.json);
        return Ok(EXIT_OK);
    }
    match restorer.execute(&plan, chrono::Utc::now()).await {
        Ok(report) => {
            print_report(
                &report,
                engine.store.local_file(&report.report_key),
                args.json,
            );
            Ok(match report.status {
                RunStatus::Completed => EXIT_OK,
                RunStatus::PartiallyFailed => EXIT_PARTIAL,
                RunStatus::Failed => EXIT_FAILED,
            })
        }
        Err(e) => Ok(fail(&e)),
    }
}

fn fail(e: &RestoreError) -> u8 {
    eprintln!("error: {e}");
    if e.before_any_change() {
        eprintln!("Nothing was changed in QuickSight.");
    }
    match e {
        RestoreError::Invalid(_) => EXIT_INVALID,
        _ => EXIT_FAILED,
    }
}

fn request(
    args: &RestoreArgs,
    account: Option<String>,
    region: Option<String>,
    identity_region: String,
) -> Result<RestoreRequest, String> {
    let from = match (&args.as_of, args.from.as_str()) {
        (Some(t), _) => RunRef::AsOf(
            chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|e| {
                    format!("--as-of {t}: not an RFC 3339 time ({e}); e.g. 2026-12-04T02:00:00Z")
                })?
                .with_timezone(&chrono::Utc),
        ),
        (None, "latest") => RunRef::Latest,
        (None, id) => RunRef::Run(id.to_string()),
    };
    let types = args
        .types
        .iter()
        .map(|t| {
            AssetType::ALL
                .into_iter()
                .find(|k| k.as_str().eq_ignore_ascii_case(t))
                .ok_or_else(|| {
                    let all: Vec<&str> = AssetType::ALL.iter().map(|k| k.as_str()).collect();
                    format!("--type {t}: expected one of {}", all.join(", "))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tags = args
        .tags
        .iter()
        .map(|t| {
            t.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| format!("--tag {t}: expected KEY=VALUE"))
        })
        .collect::<Result<BTreeMap<_, _>, _>>()?;
    let overrides = match &args.overrides {
        Some(p) => qsbackup_core::overrides::load(p).map_err(|e| e.to_string())?,
        None => Default::default(),
    };
    Ok(RestoreRequest {
        from: Some(from),
        selection: Selection {
            types,
            ids: args.ids.clone(),
            names: args.names.clone(),
            tags,
            follow_dependencies: !args.no_dependencies,
        },
        account,
        region,
        identity_region: Some(identity_region),
        namespace: args.to_namespace.clone(),
        source_namespace: args.source_namespace.clone(),
        overrides,
        failure_action: match args.failure_action {
            FailureArg::Rollback => FailureAction::Rollback,
            FailureArg::DoNothing => FailureAction::DoNothing,
        },
        include_unchanged: args.include_unchanged,
        no_groups: args.no_groups,
        users: match (args.identities, args.yes_register_users) {
            (false, _) => UsersMode::Ignore,
            (true, false) => UsersMode::Plan,
            (true, true) => UsersMode::Register,
        },
    })
}

fn print_plan(plan: &RestorePlan, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(plan).unwrap_or_default());
        return;
    }
    let t = &plan.target;
    println!("Restore plan {} (digest {})", plan.restore_id, plan.digest);
    println!(
        "  from run {} of {}/{}",
        plan.run_id, plan.source_account, plan.source_region
    );
    println!(
        "  into {}/{} (identities: {}, namespace {})",
        t.account, t.region, t.identity_region, t.namespace
    );
    println!(
        "  {} to create, {} to update, {} unchanged; {} import jobs reading {} bundles; failure action {:?}",
        plan.count(Action::Create),
        plan.count(Action::Update),
        plan.count(Action::Skip),
        plan.jobs.len(),
        plan.bundles.len(),
        plan.failure_action
    );
    let o = &plan.overrides;
    if o != &Default::default() {
        println!(
            "  overrides: prefix {:?}, {} data sources, {} VPC connections, {} principal mappings, {} tags",
            o.prefix(),
            o.data_sources.len(),
            o.vpc_connections.len(),
            o.principals.len(),
            o.tags.len()
        );
    }
    for a in &plan.assets {
        let job = a.job.map(|j| format!(" [job {j}]")).unwrap_or_default();
        let to = if a.target_id == a.id {
            String::new()
        } else {
            format!(" → {}", a.target_id)
        };
        println!(
            "  {:<6} {:<13} {}{to} \"{}\": {}{job}",
            format!("{:?}", a.action).to_uppercase(),
            a.kind.as_str(),
            a.id,
            a.name,
            a.reason
        );
    }
    for j in &plan.jobs {
        println!(
            "  job {} {}: {} assets from {}",
            j.index,
            j.job_id,
            j.assets.len(),
            j.bundles.join(", ")
        );
    }
    for i in plan
        .identities
        .iter()
        .filter(|i| i.action != IdentityAction::Skip)
    {
        println!(
            "  {:<7} {} {}: {}",
            format!("{:?}", i.action).to_uppercase(),
            i.kind,
            i.name,
            i.reason
        );
    }
    for n in &plan.notes {
        println!("  note: {n}");
    }
}

fn print_report(r: &RestoreReport, local: Option<PathBuf>, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(r).unwrap_or_default());
        return;
    }
    let c = &r.counts;
    println!("Restore {}: {:?}", r.restore_id, r.status);
    println!(
        "  {} created, {} updated, {} unchanged, {} failed; {} verified against the backup, {} differ",
        c.created, c.updated, c.skipped, c.failed, c.verified, c.mismatched
    );
    println!(
        "  identities: {} changes, {} failures",
        c.identity_changes, c.identity_failures
    );
    for a in r.assets.iter().filter(|a| !a.ok()) {
        println!(
            "  FAILED {} {}: {} {:?}",
            a.kind.as_str(),
            a.id,
            a.message,
            a.verification
        );
    }
    for e in &r.errors {
        println!("  error: {e}");
    }
    match local {
        Some(p) => println!("  report: {}", p.display()),
        None => println!("  report: {}", r.report_key),
    }
}
