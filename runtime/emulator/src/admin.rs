//! The emulator's own API under `/_emulator/`: counters, behaviour, clock, and the bundle
//! downloads behind the `DownloadUrl`s (S3-style XML errors, optional padding and truncation).

use std::io::{Cursor, Read, Write};
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::{Value, json};
use zip::write::SimpleFileOptions;

use crate::behaviour::Behaviour;
use crate::jobs::{self, Ticket};
use crate::prng::Prng;
use crate::server::App;

const CHUNK: usize = 64 << 10;

pub async fn handle(app: &App, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let rest = path.trim_start_matches("/_emulator/");
    match (&method, rest) {
        (&Method::GET, "counters") => json_response(StatusCode::OK, json!(app.gov.counters())),
        (&Method::POST, "reset") => {
            app.gov.reset_counters();
            json_response(StatusCode::OK, json!(app.gov.counters()))
        }
        (&Method::GET, "behaviour") => json_response(StatusCode::OK, json!(app.gov.behaviour())),
        (&Method::POST, "behaviour") => match serde_json::from_slice::<Behaviour>(&body) {
            Ok(b) => {
                app.gov.set_behaviour(b);
                json_response(StatusCode::OK, json!(app.gov.behaviour()))
            }
            Err(e) => json_response(
                StatusCode::BAD_REQUEST,
                json!({ "message": format!("invalid behaviour: {e}") }),
            ),
        },
        (&Method::GET, "clock") => clock(app),
        (&Method::POST, "clock") => {
            let advance = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.get("advanceSeconds").and_then(Value::as_i64));
            match advance {
                Some(secs) => {
                    app.clock_offset_ms
                        .fetch_add(secs.saturating_mul(1000), Ordering::Relaxed);
                    clock(app)
                }
                None => json_response(
                    StatusCode::BAD_REQUEST,
                    json!({ "message": "expected {\"advanceSeconds\": <integer>}" }),
                ),
            }
        }
        (&Method::GET, "health") => json_response(StatusCode::OK, json!({ "status": "ok" })),
        (&Method::GET, r) if r.starts_with("download/") => {
            download(app, r.trim_start_matches("download/")).await
        }
        _ => json_response(
            StatusCode::NOT_FOUND,
            json!({ "message": format!("no admin route {method} {path}") }),
        ),
    }
}

fn clock(app: &App) -> Response {
    let offset = app.clock_offset_ms.load(Ordering::Relaxed);
    json_response(
        StatusCode::OK,
        json!({ "offsetSeconds": offset / 1000, "nowEpochSeconds": app.now_ms() / 1000 }),
    )
}

fn json_response(status: StatusCode, v: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

/// An S3-style XML error, as a presigned URL would answer.
fn s3_error(status: StatusCode, code: &str, message: &str) -> Response {
    let rid = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{}</RequestId><HostId>{rid}</HostId></Error>",
        &rid[..16]
    );
    (status, [(header::CONTENT_TYPE, "application/xml")], xml).into_response()
}

async fn download(app: &App, token: &str) -> Response {
    let Some(t) = Ticket::decode(token) else {
        return s3_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Invalid download token",
        );
    };
    if app.now_ms() > t.x {
        return s3_error(StatusCode::FORBIDDEN, "AccessDenied", "Request has expired");
    }
    let found = app.with_account(&t.a, &t.r, |a| jobs::ticket_file(a, &t));
    let Some((file, cloudformation)) = found else {
        return s3_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        );
    };
    let export = t.k == "e";
    let plan = app.gov.download(export);
    let name = if cloudformation {
        format!("assetbundle-{}.json", t.j)
    } else {
        format!("assetbundle-{}.qs", t.j)
    };
    let padding = if cloudformation {
        0
    } else {
        plan.padding_bytes
    };
    let (stream, total): (BoxStream<'static, std::io::Result<Bytes>>, Option<u64>) = if padding > 0
    {
        (padded(file.clone(), padding, seed_of(&t)), None)
    } else {
        let len = file.len() as u64;
        let chunks: Vec<std::io::Result<Bytes>> = (0..file.len())
            .step_by(CHUNK)
            .map(|i| Ok(file.slice(i..(i + CHUNK).min(file.len()))))
            .collect();
        (futures::stream::iter(chunks).boxed(), Some(len))
    };
    let stream = if plan.truncate {
        let estimate = total.unwrap_or(file.len() as u64 + padding);
        truncated(stream, usize::try_from(estimate / 2).unwrap_or(usize::MAX))
    } else {
        stream
    };
    let mut resp = Response::new(Body::from_stream(stream));
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/zip"),
    );
    if let Some(len) = total {
        headers.insert(header::CONTENT_LENGTH, header::HeaderValue::from(len));
    }
    if let Ok(v) = header::HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

fn seed_of(t: &Ticket) -> u64 {
    t.j.bytes().fold(t.c as u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Cuts a stream after `limit` bytes with an error, so the connection drops mid-body.
fn truncated(
    s: BoxStream<'static, std::io::Result<Bytes>>,
    limit: usize,
) -> BoxStream<'static, std::io::Result<Bytes>> {
    futures::stream::unfold((s, 0usize, false), move |(mut s, sent, done)| async move {
        if done {
            return None;
        }
        if sent >= limit {
            // Let the headers and the partial body reach the client before the cut.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let e = std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "download truncated (injected)",
            );
            return Some((Err(e), (s, sent, true)));
        }
        match s.next().await {
            None => None,
            Some(Ok(mut b)) => {
                b.truncate(limit - sent);
                let n = b.len();
                Some((Ok(b), (s, sent + n, false)))
            }
            Some(Err(e)) => Some((Err(e), (s, sent, true))),
        }
    })
    .boxed()
}

/// Sends written bytes to the response body in chunks.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

/// The bundle plus a stored, incompressible `padding/filler.bin` entry, generated while
/// streaming (only one chunk of filler is in memory at a time).
fn padded(file: Bytes, padding: u64, seed: u64) -> BoxStream<'static, std::io::Result<Bytes>> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let writer = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        if let Err(e) = write_padded(&file, padding, seed, writer) {
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

fn write_padded(
    base: &[u8],
    padding: u64,
    seed: u64,
    out: ChannelWriter,
) -> zip::result::ZipResult<()> {
    let mut src = zip::ZipArchive::new(Cursor::new(base))?;
    let mut w = zip::ZipWriter::new_stream(out);
    let deflated =
        SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for i in 0..src.len() {
        let mut f = src.by_index(i)?;
        let name = f.name().to_owned();
        let mut data = Vec::new();
        f.read_to_end(&mut data)?;
        w.start_file(name, deflated)?;
        w.write_all(&data)?;
    }
    let stored = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(padding >= u64::from(u32::MAX));
    w.start_file("padding/filler.bin", stored)?;
    let mut rng = Prng::new(seed);
    let mut buf = vec![0u8; CHUNK];
    let mut left = padding;
    while left > 0 {
        let n = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
        rng.fill(&mut buf[..n]);
        w.write_all(&buf[..n])?;
        left -= n as u64;
    }
    let mut inner = w.finish()?.into_inner();
    inner.flush()?;
    Ok(())
}
