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

use super::stdio::{self, Relays};
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
/// the failure's exit code (which its parent passes on). `_exit`: a child may share its parent's
/// memory, and a forked one holds a copy of the parent's stdout buffer; neither may run here.
pub fn fail_in_child(failure: &Failure) -> ! {
    eprintln!("{}: error: {failure}", crate::exit::program_name());
    // SAFETY: ends this process at once.
    unsafe { libc::_exit(i32::from(failure.exit_code())) }
}

/// Starts `child` (which execs or exits, never returns) as a new process. When it only execs what
/// `exec` prepared and this process is single-threaded, it shares our memory until it does, as
/// posix_spawn's child does: none of our pages is copied or write-faulted for it. Otherwise (the
/// built-in bubblewrap runs in the child itself; other threads could race the child's error
/// message) it is forked.
fn start_child(child: impl FnOnce() -> isize, exec: Option<&PreparedExec>) -> nix::Result<Pid> {
    if let Some(prepared) = exec.filter(|_| single_threaded()) {
        return spawn_sharing_memory(child, prepared.argv.len());
    }
    // SAFETY: the caller's child adjusts its own state and execs (or exits).
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let code = child();
            // SAFETY: only reached if `child` returned, which it does not.
            unsafe { libc::_exit(code as i32) }
        }
        Ok(ForkResult::Parent { child }) => Ok(child),
        Err(e) => Err(e),
    }
}

/// Starts a child that runs `child` (which execs or exits, never returns) on a stack of its own,
/// in this process's memory, while this thread waits until it execs or exits (`CLONE_VM |
/// CLONE_VFORK`, what posix_spawn does). Only for a single-threaded process and a child that
/// execs without allocating on its way: no other thread may change the memory it runs in.
///
/// The stack is a mapping of its own with an inaccessible page below it, sized for what libc's
/// exec puts on it: `execvpe` runs a file without `#!` through `/bin/sh` and copies argv onto the
/// stack to do so (`argc` pointers), and argv is the task's choice. Overrunning a stack carved
/// from our heap would write the task's bytes into the unsandboxed launcher.
fn spawn_sharing_memory(child: impl FnOnce() -> isize, argc: usize) -> nix::Result<Pid> {
    let mut stack = ChildStack::new(CHILD_STACK + (argc + 2) * std::mem::size_of::<usize>())?;
    let mut child = Some(child);
    let flags = nix::sched::CloneFlags::CLONE_VM | nix::sched::CloneFlags::CLONE_VFORK;
    // SAFETY: the caller is single-threaded and suspended until the child execs or exits; the
    // child never returns into our frames (it runs on `stack`, and `child` execs or exits).
    unsafe {
        nix::sched::clone(
            Box::new(|| match child.take() {
                Some(run) => run(),
                None => 127,
            }),
            stack.usable(),
            flags,
            Some(libc::SIGCHLD),
        )
    }
}

/// An anonymous mapping for a child's stack, its lowest page inaccessible (a guard: running off
/// the end faults in the child instead of writing into whatever lies below).
struct ChildStack {
    base: *mut libc::c_void,
    len: usize,
    page: usize,
}

impl ChildStack {
    fn new(size: usize) -> nix::Result<Self> {
        // SAFETY: sysconf only reads a constant.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let len = size.div_ceil(page) * page + page;
        // SAFETY: a fresh private anonymous mapping; nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(nix::errno::Errno::last());
        }
        let stack = Self { base, len, page };
        // SAFETY: the lowest page of the mapping made above.
        if unsafe { libc::mprotect(base, page, libc::PROT_NONE) } != 0 {
            return Err(nix::errno::Errno::last());
        }
        Ok(stack)
    }

    /// The writable part, above the guard page.
    fn usable(&mut self) -> &mut [u8] {
        // SAFETY: the mapping is ours, readable and writable above its first page, and lives as
        // long as self; the only user is the child, while this thread waits for it.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.base.cast::<u8>().add(self.page),
                self.len - self.page,
            )
        }
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: unmaps the mapping made in new, once the child no longer runs on it (it has
        // exec'd or exited: CLONE_VFORK returned).
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// Whether this process has one thread (`/proc/self/stat`'s num_threads); false when that cannot
/// be read.
fn single_threaded() -> bool {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return false;
    };
    // num_threads is field 20.
    crate::proc_stat::field::<u64>(&stat, 20) == Some(1)
}

/// The child's stack for [`spawn_sharing_memory`], besides what argv needs: its steps (a Landlock
/// ruleset, a seccomp filter), an error message and libc's PATH search need far less.
const CHILD_STACK: usize = 256 * 1024;

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

/// What a child execs, built before fork so that the child only execs (every page a forked child
/// writes is a copy-on-write fault): the program (None: a PATH search for argv[0], as a shell
/// does), argv and environment as C strings.
struct PreparedExec {
    program: Option<CString>,
    argv: Vec<CString>,
    env: Vec<CString>,
}

/// None for the built-in bubblewrap, which runs in the process that would exec.
fn prepare_exec(spec: &ExecSpec) -> Result<Option<PreparedExec>, Failure> {
    let c_path = |path: &std::path::Path| {
        CString::new(path.as_os_str().as_bytes())
            .map_err(|_| Failure::usage(format!("path contains a NUL byte: {}", path.display())))
    };
    let (program, argv) = match &spec.program {
        Program::Bwrap(Launcher::Vendored) => return Ok(None),
        Program::Command => (None, cstrings(&spec.argv)?),
        Program::Path(path) => (Some(c_path(path)?), cstrings(&spec.argv)?),
        Program::Bwrap(Launcher::System { path, .. }) => {
            let mut argv = vec![OsString::from("bwrap")];
            argv.extend_from_slice(&spec.argv);
            (Some(c_path(path)?), cstrings(&argv)?)
        }
    };
    if argv.is_empty() {
        return Err(Failure::usage("no command given"));
    }
    Ok(Some(PreparedExec {
        program,
        argv,
        env: exec_env(spec)?,
    }))
}

/// Execs what [`prepare_exec`] built; returns only on failure.
fn exec_prepared(spec: &ExecSpec, prepared: &PreparedExec) -> Failure {
    let (argv, env) = (&prepared.argv, &prepared.env);
    let errno = match &prepared.program {
        None => nix::unistd::execvpe(&argv[0], argv, env).unwrap_err(),
        Some(program) => nix::unistd::execve(program, argv, env).unwrap_err(),
    };
    match &spec.program {
        Program::Bwrap(Launcher::System { path, .. }) => Failure::refused(format!(
            "cannot exec system bubblewrap {}: {}",
            path.display(),
            std::io::Error::from(errno)
        )),
        Program::Path(path) => exec_failure(path.as_os_str(), errno),
        _ => exec_failure(&spec.argv[0], errno),
    }
}

/// Replaces this process with the spec's program; returns only on failure.
pub fn exec_program(spec: &ExecSpec) -> Failure {
    match prepare_exec(spec) {
        Ok(Some(prepared)) => exec_prepared(spec, &prepared),
        Ok(None) => enter_vendored_bwrap(spec),
        Err(f) => f,
    }
}

/// The built-in bubblewrap runs in this process and execs with `environ`: this is the process
/// (a forked child, or the launcher exec'ing in place) that becomes it, so its own environment is
/// the one to set.
fn enter_vendored_bwrap(spec: &ExecSpec) -> ! {
    for (key, _) in std::env::vars_os() {
        if spec.env.remove.contains(&key) {
            std::env::remove_var(&key);
        }
    }
    for (key, value) in &spec.env.set {
        std::env::set_var(key, value);
    }
    let options = spec.argv.iter().take_while(|a| *a != "--");
    if options.into_iter().any(|a| a == "--die-with-parent") {
        codex_launcher_bwrap::child_dies_with_monitor();
    }
    match own_inner_stage(&spec.argv) {
        Some(own) => codex_launcher_bwrap::enter_running_in_process(&spec.argv, own),
        None => codex_launcher_bwrap::enter(&spec.argv),
    }
}

/// When bubblewrap's program (after its `--`) is this binary's inner stage: the same stage, run by
/// the process that set the sandbox up instead of by an exec of this binary there, which would
/// only load again what this process already holds (1.25 ms of a 15 ms launch here).
fn own_inner_stage(bwrap_args: &[OsString]) -> Option<codex_launcher_bwrap::InProcess> {
    let split = bwrap_args.iter().position(|a| a == "--")?;
    let (path, args) = bwrap_args[split + 1..].split_first()?;
    let inner = args
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "--apply-seccomp-then-exec");
    inner.then(|| codex_launcher_bwrap::InProcess {
        path: path.clone(),
        args: args.to_vec(),
        run: crate::helper::inner_stage_in_process,
    })
}

/// What an exec would have done to this process, for a stage that runs where an exec of this
/// binary would have been (the built-in bubblewrap's inner stage): every descriptor above stderr
/// closed (none is for this stage: an exec'd one closes them all before the command), every
/// handler back to default (ignored signals stay ignored), nothing remembered from outside the
/// sandbox, `argv` as its command line. And unlike after an exec, this process still holds the
/// launcher's memory: it is made undumpable, so no task process may read it (ptrace,
/// `/proc/1/mem`) without CAP_SYS_PTRACE. Exits 1 if any of that cannot be done.
pub fn as_if_exec_d(argv: &[OsString]) {
    if let Err(f) = super::steps::close_descriptors_above_stderr() {
        fail_in_child(&f)
    }
    for sig in 1..=libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: reads the disposition, and resets a handler (never an ignore) to the default.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction != libc::SIG_DFL
                && old.sa_sigaction != libc::SIG_IGN
            {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
    }
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        fail_in_child(&Failure::refused(format!(
            "inner stage: cannot make PID 1 undumpable: {e}"
        )))
    }
    if let Err(f) = show_command_line(argv) {
        fail_in_child(&f)
    }
    crate::fs::forget_resolved();
}

/// Writes `argv` over this process's command line as the kernel shows it (`/proc/PID/cmdline`,
/// which any process of the sandbox may read): as much as the original area holds, NUL-padded.
/// The stage shows its own arguments, as after an exec, and not the launcher's, which under
/// `codex-run` name host paths and settings that are none of the task's business. Where this
/// process cannot read its own `/proc/self/stat` (no `/proc` in the sandbox, or a denied one), no
/// task process, which sees the same mounts, can read `/proc/1/cmdline` either: nothing to do.
fn show_command_line(argv: &[OsString]) -> Result<(), Failure> {
    let unreadable = |why: String| Failure::refused(format!("inner stage: {why}"));
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Ok(());
    };
    // Fields 48 and 49: arg_start and arg_end.
    let field = |n| crate::proc_stat::field::<usize>(&stat, n);
    let (Some(start), Some(end)) = (field(48), field(49)) else {
        return Err(unreadable("no argument area in /proc/self/stat".into()));
    };
    if start == 0 || end <= start {
        return Err(unreadable(format!("argument area {start:#x}..{end:#x}")));
    }
    let mut text: Vec<u8> = argv
        .iter()
        .flat_map(|a| a.as_bytes().iter().copied().chain([0]))
        .collect();
    text.resize(end - start, 0);
    if let Some(last) = text.last_mut() {
        *last = 0;
    }
    // SAFETY: [start, end) is this process's own argument area, on the initial stack it keeps
    // mapped and writable for its life; nothing holds a reference into it (std copies argv out).
    unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), start as *mut u8, text.len()) };
    Ok(())
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
    supervise_with(spec, None, Relays::default(), || Ok(()))
}

/// [`supervise`], with the descriptor for a [`FdSource::ProxyDir`] pass, the relays for the
/// child's descriptors 0-2, and `after_fork` run in the parent once the child exists (where the
/// proxy starts its threads: the child must not inherit running threads). If it fails, the child
/// is killed before it can get far.
pub fn supervise_with(
    spec: &ExecSpec,
    proxy_dir: Option<std::os::fd::RawFd>,
    relays: Relays,
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
    let command = prepare_exec(spec)?;
    let relay_ends = relays.child_ends();
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
    let child_steps = || -> ! {
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
        if let Err(f) = stdio::install(&relay_ends) {
            fail_in_child(&f)
        }
        if let Err(f) = steps::apply_prepared(prepared, &spec.fds, &sources) {
            fail_in_child(&f)
        }
        match &command {
            Some(command) => fail_in_child(&exec_prepared(spec, command)),
            None => enter_vendored_bwrap(spec),
        }
    };
    match start_child(|| child_steps(), command.as_ref()) {
        Ok(child) => {
            // Nothing resolved while planning may be trusted once the task runs (fs::realpath).
            crate::fs::forget_resolved();
            let pumps = relays.start();
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
            pumps.finish();
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
    let command = match prepare_exec(spec) {
        Ok(command) => command,
        Err(f) => fail_in_child(&f),
    };
    let previous = block_forwarded();
    let child_steps = || -> ! {
        restore_mask(&previous);
        match &command {
            Some(command) => fail_in_child(&exec_prepared(spec, command)),
            None => enter_vendored_bwrap(spec),
        }
    };
    // With the egress relay's threads running, start_child forks.
    match start_child(|| child_steps(), command.as_ref()) {
        Ok(child) => {
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
