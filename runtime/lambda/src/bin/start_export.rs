//! Lambda function `qsbackup-start-export`: hosts the engine's `start_export` step.
fn main() -> std::process::ExitCode {
    qsbackup_lambda::main(qsbackup_lambda::Task::StartExport)
}
