//! Lambda function `qsbackup-begin`: hosts the engine's `begin` step.
fn main() -> std::process::ExitCode {
    qsbackup_lambda::main(qsbackup_lambda::Task::Begin)
}
