//! Locks on files in directories a task could write: only ever a regular file we own.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;

use super::{component, euid, report, Dir, Entry, FsError, Kind, Result};

impl Dir {
    /// Takes an exclusive `flock` on `name`, creating it (0600) when missing. Only a regular file we
    /// own is ever opened; a symlink, FIFO, socket or directory (with whatever is in it, nothing
    /// followed) someone put there is removed: it cannot be a lock any launcher holds. A lock file
    /// of ours that a task made unreadable (`chmod 000`) gets its 0600 back. Both repairs are
    /// reported; refusing would let one task stop every later launch. Only a lock file or
    /// directory someone else owns is refused. With
    /// `remove_on_release` the file goes when the lock is dropped, so per-home lock files do not
    /// pile up; waiters notice and retry on the new file.
    ///
    /// The wait is bounded ([`LOCK_WAIT`] without the lock changing hands, [`LOCK_WAIT_MAX`] in
    /// all): launchers hold these locks for milliseconds, and a
    /// process a sandboxed task left behind can open and hold one for ever (the temp dir is
    /// writable under Landlock), which must cost a refusal naming the lock, not a hung launch.
    pub fn lock(&self, name: impl AsRef<OsStr>, remove_on_release: bool) -> Result<Lock> {
        let name = component(&self.path, name.as_ref())?;
        let path = self.child(name);
        let started = Instant::now();
        // Waiting is bounded by how long the lock goes without changing hands (each holder marks
        // the file when it takes it): 64 launches of one task queue for longer than a stuck
        // holder is given, and still get their turn.
        let mut progress_at = started;
        let mut last_holder = None;
        let mut pause = Duration::from_millis(1);
        loop {
            let file = match self.entry(name)? {
                None => match self.create_new(name, 0o600) {
                    Ok(f) => f,
                    Err(e) if e.errno() == Some(Errno::EEXIST) => continue,
                    Err(e) => return Err(e),
                },
                Some(e) if e.kind == Kind::File => {
                    if e.uid != euid() {
                        return Err(FsError::untrusted(
                            &path,
                            format!("lock file owned by uid {}", e.uid),
                        ));
                    }
                    match self.open_regular(name, OFlag::O_RDWR) {
                        Ok(Some((f, st))) => {
                            // Ours, and nobody else's business: keep it as it was created.
                            if st.mode != 0o600 {
                                nix::sys::stat::fchmod(
                                    &f,
                                    nix::sys::stat::Mode::from_bits_truncate(0o600),
                                )
                                .map_err(|e| FsError::io(&path, e))?;
                            }
                            f
                        }
                        Ok(None) => continue,
                        Err(err) if err.errno() == Some(Errno::EACCES) => {
                            match self.repair_mode(name, Kind::File, |_| 0o600)? {
                                Some(old) => {
                                    report(
                                        &path,
                                        &format!("lock file was mode {old:04o}; set back to 0600"),
                                    );
                                    continue;
                                }
                                None => return Err(err),
                            }
                        }
                        Err(err) => return Err(err),
                    }
                }
                Some(e) if e.kind == Kind::Dir => {
                    if self.remove_dir(name).is_ok() {
                        continue;
                    }
                    if e.uid != euid() {
                        return Err(FsError::untrusted(
                            &path,
                            format!(
                                "a non-empty directory owned by uid {} is where the lock belongs",
                                e.uid
                            ),
                        ));
                    }
                    if self.remove_any(name)? {
                        report(&path, "a directory was where the lock belongs; removed");
                    }
                    continue;
                }
                Some(_) => {
                    tracing::debug!(path = %path.display(), "removing a non-file at a lock path");
                    self.remove(name)?;
                    continue;
                }
            };
            let held =
                match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
                    Ok(held) => held,
                    Err((file, Errno::EWOULDBLOCK)) => {
                        let holder = nix::sys::stat::fstat(file.as_fd())
                            .ok()
                            .map(|st| (st.st_ino, st.st_mtime, st.st_mtime_nsec));
                        if holder != last_holder {
                            if last_holder.is_some() {
                                progress_at = Instant::now();
                            }
                            last_holder = holder;
                        }
                        let waited = started.elapsed();
                        if progress_at.elapsed() >= LOCK_WAIT || waited >= LOCK_WAIT_MAX {
                            return Err(FsError::Held { path, waited });
                        }
                        std::thread::sleep(pause);
                        pause = (pause * 2).min(MAX_PAUSE);
                        continue;
                    }
                    Err((_, e)) => return Err(FsError::io(&path, e)),
                };
            // The name may have been removed (by a holder releasing) or replaced while we waited.
            let ours = nix::sys::stat::fstat(held.as_fd()).map(|st| Entry::of(&st));
            let named = self.entry(name)?;
            if ours.is_ok_and(|o| named.is_some_and(|n| n.ino == o.ino && n.dev == o.dev)) {
                // The mark waiters see as the lock changing hands.
                let _ = nix::sys::stat::futimens(
                    held.as_fd(),
                    &nix::sys::time::TimeSpec::UTIME_NOW,
                    &nix::sys::time::TimeSpec::UTIME_NOW,
                );
                return Ok(Lock {
                    _held: held,
                    remove: remove_on_release
                        .then(|| self.try_clone().map(|d| (d, name.to_os_string())))
                        .transpose()?,
                });
            }
        }
    }
}

/// How long [`Dir::lock`] waits for a lock that does not change hands before refusing.
pub const LOCK_WAIT: Duration = Duration::from_secs(5);
/// The longest [`Dir::lock`] waits at all, however often the lock changes hands (a task holding
/// it could fake the changes).
pub const LOCK_WAIT_MAX: Duration = Duration::from_secs(60);
/// The longest pause between two tries: short enough that a freed lock is taken soon.
const MAX_PAUSE: Duration = Duration::from_millis(20);

/// An exclusive advisory lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct Lock {
    _held: nix::fcntl::Flock<File>,
    remove: Option<(Dir, OsString)>,
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Removed while still held, so nobody can lock the old file after we let go of it.
        if let Some((dir, name)) = &self.remove {
            let _ = dir.remove(name);
        }
    }
}
