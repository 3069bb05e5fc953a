//! `explain` prints the plan `codex-run` executes: the same request builder, the same plan, with
//! the writable roots a run adds (the per-task home), the fixed `--info-fd`
//! and the ordered pre-exec steps.

mod common;

use std::process::Command;

use common::*;

fn launcher(s: &Setup, home: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let mut cmd = Command::new(bin());
    cmd.current_dir(&s.ws)
        .env("XDG_CACHE_HOME", &s.cache)
        .env_remove("CODEX_LAUNCHER_BACKEND")
        .args(args)
        .arg("--shared-home")
        .arg(&s.base)
        .arg("--home")
        .arg(home)
        .args(["--", "sh", "-c", "true"]);
    let out = output(&mut cmd);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

#[test]
fn explain_and_dry_run_print_the_same_plan() {
    let s = setup();
    let homes = home_tempdir("cl-explain-");
    let home = homes.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(s.base.join("sessions")).unwrap();
    for backend in ["auto", "bwrap-vendored", "landlock"] {
        let explain = launcher(&s, &home, &["explain", "--json", "--backend", backend]);
        let dry_run = launcher(
            &s,
            &home,
            &["run", "--dry-run", "--json", "--backend", backend],
        );
        assert_eq!(explain, dry_run, "{backend}");
        let steps: Vec<&str> = explain["launch"]["pre_exec"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["step"].as_str().unwrap())
            .collect();
        assert_eq!(
            steps.first(),
            Some(&"close_inherited_fds"),
            "{backend}: {steps:?}"
        );
        let env = explain["launch"]["env_set"].to_string();
        assert!(env.contains("CODEX_HOME"), "{backend}: {env}");
        let shown = explain.to_string();
        assert!(
            shown.contains(&*home.to_string_lossy()),
            "{backend}: {} not in the plan",
            home.display()
        );
        // The shared sessions/ is the user's own Codex's; no sandbox writes it.
        let sessions = s.base.join("sessions");
        assert!(
            !shown.contains(&*sessions.to_string_lossy()),
            "{backend}: {} in the plan",
            sessions.display()
        );
        if backend == "landlock" {
            assert_eq!(
                steps,
                [
                    "close_inherited_fds",
                    "new_session",
                    "drop_capabilities",
                    "no_new_privs",
                    "chdir",
                    "landlock",
                    "seccomp"
                ],
            );
        } else {
            let argv = explain["launch"]["argv"].to_string();
            assert!(argv.contains(r#""--info-fd","3""#), "{backend}: {argv}");
            assert_eq!(explain["launch"]["fds"][0]["fd"], 3);
        }
    }
}
