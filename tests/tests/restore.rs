//! Restore against the QuickSight emulator and moto, proven by round trips: back up, break the
//! account, restore, and compare every asset's Describe output with what was backed up; plus
//! disaster recovery into another account/Region, point-in-time selection, and the refusals
//! (tampered or missing bundle, altered plan, plaintext password) that must change nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use qsbackup_core::restore::plan::IdentityAction;
use qsbackup_core::restore::{
    Action, AssetResult, RestoreError, RestoreRequest, Restorer, RunRef, Selection, TargetClients,
    UsersMode,
};
use qsbackup_core::{Engine, Manifest, RunStatus};
use qsbackup_policy::AssetType;
use qsbackup_tests::*;
use serde_json::Value;

const DR_ACCOUNT: &str = "210987654321";
const DR_REGION: &str = "eu-west-1";

fn read_manifest(dir: &Path, key: &str) -> Manifest {
    serde_json::from_slice(&std::fs::read(dir.join(key)).unwrap()).unwrap()
}

async fn backed_up_engine(emu: &emulator::Emulator, dir: &Path) -> (Arc<Engine>, Manifest) {
    let engine = Arc::new(engine(emu, &sample_policy(dir)).await);
    let out = engine.run_backup(None, chrono::Utc::now()).await.unwrap();
    let m = read_manifest(dir, &out.manifest_key);
    (engine, m)
}

fn same_account(e: &Engine) -> TargetClients {
    TargetClients {
        qs: e.qs.clone(),
        qs_identity: e.qs_identity.clone(),
    }
}

/// A Describe result with every timestamp (`…Time`) removed.
fn untimed(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| !k.ends_with("Time"))
                .map(|(k, v)| (k, untimed(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(untimed).collect()),
        v => v,
    }
}

/// Describe output (timestamps aside), tags and permissions of every listed asset of an account.
async fn snapshot(
    e: &Engine,
    qs: &aws_sdk_quicksight::Client,
    account: &str,
    assets: &[(AssetType, String)],
) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (kind, id) in assets {
        let key = format!("{kind}/{id}");
        let Some(d) = e.describe_json(qs, account, *kind, id).await.unwrap() else {
            out.insert(key, Value::Null);
            continue;
        };
        let arn = d["Arn"].as_str().unwrap().to_string();
        let tags = qs
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .unwrap();
        let tags: BTreeMap<String, String> = tags
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        let mut entry = serde_json::json!({"describe": untimed(d), "tags": tags});
        if *kind == AssetType::Dashboard {
            let p = qs
                .describe_dashboard_permissions()
                .aws_account_id(account)
                .dashboard_id(id)
                .send()
                .await
                .unwrap();
            let perms: Vec<String> = p
                .permissions()
                .iter()
                .map(|p| format!("{} {:?}", p.principal(), p.actions()))
                .collect();
            entry["permissions"] = serde_json::json!(perms);
        }
        if *kind == AssetType::Folder {
            let m = qs
                .list_folder_members()
                .aws_account_id(account)
                .folder_id(id)
                .send()
                .await
                .unwrap();
            let mut members: Vec<String> = m
                .folder_member_list()
                .iter()
                .filter_map(|m| m.member_arn().map(str::to_string))
                .collect();
            members.sort();
            entry["members"] = serde_json::json!(members);
        }
        out.insert(key, entry);
    }
    out
}

async fn memberships(
    qs: &aws_sdk_quicksight::Client,
    account: &str,
    group: &str,
) -> BTreeSet<String> {
    let out = qs
        .list_group_memberships()
        .aws_account_id(account)
        .namespace("default")
        .group_name(group)
        .send()
        .await
        .unwrap();
    out.group_member_list()
        .iter()
        .filter_map(|m| m.member_name().map(str::to_string))
        .collect()
}

fn pick(m: &Manifest, kind: AssetType, n: usize, avoid: &BTreeSet<String>) -> Vec<String> {
    m.assets
        .iter()
        .filter(|a| a.kind == kind && a.bundle_key.is_some() && !avoid.contains(&a.id))
        .map(|a| a.id.clone())
        .take(n)
        .collect()
}

fn imports_started(emu: &emulator::Emulator) -> u64 {
    emu.counters().op("StartAssetBundleImportJob").calls
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_restores_ten_deleted_and_five_modified_assets_and_changes_nothing_else() {
    let emu = emulator(quick()).await;
    let dir = tempfile::tempdir().unwrap();
    let (e, m) = backed_up_engine(&emu, dir.path()).await;
    let acct = SAMPLE_ACCOUNT;
    let mut all: Vec<(AssetType, String)> = m
        .assets
        .iter()
        .filter(|a| a.bundle_key.is_some())
        .map(|a| (a.kind, a.id.clone()))
        .collect();
    all.extend(
        m.assets
            .iter()
            .filter(|a| a.bundle_key.is_none())
            .map(|a| (a.kind, a.id.clone())),
    );
    all.extend(
        m.skipped
            .iter()
            .filter(|s| s.kind != AssetType::Dataset)
            .map(|s| (s.kind, s.id.clone())),
    );
    let before = snapshot(&e, &e.qs, acct, &all).await;
    let analysts_before = memberships(&e.qs_identity, acct, "analysts").await;

    // Ten deletions across every type (a folder with members among them) and five modifications.
    let qs = quicksight_client(&emu.endpoint(), SAMPLE_REGION).await;
    let special: BTreeSet<String> = [
        "dashboard-sales-overview",
        "analysis-sales-overview",
        "dataset-sales",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let dashboards = pick(&m, AssetType::Dashboard, 4, &special);
    let analyses = pick(&m, AssetType::Analysis, 3, &special);
    let data_sets = pick(&m, AssetType::Dataset, 3, &special);
    let sources = pick(&m, AssetType::Datasource, 2, &special);
    let (themes, vpcs) = (
        pick(&m, AssetType::Theme, 1, &special),
        pick(&m, AssetType::VpcConnection, 1, &special),
    );
    let mut deleted: Vec<String> = Vec::new();
    for id in &dashboards[..2] {
        qs.delete_dashboard()
            .aws_account_id(acct)
            .dashboard_id(id)
            .send()
            .await
            .unwrap();
        deleted.push(format!("dashboard/{id}"));
    }
    for id in &analyses[..2] {
        qs.delete_analysis()
            .aws_account_id(acct)
            .analysis_id(id)
            .send()
            .await
            .unwrap();
        deleted.push(format!("analysis/{id}"));
    }
    for id in &data_sets[..2] {
        qs.delete_data_set()
            .aws_account_id(acct)
            .data_set_id(id)
            .send()
            .await
            .unwrap();
        deleted.push(format!("dataset/{id}"));
    }
    qs.delete_data_source()
        .aws_account_id(acct)
        .data_source_id(&sources[0])
        .send()
        .await
        .unwrap();
    deleted.push(format!("datasource/{}", sources[0]));
    qs.delete_theme()
        .aws_account_id(acct)
        .theme_id(&themes[0])
        .send()
        .await
        .unwrap();
    deleted.push(format!("theme/{}", themes[0]));
    qs.delete_vpc_connection()
        .aws_account_id(acct)
        .vpc_connection_id(&vpcs[0])
        .send()
        .await
        .unwrap();
    deleted.push(format!("vpcConnection/{}", vpcs[0]));
    qs.delete_folder()
        .aws_account_id(acct)
        .folder_id("folder-sales")
        .send()
        .await
        .unwrap();
    deleted.push("folder/folder-sales".into());
    let mut modified: Vec<String> = Vec::new();
    for id in &dashboards[2..4] {
        qs.update_dashboard()
            .aws_account_id(acct)
            .dashboard_id(id)
            .name("Edited by mistake")
            .send()
            .await
            .unwrap();
        modified.push(format!("dashboard/{id}"));
    }
    qs.update_analysis()
        .aws_account_id(acct)
        .analysis_id(&analyses[2])
        .name("Edited")
        .theme_arn("arn:aws:quicksight::aws:theme/MIDNIGHT")
        .send()
        .await
        .unwrap();
    modified.push(format!("analysis/{}", analyses[2]));
    qs.update_data_set()
        .aws_account_id(acct)
        .data_set_id(&data_sets[2])
        .name("Edited")
        .import_mode(aws_sdk_quicksight::types::DataSetImportMode::DirectQuery)
        .send()
        .await
        .unwrap();
    modified.push(format!("dataset/{}", data_sets[2]));
    qs.update_data_source()
        .aws_account_id(acct)
        .data_source_id(&sources[1])
        .name("Edited")
        .send()
        .await
        .unwrap();
    modified.push(format!("datasource/{}", sources[1]));
    assert_eq!((deleted.len(), modified.len()), (10, 5));
    // A group and a membership go missing too.
    qs.delete_group()
        .aws_account_id(acct)
        .namespace("default")
        .group_name("readers")
        .send()
        .await
        .unwrap();
    let gone = analysts_before.iter().next().unwrap().clone();
    qs.delete_group_membership()
        .aws_account_id(acct)
        .namespace("default")
        .group_name("analysts")
        .member_name(&gone)
        .send()
        .await
        .unwrap();
    assert_ne!(snapshot(&e, &e.qs, acct, &all).await, before);

    // Plan: exactly the broken assets (and the members of the re-created folder), nothing else.
    let r = Restorer::new(&e, same_account(&e));
    let plan = r
        .plan(&RestoreRequest::default(), chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(plan.run_id, m.run_id);
    for a in &plan.assets {
        let key = a.key();
        let expected = if deleted.contains(&key) {
            Action::Create
        } else if modified.contains(&key)
            || a.reason
                .starts_with("member of re-created folder/folder-sales")
        {
            Action::Update
        } else {
            Action::Skip
        };
        assert_eq!(a.action, expected, "{key}: {}", a.reason);
    }
    assert_eq!(plan.count(Action::Create), 10);
    assert!(
        plan.count(Action::Update) >= 5 + 3,
        "the five modified assets and folder-sales' members"
    );
    let ranks: Vec<u8> = plan
        .assets
        .iter()
        .map(|a| qsbackup_core::restore::plan::rank(a.kind))
        .collect();
    assert!(
        ranks.windows(2).all(|w| w[0] <= w[1]),
        "listed in dependency order"
    );
    let creates: Vec<&str> = plan
        .identities
        .iter()
        .filter(|i| i.action == IdentityAction::Create)
        .map(|i| i.name.as_str())
        .collect();
    assert!(creates.contains(&"readers"), "{creates:?}");
    assert!(
        creates.contains(&format!("analysts/{gone}").as_str()),
        "{creates:?}"
    );
    assert_eq!(imports_started(&emu), 0, "planning changes nothing");

    let report = r.execute(&plan, chrono::Utc::now()).await.unwrap();
    assert_eq!(report.status, RunStatus::Completed, "{}", report.markdown());
    assert_eq!(report.counts.created, 10);
    assert_eq!(report.counts.mismatched, 0);
    assert!(
        report
            .assets
            .iter()
            .filter(|a| a.result == AssetResult::Restored)
            .all(|a| a
                .verification
                .as_ref()
                .is_some_and(|v| *v == qsbackup_core::restore::Verification::Match))
    );
    assert!(report.jobs.iter().all(|j| j.succeeded()));
    assert_eq!(
        imports_started(&emu),
        report.jobs.len() as u64,
        "one import per planned job, none doubled"
    );

    // Every asset (restored or untouched) equals its backed-up definition, field by field.
    let after = snapshot(&e, &e.qs, acct, &all).await;
    for key in before.keys() {
        assert_eq!(after[key], before[key], "{key} differs after the restore");
    }
    assert_eq!(
        memberships(&e.qs_identity, acct, "analysts").await,
        analysts_before
    );
    let readers = e
        .qs_identity
        .describe_group()
        .aws_account_id(acct)
        .namespace("default")
        .group_name("readers")
        .send()
        .await;
    assert!(readers.is_ok(), "the deleted group is back");

    // The report is stored beside the run; nothing there is overwritten by running the plan again.
    let restore_dir = dir
        .path()
        .join(e.scope.run(&m.run_id).base)
        .join("restores")
        .join(&plan.restore_id);
    for f in ["plan.json", "report.json", "report.md"] {
        assert!(restore_dir.join(f).exists(), "{f} missing");
    }
    let again = r.execute(&plan, chrono::Utc::now()).await.unwrap_err();
    assert!(
        matches!(again, RestoreError::Invalid(_)) && again.to_string().contains("already ran"),
        "{again}"
    );
    assert_eq!(imports_started(&emu), report.jobs.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disaster_recovery_into_an_empty_account_and_region_applies_overrides_and_remaps_principals()
 {
    let emu = emulator(quick()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut e = engine(&emu, &sample_policy(dir.path())).await;
    let bucket = new_bucket().await;
    use_bucket(&mut e, &bucket).await;
    let e = Arc::new(e);
    let out = e.run_backup(None, chrono::Utc::now()).await.unwrap();
    let body = s3_client()
        .await
        .get_object()
        .bucket(&bucket)
        .key(&out.manifest_key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap();
    let m: Manifest = serde_json::from_slice(&body.into_bytes()).unwrap();

    let overrides = qsbackup_core::overrides::parse(
        r#"
resourceIdPrefix: dr-
dataSources:
  - id: ds-redshift-main
    name: Redshift (DR)
    host: dr-cluster.abc123xyz.eu-west-1.redshift.amazonaws.com
    secretArn: arn:aws:secretsmanager:eu-west-1:210987654321:secret:qs/redshift-AbCdEf
vpcConnections:
  - id: vpc-main
    subnetIds: [subnet-0aaa, subnet-0bbb]
    securityGroupIds: [sg-0dr]
    roleArn: arn:aws:iam::210987654321:role/QuickSightVpc
principals:
  group/readers: group/analysts
tags:
  restored-from: sample
"#,
        "dr.yaml",
        false,
    )
    .unwrap();
    let dr = quicksight_client(&emu.endpoint(), DR_REGION).await;
    let clients = TargetClients {
        qs: dr.clone(),
        qs_identity: dr.clone(),
    };
    let mut r = Restorer::new(&e, clients);
    // Bundles travel through a staging bucket in the DR account, as bundles over 20 MB do; its
    // policy lets the importer (here: the emulator's unsigned GET) read them.
    r.inline_limit = 64 * 1024;
    let staging = new_bucket().await;
    let read_policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{staging}/*"}}]}}"#
    );
    let s3 = s3_client().await;
    s3.put_bucket_policy()
        .bucket(&staging)
        .policy(read_policy)
        .send()
        .await
        .unwrap();
    r.staging = Some(qsbackup_core::restore::Staging {
        client: s3.clone(),
        bucket: staging.clone(),
    });
    let request = RestoreRequest {
        account: Some(DR_ACCOUNT.into()),
        region: Some(DR_REGION.into()),
        overrides,
        users: UsersMode::Register,
        ..RestoreRequest::default()
    };
    let plan = r.plan(&request, chrono::Utc::now()).await.unwrap();
    assert_eq!(plan.target.identity_region, DR_REGION);
    assert_eq!(plan.count(Action::Skip), 0);
    assert_eq!(
        plan.count(Action::Create),
        m.backed_up(),
        "the empty account receives everything"
    );
    let report = r.execute(&plan, chrono::Utc::now()).await.unwrap();
    assert_eq!(report.status, RunStatus::Completed, "{}", report.markdown());
    assert_eq!(report.counts.verified, m.backed_up());
    let via_s3 = report
        .jobs
        .iter()
        .filter(|j| j.source.starts_with(&format!("s3://{staging}/")))
        .count();
    assert!(via_s3 >= 1, "{:?}", report.jobs);
    assert!(
        report
            .jobs
            .iter()
            .all(|j| j.source.starts_with("s3://") || j.source.starts_with("inline"))
    );
    let staged = s3.list_objects_v2().bucket(&staging).send().await.unwrap();
    assert_eq!(staged.contents().len(), via_s3);

    // Every asset is there under its prefixed id, tagged, with principals of the DR account.
    for a in m.assets.iter().filter(|a| a.bundle_key.is_some()) {
        let d = e
            .describe_json(&dr, DR_ACCOUNT, a.kind, &format!("dr-{}", a.id))
            .await
            .unwrap();
        let d = d.unwrap_or_else(|| panic!("{} {} missing in the DR account", a.kind, a.id));
        assert!(
            d["Arn"]
                .as_str()
                .unwrap()
                .starts_with(&format!("arn:aws:quicksight:{DR_REGION}:{DR_ACCOUNT}:"))
        );
        assert!(
            !d.to_string().contains(&format!(
                "arn:aws:quicksight:{SAMPLE_REGION}:{SAMPLE_ACCOUNT}:"
            )),
            "{d}"
        );
        let tags = dr
            .list_tags_for_resource()
            .resource_arn(d["Arn"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert!(
            tags.tags()
                .iter()
                .any(|t| t.key() == "restored-from" && t.value() == "sample"),
            "{} {}",
            a.kind,
            a.id
        );
    }
    let src = e
        .describe_json(
            &dr,
            DR_ACCOUNT,
            AssetType::Datasource,
            "dr-ds-redshift-main",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(src["Name"], "Redshift (DR)");
    assert_eq!(
        src["DataSourceParameters"]["RedshiftParameters"]["Host"],
        "dr-cluster.abc123xyz.eu-west-1.redshift.amazonaws.com"
    );
    assert_eq!(
        src["DataSourceParameters"]["RedshiftParameters"]["Database"], "dev",
        "unchanged fields are kept"
    );
    assert!(
        src["VpcConnectionProperties"]["VpcConnectionArn"]
            .as_str()
            .unwrap()
            .ends_with(&format!("{DR_ACCOUNT}:vpcConnection/dr-vpc-main"))
    );
    let vpc = e
        .describe_json(&dr, DR_ACCOUNT, AssetType::VpcConnection, "dr-vpc-main")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(vpc["SecurityGroupIds"], serde_json::json!(["sg-0dr"]));
    let mut principals = BTreeSet::new();
    for a in m
        .assets
        .iter()
        .filter(|a| a.kind == AssetType::Dashboard && a.bundle_key.is_some())
    {
        let p = dr
            .describe_dashboard_permissions()
            .aws_account_id(DR_ACCOUNT)
            .dashboard_id(format!("dr-{}", a.id))
            .send()
            .await
            .unwrap();
        principals.extend(p.permissions().iter().map(|p| p.principal().to_string()));
    }
    let dr_groups = format!("arn:aws:quicksight:{DR_REGION}:{DR_ACCOUNT}:group/default/");
    assert!(
        principals.iter().all(|p| p.starts_with(&dr_groups)),
        "{principals:?}"
    );
    assert!(
        principals.contains(&format!("{dr_groups}admins"))
            && !principals.contains(&format!("{dr_groups}readers")),
        "{principals:?}"
    );

    // Groups came back; QuickSight users were registered (confirmed), IAM users were not.
    let groups = dr
        .list_groups()
        .aws_account_id(DR_ACCOUNT)
        .namespace("default")
        .send()
        .await
        .unwrap();
    let groups: BTreeSet<&str> = groups
        .group_list()
        .iter()
        .filter_map(|g| g.group_name())
        .collect();
    assert!(
        groups.contains("admins") && groups.contains("analysts") && groups.contains("readers"),
        "{groups:?}"
    );
    assert!(
        memberships(&dr, DR_ACCOUNT, "admins")
            .await
            .contains("admin@example.com")
    );
    let users = dr
        .list_users()
        .aws_account_id(DR_ACCOUNT)
        .namespace("default")
        .send()
        .await
        .unwrap();
    assert!(
        users
            .user_list()
            .iter()
            .all(|u| u.identity_type().map(|t| t.as_str()) == Some("QUICKSIGHT"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_of_between_two_runs_restores_the_older_version() {
    let emu = emulator(quick()).await;
    let dir = tempfile::tempdir().unwrap();
    let e = Arc::new(engine(&emu, &sample_policy(dir.path())).await);
    let qs = quicksight_client(&emu.endpoint(), SAMPLE_REGION).await;
    let now = chrono::Utc::now();
    let (t1, t2) = (
        now - chrono::Duration::hours(2),
        now - chrono::Duration::hours(1),
    );
    let id = "dashboard-sales-overview";
    let original = e
        .describe_json(&qs, SAMPLE_ACCOUNT, AssetType::Dashboard, id)
        .await
        .unwrap()
        .unwrap();
    let run1 = e.run_backup(None, t1).await.unwrap();
    qs.update_dashboard()
        .aws_account_id(SAMPLE_ACCOUNT)
        .dashboard_id(id)
        .name("Sales Overview v2")
        .send()
        .await
        .unwrap();
    let run2 = e.run_backup(None, t2).await.unwrap();
    qs.update_dashboard()
        .aws_account_id(SAMPLE_ACCOUNT)
        .dashboard_id(id)
        .name("Sales Overview v3")
        .send()
        .await
        .unwrap();
    assert!(run1.run_id < run2.run_id);

    let r = Restorer::new(&e, same_account(&e));
    let only = Selection {
        ids: vec![id.into()],
        follow_dependencies: false,
        ..Selection::default()
    };
    let latest = r
        .plan(
            &RestoreRequest {
                selection: only.clone(),
                no_groups: true,
                ..Default::default()
            },
            now,
        )
        .await
        .unwrap();
    assert_eq!(latest.run_id, run2.run_id, "latest is the newer run");
    let as_of = t1 + chrono::Duration::minutes(30);
    let request = RestoreRequest {
        from: Some(RunRef::AsOf(as_of)),
        selection: only,
        no_groups: true,
        ..Default::default()
    };
    let plan = r.plan(&request, now).await.unwrap();
    assert_eq!(
        plan.run_id, run1.run_id,
        "as-of picks the last run started at or before it"
    );
    assert_eq!(plan.count(Action::Update), 1);
    let report = r.execute(&plan, chrono::Utc::now()).await.unwrap();
    assert_eq!(report.status, RunStatus::Completed, "{}", report.markdown());
    let restored = e
        .describe_json(&qs, SAMPLE_ACCOUNT, AssetType::Dashboard, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(restored["Name"], "Sales Overview");
    assert_eq!(untimed(restored), untimed(original));

    let before_any = RestoreRequest {
        from: Some(RunRef::AsOf(t1 - chrono::Duration::minutes(1))),
        ..Default::default()
    };
    let err = r.plan(&before_any, now).await.unwrap_err();
    assert!(
        matches!(err, RestoreError::Invalid(_)) && err.to_string().contains("no usable backup run"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_asset_is_isolated_and_the_rest_of_its_job_restored() {
    let emu = emulator(quick()).await;
    let dir = tempfile::tempdir().unwrap();
    let (e, m) = backed_up_engine(&emu, dir.path()).await;
    let qs = quicksight_client(&emu.endpoint(), SAMPLE_REGION).await;
    // The sales dashboard needs dataset-sales; another dashboard that does not is deleted too.
    let mut other = None;
    for a in m.assets.iter().filter(|a| {
        a.kind == AssetType::Dashboard
            && a.bundle_key.is_some()
            && a.id != "dashboard-sales-overview"
    }) {
        let d = e
            .describe_json(&qs, SAMPLE_ACCOUNT, AssetType::Dashboard, &a.id)
            .await
            .unwrap()
            .unwrap();
        if !d.to_string().contains("dataset/dataset-sales") {
            other = Some(a.id.clone());
            break;
        }
    }
    let other = other.unwrap();
    for id in ["dashboard-sales-overview", other.as_str()] {
        qs.delete_dashboard()
            .aws_account_id(SAMPLE_ACCOUNT)
            .dashboard_id(id)
            .send()
            .await
            .unwrap();
    }
    qs.delete_data_set()
        .aws_account_id(SAMPLE_ACCOUNT)
        .data_set_id("dataset-sales")
        .send()
        .await
        .unwrap();

    // Without dependencies the sales dashboard cannot be imported; the other one still is.
    let r = Restorer::new(&e, same_account(&e));
    let request = RestoreRequest {
        selection: Selection {
            ids: vec!["dashboard-sales-overview".into(), other.clone()],
            follow_dependencies: false,
            ..Selection::default()
        },
        no_groups: true,
        ..Default::default()
    };
    let plan = r.plan(&request, chrono::Utc::now()).await.unwrap();
    assert_eq!(plan.jobs.len(), 1);
    let report = r.execute(&plan, chrono::Utc::now()).await.unwrap();
    assert_eq!(report.status, RunStatus::PartiallyFailed);
    let failed = report
        .assets
        .iter()
        .find(|a| a.id == "dashboard-sales-overview")
        .unwrap();
    assert_eq!(failed.result, AssetResult::Failed);
    assert!(
        failed.message.contains("dataset-sales")
            && failed
                .message
                .contains("neither in the bundle nor in the account"),
        "{}",
        failed.message
    );
    let ok = report.assets.iter().find(|a| a.id == other).unwrap();
    assert_eq!(ok.result, AssetResult::Restored, "{}", ok.message);
    assert_eq!(report.jobs.len(), 2, "the failed job, then its remainder");
    assert!(
        e.describe_json(&qs, SAMPLE_ACCOUNT, AssetType::Dashboard, &other)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_or_missing_bundles_and_altered_plans_are_refused_before_any_change() {
    let emu = emulator(quick()).await;
    let dir = tempfile::tempdir().unwrap();
    let (e, _) = backed_up_engine(&emu, dir.path()).await;
    let qs = quicksight_client(&emu.endpoint(), SAMPLE_REGION).await;
    qs.delete_dashboard()
        .aws_account_id(SAMPLE_ACCOUNT)
        .dashboard_id("dashboard-sales-overview")
        .send()
        .await
        .unwrap();
    qs.delete_group()
        .aws_account_id(SAMPLE_ACCOUNT)
        .namespace("default")
        .group_name("readers")
        .send()
        .await
        .unwrap();
    emu.reset_counters();
    let writes = |emu: &emulator::Emulator| {
        let c = emu.counters();
        [
            "StartAssetBundleImportJob",
            "CreateGroup",
            "CreateGroupMembership",
            "RegisterUser",
        ]
        .iter()
        .map(|op| c.op(op).calls)
        .sum::<u64>()
    };

    // An approved plan whose digest no longer matches its content.
    let r = Restorer::new(&e, same_account(&e));
    let plan = r
        .plan(&RestoreRequest::default(), chrono::Utc::now())
        .await
        .unwrap();
    let mut altered = plan.clone();
    altered.target.account = "999999999999".into();
    let err = r.execute(&altered, chrono::Utc::now()).await.unwrap_err();
    assert!(
        matches!(err, RestoreError::Invalid(_)) && err.to_string().contains("digest"),
        "{err}"
    );
    let mut altered = plan.clone();
    altered
        .assets
        .iter_mut()
        .for_each(|a| a.action = Action::Create);
    assert!(
        r.execute(&altered, chrono::Utc::now())
            .await
            .unwrap_err()
            .to_string()
            .contains("digest")
    );

    // A bundle altered after the plan was approved (a fresh session reads it again).
    let read = plan.bundles[0].key.clone();
    let bundle = dir.path().join(&read);
    let original = std::fs::read(&bundle).unwrap();
    let mut bytes = original.clone();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&bundle, &bytes).unwrap();
    let fresh = Restorer::new(&e, same_account(&e));
    let err = fresh.execute(&plan, chrono::Utc::now()).await.unwrap_err();
    assert!(matches!(err, RestoreError::Integrity(_)), "{err}");
    assert!(
        err.to_string().contains(&read) && err.to_string().contains("does not match the manifest"),
        "{err}"
    );
    // … and refused at planning time too.
    let err = fresh
        .plan(&RestoreRequest::default(), chrono::Utc::now())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("does not match the manifest"),
        "{err}"
    );

    // A missing bundle.
    std::fs::remove_file(&bundle).unwrap();
    let err = Restorer::new(&e, same_account(&e))
        .plan(&RestoreRequest::default(), chrono::Utc::now())
        .await
        .unwrap_err();
    assert!(
        matches!(err, RestoreError::Integrity(_)) && err.to_string().contains("is missing"),
        "{err}"
    );
    assert!(err.before_any_change());

    // A plaintext password in the overrides file.
    let err = qsbackup_core::overrides::parse(
        "dataSources:\n  - id: ds-redshift-main\n    host: h\n    password: hunter2\n",
        "dr.yaml",
        false,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("dataSources[0].password")
            && err.to_string().contains("Secrets Manager"),
        "{err}"
    );

    assert_eq!(
        writes(&emu),
        0,
        "no import job started, no identity changed"
    );
    std::fs::write(&bundle, &original).unwrap();
    let report = Restorer::new(&e, same_account(&e))
        .execute(&plan, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(
        report.status,
        RunStatus::Completed,
        "the untouched plan still runs once the bundle is back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_plans_list_dependencies_of_a_selection_in_order() {
    let emu = emulator(quick()).await;
    let dir = tempfile::tempdir().unwrap();
    let (e, _) = backed_up_engine(&emu, dir.path()).await;
    let qs = quicksight_client(&emu.endpoint(), SAMPLE_REGION).await;
    qs.delete_dashboard()
        .aws_account_id(SAMPLE_ACCOUNT)
        .dashboard_id("dashboard-sales-overview")
        .send()
        .await
        .unwrap();
    qs.delete_data_set()
        .aws_account_id(SAMPLE_ACCOUNT)
        .data_set_id("dataset-sales")
        .send()
        .await
        .unwrap();
    emu.reset_counters();
    let r = Restorer::new(&e, same_account(&e));
    let request = RestoreRequest {
        selection: Selection {
            types: vec![AssetType::Dashboard],
            names: vec!["sales overview".into()],
            ..Selection::default()
        },
        ..Default::default()
    };
    let plan = r.plan(&request, chrono::Utc::now()).await.unwrap();
    let todo: Vec<(String, Action)> = plan
        .assets
        .iter()
        .filter(|a| a.action != Action::Skip)
        .map(|a| (a.key(), a.action))
        .collect();
    assert_eq!(
        todo,
        [
            ("dataset/dataset-sales".to_string(), Action::Create),
            (
                "dashboard/dashboard-sales-overview".to_string(),
                Action::Create
            )
        ]
    );
    assert!(
        plan.assets
            .iter()
            .any(|a| a.key() == "datasource/ds-redshift-main" && a.action == Action::Skip),
        "unchanged dependencies are listed as skipped"
    );
    assert_eq!(plan.jobs.len(), 1);
    assert_eq!(
        plan.jobs[0].assets,
        [
            "dataset/dataset-sales",
            "dashboard/dashboard-sales-overview"
        ]
    );
    assert_eq!(plan.digest, plan.compute_digest());
    let json = serde_json::to_string(&plan).unwrap();
    let back: qsbackup_core::RestorePlan = serde_json::from_str(&json).unwrap();
    assert_eq!(back, plan, "a plan file round-trips exactly");
    let writes: u64 = emu
        .counters()
        .operations
        .iter()
        .filter(|(op, _)| !op.starts_with("List") && !op.starts_with("Describe"))
        .map(|(_, c)| c.calls)
        .sum();
    assert_eq!(writes, 0, "planning only reads");
}

#[test]
fn committed_overrides_schema_matches_the_generated_one() {
    let file = workspace_root().join("schema/overrides.schema.json");
    let generated = qsbackup_core::overrides::schema_string();
    if std::env::var_os("UPDATE_SCHEMA").is_some_and(|v| v == "1") {
        std::fs::write(&file, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        committed == generated,
        "schema/overrides.schema.json is stale; {}",
        qsbackup_core::overrides::REGENERATE_HINT
    );
}
