//! `--lock-export` and `--lock-replay` ask Codex its version on the host, outside any sandbox; a
//! `codex` a task planted in a writable root (the workspace's `node_modules/.bin`, the temp dir)
//! must never be what answers.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::*;

#[test]
fn a_planted_codex_is_never_run_on_the_host() {
    let s = setup();
    let bin_dir = s.ws.join("node_modules/.bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let pwned = s.base.join("pwned-by-version-probe");
    let fake = bin_dir.join("codex");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\ntouch {}\necho codex-cli 0.169.0\n",
            pwned.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let locks = home_tempdir("cl-vp-");
    let path = format!("{}:/usr/bin:/bin", bin_dir.display());
    for command in [
        vec!["node_modules/.bin/codex"],
        vec!["codex"],
        vec![fake.to_str().unwrap()],
    ] {
        let mut run = Command::new(bin());
        run.current_dir(&s.ws)
            .env("PATH", &path)
            .env("XDG_CACHE_HOME", &s.cache)
            .env_remove("CODEX_LAUNCHER_BACKEND")
            .args(["lock", "export"])
            .arg(locks.path())
            .arg("--shared-home")
            .arg(&s.base)
            .arg("--home")
            .arg(locks.path().join("home"))
            .arg("--")
            .args(&command);
        let out = output(&mut run);
        assert!(
            !pwned.exists(),
            "{command:?}: the planted codex ran on the host: {}",
            stderr(&out)
        );
    }
}
