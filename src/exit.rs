//! The one mapping from failure class to process exit code (STYLE: 2 usage, 1 refused/failed before
//! exec, 126/127 exec problems, the child's code otherwise).

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

/// Why the launcher stopped before (or instead of) running the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// Bad command line or input that a user must correct (exit 2).
    Usage,
    /// The request cannot be carried out safely or something failed before exec (exit 1).
    Refused,
    /// The command exists but cannot be executed (exit 126).
    NotExecutable,
    /// The command was not found (exit 127).
    NotFound,
}

/// A failure with a one-line message naming the offending input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub class: FailureClass,
    pub message: String,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            class: FailureClass::Usage,
            message: message.into(),
        }
    }
    pub fn refused(message: impl Into<String>) -> Self {
        Self {
            class: FailureClass::Refused,
            message: message.into(),
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            class: FailureClass::NotFound,
            message: message.into(),
        }
    }
    pub fn not_executable(message: impl Into<String>) -> Self {
        Self {
            class: FailureClass::NotExecutable,
            message: message.into(),
        }
    }

    /// The process exit code for this failure. `codex-run` and the entrypoint answer 125 for
    /// every failure of their own, as `env`, `chroot` and `docker run` do, so an orchestrator can
    /// tell "the launcher refused" from the command's own 1 or 2; the helper keeps Codex's codes.
    pub fn exit_code(&self) -> u8 {
        let own = launcher_failure_code();
        match self.class {
            FailureClass::Usage => own.unwrap_or(2),
            FailureClass::Refused => own.unwrap_or(1),
            FailureClass::NotExecutable => 126,
            FailureClass::NotFound => 127,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// What a command returns: the exit code to leave with, or why it stopped.
pub type Outcome = Result<u8, Failure>;

static PROGRAM_NAME: std::sync::RwLock<Option<&'static str>> = std::sync::RwLock::new(None);
/// [`LAUNCHER_FAILED`] once a personality that has it started; 0 while none did.
static OWN_FAILURE_CODE: AtomicU8 = AtomicU8::new(0);

/// The exit code for every failure of the launcher itself, when the personality has one.
pub const LAUNCHER_FAILED: u8 = 125;

/// Sets the personality name that prefixes error lines (`codex-run`, `codex-linux-sandbox`, …).
pub fn set_program_name(name: &'static str) {
    *PROGRAM_NAME.write().unwrap_or_else(|e| e.into_inner()) = Some(name);
}

/// From here on, usage errors and refusals exit [`LAUNCHER_FAILED`] (`codex-run`, entrypoint).
pub fn use_launcher_failure_code() {
    OWN_FAILURE_CODE.store(LAUNCHER_FAILED, Ordering::Relaxed);
}

/// From here on failures exit with their own codes again: this process, started as `codex-run`
/// or the entrypoint, has become the helper's inner stage (the built-in bubblewrap runs that stage
/// without an exec).
pub fn drop_launcher_failure_code() {
    OWN_FAILURE_CODE.store(0, Ordering::Relaxed);
}

fn launcher_failure_code() -> Option<u8> {
    Some(OWN_FAILURE_CODE.load(Ordering::Relaxed)).filter(|c| *c != 0)
}

/// The personality name for error lines; `codex-launcher` until one is set.
pub fn program_name() -> &'static str {
    PROGRAM_NAME
        .read()
        .map_or(None, |name| *name)
        .unwrap_or("codex-launcher")
}
