//! Which personality the binary takes, decided by the basename of argv[0] (DESIGN §1).

use std::ffi::OsStr;
use std::path::Path;

/// The program names this binary answers to; `install` creates a symlink for each.
pub const LINKED_NAMES: [&str; 3] = ["codex-run", "codex-linux-sandbox", "codex-entrypoint"];

/// What the binary behaves as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Personality {
    /// `codex-run`: the everyday launcher (`codex-launcher run`).
    Run,
    /// `codex-linux-sandbox`: drop-in for Codex's Linux helper.
    LinuxSandbox,
    /// `codex-entrypoint`: a container's PID 1.
    Entrypoint,
    /// Any other name: the multi-command `codex-launcher`.
    Launcher,
}

impl Personality {
    /// Maps argv[0] to a personality; only the file name counts, so `/x/y/codex-run` is `Run`.
    /// The name errors are reported under.
    pub fn name(self) -> &'static str {
        match self {
            Self::Run => "codex-run",
            Self::LinuxSandbox => "codex-linux-sandbox",
            Self::Entrypoint => "codex-entrypoint",
            Self::Launcher => "codex-launcher",
        }
    }

    pub fn from_argv0(argv0: Option<&OsStr>) -> Self {
        let name = argv0.and_then(|a| Path::new(a).file_name());
        match name.and_then(|n| n.to_str()) {
            Some("codex-run") => Self::Run,
            Some("codex-linux-sandbox") => Self::LinuxSandbox,
            Some("codex-entrypoint") => Self::Entrypoint,
            _ => Self::Launcher,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatches_on_basename_only() {
        let p = |s: &str| Personality::from_argv0(Some(OsStr::new(s)));
        assert_eq!(p("codex-run"), Personality::Run);
        assert_eq!(p("/usr/local/bin/codex-run"), Personality::Run);
        assert_eq!(p("./codex-linux-sandbox"), Personality::LinuxSandbox);
        assert_eq!(p("codex-entrypoint"), Personality::Entrypoint);
        assert_eq!(p("codex-launcher"), Personality::Launcher);
        assert_eq!(p("my-renamed-copy"), Personality::Launcher);
        assert_eq!(p("codex-run-old"), Personality::Launcher);
        assert_eq!(Personality::from_argv0(None), Personality::Launcher);
    }
}
