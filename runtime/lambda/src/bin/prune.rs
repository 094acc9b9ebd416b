//! Lambda function `qsbackup-prune`: hosts the engine's `prune` step.
fn main() -> std::process::ExitCode {
    qsbackup_lambda::main(qsbackup_lambda::Task::Prune)
}
