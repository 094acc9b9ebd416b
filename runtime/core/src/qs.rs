//! QuickSight calls: one error type that reads the SDK error kind, and a retry loop with
//! exponential backoff and full jitter. SDK retries are off for QuickSight; this loop decides.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_quicksight::config::http::HttpResponse;
use aws_sdk_quicksight::error::{ProvideErrorMetadata, SdkError};
use serde::Serialize;

/// What kind of failure a QuickSight call hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ErrorClass {
    /// HTTP 429 / ThrottlingException: retry after a pause.
    Throttled,
    /// 5xx, timeouts, dispatch failures: retry.
    Transient,
    /// LimitExceededException: the account's job quota is full; wait for a slot.
    Limit,
    /// ConflictException: e.g. a job with this id is already running.
    Conflict,
    /// ResourceNotFoundException.
    NotFound,
    /// Anything else: retrying will not help.
    Fatal,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("QuickSight {operation} failed: {message}")]
pub struct QsError {
    pub operation: &'static str,
    pub code: Option<String>,
    pub message: String,
    pub class: ErrorClass,
}

impl QsError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.class,
            ErrorClass::Throttled | ErrorClass::Transient | ErrorClass::Limit
        )
    }

    pub fn from_sdk<E>(operation: &'static str, err: &SdkError<E, HttpResponse>) -> QsError
    where
        E: ProvideErrorMetadata + std::fmt::Debug,
    {
        let status = match err {
            SdkError::ServiceError(e) => Some(e.raw().status().as_u16()),
            SdkError::ResponseError(e) => Some(e.raw().status().as_u16()),
            _ => None,
        };
        let code = err.code().map(str::to_string);
        let class = match (code.as_deref(), status) {
            (Some("ThrottlingException"), _) | (_, Some(429)) => ErrorClass::Throttled,
            (Some("LimitExceededException"), _) => ErrorClass::Limit,
            (Some("ConflictException"), _) => ErrorClass::Conflict,
            (Some("ResourceNotFoundException"), _) => ErrorClass::NotFound,
            (_, Some(500..=599)) => ErrorClass::Transient,
            _ => match err {
                SdkError::TimeoutError(_)
                | SdkError::DispatchFailure(_)
                | SdkError::ResponseError(_) => ErrorClass::Transient,
                _ => ErrorClass::Fatal,
            },
        };
        let message = match (&code, err.message()) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c.clone(),
            _ => format!("{err:?}").chars().take(400).collect(),
        };
        QsError {
            operation,
            code,
            message,
            class,
        }
    }
}

/// Backoff settings for QuickSight calls.
#[derive(Clone, Debug)]
pub struct RetrySettings {
    pub max_attempts: u32,
    pub base: Duration,
    pub max_delay: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            max_attempts: 12,
            base: Duration::from_millis(200),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl RetrySettings {
    /// Full jitter: a random delay in [0, min(max, base × 2^attempt)].
    pub fn delay(&self, attempt: u32) -> Duration {
        let cap = self
            .base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max_delay);
        cap.mul_f64(fastrand::f64()).max(Duration::from_millis(10))
    }
}

/// Counters of the calls this process made, by operation (reported, and read by benchmarks).
#[derive(Debug, Default)]
pub struct CallStats {
    inner: Mutex<BTreeMap<&'static str, OpStats>>,
}

#[derive(Clone, Copy, Debug, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct OpStats {
    pub calls: u64,
    pub throttled: u64,
    pub failed: u64,
}

impl CallStats {
    fn record(&self, op: &'static str, outcome: Option<ErrorClass>) {
        if let Ok(mut m) = self.inner.lock() {
            let s = m.entry(op).or_default();
            s.calls += 1;
            match outcome {
                Some(ErrorClass::Throttled) => s.throttled += 1,
                Some(_) => s.failed += 1,
                None => {}
            }
        }
    }

    pub fn snapshot(&self) -> BTreeMap<String, OpStats> {
        self.inner
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.to_string(), *v)).collect())
            .unwrap_or_default()
    }
}

/// Runs `call` until it succeeds, fails with a non-retryable error, or attempts run out.
/// Errors of a class in `give_back` are returned at once (the caller handles them).
pub async fn retry<T, F, Fut>(
    op: &'static str,
    settings: &RetrySettings,
    stats: &CallStats,
    give_back: &[ErrorClass],
    mut call: F,
) -> Result<T, QsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, QsError>>,
{
    let mut attempt = 0;
    loop {
        match call().await {
            Ok(v) => {
                stats.record(op, None);
                return Ok(v);
            }
            Err(e) => {
                stats.record(op, Some(e.class));
                attempt += 1;
                if give_back.contains(&e.class)
                    || !e.is_retryable()
                    || attempt >= settings.max_attempts
                {
                    return Err(e);
                }
                tracing::debug!(operation = op, attempt, error = %e, "retrying");
                tokio::time::sleep(settings.delay(attempt)).await;
            }
        }
    }
}

/// Walks every page of a QuickSight List call once (`max-results` 100), retrying a failed page
/// on its own token, and maps each item with `$map` (items mapping to `None` are dropped).
macro_rules! paginate {
    ($engine:expr, $op:literal, $builder:expr, $items:ident, |$it:ident| $map:expr) => {{
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = $crate::qs::retry($op, &$engine.settings.retry, &$engine.stats, &[], || {
                let req = $builder.max_results(100).set_next_token(token.clone());
                async move { $crate::qs::sdk($op, req.send().await) }
            })
            .await?;
            for $it in page.$items() {
                if let Some(x) = $map {
                    out.push(x);
                }
            }
            match page.next_token() {
                Some(t) if !t.is_empty() && Some(t) != token.as_deref() => {
                    token = Some(t.to_string())
                }
                _ => break,
            }
        }
        out
    }};
}
pub(crate) use paginate;

/// Shorthand: turn an SDK result into a `QsError` result.
pub fn sdk<T, E>(op: &'static str, r: Result<T, SdkError<E, HttpResponse>>) -> Result<T, QsError>
where
    E: ProvideErrorMetadata + std::fmt::Debug,
{
    r.map_err(|e| QsError::from_sdk(op, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_but_stays_capped() {
        let s = RetrySettings {
            max_attempts: 5,
            base: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        for attempt in 0..30 {
            assert!(s.delay(attempt) <= Duration::from_secs(1));
        }
    }

    #[tokio::test]
    async fn retry_gives_back_conflicts_and_retries_throttles() {
        let stats = CallStats::default();
        let fast = RetrySettings {
            max_attempts: 5,
            base: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        };
        let mut n = 0;
        let r: Result<u32, QsError> = retry("Op", &fast, &stats, &[], || {
            n += 1;
            let fail = n < 3;
            async move {
                if fail {
                    Err(QsError {
                        operation: "Op",
                        code: None,
                        message: "x".into(),
                        class: ErrorClass::Throttled,
                    })
                } else {
                    Ok(7)
                }
            }
        })
        .await;
        assert_eq!(r.ok(), Some(7));
        assert_eq!(
            stats.snapshot()["Op"],
            OpStats {
                calls: 3,
                throttled: 2,
                failed: 0
            }
        );
        let r: Result<u32, QsError> =
            retry("Op2", &fast, &stats, &[ErrorClass::Conflict], || async {
                Err(QsError {
                    operation: "Op2",
                    code: None,
                    message: "x".into(),
                    class: ErrorClass::Conflict,
                })
            })
            .await;
        assert_eq!(r.map_err(|e| e.class).err(), Some(ErrorClass::Conflict));
        assert_eq!(stats.snapshot()["Op2"].calls, 1);
    }
}
