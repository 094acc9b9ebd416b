//! The synthesized Step Functions workflow, executed offline by aws-local-stepfunctions (the jest
//! test cdk/test/e2e/e2e.test.ts), with every Lambda task served by the real Rust handlers through
//! a local Lambda Invoke API, against the emulator and moto. Needs `npm ci` in cdk/ (the test
//! command does it first).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use qsbackup_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_machine_runs_the_real_handlers_to_a_manifest_in_s3() {
    let cdk = workspace_root().join("cdk");
    assert!(
        cdk.join("node_modules/aws-local-stepfunctions").exists(),
        "cdk/node_modules is missing: run `npm ci` in cdk/ (scripts/test.sh does)"
    );
    // A fifth of all QuickSight calls are throttled: the run must still end, not hang.
    let emu = emulator(qsbackup_emulator::Behaviour {
        throttle_probability: 0.2,
        fault_seed: 11,
        ..quick()
    })
    .await;
    let (env, bucket, lock) = lambda_env(&emu).await;
    let dir = tempfile::tempdir().unwrap();
    let probe = engine(&emu, &sample_policy(dir.path())).await;
    let engine = Arc::new(
        qsbackup_lambda::engine_from(|k| env.get(k).cloned())
            .await
            .unwrap(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let server =
        tokio::spawn(axum::serve(listener, qsbackup_lambda::local::router(engine)).into_future());

    let out = tokio::process::Command::new("npx")
        .args(["jest", "test/e2e/e2e.test.ts", "--ci"])
        .current_dir(&cdk)
        .env("QSBACKUP_LAMBDA_ENDPOINT", &endpoint)
        .env("QSBACKUP_SKIP_BUNDLING", "1")
        .env("npm_config_update_notifier", "false")
        .env("CDK_DISABLE_CLI_TELEMETRY", "1")
        .output()
        .await
        .expect("npx runs");
    server.abort();
    let log = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the workflow did not succeed:\n{log}");
    assert!(
        log.contains("1 passed"),
        "the e2e test ran (not skipped):\n{log}"
    );

    assert!(
        emu.counters()
            .operations
            .values()
            .map(|o| o.throttled)
            .sum::<u64>()
            > 0
    );
    emu.set_behaviour(quick());
    // The execution left a manifest in S3 that lists every supported asset of the sample account;
    // the broken ones end the run PartiallyFailed, not stuck.
    let s3 = s3_client().await;
    let keys = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    let manifest_key = keys
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .find(|k| k.ends_with("/manifest.json"))
        .expect("a manifest");
    let m = s3_manifest(&bucket, manifest_key).await;
    assert_eq!(m.status, qsbackup_core::RunStatus::PartiallyFailed);
    let clean = probe.plan("probe").await.unwrap();
    assert_eq!(m.assets.len(), clean.asset_count());
    assert!(
        m.assets
            .iter()
            .filter_map(|a| a.error.as_ref())
            .all(|e| e.contains("cannot be exported"))
    );
    assert!(m.identities.is_some());
    assert_eq!(table_count(&lock).await, 0, "lock released");
}
