//! Host files a bubblewrap launch needs before it starts: Codex's private daemon and registry
//! dirs in the shared temp dir, and the two placeholder files.

use std::path::Path;

use crate::exit::Failure;

/// `mkdir` with mode 0700. An existing one must be a real directory owned by us: these live in the
/// shared `/tmp`, where another user could have planted one.
pub fn create_private_dir(path: &Path) -> Result<(), Failure> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    match std::fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let meta = std::fs::symlink_metadata(path)
                .map_err(|e| Failure::refused(format!("cannot inspect {}: {e}", path.display())))?;
            if meta.is_dir() && meta.uid() == nix::unistd::getuid().as_raw() {
                Ok(())
            } else {
                Err(Failure::refused(format!(
                    "{} exists but is not a directory owned by this user; remove it and retry",
                    path.display()
                )))
            }
        }
        Err(e) => Err(Failure::refused(format!(
            "cannot create {}: {e}",
            path.display()
        ))),
    }
}

/// An empty placeholder file with exactly `mode`, in our private registry dir.
pub fn create_placeholder(path: &Path, mode: u32) -> Result<(), Failure> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
    let fail =
        |e: std::io::Error| Failure::refused(format!("cannot prepare {}: {e}", path.display()));
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() && meta.len() == 0 && meta.mode() & 0o7777 == mode => {
            return Ok(())
        }
        Ok(_) => std::fs::remove_file(path).map_err(fail)?,
        Err(_) => {}
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(fail)?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(fail)
}
