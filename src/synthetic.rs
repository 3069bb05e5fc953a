//! Bookkeeping for mount points bubblewrap creates on the host (reference codex-linux-sandbox.md §5.6).
//!
//! A missing `.agents` under a writable root is masked by a read-only tmpfs, and bubblewrap has to
//! create the directory on the host to mount on it. We remove it after the run, but only when no
//! other live sandbox still uses it: removing a mount point that another mount namespace uses
//! would detach that sandbox's mask. Each user of a target leaves a marker file
//! `REG/<fnv1a64(target)>/<pid>` saying `synthetic` (we created it) or `existing`; the format is the
//! one Codex's helper uses, so both can run side by side in one workspace.
//!
//! The registry lives in the temp dir, which a Landlock-sandboxed task can write. So it must be a
//! real directory owned by us (mode 0700), every operation in it goes through [`crate::fs`], and a
//! marker a task planted can at worst keep an empty placeholder around, or have an empty one
//! removed that a planted dead `synthetic` marker claims (an empty directory or file named like a
//! mount point), never redirect a write or remove anything with content.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::backend::bwrap::{SyntheticTarget, TargetKind, PROTECTED_NAMES};
use crate::fs::{self, Dir, FsError, Kind};
use crate::policy::{Access, FileSystem, Policy};

/// Mode of the registry and of every entry directory in it.
const PRIVATE: u32 = 0o700;
/// The registry's lock file (kept: helper launches are the hot path).
const LOCK: &str = "lock";
/// How long after its marker was written a dead launch's bubblewrap may still be making mount
/// points. A launcher killed during setup leaves a bubblewrap that goes only when the parent-death
/// signal reaches it (and its sandbox's setup after that); a marker pruned meanwhile would leave
/// a mount point it makes late with nobody to say it is synthetic, kept for ever.
const SETUP_GRACE_SECS: i64 = 60;

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

/// Creates what a bubblewrap plan binds from the host: Codex's app-server socket dir and the
/// registry (private dirs owned by us, mode fixed to 0700, anything else refused: both live in a
/// temp dir others can write) and the empty placeholder files, each `(path, mode)`, which must be
/// directly in the registry.
pub fn create_host_files(
    daemon_dir: &Path,
    registry: &Path,
    placeholders: &[(&Path, u32)],
) -> Result<(), FsError> {
    fs::private_dir(daemon_dir, PRIVATE)?;
    let reg = fs::private_dir(registry, PRIVATE)?;
    for (path, mode) in placeholders {
        let (parent, name) = fs::split(path)?;
        if parent != registry {
            return Err(FsError::Untrusted {
                path: path.to_path_buf(),
                reason: format!("placeholders belong in {}", registry.display()),
            });
        }
        reg.placeholder(name, *mode)?;
    }
    Ok(())
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
    hash: String,
    synthetic: bool,
    /// (dev, ino) of a target that existed before, which must never be removed.
    preexisting_id: Option<(u64, u64)>,
}

/// `kill(pid, 0)`: EPERM still means the process exists.
fn pid_alive(pid: i32) -> bool {
    pid > 0
        && !matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
            Err(nix::errno::Errno::ESRCH)
        )
}

/// Whether the marker `name`, written at `written`, belongs to a live process: its pid exists and
/// that process is not younger than the marker. pid_max is often 32768, so pids come round
/// again; a process that started after the marker was written only reuses the dead writer's pid.
fn marker_alive(name: &OsStr, written: i64) -> bool {
    let pid = marker_pid(name);
    // Start times have a one-second grain (boot time in seconds); allow for it.
    pid_alive(pid) && process_start(pid).is_none_or(|started| started <= written + 2)
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// When process `pid` started, in seconds since the epoch, from `/proc` (None if unreadable).
fn process_start(pid: i32) -> Option<i64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // starttime is field 22.
    let ticks: i64 = crate::proc_stat::field(&stat, 22)?;
    let boot = boot_time()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| boot + ticks / hz)
}

/// The boot time (`btime` of `/proc/stat`), read once per process: it never changes, and
/// `/proc/stat` is dear to generate, which with many concurrent launches in one workspace (one
/// check per live marker, under the registry lock) serialised them.
fn boot_time() -> Option<i64> {
    static BOOT: std::sync::OnceLock<Option<i64>> = std::sync::OnceLock::new();
    *BOOT.get_or_init(|| {
        std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()
    })
}

fn marker_pid(name: &OsStr) -> i32 {
    name.to_str()
        .and_then(|s| s.parse::<i32>().ok())
        .unwrap_or(0)
}

/// What the markers in one entry say, other than `own`.
#[derive(Debug, Default)]
struct Scan {
    /// Markers of dead processes written longer than [`SETUP_GRACE_SECS`] ago, safe to prune.
    stale: Vec<std::ffi::OsString>,
    live: bool,
    any_synthetic: bool,
}

/// How much of an entry a caller needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Only whether any marker, live or dead, says `synthetic` (no liveness checks).
    Says,
    /// Whether a live user is left; when none is, also what the dead ones said. Stops at the
    /// first live marker: with many concurrent launches in one workspace, each release would
    /// otherwise check every other launch's marker under the registry lock.
    LiveOrStale,
}

/// Reads the markers in `entry` (skipping `own`). A marker is only read if it is a small regular
/// file; a symlink, FIFO, large or unreadable file counts as a marker saying nothing.
///
/// Each marker is looked at with one `stat`, and only one that could say `synthetic` is opened:
/// when many launches share a workspace, an entry holds a marker per launch, and reading every
/// one of them, for every target, under the registry lock serialised the launches.
fn scan_markers(entry: &Dir, own: &str, need: Need) -> Result<Scan, FsError> {
    let mut scan = Scan::default();
    let now = now_secs();
    for name in entry.names()? {
        if name == own {
            continue;
        }
        let found = match entry.entry(&name) {
            Ok(Some(found)) => found,
            Ok(None) => continue,
            // A marker that cannot even be looked at says nothing, as one that cannot be read;
            // a release needs its liveness, so there it is an error, as before.
            Err(_) if need == Need::Says => continue,
            Err(e) => return Err(e),
        };
        if need == Need::LiveOrStale {
            let written = found.mtime;
            if marker_alive(&name, written) {
                scan.live = true;
                return Ok(scan);
            }
            // A name no process could have, or a time from the future, is debris (or planted):
            // it would otherwise never age.
            let debris = marker_pid(&name) <= 0 || written > now + SETUP_GRACE_SECS;
            if debris || now - written > SETUP_GRACE_SECS {
                scan.stale.push(name.clone());
            }
        }
        if !scan.any_synthetic && says_synthetic(entry, &name, &found) {
            scan.any_synthetic = true;
            if need == Need::Says {
                return Ok(scan);
            }
        }
    }
    Ok(scan)
}

/// What a marker holding `synthetic` holds: what Codex's helper and we write.
const SYNTHETIC: &[u8] = b"synthetic\n";

/// Whether the marker `name` (`found` by a `stat`) says `synthetic`. A marker is a word: anything
/// larger, unreadable or not a regular file (a task can write the registry under Landlock) says
/// nothing, and never costs a launch its memory or its start. Nor does a file shorter than
/// `synthetic\n`, such as every `existing\n`, which is then not even opened: reading a marker as
/// `existing` only ever keeps a placeholder around, never removes one.
fn says_synthetic(entry: &Dir, name: &OsStr, found: &fs::Entry) -> bool {
    const MARKER_MAX: u64 = 64;
    if found.kind != Kind::File || found.size < SYNTHETIC.len() as u64 || found.size > MARKER_MAX {
        return false;
    }
    entry
        .read_file_at_most(name, MARKER_MAX)
        .ok()
        .flatten()
        .is_some_and(|b| String::from_utf8_lossy(&b).trim() == "synthetic")
}

/// Deletes the markers a scan found stale.
fn prune(entry: &Dir, scan: &Scan) {
    for name in &scan.stale {
        // What cannot go now (a task's unreadable tree) is tried again by the next release.
        if let Err(e) = entry.remove_any(name) {
            tracing::debug!(error = %e, "stale marker left");
        }
    }
}

/// Removes the marker `name`: one unlink for the file it should be; whatever else a task put
/// there instead goes too, without being followed.
fn remove_marker(entry: &Dir, name: &str) -> Result<(), FsError> {
    match entry.remove(name) {
        Err(e) if e.errno() == Some(nix::errno::Errno::EISDIR) => entry.remove_any(name).map(drop),
        other => other.map(drop),
    }
}

/// Opens the registry and takes its lock.
fn open_locked(registry: &Path) -> Result<(Dir, fs::Lock), FsError> {
    let reg = fs::private_dir(registry, PRIVATE)?;
    let lock = reg.lock(LOCK, false)?;
    Ok((reg, lock))
}

/// Writes our marker `own` in `entry`, saying `synthetic` or `existing`. The first `synthetic`
/// marker of a launch is a new file and its other `synthetic` markers are hard links to it: a new
/// inode costs ext4 (a common `/tmp`) about three times a link, and a launch in a workspace with
/// `/tmp` writable creates eight mount points. Should a link fail (no `/proc`), the marker is a
/// file of its own.
///
/// `existing` markers are always files of their own. Codex's helper writes its marker by name,
/// truncating whatever is there: after a launch of ours is killed, one whose pid it gets would
/// rewrite every link of a shared marker at once. Turning shared `synthetic` markers into
/// `existing` only keeps that launch's placeholders around; turning shared `existing` ones into
/// `synthetic` would have a user's own empty `.agents` in another workspace removed.
fn place_marker(
    entry: &Dir,
    own: &str,
    synthetic: bool,
    first_synthetic: &mut Option<std::fs::File>,
) -> Result<(), FsError> {
    if let (true, Some(file)) = (synthetic, first_synthetic.as_ref()) {
        match replacing_own(entry, own, || entry.link_new(file, own)) {
            Ok(()) => return Ok(()),
            Err(e) => tracing::debug!(error = %e, "marker not linked; writing it"),
        }
    }
    let mut file = replacing_own(entry, own, || entry.create_new(own, 0o644))?;
    let text: &[u8] = if synthetic { SYNTHETIC } else { b"existing\n" };
    std::io::Write::write_all(&mut file, text).map_err(|e| FsError::Io {
        path: entry.path().join(own),
        source: e,
    })?;
    if synthetic && first_synthetic.is_none() {
        *first_synthetic = Some(file);
    }
    Ok(())
}

/// Runs `make`, which creates our marker `own` exclusively; if something is there already, a
/// marker of a dead process that had our pid before (or anything a task planted: it is never
/// followed), removes it and runs `make` again.
fn replacing_own<T>(
    entry: &Dir,
    own: &str,
    make: impl Fn() -> Result<T, FsError>,
) -> Result<T, FsError> {
    match make() {
        Err(e) if e.errno() == Some(nix::errno::Errno::EEXIST) => {
            remove_marker(entry, own)?;
            make()
        }
        other => other,
    }
}

/// Records this process as a user of every target. Must run before bubblewrap starts.
pub fn register(registry: &Path, targets: &[SyntheticTarget]) -> Result<Registration, FsError> {
    let mut registration = Registration {
        registry: registry.to_path_buf(),
        held: Vec::new(),
    };
    if targets.is_empty() {
        return Ok(registration);
    }
    let (reg, _guard) = open_locked(registry)?;
    let own = std::process::id().to_string();
    let mut first_synthetic = None;
    for target in targets {
        let hash = target_hash(&target.path);
        // An entry stays between launches: creating and removing a directory costs a quarter of
        // a millisecond each on ext4, eight targets a launch. A fresh one, made by us under the
        // lock in our private registry, holds no markers.
        let (entry, fresh) = match reg.open_dir(&hash) {
            Ok(Some(entry)) => (entry, false),
            Ok(None) => match reg.create_fresh_dir(&hash, PRIVATE)? {
                Some(entry) => (entry, true),
                None => (reg.create_dir(&hash, PRIVATE)?, false),
            },
            // A symlink or file at an entry's name is debris (or planted): ours to clear. An entry
            // someone else owns is refused again by create_dir.
            Err(FsError::Untrusted { .. }) => {
                reg.clear_non_dir(&hash)?;
                (reg.create_dir(&hash, PRIVATE)?, false)
            }
            Err(e) => return Err(e),
        };
        // A target that "exists" only because a sandbox created it is still synthetic: one that
        // is live, or one that died without cleaning up (its bubblewrap may even have made the
        // mount point after the launcher was killed, too late for the sweep). So for a target
        // that exists, every marker, live or not, is read. Stale ones are left for the release
        // (or the sweep) that finds no live user: until then they still say what they said.
        // One the plan saw but that is gone now was another launch's placeholder, released
        // between our plan and this lock: bubblewrap recreates it, so it is ours to remove.
        let any_synthetic =
            target.preexisting && !fresh && scan_markers(&entry, &own, Need::Says)?.any_synthetic;
        let on_disk_id = target
            .preexisting
            .then(|| std::fs::symlink_metadata(&target.path).ok())
            .flatten()
            .map(|m| {
                use std::os::unix::fs::MetadataExt;
                (m.dev(), m.ino())
            });
        let synthetic = !target.preexisting || any_synthetic || on_disk_id.is_none();
        let preexisting_id = if synthetic { None } else { on_disk_id };
        place_marker(&entry, &own, synthetic, &mut first_synthetic)?;
        registration.held.push(Held {
            target: target.clone(),
            hash,
            synthetic,
            preexisting_id,
        });
    }
    Ok(registration)
}

impl Registration {
    /// Drops our markers and removes each target nobody else uses, if it is still an empty
    /// placeholder that a sandbox created.
    pub fn release(self) -> Result<(), FsError> {
        if self.held.is_empty() {
            return Ok(());
        }
        let (reg, _guard) = open_locked(&self.registry)?;
        let own = std::process::id().to_string();
        for held in &self.held {
            let Some(entry) = reg.open_dir(&held.hash)? else {
                continue;
            };
            // The placeholder goes before the markers that say whose it is: a release killed
            // half-way leaves markers without a placeholder (harmless), never the reverse.
            let scan = scan_markers(&entry, &own, Need::LiveOrStale)?;
            if scan.live {
                remove_marker(&entry, &own)?;
                continue;
            }
            if held.synthetic || scan.any_synthetic {
                remove_placeholder(
                    &held.target.path,
                    Some(held.target.kind),
                    held.preexisting_id,
                );
            }
            prune(&entry, &scan);
            remove_marker(&entry, &own)?;
            // The empty entry stays for the next launch (see register); the temp dir's cleaner
            // or a reboot takes the ones no launch uses any more.
        }
        Ok(())
    }
}

/// Removes `path` if it is still an empty directory or an empty regular file (of `kind`, when
/// known) and not the pre-existing inode. Its parent is a writable root the user named; the
/// placeholder itself is never followed.
fn remove_placeholder(path: &Path, kind: Option<TargetKind>, preexisting_id: Option<(u64, u64)>) {
    let result = (|| -> Result<bool, FsError> {
        let (parent, name) = fs::split(path)?;
        let parent = Dir::anchor(parent)?;
        let Some(found) = parent.entry(name)? else {
            return Ok(false);
        };
        if preexisting_id == Some((found.dev, found.ino)) {
            return Ok(false);
        }
        match (found.kind, kind) {
            // rmdir fails on a directory that gained content: then it is not ours any more.
            (Kind::Dir, Some(TargetKind::Dir) | None) => parent.remove_dir(name),
            (Kind::File, Some(TargetKind::File) | None) if found.size == 0 => parent.remove(name),
            _ => Ok(false),
        }
    })();
    match result {
        Ok(removed) => tracing::debug!(path = %path.display(), removed, "placeholder cleanup"),
        Err(e) => tracing::debug!(path = %path.display(), error = %e, "placeholder left in place"),
    }
}

/// Whether `path` looks like a placeholder a killed launch left: an empty directory or an empty
/// regular file (one `lstat`, plus a directory read for a directory).
fn looks_left_over(path: &Path) -> bool {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_none()),
        Ok(m) => m.is_file() && m.len() == 0,
        Err(_) => false,
    }
}

/// Call before planning a launch. Finds the placeholders of `candidates` (the `.git`, `.codex`,
/// `.agents`, `.aws` paths a plan may mount over) that a killed launch left behind: still empty,
/// with only dead users in the registry, at least one of which created it (`synthetic`). Removes
/// them, so the next plan is the one a clean run would make. Touches the registry only when some
/// candidate exists as an empty directory or file. Returns what it removed.
pub fn sweep_leftovers(registry: &Path, candidates: &[PathBuf]) -> Vec<PathBuf> {
    let suspects: Vec<&PathBuf> = candidates.iter().filter(|p| looks_left_over(p)).collect();
    if suspects.is_empty() {
        return Vec::new();
    }
    let swept = (|| -> Result<Vec<PathBuf>, FsError> {
        let (parent, name) = fs::split(registry)?;
        // A registry that does not exist knows of no leftovers; do not create one here.
        let Some(reg) = Dir::anchor(parent)?.open_dir(name)? else {
            return Ok(Vec::new());
        };
        // A look without the lock first: an entry with no marker at all (a pre-existing empty
        // `/tmp/.git`, say) names nothing to sweep, and most launches then take no lock here.
        // What the look finds is checked again under the lock.
        let marked = |path: &&PathBuf| {
            reg.open_dir(target_hash(path))
                .ok()
                .flatten()
                .is_some_and(|entry| entry.names().is_ok_and(|n| !n.is_empty()))
        };
        let suspects: Vec<&PathBuf> = suspects.into_iter().filter(marked).collect();
        if suspects.is_empty() {
            return Ok(Vec::new());
        }
        reg.set_mode(PRIVATE)?;
        let _guard = reg.lock(LOCK, false)?;
        let mut removed = Vec::new();
        for path in suspects {
            let hash = target_hash(path);
            let Some(entry) = reg.open_dir(&hash)? else {
                continue;
            };
            // Stale markers stay: a killed launch's bubblewrap can still be making this mount
            // point; if it reappears, the next launch knows whose it is. A later launch's
            // release prunes them.
            let scan = scan_markers(&entry, "", Need::LiveOrStale)?;
            if scan.live || !scan.any_synthetic {
                continue;
            }
            remove_placeholder(path, None, None);
            if std::fs::symlink_metadata(path).is_err() {
                removed.push(path.clone());
            }
        }
        Ok(removed)
    })();
    swept.unwrap_or_else(|e| {
        tracing::debug!(error = %e, "leftover mount targets not swept");
        Vec::new()
    })
}

/// The paths a bubblewrap plan for `policy` may create as mount points on the host: the protected
/// names in every writable root, and every path from a writable root down to a read-only or
/// denied entry inside it (the first missing one becomes an empty placeholder file).
pub fn leftover_candidates(policy: &Policy) -> Vec<PathBuf> {
    let FileSystem::Restricted(rules) = &policy.file_system else {
        return Vec::new();
    };
    let writable = rules.paths_with(Access::Write);
    let mut out: Vec<PathBuf> = Vec::new();
    for root in &writable {
        out.extend(PROTECTED_NAMES.iter().map(|n| root.join(n)));
    }
    for access in [Access::Read, Access::Deny] {
        for path in rules.paths_with(access) {
            let Some(root) = writable
                .iter()
                .filter(|w| path.starts_with(w) && path != **w)
                .max_by_key(|w| w.as_os_str().len())
            else {
                continue;
            };
            let mut current = root.clone();
            for part in path
                .strip_prefix(root)
                .into_iter()
                .flat_map(Path::components)
            {
                current.push(part);
                out.push(current.clone());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// [`sweep_leftovers`] for a launch with `policy`, in this user's registry under `temp_dir`.
pub fn sweep_for_policy(policy: &Policy, temp_dir: &Path) -> Vec<PathBuf> {
    let candidates = leftover_candidates(policy);
    if candidates.is_empty() {
        return Vec::new();
    }
    let registry = registry_dir(temp_dir, nix::unistd::getuid().as_raw());
    let removed = sweep_leftovers(&registry, &candidates);
    if !removed.is_empty() {
        tracing::debug!(?removed, "removed mount points a killed launch left");
    }
    removed
}

#[cfg(test)]
#[path = "synthetic_tests.rs"]
mod tests;
