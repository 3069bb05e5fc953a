//! Every JSON document carries `schema_version`, and every top-level key it prints is described
//! in docs/json-schema.md.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::*;

/// The keys docs/json-schema.md lists in the section whose heading contains `heading`.
fn documented(heading: &str) -> BTreeSet<String> {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/json-schema.md"))
            .unwrap();
    let section = doc
        .split("\n## ")
        .find(|s| s.lines().next().is_some_and(|h| h.contains(heading)))
        .unwrap_or_else(|| panic!("docs/json-schema.md has no section for {heading}"));
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect()
}

/// Runs the launcher in a private HOME with `ws` as the workspace; returns the parsed stdout.
fn json(s: &Setup, args: &[&str], code: i32) -> serde_json::Value {
    let home = s.base.join("home");
    std::fs::create_dir_all(home.join(".codex")).unwrap();
    let out = output(
        Command::new(bin())
            .current_dir(&s.ws)
            .env("HOME", &home)
            .env_remove("XDG_STATE_HOME")
            .env("XDG_CACHE_HOME", &s.cache)
            .env_remove("CODEX_HOME")
            .env_remove("CODEX_LAUNCHER_BACKEND")
            .args(args),
    );
    assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stdout(&out)))
}

fn assert_versioned_and_documented(doc: &serde_json::Value, heading: &str) {
    assert_eq!(doc["schema_version"], 1, "{heading}");
    let documented = documented(heading);
    for key in doc.as_object().unwrap().keys() {
        assert!(
            documented.contains(key),
            "{heading} prints `{key}`, which docs/json-schema.md does not describe"
        );
    }
}

#[test]
fn explain_and_dry_run_documents() {
    let s = setup();
    let heading = "explain --json";
    for args in [
        &["explain", "--json", "--", "true"][..],
        &["run", "--dry-run", "--json", "--", "true"],
        &["entrypoint", "--dry-run", "--json", "--", "true"],
    ] {
        assert_versioned_and_documented(&json(&s, args, 0), heading);
    }
    // The refused form too: no backend can be used.
    let refused = json(&s, &["explain", "--json", "--backend", "seatbelt"], 1);
    assert_versioned_and_documented(&refused, heading);
    assert!(refused["refused"].is_string());
}

#[test]
fn doctor_document() {
    let s = setup();
    let doc = json(&s, &["doctor", "--json"], 0);
    assert_versioned_and_documented(&doc, "doctor --json");
}

#[test]
fn prepare_home_document() {
    let s = setup();
    let doc = json(&s, &["prepare-home", "--json"], 0);
    assert_versioned_and_documented(&doc, "prepare-home --json");
    assert!(doc["actions"].is_array());
}

#[test]
fn tasks_document() {
    let s = setup();
    json(&s, &["prepare-home", "--json"], 0);
    let doc = json(&s, &["tasks", "--json"], 0);
    assert_versioned_and_documented(&doc, "tasks --json");
    assert_eq!(doc["tasks"].as_array().unwrap().len(), 1);
}
