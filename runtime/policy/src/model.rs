//! The policy types: what to back up, when, how, where and for how long.
//! Doc comments here become the descriptions in `schema/policy.schema.json` and `docs/policy.md`.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// Pattern of an AWS Region code such as `us-east-1`, `eu-central-2` or `us-gov-west-1`.
pub const REGION_PATTERN: &str = "^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$";
/// Pattern of a 12-digit AWS account id.
pub const ACCOUNT_PATTERN: &str = "^[0-9]{12}$";
/// Pattern of a policy name.
pub const NAME_PATTERN: &str = "^[A-Za-z0-9_-]{1,64}$";
/// Pattern of a KMS key or alias ARN.
pub const KMS_ARN_PATTERN: &str =
    "^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/[A-Za-z0-9/_+=.@-]+$";
/// Pattern of an SNS topic ARN.
pub const SNS_ARN_PATTERN: &str =
    "^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\\.fifo)?$";
/// Pattern of an e-mail address (deliberately loose; SNS confirms the address).
pub const EMAIL_PATTERN: &str = "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$";
/// Pattern of a storage prefix: `/`-separated segments that start with a letter or digit.
pub const PREFIX_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9_.=-]*(/[A-Za-z0-9][A-Za-z0-9_.=-]*)*$";
/// Pattern of a QuickSight namespace name.
pub const NAMESPACE_PATTERN: &str = "^[A-Za-z0-9._-]{1,64}$";
/// Pattern of a QuickSight asset id.
pub const ASSET_ID_PATTERN: &str = "^[A-Za-z0-9_-]{1,512}$";

/// The only policy format version this build understands.
pub const POLICY_VERSION: u32 = 1;

/// A qsbackup backup policy: what to back up, when, how, where and for how long.
///
/// Every field except `version`, `name` and `targets` has a cautious default.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
#[schemars(title = "qsbackup policy")]
pub struct Policy {
    /// Location of the JSON Schema this file follows, for editors (e.g. `../schema/policy.schema.json`).
    /// Ignored by qsbackup and left out of the policy digest. Default: none.
    #[serde(rename = "$schema", skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Policy format version. Must be `1`. Required.
    #[schemars(required, extend("const" = 1))]
    pub version: u32,
    /// Name of the policy: 1–64 letters, digits, `-` or `_`. Names the deployed stack resources
    /// and appears in reports. Required.
    #[schemars(required, length(min = 1, max = 64), pattern(NAME_PATTERN))]
    pub name: String,
    /// Free text shown in reports. Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,
    /// Where the QuickSight assets and identities live. Default: Region `us-east-1`, all namespaces.
    pub source: Source,
    /// The accounts (and Regions) this policy is rolled out to; at least one. Required.
    #[schemars(required, length(min = 1))]
    pub targets: Vec<Target>,
    /// When backups run. Default: daily at 02:00 UTC.
    pub schedule: Schedule,
    /// What a run backs up: `full` (assets and identities), `assets-only` or `users-only`.
    /// Default: `full`.
    pub mode: Mode,
    /// Which assets are backed up. Default: every asset of every type, with its dependencies.
    pub selection: Selection,
    /// How assets are exported (asset bundle export jobs). Default: QuickSight JSON with
    /// dependencies, permissions, tags and folder memberships.
    pub export: ExportSettings,
    /// Backup of users, groups and group memberships. Default: enabled, the source namespaces.
    pub identities: Identities,
    /// Back up account settings and account customization. Default: `true`.
    pub account_settings: bool,
    /// How long backups are kept. Default: keep the last 7 runs, 7 daily, 4 weekly, 12 monthly.
    pub retention: Retention,
    /// Where backups are written. Default: an S3 bucket created by the deployed stack,
    /// prefix `qsbackup`, SSE-S3.
    pub storage: Storage,
    /// Who is told about runs. Default: nobody (no topic, no e-mail); when a topic or e-mail is
    /// given, failed and partially failed runs are reported.
    pub notifications: Notifications,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            schema: None,
            version: POLICY_VERSION,
            name: String::new(),
            description: None,
            source: Source::default(),
            targets: Vec::new(),
            schedule: Schedule::default(),
            mode: Mode::default(),
            selection: Selection::default(),
            export: ExportSettings::default(),
            identities: Identities::default(),
            account_settings: true,
            retention: Retention::default(),
            storage: Storage::default(),
            notifications: Notifications::default(),
        }
    }
}

/// Where the QuickSight assets and identities live.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Source {
    /// AWS Region of the QuickSight assets (the asset Region). A target without its own Region
    /// uses this one. Default: `us-east-1`.
    #[schemars(pattern(REGION_PATTERN))]
    pub region: String,
    /// AWS Region where QuickSight users and groups live (the account's identity Region).
    /// Default: the asset Region.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(REGION_PATTERN))]
    pub identity_region: Option<String>,
    /// QuickSight namespaces in scope: `all` or a list of names. Default: `all`.
    pub namespaces: Namespaces,
}

impl Default for Source {
    fn default() -> Self {
        Self {
            region: "us-east-1".to_owned(),
            identity_region: None,
            namespaces: Namespaces::default(),
        }
    }
}

/// The keyword `all`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[schemars(inline)]
pub enum AllKeyword {
    // Every namespace (no doc comment: keeps the schema a plain string enum).
    #[default]
    #[serde(rename = "all")]
    All,
}

/// A set of QuickSight namespaces: the word `all`, or a list of namespace names.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(untagged)]
pub enum Namespaces {
    /// Every namespace of the account, found at run time.
    All(AllKeyword),
    /// Only these namespaces (e.g. `[default]`).
    Only(
        #[schemars(length(min = 1), inner(pattern(NAMESPACE_PATTERN)))]
        #[schemars(extend("uniqueItems" = true))]
        Vec<String>,
    ),
}

impl Default for Namespaces {
    fn default() -> Self {
        Namespaces::All(AllKeyword::All)
    }
}

impl Namespaces {
    /// Whether the namespace `ns` is in this set.
    pub fn includes(&self, ns: &str) -> bool {
        match self {
            Namespaces::All(_) => true,
            Namespaces::Only(list) => list.iter().any(|n| n == ns),
        }
    }

    /// Whether this is `all`.
    pub fn is_all(&self) -> bool {
        matches!(self, Namespaces::All(_))
    }
}

/// An account (and Region) that the policy is rolled out to.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Target {
    /// 12-digit AWS account id, as a string (quote it in YAML: `"012345678901"`). Required.
    #[schemars(required, pattern(ACCOUNT_PATTERN))]
    pub account: String,
    /// AWS Region of the QuickSight assets in this account. Default: `source.region`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(REGION_PATTERN))]
    pub region: Option<String>,
    /// A label for reports and stack names. Default: none (the account id is used).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub name: Option<String>,
    /// Sections that replace the policy's own for this target only. Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overrides: Option<TargetOverrides>,
}

/// Sections that replace the policy's own for one target. Each given section replaces the whole
/// section (fields left out take their defaults, not the policy's values).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct TargetOverrides {
    /// Storage for this target. Default: the policy's `storage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<Storage>,
    /// Schedule for this target. Default: the policy's `schedule`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// Retention for this target. Default: the policy's `retention`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// Notifications for this target. Default: the policy's `notifications`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notifications: Option<Notifications>,
}

/// When backups run (an Amazon EventBridge Scheduler schedule).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Schedule {
    /// EventBridge Scheduler expression: `cron(minutes hours day-of-month month day-of-week year)`
    /// (one of day-of-month and day-of-week must be `?`), `rate(N minutes|hours|days)` (singular
    /// unit for 1) or `at(yyyy-mm-ddThh:mm:ss)` for a single run. Default: `cron(0 2 * * ? *)`.
    #[schemars(length(min = 1))]
    pub expression: String,
    /// IANA time zone in which `cron` and `at` expressions are read, e.g. `Europe/Berlin`.
    /// Default: `UTC`.
    #[schemars(length(min = 1))]
    pub time_zone: String,
    /// Flexible start window in minutes (1–1440): the run starts at a random moment within it,
    /// which spreads the load of many accounts. Default: none (start on time).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1440))]
    pub start_window_minutes: Option<u32>,
    /// Whether the schedule is active; a disabled schedule still allows on-demand runs.
    /// Default: `true`.
    pub enabled: bool,
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            expression: "cron(0 2 * * ? *)".to_owned(),
            time_zone: "UTC".to_owned(),
            start_window_minutes: None,
            enabled: true,
        }
    }
}

/// What a run backs up.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Assets, identities and (if enabled) account settings.
    #[default]
    Full,
    /// Assets only.
    AssetsOnly,
    /// Users, groups and memberships only.
    UsersOnly,
}

impl Mode {
    /// The name used in policy files.
    pub fn as_str(&self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::AssetsOnly => "assets-only",
            Mode::UsersOnly => "users-only",
        }
    }

    /// Whether runs in this mode export assets.
    pub fn includes_assets(&self) -> bool {
        !matches!(self, Mode::UsersOnly)
    }

    /// Whether runs in this mode snapshot identities.
    pub fn includes_identities(&self) -> bool {
        !matches!(self, Mode::AssetsOnly)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which assets are backed up.
///
/// An asset is selected when its type is in `assetTypes`, it matches `include` (any rule; an
/// empty list matches every asset) and it matches no `exclude` rule: exclude wins over include.
/// Within a rule every given criterion must match (AND); within a criterion any one value is
/// enough (OR). A rule without any criterion is an error.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Selection {
    /// Asset types to back up. Default: all seven types.
    #[schemars(length(min = 1), extend("uniqueItems" = true))]
    pub asset_types: Vec<AssetType>,
    /// Rules that select assets; an asset matching any rule is included. Default: empty
    /// (every asset).
    pub include: Vec<Rule>,
    /// Rules that remove assets from the selection; exclude wins over include. Default: empty.
    pub exclude: Vec<Rule>,
    /// Also back up the assets that selected assets depend on (e.g. the datasets and data sources
    /// of a dashboard), even when their own type or rules would not select them. Default: `true`.
    pub follow_dependencies: bool,
}

impl Default for Selection {
    fn default() -> Self {
        Self {
            asset_types: AssetType::ALL.to_vec(),
            include: Vec::new(),
            exclude: Vec::new(),
            follow_dependencies: true,
        }
    }
}

/// A QuickSight asset type.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
)]
#[serde(rename_all = "camelCase")]
pub enum AssetType {
    /// Dashboards.
    Dashboard,
    /// Analyses.
    Analysis,
    /// Datasets.
    Dataset,
    /// Data sources.
    Datasource,
    /// Themes.
    Theme,
    /// Folders (shared folders and their memberships).
    Folder,
    /// VPC connections.
    VpcConnection,
}

impl AssetType {
    /// Every asset type.
    pub const ALL: [AssetType; 7] = [
        AssetType::Dashboard,
        AssetType::Analysis,
        AssetType::Dataset,
        AssetType::Datasource,
        AssetType::Theme,
        AssetType::Folder,
        AssetType::VpcConnection,
    ];

    /// The name used in policy files.
    pub fn as_str(&self) -> &'static str {
        match self {
            AssetType::Dashboard => "dashboard",
            AssetType::Analysis => "analysis",
            AssetType::Dataset => "dataset",
            AssetType::Datasource => "datasource",
            AssetType::Theme => "theme",
            AssetType::Folder => "folder",
            AssetType::VpcConnection => "vpcConnection",
        }
    }
}

impl fmt::Display for AssetType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A selection rule. Every non-empty criterion must match (AND); within a criterion any value
/// may match (OR). At least one criterion must be given.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Rule {
    /// Asset ids, matched exactly. Default: empty (no id criterion).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(pattern(ASSET_ID_PATTERN)))]
    pub ids: Vec<String>,
    /// Name globs (`*`, `?`, `[abc]`, `{a,b}`), matched case-insensitively against the asset's
    /// display name. Default: empty (no name criterion).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(length(min = 1)))]
    pub names: Vec<String>,
    /// Tags that must all be present on the asset with these values; the value `*` accepts any
    /// value. Default: empty (no tag criterion).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Folders, by folder id or by name path such as `Finance/Critical`; assets in sub-folders
    /// match too. Default: empty (no folder criterion).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(length(min = 1)))]
    pub folders: Vec<String>,
}

impl Rule {
    /// Whether the rule has no criterion at all (an error in a policy).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
            && self.names.is_empty()
            && self.tags.is_empty()
            && self.folders.is_empty()
    }
}

/// How assets are exported (QuickSight asset bundle export jobs).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ExportSettings {
    /// Bundle format: `QUICKSIGHT_JSON` (restorable by qsbackup) or `CLOUDFORMATION_JSON`.
    /// Default: `QUICKSIGHT_JSON`.
    pub format: ExportFormat,
    /// Export each asset with everything it depends on, so a bundle restores on its own.
    /// Default: `true`.
    pub include_dependencies: bool,
    /// Export asset permissions. Default: `true`.
    pub include_permissions: bool,
    /// Export asset tags. Default: `true`.
    pub include_tags: bool,
    /// Record the folders each asset belongs to. Default: `true`.
    pub include_folder_memberships: bool,
    /// Assets per export job (1–100; QuickSight accepts at most 100 ARNs). Default: `50`.
    #[schemars(range(min = 1, max = 100))]
    pub assets_per_bundle: u8,
    /// Export jobs in flight at once (1–5; QuickSight allows 5 per account). Default: `5`.
    #[schemars(range(min = 1, max = 5))]
    pub concurrent_jobs: u8,
}

impl Default for ExportSettings {
    fn default() -> Self {
        Self {
            format: ExportFormat::default(),
            include_dependencies: true,
            include_permissions: true,
            include_tags: true,
            include_folder_memberships: true,
            assets_per_bundle: 50,
            concurrent_jobs: 5,
        }
    }
}

/// Format of exported asset bundles.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExportFormat {
    /// QuickSight's own bundle format; the only one QuickSight can import.
    #[default]
    QuicksightJson,
    /// A CloudFormation template.
    CloudformationJson,
}

impl ExportFormat {
    /// The name used by the QuickSight API and in policy files.
    pub fn as_str(&self) -> &'static str {
        match self {
            ExportFormat::QuicksightJson => "QUICKSIGHT_JSON",
            ExportFormat::CloudformationJson => "CLOUDFORMATION_JSON",
        }
    }
}

/// Backup of users, groups and group memberships.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Identities {
    /// Snapshot identities (when the mode includes them). Default: `true`.
    pub enabled: bool,
    /// Namespaces whose identities are backed up: `all` or a list. Default: `source.namespaces`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<Namespaces>,
}

impl Default for Identities {
    fn default() -> Self {
        Self {
            enabled: true,
            namespaces: None,
        }
    }
}

/// How long backups are kept.
///
/// A run is kept while any keep rule keeps it (`keepLast` newest runs; the newest run of each of
/// the last `hourly` hours, `daily` days, `weekly` ISO weeks, `monthly` months, `yearly` years).
/// `deleteAfterDays` deletes runs older than that even when a keep rule keeps them; no run
/// younger than `minimumDays` (or its Object Lock period) is deleted, and the newest successful
/// run is never deleted.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Retention {
    /// Keep the newest N runs. Default: `7`.
    #[schemars(range(max = 100000))]
    pub keep_last: u32,
    /// Keep the newest run of each of the last N hours. Default: `0`.
    #[schemars(range(max = 100000))]
    pub hourly: u32,
    /// Keep the newest run of each of the last N days. Default: `7`.
    #[schemars(range(max = 100000))]
    pub daily: u32,
    /// Keep the newest run of each of the last N ISO weeks. Default: `4`.
    #[schemars(range(max = 100000))]
    pub weekly: u32,
    /// Keep the newest run of each of the last N months. Default: `12`.
    #[schemars(range(max = 100000))]
    pub monthly: u32,
    /// Keep the newest run of each of the last N years. Default: `0`.
    #[schemars(range(max = 100000))]
    pub yearly: u32,
    /// Move backups to S3 Glacier Flexible Retrieval after N days (S3 storage only). Objects
    /// there are billed for at least 90 days, so `deleteAfterDays` must be at least
    /// N + 90. Default: none (stay in the storage class of `storage.s3.storageClass`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 36500))]
    pub cold_storage_after_days: Option<u32>,
    /// Delete runs older than N days, even when a keep rule keeps them. Default: none (never by
    /// age; runs are kept by the keep rules).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 36500))]
    pub delete_after_days: Option<u32>,
    /// Never delete a run younger than N days, whatever the other rules say. Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 36500))]
    pub minimum_days: Option<u32>,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            keep_last: 7,
            hourly: 0,
            daily: 7,
            weekly: 4,
            monthly: 12,
            yearly: 0,
            cold_storage_after_days: None,
            delete_after_days: None,
            minimum_days: None,
        }
    }
}

impl Retention {
    /// Whether any keep rule keeps at least one run.
    pub fn keeps_something(&self) -> bool {
        self.keep_last > 0
            || self.hourly > 0
            || self.daily > 0
            || self.weekly > 0
            || self.monthly > 0
            || self.yearly > 0
    }
}

/// Where backups are written: either `s3` or `local`, not both. With neither, backups go to an
/// S3 bucket created by the deployed stack.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Storage {
    /// An S3 bucket. Default: a bucket created by the stack, SSE-S3 (when `local` is not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Storage>,
    /// A local directory (for runs from a laptop). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalStorage>,
    /// Key prefix under which runs are stored: `<prefix>/<account>/<region>/runs/<run-id>/`.
    /// Default: `qsbackup`.
    #[schemars(length(min = 1, max = 256), pattern(PREFIX_PATTERN))]
    pub prefix: String,
}

impl Default for Storage {
    fn default() -> Self {
        Self {
            s3: Some(S3Storage::default()),
            local: None,
            prefix: "qsbackup".to_owned(),
        }
    }
}

/// The storage backend a [`Storage`] section selects.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StorageBackend<'a> {
    /// An S3 bucket.
    S3(&'a S3Storage),
    /// A local directory.
    Local(&'a LocalStorage),
}

static DEFAULT_S3: S3Storage = S3Storage {
    bucket: None,
    kms_key_arn: None,
    object_lock: None,
    storage_class: None,
};

impl Storage {
    /// The backend in use: `local` when given (it wins over `s3`, so a caller may switch a
    /// loaded policy to a local directory by setting it), otherwise `s3` (a stack-created bucket
    /// when the section is absent). A policy file never has both: validation refuses that.
    pub fn backend(&self) -> StorageBackend<'_> {
        match &self.local {
            Some(local) => StorageBackend::Local(local),
            None => StorageBackend::S3(self.s3.as_ref().unwrap_or(&DEFAULT_S3)),
        }
    }
}

/// An S3 bucket for backups.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct S3Storage {
    /// Bucket name (S3 naming rules apply). Default: none (a bucket created by the stack).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 3, max = 63))]
    pub bucket: Option<String>,
    /// ARN of the KMS key (or alias) for SSE-KMS; it must be in the target's Region.
    /// Default: none (SSE-S3).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(KMS_ARN_PATTERN))]
    pub kms_key_arn: Option<String>,
    /// S3 Object Lock retention applied to every object written (the bucket must have Object
    /// Lock enabled). Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_lock: Option<ObjectLock>,
    /// S3 storage class for new objects: `STANDARD`, `STANDARD_IA`, `ONEZONE_IA`,
    /// `INTELLIGENT_TIERING` or `GLACIER_IR`. Default: none (`STANDARD`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
}

/// S3 Object Lock retention for backup objects.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ObjectLock {
    /// `GOVERNANCE` (privileged users may shorten it) or `COMPLIANCE` (nobody can, not even
    /// the root user). Default: `GOVERNANCE`.
    pub mode: ObjectLockMode,
    /// Days each object stays locked (1–36500); at most `retention.deleteAfterDays`.
    /// Default: `30`.
    #[schemars(range(min = 1, max = 36500))]
    pub days: u32,
}

impl Default for ObjectLock {
    fn default() -> Self {
        Self {
            mode: ObjectLockMode::default(),
            days: 30,
        }
    }
}

/// S3 Object Lock retention mode.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ObjectLockMode {
    /// Users with `s3:BypassGovernanceRetention` may delete or shorten the lock.
    #[default]
    Governance,
    /// Nobody can delete the object before the lock expires.
    Compliance,
}

/// A local directory for backups.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct LocalStorage {
    /// Directory path; a relative path is resolved against the current directory of the
    /// `qsbackup` process (not the policy file's folder). Default: `./qsbackup-data`.
    #[schemars(length(min = 1))]
    pub path: String,
}

impl Default for LocalStorage {
    fn default() -> Self {
        Self {
            path: "./qsbackup-data".to_owned(),
        }
    }
}

/// Who is told about runs.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Notifications {
    /// ARN of an existing SNS topic to publish run results to. Default: none (the stack creates
    /// a topic when `emails` is not empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(SNS_ARN_PATTERN))]
    pub sns_topic_arn: Option<String>,
    /// E-mail addresses subscribed to the topic. Default: empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(pattern(EMAIL_PATTERN)), extend("uniqueItems" = true))]
    pub emails: Vec<String>,
    /// Run outcomes that send a notification. Default: `[failed, partiallyFailed]`.
    #[schemars(extend("uniqueItems" = true))]
    pub on: Vec<NotifyOn>,
}

impl Default for Notifications {
    fn default() -> Self {
        Self {
            sns_topic_arn: None,
            emails: Vec::new(),
            on: vec![NotifyOn::Failed, NotifyOn::PartiallyFailed],
        }
    }
}

/// A run outcome that can send a notification.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum NotifyOn {
    /// The run failed.
    Failed,
    /// The run finished, but some assets failed.
    PartiallyFailed,
    /// The run finished without errors.
    Completed,
}

impl Policy {
    /// The policy as it applies to one target: its overrides applied, its Region resolved
    /// (`source.region` becomes the target's Region) and `targets` reduced to that one target
    /// (without overrides).
    pub fn for_target(&self, t: &Target) -> Policy {
        let mut p = self.clone();
        let region = self.target_region(t).to_owned();
        if let Some(o) = &t.overrides {
            if let Some(s) = &o.storage {
                p.storage = s.clone();
            }
            if let Some(s) = &o.schedule {
                p.schedule = s.clone();
            }
            if let Some(r) = &o.retention {
                p.retention = r.clone();
            }
            if let Some(n) = &o.notifications {
                p.notifications = n.clone();
            }
        }
        p.source.region = region.clone();
        p.targets = vec![Target {
            account: t.account.clone(),
            region: Some(region),
            name: t.name.clone(),
            overrides: None,
        }];
        p
    }

    /// The Region of a target's assets: its own, else `source.region`.
    pub fn target_region<'a>(&'a self, t: &'a Target) -> &'a str {
        t.region.as_deref().unwrap_or(&self.source.region)
    }

    /// The identity Region: `source.identityRegion`, else `source.region`.
    pub fn identity_region(&self) -> &str {
        self.source
            .identity_region
            .as_deref()
            .unwrap_or(&self.source.region)
    }

    /// The namespaces whose identities are backed up.
    pub fn identity_namespaces(&self) -> &Namespaces {
        self.identities
            .namespaces
            .as_ref()
            .unwrap_or(&self.source.namespaces)
    }

    /// SHA-256 (lower-case hex) of the policy's canonical JSON: fields in declaration order,
    /// unset optional fields left out, `$schema` ignored. Recorded in every manifest.
    pub fn digest(&self) -> String {
        let mut p = self.clone();
        p.schema = None;
        // Serializing plain data structs with string keys cannot fail.
        let bytes = serde_json::to_vec(&p).unwrap_or_default();
        hex::encode(Sha256::digest(&bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> Policy {
        serde_json::from_value(
            json!({"version": 1, "name": "p", "targets": [{"account": "111122223333"}]}),
        )
        .unwrap()
    }

    #[test]
    fn left_out_sections_take_cautious_defaults() {
        let p = minimal();
        assert_eq!(p.schedule.expression, "cron(0 2 * * ? *)");
        assert_eq!(p.schedule.time_zone, "UTC");
        assert!(p.schedule.enabled && p.account_settings && p.identities.enabled);
        assert_eq!(p.selection.asset_types, AssetType::ALL.to_vec());
        assert_eq!(
            (p.export.assets_per_bundle, p.export.concurrent_jobs),
            (50, 5)
        );
        assert_eq!(
            p.notifications.on,
            vec![NotifyOn::Failed, NotifyOn::PartiallyFailed]
        );
        assert_eq!(
            p.storage.backend(),
            StorageBackend::S3(&S3Storage::default())
        );
        assert_eq!(p.storage.prefix, "qsbackup");
        assert!(p.retention.keeps_something());
    }

    #[test]
    fn giving_local_storage_does_not_bring_in_a_default_s3_bucket() {
        let s: Storage = serde_json::from_value(json!({"local": {"path": "/tmp/x"}})).unwrap();
        assert_eq!(s.s3, None);
        assert!(matches!(s.backend(), StorageBackend::Local(l) if l.path == "/tmp/x"));
        let s: Storage = serde_json::from_value(json!({"prefix": "x"})).unwrap();
        assert!(matches!(s.backend(), StorageBackend::S3(s3) if s3.bucket.is_none()));
    }

    #[test]
    fn asset_type_names_match_their_serde_names() {
        for t in AssetType::ALL {
            assert_eq!(serde_json::to_value(t).unwrap(), json!(t.as_str()));
        }
        assert_eq!(
            serde_json::to_value(Mode::AssetsOnly).unwrap(),
            json!("assets-only")
        );
        assert_eq!(
            serde_json::to_value(ExportFormat::QuicksightJson).unwrap(),
            json!(ExportFormat::QuicksightJson.as_str())
        );
    }

    #[test]
    fn namespaces_are_all_or_a_list() {
        let all: Namespaces = serde_json::from_value(json!("all")).unwrap();
        assert!(all.is_all() && all.includes("anything"));
        let some: Namespaces = serde_json::from_value(json!(["default"])).unwrap();
        assert!(some.includes("default") && !some.includes("other"));
        assert!(serde_json::from_value::<Namespaces>(json!("default")).is_err());
    }

    #[test]
    fn identity_region_and_namespaces_default_to_the_source() {
        let mut p = minimal();
        p.source.region = "eu-west-1".into();
        assert_eq!(p.identity_region(), "eu-west-1");
        p.source.identity_region = Some("us-east-1".into());
        assert_eq!(p.identity_region(), "us-east-1");
        assert!(p.identity_namespaces().is_all());
        p.identities.namespaces = Some(Namespaces::Only(vec!["default".into()]));
        assert!(!p.identity_namespaces().includes("other"));
    }

    #[test]
    fn for_target_applies_overrides_and_resolves_the_region() {
        let mut p = minimal();
        p.targets.push(Target {
            account: "444455556666".into(),
            region: Some("eu-west-1".into()),
            name: None,
            overrides: Some(TargetOverrides {
                retention: Some(Retention {
                    keep_last: 1,
                    ..Retention::default()
                }),
                storage: Some(Storage {
                    s3: None,
                    local: Some(LocalStorage::default()),
                    prefix: "x".into(),
                }),
                ..TargetOverrides::default()
            }),
        });
        let a = p.for_target(&p.targets[0]);
        assert_eq!(a.source.region, "us-east-1");
        assert_eq!(a.targets[0].region.as_deref(), Some("us-east-1"));
        assert_eq!(a.retention, p.retention);
        let b = p.for_target(&p.targets[1]);
        assert_eq!(b.source.region, "eu-west-1");
        assert_eq!(b.retention.keep_last, 1);
        assert!(matches!(b.storage.backend(), StorageBackend::Local(_)));
        assert_eq!(b.targets.len(), 1);
        assert!(b.targets[0].overrides.is_none());
    }

    #[test]
    fn digest_is_stable_hex_and_ignores_the_schema_pointer() {
        let p = minimal();
        let d = p.digest();
        assert_eq!(d.len(), 64);
        assert!(d.chars().all(|c| c.is_ascii_hexdigit()));
        let mut q = p.clone();
        q.schema = Some("../schema/policy.schema.json".into());
        assert_eq!(q.digest(), d);
        q.retention.daily += 1;
        assert_ne!(q.digest(), d);
    }
}
