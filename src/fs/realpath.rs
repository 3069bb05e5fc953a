//! `realpath(3)` that resolves each directory prefix at most once per process.
//!
//! One launch resolves the same prefixes many times (the workspace, the cache and state dirs, the
//! temp dir, each device under `/dev`), and libc's `realpath` walks every one of them with
//! `readlink` each time: ~45 failing calls on a warm Landlock launch. A prefix found not to be a
//! symlink is remembered; anything unusual (a symlink, `..`, a missing part, a trailing slash)
//! goes to the real `realpath`, so the answers are the same.
//!
//! What is remembered is true while planning, before any sandboxed task runs. A task can swap a
//! directory in a writable root for a symlink, so a supervising launcher calls [`forget`] once its
//! task has started: what it resolves after the task (session bookkeeping) is walked again.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

/// Prefixes already seen to be no symlink, in this process. Kept as plain strings: a `Path`
/// hashes component by component, several times the cost for the same answer here.
static REAL: Mutex<Option<HashSet<OsString>>> = Mutex::new(None);

/// `path` with every symlink resolved, as [`std::fs::canonicalize`] gives it.
pub fn canonicalize(path: &Path) -> std::io::Result<PathBuf> {
    let bytes = path.as_os_str().as_encoded_bytes();
    // `components()` drops a trailing `/.`, which realpath refuses after a file (ENOTDIR).
    let plain = path.is_absolute()
        && !bytes.ends_with(b"/")
        && !bytes.ends_with(b"/.")
        && path
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    if !plain {
        return std::fs::canonicalize(path);
    }
    let mut guard = REAL.lock().unwrap_or_else(|e| e.into_inner());
    let real = guard.get_or_insert_with(HashSet::new);
    let mut prefix = PathBuf::from("/");
    for part in path.components().skip(1) {
        prefix.push(part);
        if real.contains(prefix.as_os_str()) {
            continue;
        }
        match std::fs::read_link(&prefix) {
            // EINVAL: it exists and is no symlink.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                real.insert(prefix.as_os_str().to_owned());
            }
            _ => return std::fs::canonicalize(path),
        }
    }
    Ok(prefix)
}

/// Drops everything remembered: from here on, each prefix is resolved again (once).
pub fn forget() {
    *REAL.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_as_realpath_does() {
        let dir = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(base.join("a/b")).unwrap();
        std::fs::write(base.join("a/file"), "").unwrap();
        std::os::unix::fs::symlink(base.join("a"), base.join("link")).unwrap();
        std::os::unix::fs::symlink("b", base.join("a/rel")).unwrap();
        let cases = [
            "a/b",
            "a/b",
            "a/file",
            "a/file/",
            "a/file/x",
            "a/file/.",
            "a/b/.",
            "link/b",
            "a/rel",
            "a/rel/",
            "a/../a/b",
            "a/./b",
            "missing",
            "a/missing/b",
            "",
        ];
        for case in cases {
            let path = base.join(case);
            let ours = canonicalize(&path).map_err(|e| e.kind());
            let libc = std::fs::canonicalize(&path).map_err(|e| e.kind());
            assert_eq!(ours, libc, "{}", path.display());
        }
        assert_eq!(canonicalize(Path::new("/")).unwrap(), PathBuf::from("/"));
    }

    /// A directory a task swaps for a symlink after planning: the remembered answer is the
    /// planning one until `forget`, then the swap is seen.
    #[test]
    fn forget_makes_a_swap_after_planning_visible() {
        let dir = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(base.join("ws/sub")).unwrap();
        std::fs::create_dir_all(base.join("elsewhere/sub")).unwrap();
        let path = base.join("ws/sub");
        assert_eq!(canonicalize(&path).unwrap(), path);
        std::fs::rename(base.join("ws"), base.join("ws-old")).unwrap();
        std::os::unix::fs::symlink(base.join("elsewhere"), base.join("ws")).unwrap();
        forget();
        assert_eq!(canonicalize(&path).unwrap(), base.join("elsewhere/sub"));
    }
}
