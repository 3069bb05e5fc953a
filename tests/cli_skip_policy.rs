//! The skip rule every environment-dependent test follows: under `CI=true` a missing prerequisite
//! fails the test; elsewhere it is a loud skip, counted in `target/tmp/skipped-tests.log`.

mod common;

#[test]
#[should_panic(expected = "missing prerequisite under CI=true: needs a unicorn")]
fn under_ci_a_missing_prerequisite_fails() {
    common::skip_or_fail(
        "needs a unicorn",
        true,
        std::path::Path::new("/nonexistent"),
    );
}

#[test]
fn elsewhere_it_is_a_counted_skip() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("skipped.log");
    common::skip_or_fail("needs a dragon", false, &log);
    let log = std::fs::read_to_string(log).unwrap();
    assert!(
        log.lines()
            .any(|l| l == "elsewhere_it_is_a_counted_skip: needs a dragon"),
        "{log}"
    );
}
