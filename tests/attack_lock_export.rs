//! Class: the config lock export directory. `--lock-export DIR` writes into a directory the user
//! names, which may lie in the workspace a task could write. A task plants symlinks at the lock's
//! name and at every temp name an export could use; the next export writes nothing outside and
//! leaves a regular 0600 lock file. A task that swaps the export directory for a link gets the
//! next export refused.

mod common;

use std::os::unix::fs::MetadataExt;

use common::scene::*;

#[test]
fn planted_links_in_the_export_dir_never_redirect_the_lock() {
    for variant in Variant::all() {
        let s = Scene::new(variant);
        let mut rng = Rng::from_time(&format!("{variant:?}"));
        let export = s.ws.join(format!("locks-{}", rng.name(4)));
        let export_arg = export.to_str().unwrap().to_string();
        let out = common::output(
            &mut variant.wrap(&s.codex_run_cmd(&["--lock-export", &export_arg], "true")),
        );
        assert!(out.status.success(), "{}", common::stderr(&out));
        let lock = std::fs::read_dir(&export)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with(".config.lock.toml"))
            .expect("a lock was exported");
        let name = lock.file_name().unwrap().to_string_lossy().into_owned();

        // Stage 1: the task replaces the lock by a link and plants every temp name.
        let plant = common::scene::py(&format!(
            r#"
import os
d, victim, missing = {d:?}, {victim:?}, {missing:?}
os.unlink(os.path.join(d, {name:?}))
os.symlink(victim, os.path.join(d, {name:?}))
for p in range({pid}, {pid} + 200):
    os.symlink(missing, os.path.join(d, f".{name}.tmp-{{p}}"))
for i in range(64):
    os.symlink(victim, os.path.join(d, ".codex-launcher-tmp-%016x" % ({seed} ^ i)))
"#,
            d = export_arg,
            victim = s.victim.display().to_string(),
            missing = s.nonexistent_outside("from-export").display().to_string(),
            pid = std::process::id(),
            seed = rng.next() >> 8,
        ));
        s.codex_run_ok(&plant);

        // Stage 2: an ordinary export.
        let out = common::output(
            &mut variant.wrap(&s.codex_run_cmd(&["--lock-export", &export_arg], "true")),
        );
        assert!(
            out.status.success(),
            "{variant:?}: {}",
            common::stderr(&out)
        );
        let meta = std::fs::symlink_metadata(&lock).unwrap();
        assert!(
            meta.is_file(),
            "{variant:?}: the lock is a regular file again"
        );
        assert_eq!(meta.mode() & 0o777, 0o600);
        assert!(std::fs::read_to_string(&lock)
            .unwrap()
            .contains("version = 1"));
        s.assert_outside_untouched();

        // The task swaps the export directory itself for a link out: the export is refused.
        s.codex_run_ok(&format!(
            "rm -rf '{export_arg}' && ln -s '{}' '{export_arg}'",
            s.outside.display()
        ));
        let out = common::output(
            &mut variant.wrap(&s.codex_run_cmd(&["--lock-export", &export_arg], "true")),
        );
        // codex-run's own refusal: 125.
        assert_eq!(
            out.status.code(),
            Some(125),
            "{variant:?}: {}",
            common::stdout(&out)
        );
        assert!(
            common::stderr(&out).contains("through the symlink"),
            "{}",
            common::stderr(&out)
        );
        s.assert_outside_untouched();
    }
}
