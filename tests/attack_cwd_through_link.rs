//! Class: the workspace reached through a link a task planted, with no `--cwd` (red-team r5 03).
//! Stage 1: a task turns `build` in its workspace into a symlink to a directory outside. Stage 2:
//! the user `cd`s into `build` (the shell's `$PWD` keeps the link; the kernel's current directory
//! is the target) and runs `codex-run`, or `codex-run --cwd .`. The launch must refuse, naming
//! the link, and never make the link's target the writable workspace.

mod common;

use std::path::Path;

use common::scene::*;
use common::*;

#[test]
fn a_current_directory_reached_through_a_planted_link_is_refused() {
    for variant in Variant::all() {
        let mut s = Scene::new(variant);
        let target = s.outside.join("dir");
        std::fs::create_dir_all(&target).unwrap();
        std::os::unix::fs::lchown(&target, Some(variant.uid), Some(variant.uid)).unwrap();
        s.rebaseline();
        // Stage 1, inside the sandbox.
        s.codex_run_ok(&format!("ln -s '{}' build", target.display()));
        let logical = s.ws.join("build");
        let marker = "touch planted-by-task";
        for extra in [&[][..], &["--cwd", "."][..]] {
            let mut cmd = s.codex_run_cmd(extra, marker);
            // As a shell leaves it after `cd build`.
            cmd.current_dir(&target).env("PWD", &logical);
            let out = output(&mut variant.wrap(&cmd));
            let context = format!("{variant:?} {extra:?}: {}", stderr(&out));
            assert_eq!(out.status.code(), Some(125), "{context}");
            assert!(
                stderr(&out).contains(&logical.display().to_string())
                    && stderr(&out).contains("symlink"),
                "{context}"
            );
            assert_eq!(stderr(&out).trim_end().lines().count(), 1, "{context}");
            assert!(
                !Path::new(&target).join("planted-by-task").exists(),
                "{context}"
            );
        }
        s.assert_outside_untouched();
        // Named as the real path, it is the user's choice and runs there.
        let mut cmd = s.codex_run_cmd(&[], marker);
        cmd.current_dir(&target).env("PWD", &target);
        let out = output(&mut variant.wrap(&cmd));
        assert_eq!(out.status.code(), Some(0), "{variant:?}: {}", stderr(&out));
        assert!(target.join("planted-by-task").exists(), "{variant:?}");
    }
}
