//! Session transcripts of a sandboxed task (red-team 02). The shared `sessions/` is a tree the
//! user's own, unsandboxed Codex writes through and resumes from, so no sandbox may write it: a
//! planted `YYYY/MM/DD` or `rollout-*.jsonl` link there would redirect the user's transcripts. Under
//! a sandboxing outer layer the per-task `sessions` is a directory of its own, and the launcher
//! copies the task's rollouts into the shared tree: after the run, and again at the next prepare
//! of the task (so a launcher killed before it copied loses nothing).
//!
//! The per-task tree is hostile input: only `YYYY/MM/DD/rollout-*.jsonl` regular files are copied,
//! opened without following links; the shared tree is written through [`crate::fs`] (no link
//! followed, a link in the way removed, temp file and rename). A copy replaces an existing shared
//! file only if an earlier copy from this home made it (the launcher's own list, kept outside
//! every writable root) and the task's file extends it: a task can read the user's other
//! transcripts' names, and must not overwrite or extend them.
//!
//! What a transcript says is the task's: a task can still write a rollout of its own that the
//! user's `codex resume` will offer (README, Security model).

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{home_lock, Action, HomeError};
use crate::fs::{Dir, Kind};

pub const DIR: &str = "sessions";

/// A rollout larger than this is not copied (it is read whole; Codex's are far smaller).
const MAX_ROLLOUT: u64 = 256 << 20;
/// All that one publish copies.
const MAX_PUBLISH: u64 = 512 << 20;

/// Makes the per-task `sessions` a directory of the task's own: a link (the layout before, or
/// one a task planted) or any other non-directory is removed; the directory is kept (it holds the
/// task's transcripts).
pub fn ensure_dir(home: &Dir, actions: &mut Vec<Action>) -> Result<(), HomeError> {
    let path = home.path().join(DIR);
    let action = match home.entry(DIR)? {
        Some(e) if e.kind == Kind::Dir => None,
        Some(_) => {
            home.remove(DIR)?;
            Some("reset")
        }
        None => Some("created"),
    };
    home.create_dir(DIR, 0o700)?;
    if let Some(action) = action {
        actions.push(Action::new(&path, action));
    }
    Ok(())
}

fn digits(name: &OsStr, len: usize) -> bool {
    name.len() == len && name.as_bytes().iter().all(u8::is_ascii_digit)
}

/// A name Codex gives a transcript (`rollout-<timestamp>-<uuid>.jsonl`): letters, digits, `-`,
/// `_`, `.` and `:` only, so no name can break a line of the copied list or hide in a terminal.
fn is_rollout(name: &OsStr) -> bool {
    let b = name.as_bytes();
    b.starts_with(b"rollout-")
        && b.ends_with(b".jsonl")
        && b.len() <= 255
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b':'))
}

/// Subdirectories of `dir` whose names are `len` digits (links and other kinds skipped).
fn numbered(dir: &Dir, len: usize) -> Result<Vec<(String, Dir)>, HomeError> {
    let mut out = Vec::new();
    for name in dir.names()? {
        if !digits(&name, len) {
            continue;
        }
        if let Some(sub) = dir.open_dir_to_read(&name)? {
            out.push((name.to_string_lossy().into_owned(), sub));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// One rollout file of the task: its day (`[YYYY, MM, DD]`), the open day dir, its name.
struct Rollout {
    day: [String; 3],
    dir: Dir,
    name: OsString,
}

impl Rollout {
    fn rel(&self) -> String {
        format!("{}/{}", self.day.join("/"), self.name.to_string_lossy())
    }
}

/// Every `YYYY/MM/DD/rollout-*.jsonl` name below `sessions` (only real directories walked).
fn rollouts(sessions: &Dir) -> Result<Vec<Rollout>, HomeError> {
    let mut out = Vec::new();
    for (y, year) in numbered(sessions, 4)? {
        for (m, month) in numbered(&year, 2)? {
            for (d, day) in numbered(&month, 2)? {
                for name in day.names()?.into_iter().filter(|n| is_rollout(n)) {
                    out.push(Rollout {
                        day: [y.clone(), m.clone(), d.clone()],
                        dir: day.try_clone()?,
                        name,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// Copies the task's new and grown rollouts from `home/sessions` into `shared/sessions`. The caller
/// holds the per-home lock; each copy is reported in `actions`.
pub fn publish(
    home: &Dir,
    home_path: &Path,
    shared: &Path,
    actions: &mut Vec<Action>,
) -> Result<(), HomeError> {
    let Some(from) = home.open_dir_to_read(DIR)? else {
        return Ok(());
    };
    let found = rollouts(&from)?;
    if found.is_empty() {
        return Ok(());
    }
    let (state, stem) = home_lock::state_dir(home_path)?;
    let list_name = format!("{stem}.sessions");
    let mut copied: BTreeSet<String> = state
        .read_private_file(&list_name)?
        .map(|b| {
            String::from_utf8_lossy(&b)
                .lines()
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let listed = copied.len();
    let root = Dir::anchor(shared)?.create_dir(DIR, 0o700)?;
    // What one publish may write into the user's home: a task that fills its sessions/ with
    // (sparse) files must not turn that into gigabytes there. The rest waits for the next launch.
    let mut budget = MAX_PUBLISH;
    for rollout in found {
        let rel = rollout.rel();
        if let Some((dest, written)) = copy(&rollout, &root, copied.contains(&rel), budget)? {
            budget -= written;
            copied.insert(rel);
            actions.push(Action::new(&dest, "published"));
        }
    }
    if copied.len() != listed {
        let mut text = copied.into_iter().collect::<Vec<_>>().join("\n");
        text.push('\n');
        state.write_file(&list_name, text.as_bytes(), 0o600)?;
    }
    Ok(())
}

/// Copies one rollout into the shared tree when it is new there, or an earlier copy of ours (`ours`)
/// that the task's file extends; returns where it went.
fn copy(
    rollout: &Rollout,
    root: &Dir,
    ours: bool,
    budget: u64,
) -> Result<Option<(PathBuf, u64)>, HomeError> {
    let Some(src) = rollout.dir.entry(&rollout.name)? else {
        return Ok(None);
    };
    let max = MAX_ROLLOUT.min(budget);
    // Codex writes its transcripts line by line; a mostly sparse one is a task's, made to cost
    // nothing in its home and everything in the user's.
    let sparse = src.size > 1 << 20 && src.allocated < src.size / 2;
    if src.kind != Kind::File || src.size > max || sparse {
        return Ok(None);
    }
    let [y, m, d] = &rollout.day;
    let dest = shared_day(root, [y, m, d])?;
    let existing = match dest.entry(&rollout.name)? {
        None => None,
        Some(e) if e.kind == Kind::File && !(ours && e.size < src.size) => return Ok(None),
        Some(e) if e.kind == Kind::File => dest.read_file(&rollout.name)?,
        // A link or other non-file in the shared tree is nobody's transcript.
        Some(_) => {
            dest.clear_non_dir(&rollout.name)?;
            None
        }
    };
    let Some(bytes) = rollout.dir.read_file_at_most(&rollout.name, max)? else {
        return Ok(None);
    };
    // Codex only appends: a copy that no longer starts with what was shared (the task rewrote
    // it, or the user resumed the shared copy and it moved on) is left alone.
    if existing.is_some_and(|old| !bytes.starts_with(&old)) {
        return Ok(None);
    }
    dest.write_file(&rollout.name, &bytes, 0o600)?;
    Ok(Some((dest.path().join(&rollout.name), bytes.len() as u64)))
}

/// `shared/sessions/Y/M/D`, created as needed; a link or file in the way (planted while the shared
/// tree was still writable by tasks) is removed, never followed.
fn shared_day(root: &Dir, parts: [&str; 3]) -> Result<Dir, HomeError> {
    let mut dir = root.try_clone()?;
    for part in parts {
        dir.clear_non_dir(part)?;
        dir = dir.create_dir(part, 0o700)?;
    }
    Ok(dir)
}
