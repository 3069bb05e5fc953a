//! Creating files, links and directories under temp names and renaming them into place.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Write;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use super::{component, euid, fd_path, temp_name, Dir, FsError, Kind, Result};

impl Dir {
    /// Creates `name` as a new file with exactly `mode`; fails if anything is there already.
    pub fn create_new(&self, name: impl AsRef<OsStr>, mode: u32) -> Result<File> {
        let name = component(&self.path, name.as_ref())?;
        let fd = nix::fcntl::openat(
            &self.fd,
            name,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(mode),
        )
        .map_err(|e| FsError::io(&self.child(name), e))?;
        nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(mode))
            .map_err(|e| FsError::io(&self.child(name), e))?;
        Ok(File::from(fd))
    }

    /// Makes `name` a new hard link to the open `file` (the very inode, not whatever its name
    /// now holds); fails if anything is at `name` already. Through `/proc/self/fd`, as linking a
    /// descriptor directly (`AT_EMPTY_PATH`) needs CAP_DAC_READ_SEARCH.
    pub fn link_new(&self, file: &File, name: impl AsRef<OsStr>) -> Result<()> {
        let name = component(&self.path, name.as_ref())?;
        nix::unistd::linkat(
            nix::fcntl::AT_FDCWD,
            fd_path(file).as_str(),
            &self.fd,
            name,
            nix::fcntl::AtFlags::AT_SYMLINK_FOLLOW,
        )
        .map_err(|e| FsError::io(&self.child(name), e))
    }

    /// A new file under a fresh temp name in this directory.
    fn create_temp(&self, mode: u32) -> Result<(OsString, File)> {
        loop {
            let name = temp_name();
            match self.create_new(&name, mode) {
                Err(e) if e.errno() == Some(Errno::EEXIST) => continue,
                other => return other.map(|f| (name, f)),
            }
        }
    }

    /// Replaces `name` with `bytes` (mode `mode`): a temp file here, fsync, rename, fsync of the
    /// directory. Readers see the old file or the new one; a symlink at `name` is replaced, never
    /// followed.
    pub fn write_file(&self, name: impl AsRef<OsStr>, bytes: &[u8], mode: u32) -> Result<()> {
        self.write_file_into(self, name, bytes, mode)
    }

    /// [`Dir::write_file`] for `dest/name`, with the temp file in this directory, so every temp
    /// file of a tree lives in one place (same filesystem: `dest` must be below this directory).
    pub fn write_file_into(
        &self,
        dest: &Dir,
        name: impl AsRef<OsStr>,
        bytes: &[u8],
        mode: u32,
    ) -> Result<()> {
        let name = component(&dest.path, name.as_ref())?;
        let (tmp, mut file) = self.create_temp(mode)?;
        let result = file
            .write_all(bytes)
            .and_then(|_| file.sync_all())
            .map_err(|e| FsError::io(&self.child(&tmp), e))
            .and_then(|_| self.rename_to(&tmp, dest, name));
        if result.is_err() {
            let _ = self.remove(&tmp);
        }
        result?;
        dest.sync()
    }

    /// Makes `name` a symlink to `target`, atomically replacing whatever non-directory is there.
    pub fn symlink(&self, target: &Path, name: impl AsRef<OsStr>) -> Result<()> {
        let name = component(&self.path, name.as_ref())?;
        let tmp = loop {
            let tmp = temp_name();
            match nix::unistd::symlinkat(target, &self.fd, tmp.as_os_str()) {
                Ok(()) => break tmp,
                Err(Errno::EEXIST) => continue,
                Err(e) => return Err(FsError::io(&self.child(&tmp), e)),
            }
        };
        if let Err(e) = self.rename_to(&tmp, self, name) {
            let _ = self.remove(&tmp);
            return Err(e);
        }
        self.sync()
    }

    /// A new empty directory under a temp name here (mode `mode`).
    pub fn create_temp_dir(&self, mode: u32) -> Result<(OsString, Dir)> {
        loop {
            let name = temp_name();
            match nix::sys::stat::mkdirat(
                &self.fd,
                name.as_os_str(),
                Mode::from_bits_truncate(mode),
            ) {
                Ok(()) => {
                    let dir = self
                        .open_raw_dir(&name)
                        .map_err(|e| FsError::io(&self.child(&name), e))?;
                    dir.set_mode(mode)?;
                    return Ok((name, dir));
                }
                Err(Errno::EEXIST) => continue,
                Err(e) => return Err(FsError::io(&self.child(&name), e)),
            }
        }
    }

    /// An empty regular file `name` with exactly `mode`, replacing anything else at that name
    /// (a placeholder bubblewrap binds; never opened for writing if it is already right).
    /// Concurrent launches may make the same placeholder: each renames its own fresh file into
    /// place, so the name never goes missing and nobody fails on another's creation.
    pub fn placeholder(&self, name: impl AsRef<OsStr>, mode: u32) -> Result<()> {
        let name = name.as_ref();
        if matches!(self.entry(name)?, Some(e) if e.kind == Kind::File && e.size == 0 && e.mode == mode && e.uid == euid())
        {
            return Ok(());
        }
        let (tmp, file) = self.create_temp(mode)?;
        drop(file);
        let mut result = self.rename_to(&tmp, self, name);
        for _ in 0..3 {
            match &result {
                Err(e) if matches!(e.errno(), Some(Errno::EISDIR | Errno::ENOTEMPTY)) => {}
                _ => break,
            }
            // A directory is there (planted): rename cannot replace it with a file. Another
            // launch may be removing it at the same time.
            result = match self.remove_any(name) {
                Err(e) if e.errno() != Some(Errno::ENOENT) => Err(e),
                _ => self.rename_to(&tmp, self, name),
            };
        }
        if result.is_err() {
            let _ = self.remove(&tmp);
        }
        result
    }
}
