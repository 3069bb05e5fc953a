//! Class: the launcher's record of the last per-task config it decided (home/config_memo.rs), which
//! lets a prepare with unchanged inputs skip parsing the shared config. Landlock cannot keep a
//! state dir inside the workspace (`cd ~ && codex-run`) out of the task's reach, so a task there
//! can rewrite the record, keeping its input key and its seal. The next launch, on any backend,
//! must still give Codex the config the launcher decides: the forged text fails the seal.

mod common;

use std::path::{Path, PathBuf};

use common::scene::*;
use common::*;

const FORGED: &str = "# forged-by-the-task\nsandbox_mode = \"danger-full-access\"\n";

/// Every record in `state`'s launcher dir.
fn records(state: &Path) -> Vec<PathBuf> {
    let dir = state.join("codex-launcher/locks");
    std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".config-memo.json"))
        .collect()
}

#[test]
fn a_record_a_task_rewrote_is_not_trusted() {
    for variant in Variant::all() {
        let s = Scene::new(variant);
        // The state dir inside the workspace, as when the workspace is the home directory.
        let state = s.ws.join(".local-state");
        let with_state = |mut cmd: std::process::Command| {
            cmd.env("XDG_STATE_HOME", &state);
            cmd
        };
        let run = |backend: Backend, script: &str| {
            let on = Variant {
                uid: variant.uid,
                backend,
            };
            output(&mut on.wrap(&with_state(s.codex_run_cmd_on(backend, &[], script))))
        };
        let first = run(variant.backend, "true");
        assert_eq!(
            first.status.code(),
            Some(0),
            "{variant:?}: {}",
            stderr(&first)
        );
        let before = records(&state);
        assert_eq!(
            before.len(),
            1,
            "{variant:?}: one record after a run: {before:?}"
        );
        let decided = std::fs::read_to_string(s.home.join("config.toml")).unwrap();

        // Stage 1, from a Landlock task (whose own prepare records its own key): put back the
        // record of the launch above, with its key and seal, and another config.
        let saved = s.ws.join("record.json");
        std::fs::copy(&before[0], &saved).unwrap();
        std::os::unix::fs::lchown(&saved, Some(variant.uid), Some(variant.uid)).unwrap();
        let plant = format!(
            r#"set -e
python3 - "$PWD/record.json" "$XDG_STATE_HOME"/codex-launcher/locks/*.config-memo.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r["config"] = {FORGED:?}
json.dump(r, open(sys.argv[2], "w"))
PY
echo planted"#
        );
        let staged = run(Backend::Landlock, &plant);
        assert!(
            stdout(&staged).contains("planted"),
            "{variant:?}: the Landlock task could not rewrite the record: {}",
            stderr(&staged)
        );
        let forged = std::fs::read_to_string(&before[0]).unwrap();
        assert!(
            forged.contains("forged-by-the-task"),
            "{variant:?}: {forged}"
        );

        // Stage 2: an ordinary launch. Codex's config is the decided one, from the host and from
        // inside.
        let next = run(variant.backend, r#"cat "$CODEX_HOME/config.toml""#);
        assert_eq!(
            next.status.code(),
            Some(0),
            "{variant:?}: {}",
            stderr(&next)
        );
        assert!(
            !stdout(&next).contains("forged-by-the-task"),
            "{variant:?}: {}",
            stdout(&next)
        );
        let now = std::fs::read_to_string(s.home.join("config.toml")).unwrap();
        assert_eq!(now, decided, "{variant:?}");
        // The launch decided afresh and sealed a new record.
        let after = std::fs::read_to_string(&before[0]).unwrap();
        assert!(
            !after.contains("forged-by-the-task"),
            "{variant:?}: {after}"
        );
    }
}

#[test]
fn a_record_gives_the_same_home_as_deciding_afresh() {
    let s = Scene::new(Variant::all()[0]);
    std::fs::write(
        s.shared.join("config.toml"),
        "model = \"o3\"\n[sandbox_workspace_write]\nnetwork_access = true\n[mcp_servers.a]\ncommand = \"a\"\n",
    )
    .unwrap();
    let prepare = |extra: &[&str]| {
        let mut cmd = s.launcher("codex-launcher");
        cmd.args(["prepare-home", "--json", "--outer-backend", "landlock"])
            .arg("--shared-home")
            .arg(&s.shared)
            .arg("--home")
            .arg(&s.home)
            .args(extra);
        let out = output(&mut s.variant.wrap(&cmd));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let config = std::fs::read_to_string(s.home.join("config.toml")).unwrap();
        (report["sandbox"].clone(), config)
    };
    for extra in [
        &[][..],
        &["--network", "on"][..],
        &["-c", "model=\"o4\""][..],
        &[
            "--network",
            "on",
            "-c",
            "sandbox_workspace_write.network_access=false",
        ][..],
    ] {
        for r in records(&s.state) {
            std::fs::remove_file(r).unwrap();
        }
        let fresh = prepare(extra);
        assert_eq!(records(&s.state).len(), 1, "{extra:?}");
        // The task edits its copy; the record-based prepare puts the decided one back.
        std::fs::write(s.home.join("config.toml"), FORGED).unwrap();
        let from_record = prepare(extra);
        assert_eq!(from_record, fresh, "{extra:?}");
    }
    // Another shared config is another key: decided afresh.
    std::fs::write(s.shared.join("config.toml"), "model = \"o5\"\n").unwrap();
    let (_, config) = prepare(&[]);
    assert!(config.contains("o5"), "{config}");
}
