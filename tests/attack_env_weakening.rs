//! Nothing in the environment quietly weakens a launch: an inherited `CODEX_LAUNCHER_BACKEND=none`
//! is refused by the helper, a temp dir that would make system directories writable is refused,
//! `--backend none` says so, and `--require-full-isolation` refuses a gap on any backend.

mod common;

use std::process::Command;

use common::*;

fn helper(s: &Setup, marker: &str) -> Command {
    let mut cmd = personality(&s.base, "codex-linux-sandbox");
    cmd.current_dir(&s.ws)
        .env("XDG_CACHE_HOME", &s.cache)
        .env_remove("CODEX_LAUNCHER_BACKEND")
        .arg("--sandbox-policy-cwd")
        .arg(&s.ws)
        .arg("--permission-profile")
        .arg(workspace_write(&s.ws))
        .args(["--", "touch", marker]);
    cmd
}

#[test]
fn backend_none_from_the_environment_is_refused_by_the_helper() {
    let s = setup();
    let out = output(helper(&s, "ran").env("CODEX_LAUNCHER_BACKEND", "none"));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("CODEX_LAUNCHER_BACKEND=none"),
        "{}",
        stderr(&out)
    );
    assert!(!s.ws.join("ran").exists(), "the command ran");
}

#[test]
fn backend_none_on_the_command_line_warns() {
    let s = setup();
    let mut cmd = personality(&s.base, "codex-linux-sandbox");
    cmd.current_dir(&s.ws)
        .env_remove("CODEX_LAUNCHER_BACKEND")
        .args(["--backend", "none", "--sandbox-policy-cwd"])
        .arg(&s.ws)
        .arg("--permission-profile")
        .arg(workspace_write(&s.ws))
        .args(["--", "touch", "ran"]);
    let out = output(&mut cmd);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("no sandbox"), "{}", stderr(&out));
    assert!(s.ws.join("ran").exists());
}

#[test]
fn a_temp_dir_holding_system_dirs_is_refused() {
    let s = setup();
    for tmpdir in ["/", "/usr", "/var", "//"] {
        let out = output(helper(&s, "ran").env("TMPDIR", tmpdir));
        assert_eq!(
            out.status.code(),
            Some(1),
            "TMPDIR={tmpdir}: {}",
            stderr(&out)
        );
        assert!(stderr(&out).contains("TMPDIR="), "{}", stderr(&out));
        assert!(
            !s.ws.join("ran").exists(),
            "TMPDIR={tmpdir}: the command ran"
        );
        let mut run = personality(&s.base, "codex-run");
        let home = home_tempdir("cl-env-");
        run.current_dir(&s.ws)
            .env("TMPDIR", tmpdir)
            .env("XDG_CACHE_HOME", &s.cache)
            .env_remove("CODEX_LAUNCHER_BACKEND")
            .arg("--shared-home")
            .arg(&s.base)
            .arg("--home")
            .arg(home.path().join("h"))
            .args(["--", "touch", "ran"]);
        let out = output(&mut run);
        assert_eq!(
            out.status.code(),
            Some(125),
            "run TMPDIR={tmpdir}: {}",
            stderr(&out)
        );
        assert!(
            !s.ws.join("ran").exists(),
            "run TMPDIR={tmpdir}: the command ran"
        );
    }
    let ok_tmp = s.base.join("tmp");
    std::fs::create_dir_all(&ok_tmp).unwrap();
    let out = output(helper(&s, "ran").env("TMPDIR", &ok_tmp));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn full_isolation_refuses_a_bwrap_gap() {
    if !is_root() {
        return skip("a masked /proc needs root");
    }
    let s = setup();
    // Hide part of /proc, as container runtimes do: the kernel then refuses a fresh /proc to an
    // unprivileged user namespace, and bubblewrap keeps the host's.
    let inner = helper(&s, "ran");
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg("mount --bind /dev/null /proc/keys && exec \"$@\"")
        .arg("sh")
        .arg(inner.get_program())
        .args(["--require-full-isolation", "--backend", "bwrap-system"])
        .args(inner.get_args())
        .current_dir(&s.ws)
        .env("XDG_CACHE_HOME", &s.cache)
        .env_remove("CODEX_LAUNCHER_BACKEND");
    let out = output(&mut cmd);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("/proc"), "{}", stderr(&out));
    assert!(!s.ws.join("ran").exists(), "the command ran");
}
