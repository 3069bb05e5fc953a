//! The shared credential directory (`<shared>/credentials`, src/home/credentials.rs) is writable by
//! Codex, and under an outer Landlock or Seatbelt layer by the commands it runs. What a task plants
//! there must never redirect the next launch's login or its writes: planted symlinks are refused or
//! replaced, never followed, and nothing lands where they point. Stage 1 plants as such a task
//! would (from the host: the outer grant is the planner's); stage 2 is an ordinary prepare.

mod common;

use std::os::unix::fs::symlink;

use common::homes::homes;
use common::*;

const LOGIN: &str = "{\"tokens\":{\"refresh_token\":\"rt-1\"}}";

#[test]
fn a_planted_credential_symlink_is_refused_and_never_followed() {
    let h = homes();
    h.write_shared("auth.json", LOGIN);
    let out = h.prepare(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let cred = h.shared.join("credentials/auth.json");
    assert_eq!(std::fs::read_to_string(&cred).unwrap(), LOGIN);
    assert_eq!(
        std::fs::read_link(h.shared.join("auth.json")).unwrap(),
        std::path::Path::new("credentials/auth.json")
    );

    // Stage 1: the task swaps the login for a symlink into the workspace.
    let bait = h.s.ws.join("stolen.json");
    std::fs::write(&bait, "bait").unwrap();
    std::fs::remove_file(&cred).unwrap();
    symlink(&bait, &cred).unwrap();
    // Stage 2: the next launch refuses rather than hand Codex a login that writes there.
    let out = h.prepare(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a regular file"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&bait).unwrap(), "bait");
}

#[test]
fn a_fresh_login_replaces_planted_names_without_following_them() {
    for planted in ["file-link", "dir-link", "temp-links"] {
        let h = homes();
        let bait_dir = h.s.ws.join("bait");
        std::fs::create_dir_all(&bait_dir).unwrap();
        let bait = bait_dir.join("auth.json");
        std::fs::write(&bait, "bait").unwrap();
        let cred_dir = h.shared.join("credentials");
        match planted {
            "file-link" => {
                std::fs::create_dir_all(&cred_dir).unwrap();
                std::fs::set_permissions(
                    &cred_dir,
                    std::os::unix::fs::PermissionsExt::from_mode(0o700),
                )
                .unwrap();
                symlink(&bait, cred_dir.join("auth.json")).unwrap();
            }
            "dir-link" => symlink(&bait_dir, &cred_dir).unwrap(),
            _ => {
                std::fs::create_dir_all(&cred_dir).unwrap();
                std::fs::set_permissions(
                    &cred_dir,
                    std::os::unix::fs::PermissionsExt::from_mode(0o700),
                )
                .unwrap();
                for i in 0..32 {
                    symlink(
                        &bait,
                        cred_dir.join(format!(".codex-launcher-tmp-{i:016x}")),
                    )
                    .unwrap();
                }
            }
        }
        // The user logs in again: a plain shared auth.json, moved by the next prepare.
        h.write_shared("auth.json", LOGIN);
        let out = h.prepare(&[]);
        assert_eq!(
            std::fs::read_to_string(&bait).unwrap(),
            "bait",
            "{planted}: followed"
        );
        if out.status.code() == Some(0) {
            let meta = std::fs::symlink_metadata(cred_dir.join("auth.json")).unwrap();
            assert!(meta.is_file(), "{planted}");
            assert_eq!(
                std::fs::read_to_string(cred_dir.join("auth.json")).unwrap(),
                LOGIN
            );
            assert!(
                std::fs::symlink_metadata(&cred_dir).unwrap().is_dir(),
                "{planted}"
            );
        } else {
            assert_eq!(out.status.code(), Some(1), "{planted}: {}", stderr(&out));
            assert_eq!(
                stderr(&out).trim_end().lines().count(),
                1,
                "{}",
                stderr(&out)
            );
        }
    }
}
