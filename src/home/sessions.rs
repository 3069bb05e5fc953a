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
/// The list of transcripts a task had copied: names of ~100 bytes, one per line.
const MAX_LIST: u64 = 64 << 20;
/// All that one publish copies.
const MAX_PUBLISH: u64 = 512 << 20;
/// Files one publish copies, at most (Codex writes one per session).
const MAX_PUBLISH_FILES: usize = 256;
/// What one task's publishes may add to the shared tree over all its launches.
const MAX_TASK_BYTES: u64 = 4 << 30;
/// Transcripts one task may publish over all its launches.
const MAX_TASK_FILES: usize = 20_000;
/// Below this a file is not judged sparse (see [`is_sparse`]).
const SPARSE_MIN: u64 = 64 << 10;

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

/// Names of the subdirectories of `dir` that are `len` digits, sorted (only names: a level is
/// opened when it is walked, so a task's thousands of directories cost no descriptors).
fn numbered(dir: &Dir, len: usize) -> Result<Vec<String>, HomeError> {
    let mut out: Vec<String> = dir
        .names()?
        .into_iter()
        .filter(|n| digits(n, len))
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    out.sort();
    Ok(out)
}

/// Every `YYYY/MM/DD` below `sessions`, by name (only real directories are walked; one descriptor
/// per level is open at a time).
fn days(sessions: &Dir) -> Result<Vec<[String; 3]>, HomeError> {
    let mut out = Vec::new();
    for y in numbered(sessions, 4)? {
        let Some(year) = sessions.open_dir_to_read(&y)? else {
            continue;
        };
        for m in numbered(&year, 2)? {
            let Some(month) = year.open_dir_to_read(&m)? else {
                continue;
            };
            for d in numbered(&month, 2)? {
                out.push([y.clone(), m.clone(), d]);
            }
        }
    }
    Ok(out)
}

/// The day directory `sessions/Y/M/D`, opened again without following links; None when it is no
/// longer a directory.
fn open_day(sessions: &Dir, day: &[String; 3]) -> Result<Option<Dir>, HomeError> {
    let mut dir = sessions.try_clone()?;
    for part in day {
        match dir.open_dir_to_read(part)? {
            Some(next) => dir = next,
            None => return Ok(None),
        }
    }
    Ok(Some(dir))
}

/// One rollout file of the task: its day (`[YYYY, MM, DD]`), the open day dir, its name.
struct Rollout<'a> {
    day: &'a [String; 3],
    dir: &'a Dir,
    name: OsString,
}

impl Rollout<'_> {
    fn rel(&self) -> String {
        format!("{}/{}", self.day.join("/"), self.name.to_string_lossy())
    }
}

/// What publishing may still write: one publish, and one task over all its launches, must not
/// turn a sessions/ full of (sparse, or merely many) files into gigabytes in the user's home.
struct Budget {
    /// Bytes this publish may still write.
    bytes: u64,
    /// Files this publish may still write.
    files: usize,
    /// Bytes this task's publishes may still add to the shared tree, over all launches.
    task_bytes: u64,
    /// Rollouts not copied for lack of budget.
    skipped: usize,
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
    let found = days(&from)?;
    if found.is_empty() {
        return Ok(());
    }
    let (state, stem) = home_lock::state_dir(home_path)?;
    let list_name = format!("{stem}.sessions");
    let total_name = format!("{stem}.sessions-bytes");
    let mut copied: BTreeSet<String> = state
        .read_private_file(&list_name, MAX_LIST)?
        .map(|b| {
            String::from_utf8_lossy(&b)
                .lines()
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let listed = copied.len();
    let task_total: u64 = state
        .read_private_file(&total_name, 64)?
        .and_then(|b| String::from_utf8_lossy(&b).trim().parse().ok())
        .unwrap_or(0);
    let root = Dir::anchor(shared)?.create_dir(DIR, 0o700)?;
    let mut budget = Budget {
        bytes: MAX_PUBLISH,
        files: MAX_PUBLISH_FILES,
        task_bytes: MAX_TASK_BYTES.saturating_sub(task_total),
        skipped: 0,
    };
    for day in &found {
        let Some(dir) = open_day(&from, day)? else {
            continue;
        };
        let mut names: Vec<OsString> = dir.names()?.into_iter().filter(|n| is_rollout(n)).collect();
        names.sort();
        for name in names {
            let rollout = Rollout {
                day,
                dir: &dir,
                name,
            };
            let rel = rollout.rel();
            let ours = copied.contains(&rel);
            if !ours && copied.len() >= MAX_TASK_FILES {
                budget.skipped += 1;
                continue;
            }
            if let Some(dest) = copy(&rollout, &root, ours, &mut budget)? {
                copied.insert(rel);
                actions.push(Action::new(&dest, "published"));
            }
        }
    }
    if budget.skipped > 0 {
        crate::fs::report(
            from.path(),
            &format!(
                "{} transcript(s) not copied to {}: over what one launch or one task may publish \
                 (files, bytes)",
                budget.skipped,
                shared.join(DIR).display()
            ),
        );
    }
    if copied.len() != listed {
        let mut text = copied.into_iter().collect::<Vec<_>>().join("\n");
        text.push('\n');
        state.write_file(&list_name, text.as_bytes(), 0o600)?;
    }
    let added = MAX_TASK_BYTES.saturating_sub(task_total) - budget.task_bytes;
    if added > 0 {
        let total = task_total.saturating_add(added).to_string();
        state.write_file(&total_name, total.as_bytes(), 0o600)?;
    }
    Ok(())
}

/// Whether a file of `size` bytes that occupies `allocated` on disk is mostly holes. Codex writes
/// its transcripts line by line; a mostly sparse one is a task's, made to cost nothing in its home
/// and everything in the user's. Judged at every size past a few blocks (filesystems may keep a
/// small file inline, with no blocks of its own).
fn is_sparse(size: u64, allocated: u64) -> bool {
    size >= SPARSE_MIN && allocated.saturating_mul(2) < size
}

/// Copies one rollout into the shared tree when it is new there, or an earlier copy of ours (`ours`)
/// that the task's file extends; returns where it went.
fn copy(
    rollout: &Rollout,
    root: &Dir,
    ours: bool,
    budget: &mut Budget,
) -> Result<Option<PathBuf>, HomeError> {
    let Some(src) = rollout.dir.entry(&rollout.name)? else {
        return Ok(None);
    };
    if src.kind != Kind::File || src.size > MAX_ROLLOUT || is_sparse(src.size, src.allocated) {
        return Ok(None);
    }
    let [y, m, d] = rollout.day;
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
    let old = existing.as_ref().map_or(0, |b| b.len() as u64);
    let max = budget.bytes.min(old.saturating_add(budget.task_bytes));
    if budget.files == 0 || src.size > max {
        budget.skipped += 1;
        return Ok(None);
    }
    let Some(bytes) = rollout.dir.read_file_at_most(&rollout.name, max)? else {
        return Ok(None);
    };
    // Codex only appends: a copy that no longer starts with what was shared (the task rewrote
    // it, or the user resumed the shared copy and it moved on) is left alone.
    if existing.is_some_and(|old| !bytes.starts_with(&old)) {
        return Ok(None);
    }
    dest.write_file(&rollout.name, &bytes, 0o600)?;
    let written = bytes.len() as u64;
    budget.bytes -= written;
    budget.files -= 1;
    budget.task_bytes -= written.saturating_sub(old);
    Ok(Some(dest.path().join(&rollout.name)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holes_are_judged_at_every_size_past_a_few_blocks() {
        // The r3 rule let a file of exactly 1 MiB with no blocks through.
        for size in [SPARSE_MIN, 100 << 10, 1 << 20, (1 << 20) + 1, MAX_ROLLOUT] {
            assert!(is_sparse(size, 0), "{size}");
            assert!(is_sparse(size, size / 2 - 4096), "{size}");
            assert!(!is_sparse(size, size), "{size}");
            assert!(!is_sparse(size, size / 2 + 4096), "{size}");
        }
        // A small file may live inline, with no blocks of its own.
        assert!(!is_sparse(SPARSE_MIN - 1, 0));
        assert!(!is_sparse(200, 0));
    }
}
