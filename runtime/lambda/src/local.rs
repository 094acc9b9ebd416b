//! A local stand-in for the Lambda Invoke API (`POST /2015-03-31/functions/<name>/invocations`)
//! that runs the real handlers in-process, so the synthesized state machine can be executed
//! offline (aws-local-stepfunctions) against the emulator and moto. Errors are answered the way
//! Lambda does: status 200, `X-Amz-Function-Error: Unhandled`, body `{errorType, errorMessage}`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use qsbackup_core::Engine;
use serde_json::{Value, json};

use crate::{Task, handle};

/// The router of the local Invoke API for one engine (one "deployment").
pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/2015-03-31/functions/{name}/invocations", post(invoke))
        .with_state(engine)
}

async fn invoke(
    State(engine): State<Arc<Engine>>,
    Path(name): Path<String>,
    Json(event): Json<Value>,
) -> Response {
    let Some(task) = Task::ALL.into_iter().find(|t| t.binary() == name) else {
        let body = json!({"Type": "User", "Message": format!("Function not found: {name}")});
        return (StatusCode::NOT_FOUND, Json(body)).into_response();
    };
    match handle(&engine, task, event).await {
        Ok(out) => Json(out).into_response(),
        Err(e) => {
            let mut headers = HeaderMap::new();
            headers.insert(
                "X-Amz-Function-Error",
                HeaderValue::from_static("Unhandled"),
            );
            (
                headers,
                Json(json!({"errorType": e.name, "errorMessage": e.message})),
            )
                .into_response()
        }
    }
}
