//! A wire-compatible Amazon QuickSight emulator (restJson1) with state, quotas and fault injection.
//!
//! Start it with [`start`]; point the unmodified `aws-sdk-quicksight` client at
//! [`Emulator::endpoint`] (or set `AWS_ENDPOINT_URL_QUICKSIGHT`). State is kept per
//! (account ID from the path, Region from the SigV4 credential scope). Admin API under
//! `/_emulator/`: `GET counters`, `POST reset`, `GET|POST behaviour`, `GET|POST clock`
//! (`{"advanceSeconds": n}`), `GET health`, `GET download/<token>`.

mod admin;
mod behaviour;
mod bundle;
mod jobs;
mod model;
mod ops;
mod prng;
mod seed;
mod server;
mod wire;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

pub use behaviour::{Behaviour, Counters, OpCounters, TokenBucket};
pub use seed::{SAMPLE_ACCOUNT, SAMPLE_ASSETS, SAMPLE_REGION, SAMPLE_SEED};

/// Which data the default account (123456789012, us-east-1) starts with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Seed {
    /// About 300 assets, users and groups (`generate(SAMPLE_SEED, SAMPLE_ASSETS)`).
    #[default]
    Sample,
    /// Nothing: a subscribed account without assets (default namespace only).
    Empty,
    /// `assets` assets generated from `seed` (deterministic).
    Generated { seed: u64, assets: usize },
}

/// Start-up configuration.
#[derive(Clone, Debug, Default)]
pub struct EmulatorConfig {
    pub seed: Seed,
    pub behaviour: Behaviour,
    /// Endpoint for import `S3Uri`s (`{endpoint}/{bucket}/{key}`, unsigned GET), e.g. a moto server.
    pub s3_endpoint: Option<String>,
    /// 0 picks a free port.
    pub port: u16,
}

/// A running emulator; shuts down on [`Emulator::shutdown`] or drop.
pub struct Emulator {
    app: Arc<server::App>,
    endpoint: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Binds 127.0.0.1 and serves in a background task of the current tokio runtime.
pub async fn start(config: EmulatorConfig) -> anyhow::Result<Emulator> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
    let port = listener.local_addr()?.port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut world = HashMap::new();
    let seeded = match config.seed {
        Seed::Sample => Some((seed::SAMPLE_SEED, seed::SAMPLE_ASSETS)),
        Seed::Empty => None,
        Seed::Generated { seed, assets } => Some((seed, assets)),
    };
    if let Some((s, n)) = seeded {
        let acct = seed::generate(seed::SAMPLE_ACCOUNT, seed::SAMPLE_REGION, s, n);
        world.insert(
            (
                seed::SAMPLE_ACCOUNT.to_owned(),
                seed::SAMPLE_REGION.to_owned(),
            ),
            acct,
        );
    }
    let app = Arc::new(server::App {
        world: std::sync::Mutex::new(world),
        gov: behaviour::Governor::new(config.behaviour),
        clock_offset_ms: AtomicI64::new(0),
        base_url: endpoint.clone(),
        s3_endpoint: config.s3_endpoint,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?,
    });
    let router = axum::Router::new()
        .fallback(server::handle)
        .with_state(app.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let serve = axum::serve(listener, router).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "emulator server stopped");
        }
    });
    Ok(Emulator {
        app,
        endpoint,
        stop: Some(stop),
        task: Some(task),
    })
}

impl Emulator {
    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    pub fn counters(&self) -> Counters {
        self.app.gov.counters()
    }

    pub fn set_behaviour(&self, b: Behaviour) {
        self.app.gov.set_behaviour(b);
    }

    pub fn reset_counters(&self) {
        self.app.gov.reset_counters();
    }

    /// Moves the emulated clock (jobs, 14-day retention, download URL expiry).
    pub fn advance_clock(&self, secs: i64) {
        self.app
            .clock_offset_ms
            .fetch_add(secs.saturating_mul(1000), Ordering::Relaxed);
    }

    /// Stops serving; open connections get a few seconds to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
