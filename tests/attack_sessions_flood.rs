//! Class: a task's `sessions/` as a flood into the user's home (red-team r4 03). The launcher copies
//! the task's transcripts into the shared `sessions/`; a task that makes files that cost it nothing
//! (holes, at any size) or merely very many of them must not turn that into the user's disk filled,
//! and more transcripts than descriptors must not make publishing fail for good. Stage 1 leaves
//! the per-task tree as a task would; stage 2 is an ordinary prepare (what every launch does)
//! under a small descriptor limit.

mod common;

use std::path::Path;
use std::process::Command;

use common::homes::homes;
use common::scene::Rng;
use common::*;

/// `cmd` run with a soft limit of `n` open descriptors.
fn with_fd_limit(cmd: &Command, n: u32) -> Command {
    let mut wrapped = Command::new("/bin/sh");
    wrapped
        .args(["-c", &format!("ulimit -Sn {n} && exec \"$0\" \"$@\"")])
        .arg(cmd.get_program())
        .args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    wrapped
}

fn files_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.file_name().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn holes_and_file_counts_are_capped_and_many_transcripts_publish_with_few_descriptors() {
    let h = homes();
    let prepare = h.prepare_cmd(&["--outer-backend", "landlock"]);
    let out = output(&mut with_fd_limit(&prepare, 64));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut rng = Rng::from_time("sessions-flood");
    let day = h
        .home
        .join(format!("sessions/2026/01/{:02}", 1 + rng.below(28)));
    std::fs::create_dir_all(&day).unwrap();
    // Holes at every size from where a file stops being a few blocks: none is a transcript.
    for (i, size) in [64 << 10, 100 << 10, 1 << 20, (1 << 20) + 1, 3 << 20]
        .into_iter()
        .enumerate()
    {
        let f = std::fs::File::create(day.join(format!("rollout-sparse-{i}.jsonl"))).unwrap();
        f.set_len(size).unwrap();
    }
    // More transcripts than the descriptor limit, each one line as Codex writes them.
    let dense = 300;
    for i in 0..dense {
        std::fs::write(
            day.join(format!("rollout-2026-01-01T00-00-00-{i:06}.jsonl")),
            format!("{{\"n\":{i}}}\n"),
        )
        .unwrap();
    }
    let shared = h.shared.join("sessions");
    let out = output(&mut with_fd_limit(&prepare, 64));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let first = files_below(&shared);
    assert!(
        !first.is_empty() && first.len() < dense,
        "one launch publishes a bounded number: {}",
        first.len()
    );
    assert!(
        stderr(&out).contains("not copied"),
        "what waits is reported: {}",
        stderr(&out)
    );
    let out = output(&mut with_fd_limit(&prepare, 64));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let all = files_below(&shared);
    assert_eq!(all.len(), dense, "the rest follows at the next launch");
    assert!(all.iter().all(|n| !n.contains("sparse")), "{all:?}");
}
