//! Class: a launcher lock held by a task (red-team r2 04). Under Landlock `$TMPDIR` is writable, so
//! a task can open the mount-target registry's `lock` (or create it) and hold an exclusive `flock`
//! for as long as it runs. Stage 1: a Landlock task of the same user holds it and keeps running.
//! Stage 2: an ordinary bubblewrap launch (system and built-in bubblewrap, `codex-run` and the
//! helper) must not wait for ever: it refuses after a bounded wait with a one-line error naming
//! the lock file and the remedy, while the holder still holds it; once the holder is gone the same
//! launch runs.

mod common;

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use common::scene::*;
use common::*;

fn registry_lock(s: &Scene) -> PathBuf {
    s.tmp
        .join(format!(
            "codex-bwrap-synthetic-mount-targets-{}",
            s.variant.uid
        ))
        .join("lock")
}

/// Stage 1: a Landlock task that takes the registry lock and keeps it (its pid in `holding`).
fn hold_from_a_landlock_task(s: &Scene) -> Child {
    let lock = registry_lock(s);
    let script = py(&format!(
        r#"
import os, fcntl, time
d = "{dir}"
os.makedirs(d, mode=0o700, exist_ok=True)
fd = os.open("{lock}", os.O_RDONLY | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
open("holding", "w").write(str(os.getpid()))
time.sleep(120)
"#,
        dir = lock.parent().unwrap().display(),
        lock = lock.display()
    ));
    let task = Variant {
        uid: s.variant.uid,
        backend: Backend::Landlock,
    };
    let mut cmd = task.wrap(&s.codex_run_cmd_on(Backend::Landlock, &[], &script));
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..600 {
        if std::fs::read_to_string(s.ws.join("holding")).is_ok_and(|p| !p.is_empty()) {
            return child;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut child = child;
    let _ = child.kill();
    let _ = child.wait();
    panic!("the Landlock task never took the lock");
}

/// Stage 2 launches: codex-run and the helper, on the system and the built-in bubblewrap, each in
/// a fresh workspace (no `.git` etc., so mount targets are registered), with their failure code.
fn launches(s: &Scene) -> Vec<(String, std::process::Command, i32)> {
    let mut out = Vec::new();
    for backend in [Backend::Auto, Backend::Vendored] {
        let ws = s.base.join(format!("ws2-{backend:?}"));
        std::fs::create_dir_all(&ws).unwrap();
        std::os::unix::fs::lchown(&ws, Some(s.variant.uid), Some(s.variant.uid)).unwrap();
        let mut run = s.codex_run_cmd_on(backend, &[], "true");
        run.current_dir(&ws);
        out.push((format!("codex-run {backend:?}"), run, 125));
        let mut helper = s.helper_cmd("true");
        if backend == Backend::Vendored {
            helper.env("CODEX_LAUNCHER_BWRAP", "vendored");
        }
        helper.current_dir(&ws);
        out.push((format!("helper {backend:?}"), helper, 1));
    }
    out
}

/// Waits until nobody holds an exclusive lock on `path`.
fn wait_until_free(path: &std::path::Path) {
    let file = std::fs::File::open(path).unwrap();
    for _ in 0..200 {
        if nix::fcntl::Flock::lock(
            file.try_clone().unwrap(),
            nix::fcntl::FlockArg::LockSharedNonblock,
        )
        .is_ok()
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} still held after its holder was killed", path.display());
}

#[test]
fn a_held_launcher_lock_costs_a_refusal_not_a_hang() {
    let variants = Variant::all()
        .into_iter()
        .filter(|v| v.backend == Backend::Auto);
    for variant in variants {
        let s = Scene::new(variant);
        let lock = registry_lock(&s);
        let mut holder = hold_from_a_landlock_task(&s);
        // All at once: each waits out the bound.
        let runs: Vec<_> = launches(&s)
            .into_iter()
            .map(|(label, cmd, code)| {
                let mut cmd = variant.wrap(&cmd);
                let run =
                    std::thread::spawn(move || output_within(&mut cmd, Duration::from_secs(60)));
                (label, run, code)
            })
            .collect();
        for (label, run, code) in runs {
            let out = run.join().unwrap();
            let context = format!("{variant:?} {label}");
            let e = stderr(&out);
            assert_eq!(out.status.code(), Some(code), "{context}: {e}");
            assert!(
                e.contains(&format!(
                    "lock {} is held by another process",
                    lock.display()
                )),
                "{context}: {e}"
            );
            assert_eq!(e.trim_end().lines().count(), 1, "one line: {context}: {e}");
        }
        assert!(
            holder.try_wait().unwrap().is_none(),
            "the holder still held the lock: {variant:?}"
        );
        // The task outlives a launcher killed with SIGKILL (a documented gap): end both.
        let pid = std::fs::read_to_string(s.ws.join("holding")).unwrap();
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid.trim().parse().unwrap()),
            nix::sys::signal::Signal::SIGKILL,
        );
        holder.kill().unwrap();
        holder.wait().unwrap();
        // Then the lock is free and the same launches run.
        wait_until_free(&lock);
        for (label, cmd, _) in launches(&s) {
            let out = output_within(&mut variant.wrap(&cmd), Duration::from_secs(60));
            assert_eq!(
                out.status.code(),
                Some(0),
                "{variant:?} {label}: {}",
                stderr(&out)
            );
        }
        s.assert_outside_untouched();
    }
}
