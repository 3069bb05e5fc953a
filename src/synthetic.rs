//! Bookkeeping for mount points bubblewrap creates on the host (reference codex-linux-sandbox.md §5.6).
//!
//! A missing `.agents` under a writable root is masked by a read-only tmpfs, and bubblewrap has to
//! create the directory on the host to mount on it. We remove it after the run, but only when no
//! other live sandbox still uses it: removing a mount point that another mount namespace uses
//! would detach that sandbox's mask. Each user of a target leaves a marker file
//! `REG/<fnv1a64(target)>/<pid>` saying `synthetic` (we created it) or `existing`; the format is the
//! one Codex's helper uses, so both can run side by side in one workspace.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::backend::bwrap::{SyntheticTarget, TargetKind};

/// FNV-1a 64 over the path bytes, as 16 hex digits.
pub fn target_hash(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in path.as_os_str().as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// The registry for this user: `<tmp>/codex-bwrap-synthetic-mount-targets-<uid>`.
pub fn registry_dir(temp_dir: &Path, uid: u32) -> PathBuf {
    temp_dir.join(format!("codex-bwrap-synthetic-mount-targets-{uid}"))
}

/// Markers this process holds, released by [`Registration::release`].
#[derive(Debug)]
pub struct Registration {
    registry: PathBuf,
    held: Vec<Held>,
}

#[derive(Debug)]
struct Held {
    target: SyntheticTarget,
    marker: PathBuf,
    synthetic: bool,
    /// (dev, ino) of a target that existed before, which must never be removed.
    preexisting_id: Option<(u64, u64)>,
}

/// Held while the registry is read or changed; released when dropped.
fn lock(registry: &Path) -> io::Result<crate::home::atomic::Lock> {
    crate::home::atomic::lock(&registry.join("lock"))
}

fn pid_alive(pid: i32) -> bool {
    pid > 0 && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

/// Live markers other than ours in `dir`, deleting stale ones; returns whether any live one says
/// `synthetic`, and whether any (live or stale) did.
fn scan_markers(dir: &Path, own: &Path) -> (bool, bool, bool) {
    let (mut live, mut live_synthetic, mut any_synthetic) = (false, false, false);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (false, false, false);
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path == own {
            continue;
        }
        let says_synthetic = std::fs::read_to_string(&path).is_ok_and(|s| s.trim() == "synthetic");
        any_synthetic |= says_synthetic;
        let pid = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
            .unwrap_or(0);
        if pid_alive(pid) {
            live = true;
            live_synthetic |= says_synthetic;
        } else {
            let _ = std::fs::remove_file(&path);
        }
    }
    (live, live_synthetic, any_synthetic)
}

/// Records this process as a user of every target. Must run before bubblewrap starts.
pub fn register(registry: &Path, targets: &[SyntheticTarget]) -> io::Result<Registration> {
    let mut registration = Registration {
        registry: registry.to_path_buf(),
        held: Vec::new(),
    };
    if targets.is_empty() {
        return Ok(registration);
    }
    let _guard = lock(registry)?;
    let pid = std::process::id();
    for target in targets {
        let dir = registry.join(target_hash(&target.path));
        std::fs::create_dir_all(&dir)?;
        let marker = dir.join(pid.to_string());
        let (_, live_synthetic, _) = scan_markers(&dir, &marker);
        // A target that "exists" only because another live sandbox created it is still synthetic.
        let synthetic = !target.preexisting || live_synthetic;
        let preexisting_id = if synthetic {
            None
        } else {
            std::fs::symlink_metadata(&target.path)
                .ok()
                .map(|m| (m.dev(), m.ino()))
        };
        std::fs::write(
            &marker,
            if synthetic {
                "synthetic\n"
            } else {
                "existing\n"
            },
        )?;
        registration.held.push(Held {
            target: target.clone(),
            marker,
            synthetic,
            preexisting_id,
        });
    }
    Ok(registration)
}

impl Registration {
    /// Drops our markers and removes each target nobody else uses, if it is still an empty
    /// placeholder that a sandbox created.
    pub fn release(self) -> io::Result<()> {
        if self.held.is_empty() {
            return Ok(());
        }
        let _guard = lock(&self.registry)?;
        for held in &self.held {
            let _ = std::fs::remove_file(&held.marker);
            let dir = held.marker.parent().expect("marker has a parent");
            let (live, _, any_synthetic) = scan_markers(dir, &held.marker);
            if live {
                continue;
            }
            if held.synthetic || any_synthetic {
                remove_placeholder(held);
            }
            // The target's registry entry goes with its last user, so the registry stays small.
            let _ = std::fs::remove_dir(dir);
        }
        Ok(())
    }
}

fn remove_placeholder(held: &Held) {
    let path = &held.target.path;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if held.preexisting_id == Some((meta.dev(), meta.ino())) {
        return;
    }
    let result = match held.target.kind {
        TargetKind::Dir if meta.is_dir() => std::fs::remove_dir(path),
        TargetKind::File if meta.is_file() && meta.len() == 0 => std::fs::remove_file(path),
        // It changed type or gained content: not ours any more.
        _ => Ok(()),
    };
    if let Err(e) = result {
        tracing::debug!(path = %path.display(), error = %e, "placeholder left in place");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_matches_the_shared_format() {
        assert_eq!(
            target_hash(Path::new("/tmp/ws/.agents")),
            "55f09e983bb675d5"
        );
    }

    #[test]
    fn created_placeholders_are_removed_and_preexisting_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let registry = dir.path().join("reg");
        std::fs::create_dir(&registry).unwrap();
        let created = dir.path().join(".agents");
        let kept = dir.path().join(".codex");
        std::fs::create_dir(&kept).unwrap();
        let targets = [
            SyntheticTarget {
                path: created.clone(),
                kind: TargetKind::Dir,
                preexisting: false,
            },
            SyntheticTarget {
                path: kept.clone(),
                kind: TargetKind::Dir,
                preexisting: true,
            },
        ];
        let registration = register(&registry, &targets).unwrap();
        std::fs::create_dir(&created).unwrap(); // what bubblewrap does
        registration.release().unwrap();
        assert!(!created.exists());
        assert!(kept.exists());
        let left: Vec<_> = std::fs::read_dir(&registry)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .filter(|n| n != "lock")
            .collect();
        assert!(left.is_empty(), "registry entries left: {left:?}");
    }
}
