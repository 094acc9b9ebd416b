//! Routing (HTTP method + raw path → operation) and the handlers of the non-job operations:
//! assets (list, describe, update, delete, permissions, tags), folders, identities, settings.

use axum::http::Method;
use serde_json::{Value, json};

use crate::model::{Account, BUILTIN_THEMES, Group, Kind, builtin_theme_arn, parse_arn};
use crate::wire::{ApiError, Ctx, Json, Page, check_id, one_of, opt_str, req_str, with_token};

/// An operation found by [`route`], with its decoded path labels.
#[derive(Clone, Debug)]
pub struct Route {
    pub op: &'static str,
    pub account: String,
    /// Region override (ListTagsForResource takes it from the ARN).
    pub region: Option<String>,
    pub args: Vec<String>,
}

/// Maps method + path segments to an operation name.
pub fn route(ctx: &Ctx) -> Option<Route> {
    let s: Vec<&str> = ctx.segments.iter().map(String::as_str).collect();
    let m = &ctx.method;
    let (get, put, post, del) = (
        m == Method::GET,
        m == Method::PUT,
        m == Method::POST,
        m == Method::DELETE,
    );
    if let ["resources", arn, "tags"] = s.as_slice() {
        let parsed = parse_arn(arn);
        return get.then(|| Route {
            op: "ListTagsForResource",
            account: parsed
                .as_ref()
                .map(|a| a.account.clone())
                .unwrap_or_default(),
            region: parsed.map(|a| a.region),
            args: vec![(*arn).to_owned()],
        });
    }
    let ["accounts", account, rest @ ..] = s.as_slice() else {
        return None;
    };
    let op = match rest {
        ["dashboards"] if get => "ListDashboards",
        ["dashboards", _] if get => "DescribeDashboard",
        ["dashboards", _] if put => "UpdateDashboard",
        ["dashboards", _] if del => "DeleteDashboard",
        ["dashboards", _, "permissions"] if get => "DescribeDashboardPermissions",
        ["analyses"] if get => "ListAnalyses",
        ["analyses", _] if get => "DescribeAnalysis",
        ["analyses", _] if put => "UpdateAnalysis",
        ["analyses", _] if del => "DeleteAnalysis",
        ["data-sets"] if get => "ListDataSets",
        ["data-sets", _] if get => "DescribeDataSet",
        ["data-sets", _] if put => "UpdateDataSet",
        ["data-sets", _] if del => "DeleteDataSet",
        ["data-sources"] if get => "ListDataSources",
        ["data-sources", _] if get => "DescribeDataSource",
        ["data-sources", _] if put => "UpdateDataSource",
        ["data-sources", _] if del => "DeleteDataSource",
        ["themes"] if get => "ListThemes",
        ["themes", _] if get => "DescribeTheme",
        ["themes", _] if del => "DeleteTheme",
        ["folders"] if get => "ListFolders",
        ["folders", _] if get => "DescribeFolder",
        ["folders", _] if del => "DeleteFolder",
        ["folders", _, "permissions"] if get => "DescribeFolderPermissions",
        ["folders", _, "members"] if get => "ListFolderMembers",
        ["vpc-connections"] if get => "ListVPCConnections",
        ["vpc-connections", _] if get => "DescribeVPCConnection",
        ["vpc-connections", _] if del => "DeleteVPCConnection",
        ["asset-bundle-export-jobs", "export"] if post => "StartAssetBundleExportJob",
        ["asset-bundle-export-jobs"] if get => "ListAssetBundleExportJobs",
        ["asset-bundle-export-jobs", _] if get => "DescribeAssetBundleExportJob",
        ["asset-bundle-import-jobs", "import"] if post => "StartAssetBundleImportJob",
        ["asset-bundle-import-jobs"] if get => "ListAssetBundleImportJobs",
        ["asset-bundle-import-jobs", _] if get => "DescribeAssetBundleImportJob",
        ["namespaces"] if get => "ListNamespaces",
        ["namespaces", _, "users"] if get => "ListUsers",
        ["namespaces", _, "users"] if post => "RegisterUser",
        ["namespaces", _, "users", _] if get => "DescribeUser",
        ["namespaces", _, "users", _] if del => "DeleteUser",
        ["namespaces", _, "groups"] if get => "ListGroups",
        ["namespaces", _, "groups"] if post => "CreateGroup",
        ["namespaces", _, "groups", _] if get => "DescribeGroup",
        ["namespaces", _, "groups", _] if del => "DeleteGroup",
        ["namespaces", _, "groups", _, "members"] if get => "ListGroupMemberships",
        ["namespaces", _, "groups", _, "members", _] if put => "CreateGroupMembership",
        ["namespaces", _, "groups", _, "members", _] if del => "DeleteGroupMembership",
        ["settings"] if get => "DescribeAccountSettings",
        ["customizations"] if get => "DescribeAccountCustomization",
        _ => return None,
    };
    // Labels are the odd positions after the collection names: keep every non-literal segment.
    let args = rest
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, v)| (*v).to_owned())
        .collect();
    Some(Route {
        op,
        account: (*account).to_owned(),
        region: None,
        args,
    })
}

fn arg(args: &[String], i: usize) -> &str {
    args.get(i).map(String::as_str).unwrap_or("")
}

/// Runs one non-job operation against an account.
pub fn dispatch(acct: &mut Account, route: &Route, ctx: &Ctx) -> Result<Json, ApiError> {
    let a = &route.args;
    let now = ctx.now_secs();
    match route.op {
        "ListDashboards" => list(acct, ctx, Kind::Dashboard, route.op, "DashboardSummaryList"),
        "ListAnalyses" => list(acct, ctx, Kind::Analysis, route.op, "AnalysisSummaryList"),
        "ListDataSets" => list(acct, ctx, Kind::DataSet, route.op, "DataSetSummaries"),
        "ListDataSources" => list(acct, ctx, Kind::DataSource, route.op, "DataSources"),
        "ListFolders" => list(acct, ctx, Kind::Folder, route.op, "FolderSummaryList"),
        "ListVPCConnections" => list(
            acct,
            ctx,
            Kind::VpcConnection,
            route.op,
            "VPCConnectionSummaries",
        ),
        "ListThemes" => list_themes(acct, ctx),
        "DescribeDashboard" => describe_dashboard(acct, ctx, arg(a, 0)),
        "DescribeAnalysis" => describe(acct, Kind::Analysis, arg(a, 0), "Analysis"),
        "DescribeDataSet" => describe_data_set(acct, arg(a, 0)),
        "DescribeDataSource" => describe(acct, Kind::DataSource, arg(a, 0), "DataSource"),
        "DescribeFolder" => describe(acct, Kind::Folder, arg(a, 0), "Folder"),
        "DescribeVPCConnection" => describe(acct, Kind::VpcConnection, arg(a, 0), "VPCConnection"),
        "DescribeTheme" => describe_theme(acct, arg(a, 0)),
        "UpdateDashboard" | "UpdateAnalysis" | "UpdateDataSet" | "UpdateDataSource" => {
            update(acct, route.op, arg(a, 0), &ctx.json()?, now)
        }
        "DeleteDashboard" => delete(acct, Kind::Dashboard, arg(a, 0), now),
        "DeleteAnalysis" => delete(acct, Kind::Analysis, arg(a, 0), now),
        "DeleteDataSet" => delete(acct, Kind::DataSet, arg(a, 0), now),
        "DeleteDataSource" => delete(acct, Kind::DataSource, arg(a, 0), now),
        "DeleteTheme" => delete(acct, Kind::Theme, arg(a, 0), now),
        "DeleteFolder" => delete(acct, Kind::Folder, arg(a, 0), now),
        "DeleteVPCConnection" => delete(acct, Kind::VpcConnection, arg(a, 0), now),
        "DescribeDashboardPermissions" => {
            let d = find(acct, Kind::Dashboard, arg(a, 0))?;
            Ok(obj(json!({
                "DashboardId": d.id,
                "DashboardArn": acct.arn(Kind::Dashboard, &d.id),
                "Permissions": d.permissions,
            })))
        }
        "DescribeFolderPermissions" => {
            let f = find(acct, Kind::Folder, arg(a, 0))?;
            let (page, next) = Page::from(ctx, route.op)?.slice_vec(&f.permissions);
            let body = json!({ "FolderId": f.id, "Arn": acct.arn(Kind::Folder, &f.id), "Permissions": page });
            Ok(with_token(obj(body), next))
        }
        "ListFolderMembers" => {
            let f = find(acct, Kind::Folder, arg(a, 0))?;
            let empty = Default::default();
            let members = acct.folder_members.get(&f.id).unwrap_or(&empty);
            let (page, next) = Page::from(ctx, route.op)?.slice(members);
            let items: Vec<Value> = page
                .into_iter()
                .map(|(arn, id)| json!({ "MemberId": id, "MemberArn": arn }))
                .collect();
            Ok(with_token(obj(json!({ "FolderMemberList": items })), next))
        }
        "ListTagsForResource" => list_tags(acct, arg(a, 0)),
        "ListNamespaces" => {
            let (page, next) = Page::from(ctx, route.op)?.slice(&acct.namespaces);
            let items: Vec<Value> = page
                .into_iter()
                .map(|(n, _)| {
                    json!({
                        "Name": n,
                        "Arn": format!("arn:aws:quicksight:{}:{}:namespace/{n}", acct.region, acct.account),
                        "CapacityRegion": acct.region,
                        "CreationStatus": "CREATED",
                        "IdentityStore": "QUICKSIGHT",
                    })
                })
                .collect();
            Ok(with_token(obj(json!({ "Namespaces": items })), next))
        }
        "ListUsers" => {
            let ns = namespace(acct, arg(a, 0))?;
            let (page, next) = Page::from(ctx, route.op)?.slice(&ns.users);
            let items: Vec<&Json> = page.into_iter().map(|(_, u)| u).collect();
            Ok(with_token(obj(json!({ "UserList": items })), next))
        }
        "ListGroups" => {
            let ns = namespace(acct, arg(a, 0))?;
            let (page, next) = Page::from(ctx, route.op)?.slice(&ns.groups);
            let items: Vec<&Json> = page.into_iter().map(|(_, g)| &g.json).collect();
            Ok(with_token(obj(json!({ "GroupList": items })), next))
        }
        "ListGroupMemberships" => {
            let (region, account) = (acct.region.clone(), acct.account.clone());
            let ns_name = arg(a, 0);
            let g = group(namespace(acct, ns_name)?, arg(a, 1))?;
            let keyed: std::collections::BTreeMap<String, String> =
                g.members.iter().map(|m| (m.clone(), m.clone())).collect();
            let (page, next) = Page::from(ctx, route.op)?.slice(&keyed);
            let items: Vec<Value> = page
                .into_iter()
                .map(|(m, _)| json!({ "Arn": user_arn(&region, &account, ns_name, m), "MemberName": m }))
                .collect();
            Ok(with_token(obj(json!({ "GroupMemberList": items })), next))
        }
        "DescribeUser" => {
            let u = user(namespace(acct, arg(a, 0))?, arg(a, 1))?;
            Ok(obj(json!({ "User": u })))
        }
        "DescribeGroup" => {
            let g = group(namespace(acct, arg(a, 0))?, arg(a, 1))?;
            Ok(obj(json!({ "Group": g.json })))
        }
        "RegisterUser" => register_user(acct, arg(a, 0), &ctx.json()?),
        "DeleteUser" => {
            let ns = namespace_mut(acct, arg(a, 0))?;
            let name = arg(a, 1);
            ns.users.remove(name).ok_or_else(|| user_not_found(name))?;
            for g in ns.groups.values_mut() {
                g.members.remove(name);
            }
            Ok(Json::new())
        }
        "CreateGroup" => {
            let body = ctx.json()?;
            let name = req_str(&body, "GroupName")?.to_owned();
            let description = opt_str(&body, "Description")?.map(str::to_owned);
            let (region, account, ns_name) = (
                acct.region.clone(),
                acct.account.clone(),
                arg(a, 0).to_owned(),
            );
            let ns = namespace_mut(acct, &ns_name)?;
            if ns.groups.contains_key(&name) {
                return Err(ApiError::exists(
                    Some("GROUP"),
                    format!("Group {name} already exists."),
                ));
            }
            let g = group_json(&region, &account, &ns_name, &name, description.as_deref());
            ns.groups.insert(
                name,
                Group {
                    json: g.clone(),
                    members: Default::default(),
                },
            );
            Ok(obj(json!({ "Group": g })))
        }
        "DeleteGroup" => {
            let name = arg(a, 1);
            namespace_mut(acct, arg(a, 0))?
                .groups
                .remove(name)
                .ok_or_else(|| group_not_found(name))?;
            Ok(Json::new())
        }
        "CreateGroupMembership" => {
            let (region, account) = (acct.region.clone(), acct.account.clone());
            let (ns_name, gname, member) = (arg(a, 0), arg(a, 1), arg(a, 2));
            let ns = namespace_mut(acct, ns_name)?;
            if !ns.users.contains_key(member) {
                return Err(user_not_found(member));
            }
            ns.groups
                .get_mut(gname)
                .ok_or_else(|| group_not_found(gname))?
                .members
                .insert(member.to_owned());
            Ok(obj(
                json!({ "GroupMember": { "Arn": user_arn(&region, &account, ns_name, member), "MemberName": member } }),
            ))
        }
        "DeleteGroupMembership" => {
            let (gname, member) = (arg(a, 1), arg(a, 2));
            let g = namespace_mut(acct, arg(a, 0))?
                .groups
                .get_mut(gname)
                .ok_or_else(|| group_not_found(gname))?;
            if !g.members.remove(member) {
                return Err(ApiError::not_found(
                    Some("USER"),
                    format!("User {member} is not a member of group {gname}."),
                ));
            }
            Ok(Json::new())
        }
        "DescribeAccountSettings" => Ok(obj(json!({ "AccountSettings": acct.settings }))),
        "DescribeAccountCustomization" => {
            let ns = ctx
                .query
                .get("namespace")
                .cloned()
                .unwrap_or_else(|| "default".into());
            let resolved = ctx.query.get("resolved").is_some_and(|v| v == "true");
            let custom = match acct.customizations.get(&ns) {
                Some(c) => c.clone(),
                None if resolved => Json::new(),
                None => {
                    return Err(ApiError::not_found(
                        Some("ACCOUNT_SETTINGS"),
                        format!("No account customization found for namespace {ns}."),
                    ));
                }
            };
            Ok(obj(json!({
                "Arn": format!("arn:aws:quicksight:{}:{}:customization/{}", acct.region, acct.account, acct.account),
                "AwsAccountId": acct.account,
                "Namespace": ns,
                "AccountCustomization": custom,
            })))
        }
        _ => Err(ApiError::unknown_operation()),
    }
}

pub fn obj(v: Value) -> Json {
    match v {
        Value::Object(m) => m,
        _ => Json::new(),
    }
}

pub fn not_found(kind: Kind, id: &str) -> ApiError {
    let mut label = kind.label().to_owned();
    if let Some(first) = label.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    ApiError::not_found(kind.error_type(), format!("{label} {id} is not found."))
}

fn find<'a>(acct: &'a Account, kind: Kind, id: &str) -> Result<&'a crate::model::Asset, ApiError> {
    check_id(kind.id_member(), id)?;
    acct.get(kind, id).ok_or_else(|| not_found(kind, id))
}

fn list(
    acct: &Account,
    ctx: &Ctx,
    kind: Kind,
    op: &'static str,
    key: &str,
) -> Result<Json, ApiError> {
    let (page, next) = Page::from(ctx, op)?.slice(acct.map(kind));
    let items: Vec<Json> = page
        .into_iter()
        .map(|(_, a)| acct.summary(kind, a))
        .collect();
    Ok(with_token(obj(json!({ key: items })), next))
}

fn list_themes(acct: &Account, ctx: &Ctx) -> Result<Json, ApiError> {
    let t = ctx.query.get("type").map(String::as_str).unwrap_or("ALL");
    one_of("Type", t, &["QUICKSIGHT", "CUSTOM", "ALL"])?;
    let page = Page::from(ctx, "ListThemes")?;
    let (items, next) = if t == "CUSTOM" {
        let (p, n) = page.slice(acct.map(Kind::Theme));
        (
            p.into_iter()
                .map(|(_, a)| acct.summary(Kind::Theme, a))
                .collect::<Vec<_>>(),
            n,
        )
    } else {
        // Built-in themes are few; the merged view is cheap.
        let mut merged: std::collections::BTreeMap<String, Json> = BUILTIN_THEMES
            .iter()
            .map(|id| {
                let s = obj(json!({
                    "Arn": builtin_theme_arn(id), "Name": titled(id), "ThemeId": id, "LatestVersionNumber": 1,
                    "CreatedTime": 1_546_300_800, "LastUpdatedTime": 1_546_300_800,
                }));
                ((*id).to_owned(), s)
            })
            .collect();
        if t == "ALL" {
            merged.extend(
                acct.map(Kind::Theme)
                    .values()
                    .map(|a| (a.id.clone(), acct.summary(Kind::Theme, a))),
            );
        }
        let (p, n) = page.slice(&merged);
        (p.into_iter().map(|(_, s)| s.clone()).collect(), n)
    };
    Ok(with_token(obj(json!({ "ThemeSummaryList": items })), next))
}

fn titled(id: &str) -> String {
    let lower = id.to_lowercase();
    let mut c = lower.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn describe(acct: &Account, kind: Kind, id: &str, key: &str) -> Result<Json, ApiError> {
    let a = find(acct, kind, id)?;
    Ok(obj(json!({ key: acct.describe(kind, a) })))
}

fn describe_dashboard(acct: &Account, ctx: &Ctx, id: &str) -> Result<Json, ApiError> {
    let d = find(acct, Kind::Dashboard, id)?;
    let current = d
        .props
        .get("Version")
        .and_then(|v| v.get("VersionNumber"))
        .and_then(Value::as_i64)
        .unwrap_or(1);
    if let Some(v) = ctx.query.get("version-number") {
        let n = v
            .parse::<i64>()
            .map_err(|_| ApiError::invalid(format!("VersionNumber '{v}' is not a number.")))?;
        if n < 1 {
            return Err(ApiError::invalid("VersionNumber must be at least 1."));
        }
        if n != current {
            return Err(ApiError::not_found(
                None,
                format!("Version {n} of dashboard {id} is not found."),
            ));
        }
    }
    if let Some(alias) = ctx.query.get("alias-name")
        && !matches!(alias.as_str(), "$LATEST" | "$PUBLISHED")
    {
        return Err(ApiError::not_found(
            None,
            format!("Alias {alias} of dashboard {id} is not found."),
        ));
    }
    Ok(obj(
        json!({ "Dashboard": acct.describe(Kind::Dashboard, d) }),
    ))
}

fn describe_data_set(acct: &Account, id: &str) -> Result<Json, ApiError> {
    let d = find(acct, Kind::DataSet, id)?;
    // The service can't describe datasets built on uploaded files.
    let uploaded = crate::model::dependencies(Kind::DataSet, &d.props)
        .iter()
        .any(|arn| {
            acct.resolve(arn).is_some_and(|(k, src)| {
                k == Kind::DataSource
                    && src.props.get("Type").and_then(Value::as_str) == Some("S3")
                    && src
                        .props
                        .get("DataSourceParameters")
                        .and_then(|p| p.get("S3Parameters"))
                        .is_none()
            })
        });
    if uploaded {
        return Err(ApiError::invalid(
            "The data set type is not supported through API yet",
        ));
    }
    Ok(obj(json!({ "DataSet": acct.describe(Kind::DataSet, d) })))
}

fn describe_theme(acct: &Account, id: &str) -> Result<Json, ApiError> {
    if BUILTIN_THEMES.contains(&id) {
        let arn = builtin_theme_arn(id);
        return Ok(obj(json!({ "Theme": {
            "Arn": arn, "Name": titled(id), "ThemeId": id, "Type": "QUICKSIGHT",
            "Version": { "VersionNumber": 1, "Arn": format!("{arn}/version/1"), "Status": "CREATION_SUCCESSFUL",
                         "CreatedTime": 1_546_300_800, "Configuration": {} },
            "CreatedTime": 1_546_300_800, "LastUpdatedTime": 1_546_300_800,
        }})));
    }
    describe(acct, Kind::Theme, id, "Theme")
}

fn update(acct: &mut Account, op: &str, id: &str, body: &Json, now: f64) -> Result<Json, ApiError> {
    let kind = match op {
        "UpdateDashboard" => Kind::Dashboard,
        "UpdateAnalysis" => Kind::Analysis,
        "UpdateDataSet" => Kind::DataSet,
        _ => Kind::DataSource,
    };
    check_id(kind.id_member(), id)?;
    let name = req_str(body, "Name")?.to_owned();
    if name.chars().count() > 2048 {
        return Err(ApiError::invalid("Name is longer than 2048 characters."));
    }
    let arn = acct.arn(kind, id);
    let a = acct
        .map_mut(kind)
        .get_mut(id)
        .ok_or_else(|| not_found(kind, id))?;
    a.name = name;
    a.updated = now.max(a.updated);
    let copy = |a: &mut crate::model::Asset, keys: &[&str]| {
        for k in keys {
            if let Some(v) = body.get(*k).filter(|v| !v.is_null()) {
                a.props.insert((*k).to_owned(), v.clone());
            }
        }
    };
    match kind {
        Kind::Dashboard => {
            if let (Some(t), Some(Value::Object(v))) =
                (body.get("ThemeArn"), a.props.get_mut("Version"))
            {
                v.insert("ThemeArn".into(), t.clone());
            }
            let n = a
                .props
                .get("Version")
                .and_then(|v| v.get("VersionNumber"))
                .and_then(Value::as_i64)
                .unwrap_or(1);
            Ok(obj(json!({
                "Arn": arn, "VersionArn": format!("{arn}/version/{n}"), "DashboardId": id,
                "CreationStatus": "CREATION_SUCCESSFUL",
            })))
        }
        Kind::Analysis => {
            copy(a, &["ThemeArn"]);
            a.props.insert("Status".into(), json!("UPDATE_SUCCESSFUL"));
            Ok(obj(
                json!({ "Arn": arn, "AnalysisId": id, "UpdateStatus": "UPDATE_SUCCESSFUL" }),
            ))
        }
        Kind::DataSet => {
            copy(
                a,
                &[
                    "PhysicalTableMap",
                    "LogicalTableMap",
                    "ImportMode",
                    "ColumnGroups",
                    "FieldFolders",
                    "RowLevelPermissionDataSet",
                    "DatasetParameters",
                ],
            );
            Ok(obj(json!({ "Arn": arn, "DataSetId": id })))
        }
        _ => {
            copy(
                a,
                &[
                    "DataSourceParameters",
                    "VpcConnectionProperties",
                    "SslProperties",
                ],
            );
            a.props.insert("Status".into(), json!("UPDATE_SUCCESSFUL"));
            Ok(obj(
                json!({ "Arn": arn, "DataSourceId": id, "UpdateStatus": "UPDATE_SUCCESSFUL" }),
            ))
        }
    }
}

fn delete(acct: &mut Account, kind: Kind, id: &str, now: f64) -> Result<Json, ApiError> {
    check_id(kind.id_member(), id)?;
    let arn = acct.arn(kind, id);
    acct.remove(kind, id).ok_or_else(|| not_found(kind, id))?;
    let mut out = obj(json!({ "Arn": arn, kind.id_member(): id }));
    match kind {
        Kind::Analysis => {
            out.insert("DeletionTime".into(), json!(now));
        }
        Kind::VpcConnection => {
            out.insert("DeletionStatus".into(), json!("DELETED"));
            out.insert("AvailabilityStatus".into(), json!("UNAVAILABLE"));
        }
        _ => {}
    }
    Ok(out)
}

fn list_tags(acct: &Account, arn: &str) -> Result<Json, ApiError> {
    let (_, a) = acct
        .resolve(arn)
        .ok_or_else(|| ApiError::not_found(None, format!("Resource {arn} is not found.")))?;
    Ok(obj(json!({ "Tags": a.tags })))
}

fn namespace<'a>(acct: &'a Account, name: &str) -> Result<&'a crate::model::Namespace, ApiError> {
    acct.namespaces.get(name).ok_or_else(|| ns_not_found(name))
}

fn namespace_mut<'a>(
    acct: &'a mut Account,
    name: &str,
) -> Result<&'a mut crate::model::Namespace, ApiError> {
    acct.namespaces
        .get_mut(name)
        .ok_or_else(|| ns_not_found(name))
}

fn ns_not_found(name: &str) -> ApiError {
    ApiError::not_found(Some("NAMESPACE"), format!("Namespace {name} is not found."))
}

fn user_not_found(name: &str) -> ApiError {
    ApiError::not_found(Some("USER"), format!("User {name} is not found."))
}

fn group_not_found(name: &str) -> ApiError {
    ApiError::not_found(Some("GROUP"), format!("Group {name} is not found."))
}

fn user<'a>(ns: &'a crate::model::Namespace, name: &str) -> Result<&'a Json, ApiError> {
    ns.users.get(name).ok_or_else(|| user_not_found(name))
}

fn group<'a>(ns: &'a crate::model::Namespace, name: &str) -> Result<&'a Group, ApiError> {
    ns.groups.get(name).ok_or_else(|| group_not_found(name))
}

pub fn user_arn(region: &str, account: &str, ns: &str, name: &str) -> String {
    format!("arn:aws:quicksight:{region}:{account}:user/{ns}/{name}")
}

pub fn group_arn(region: &str, account: &str, ns: &str, name: &str) -> String {
    format!("arn:aws:quicksight:{region}:{account}:group/{ns}/{name}")
}

/// A stable fake principal ID derived from a name.
pub fn principal_id(prefix: &str, name: &str) -> String {
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{prefix}{h:016X}")
}

pub fn user_json(
    region: &str,
    account: &str,
    ns: &str,
    name: &str,
    email: &str,
    role: &str,
    identity: &str,
) -> Json {
    let pid = if identity == "IAM" {
        format!("federated/iam/{}", principal_id("AROA", name))
    } else {
        principal_id("", name)
    };
    obj(json!({
        "Arn": user_arn(region, account, ns, name),
        "UserName": name,
        "Email": email,
        "Role": role,
        "IdentityType": identity,
        "Active": true,
        "PrincipalId": pid,
    }))
}

pub fn group_json(
    region: &str,
    account: &str,
    ns: &str,
    name: &str,
    description: Option<&str>,
) -> Json {
    let mut g = obj(json!({
        "Arn": group_arn(region, account, ns, name),
        "GroupName": name,
        "PrincipalId": format!("group/d-90670c8f2e/{}", principal_id("", name)),
    }));
    if let Some(d) = description {
        g.insert("Description".into(), json!(d));
    }
    g
}

fn register_user(acct: &mut Account, ns_name: &str, body: &Json) -> Result<Json, ApiError> {
    let identity = req_str(body, "IdentityType")?;
    one_of(
        "IdentityType",
        identity,
        &["IAM", "QUICKSIGHT", "IAM_IDENTITY_CENTER"],
    )?;
    let email = req_str(body, "Email")?;
    let role = req_str(body, "UserRole")?;
    one_of(
        "UserRole",
        role,
        &[
            "ADMIN",
            "AUTHOR",
            "READER",
            "RESTRICTED_AUTHOR",
            "RESTRICTED_READER",
            "ADMIN_PRO",
            "AUTHOR_PRO",
            "READER_PRO",
        ],
    )?;
    let name = if identity == "IAM" {
        let iam = req_str(body, "IamArn")?;
        let base = iam
            .rsplit('/')
            .next()
            .filter(|s| iam.starts_with("arn:aws:iam::") && !s.is_empty());
        let base = base
            .ok_or_else(|| ApiError::invalid(format!("IamArn '{iam}' is not a valid IAM ARN.")))?;
        match opt_str(body, "SessionName")? {
            Some(s) if iam.contains(":role/") => format!("{base}/{s}"),
            _ => base.to_owned(),
        }
    } else {
        req_str(body, "UserName")?.to_owned()
    };
    if name.chars().any(|c| !(' '..='\u{FF}').contains(&c)) {
        return Err(ApiError::invalid(format!(
            "UserName '{name}' contains characters outside [\\u0020-\\u00FF]."
        )));
    }
    let (region, account) = (acct.region.clone(), acct.account.clone());
    let ns = namespace_mut(acct, ns_name)?;
    if ns.users.contains_key(&name) {
        return Err(ApiError::exists(
            Some("USER"),
            format!("User {name} already exists."),
        ));
    }
    let u = user_json(&region, &account, ns_name, &name, email, role, identity);
    ns.users.insert(name, u.clone());
    Ok(obj(json!({ "User": u })))
}
