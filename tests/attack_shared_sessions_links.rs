//! Class: links a task plants where the user's own Codex writes its transcripts (red-team r2 02).
//! The shared `sessions/` is the tree the user's unsandboxed Codex writes (`YYYY/MM/DD/rollout-*`)
//! and resumes from. Stage 1, a sandboxed task on every backend: day links into the workspace and
//! to the outside, a rollout link to the victim, a day dir linked to a workspace dir, a forged
//! longer copy of the user's own earlier transcript, all through `$CODEX_HOME/sessions` and
//! straight at the shared tree. Stage 2, from the host: the shared tree holds only real
//! directories and regular files; the task's genuine rollout was copied there; the user's
//! transcript is unchanged; the user's Codex writing today's transcript (as Codex does: create the
//! day dirs, open the file) lands in the shared tree, not in the workspace.

mod common;

use std::path::{Path, PathBuf};

use common::scene::*;

const USER_DAY: &str = "2020/01/01";
const USER_ROLLOUT: &str = "rollout-2020-01-01T00-00-00-user.jsonl";
const USER_TEXT: &str = "{\"user\":\"original transcript\"}\n";

/// Today and the next days in UTC and local time, as `YYYY/MM/DD`, from the host's `date`.
fn days(s: &Scene) -> Vec<String> {
    let text = s.host_shell(
        "for d in 0 1 2; do date -u -d \"+$d day\" +%Y/%m/%d; date -d \"+$d day\" +%Y/%m/%d; done",
    );
    let mut days: Vec<String> = text.lines().map(str::to_owned).collect();
    days.dedup();
    days
}

fn stage1_script(s: &Scene, days: &[String]) -> String {
    let (ws, shared, outside, victim) = (
        s.ws.display(),
        s.shared.display(),
        s.outside.display(),
        s.victim.display(),
    );
    let mut script = format!(
        "S=\"$CODEX_HOME/sessions\"; mkdir -p '{ws}/loot' '{ws}/fakeday' \"$S\"; \
         echo fake > '{ws}/fakeday/rollout-fake.jsonl'; mkdir -p \"$S/2031/01\"; \
         ln -sfn '{ws}/fakeday' \"$S/2031/01/01\"; \
         mkdir -p \"$S/{USER_DAY}\"; printf '%s%s\\n' '{USER_TEXT}' INJECTED > \"$S/{USER_DAY}/{USER_ROLLOUT}\"; "
    );
    for (i, day) in days.iter().enumerate() {
        let (ym, _) = day.rsplit_once('/').unwrap();
        let target = if i % 2 == 0 {
            format!("{ws}/loot")
        } else {
            outside.to_string()
        };
        script.push_str(&format!(
            "mkdir -p \"$S/{ym}\" '{shared}/sessions/{ym}' 2>/dev/null; \
             ln -sfn '{target}' \"$S/{day}\" 2>/dev/null; \
             ln -sfn '{target}' '{shared}/sessions/{day}' 2>/dev/null; "
        ));
    }
    // A genuine transcript of this task, and a rollout name linked to the victim.
    script.push_str(&format!(
        "mkdir -p \"$S/2030/06/15\"; echo '{{\"task\":\"genuine\"}}' > \"$S/2030/06/15/rollout-genuine.jsonl\"; \
         echo first > \"$S/2030/06/15/rollout-rewrite.jsonl\"; \
         ln -sfn '{victim}' \"$S/2030/06/15/rollout-victim.jsonl\"; \
         ln -sfn '{victim}' '{shared}/sessions/2030/rollout-victim.jsonl' 2>/dev/null; true"
    ));
    script
}

/// Every entry below `dir` that is neither a directory nor a regular file.
fn links_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let t = e.file_type().unwrap();
        if t.is_dir() {
            out.extend(links_below(&e.path()));
        } else if !t.is_file() {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn planted_session_links_never_reach_the_shared_tree() {
    for variant in Variant::all() {
        let s = Scene::new(variant);
        let sessions = s.shared.join("sessions");
        s.host_shell(&format!(
            "mkdir -p '{d}/{USER_DAY}' && printf '%s' '{USER_TEXT}' > '{d}/{USER_DAY}/{USER_ROLLOUT}'",
            d = sessions.display()
        ));
        let days = days(&s);

        // Stage 1: plant, inside the sandbox; then an ordinary launch of the same task.
        s.codex_run_ok(&stage1_script(&s, &days));
        s.codex_run_ok("true");
        // A later run of the task: one transcript grows (as Codex appends), one is rewritten.
        s.codex_run_ok(
            "D=\"$CODEX_HOME/sessions/2030/06/15\"; echo more >> \"$D/rollout-genuine.jsonl\"; \
             echo forged-and-longer-history > \"$D/rollout-rewrite.jsonl\"",
        );

        // Stage 2, from the host.
        let context = format!("{variant:?}");
        assert_eq!(links_below(&sessions), Vec::<PathBuf>::new(), "{context}");
        assert_eq!(
            std::fs::read_to_string(sessions.join("2030/06/15/rollout-genuine.jsonl")).unwrap(),
            "{\"task\":\"genuine\"}\nmore\n",
            "the task's own transcript is copied, and again when it grew: {context}"
        );
        assert_eq!(
            std::fs::read_to_string(sessions.join("2030/06/15/rollout-rewrite.jsonl")).unwrap(),
            "first\n",
            "a shared copy is only ever extended: {context}"
        );
        assert_eq!(
            std::fs::read_to_string(sessions.join(USER_DAY).join(USER_ROLLOUT)).unwrap(),
            USER_TEXT,
            "the user's transcript is not overwritten or extended: {context}"
        );
        assert!(
            !sessions.join("2031").exists(),
            "a linked day dir was followed: {context}"
        );
        assert!(
            !sessions.join("2030/06/15/rollout-victim.jsonl").exists(),
            "{context}"
        );
        // The user's own Codex writes today's transcript the way Codex does.
        for day in &days {
            let dir = sessions.join(day);
            s.host_shell(&format!(
                "mkdir -p '{d}' && echo SECRET-PROMPT > '{d}/rollout-user-today.jsonl'",
                d = dir.display()
            ));
            let real = std::fs::canonicalize(dir.join("rollout-user-today.jsonl")).unwrap();
            assert!(
                real.starts_with(&sessions),
                "{day} -> {}: {context}",
                real.display()
            );
        }
        assert_eq!(
            std::fs::read_dir(s.ws.join("loot")).unwrap().count(),
            0,
            "a transcript landed in the workspace: {context}"
        );
        s.assert_outside_untouched();
    }
}
