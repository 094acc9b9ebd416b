//! Shared helpers of the emulator integration tests: start an emulator, build SDK clients,
//! wait for jobs, download bundles.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_credential_types::Credentials;
use aws_sdk_quicksight::Client;
use aws_sdk_quicksight::config::Region;
use aws_sdk_quicksight::operation::describe_asset_bundle_export_job::DescribeAssetBundleExportJobOutput;
use aws_sdk_quicksight::operation::describe_asset_bundle_import_job::DescribeAssetBundleImportJobOutput;
use aws_sdk_quicksight::types::{
    AssetBundleExportFormat, AssetBundleExportJobStatus, AssetBundleImportJobStatus,
};
use qsbackup_emulator::{Behaviour, Emulator, EmulatorConfig, Seed};

pub const ACCOUNT: &str = "123456789012";
/// An account the sample doesn't seed (a disaster-recovery target).
pub const EMPTY_ACCOUNT: &str = "210987654321";

pub async fn emulator() -> Emulator {
    emulator_with(Seed::Sample, Behaviour::default()).await
}

pub async fn emulator_with(seed: Seed, behaviour: Behaviour) -> Emulator {
    qsbackup_emulator::start(EmulatorConfig {
        seed,
        behaviour,
        s3_endpoint: None,
        port: 0,
    })
    .await
    .expect("emulator starts")
}

/// A client in us-east-1 with the SDK's default retries.
pub async fn client(e: &Emulator) -> Client {
    client_for(&e.endpoint(), "us-east-1", 3).await
}

/// A client that makes exactly one attempt (for throttling/limit assertions).
pub async fn client_once(e: &Emulator) -> Client {
    client_for(&e.endpoint(), "us-east-1", 1).await
}

pub async fn client_for(endpoint: &str, region: &str, attempts: u32) -> Client {
    let conf = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "tests",
        ))
        .endpoint_url(endpoint)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(attempts)
                .with_initial_backoff(std::time::Duration::from_millis(5)),
        )
        .load()
        .await;
    Client::new(&conf)
}

pub fn arn(kind: &str, id: &str) -> String {
    format!("arn:aws:quicksight:us-east-1:{ACCOUNT}:{kind}/{id}")
}

/// Starts an export of `arns` with dependencies, permissions, tags and folder memberships.
pub async fn export(c: &Client, job: &str, arns: &[String]) -> DescribeAssetBundleExportJobOutput {
    c.start_asset_bundle_export_job()
        .aws_account_id(ACCOUNT)
        .asset_bundle_export_job_id(job)
        .set_resource_arns(Some(arns.to_vec()))
        .include_all_dependencies(true)
        .include_permissions(true)
        .include_tags(true)
        .include_folder_memberships(true)
        .export_format(AssetBundleExportFormat::QuicksightJson)
        .send()
        .await
        .expect("export starts");
    wait_export(c, ACCOUNT, job).await
}

pub async fn wait_export(
    c: &Client,
    account: &str,
    job: &str,
) -> DescribeAssetBundleExportJobOutput {
    for _ in 0..200 {
        let d = c
            .describe_asset_bundle_export_job()
            .aws_account_id(account)
            .asset_bundle_export_job_id(job)
            .send()
            .await
            .expect("describe export");
        if matches!(
            d.job_status(),
            Some(AssetBundleExportJobStatus::Successful | AssetBundleExportJobStatus::Failed)
        ) {
            return d;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("export job {job} did not finish");
}

pub async fn wait_import(
    c: &Client,
    account: &str,
    job: &str,
) -> DescribeAssetBundleImportJobOutput {
    for _ in 0..200 {
        let d = c
            .describe_asset_bundle_import_job()
            .aws_account_id(account)
            .asset_bundle_import_job_id(job)
            .send()
            .await
            .expect("describe import");
        let running = matches!(
            d.job_status(),
            Some(
                AssetBundleImportJobStatus::QueuedForImmediateExecution
                    | AssetBundleImportJobStatus::InProgress
            )
        );
        if !running {
            return d;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("import job {job} did not finish");
}

pub async fn download(url: &str) -> Vec<u8> {
    let resp = reqwest::get(url).await.expect("download request");
    assert!(
        resp.status().is_success(),
        "download status {}",
        resp.status()
    );
    resp.bytes().await.expect("download body").to_vec()
}

/// Names of the entries of a zip.
pub fn zip_names(bytes: &[u8]) -> Vec<String> {
    let z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("valid zip");
    z.file_names().map(str::to_owned).collect()
}
