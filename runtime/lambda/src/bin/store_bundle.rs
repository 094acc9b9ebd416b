//! Lambda function `qsbackup-store-bundle`: hosts the engine's `store_bundle` step.
fn main() -> std::process::ExitCode {
    qsbackup_lambda::main(qsbackup_lambda::Task::StoreBundle)
}
