//! Launched by root, `codex-run`'s outer bubblewrap layer runs Codex as uid 1000; Codex's own
//! per-uid daemon dir and mount-target registry inside must be private to the sandbox, not the
//! host's `/tmp/codex-daemon-1000` of a real user 1000.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::*;

#[test]
fn codex_dirs_for_the_sandbox_uid_are_private() {
    if !is_root() {
        return skip("the outer layer maps to uid 1000 only when root launches it");
    }
    let s = setup();
    let homes = home_tempdir("cl-priv-");
    let tmp = s.base.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let host_registry = tmp.join("codex-bwrap-synthetic-mount-targets-1000");
    // What a real host user 1000 could have: a registry with their own state in it.
    std::fs::create_dir_all(&host_registry).unwrap();
    std::fs::write(host_registry.join("host-user-state"), "mine").unwrap();
    let script = r#"id -u
ls -A /tmp/codex-daemon-1000 "$TMPDIR/codex-bwrap-synthetic-mount-targets-1000" | tr '\n' ' '; echo
touch /tmp/codex-daemon-1000/from-sandbox "$TMPDIR/codex-bwrap-synthetic-mount-targets-1000/from-sandbox" && echo wrote"#;
    let daemon_existed = std::path::Path::new("/tmp/codex-daemon-1000").exists();
    for backend in ["bwrap-system", "bwrap-vendored"] {
        let mut cmd = Command::new(bin());
        cmd.current_dir(&s.ws)
            .env("TMPDIR", &tmp)
            .env("XDG_CACHE_HOME", &s.cache)
            .env_remove("CODEX_LAUNCHER_BACKEND")
            .args(["run", "--backend", backend, "--shared-home"])
            .arg(&s.base)
            .arg("--home")
            .arg(homes.path().join("h"))
            .args(["--", "sh", "-c", script]);
        let out = output(&mut cmd);
        let o = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{backend}: {o}{}", stderr(&out));
        assert!(o.starts_with("1000\n"), "{backend}: {o}");
        assert!(
            !o.contains("host-user-state"),
            "{backend}: saw the host's registry: {o}"
        );
        assert!(o.contains("wrote"), "{backend}: {o}");
        assert!(!host_registry.join("from-sandbox").exists(), "{backend}");
        assert_eq!(
            std::fs::read_to_string(host_registry.join("host-user-state")).unwrap(),
            "mine"
        );
        let daemon = std::path::Path::new("/tmp/codex-daemon-1000");
        assert!(!daemon.join("from-sandbox").exists(), "{backend}");
        if !daemon_existed {
            assert!(
                !daemon.exists(),
                "{backend}: the mount point stayed on the host"
            );
        }
    }
}
