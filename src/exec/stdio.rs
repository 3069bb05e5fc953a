//! What a bubblewrap sandbox gets on descriptors 0-2. Inside it, `/proc/self/fd/N` reopens the
//! caller's file by the host path the descriptor was opened at, beneath none of bubblewrap's
//! mounts, with whatever access the file's owner and mode allow: a file given read-only on stdin
//! comes back writable, one given write-only on stdout comes back readable. Landlock checks such
//! reopens against its rules; bubblewrap cannot. So:
//! - a directory or an O_PATH descriptor (which would also let the command `openat` beneath it)
//!   is refused: no command needs one there;
//! - a regular file or block device open for one direction only reaches the command as a pipe,
//!   which the launcher feeds from it or drains into it. A pipe reopened is the same pipe.

use std::fs::File;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::thread::JoinHandle;

use crate::exit::Failure;

/// One descriptor the command gets as a pipe end, with the launcher's side of it.
struct Relay {
    /// The descriptors (of 0-2) the command gets this pipe end on: 1 and 2 naming one file share
    /// one pipe, so their interleaving stays as written.
    targets: Vec<RawFd>,
    /// The caller's file's device and inode.
    file_id: (u64, u64),
    /// The command's end, dup'ed onto `targets` in the child.
    theirs: OwnedFd,
    /// The launcher's end of the pipe.
    ours: OwnedFd,
    /// The caller's file (a duplicate of its descriptor, close-on-exec).
    file: OwnedFd,
    /// The command reads the pipe (stdin); otherwise it writes it.
    inward: bool,
}

/// The relays one launch needs (none when 0-2 are pipes, terminals, sockets or `/dev/null`).
#[derive(Default)]
pub struct Relays(Vec<Relay>);

/// The running copies; [`Pumps::finish`] waits until the command's output has reached its files.
pub struct Pumps(Vec<JoinHandle<()>>);

/// Descriptor `fd`'s kind and access, or None when it is closed.
struct Stdio {
    mode: libc::mode_t,
    file_id: (u64, u64),
    access: i32,
    path_only: bool,
}

fn inspect(fd: RawFd) -> Option<Stdio> {
    let fd = borrow(fd);
    let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFL).ok()?;
    let st = nix::sys::stat::fstat(fd).ok()?;
    Some(Stdio {
        mode: st.st_mode,
        file_id: (st.st_dev, st.st_ino),
        access: flags & libc::O_ACCMODE,
        path_only: flags & libc::O_PATH != 0,
    })
}

/// One of 0-2, borrowed: they stay open for the process's life (main opens /dev/null on any
/// closed one; nothing here closes them), and a call on a closed one fails with EBADF.
fn borrow(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: see above.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

impl Stdio {
    fn kind(&self) -> libc::mode_t {
        self.mode & libc::S_IFMT
    }

    /// Reopening it by `/proc/self/fd` could give access its descriptor does not have.
    fn reopens_wider(&self) -> bool {
        matches!(self.kind(), libc::S_IFREG | libc::S_IFBLK) && self.access != libc::O_RDWR
    }
}

/// Refuses what no sandboxed command may get on 0-2 and sets up a relay for each file it may only
/// get through a pipe. Effects: pipes and descriptor duplicates, nothing on disk.
pub fn guard() -> Result<Relays, Failure> {
    let mut relays: Vec<Relay> = Vec::new();
    for fd in 0..=2 {
        let Some(stdio) = inspect(fd) else {
            continue;
        };
        let what = match (stdio.kind() == libc::S_IFDIR, stdio.path_only) {
            (true, _) => Some("a directory"),
            (false, true) => Some("an O_PATH descriptor"),
            (false, false) => None,
        };
        if let Some(what) = what {
            return Err(Failure::refused(format!(
                "standard descriptor {fd} is {what}: the sandboxed command could open host files through it, outside the sandbox; give it a file, a pipe or a terminal"
            )));
        }
        if !stdio.reopens_wider() {
            continue;
        }
        let inward = stdio.access == libc::O_RDONLY;
        if !inward {
            if let Some(shared) = relays
                .iter_mut()
                .find(|r| !r.inward && r.file_id == stdio.file_id)
            {
                shared.targets.push(fd);
                continue;
            }
        }
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| {
            Failure::refused(format!("cannot create a pipe for descriptor {fd}: {e}"))
        })?;
        let (theirs, ours) = if inward { (read, write) } else { (write, read) };
        let file = nix::fcntl::fcntl(borrow(fd), nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3))
            // SAFETY: F_DUPFD_CLOEXEC returned a new descriptor that only this value owns.
            .map(|raw| unsafe { OwnedFd::from_raw_fd(raw) })
            .map_err(|e| Failure::refused(format!("cannot duplicate descriptor {fd}: {e}")))?;
        relays.push(Relay {
            targets: vec![fd],
            file_id: stdio.file_id,
            theirs,
            ours,
            file,
            inward,
        });
    }
    Ok(Relays(relays))
}

impl Relays {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `(target, source)`: what the child dup's onto which of 0-2 before it execs.
    pub fn child_ends(&self) -> Vec<(RawFd, RawFd)> {
        self.0
            .iter()
            .flat_map(|r| r.targets.iter().map(|&t| (t, r.theirs.as_raw_fd())))
            .collect()
    }

    /// In the parent, once the child holds its ends: closes ours of them and starts copying.
    pub fn start(self) -> Pumps {
        let mut running = Vec::new();
        for relay in self.0 {
            let Relay {
                theirs,
                ours,
                file,
                inward,
                ..
            } = relay;
            // The command's end must be closed here, or a drained pipe never ends.
            drop(theirs);
            let (from, to) = if inward { (file, ours) } else { (ours, file) };
            let copy = move || {
                // When the command stops reading, the write fails (EPIPE; SIGPIPE is ignored) and
                // the copy ends; when the file cannot take more, dropping the pipe ends the
                // command's writes the same way.
                let _ = copy_through(File::from(from), File::from(to));
            };
            match std::thread::Builder::new()
                .name(format!("stdio-{}", if inward { "in" } else { "out" }))
                .spawn(copy)
            {
                // Input need not be waited for: what the command did not read is not needed.
                Ok(handle) if !inward => running.push(handle),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot start a standard descriptor relay"),
            }
        }
        Pumps(running)
    }
}

/// Copies `from` to `to` until `from` ends, with plain reads and writes. Not `std::io::copy`: into
/// a regular file it splices at an offset it read before waiting for the pipe, so whatever the
/// caller (or another launch sharing that open file) wrote meanwhile was overwritten.
fn copy_through(mut from: File, mut to: File) -> std::io::Result<()> {
    use std::io::{ErrorKind, Read, Write};
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
    }
}

impl Pumps {
    /// Waits until every output relay has copied what the command wrote: its writers are gone
    /// once the sandbox has ended.
    pub fn finish(self) {
        for handle in self.0 {
            let _ = handle.join();
        }
    }
}

/// Dup's each relay's pipe end onto its descriptor; in the child, before it execs.
pub fn install(ends: &[(RawFd, RawFd)]) -> Result<(), Failure> {
    for &(target, source) in ends {
        // SAFETY: dup2 onto one of 0-2, which this process owns; the source is a pipe end open
        // here (inherited from the parent).
        if unsafe { libc::dup2(source, target) } < 0 {
            return Err(Failure::refused(format!(
                "cannot relay standard descriptor {target}: {}",
                std::io::Error::last_os_error()
            )));
        }
    }
    Ok(())
}
