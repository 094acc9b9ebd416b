//! `qsbackup restore` end to end against an in-process emulator: dry run, a reviewed plan file
//! (digest checked, runs once), a cross-account restore, and the exit codes of refusals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Output;

async fn qsbackup(args: &[&str], endpoint: &str) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_qsbackup"))
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("QSBACKUP_POLL_INITIAL_MS", "100")
        .env("AWS_ENDPOINT_URL_QUICKSIGHT", endpoint)
        .env_remove("AWS_PROFILE")
        .output()
        .await
        .expect("run qsbackup")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn local_policy(dir: &Path) -> PathBuf {
    let path = dir.join("policy.yaml");
    std::fs::write(
        &path,
        format!(
            "version: 1\nname: cli-restore\ntargets:\n  - account: \"123456789012\"\n    region: us-east-1\nstorage:\n  local:\n    path: {}\n",
            dir.join("backups").display()
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_plans_reviews_runs_once_and_refuses_altered_plans_and_passwords() {
    let emu = qsbackup_emulator::start(qsbackup_emulator::EmulatorConfig {
        behaviour: qsbackup_emulator::Behaviour {
            job_base_ms: 100,
            job_per_asset_ms: 2,
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .unwrap();
    let ep = emu.endpoint();
    let dir = tempfile::tempdir().unwrap();
    let policy = local_policy(dir.path());
    let p = policy.to_str().unwrap();
    let backup = qsbackup(&["backup", "--policy", p, "--no-progress"], &ep).await;
    assert_eq!(
        code(&backup),
        1,
        "the sample account has broken dashboards: {}",
        text(&backup.stderr)
    );

    // Nothing changed since the backup: the dry run plans no change and makes none.
    let dry = qsbackup(&["restore", "--policy", p, "--dry-run"], &ep).await;
    assert_eq!(code(&dry), 0, "{}", text(&dry.stderr));
    assert!(
        text(&dry.stdout).contains(" 0 to create, 0 to update"),
        "{}",
        text(&dry.stdout)
    );
    assert!(text(&dry.stderr).contains("Dry run: nothing was changed."));

    // A reviewed plan for a disaster-recovery copy of one dashboard (and what it needs).
    let plan_file = dir.path().join("plan.json");
    let dr = [
        "restore",
        "--policy",
        p,
        "--to-account",
        "210987654321",
        "--to-region",
        "eu-west-1",
        "--type",
        "dashboard",
        "--name",
        "Sales Overview",
        "--no-groups",
    ];
    let out = qsbackup(
        &[&dr[..], &["--plan-out", plan_file.to_str().unwrap()]].concat(),
        &ep,
    )
    .await;
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let mut plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&plan_file).unwrap()).unwrap();
    assert_eq!(plan["target"]["account"], "210987654321");
    let again = qsbackup(
        &[&dr[..], &["--plan-out", plan_file.to_str().unwrap()]].concat(),
        &ep,
    )
    .await;
    assert_eq!(
        code(&again),
        2,
        "an existing plan file is never overwritten"
    );

    // The same plan, altered after review, is refused.
    plan["target"]["region"] = "us-west-2".into();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, serde_json::to_vec(&plan).unwrap()).unwrap();
    let out = qsbackup(
        &["restore", "--policy", p, "--plan-in", bad.to_str().unwrap()],
        &ep,
    )
    .await;
    assert_eq!(code(&out), 2);
    assert!(
        text(&out.stderr).contains("digest") && text(&out.stderr).contains("Nothing was changed"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(emu.counters().import_jobs_started, 0);

    // The reviewed plan runs, exactly once.
    let run = qsbackup(
        &[
            "restore",
            "--policy",
            p,
            "--plan-in",
            plan_file.to_str().unwrap(),
            "--json",
        ],
        &ep,
    )
    .await;
    assert_eq!(
        code(&run),
        0,
        "{}\n{}",
        text(&run.stderr),
        text(&run.stdout)
    );
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["status"], "Completed");
    assert!(
        report["counts"]["created"].as_u64().unwrap() >= 2,
        "the dashboard and its dependencies"
    );
    assert!(
        dir.path()
            .join("backups")
            .join(report["reportKey"].as_str().unwrap())
            .exists()
    );
    let twice = qsbackup(
        &[
            "restore",
            "--policy",
            p,
            "--plan-in",
            plan_file.to_str().unwrap(),
        ],
        &ep,
    )
    .await;
    assert_eq!(code(&twice), 2);
    assert!(
        text(&twice.stderr).contains("already ran"),
        "{}",
        text(&twice.stderr)
    );

    // Plaintext passwords are refused with their path.
    let overrides = dir.path().join("o.yaml");
    std::fs::write(
        &overrides,
        "dataSources:\n  - id: ds-redshift-main\n    password: hunter2\n",
    )
    .unwrap();
    let out = qsbackup(
        &[
            "restore",
            "--policy",
            p,
            "--overrides",
            overrides.to_str().unwrap(),
            "--dry-run",
        ],
        &ep,
    )
    .await;
    assert_eq!(code(&out), 2);
    assert!(
        text(&out.stderr).contains("dataSources[0].password"),
        "{}",
        text(&out.stderr)
    );

    let help = qsbackup(&["restore", "--help"], &ep).await;
    for flag in [
        "--as-of",
        "--plan-in",
        "--plan-out",
        "--dry-run",
        "--overrides",
        "--yes-register-users",
        "Exit codes",
    ] {
        assert!(
            text(&help.stdout).contains(flag),
            "{flag} missing from --help"
        );
    }
    let schema = qsbackup(&["restore", "--print-overrides-schema"], &ep).await;
    let committed = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schema/overrides.schema.json"),
    )
    .unwrap();
    assert_eq!(text(&schema.stdout), committed);
}
