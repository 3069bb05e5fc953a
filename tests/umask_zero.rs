//! Class: a permissive umask (0, or 002 with a shared group). Directories the launcher made on the
//! way to its own (the XDG state and cache dirs, a per-task home's parents), the shared home's
//! `sessions` and `install`'s bin dir were created with the umask's mode: world-writable under
//! umask 0, so another local user could plant a session Codex resumes, move the launcher's
//! private dirs aside or swap the `codex-run` on PATH; and a umask that takes the owner's bits
//! (0277) made them 0500, which failed every launch but root's. Stage 1: `codex-run` (every
//! backend and uid) and `install` under umask 0 and 0277, none of those dirs existing yet.
//! Stage 2, from the host: nothing they created is writable by group or others, and every
//! directory they created is open to its owner.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::scene::*;
use common::*;

fn with_umask(umask: &str, cmd: &Command) -> Command {
    let mut sh = Command::new("sh");
    sh.args(["-c", &format!("umask {umask}; exec \"$@\""), "sh"]);
    wrap(sh, cmd)
}

fn with_umask_0(cmd: &Command) -> Command {
    with_umask("000", cmd)
}

/// Every entry below `root` (itself included) that `matches`, with its mode, not following links.
fn entries_where(root: &Path, matches: impl Fn(&std::fs::Metadata) -> bool) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if matches(&meta) {
            found.push(format!(
                "{:o} {}",
                meta.permissions().mode(),
                path.display()
            ));
        }
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                stack.push(entry.path());
            }
        }
    }
    found
}

/// Every directory below `root` (itself included) its owner cannot list, enter or write.
fn closed_to_owner(root: &Path) -> Vec<String> {
    entries_where(root, |m| {
        m.is_dir() && m.permissions().mode() & 0o700 != 0o700
    })
}

/// Every entry below `root` (itself included) that group or others may write.
fn writable_by_others(root: &Path) -> Vec<String> {
    entries_where(root, |m| {
        m.permissions().mode() & 0o022 != 0 && !m.file_type().is_symlink()
    })
}

/// `codex-run` with its state, cache and per-task home below `fresh`.
fn codex_run_into(scene: &Scene, fresh: &Path) -> Command {
    let mut cmd = scene.launcher("codex-run");
    cmd.env("XDG_STATE_HOME", fresh.join("state"))
        .env("XDG_CACHE_HOME", fresh.join("cache"))
        .arg("--shared-home")
        .arg(&scene.shared)
        .arg("--home")
        .arg(fresh.join("homes/t1/home"))
        .args(["--", "/bin/true"]);
    cmd
}

#[test]
fn nothing_the_launcher_creates_is_writable_by_others() {
    for variant in Variant::all() {
        let scene = Scene::new(variant);
        // All below the variant's own HOME, none of it there yet; the shared home has no
        // `sessions` yet either.
        let fresh = scene.user.join("fresh");
        let sessions = scene.shared.join("sessions");
        assert!(!sessions.exists());
        let cmd = codex_run_into(&scene, &fresh);
        let out = output(&mut variant.wrap(&with_umask_0(&cmd)));
        assert_eq!(out.status.code(), Some(0), "{variant:?}: {}", stderr(&out));
        assert!(fresh.join("homes/t1/home").is_dir(), "{variant:?}: no home");
        let open = [writable_by_others(&fresh), writable_by_others(&sessions)].concat();
        assert!(
            open.is_empty(),
            "{variant:?}: writable by others: {open:#?}"
        );
    }
}

#[test]
fn install_under_umask_0_leaves_nothing_writable_by_others() {
    let dir = home_tempdir("cl-umask-");
    let fresh = dir.path().join("fresh");
    let mut cmd = Command::new(bin());
    cmd.env("XDG_DATA_HOME", fresh.join("share"))
        .arg("install")
        .arg("--bin-dir")
        .arg(fresh.join("bin"));
    let out = output(&mut with_umask_0(&cmd));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(fresh.join("bin/codex-run").is_symlink());
    let open = writable_by_others(&fresh);
    assert!(open.is_empty(), "writable by others: {open:#?}");
}

#[test]
fn a_umask_without_owner_bits_leaves_every_launch_working() {
    for variant in Variant::all() {
        let scene = Scene::new(variant);
        let fresh = scene.user.join("fresh");
        let cmd = codex_run_into(&scene, &fresh);
        let out = output(&mut variant.wrap(&with_umask("0277", &cmd)));
        assert_eq!(out.status.code(), Some(0), "{variant:?}: {}", stderr(&out));
        let closed = [
            closed_to_owner(&fresh),
            closed_to_owner(&scene.shared.join("sessions")),
        ]
        .concat();
        assert!(
            closed.is_empty(),
            "{variant:?}: closed to their owner: {closed:#?}"
        );
    }
}
