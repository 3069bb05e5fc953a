//! What this host can enforce (DESIGN §3): kernel, user namespaces, Landlock, seccomp state, AppArmor's
//! userns restriction, container and nesting hints. Only the user-namespace test can create a
//! process, and only when user namespaces work; that verdict is cached per boot, kernel, namespaces,
//! uid and the sysctls that decide it, so a warm launch creates none. "Unavailable" is never taken
//! from the cache: it would move the launch down to Landlock, and a forged cache must not do that.

use serde::{Deserialize, Serialize};

use super::cache::{self, CacheDir};

/// Everything the ladder and `doctor` look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostFacts {
    pub os: String,
    pub kernel: String,
    pub userns: UsernsVerdict,
    /// `Ok(abi)`, or why Landlock cannot be used.
    #[serde(serialize_with = "landlock_json")]
    pub landlock: Result<u32, String>,
    /// `Seccomp:` of this process: 0 none, 1 strict, 2 filter.
    pub seccomp_mode: u32,
    pub no_new_privs: bool,
    /// `kernel.apparmor_restrict_unprivileged_userns`, where it exists.
    pub apparmor_restrict_userns: Option<bool>,
    /// `user.max_user_namespaces`.
    pub max_user_namespaces: Option<u64>,
    /// `kernel.unprivileged_userns_clone` (Debian's older switch), where it exists.
    pub unprivileged_userns_clone: Option<bool>,
    pub uid: u32,
    /// Why we think this is a container, if we do.
    pub container: Option<String>,
    /// Signs that we already run inside a sandbox.
    pub inside_sandbox: Vec<String>,
}

/// Result of trying to create a user namespace and use it as bubblewrap would.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsernsVerdict {
    pub available: bool,
    /// The step that failed: `unshare` or `mount`.
    pub failed_step: Option<String>,
    pub errno: Option<i32>,
    pub error: Option<String>,
}

impl UsernsVerdict {
    pub fn reason(&self) -> String {
        match (&self.failed_step, &self.error) {
            (Some(step), Some(err)) => format!("creating a user namespace failed at {step}: {err}"),
            _ if self.available => "user namespaces work".into(),
            (None, Some(why)) => why.clone(),
            _ => "user namespace test did not answer".into(),
        }
    }

    /// No test made: the launch asked for a backend that uses no user namespace, so nothing
    /// depends on the answer (and a warm launch then reads no cache and no namespace facts).
    fn not_probed() -> Self {
        Self {
            available: false,
            failed_step: None,
            errno: None,
            error: Some(
                "user namespaces not tested: the requested backend does not use them".into(),
            ),
        }
    }
}

/// Probes the host; `cache` is where this launch may keep verdicts ([`CacheDir::for_policy`]).
pub fn probe(cache: &CacheDir) -> HostFacts {
    probe_for(Some(cache))
}

/// [`probe`], testing user namespaces only when given a cache dir (a bubblewrap backend may be
/// picked); without one, nothing is tested or cached.
pub fn probe_for(cache: Option<&CacheDir>) -> HostFacts {
    let need_userns = cache.is_some();
    let [no_new_privs, seccomp, seccomp_filters] = if need_userns {
        // One pass over the status text for the three fields read here (the filter count is
        // part of the user-namespace verdict's key).
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status_fields(&status, ["NoNewPrivs:", "Seccomp:", "Seccomp_filters:"])
    } else {
        // The kernel formats all of /proc/self/status for a read; two prctl calls answer these.
        // SAFETY: queries without pointer arguments.
        let get = |op| u32::try_from(unsafe { libc::prctl(op, 0, 0, 0, 0) }).ok();
        [
            get(libc::PR_GET_NO_NEW_PRIVS),
            get(libc::PR_GET_SECCOMP),
            None,
        ]
    };
    let uid = nix::unistd::getuid().as_raw();
    let facts = Sysctls::read();
    let seccomp_mode = seccomp.unwrap_or(0);
    HostFacts {
        os: std::env::consts::OS.into(),
        kernel: cache::kernel_release().to_string(),
        userns: match cache {
            Some(cache) => userns_cached(cache, uid, &facts, seccomp_mode, seccomp_filters),
            None => UsernsVerdict::not_probed(),
        },
        landlock: landlock_abi(),
        seccomp_mode,
        no_new_privs: no_new_privs == Some(1),
        apparmor_restrict_userns: facts.apparmor_restrict,
        max_user_namespaces: facts.max_userns,
        unprivileged_userns_clone: facts.userns_clone,
        uid,
        container: container_hint(),
        inside_sandbox: sandbox_hints(seccomp_mode),
    }
}

/// The numeric values of `names` (each with its colon) in `/proc/self/status` text.
fn status_fields<const N: usize>(status: &str, names: [&str; N]) -> [Option<u32>; N] {
    let mut out = [None; N];
    for line in status.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if let Some(i) = names.iter().position(|n| n.strip_suffix(':') == Some(name)) {
            out[i] = value.trim().parse().ok();
        }
    }
    out
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Sysctls {
    max_userns: Option<u64>,
    apparmor_restrict: Option<bool>,
    userns_clone: Option<bool>,
}

impl Sysctls {
    fn read() -> Self {
        let flag = |p: &str| read_trimmed(p).map(|v| v != "0");
        Self {
            max_userns: read_trimmed("/proc/sys/user/max_user_namespaces")
                .and_then(|v| v.parse().ok()),
            apparmor_restrict: flag("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"),
            userns_clone: flag("/proc/sys/kernel/unprivileged_userns_clone"),
        }
    }
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct UsernsKey {
    boot: String,
    namespaces: String,
    uid: u32,
    seccomp_mode: u32,
    /// How many seccomp filters this process has (`Seccomp_filters:`): one more filter than when
    /// the verdict was cached (a stricter profile stacked on) must mean a new probe.
    seccomp_filters: Option<u32>,
    /// What `/` is (the root mount's source and options, e.g. a container's overlay): namespace
    /// inode numbers are reused by the kernel, so another container can present the same ones.
    root_mount: String,
    sysctls: Sysctls,
    launcher_version: String,
}

/// What `/` is. Where the kernel has them (Linux 6.8+), the unique id of its mount: never reused
/// while the system runs, so another container's root, or a new root here, has another. Else the
/// `/proc/self/mountinfo` line of `/` without the mount ids (counters of this namespace), which the
/// kernel formats for every mount of the namespace: a tenth of a millisecond on a host with many.
fn root_mount() -> String {
    root_mount_unique_id()
        .map(|id| format!("mount {id}"))
        .unwrap_or_else(root_mount_line)
}

/// `statx("/")`'s `STATX_MNT_ID_UNIQUE`, when the kernel reports one.
fn root_mount_unique_id() -> Option<u64> {
    // SAFETY: an all-zero statx is a valid value; the kernel fills it in.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: a valid path and a buffer of the right type, owned by this frame.
    let rc = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c"/".as_ptr(),
            0,
            libc::STATX_MNT_ID_UNIQUE,
            &mut st,
        )
    };
    (rc == 0 && st.stx_mask & libc::STATX_MNT_ID_UNIQUE != 0).then_some(st.stx_mnt_id)
}

fn root_mount_line() -> String {
    use std::io::BufRead;
    let Ok(file) = std::fs::File::open("/proc/self/mountinfo") else {
        return String::new();
    };
    std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .find(|l| l.split_whitespace().nth(4) == Some("/"))
        .map(|l| l.split_whitespace().skip(2).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// What a cached user-namespace verdict was made for.
fn userns_key(
    uid: u32,
    sysctls: &Sysctls,
    seccomp_mode: u32,
    seccomp_filters: Option<u32>,
) -> UsernsKey {
    UsernsKey {
        boot: cache::boot_identity(),
        namespaces: cache::namespace_identity(),
        uid,
        seccomp_mode,
        seccomp_filters,
        root_mount: root_mount(),
        sysctls: sysctls.clone(),
        launcher_version: env!("CARGO_PKG_VERSION").into(),
    }
}

fn userns_cached(
    cache: &CacheDir,
    uid: u32,
    sysctls: &Sysctls,
    seccomp_mode: u32,
    seccomp_filters: Option<u32>,
) -> UsernsVerdict {
    let key = userns_key(uid, sysctls, seccomp_mode, seccomp_filters);
    let name = "userns-v3.json";
    match cache.load::<UsernsKey, UsernsVerdict>(name, &key) {
        Some(found) if found.available => return found,
        Some(_) => tracing::debug!("cached user-namespace verdict says unavailable: probing again"),
        None => {}
    }
    let verdict = probe_userns();
    tracing::debug!(?verdict, "probed user namespaces");
    if verdict.available {
        cache.store(name, &key, &verdict);
    }
    verdict
}

/// Does what bubblewrap does first: a new user and mount namespace, then `/` made a slave mount.
/// `clone` with the namespace flags fails in the caller when user namespaces are blocked, so that
/// (common, never cached) answer costs one syscall and no process; only when it succeeds does a
/// child exist, which tries the mount and exits with its errno.
fn probe_userns() -> UsernsVerdict {
    let failed = |step: &str, errno: i32| UsernsVerdict {
        available: false,
        failed_step: Some(step.into()),
        errno: Some(errno),
        error: Some(nix::errno::Errno::from_raw(errno).to_string()),
    };
    let flags = libc::CLONE_NEWUSER | libc::CLONE_NEWNS | libc::SIGCHLD;
    // SAFETY: clone without CLONE_VM (and with a null stack) is fork with namespace flags: the child
    // gets a copy of the address space and only makes raw syscalls before _exit.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid < 0 {
        return failed(
            "clone(CLONE_NEWUSER|CLONE_NEWNS)",
            nix::errno::Errno::last_raw(),
        );
    }
    if pid == 0 {
        // What bubblewrap does first, step by step: make `/` a slave mount, mount a tmpfs as the
        // new root and pivot into it. Docker's default profile with CAP_SYS_ADMIN allows the first
        // two and not pivot_root, so testing less would pick a bwrap that then fails. The exit
        // status is step * 64 + errno (errno < 64 for these calls; 0 means every step worked).
        // SAFETY: plain syscalls on this child's own, private mount namespace, then _exit.
        unsafe {
            let fail = |step: i32| {
                let errno = nix::errno::Errno::last_raw().clamp(1, 63);
                libc::_exit(step * 64 + errno)
            };
            if libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_SLAVE | libc::MS_REC,
                std::ptr::null(),
            ) != 0
            {
                fail(1);
            }
            // Any existing directory will do as the mount point: the namespace is ours alone.
            let dir = [c"/tmp", c"/dev", c"/"]
                .into_iter()
                .find(|d| libc::access(d.as_ptr(), libc::F_OK) == 0)
                .unwrap_or(c"/");
            if libc::mount(
                c"tmpfs".as_ptr(),
                dir.as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                std::ptr::null(),
            ) != 0
            {
                fail(2);
            }
            if libc::chdir(dir.as_ptr()) != 0 {
                fail(2);
            }
            let dot = c".";
            if libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) != 0 {
                fail(3);
            }
            libc::_exit(0)
        }
    }
    let child = nix::unistd::Pid::from_raw(pid as i32);
    use nix::sys::wait::{waitpid, WaitStatus};
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, 0)) => {
                return UsernsVerdict {
                    available: true,
                    failed_step: None,
                    errno: None,
                    error: None,
                }
            }
            Ok(WaitStatus::Exited(_, status)) => {
                let step = match status / 64 {
                    1 => "mount(/, MS_SLAVE)",
                    2 => "mount(tmpfs)",
                    _ => "pivot_root",
                };
                return failed(step, status % 64);
            }
            Err(nix::errno::Errno::EINTR) => continue,
            other => {
                return UsernsVerdict {
                    available: false,
                    failed_step: Some("probe".into()),
                    errno: None,
                    error: Some(format!("the test process ended unexpectedly: {other:?}")),
                }
            }
        }
    }
}

/// The Landlock ABI from the kernel itself (`landlock_create_ruleset` with the version flag), not
/// from `/sys/kernel/security/lsm`, which a container may hide or which may list it while a seccomp
/// profile blocks the syscall.
pub fn landlock_abi() -> Result<u32, String> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: a query with a null attribute pointer and size 0, as the kernel documents.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if abi > 0 {
        return Ok(abi as u32);
    }
    let err = std::io::Error::last_os_error();
    Err(match err.raw_os_error() {
        Some(libc::ENOSYS) => "the kernel has no Landlock support (ENOSYS)".into(),
        Some(libc::EOPNOTSUPP) => {
            "Landlock is built in but not enabled at boot (EOPNOTSUPP; add landlock to lsm=)".into()
        }
        Some(libc::EPERM) => "a seccomp profile blocks landlock_create_ruleset (EPERM)".into(),
        _ => format!("landlock_create_ruleset failed: {err}"),
    })
}

fn container_hint() -> Option<String> {
    if std::path::Path::new("/.dockerenv").exists() {
        return Some("/.dockerenv exists".into());
    }
    if std::path::Path::new("/run/.containerenv").exists() {
        return Some("/run/.containerenv exists (podman)".into());
    }
    if let Ok(v) = std::env::var("container") {
        return Some(format!("container={v}"));
    }
    if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
        return Some("KUBERNETES_SERVICE_HOST is set".into());
    }
    None
}

fn sandbox_hints(seccomp_mode: u32) -> Vec<String> {
    let mut hints = Vec::new();
    if let Ok(v) = std::env::var("CODEX_SANDBOX") {
        hints.push(format!("CODEX_SANDBOX={v}"));
    }
    if let Ok(v) = std::env::var(crate::backend::landlock::MARKER_ENV) {
        hints.push(format!("{}={v}", crate::backend::landlock::MARKER_ENV));
    }
    if seccomp_mode == 2 {
        hints.push("a seccomp filter is installed on this process".into());
    }
    hints
}

/// `{"abi": N}` or `{"error": "..."}`.
fn landlock_json<S: serde::Serializer>(v: &Result<u32, String>, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(1))?;
    match v {
        Ok(abi) => map.serialize_entry("abi", abi)?,
        Err(e) => map.serialize_entry("error", e)?,
    }
    map.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_read_by_exact_name() {
        let status = "Name:\tx\nSeccomp:\t2\nSeccomp_filters:\t3\nNoNewPrivs:\t1\n";
        assert_eq!(
            status_fields(
                status,
                ["NoNewPrivs:", "Seccomp:", "Seccomp_filters:", "Gone:"]
            ),
            [Some(1), Some(2), Some(3), None]
        );
    }

    #[test]
    fn a_cached_unavailable_verdict_is_probed_again() {
        let probed = probe_userns();
        if !probed.available {
            return crate::test_skip::skip("user namespaces are unavailable here");
        }
        let tmp = tempfile::tempdir().unwrap();
        let cache = CacheDir::at(Some((tmp.path().into(), "c".into())), &[]);
        let sysctls = Sysctls::read();
        let forged = UsernsVerdict {
            available: false,
            failed_step: Some("clone(CLONE_NEWUSER|CLONE_NEWNS)".into()),
            errno: Some(libc::EPERM),
            error: Some("forged".into()),
        };
        let uid = nix::unistd::getuid().as_raw();
        let key = userns_key(uid, &sysctls, 0, None);
        cache.store("userns-v3.json", &key, &forged);
        assert!(userns_cached(&cache, uid, &sysctls, 0, None).available);
    }

    #[test]
    fn the_root_mount_is_named_by_its_unique_id_where_the_kernel_has_one() {
        let named = root_mount();
        assert!(!named.is_empty());
        assert_eq!(named, root_mount());
        match root_mount_unique_id() {
            Some(id) => assert_eq!(named, format!("mount {id}")),
            None => assert_eq!(named, root_mount_line()),
        }
        // The fallback still finds `/`, without this namespace's mount ids.
        let line = root_mount_line();
        assert!(line.split_whitespace().nth(2) == Some("/"), "{line}");
    }
}
