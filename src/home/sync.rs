//! Links and copies from the shared home into the per-task home (reference §4.1–4.3, §4.5).
//!
//! The shared home is the user's and is read by path (its symlinks are the user's own). The
//! per-task home is writable by Codex and, under some outer layers, by the commands it runs, so it
//! is only ever changed through [`fs::Dir`]: nothing found there is followed or trusted.

use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

use super::{Action, HomeError};
use crate::fs::{self, Dir, Kind};

/// Permission bits of every file and directory the launcher writes into the per-task home.
pub const FILE_MODE: u32 = 0o600;
pub const DIR_MODE: u32 = 0o700;

/// Contents of `path` following symlinks, or None when absent (a dangling link counts as absent).
pub fn read_source(path: &Path) -> Result<Option<Vec<u8>>, HomeError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(HomeError::io(path, e)),
    }
}

/// How a copy reports a difference it repaired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wording {
    /// Copies the launcher has always kept in step with the shared home: `refreshed` when the
    /// content differed, `deleted` when the shared file is gone.
    Sync,
    /// What Codex reads as configuration or instructions and only the shared home may supply:
    /// anything else found there is `reset`.
    Reset,
}

/// The 4-case rule for `dir/name` (temp files in `home`): copy / refresh / delete / nothing.
/// Unchanged content is not rewritten. Something that is not a regular file (a symlink, FIFO or
/// directory a task put there) is always `reset`.
pub fn sync_copy(
    home: &Dir,
    dir: &Dir,
    name: &OsStr,
    src: Option<&[u8]>,
    wording: Wording,
    actions: &mut Vec<Action>,
) -> Result<(), HomeError> {
    let path = dir.path().join(name);
    let existing = dir.entry(name)?;
    let wrong_kind = existing.is_some_and(|e| e.kind != Kind::File);
    let action = match (src, existing) {
        (Some(bytes), Some(_)) if dir.holds(name, bytes, FILE_MODE)? => "unchanged",
        (Some(bytes), existing) => {
            if wrong_kind {
                dir.remove_any(name)?;
            }
            home.write_file_into(dir, name, bytes, FILE_MODE)?;
            match (existing, wording) {
                (None, _) => "copied",
                (Some(_), Wording::Sync) if !wrong_kind => "refreshed",
                _ => "reset",
            }
        }
        (None, Some(_)) => {
            dir.remove_any(name)?;
            if wording == Wording::Sync && !wrong_kind {
                "deleted"
            } else {
                "reset"
            }
        }
        (None, None) => return Ok(()),
    };
    actions.push(Action::new(&path, action));
    Ok(())
}

/// Makes `name` in `home` a symlink to `target` (absolute). A wrong link, a file or an empty
/// directory is replaced; a directory with content is moved aside (it may hold sessions Codex
/// wrote into it) and the report names where it went. Never refuses: a task that replaced a link
/// must not stop every later run.
pub fn ensure_link(
    home: &Dir,
    name: &str,
    target: &Path,
    actions: &mut Vec<Action>,
) -> Result<(), HomeError> {
    let path = home.path().join(name);
    let action = match home.entry(name)? {
        Some(e) if e.kind == Kind::Symlink => {
            if home.read_link(name)?.as_deref() == Some(target) {
                actions.push(Action::new(&path, "unchanged"));
                return Ok(());
            }
            "linked"
        }
        Some(e) if e.kind == Kind::Dir => {
            if home.remove_dir(name).is_err() {
                let aside = displaced_name(home, name)?;
                home.rename_to(name, home, &aside)?;
                actions.push(Action::displaced(&path, &home.path().join(&aside)));
            }
            "reset"
        }
        Some(_) => "reset",
        None => "linked",
    };
    home.symlink(target, name)?;
    actions.push(Action::new(&path, action));
    Ok(())
}

/// A free name `<name>.displaced-<unix seconds>[-n]` next to `name`.
fn displaced_name(home: &Dir, name: &str) -> Result<String, HomeError> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    for n in 0.. {
        let candidate = match n {
            0 => format!("{name}.displaced-{secs}"),
            n => format!("{name}.displaced-{secs}-{n}"),
        };
        if home.entry(&candidate)?.is_none() {
            return Ok(candidate);
        }
    }
    unreachable!("some suffix is free")
}

/// Removes whatever is at `name` (used when its shared source is gone: no dangling links).
pub fn remove_if_present(
    home: &Dir,
    name: &str,
    actions: &mut Vec<Action>,
) -> Result<(), HomeError> {
    if home.remove_any(name)? {
        actions.push(Action::new(&home.path().join(name), "deleted"));
    }
    Ok(())
}

/// Removes temp files that killed prepares left in the home (ours, the old `.<name>.tmp-<pid>`
/// form) and the lock file older launchers kept inside the home.
pub fn remove_leftovers(home: &Dir, actions: &mut Vec<Action>) -> Result<(), HomeError> {
    const OLD_LOCK: &str = ".codex-launcher.lock";
    for name in home.names()? {
        if (fs::is_leftover_temp(&name) || name == OLD_LOCK) && home.remove_any(&name)? {
            actions.push(Action::new(&home.path().join(&name), "removed"));
        }
    }
    Ok(())
}

/// Opens the directory `rel` below `home`, creating what is missing. A component that is not a
/// directory (a symlink or file a task put there) is removed first and reported as `reset`.
pub fn ensure_subdir(home: &Dir, rel: &Path, actions: &mut Vec<Action>) -> Result<Dir, HomeError> {
    let mut dir = home.try_clone()?;
    for part in rel.components() {
        let Component::Normal(name) = part else {
            continue;
        };
        if dir.entry(name)?.is_some_and(|e| e.kind != Kind::Dir) {
            dir.remove_any(name)?;
            actions.push(Action::new(&dir.path().join(name), "reset"));
        }
        dir = dir.create_dir(name, DIR_MODE)?;
    }
    Ok(dir)
}

/// A file the shared config names by a relative path: where it is read and where the copy goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referenced {
    pub key: &'static str,
    pub relative: PathBuf,
    pub bytes: Vec<u8>,
}

pub const REFERENCE_KEYS: [&str; 3] = [
    "model_catalog_json",
    "model_instructions_file",
    "experimental_instructions_file",
];

/// The file-reference keys set in `doc` and their (trimmed) values; refused unless each is a
/// non-empty string.
pub fn reference_values(doc: &toml_edit::Table) -> Result<Vec<(String, String)>, HomeError> {
    let mut out = Vec::new();
    for key in REFERENCE_KEYS {
        let Some(item) = doc.get(key) else { continue };
        let Some(value) = item.as_str().map(str::trim).filter(|v| !v.is_empty()) else {
            return Err(HomeError::Refused(format!(
                "shared config.toml: {key} must be a non-empty string"
            )));
        };
        out.push((key.to_string(), value.to_string()));
    }
    Ok(out)
}

/// Validates and reads the files [`reference_values`] named, below `shared`, before anything is
/// written.
pub fn read_referenced(
    values: &[(String, String)],
    shared: &Path,
) -> Result<Vec<Referenced>, HomeError> {
    let mut out = Vec::new();
    for (key, value) in values {
        let Some(key) = REFERENCE_KEYS.into_iter().find(|k| k == key) else {
            continue;
        };
        let value = value.as_str();
        let rel = Path::new(value);
        let escapes = rel.is_absolute()
            || value.starts_with('~')
            || rel
                .components()
                .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
        if escapes {
            return Err(HomeError::Refused(format!(
                "shared config.toml: {key} = {value:?} must be a relative path inside {} (no absolute, ~ or .. paths)",
                shared.display()
            )));
        }
        let mut current = shared.to_path_buf();
        for part in rel.components() {
            current.push(part);
            if std::fs::symlink_metadata(&current).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(HomeError::Refused(format!(
                    "shared config.toml: {key} = {value:?} goes through the symlink {}; refusing to follow it",
                    current.display()
                )));
            }
        }
        let meta = std::fs::metadata(&current).map_err(|e| {
            HomeError::Refused(format!(
                "shared config.toml: {key} = {value:?}: {}: {e}",
                current.display()
            ))
        })?;
        if !meta.is_file() {
            return Err(HomeError::Refused(format!(
                "shared config.toml: {key} = {value:?} is not a regular file"
            )));
        }
        let bytes = std::fs::read(&current).map_err(|e| HomeError::io(&current, e))?;
        out.push(Referenced {
            key,
            relative: rel.components().collect(),
            bytes,
        });
    }
    Ok(out)
}

/// Copies a referenced file to the same relative path inside `home`; its parent directories are
/// made real directories first.
pub fn copy_referenced(
    home: &Dir,
    r: &Referenced,
    actions: &mut Vec<Action>,
) -> Result<(), HomeError> {
    let (parent, name) = match (r.relative.parent(), r.relative.file_name()) {
        (Some(parent), Some(name)) => (parent, name),
        _ => {
            return Err(HomeError::Refused(format!(
                "{} = {:?}: not a file path",
                r.key, r.relative
            )))
        }
    };
    let dir = ensure_subdir(home, parent, actions)?;
    sync_copy(home, &dir, name, Some(&r.bytes), Wording::Sync, actions)
}
