//! The launcher's own state (probe cache, per-task locks and metadata) is never writable from a
//! sandbox, even when the workspace is the home directory that holds it (`cd ~ && codex-run`).
//! bubblewrap makes it read-only; Landlock cannot, and says so in `not_enforced`.

mod common;

use std::process::Command;

use common::*;

fn run(home: &std::path::Path, backend: &str, extra: &[&str], script: &str) -> Command {
    let mut cmd = Command::new(bin());
    cmd.current_dir(home)
        .env("HOME", home)
        .env_remove("XDG_CACHE_HOME")
        .env_remove("XDG_STATE_HOME")
        .env_remove("CODEX_HOME")
        .env_remove("CODEX_LAUNCHER_BACKEND")
        .args(["run", "--backend", backend])
        .args(extra)
        .args(["--", "sh", "-c", script]);
    cmd
}

#[test]
fn launcher_state_in_the_workspace_stays_out_of_reach() {
    let s = setup();
    let fresh_home = |name: &str| {
        let home = s.base.join(name);
        std::fs::create_dir_all(&home).unwrap();
        std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        home
    };
    let script = r#"for d in "$HOME/.cache/codex-launcher" "$HOME/.local/state/codex-launcher"; do
  touch "$d/planted" 2>/dev/null && echo "planted in $d"
done
touch "$CODEX_HOME/ok" && echo home-writable"#;
    for backend in ["bwrap-system", "bwrap-vendored"] {
        let root_home = fresh_home(&format!("{backend}-caller"));
        let mut runs = vec![(root_home.clone(), run(&root_home, backend, &[], script))];
        let nobody_home = fresh_home(&format!("{backend}-nobody"));
        if let Ok(nobody) = as_nobody(&run(&nobody_home, backend, &[], script)) {
            runs.push((nobody_home, nobody));
        }
        for (home, mut cmd) in runs {
            // A first launch creates the state; the second one is the attack.
            let _ = output(&mut cmd);
            let out = output(&mut cmd);
            let o = stdout(&out);
            assert_eq!(out.status.code(), Some(0), "{backend}: {o}{}", stderr(&out));
            assert!(o.contains("home-writable"), "{backend}: {o}");
            assert!(!o.contains("planted"), "{backend}: {o}");
            for d in [".cache/codex-launcher", ".local/state/codex-launcher"] {
                assert!(!home.join(d).join("planted").exists(), "{backend}: {d}");
            }
        }
    }
    let home = fresh_home("landlock");
    let _ = output(&mut run(&home, "landlock", &[], "true"));
    let out = output(&mut run(
        &home,
        "landlock",
        &["--dry-run", "--json"],
        "true",
    ));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let gaps = stdout(&out);
    assert!(
        gaps.contains(&format!(
            "read-only {}",
            home.join(".local/state/codex-launcher").display()
        )),
        "{gaps}"
    );
}
