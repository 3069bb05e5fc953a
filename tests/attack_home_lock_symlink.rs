//! Class: the per-home lock file (issue 13 #2). A symlink at the lock's name made the next prepare
//! create a file anywhere; a FIFO hung it. The lock now lives outside the home (the task plants at
//! the old in-home name), and even where it lives a symlink, FIFO or socket is never opened: the
//! launch neither writes outside nor blocks.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::scene::*;
use common::*;

/// The lock for `home` under `XDG_STATE_HOME=state`, as `home::home_lock` names it.
fn lock_path(state: &Path, home: &Path) -> PathBuf {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(home.as_os_str().as_encoded_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    state.join(format!("codex-launcher/locks/{hex}.lock"))
}

#[derive(Debug, Clone, Copy)]
enum Plant {
    LinkToMissing,
    LinkToVictim,
    Fifo,
    Socket,
}

const PLANTS: [Plant; 4] = [
    Plant::LinkToMissing,
    Plant::LinkToVictim,
    Plant::Fifo,
    Plant::Socket,
];

/// Shell that plants `what` at `path` (run inside the sandbox or on the host).
fn plant_script(s: &Scene, what: Plant, path: &Path) -> String {
    let p = path.display();
    match what {
        Plant::LinkToMissing => format!(
            "ln -s '{}' '{p}'",
            s.nonexistent_outside("from-lock").display()
        ),
        Plant::LinkToVictim => format!("ln -s '{}' '{p}'", s.victim.display()),
        Plant::Fifo => format!("mkfifo '{p}'"),
        // Bound by its name from its directory: a socket address holds at most 107 bytes, and
        // a deep checkout's lock path is longer.
        Plant::Socket => py(&format!(
            "import os, socket; os.chdir({:?}); socket.socket(socket.AF_UNIX).bind({:?})",
            path.parent().unwrap().to_string_lossy(),
            path.file_name().unwrap().to_string_lossy()
        )),
    }
}

/// Stage 2 must finish (not block on a FIFO) and succeed.
fn ordinary_launch(s: &Scene) {
    let mut cmd = s.variant.wrap(&s.codex_run_cmd(&[], "echo ran"));
    let out = output_within(&mut cmd, Duration::from_secs(60));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{:?}: {}",
        s.variant,
        stderr(&out)
    );
    assert_eq!(stdout(&out).trim(), "ran");
}

#[test]
fn a_planted_old_style_lock_in_the_home_is_never_opened() {
    for variant in Variant::all() {
        for what in PLANTS {
            let s = Scene::new(variant);
            s.codex_run_ok("true");
            let old = s.home.join(".codex-launcher.lock");
            // Stage 1: from inside the task, which can write its per-task home. With the network
            // on, so a unix socket can be planted too (`--network filtered` refuses to create one).
            let plant = format!(
                "rm -f '{}'; {}",
                old.display(),
                plant_script(&s, what, &old)
            );
            let out = output(&mut variant.wrap(&s.codex_run_cmd(&["--network", "on"], &plant)));
            assert_eq!(
                out.status.code(),
                Some(0),
                "{variant:?} {what:?}: {}",
                stderr(&out)
            );
            assert!(
                std::fs::symlink_metadata(&old).is_ok(),
                "{variant:?} {what:?}"
            );
            ordinary_launch(&s);
            s.assert_outside_untouched();
            assert!(
                std::fs::symlink_metadata(&old).is_err(),
                "{variant:?} {what:?}: the old lock name is cleaned up"
            );
        }
    }
}

#[test]
fn whatever_sits_at_the_new_lock_name_is_never_opened() {
    for variant in Variant::all() {
        for what in PLANTS {
            let s = Scene::new(variant);
            let lock = lock_path(&s.state, &s.home);
            let dir = lock.parent().unwrap();
            std::fs::create_dir_all(dir).unwrap();
            for d in [s.state.join("codex-launcher"), dir.to_path_buf()] {
                std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
                std::os::unix::fs::lchown(&d, Some(variant.uid), Some(variant.uid)).unwrap_or(());
            }
            // Planted as the launching user: what a task would do if the state dir were exposed.
            s.host_shell(&plant_script(&s, what, &lock));
            ordinary_launch(&s);
            s.assert_outside_untouched();
            let left = std::fs::symlink_metadata(&lock);
            assert!(
                left.is_err() || left.unwrap().is_file(),
                "{variant:?} {what:?}: only a regular lock file may remain"
            );
        }
    }
}
