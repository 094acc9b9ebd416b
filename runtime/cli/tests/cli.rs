//! The `qsbackup` binary end to end: exit codes, files written, help, policy commands, and
//! backups against an in-process emulator reached through `AWS_ENDPOINT_URL_QUICKSIGHT`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Output;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

async fn qsbackup(args: &[&str], endpoint: Option<&str>) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_qsbackup"));
    cmd.args(args)
        .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("QSBACKUP_POLL_INITIAL_MS", "100")
        .env_remove("AWS_PROFILE");
    if let Some(e) = endpoint {
        cmd.env("AWS_ENDPOINT_URL_QUICKSIGHT", e);
    }
    cmd.output().await.expect("run qsbackup")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

async fn emulator() -> qsbackup_emulator::Emulator {
    qsbackup_emulator::start(qsbackup_emulator::EmulatorConfig {
        behaviour: qsbackup_emulator::Behaviour {
            job_base_ms: 100,
            job_per_asset_ms: 2,
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .unwrap()
}

fn local_policy(dir: &Path) -> PathBuf {
    let path = dir.join("policy.yaml");
    let store = dir.join("backups");
    std::fs::write(
        &path,
        format!(
            "version: 1\nname: cli-test\ntargets:\n  - account: \"123456789012\"\n    region: us-east-1\nstorage:\n  local:\n    path: {}\n",
            store.display()
        ),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn every_example_policy_validates_and_a_broken_one_exits_2_with_its_path() {
    let mut examples: Vec<String> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    examples.sort();
    let mut args = vec!["policy", "validate"];
    args.extend(examples.iter().map(String::as_str));
    let ok = qsbackup(&args, None).await;
    assert_eq!(code(&ok), 0, "{}", text(&ok.stderr));

    let broken = root().join("runtime/policy/tests/fixtures/invalid/account-11-digits.yaml");
    let bad = qsbackup(&["policy", "validate", broken.to_str().unwrap()], None).await;
    assert_eq!(code(&bad), 2);
    assert!(
        text(&bad.stderr).contains("/targets/0/account"),
        "{}",
        text(&bad.stderr)
    );
    let json = qsbackup(
        &["policy", "validate", "--json", broken.to_str().unwrap()],
        None,
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v[0]["valid"], false);
    assert!(v[0]["errors"].to_string().contains("/targets/0/account"));
}

#[tokio::test]
async fn policy_schema_prints_the_committed_schema() {
    let out = qsbackup(&["policy", "schema"], None).await;
    assert_eq!(code(&out), 0);
    assert_eq!(
        text(&out.stdout),
        std::fs::read_to_string(root().join("schema/policy.schema.json")).unwrap()
    );
}

#[tokio::test]
async fn help_shows_examples_and_exit_codes_and_version_prints() {
    let help = qsbackup(&["--help"], None).await;
    assert!(
        text(&help.stdout).contains("qsbackup demo") && text(&help.stdout).contains("Exit codes")
    );
    let backup_help = qsbackup(&["backup", "--help"], None).await;
    assert!(text(&backup_help.stdout).contains("--dry-run"));
    let version = qsbackup(&["--version"], None).await;
    assert!(text(&version.stdout).starts_with("qsbackup "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_policy_exits_2_and_starts_nothing() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "version: 1\nname: x\ntargets: [{account: \"123\"}]\nexport: {concurentJobs: 9}\n",
    )
    .unwrap();
    let out = qsbackup(
        &["backup", "--policy", path.to_str().unwrap()],
        Some(&emu.endpoint()),
    )
    .await;
    assert_eq!(code(&out), 2, "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("concurrentJobs"),
        "did-you-mean: {}",
        text(&out.stderr)
    );
    assert_eq!(
        emu.counters()
            .operations
            .values()
            .map(|o| o.calls)
            .sum::<u64>(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_with_a_broken_dashboard_exits_1_and_writes_the_manifest() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let policy = local_policy(dir.path());
    let out = qsbackup(
        &[
            "backup",
            "--policy",
            policy.to_str().unwrap(),
            "--no-progress",
            "--json",
        ],
        Some(&emu.endpoint()),
    )
    .await;
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["status"], "PartiallyFailed");
    assert!(result["failed"].as_u64().unwrap() > 0);
    let manifest = dir
        .path()
        .join("backups")
        .join(result["manifestKey"].as_str().unwrap());
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(manifest).unwrap()).unwrap();
    assert_eq!(m["status"], "PartiallyFailed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_prints_the_plan_and_calls_no_write_api() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let policy = local_policy(dir.path());
    let out = qsbackup(
        &["backup", "--policy", policy.to_str().unwrap(), "--dry-run"],
        Some(&emu.endpoint()),
    )
    .await;
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Plan:") && stdout.contains("Skipped"),
        "{stdout}"
    );
    assert_eq!(emu.counters().export_jobs_started, 0);
    assert!(
        !dir.path().join("backups").exists(),
        "a dry run writes nothing"
    );
}

#[tokio::test]
async fn a_policy_with_several_targets_needs_target() {
    let out = qsbackup(
        &[
            "backup",
            "--policy",
            root().join("examples/multi-account.yaml").to_str().unwrap(),
            "--dry-run",
        ],
        None,
    )
    .await;
    assert_eq!(code(&out), 2);
    assert!(
        text(&out.stderr).contains("--target"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn the_demo_backs_up_the_sample_account_into_a_local_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = qsbackup(
        &[
            "demo",
            "--dir",
            dir.path().to_str().unwrap(),
            "--no-progress",
            "--json",
        ],
        None,
    )
    .await;
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(result["assets"].as_u64().unwrap() > 200);
    assert!(
        dir.path()
            .join(result["manifestKey"].as_str().unwrap())
            .exists()
    );
}
