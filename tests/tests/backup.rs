//! The backup engine against the QuickSight emulator and a moto server: every behaviour the
//! engine issue and the prior-art defects list demand, one test each.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use qsbackup_core::export::{JobState, verify_zip};
use qsbackup_core::run::{BeginInput, FinalizeInput};
use qsbackup_core::{Manifest, RunStatus, StepError};
use qsbackup_tests::*;
use sha2::Digest;

fn read_manifest(dir: &std::path::Path, key: &str) -> Manifest {
    serde_json::from_slice(&std::fs::read(dir.join(key)).unwrap()).unwrap()
}

/// Export jobs the engine started successfully, by its own count.
fn jobs_started_by_engine(e: &qsbackup_core::Engine) -> u64 {
    let s = e.stats.snapshot();
    s.get("StartAssetBundleExportJob")
        .map(|o| o.calls - o.throttled - o.failed)
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_local_backup_isolates_broken_assets_and_reports_unsupported_ones() {
    let emu = emulator(quick()).await;
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(engine(&emu, &sample_policy(dir.path())).await);
    let out = engine.run_backup(None, chrono::Utc::now()).await.unwrap();
    let m = read_manifest(dir.path(), &out.manifest_key);

    // Defect 4 of the sample tool: one broken dashboard must not lose its batch.
    assert_eq!(
        out.status,
        RunStatus::PartiallyFailed,
        "the sample account seeds broken dashboards"
    );
    let failed: Vec<_> = m.assets.iter().filter(|a| a.error.is_some()).collect();
    assert!(!failed.is_empty());
    for a in &failed {
        assert!(
            a.error.as_ref().unwrap().contains("cannot be exported"),
            "{a:?}"
        );
    }
    assert!(
        m.backed_up() > 100,
        "most of the sample account is backed up: {}",
        m.backed_up()
    );
    // Every exportable asset is accounted for, with its bundle's checksum and size.
    for a in m.assets.iter().filter(|a| a.error.is_none()) {
        let key = a.bundle_key.as_ref().unwrap();
        let bytes = std::fs::read(dir.path().join(key)).unwrap();
        assert_eq!(Some(bytes.len() as u64), a.size);
        assert_eq!(
            a.sha256.as_deref(),
            Some(hex::encode(sha2::Sha256::digest(&bytes)).as_str())
        );
    }
    for b in &m.bundles {
        assert!(verify_zip(&dir.path().join(&b.key)).unwrap() > 0);
    }
    // Unsupported data sources and what depends on them are skipped with a reason.
    assert!(
        m.skipped.iter().any(|s| s.reason.contains("not supported")),
        "{:?}",
        m.skipped
    );
    assert!(
        m.skipped
            .iter()
            .any(|s| s.reason.starts_with("depends on unsupported"))
    );
    // Identities and account settings are in the run folder.
    let run = dir
        .path()
        .join(out.manifest_key.trim_end_matches("manifest.json"));
    for f in [
        "identities/default/users.json",
        "identities/default/groups.json",
        "account/settings.json",
        "report.md",
        "report.json",
        "plan.json",
    ] {
        assert!(run.join(f).exists(), "{f} missing");
    }
    assert!(m.identities.as_ref().unwrap().users > 0);
    // No duplicate export jobs; no more than 5 at once (the emulator would refuse a sixth).
    assert_eq!(
        emu.counters().export_jobs_started,
        jobs_started_by_engine(&engine)
    );
    assert_eq!(emu.counters().op("StartAssetBundleExportJob").throttled, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_to_s3_and_dynamodb_records_the_run_and_writes_no_empty_sets() {
    let emu = emulator(quick()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut e = engine(&emu, &sample_policy(dir.path())).await;
    let bucket = new_bucket().await;
    use_bucket(&mut e, &bucket).await;
    let (catalog, lock, identities) = use_tables(&mut e).await;
    let e = Arc::new(e);
    let out = e.run_backup(None, chrono::Utc::now()).await.unwrap();
    assert_eq!(out.status, RunStatus::PartiallyFailed);

    let s3 = s3_client().await;
    let m = s3_manifest(&bucket, &out.manifest_key).await;
    assert_eq!(m.backed_up(), out.assets);
    let head = s3
        .head_object()
        .bucket(&bucket)
        .key(&m.bundles[0].key)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(m.bundles[0].size as i64));
    assert!(
        head.server_side_encryption().is_some(),
        "bundles are encrypted at rest"
    );

    let ddb = dynamodb_client().await;
    let items = ddb.scan().table_name(&identities).send().await.unwrap();
    assert!(items.count() > 0);
    // Defect 8: real DynamoDB rejects empty sets; we never write a set at all.
    for item in items.items() {
        for v in item.values() {
            assert!(v.is_s() || v.is_n(), "only strings and numbers: {v:?}");
        }
        assert!(item.contains_key("expiresAt"));
    }
    assert!(items.items().iter().any(|i| {
        i.get("memberCount")
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
            == Some("0")
    }));
    let record = ddb.scan().table_name(&catalog).send().await.unwrap();
    let record = &record.items()[0];
    assert_eq!(record["status"].as_s().unwrap(), "PartiallyFailed");
    assert_eq!(record["manifestKey"].as_s().unwrap(), &out.manifest_key);
    assert_eq!(table_count(&lock).await, 0, "lock released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_server_errors_lose_nothing_and_never_double_a_job() {
    let emu = emulator(quick()).await;
    let dir = tempfile::tempdir().unwrap();
    let e = Arc::new(engine(&emu, &sample_policy(dir.path())).await);
    let clean = e.plan("probe").await.unwrap();
    emu.set_behaviour(qsbackup_emulator::Behaviour {
        throttle_probability: 0.30,
        fault_probability: 0.05,
        fault_seed: 7,
        ..quick()
    });
    emu.reset_counters();
    let out = e.run_backup(None, chrono::Utc::now()).await.unwrap();
    let m = read_manifest(dir.path(), &out.manifest_key);
    assert_eq!(out.status, RunStatus::PartiallyFailed);
    let c = emu.counters();
    assert!(
        c.operations.values().map(|o| o.throttled).sum::<u64>() > 50,
        "the fault model was active: {c:?}"
    );
    // Every asset of a clean plan is in the manifest; only the broken ones failed.
    assert_eq!(m.assets.len(), clean.asset_count());
    assert!(
        m.assets
            .iter()
            .filter_map(|a| a.error.as_ref())
            .all(|e| e.contains("cannot be exported"))
    );
    assert_eq!(
        c.export_jobs_started,
        jobs_started_by_engine(&e),
        "no duplicate export jobs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_download_url_is_renewed_and_a_truncated_download_retried() {
    let emu = emulator(qsbackup_emulator::Behaviour {
        truncate_probability: 0.5,
        fault_seed: 3,
        ..quick()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&emu, &sample_policy(dir.path())).await;
    let run = e
        .begin(BeginInput::default(), chrono::Utc::now())
        .await
        .unwrap();
    let d = e.discover(&run.run_id).await.unwrap();
    let mut job = e.start_export(d.batches[0].clone()).await.unwrap();
    while job.status == JobState::Pending {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        job = e.check_export(job).await.unwrap();
    }
    assert_eq!(job.status, JobState::Succeeded);
    // The URL seen by check_export is long expired when store_bundle runs.
    assert!(job.download_url.is_some(), "the check keeps the URL it saw");
    emu.advance_clock(3600);
    emu.reset_counters();
    let progress = e.store_bundle(job).await.unwrap();
    assert!(progress.done);
    assert!(
        emu.counters().op("DescribeAssetBundleExportJob").calls >= 1,
        "the expired URL was renewed with a fresh Describe"
    );
    let key = e.scope.run(&run.run_id).bundle("b0000");
    assert!(
        verify_zip(&dir.path().join(&key)).unwrap() > 0,
        "the stored bundle is a complete zip"
    );
    let downloads = emu.counters().downloads;
    assert!(downloads >= 1);
    // Over many downloads with a 50% truncation rate, each bundle still arrives intact.
    let mut stored = 1;
    for work in d.batches.iter().skip(1).take(4) {
        let mut job = e.start_export(work.clone()).await.unwrap();
        while job.status == JobState::Pending {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            job = e.check_export(job).await.unwrap();
        }
        if job.status == JobState::Succeeded {
            e.store_bundle(job).await.unwrap();
            stored += 1;
        }
    }
    assert!(
        emu.counters().downloads > stored,
        "some downloads were truncated and retried"
    );
    for entry in std::fs::read_dir(
        dir.path().join(
            e.scope
                .run(&run.run_id)
                .bundle("x")
                .trim_end_matches("/x.qs"),
        ),
    )
    .unwrap()
    {
        assert!(verify_zip(&entry.unwrap().path()).is_ok());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_is_reported_before_any_export_starts() {
    let emu = emulator(quick()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut e = engine(&emu, &sample_policy(dir.path())).await;
    use_bucket(&mut e, "qsb-no-such-bucket").await;
    let err = Arc::new(e)
        .run_backup(None, chrono::Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, StepError::Storage(_)), "{err:?}");
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert_eq!(emu.counters().export_jobs_started, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_is_refused_while_the_first_holds_the_lock() {
    let emu = emulator(quick()).await;
    let dir = tempfile::tempdir().unwrap();
    let policy = sample_policy(dir.path());
    let first = engine(&emu, &policy).await;
    let second = engine(&emu, &policy).await;
    let run = first
        .begin(BeginInput::default(), chrono::Utc::now())
        .await
        .unwrap();
    let refused = Arc::new(second)
        .run_backup(None, chrono::Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(refused, StepError::LockHeld(_)), "{refused:?}");
    assert!(
        refused.to_string().contains(&run.run_id),
        "the message names the holder: {refused}"
    );
    // The first run is unaffected and releases the lock when it finishes.
    let out = first
        .finalize(
            FinalizeInput {
                run_id: run.run_id.clone(),
                ..Default::default()
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(out.run_id, run.run_id);
    let again = engine(&emu, &policy).await;
    again
        .begin(BeginInput::default(), chrono::Utc::now())
        .await
        .unwrap();

    // The same with the DynamoDB lock table.
    let mut a = engine(&emu, &policy).await;
    let (_, lock, _) = use_tables(&mut a).await;
    let mut b = engine(&emu, &policy).await;
    b.tables = a.tables.clone();
    let run_a = a
        .begin(BeginInput::default(), chrono::Utc::now())
        .await
        .unwrap();
    let err = b
        .begin(BeginInput::default(), chrono::Utc::now())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StepError::LockHeld(_)) && err.to_string().contains(&run_a.run_id),
        "{err}"
    );
    a.release_lock(&run_a.run_id).await.unwrap();
    assert_eq!(table_count(&lock).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_object_is_never_overwritten() {
    let emu = emulator(quick()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut e = engine(&emu, &sample_policy(dir.path())).await;
    let bucket = new_bucket().await;
    use_bucket(&mut e, &bucket).await;
    e.store
        .put_new("a/run/manifest.json", b"first".to_vec())
        .await
        .unwrap();
    let again = e
        .store
        .put_new("a/run/manifest.json", b"second".to_vec())
        .await;
    assert!(
        matches!(
            again,
            Err(qsbackup_core::store::StoreError::AlreadyExists { .. })
        ),
        "{again:?}"
    );
    assert_eq!(
        e.store.get("a/run/manifest.json").await.unwrap().unwrap(),
        b"first"
    );

    // Storing the same bundle twice (a retried step) keeps the first object and succeeds.
    let run = e
        .begin(BeginInput::default(), chrono::Utc::now())
        .await
        .unwrap();
    let d = e.discover(&run.run_id).await.unwrap();
    let mut job = e.start_export(d.batches[0].clone()).await.unwrap();
    while job.status == JobState::Pending {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        job = e.check_export(job).await.unwrap();
    }
    e.store_bundle(job.clone()).await.unwrap();
    e.store_bundle(job).await.unwrap();
    let key = e.scope.run(&run.run_id).bundle("b0000");
    let versions = s3_client()
        .await
        .list_object_versions()
        .bucket(&bucket)
        .prefix(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_discovery_failed_is_failed_never_success() {
    let emu = emulator(quick()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut e = engine(&emu, &sample_policy(dir.path())).await;
    e.settings.retry.max_attempts = 2;
    emu.set_behaviour(qsbackup_emulator::Behaviour {
        fault_operations: [("ListDashboards".to_string(), 1.0)].into(),
        ..quick()
    });
    let out = Arc::new(e)
        .run_backup(None, chrono::Utc::now())
        .await
        .unwrap();
    // Defect 1 of the sample tool: a failed discovery reported success.
    assert_eq!(out.status, RunStatus::Failed);
    let m = read_manifest(dir.path(), &out.manifest_key);
    assert!(
        m.errors
            .iter()
            .any(|e| e.starts_with("discovery failed") && e.contains("ListDashboards")),
        "{:?}",
        m.errors
    );
    assert_eq!(emu.counters().export_jobs_started, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_describes_only_what_changed_since_the_first() {
    let emu = emulator(quick()).await;
    let dir = tempfile::tempdir().unwrap();
    let e = Arc::new(engine(&emu, &sample_policy(dir.path())).await);
    let first_out = e.run_backup(None, chrono::Utc::now()).await.unwrap();
    let first = emu.counters();
    assert!(first.op("DescribeDashboard").calls > 50);

    // Defect 7 of the sample tool: Describe calls repeated for every asset on every run.
    let qs = quicksight_client(&emu.endpoint(), SAMPLE_REGION).await;
    qs.update_dashboard()
        .aws_account_id(SAMPLE_ACCOUNT)
        .dashboard_id("dashboard-sales-overview")
        .name("Sales overview (v2)")
        .send()
        .await
        .unwrap();
    emu.reset_counters();
    let second = Arc::new(engine(&emu, &sample_policy(dir.path())).await);
    let out = second.run_backup(None, chrono::Utc::now()).await.unwrap();
    let c = emu.counters();
    let m = read_manifest(dir.path(), &out.manifest_key);
    // The changed dashboard, plus only the assets the first plan could not record (skipped or
    // broken ones are described again because they are not in it).
    let described = c.op("DescribeDashboard").calls;
    assert!(
        described >= 1 && described < first.op("DescribeDashboard").calls / 4,
        "{described}"
    );
    let renamed = m
        .assets
        .iter()
        .find(|a| a.id == "dashboard-sales-overview")
        .unwrap();
    assert_eq!(renamed.name, "Sales overview (v2)");
    // Reused dependencies plan the same assets as described ones did.
    assert_eq!(
        m.assets.len(),
        read_manifest(dir.path(), &first_out.manifest_key)
            .assets
            .len()
    );
}
