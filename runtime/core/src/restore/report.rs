//! The restore report (report.json and report.md beside the backup run, under
//! `restores/<restore-id>/`): per-asset results and verification, jobs, identities. Pure rendering.

use std::fmt::Write as _;

use qsbackup_policy::AssetType;
use serde::{Deserialize, Serialize};

use super::identities::IdentityOutcome;
use super::jobs::JobOutcome;
use super::plan::{Action, RestorePlan, RestoreTarget};
use super::verify::Verification;
use crate::run::RunStatus;

/// The report format; bump when the shape changes.
pub const REPORT_FORMAT: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AssetResult {
    Restored,
    Failed,
    Skipped,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetOutcome {
    #[serde(rename = "type")]
    pub kind: AssetType,
    pub id: String,
    pub target_id: String,
    pub name: String,
    pub action: Action,
    pub result: AssetResult,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
}

impl AssetOutcome {
    /// Restored and verified (or nothing to do).
    pub fn ok(&self) -> bool {
        match self.result {
            AssetResult::Skipped => true,
            AssetResult::Failed => false,
            AssetResult::Restored => self.verification.as_ref().is_none_or(Verification::ok),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub created: usize,
    pub updated: usize,
    pub skipped: usize,
    pub failed: usize,
    pub verified: usize,
    pub mismatched: usize,
    pub identity_changes: usize,
    pub identity_failures: usize,
}

/// What a restore did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreReport {
    pub format: u32,
    pub restore_id: String,
    pub run_id: String,
    pub plan_digest: String,
    pub started_at: String,
    pub finished_at: String,
    pub status: RunStatus,
    pub source_account: String,
    pub source_region: String,
    pub target: RestoreTarget,
    pub counts: Counts,
    pub assets: Vec<AssetOutcome>,
    pub jobs: Vec<JobOutcome>,
    pub identities: Vec<IdentityOutcome>,
    pub errors: Vec<String>,
    /// Storage key of report.md (report.json sits beside it).
    pub report_key: String,
}

impl RestoreReport {
    pub fn new(
        plan: &RestorePlan,
        started_at: String,
        assets: Vec<AssetOutcome>,
        jobs: Vec<JobOutcome>,
        identities: Vec<IdentityOutcome>,
        errors: Vec<String>,
        report_key: String,
    ) -> RestoreReport {
        let restored = |a: &&AssetOutcome| a.result == AssetResult::Restored;
        let counts = Counts {
            created: assets
                .iter()
                .filter(restored)
                .filter(|a| a.action == Action::Create)
                .count(),
            updated: assets
                .iter()
                .filter(restored)
                .filter(|a| a.action == Action::Update)
                .count(),
            skipped: assets
                .iter()
                .filter(|a| a.result == AssetResult::Skipped)
                .count(),
            failed: assets
                .iter()
                .filter(|a| a.result == AssetResult::Failed)
                .count(),
            verified: assets
                .iter()
                .filter(|a| a.verification.as_ref().is_some_and(Verification::ok))
                .count(),
            mismatched: assets
                .iter()
                .filter(|a| a.verification.as_ref().is_some_and(|v| !v.ok()))
                .count(),
            identity_changes: identities.iter().filter(|i| i.ok).count(),
            identity_failures: identities.iter().filter(|i| !i.ok).count(),
        };
        let bad =
            assets.iter().filter(|a| !a.ok()).count() + counts.identity_failures + errors.len();
        let good = assets
            .iter()
            .filter(|a| a.result == AssetResult::Restored && a.ok())
            .count()
            + counts.identity_changes;
        let status = match (bad, good) {
            (0, _) => RunStatus::Completed,
            (_, 0) => RunStatus::Failed,
            _ => RunStatus::PartiallyFailed,
        };
        RestoreReport {
            format: REPORT_FORMAT,
            restore_id: plan.restore_id.clone(),
            run_id: plan.run_id.clone(),
            plan_digest: plan.digest.clone(),
            started_at,
            finished_at: String::new(),
            status,
            source_account: plan.source_account.clone(),
            source_region: plan.source_region.clone(),
            target: plan.target.clone(),
            counts,
            assets,
            jobs,
            identities,
            errors,
            report_key,
        }
    }

    /// report.md.
    pub fn markdown(&self) -> String {
        let c = &self.counts;
        let mut s = String::new();
        let _ = writeln!(s, "# qsbackup restore {}\n", self.restore_id);
        let _ = writeln!(s, "| | |\n|---|---|");
        let _ = writeln!(s, "| Status | **{:?}** |", self.status);
        let _ = writeln!(
            s,
            "| From run | {} ({} / {}) |",
            self.run_id, self.source_account, self.source_region
        );
        let t = &self.target;
        let _ = writeln!(
            s,
            "| Into | {} / {} (namespace {}) |",
            t.account, t.region, t.namespace
        );
        let _ = writeln!(
            s,
            "| Started / finished | {} / {} |",
            self.started_at, self.finished_at
        );
        let _ = writeln!(s, "| Plan digest | `{}` |", self.plan_digest);
        let _ = writeln!(
            s,
            "| Assets | {} created, {} updated, {} unchanged (skipped), {} failed |",
            c.created, c.updated, c.skipped, c.failed
        );
        let _ = writeln!(
            s,
            "| Verification | {} match the backup, {} differ or are missing |",
            c.verified, c.mismatched
        );
        let _ = writeln!(
            s,
            "| Identities | {} changes, {} failures |\n",
            c.identity_changes, c.identity_failures
        );
        if !self.errors.is_empty() {
            let _ = writeln!(s, "## Errors\n");
            for e in &self.errors {
                let _ = writeln!(s, "- {e}");
            }
            let _ = writeln!(s);
        }
        let _ = writeln!(
            s,
            "## Assets\n\n| Type | ID | Target ID | Action | Result | Verification | Message |\n|---|---|---|---|---|---|---|"
        );
        for a in self
            .assets
            .iter()
            .filter(|a| a.result != AssetResult::Skipped)
        {
            let v = match &a.verification {
                None => "-".to_string(),
                Some(Verification::Mismatch { fields }) => {
                    format!("differs: {}", fields.join(", "))
                }
                Some(Verification::Error { message }) => format!("error: {message}"),
                Some(v) => format!("{v:?}"),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:?} | {:?} | {} | {} |",
                a.kind,
                a.id,
                a.target_id,
                a.action,
                a.result,
                v,
                a.message.replace('|', "\\|")
            );
        }
        let _ = writeln!(s, "\n{} unchanged assets were skipped.\n", c.skipped);
        if !self.jobs.is_empty() {
            let _ = writeln!(
                s,
                "## Import jobs\n\n| Job | Status | Assets | Source |\n|---|---|---|---|"
            );
            for j in &self.jobs {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} |",
                    j.job_id,
                    j.status,
                    j.assets.len(),
                    j.source
                );
            }
            let _ = writeln!(s);
        }
        if !self.identities.is_empty() {
            let _ = writeln!(
                s,
                "## Identities\n\n| Kind | Name | Result |\n|---|---|---|"
            );
            for i in &self.identities {
                let r = if i.ok {
                    "ok".to_string()
                } else {
                    format!("failed: {}", i.message)
                };
                let _ = writeln!(s, "| {} | {} | {} |", i.kind, i.name, r);
            }
        }
        s
    }
}
