//! Class: a same-user task's chmod locks the user out of every later launch (red-team r4 02).
//! Landlock does not mediate chmod: a task can make the login `credentials/auth.json` readable by
//! others, or take every bit away from the shared Codex home or the launcher's state dir. Those are
//! the user's own and the launcher's to manage: the next launch, on any backend, puts the modes
//! back and says so (a login others could read may have been read), instead of refusing to start.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::scene::*;
use common::*;

const LOGIN: &str = r#"{"auth_mode":"apikey","OPENAI_API_KEY":"sk-test-not-real"}"#;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn a_task_chmod_of_the_login_or_the_users_dirs_is_repaired_and_reported() {
    for variant in Variant::all() {
        if variant.backend == Backend::NoUserns {
            continue; // stage 2 is an ordinary launch: the ladder's choice is Auto's here
        }
        let s = Scene::new(variant);
        s.write_shared_login(LOGIN);
        s.codex_run_ok("true"); // moves the login into credentials/
        let auth = s.shared.join("credentials/auth.json");
        assert_eq!(mode(&auth), 0o600);
        for (plant, what, said) in [
            (
                format!("chmod 644 '{}'", auth.display()),
                auth.clone(),
                "may have been read",
            ),
            (
                format!("chmod 0 '{}'", s.shared.display()),
                s.shared.clone(),
                "lost access",
            ),
            (
                format!("chmod 0 '{}/codex-launcher'", s.state.display()),
                s.state.join("codex-launcher"),
                "lost access",
            ),
            // The proxy's log (red-team r5 02): the default filtered network must still start.
            (
                format!(
                    "chmod 0 '{}/codex-launcher/net/proxy.log'",
                    s.state.display()
                ),
                s.state.join("codex-launcher/net/proxy.log"),
                "",
            ),
        ] {
            // Stage 1: a Landlock task of the user's (the state dir is outside its writable
            // roots here, which chmod does not care about).
            // The launch that ran the task may already repair what it needs after the task.
            let stage1 = s.plant_from_a_landlock_task(&plant);
            // Stage 2: an ordinary launch of the variant's backend.
            let out = s.codex_run("echo started");
            assert_eq!(
                out.status.code(),
                Some(0),
                "{variant:?} after {plant}: {}",
                stderr(&out)
            );
            assert_eq!(stdout(&out).trim(), "started");
            assert_eq!(std::fs::read_to_string(&auth).unwrap(), LOGIN);
            assert_eq!(mode(&auth), 0o600, "{variant:?} {plant}");
            if what.ends_with("proxy.log") {
                assert_eq!(mode(&what), 0o600, "{variant:?} {plant}: a fresh log");
            } else if what != auth {
                assert_eq!(mode(&what) & 0o700, 0o700, "{variant:?} {plant}");
            }
            // Root is not stopped by a missing bit (nothing to repair but the login's mode).
            if variant.uid != 0 || what == auth {
                let said_by = format!("{stage1}{}", stderr(&out));
                assert!(
                    said_by.contains(said),
                    "{variant:?} {plant}: the repair is reported: {said_by}"
                );
            }
        }
    }
}
