//! The skip rule for unit tests, the same as `tests/common::skip` for the integration tests: a
//! missing prerequisite (root, user namespaces) fails the test under `CI=true`, where `.ci/run`
//! provides everything, and is a loud skip elsewhere.

/// Fails under `CI=true`; otherwise prints `SKIPPED: reason`.
pub fn skip(reason: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("missing prerequisite under CI=true: {reason}");
    }
    eprintln!("SKIPPED: {reason}");
}
