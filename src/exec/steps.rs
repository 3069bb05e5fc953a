//! The pre-exec steps of a [`crate::launch::ExecSpec`], each applied to the current process in the
//! order the plan lists them. Every step fails closed: an error stops the launch.

use std::os::fd::{BorrowedFd, RawFd};

use crate::backend::{landlock, seccomp};
use crate::exit::Failure;
use crate::launch::{FdPass, Step};

/// A step with everything that needs memory done beforehand (BPF compiled, the Landlock ruleset
/// built, paths as C strings), so that applying it in a freshly forked child is syscalls only:
/// every page a child writes is a copy-on-write fault, and they made the fork the most expensive
/// part of a Landlock launch.
pub enum Prepared {
    CloseInheritedFds,
    NewSession,
    DropCapabilities { last_cap: u32 },
    NoNewPrivs,
    Landlock(::landlock::RulesetCreated),
    Seccomp(seccompiler::BpfProgram),
    Chdir(std::ffi::CString, std::path::PathBuf),
}

/// Does the memory-hungry part of every step, in the calling process.
pub fn prepare(steps: &[Step]) -> Result<Vec<Prepared>, Failure> {
    steps
        .iter()
        .map(|step| {
            Ok(match step {
                Step::CloseInheritedFds => Prepared::CloseInheritedFds,
                Step::NewSession => Prepared::NewSession,
                Step::DropCapabilities => Prepared::DropCapabilities {
                    last_cap: last_capability(),
                },
                Step::NoNewPrivs => Prepared::NoNewPrivs,
                Step::Landlock(plan) => Prepared::Landlock(
                    landlock::prepare(plan).map_err(|e| Failure::refused(e.to_string()))?,
                ),
                Step::Seccomp(mode) => Prepared::Seccomp(
                    seccomp::build(*mode).map_err(|e| Failure::refused(e.to_string()))?,
                ),
                Step::Chdir(dir) => {
                    use std::os::unix::ffi::OsStrExt;
                    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(|_| {
                        Failure::usage(format!("{}: contains a NUL byte", dir.display()))
                    })?;
                    Prepared::Chdir(c, dir.clone())
                }
            })
        })
        .collect()
}

/// Applies prepared steps in order, then puts each passed descriptor at its number (`sources`
/// holds each [`FdPass`]'s current descriptor), inheritable.
pub fn apply_prepared(
    prepared: Vec<Prepared>,
    fds: &[FdPass],
    sources: &[RawFd],
) -> Result<(), Failure> {
    for step in prepared {
        match step {
            Prepared::CloseInheritedFds => close_inherited_fds()?,
            Prepared::NewSession => {
                nix::unistd::setsid().map_err(|e| refused("start a new session", e))?;
            }
            Prepared::DropCapabilities { last_cap } => drop_capabilities(last_cap)?,
            Prepared::NoNewPrivs => {
                nix::sys::prctl::set_no_new_privs().map_err(|e| refused("set no_new_privs", e))?
            }
            Prepared::Landlock(created) => {
                landlock::restrict(created).map_err(|e| Failure::refused(e.to_string()))?
            }
            Prepared::Seccomp(program) => {
                seccomp::install(&program).map_err(|e| Failure::refused(e.to_string()))?
            }
            Prepared::Chdir(c, dir) => {
                // SAFETY: a valid NUL-terminated path.
                if unsafe { libc::chdir(c.as_ptr()) } != 0 {
                    return Err(Failure::refused(format!(
                        "cannot change to {}: {}",
                        dir.display(),
                        std::io::Error::last_os_error()
                    )));
                }
            }
        }
    }
    install_fds(fds, sources)
}

/// Prepares and applies `steps` in this process.
pub fn apply(steps: &[Step], fds: &[FdPass], sources: &[RawFd]) -> Result<(), Failure> {
    apply_prepared(prepare(steps)?, fds, sources)
}

fn refused(what: &str, e: impl std::fmt::Display) -> Failure {
    Failure::refused(format!("cannot {what}: {e}"))
}

/// Marks every descriptor from 3 up close-on-exec, so nothing a caller leaked crosses exec.
fn close_inherited_fds() -> Result<(), Failure> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range only changes descriptor flags; no memory is passed.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    if rc != 0 {
        // Kernels before 5.11: walk our descriptors instead.
        mark_cloexec_by_listing()?;
    }
    Ok(())
}

fn install_fds(fds: &[FdPass], sources: &[RawFd]) -> Result<(), Failure> {
    for (pass, &source) in fds.iter().zip(sources) {
        if source == pass.fd {
            set_inheritable(pass.fd)?;
        } else {
            // SAFETY: dup2 onto a number we own in this process; the old one (if any) is ours.
            if unsafe { libc::dup2(source, pass.fd) } < 0 {
                return Err(refused(
                    &format!("pass descriptor {}", pass.fd),
                    std::io::Error::last_os_error(),
                ));
            }
        }
    }
    Ok(())
}

fn set_inheritable(fd: RawFd) -> Result<(), Failure> {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    // SAFETY: the descriptor is open in this process (it is the one we pass on).
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    fcntl(borrowed, FcntlArg::F_SETFD(FdFlag::empty()))
        .map(drop)
        .map_err(|e| refused(&format!("pass descriptor {fd}"), e))
}

fn mark_cloexec_by_listing() -> Result<(), Failure> {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    for fd in descriptors_above_stderr()? {
        // SAFETY: an fd listed for this process; one that closed meanwhile just fails (EBADF).
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let _ = fcntl(borrowed, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    }
    Ok(())
}

/// This process's descriptors from 3 up, as `/proc/self/fd` lists them.
fn descriptors_above_stderr() -> Result<Vec<RawFd>, Failure> {
    let entries = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| refused("list open descriptors in /proc/self/fd", e))?;
    Ok(entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect())
}

/// Closes every descriptor from 3 up: `close_range`, else one by one from `/proc/self/fd`, then
/// checked. A stage that runs where an exec would have been holds nothing of the process it
/// continues.
pub fn close_descriptors_above_stderr() -> Result<(), Failure> {
    // SAFETY: closes descriptors; no memory is passed.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if rc == 0 {
        return Ok(());
    }
    for fd in descriptors_above_stderr()? {
        // SAFETY: an fd listed for this process, which nothing here uses any more (the listing's
        // own descriptor is closed by now; closing it again just fails with EBADF).
        unsafe { libc::close(fd) };
    }
    // SAFETY: F_GETFD only reads a descriptor's flags.
    let open = |fd: &RawFd| unsafe { libc::fcntl(*fd, libc::F_GETFD) } != -1;
    // The second listing's own descriptor shows in it, closed once the listing is done.
    let left: Vec<RawFd> = descriptors_above_stderr()?
        .into_iter()
        .filter(open)
        .collect();
    if !left.is_empty() {
        return Err(Failure::refused(format!(
            "cannot close inherited descriptors {left:?}"
        )));
    }
    Ok(())
}

const SECBIT_NOROOT: libc::c_ulong = 1 << 0;
const SECBIT_NOROOT_LOCKED: libc::c_ulong = 1 << 1;
const SECBIT_NO_SETUID_FIXUP: libc::c_ulong = 1 << 2;
const SECBIT_NO_SETUID_FIXUP_LOCKED: libc::c_ulong = 1 << 3;
const SECBIT_KEEP_CAPS_LOCKED: libc::c_ulong = 1 << 5;
const SECBIT_NO_CAP_AMBIENT_RAISE: libc::c_ulong = 1 << 6;
const SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED: libc::c_ulong = 1 << 7;
const CAP_SETPCAP: u32 = 8;

/// Empties every capability set. Root is locked out of regaining them: the securebits stop exec
/// from granting uid 0 a full set, and the bounding set is emptied. An unprivileged caller cannot
/// shrink its bounding set (that needs CAP_SETPCAP), but it holds nothing to lose, and
/// no_new_privs keeps setuid and file capabilities from adding any at exec.
fn drop_capabilities(last_cap: u32) -> Result<(), Failure> {
    let privileged = capget()?.effective & (1 << CAP_SETPCAP) != 0;
    if privileged {
        let bits = SECBIT_NOROOT
            | SECBIT_NOROOT_LOCKED
            | SECBIT_NO_SETUID_FIXUP
            | SECBIT_NO_SETUID_FIXUP_LOCKED
            | SECBIT_KEEP_CAPS_LOCKED
            | SECBIT_NO_CAP_AMBIENT_RAISE
            | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
        prctl(
            libc::PR_SET_SECUREBITS,
            bits,
            "lock root's capabilities away",
        )?;
        for cap in 0..=last_cap {
            prctl(
                libc::PR_CAPBSET_DROP,
                cap as libc::c_ulong,
                "empty the bounding set",
            )?;
        }
    }
    prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
        "clear the ambient set",
    )?;
    set_capabilities_to_zero()?;
    // Checked with syscalls, not /proc: this runs in a freshly forked child.
    let left = capget()?;
    if left.effective != 0 || left.permitted != 0 || left.inheritable != 0 {
        return Err(Failure::refused("capabilities remain after dropping them"));
    }
    // The ambient set needs no re-reading: the kernel keeps it within permitted, now empty. Each
    // bounding-set drop above either succeeded or failed the launch.
    Ok(())
}

/// The kernel's `__user_cap_header_struct`, for capget and capset.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

impl CapHeader {
    /// Version 3 (64-bit sets, two data structs) for this process.
    fn v3_self() -> Self {
        Self {
            version: 0x2008_0522,
            pid: 0,
        }
    }
}

/// The kernel's `__user_cap_data_struct`: one 32-bit half of each set.
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The effective, permitted and inheritable sets (low 64 bits) from `capget`.
fn capget() -> Result<CapabilitySets, Failure> {
    let mut header = CapHeader::v3_self();
    let mut data = [CapData::default(); 2];
    // SAFETY: capget writes a v3 header's two data structs, which we pass.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    if rc != 0 {
        return Err(refused(
            "read capabilities",
            std::io::Error::last_os_error(),
        ));
    }
    let join = |lo: u32, hi: u32| u64::from(lo) | (u64::from(hi) << 32);
    Ok(CapabilitySets {
        effective: join(data[0].effective, data[1].effective),
        permitted: join(data[0].permitted, data[1].permitted),
        inheritable: join(data[0].inheritable, data[1].inheritable),
        bounding: 0,
        ambient: 0,
    })
}

/// Clears the ambient capability set of a non-root launcher. Ambient capabilities exist only to be
/// inherited across exec (podman hands `--cap-add` ones to a non-root user that way), and
/// bubblewrap refuses to start with capabilities it did not expect; nothing we exec needs them.
pub fn clear_ambient_capabilities() {
    if nix::unistd::getuid().is_root() {
        return;
    }
    let _ = prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
        "clear the ambient set",
    );
}

fn prctl(option: libc::c_int, arg: libc::c_ulong, what: &str) -> Result<(), Failure> {
    // SAFETY: prctl with integer arguments only.
    if unsafe {
        libc::prctl(
            option,
            arg,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    } != 0
    {
        return Err(refused(what, std::io::Error::last_os_error()));
    }
    Ok(())
}

fn last_capability() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(63)
}

fn set_capabilities_to_zero() -> Result<(), Failure> {
    let mut header = CapHeader::v3_self();
    let data = [CapData::default(); 2];
    // SAFETY: capset reads a v3 header and two data structs, which we pass.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    if rc != 0 {
        return Err(refused(
            "drop capabilities",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// The capability sets of this process, from `/proc/self/status`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CapabilitySets {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub bounding: u64,
    pub ambient: u64,
}

pub fn capability_sets() -> Result<CapabilitySets, Failure> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| refused("read /proc/self/status", e))?;
    Ok(parse_capability_sets(&status))
}

/// Parses the `Cap*` lines; a missing or garbled line counts as every capability held.
pub fn parse_capability_sets(status: &str) -> CapabilitySets {
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(u64::MAX)
    };
    CapabilitySets {
        effective: field("CapEff:"),
        permitted: field("CapPrm:"),
        inheritable: field("CapInh:"),
        bounding: field("CapBnd:"),
        ambient: field("CapAmb:"),
    }
}

/// Whether this process still holds any effective or permitted capability.
pub fn holds_capabilities() -> bool {
    // capget, not /proc/self/status: one syscall instead of reading and parsing a page of text.
    capget().map_or(true, |c| c.effective != 0 || c.permitted != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbled_status_counts_as_privileged() {
        let sets = parse_capability_sets("CapEff:\tzz\nCapPrm:\t0000000000000000\n");
        assert_eq!(sets.effective, u64::MAX);
        assert_eq!(sets.permitted, 0);
        assert_eq!(sets.ambient, u64::MAX);
    }
}
