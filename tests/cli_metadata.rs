//! Package metadata a user or packager relies on: the declared minimum Rust version is the true
//! one, and the binary says what it contains and under which licenses.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use semver::Version;
use serde_json::Value;

fn metadata() -> Value {
    let out = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn version(v: &str) -> Version {
    // rust-version may omit the patch (and minor) part: "1.88".
    let parts = v.split('.').count();
    Version::parse(&format!("{v}{}", ".0".repeat(3 - parts))).unwrap()
}

/// Every package the workspace member `root` needs to build and test (normal, build and dev
/// dependencies of it, normal and build dependencies of theirs), by id.
fn closure(meta: &Value, root: &str) -> BTreeSet<String> {
    let nodes: BTreeMap<&str, &Value> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let mut seen = BTreeSet::new();
    let mut stack = vec![root.to_string()];
    while let Some(id) = stack.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        for dep in nodes[id.as_str()]["deps"].as_array().unwrap() {
            let counts = dep["dep_kinds"].as_array().unwrap().iter().any(|k| {
                let kind = k["kind"].as_str();
                kind != Some("dev") || id == root
            });
            if counts {
                stack.push(dep["pkg"].as_str().unwrap().to_string());
            }
        }
    }
    seen
}

#[test]
fn declared_rust_version_is_the_highest_any_dependency_needs() {
    let meta = metadata();
    let packages: BTreeMap<&str, &Value> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p))
        .collect();
    for member in meta["workspace_members"].as_array().unwrap() {
        let member = member.as_str().unwrap();
        let name = packages[member]["name"].as_str().unwrap();
        let declared = packages[member]["rust_version"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} declares no rust-version"));
        let (needed, by) = closure(&meta, member)
            .iter()
            .filter(|id| id.as_str() != member)
            .filter_map(|id| {
                let p = packages[id.as_str()];
                let rv = p["rust_version"].as_str()?;
                Some((version(rv), p["name"].as_str().unwrap().to_string()))
            })
            .max()
            .expect("some dependency declares a rust-version");
        // Equal, not just at least: a higher declaration would turn away toolchains that can
        // build it, and cargo's rust-version-aware resolver would then pick needlessly new deps.
        assert_eq!(
            version(declared),
            needed,
            "{name} declares rust-version {declared}, but {by} needs {needed}: declare {}.{}",
            needed.major,
            needed.minor
        );
    }
}

#[test]
fn licenses_says_what_the_binary_contains() {
    let out = Command::new(env!("CARGO_BIN_EXE_codex-launcher"))
        .arg("licenses")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "Apache License, Version 2.0",
        "bubblewrap 0.12.0",
        "LGPL-2.1-or-later",
        "014a04330642e5c870418beb621532cb896e0002",
        "vendor/bwrap",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    let full = Command::new(env!("CARGO_BIN_EXE_codex-launcher"))
        .args(["licenses", "--text"])
        .output()
        .unwrap();
    let full = String::from_utf8(full.stdout).unwrap();
    assert!(full.contains("TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION"));
    assert!(full.contains("GNU LESSER GENERAL PUBLIC LICENSE"));
}
