//! The version of every JSON document the launcher prints (`explain --json`, `--dry-run --json`,
//! `doctor --json`, `prepare-home --json`, `tasks --json`). Scripts check `schema_version` before
//! reading anything else; docs/json-schema.md describes each document.
//!
//! The rule: adding a key keeps the version; removing or renaming a key, or changing what a value
//! means or its type, increments it.

/// The current version of every JSON document.
pub const SCHEMA_VERSION: u32 = 1;

/// `value` (a JSON object) with `schema_version` set.
pub fn versioned(mut value: serde_json::Value) -> serde_json::Value {
    if let Some(map) = value.as_object_mut() {
        map.insert("schema_version".into(), SCHEMA_VERSION.into());
    }
    value
}
