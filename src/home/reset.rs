//! What Codex reads from `CODEX_HOME` as configuration or instructions (reference
//! codex-config-and-auth.md §3 and §5(1)E), besides `config.toml`, `config.json` and
//! `instructions.md`, which `sync` keeps in step. A task that can write the per-task home could plant
//! any of these for the next session (prompt injection across runs, a `rules/` allow that skips the
//! sandbox, a `hooks.json` command), so every prepare makes each one equal to the shared home's:
//! copied when the shared home has it, removed when it does not, never kept from the per-task home.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use super::sync::{self, Wording, DIR_MODE, FILE_MODE};
use super::{Action, HomeError};
use crate::fs::{Dir, FsError, Kind};

/// Single files, relative to the home.
pub const FILES: [&str; 9] = [
    ".env",
    "AGENTS.md",
    "AGENTS.override.md",
    "hooks.json",
    "environments.toml",
    "managed_config.toml",
    "models_cache.json",
    "version.json",
    "app-server-daemon/settings.json",
];

/// Directories, copied as trees of regular files (symlinks inside are skipped, never followed).
pub const DIRS: [&str; 4] = ["rules", "skills", "agents", "prompts"];

/// Profile layers: `<name>.config.toml` (`codex -p <name>`).
pub const PROFILE_SUFFIX: &str = ".config.toml";

/// Skills Codex extracts itself on every start; never copied from the shared home.
const CODEX_OWNED: &str = "skills/.system";

/// How deep a copied tree may go; deeper entries are left out.
const MAX_TREE_DEPTH: usize = 16;

fn is_profile(name: &OsStr) -> bool {
    let s = name.to_string_lossy();
    s.len() > PROFILE_SUFFIX.len() && s.ends_with(PROFILE_SUFFIX)
}

/// A directory of regular files: relative path → bytes, plus every directory (empty ones too).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    files: BTreeMap<PathBuf, Vec<u8>>,
    dirs: BTreeSet<PathBuf>,
}

/// Everything the shared home supplies for the reset, read before anything is written.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    files: Vec<(PathBuf, Option<Vec<u8>>)>,
    profiles: BTreeMap<OsString, Vec<u8>>,
    dirs: Vec<(&'static str, Option<Tree>)>,
}

impl Sources {
    /// Reads the shared home's copies. Top-level names follow the user's symlinks, like the other
    /// copies; inside a directory only regular files and directories count.
    pub fn read(shared: &Path) -> Result<Self, HomeError> {
        let mut out = Sources::default();
        for rel in FILES {
            out.files
                .push((PathBuf::from(rel), sync::read_source(&shared.join(rel))?));
        }
        if let Ok(entries) = std::fs::read_dir(shared) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                if is_profile(&name) && entry.path().is_file() {
                    if let Some(bytes) = sync::read_source(&entry.path())? {
                        out.profiles.insert(name, bytes);
                    }
                }
            }
        }
        for rel in DIRS {
            let path = shared.join(rel);
            let tree = match Dir::anchor(&path) {
                Ok(dir) => Some(read_tree(&dir, Path::new(rel), 0)?),
                Err(e) if e.errno() == Some(nix::errno::Errno::ENOENT) => None,
                Err(e) if e.errno() == Some(nix::errno::Errno::ENOTDIR) => None,
                Err(e) => return Err(e.into()),
            };
            out.dirs.push((rel, tree));
        }
        Ok(out)
    }
}

/// The regular files and directories under `dir` (whose path in the home is `rel`).
fn read_tree(dir: &Dir, rel: &Path, depth: usize) -> Result<Tree, FsError> {
    let mut tree = Tree::default();
    for name in dir.names()? {
        let child = rel.join(&name);
        if child == Path::new(CODEX_OWNED) {
            continue;
        }
        match dir.entry(&name)?.map(|e| e.kind) {
            Some(Kind::File) => {
                if let Some(bytes) = dir.read_file(&name)? {
                    tree.files.insert(strip_top(&child), bytes);
                }
            }
            Some(Kind::Dir) if depth < MAX_TREE_DEPTH => {
                if let Some(sub) = dir.open_dir_to_read(&name)? {
                    tree.dirs.insert(strip_top(&child));
                    let inner = read_tree(&sub, &child, depth + 1)?;
                    tree.files.extend(inner.files);
                    tree.dirs.extend(inner.dirs);
                }
            }
            _ => {}
        }
    }
    Ok(tree)
}

/// Paths in a tree are relative to its top directory.
fn strip_top(child: &Path) -> PathBuf {
    child.components().skip(1).collect()
}

/// Whether `dir` holds exactly `tree`, as the launcher writes it (files 0600, dirs 0700, nothing
/// else: no symlink, no extra entry).
fn holds_tree(dir: &Dir, tree: &Tree, rel: &Path) -> Result<bool, FsError> {
    for name in dir.names()? {
        let child = rel.join(&name);
        let Some(entry) = dir.entry(&name)? else {
            return Ok(false);
        };
        let same = match entry.kind {
            Kind::File => match tree.files.get(&child) {
                Some(bytes) => dir.holds(&name, bytes, FILE_MODE)?,
                None => false,
            },
            Kind::Dir if entry.mode == DIR_MODE && tree.dirs.contains(&child) => {
                match dir.open_dir_to_read(&name)? {
                    Some(sub) => holds_tree(&sub, tree, &child)?,
                    None => false,
                }
            }
            _ => false,
        };
        if !same {
            return Ok(false);
        }
    }
    // Nothing extra was found; now nothing may be missing either.
    let direct = |p: &PathBuf| p.parent() == Some(rel);
    for path in tree.files.keys().filter(|p| direct(p)) {
        if dir.entry(path.file_name().unwrap_or_default())?.is_none() {
            return Ok(false);
        }
    }
    for path in tree.dirs.iter().filter(|p| direct(p)) {
        if dir.entry(path.file_name().unwrap_or_default())?.is_none() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Writes `tree` into the empty directory `into` (temp files in `home`).
fn write_tree(home: &Dir, into: &Dir, tree: &Tree) -> Result<(), FsError> {
    for d in &tree.dirs {
        into.create_dirs(d, DIR_MODE)?;
    }
    for (path, bytes) in &tree.files {
        let parent = path.parent().unwrap_or(Path::new(""));
        let dir = into.create_dirs(parent, DIR_MODE)?;
        home.write_file_into(&dir, path.file_name().unwrap_or_default(), bytes, FILE_MODE)?;
    }
    Ok(())
}

/// Makes the directory `name` in `home` hold exactly `tree` (or removes it when None).
fn reset_dir(
    home: &Dir,
    name: &str,
    tree: Option<&Tree>,
    actions: &mut Vec<Action>,
) -> Result<(), HomeError> {
    let path = home.path().join(name);
    let existing = home.entry(name)?;
    let action = match (tree, existing) {
        (None, None) => return Ok(()),
        (None, Some(_)) => {
            home.remove_any(name)?;
            "reset"
        }
        (Some(tree), existing) => {
            if existing.is_some_and(|e| e.kind == Kind::Dir && e.mode == DIR_MODE) {
                let current = home.open_dir_to_read(name)?;
                if current.is_some_and(|d| holds_tree(&d, tree, Path::new("")).unwrap_or(false)) {
                    actions.push(Action::new(&path, "unchanged"));
                    return Ok(());
                }
            }
            // Built aside and renamed into place: never a half-copied tree under the real name.
            let (tmp, staged) = home.create_temp_dir(DIR_MODE)?;
            let built = write_tree(home, &staged, tree);
            if let Err(e) = built {
                let _ = home.remove_any(&tmp);
                return Err(e.into());
            }
            home.remove_any(name)?;
            home.rename_to(&tmp, home, name)?;
            if existing.is_some() {
                "reset"
            } else {
                "copied"
            }
        }
    };
    actions.push(Action::new(&path, action));
    Ok(())
}

/// Makes every entry of the reset set in `home` equal to `sources`.
pub fn apply(home: &Dir, sources: &Sources, actions: &mut Vec<Action>) -> Result<(), HomeError> {
    for (rel, bytes) in &sources.files {
        let name = rel.file_name().unwrap_or_default();
        let parent = rel.parent().unwrap_or(Path::new(""));
        let dir = if parent.as_os_str().is_empty() {
            home.try_clone()?
        } else if bytes.is_none() && home.entry(parent.as_os_str())?.is_none() {
            continue;
        } else {
            // A symlinked parent would let Codex read a file from wherever it points: made a
            // real directory like the rest.
            sync::ensure_subdir(home, parent, actions)?
        };
        sync::sync_copy(home, &dir, name, bytes.as_deref(), Wording::Reset, actions)?;
    }
    let mut profiles: Vec<OsString> = home
        .names()?
        .into_iter()
        .filter(|n| is_profile(n))
        .collect();
    profiles.extend(sources.profiles.keys().cloned());
    profiles.sort();
    profiles.dedup();
    for name in profiles {
        let bytes = sources.profiles.get(&name).map(Vec::as_slice);
        sync::sync_copy(home, home, &name, bytes, Wording::Reset, actions)?;
    }
    for (name, tree) in &sources.dirs {
        reset_dir(home, name, tree.as_ref(), actions)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_layers_are_recognised_by_suffix() {
        assert!(is_profile(OsStr::new("x.config.toml")));
        assert!(is_profile(OsStr::new("a.b.config.toml")));
        assert!(!is_profile(OsStr::new(".config.toml")));
        assert!(!is_profile(OsStr::new("config.toml")));
    }
}
