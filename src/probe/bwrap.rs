//! Which bubblewrap to run (reference codex-linux-sandbox.md §5.2): the first `bwrap` on PATH that
//! is outside the cwd and every writable root, if it is trusted (root's, in a directory chain only
//! root can change) and its `--help` lists the flags we emit; otherwise the copy built into this
//! binary. `--help` results are cached on disk per file identity, so a warm launch forks no probe.
//!
//! Skipping the current writable roots is not enough: a `bwrap` planted in `~/.local/bin` by a task
//! whose workspace was `$HOME` is outside the roots of the *next* launch, and it would run on the
//! host unsandboxed. Only a file that no sandboxed task of this user could have written is run:
//! root's, in a root-only directory chain, and (because a root task writes root-owned files) not
//! under `$HOME` or a temp dir.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::cache::{CacheDir, FileStamp};

/// How long a `bwrap --help` may take before the candidate is treated as unusable.
const HELP_TIMEOUT: Duration = Duration::from_secs(2);

/// What `bwrap --help` says it supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BwrapFeatures {
    pub perms: bool,
    pub as_pid_1: bool,
    pub argv0: bool,
}

impl BwrapFeatures {
    pub fn from_help(text: &str) -> Self {
        Self {
            perms: text.contains("--perms"),
            as_pid_1: text.contains("--as-pid-1"),
            argv0: text.contains("--argv0"),
        }
    }

    /// Every flag our plans emit, except `--argv0`, which has a fallback.
    pub fn usable(&self) -> bool {
        self.perms && self.as_pid_1
    }
}

/// The bubblewrap a launch will use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Launcher {
    System { path: PathBuf, supports_argv0: bool },
    Vendored,
}

impl Launcher {
    pub fn supports_argv0(&self) -> bool {
        match self {
            Self::System { supports_argv0, .. } => *supports_argv0,
            Self::Vendored => true,
        }
    }
}

/// The first `bwrap` on `path_var` that is not under `cwd` (unless cwd is `/`) or a writable root.
/// Relative PATH entries count from `cwd`.
pub fn find_system_candidate(
    path_var: Option<&OsStr>,
    cwd: &Path,
    writable_roots: &[PathBuf],
) -> Option<PathBuf> {
    let cwd = crate::fs::canonicalize(cwd).unwrap_or_else(|_| cwd.to_path_buf());
    for dir in std::env::split_paths(path_var?) {
        if dir.as_os_str().is_empty() {
            continue;
        }
        let dir = if dir.is_absolute() {
            dir
        } else {
            cwd.join(dir)
        };
        let candidate = dir.join("bwrap");
        // One stat first: most PATH entries hold no bwrap, and resolving a missing one still
        // walks every directory above it with readlink.
        if std::fs::metadata(&candidate).is_err() {
            continue;
        }
        let Ok(found) = crate::fs::canonicalize(&candidate) else {
            continue;
        };
        if !is_executable_file(&found) {
            continue;
        }
        let in_cwd = cwd != Path::new("/") && found.starts_with(&cwd);
        let in_writable = writable_roots.iter().any(|w| found.starts_with(w));
        if in_cwd || in_writable {
            tracing::debug!(candidate = %found.display(), in_cwd, in_writable, "skipping bwrap candidate");
            continue;
        }
        return Some(found);
    }
    None
}

fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether the canonical `path` may be run: a file owned by root that group and others cannot
/// write, in directories that are all root's and not writable by group or others. Else why not.
pub fn trusted(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    // The file's own faults read "owned by uid N"; a directory's name the directory.
    let check = |p: &Path| -> Result<(), String> {
        let what = if p == path {
            String::new()
        } else {
            format!("{} is ", p.display())
        };
        let m = std::fs::symlink_metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
        if m.uid() != 0 {
            Err(format!("{what}owned by uid {}", m.uid()))
        } else if m.mode() & 0o022 != 0 {
            Err(format!(
                "{what}writable by group or others (mode {:o})",
                m.mode() & 0o7777
            ))
        } else {
            Ok(())
        }
    };
    std::iter::once(path)
        .chain(path.ancestors().skip(1))
        .try_for_each(check)
        .map_err(|why| format!("{} is not trusted: {why}", path.display()))
}

/// The user's home or a temp dir that `path` lies in. Ownership cannot tell a task's file from the
/// user's when the user is root (a root task writes root-owned files), so a bwrap under a place
/// a task of this user could have been given is never run.
fn under_user_dirs(path: &Path) -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let tmpdir = std::env::var_os("TMPDIR").map(PathBuf::from);
    [home, Some("/tmp".into()), Some("/var/tmp".into()), tmpdir]
        .into_iter()
        .flatten()
        .filter(|d| d.is_absolute())
        .filter_map(|d| crate::fs::canonicalize(&d).ok())
        .find(|d| d != Path::new("/") && path.starts_with(d))
}

/// Features of the bwrap at `path`, from the cache when its stamp still matches, else by running
/// `path --help` once and caching the answer. Either answer is safe to cache: a bwrap that lacks a
/// flag only sends the launch to the built-in one, which is as strong.
pub fn features(path: &Path, cache: &CacheDir) -> Option<BwrapFeatures> {
    let stamp = FileStamp::of(path)?;
    let name = "bwrap-help-v1.json";
    if let Some(found) = cache.load::<FileStamp, BwrapFeatures>(name, &stamp) {
        return Some(found);
    }
    let text = run_help(path)?;
    let found = BwrapFeatures::from_help(&text);
    tracing::debug!(path = %path.display(), ?found, "probed bwrap --help");
    cache.store(name, &stamp, &found);
    Some(found)
}

/// Runs `path --help` with a timeout and returns stdout and stderr together.
fn run_help(path: &Path) -> Option<String> {
    let mut child = Command::new(path)
        .arg("--help")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + HELP_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    };
    // A bwrap that fails even to print its help (ambient capabilities it refuses, say) has said
    // nothing about its flags: no answer, and nothing cached that would outlive the cause.
    if !status.success() {
        return None;
    }
    let mut text = String::new();
    child.stdout.take()?.read_to_string(&mut text).ok()?;
    let mut err = String::new();
    let _ = child.stderr.take()?.read_to_string(&mut err);
    text.push_str(&err);
    Some(text)
}

/// The system bubblewrap a run with `writable_roots` could use, or why there is none.
pub fn system_bwrap(
    cwd: &Path,
    writable_roots: &[PathBuf],
    cache: &CacheDir,
) -> Result<Launcher, String> {
    let path_var = std::env::var_os("PATH");
    let Some(path) = find_system_candidate(path_var.as_deref(), cwd, writable_roots) else {
        return Err("no bwrap on PATH outside the cwd and writable roots".into());
    };
    trusted(&path)?;
    if let Some(root) = under_user_dirs(&path) {
        return Err(format!(
            "{} is not trusted: it is under {}, which this user's sandboxed tasks can write",
            path.display(),
            root.display()
        ));
    }
    match features(&path, cache) {
        None => Err(format!("{} --help did not answer", path.display())),
        Some(f) if !f.usable() => Err(format!(
            "{} lacks {} (too old)",
            path.display(),
            [
                (!f.perms).then_some("--perms"),
                (!f.as_pid_1).then_some("--as-pid-1")
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" and ")
        )),
        Some(f) => Ok(Launcher::System {
            path,
            supports_argv0: f.argv0,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_come_from_help_text() {
        let old = "usage: bwrap [OPTIONS...]\n --bind SRC DEST --ro-bind SRC DEST --as-pid-1\n";
        assert!(!BwrapFeatures::from_help(old).usable());
        let new = "--perms OCTAL --as-pid-1 --argv0 VALUE";
        let f = BwrapFeatures::from_help(new);
        assert!(f.usable() && f.argv0);
    }

    #[test]
    fn only_a_root_owned_bwrap_in_a_root_owned_chain_is_trusted() {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(trusted(Path::new("/")), Ok(()));
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().canonicalize().unwrap().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let f = bin.join("bwrap");
        std::fs::write(&f, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = trusted(&f).unwrap_err();
        assert!(
            err.starts_with(&format!("{} is not trusted: ", f.display())),
            "{err}"
        );
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        if nix::unistd::geteuid().is_root() {
            std::os::unix::fs::chown(&f, Some(1000), None).unwrap();
            assert!(trusted(&f).unwrap_err().contains("owned by uid 1000"));
            std::os::unix::fs::chown(&f, Some(0), None).unwrap();
            std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o775)).unwrap();
            let err = trusted(&f).unwrap_err();
            assert!(
                err.contains(&format!("{} is writable by group or others", bin.display())),
                "{err}"
            );
        } else {
            assert!(trusted(&f).unwrap_err().contains("owned by uid"));
        }
    }

    #[test]
    fn candidates_under_cwd_or_writable_roots_are_skipped() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        for sub in ["ws/fb", "other/bin"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
            let f = root.join(sub).join("bwrap");
            std::fs::write(&f, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let ws = root.join("ws");
        let path = std::env::join_paths(["fb".into(), root.join("other/bin")]).unwrap();
        let found = find_system_candidate(Some(&path), &ws, &[]);
        assert_eq!(found, Some(root.join("other/bin/bwrap")));
        let found = find_system_candidate(Some(&path), &ws, &[root.join("other")]);
        assert_eq!(found, None);
        let found = find_system_candidate(Some(&path), Path::new("/"), &[]);
        assert_eq!(
            found,
            Some(root.join("other/bin/bwrap")),
            "fb resolves against /: not there"
        );
    }
}
