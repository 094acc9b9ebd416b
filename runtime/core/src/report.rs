//! The run report (report.json and report.md): counts per type, skipped assets with reasons,
//! per-asset errors, bytes, durations, API calls and the job timeline. Built from the manifest.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::inventory::Skipped;
use crate::qs::OpStats;
use crate::run::{Manifest, ManifestBundle, RunStatus};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeCounts {
    pub backed_up: usize,
    pub failed: usize,
    pub skipped: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetFailure {
    pub arn: String,
    pub name: String,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub run_id: String,
    pub status: RunStatus,
    pub policy: String,
    pub account: String,
    pub region: String,
    pub started_at: String,
    pub finished_at: String,
    pub duration_seconds: f64,
    pub counts: BTreeMap<String, TypeCounts>,
    pub bytes: u64,
    pub failures: Vec<AssetFailure>,
    pub skipped: Vec<Skipped>,
    pub errors: Vec<String>,
    pub identities: Option<crate::identities::IdentitiesSummary>,
    /// QuickSight calls made by the process that finalized (the whole run for the CLI).
    pub api_calls: BTreeMap<String, OpStats>,
    pub timeline: Vec<ManifestBundle>,
}

impl Report {
    pub fn from_manifest(m: &Manifest, calls: &BTreeMap<String, OpStats>) -> Report {
        let mut counts: BTreeMap<String, TypeCounts> = BTreeMap::new();
        for a in &m.assets {
            let c = counts.entry(a.kind.to_string()).or_default();
            if a.error.is_some() {
                c.failed += 1
            } else {
                c.backed_up += 1
            }
        }
        for s in &m.skipped {
            counts.entry(s.kind.to_string()).or_default().skipped += 1;
        }
        let secs = |t: &str| {
            chrono::DateTime::parse_from_rfc3339(t)
                .ok()
                .map(|t| t.timestamp_millis())
        };
        let duration = match (secs(&m.started_at), secs(&m.finished_at)) {
            (Some(a), Some(b)) => (b - a) as f64 / 1000.0,
            _ => 0.0,
        };
        let mut timeline = m.bundles.clone();
        timeline.sort_by(|a, b| a.finished_at.cmp(&b.finished_at));
        Report {
            run_id: m.run_id.clone(),
            status: m.status,
            policy: m.policy_name.clone(),
            account: m.account.clone(),
            region: m.region.clone(),
            started_at: m.started_at.clone(),
            finished_at: m.finished_at.clone(),
            duration_seconds: duration,
            counts,
            bytes: m.bundles.iter().map(|b| b.size).sum(),
            failures: m
                .assets
                .iter()
                .filter_map(|a| {
                    Some(AssetFailure {
                        arn: a.arn.clone(),
                        name: a.name.clone(),
                        message: a.error.clone()?,
                    })
                })
                .collect(),
            skipped: m.skipped.clone(),
            errors: m.errors.clone(),
            identities: m.identities.clone(),
            api_calls: calls.clone(),
            timeline,
        }
    }

    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# qsbackup run {}\n", self.run_id);
        let _ = writeln!(s, "- Status: **{:?}**", self.status);
        let _ = writeln!(
            s,
            "- Policy: {} · account {} · Region {}",
            self.policy, self.account, self.region
        );
        let _ = writeln!(
            s,
            "- Started {} · finished {} · {:.1} s",
            self.started_at, self.finished_at, self.duration_seconds
        );
        let _ = writeln!(
            s,
            "- Bundles: {} · {} bytes\n",
            self.timeline.len(),
            self.bytes
        );
        let _ = writeln!(
            s,
            "| type | backed up | failed | skipped |\n|---|---:|---:|---:|"
        );
        for (t, c) in &self.counts {
            let _ = writeln!(
                s,
                "| {t} | {} | {} | {} |",
                c.backed_up, c.failed, c.skipped
            );
        }
        if let Some(i) = &self.identities {
            let _ = writeln!(
                s,
                "\nIdentities: {} namespaces, {} users, {} groups, {} memberships.",
                i.namespaces, i.users, i.groups, i.memberships
            );
        }
        if !self.errors.is_empty() {
            let _ = writeln!(s, "\n## Run errors\n");
            for e in &self.errors {
                let _ = writeln!(s, "- {e}");
            }
        }
        if !self.failures.is_empty() {
            let _ = writeln!(s, "\n## Assets that failed\n");
            for f in &self.failures {
                let _ = writeln!(s, "- {} (`{}`): {}", f.name, f.arn, f.message);
            }
        }
        if !self.skipped.is_empty() {
            let _ = writeln!(s, "\n## Skipped (not supported by asset bundles)\n");
            for k in &self.skipped {
                let _ = writeln!(s, "- {} {} ({}): {}", k.kind, k.id, k.name, k.reason);
            }
        }
        if !self.timeline.is_empty() {
            let _ = writeln!(
                s,
                "\n## Export jobs\n\n| bundle | job | started | finished | bytes |\n|---|---|---|---|---:|"
            );
            for b in &self.timeline {
                let name = b.key.rsplit('/').next().unwrap_or(&b.key);
                let _ = writeln!(
                    s,
                    "| {name} | {} | {} | {} | {} |",
                    b.job_id, b.started_at, b.finished_at, b.size
                );
            }
        }
        if !self.api_calls.is_empty() {
            let _ = writeln!(
                s,
                "\n## QuickSight calls\n\n| operation | calls | throttled | failed |\n|---|---:|---:|---:|"
            );
            for (op, c) in &self.api_calls {
                let _ = writeln!(s, "| {op} | {} | {} | {} |", c.calls, c.throttled, c.failed);
            }
        }
        s
    }
}
