//! Class: a per-task home shaped to break `tasks` and `gc` for every home (red-team r4 07). A task
//! can make its `$CODEX_HOME` as wide as it likes; measuring it must cost a bounded number of
//! descriptors, and a home that cannot be measured is reported and skipped, never the end of the
//! whole listing or collection (the old homes the user wants gone still go).

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::scene::Rng;
use common::*;

fn limited(state: &std::path::Path, args: &[&str]) -> std::process::Output {
    output(
        Command::new("/bin/sh")
            .args(["-c", "ulimit -Sn 48 && exec \"$0\" \"$@\""])
            .arg(bin())
            .args(args)
            .env("HOME", state.join("home"))
            .env("XDG_STATE_HOME", state.join("state")),
    )
}

#[test]
fn a_home_wider_than_the_descriptor_limit_stops_neither_tasks_nor_gc() {
    let dir = tempfile::Builder::new()
        .prefix("cl-gc-wide-")
        .tempdir_in(scratch_root())
        .unwrap();
    let root = dir.path().canonicalize().unwrap();
    let tasks = root.join("state/codex-launcher/tasks");
    let old: PathBuf = tasks.join("old-0a1b2c/codex-home");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::write(old.join("history.jsonl"), "x").unwrap();
    let touched = output(Command::new("find").arg(tasks.join("old-0a1b2c")).args([
        "-exec",
        "touch",
        "-h",
        "-d",
        "60 days ago",
        "{}",
        "+",
    ]));
    assert!(touched.status.success());
    let mut rng = Rng::from_time("gc-wide");
    let wide = tasks.join("wide-3d4e5f/codex-home");
    for i in 0..200 {
        std::fs::create_dir_all(wide.join(format!("{}{i}", rng.name(3))).join("sub")).unwrap();
    }
    let out = limited(&root, &["tasks"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("wide-3d4e5f"), "{}", stdout(&out));
    let out = limited(&root, &["gc", "--older-than", "30d"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!tasks.join("old-0a1b2c").exists(), "{}", stdout(&out));
    assert!(wide.is_dir());
}
