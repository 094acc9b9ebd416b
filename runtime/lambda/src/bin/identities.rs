//! Lambda function `qsbackup-identities`: hosts the engine's `identities` step.
fn main() -> std::process::ExitCode {
    qsbackup_lambda::main(qsbackup_lambda::Task::Identities)
}
