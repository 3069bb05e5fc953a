//! The on-disk probe cache: small JSON files under `$XDG_CACHE_HOME/codex-launcher` (else
//! `~/.cache/codex-launcher`). Every entry carries the key it was computed for; an entry whose key
//! does not match, or a file that does not parse, is ignored and re-probed. A matching entry is
//! still only a hint: it may cost a probe, never a weaker sandbox ([`CacheDir`]).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::fs::Dir;
use crate::policy::Policy;

/// Identity of a file as far as a cache is concerned: replacing or editing it changes the stamp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    pub path: PathBuf,
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
}

impl FileStamp {
    pub fn of(path: &Path) -> Option<Self> {
        let m = std::fs::metadata(path).ok()?;
        Some(Self {
            path: path.to_path_buf(),
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
            ctime_ns: m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128,
        })
    }
}

/// Where one launch may read and write probe verdicts: `$XDG_CACHE_HOME/codex-launcher`, else
/// `~/.cache/codex-launcher`, or nowhere.
///
/// A task can write anything inside its writable roots, and every key field of an entry (boot id,
/// kernel, namespaces, uid, sysctls) is readable inside the sandbox, so an entry proves nothing
/// about who wrote it. Hence: a cache inside a writable root of the current launch is neither read
/// nor written; the directory and each file must be ours and writable only by us; and the callers
/// take only verdicts that cannot weaken a launch from it (see `host`, `proc_mount`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheDir {
    /// (anchor the user named, path below it), when usable.
    place: Option<(PathBuf, PathBuf)>,
}

impl CacheDir {
    /// The user's cache dir, unless it lies inside one of the launch's `writable_roots`.
    pub fn for_launch(writable_roots: &[PathBuf]) -> Self {
        Self::at(Self::default_place(), writable_roots)
    }

    /// The cache at `place` (anchor, path below it) for a launch with `writable_roots`.
    pub(crate) fn at(place: Option<(PathBuf, PathBuf)>, writable_roots: &[PathBuf]) -> Self {
        let place = place.filter(|(anchor, below)| {
            let dir = resolved(&anchor.join(below));
            let inside = writable_roots.iter().any(|w| dir.starts_with(resolved(w)));
            if inside {
                tracing::debug!(cache = %dir.display(), "probe cache is inside a writable root: not used");
            }
            !inside
        });
        Self { place }
    }

    /// [`CacheDir::for_launch`] with the writable roots of `policy` (all of `/` when the policy
    /// leaves the whole filesystem writable).
    pub fn for_policy(policy: &Policy) -> Self {
        Self::for_launch(&policy.writable_roots())
    }

    /// No cache: every verdict is probed.
    pub fn disabled() -> Self {
        Self { place: None }
    }

    fn default_place() -> Option<(PathBuf, PathBuf)> {
        let absolute = |var: &str| {
            std::env::var_os(var)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
        };
        match absolute("XDG_CACHE_HOME") {
            Some(xdg) => Some((xdg, PathBuf::from("codex-launcher"))),
            None => absolute("HOME").map(|h| (h, PathBuf::from(".cache/codex-launcher"))),
        }
    }

    /// The directory, when this launch may use one.
    pub fn path(&self) -> Option<PathBuf> {
        self.place.as_ref().map(|(a, b)| a.join(b))
    }

    /// Reads `name` and returns its value if it was stored under `key`. Nothing is changed: a
    /// directory or file that is not ours, or that others could write, is simply not used.
    pub fn load<K: DeserializeOwned + PartialEq, V: DeserializeOwned>(
        &self,
        name: &str,
        key: &K,
    ) -> Option<V> {
        let (anchor, below) = self.place.as_ref()?;
        let dir = Dir::anchor(anchor).ok()?.open_private_dirs(below).ok()??;
        // A record is a few hundred bytes.
        let bytes = dir.read_private_file(name, 64 << 10).ok()??;
        let stored: Stored<K, V> = serde_json::from_slice(&bytes).ok()?;
        (stored.key == *key).then_some(stored.value)
    }

    /// Stores `value` under `key`, atomically; a cache that cannot be written is simply not used.
    pub fn store<K: Serialize, V: Serialize>(&self, name: &str, key: &K, value: &V) {
        let Some((anchor, below)) = &self.place else {
            return;
        };
        let Ok(bytes) = serde_json::to_vec(&Stored { key, value }) else {
            return;
        };
        let written = Dir::anchor_creating(anchor)
            .and_then(|a| a.create_dirs(below, 0o700))
            .and_then(|dir| dir.write_file(name, &bytes, 0o600));
        match written {
            Ok(()) => tracing::debug!(cache = name, "probe cache written"),
            Err(e) => tracing::debug!(cache = name, error = %e, "probe cache not written"),
        }
    }
}

/// `path` with symlinks resolved as far as it exists (the rest appended as is).
fn resolved(path: &Path) -> PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = crate::fs::canonicalize(&existing) {
            return rest
                .iter()
                .rev()
                .fold(real, |p, c: &std::ffi::OsString| p.join(c));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent.to_path_buf();
            }
            _ => return crate::policy::resolve::normalize(path),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Stored<K, V> {
    key: K,
    value: V,
}

/// Changes whenever the machine reboots or boots another kernel. Read once per process: two
/// probe caches key on it.
pub fn boot_identity() -> String {
    static ONCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
        format!("{}/{}", boot.trim(), kernel_release())
    })
    .clone()
}

/// The running kernel's release (`uname -r`), read once per process: the host facts and both
/// probe caches' keys name it.
pub fn kernel_release() -> &'static str {
    static ONCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string()
    })
}

/// The namespaces a probe result depends on (a container or `unshare` changes them). Read once
/// per process: the launcher never moves itself into other namespaces (its probes are children).
pub fn namespace_identity() -> String {
    static ONCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        ["user", "mnt", "pid"]
            .iter()
            .map(|ns| {
                std::fs::read_link(format!("/proc/self/ns/{ns}"))
                    .map(|l| l.display().to_string())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(",")
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn cache_in(base: &Path, roots: &[PathBuf]) -> CacheDir {
        CacheDir::at(
            Some((base.to_path_buf(), PathBuf::from("c/codex-launcher"))),
            roots,
        )
    }

    #[test]
    fn a_cache_inside_a_writable_root_is_neither_read_nor_written() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().canonicalize().unwrap();
        let outside = cache_in(&base, &[base.join("elsewhere")]);
        assert!(outside.path().is_some());
        outside.store("v.json", &1, &"kept");
        assert_eq!(
            outside.load::<i32, String>("v.json", &1).as_deref(),
            Some("kept")
        );
        for root in [base.clone(), base.join("c"), PathBuf::from("/")] {
            let inside = cache_in(&base, std::slice::from_ref(&root));
            assert_eq!(inside.path(), None, "{}", root.display());
            assert_eq!(inside.load::<i32, String>("v.json", &1), None);
        }
        // Through a symlink to it, too.
        std::os::unix::fs::symlink(&base, base.join("alias")).unwrap();
        assert_eq!(cache_in(&base, &[base.join("alias")]).path(), None);
    }

    #[test]
    fn entries_others_could_write_are_not_used() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().canonicalize().unwrap();
        let cache = cache_in(&base, &[]);
        cache.store("v.json", &1, &true);
        let dir = base.join("c/codex-launcher");
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(
            cache.load::<i32, bool>("v.json", &1),
            None,
            "group/other-writable dir"
        );
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(dir.join("v.json"), std::fs::Permissions::from_mode(0o666))
            .unwrap();
        assert_eq!(
            cache.load::<i32, bool>("v.json", &1),
            None,
            "group/other-writable file"
        );
        cache.store("v.json", &1, &true);
        assert_eq!(cache.load::<i32, bool>("v.json", &1), Some(true));
        assert_eq!(cache.load::<i32, bool>("v.json", &2), None, "another key");
    }

    #[test]
    fn a_store_never_writes_through_a_planted_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().canonicalize().unwrap();
        let victim = base.join("victim");
        std::fs::write(&victim, "original").unwrap();
        let dir = base.join("c/codex-launcher");
        std::fs::create_dir_all(&dir).unwrap();
        for name in [
            "v.json".to_string(),
            format!(".v.json.{}", std::process::id()),
        ] {
            std::os::unix::fs::symlink(&victim, dir.join(name)).unwrap();
        }
        let cache = cache_in(&base, &[]);
        assert_eq!(cache.load::<i32, bool>("v.json", &1), None);
        cache.store("v.json", &1, &true);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "original");
        assert!(std::fs::symlink_metadata(dir.join("v.json"))
            .unwrap()
            .is_file());
        // A symlinked cache dir is not used at all.
        let moved = base.join("d");
        std::fs::create_dir(&moved).unwrap();
        std::os::unix::fs::symlink(&moved, base.join("c2")).unwrap();
        let linked = CacheDir::at(
            Some((base.clone(), PathBuf::from("c2/codex-launcher"))),
            &[],
        );
        linked.store("v.json", &1, &true);
        assert!(std::fs::read_dir(&moved).unwrap().next().is_none());
    }
}
