//! A `TMPDIR` that leads to `/` (or a system dir) through a symlink is refused on every backend:
//! judged as written it looked like a private temp dir, but the sandbox would have made the whole
//! disk writable. Stage 1 (a task swapping its temp dir for a link) is simulated from the host.

mod common;

use std::process::Command;

use common::*;

#[test]
fn a_temp_dir_linked_to_a_system_dir_is_refused() {
    let s = setup();
    let marker = s.ws.join("ran");
    for target in ["/", "/usr", "/etc"] {
        let link = s
            .base
            .join(format!("tmp-link-{}", target.trim_matches('/')));
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(target, &link).unwrap();
        for backend in ["bwrap-system", "bwrap-vendored", "landlock"] {
            let mut helper = personality(&s.base, "codex-linux-sandbox");
            helper
                .current_dir(&s.ws)
                .env("TMPDIR", &link)
                .env("XDG_CACHE_HOME", &s.cache)
                .env_remove("CODEX_LAUNCHER_BACKEND")
                .args(["--backend", backend, "--sandbox-policy-cwd"])
                .arg(&s.ws)
                .arg("--permission-profile")
                .arg(workspace_write(&s.ws).replace(
                    r#"{"path":{"type":"special","value":{"kind":"root"}},"access":"read"}"#,
                    r#"{"path":{"type":"special","value":{"kind":"root"}},"access":"read"},{"path":{"type":"special","value":{"kind":"tmpdir"}},"access":"write"}"#,
                ))
                .args(["--", "touch"])
                .arg(&marker);
            let out = output(&mut helper);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{target} {backend}: {}",
                stderr(&out)
            );
            assert!(stderr(&out).contains("TMPDIR="), "{}", stderr(&out));
            assert!(!marker.exists(), "{target} {backend}: the command ran");
            let mut run = Command::new(bin());
            run.current_dir(&s.ws)
                .env("TMPDIR", &link)
                .env("XDG_CACHE_HOME", &s.cache)
                .env_remove("CODEX_LAUNCHER_BACKEND")
                .args(["run", "--backend", backend, "--shared-home"])
                .arg(&s.base)
                .args(["--home"])
                .arg(home_tempdir("cl-tmpl-").path().join("h"))
                .args(["--", "touch"])
                .arg(&marker);
            let out = output(&mut run);
            assert_eq!(
                out.status.code(),
                Some(125),
                "run {target} {backend}: {}",
                stderr(&out)
            );
            assert!(!marker.exists(), "run {target} {backend}: the command ran");
        }
    }
}
