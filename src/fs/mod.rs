//! Every filesystem effect on a path a sandboxed task could have touched (DESIGN §9): the per-task
//! home, the probe cache, the mount-target registry, lock files, installed links.
//!
//! Everything goes through a [`Dir`], an open directory descriptor. Names below it are single
//! components opened with `O_NOFOLLOW`, so a symlink a task planted is never followed; a directory
//! that already exists must be owned by us and writable by nobody else; new files are written under
//! unpredictable temp names (`O_CREAT|O_EXCL|O_NOFOLLOW`), fsynced and renamed into place; a lock
//! is only ever taken on a regular file we own. The one path opened normally is an *anchor*, a
//! directory the user named (`$XDG_STATE_HOME`, the parent of `--home`, the temp dir): symlinks in
//! it are the user's own choice.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::UnlinkatFlags;

mod lock;
pub mod named;
mod realpath;
mod remove;
mod repair;
mod temp;
mod write;

pub use lock::Lock;
pub use realpath::{canonicalize, forget as forget_resolved};
pub use repair::{owner_lacks_access, repair_owner_access, report};
use temp::temp_name;
pub use temp::{is_leftover_temp, TEMP_PREFIX};

#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{} is not trusted: {reason}", path.display())]
    Untrusted { path: PathBuf, reason: String },
    /// A lock another process kept for longer than any launcher holds one.
    #[error(
        "lock {} is held by another process (waited {} s); a process left behind by an earlier \
         sandboxed task may hold it: stop it (`fuser -v {}` names it) and retry",
        path.display(), waited.as_secs(), path.display()
    )]
    Held {
        path: PathBuf,
        waited: std::time::Duration,
    },
}

pub type Result<T> = std::result::Result<T, FsError>;

/// What [`Dir::read_regular`] found under a name.
#[derive(Debug, PartialEq, Eq)]
pub enum Regular {
    Bytes(Vec<u8>),
    Missing,
    /// A symlink, directory, FIFO, device or socket: never read.
    NotRegular,
    /// More than the limit (a file that grows while read counts as larger).
    Larger,
}

impl FsError {
    fn io(path: &Path, source: impl Into<io::Error>) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source: source.into(),
        }
    }

    fn untrusted(path: &Path, reason: impl Into<String>) -> Self {
        Self::Untrusted {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    /// The errno behind an I/O failure, if that is what it was.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Self::Io { source, .. } => source.raw_os_error().map(Errno::from_raw),
            Self::Untrusted { .. } | Self::Held { .. } => None,
        }
    }
}

/// What a directory entry is, read without following it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    /// A FIFO, socket or device: never opened.
    Other,
}

/// `lstat` of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    /// Permission bits (`0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub size: u64,
    /// Bytes the file really occupies on disk (less than `size` for a sparse file).
    pub allocated: u64,
    pub dev: u64,
    pub ino: u64,
    /// Hard links to it: more than one for a file means another name (anywhere on the
    /// filesystem, a workspace say) reaches the same bytes.
    pub nlink: u64,
    /// Last modification, seconds since the epoch.
    pub mtime: i64,
}

impl Entry {
    fn of(st: &libc::stat) -> Self {
        let kind = match st.st_mode & libc::S_IFMT {
            libc::S_IFREG => Kind::File,
            libc::S_IFDIR => Kind::Dir,
            libc::S_IFLNK => Kind::Symlink,
            _ => Kind::Other,
        };
        Self {
            kind,
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            size: st.st_size as u64,
            allocated: (st.st_blocks as u64).saturating_mul(512),
            dev: st.st_dev,
            ino: st.st_ino,
            // nlink_t is narrower than u64 on some targets.
            #[allow(clippy::unnecessary_cast)]
            nlink: st.st_nlink as u64,
            mtime: st.st_mtime,
        }
    }
}

/// An open directory; every operation is relative to it and follows no symlink.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

/// A single path component: no `/`, not empty, not `.` or `..`.
fn component<'a>(dir: &Path, name: &'a OsStr) -> Result<&'a OsStr> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.contains(&b'/') || bytes == b"." || bytes == b".." {
        return Err(FsError::io(
            &dir.join(name),
            io::Error::new(io::ErrorKind::InvalidInput, "not a single path component"),
        ));
    }
    Ok(name)
}

/// `/proc/self/fd/N` for `fd`: the magic link that reaches the very inode the descriptor holds,
/// for calls that take a path (chmod, link) where the inode's name may have been swapped since.
fn fd_path(fd: &impl std::os::fd::AsRawFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

impl Dir {
    /// Opens a directory the user named. Its path may go through the user's own symlinks; nothing
    /// below it will.
    /// One the user owns but cannot read (a task of the same user can `chmod 0` it) gets the
    /// owner's access back, reported ([`repair_owner_access`]).
    pub fn anchor(path: &Path) -> Result<Dir> {
        let open = || {
            nix::fcntl::open(
                path,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
        };
        let fd = match open() {
            Err(Errno::EACCES) if repair_owner_access(path)?.is_some() => open(),
            other => other,
        }
        .map_err(|e| FsError::io(path, e))?;
        Ok(Dir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// [`Dir::anchor`], creating the directory and its parents first when missing.
    /// An existing directory of ours on the way that a task made unreadable is repaired first.
    pub fn anchor_creating(path: &Path) -> Result<Dir> {
        if let Err(e) = create_dirs_private(path) {
            if e.raw_os_error() != Some(libc::EACCES) {
                return Err(FsError::io(path, e));
            }
            if !repair::repair_ancestors(path) {
                return Err(FsError::io(path, e));
            }
            create_dirs_private(path).map_err(|e| FsError::io(path, e))?;
        }
        Self::anchor(path)
    }

    /// The path this directory was opened by (for messages; never used to reach it).
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn child(&self, name: &OsStr) -> PathBuf {
        self.path.join(name)
    }

    /// `lstat` of `name`, or None when nothing is there.
    pub fn entry(&self, name: impl AsRef<OsStr>) -> Result<Option<Entry>> {
        let name = component(&self.path, name.as_ref())?;
        match nix::sys::stat::fstatat(&self.fd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(Entry::of(&st))),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(FsError::io(&self.child(name), e)),
        }
    }

    /// `fstat` of this directory.
    pub fn stat(&self) -> Result<Entry> {
        nix::sys::stat::fstat(&self.fd)
            .map(|st| Entry::of(&st))
            .map_err(|e| FsError::io(&self.path, e))
    }

    /// Refuses a directory someone else owns, and takes group/other write away from one we own:
    /// anyone who can write a directory can swap the names in it. One of ours that lost the
    /// owner's write or search (a task's `chmod`) gets them back, reported.
    fn trust(&self) -> Result<()> {
        let st = self.stat()?;
        if st.uid != euid() {
            return Err(FsError::untrusted(
                &self.path,
                format!("owned by uid {}, not {}", st.uid, euid()),
            ));
        }
        let want = (st.mode & !0o022) | 0o700;
        if st.mode != want {
            self.set_mode(want)?;
            if st.mode & 0o700 != 0o700 {
                report(&self.path, &repair::lost_access(st.mode));
            }
        }
        Ok(())
    }

    /// Sets this directory's permission bits to exactly `mode` (it must be ours).
    pub fn set_mode(&self, mode: u32) -> Result<()> {
        nix::sys::stat::fchmod(&self.fd, Mode::from_bits_truncate(mode))
            .map_err(|e| FsError::io(&self.path, e))
    }

    fn open_raw_dir(&self, name: &OsStr) -> std::result::Result<Dir, Errno> {
        let fd = nix::fcntl::openat(
            &self.fd,
            name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Dir {
            fd,
            path: self.child(name),
        })
    }

    /// Opens the existing directory `name`; None when missing. A symlink or anything else that is
    /// not a directory we own is refused.
    pub fn open_dir(&self, name: impl AsRef<OsStr>) -> Result<Option<Dir>> {
        let name = component(&self.path, name.as_ref())?;
        let opened = match self.open_raw_dir(name) {
            Err(Errno::EACCES) => self.open_repaired_dir(name, |m| m | 0o700)?,
            other => other,
        };
        match opened {
            Ok(dir) => dir.trust().map(|_| Some(dir)),
            Err(Errno::ENOENT) => Ok(None),
            Err(Errno::ELOOP) | Err(Errno::ENOTDIR) => Err(FsError::untrusted(
                &self.child(name),
                "not a directory (a symlink or file is in the way)",
            )),
            Err(e) => Err(FsError::io(&self.child(name), e)),
        }
    }

    /// Opens the directory `name` only to read from it: no symlink is followed, but the owner is
    /// not checked and nothing is changed. None when missing or not a directory.
    pub fn open_dir_to_read(&self, name: impl AsRef<OsStr>) -> Result<Option<Dir>> {
        let name = component(&self.path, name.as_ref())?;
        match self.open_raw_dir(name) {
            Ok(dir) => Ok(Some(dir)),
            Err(Errno::ENOENT | Errno::ELOOP | Errno::ENOTDIR) => Ok(None),
            Err(e) => Err(FsError::io(&self.child(name), e)),
        }
    }

    /// Opens or creates the directory `name` (created with exactly `mode`).
    pub fn create_dir(&self, name: impl AsRef<OsStr>, mode: u32) -> Result<Dir> {
        let name = name.as_ref();
        match self.create_fresh_dir(name, mode)? {
            Some(dir) => {
                // Where others can write this directory, what we opened may not be what we made.
                dir.trust()?;
                Ok(dir)
            }
            None => self
                .open_dir(name)?
                .ok_or_else(|| FsError::io(&self.child(name), Errno::ENOENT)),
        }
    }

    /// Creates the directory `name` with exactly `mode`; None when something is already there.
    /// The new directory's owner is not checked again, so this is only for a directory nobody
    /// else can write into (where nobody can swap what we just made).
    pub fn create_fresh_dir(&self, name: impl AsRef<OsStr>, mode: u32) -> Result<Option<Dir>> {
        let name = component(&self.path, name.as_ref())?;
        match nix::sys::stat::mkdirat(&self.fd, name, Mode::from_bits_truncate(mode)) {
            Ok(()) => {
                let dir = self
                    .open_raw_dir(name)
                    .map_err(|e| FsError::io(&self.child(name), e))?;
                // The umask may have taken bits away.
                dir.set_mode(mode)?;
                Ok(Some(dir))
            }
            Err(Errno::EEXIST) => Ok(None),
            Err(e) => Err(FsError::io(&self.child(name), e)),
        }
    }

    /// Removes `name` if it is a symlink, file or other non-directory that we own.
    pub fn clear_non_dir(&self, name: impl AsRef<OsStr>) -> Result<()> {
        let name = name.as_ref();
        if let Some(e) = self.entry(name)? {
            if e.kind != Kind::Dir && e.uid == euid() {
                tracing::debug!(path = %self.child(name).display(), "removing a non-directory where a directory belongs");
                self.remove(name)?;
            }
        }
        Ok(())
    }

    /// Opens or creates every directory of the relative path `rel` below this one.
    pub fn create_dirs(&self, rel: &Path, mode: u32) -> Result<Dir> {
        let mut names = relative_components(&self.path, rel)?.into_iter();
        let Some(first) = names.next() else {
            return self.try_clone();
        };
        let mut dir = self.create_dir(first, mode)?;
        for name in names {
            dir = dir.create_dir(name, mode)?;
        }
        Ok(dir)
    }

    /// Opens the existing directories of `rel` without changing anything: each must be a directory
    /// we own that nobody else can write. None when one is missing or is not.
    pub fn open_private_dirs(&self, rel: &Path) -> Result<Option<Dir>> {
        let mut dir = self.try_clone()?;
        for name in relative_components(&self.path, rel)? {
            match dir.open_dir_to_read(name)? {
                Some(next) if is_private(&next.stat()?) => dir = next,
                _ => return Ok(None),
            }
        }
        Ok(Some(dir))
    }

    /// The contents of `name` if it is a regular file we own that nobody else can write, of at
    /// most `max` bytes (a larger one, which a task that could write the dir may have made to
    /// cost the next launch its memory, is none).
    pub fn read_private_file(&self, name: impl AsRef<OsStr>, max: u64) -> Result<Option<Vec<u8>>> {
        let Some((file, st)) = self.open_regular(name.as_ref(), OFlag::O_RDONLY)? else {
            return Ok(None);
        };
        if !is_private(&st) || st.size > max {
            return Ok(None);
        }
        let mut bytes = Vec::with_capacity(st.size as usize);
        file.take(max + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| FsError::io(&self.child(name.as_ref()), e))?;
        Ok((bytes.len() as u64 <= max).then_some(bytes))
    }

    /// Another descriptor for the same directory.
    pub fn try_clone(&self) -> Result<Dir> {
        Ok(Dir {
            fd: self
                .fd
                .try_clone()
                .map_err(|e| FsError::io(&self.path, e))?,
            path: self.path.clone(),
        })
    }

    /// The names in this directory (without `.` and `..`), read with `getdents64` on this very
    /// descriptor after a rewind: a libc directory stream would need a second descriptor and five
    /// more syscalls per listing, and the registry lists on every launch.
    pub fn names(&self) -> Result<Vec<OsString>> {
        let fd = self.fd.as_raw_fd();
        // SAFETY: lseek on a descriptor we own.
        if unsafe { libc::lseek(fd, 0, libc::SEEK_SET) } < 0 {
            return Err(FsError::io(&self.path, Errno::last()));
        }
        // Left uninitialised: the kernel fills what it reports, and only that is read.
        let mut buf = std::mem::MaybeUninit::<[u8; 4096]>::uninit();
        let mut out = Vec::new();
        loop {
            // SAFETY: the kernel writes at most 4096 bytes into buf.
            let n = unsafe { libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), 4096) };
            if n < 0 {
                return Err(FsError::io(&self.path, Errno::last()));
            }
            if n == 0 {
                return Ok(out);
            }
            // SAFETY: getdents64 initialised its first n bytes (n <= 4096).
            let filled =
                unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n as usize) };
            let mut at = 0;
            // Each record: d_ino (8), d_off (8), d_reclen (2), d_type (1), NUL-terminated name.
            while at + 19 <= filled.len() {
                let reclen = usize::from(u16::from_ne_bytes([filled[at + 16], filled[at + 17]]));
                if reclen < 19 || at + reclen > filled.len() {
                    return Err(FsError::io(&self.path, Errno::EIO));
                }
                let raw = &filled[at + 19..at + reclen];
                let name = OsStr::from_bytes(
                    &raw[..raw.iter().position(|b| *b == 0).unwrap_or(raw.len())],
                );
                if name != "." && name != ".." {
                    out.push(name.to_os_string());
                }
                at += reclen;
            }
        }
    }

    /// The contents of the regular file `name`; None when it is missing or not a regular file
    /// (a symlink, FIFO or device is never opened for reading).
    pub fn read_file(&self, name: impl AsRef<OsStr>) -> Result<Option<Vec<u8>>> {
        let Some((mut file, _)) = self.open_regular(name.as_ref(), OFlag::O_RDONLY)? else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| FsError::io(&self.child(name.as_ref()), e))?;
        Ok(Some(bytes))
    }

    /// [`Dir::read_file`] of at most `max` bytes, read from the descriptor that was checked: None
    /// when missing or larger (a file that grows while read counts as larger).
    pub fn read_file_at_most(&self, name: impl AsRef<OsStr>, max: u64) -> Result<Option<Vec<u8>>> {
        Ok(match self.read_regular(name, max)? {
            Regular::Bytes(bytes) => Some(bytes),
            Regular::Missing | Regular::NotRegular | Regular::Larger => None,
        })
    }

    /// [`Dir::read_file_at_most`], saying why there are no bytes.
    pub fn read_regular(&self, name: impl AsRef<OsStr>, max: u64) -> Result<Regular> {
        let (file, st) = match self.open_regular_or_why(name.as_ref(), OFlag::O_RDONLY)? {
            Ok(found) => found,
            Err(why) => return Ok(why),
        };
        if st.size > max {
            return Ok(Regular::Larger);
        }
        let mut bytes = Vec::with_capacity(st.size as usize);
        file.take(max + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| FsError::io(&self.child(name.as_ref()), e))?;
        Ok(if bytes.len() as u64 <= max {
            Regular::Bytes(bytes)
        } else {
            Regular::Larger
        })
    }

    /// Whether `name` is a regular file with exactly `bytes` and permission bits `mode`.
    pub fn holds(&self, name: impl AsRef<OsStr>, bytes: &[u8], mode: u32) -> Result<bool> {
        let Some((mut file, st)) = self.open_regular(name.as_ref(), OFlag::O_RDONLY)? else {
            return Ok(false);
        };
        if st.size != bytes.len() as u64 || st.mode != mode {
            return Ok(false);
        }
        let mut current = Vec::with_capacity(bytes.len());
        file.read_to_end(&mut current)
            .map_err(|e| FsError::io(&self.child(name.as_ref()), e))?;
        Ok(current == bytes)
    }

    /// Opens `name` if it is a regular file, without following a symlink and without blocking on a
    /// FIFO; None when missing or of another kind.
    fn open_regular(&self, name: &OsStr, access: OFlag) -> Result<Option<(File, Entry)>> {
        Ok(self.open_regular_or_why(name, access)?.ok())
    }

    /// [`Dir::open_regular`], with [`Regular::Missing`] or [`Regular::NotRegular`] for none.
    fn open_regular_or_why(
        &self,
        name: &OsStr,
        access: OFlag,
    ) -> Result<std::result::Result<(File, Entry), Regular>> {
        let name = component(&self.path, name)?;
        let flags = access | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        let fd = match nix::fcntl::openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(Err(Regular::Missing)),
            Err(Errno::ELOOP | Errno::ENXIO | Errno::EISDIR) => {
                return Ok(Err(Regular::NotRegular))
            }
            Err(e) => return Err(FsError::io(&self.child(name), e)),
        };
        let st = nix::sys::stat::fstat(&fd)
            .map(|st| Entry::of(&st))
            .map_err(|e| FsError::io(&self.child(name), e))?;
        if st.kind != Kind::File {
            return Ok(Err(Regular::NotRegular));
        }
        Ok(Ok((File::from(fd), st)))
    }

    /// Where the symlink `name` points; None when `name` is not a symlink.
    pub fn read_link(&self, name: impl AsRef<OsStr>) -> Result<Option<PathBuf>> {
        let name = component(&self.path, name.as_ref())?;
        match nix::fcntl::readlinkat(&self.fd, name) {
            Ok(target) => Ok(Some(PathBuf::from(target))),
            Err(Errno::EINVAL | Errno::ENOENT) => Ok(None),
            Err(e) => Err(FsError::io(&self.child(name), e)),
        }
    }

    /// Renames `from` here to `dest/to` (never following either name).
    pub fn rename_to(
        &self,
        from: impl AsRef<OsStr>,
        dest: &Dir,
        to: impl AsRef<OsStr>,
    ) -> Result<()> {
        let from = component(&self.path, from.as_ref())?;
        let to = component(&dest.path, to.as_ref())?;
        nix::fcntl::renameat(&self.fd, from, &dest.fd, to)
            .map_err(|e| FsError::io(&dest.child(to), e))
    }

    /// Removes the non-directory `name` (a symlink itself, never its target); false when missing.
    pub fn remove(&self, name: impl AsRef<OsStr>) -> Result<bool> {
        self.unlink(name.as_ref(), UnlinkatFlags::NoRemoveDir)
    }

    /// Removes the empty directory `name`; false when missing.
    pub fn remove_dir(&self, name: impl AsRef<OsStr>) -> Result<bool> {
        self.unlink(name.as_ref(), UnlinkatFlags::RemoveDir)
    }

    fn unlink(&self, name: &OsStr, how: UnlinkatFlags) -> Result<bool> {
        let name = component(&self.path, name)?;
        match nix::unistd::unlinkat(&self.fd, name, how) {
            Ok(()) => Ok(true),
            Err(Errno::ENOENT) => Ok(false),
            Err(e) => Err(FsError::io(&self.child(name), e)),
        }
    }

    /// Makes directory changes durable.
    fn sync(&self) -> Result<()> {
        nix::unistd::fsync(&self.fd).map_err(|e| FsError::io(&self.path, e))
    }
}

impl AsFd for Dir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Dir {
    fn as_raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }
}

/// Ours, and writable by nobody else.
fn is_private(e: &Entry) -> bool {
    e.uid == euid() && e.mode & 0o022 == 0
}

fn relative_components<'a>(base: &Path, rel: &'a Path) -> Result<Vec<&'a OsStr>> {
    rel.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .map(|c| match c {
            Component::Normal(name) => Ok(name),
            _ => Err(FsError::io(
                &base.join(rel),
                io::Error::new(io::ErrorKind::InvalidInput, "not a plain relative path"),
            )),
        })
        .collect()
}

/// `create_dir_all`, each directory it makes 0700 whatever the umask: they are the launcher's
/// own (state, cache, homes) or the user's Codex home's, which with a umask of 0 or 002 others
/// could otherwise write (plant a session Codex resumes, move a private dir aside), and which a
/// umask taking the owner's bits (0277) would leave unusable. Existing directories keep their
/// mode.
pub fn create_dirs_private(path: &Path) -> io::Result<()> {
    create_dirs_with_mode(path, 0o700)
}

/// [`create_dirs_private`] with `mode` for the directories it makes. It walks down from the
/// deepest existing ancestor by descriptor: each directory is made in, and opened from (never
/// followed), the one it made before, so a symlink swapped in for one of them meanwhile (by
/// whoever can write the existing ancestor) is refused, not followed to an existing directory
/// whose mode would then be changed.
pub fn create_dirs_with_mode(path: &Path, mode: u32) -> io::Result<()> {
    let missing: Vec<&Path> = path
        .ancestors()
        .take_while(|p| !p.as_os_str().is_empty() && std::fs::symlink_metadata(p).is_err())
        .collect();
    let Some(top) = missing.last() else {
        return Ok(());
    };
    let base = match top.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let mut parent = nix::fcntl::open(base, flags, Mode::empty())?;
    for dir in missing.into_iter().rev() {
        // `.` and `..` exist (mkdirat says so) and are opened as they are.
        let name = match dir.components().next_back() {
            Some(Component::Normal(name)) => name,
            Some(Component::ParentDir) => OsStr::new(".."),
            _ => OsStr::new("."),
        };
        let made = match nix::sys::stat::mkdirat(&parent, name, Mode::from_bits_truncate(mode)) {
            Ok(()) => true,
            // Made by someone else meanwhile: theirs to have set.
            Err(Errno::EEXIST) => false,
            Err(e) => return Err(e.into()),
        };
        let next = nix::fcntl::openat(&parent, name, flags | OFlag::O_NOFOLLOW, Mode::empty())?;
        if made {
            // The umask took bits from `mode`: put them back.
            nix::sys::stat::fchmod(&next, Mode::from_bits_truncate(mode))?;
        }
        parent = next;
    }
    Ok(())
}

/// A private directory `path` (exactly `mode`) in the anchor that is its parent: created when
/// missing; an existing one must be a real directory owned by us (its mode is then fixed). A
/// symlink or file of ours in its place (a same-user task can plant one in a shared temp dir) is
/// removed, so it cannot stop every later launch; one owned by someone else is refused.
pub fn private_dir(path: &Path, mode: u32) -> Result<Dir> {
    let (parent, name) = split(path)?;
    let parent = Dir::anchor(parent)?;
    // Nearly every launch finds it in place: one open and one stat then.
    let name = component(parent.path(), name)?;
    let opened = match parent.open_raw_dir(name) {
        // Ours, but a task took every bit away (Landlock lets it chmod the temp dir's entries).
        Err(Errno::EACCES) => parent.open_repaired_dir(name, |_| mode)?,
        other => other,
    };
    let dir = match opened {
        Ok(dir) => dir,
        Err(Errno::ENOENT) => parent.create_dir(name, mode)?,
        Err(Errno::ELOOP | Errno::ENOTDIR) => {
            parent.clear_non_dir(name)?;
            parent.create_dir(name, mode)?
        }
        Err(e) => return Err(FsError::io(path, e)),
    };
    let st = dir.stat()?;
    if st.uid != euid() {
        return Err(FsError::untrusted(
            path,
            format!("owned by uid {}, not {}", st.uid, euid()),
        ));
    }
    if st.mode != mode {
        dir.set_mode(mode)?;
    }
    Ok(dir)
}

/// Opens the directory `path`, creating what is missing (with `mode`). Inside the outermost of
/// `roots` that holds it (directories a sandboxed task could write), nothing is followed and every
/// directory must be ours: a task could have swapped any of them for a symlink. Outside every root
/// the path is the user's own and opened as given.
pub fn open_beneath(path: &Path, roots: &[PathBuf], mode: u32) -> Result<Dir> {
    use crate::policy::resolve::normalize;
    let path = if path.is_absolute() {
        normalize(path)
    } else {
        let cwd = std::env::current_dir().map_err(|e| FsError::io(path, e))?;
        normalize(&cwd.join(path))
    };
    let outermost = roots
        .iter()
        .map(|r| normalize(r))
        .filter(|r| path.starts_with(r))
        .min_by_key(|r| r.components().count());
    match outermost {
        None => Dir::anchor_creating(&path),
        Some(root) => {
            let below = path.strip_prefix(&root).unwrap_or(Path::new(""));
            Dir::anchor(&root)?.create_dirs(below, mode)
        }
    }
}

/// `path` as (parent, last component).
pub fn split(path: &Path) -> Result<(&Path, &OsStr)> {
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => Ok((parent, name)),
        _ => Err(FsError::io(
            path,
            io::Error::new(io::ErrorKind::InvalidInput, "needs a parent directory"),
        )),
    }
}

#[cfg(test)]
mod tests;
