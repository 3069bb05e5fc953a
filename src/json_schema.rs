//! The version of every JSON document the launcher prints (`explain --json`, `--dry-run --json`,
//! `doctor --json`, `prepare-home --json`, `tasks --json`). Scripts check `schema_version` before
//! reading anything else; docs/json-schema.md describes each document.
//!
//! The rule: adding a key keeps the version; removing or renaming a key, or changing what a value
//! means or its type, increments it.

/// The current version of every JSON document.
pub const SCHEMA_VERSION: u32 = 1;

/// A document with `schema_version` as its first key, then the document's own keys in order.
#[derive(Debug, serde::Serialize)]
pub struct Versioned<'a, T: serde::Serialize> {
    schema_version: u32,
    #[serde(flatten)]
    document: &'a T,
}

/// `document` (which must serialise as a map) with the current `schema_version`.
pub fn versioned<T: serde::Serialize>(document: &T) -> Versioned<'_, T> {
    Versioned {
        schema_version: SCHEMA_VERSION,
        document,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_version_comes_first_and_the_document_follows_unchanged() {
        #[derive(serde::Serialize)]
        struct Doc {
            b: u8,
            a: u8,
        }
        let text = serde_json::to_string(&super::versioned(&Doc { b: 1, a: 2 })).unwrap();
        assert_eq!(text, r#"{"schema_version":1,"b":1,"a":2}"#);
    }
}
