//! `codex-launcher install`: symlinks named for each personality, pointing at this binary.
//!
//! Planning is pure (from what is on disk now to a list of actions); applying is the only effect.
//! Nothing is changed unless every link can be made, and a regular file is never replaced.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::arg0::LINKED_NAMES;
use crate::exit::Failure;

/// What currently sits where a link should go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Existing {
    Missing,
    Symlink(PathBuf),
    /// A regular file, directory or anything else that is not ours to replace.
    NotASymlink,
}

/// One step of an install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkAction {
    Create {
        link: PathBuf,
        target: PathBuf,
    },
    Replace {
        link: PathBuf,
        old_target: PathBuf,
        target: PathBuf,
    },
    AlreadyCorrect {
        link: PathBuf,
    },
}

impl fmt::Display for LinkAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Create { link, target } => {
                write!(f, "create {} -> {}", link.display(), target.display())
            }
            Self::Replace {
                link,
                old_target,
                target,
            } => write!(
                f,
                "replace {} -> {} (was -> {})",
                link.display(),
                target.display(),
                old_target.display()
            ),
            Self::AlreadyCorrect { link } => write!(f, "keep {} (already correct)", link.display()),
        }
    }
}

/// Decides the actions for `bin_dir`, given what each link path holds now. Refuses the whole
/// install if any path holds something that is not a symlink.
pub fn plan(
    bin_dir: &Path,
    target: &Path,
    existing: impl Fn(&Path) -> Existing,
) -> Result<Vec<LinkAction>, Failure> {
    LINKED_NAMES
        .iter()
        .map(|name| {
            let link = bin_dir.join(name);
            match existing(&link) {
                Existing::Missing => Ok(LinkAction::Create { link, target: target.to_path_buf() }),
                Existing::Symlink(old) if old == target => Ok(LinkAction::AlreadyCorrect { link }),
                Existing::Symlink(old_target) => Ok(LinkAction::Replace {
                    link,
                    old_target,
                    target: target.to_path_buf(),
                }),
                Existing::NotASymlink => Err(Failure::refused(format!(
                    "refusing to replace {}: it exists and is not a symlink (move it away and retry)",
                    link.display()
                ))),
            }
        })
        .collect()
}

/// Reads what is at `path` without following a final symlink.
pub fn inspect(path: &Path) -> Existing {
    match std::fs::symlink_metadata(path) {
        Err(_) => Existing::Missing,
        Ok(meta) if meta.file_type().is_symlink() => match std::fs::read_link(path) {
            Ok(target) => Existing::Symlink(target),
            Err(_) => Existing::NotASymlink,
        },
        Ok(_) => Existing::NotASymlink,
    }
}

/// Carries out the actions. A replacement is atomic: a fresh link (under an unpredictable temp
/// name, through `fs`) is renamed over the old one, and only after checking again, without
/// following it, that the name still holds a symlink or nothing.
pub fn apply(actions: &[LinkAction]) -> io::Result<()> {
    for action in actions {
        match action {
            LinkAction::AlreadyCorrect { .. } => {}
            LinkAction::Create { link, target } | LinkAction::Replace { link, target, .. } => {
                let (dir, name) = crate::fs::split(link).map_err(io::Error::other)?;
                let dir = crate::fs::Dir::anchor(dir).map_err(io::Error::other)?;
                let in_the_way = dir
                    .entry(name)
                    .map_err(io::Error::other)?
                    .is_some_and(|e| e.kind != crate::fs::Kind::Symlink);
                if in_the_way {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!("{} appeared and is not a symlink", link.display()),
                    ));
                }
                dir.symlink(target, name).map_err(io::Error::other)?;
            }
        }
    }
    Ok(())
}

/// Where links go when `--bin-dir` is not given.
pub fn default_bin_dir() -> Result<PathBuf, Failure> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".local/bin"))
        .ok_or_else(|| Failure::usage("HOME is not set; pass --bin-dir DIR"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(state: Existing) -> impl Fn(&Path) -> Existing {
        move |_| state.clone()
    }

    #[test]
    fn creates_missing_links() {
        let actions = plan(Path::new("/b"), Path::new("/x/cl"), all(Existing::Missing)).unwrap();
        assert_eq!(actions.len(), 3);
        assert!(
            matches!(&actions[0], LinkAction::Create { link, .. } if link == Path::new("/b/codex-run"))
        );
    }

    #[test]
    fn keeps_correct_links_and_replaces_foreign_ones() {
        let target = Path::new("/x/cl");
        let state = |p: &Path| {
            if p.ends_with("codex-run") {
                Existing::Symlink(PathBuf::from("/x/cl"))
            } else {
                Existing::Symlink(PathBuf::from("/old/cl"))
            }
        };
        let actions = plan(Path::new("/b"), target, state).unwrap();
        assert!(matches!(actions[0], LinkAction::AlreadyCorrect { .. }));
        assert!(matches!(actions[1], LinkAction::Replace { .. }));
    }

    #[test]
    fn refuses_when_a_regular_file_is_in_the_way() {
        let err = plan(Path::new("/b"), Path::new("/x"), all(Existing::NotASymlink)).unwrap_err();
        assert!(err.message.contains("/b/codex-run"), "{}", err.message);
    }
}
