//! The lower bound of a run under the emulator's quota and latency model: the least time the
//! discovery calls need under the throttle model, plus the makespan of the run's export jobs on
//! the 5 job slots (LPT list schedule, failed jobs before the jobs that split them). Pure.

use serde_json::Value;

/// The model the bound is computed for (emulator time, the same values the emulator was given).
#[derive(Clone, Debug)]
pub struct Limits {
    pub slots: usize,
    pub job_base_ms: u64,
    pub job_per_doc_ms: u64,
    pub latency_ms: u64,
    /// Per-operation token bucket of every call (requests per second, burst).
    pub call_bucket: (f64, u32),
    /// StartAssetBundleExportJob and DescribeAssetBundleExportJob buckets.
    pub job_api_bucket: (f64, u32),
}

impl Limits {
    pub fn job_s(&self, docs: usize) -> f64 {
        (self.job_base_ms + self.job_per_doc_ms * docs as u64) as f64 / 1000.0
    }
    fn latency_s(&self) -> f64 {
        self.latency_ms as f64 / 1000.0
    }
}

/// One export job of the run, as the emulator ran it.
#[derive(Clone, Debug)]
pub struct Job {
    pub batch: u32,
    pub lo: u32,
    pub hi: u32,
    pub ok: bool,
    /// Documents the emulator counted for the job's duration (exact for succeeded jobs: the
    /// bundle's documents; a lower estimate for failed ones).
    pub docs: usize,
    /// Job creation time on the emulator, seconds since the epoch.
    pub created_s: f64,
}

/// Successful calls of `op` in the emulator counters.
pub fn ok_calls(counters: &Value, op: &str) -> u64 {
    let c = &counters["operations"][op];
    let n = |k: &str| c.get(k).and_then(Value::as_u64).unwrap_or(0);
    n("calls").saturating_sub(n("throttled") + n("faults"))
}

pub const LIST_OPS: [&str; 7] = [
    "ListDashboards",
    "ListAnalyses",
    "ListDataSets",
    "ListDataSources",
    "ListThemes",
    "ListFolders",
    "ListVPCConnections",
];
pub const DESCRIBE_OPS: [&str; 3] = ["DescribeDashboard", "DescribeAnalysis", "DescribeDataSet"];

/// Least time for `n` calls of one operation through its bucket with unbounded concurrency.
fn calls_s(n: u64, (rate, burst): (f64, u32), latency: f64) -> f64 {
    if n == 0 {
        return 0.0;
    }
    latency.max(n.saturating_sub(u64::from(burst)) as f64 / rate)
}

/// Discovery: every List walks its pages one after the other (each needs the previous token);
/// the Describes follow their first page and are limited by their own bucket only.
pub fn discovery_s(counters: &Value, l: &Limits) -> f64 {
    let lat = l.latency_s();
    let lists = LIST_OPS
        .iter()
        .map(|op| {
            let n = ok_calls(counters, op);
            (n as f64 * lat).max(calls_s(n, l.call_bucket, lat))
        })
        .fold(0.0, f64::max);
    let describes = DESCRIBE_OPS
        .iter()
        .map(|op| calls_s(ok_calls(counters, op), l.call_bucket, lat))
        .fold(0.0, f64::max);
    lists.max(lat + describes)
}

/// The export phase on `slots` job slots.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// Longest-processing-time-first list schedule: what a client that knew every job's
    /// duration in advance would reach (the bound used for the ratio).
    pub lpt_s: f64,
    /// Total job time / slots: no schedule can beat it.
    pub area_s: f64,
    /// The longest chain of a failed job and the jobs that split it.
    pub chain_s: f64,
}

/// A token bucket in simulated time.
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: f64,
}

impl Bucket {
    fn new((rate, burst): (f64, u32)) -> Bucket {
        let burst = f64::from(burst.max(1));
        Bucket {
            rate,
            burst,
            tokens: burst,
            at: 0.0,
        }
    }
    /// Takes a token at `t` or as soon after as one is there; returns when.
    fn take(&mut self, t: f64) -> f64 {
        let now = t.max(self.at);
        self.tokens = (self.tokens + (now - self.at) * self.rate).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return now;
        }
        let wait = (1.0 - self.tokens) / self.rate;
        self.tokens = 0.0;
        self.at = now + wait;
        self.at
    }
}

/// The failed job each job was split from (the smallest failed range holding it), if any.
fn parents(jobs: &[Job]) -> Vec<Option<usize>> {
    jobs.iter()
        .enumerate()
        .map(|(i, j)| {
            jobs.iter()
                .enumerate()
                .filter(|(k, p)| {
                    *k != i
                        && !p.ok
                        && p.batch == j.batch
                        && p.lo <= j.lo
                        && j.hi <= p.hi
                        && (p.lo, p.hi) != (j.lo, j.hi)
                })
                .min_by_key(|(_, p)| p.hi - p.lo)
                .map(|(k, _)| k)
        })
        .collect()
}

pub fn export(jobs: &[Job], l: &Limits) -> Schedule {
    let lat = l.latency_s();
    // A job holds its slot for its duration plus the Describe round trip that sees it end.
    let busy: Vec<f64> = jobs.iter().map(|j| l.job_s(j.docs) + lat).collect();
    let parent = parents(jobs);
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); jobs.len()];
    let mut ready = Vec::new();
    for (i, p) in parent.iter().enumerate() {
        match p {
            Some(p) => children[*p].push(i),
            None => ready.push(i),
        }
    }
    let chain = |mut i: usize| {
        let mut s = busy[i];
        while let Some(p) = parent[i] {
            s += busy[p];
            i = p;
        }
        s
    };
    let chain_s = (0..jobs.len()).map(chain).fold(0.0, f64::max);
    let area_s = busy.iter().sum::<f64>() / l.slots.max(1) as f64;

    let (mut start, mut describe) = (Bucket::new(l.job_api_bucket), Bucket::new(l.job_api_bucket));
    let mut running: Vec<(f64, usize)> = Vec::new();
    let (mut t, mut makespan) = (0.0_f64, 0.0_f64);
    loop {
        ready.sort_by(|a, b| busy[*b].total_cmp(&busy[*a]));
        while running.len() < l.slots && !ready.is_empty() {
            let j = ready.remove(0);
            let s = start.take(t);
            running.push((s + busy[j], j));
        }
        let Some((i, _)) = running
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.0.total_cmp(&b.1.0))
        else {
            break;
        };
        let (end, j) = running.swap_remove(i);
        t = describe.take(end - lat) + lat;
        makespan = makespan.max(t);
        ready.extend(children[j].iter().copied());
    }
    Schedule {
        lpt_s: makespan,
        area_s,
        chain_s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            slots: 5,
            job_base_ms: 1000,
            job_per_doc_ms: 0,
            latency_ms: 0,
            call_bucket: (1e9, 1000),
            job_api_bucket: (1e9, 1000),
        }
    }

    fn job(batch: u32, lo: u32, hi: u32, ok: bool) -> Job {
        Job {
            batch,
            lo,
            hi,
            ok,
            docs: 0,
            created_s: 0.0,
        }
    }

    #[test]
    fn six_equal_jobs_need_two_rounds_on_five_slots() {
        let jobs: Vec<Job> = (0..6).map(|b| job(b, 0, 50, true)).collect();
        let s = export(&jobs, &limits());
        assert!((s.lpt_s - 2.0).abs() < 1e-9, "{s:?}");
        assert!((s.area_s - 1.2).abs() < 1e-9);
    }

    #[test]
    fn split_jobs_wait_for_the_failed_job() {
        let jobs = vec![
            job(0, 0, 50, false),
            job(0, 0, 20, true),
            job(0, 21, 50, true),
        ];
        let s = export(&jobs, &limits());
        assert!((s.lpt_s - 2.0).abs() < 1e-9, "{s:?}");
        assert!((s.chain_s - 2.0).abs() < 1e-9);
    }
}
