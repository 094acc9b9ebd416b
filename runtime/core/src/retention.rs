//! Retention, as pure functions of (runs, policy, now): keep-last plus hourly / daily / weekly /
//! monthly / yearly buckets (the newest run of each of the last N periods), a minimum age, an
//! optional maximum age, and never the newest good run.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use qsbackup_policy::Retention;

/// A finished run as retention sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunEntry {
    pub run_id: String,
    pub started: DateTime<Utc>,
    /// Completed or PartiallyFailed: restorable.
    pub good: bool,
}

/// Why a run is kept (first reason wins), or `None` when it may be deleted.
pub fn keep_reasons(
    runs: &[RunEntry],
    r: &Retention,
    now: DateTime<Utc>,
) -> Vec<(String, Option<&'static str>)> {
    let mut sorted: Vec<&RunEntry> = runs.iter().collect();
    sorted.sort_by_key(|e| std::cmp::Reverse(e.started));
    let good: Vec<&RunEntry> = sorted.iter().copied().filter(|e| e.good).collect();
    let mut reasons: Vec<(String, Option<&'static str>)> = Vec::new();
    let mut kept: BTreeSet<String> = BTreeSet::new();
    let mut mark =
        |ids: Vec<&str>, why: &'static str, reasons: &mut Vec<(String, Option<&'static str>)>| {
            for id in ids {
                if kept.insert(id.to_string()) {
                    reasons.push((id.to_string(), Some(why)));
                }
            }
        };
    mark(
        good.first()
            .map(|e| e.run_id.as_str())
            .into_iter()
            .collect(),
        "newest good run",
        &mut reasons,
    );
    mark(
        good.iter()
            .take(r.keep_last as usize)
            .map(|e| e.run_id.as_str())
            .collect(),
        "keepLast",
        &mut reasons,
    );
    type Period = fn(&DateTime<Utc>) -> (i32, u32);
    let buckets: [(&'static str, u32, Period); 5] = [
        ("hourly", r.hourly, |t| {
            (t.year(), t.ordinal() * 24 + t.hour())
        }),
        ("daily", r.daily, |t| (t.year(), t.ordinal())),
        ("weekly", r.weekly, |t| {
            (t.iso_week().year(), t.iso_week().week())
        }),
        ("monthly", r.monthly, |t| (t.year(), t.month())),
        ("yearly", r.yearly, |t| (t.year(), 0)),
    ];
    for (why, n, period) in buckets {
        let mut seen = BTreeSet::new();
        let mut ids = Vec::new();
        for e in &good {
            if seen.len() >= n as usize {
                break;
            }
            if seen.insert(period(&e.started)) {
                ids.push(e.run_id.as_str());
            }
        }
        mark(ids, why, &mut reasons);
    }
    let min_age = r.minimum_days.map(|d| now - Duration::days(d as i64));
    let young: Vec<&str> = sorted
        .iter()
        .filter(|e| min_age.is_some_and(|m| e.started > m))
        .map(|e| e.run_id.as_str())
        .collect();
    mark(young, "minimumDays", &mut reasons);
    // delete_after_days caps the keep rules, except for the newest good run and the minimum age.
    if let Some(days) = r.delete_after_days {
        let limit = now - Duration::days(days as i64);
        for (id, why) in &mut reasons {
            let old = runs.iter().any(|e| &e.run_id == id && e.started < limit);
            if old && !matches!(why, Some("newest good run" | "minimumDays")) {
                *why = None;
            }
        }
    }
    for e in sorted {
        if !reasons.iter().any(|(id, _)| id == &e.run_id) {
            reasons.push((e.run_id.clone(), None));
        }
    }
    reasons
}

/// When identity items of a run written now may expire (DynamoDB TTL): the longest period the
/// retention rules can keep a run, plus a day.
pub fn identity_expiry(r: &Retention, now: DateTime<Utc>) -> i64 {
    let days = match r.delete_after_days {
        Some(d) => d as i64,
        None => [
            r.yearly as i64 * 366,
            r.monthly as i64 * 31,
            r.weekly as i64 * 7,
            r.daily as i64,
            r.keep_last as i64,
            r.minimum_days.unwrap_or(0) as i64,
        ]
        .into_iter()
        .max()
        .unwrap_or(0),
    };
    (now + Duration::days(days.max(1) + 1)).timestamp()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;

    fn runs(days: i64, now: DateTime<Utc>) -> Vec<RunEntry> {
        (0..days)
            .map(|d| RunEntry {
                run_id: format!("r{d:03}"),
                started: now - Duration::days(d),
                good: true,
            })
            .collect()
    }

    fn kept(rs: &[(String, Option<&str>)]) -> Vec<String> {
        let mut v: Vec<String> = rs
            .iter()
            .filter(|(_, w)| w.is_some())
            .map(|(id, _)| id.clone())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn grandfather_father_son_keeps_the_newest_of_each_period() {
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 2, 0, 0).unwrap();
        let r = Retention {
            keep_last: 2,
            hourly: 0,
            daily: 3,
            weekly: 2,
            monthly: 2,
            yearly: 0,
            ..Retention::default()
        };
        let out = keep_reasons(&runs(60, now), &r, now);
        // daily: r000..r002; weekly: newest of this ISO week and the previous; monthly: Dec + Nov.
        let k = kept(&out);
        assert!(k.contains(&"r000".into()) && k.contains(&"r002".into()));
        assert!(
            k.contains(&"r004".into()),
            "newest run of November (30 Nov) is the monthly keep: {k:?}"
        );
        assert!(!k.contains(&"r059".into()));
        assert!(k.len() < 10, "{k:?}");
    }

    #[test]
    fn the_newest_good_run_survives_every_rule() {
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 2, 0, 0).unwrap();
        let mut rs = runs(5, now);
        for r in &mut rs[..2] {
            r.good = false;
        }
        let r = Retention {
            keep_last: 0,
            hourly: 0,
            daily: 0,
            weekly: 0,
            monthly: 0,
            yearly: 0,
            delete_after_days: Some(1),
            ..Retention::default()
        };
        let k = kept(&keep_reasons(&rs, &r, now));
        assert_eq!(k, vec!["r002".to_string()]);
    }

    #[test]
    fn identity_items_outlive_the_longest_keep_rule() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let r = Retention {
            monthly: 12,
            yearly: 0,
            delete_after_days: None,
            ..Retention::default()
        };
        assert_eq!(
            identity_expiry(&r, now),
            (now + Duration::days(373)).timestamp()
        );
    }
}

/// What `prune` did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PruneOutput {
    pub kept: usize,
    pub deleted: usize,
    pub deleted_runs: Vec<String>,
}

impl crate::Engine {
    /// Applies retention to the finished runs of this account/Region. Runs without a manifest
    /// (running, or interrupted) are never touched; the manifest is deleted last.
    pub async fn prune(
        &self,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<PruneOutput, crate::StepError> {
        let runs_prefix = self.scope.runs();
        let keys = self.store.list(&runs_prefix).await?;
        let mut entries = Vec::new();
        for key in keys.iter().filter(|k| k.ends_with("/manifest.json")) {
            let run_id = key[runs_prefix.len()..]
                .split('/')
                .next()
                .unwrap_or_default()
                .to_string();
            let Some(started) = crate::layout::run_time(&run_id) else {
                continue;
            };
            let good = match self.store.get(key).await? {
                Some(b) => serde_json::from_slice::<crate::Manifest>(&b)
                    .map(|m| m.status != crate::RunStatus::Failed)
                    .unwrap_or(false),
                None => false,
            };
            entries.push(RunEntry {
                run_id,
                started,
                good,
            });
        }
        let decisions = keep_reasons(&entries, &self.policy.retention, now);
        let mut out = PruneOutput::default();
        for (run_id, why) in decisions {
            if why.is_some() {
                out.kept += 1;
                continue;
            }
            if !dry_run {
                let base = format!("{}{run_id}/", runs_prefix);
                let manifest = format!("{base}manifest.json");
                for key in keys
                    .iter()
                    .filter(|k| k.starts_with(&base) && **k != manifest)
                {
                    self.store.delete(key).await?;
                }
                self.store.delete(&manifest).await?;
            }
            out.deleted += 1;
            out.deleted_runs.push(run_id);
        }
        Ok(out)
    }
}
