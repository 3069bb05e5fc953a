//! The on-disk probe cache: small JSON files under `$XDG_CACHE_HOME/codex-launcher` (else
//! `~/.cache/codex-launcher`). Every entry carries the key it was computed for; an entry whose key
//! does not match, or a file that does not parse, is ignored and re-probed, never trusted.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

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

/// The directory for cache files, if one can be named.
pub fn cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .filter(|p| p.is_absolute())?;
    Some(base.join("codex-launcher"))
}

#[derive(Serialize, Deserialize)]
struct Stored<K, V> {
    key: K,
    value: V,
}

/// Reads `name` and returns its value if it was stored under `key`.
pub fn load<K: DeserializeOwned + PartialEq, V: DeserializeOwned>(
    name: &str,
    key: &K,
) -> Option<V> {
    let bytes = std::fs::read(cache_dir()?.join(name)).ok()?;
    let stored: Stored<K, V> = serde_json::from_slice(&bytes).ok()?;
    (stored.key == *key).then_some(stored.value)
}

/// Stores `value` under `key`, atomically; a cache that cannot be written is simply not used.
pub fn store<K: Serialize, V: Serialize>(name: &str, key: &K, value: &V) {
    let Some(dir) = cache_dir() else { return };
    let Ok(bytes) = serde_json::to_vec(&Stored { key, value }) else {
        return;
    };
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    if std::fs::write(&tmp, bytes).is_ok() && std::fs::rename(&tmp, dir.join(name)).is_ok() {
        tracing::debug!(cache = name, "probe cache written");
    } else {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// Changes whenever the machine reboots or boots another kernel.
pub fn boot_identity() -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{}/{}", boot.trim(), kernel.trim())
}

/// The namespaces a probe result depends on (a container or `unshare` changes them).
pub fn namespace_identity() -> String {
    ["user", "mnt", "pid"]
        .iter()
        .map(|ns| {
            std::fs::read_link(format!("/proc/self/ns/{ns}"))
                .map(|l| l.display().to_string())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(",")
}
