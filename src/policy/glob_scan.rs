//! Expands deny globs to the concrete files they match, before launch (reference §5.4.5): a bounded,
//! depth-limited walk that never follows symlinked directories and fails closed on errors.

use std::path::{Path, PathBuf};

use crate::hostview::{FsView, Kind};

/// More matches than this is refused rather than silently truncated.
pub const MAX_MATCHES: usize = 8192;

/// Why a deny glob could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobScanError {
    #[error("invalid deny glob {pattern:?}: {message}")]
    Invalid { pattern: String, message: String },
    #[error("deny glob {0:?} has no directory prefix to scan from; it would walk the whole filesystem (name a directory, e.g. /home/me/**/*.env)")]
    Unbounded(String),
    #[error("deny glob scan failed under {root}: {message}")]
    Walk { root: String, message: String },
    #[error("deny glob expansion under {0} matched more than {MAX_MATCHES} paths")]
    TooMany(String),
}

/// The directory a pattern's matches must live under: everything before the first wildcard, cut back
/// to the last `/`.
pub fn search_root(pattern: &str) -> Option<PathBuf> {
    let first_wild = pattern.find(['*', '?', '[', ']']).unwrap_or(pattern.len());
    let prefix = &pattern[..first_wild];
    let cut = prefix.rfind('/')?;
    let root = &prefix[..cut];
    (!root.is_empty()).then(|| PathBuf::from(root))
}

/// Files (and symlinks) matching `pattern`, each followed by its canonical target when it is a symlink.
pub fn expand(
    pattern: &str,
    max_depth: Option<usize>,
    fs: &dyn FsView,
) -> Result<Vec<PathBuf>, GlobScanError> {
    let glob = glob::Pattern::new(pattern).map_err(|e| GlobScanError::Invalid {
        pattern: pattern.to_string(),
        message: e.to_string(),
    })?;
    let root = search_root(pattern).ok_or_else(|| GlobScanError::Unbounded(pattern.to_string()))?;
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    let mut matches = Vec::new();
    if !fs.is_dir(&root) {
        return Ok(matches);
    }
    walk(fs, &root, 1, max_depth, &mut |path| {
        if glob.matches_path_with(path, options) {
            matches.push(path.to_path_buf());
            if let Some(target) = fs.canonicalize(path) {
                if target != path {
                    matches.push(target);
                }
            }
            if matches.len() > MAX_MATCHES {
                return Err(GlobScanError::TooMany(root.display().to_string()));
            }
        }
        Ok(())
    })
    .map_err(|e| match e {
        WalkError::Found(e) => e,
        WalkError::Io(path, err) => GlobScanError::Walk {
            root: root.display().to_string(),
            message: format!("{}: {err}", path.display()),
        },
    })?;
    Ok(matches)
}

enum WalkError {
    Found(GlobScanError),
    Io(PathBuf, std::io::Error),
}

fn walk(
    fs: &dyn FsView,
    dir: &Path,
    depth: usize,
    max_depth: Option<usize>,
    visit: &mut dyn FnMut(&Path) -> Result<(), GlobScanError>,
) -> Result<(), WalkError> {
    if max_depth.is_some_and(|max| depth > max) {
        return Ok(());
    }
    let mut entries = fs
        .read_dir(dir)
        .map_err(|e| WalkError::Io(dir.to_path_buf(), e))?;
    entries.sort();
    for (name, kind) in entries {
        let path = dir.join(name);
        if kind == Kind::Dir {
            walk(fs, &path, depth + 1, max_depth, visit)?;
        } else {
            visit(&path).map_err(WalkError::Found)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostview::LiveFs;

    #[test]
    fn search_root_is_the_static_directory_prefix() {
        assert_eq!(search_root("/ws/**/*.env"), Some(PathBuf::from("/ws")));
        assert_eq!(
            search_root("/ws/sub/a*.txt"),
            Some(PathBuf::from("/ws/sub"))
        );
        assert_eq!(search_root("/**/*.env"), None);
        assert_eq!(search_root("*.env"), None);
    }

    #[test]
    fn depth_limits_and_literal_separators_apply() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path();
        std::fs::create_dir_all(ws.join("sub/deep/er")).unwrap();
        for f in ["top.env", "sub/a.env", "sub/deep/er/b.env", "sub/keep.txt"] {
            std::fs::write(ws.join(f), "x").unwrap();
        }
        let pattern = format!("{}/**/*.env", ws.display());
        let names = |depth| {
            let mut v: Vec<_> = expand(&pattern, depth, &LiveFs::default())
                .unwrap()
                .into_iter()
                .map(|p| p.strip_prefix(ws).unwrap().display().to_string())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names(None), ["sub/a.env", "sub/deep/er/b.env", "top.env"]);
        assert_eq!(names(Some(1)), ["top.env"]);
        assert_eq!(names(Some(3)), ["sub/a.env", "top.env"]);
        let one_level = format!("{}/*.env", ws.display());
        assert_eq!(
            expand(&one_level, None, &LiveFs::default()).unwrap(),
            vec![ws.join("top.env")]
        );
    }

    #[test]
    fn whole_filesystem_globs_are_refused() {
        assert!(matches!(
            expand("/**/*.env", None, &LiveFs::default()),
            Err(GlobScanError::Unbounded(_))
        ));
    }
}
