//! Lambda function `qsbackup-split-batch`: hosts the engine's `split_batch` step.
fn main() -> std::process::ExitCode {
    qsbackup_lambda::main(qsbackup_lambda::Task::SplitBatch)
}
