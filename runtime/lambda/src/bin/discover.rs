//! Lambda function `qsbackup-discover`: hosts the engine's `discover` step.
fn main() -> std::process::ExitCode {
    qsbackup_lambda::main(qsbackup_lambda::Task::Discover)
}
