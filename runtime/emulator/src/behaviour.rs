//! The behaviour model (latency, throttling, faults, job timing, download quirks) and the
//! per-operation counters. Pure bookkeeping: it decides, the server acts.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::prng::Prng;
use crate::wire::ApiError;

/// A token bucket: `burst` tokens, refilled at `rate_per_sec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TokenBucket {
    pub rate_per_sec: f64,
    pub burst: u32,
}

/// How the emulator behaves. Set at start-up, replaced at run time with
/// [`crate::Emulator::set_behaviour`] or `POST /_emulator/behaviour` (a full replacement:
/// missing fields take their default).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Behaviour {
    /// Export/import job duration = `job_base_ms + job_per_asset_ms × assets in the job`.
    pub job_base_ms: u64,
    pub job_per_asset_ms: u64,
    /// Added before every QuickSight API answer.
    pub latency_ms: u64,
    /// Token buckets by operation name (e.g. `DescribeAssetBundleExportJob`); `"*"` is the
    /// default for every operation without its own entry (each operation gets its own bucket).
    pub throttle: BTreeMap<String, TokenBucket>,
    /// Probability of a random 429 `ThrottlingException` on any operation (seeded).
    pub throttle_probability: f64,
    /// Probability of a random 500 `InternalFailureException` on any operation (seeded).
    pub fault_probability: f64,
    /// Per-operation fault probabilities; override `fault_probability` for that operation.
    pub fault_operations: BTreeMap<String, f64>,
    /// Probability that a bundle download stops half-way (the connection is cut).
    pub truncate_probability: f64,
    /// Lifetime of a download URL; 0 means 300 s.
    pub download_url_ttl_secs: u64,
    /// Size of an incompressible stored filler entry added to every export bundle.
    pub padding_bytes: u64,
    /// Seed of the random draws for throttles, faults and truncation.
    pub fault_seed: u64,
}

impl Behaviour {
    pub fn download_ttl_ms(&self) -> i64 {
        let secs = if self.download_url_ttl_secs == 0 {
            300
        } else {
            self.download_url_ttl_secs
        };
        i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
    }

    pub fn job_duration_ms(&self, assets: usize) -> u64 {
        self.job_base_ms
            .saturating_add(self.job_per_asset_ms.saturating_mul(assets as u64))
    }
}

/// Calls, throttles and faults of one operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OpCounters {
    pub calls: u64,
    pub throttled: u64,
    pub faults: u64,
}

/// Everything the emulator counted since start or the last reset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Counters {
    /// By operation name, e.g. `ListDashboards`.
    pub operations: BTreeMap<String, OpCounters>,
    pub export_jobs_started: u64,
    pub import_jobs_started: u64,
    /// Bundle downloads served (export bundles and import sources), including truncated ones.
    pub downloads: u64,
}

impl Counters {
    /// The counters of one operation (zero when never called).
    pub fn op(&self, name: &str) -> OpCounters {
        self.operations.get(name).copied().unwrap_or_default()
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

struct Inner {
    behaviour: Behaviour,
    buckets: HashMap<String, Bucket>,
    rng: Prng,
    counters: Counters,
}

/// Admission control for API calls plus the counters; one per emulator.
pub struct Governor {
    inner: Mutex<Inner>,
}

/// What to do with a download.
pub struct DownloadPlan {
    pub truncate: bool,
    pub padding_bytes: u64,
}

impl Governor {
    pub fn new(behaviour: Behaviour) -> Self {
        let rng = Prng::new(behaviour.fault_seed);
        Self {
            inner: Mutex::new(Inner {
                behaviour,
                buckets: HashMap::new(),
                rng,
                counters: Counters::default(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn behaviour(&self) -> Behaviour {
        self.lock().behaviour.clone()
    }

    /// Replaces the behaviour; buckets refill and the random sequence restarts from the seed.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        let mut g = self.lock();
        g.rng = Prng::new(behaviour.fault_seed);
        g.buckets.clear();
        g.behaviour = behaviour;
    }

    pub fn counters(&self) -> Counters {
        self.lock().counters.clone()
    }

    pub fn reset_counters(&self) {
        self.lock().counters = Counters::default();
    }

    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.lock().behaviour.latency_ms)
    }

    /// Counts the call, then throttles or faults it according to the behaviour.
    pub fn admit(&self, op: &str) -> Result<(), ApiError> {
        let mut guard = self.lock();
        let g = &mut *guard;
        g.counters
            .operations
            .entry(op.to_owned())
            .or_default()
            .calls += 1;
        let bucket_cfg = g
            .behaviour
            .throttle
            .get(op)
            .or_else(|| g.behaviour.throttle.get("*"))
            .cloned();
        let mut throttled = false;
        if let Some(cfg) = bucket_cfg {
            let now = Instant::now();
            let burst = f64::from(cfg.burst);
            let b = g.buckets.entry(op.to_owned()).or_insert(Bucket {
                tokens: burst,
                at: now,
            });
            let refill = now.duration_since(b.at).as_secs_f64() * cfg.rate_per_sec.max(0.0);
            b.tokens = (b.tokens + refill).min(burst);
            b.at = now;
            if b.tokens >= 1.0 {
                b.tokens -= 1.0;
            } else {
                throttled = true;
            }
        }
        if !throttled && g.rng.chance(g.behaviour.throttle_probability) {
            throttled = true;
        }
        if throttled {
            g.counters
                .operations
                .entry(op.to_owned())
                .or_default()
                .throttled += 1;
            // The real service sometimes throttles without a message.
            let message = if g.rng.chance(0.5) {
                None
            } else {
                Some("Rate exceeded".to_owned())
            };
            return Err(ApiError::throttled(message));
        }
        let p = g
            .behaviour
            .fault_operations
            .get(op)
            .copied()
            .unwrap_or(g.behaviour.fault_probability);
        if g.rng.chance(p) {
            g.counters
                .operations
                .entry(op.to_owned())
                .or_default()
                .faults += 1;
            return Err(ApiError::internal(
                "An internal failure occurred (injected fault).",
            ));
        }
        Ok(())
    }

    pub fn job_started(&self, export: bool) {
        let mut g = self.lock();
        if export {
            g.counters.export_jobs_started += 1;
        } else {
            g.counters.import_jobs_started += 1;
        }
    }

    /// Counts a download and decides whether it is truncated.
    pub fn download(&self, export: bool) -> DownloadPlan {
        let mut g = self.lock();
        g.counters.downloads += 1;
        let p = g.behaviour.truncate_probability;
        let truncate = g.rng.chance(p);
        DownloadPlan {
            truncate,
            padding_bytes: if export { g.behaviour.padding_bytes } else { 0 },
        }
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bucket_without_refill_throttles_after_burst() {
        let mut b = Behaviour::default();
        b.throttle.insert(
            "ListDashboards".into(),
            TokenBucket {
                rate_per_sec: 0.0,
                burst: 2,
            },
        );
        let g = Governor::new(b);
        assert!(g.admit("ListDashboards").is_ok());
        assert!(g.admit("ListDashboards").is_ok());
        let err = g
            .admit("ListDashboards")
            .expect_err("third call is throttled");
        assert_eq!(err.code, "ThrottlingException");
        assert!(
            g.admit("ListAnalyses").is_ok(),
            "other operations have no bucket"
        );
        let c = g.counters().op("ListDashboards");
        assert_eq!((c.calls, c.throttled, c.faults), (3, 1, 0));
    }

    #[test]
    fn star_bucket_applies_per_operation() {
        let mut b = Behaviour::default();
        b.throttle.insert(
            "*".into(),
            TokenBucket {
                rate_per_sec: 0.0,
                burst: 1,
            },
        );
        let g = Governor::new(b);
        assert!(g.admit("A").is_ok());
        assert!(g.admit("B").is_ok());
        assert!(g.admit("A").is_err());
    }

    #[test]
    fn certain_fault_is_counted_as_internal_failure() {
        let g = Governor::new(Behaviour {
            fault_probability: 1.0,
            ..Default::default()
        });
        let err = g.admit("ListUsers").expect_err("fault");
        assert_eq!((err.code, err.status), ("InternalFailureException", 500));
        assert_eq!(g.counters().op("ListUsers").faults, 1);
    }
}
