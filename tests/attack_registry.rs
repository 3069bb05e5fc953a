//! Class: the mount-target registry in the temp dir (issue 13 #5). A Landlock-sandboxed task can
//! write `$TMPDIR`, so it plants in the registry: a `lock` symlink, symlinks at marker names, an
//! entry that is a symlink, placeholder symlinks, a world-writable registry, a registry replaced
//! by a symlink. The next bubblewrap launch (codex-run and the helper) must write nothing outside
//! and leave a private registry. A registry owned by another user is refused, not used.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::scene::*;
use common::*;

/// FNV-1a 64 of a path, the registry's entry name (reference codex-linux-sandbox.md §5.6).
fn entry_name(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in path.as_os_str().as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Every placeholder a bubblewrap launch of this scene may register.
fn targets(s: &Scene) -> Vec<PathBuf> {
    let roots = [
        s.ws.clone(),
        s.tmp.clone(),
        s.home.clone(),
        s.shared.join("sessions"),
        PathBuf::from("/tmp"),
    ];
    roots
        .iter()
        .flat_map(|r| [".git", ".codex", ".agents", ".aws"].map(|n| r.join(n)))
        .collect()
}

/// Stage 2: an ordinary bubblewrap launch through each personality; their exit codes.
fn launch_both(s: &Scene) -> Vec<(String, std::process::Output)> {
    let run = output(&mut s.variant.wrap(&s.codex_run_cmd(&[], "echo ran")));
    let helper = output(&mut s.variant.wrap(&s.helper_cmd("echo ran")));
    vec![("codex-run".into(), run), ("helper".into(), helper)]
}

/// [`launch_both`], each of which must run the command.
fn launch_both_ok(s: &Scene) {
    for (who, out) in launch_both(s) {
        assert_eq!(
            out.status.code(),
            Some(0),
            "{:?} {who}: {}",
            s.variant,
            stderr(&out)
        );
        assert_eq!(stdout(&out).trim(), "ran", "{:?} {who}", s.variant);
    }
}

fn assert_private_registry(s: &Scene) {
    let meta = std::fs::symlink_metadata(s.registry()).unwrap();
    assert!(meta.is_dir(), "{:?}", s.variant);
    assert_eq!(meta.mode() & 0o7777, 0o700, "{:?}", s.variant);
    assert_eq!(meta.uid(), s.variant.uid, "{:?}", s.variant);
}

#[test]
fn planted_links_in_the_registry_never_redirect_a_write() {
    for variant in Variant::bubblewrap() {
        let mut s = Scene::new(variant);
        let mut rng = Rng::from_time(&format!("{variant:?}"));
        s.codex_run_ok("true"); // creates the registry as a launch does
        let victim = s.victim.display().to_string();
        let missing = s.nonexistent_outside("from-registry").display().to_string();
        let outside_dir = s.outside.join(format!("entry-{}", rng.name(5)));
        std::fs::create_dir(&outside_dir).unwrap();
        std::os::unix::fs::lchown(&outside_dir, Some(variant.uid), Some(variant.uid)).unwrap_or(());
        s.rebaseline();
        let entries: Vec<String> = targets(&s).iter().map(|t| entry_name(t)).collect();
        let linked_entry = entries[rng.below(entries.len() as u64) as usize].clone();
        let pid = std::process::id();
        let plant = py(&format!(
            r#"
import os, shutil
r = os.environ["CL_REGISTRY"]
os.chmod(r, 0o777)
for n in ["lock", "denied-placeholder", "empty-placeholder"]:
    if os.path.lexists(f"{{r}}/{{n}}"): os.unlink(f"{{r}}/{{n}}")
os.symlink({missing:?}, f"{{r}}/lock")
os.symlink({victim:?}, f"{{r}}/denied-placeholder")
os.symlink({victim:?}, f"{{r}}/empty-placeholder")
for e in {entries:?}:
    if e == {linked_entry:?}:
        # Entries stay between launches: the one the first launch left goes first.
        shutil.rmtree(f"{{r}}/{{e}}", ignore_errors=True)
        os.symlink({outside_dir:?}, f"{{r}}/{{e}}")
        continue
    os.makedirs(f"{{r}}/{{e}}", exist_ok=True)
    for p in range({pid}, {pid} + 300):
        os.symlink({victim:?} if p % 2 else {missing:?}, f"{{r}}/{{e}}/{{p}}")
print("planted")
"#,
            outside_dir = outside_dir.display().to_string(),
        ));
        s.plant_from_a_landlock_task(&plant);
        s.assert_outside_untouched();

        launch_both_ok(&s);
        assert!(std::fs::read_dir(&outside_dir).unwrap().next().is_none());
        s.assert_outside_untouched();
        assert_private_registry(&s);
        for n in ["lock", "denied-placeholder", "empty-placeholder"] {
            let meta = std::fs::symlink_metadata(s.registry().join(n)).unwrap();
            assert!(meta.is_file(), "{variant:?}: {n}");
        }
    }
}

#[test]
fn a_registry_replaced_by_a_symlink_is_rebuilt_not_followed() {
    for variant in Variant::bubblewrap() {
        let mut s = Scene::new(variant);
        let elsewhere = s.outside.join("registry-elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::lchown(&elsewhere, Some(variant.uid), Some(variant.uid)).unwrap_or(());
        s.rebaseline();
        s.plant_from_a_landlock_task(&format!(
            "rm -rf \"$CL_REGISTRY\" && ln -s '{}' \"$CL_REGISTRY\"",
            elsewhere.display()
        ));
        launch_both_ok(&s);
        assert!(std::fs::read_dir(&elsewhere).unwrap().next().is_none());
        assert_private_registry(&s);
        s.assert_outside_untouched();
    }
}

#[test]
fn a_registry_owned_by_someone_else_is_refused() {
    if !is_root() {
        return skip("chown needs root");
    }
    for variant in Variant::bubblewrap() {
        let s = Scene::new(variant);
        let reg = s.registry();
        std::fs::create_dir(&reg).unwrap();
        std::fs::set_permissions(&reg, std::fs::Permissions::from_mode(0o777)).unwrap();
        let other = if variant.uid == 0 { 65534 } else { 0 };
        std::os::unix::fs::chown(&reg, Some(other), Some(other)).unwrap();
        for (who, out) in launch_both(&s) {
            // The helper keeps Codex's 1; codex-run answers 125 for its own refusals.
            let expected = if who == "codex-run" { 125 } else { 1 };
            assert_eq!(
                out.status.code(),
                Some(expected),
                "{variant:?} {who}: {}",
                stderr(&out)
            );
            let err = stderr(&out);
            assert!(
                err.contains(&reg.display().to_string())
                    && err.contains(&format!("owned by uid {other}")),
                "{variant:?} {who}: {err}"
            );
        }
        assert!(std::fs::read_dir(&reg).unwrap().next().is_none());
        assert_eq!(std::fs::metadata(&reg).unwrap().mode() & 0o7777, 0o777);
        s.assert_outside_untouched();
    }
}
