//! Repairing what a task of the same user can do to the launcher's own files and directories.
//!
//! Landlock does not mediate `chmod`, and the temp dir is writable under it: a task running as the
//! user can take every permission bit away from a directory or file only the launcher keeps, or
//! put a directory where a lock file belongs. Refusing such a state would let one task lock the
//! user out of every later launch, so where the entry is the launcher's own (a directory or regular
//! file owned by us) the mode is set back and the repair reported on stderr; only an entry someone
//! else owns is still refused by the callers.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use super::{component, euid, Dir, Entry, FsError, Kind, Result};

impl Dir {
    /// Sets the mode of `name` to `fix(old mode)` when it is of `kind`, ours, and not already so,
    /// without following a symlink and without needing any permission on it (an `O_PATH`
    /// descriptor, changed through `/proc/self/fd`, so nothing swapped in between is touched).
    /// Returns the old mode when it changed anything; None when `name` is missing, of another
    /// kind, someone else's, or already right.
    pub fn repair_mode(
        &self,
        name: impl AsRef<OsStr>,
        kind: Kind,
        fix: impl Fn(u32) -> u32,
    ) -> Result<Option<u32>> {
        let name = component(&self.path, name.as_ref())?;
        let path = self.child(name);
        let fd = match nix::fcntl::openat(
            &self.fd,
            name,
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(None),
            Err(e) => return Err(FsError::io(&path, e)),
        };
        repair_fd(&fd, &path, kind, fix)
    }

    /// After EACCES on opening the directory `name`: when it is ours, sets its mode to `fix(old)`,
    /// reports it and opens it again; otherwise the EACCES stands.
    pub(super) fn open_repaired_dir(
        &self,
        name: &OsStr,
        fix: impl Fn(u32) -> u32,
    ) -> Result<std::result::Result<Dir, Errno>> {
        match self.repair_mode(name, Kind::Dir, fix)? {
            Some(old) => {
                report(&self.child(name), &lost_access(old));
                Ok(self.open_raw_dir(name))
            }
            None => Ok(Err(Errno::EACCES)),
        }
    }
}

/// How a repair of the owner's lost access is reported.
pub(super) fn lost_access(old: u32) -> String {
    format!("its owner had lost access (mode was {old:04o}); restored")
}

/// [`Dir::repair_mode`] for a descriptor already open (`O_PATH` or not).
fn repair_fd(
    fd: &OwnedFd,
    path: &Path,
    kind: Kind,
    fix: impl Fn(u32) -> u32,
) -> Result<Option<u32>> {
    let st = nix::sys::stat::fstat(fd)
        .map(|st| Entry::of(&st))
        .map_err(|e| FsError::io(path, e))?;
    let want = fix(st.mode) & 0o7777;
    if st.kind != kind || st.uid != euid() || st.mode == want {
        return Ok(None);
    }
    // fchmod refuses an O_PATH descriptor; the magic link reaches the very inode it holds.
    std::fs::set_permissions(
        super::fd_path(fd),
        std::os::unix::fs::PermissionsExt::from_mode(want),
    )
    .map_err(|e| FsError::io(path, e))?;
    Ok(Some(st.mode))
}

/// Gives the owner back read, write and search on the directory `path` (the user's own, named by
/// the user or derived from their environment: symlinks on the way are followed) when it is ours
/// and lacks any of them. A task can `chmod 0` the shared Codex home or the launcher's state dir;
/// every later launch would then fail with EACCES. Reports and returns the old mode when it
/// changed anything.
pub fn repair_owner_access(path: &Path) -> Result<Option<u32>> {
    let fd = match nix::fcntl::open(
        path,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT | Errno::ENOTDIR) => return Ok(None),
        Err(e) => return Err(FsError::io(path, e)),
    };
    let old = repair_fd(&fd, path, Kind::Dir, |m| m | 0o700)?;
    if let Some(old) = old {
        report(path, &lost_access(old));
    }
    Ok(old)
}

/// Whether `path` is a directory of ours that lacks some of the owner's bits, which
/// [`repair_owner_access`] would give back. Only looks.
pub fn owner_lacks_access(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| {
        use std::os::unix::fs::MetadataExt;
        m.is_dir() && m.uid() == euid() && m.mode() & 0o700 != 0o700
    })
}

/// [`repair_owner_access`] for `path` and every ancestor of it, outermost first (a directory
/// below one that lost its bits cannot even be looked at before); whether anything changed.
pub(super) fn repair_ancestors(path: &Path) -> bool {
    let mut ancestors: Vec<&Path> = path.ancestors().collect();
    ancestors.reverse();
    let mut repaired = false;
    for dir in ancestors {
        repaired |= repair_owner_access(dir).unwrap_or(None).is_some();
    }
    repaired
}

/// Tells the user about a repair, on stderr: it means a task (or someone) changed the launcher's
/// own files, which is worth knowing even though the launch goes on.
pub fn report(path: &Path, what: &str) {
    tracing::warn!(path = %path.display(), "{what}");
    eprintln!(
        "{}: warning: {}: {what}",
        crate::exit::program_name(),
        path.display()
    );
}
