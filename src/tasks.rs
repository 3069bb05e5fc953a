//! `codex-launcher tasks` and `codex-launcher gc`: list and remove the per-task Codex homes that
//! `codex-run` leaves in the launcher's state dir (`…/codex-launcher/tasks/<id>/codex-home`).
//!
//! A per-task home is written by Codex and, under an outer Landlock layer, by every command it ran,
//! so it is read and removed like hostile input: through [`crate::fs`], one component at a time,
//! never following a symlink (a `sessions` link into the shared home is a link, not a tree to
//! measure or delete), and only below the state dir. Homes given with `--home DIR` live wherever
//! the user put them and are not ours to list or remove.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::exit::{Failure, Outcome};
use crate::fs::{Dir, FsError, Kind};

/// Directories deeper than this inside a home are not measured: a task can build a tree deep
/// enough to exhaust descriptors, and a listing must not fail over it. Removal has no such limit.
const MEASURE_DEPTH: usize = 64;
/// Entries looked at in one home, at most: a task can make millions, and `tasks` must answer.
const MEASURE_ENTRIES: usize = 1_000_000;

/// One per-task home, as measured now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// The directory name under `tasks/` (the task id).
    pub id: OsString,
    /// The Codex home inside it (what `CODEX_HOME` was for the task).
    pub home: PathBuf,
    /// The newest modification time of anything in the task's directory, seconds since the epoch:
    /// Codex writes its history and logs there on every session.
    pub last_use: i64,
    /// Bytes of the files and links in it (links are not followed).
    pub size: u64,
    /// False when part of it was too deep to measure (size and last use are then lower bounds).
    pub complete: bool,
}

/// `$XDG_STATE_HOME/codex-launcher/tasks`, else `~/.local/state/codex-launcher/tasks`: where
/// `codex-run` puts per-task homes when `--home` is not given. Returns the anchor the user named
/// and the path below it.
pub fn tasks_location() -> Result<(PathBuf, PathBuf), Failure> {
    let absolute = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    match (absolute("XDG_STATE_HOME"), absolute("HOME")) {
        (Some(state), _) => Ok((state, PathBuf::from("codex-launcher/tasks"))),
        (None, Some(home)) => Ok((home, PathBuf::from(".local/state/codex-launcher/tasks"))),
        (None, None) => Err(Failure::usage(
            "cannot find the launcher's state dir: set XDG_STATE_HOME or HOME",
        )),
    }
}

/// Parses `30d`, `12h`, `90m`, `45s`, `2w` or a sum of them (`1d12h`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?}: expected a duration such as 30d, 12h, 90m or 1d12h");
    let mut total: u64 = 0;
    let mut rest = text;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        let unit = rest[digits..].chars().next().ok_or_else(bad)?;
        let seconds = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(bad()),
        };
        total = n
            .checked_mul(seconds)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(bad)?;
        rest = &rest[digits + unit.len_utf8()..];
    }
    Ok(Duration::from_secs(total))
}

/// The tasks last used before `now - older_than`, oldest first.
pub fn older_than(tasks: &[Task], now: i64, older_than: Duration) -> Vec<&Task> {
    let cutoff = now.saturating_sub(i64::try_from(older_than.as_secs()).unwrap_or(i64::MAX));
    let mut old: Vec<&Task> = tasks.iter().filter(|t| t.last_use < cutoff).collect();
    old.sort_by_key(|t| t.last_use);
    old
}

/// Every task directory in `tasks`, measured. Names that are not directories (a symlink, a
/// file) and leftovers of an interrupted removal are not tasks and are skipped.
pub fn scan(tasks: &Dir) -> Result<Vec<Task>, FsError> {
    let mut out = Vec::new();
    let mut names = tasks.names()?;
    names.sort();
    for name in names {
        if crate::fs::is_leftover_temp(&name) {
            continue;
        }
        let Some(entry) = tasks.entry(&name)? else {
            continue;
        };
        if entry.kind != Kind::Dir {
            continue;
        }
        let measured = tasks
            .open_dir_to_read(&name)
            .and_then(|dir| dir.map(|d| measure(d, entry.mtime)).transpose());
        // One home a task made unmeasurable must not stop listing or collecting all the others.
        let (size, last_use, complete) = match measured {
            Ok(Some(measured)) => measured,
            Ok(None) => continue,
            Err(e) => {
                crate::fs::report(
                    &tasks.path().join(&name),
                    &format!("could not be measured, skipped: {e}"),
                );
                continue;
            }
        };
        out.push(Task {
            home: tasks.path().join(&name).join("codex-home"),
            id: name,
            last_use,
            size,
            complete,
        });
    }
    Ok(out)
}

/// Total size and newest mtime below `top` (whose own mtime is `mtime`), without following
/// anything. Depth first with the names of each level read at once, so at most one descriptor per
/// level is open ([`MEASURE_DEPTH`] in all) however wide a task made its tree, and at most
/// [`MEASURE_ENTRIES`] entries are looked at: past either the result is a lower bound.
fn measure(top: Dir, mtime: i64) -> Result<(u64, i64, bool), FsError> {
    let (mut size, mut newest, mut complete) = (0u64, mtime, true);
    let mut seen = 0usize;
    let names = top.names()?;
    let mut stack = vec![(top, names.into_iter())];
    loop {
        let depth = stack.len();
        let Some((dir, names)) = stack.last_mut() else {
            break;
        };
        let Some(name) = names.next() else {
            stack.pop();
            continue;
        };
        seen += 1;
        if seen > MEASURE_ENTRIES {
            complete = false;
            break;
        }
        let Some(e) = dir.entry(&name)? else { continue };
        newest = newest.max(e.mtime);
        match e.kind {
            Kind::Dir if depth > MEASURE_DEPTH => complete = false,
            Kind::Dir => {
                if let Some(sub) = dir.open_dir_to_read(&name)? {
                    let names = sub.names()?;
                    stack.push((sub, names.into_iter()));
                }
            }
            _ => size += e.size,
        }
    }
    Ok((size, newest, complete))
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `3d ago`, `5h ago`, `just now`.
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..=59 => "just now".into(),
        60..=3599 => format!("{}m ago", s / 60),
        3600..=86_399 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86_400),
    }
}

/// `512 B`, `1.5 KiB`, `3.2 MiB`.
pub fn human_size(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

fn refused(e: FsError) -> Failure {
    Failure::refused(e.to_string())
}

/// Opens the tasks dir to read, or None when there is none yet (nothing has run).
fn open_tasks_to_read() -> Result<(PathBuf, Option<Dir>), Failure> {
    let (anchor, rel) = tasks_location()?;
    let path = anchor.join(&rel);
    let mut dir = match Dir::anchor(&anchor) {
        Ok(a) => Some(a),
        Err(e) if e.errno() == Some(nix::errno::Errno::ENOENT) => None,
        Err(e) => return Err(refused(e)),
    };
    // Reading needs no trust, only no symlink: each component is opened without following one.
    for name in rel.iter() {
        dir = match dir {
            Some(d) => d.open_dir_to_read(name).map_err(refused)?,
            None => None,
        };
    }
    Ok((path, dir))
}

/// `codex-launcher tasks`.
pub fn list(args: crate::cli::TasksArgs) -> Outcome {
    let (path, dir) = open_tasks_to_read()?;
    let tasks = match &dir {
        Some(dir) => scan(dir).map_err(refused)?,
        None => Vec::new(),
    };
    let now = now();
    if args.json {
        let report = serde_json::json!({
            "schema_version": crate::json_schema::SCHEMA_VERSION,
            "tasks_dir": path.to_string_lossy(),
            "tasks": tasks.iter().map(|t| serde_json::json!({
                "id": t.id.to_string_lossy(),
                "codex_home": t.home.to_string_lossy(),
                "last_use": t.last_use,
                "size_bytes": t.size,
                "complete": t.complete,
            })).collect::<Vec<_>>(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serialises")
        );
        return Ok(0);
    }
    if tasks.is_empty() {
        println!("no per-task homes in {}", path.display());
        return Ok(0);
    }
    let width = tasks
        .iter()
        .map(|t| t.id.to_string_lossy().len())
        .max()
        .unwrap_or(2)
        .max(2);
    println!(
        "{:<width$}  {:<10}  {:>10}  CODEX_HOME",
        "ID", "LAST USE", "SIZE"
    );
    for t in &tasks {
        let more = if t.complete { "" } else { "+" };
        println!(
            "{:<width$}  {:<10}  {:>10}  {}",
            t.id.to_string_lossy(),
            age(now - t.last_use),
            format!("{}{more}", human_size(t.size)),
            t.home.display()
        );
    }
    Ok(0)
}

/// `codex-launcher gc`.
pub fn gc(args: crate::cli::GcArgs) -> Outcome {
    let (path, dir) = open_tasks_to_read()?;
    let Some(dir) = dir else {
        println!("no per-task homes in {}", path.display());
        return Ok(0);
    };
    let tasks = scan(&dir).map_err(refused)?;
    let now = now();
    let old = older_than(&tasks, now, args.older_than);
    let would = if args.dry_run { "would " } else { "" };
    let mut freed = 0;
    for t in &old {
        println!(
            "{would}remove {} (last used {}, {})",
            t.id.to_string_lossy(),
            age(now - t.last_use),
            human_size(t.size)
        );
        if !args.dry_run {
            remove(&dir, t, args.older_than, now)?;
        }
        freed += t.size;
    }
    // A gc killed mid-removal leaves the task's tree under a temp name (fs::remove_any moves it
    // aside first); nothing else makes such names here.
    for name in dir.names().map_err(refused)? {
        if crate::fs::is_leftover_temp(&name) {
            println!(
                "{would}remove {}, left by an interrupted gc",
                Path::new(&name).display()
            );
            if !args.dry_run {
                private_tasks_dir(&dir)?
                    .remove_any(&name)
                    .map_err(refused)?;
            }
        }
    }
    let (verb, what) = if args.dry_run {
        ("would remove", "")
    } else {
        ("removed", " freed")
    };
    println!(
        "{verb} {} of {} per-task homes in {} ({}{what})",
        old.len(),
        tasks.len(),
        path.display(),
        human_size(freed)
    );
    Ok(0)
}

/// Removes one task directory. The home's prepare lock is held meanwhile, so a `codex-run`
/// preparing it right now either finishes first (and the home is measured again) or waits and
/// starts afresh.
fn remove(tasks: &Dir, task: &Task, older_than: Duration, now: i64) -> Result<(), Failure> {
    let _lock = crate::home::home_lock::take(&task.home).map_err(refused)?;
    let Some(dir) = tasks.open_dir_to_read(&task.id).map_err(refused)? else {
        return Ok(()); // gone already
    };
    let mtime = tasks
        .entry(&task.id)
        .map_err(refused)?
        .map_or(0, |e| e.mtime);
    let last_use = match measure(dir, mtime) {
        Ok((_, last_use, _)) => last_use,
        Err(e) => {
            println!(
                "keep {}: could not be measured again: {e}",
                Path::new(&task.id).display()
            );
            return Ok(());
        }
    };
    if last_use >= now - i64::try_from(older_than.as_secs()).unwrap_or(i64::MAX) {
        println!("keep {}: used while gc ran", Path::new(&task.id).display());
        return Ok(());
    }
    private_tasks_dir(tasks)?
        .remove_any(&task.id)
        .map_err(refused)?;
    Ok(())
}

/// The tasks dir, again, for removing: every directory from the anchor down must be ours and
/// closed to others, or someone else could swap names in it while we remove.
fn private_tasks_dir(tasks: &Dir) -> Result<Dir, Failure> {
    let (anchor, rel) = tasks_location()?;
    Dir::anchor(&anchor)
        .and_then(|a| a.open_private_dirs(&rel))
        .map_err(refused)?
        .ok_or_else(|| {
            Failure::refused(format!(
                "{}: not removing anything in a directory that is not private to this user",
                tasks.path().display()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, last_use: i64) -> Task {
        Task {
            id: id.into(),
            home: PathBuf::from(format!("/s/tasks/{id}/codex-home")),
            last_use,
            size: 1,
            complete: true,
        }
    }

    #[test]
    fn durations_are_sums_of_unit_counts() {
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("1d12h"), Ok(Duration::from_secs(129_600)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(1_209_600)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in ["", "30", "d", "3x", "-1d", "1.5d", "99999999999999999999w"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn only_tasks_older_than_the_cutoff_are_picked_oldest_first() {
        let tasks = [
            task("new", 990),
            task("old", 100),
            task("older", 50),
            task("edge", 900),
        ];
        let old = older_than(&tasks, 1000, Duration::from_secs(100));
        let ids: Vec<_> = old.iter().map(|t| t.id.to_str().unwrap()).collect();
        assert_eq!(ids, ["older", "old"]);
    }

    #[test]
    fn sizes_and_ages_read_like_ls_and_ps() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(age(5), "just now");
        assert_eq!(age(7200), "2h ago");
        assert_eq!(age(3 * 86_400 + 5), "3d ago");
    }
}
