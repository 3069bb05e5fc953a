//! Paths the user names for a launch (`--cwd`, `--writable-root`, `--home`, `--lock-export`,
//! `--lock-replay`): a symlink on the way may have been planted by an earlier sandboxed task (any
//! project directory, the temp dir and the home have been writable roots), pointing at `~/.ssh`
//! or `/`. Such a link is refused, naming the real path to give instead. Links in directories no
//! sandbox ever writes (`/`, the system trees: `/var/run`, `/lib`, macOS's `/tmp`) are followed.

use std::path::{Component, Path, PathBuf};

/// Directories whose symlinks are the system's own: `/` itself, and trees no sandbox is given to
/// write (the planner refuses them as writable roots and as the temp dir).
const SYSTEM_TREES: [&str; 10] = [
    "/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/boot", "/System", "/Library",
];
/// Directories whose own entries are the system's (`/var/run`, `/private/tmp`), though deeper
/// ones (`/var/tmp/...`) may be anyone's.
const SYSTEM_DIRS: [&str; 3] = ["/", "/var", "/private"];

/// A symlink on the way to a named path that a task could have planted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlantedLink {
    pub link: PathBuf,
    pub target: PathBuf,
    /// Where the whole path leads, when it exists.
    pub resolved: Option<PathBuf>,
}

impl PlantedLink {
    /// One line for the user: what was named, the link, and the path to name instead.
    pub fn message(&self, what: &str, named: &Path) -> String {
        self.message_with(what, named, "name")
    }

    /// [`PlantedLink::message`] for the current directory, which the user changes with `cd`.
    pub fn message_for_cwd(&self, named: &Path) -> String {
        self.message_with("the current directory", named, "cd to")
    }

    fn message_with(&self, what: &str, named: &Path, verb: &str) -> String {
        let instead = match &self.resolved {
            Some(real) => format!("{verb} the real path {} if you mean it", real.display()),
            None => format!("{verb} the real path if you mean it"),
        };
        format!(
            "{what} {}: reached through the symlink {} -> {}, in a directory a sandboxed task could have written; {instead}",
            named.display(),
            self.link.display(),
            self.target.display()
        )
    }
}

fn system_owned(dir: &Path) -> bool {
    SYSTEM_DIRS.iter().any(|d| Path::new(d) == dir)
        || SYSTEM_TREES.iter().any(|t| dir.starts_with(t))
}

/// Walks `path` (made absolute against the current directory) component by component as the
/// kernel resolves it: `..` is the parent of the directory reached so far, so in `ws/link/..` the
/// link is on the way (the kernel lands in the parent of its target, not in `ws`). The first
/// symlink outside the system's directories is refused. A missing component ends the walk:
/// whoever uses the path reports it.
pub fn check(path: &Path) -> Result<(), PlantedLink> {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        match std::env::current_dir() {
            Ok(cwd) => cwd.join(path),
            Err(_) => return Ok(()),
        }
    };
    let mut at = PathBuf::from("/");
    for part in absolute.components() {
        let name = match part {
            Component::Normal(name) => name,
            Component::ParentDir => {
                at.pop();
                continue;
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => continue,
        };
        let next = at.join(name);
        let Ok(meta) = std::fs::symlink_metadata(&next) else {
            return Ok(());
        };
        if meta.file_type().is_symlink() {
            if !system_owned(&at) {
                return Err(PlantedLink {
                    target: std::fs::read_link(&next).unwrap_or_default(),
                    link: next,
                    resolved: absolute.canonicalize().ok(),
                });
            }
            match next.canonicalize() {
                Ok(real) => at = real,
                Err(_) => return Ok(()),
            }
        } else {
            at = next;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_in_user_directories_are_refused_and_system_links_followed() {
        let base = tempfile::tempdir().unwrap();
        let base = base.path().canonicalize().unwrap();
        std::fs::create_dir_all(base.join("real/sub")).unwrap();
        symlink(base.join("real"), base.join("link")).unwrap();
        assert_eq!(check(&base.join("real/sub")), Ok(()));
        assert_eq!(check(&base.join("missing/x")), Ok(()));
        let err = check(&base.join("link/sub")).unwrap_err();
        assert_eq!(err.link, base.join("link"));
        assert_eq!(err.target, base.join("real"));
        assert_eq!(err.resolved, Some(base.join("real/sub")));
        assert!(err
            .message("--cwd", &base.join("link/sub"))
            .contains(&format!(
                "name the real path {}",
                base.join("real/sub").display()
            )));
        // `..` after a link is resolved past the link by the kernel: the link is on the way.
        std::fs::create_dir_all(base.join("ws")).unwrap();
        symlink(base.join("real/sub"), base.join("ws/build")).unwrap();
        let err = check(&base.join("ws/build/..")).unwrap_err();
        assert_eq!(err.link, base.join("ws/build"));
        assert_eq!(err.resolved, Some(base.join("real")));
        assert_eq!(check(&base.join("ws/../real/./sub/..")), Ok(()));
        // A dangling planted link is refused too: it could be created later.
        symlink("/nonexistent-target", base.join("dangling")).unwrap();
        assert!(check(&base.join("dangling")).is_err());
        // The system's own links (here /lib -> usr/lib on merged-/usr hosts) are followed.
        assert!(system_owned(Path::new("/")) && system_owned(Path::new("/usr/lib")));
        assert!(!system_owned(Path::new("/var/tmp")) && !system_owned(Path::new("/home")));
    }
}
