//! Upstream bubblewrap, compiled from the pinned registry sources by `build.rs` and linked in.
//!
//! [`enter`] runs bubblewrap's own `main` inside the calling process, exactly as if the process had
//! exec'd a `bwrap` binary with the same arguments: it never returns. This lets the launcher use a
//! known-good bubblewrap without any file on disk (nothing to find, verify or keep in sync).

#[cfg(target_os = "linux")]
use std::ffi::CString;
use std::ffi::OsString;
#[cfg(target_os = "linux")]
use std::os::unix::ffi::OsStrExt;

/// The upstream bubblewrap release that is linked in.
#[cfg(target_os = "linux")]
pub const VERSION: &str = env!("CODEX_LAUNCHER_BWRAP_VERSION");
/// Where the sources came from (registry package and version).
#[cfg(target_os = "linux")]
pub const SOURCE: &str = env!("CODEX_LAUNCHER_BWRAP_SOURCE");
/// bubblewrap's license, LGPL-2.1-or-later, as shipped with its sources.
#[cfg(target_os = "linux")]
pub const LICENSE_TEXT: &str = include_str!(concat!(env!("OUT_DIR"), "/COPYING"));

#[cfg(not(target_os = "linux"))]
pub const VERSION: &str = "none (bubblewrap is Linux only)";
#[cfg(not(target_os = "linux"))]
pub const SOURCE: &str = "not built on this system";
#[cfg(not(target_os = "linux"))]
pub const LICENSE_TEXT: &str = "";

/// bubblewrap is Linux only; elsewhere entering it is an error.
#[cfg(not(target_os = "linux"))]
pub fn enter(_args: &[OsString]) -> ! {
    eprintln!("bwrap: bubblewrap is Linux only");
    std::process::exit(1)
}

/// bubblewrap is Linux only; elsewhere entering it is an error.
#[cfg(not(target_os = "linux"))]
pub fn enter_running_in_process(args: &[OsString], _own: InProcess) -> ! {
    enter(args)
}

#[cfg(target_os = "linux")]
extern "C" {
    fn codex_launcher_bwrap_main(argc: libc_int, argv: *mut *mut std::ffi::c_char) -> libc_int;
    fn execvp(file: *const std::ffi::c_char, argv: *const *const std::ffi::c_char) -> libc_int;
}

/// A program the caller can run in this very process instead of bubblewrap exec'ing it: when
/// bubblewrap's final `execvp(path, argv)` names exactly `path` with `argv[1..] == args` (the
/// caller's own next stage), `run` is called with that argv (argv[0] as bubblewrap set it) where
/// the exec would have been, inside the finished sandbox, and must not return. Anything else is
/// exec'd as upstream does. It saves a whole exec of the caller's binary.
pub struct InProcess {
    pub path: OsString,
    pub args: Vec<OsString>,
    pub run: fn(Vec<OsString>) -> !,
}

#[cfg(target_os = "linux")]
static IN_PROCESS: std::sync::OnceLock<InProcess> = std::sync::OnceLock::new();

/// [`enter`], with `own` run in place of the exec it names.
#[cfg(target_os = "linux")]
pub fn enter_running_in_process(args: &[OsString], own: InProcess) -> ! {
    let _ = IN_PROCESS.set(own);
    enter(args)
}

/// bubblewrap's `execvp` (renamed at compile time by build.rs).
///
/// # Safety
/// Called by bubblewrap like `execvp(3)`: `file` is a C string, `argv` a NULL-terminated array
/// of C strings.
#[cfg(target_os = "linux")]
#[no_mangle]
pub unsafe extern "C" fn codex_launcher_bwrap_execvp(
    file: *const std::ffi::c_char,
    argv: *const *const std::ffi::c_char,
) -> libc_int {
    if let Some(own) = IN_PROCESS.get() {
        use std::ffi::CStr;
        use std::os::unix::ffi::OsStringExt;
        let mut args = Vec::new();
        let mut next = argv;
        // SAFETY: per the contract above, until the NULL entry.
        while !unsafe { *next }.is_null() {
            let arg = unsafe { CStr::from_ptr(*next) };
            args.push(OsString::from_vec(arg.to_bytes().to_vec()));
            next = unsafe { next.add(1) };
        }
        let path = unsafe { CStr::from_ptr(file) };
        if path.to_bytes() == own.path.as_bytes() && args.get(1..) == Some(&own.args[..]) {
            (own.run)(args)
        }
    }
    // SAFETY: the caller's arguments, passed on unchanged.
    unsafe { execvp(file, argv) }
}

/// Whether the sandbox child bubblewrap clones dies with the monitor from its first instruction.
#[cfg(target_os = "linux")]
static CHILD_DIES_WITH_MONITOR: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Makes the sandbox child that bubblewrap clones die with bubblewrap's monitor (the process that
/// cloned it) from the moment it exists, not only from where upstream sets `--die-with-parent` in
/// it. Upstream's child first blocks on an eventfd until the monitor has set it up; a monitor
/// killed before that (its own parent killed during setup, which `--die-with-parent` passes on,
/// or the broken pipe of a dead parent's `--info-fd`) leaves the child blocked for ever, holding
/// every descriptor and the memory of this process. Only for a command line with
/// `--die-with-parent`: the signal can stay set until the command runs.
#[cfg(target_os = "linux")]
pub fn child_dies_with_monitor() {
    CHILD_DIES_WITH_MONITOR.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// bubblewrap.c's `raw_clone` (renamed at compile time by build.rs): clone(2), and in the child,
/// when [`child_dies_with_monitor`] was asked for, a parent-death SIGKILL set first thing, then
/// a check that the monitor did not die before it was set (its pidfd, taken before the clone,
/// reads as exited). Without pidfds (Linux before 5.3) the check is skipped: its window is the
/// few instructions between the clone and the `prctl`.
///
/// # Safety
/// As clone(2) without a stack: the caller is single-threaded and handles both returns.
#[cfg(target_os = "linux")]
#[no_mangle]
pub unsafe extern "C" fn codex_launcher_bwrap_raw_clone(
    flags: std::ffi::c_ulong,
    child_stack: *mut std::ffi::c_void,
) -> libc_int {
    if !CHILD_DIES_WITH_MONITOR.load(std::sync::atomic::Ordering::Relaxed) {
        // SAFETY: the caller's clone, unchanged.
        return unsafe { clone(flags, child_stack) };
    }
    // SAFETY: plain system calls; the pidfd is closed on both sides before returning.
    unsafe {
        let monitor = libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) as libc_int;
        let pid = clone(flags, child_stack);
        let errno = *libc::__errno_location();
        if pid == 0 {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            if monitor >= 0 {
                let mut gone = libc::pollfd {
                    fd: monitor,
                    events: libc::POLLIN,
                    revents: 0,
                };
                if libc::poll(&mut gone, 1, 0) > 0 && gone.revents & libc::POLLIN != 0 {
                    // This child is PID 1 of its namespace, which a signal from itself cannot end.
                    libc::_exit(1);
                }
            }
        }
        if monitor >= 0 {
            libc::close(monitor);
        }
        *libc::__errno_location() = errno;
        pid
    }
}

/// The clone system call as upstream's `raw_clone` makes it: s390 takes the stack first.
///
/// # Safety
/// As clone(2) without a stack.
#[cfg(target_os = "linux")]
unsafe fn clone(flags: std::ffi::c_ulong, child_stack: *mut std::ffi::c_void) -> libc_int {
    #[cfg(target_arch = "s390x")]
    // SAFETY: per this function's contract.
    let pid = unsafe { libc::syscall(libc::SYS_clone, child_stack, flags) };
    #[cfg(not(target_arch = "s390x"))]
    // SAFETY: per this function's contract.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, child_stack) };
    pid as libc_int
}

#[cfg(target_os = "linux")]
#[allow(non_camel_case_types)]
type libc_int = std::ffi::c_int;

/// Runs the linked bubblewrap with `args` (not including argv[0], which is passed as `bwrap`).
///
/// The caller must be single-threaded, as for any exec: bubblewrap forks and unshares namespaces.
/// bubblewrap ends the process itself; if its `main` ever returns, we exit with its return value.
#[cfg(target_os = "linux")]
pub fn enter(args: &[OsString]) -> ! {
    let mut owned: Vec<CString> = Vec::with_capacity(args.len() + 1);
    owned.push(CString::new("bwrap").expect("no NUL"));
    for arg in args {
        // An argument with an interior NUL cannot be passed to any exec; bubblewrap would have
        // received it truncated, so refuse loudly instead.
        match CString::new(arg.as_bytes()) {
            Ok(c) => owned.push(c),
            Err(_) => {
                eprintln!(
                    "bwrap: argument contains a NUL byte: {}",
                    arg.to_string_lossy()
                );
                std::process::exit(1);
            }
        }
    }
    let mut argv: Vec<*mut std::ffi::c_char> = owned.iter().map(|c| c.as_ptr() as *mut _).collect();
    argv.push(std::ptr::null_mut());
    // SAFETY: argv is a NULL-terminated array of valid C strings that outlive the call; bubblewrap
    // treats it like the argv of `main`.
    let code =
        unsafe { codex_launcher_bwrap_main((argv.len() - 1) as libc_int, argv.as_mut_ptr()) };
    std::process::exit(code)
}
