//! Class: a `bwrap` planted on PATH (issue 13 #6). A task whose workspace is `$HOME` writes
//! `~/.local/bin/bwrap`, and one that can write `$TMPDIR` puts another there; both claim every
//! feature. Later launches from another workspace, with those directories first on PATH, must never
//! execute them (they would run on the host, unsandboxed): the planted script would leave a marker
//! outside every writable root. `explain` says why each was passed over.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::scene::*;
use common::*;

/// A bwrap that records being run outside, answers `--help` with every flag, then behaves.
fn trojan(s: &Scene) -> String {
    format!(
        "#!/bin/sh\ntouch '{}'\n[ \"$1\" = --help ] && {{ echo '--perms --as-pid-1 --argv0'; exit 0; }}\nexec /usr/bin/bwrap \"$@\"\n",
        s.nonexistent_outside("bwrap-ran").display()
    )
}

fn plant_script(dir: &Path, body: &str) -> String {
    format!(
        "mkdir -p '{d}' && cat > '{d}/bwrap' <<'EOF'\n{body}EOF\nchmod 755 '{d}/bwrap' && echo planted",
        d = dir.display()
    )
}

#[test]
fn a_bwrap_planted_by_a_task_is_never_run() {
    for variant in Variant::all() {
        let mut s = Scene::new(variant);
        if variant.uid == 0 {
            // A root-only chain: ownership and mode alone would trust what a root task wrote, so
            // this exercises the "not under $HOME or a temp dir" rule.
            std::fs::set_permissions(&s.base, std::fs::Permissions::from_mode(0o755)).unwrap();
            s.rebaseline();
        }
        let local_bin = s.user.join(".local/bin");
        let tmp_bin = s.tmp.join("bin");
        // Stage 1: the workspace is $HOME; $TMPDIR is writable too.
        let stage1 = s.codex_run_cmd(
            &["--cwd", s.user.to_str().unwrap()],
            &format!(
                "{} && {}",
                plant_script(&local_bin, &trojan(&s)),
                plant_script(&tmp_bin, &trojan(&s))
            ),
        );
        let out = output(&mut variant.wrap(&stage1));
        assert_eq!(out.status.code(), Some(0), "{variant:?}: {}", stderr(&out));
        assert!(local_bin.join("bwrap").is_file() && tmp_bin.join("bwrap").is_file());

        // Stage 2: ordinary launches from the workspace, the planted dirs first on PATH.
        let path = format!(
            "{}:{}:/usr/bin:/bin",
            local_bin.display(),
            tmp_bin.display()
        );
        let mut run = s.codex_run_cmd(&[], "echo ran");
        run.env("PATH", &path);
        let out = output(&mut variant.wrap(&run));
        assert_eq!(out.status.code(), Some(0), "{variant:?}: {}", stderr(&out));
        let mut helper = s.helper_cmd("echo ran");
        helper.env("PATH", &path);
        let out = output(&mut variant.wrap(&helper));
        assert_eq!(out.status.code(), Some(0), "{variant:?}: {}", stderr(&out));

        let mut explain = s.launcher("codex-launcher");
        explain
            .env("PATH", &path)
            .args(["explain", "--json", "--", "true"]);
        let out = output(&mut variant.wrap(&explain));
        assert_eq!(out.status.code(), Some(0), "{variant:?}: {}", stderr(&out));
        let plan: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let first = plan["ladder"][0]["reason"].as_str().unwrap_or_default();
        if variant.backend != Backend::NoUserns {
            assert!(
                first.contains(&format!("{}/bwrap is not trusted", local_bin.display())),
                "{variant:?}: {first}"
            );
        }
        s.assert_outside_untouched();
    }
}
