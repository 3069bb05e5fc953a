//! A cached "user namespaces work" verdict must not outlive the environment it was made in: a
//! stricter seccomp filter stacked on later (Docker's default profile forbids `pivot_root`, which
//! bubblewrap needs) leads to a correct launch on Landlock with the reason, never a failed run.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// The helper under a harmless seccomp filter (as in a container), and with `strict`, under one
/// more that forbids pivot_root on top of it.
fn helper(s: &Setup, strict: bool) -> Command {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seccomp_no_pivot_root.py");
    let mut cmd = Command::new("/usr/bin/sh");
    let inner = personality(&s.base, "codex-linux-sandbox");
    let program = inner.get_program().to_string_lossy().into_owned();
    let harmless = format!(
        "env FILTERED_SYSCALL=9999 /usr/bin/python3 {} ",
        fixture.display()
    );
    let strict_part = if strict {
        format!("/usr/bin/python3 {} ", fixture.display())
    } else {
        String::new()
    };
    cmd.arg("-c")
        .arg(format!("exec {harmless}{strict_part}{program} \"$@\""))
        .arg("sh");
    cmd.current_dir(&s.ws)
        .env("XDG_CACHE_HOME", &s.cache)
        .env_remove("CODEX_LAUNCHER_BACKEND")
        .arg("--sandbox-policy-cwd")
        .arg(&s.ws)
        .arg("--permission-profile")
        .arg(workspace_write(&s.ws))
        .args(["--", "sh", "-c", "touch ok; touch /etc/codex-launcher-stale-cache 2>/dev/null; echo $CODEX_LAUNCHER_SANDBOX"]);
    cmd
}

#[test]
fn a_stricter_filter_after_caching_means_landlock_not_a_failure() {
    if !cfg!(target_arch = "x86_64") {
        return skip("the fixture's filter numbers pivot_root for x86_64");
    }
    let s = setup();
    // Cache the honest verdict of this host (with one filter, as in a container) first.
    let out = output(&mut helper(&s, false));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "",
        "bubblewrap expected here: {}",
        stdout(&out)
    );
    // Same cache, same seccomp mode, one more filter: the verdict is probed again and the run
    // still works.
    let out = output(&mut helper(&s, true));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "landlock", "{}", stderr(&out));
    assert!(s.ws.join("ok").exists());
    assert!(!Path::new("/etc/codex-launcher-stale-cache").exists());
}
