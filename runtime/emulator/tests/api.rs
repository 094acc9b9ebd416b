//! Every non-job operation driven through the unmodified `aws-sdk-quicksight` client:
//! listing with paginators, describes, errors, pagination edge cases, identities, updates,
//! deletes, account/Region isolation and the admin API.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use aws_sdk_quicksight::error::ProvideErrorMetadata;
use aws_sdk_quicksight::operation::describe_data_set::DescribeDataSetError;
use aws_sdk_quicksight::types::{
    DataSetImportMode, DataSourceType, IdentityType, PhysicalTable, ThemeType, UserRole,
};
use common::{ACCOUNT, EMPTY_ACCOUNT, arn, client, client_for, emulator};
use qsbackup_emulator::{Behaviour, Seed};

#[tokio::test]
async fn paginators_list_every_seeded_asset_of_the_sample() {
    let e = emulator().await;
    let c = client(&e).await;
    let dashboards = c
        .list_dashboards()
        .aws_account_id(ACCOUNT)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("dashboards");
    let analyses = c
        .list_analyses()
        .aws_account_id(ACCOUNT)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("analyses");
    let data_sets = c
        .list_data_sets()
        .aws_account_id(ACCOUNT)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("data sets");
    let sources = c
        .list_data_sources()
        .aws_account_id(ACCOUNT)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("sources");
    let themes = c
        .list_themes()
        .aws_account_id(ACCOUNT)
        .r#type(ThemeType::Custom)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("themes");
    let folders = c
        .list_folders()
        .aws_account_id(ACCOUNT)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("folders");
    // ListVPCConnections has a page paginator only.
    let vpc_pages = c
        .list_vpc_connections()
        .aws_account_id(ACCOUNT)
        .max_results(2)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("vpcs");
    let vpcs: Vec<_> = vpc_pages
        .iter()
        .flat_map(|p| p.vpc_connection_summaries().to_vec())
        .collect();
    let counts = [
        dashboards.len(),
        analyses.len(),
        data_sets.len(),
        sources.len(),
        themes.len(),
        folders.len(),
        vpcs.len(),
    ];
    assert_eq!(counts, [89, 58, 77, 34, 9, 30, 3]);
    assert_eq!(
        counts.iter().sum::<usize>(),
        qsbackup_emulator::SAMPLE_ASSETS
    );
    // Timestamps are epoch numbers the strict Rust deserializer accepts.
    assert!(
        dashboards
            .iter()
            .all(|d| d.created_time().is_some() && d.last_published_time().is_some())
    );
    assert!(
        data_sets
            .iter()
            .any(|d| d.import_mode() == Some(&DataSetImportMode::Spice))
    );
    assert!(
        data_sets
            .iter()
            .any(|d| d.import_mode() == Some(&DataSetImportMode::DirectQuery))
    );
    let types: std::collections::BTreeSet<_> =
        sources.iter().filter_map(|s| s.r#type().cloned()).collect();
    for t in [
        DataSourceType::Jira,
        DataSourceType::Salesforce,
        DataSourceType::AdobeAnalytics,
        DataSourceType::Redshift,
    ] {
        assert!(types.contains(&t), "{t:?} missing");
    }
    let mut ids: Vec<_> = dashboards.iter().filter_map(|d| d.dashboard_id()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 89, "pagination never repeats an item");
}

#[tokio::test]
async fn pages_respect_max_results_and_the_last_page_has_no_token() {
    let e = emulator().await;
    let c = client(&e).await;
    let mut token: Option<String> = None;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = c
            .list_folders()
            .aws_account_id(ACCOUNT)
            .max_results(7)
            .set_next_token(token.clone())
            .send()
            .await
            .expect("page");
        assert!(page.folder_summary_list().len() <= 7);
        seen.extend(
            page.folder_summary_list()
                .iter()
                .filter_map(|f| f.folder_id().map(str::to_owned)),
        );
        pages += 1;
        match page.next_token() {
            Some(t) => {
                assert_ne!(Some(t), token.as_deref(), "a token never comes back twice");
                token = Some(t.to_owned());
            }
            None => break,
        }
    }
    assert_eq!((seen.len(), pages), (30, 5));
    let exact = c
        .list_vpc_connections()
        .aws_account_id(ACCOUNT)
        .max_results(3)
        .send()
        .await
        .expect("exact page");
    assert_eq!(exact.vpc_connection_summaries().len(), 3);
    assert!(
        exact.next_token().is_none(),
        "an exactly full last page has no NextToken"
    );
}

#[tokio::test]
async fn bad_pagination_input_gets_the_service_errors() {
    let e = emulator().await;
    let c = client(&e).await;
    for bad in [0, 101] {
        let err = c
            .list_data_sets()
            .aws_account_id(ACCOUNT)
            .max_results(bad)
            .send()
            .await
            .expect_err("out of range");
        assert!(
            err.into_service_error()
                .is_invalid_parameter_value_exception(),
            "max-results {bad}"
        );
    }
    let err = c
        .list_data_sets()
        .aws_account_id(ACCOUNT)
        .next_token("not-a-token")
        .send()
        .await
        .expect_err("bad token");
    assert!(err.into_service_error().is_invalid_next_token_exception());
    // A token of another operation is not accepted either.
    let t = c
        .list_analyses()
        .aws_account_id(ACCOUNT)
        .max_results(1)
        .send()
        .await
        .expect("page")
        .next_token
        .expect("token");
    let err = c
        .list_dashboards()
        .aws_account_id(ACCOUNT)
        .next_token(t)
        .send()
        .await
        .expect_err("foreign token");
    assert_eq!(err.code(), Some("InvalidNextTokenException"));
}

#[tokio::test]
async fn describes_return_the_seeded_shapes() {
    let e = emulator().await;
    let c = client(&e).await;
    let d = c
        .describe_dashboard()
        .aws_account_id(ACCOUNT)
        .dashboard_id("dashboard-sales-overview")
        .send()
        .await
        .expect("dashboard");
    let d = d.dashboard.expect("dashboard body");
    let v = d.version.as_ref().expect("version");
    assert_eq!(d.name(), Some("Sales Overview"));
    assert_eq!(
        v.source_entity_arn(),
        Some(arn("analysis", "analysis-sales-overview").as_str())
    );
    assert_eq!(
        v.data_set_arns(),
        [
            arn("dataset", "dataset-sales"),
            arn("dataset", "dataset-customers")
        ]
    );
    assert_eq!(
        v.theme_arn(),
        Some(arn("theme", "theme-corporate").as_str())
    );
    assert!(v.arn().is_some_and(|a| a.contains("/version/")));
    let versioned = c
        .describe_dashboard()
        .aws_account_id(ACCOUNT)
        .dashboard_id("dashboard-sales-overview")
        .version_number(v.version_number().unwrap_or(1))
        .send()
        .await;
    assert!(
        versioned.is_ok(),
        "the published version can be described by number"
    );

    let a = c
        .describe_analysis()
        .aws_account_id(ACCOUNT)
        .analysis_id("analysis-sales-overview")
        .send()
        .await
        .expect("analysis");
    assert_eq!(a.analysis().map(|a| a.data_set_arns().len()), Some(2));

    let ds = c
        .describe_data_set()
        .aws_account_id(ACCOUNT)
        .data_set_id("dataset-sales")
        .send()
        .await
        .expect("data set");
    let ds = ds.data_set.expect("data set body");
    assert_eq!(ds.import_mode(), Some(&DataSetImportMode::Spice));
    let table = ds
        .physical_table_map
        .as_ref()
        .and_then(|m| m.values().next())
        .expect("physical table");
    let source = match table {
        PhysicalTable::RelationalTable(t) => t.data_source_arn().to_owned(),
        PhysicalTable::CustomSql(t) => t.data_source_arn().to_owned(),
        other => panic!("unexpected table {other:?}"),
    };
    assert_eq!(source, arn("datasource", "ds-redshift-main"));

    let src = c
        .describe_data_source()
        .aws_account_id(ACCOUNT)
        .data_source_id("ds-redshift-main")
        .send()
        .await
        .expect("source");
    let src = src.data_source.expect("source body");
    assert_eq!(src.r#type(), Some(&DataSourceType::Redshift));
    assert_eq!(
        src.vpc_connection_properties()
            .map(|v| v.vpc_connection_arn()),
        Some(arn("vpcConnection", "vpc-main").as_str())
    );

    let t = c
        .describe_theme()
        .aws_account_id(ACCOUNT)
        .theme_id("theme-corporate")
        .send()
        .await
        .expect("theme");
    assert_eq!(t.theme().and_then(|t| t.r#type()), Some(&ThemeType::Custom));
    let builtin = c
        .describe_theme()
        .aws_account_id(ACCOUNT)
        .theme_id("MIDNIGHT")
        .send()
        .await
        .expect("built-in theme");
    assert_eq!(
        builtin.theme().and_then(|t| t.r#type()),
        Some(&ThemeType::Quicksight)
    );
    let all = c
        .list_themes()
        .aws_account_id(ACCOUNT)
        .send()
        .await
        .expect("all themes");
    assert_eq!(
        all.theme_summary_list().len(),
        13,
        "ALL lists the 4 built-in themes too"
    );

    let f = c
        .describe_folder()
        .aws_account_id(ACCOUNT)
        .folder_id("folder-sales-archive")
        .send()
        .await
        .expect("folder");
    assert_eq!(
        f.folder().map(|f| f.folder_path().to_vec()),
        Some(vec![
            arn("folder", "folder-finance"),
            arn("folder", "folder-sales")
        ])
    );
}

#[tokio::test]
async fn permissions_members_and_tags_are_readable() {
    let e = emulator().await;
    let c = client(&e).await;
    let p = c
        .describe_dashboard_permissions()
        .aws_account_id(ACCOUNT)
        .dashboard_id("dashboard-sales-overview")
        .send()
        .await
        .expect("dashboard permissions");
    assert_eq!(
        p.dashboard_arn(),
        Some(arn("dashboard", "dashboard-sales-overview").as_str())
    );
    assert!(
        p.permissions()
            .iter()
            .any(|p| p.principal().ends_with(":group/default/admins"))
    );
    let folder_perms = c
        .describe_folder_permissions()
        .aws_account_id(ACCOUNT)
        .folder_id("folder-sales")
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("folder permissions");
    assert!(!folder_perms.is_empty());
    let members = c
        .list_folder_members()
        .aws_account_id(ACCOUNT)
        .folder_id("folder-sales")
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("members");
    let ids: Vec<_> = members.iter().filter_map(|m| m.member_id()).collect();
    assert!(
        ids.contains(&"dashboard-sales-overview") && ids.contains(&"dataset-sales"),
        "{ids:?}"
    );
    let tags = c
        .list_tags_for_resource()
        .resource_arn(arn("dashboard", "dashboard-sales-overview"))
        .send()
        .await
        .expect("tags");
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == "criticality" && t.value() == "high")
    );
    let err = c
        .list_tags_for_resource()
        .resource_arn(arn("dashboard", "nope"))
        .send()
        .await
        .expect_err("unknown arn");
    assert!(err.into_service_error().is_resource_not_found_exception());
}

#[tokio::test]
async fn unknown_ids_and_bad_accounts_get_modeled_errors() {
    let e = emulator().await;
    let c = client(&e).await;
    let err = c
        .describe_dashboard()
        .aws_account_id(ACCOUNT)
        .dashboard_id("missing")
        .send()
        .await
        .expect_err("missing");
    assert!(
        err.raw_response()
            .is_some_and(|r| r.status().as_u16() == 404)
    );
    let service = err.into_service_error();
    assert!(service.is_resource_not_found_exception());
    assert!(service.message().is_some_and(|m| m.contains("missing")));
    let err = c
        .describe_data_set()
        .aws_account_id(ACCOUNT)
        .data_set_id("missing")
        .send()
        .await
        .expect_err("missing");
    match err.into_service_error() {
        DescribeDataSetError::ResourceNotFoundException(e) => {
            assert_eq!(e.resource_type().map(|t| t.as_str()), Some("DATA_SET"));
            assert!(e.request_id().is_some());
        }
        other => panic!("unexpected {other:?}"),
    }
    let err = c
        .describe_data_set()
        .aws_account_id(ACCOUNT)
        .data_set_id("dataset-uploaded-file")
        .send()
        .await
        .expect_err("file");
    assert!(
        err.into_service_error()
            .is_invalid_parameter_value_exception(),
        "uploaded-file datasets can't be described"
    );
    let err = c
        .list_dashboards()
        .aws_account_id("12345")
        .send()
        .await
        .expect_err("bad account");
    assert_eq!(err.code(), Some("InvalidParameterValueException"));
    let err = c
        .list_users()
        .aws_account_id(ACCOUNT)
        .namespace("nope")
        .send()
        .await
        .expect_err("namespace");
    assert!(err.into_service_error().is_resource_not_found_exception());
    let err = c
        .describe_dashboard()
        .aws_account_id(ACCOUNT)
        .dashboard_id("bad id!")
        .send()
        .await
        .expect_err("pattern");
    assert!(
        err.into_service_error()
            .is_invalid_parameter_value_exception()
    );
}

#[tokio::test]
async fn identities_namespaces_settings_and_customization_are_listed() {
    let e = emulator().await;
    let c = client(&e).await;
    let ns = c
        .list_namespaces()
        .aws_account_id(ACCOUNT)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await;
    let names: Vec<_> = ns
        .expect("namespaces")
        .iter()
        .filter_map(|n| n.name().map(str::to_owned))
        .collect();
    assert_eq!(names, ["default", "tenant-a", "tenant-b"]);
    let users = c
        .list_users()
        .aws_account_id(ACCOUNT)
        .namespace("default")
        .max_results(5)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("users");
    assert!(users.len() > 10);
    let special = "role/Admin Session@example.com";
    assert!(users.iter().any(|u| u.user_name() == Some(special)));
    let u = c
        .describe_user()
        .aws_account_id(ACCOUNT)
        .namespace("default")
        .user_name(special)
        .send()
        .await
        .expect("user with /");
    assert_eq!(
        u.user().and_then(|u| u.identity_type()),
        Some(&IdentityType::Iam)
    );
    let groups = c
        .list_groups()
        .aws_account_id(ACCOUNT)
        .namespace("default")
        .send()
        .await
        .expect("groups")
        .group_list
        .unwrap_or_default();
    assert!(groups.iter().any(|g| g.group_name() == Some("empty-group")));
    let empty = c
        .list_group_memberships()
        .aws_account_id(ACCOUNT)
        .namespace("default")
        .group_name("empty-group")
        .send()
        .await
        .expect("empty group");
    assert!(empty.group_member_list().is_empty());
    let admins = c
        .list_group_memberships()
        .aws_account_id(ACCOUNT)
        .namespace("default")
        .group_name("admins")
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("admins");
    assert!(admins.iter().any(|m| m.member_name() == Some(special)));
    let g = c
        .describe_group()
        .aws_account_id(ACCOUNT)
        .namespace("tenant-a")
        .group_name("tenant-a-admins")
        .send()
        .await
        .expect("group");
    assert!(
        g.group()
            .and_then(|g| g.arn())
            .is_some_and(|a| a.ends_with("group/tenant-a/tenant-a-admins"))
    );
    let s = c
        .describe_account_settings()
        .aws_account_id(ACCOUNT)
        .send()
        .await
        .expect("settings");
    assert_eq!(
        s.account_settings().and_then(|s| s.default_namespace()),
        Some("default")
    );
    let cust = c
        .describe_account_customization()
        .aws_account_id(ACCOUNT)
        .send()
        .await
        .expect("customization");
    assert_eq!(
        cust.account_customization().and_then(|a| a.default_theme()),
        Some(arn("theme", "theme-corporate").as_str())
    );
    let err = c
        .describe_account_customization()
        .aws_account_id(EMPTY_ACCOUNT)
        .send()
        .await
        .expect_err("none");
    assert!(err.into_service_error().is_resource_not_found_exception());
}

#[tokio::test]
async fn users_groups_and_memberships_can_be_created_and_deleted() {
    let e = emulator().await;
    let c = client(&e).await;
    let name = "QuickSightAuthor/new.person@example.com";
    let u = c
        .register_user()
        .aws_account_id(ACCOUNT)
        .namespace("default")
        .identity_type(IdentityType::Iam)
        .iam_arn(format!("arn:aws:iam::{ACCOUNT}:role/QuickSightAuthor"))
        .session_name("new.person@example.com")
        .email("new.person@example.com")
        .user_role(UserRole::Author)
        .send()
        .await
        .expect("register");
    assert_eq!(u.user().and_then(|u| u.user_name()), Some(name));
    let dup = c
        .register_user()
        .aws_account_id(ACCOUNT)
        .namespace("default")
        .identity_type(IdentityType::Quicksight)
        .user_name(name)
        .email("x@example.com")
        .user_role(UserRole::Reader)
        .send()
        .await
        .expect_err("duplicate");
    assert!(dup.into_service_error().is_resource_exists_exception());
    c.create_group()
        .aws_account_id(ACCOUNT)
        .namespace("default")
        .group_name("new-group")
        .send()
        .await
        .expect("group");
    c.create_group_membership()
        .aws_account_id(ACCOUNT)
        .namespace("default")
        .group_name("new-group")
        .member_name(name)
        .send()
        .await
        .expect("membership");
    let members = c
        .list_group_memberships()
        .aws_account_id(ACCOUNT)
        .namespace("default")
        .group_name("new-group")
        .send()
        .await
        .expect("members");
    assert_eq!(
        members
            .group_member_list()
            .iter()
            .filter_map(|m| m.member_name())
            .collect::<Vec<_>>(),
        [name]
    );
    let missing = c
        .create_group_membership()
        .aws_account_id(ACCOUNT)
        .namespace("default")
        .group_name("new-group")
        .member_name("nobody")
        .send()
        .await
        .expect_err("unknown user");
    assert!(
        missing
            .into_service_error()
            .is_resource_not_found_exception()
    );
    c.delete_group_membership()
        .aws_account_id(ACCOUNT)
        .namespace("default")
        .group_name("new-group")
        .member_name(name)
        .send()
        .await
        .expect("delete membership");
    c.delete_group()
        .aws_account_id(ACCOUNT)
        .namespace("default")
        .group_name("new-group")
        .send()
        .await
        .expect("delete group");
    c.delete_user()
        .aws_account_id(ACCOUNT)
        .namespace("default")
        .user_name(name)
        .send()
        .await
        .expect("delete user");
    let gone = c
        .describe_user()
        .aws_account_id(ACCOUNT)
        .namespace("default")
        .user_name(name)
        .send()
        .await
        .expect_err("gone");
    assert!(gone.into_service_error().is_resource_not_found_exception());
    let gone = c
        .describe_group()
        .aws_account_id(ACCOUNT)
        .namespace("default")
        .group_name("new-group")
        .send()
        .await;
    assert!(
        gone.expect_err("gone")
            .into_service_error()
            .is_resource_not_found_exception()
    );
}

#[tokio::test]
async fn updates_rename_and_bump_last_updated_time() {
    let e = emulator().await;
    let c = client(&e).await;
    let before = c
        .describe_dashboard()
        .aws_account_id(ACCOUNT)
        .dashboard_id("dashboard-00001")
        .send()
        .await
        .expect("before");
    let before_time = before
        .dashboard()
        .and_then(|d| d.last_updated_time())
        .cloned()
        .expect("time");
    c.update_dashboard()
        .aws_account_id(ACCOUNT)
        .dashboard_id("dashboard-00001")
        .name("Renamed")
        .send()
        .await
        .expect("update");
    let after = c
        .describe_dashboard()
        .aws_account_id(ACCOUNT)
        .dashboard_id("dashboard-00001")
        .send()
        .await
        .expect("after");
    let d = after.dashboard().expect("dashboard");
    assert_eq!(d.name(), Some("Renamed"));
    assert!(
        d.last_updated_time()
            .is_some_and(|t| t.secs() > before_time.secs())
    );
    c.update_analysis()
        .aws_account_id(ACCOUNT)
        .analysis_id("analysis-00001")
        .name("A2")
        .send()
        .await
        .expect("analysis");
    c.update_data_set()
        .aws_account_id(ACCOUNT)
        .data_set_id("dataset-00001")
        .name("D2")
        .import_mode(DataSetImportMode::DirectQuery)
        .send()
        .await
        .expect("data set");
    c.update_data_source()
        .aws_account_id(ACCOUNT)
        .data_source_id("ds-00001")
        .name("S2")
        .send()
        .await
        .expect("source");
    let a = c
        .describe_analysis()
        .aws_account_id(ACCOUNT)
        .analysis_id("analysis-00001")
        .send()
        .await
        .expect("a");
    let ds = c
        .describe_data_set()
        .aws_account_id(ACCOUNT)
        .data_set_id("dataset-00001")
        .send()
        .await
        .expect("ds");
    let s = c
        .describe_data_source()
        .aws_account_id(ACCOUNT)
        .data_source_id("ds-00001")
        .send()
        .await
        .expect("s");
    assert_eq!(a.analysis().and_then(|a| a.name()), Some("A2"));
    assert_eq!(ds.data_set().and_then(|d| d.name()), Some("D2"));
    assert_eq!(
        ds.data_set().and_then(|d| d.import_mode()),
        Some(&DataSetImportMode::DirectQuery)
    );
    assert_eq!(s.data_source().and_then(|d| d.name()), Some("S2"));
    let err = c
        .update_dashboard()
        .aws_account_id(ACCOUNT)
        .dashboard_id("missing")
        .name("x")
        .send()
        .await
        .expect_err("missing");
    assert!(err.into_service_error().is_resource_not_found_exception());
}

#[tokio::test]
async fn deletes_remove_assets_and_a_second_delete_is_not_found() {
    let e = emulator().await;
    let c = client(&e).await;
    c.delete_dashboard()
        .aws_account_id(ACCOUNT)
        .dashboard_id("dashboard-00002")
        .send()
        .await
        .expect("dashboard");
    c.delete_analysis()
        .aws_account_id(ACCOUNT)
        .analysis_id("analysis-00002")
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("analysis");
    c.delete_data_set()
        .aws_account_id(ACCOUNT)
        .data_set_id("dataset-00002")
        .send()
        .await
        .expect("data set");
    c.delete_data_source()
        .aws_account_id(ACCOUNT)
        .data_source_id("ds-00002")
        .send()
        .await
        .expect("source");
    c.delete_theme()
        .aws_account_id(ACCOUNT)
        .theme_id("theme-00002")
        .send()
        .await
        .expect("theme");
    c.delete_folder()
        .aws_account_id(ACCOUNT)
        .folder_id("folder-sales-archive")
        .send()
        .await
        .expect("folder");
    let v = c
        .delete_vpc_connection()
        .aws_account_id(ACCOUNT)
        .vpc_connection_id("vpc-00001")
        .send()
        .await
        .expect("vpc");
    assert_eq!(v.vpc_connection_id(), Some("vpc-00001"));
    let err = c
        .describe_dashboard()
        .aws_account_id(ACCOUNT)
        .dashboard_id("dashboard-00002")
        .send()
        .await
        .expect_err("gone");
    assert!(err.into_service_error().is_resource_not_found_exception());
    let err = c
        .delete_data_set()
        .aws_account_id(ACCOUNT)
        .data_set_id("dataset-00002")
        .send()
        .await
        .expect_err("twice");
    assert!(err.into_service_error().is_resource_not_found_exception());
    let err = c
        .describe_folder()
        .aws_account_id(ACCOUNT)
        .folder_id("folder-sales-archive")
        .send()
        .await
        .expect_err("gone");
    assert!(err.into_service_error().is_resource_not_found_exception());
    let vpcs = c
        .list_vpc_connections()
        .aws_account_id(ACCOUNT)
        .send()
        .await
        .expect("vpcs");
    assert_eq!(vpcs.vpc_connection_summaries().len(), 2);
}

#[tokio::test]
async fn accounts_and_regions_are_isolated() {
    let e = emulator().await;
    let east = client(&e).await;
    let west = client_for(&e.endpoint(), "eu-west-1", 3).await;
    let other = west
        .list_dashboards()
        .aws_account_id(ACCOUNT)
        .send()
        .await
        .expect("west");
    assert!(
        other.dashboard_summary_list().is_empty(),
        "the Region comes from the SigV4 scope"
    );
    let empty = east
        .list_dashboards()
        .aws_account_id(EMPTY_ACCOUNT)
        .send()
        .await
        .expect("empty account");
    assert!(empty.dashboard_summary_list().is_empty());
    west.create_group()
        .aws_account_id(ACCOUNT)
        .namespace("default")
        .group_name("west-only")
        .send()
        .await
        .expect("group");
    let err = east
        .describe_group()
        .aws_account_id(ACCOUNT)
        .namespace("default")
        .group_name("west-only")
        .send()
        .await;
    assert!(
        err.expect_err("not in east")
            .into_service_error()
            .is_resource_not_found_exception()
    );
    let users = east
        .list_users()
        .aws_account_id(EMPTY_ACCOUNT)
        .namespace("default")
        .send()
        .await
        .expect("users");
    assert!(
        users.user_list().is_empty(),
        "an unseeded account starts empty but subscribed"
    );
}

#[tokio::test]
async fn generated_seed_lists_twenty_thousand_assets_page_by_page() {
    let e = common::emulator_with(
        Seed::Generated {
            seed: 3,
            assets: 20_000,
        },
        Behaviour::default(),
    )
    .await;
    let c = client(&e).await;
    let first = c
        .list_dashboards()
        .aws_account_id(ACCOUNT)
        .send()
        .await
        .expect("first page");
    assert_eq!(first.dashboard_summary_list().len(), 100);
    assert!(first.next_token().is_some());
    let all = c
        .list_data_sets()
        .aws_account_id(ACCOUNT)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("all");
    assert!(all.len() > 5_000);
}

#[tokio::test]
async fn raw_wire_errors_carry_type_header_request_id_and_json_body() {
    let e = emulator().await;
    let http = reqwest::Client::new();
    let url = format!(
        "{}/accounts/{ACCOUNT}/asset-bundle-export-jobs/export",
        e.endpoint()
    );
    let resp = http
        .post(&url)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 400);
    let header = |r: &reqwest::Response, h: &str| {
        r.headers()
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(
        header(&resp, "x-amzn-errortype").as_deref(),
        Some("InvalidParameterValueException")
    );
    let rid = header(&resp, "x-amzn-requestid").expect("request id header");
    let body = json(resp).await;
    assert_eq!(body["RequestId"].as_str(), Some(rid.as_str()));
    assert!(body["Message"].is_string());
    let resp = http
        .get(format!("{}/accounts/{ACCOUNT}/no-such-thing", e.endpoint()))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status().as_u16(), 404);
    assert!(header(&resp, "x-amzn-requestid").is_some());
    let ok = http
        .get(format!(
            "{}/accounts/{ACCOUNT}/dashboards?max-results=1",
            e.endpoint()
        ))
        .send()
        .await
        .expect("ok");
    assert!(header(&ok, "x-amzn-requestid").is_some());
    let body = json(ok).await;
    assert!(
        body.get("Status").is_none(),
        "Status is never echoed in bodies"
    );
}

#[tokio::test]
async fn admin_api_sets_behaviour_advances_clock_and_resets_counters() {
    let e = emulator().await;
    let c = client(&e).await;
    c.list_dashboards()
        .aws_account_id(ACCOUNT)
        .send()
        .await
        .expect("call");
    let http = reqwest::Client::new();
    let counters = json(
        http.get(format!("{}/_emulator/counters", e.endpoint()))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(counters["operations"]["ListDashboards"]["calls"], 1);
    let b = serde_json::json!({ "faultOperations": { "ListAnalyses": 1.0 } });
    let resp = http
        .post(format!("{}/_emulator/behaviour", e.endpoint()))
        .body(b.to_string())
        .send()
        .await
        .expect("post");
    assert!(resp.status().is_success());
    let once = common::client_once(&e).await;
    let err = once
        .list_analyses()
        .aws_account_id(ACCOUNT)
        .send()
        .await
        .expect_err("fault");
    assert_eq!(err.code(), Some("InternalFailureException"));
    assert_eq!(e.counters().op("ListAnalyses").faults, 1);
    let body = serde_json::json!({ "advanceSeconds": 3600 }).to_string();
    let clock = json(
        http.post(format!("{}/_emulator/clock", e.endpoint()))
            .body(body)
            .send()
            .await
            .expect("clock"),
    )
    .await;
    assert_eq!(clock["offsetSeconds"], 3600);
    http.post(format!("{}/_emulator/reset", e.endpoint()))
        .send()
        .await
        .expect("reset");
    assert_eq!(e.counters().op("ListDashboards").calls, 0);
}

async fn json(resp: reqwest::Response) -> serde_json::Value {
    serde_json::from_slice(&resp.bytes().await.expect("body")).expect("json body")
}
