//! Removing what a task may have built: nothing inside is followed, and depth costs neither
//! descriptors nor stack.

use std::ffi::{OsStr, OsString};

use nix::errno::Errno;

use super::{euid, temp_name, Dir, FsError, Kind, Result};

/// Directories deeper than this are moved up to the top before removal, so removing a tree a task
/// built never needs more than this many descriptors or stack frames.
pub(super) const REMOVE_DEPTH: usize = 32;

impl Dir {
    /// Removes `name` whatever it is; a directory with everything in it, without following any
    /// symlink inside. False when missing.
    pub fn remove_any(&self, name: impl AsRef<OsStr>) -> Result<bool> {
        let name = name.as_ref();
        match self.entry(name)? {
            None => Ok(false),
            Some(e) if e.kind == Kind::Dir => {
                // Out of the way first, under a name only we know, so the tree vanishes at once.
                let tmp = temp_name();
                self.rename_to(name, self, &tmp)?;
                self.remove_tree(&tmp)?;
                Ok(true)
            }
            Some(_) => self.remove(name),
        }
    }

    /// Removes the directory tree `name` here. Subtrees deeper than [`REMOVE_DEPTH`] are first
    /// moved up into this directory, so depth costs neither descriptors nor stack.
    fn remove_tree(&self, name: &OsStr) -> Result<()> {
        let mut pending = vec![name.to_os_string()];
        while let Some(next) = pending.pop() {
            self.remove_level(self, &next, 0, &mut pending)?;
        }
        Ok(())
    }

    fn remove_level(
        &self,
        parent: &Dir,
        name: &OsStr,
        depth: usize,
        pending: &mut Vec<OsString>,
    ) -> Result<()> {
        let opened = match parent.open_raw_dir(name) {
            // A task can take the bits away from what it built; what is ours can be removed anyway.
            Err(Errno::EACCES)
                if parent
                    .repair_mode(name, Kind::Dir, |m| m | 0o700)?
                    .is_some() =>
            {
                parent.open_raw_dir(name)
            }
            other => other,
        };
        let dir = match opened {
            Ok(dir) => dir,
            Err(Errno::ENOENT) => return Ok(()),
            Err(Errno::ENOTDIR | Errno::ELOOP) => return parent.remove(name).map(drop),
            Err(e) => return Err(FsError::io(&parent.child(name), e)),
        };
        let st = dir.stat()?;
        if st.mode & 0o300 != 0o300 && st.uid == euid() {
            // Without write and search its entries cannot be unlinked.
            dir.set_mode(st.mode | 0o700)?;
        }
        for child in dir.names()? {
            match dir.entry(&child)? {
                Some(e) if e.kind == Kind::Dir => {
                    if depth < REMOVE_DEPTH {
                        self.remove_level(&dir, &child, depth + 1, pending)?;
                    } else {
                        let tmp = temp_name();
                        dir.rename_to(&child, self, &tmp)?;
                        pending.push(tmp);
                    }
                }
                Some(_) => {
                    dir.remove(&child)?;
                }
                None => {}
            }
        }
        parent.remove_dir(name).map(drop)
    }
}
