//! Every broken policy under `fixtures/invalid/` is refused with precise, positioned messages
//! (pinned by snapshots), and nothing panics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use qsbackup_policy::{Format, MAX_POLICY_BYTES, PolicyErrors, load, parse};

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Loads a fixture and names it relative to the fixtures folder, so snapshots hold no
/// absolute paths.
fn load_fixture(path: &Path) -> PolicyErrors {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut errors = load(path).expect_err(&format!("{name} must be refused"));
    errors.file = name;
    errors
}

#[test]
fn the_corpus_has_at_least_thirty_broken_policies() {
    assert!(fixtures().len() >= 30, "{}", fixtures().len());
}

#[test]
fn every_broken_policy_is_refused_with_the_pinned_messages() {
    for path in fixtures() {
        let errors = load_fixture(&path);
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        insta::assert_snapshot!(stem, errors.to_string());
    }
}

#[test]
fn every_error_in_a_readable_file_has_a_path_a_position_and_a_code() {
    for path in fixtures() {
        let errors = load_fixture(&path);
        assert!(!errors.errors.is_empty());
        for e in &errors.errors {
            assert!(!e.code.is_empty() && !e.message.is_empty(), "{errors}");
            if e.code != "empty" {
                assert!(
                    e.line.is_some() && e.column.is_some(),
                    "no position: {errors}"
                );
            }
        }
    }
}

#[test]
fn errors_serialize_to_json_for_machines() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid/mode-typo.yaml");
    let json = load_fixture(&path).to_json();
    insta::assert_json_snapshot!("mode-typo-json", json);
}

#[test]
fn a_ten_megabyte_file_is_refused_before_parsing() {
    let dir = std::env::temp_dir().join(format!("qsbackup-policy-big-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("huge.yaml");
    let mut text = String::from("version: 1\nname: huge\ndescription: |\n");
    while text.len() < 10 * 1024 * 1024 {
        text.push_str("  lorem ipsum dolor sit amet, consectetur adipiscing elit\n");
    }
    std::fs::write(&file, &text).unwrap();
    let mut errors = load(&file).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    errors.file = "huge.yaml".into();
    assert_eq!(errors.errors.len(), 1);
    assert_eq!(errors.errors[0].code, "too-large");
    insta::assert_snapshot!("huge", errors.to_string());
    // The same limit applies to text handed over directly.
    let errors = parse(&text, "huge.yaml", Format::Yaml).unwrap_err();
    assert_eq!(errors.errors[0].code, "too-large");
    assert!(text.len() > MAX_POLICY_BYTES);
}

#[test]
fn a_missing_file_and_a_directory_are_reported_not_panicked_on() {
    let errors = load(Path::new("no/such/policy.yaml")).unwrap_err();
    assert_eq!(errors.errors[0].code, "io");
    let errors = load(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap_err();
    assert_eq!(errors.errors[0].code, "io");
}

#[test]
fn arbitrary_garbage_never_panics() {
    let samples = [
        "{",
        "}",
        "[",
        "- - - -",
        "a: [",
        "a: {b: [c, {d: }]}",
        ": :",
        "? complex\n: key",
        "&a [*a]",
        "*undefined",
        "!!int abc",
        "\"unterminated",
        "version: 1\n\tname: x",
        "{\"a\": 1e999}",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
        "\u{0}\u{1}\u{2}",
        "version: 1\nname: x\ntargets: [{account: \"111122223333\", overrides: {storage: 5}}]",
    ];
    for s in samples {
        for f in [Format::Yaml, Format::Json, Format::Sniff] {
            assert!(parse(s, "garbage", f).is_err(), "{s:?} accepted as {f:?}");
        }
    }
}
