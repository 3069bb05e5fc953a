//! `codex-entrypoint`: a container's PID 1. It starts the run (what `codex-run` does) as a child
//! in its own process group, forwards signals to it, reaps every process that ends up with it, and
//! on the way out gives what remains a grace period between SIGTERM and SIGKILL. It blocks in
//! `sigtimedwait`; nothing polls.

pub mod env;

use std::time::{Duration, Instant};

use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

use crate::cli::RunArgs;
use crate::exec::reap::{adopted_children, descendants_of, process_table};
use crate::exec::{self, FORWARDED};
use crate::exit::{Failure, Outcome};

extern "C" fn ignore(_: libc::c_int) {}

/// `codex-entrypoint`: applies the `CODEX_RUN_*` variables to the options not given as flags in
/// `matches`, then runs as init.
pub fn start(mut args: RunArgs, matches: &clap::ArgMatches) -> Outcome {
    let vars: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.to_string_lossy().into_owned())))
        .collect();
    let grace = env::apply(&mut args, &vars, |id| {
        matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
    })?;
    run(args, grace)
}

/// `codex-run`: the `CODEX_RUN_*` variables apply as they do for the entrypoint (a flag wins),
/// so a variable set for one is not silently ignored by the other, and a misspelt one is an error.
pub fn run_with_env(mut args: RunArgs, matches: &clap::ArgMatches) -> Outcome {
    let vars: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.to_string_lossy().into_owned())))
        .collect();
    env::apply(&mut args, &vars, |id| {
        matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
    })?;
    crate::run::run(args)
}

/// Runs `args` as the child of this init and never returns in the parent; in the child it returns
/// what the run returns (an error before the command started).
pub fn run(args: RunArgs, grace: Duration) -> Outcome {
    let watched: SigSet = FORWARDED.iter().copied().chain([Signal::SIGCHLD]).collect();
    let previous = exec::block(&watched)
        .map_err(|e| Failure::refused(format!("cannot block signals: {e}")))?;
    let me = nix::unistd::getpid();
    if me.as_raw() != 1 {
        // Orphans of the task come to us instead of the real init, so we can reap them.
        exec::reap::become_subreaper()?;
    }
    tracing::debug!(pid = me.as_raw(), grace = ?grace, "entrypoint starting");
    // SAFETY: single-threaded; the child runs ordinary code and then execs.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
            take_terminal();
            exec::restore_mask(&previous);
            crate::run::run(args)
        }
        Ok(ForkResult::Parent { child }) => {
            // Blocked signals reach PID 1 even without handlers; handlers make sure a signal
            // that is somehow unblocked is never fatal to init.
            exec::set_handlers(watched.iter(), SigHandler::Handler(ignore));
            let code = Supervisor::new(child, grace, me.as_raw() == 1).run(&watched);
            Ok(code)
        }
        Err(e) => Err(Failure::refused(format!("fork failed: {e}"))),
    }
}

/// With a terminal on stdin that we own in the foreground, hands it to the task's process group,
/// so an interactive Codex can read it.
fn take_terminal() {
    let stdin = std::io::stdin();
    let Ok(foreground) = nix::unistd::tcgetpgrp(&stdin) else {
        return;
    };
    if foreground != nix::unistd::getpgid(Some(nix::unistd::getppid())).unwrap_or(foreground) {
        return;
    }
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: ignoring SIGTTOU while we change the foreground group, then restoring it.
    let old = unsafe { signal::sigaction(Signal::SIGTTOU, &ignore) };
    let _ = nix::unistd::tcsetpgrp(&stdin, nix::unistd::getpgrp());
    if let Ok(old) = old {
        // SAFETY: restoring the previous disposition.
        let _ = unsafe { signal::sigaction(Signal::SIGTTOU, &old) };
    }
}

struct Supervisor {
    child: Pid,
    grace: Duration,
    is_init: bool,
    /// The task's exit code (128+N for a signal), once it has ended.
    task_code: Option<u8>,
    /// When to send SIGKILL, while a grace period runs.
    kill_at: Option<Instant>,
    /// The task was killed; the launcher process (our child) is cleaning up.
    cleaning_up: bool,
    reaped: usize,
}

enum Woken {
    Signal(Signal),
    Timeout,
}

impl Supervisor {
    fn new(child: Pid, grace: Duration, is_init: bool) -> Self {
        Self {
            child,
            grace,
            is_init,
            task_code: None,
            kill_at: None,
            cleaning_up: false,
            reaped: 0,
        }
    }

    fn run(mut self, watched: &SigSet) -> u8 {
        loop {
            let task_was_running = self.task_code.is_none();
            let any_left = self.reap();
            if task_was_running && self.task_code.is_some() && any_left {
                tracing::debug!("task ended; SIGTERM to the processes that remain");
                self.signal_rest(Signal::SIGTERM);
                self.start_grace();
            }
            if let Some(code) = self.task_code.filter(|_| !any_left) {
                tracing::debug!(reaped = self.reaped, code, "entrypoint done");
                return code;
            }
            match self.wait(watched) {
                Woken::Signal(Signal::SIGCHLD) => {}
                Woken::Signal(sig) => {
                    if self.task_code.is_none() {
                        let _ = signal::kill(self.child, sig);
                        if sig == Signal::SIGTERM {
                            // The runtime wants us gone: the task gets the grace period.
                            self.start_grace();
                        }
                    }
                }
                Woken::Timeout if !self.cleaning_up && self.task_code.is_none() => {
                    // Kill the task but not the launcher between us and it: it still has to
                    // remove the mount points bubblewrap made in the workspace, which it does
                    // as soon as the sandbox is gone. It gets a short while for that.
                    tracing::debug!("grace period over; SIGKILL to all but the launcher");
                    self.kill_all_but_child();
                    self.cleaning_up = true;
                    self.kill_at = Some(Instant::now() + CLEANUP_ALLOWANCE);
                }
                Woken::Timeout => {
                    tracing::debug!("SIGKILL to everything left");
                    if self.task_code.is_none() {
                        let _ = signal::kill(self.child, Signal::SIGKILL);
                    }
                    self.signal_rest(Signal::SIGKILL);
                    self.kill_at = None;
                }
            }
        }
    }

    fn start_grace(&mut self) {
        if self.kill_at.is_none() {
            self.kill_at = Some(Instant::now() + self.grace);
        }
    }

    /// Reaps every exited child; returns whether any child is left.
    fn reap(&mut self) -> bool {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => return true,
                Ok(WaitStatus::Exited(pid, code)) => self.note(pid, code as u8),
                Ok(WaitStatus::Signaled(pid, sig, _)) => self.note(pid, 128 + sig as u8),
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(_) => return false, // ECHILD: nobody left
            }
        }
    }

    fn note(&mut self, pid: Pid, code: u8) {
        self.reaped += 1;
        if pid == self.child {
            self.task_code = Some(code);
        }
    }

    /// Everything else that is still ours: as PID 1 every process in the namespace, otherwise the
    /// task's process group and our adopted children.
    fn signal_rest(&self, sig: Signal) {
        if self.is_init {
            let _ = signal::kill(Pid::from_raw(-1), sig);
            return;
        }
        let _ = signal::killpg(self.child, sig);
        for pid in adopted_children() {
            let _ = signal::kill(pid, sig);
        }
    }

    /// SIGKILL to every process of ours except our direct child, the launcher's supervisor.
    fn kill_all_but_child(&self) {
        let me = nix::unistd::getpid();
        let doomed: Vec<Pid> = if self.is_init {
            process_table()
                .iter()
                .map(|(pid, _)| *pid)
                .filter(|p| *p != me)
                .collect()
        } else {
            descendants_of(me)
        };
        for pid in doomed.into_iter().filter(|p| *p != self.child) {
            let _ = signal::kill(pid, Signal::SIGKILL);
        }
    }

    fn wait(&self, watched: &SigSet) -> Woken {
        let timeout = self
            .kill_at
            .map(|at| at.saturating_duration_since(Instant::now()));
        if timeout == Some(Duration::ZERO) {
            return Woken::Timeout;
        }
        let spec = timeout.map(|t| libc::timespec {
            tv_sec: t.as_secs() as libc::time_t,
            tv_nsec: t.subsec_nanos() as libc::c_long,
        });
        loop {
            // SAFETY: valid signal set and optional timespec; no siginfo wanted.
            let n = unsafe {
                libc::sigtimedwait(
                    watched.as_ref(),
                    std::ptr::null_mut(),
                    spec.as_ref().map_or(std::ptr::null(), |s| s as *const _),
                )
            };
            if n > 0 {
                return match Signal::try_from(n) {
                    Ok(sig) => Woken::Signal(sig),
                    Err(_) => Woken::Signal(Signal::SIGCHLD),
                };
            }
            match nix::errno::Errno::last() {
                nix::errno::Errno::EAGAIN => return Woken::Timeout,
                _ => continue, // EINTR
            }
        }
    }
}

/// How long the launcher may take to clean up after the grace period killed the task.
const CLEANUP_ALLOWANCE: Duration = Duration::from_secs(3);
