//! Every storage key qsbackup reads or writes is built here, so the layout lives in one place:
//! `<prefix>/<account>/<region>/runs/<run-id>/…`. Pure functions, no I/O.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where one account/Region's backups live inside a storage backend.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    pub prefix: String,
    pub account: String,
    pub region: String,
}

impl Scope {
    pub fn new(prefix: &str, account: &str, region: &str) -> Scope {
        Scope {
            prefix: prefix.trim_matches('/').to_string(),
            account: account.to_string(),
            region: region.to_string(),
        }
    }

    /// `<prefix>/<account>/<region>` (no trailing slash).
    pub fn root(&self) -> String {
        if self.prefix.is_empty() {
            format!("{}/{}", self.account, self.region)
        } else {
            format!("{}/{}/{}", self.prefix, self.account, self.region)
        }
    }

    /// The catalog/lock key for this scope: `<account>/<region>`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.account, self.region)
    }

    pub fn runs(&self) -> String {
        format!("{}/runs/", self.root())
    }

    pub fn run(&self, run_id: &str) -> RunKeys {
        RunKeys {
            base: format!("{}/runs/{run_id}", self.root()),
        }
    }

    /// The local lock file / S3 lock object of this scope.
    pub fn lock(&self) -> String {
        format!("{}/lock.json", self.root())
    }
}

/// Keys inside one run folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunKeys {
    pub base: String,
}

impl RunKeys {
    pub fn plan(&self) -> String {
        format!("{}/plan.json", self.base)
    }
    pub fn batches(&self) -> String {
        format!("{}/batches.json", self.base)
    }
    pub fn run_info(&self) -> String {
        format!("{}/run.json", self.base)
    }
    /// A bundle: `bundles/b0007.qs` for a whole batch, `bundles/b0007-0010-0020.qs` for a part.
    pub fn bundle(&self, part: &str) -> String {
        format!("{}/bundles/{part}.qs", self.base)
    }
    /// The outcome record of one exported or failed part (read back by finalize).
    pub fn outcome(&self, part: &str) -> String {
        format!("{}/state/outcomes/{part}.json", self.base)
    }
    pub fn outcomes_prefix(&self) -> String {
        format!("{}/state/outcomes/", self.base)
    }
    pub fn identities_summary(&self) -> String {
        format!("{}/state/identities.json", self.base)
    }
    pub fn identities(&self, namespace: &str, what: &str) -> String {
        format!("{}/identities/{namespace}/{what}.json", self.base)
    }
    pub fn account(&self, what: &str) -> String {
        format!("{}/account/{what}.json", self.base)
    }
    pub fn manifest(&self) -> String {
        format!("{}/manifest.json", self.base)
    }
    pub fn report(&self, ext: &str) -> String {
        format!("{}/report.{ext}", self.base)
    }
}

/// The name of a part of batch `batch` covering plan items `lo..hi` of that batch.
pub fn part_name(batch: u32, lo: u32, hi: u32, whole_len: u32) -> String {
    if lo == 0 && hi == whole_len {
        format!("b{batch:04}")
    } else {
        format!("b{batch:04}-{lo:04}-{hi:04}")
    }
}

/// A run id that sorts by time: `20261204T020000Z-<6 random>`.
pub fn new_run_id(now: DateTime<Utc>) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{}", now.format("%Y%m%dT%H%M%SZ"), &random[..6])
}

/// The start time encoded in a run id, if it has the expected form.
pub fn run_time(run_id: &str) -> Option<DateTime<Utc>> {
    let stamp = run_id.get(..16)?;
    chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|t| t.and_utc())
}

/// Whether `s` is a well-formed run id (also keeps run ids safe as path segments).
pub fn is_run_id(s: &str) -> bool {
    run_time(s).is_some()
        && s.len() > 17
        && s.as_bytes()[16] == b'-'
        && s[17..].chars().all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn run_ids_sort_by_time_and_round_trip() {
        let t = Utc.with_ymd_and_hms(2026, 12, 4, 2, 0, 0).unwrap();
        let id = new_run_id(t);
        assert!(id.starts_with("20261204T020000Z-"));
        assert!(is_run_id(&id));
        assert_eq!(run_time(&id), Some(t));
        assert!(!is_run_id("../../etc"));
        let later = new_run_id(t + chrono::Duration::seconds(1));
        assert!(later > id);
    }

    #[test]
    fn keys_follow_the_documented_layout() {
        let scope = Scope::new("/backups/", "123456789012", "us-east-1");
        let run = scope.run("20261204T020000Z-abc123");
        assert_eq!(
            run.manifest(),
            "backups/123456789012/us-east-1/runs/20261204T020000Z-abc123/manifest.json"
        );
        assert_eq!(part_name(7, 0, 50, 50), "b0007");
        assert_eq!(part_name(7, 0, 25, 50), "b0007-0000-0025");
        assert!(run.bundle("b0007").ends_with("/bundles/b0007.qs"));
        assert_eq!(Scope::new("", "1", "r").root(), "1/r");
    }
}
