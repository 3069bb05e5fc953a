//! The one mapping from failure class to process exit code (STYLE: 2 usage, 1 refused/failed before
//! exec, 126/127 exec problems, the child's code otherwise).

use std::fmt;

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

static PROGRAM_NAME: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
static OWN_FAILURE_CODE: std::sync::OnceLock<u8> = std::sync::OnceLock::new();

/// The exit code for every failure of the launcher itself, when the personality has one.
pub const LAUNCHER_FAILED: u8 = 125;

/// Sets the personality name that prefixes error lines (`codex-run`, `codex-linux-sandbox`, …).
pub fn set_program_name(name: &'static str) {
    let _ = PROGRAM_NAME.set(name);
}

/// From here on, usage errors and refusals exit [`LAUNCHER_FAILED`] (`codex-run`, entrypoint).
pub fn use_launcher_failure_code() {
    let _ = OWN_FAILURE_CODE.set(LAUNCHER_FAILED);
}

fn launcher_failure_code() -> Option<u8> {
    OWN_FAILURE_CODE.get().copied()
}

/// The personality name for error lines; `codex-launcher` until one is set.
pub fn program_name() -> &'static str {
    PROGRAM_NAME.get().copied().unwrap_or("codex-launcher")
}
