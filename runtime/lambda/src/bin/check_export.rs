//! Lambda function `qsbackup-check-export`: hosts the engine's `check_export` step.
fn main() -> std::process::ExitCode {
    qsbackup_lambda::main(qsbackup_lambda::Task::CheckExport)
}
