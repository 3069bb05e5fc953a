//! Class: a same-user task locks the user out of later launches through the launcher's own lock
//! files and private dirs (red-team r4 06). Landlock leaves the temp dir writable and does not
//! mediate chmod, so a task can put a non-empty directory where the registry's `lock` belongs, or
//! take every permission bit away from `lock` or from the registry itself. These are the
//! launcher's own entries: the next launch repairs them and reports it, rather than refuse every
//! launch until the user cleans up by hand. The same holds for the per-home lock in the state dir.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;

use common::scene::*;
use common::*;

/// Stage 2: ordinary bubblewrap launches through codex-run and the helper must run the command.
fn launch_both_ok(s: &Scene, plant: &str) {
    let run = output(&mut s.variant.wrap(&s.codex_run_cmd(&[], "echo ran")));
    let helper = output(&mut s.variant.wrap(&s.helper_cmd("echo ran")));
    for (who, out) in [("codex-run", run), ("helper", helper)] {
        assert_eq!(
            out.status.code(),
            Some(0),
            "{:?} {who} after {plant}: {}",
            s.variant,
            stderr(&out)
        );
        assert_eq!(stdout(&out).trim(), "ran", "{:?} {who}", s.variant);
    }
}

#[test]
fn a_planted_or_chmodded_registry_lock_is_repaired_not_a_lockout() {
    for variant in Variant::bubblewrap() {
        let mut s = Scene::new(variant);
        let mut rng = Rng::from_time(&format!("{variant:?}"));
        s.codex_run_ok("true"); // creates the registry and its lock
        s.rebaseline();
        let (a, b) = (rng.name(6), rng.name(4));
        let plants = [
            // A non-empty directory (one level of it unreadable) where the lock file belongs.
            format!(
                r#"r="$CL_REGISTRY"; rm -f "$r/lock" && mkdir -p "$r/lock/{a}/{b}" && touch "$r/lock/{a}/{b}/f" && chmod 000 "$r/lock/{a}""#
            ),
            r#"chmod 000 "$CL_REGISTRY/lock""#.to_string(),
            r#"chmod 000 "$CL_REGISTRY""#.to_string(),
            r#"chmod 000 "$CL_REGISTRY/lock" "$CL_REGISTRY""#.to_string(),
        ];
        for plant in &plants {
            s.plant_from_a_landlock_task(plant);
            launch_both_ok(&s, plant);
            let reg = std::fs::symlink_metadata(s.registry()).unwrap();
            assert!(reg.is_dir(), "{variant:?} {plant}");
            assert_eq!(reg.mode() & 0o7777, 0o700, "{variant:?} {plant}");
            let lock = std::fs::symlink_metadata(s.registry().join("lock")).unwrap();
            assert!(lock.is_file(), "{variant:?} {plant}");
            assert_eq!(lock.mode() & 0o7777, 0o600, "{variant:?} {plant}");
            s.assert_outside_untouched();
        }
    }
}

/// The per-home lock of `home`: `<state>/codex-launcher/locks/<16 hex of sha256(home)>.lock`.
fn home_lock(s: &Scene) -> PathBuf {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(s.home.as_os_str().as_encoded_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    s.state
        .join("codex-launcher/locks")
        .join(format!("{hex}.lock"))
}

#[test]
fn a_planted_or_chmodded_home_lock_is_repaired_not_a_lockout() {
    for variant in Variant::bubblewrap() {
        let s = Scene::new(variant);
        s.codex_run_ok("true");
        let lock = home_lock(&s);
        let locks = lock.parent().unwrap().to_path_buf();
        let at = lock.display().to_string();
        // The state dir is the user's own; whoever can write it as the user (a Landlock task
        // whose workspace holds it, say) can leave any of these.
        for plant in [
            format!("mkdir -p '{at}/x' && touch '{at}/x/y' && chmod 000 '{at}/x'"),
            format!("touch '{at}' && chmod 000 '{at}'"),
            format!("chmod 000 '{}'", locks.display()),
        ] {
            s.host_shell(&plant);
            let out = s.codex_run("echo ran");
            assert_eq!(
                out.status.code(),
                Some(0),
                "{variant:?} {plant}: {}",
                stderr(&out)
            );
            assert_eq!(
                std::fs::metadata(&locks).unwrap().permissions().mode() & 0o700,
                0o700
            );
            assert!(
                !lock.exists(),
                "{variant:?} {plant}: the lock goes on release"
            );
        }
    }
}
