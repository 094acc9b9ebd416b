//! The in-memory state of one (account, Region): assets, identities, jobs; ARN helpers and the
//! rendering of assets into the API's summary and describe shapes.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::jobs::{ExportJob, ImportJob};
use crate::wire::Json;

/// The asset types of the bundle APIs, in dependency order (a kind only depends on earlier ones,
/// folders aside).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    VpcConnection,
    DataSource,
    DataSet,
    Theme,
    Analysis,
    Dashboard,
    Folder,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::VpcConnection,
        Kind::DataSource,
        Kind::DataSet,
        Kind::Theme,
        Kind::Analysis,
        Kind::Dashboard,
        Kind::Folder,
    ];

    /// Resource type in ARNs, also the bundle folder name.
    pub fn arn_type(self) -> &'static str {
        match self {
            Kind::VpcConnection => "vpcConnection",
            Kind::DataSource => "datasource",
            Kind::DataSet => "dataset",
            Kind::Theme => "theme",
            Kind::Analysis => "analysis",
            Kind::Dashboard => "dashboard",
            Kind::Folder => "folder",
        }
    }

    pub fn from_arn_type(t: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.arn_type() == t)
    }

    /// The ID member of the API shapes.
    pub fn id_member(self) -> &'static str {
        match self {
            Kind::VpcConnection => "VPCConnectionId",
            Kind::DataSource => "DataSourceId",
            Kind::DataSet => "DataSetId",
            Kind::Theme => "ThemeId",
            Kind::Analysis => "AnalysisId",
            Kind::Dashboard => "DashboardId",
            Kind::Folder => "FolderId",
        }
    }

    /// `ExceptionResourceType` of not-found errors, where the enum has one.
    pub fn error_type(self) -> Option<&'static str> {
        match self {
            Kind::VpcConnection => Some("VPC_CONNECTION"),
            Kind::DataSource => Some("DATA_SOURCE"),
            Kind::DataSet => Some("DATA_SET"),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::VpcConnection => "VPC connection",
            Kind::DataSource => "data source",
            Kind::DataSet => "dataset",
            Kind::Theme => "theme",
            Kind::Analysis => "analysis",
            Kind::Dashboard => "dashboard",
            Kind::Folder => "folder",
        }
    }

    /// Members copied into the List* summary shape (besides ID, Arn, Name and timestamps).
    fn summary_members(self) -> &'static [&'static str] {
        match self {
            Kind::VpcConnection => &[
                "VPCId",
                "SecurityGroupIds",
                "DnsResolvers",
                "Status",
                "AvailabilityStatus",
                "NetworkInterfaces",
                "RoleArn",
            ],
            Kind::DataSource => &[
                "Type",
                "Status",
                "DataSourceParameters",
                "AlternateDataSourceParameters",
                "VpcConnectionProperties",
                "SslProperties",
                "ErrorInfo",
                "SecretArn",
            ],
            Kind::DataSet => &["ImportMode", "RowLevelPermissionDataSet", "UseAs"],
            Kind::Theme => &[],
            Kind::Analysis => &["Status"],
            Kind::Dashboard => &[],
            Kind::Folder => &["FolderType", "SharingModel"],
        }
    }
}

/// One asset. `props` holds the kind-specific describe members (everything but the ID, Arn,
/// Name and timestamps); folders keep their parent as `ParentFolderArn`.
#[derive(Clone, Debug, PartialEq)]
pub struct Asset {
    pub id: String,
    pub name: String,
    pub created: f64,
    pub updated: f64,
    pub props: Json,
    pub permissions: Vec<Value>,
    pub tags: Vec<Value>,
}

pub fn arn(region: &str, account: &str, kind: Kind, id: &str) -> String {
    format!(
        "arn:aws:quicksight:{region}:{account}:{}/{id}",
        kind.arn_type()
    )
}

/// A parsed QuickSight ARN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arn {
    pub region: String,
    pub account: String,
    pub resource_type: String,
    /// Everything after `type/`.
    pub resource: String,
}

pub fn parse_arn(s: &str) -> Option<Arn> {
    let rest = s.strip_prefix("arn:aws:quicksight:")?;
    let mut parts = rest.splitn(3, ':');
    let region = parts.next()?.to_owned();
    let account = parts.next()?.to_owned();
    let (resource_type, resource) = parts.next()?.split_once('/')?;
    (!resource.is_empty()).then(|| Arn {
        region,
        account,
        resource_type: resource_type.to_owned(),
        resource: resource.to_owned(),
    })
}

/// Built-in themes: present in every account, never exported.
pub const BUILTIN_THEMES: [&str; 4] = ["CLASSIC", "MIDNIGHT", "SEASIDE", "RAINIER"];

pub fn builtin_theme_arn(id: &str) -> String {
    format!("arn:aws:quicksight::aws:theme/{id}")
}

/// Users and groups of one namespace.
#[derive(Clone, Debug, Default)]
pub struct Namespace {
    pub users: BTreeMap<String, Json>,
    pub groups: BTreeMap<String, Group>,
}

#[derive(Clone, Debug, Default)]
pub struct Group {
    pub json: Json,
    pub members: BTreeSet<String>,
}

/// The whole state of one (account, Region).
#[derive(Debug)]
pub struct Account {
    pub account: String,
    pub region: String,
    assets: [BTreeMap<String, Asset>; 7],
    /// Folder ID → member ARN → member ID.
    pub folder_members: BTreeMap<String, BTreeMap<String, String>>,
    /// Data set ID → refresh schedules (API `RefreshSchedule` shape).
    pub refresh_schedules: BTreeMap<String, Vec<Value>>,
    pub namespaces: BTreeMap<String, Namespace>,
    pub settings: Json,
    /// Namespace → `AccountCustomization`.
    pub customizations: BTreeMap<String, Json>,
    pub export_jobs: BTreeMap<String, ExportJob>,
    pub import_jobs: BTreeMap<String, ImportJob>,
}

impl Account {
    /// A subscribed account without assets: default namespace, default settings, built-in themes.
    pub fn empty(account: &str, region: &str) -> Self {
        let mut a = Self {
            account: account.to_owned(),
            region: region.to_owned(),
            assets: Default::default(),
            folder_members: BTreeMap::new(),
            refresh_schedules: BTreeMap::new(),
            namespaces: BTreeMap::new(),
            settings: json!({
                "AccountName": format!("account-{account}"),
                "Edition": "ENTERPRISE",
                "DefaultNamespace": "default",
                "NotificationEmail": format!("quicksight-admin+{account}@example.com"),
                "PublicSharingEnabled": false,
                "TerminationProtectionEnabled": true
            })
            .as_object()
            .cloned()
            .unwrap_or_default(),
            customizations: BTreeMap::new(),
            export_jobs: BTreeMap::new(),
            import_jobs: BTreeMap::new(),
        };
        a.namespaces.insert("default".into(), Namespace::default());
        a
    }

    pub fn map(&self, kind: Kind) -> &BTreeMap<String, Asset> {
        &self.assets[kind as usize]
    }

    pub fn map_mut(&mut self, kind: Kind) -> &mut BTreeMap<String, Asset> {
        &mut self.assets[kind as usize]
    }

    pub fn get(&self, kind: Kind, id: &str) -> Option<&Asset> {
        self.map(kind).get(id)
    }

    pub fn arn(&self, kind: Kind, id: &str) -> String {
        arn(&self.region, &self.account, kind, id)
    }

    #[cfg(test)]
    pub fn asset_count(&self) -> usize {
        self.assets.iter().map(BTreeMap::len).sum()
    }

    /// Resolves an ARN of this account and Region to an existing asset.
    pub fn resolve(&self, arn_text: &str) -> Option<(Kind, &Asset)> {
        let a = parse_arn(arn_text)?;
        if a.region != self.region || a.account != self.account {
            return None;
        }
        let kind = Kind::from_arn_type(&a.resource_type)?;
        self.get(kind, &a.resource).map(|asset| (kind, asset))
    }

    /// Whether an ARN names something that exists for this account: an asset or a built-in theme.
    pub fn exists(&self, arn_text: &str) -> bool {
        self.resolve(arn_text).is_some() || is_builtin_theme(arn_text)
    }

    /// Removes an asset and everything hanging off it (folder memberships, refresh schedules,
    /// a folder's member list).
    pub fn remove(&mut self, kind: Kind, id: &str) -> Option<Asset> {
        let removed = self.map_mut(kind).remove(id)?;
        let member_arn = self.arn(kind, id);
        for members in self.folder_members.values_mut() {
            members.remove(&member_arn);
        }
        match kind {
            Kind::DataSet => {
                self.refresh_schedules.remove(id);
            }
            Kind::Folder => {
                self.folder_members.remove(id);
            }
            _ => {}
        }
        Some(removed)
    }

    /// Ancestor folder ARNs of a folder, root first.
    pub fn folder_path(&self, folder: &Asset) -> Vec<String> {
        let mut path = Vec::new();
        let mut parent = folder
            .props
            .get("ParentFolderArn")
            .and_then(Value::as_str)
            .map(str::to_owned);
        while let Some(p) = parent {
            if path.contains(&p) || path.len() >= 10 {
                break;
            }
            parent = self
                .resolve(&p)
                .and_then(|(_, f)| f.props.get("ParentFolderArn"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            path.push(p);
        }
        path.reverse();
        path
    }

    /// Folder IDs that contain the given asset ARN.
    pub fn folders_of(&self, member_arn: &str) -> Vec<String> {
        self.folder_members
            .iter()
            .filter(|(_, m)| m.contains_key(member_arn))
            .map(|(f, _)| f.clone())
            .collect()
    }

    /// The describe shape (`Dashboard`, `DataSet`, ... object).
    pub fn describe(&self, kind: Kind, a: &Asset) -> Json {
        let arn = self.arn(kind, &a.id);
        let mut out = Json::new();
        out.insert(kind.id_member().into(), json!(a.id));
        out.insert("Arn".into(), json!(arn));
        out.insert("Name".into(), json!(a.name));
        for (k, v) in &a.props {
            if k != "ParentFolderArn" {
                out.insert(k.clone(), v.clone());
            }
        }
        out.insert("CreatedTime".into(), json!(a.created));
        out.insert("LastUpdatedTime".into(), json!(a.updated));
        match kind {
            Kind::Dashboard | Kind::Theme => {
                if let Some(Value::Object(v)) = out.get_mut("Version") {
                    let n = v.get("VersionNumber").and_then(Value::as_i64).unwrap_or(1);
                    v.insert("Arn".into(), json!(format!("{arn}/version/{n}")));
                    v.insert("CreatedTime".into(), json!(a.updated));
                }
                if kind == Kind::Dashboard {
                    out.insert("LastPublishedTime".into(), json!(a.updated));
                }
            }
            Kind::Folder => {
                out.insert("FolderPath".into(), json!(self.folder_path(a)));
            }
            _ => {}
        }
        out
    }

    /// The List* summary shape.
    pub fn summary(&self, kind: Kind, a: &Asset) -> Json {
        let mut out = Json::new();
        out.insert("Arn".into(), json!(self.arn(kind, &a.id)));
        out.insert(kind.id_member().into(), json!(a.id));
        out.insert("Name".into(), json!(a.name));
        for m in kind.summary_members() {
            if let Some(v) = a.props.get(*m) {
                out.insert((*m).into(), v.clone());
            }
        }
        out.insert("CreatedTime".into(), json!(a.created));
        out.insert("LastUpdatedTime".into(), json!(a.updated));
        match kind {
            Kind::Dashboard => {
                let n = a
                    .props
                    .get("Version")
                    .and_then(|v| v.get("VersionNumber"))
                    .cloned()
                    .unwrap_or(json!(1));
                out.insert("PublishedVersionNumber".into(), n);
                out.insert("LastPublishedTime".into(), json!(a.updated));
            }
            Kind::Theme => {
                let n = a
                    .props
                    .get("Version")
                    .and_then(|v| v.get("VersionNumber"))
                    .cloned()
                    .unwrap_or(json!(1));
                out.insert("LatestVersionNumber".into(), n);
            }
            Kind::DataSet => {
                out.insert(
                    "RowLevelPermissionTagConfigurationApplied".into(),
                    json!(false),
                );
                out.insert("ColumnLevelPermissionRulesApplied".into(), json!(false));
            }
            _ => {}
        }
        out
    }
}

pub fn is_builtin_theme(arn_text: &str) -> bool {
    parse_arn(arn_text).is_some_and(|a| {
        a.account == "aws"
            && a.resource_type == "theme"
            && BUILTIN_THEMES.contains(&a.resource.as_str())
    })
}

/// ARNs of the assets an asset depends on (the dependency closure of asset bundles).
pub fn dependencies(kind: Kind, props: &Json) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |v: Option<&Value>| {
        if let Some(s) = v.and_then(Value::as_str) {
            out.push(s.to_owned());
        }
    };
    match kind {
        Kind::Dashboard => {
            let v = props.get("Version");
            for d in v
                .and_then(|v| v.get("DataSetArns"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                push(Some(d));
            }
            push(v.and_then(|v| v.get("ThemeArn")));
        }
        Kind::Analysis => {
            for d in props
                .get("DataSetArns")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                push(Some(d));
            }
            push(props.get("ThemeArn"));
        }
        Kind::DataSet => {
            for t in props
                .get("PhysicalTableMap")
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|m| m.values())
            {
                for variant in ["RelationalTable", "CustomSql", "S3Source", "SaaSTable"] {
                    push(t.get(variant).and_then(|v| v.get("DataSourceArn")));
                }
            }
            for t in props
                .get("LogicalTableMap")
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|m| m.values())
            {
                push(t.get("Source").and_then(|s| s.get("DataSetArn")));
            }
        }
        Kind::DataSource => push(
            props
                .get("VpcConnectionProperties")
                .and_then(|v| v.get("VpcConnectionArn")),
        ),
        Kind::Folder => push(props.get("ParentFolderArn")),
        Kind::Theme | Kind::VpcConnection => {}
    }
    out.retain(|a| !is_builtin_theme(a));
    out.sort();
    out.dedup();
    out
}

/// Dependencies exported along with an asset but not required to exist: a dashboard's source
/// analysis.
pub fn soft_dependencies(kind: Kind, props: &Json) -> Vec<String> {
    let source = props
        .get("Version")
        .and_then(|v| v.get("SourceEntityArn"))
        .and_then(Value::as_str);
    match source {
        Some(s) if kind == Kind::Dashboard && s.contains(":analysis/") => vec![s.to_owned()],
        _ => Vec::new(),
    }
}

/// Why an asset can't go into a bundle, if it can't (the service's own limits).
pub fn unsupported_reason(kind: Kind, a: &Asset) -> Option<String> {
    match kind {
        Kind::DataSource => {
            let t = a.props.get("Type").and_then(Value::as_str).unwrap_or("");
            if UNSUPPORTED_SOURCE_TYPES.contains(&t) {
                Some(format!(
                    "Data sources of type {t} are not supported by the asset bundle APIs."
                ))
            } else if t == "S3"
                && a.props
                    .get("DataSourceParameters")
                    .and_then(|p| p.get("S3Parameters"))
                    .is_none()
            {
                Some("Data sources created from uploaded files are not supported by the asset bundle APIs.".into())
            } else {
                None
            }
        }
        Kind::Dashboard => {
            let errors = a
                .props
                .get("Version")
                .and_then(|v| v.get("Errors"))
                .and_then(Value::as_array);
            errors.is_some_and(|e| !e.is_empty()).then(|| {
                "The dashboard has associated errors and cannot be exported. Call DescribeDashboardDefinition to retrieve the errors."
                    .to_owned()
            })
        }
        Kind::Analysis => {
            let errors = a.props.get("Errors").and_then(Value::as_array);
            errors.is_some_and(|e| !e.is_empty()).then(|| {
                "The analysis has associated errors and cannot be exported. Call DescribeAnalysisDefinition to retrieve the errors."
                    .to_owned()
            })
        }
        _ => None,
    }
}

/// Data source types the asset bundle APIs reject.
pub const UNSUPPORTED_SOURCE_TYPES: [&str; 6] = [
    "ADOBE_ANALYTICS",
    "GITHUB",
    "JIRA",
    "SALESFORCE",
    "SERVICENOW",
    "TWITTER",
];

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn arns_round_trip_including_sub_resources() {
        let a =
            parse_arn("arn:aws:quicksight:us-east-1:123456789012:dataset/ds-1/refresh-schedule/s1")
                .expect("arn");
        assert_eq!(
            (
                a.region.as_str(),
                a.account.as_str(),
                a.resource_type.as_str()
            ),
            ("us-east-1", "123456789012", "dataset")
        );
        assert_eq!(a.resource, "ds-1/refresh-schedule/s1");
        assert!(parse_arn("arn:aws:s3:::bucket").is_none());
        assert!(is_builtin_theme(&builtin_theme_arn("MIDNIGHT")));
    }
}
