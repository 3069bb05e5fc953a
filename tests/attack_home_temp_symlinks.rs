//! Class: temp names in the per-task home (issue 13 #1). A task plants symlinks at every temp name a
//! prepare could use (the old `.<name>.tmp-<pid>` for every pid, `.<name>.link-<pid>`, and names with
//! the current `.codex-launcher-tmp-` prefix) pointing outside, and edits or replaces the files the
//! next prepare rewrites. The next, ordinary launch must write nothing outside, leave each file a
//! regular file, and remove the planted names.

mod common;

use common::scene::*;

/// What the shared home supplies, so stage 2 rewrites many files (each through a temp name).
fn fill_shared(s: &Scene, rng: &mut Rng) -> Vec<String> {
    let files = vec![
        "config.json".to_string(),
        "instructions.md".to_string(),
        "AGENTS.md".to_string(),
        format!("{}.config.toml", rng.name(6)),
    ];
    for f in &files {
        std::fs::write(s.shared.join(f), format!("shared {f}\n")).unwrap();
    }
    std::fs::create_dir_all(s.shared.join("rules")).unwrap();
    std::fs::write(s.shared.join("rules/default.rules"), "# shared rules\n").unwrap();
    for p in [
        "config.json",
        "instructions.md",
        "AGENTS.md",
        "rules",
        "rules/default.rules",
    ] {
        let _ =
            std::os::unix::fs::lchown(s.shared.join(p), Some(s.variant.uid), Some(s.variant.uid));
    }
    files
}

#[test]
fn planted_temp_name_symlinks_never_redirect_the_next_prepare() {
    for variant in Variant::all() {
        let s = Scene::new(variant);
        let mut rng = Rng::from_time(&format!("{variant:?}"));
        let mut rewritten = fill_shared(&s, &mut rng);
        rewritten.push("config.toml".into());
        s.codex_run_ok("true");

        // Stage 1, inside the sandbox: old-style temp names for the low pids and for the pids after
        // ours (where the next launch's pid lands), random current-style names; then tamper.
        let host_pid = std::process::id();
        let created = s.nonexistent_outside("through-temp-link");
        let random_names: Vec<String> = (0..64)
            .map(|_| format!(".codex-launcher-tmp-{:016x}", rng.next()))
            .collect();
        let plant = py(&format!(
            r#"
import os
h = os.environ["CODEX_HOME"]
victim, created = {victim:?}, {created:?}
pids = sorted(set(range(1, 200)) | set(range({host_pid}, {host_pid} + 600)))
for p in pids:
    os.symlink(victim, f"{{h}}/.config.toml.tmp-{{p}}")
for name in {names:?}:
    for p in pids:
        os.symlink(created if p % 2 else victim, f"{{h}}/.{{name}}.tmp-{{p}}")
for p in pids:
    os.symlink(victim, f"{{h}}/.sessions.link-{{p}}")
for n in {random:?}:
    os.symlink(victim, f"{{h}}/{{n}}")
with open(f"{{h}}/config.toml", "a") as f:
    f.write("\n# the task was here\n")
os.unlink(f"{{h}}/config.json")
os.symlink(victim, f"{{h}}/config.json")
os.unlink(f"{{h}}/AGENTS.md")
os.symlink(created, f"{{h}}/AGENTS.md")
print("planted")
"#,
            victim = s.victim.display().to_string(),
            created = created.display().to_string(),
            names = &rewritten[..rewritten.len() - 1],
            random = random_names,
        ));
        let out = s.codex_run_ok(&plant);
        assert!(out.contains("planted"), "{variant:?}: {out}");
        assert!(
            Scene::temp_files_in(&s.home).len() > 5 * 600,
            "{variant:?}: the plant reached the host's per-task home"
        );

        // Stage 2: an ordinary launch.
        s.codex_run_ok("true");
        s.assert_outside_untouched();
        assert!(!created.exists(), "{variant:?}");
        for name in &rewritten {
            let meta = std::fs::symlink_metadata(s.home.join(name)).unwrap();
            assert!(
                meta.is_file(),
                "{variant:?}: {name} is a regular file again"
            );
        }
        let config = std::fs::read_to_string(s.home.join("config.toml")).unwrap();
        assert!(
            !config.contains("the task was here"),
            "{variant:?}: {config}"
        );
        assert_eq!(
            std::fs::read_to_string(s.home.join("AGENTS.md")).unwrap(),
            "shared AGENTS.md\n"
        );
        let left = Scene::temp_files_in(&s.home);
        assert!(
            left.is_empty(),
            "{variant:?}: {} left, e.g. {:?}",
            left.len(),
            left.first()
        );
    }
}
