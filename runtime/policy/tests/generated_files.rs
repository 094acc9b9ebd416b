//! The committed schema (`schema/policy.schema.json`) and reference (`docs/policy.md`) are
//! exactly what the code generates. `UPDATE_SCHEMA=1 cargo test -p qsbackup-policy` rewrites them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use qsbackup_policy::{REGENERATE_HINT, reference_markdown, schema_string};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn check_generated(path: &str, generated: &str) {
    let file = repo(path);
    if std::env::var_os("UPDATE_SCHEMA").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        committed == generated,
        "{path} is stale: it differs from what the policy types generate; {REGENERATE_HINT}"
    );
}

#[test]
fn committed_schema_matches_the_generated_one() {
    check_generated("schema/policy.schema.json", &schema_string());
}

#[test]
fn committed_policy_reference_matches_the_generated_one() {
    check_generated("docs/policy.md", &reference_markdown());
}
