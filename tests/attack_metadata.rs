//! Metadata of files outside the writable roots: bubblewrap's read-only mounts refuse chmod,
//! utime and xattr changes; Landlock cannot restrict them, so it says so in `not_enforced`, and
//! `--require-full-isolation` refuses to run on it.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use common::matrix::*;
use common::*;

#[test]
fn metadata_outside_the_roots_is_refused_or_reported() {
    let s = setup();
    let victim = victim_dir(&s).join("auth.json");
    std::fs::write(&victim, "{}").unwrap();
    let script = format!(
        "chmod 0666 {0} 2>/dev/null && echo chmod-ok; touch -d 2001-01-01 {0} 2>/dev/null && echo utime-ok",
        victim.display()
    );
    for mut launch in each_backend_and_user(&s, &script, &[]) {
        // The victim belongs to whoever runs the task, as the shared auth.json does.
        std::os::unix::fs::chown(&victim, Some(launch.uid), Some(launch.uid)).unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
        let before = std::fs::metadata(&victim).unwrap();
        let out = output(&mut launch.cmd);
        let o = stdout(&out);
        let after = std::fs::metadata(&victim).unwrap();
        let changed = after.mode() != before.mode() || after.mtime() != before.mtime();
        if launch.backend == "landlock" {
            // The gap is real here; what matters is that the plan says so.
            assert!(changed && o.contains("chmod-ok"), "{}: {o}", launch.label);
        } else {
            assert!(!changed, "{}: {o}", launch.label);
            assert!(!o.contains("-ok"), "{}: {o}", launch.label);
        }
    }
    // Landlock's plan names the gap, and full isolation refuses it.
    let explain = |extra: &[&str]| {
        let mut cmd = Command::new(bin());
        cmd.current_dir(&s.ws)
            .env("XDG_CACHE_HOME", &s.cache)
            .env_remove("CODEX_LAUNCHER_BACKEND")
            .args([
                "explain",
                "--json",
                "--backend",
                "landlock",
                "--permission-profile",
            ])
            .arg(workspace_write(&s.ws))
            .args(extra)
            .args(["--", "true"]);
        output(&mut cmd)
    };
    let out = explain(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let gaps = plan["not_enforced"].to_string();
    assert!(gaps.contains("chmod"), "{gaps}");
    let out = explain(&["--require-full-isolation"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("chmod"), "{}", stderr(&out));
}
