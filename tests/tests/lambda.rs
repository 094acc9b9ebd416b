//! The Lambda handlers, called with the JSON events Step Functions sends, against the emulator
//! and moto: the whole workflow driven step by step, and the error names Retry/Catch match.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use qsbackup_lambda::{Task, engine_from, handle};
use qsbackup_tests::*;
use serde_json::{Value, json};

async fn call(engine: &qsbackup_core::Engine, task: Task, event: Value) -> Value {
    match handle(engine, task, event.clone()).await {
        Ok(v) => v,
        Err(e) => panic!("{task:?} failed on {event}: {} {}", e.name, e.message),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handlers_run_a_whole_backup_from_json_events() {
    let emu = emulator(quick()).await;
    let (env, bucket, _) = lambda_env(&emu).await;
    let engine = engine_from(|k| env.get(k).cloned()).await.unwrap();

    let begun = call(&engine, Task::Begin, json!({})).await;
    let run_id = begun["runId"].as_str().unwrap().to_string();
    // A second execution while the first runs: refused with a name Step Functions can match.
    let second = engine_from(|k| env.get(k).cloned()).await.unwrap();
    let refused = handle(&second, Task::Begin, json!({})).await.unwrap_err();
    assert_eq!(refused.name, "NonRetryable");
    assert!(refused.message.contains(&run_id));

    let ids = call(&engine, Task::Identities, json!({"runId": run_id})).await;
    assert!(ids["users"].as_u64().unwrap() > 0);
    let discovered = call(
        &engine,
        Task::Discover,
        json!({"runId": run_id, "mode": "full"}),
    )
    .await;
    assert_eq!(discovered["inline"], true);
    let batches = discovered["batches"].as_array().unwrap().clone();
    assert_eq!(
        batches.len() as u64,
        discovered["batchCount"].as_u64().unwrap()
    );

    // The Map iteration of the state machine, one batch at a time.
    let mut map_output = Vec::new();
    for batch in batches {
        let mut work = batch;
        loop {
            let mut job = call(&engine, Task::StartExport, work.clone()).await;
            while job["status"] == "Pending" {
                assert!(job["waitSeconds"].as_u64().unwrap() >= 1);
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                job = call(&engine, Task::CheckExport, job).await;
            }
            let next = match job["status"].as_str().unwrap() {
                "Succeeded" => call(&engine, Task::StoreBundle, job).await,
                "Failed" => call(&engine, Task::SplitBatch, job).await,
                other => panic!("unexpected status {other}"),
            };
            if next["done"] == true {
                map_output.push(next);
                break;
            }
            work = next;
        }
    }
    let fin = call(
        &engine,
        Task::Finalize,
        json!({"runId": run_id, "identities": ids, "export": map_output}),
    )
    .await;
    assert_eq!(fin["status"], "PartiallyFailed");
    assert!(fin["failed"].as_u64().unwrap() > 0 && fin["assets"].as_u64().unwrap() > 200);
    let m = s3_manifest(&bucket, fin["manifestKey"].as_str().unwrap()).await;
    assert_eq!(m.run_id, run_id);
    assert_eq!(
        emu.counters().export_jobs_started,
        engine.stats.snapshot()["StartAssetBundleExportJob"].calls
    );

    let pruned = call(&engine, Task::Prune, json!({})).await;
    assert_eq!(pruned["deleted"], 0, "the only run is the newest good one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_events_and_failed_discovery_map_to_stable_error_names() {
    let emu = emulator(quick()).await;
    let (env, _, _) = lambda_env(&emu).await;
    let engine = engine_from(|k| env.get(k).cloned()).await.unwrap();
    let bad = handle(&engine, Task::StartExport, json!({"batch": "seven"}))
        .await
        .unwrap_err();
    assert_eq!(bad.name, "NonRetryable");
    assert!(bad.message.contains("invalid event"), "{}", bad.message);

    let begun = call(&engine, Task::Begin, json!({})).await;
    emu.set_behaviour(qsbackup_emulator::Behaviour {
        throttle_probability: 1.0,
        ..quick()
    });
    let mut fast = engine_from(|k| env.get(k).cloned()).await.unwrap();
    fast.settings.retry.max_attempts = 2;
    fast.settings.retry.base = std::time::Duration::from_millis(5);
    let throttled = handle(&fast, Task::Discover, json!({"runId": begun["runId"]}))
        .await
        .unwrap_err();
    assert_eq!(throttled.name, "Throttled");
    emu.set_behaviour(quick());
    let fin = call(&engine, Task::Finalize, json!({"runId": begun["runId"], "export": {"Error": "Throttled", "Cause": throttled.message}})).await;
    assert_eq!(fin["status"], "Failed");

    let missing = engine_from(|k| {
        (k != "QSBACKUP_POLICY_JSON")
            .then(|| env.get(k).cloned())
            .flatten()
    })
    .await;
    assert!(missing.err().unwrap().contains("QSBACKUP_POLICY_JSON"));
}
