//! The complete launch as inert data: which program, with which argv, environment, working
//! directory and descriptors, after which pre-exec steps, and how the launcher stays around (or
//! not). Planning fills it in; `exec::exec_plan` is the one interpreter, for every backend and
//! stage, and `explain` prints it. Nothing here touches the process.

use std::ffi::OsString;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::{json, Value};

use crate::backend::landlock::LandlockPlan;
use crate::backend::seccomp::SeccompMode;
use crate::probe::bwrap::Launcher;

/// The descriptor bubblewrap reports the sandbox's init pid on (`--info-fd`). Fixed, so the plan
/// (and what `explain` prints) does not depend on which descriptor a pipe happened to get.
pub const INFO_FD: i32 = 3;
/// The descriptor of the proxy's private socket directory, bound into bubblewrap
/// (`--ro-bind-fd`), so the argv names no host path chosen at launch.
pub const PROXY_DIR_FD: i32 = 4;

/// What is executed at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// The command itself, looked up on `PATH` like a shell would.
    Command,
    /// A bubblewrap, with the argv in [`ExecSpec::argv`] (without the program name).
    Bwrap(Launcher),
    /// A fixed program (Seatbelt's `sandbox-exec`), argv[0] included in [`ExecSpec::argv`].
    Path(PathBuf),
}

/// One thing done to the process between fork (if any) and exec, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Marks every descriptor above stderr close-on-exec, then installs the plan's [`FdPass`]es:
    /// nothing the caller leaked reaches the sandbox.
    CloseInheritedFds,
    /// `setsid`: no controlling terminal, so `TIOCSTI` cannot push input into the caller's.
    NewSession,
    /// Empties the bounding, ambient, inheritable, permitted and effective sets and locks root's
    /// special treatment away, so a task started by root cannot regain capabilities by exec.
    DropCapabilities,
    /// `PR_SET_NO_NEW_PRIVS`: no setuid or file-capability gain at exec.
    NoNewPrivs,
    Landlock(LandlockPlan),
    Seccomp(SeccompMode),
    Chdir(PathBuf),
}

impl Step {
    pub fn name(&self) -> &'static str {
        match self {
            Self::CloseInheritedFds => "close_inherited_fds",
            Self::NewSession => "new_session",
            Self::DropCapabilities => "drop_capabilities",
            Self::NoNewPrivs => "no_new_privs",
            Self::Landlock(_) => "landlock",
            Self::Seccomp(_) => "seccomp",
            Self::Chdir(_) => "chdir",
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Self::Landlock(p) => json!({"step": self.name(), "abi": p.abi, "rules": p.rules.len()}),
            Self::Seccomp(m) => json!({"step": self.name(), "mode": m}),
            Self::Chdir(dir) => json!({"step": self.name(), "dir": dir.to_string_lossy()}),
            _ => json!({"step": self.name()}),
        }
    }
}

/// A descriptor the launched program receives at a fixed number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FdSource {
    /// The write end of the pipe bubblewrap's `--info-fd` reports on.
    BwrapInfo,
    /// The egress proxy's private socket directory.
    ProxyDir,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FdPass {
    pub fd: i32,
    pub source: FdSource,
}

/// How the launcher relates to what it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Supervision {
    /// Exec in place: nothing of the launcher remains.
    Replace,
    /// Fork; the child runs the steps and execs, the parent forwards signals, waits, cleans up
    /// what it created on the host, and exits like the child.
    Supervise,
    /// Inside the sandbox: fork; the parent is init (forwards signals, reaps every orphan).
    Init,
    /// [`Replace`](Self::Replace) when this process can start the command's new session itself,
    /// that is when it leads no process group (then `setsid` succeeds, as under Codex or any
    /// caller without job control): nothing sits between the caller and the command, which gets
    /// the caller's signals directly, and no fork and wait cost time. A shell's job (a group
    /// leader) gets [`Supervise`](Self::Supervise). The command runs in a session of its own
    /// either way.
    ReplaceUnlessGroupLeader,
}

/// Environment changes applied to the launcher's environment for `execve`; the launcher's own
/// environment is never modified.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvSpec {
    pub set: Vec<(OsString, OsString)>,
    pub remove: Vec<OsString>,
}

impl EnvSpec {
    /// The environment for exec: `base` without the removed names, with the set ones (last wins).
    pub fn apply(
        &self,
        base: impl Iterator<Item = (OsString, OsString)>,
    ) -> Vec<(OsString, OsString)> {
        let mut out: Vec<(OsString, OsString)> = base
            .filter(|(k, _)| !self.remove.contains(k) && !self.set.iter().any(|(s, _)| s == k))
            .collect();
        out.extend(self.set.iter().cloned());
        out
    }
}

/// Everything the executor does for one stage of a launch.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecSpec {
    pub program: Program,
    /// For [`Program::Command`] the command line; for bubblewrap its arguments; for a path, the
    /// whole argv.
    pub argv: Vec<OsString>,
    pub env: EnvSpec,
    pub fds: Vec<FdPass>,
    pub steps: Vec<Step>,
    pub supervision: Supervision,
}

fn lossy(items: &[OsString]) -> Vec<String> {
    items
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

impl ExecSpec {
    /// The `launch` object of `explain --json`.
    pub fn to_json(&self) -> Value {
        let program = match &self.program {
            Program::Command => json!({"kind": "command"}),
            Program::Bwrap(Launcher::System { path, .. }) => {
                json!({"kind": "bwrap", "path": path.to_string_lossy()})
            }
            Program::Bwrap(Launcher::Vendored) => {
                json!({"kind": "bwrap", "path": null, "built_in": true})
            }
            Program::Path(p) => json!({"kind": "path", "path": p.to_string_lossy()}),
        };
        let pair = |(k, v): &(OsString, OsString)| json!({"key": k.to_string_lossy(), "value": v.to_string_lossy()});
        json!({
            "program": program,
            "argv": lossy(&self.argv),
            "env_set": self.env.set.iter().map(pair).collect::<Vec<_>>(),
            "env_remove": lossy(&self.env.remove),
            "fds": self.fds,
            "pre_exec": self.steps.iter().map(Step::to_json).collect::<Vec<_>>(),
            "supervision": self.supervision,
        })
    }
}

/// Serialises a path as text, replacing bytes that are not UTF-8 (JSON cannot carry them), so a
/// plan for a workspace with such a name still prints.
pub fn serialize_path_lossy<S: serde::Serializer>(
    path: &std::path::Path,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(&path.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_spec_removes_then_sets() {
        let spec = EnvSpec {
            set: vec![("A".into(), "new".into())],
            remove: vec!["B".into()],
        };
        let base = [("A", "old"), ("B", "x"), ("C", "y")]
            .into_iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let out = spec.apply(base);
        assert_eq!(
            out,
            vec![("C".into(), "y".into()), ("A".into(), "new".into())]
        );
    }
}
