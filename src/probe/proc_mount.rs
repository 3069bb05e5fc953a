//! Whether bubblewrap may mount a fresh `/proc` here (reference codex-linux-sandbox.md §5.3). Nested
//! containers with a masked `/proc` refuse it; then the sandbox keeps its PID namespace but no new
//! `/proc`. Codex probes this on every launch; we cache a "mountable" verdict per boot, kernel,
//! namespaces, user and bubblewrap. "Not mountable" is always probed again: taken from a forged
//! cache it would show the host's processes inside the sandbox.

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::AsRawFd;

use nix::unistd::{fork, ForkResult};
use serde::{Deserialize, Serialize};

use super::cache::{self, CacheDir, FileStamp};
use crate::exec::exec_bwrap;
use crate::probe::bwrap::Launcher;

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Key {
    boot: String,
    namespaces: String,
    uid: u32,
    bwrap: Option<FileStamp>,
    launcher_version: String,
    unshare_net: bool,
}

/// The fixed minimal layout used for the probe (never the policy's own).
fn probe_args(unshare_net: bool) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "--as-pid-1",
        "--new-session",
        "--die-with-parent",
        "--tmpfs",
        "/",
        "--dev",
        "/dev",
    ]
    .map(OsString::from)
    .to_vec();
    for dir in ["/bin", "/etc", "/lib", "/lib64", "/sbin", "/usr"] {
        if std::path::Path::new(dir).exists() {
            args.extend(["--ro-bind", dir, dir].map(OsString::from));
        }
    }
    args.extend(["--unshare-user", "--unshare-pid", "--unshare-ipc"].map(OsString::from));
    if unshare_net {
        args.push("--unshare-net".into());
    }
    let true_bin = ["/usr/bin/true", "/bin/true"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("true");
    args.extend(["--proc", "/proc", "--cap-drop", "ALL", "--", true_bin].map(OsString::from));
    args
}

/// bwrap's complaint when the kernel will not mount proc for it.
pub fn is_proc_refusal(stderr: &str) -> bool {
    // bubblewrap 0.8 names the target /newroot/proc, 0.12 (the built-in one) /proc.
    stderr.contains("Can't mount proc on ")
        && [
            "Invalid argument",
            "Operation not permitted",
            "Permission denied",
        ]
        .iter()
        .any(|e| stderr.contains(e))
}

/// True unless bubblewrap fails to mount `/proc` in this environment right now; `cache` is where this
/// launch may keep the verdict ([`CacheDir::for_launch`] with its writable roots).
pub fn proc_mount_allowed(launcher: &Launcher, unshare_net: bool, cache: &CacheDir) -> bool {
    let key = Key {
        boot: cache::boot_identity(),
        namespaces: cache::namespace_identity(),
        uid: nix::unistd::getuid().as_raw(),
        bwrap: match launcher {
            Launcher::System { path, .. } => FileStamp::of(path),
            Launcher::Vendored => None,
        },
        launcher_version: env!("CARGO_PKG_VERSION").to_string(),
        unshare_net,
    };
    let name = "proc-mount-v1.json";
    if cache.load::<Key, bool>(name, &key) == Some(true) {
        return true;
    }
    let (allowed, exited) = match run_probe(launcher, unshare_net) {
        Some((stderr, exited)) => (!is_proc_refusal(&stderr), exited),
        // Could not even run the probe: let the real launch report what is wrong; do not cache.
        None => return true,
    };
    tracing::debug!(allowed, exited, "probed /proc mount");
    // A probe killed before it could say anything decided nothing for the next launch.
    if allowed && exited {
        cache.store(name, &key, &allowed);
    }
    allowed
}

/// Runs the probe: its stderr (first 64 KiB), and whether bubblewrap exited (was not killed).
fn run_probe(launcher: &Launcher, unshare_net: bool) -> Option<(String, bool)> {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ok()?;
    let args = probe_args(unshare_net);
    // SAFETY: single-threaded; the child only rewires stdio and execs.
    match unsafe { fork() }.ok()? {
        ForkResult::Child => {
            // A group of its own, which the parent can end with whatever bubblewrap leaves.
            let _ =
                nix::unistd::setpgid(nix::unistd::Pid::from_raw(0), nix::unistd::Pid::from_raw(0));
            let null = std::fs::File::options().write(true).open("/dev/null");
            // SAFETY: plain dup2 onto the standard descriptors.
            unsafe {
                libc::dup2(write.as_raw_fd(), libc::STDERR_FILENO);
                if let Ok(null) = &null {
                    libc::dup2(null.as_raw_fd(), libc::STDOUT_FILENO);
                }
            }
            exec_bwrap(launcher, &args)
        }
        ForkResult::Parent { child } => {
            drop(write);
            let text = read_stderr(read, child);
            let exited = matches!(
                nix::sys::wait::waitpid(child, None),
                Ok(nix::sys::wait::WaitStatus::Exited(..))
            );
            Some((String::from_utf8_lossy(&text).into_owned(), exited))
        }
    }
}

/// The most of the probe's stderr kept.
const STDERR_MAX: usize = 64 * 1024;

/// Reads the probe's stderr to its end, which comes when every process holding the pipe has
/// closed it. A sandbox child of bubblewrap's whose monitor was killed before releasing it never
/// does (it blocks in setup for ever, still in the probe's process group): once `child`, the
/// monitor, has exited (seen without reaping it, so its group id stays ours), what is left of
/// its group is killed.
fn read_stderr(read: std::os::fd::OwnedFd, child: nix::unistd::Pid) -> Vec<u8> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let mut file = std::fs::File::from(read);
    let mut text = Vec::new();
    let mut group_ended = false;
    loop {
        let timeout = if group_ended {
            PollTimeout::NONE
        } else {
            PollTimeout::from(50u16)
        };
        match poll(&mut [PollFd::new(file.as_fd(), PollFlags::POLLIN)], timeout) {
            Ok(0) => {
                if monitor_exited(child) {
                    let _ = nix::sys::signal::killpg(child, nix::sys::signal::Signal::SIGKILL);
                    group_ended = true;
                }
                continue;
            }
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
        }
        let mut buf = [0u8; 4096];
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let room = STDERR_MAX.saturating_sub(text.len());
                text.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    text
}

/// Whether `child` has exited, leaving it to be reaped.
fn monitor_exited(child: nix::unistd::Pid) -> bool {
    use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    !matches!(waitid(Id::Pid(child), flags), Ok(WaitStatus::StillAlive))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_only_the_proc_refusal() {
        assert!(is_proc_refusal(
            "bwrap: Can't mount proc on /newroot/proc: Operation not permitted"
        ));
        assert!(is_proc_refusal(
            "bwrap: Can't mount proc on /proc: Operation not permitted"
        ));
        assert!(!is_proc_refusal(
            "bwrap: Creating new namespace failed: nesting depth"
        ));
    }
}
