//! Asset bundle jobs through the SDK: export/delete/import round trip, unsupported and broken
//! assets, download URLs, overrides, rollback, quotas, throttling and faults, S3 sources.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use std::collections::BTreeMap;

use aws_sdk_quicksight::Client;
use aws_sdk_quicksight::error::ProvideErrorMetadata;
use aws_sdk_quicksight::primitives::Blob;
use aws_sdk_quicksight::types::{
    AssetBundleExportFormat, AssetBundleExportJobStatus, AssetBundleImportFailureAction,
    AssetBundleImportJobDashboardOverrideTags, AssetBundleImportJobOverrideParameters,
    AssetBundleImportJobOverrideTags, AssetBundleImportJobResourceIdOverrideConfiguration,
    AssetBundleImportJobStatus, AssetBundleImportSource, IncludeFolderMembers, Tag,
};
use common::{
    ACCOUNT, EMPTY_ACCOUNT, arn, client, client_once, download, emulator, emulator_with, export,
    wait_export, wait_import, zip_names,
};
use qsbackup_emulator::{Behaviour, EmulatorConfig, Seed, TokenBucket};

const ROUND_TRIP: [(&str, &str); 8] = [
    ("dashboard", "dashboard-sales-overview"),
    ("analysis", "analysis-sales-overview"),
    ("dataset", "dataset-sales"),
    ("dataset", "dataset-customers"),
    ("datasource", "ds-redshift-main"),
    ("datasource", "ds-athena-main"),
    ("theme", "theme-corporate"),
    ("vpcConnection", "vpc-main"),
];

async fn import_body(
    c: &Client,
    account: &str,
    job: &str,
    bundle: &[u8],
    rollback: bool,
    prefix: Option<&str>,
) -> AssetBundleImportJobStatus {
    let mut req = c
        .start_asset_bundle_import_job()
        .aws_account_id(account)
        .asset_bundle_import_job_id(job)
        .asset_bundle_import_source(
            AssetBundleImportSource::builder()
                .body(Blob::new(bundle.to_vec()))
                .build(),
        )
        .failure_action(if rollback {
            AssetBundleImportFailureAction::Rollback
        } else {
            AssetBundleImportFailureAction::DoNothing
        });
    if let Some(p) = prefix {
        req = req.override_parameters(
            AssetBundleImportJobOverrideParameters::builder()
                .resource_id_override_configuration(
                    AssetBundleImportJobResourceIdOverrideConfiguration::builder()
                        .prefix_for_all_resources(p)
                        .build(),
                )
                .build(),
        );
    }
    req.send().await.expect("import starts");
    wait_import(c, account, job)
        .await
        .job_status()
        .cloned()
        .expect("status")
}

/// Everything Describe says about the round-trip assets, timestamps removed.
async fn snapshot(c: &Client) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut d = c
        .describe_dashboard()
        .aws_account_id(ACCOUNT)
        .dashboard_id("dashboard-sales-overview")
        .send()
        .await
        .expect("d");
    if let Some(x) = d.dashboard.as_mut() {
        (x.created_time, x.last_updated_time, x.last_published_time) = (None, None, None);
        if let Some(v) = x.version.as_mut() {
            v.created_time = None;
        }
    }
    out.insert("dashboard".into(), format!("{:?}", d.dashboard));
    let mut a = c
        .describe_analysis()
        .aws_account_id(ACCOUNT)
        .analysis_id("analysis-sales-overview")
        .send()
        .await
        .expect("a");
    if let Some(x) = a.analysis.as_mut() {
        (x.created_time, x.last_updated_time) = (None, None);
    }
    out.insert("analysis".into(), format!("{:?}", a.analysis));
    for id in ["dataset-sales", "dataset-customers"] {
        let mut s = c
            .describe_data_set()
            .aws_account_id(ACCOUNT)
            .data_set_id(id)
            .send()
            .await
            .expect("ds");
        if let Some(x) = s.data_set.as_mut() {
            (x.created_time, x.last_updated_time) = (None, None);
        }
        out.insert(id.into(), format!("{:?}", s.data_set));
    }
    for id in ["ds-redshift-main", "ds-athena-main"] {
        let mut s = c
            .describe_data_source()
            .aws_account_id(ACCOUNT)
            .data_source_id(id)
            .send()
            .await
            .expect("src");
        if let Some(x) = s.data_source.as_mut() {
            (x.created_time, x.last_updated_time) = (None, None);
        }
        out.insert(id.into(), format!("{:?}", s.data_source));
    }
    let mut t = c
        .describe_theme()
        .aws_account_id(ACCOUNT)
        .theme_id("theme-corporate")
        .send()
        .await
        .expect("theme");
    if let Some(x) = t.theme.as_mut() {
        (x.created_time, x.last_updated_time) = (None, None);
        if let Some(v) = x.version.as_mut() {
            v.created_time = None;
        }
    }
    out.insert("theme".into(), format!("{:?}", t.theme));
    let vpcs = c
        .list_vpc_connections()
        .aws_account_id(ACCOUNT)
        .send()
        .await
        .expect("vpcs");
    let mut vpc = vpcs
        .vpc_connection_summaries()
        .iter()
        .find(|v| v.vpc_connection_id() == Some("vpc-main"))
        .cloned();
    if let Some(x) = vpc.as_mut() {
        (x.created_time, x.last_updated_time) = (None, None);
    }
    out.insert("vpc".into(), format!("{vpc:?}"));
    let p = c
        .describe_dashboard_permissions()
        .aws_account_id(ACCOUNT)
        .dashboard_id("dashboard-sales-overview")
        .send()
        .await;
    out.insert(
        "dashboard-permissions".into(),
        format!("{:?}", p.expect("perms").permissions),
    );
    for (kind, id) in ROUND_TRIP {
        let tags = c
            .list_tags_for_resource()
            .resource_arn(arn(kind, id))
            .send()
            .await
            .expect("tags");
        out.insert(format!("tags {id}"), format!("{:?}", tags.tags));
    }
    let members = c
        .list_folder_members()
        .aws_account_id(ACCOUNT)
        .folder_id("folder-sales")
        .send()
        .await
        .expect("members");
    let mut m: Vec<_> = members
        .folder_member_list()
        .iter()
        .map(|m| format!("{m:?}"))
        .collect();
    m.sort();
    out.insert("folder-sales members".into(), m.join(","));
    out
}

#[tokio::test]
async fn export_delete_import_recreates_identical_assets() {
    let e = emulator().await;
    let c = client(&e).await;
    let before = snapshot(&c).await;
    let job = export(
        &c,
        "round-trip",
        &[arn("dashboard", "dashboard-sales-overview")],
    )
    .await;
    assert_eq!(
        job.job_status(),
        Some(&AssetBundleExportJobStatus::Successful)
    );
    let bundle = download(job.download_url().expect("url")).await;
    let names = zip_names(&bundle);
    for (kind, id) in ROUND_TRIP {
        assert!(
            names.contains(&format!("{kind}/{id}.json")),
            "{kind}/{id} missing from {names:?}"
        );
    }
    assert!(
        names.iter().any(|n| n.starts_with("refreshSchedule/")),
        "dataset refresh schedules travel along"
    );
    assert!(
        names.contains(&"folder/folder-sales.json".to_owned())
            && names.contains(&"folder/folder-finance.json".to_owned())
    );

    c.delete_dashboard()
        .aws_account_id(ACCOUNT)
        .dashboard_id("dashboard-sales-overview")
        .send()
        .await
        .expect("del");
    c.delete_analysis()
        .aws_account_id(ACCOUNT)
        .analysis_id("analysis-sales-overview")
        .send()
        .await
        .expect("del");
    for id in ["dataset-sales", "dataset-customers"] {
        c.delete_data_set()
            .aws_account_id(ACCOUNT)
            .data_set_id(id)
            .send()
            .await
            .expect("del");
    }
    for id in ["ds-redshift-main", "ds-athena-main"] {
        c.delete_data_source()
            .aws_account_id(ACCOUNT)
            .data_source_id(id)
            .send()
            .await
            .expect("del");
    }
    c.delete_theme()
        .aws_account_id(ACCOUNT)
        .theme_id("theme-corporate")
        .send()
        .await
        .expect("del");
    c.delete_vpc_connection()
        .aws_account_id(ACCOUNT)
        .vpc_connection_id("vpc-main")
        .send()
        .await
        .expect("del");
    let gone = c
        .describe_dashboard()
        .aws_account_id(ACCOUNT)
        .dashboard_id("dashboard-sales-overview")
        .send()
        .await;
    assert!(gone.is_err());

    let status = import_body(&c, ACCOUNT, "restore", &bundle, true, None).await;
    assert_eq!(status, AssetBundleImportJobStatus::Successful);
    let after = snapshot(&c).await;
    for (k, v) in &before {
        assert_eq!(after.get(k), Some(v), "{k} differs after restore");
    }
}

#[tokio::test]
async fn unsupported_and_broken_assets_fail_the_export_with_one_error_per_asset() {
    let e = emulator().await;
    let c = client(&e).await;
    let arns = [
        arn("dashboard", "dashboard-broken-1"),
        arn("analysis", "analysis-broken-1"),
        arn("datasource", "ds-salesforce"),
        arn("dataset", "dataset-uploaded-file"),
        arn("dataset", "dataset-jira-issues"),
    ];
    let job = export(&c, "bad", &arns).await;
    assert_eq!(job.job_status(), Some(&AssetBundleExportJobStatus::Failed));
    assert!(job.download_url().is_none());
    let errors: BTreeMap<&str, &str> = job
        .errors()
        .iter()
        .filter_map(|e| Some((e.arn()?, e.message()?)))
        .collect();
    assert!(errors[arn("dashboard", "dashboard-broken-1").as_str()].starts_with(
        "The dashboard has associated errors and cannot be exported. Call DescribeDashboardDefinition to retrieve the errors."
    ));
    assert!(
        errors[arn("analysis", "analysis-broken-1").as_str()]
            .starts_with("The analysis has associated errors")
    );
    assert!(errors[arn("datasource", "ds-salesforce").as_str()].contains("SALESFORCE"));
    assert!(errors[arn("datasource", "ds-uploaded-file").as_str()].contains("uploaded files"));
    assert!(errors[arn("datasource", "ds-jira").as_str()].contains("JIRA"));
    assert!(errors.contains_key(arn("dataset", "dataset-uploaded-file").as_str()));
    assert!(errors.contains_key(arn("dataset", "dataset-jira-issues").as_str()));
    assert_eq!(
        errors.len(),
        job.errors().len(),
        "one error per failing asset"
    );
    let summary = c
        .list_asset_bundle_export_jobs()
        .aws_account_id(ACCOUNT)
        .send()
        .await
        .expect("list");
    assert_eq!(
        summary.asset_bundle_export_job_summary_list()[0].job_status(),
        Some(&AssetBundleExportJobStatus::Failed)
    );
}

#[tokio::test]
async fn download_urls_expire_and_every_describe_issues_a_fresh_one() {
    let e = emulator().await;
    let c = client(&e).await;
    let job = export(&c, "expiring", &[arn("theme", "theme-corporate")]).await;
    let url = job.download_url().expect("url").to_owned();
    e.advance_clock(301);
    let resp = reqwest::get(&url).await.expect("get");
    assert_eq!(resp.status().as_u16(), 403);
    let body = resp.text().await.expect("xml");
    assert!(
        body.contains("<Code>AccessDenied</Code>") && body.contains("Request has expired"),
        "{body}"
    );
    let fresh = wait_export(&c, ACCOUNT, "expiring").await;
    let fresh_url = fresh.download_url().expect("fresh url");
    assert_ne!(fresh_url, url);
    assert_eq!(
        zip_names(&download(fresh_url).await),
        ["theme/theme-corporate.json"]
    );
    assert_eq!(e.counters().downloads, 1, "expired URLs serve nothing");
}

#[tokio::test]
async fn import_with_prefix_creates_prefixed_ids_with_rewritten_references() {
    let e = emulator().await;
    let c = client(&e).await;
    let job = export(&c, "src", &[arn("dashboard", "dashboard-sales-overview")]).await;
    let bundle = download(job.download_url().expect("url")).await;
    let status = import_body(&c, ACCOUNT, "prefixed", &bundle, true, Some("restored-")).await;
    assert_eq!(status, AssetBundleImportJobStatus::Successful);
    let d = c
        .describe_dashboard()
        .aws_account_id(ACCOUNT)
        .dashboard_id("restored-dashboard-sales-overview")
        .send()
        .await;
    let d = d.expect("prefixed dashboard").dashboard.expect("body");
    let v = d.version.expect("version");
    assert_eq!(
        v.data_set_arns(),
        [
            arn("dataset", "restored-dataset-sales"),
            arn("dataset", "restored-dataset-customers")
        ]
    );
    assert_eq!(
        v.theme_arn(),
        Some(arn("theme", "restored-theme-corporate").as_str())
    );
    let src = c
        .describe_data_source()
        .aws_account_id(ACCOUNT)
        .data_source_id("restored-ds-redshift-main")
        .send()
        .await;
    let vpc = src
        .expect("source")
        .data_source
        .and_then(|s| s.vpc_connection_properties)
        .map(|v| v.vpc_connection_arn);
    assert_eq!(vpc, Some(arn("vpcConnection", "restored-vpc-main")));
    // The originals are untouched.
    assert!(
        c.describe_dashboard()
            .aws_account_id(ACCOUNT)
            .dashboard_id("dashboard-sales-overview")
            .send()
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn rollback_leaves_nothing_behind_and_do_nothing_keeps_partial_results() {
    let e = emulator().await;
    let c = client(&e).await;
    // Without dependencies the dashboard's datasets/theme are missing in an empty account.
    c.start_asset_bundle_export_job()
        .aws_account_id(ACCOUNT)
        .asset_bundle_export_job_id("partial")
        .resource_arns(arn("datasource", "ds-redshift-main"))
        .resource_arns(arn("vpcConnection", "vpc-main"))
        .resource_arns(arn("dashboard", "dashboard-sales-overview"))
        .export_format(AssetBundleExportFormat::QuicksightJson)
        .send()
        .await
        .expect("export");
    let job = wait_export(&c, ACCOUNT, "partial").await;
    let bundle = download(job.download_url().expect("url")).await;
    assert_eq!(zip_names(&bundle).len(), 3);

    let status = import_body(&c, EMPTY_ACCOUNT, "rollback", &bundle, true, None).await;
    assert_eq!(status, AssetBundleImportJobStatus::FailedRollbackCompleted);
    let d = c
        .describe_asset_bundle_import_job()
        .aws_account_id(EMPTY_ACCOUNT)
        .asset_bundle_import_job_id("rollback")
        .send()
        .await;
    let d = d.expect("describe");
    assert!(d.errors().iter().any(|e| e.arn()
        == Some(&arn("dashboard", "dashboard-sales-overview").replace(ACCOUNT, EMPTY_ACCOUNT))));
    for list in [
        c.list_data_sources()
            .aws_account_id(EMPTY_ACCOUNT)
            .send()
            .await
            .expect("s")
            .data_sources()
            .len(),
        c.list_vpc_connections()
            .aws_account_id(EMPTY_ACCOUNT)
            .send()
            .await
            .expect("v")
            .vpc_connection_summaries()
            .len(),
        c.list_dashboards()
            .aws_account_id(EMPTY_ACCOUNT)
            .send()
            .await
            .expect("d")
            .dashboard_summary_list()
            .len(),
    ] {
        assert_eq!(list, 0, "rollback removed everything the job created");
    }

    let status = import_body(&c, EMPTY_ACCOUNT, "keep", &bundle, false, None).await;
    assert_eq!(status, AssetBundleImportJobStatus::Failed);
    let sources = c
        .list_data_sources()
        .aws_account_id(EMPTY_ACCOUNT)
        .send()
        .await
        .expect("sources");
    assert_eq!(
        sources.data_sources().len(),
        1,
        "DO_NOTHING keeps what succeeded"
    );
    assert!(
        c.list_dashboards()
            .aws_account_id(EMPTY_ACCOUNT)
            .send()
            .await
            .expect("d")
            .dashboard_summary_list()
            .is_empty()
    );
}

#[tokio::test]
async fn self_contained_bundle_restores_into_an_empty_account_with_tag_overrides() {
    let e = emulator().await;
    let c = client(&e).await;
    let job = export(&c, "dr", &[arn("dashboard", "dashboard-sales-overview")]).await;
    let bundle = download(job.download_url().expect("url")).await;
    c.start_asset_bundle_import_job()
        .aws_account_id(EMPTY_ACCOUNT)
        .asset_bundle_import_job_id("dr")
        .asset_bundle_import_source(
            AssetBundleImportSource::builder()
                .body(Blob::new(bundle))
                .build(),
        )
        .override_tags(
            AssetBundleImportJobOverrideTags::builder()
                .dashboards(
                    AssetBundleImportJobDashboardOverrideTags::builder()
                        .dashboard_ids("*")
                        .tags(
                            Tag::builder()
                                .key("restored")
                                .value("yes")
                                .build()
                                .expect("tag"),
                        )
                        .build()
                        .expect("override"),
                )
                .build(),
        )
        .send()
        .await
        .expect("import");
    let d = wait_import(&c, EMPTY_ACCOUNT, "dr").await;
    assert_eq!(
        d.job_status(),
        Some(&AssetBundleImportJobStatus::Successful),
        "{:?}",
        d.errors()
    );
    let body_url = d
        .asset_bundle_import_source()
        .and_then(|s| s.body())
        .expect("Body is a download URL");
    assert!(body_url.starts_with(&e.endpoint()));
    assert!(!zip_names(&download(body_url).await).is_empty());
    let dash_arn =
        format!("arn:aws:quicksight:us-east-1:{EMPTY_ACCOUNT}:dashboard/dashboard-sales-overview");
    let tags = c
        .list_tags_for_resource()
        .resource_arn(&dash_arn)
        .send()
        .await
        .expect("tags");
    assert!(tags.tags().iter().any(|t| t.key() == "restored"));
    assert!(tags.tags().iter().any(|t| t.key() == "criticality"));
    let folders = c
        .list_folders()
        .aws_account_id(EMPTY_ACCOUNT)
        .send()
        .await
        .expect("folders");
    assert_eq!(
        folders.folder_summary_list().len(),
        2,
        "the dashboard's folder and its parent came along"
    );
}

#[tokio::test]
async fn quotas_limit_running_jobs_and_running_ids_conflict() {
    let slow = Behaviour {
        job_base_ms: 3_600_000,
        ..Default::default()
    };
    let e = emulator_with(Seed::Sample, slow).await;
    let c = client_once(&e).await;
    let start = |id: String| {
        c.start_asset_bundle_export_job()
            .aws_account_id(ACCOUNT)
            .asset_bundle_export_job_id(id)
            .resource_arns(arn("theme", "theme-corporate"))
            .export_format(AssetBundleExportFormat::QuicksightJson)
            .send()
    };
    for i in 0..5 {
        start(format!("job-{i}")).await.expect("within quota");
    }
    let err = start("job-5".into()).await.expect_err("sixth");
    assert!(
        err.raw_response()
            .is_some_and(|r| r.status().as_u16() == 409)
    );
    let service = err.into_service_error();
    assert!(service.is_limit_exceeded_exception());
    let err = start("job-0".into())
        .await
        .expect_err("reuse of a running id");
    assert!(err.into_service_error().is_conflict_exception());
    let d = c
        .describe_asset_bundle_export_job()
        .aws_account_id(ACCOUNT)
        .asset_bundle_export_job_id("job-0")
        .send()
        .await;
    assert_eq!(
        d.expect("d").job_status(),
        Some(&AssetBundleExportJobStatus::QueuedForImmediateExecution)
    );
    e.advance_clock(600);
    let d = c
        .describe_asset_bundle_export_job()
        .aws_account_id(ACCOUNT)
        .asset_bundle_export_job_id("job-0")
        .send()
        .await;
    assert_eq!(
        d.expect("d").job_status(),
        Some(&AssetBundleExportJobStatus::InProgress)
    );
    e.advance_clock(3_600);
    start("job-0".into())
        .await
        .expect("a finished id may be reused");
    let jobs = c
        .list_asset_bundle_export_jobs()
        .aws_account_id(ACCOUNT)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("list");
    assert_eq!(jobs.len(), 5, "the latest job per id");
    assert_eq!(
        jobs.iter()
            .find(|j| j.asset_bundle_export_job_id() == Some("job-0"))
            .and_then(|j| j.job_status()),
        Some(&AssetBundleExportJobStatus::QueuedForImmediateExecution)
    );
    e.advance_clock(15 * 24 * 3600);
    let err = c
        .describe_asset_bundle_export_job()
        .aws_account_id(ACCOUNT)
        .asset_bundle_export_job_id("job-1")
        .send()
        .await;
    assert!(
        err.expect_err("expired")
            .into_service_error()
            .is_resource_not_found_exception(),
        "jobs are kept 14 days"
    );
    assert_eq!(e.counters().export_jobs_started, 6);
}

#[tokio::test]
async fn export_requests_are_validated() {
    let e = emulator().await;
    let c = client_once(&e).await;
    let base = || {
        c.start_asset_bundle_export_job()
            .aws_account_id(ACCOUNT)
            .asset_bundle_export_job_id("v")
            .export_format(AssetBundleExportFormat::QuicksightJson)
    };
    let too_many: Vec<String> = (0..101)
        .map(|i| arn("dashboard", &format!("dashboard-{:05}", i + 1)))
        .collect();
    let err = base()
        .set_resource_arns(Some(too_many))
        .send()
        .await
        .expect_err("101 arns");
    assert!(
        err.into_service_error()
            .is_invalid_parameter_value_exception()
    );
    let err = base()
        .set_resource_arns(Some(vec![]))
        .send()
        .await
        .expect_err("0 arns");
    assert!(
        err.into_service_error()
            .is_invalid_parameter_value_exception()
    );
    let err = base().send().await.expect_err("missing arns");
    assert!(
        err.into_service_error()
            .is_invalid_parameter_value_exception()
    );
    let err = base()
        .resource_arns(arn("dashboard", "does-not-exist"))
        .send()
        .await
        .expect_err("unknown");
    assert!(err.into_service_error().is_resource_not_found_exception());
    let err = base()
        .resource_arns("not-an-arn")
        .send()
        .await
        .expect_err("malformed");
    assert!(
        err.into_service_error()
            .is_invalid_parameter_value_exception()
    );
    let err = c
        .describe_asset_bundle_export_job()
        .aws_account_id(ACCOUNT)
        .asset_bundle_export_job_id("nope")
        .send()
        .await;
    assert!(
        err.expect_err("unknown job")
            .into_service_error()
            .is_resource_not_found_exception()
    );
    assert_eq!(e.counters().export_jobs_started, 0);
}

#[tokio::test]
async fn import_requests_are_validated_and_bad_bundles_fail_the_job() {
    let e = emulator().await;
    let c = client_once(&e).await;
    let both = AssetBundleImportSource::builder()
        .body(Blob::new(b"x".to_vec()))
        .s3_uri("s3://b/k")
        .build();
    let err = c
        .start_asset_bundle_import_job()
        .aws_account_id(ACCOUNT)
        .asset_bundle_import_job_id("both")
        .asset_bundle_import_source(both)
        .send()
        .await
        .expect_err("both sources");
    assert!(
        err.into_service_error()
            .is_invalid_parameter_value_exception()
    );
    let big = vec![0u8; 20_971_521];
    let err = c
        .start_asset_bundle_import_job()
        .aws_account_id(ACCOUNT)
        .asset_bundle_import_job_id("big")
        .asset_bundle_import_source(
            AssetBundleImportSource::builder()
                .body(Blob::new(big))
                .build(),
        )
        .send()
        .await
        .expect_err("over 20 MB");
    assert!(
        err.into_service_error()
            .is_invalid_parameter_value_exception()
    );
    let status = import_body(&c, ACCOUNT, "garbage", b"this is not a zip", true, None).await;
    assert_eq!(status, AssetBundleImportJobStatus::Failed);
    let d = c
        .describe_asset_bundle_import_job()
        .aws_account_id(ACCOUNT)
        .asset_bundle_import_job_id("garbage")
        .send()
        .await;
    assert!(!d.expect("describe").errors().is_empty());
    let jobs = c
        .list_asset_bundle_import_jobs()
        .aws_account_id(ACCOUNT)
        .send()
        .await
        .expect("list");
    assert_eq!(jobs.asset_bundle_import_job_summary_list().len(), 1);
}

#[tokio::test]
async fn sixth_concurrent_import_is_limited() {
    let e = emulator_with(
        Seed::Sample,
        Behaviour {
            job_base_ms: 3_600_000,
            ..Default::default()
        },
    )
    .await;
    let c = client_once(&e).await;
    for i in 0..6 {
        let r = c
            .start_asset_bundle_import_job()
            .aws_account_id(ACCOUNT)
            .asset_bundle_import_job_id(format!("imp-{i}"))
            .asset_bundle_import_source(
                AssetBundleImportSource::builder()
                    .body(Blob::new(b"zip?".to_vec()))
                    .build(),
            )
            .send()
            .await;
        if i < 5 {
            r.expect("within quota");
        } else {
            let err = r.expect_err("sixth");
            assert_eq!(err.code(), Some("LimitExceededException"));
        }
    }
    assert_eq!(e.counters().import_jobs_started, 5);
}

#[tokio::test]
async fn throttled_or_faulted_starts_create_no_job() {
    let mut b = Behaviour::default();
    b.throttle.insert(
        "StartAssetBundleExportJob".into(),
        TokenBucket {
            rate_per_sec: 0.0,
            burst: 0,
        },
    );
    b.fault_operations
        .insert("StartAssetBundleImportJob".into(), 1.0);
    let e = emulator_with(Seed::Sample, b).await;
    let c = client_once(&e).await;
    let err = c
        .start_asset_bundle_export_job()
        .aws_account_id(ACCOUNT)
        .asset_bundle_export_job_id("t")
        .resource_arns(arn("theme", "theme-corporate"))
        .export_format(AssetBundleExportFormat::QuicksightJson)
        .send()
        .await
        .expect_err("throttled");
    assert!(
        err.raw_response()
            .is_some_and(|r| r.status().as_u16() == 429)
    );
    assert!(err.into_service_error().is_throttling_exception());
    let err = c
        .start_asset_bundle_import_job()
        .aws_account_id(ACCOUNT)
        .asset_bundle_import_job_id("f")
        .asset_bundle_import_source(
            AssetBundleImportSource::builder()
                .body(Blob::new(b"x".to_vec()))
                .build(),
        )
        .send()
        .await
        .expect_err("fault");
    assert_eq!(err.code(), Some("InternalFailureException"));
    assert!(
        c.list_asset_bundle_export_jobs()
            .aws_account_id(ACCOUNT)
            .send()
            .await
            .expect("l")
            .asset_bundle_export_job_summary_list()
            .is_empty()
    );
    assert!(
        c.list_asset_bundle_import_jobs()
            .aws_account_id(ACCOUNT)
            .send()
            .await
            .expect("l")
            .asset_bundle_import_job_summary_list()
            .is_empty()
    );
    let counters = e.counters();
    assert_eq!(
        (counters.export_jobs_started, counters.import_jobs_started),
        (0, 0)
    );
    assert_eq!(counters.op("StartAssetBundleExportJob").throttled, 1);
    assert_eq!(counters.op("StartAssetBundleImportJob").faults, 1);
}

#[tokio::test]
async fn sdk_retries_through_random_faults_and_counts_them() {
    let e = emulator_with(
        Seed::Sample,
        Behaviour {
            fault_probability: 0.3,
            fault_seed: 9,
            ..Default::default()
        },
    )
    .await;
    let c = common::client_for(&e.endpoint(), "us-east-1", 10).await;
    for _ in 0..20 {
        let all = c
            .list_dashboards()
            .aws_account_id(ACCOUNT)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await;
        assert_eq!(all.expect("retries succeed").len(), 89);
    }
    let op = e.counters().op("ListDashboards");
    assert!(op.faults > 0 && op.calls == op.faults + 20, "{op:?}");
}

#[tokio::test]
async fn padding_adds_an_incompressible_entry_that_import_ignores() {
    let e = emulator_with(
        Seed::Sample,
        Behaviour {
            padding_bytes: 3_000_000,
            ..Default::default()
        },
    )
    .await;
    let c = client(&e).await;
    let job = export(&c, "padded", &[arn("theme", "theme-corporate")]).await;
    let bundle = download(job.download_url().expect("url")).await;
    assert!(bundle.len() > 3_000_000);
    let names = zip_names(&bundle);
    assert!(
        names.contains(&"padding/filler.bin".to_owned())
            && names.contains(&"theme/theme-corporate.json".to_owned())
    );
    let again = download(
        wait_export(&c, ACCOUNT, "padded")
            .await
            .download_url()
            .expect("url"),
    )
    .await;
    assert_eq!(
        again, bundle,
        "the padded bundle is the same on every download"
    );
    assert_eq!(
        import_body(&c, EMPTY_ACCOUNT, "padded", &bundle, true, None).await,
        AssetBundleImportJobStatus::Successful
    );
}

#[tokio::test]
async fn truncated_downloads_end_early() {
    let e = emulator_with(
        Seed::Sample,
        Behaviour {
            truncate_probability: 1.0,
            ..Default::default()
        },
    )
    .await;
    let c = client(&e).await;
    let job = export(&c, "cut", &[arn("dashboard", "dashboard-sales-overview")]).await;
    let resp = reqwest::get(job.download_url().expect("url"))
        .await
        .expect("headers arrive");
    let announced = resp.content_length().expect("length");
    match resp.bytes().await {
        Ok(b) => assert!((b.len() as u64) < announced),
        Err(e) => assert!(e.is_body() || e.is_request() || e.is_decode(), "{e}"),
    }
}

#[tokio::test]
async fn cloudformation_export_is_a_template() {
    let e = emulator().await;
    let c = client(&e).await;
    c.start_asset_bundle_export_job()
        .aws_account_id(ACCOUNT)
        .asset_bundle_export_job_id("cfn")
        .resource_arns(arn("dashboard", "dashboard-sales-overview"))
        .include_all_dependencies(true)
        .export_format(AssetBundleExportFormat::CloudformationJson)
        .send()
        .await
        .expect("start");
    let job = wait_export(&c, ACCOUNT, "cfn").await;
    assert_eq!(
        job.export_format(),
        Some(&AssetBundleExportFormat::CloudformationJson)
    );
    let t: serde_json::Value =
        serde_json::from_slice(&download(job.download_url().expect("url")).await)
            .expect("json template");
    let types: Vec<&str> = t["Resources"]
        .as_object()
        .expect("resources")
        .values()
        .filter_map(|r| r["Type"].as_str())
        .collect();
    assert!(
        types.contains(&"AWS::QuickSight::Dashboard")
            && types.contains(&"AWS::QuickSight::DataSource")
    );
}

#[tokio::test]
async fn folder_export_recurses_into_sub_folders_and_members() {
    let e = emulator().await;
    let c = client(&e).await;
    c.start_asset_bundle_export_job()
        .aws_account_id(ACCOUNT)
        .asset_bundle_export_job_id("folders")
        .resource_arns(arn("folder", "folder-finance"))
        .include_folder_members(IncludeFolderMembers::Recurse)
        .export_format(AssetBundleExportFormat::QuicksightJson)
        .send()
        .await
        .expect("start");
    let job = wait_export(&c, ACCOUNT, "folders").await;
    // folder-finance holds a broken dashboard: the export fails on it, naming it.
    assert_eq!(job.job_status(), Some(&AssetBundleExportJobStatus::Failed));
    let failing: Vec<_> = job.errors().iter().filter_map(|e| e.arn()).collect();
    assert_eq!(failing, [arn("dashboard", "dashboard-broken-1")]);
    c.delete_dashboard()
        .aws_account_id(ACCOUNT)
        .dashboard_id("dashboard-broken-1")
        .send()
        .await
        .expect("remove broken");
    c.start_asset_bundle_export_job()
        .aws_account_id(ACCOUNT)
        .asset_bundle_export_job_id("folders")
        .resource_arns(arn("folder", "folder-finance"))
        .include_folder_members(IncludeFolderMembers::Recurse)
        .export_format(AssetBundleExportFormat::QuicksightJson)
        .send()
        .await
        .expect("restart with a finished id");
    let job = wait_export(&c, ACCOUNT, "folders").await;
    let names = zip_names(&download(job.download_url().expect("url")).await);
    for n in [
        "folder/folder-finance.json",
        "folder/folder-sales.json",
        "folder/folder-sales-archive.json",
        "dashboard/dashboard-sales-overview.json",
    ] {
        assert!(names.contains(&n.to_owned()), "{n} missing from {names:?}");
    }
}

#[tokio::test]
async fn import_reads_s3_uris_through_the_configured_endpoint() {
    // A one-route stand-in for S3 (path style): GET /bucket/key.
    let e0 = emulator().await;
    let c0 = client(&e0).await;
    let job = export(
        &c0,
        "to-s3",
        &[arn("dashboard", "dashboard-sales-overview")],
    )
    .await;
    let bundle = download(job.download_url().expect("url")).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let s3 = format!("http://{}", listener.local_addr().expect("addr"));
    let served = bundle.clone();
    let router = axum::Router::new().route(
        "/backups/run-1/bundle.qs",
        axum::routing::get(move || async move { served.clone() }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    let e = qsbackup_emulator::start(EmulatorConfig {
        seed: Seed::Empty,
        s3_endpoint: Some(s3),
        ..Default::default()
    })
    .await
    .expect("start");
    let c = client(&e).await;
    for (id, uri) in [
        ("s3", "s3://backups/run-1/bundle.qs"),
        ("missing", "s3://backups/run-1/missing.qs"),
    ] {
        c.start_asset_bundle_import_job()
            .aws_account_id(ACCOUNT)
            .asset_bundle_import_job_id(id)
            .asset_bundle_import_source(AssetBundleImportSource::builder().s3_uri(uri).build())
            .send()
            .await
            .expect("import");
    }
    let ok = wait_import(&c, ACCOUNT, "s3").await;
    assert_eq!(
        ok.job_status(),
        Some(&AssetBundleImportJobStatus::Successful),
        "{:?}",
        ok.errors()
    );
    assert_eq!(
        ok.asset_bundle_import_source().and_then(|s| s.s3_uri()),
        Some("s3://backups/run-1/bundle.qs")
    );
    assert!(
        c.describe_dashboard()
            .aws_account_id(ACCOUNT)
            .dashboard_id("dashboard-sales-overview")
            .send()
            .await
            .is_ok()
    );
    let missing = wait_import(&c, ACCOUNT, "missing").await;
    assert_eq!(
        missing.job_status(),
        Some(&AssetBundleImportJobStatus::Failed)
    );
}
