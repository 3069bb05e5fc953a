//! The lock that serialises prepares of one per-task home. It lives outside the home, which Codex
//! and (under some outer layers) its commands can write: a lock file inside could be swapped for a
//! symlink or a FIFO by the task it serialises.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::fs::{self, Dir};

/// Where the lock for one home goes: a directory below an anchor, and the file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// A directory the user named (state dir, home dir or temp dir); not ours to check.
    pub anchor: PathBuf,
    /// Below the anchor; every component is created 0700 and must be ours.
    pub dir: PathBuf,
    /// `<16 hex digits of sha256(home path)>.lock`: any home path, `--home DIR` included.
    pub name: String,
}

impl Location {
    pub fn path(&self) -> PathBuf {
        self.anchor.join(&self.dir).join(&self.name)
    }
}

fn env_dir(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

/// `$XDG_STATE_HOME/codex-launcher/locks`, else `~/.local/state/codex-launcher/locks` when `$HOME`
/// is ours, else a private `codex-launcher-<uid>/locks` in the temp dir (a HOME that belongs to
/// someone else, as after `setpriv` without resetting it, is not ours to write).
pub fn location(home: &Path) -> Location {
    let digest = Sha256::digest(home.as_os_str().as_encoded_bytes());
    let name = format!(
        "{}.lock",
        digest
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let euid = nix::unistd::geteuid().as_raw();
    let own_home = env_dir("HOME").filter(|h| std::fs::metadata(h).is_ok_and(|m| m.uid() == euid));
    let (anchor, dir) = if let Some(state) = env_dir("XDG_STATE_HOME") {
        (state, PathBuf::from("codex-launcher/locks"))
    } else if let Some(h) = own_home {
        (h, PathBuf::from(".local/state/codex-launcher/locks"))
    } else {
        let temp = env_dir("TMPDIR").unwrap_or_else(|| PathBuf::from("/tmp"));
        (temp, PathBuf::from(format!("codex-launcher-{euid}/locks")))
    };
    Location { anchor, dir, name }
}

/// Takes the lock for `home`, waiting for another prepare of the same home to finish.
pub fn take(home: &Path) -> Result<fs::Lock, fs::FsError> {
    let at = location(home);
    let dir = Dir::anchor_creating(&at.anchor)?.create_dirs(&at.dir, 0o700)?;
    dir.lock(&at.name, true)
}

/// The launcher's own directory for `home` (where its lock lives) and the stem of the lock's
/// name, for other state about that home.
pub fn state_dir(home: &Path) -> Result<(Dir, String), fs::FsError> {
    let at = location(home);
    let dir = Dir::anchor_creating(&at.anchor)?.create_dirs(&at.dir, 0o700)?;
    let stem = at.name.trim_end_matches(".lock").to_owned();
    Ok((dir, stem))
}

/// [`state_dir`] when it already exists and is ours (nothing created).
pub fn open_state_dir(home: &Path) -> Option<(Dir, String)> {
    let at = location(home);
    let dir = Dir::anchor(&at.anchor)
        .ok()?
        .open_private_dirs(&at.dir)
        .ok()??;
    let stem = at.name.trim_end_matches(".lock").to_owned();
    Some((dir, stem))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_lock_name_per_home_path() {
        let a = location(Path::new("/srv/a/codex-home"));
        let b = location(Path::new("/srv/b/codex-home"));
        assert_ne!(a.name, b.name);
        assert_eq!(a.name.len(), 16 + ".lock".len());
        assert_eq!(a.name, location(Path::new("/srv/a/codex-home")).name);
        assert!(!a.path().starts_with("/srv/a/codex-home"));
    }
}
