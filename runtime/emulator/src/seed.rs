//! Deterministic seeded accounts: the same (seed, size) always yields the same assets, users and
//! groups (own PRNG, fixed base time). Fixed "special" assets exist at every size so tests can
//! rely on their IDs; numbered assets fill up to the requested size.

use serde_json::{Value, json};

use crate::model::{Account, Asset, Group, Kind, Namespace, builtin_theme_arn};
use crate::ops::{group_arn, group_json, obj, user_json};
use crate::prng::Prng;

/// The account and Region of seeded data.
pub const SAMPLE_ACCOUNT: &str = "123456789012";
pub const SAMPLE_REGION: &str = "us-east-1";
/// `Seed::Sample` = `generate(SAMPLE_SEED, SAMPLE_ASSETS)`.
pub const SAMPLE_SEED: u64 = 20_250_101;
pub const SAMPLE_ASSETS: usize = 300;
/// Number of fixed special assets present at every size.
pub const SPECIAL_ASSETS: usize = 28;

const BASE_TIME: u64 = 1_735_689_600; // 2025-01-01T00:00:00Z

const SUPPORTED_TYPES: [&str; 14] = [
    "ATHENA",
    "REDSHIFT",
    "POSTGRESQL",
    "MYSQL",
    "MARIADB",
    "AURORA",
    "AURORA_POSTGRESQL",
    "SQLSERVER",
    "ORACLE",
    "SNOWFLAKE",
    "DATABRICKS",
    "AMAZON_OPENSEARCH",
    "PRESTO",
    "S3",
];
/// Every 20th numbered data source is one of these ("FILE" = S3 without S3Parameters).
const UNSUPPORTED_CYCLE: [&str; 7] = [
    "JIRA",
    "SALESFORCE",
    "SERVICENOW",
    "GITHUB",
    "TWITTER",
    "ADOBE_ANALYTICS",
    "FILE",
];
const SUBJECTS: [&str; 15] = [
    "Sales",
    "Revenue",
    "Marketing",
    "Operations",
    "Finance",
    "Inventory",
    "Customer",
    "Supply Chain",
    "HR",
    "Support",
    "Product",
    "Logistics",
    "Web Traffic",
    "Churn",
    "Forecast",
];
const VIEWS: [&str; 10] = [
    "Overview",
    "Deep Dive",
    "KPIs",
    "Weekly Report",
    "Monthly Trends",
    "Scorecard",
    "Executive Summary",
    "Pipeline",
    "Health",
    "Analysis",
];
const TEAMS: [&str; 5] = ["sales", "finance", "ops", "marketing", "data-platform"];
const TABLES: [(&str, &[(&str, &str)]); 4] = [
    (
        "orders",
        &[
            ("order_id", "STRING"),
            ("customer_id", "STRING"),
            ("amount", "DECIMAL"),
            ("order_date", "DATETIME"),
            ("quantity", "INTEGER"),
        ],
    ),
    (
        "customers",
        &[
            ("customer_id", "STRING"),
            ("name", "STRING"),
            ("segment", "STRING"),
            ("country", "STRING"),
            ("signup_date", "DATETIME"),
        ],
    ),
    (
        "web_sessions",
        &[
            ("session_id", "STRING"),
            ("page", "STRING"),
            ("duration_s", "INTEGER"),
            ("started_at", "DATETIME"),
        ],
    ),
    (
        "tickets",
        &[
            ("ticket_id", "STRING"),
            ("priority", "STRING"),
            ("opened_at", "DATETIME"),
            ("resolution_h", "DECIMAL"),
        ],
    ),
];

struct Gen {
    r: Prng,
    a: Account,
}

fn actions(kind: Kind, owner: bool) -> Vec<&'static str> {
    let (all, read): (&[&str], &[&str]) = match kind {
        Kind::Dashboard => (
            &[
                "quicksight:DescribeDashboard",
                "quicksight:ListDashboardVersions",
                "quicksight:UpdateDashboardPermissions",
                "quicksight:QueryDashboard",
                "quicksight:UpdateDashboard",
                "quicksight:DeleteDashboard",
                "quicksight:DescribeDashboardPermissions",
                "quicksight:UpdateDashboardPublishedVersion",
            ],
            &[
                "quicksight:DescribeDashboard",
                "quicksight:ListDashboardVersions",
                "quicksight:QueryDashboard",
            ],
        ),
        Kind::Analysis => (
            &[
                "quicksight:RestoreAnalysis",
                "quicksight:UpdateAnalysisPermissions",
                "quicksight:DeleteAnalysis",
                "quicksight:DescribeAnalysisPermissions",
                "quicksight:QueryAnalysis",
                "quicksight:DescribeAnalysis",
                "quicksight:UpdateAnalysis",
            ],
            &["quicksight:DescribeAnalysis", "quicksight:QueryAnalysis"],
        ),
        Kind::DataSet => (
            &[
                "quicksight:DescribeDataSet",
                "quicksight:DescribeDataSetPermissions",
                "quicksight:PassDataSet",
                "quicksight:DescribeIngestion",
                "quicksight:ListIngestions",
                "quicksight:UpdateDataSet",
                "quicksight:DeleteDataSet",
                "quicksight:CreateIngestion",
                "quicksight:CancelIngestion",
                "quicksight:UpdateDataSetPermissions",
            ],
            &[
                "quicksight:DescribeDataSet",
                "quicksight:DescribeDataSetPermissions",
                "quicksight:PassDataSet",
            ],
        ),
        Kind::DataSource => (
            &[
                "quicksight:DescribeDataSource",
                "quicksight:DescribeDataSourcePermissions",
                "quicksight:PassDataSource",
                "quicksight:UpdateDataSource",
                "quicksight:DeleteDataSource",
                "quicksight:UpdateDataSourcePermissions",
            ],
            &[
                "quicksight:DescribeDataSource",
                "quicksight:DescribeDataSourcePermissions",
                "quicksight:PassDataSource",
            ],
        ),
        Kind::Theme => (
            &[
                "quicksight:DescribeTheme",
                "quicksight:ListThemeVersions",
                "quicksight:UpdateTheme",
                "quicksight:DeleteTheme",
                "quicksight:UpdateThemePermissions",
                "quicksight:DescribeThemePermissions",
            ],
            &["quicksight:DescribeTheme", "quicksight:ListThemeVersions"],
        ),
        Kind::Folder => (
            &[
                "quicksight:CreateFolder",
                "quicksight:DescribeFolder",
                "quicksight:UpdateFolder",
                "quicksight:DeleteFolder",
                "quicksight:CreateFolderMembership",
                "quicksight:DeleteFolderMembership",
                "quicksight:DescribeFolderPermissions",
                "quicksight:UpdateFolderPermissions",
            ],
            &["quicksight:DescribeFolder"],
        ),
        Kind::VpcConnection => (&[], &[]),
    };
    if owner { all.to_vec() } else { read.to_vec() }
}

fn tag(k: &str, v: &str) -> Value {
    json!({ "Key": k, "Value": v })
}

impl Gen {
    fn times(&mut self) -> (f64, f64) {
        let created = BASE_TIME + self.r.below(200 * 86_400) as u64;
        let updated = created + self.r.below(60 * 86_400) as u64;
        (created as f64, updated as f64)
    }

    fn group(&self, name: &str) -> String {
        group_arn(&self.a.region, &self.a.account, "default", name)
    }

    fn arn(&self, kind: Kind, id: &str) -> String {
        self.a.arn(kind, id)
    }

    fn add(&mut self, kind: Kind, id: &str, name: &str, props: Value, tags: Vec<Value>) -> String {
        let (created, updated) = self.times();
        let mut permissions = Vec::new();
        if kind != Kind::VpcConnection {
            permissions
                .push(json!({ "Principal": self.group("admins"), "Actions": actions(kind, true) }));
            if matches!(kind, Kind::Dashboard | Kind::Folder | Kind::DataSet) || self.r.chance(0.5)
            {
                permissions.push(
                    json!({ "Principal": self.group("analysts"), "Actions": actions(kind, false) }),
                );
            }
            if kind == Kind::Dashboard && self.r.chance(0.5) {
                permissions.push(
                    json!({ "Principal": self.group("readers"), "Actions": actions(kind, false) }),
                );
            }
        }
        let asset = Asset {
            id: id.to_owned(),
            name: name.to_owned(),
            created,
            updated,
            props: obj(props),
            permissions,
            tags,
        };
        self.a.map_mut(kind).insert(id.to_owned(), asset);
        self.arn(kind, id)
    }

    fn name(&mut self) -> String {
        format!("{} {}", self.r.pick(&SUBJECTS), self.r.pick(&VIEWS))
    }

    fn vpc(&mut self, id: &str, name: &str) -> String {
        let n = self.r.next_u64();
        let props = json!({
            "VPCId": format!("vpc-{:017x}", n >> 4),
            "SecurityGroupIds": [format!("sg-{:017x}", n >> 8)],
            "DnsResolvers": [],
            "Status": "CREATION_SUCCESSFUL",
            "AvailabilityStatus": "AVAILABLE",
            "NetworkInterfaces": [
                { "SubnetId": format!("subnet-{:08x}", n as u32), "AvailabilityZone": "us-east-1a",
                  "Status": "AVAILABLE", "NetworkInterfaceId": format!("eni-{:017x}", n >> 12) },
            ],
            "RoleArn": format!("arn:aws:iam::{}:role/QuickSightVpcConnectionRole", self.a.account),
        });
        self.add(Kind::VpcConnection, id, name, props, vec![])
    }

    fn source(&mut self, id: &str, name: &str, t: &str, vpc: Option<String>) -> String {
        let host = format!("{id}.cluster-example.us-east-1.rds.amazonaws.com");
        let db = |key: &str, port: u16| json!({ key: { "Host": host, "Port": port, "Database": "analytics" } });
        let params = match t {
            "ATHENA" => Some(json!({ "AthenaParameters": { "WorkGroup": "primary" } })),
            "REDSHIFT" => Some(json!({ "RedshiftParameters": {
                "Host": format!("{id}.abc123xyz.us-east-1.redshift.amazonaws.com"), "Port": 5439,
                "Database": "dev", "ClusterId": id } })),
            "POSTGRESQL" => Some(db("PostgreSqlParameters", 5432)),
            "MYSQL" => Some(db("MySqlParameters", 3306)),
            "MARIADB" => Some(db("MariaDbParameters", 3306)),
            "AURORA" => Some(db("AuroraParameters", 3306)),
            "AURORA_POSTGRESQL" => Some(db("AuroraPostgreSqlParameters", 5432)),
            "SQLSERVER" => Some(db("SqlServerParameters", 1433)),
            "ORACLE" => Some(db("OracleParameters", 1521)),
            "SNOWFLAKE" => Some(json!({ "SnowflakeParameters": {
                "Host": "example.snowflakecomputing.com", "Database": "ANALYTICS", "Warehouse": "COMPUTE_WH" } })),
            "DATABRICKS" => Some(json!({ "DatabricksParameters": {
                "Host": "dbc-1234.cloud.databricks.com", "Port": 443, "SqlEndpointPath": "/sql/1.0/warehouses/abc" } })),
            "AMAZON_OPENSEARCH" => Some(json!({ "AmazonOpenSearchParameters": {
                "Domain": format!("search-{id}.us-east-1.es.amazonaws.com") } })),
            "PRESTO" => Some(
                json!({ "PrestoParameters": { "Host": host, "Port": 8080, "Catalog": "hive" } }),
            ),
            "S3" => Some(json!({ "S3Parameters": { "ManifestFileLocation": {
                "Bucket": format!("analytics-{}", self.a.account), "Key": format!("manifests/{id}.json") } } })),
            "JIRA" => Some(
                json!({ "JiraParameters": { "SiteBaseUrl": "https://example.atlassian.net" } }),
            ),
            "SERVICENOW" => Some(
                json!({ "ServiceNowParameters": { "SiteBaseUrl": "https://example.service-now.com" } }),
            ),
            "TWITTER" => {
                Some(json!({ "TwitterParameters": { "Query": "#quicksight", "MaxRows": 10000 } }))
            }
            _ => None, // ADOBE_ANALYTICS, GITHUB, SALESFORCE (OAuth, no parameters) and FILE
        };
        let real_type = if t == "FILE" { "S3" } else { t };
        let mut p = json!({ "Type": real_type, "Status": "CREATION_SUCCESSFUL" });
        if let Some(params) = params {
            p["DataSourceParameters"] = params;
        }
        if SUPPORTED_TYPES.contains(&t) && !matches!(t, "ATHENA" | "S3") {
            p["SslProperties"] = json!({ "DisableSsl": false });
            p["SecretArn"] = json!(format!(
                "arn:aws:secretsmanager:us-east-1:{}:secret:quicksight/{id}-AbCdEf",
                self.a.account
            ));
        }
        if let Some(v) = vpc {
            p["VpcConnectionProperties"] = json!({ "VpcConnectionArn": v });
        }
        let tags = vec![tag("owner", "data-platform")];
        self.add(Kind::DataSource, id, name, p, tags)
    }

    fn data_set(
        &mut self,
        id: &str,
        name: &str,
        source_arn: &str,
        source_type: &str,
        spice: bool,
        team: &str,
    ) -> String {
        let (table, cols) = *self.r.pick(&TABLES);
        let input: Vec<Value> = cols
            .iter()
            .map(|(n, t)| json!({ "Name": n, "Type": t }))
            .collect();
        let pt = format!(
            "{:08x}-{:04x}",
            self.r.next_u64() as u32,
            self.r.next_u64() as u16
        );
        let physical = if source_type == "S3" || source_type == "FILE" {
            json!({ "S3Source": { "DataSourceArn": source_arn,
                "UploadSettings": { "Format": "CSV", "StartFromRow": 1, "ContainsHeader": true, "TextQualifier": "DOUBLE_QUOTE", "Delimiter": "," },
                "InputColumns": input } })
        } else if self.r.chance(0.25) {
            let names: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
            json!({ "CustomSql": { "DataSourceArn": source_arn, "Name": format!("{table} query"),
                "SqlQuery": format!("SELECT {} FROM {table}", names.join(", ")), "Columns": input } })
        } else if source_type == "ATHENA" {
            json!({ "RelationalTable": { "DataSourceArn": source_arn, "Catalog": "AwsDataCatalog", "Schema": "default", "Name": table, "InputColumns": input } })
        } else {
            json!({ "RelationalTable": { "DataSourceArn": source_arn, "Schema": "public", "Name": table, "InputColumns": input } })
        };
        let output: Vec<Value> = cols
            .iter()
            .map(|(n, t)| json!({ "Name": n, "Type": t }))
            .collect();
        let props = json!({
            "PhysicalTableMap": { pt.clone(): physical },
            "LogicalTableMap": { format!("{pt}-l"): { "Alias": table, "Source": { "PhysicalTableId": pt } } },
            "OutputColumns": output,
            "ImportMode": if spice { "SPICE" } else { "DIRECT_QUERY" },
            "ConsumedSpiceCapacityInBytes": if spice { self.r.below(500_000_000) as u64 + 1024 } else { 0 },
            "DataSetUsageConfiguration": { "DisableUseAsDirectQuerySource": false, "DisableUseAsImportedSource": false },
        });
        let arn = self.add(Kind::DataSet, id, name, props, vec![tag("team", team)]);
        if spice && (id == "dataset-sales" || self.r.chance(0.5)) {
            let sid = format!("schedule-{id}");
            let start = BASE_TIME + 200 * 86_400 + self.r.below(86_400) as u64;
            let schedule = json!({
                "ScheduleId": sid,
                "ScheduleFrequency": { "Interval": "DAILY", "TimeOfTheDay": "02:00", "Timezone": "UTC" },
                "StartAfterDateTime": start,
                "RefreshType": "FULL_REFRESH",
                "Arn": format!("{arn}/refresh-schedule/{sid}"),
            });
            self.a
                .refresh_schedules
                .insert(id.to_owned(), vec![schedule]);
        }
        arn
    }

    fn theme(&mut self, id: &str, name: &str) -> String {
        let base = *self.r.pick(&["CLASSIC", "MIDNIGHT", "SEASIDE", "RAINIER"]);
        let colors: Vec<String> = (0..6)
            .map(|_| format!("#{:06X}", self.r.next_u64() & 0xFF_FFFF))
            .collect();
        let props = json!({
            "Type": "CUSTOM",
            "Version": {
                "VersionNumber": 1, "Description": format!("{name} v1"), "BaseThemeId": base, "Status": "CREATION_SUCCESSFUL",
                "Configuration": {
                    "DataColorPalette": { "Colors": colors, "EmptyFillColor": "#FFFFFF" },
                    "UIColorPalette": { "PrimaryForeground": "#1B1B1B", "PrimaryBackground": "#FFFFFF", "Accent": "#0073BB" },
                },
            },
        });
        self.add(Kind::Theme, id, name, props, vec![])
    }

    fn sheets(&mut self, n: usize) -> Vec<Value> {
        (1..=n).map(|i| json!({ "SheetId": format!("{:08x}-sheet-{i}", self.r.next_u64() as u32), "Name": format!("Sheet {i}") })).collect()
    }

    fn broken_errors(kind: &str) -> Value {
        json!([{ "Type": "COLUMN_TYPE_MISMATCH",
                 "Message": format!("The {kind} references column 'amount' as DECIMAL but the dataset now returns STRING."),
                 "ViolatedEntities": [{ "Path": "sheet/1/visual/3" }] }])
    }

    fn analysis(
        &mut self,
        id: &str,
        name: &str,
        data_sets: &[String],
        theme: Option<String>,
        broken: bool,
        team: &str,
    ) -> String {
        let n = 1 + self.r.below(3);
        let mut p = json!({ "Status": "CREATION_SUCCESSFUL", "DataSetArns": data_sets, "Sheets": self.sheets(n) });
        if let Some(t) = theme {
            p["ThemeArn"] = json!(t);
        }
        if broken {
            p["Errors"] = Self::broken_errors("analysis");
        }
        self.add(Kind::Analysis, id, name, p, vec![tag("team", team)])
    }

    #[allow(clippy::too_many_arguments)]
    fn dashboard(
        &mut self,
        id: &str,
        name: &str,
        source: Option<&str>,
        data_sets: &[String],
        theme: Option<String>,
        broken: bool,
        tags: Vec<Value>,
    ) -> String {
        let version = 1 + self.r.below(4);
        let n = 1 + self.r.below(3);
        let mut v = json!({ "VersionNumber": version, "Status": "CREATION_SUCCESSFUL", "DataSetArns": data_sets,
                            "Description": format!("Published version {version}"), "Sheets": self.sheets(n) });
        if let Some(s) = source {
            v["SourceEntityArn"] = json!(s);
        }
        if let Some(t) = theme {
            v["ThemeArn"] = json!(t);
        }
        if broken {
            v["Errors"] = Self::broken_errors("dashboard");
        }
        self.add(Kind::Dashboard, id, name, json!({ "Version": v }), tags)
    }

    fn folder(&mut self, id: &str, name: &str, parent: Option<&str>) -> String {
        let mut p = json!({ "FolderType": "SHARED", "SharingModel": "ACCOUNT" });
        if let Some(parent) = parent {
            p["ParentFolderArn"] = json!(parent);
        }
        self.add(Kind::Folder, id, name, p, vec![])
    }

    fn member(&mut self, folder_id: &str, kind: Kind, id: &str) {
        let arn = self.arn(kind, id);
        self.a
            .folder_members
            .entry(folder_id.to_owned())
            .or_default()
            .insert(arn, id.to_owned());
    }
}

/// Builds a seeded account: fixed specials plus numbered assets up to `assets` in total.
pub fn generate(account: &str, region: &str, seed: u64, assets: usize) -> Account {
    let mut g = Gen {
        r: Prng::new(seed),
        a: Account::empty(account, region),
    };
    identities(&mut g, assets);
    let rest = assets.saturating_sub(SPECIAL_ASSETS);
    let (n_vpc, n_src, n_ds, n_theme, n_an, n_folder) = (
        rest / 100,
        rest * 9 / 100,
        rest * 27 / 100,
        rest * 3 / 100,
        rest / 5,
        rest / 10,
    );
    let n_dash = rest - n_vpc - n_src - n_ds - n_theme - n_an - n_folder;

    // --- fixed specials (28) ---
    let vpc_main = g.vpc("vpc-main", "Main analytics VPC");
    let redshift = g.source(
        "ds-redshift-main",
        "Redshift (main)",
        "REDSHIFT",
        Some(vpc_main.clone()),
    );
    let athena = g.source("ds-athena-main", "Athena (data lake)", "ATHENA", None);
    let s3 = g.source("ds-s3-manifest", "S3 manifest", "S3", None);
    let mut unsupported = Vec::new();
    for (id, t) in [
        ("ds-adobe-analytics", "ADOBE_ANALYTICS"),
        ("ds-github", "GITHUB"),
        ("ds-jira", "JIRA"),
        ("ds-salesforce", "SALESFORCE"),
        ("ds-servicenow", "SERVICENOW"),
        ("ds-twitter", "TWITTER"),
        ("ds-uploaded-file", "FILE"),
    ] {
        unsupported.push(g.source(id, &format!("{t} source"), t, None));
    }
    let sales = g.data_set(
        "dataset-sales",
        "Sales",
        &redshift,
        "REDSHIFT",
        true,
        "sales",
    );
    let customers = g.data_set(
        "dataset-customers",
        "Customers",
        &athena,
        "ATHENA",
        false,
        "sales",
    );
    let jira_ds = g.data_set(
        "dataset-jira-issues",
        "Jira issues",
        &unsupported[2],
        "JIRA",
        true,
        "ops",
    );
    g.data_set(
        "dataset-uploaded-file",
        "Uploaded spreadsheet",
        &unsupported[6],
        "FILE",
        true,
        "finance",
    );
    let corporate = g.theme("theme-corporate", "Corporate");
    let good_sets = vec![sales.clone(), customers.clone()];
    let sales_an = g.analysis(
        "analysis-sales-overview",
        "Sales Overview",
        &good_sets,
        Some(corporate.clone()),
        false,
        "sales",
    );
    g.analysis(
        "analysis-broken-1",
        "Broken analysis 1",
        std::slice::from_ref(&sales),
        None,
        true,
        "sales",
    );
    g.analysis(
        "analysis-broken-2",
        "Broken analysis 2",
        std::slice::from_ref(&customers),
        None,
        true,
        "ops",
    );
    let jira_an = g.analysis(
        "analysis-jira",
        "Jira issues",
        std::slice::from_ref(&jira_ds),
        None,
        false,
        "ops",
    );
    let high = vec![tag("team", "sales"), tag("criticality", "high")];
    g.dashboard(
        "dashboard-sales-overview",
        "Sales Overview",
        Some(&sales_an),
        &good_sets,
        Some(corporate.clone()),
        false,
        high,
    );
    for i in 1..=3 {
        let t = vec![tag("team", "finance")];
        g.dashboard(
            &format!("dashboard-broken-{i}"),
            &format!("Broken dashboard {i}"),
            None,
            std::slice::from_ref(&sales),
            None,
            true,
            t,
        );
    }
    let t = vec![tag("team", "ops")];
    g.dashboard(
        "dashboard-jira",
        "Jira issues",
        Some(&jira_an),
        std::slice::from_ref(&jira_ds),
        None,
        false,
        t,
    );
    let finance = g.folder("folder-finance", "Finance", None);
    let sales_f = g.folder("folder-sales", "Sales", Some(&finance));
    g.folder("folder-sales-archive", "Sales archive", Some(&sales_f));
    g.member("folder-sales", Kind::Dashboard, "dashboard-sales-overview");
    g.member("folder-sales", Kind::Analysis, "analysis-sales-overview");
    g.member("folder-sales", Kind::DataSet, "dataset-sales");
    g.member("folder-finance", Kind::Dashboard, "dashboard-broken-1");

    // --- numbered fill ---
    let mut vpcs = vec![vpc_main];
    for i in 1..=n_vpc {
        vpcs.push(g.vpc(&format!("vpc-{i:05}"), &format!("VPC connection {i}")));
    }
    let mut sources: Vec<(String, String)> = vec![
        (redshift, "REDSHIFT".into()),
        (athena, "ATHENA".into()),
        (s3, "S3".into()),
    ];
    let specials_sources = sources.len();
    for i in 1..=n_src {
        let t = if i % 20 == 0 {
            UNSUPPORTED_CYCLE[(i / 20 - 1) % UNSUPPORTED_CYCLE.len()]
        } else {
            *g.r.pick(&SUPPORTED_TYPES)
        };
        let vpc = (t != "S3" && t != "ATHENA" && SUPPORTED_TYPES.contains(&t) && g.r.chance(0.3))
            .then(|| g.r.pick(&vpcs).clone());
        let name = format!("{} {}", g.r.pick(&SUBJECTS), t.to_lowercase());
        let arn = g.source(&format!("ds-{i:05}"), &name, t, vpc);
        sources.push((arn, t.to_owned()));
    }
    let pool = if sources.len() > specials_sources {
        specials_sources..sources.len()
    } else {
        0..sources.len()
    };
    let mut data_sets = Vec::new();
    for i in 1..=n_ds {
        let (src, t) = sources[pool.start + g.r.below(pool.len())].clone();
        let spice = g.r.chance(0.6);
        let name = format!(
            "{} {}",
            g.r.pick(&SUBJECTS),
            g.r.pick(&["data", "facts", "daily", "raw", "curated"])
        );
        let team = *g.r.pick(&TEAMS);
        data_sets.push(g.data_set(&format!("dataset-{i:05}"), &name, &src, &t, spice, team));
    }
    if data_sets.is_empty() {
        data_sets = good_sets.clone();
    }
    let mut themes = vec![corporate];
    for i in 1..=n_theme {
        let name = format!("{} theme", g.r.pick(&SUBJECTS));
        themes.push(g.theme(&format!("theme-{i:05}"), &name));
    }
    let pick_sets = |g: &mut Gen| -> Vec<String> {
        let n = 1 + g.r.below(3);
        let mut v: Vec<String> = (0..n).map(|_| g.r.pick(&data_sets).clone()).collect();
        v.sort();
        v.dedup();
        v
    };
    let pick_theme = |g: &mut Gen| -> Option<String> {
        let x = g.r.unit();
        if x < 0.3 {
            Some(g.r.pick(&themes).clone())
        } else if x < 0.45 {
            Some(builtin_theme_arn("MIDNIGHT"))
        } else {
            None
        }
    };
    let mut analyses: Vec<(String, Vec<String>, Option<String>)> = Vec::new();
    for i in 1..=n_an {
        let sets = pick_sets(&mut g);
        let theme = pick_theme(&mut g);
        let broken = i % 40 == 0;
        let name = g.name();
        let team = *g.r.pick(&TEAMS);
        let arn = g.analysis(
            &format!("analysis-{i:05}"),
            &name,
            &sets,
            theme.clone(),
            broken,
            team,
        );
        if !broken {
            analyses.push((arn, sets, theme));
        }
    }
    let mut dashboards = Vec::new();
    for i in 1..=n_dash {
        let broken = i % 40 == 0;
        let (source, sets, theme) = if !analyses.is_empty() && g.r.chance(0.75) {
            let (a, s, t) = g.r.pick(&analyses).clone();
            (Some(a), s, t)
        } else {
            (None, pick_sets(&mut g), pick_theme(&mut g))
        };
        let team = *g.r.pick(&TEAMS);
        let mut tags = vec![tag("team", team)];
        tags.push(tag(
            "criticality",
            if i % 5 == 0 {
                "high"
            } else if i % 5 == 1 {
                "low"
            } else {
                "medium"
            },
        ));
        let name = g.name();
        let id = format!("dashboard-{i:05}");
        g.dashboard(&id, &name, source.as_deref(), &sets, theme, broken, tags);
        dashboards.push(id);
    }
    let mut folders: Vec<(String, String, usize)> = Vec::new();
    for i in 1..=n_folder {
        let id = format!("folder-{i:05}");
        let name = format!(
            "{} {}",
            g.r.pick(&TEAMS),
            g.r.pick(&["reports", "shared", "archive", "drafts", "exec", "q1", "q2"])
        );
        let roots = (n_folder / 3).max(1);
        let parent = if i <= roots {
            None
        } else {
            let candidates: Vec<&(String, String, usize)> =
                folders.iter().filter(|f| f.2 < 3).collect();
            (!candidates.is_empty()).then(|| (*g.r.pick(&candidates)).clone())
        };
        let depth = parent.as_ref().map_or(0, |p| p.2 + 1);
        let arn = g.folder(&id, &name, parent.as_ref().map(|p| p.1.as_str()));
        folders.push((id, arn, depth));
    }
    if !folders.is_empty() {
        for d in &dashboards {
            if g.r.chance(0.5) {
                let f = g.r.pick(&folders).0.clone();
                g.member(&f, Kind::Dashboard, d);
            }
        }
        for i in 1..=n_an {
            if g.r.chance(0.3) {
                let f = g.r.pick(&folders).0.clone();
                g.member(&f, Kind::Analysis, &format!("analysis-{i:05}"));
            }
        }
        for i in 1..=n_ds {
            if g.r.chance(0.2) {
                let f = g.r.pick(&folders).0.clone();
                g.member(&f, Kind::DataSet, &format!("dataset-{i:05}"));
            }
        }
    }
    let theme_arn = g.arn(Kind::Theme, "theme-corporate");
    g.a.customizations
        .insert("default".into(), obj(json!({ "DefaultTheme": theme_arn })));
    g.a.settings
        .insert("AccountName".into(), json!(format!("qsbackup-{account}")));
    g.a
}

fn identities(g: &mut Gen, assets: usize) {
    let (region, account) = (g.a.region.clone(), g.a.account.clone());
    let mut ns = Namespace::default();
    let add_user =
        |ns: &mut Namespace, ns_name: &str, name: &str, email: &str, role: &str, identity: &str| {
            ns.users.insert(
                name.to_owned(),
                user_json(&region, &account, ns_name, name, email, role, identity),
            );
        };
    add_user(
        &mut ns,
        "default",
        "admin@example.com",
        "admin@example.com",
        "ADMIN",
        "QUICKSIGHT",
    );
    add_user(
        &mut ns,
        "default",
        "role/Admin Session@example.com",
        "admin.session@example.com",
        "ADMIN",
        "IAM",
    );
    add_user(
        &mut ns,
        "default",
        "QuickSightReader/jane.doe@example.com",
        "jane.doe@example.com",
        "READER",
        "IAM",
    );
    add_user(
        &mut ns,
        "default",
        "svc-backup",
        "svc-backup@example.com",
        "AUTHOR",
        "QUICKSIGHT",
    );
    let mut admins = vec![
        "admin@example.com".to_owned(),
        "role/Admin Session@example.com".to_owned(),
    ];
    let mut authors = vec!["svc-backup".to_owned()];
    let mut readers = vec!["QuickSightReader/jane.doe@example.com".to_owned()];
    for i in 1..=(assets / 15).max(6) {
        let email = format!("user{i:05}@example.com");
        let x = g.r.unit();
        let role = if x < 0.1 {
            "ADMIN"
        } else if x < 0.4 {
            "AUTHOR"
        } else {
            "READER"
        };
        let (name, identity) = if i % 2 == 0 {
            (
                format!(
                    "QuickSight{}/{email}",
                    if role == "READER" { "Reader" } else { "Author" }
                ),
                "IAM",
            )
        } else {
            (email.clone(), "QUICKSIGHT")
        };
        add_user(&mut ns, "default", &name, &email, role, identity);
        match role {
            "ADMIN" => admins.push(name),
            "AUTHOR" => authors.push(name),
            _ => readers.push(name),
        }
    }
    let mut groups: Vec<(&str, &str, Vec<String>)> = vec![
        ("admins", "QuickSight administrators", admins),
        ("analysts", "Authors building analyses", authors.clone()),
        ("readers", "Dashboard readers", readers.clone()),
        ("empty-group", "A group without members", vec![]),
    ];
    let half = |v: &Vec<String>, r: &mut Prng| -> Vec<String> {
        v.iter().filter(|_| r.chance(0.5)).cloned().collect()
    };
    let sales = half(&readers, &mut g.r);
    let finance = half(&authors, &mut g.r);
    groups.push(("team-sales", "Sales team", sales));
    groups.push(("team-finance", "Finance team", finance));
    for (name, description, members) in groups {
        let json = group_json(&region, &account, "default", name, Some(description));
        ns.groups.insert(
            name.to_owned(),
            Group {
                json,
                members: members.into_iter().collect(),
            },
        );
    }
    g.a.namespaces.insert("default".into(), ns);
    for tenant in ["tenant-a", "tenant-b"] {
        let mut t = Namespace::default();
        let users = [("alice", "ADMIN"), ("bob", "AUTHOR"), ("carol", "READER")];
        for (u, role) in users {
            let email = format!("{u}@{tenant}.example.com");
            t.users.insert(
                email.clone(),
                user_json(
                    &region,
                    &account,
                    tenant,
                    &email,
                    &email,
                    role,
                    "QUICKSIGHT",
                ),
            );
        }
        let admins: Vec<String> = vec![format!("alice@{tenant}.example.com")];
        let readers: Vec<String> = vec![
            format!("bob@{tenant}.example.com"),
            format!("carol@{tenant}.example.com"),
        ];
        for (suffix, members) in [("admins", admins), ("readers", readers)] {
            let name = format!("{tenant}-{suffix}");
            let json = group_json(&region, &account, tenant, &name, None);
            t.groups.insert(
                name,
                Group {
                    json,
                    members: members.into_iter().collect(),
                },
            );
        }
        g.a.namespaces.insert(tenant.into(), t);
    }
}

/// Counts per kind (tests).
#[cfg(test)]
pub fn counts(acct: &Account) -> Vec<(Kind, usize)> {
    Kind::ALL.iter().map(|k| (*k, acct.map(*k).len())).collect()
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sample_has_about_three_hundred_assets_and_the_specials() {
        let a = generate(SAMPLE_ACCOUNT, SAMPLE_REGION, SAMPLE_SEED, SAMPLE_ASSETS);
        assert_eq!(a.asset_count(), SAMPLE_ASSETS);
        for (k, id) in [
            (Kind::Dashboard, "dashboard-sales-overview"),
            (Kind::Dashboard, "dashboard-broken-3"),
            (Kind::Analysis, "analysis-broken-2"),
            (Kind::DataSource, "ds-uploaded-file"),
            (Kind::DataSet, "dataset-jira-issues"),
            (Kind::Folder, "folder-sales-archive"),
            (Kind::VpcConnection, "vpc-main"),
            (Kind::Theme, "theme-corporate"),
        ] {
            assert!(a.get(k, id).is_some(), "{id}");
        }
        assert!(
            a.namespaces["default"]
                .users
                .contains_key("role/Admin Session@example.com")
        );
        assert!(
            a.namespaces["default"].groups["empty-group"]
                .members
                .is_empty()
        );
        assert_eq!(a.namespaces.len(), 3);
    }

    #[test]
    fn generation_is_deterministic_for_a_seed_and_differs_across_seeds() {
        let a = generate(SAMPLE_ACCOUNT, SAMPLE_REGION, 7, 500);
        let b = generate(SAMPLE_ACCOUNT, SAMPLE_REGION, 7, 500);
        let c = generate(SAMPLE_ACCOUNT, SAMPLE_REGION, 8, 500);
        let names = |x: &Account| {
            x.map(Kind::Dashboard)
                .values()
                .map(|d| (d.name.clone(), d.created))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&a), names(&b));
        assert_ne!(names(&a), names(&c));
        assert_eq!(counts(&a), counts(&b));
    }

    #[test]
    fn twenty_thousand_assets_are_generated_exactly() {
        let a = generate(SAMPLE_ACCOUNT, SAMPLE_REGION, 1, 20_000);
        assert_eq!(a.asset_count(), 20_000);
        assert!(a.map(Kind::Dashboard).len() > 5_000);
    }

    #[test]
    fn small_sizes_still_hold_the_specials() {
        let a = generate(SAMPLE_ACCOUNT, SAMPLE_REGION, 1, 0);
        assert_eq!(a.asset_count(), SPECIAL_ASSETS);
    }
}
