//! Lambda function `qsbackup-finalize`: hosts the engine's `finalize` step.
fn main() -> std::process::ExitCode {
    qsbackup_lambda::main(qsbackup_lambda::Task::Finalize)
}
