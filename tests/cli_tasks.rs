//! `tasks` and `gc`: per-task homes in the launcher's state dir are listed and removed by age,
//! without following a symlink anywhere and without touching anything outside that dir.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

struct State {
    _dir: tempfile::TempDir,
    root: PathBuf,
    tasks: PathBuf,
}

fn state() -> State {
    let dir = tempfile::Builder::new()
        .prefix("cl-tasks-")
        .tempdir_in(scratch_root())
        .unwrap();
    let root = dir.path().canonicalize().unwrap();
    let tasks = root.join("state/codex-launcher/tasks");
    State {
        _dir: dir,
        root,
        tasks,
    }
}

fn launcher(s: &State, args: &[&str]) -> std::process::Output {
    output(
        Command::new(bin())
            .env("HOME", s.root.join("home"))
            .env("XDG_STATE_HOME", s.root.join("state"))
            .args(args),
    )
}

/// A per-task home as codex-run leaves it, `days` old.
fn task(s: &State, id: &str, days: u32, bytes: usize) -> PathBuf {
    let home = s.tasks.join(id).join("codex-home");
    std::fs::create_dir_all(home.join("log")).unwrap();
    std::fs::write(home.join("history.jsonl"), vec![b'x'; bytes]).unwrap();
    std::fs::write(home.join("log/codex-tui.log"), "").unwrap();
    age(&s.tasks.join(id), days);
    home
}

/// Sets the mtime of `path` and everything under it (links themselves) to `days` ago.
fn age(path: &Path, days: u32) {
    let out = output(Command::new("find").arg(path).args([
        "-exec",
        "touch",
        "-h",
        "-d",
        &format!("{days} days ago"),
        "{}",
        "+",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn tasks_lists_id_last_use_size_and_home() {
    let s = state();
    let home = task(&s, "repo-1a2b3c", 3, 2048);
    task(&s, "other-9f9f9f", 0, 10);
    let out = launcher(&s, &["tasks"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let line = text.lines().find(|l| l.starts_with("repo-1a2b3c")).unwrap();
    assert!(line.contains("3d ago"), "{line}");
    assert!(line.contains("2.0 KiB"), "{line}");
    assert!(line.ends_with(&home.display().to_string()), "{line}");

    let out = launcher(&s, &["tasks", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["tasks"].as_array().unwrap().len(), 2);
    assert_eq!(json["tasks"][1]["id"], "repo-1a2b3c");
    assert_eq!(json["tasks"][1]["size_bytes"], 2048);
}

#[test]
fn tasks_and_gc_with_no_state_dir_create_nothing() {
    let s = state();
    for args in [&["tasks"][..], &["gc", "--older-than", "1d"]] {
        let out = launcher(&s, args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(
            stdout(&out).contains("no per-task homes"),
            "{}",
            stdout(&out)
        );
    }
    assert_eq!(std::fs::read_dir(&s.root).unwrap().count(), 0);
}

#[test]
fn gc_removes_only_old_homes_and_its_dry_run_nothing() {
    let s = state();
    task(&s, "old-a", 40, 100);
    task(&s, "old-b", 31, 100);
    let fresh = task(&s, "fresh", 2, 100);
    let out = launcher(&s, &["gc", "--older-than", "30d", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("would remove old-a"),
        "{}",
        stdout(&out)
    );
    assert!(s.tasks.join("old-a").exists() && s.tasks.join("old-b").exists());

    let out = launcher(&s, &["gc", "--older-than", "30d"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("removed 2 of 3 per-task homes"),
        "{}",
        stdout(&out)
    );
    let left: Vec<_> = std::fs::read_dir(&s.tasks)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["fresh"]);
    assert!(fresh.join("history.jsonl").is_file());
}

#[test]
fn gc_follows_no_symlink_and_removes_nothing_outside_the_state_dir() {
    let s = state();
    let outside = s.root.join("outside");
    std::fs::create_dir_all(outside.join("deep")).unwrap();
    std::fs::write(outside.join("deep/precious"), "keep").unwrap();
    // A task replaced its sessions link and planted links to the outside, some to directories.
    let home = task(&s, "planted", 60, 10);
    std::os::unix::fs::symlink(&outside, home.join("sessions")).unwrap();
    std::os::unix::fs::symlink(outside.join("deep/precious"), home.join("auth.json")).unwrap();
    std::os::unix::fs::symlink(&outside, s.tasks.join("linked-task")).unwrap();
    std::os::unix::fs::symlink("/", s.tasks.join("root-link")).unwrap();
    age(&s.tasks, 60);
    age(&outside, 60);

    let out = launcher(&s, &["tasks"]);
    assert!(!stdout(&out).contains("linked-task"), "{}", stdout(&out));
    assert!(!stdout(&out).contains("root-link"), "{}", stdout(&out));
    let out = launcher(&s, &["gc", "--older-than", "1d"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!s.tasks.join("planted").exists());
    assert_eq!(
        std::fs::read_to_string(outside.join("deep/precious")).unwrap(),
        "keep"
    );
    assert!(std::fs::symlink_metadata(s.tasks.join("linked-task")).is_ok());
    assert!(std::fs::symlink_metadata(s.tasks.join("root-link")).is_ok());
}

#[test]
fn gc_refuses_a_bad_duration_with_one_line_and_exit_2() {
    let s = state();
    task(&s, "old", 40, 1);
    for bad in ["30", "3x", "-1d", ""] {
        let out = launcher(&s, &["gc", &format!("--older-than={bad}")]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
        let err = stderr(&out);
        let first = err.lines().next().unwrap_or("");
        assert!(first.contains(&format!("{bad:?}")), "{err}");
        assert!(s.tasks.join("old").exists());
    }
    let out = launcher(&s, &["gc"]);
    assert_eq!(out.status.code(), Some(2), "--older-than is required");
}
