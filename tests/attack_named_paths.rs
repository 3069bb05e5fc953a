//! Class: paths the user names for a launch (`--cwd`, `--writable-root`, `--home`,
//! `--lock-export`, `--lock-replay`) lying in a directory an earlier task could write. Stage 1: a
//! task turns names in its workspace into symlinks (to the victim tree, to `/`) and a FIFO.
//! Stage 2: the user names those paths. The launch refuses, naming the link and the real path;
//! nothing outside changes, no launch hangs, and the command never runs.

mod common;

use std::time::Duration;

use common::scene::*;
use common::*;

#[test]
fn planted_links_in_named_paths_are_refused() {
    for variant in Variant::all() {
        let mut s = Scene::new(variant);
        std::fs::create_dir_all(s.outside.join("dir")).unwrap();
        std::os::unix::fs::lchown(s.outside.join("dir"), Some(variant.uid), Some(variant.uid))
            .unwrap();
        s.rebaseline();
        // Stage 1, inside the sandbox.
        let planted = format!(
            "ln -s '{o}' out && ln -s / rootlink && ln -s '{o}' locks && mkfifo lock.toml && mkdir -p real && ln -s '{o}' real/inner",
            o = s.outside.join("dir").display()
        );
        s.codex_run_ok(&planted);
        let marker = s.ws.join("ran");
        let touch = format!("touch '{}'", marker.display());
        let ws = |name: &str| s.ws.join(name).display().to_string();
        let cases: Vec<(&str, Vec<String>)> = vec![
            ("--cwd", vec!["--cwd".into(), ws("out")]),
            ("--cwd", vec!["--cwd".into(), ws("rootlink")]),
            (
                "--cwd",
                vec!["--cwd".into(), format!("{}/../out", ws("real"))],
            ),
            // The kernel resolves `..` after the link: the parent of its target (r4 05).
            ("--cwd", vec!["--cwd".into(), format!("{}/..", ws("out"))]),
            (
                "--cwd",
                vec!["--cwd".into(), format!("{}/inner/..", ws("real"))],
            ),
            (
                "--writable-root",
                vec!["--writable-root".into(), format!("{}/..", ws("out"))],
            ),
            ("--writable-root", vec!["--writable-root".into(), ws("out")]),
            (
                "--writable-root",
                vec!["--writable-root".into(), ws("real/inner")],
            ),
            ("--lock-export", vec!["--lock-export".into(), ws("locks")]),
            (
                "--lock-replay",
                vec!["--lock-replay".into(), ws("rootlink/etc/hostname")],
            ),
        ];
        for (what, extra) in &cases {
            let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
            let mut cmd = variant.wrap(&s.codex_run_cmd(&extra, &touch));
            let out = output_within(&mut cmd, Duration::from_secs(30));
            let context = format!("{variant:?} {extra:?}: {}", stderr(&out));
            assert_eq!(out.status.code(), Some(125), "{context}");
            assert!(
                stderr(&out).contains(&format!("{what} ")) && stderr(&out).contains("symlink"),
                "{context}"
            );
            assert!(!marker.exists(), "the command ran: {context}");
        }
        // A FIFO named as the lock to replay is refused at once, not read.
        let mut cmd = variant.wrap(&s.codex_run_cmd(&["--lock-replay", &ws("lock.toml")], &touch));
        let out = output_within(&mut cmd, Duration::from_secs(30));
        assert_eq!(
            out.status.code(),
            Some(125),
            "{variant:?}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains("not a regular file"),
            "{}",
            stderr(&out)
        );
        s.assert_outside_untouched();
        // The real paths, named as such, are the user's choice and work.
        let real = s.outside.join("dir");
        let extra = ["--writable-root", real.to_str().unwrap()];
        let mut cmd = variant.wrap(&s.codex_run_cmd(&extra, &touch));
        let out = output(&mut cmd);
        assert_eq!(out.status.code(), Some(0), "{variant:?}: {}", stderr(&out));
        assert!(marker.exists());
    }
}

/// `/` as the workspace (an image without WORKDIR, `cd /`, `CODEX_RUN_CWD=/`) or as a writable
/// root made the whole disk writable and ran the task with no sandbox at all, even with a forced
/// backend and `--require-full-isolation`. Now refused; a policy that really leaves the disk
/// writable (danger-full-access) never claims a backend or full isolation.
#[test]
fn a_workspace_or_writable_root_of_slash_is_refused() {
    for variant in Variant::all() {
        let s = Scene::new(variant);
        let marker = s.ws.join("ran");
        let touch = format!("touch '{}'", marker.display());
        let runs: Vec<(Vec<&str>, Option<&str>)> = vec![
            (vec!["--cwd", "/"], None),
            (vec!["--cwd", "/usr"], None),
            (vec!["--writable-root", "/"], None),
            (vec!["--writable-root", "/etc"], None),
            (vec!["--require-full-isolation", "--cwd", "/"], None),
            (vec![], Some("/")),
        ];
        for (extra, cwd) in &runs {
            let mut cmd = s.codex_run_cmd(extra, &touch);
            if let Some(dir) = cwd {
                cmd.current_dir(dir);
            }
            let out = output(&mut variant.wrap(&cmd));
            let context = format!("{variant:?} {extra:?} in {cwd:?}: {}", stderr(&out));
            assert_eq!(out.status.code(), Some(125), "{context}");
            assert!(stderr(&out).contains("which is no sandbox"), "{context}");
            assert!(!marker.exists(), "{context}");
        }
        let mut entry = s.launcher("codex-entrypoint");
        entry
            .env("CODEX_RUN_CWD", "/")
            .args(["--", "/bin/sh", "-c", &touch]);
        let out = output(&mut variant.wrap(&entry));
        assert_eq!(
            out.status.code(),
            Some(125),
            "{variant:?}: {}",
            stderr(&out)
        );
        assert!(!marker.exists());
    }
}

#[test]
fn danger_full_access_never_passes_for_a_sandbox() {
    let s = Scene::new(Variant {
        uid: nix::unistd::geteuid().as_raw(),
        backend: Backend::Auto,
    });
    let refused = |extra: &[&str], needle: &str| {
        let mut args = vec!["--sandbox", "danger-full-access"];
        args.extend_from_slice(extra);
        let out = output(&mut s.codex_run_cmd(&args, "true"));
        assert_eq!(out.status.code(), Some(125), "{extra:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{extra:?}: {}", stderr(&out));
    };
    refused(
        &["--require-full-isolation"],
        "whole filesystem is writable",
    );
    refused(&["--backend", "landlock"], "--backend landlock");
    refused(&["--backend", "bwrap-vendored"], "--backend bwrap-vendored");
    // Asked for plainly, it runs, without the caller's leaked descriptors.
    let cmd = s.codex_run_cmd(
        &["--sandbox", "danger-full-access"],
        "test -e /proc/self/fd/7 && echo leaked; true",
    );
    let out = output(&mut common::attack::wrapped(
        &["/bin/sh", "-c", "exec 7</dev/null; exec \"$@\"", "sh"],
        &cmd,
    ));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stdout(&out).contains("leaked"), "{}", stdout(&out));
}
