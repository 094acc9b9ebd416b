//! The semantic layer: rules the JSON Schema cannot express (schedule syntax, time zones, S3
//! bucket names, globs, empty rules, retention coherence, duplicate targets, KMS Regions).
//! Works section by section on the parsed document, so a broken section does not hide the
//! problems of the others; a section that does not deserialize is left to the schema layer.

use std::collections::HashMap;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::cron::check_expression;
use crate::error::PolicyError;
use crate::model::{
    Identities, LocalStorage, Mode, Retention, Rule, S3Storage, Schedule, Source, Storage,
    StorageBackend,
};
use crate::suggest::closest;
use crate::validate::Located;

/// S3 storage classes a backup may be written to directly.
pub const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER_IR",
];

/// Days an object stays billed in S3 Glacier Flexible Retrieval (cold storage).
pub const COLD_STORAGE_MINIMUM_DAYS: u32 = 90;

/// Reads the section at `ptr`: its default when absent, `None` when it does not deserialize.
fn section<T: DeserializeOwned + Default>(doc: &Value, ptr: &str) -> Option<T> {
    match doc.pointer(ptr) {
        None => Some(T::default()),
        Some(v) => serde_json::from_value(v.clone()).ok(),
    }
}

/// A section that may be absent: `None` when absent, `Some(None)` when it does not deserialize.
fn present<T: DeserializeOwned>(doc: &Value, ptr: &str) -> Option<Option<T>> {
    doc.pointer(ptr)
        .map(|v| serde_json::from_value(v.clone()).ok())
}

/// Every semantic problem in `doc`.
pub(crate) fn check(doc: &Value) -> Vec<Located> {
    let mut out = Checks::default();
    let source: Option<Source> = section(doc, "/source");

    if let Some(s) = section::<Schedule>(doc, "/schedule") {
        out.schedule(&s, "/schedule");
    }
    let storage: Option<Storage> = section(doc, "/storage");
    out.storage_section(doc, storage.as_ref(), "/storage");
    let retention: Option<Retention> = section(doc, "/retention");
    if let Some(r) = &retention {
        out.retention(r, "/retention");
    }
    for list in ["include", "exclude"] {
        if let Some(Value::Array(rules)) = doc.pointer(&format!("/selection/{list}")) {
            for i in 0..rules.len() {
                let ptr = format!("/selection/{list}/{i}");
                if let Some(rule) = section::<Rule>(doc, &ptr) {
                    out.rule(&rule, &ptr);
                }
            }
        }
    }
    if let (Some(mode), Some(ids)) = (
        doc.get("mode").map_or(Some(Mode::default()), |m| {
            serde_json::from_value::<Mode>(m.clone()).ok()
        }),
        section::<Identities>(doc, "/identities"),
    ) && mode == Mode::UsersOnly
        && !ids.enabled
    {
        out.push(
            PolicyError::new(
                "/identities/enabled",
                "nothing-to-back-up",
                "mode users-only backs up identities only, but identities are disabled",
            )
            .expected("identities.enabled: true, or another mode"),
        );
    }

    // Targets: each one alone, then together. Sections are read one by one so that a broken
    // override does not hide the problems of its siblings.
    let region = source.as_ref().map(|s| s.region.clone());
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    let mut any_target = false;
    if let Some(Value::Array(targets)) = doc.get("targets") {
        for (i, t) in targets.iter().enumerate() {
            let ptr = format!("/targets/{i}");
            let ov = format!("{ptr}/overrides");
            let o_schedule: Option<Option<Schedule>> = present(doc, &format!("{ov}/schedule"));
            let o_storage: Option<Option<Storage>> = present(doc, &format!("{ov}/storage"));
            let o_retention: Option<Option<Retention>> = present(doc, &format!("{ov}/retention"));
            if let Some(Some(s)) = &o_schedule {
                out.schedule(s, &format!("{ov}/schedule"));
            }
            if let Some(s) = &o_storage {
                out.storage_section(doc, s.as_ref(), &format!("{ov}/storage"));
            }
            if let Some(Some(r)) = &o_retention {
                out.retention(r, &format!("{ov}/retention"));
            }
            let Some(account) = t.get("account").and_then(Value::as_str) else {
                continue;
            };
            let Some(src_region) = &region else { continue };
            let t_region = match t.get("region") {
                None => src_region.clone(),
                Some(Value::String(r)) => r.clone(),
                Some(_) => continue,
            };
            any_target = true;
            if let Some(first) = seen.insert((account.to_owned(), t_region.clone()), i) {
                out.push(
                    PolicyError::new(&ptr, "duplicate-target", "duplicate target")
                        .found(format!("account {account} in {t_region} again"))
                        .expected(format!(
                            "each account and Region once (first at /targets/{first})"
                        )),
                );
            }
            let eff_storage = match o_storage {
                Some(s) => s.map(|s| (s, format!("{ov}/storage"))),
                None => storage.clone().map(|s| (s, "/storage".to_owned())),
            };
            let eff_retention = match o_retention {
                Some(r) => r.map(|r| (r, format!("{ov}/retention"))),
                None => retention.clone().map(|r| (r, "/retention".to_owned())),
            };
            if let (Some(s), Some(r)) = (&eff_storage, &eff_retention) {
                out.storage_with_retention(s, r);
            }
            if let Some(s) = &eff_storage {
                out.kms_region(s, &t_region, account);
            }
        }
    }
    if !any_target && let (Some(s), Some(r)) = (&storage, &retention) {
        out.storage_with_retention(
            &(s.clone(), "/storage".into()),
            &(r.clone(), "/retention".into()),
        );
    }
    out.0
}

#[derive(Default)]
struct Checks(Vec<Located>);

impl Checks {
    fn push(&mut self, e: PolicyError) {
        self.0.push((e, false));
    }

    fn schedule(&mut self, s: &Schedule, ptr: &str) {
        if let Err(e) = check_expression(&s.expression) {
            let mut pe = PolicyError::new(format!("{ptr}/expression"), "schedule", e.message)
                .found(format!("\"{}\"", s.expression))
                .suggest(e.suggestion);
            pe.expected = e.expected;
            self.push(pe);
        }
        if chrono_tz::Tz::from_str(&s.time_zone).is_err() {
            self.push(
                PolicyError::new(format!("{ptr}/timeZone"), "time-zone", "unknown time zone")
                    .found(format!("\"{}\"", s.time_zone))
                    .expected("an IANA time zone such as UTC or Europe/Berlin")
                    .suggest(suggest_time_zone(&s.time_zone)),
            );
        }
    }

    /// Checks a storage section; when it does not deserialize as a whole, its `s3` part alone.
    fn storage_section(&mut self, doc: &Value, whole: Option<&Storage>, ptr: &str) {
        match whole {
            Some(s) => self.storage(s, ptr),
            None => {
                if let Some(Some(s3)) = present::<S3Storage>(doc, &format!("{ptr}/s3")) {
                    self.s3(&s3, &format!("{ptr}/s3"));
                }
            }
        }
    }

    fn storage(&mut self, s: &Storage, ptr: &str) {
        if s.s3.is_some() && s.local.is_some() {
            self.push(
                PolicyError::new(
                    ptr,
                    "storage-conflict",
                    "both s3 and local storage are given",
                )
                .expected("exactly one of s3 or local"),
            );
        }
        if let Some(s3) = &s.s3 {
            self.s3(s3, &format!("{ptr}/s3"));
        }
        if let Some(LocalStorage { path }) = &s.local
            && path.contains('\0')
        {
            self.push(PolicyError::new(
                format!("{ptr}/local/path"),
                "path",
                "the path contains a NUL character",
            ));
        }
    }

    fn s3(&mut self, s3: &S3Storage, ptr: &str) {
        if let Some(b) = &s3.bucket
            && let Err(msg) = check_bucket_name(b)
        {
            self.push(
                    PolicyError::new(format!("{ptr}/bucket"), "bucket-name", format!("invalid S3 bucket name: {msg}"))
                        .found(format!("\"{b}\""))
                        .expected("3–63 lower-case letters, digits, '.' or '-', starting and ending with a letter or digit")
                        .suggest(suggest_bucket(b)),
                );
        }
        if let Some(c) = &s3.storage_class
            && !STORAGE_CLASSES.contains(&c.as_str())
        {
            let msg = if c == "GLACIER" || c == "DEEP_ARCHIVE" {
                "backups must stay readable without a restore request; use retention.coldStorageAfterDays for cold storage"
            } else {
                "unknown storage class"
            };
            self.push(
                PolicyError::new(format!("{ptr}/storageClass"), "storage-class", msg)
                    .found(format!("\"{c}\""))
                    .expected(format!("one of {}", STORAGE_CLASSES.join(", ")))
                    .suggest(closest(c, STORAGE_CLASSES.iter().copied())),
            );
        }
    }

    fn retention(&mut self, r: &Retention, ptr: &str) {
        if !r.keeps_something() {
            self.push(
                PolicyError::new(ptr, "retention-keeps-nothing", "retention keeps no backup")
                    .found("keepLast, hourly, daily, weekly, monthly and yearly all 0")
                    .expected("at least one of them 1 or more"),
            );
        }
        if let (Some(cold), Some(delete)) = (r.cold_storage_after_days, r.delete_after_days) {
            let need = cold.saturating_add(COLD_STORAGE_MINIMUM_DAYS);
            if delete < need {
                self.push(
                    PolicyError::new(format!("{ptr}/deleteAfterDays"), "retention-cold-storage", format!(
                        "backups must stay in cold storage at least {COLD_STORAGE_MINIMUM_DAYS} days before deletion"
                    ))
                    .found(delete.to_string())
                    .expected(format!("at least coldStorageAfterDays + {COLD_STORAGE_MINIMUM_DAYS} = {need}")),
                );
            }
        }
        if let (Some(min), Some(delete)) = (r.minimum_days, r.delete_after_days)
            && min > delete
        {
            self.push(
                PolicyError::new(
                    format!("{ptr}/minimumDays"),
                    "retention-conflict",
                    "minimumDays is longer than deleteAfterDays",
                )
                .found(min.to_string())
                .expected(format!("at most deleteAfterDays ({delete})")),
            );
        }
    }

    fn storage_with_retention(
        &mut self,
        (s, sp): &(Storage, String),
        (r, rp): &(Retention, String),
    ) {
        match s.backend() {
            StorageBackend::Local(_) => {
                if r.cold_storage_after_days.is_some() {
                    self.push(
                        PolicyError::new(
                            format!("{rp}/coldStorageAfterDays"),
                            "cold-storage-local",
                            "cold storage needs S3 storage",
                        )
                        .found("local storage")
                        .expected("no coldStorageAfterDays, or s3 storage"),
                    );
                }
            }
            StorageBackend::S3(s3) => {
                if let (Some(lock), Some(delete)) = (&s3.object_lock, r.delete_after_days)
                    && lock.days > delete
                {
                    self.push(
                        PolicyError::new(
                            format!("{sp}/s3/objectLock/days"),
                            "object-lock-retention",
                            "objects would stay locked after retention deletes them",
                        )
                        .found(lock.days.to_string())
                        .expected(format!("at most deleteAfterDays ({delete}) of {rp}")),
                    );
                }
            }
        }
    }

    fn kms_region(&mut self, (s, sp): &(Storage, String), region: &str, account: &str) {
        let StorageBackend::S3(s3) = s.backend() else {
            return;
        };
        let Some(arn) = &s3.kms_key_arn else { return };
        let Some(key_region) = arn.split(':').nth(3) else {
            return;
        };
        if key_region != region {
            self.push(
                PolicyError::new(format!("{sp}/s3/kmsKeyArn"), "kms-region", format!(
                    "the KMS key is in {key_region}, but account {account} stores its backups in {region}"
                ))
                .found(key_region.to_owned())
                .expected(format!("a key in {region} (override storage for targets in other Regions)")),
            );
        }
    }

    fn rule(&mut self, r: &Rule, ptr: &str) {
        if r.is_empty() {
            self.push(
                PolicyError::new(ptr, "empty-rule", "selection rule has no criterion")
                    .expected("at least one of ids, names, tags, folders"),
            );
        }
        for (i, g) in r.names.iter().enumerate() {
            if let Err(e) = globset::GlobBuilder::new(g).case_insensitive(true).build() {
                self.push(
                    PolicyError::new(
                        format!("{ptr}/names/{i}"),
                        "glob",
                        format!("invalid name glob: {}", e.kind()),
                    )
                    .found(format!("\"{g}\""))
                    .expected("a glob with *, ?, [abc] or {a,b}"),
                );
            }
        }
        for k in r.tags.keys() {
            if k.is_empty() || k.chars().count() > 128 {
                self.push(
                    PolicyError::new(format!("{ptr}/tags"), "tag-key", "invalid tag key")
                        .found(format!("\"{k}\""))
                        .expected("1–128 characters"),
                );
            }
        }
        for (i, f) in r.folders.iter().enumerate() {
            if f.starts_with('/') || f.ends_with('/') || f.contains("//") {
                self.push(
                    PolicyError::new(
                        format!("{ptr}/folders/{i}"),
                        "folder-path",
                        "invalid folder path",
                    )
                    .found(format!("\"{f}\""))
                    .expected("a folder id or a name path such as Finance/Critical")
                    .suggest(Some(
                        f.split('/')
                            .filter(|s| !s.is_empty())
                            .collect::<Vec<_>>()
                            .join("/"),
                    )),
                );
            }
        }
    }
}

/// The S3 general purpose bucket naming rules.
pub fn check_bucket_name(b: &str) -> Result<(), String> {
    let len = b.len();
    if !(3..=63).contains(&len) {
        return Err(format!("{len} characters"));
    }
    if let Some(c) = b
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        return Err(format!("character '{c}' is not allowed"));
    }
    let first_last_ok =
        |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !first_last_ok(b.chars().next()) || !first_last_ok(b.chars().last()) {
        return Err("must start and end with a letter or digit".into());
    }
    if b.contains("..") {
        return Err("two adjacent periods".into());
    }
    if b.contains(".-") || b.contains("-.") {
        return Err("a period next to a hyphen".into());
    }
    if b.split('.').count() == 4 && b.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return Err("formatted like an IP address".into());
    }
    for p in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if b.starts_with(p) {
            return Err(format!("the prefix \"{p}\" is reserved"));
        }
    }
    for s in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if b.ends_with(s) {
            return Err(format!("the suffix \"{s}\" is reserved"));
        }
    }
    Ok(())
}

fn suggest_bucket(b: &str) -> Option<String> {
    let mut s: String = b
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c == '_' || c == ' ' { '-' } else { c })
        .collect();
    while s.contains("..") {
        s = s.replace("..", ".");
    }
    let s = s.trim_matches(|c: char| c == '.' || c == '-').to_owned();
    (s != b && check_bucket_name(&s).is_ok()).then_some(s)
}

fn suggest_time_zone(tz: &str) -> Option<String> {
    let alias = match tz.to_ascii_uppercase().as_str() {
        "PST" | "PDT" => Some("America/Los_Angeles"),
        "CST" | "CDT" => Some("America/Chicago"),
        "EDT" => Some("America/New_York"),
        "CEST" => Some("Europe/Berlin"),
        "BST" => Some("Europe/London"),
        "IST" => Some("Asia/Kolkata"),
        "JST" => Some("Asia/Tokyo"),
        "AEST" | "AEDT" => Some("Australia/Sydney"),
        _ => None,
    };
    if let Some(a) = alias {
        return Some(a.to_owned());
    }
    let names = chrono_tz::TZ_VARIANTS.iter().map(|t| t.name());
    if let Some(exact) = names.clone().find(|n| n.eq_ignore_ascii_case(tz)) {
        return Some(exact.to_owned());
    }
    closest(tz, names).or_else(|| {
        // "Berlin" → "Europe/Berlin": match the city part alone.
        let city = tz.replace(' ', "_");
        chrono_tz::TZ_VARIANTS
            .iter()
            .map(|t| t.name())
            .find(|n| {
                n.rsplit('/')
                    .next()
                    .is_some_and(|c| c.eq_ignore_ascii_case(&city))
            })
            .map(str::to_owned)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn codes(doc: Value) -> Vec<(String, String)> {
        check(&doc)
            .into_iter()
            .map(|(e, _)| (e.path, e.code))
            .collect()
    }

    #[test]
    fn bucket_names_follow_s3_rules() {
        for ok in [
            "my-backups",
            "a.b.c",
            "123",
            "qsbackup-111122223333-eu-west-1",
        ] {
            assert_eq!(check_bucket_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "ab",
            "My-Bucket",
            "-abc",
            "abc-",
            "a..b",
            "a.-b",
            "192.168.1.1",
            "xn--abc",
            "abc-s3alias",
            "a_b",
        ] {
            assert!(check_bucket_name(bad).is_err(), "{bad}");
        }
        assert_eq!(suggest_bucket("My_Backups").as_deref(), Some("my-backups"));
    }

    #[test]
    fn time_zones_get_suggestions() {
        assert_eq!(
            suggest_time_zone("europe/berlin").as_deref(),
            Some("Europe/Berlin")
        );
        assert_eq!(
            suggest_time_zone("Europe/Berlinn").as_deref(),
            Some("Europe/Berlin")
        );
        assert_eq!(
            suggest_time_zone("Berlin").as_deref(),
            Some("Europe/Berlin")
        );
        assert_eq!(
            suggest_time_zone("PST").as_deref(),
            Some("America/Los_Angeles")
        );
    }

    #[test]
    fn duplicate_targets_are_found_with_the_default_region() {
        let doc = json!({"source": {"region": "eu-west-1"}, "targets": [
            {"account": "111111111111"}, {"account": "111111111111", "region": "eu-west-1"},
            {"account": "111111111111", "region": "eu-west-2"}]});
        assert_eq!(
            codes(doc),
            vec![("/targets/1".into(), "duplicate-target".into())]
        );
    }

    #[test]
    fn kms_key_must_be_in_each_targets_region() {
        let doc = json!({"storage": {"s3": {"kmsKeyArn": "arn:aws:kms:us-east-1:111111111111:key/abc"}},
            "targets": [{"account": "111111111111"}, {"account": "222222222222", "region": "eu-west-1"}]});
        assert_eq!(
            codes(doc),
            vec![("/storage/s3/kmsKeyArn".into(), "kms-region".into())]
        );
    }

    #[test]
    fn retention_must_keep_something_and_be_coherent() {
        let doc = json!({"retention": {"keepLast": 0, "daily": 0, "weekly": 0, "monthly": 0,
            "coldStorageAfterDays": 30, "deleteAfterDays": 60, "minimumDays": 90}});
        let c = codes(doc);
        assert!(
            c.contains(&("/retention".into(), "retention-keeps-nothing".into())),
            "{c:?}"
        );
        assert!(
            c.contains(&(
                "/retention/deleteAfterDays".into(),
                "retention-cold-storage".into()
            )),
            "{c:?}"
        );
        assert!(
            c.contains(&("/retention/minimumDays".into(), "retention-conflict".into())),
            "{c:?}"
        );
    }

    #[test]
    fn object_lock_cannot_outlive_retention_even_through_overrides() {
        let doc = json!({"storage": {"s3": {"objectLock": {"days": 400}}}, "retention": {"deleteAfterDays": 365},
            "targets": [{"account": "111111111111", "overrides": {"retention": {"deleteAfterDays": 500}}},
                        {"account": "222222222222"}]});
        assert_eq!(
            codes(doc),
            vec![(
                "/storage/s3/objectLock/days".into(),
                "object-lock-retention".into()
            )]
        );
    }

    #[test]
    fn a_broken_section_does_not_hide_other_sections() {
        let doc = json!({"schedule": 5, "selection": {"include": [{}]}});
        assert_eq!(
            codes(doc),
            vec![("/selection/include/0".into(), "empty-rule".into())]
        );
    }
}
