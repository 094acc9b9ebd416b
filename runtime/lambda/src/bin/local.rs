//! `qsbackup-lambda-local`: serves the Lambda Invoke API on loopback for every workflow function,
//! running the real handlers with the engine built from the environment (as at a cold start).
fn main() -> std::process::ExitCode {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(9000);
    let Ok(runtime) = tokio::runtime::Runtime::new() else {
        return std::process::ExitCode::FAILURE;
    };
    runtime.block_on(async move {
        let engine = match qsbackup_lambda::engine_from_env().await {
            Ok(e) => std::sync::Arc::new(e),
            Err(e) => {
                eprintln!("error: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        let Ok(listener) = tokio::net::TcpListener::bind(("127.0.0.1", port)).await else {
            eprintln!("error: cannot bind 127.0.0.1:{port}");
            return std::process::ExitCode::FAILURE;
        };
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        println!("listening on http://{addr}");
        match axum::serve(listener, qsbackup_lambda::local::router(engine)).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                std::process::ExitCode::FAILURE
            }
        }
    })
}
