//! `qsbackup`: the command-line host of the engine.
fn main() {}
