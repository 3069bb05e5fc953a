//! Processes: exec of a spec's program, the supervising parent that forwards signals and waits,
//! and the PID-1 reaper of the inner stage. The pre-exec steps run in whichever process execs.

use std::ffi::{CString, OsStr, OsString};
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

use super::steps;
use crate::exit::Failure;
use crate::launch::{ExecSpec, FdSource, Program, Step};
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

/// Where forwarded signals go; 0 while the target is not known yet (bubblewrap has not named the
/// sandbox's init), when they are held in [`HELD`] instead of going to bubblewrap, which would die
/// of them without passing them on.
static FORWARD_TO: AtomicI32 = AtomicI32::new(0);
/// Signals (bit N for signal N) that arrived before the target was known.
static HELD: AtomicU64 = AtomicU64::new(0);

extern "C" fn forward_signal(sig: libc::c_int) {
    if FORWARD_TO.load(Ordering::SeqCst) > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(FORWARD_TO.load(Ordering::SeqCst), sig) };
        return;
    }
    HELD.fetch_or(1 << sig, Ordering::SeqCst);
    // The target may have been set between the check and the hold: deliver now if so.
    if FORWARD_TO.load(Ordering::SeqCst) > 0 {
        release_held();
    }
}

/// Sends every held signal to the target, once each. Async-signal-safe.
fn release_held() {
    let pid = FORWARD_TO.load(Ordering::SeqCst);
    let held = HELD.swap(0, Ordering::SeqCst);
    for sig in 1..64 {
        if held & (1 << sig) != 0 {
            // SAFETY: kill is async-signal-safe.
            unsafe { libc::kill(pid, sig) };
        }
    }
}

/// Names the process forwarded signals go to, and delivers what arrived before.
fn forward_to(pid: i32) {
    FORWARD_TO.store(pid, Ordering::SeqCst);
    release_held();
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

/// How a supervised child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    Signaled(Signal),
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

/// Waits for `child`, reaping on the way the orphans that came to us as subreaper.
fn wait_for(child: Pid) -> Ended {
    loop {
        match waitpid(Pid::from_raw(-1), None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == child => return Ended::Exited(code),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => return Ended::Signaled(sig),
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

/// The failure of a child between fork and exec: reported on stderr, then the child leaves with
/// the failure's exit code (which its parent passes on).
pub fn fail_in_child(failure: &Failure) -> ! {
    eprintln!("{}: error: {failure}", crate::exit::program_name());
    std::process::exit(i32::from(failure.exit_code()))
}

/// The environment `spec` execs with.
fn exec_env(spec: &ExecSpec) -> Result<Vec<CString>, Failure> {
    spec.env
        .apply(std::env::vars_os())
        .into_iter()
        .map(|(k, v)| {
            let mut pair = k.into_vec();
            pair.push(b'=');
            pair.extend(v.into_vec());
            CString::new(pair).map_err(|_| Failure::usage("environment value contains a NUL byte"))
        })
        .collect()
}

/// A command's argv and environment as C strings, built before fork so the child only execs.
struct PreparedCommand {
    argv: Vec<CString>,
    env: Vec<CString>,
}

fn prepare_command(spec: &ExecSpec) -> Result<Option<PreparedCommand>, Failure> {
    if spec.program != Program::Command {
        return Ok(None);
    }
    let argv = cstrings(&spec.argv)?;
    if argv.is_empty() {
        return Err(Failure::usage("no command given"));
    }
    Ok(Some(PreparedCommand {
        argv,
        env: exec_env(spec)?,
    }))
}

/// Execs a prepared command (PATH search as a shell does); returns only on failure.
fn exec_prepared(spec: &ExecSpec, command: &PreparedCommand) -> Failure {
    exec_failure(
        &spec.argv[0],
        nix::unistd::execvpe(&command.argv[0], &command.argv, &command.env).unwrap_err(),
    )
}

/// Replaces this process with the spec's program; returns only on failure.
pub fn exec_program(spec: &ExecSpec) -> Failure {
    let env = match exec_env(spec) {
        Ok(env) => env,
        Err(f) => return f,
    };
    match &spec.program {
        Program::Command => match cstrings(&spec.argv) {
            Ok(argv) if !argv.is_empty() => exec_failure(
                &spec.argv[0],
                nix::unistd::execvpe(&argv[0], &argv, &env).unwrap_err(),
            ),
            Ok(_) => Failure::usage("no command given"),
            Err(f) => f,
        },
        Program::Path(path) => match (
            cstrings(&spec.argv),
            CString::new(path.as_os_str().as_bytes()),
        ) {
            (Ok(argv), Ok(program)) => exec_failure(
                path.as_os_str(),
                nix::unistd::execve(&program, &argv, &env).unwrap_err(),
            ),
            _ => Failure::usage("argument contains a NUL byte"),
        },
        Program::Bwrap(Launcher::Vendored) => {
            // The built-in bubblewrap runs in this process and execs with `environ`: this is the
            // forked child that becomes it, so its own environment is the one to set.
            for (key, _) in std::env::vars_os() {
                if spec.env.remove.contains(&key) {
                    std::env::remove_var(&key);
                }
            }
            for (key, value) in &spec.env.set {
                std::env::set_var(key, value);
            }
            codex_launcher_bwrap::enter(&spec.argv)
        }
        Program::Bwrap(Launcher::System { path, .. }) => {
            let mut argv = vec![OsString::from("bwrap")];
            argv.extend_from_slice(&spec.argv);
            match (cstrings(&argv), CString::new(path.as_os_str().as_bytes())) {
                (Ok(argv), Ok(program)) => {
                    let errno = nix::unistd::execve(&program, &argv, &env).unwrap_err();
                    Failure::refused(format!(
                        "cannot exec system bubblewrap {}: {}",
                        path.display(),
                        std::io::Error::from(errno)
                    ))
                }
                _ => Failure::usage("argument contains a NUL byte"),
            }
        }
    }
}

/// Replaces this process with bubblewrap running `args` (the `/proc` probe's one-off launch).
pub fn exec_bwrap(launcher: &Launcher, args: &[OsString]) -> ! {
    let spec = ExecSpec {
        program: Program::Bwrap(launcher.clone()),
        argv: args.to_vec(),
        env: Default::default(),
        fds: Vec::new(),
        steps: Vec::new(),
        supervision: crate::launch::Supervision::Replace,
    };
    fail_in_child(&exec_program(&spec))
}

/// Whether this process leads its process group, so that `setsid` would fail here.
pub fn leads_process_group() -> bool {
    nix::unistd::getpgrp() == nix::unistd::getpid()
}

/// Runs the spec in a child and waits for it: the child applies the steps and execs; this parent
/// forwards signals (to bubblewrap's sandbox init once `--info-fd` names it, else to the child).
pub fn supervise(spec: &ExecSpec) -> Result<Ended, Failure> {
    supervise_with(spec, None, || Ok(()))
}

/// [`supervise`], with the descriptor for a [`FdSource::ProxyDir`] pass, and `after_fork` run in
/// the parent once the child exists (where the proxy starts its threads: the child must not
/// inherit running threads). If it fails, the child is killed before it can get far.
pub fn supervise_with(
    spec: &ExecSpec,
    proxy_dir: Option<std::os::fd::RawFd>,
    after_fork: impl FnOnce() -> Result<(), Failure>,
) -> Result<Ended, Failure> {
    let wants_info = spec.fds.iter().any(|f| f.source == FdSource::BwrapInfo);
    let info = if wants_info {
        Some(
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(|e| Failure::refused(format!("cannot create a pipe: {e}")))?,
        )
    } else {
        None
    };
    // Everything that allocates happens here, before fork: the child's every written page would
    // be a copy-on-write fault, and that made the fork the dearest part of a Landlock launch.
    let prepared = steps::prepare(&spec.steps)?;
    let command = prepare_command(spec)?;
    let mut sources = Vec::with_capacity(spec.fds.len());
    for pass in &spec.fds {
        sources.push(
            match pass.source {
                FdSource::BwrapInfo => info.as_ref().map(|(_, w)| w.as_raw_fd()),
                FdSource::ProxyDir => proxy_dir,
            }
            .ok_or_else(|| Failure::refused(format!("no descriptor to pass as {}", pass.fd)))?,
        );
    }
    // Without a pid namespace nothing else ends what the task leaves behind.
    super::reap::become_subreaper()?;
    let previous = block_forwarded();
    let parent = nix::unistd::getpid();
    let new_session = spec.steps.contains(&Step::NewSession);
    // SAFETY: the process is single-threaded here; the child adjusts its own state and execs.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            if !new_session {
                // Out of the terminal's foreground group: a Ctrl-C reaches us, and we forward it.
                let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
            }
            // If we die, the child goes too (bubblewrap passes it on with --die-with-parent).
            let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGTERM);
            if nix::unistd::getppid() != parent {
                let _ = signal::raise(Signal::SIGTERM);
            }
            restore_mask(&previous);
            if let Err(f) = steps::apply_prepared(prepared, &spec.fds, &sources) {
                fail_in_child(&f)
            }
            match &command {
                Some(command) => fail_in_child(&exec_prepared(spec, command)),
                None => fail_in_child(&exec_program(spec)),
            }
        }
        Ok(ForkResult::Parent { child }) => {
            if let Err(f) = after_fork() {
                let _ = signal::kill(child, Signal::SIGKILL);
                let _ = waitpid(child, None);
                restore_mask(&previous);
                return Err(f);
            }
            set_handlers(FORWARDED, SigHandler::Handler(forward_signal));
            restore_mask(&previous);
            match info {
                Some((read, write)) => {
                    // Our copy of the write end must close, or reading never ends.
                    drop(write);
                    // Until bubblewrap names the sandbox's init, signals are held; if it never
                    // does (it failed), they go to bubblewrap itself.
                    forward_to(read_child_pid(read).unwrap_or(child.as_raw()));
                }
                None => forward_to(child.as_raw()),
            }
            let ended = wait_for(child);
            super::reap::kill_descendants();
            Ok(ended)
        }
        Err(e) => Err(Failure::refused(format!("fork failed: {e}"))),
    }
}

/// Inner stage: apply the steps, run the command as a child (PID 2 in the sandbox), forward
/// signals to it, reap every process that ends up with us, and exit with the command's code.
pub fn run_as_init(spec: &ExecSpec) -> ! {
    if let Err(f) = steps::apply(&spec.steps, &spec.fds, &[]) {
        fail_in_child(&f)
    }
    // Built before fork: the egress relay's threads may be running, so the child only execs.
    let command = match prepare_command(spec) {
        Ok(command) => command,
        Err(f) => fail_in_child(&f),
    };
    let previous = block_forwarded();
    // SAFETY: the child does no allocation (argv and environment are prepared) and only execs.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            restore_mask(&previous);
            match &command {
                Some(command) => fail_in_child(&exec_prepared(spec, command)),
                None => fail_in_child(&exec_program(spec)),
            }
        }
        Ok(ForkResult::Parent { child }) => {
            forward_to(child.as_raw());
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
        Err(e) => fail_in_child(&Failure::refused(format!("fork failed: {e}"))),
    }
}
