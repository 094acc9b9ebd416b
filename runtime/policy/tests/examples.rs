//! Every policy under the repository's `examples/` folder is valid, and each documents itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use qsbackup_policy::{Mode, StorageBackend, load};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn examples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_policy_is_valid() {
    let files = examples();
    assert!(files.len() >= 8, "{files:?}");
    for f in files {
        if let Err(e) = load(&f) {
            panic!("{e}");
        }
    }
}

#[test]
fn every_example_points_at_the_schema_and_explains_itself() {
    for f in examples() {
        let text = std::fs::read_to_string(&f).unwrap();
        let p = load(&f).unwrap();
        assert_eq!(
            p.schema.as_deref(),
            Some("../schema/policy.schema.json"),
            "{f:?}"
        );
        if f.extension().unwrap() == "yaml" {
            assert!(
                text.starts_with("# yaml-language-server: $schema=../schema/policy.schema.json\n"),
                "{f:?}"
            );
        } else {
            assert!(p.description.is_some(), "{f:?}");
        }
    }
}

#[test]
fn the_demo_policy_backs_up_the_emulator_sample_account_to_a_local_directory() {
    let p = load(&examples_dir().join("local-laptop.yaml")).unwrap();
    assert_eq!(p.targets.len(), 1);
    assert_eq!(p.targets[0].account, "123456789012");
    assert_eq!(p.target_region(&p.targets[0]), "us-east-1");
    match p.storage.backend() {
        StorageBackend::Local(l) => assert_eq!(l.path, "./qsbackup-data"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn multi_account_example_applies_overrides_per_target() {
    let p = load(&examples_dir().join("multi-account.yaml")).unwrap();
    assert_eq!(p.targets.len(), 3);
    let prod = p.for_target(&p.targets[2]);
    assert_eq!(prod.source.region, "eu-west-1");
    assert_eq!(prod.schedule.time_zone, "Europe/Dublin");
    assert_eq!(prod.retention.yearly, 3);
    let dev = p.for_target(&p.targets[0]);
    assert_eq!(dev.source.region, "us-east-1");
    assert_eq!(dev.retention, p.retention);
    assert_ne!(prod.digest(), dev.digest());
    assert_eq!(p.mode, Mode::Full);
}
