//! The only place that forks and execs: bubblewrap (system binary or the linked-in copy), the
//! supervising parent that forwards signals and cleans up, the PID-1 reaper of the inner stage, and
//! plain exec of the command.

use std::ffi::{CString, OsStr, OsString};
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

use crate::exit::Failure;
use crate::probe::bwrap::Launcher;

/// Signals a supervisor or init passes on to the process it runs: Codex's four (reference §5.6)
/// plus the ones a container entrypoint must pass on (DESIGN §7), so that every stage between the
/// entrypoint and the command forwards the same set.
pub const FORWARDED: [Signal; 7] = [
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

static FORWARD_TO: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward_signal(sig: libc::c_int) {
    let pid = FORWARD_TO.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Blocks `signals` (so none arrives between fork and handler set-up) and returns the previous
/// mask for [`restore_mask`].
pub fn block(signals: &SigSet) -> nix::Result<SigSet> {
    let mut previous = SigSet::empty();
    signal::sigprocmask(
        signal::SigmaskHow::SIG_BLOCK,
        Some(signals),
        Some(&mut previous),
    )?;
    Ok(previous)
}

fn block_forwarded() -> SigSet {
    block(&FORWARDED.iter().copied().collect()).unwrap_or_else(|_| SigSet::empty())
}

pub fn restore_mask(previous: &SigSet) {
    let _ = signal::sigprocmask(signal::SigmaskHow::SIG_SETMASK, Some(previous), None);
}

/// Installs `handler` for each of `signals`. Handlers given here only do async-signal-safe work
/// (kill(2) and an atomic read, or nothing).
pub fn set_handlers(signals: impl IntoIterator<Item = Signal>, handler: SigHandler) {
    let action = SigAction::new(handler, SaFlags::SA_RESTART, SigSet::empty());
    for sig in signals {
        // SAFETY: see above; the handlers are async-signal-safe.
        let _ = unsafe { signal::sigaction(sig, &action) };
    }
}

fn cstrings(args: &[OsString]) -> Result<Vec<CString>, Failure> {
    args.iter()
        .map(|a| {
            CString::new(a.as_bytes()).map_err(|_| {
                Failure::usage(format!(
                    "argument contains a NUL byte: {}",
                    a.to_string_lossy()
                ))
            })
        })
        .collect()
}

/// Replaces this process with bubblewrap running `args`.
pub fn exec_bwrap(launcher: &Launcher, args: &[OsString]) -> ! {
    match launcher {
        Launcher::Vendored => codex_launcher_bwrap::enter(args),
        Launcher::System { path, .. } => {
            let mut argv = vec![OsString::from("bwrap")];
            argv.extend_from_slice(args);
            let error = match (cstrings(&argv), CString::new(path.as_os_str().as_bytes())) {
                (Ok(argv), Ok(program)) => {
                    nix::unistd::execv(&program, &argv).unwrap_err().to_string()
                }
                _ => "argument contains a NUL byte".to_string(),
            };
            eprintln!(
                "codex-linux-sandbox: error: cannot exec system bubblewrap {}: {error}",
                path.display()
            );
            std::process::exit(1)
        }
    }
}

/// How a supervised child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    Signaled(Signal),
}

/// Runs bubblewrap as a child and waits for it, forwarding HUP/INT/QUIT/TERM to the sandbox's init
/// (its host pid arrives on `info`, bwrap's `--info-fd`) so they reach the command. `inherit` are
/// descriptors bubblewrap must receive (the info pipe's write end); the parent closes its copies.
pub fn supervise_bwrap(
    launcher: &Launcher,
    args: &[OsString],
    inherit: Vec<OwnedFd>,
    info: Option<OwnedFd>,
) -> Ended {
    let previous = block_forwarded();
    let parent = nix::unistd::getpid();
    // SAFETY: the process is single-threaded here; the child only adjusts its own state and execs.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
            // If we die, bubblewrap (and through --die-with-parent the sandbox) goes too.
            let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGTERM);
            if nix::unistd::getppid() != parent {
                let _ = signal::raise(Signal::SIGTERM);
            }
            for fd in &inherit {
                clear_cloexec(fd.as_raw_fd());
            }
            drop(info);
            restore_mask(&previous);
            exec_bwrap(launcher, args)
        }
        Ok(ForkResult::Parent { child }) => {
            FORWARD_TO.store(child.as_raw(), Ordering::Relaxed);
            set_handlers(FORWARDED, SigHandler::Handler(forward_signal));
            restore_mask(&previous);
            // Our copy of the info pipe's write end must close, or reading it never ends.
            drop(inherit);
            if let Some(info) = info {
                if let Some(init) = read_child_pid(info) {
                    FORWARD_TO.store(init, Ordering::Relaxed);
                }
            }
            wait_for(child)
        }
        Err(e) => {
            eprintln!("codex-linux-sandbox: error: fork failed: {e}");
            std::process::exit(1)
        }
    }
}

fn clear_cloexec(fd: RawFd) {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    // SAFETY: fd is one we opened and still own in this process.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let _ = fcntl(borrowed, FcntlArg::F_SETFD(FdFlag::empty()));
}

/// Parses `"child-pid": N` from bwrap's info JSON; returns once the number is complete.
fn read_child_pid(info: OwnedFd) -> Option<i32> {
    let mut file = std::fs::File::from(info);
    let mut text = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                text.extend_from_slice(&buf[..n]);
                if text.contains(&b'}') {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    let json: serde_json::Value = serde_json::from_slice(&text).ok()?;
    json.get("child-pid")?.as_i64().map(|p| p as i32)
}

fn wait_for(child: Pid) -> Ended {
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ended::Exited(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ended::Signaled(sig),
            Err(nix::errno::Errno::EINTR) | Ok(_) => continue,
            Err(_) => return Ended::Exited(1),
        }
    }
}

/// Leaves like the child did: its exit code, or its signal re-raised (128+N if we survive it).
pub fn exit_like(ended: Ended) -> ! {
    match ended {
        Ended::Exited(code) => std::process::exit(code),
        Ended::Signaled(sig) => {
            let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
            // SAFETY: restoring the default disposition.
            let _ = unsafe { signal::sigaction(sig, &default) };
            let _ = signal::sigprocmask(
                signal::SigmaskHow::SIG_UNBLOCK,
                Some(&SigSet::from(sig)),
                None,
            );
            let _ = signal::raise(sig);
            std::process::exit(128 + sig as i32)
        }
    }
}

/// Inner stage: run `command` as a child (PID 2 in the sandbox), forward signals to it, reap every
/// process that ends up with us, and exit with the command's code or 128+N.
pub fn run_as_init(command: &[OsString]) -> ! {
    let argv = match cstrings(command) {
        Ok(argv) => argv,
        Err(f) => fail_exec(&f),
    };
    let previous = block_forwarded();
    // SAFETY: single-threaded; the child only execs.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            restore_mask(&previous);
            let failure = exec_failure(
                &command[0],
                nix::unistd::execvp(&argv[0], &argv).unwrap_err(),
            );
            fail_exec(&failure)
        }
        Ok(ForkResult::Parent { child }) => {
            FORWARD_TO.store(child.as_raw(), Ordering::Relaxed);
            set_handlers(FORWARDED, SigHandler::Handler(forward_signal));
            restore_mask(&previous);
            loop {
                match waitpid(Pid::from_raw(-1), None) {
                    Ok(WaitStatus::Exited(pid, code)) if pid == child => std::process::exit(code),
                    Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => {
                        std::process::exit(128 + sig as i32)
                    }
                    Err(nix::errno::Errno::ECHILD) => std::process::exit(1),
                    _ => continue,
                }
            }
        }
        Err(e) => fail_exec(&Failure::refused(format!("fork failed: {e}"))),
    }
}

/// Replaces this process with `command`; returns only on failure.
pub fn exec_command(command: &[OsString]) -> Failure {
    match cstrings(command) {
        Ok(argv) => exec_failure(
            &command[0],
            nix::unistd::execvp(&argv[0], &argv).unwrap_err(),
        ),
        Err(f) => f,
    }
}

/// 127 when the program does not exist, 126 when it cannot be executed.
pub fn exec_failure(program: &OsStr, errno: nix::errno::Errno) -> Failure {
    let message = format!(
        "cannot run {}: {}",
        program.to_string_lossy(),
        std::io::Error::from(errno)
    );
    match errno {
        nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR => Failure::not_found(message),
        _ => Failure::not_executable(message),
    }
}

fn fail_exec(failure: &Failure) -> ! {
    eprintln!("codex-linux-sandbox: error: {failure}");
    std::process::exit(i32::from(failure.exit_code()))
}

/// Whether this process still holds any effective or permitted capability.
pub fn holds_capabilities() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return true;
    };
    status.lines().any(|line| {
        ["CapEff:", "CapPrm:"].iter().any(|key| {
            line.strip_prefix(key)
                .is_some_and(|v| !matches!(u64::from_str_radix(v.trim(), 16), Ok(0)))
        })
    })
}

/// A pipe for bwrap's `--info-fd`: (read end, write end), both close-on-exec.
pub fn info_pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(std::io::Error::from)
}

/// Raw descriptor of an owned fd, kept open by the caller.
pub fn raw(fd: &OwnedFd) -> RawFd {
    fd.as_raw_fd()
}

/// Replaces this process with `sandbox-exec` running the plan's command; returns only on failure.
/// The one piece of macOS-only code: everything it runs was planned (and tested) elsewhere.
#[cfg(target_os = "macos")]
pub fn exec_seatbelt(plan: &crate::backend::seatbelt::SeatbeltPlan) -> Failure {
    for key in &plan.env_remove {
        std::env::remove_var(key);
    }
    for (key, value) in &plan.env_set {
        std::env::set_var(key, value);
    }
    let args: Vec<OsString> = plan.argv.iter().map(OsString::from).collect();
    let program = CString::new(crate::backend::seatbelt::SANDBOX_EXEC).expect("no NUL");
    match cstrings(&args) {
        Ok(argv) => exec_failure(&args[0], nix::unistd::execv(&program, &argv).unwrap_err()),
        Err(f) => f,
    }
}

/// Seatbelt exists only on macOS; a plan for it can be printed here but never run.
#[cfg(not(target_os = "macos"))]
pub fn exec_seatbelt(_plan: &crate::backend::seatbelt::SeatbeltPlan) -> Failure {
    Failure::refused("seatbelt sandbox is only available on macOS")
}
