//! `qsbackup-emulator`: runs the QuickSight emulator standalone.
fn main() {}
