//! A real bubblewrap run, uncached, with the layout of a launch: new user, mount, PID, IPC and
//! network namespaces, `/` bound read-only, a fresh `/dev`, all capabilities dropped. The host
//! probe only tries `unshare` and a mount; this goes through everything bubblewrap does after
//! (`pivot_root`, `umount2`, its capability checks), so a container that allows the first and
//! refuses the rest (Docker's default profile with `--cap-add SYS_ADMIN` refuses `pivot_root`)
//! is seen before a task fails on it. A second run adds `--proc /proc`: the masked `/proc` check.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::probe::bwrap::Launcher;

/// A trial that has not finished by then counts as failed: a hung bwrap is a problem too.
const TIMEOUT: Duration = Duration::from_secs(5);

/// One bubblewrap run: did it start `true` and exit 0, and what it said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    pub ok: bool,
    pub stderr: String,
}

/// Both runs with the bubblewrap a launch would use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trial {
    /// The bwrap tried: its path, or `built-in` for the vendored copy.
    pub bwrap: String,
    /// Namespaces, mounts and `pivot_root`.
    pub setup: Attempt,
    /// The same plus a fresh `/proc`; only tried when `setup` works.
    pub proc: Option<Attempt>,
}

/// Runs the trials with `launcher` (the system bwrap the ladder would pick, or the built-in one).
pub fn run(launcher: &Launcher) -> Trial {
    let bwrap = match launcher {
        Launcher::System { path, .. } => path.display().to_string(),
        Launcher::Vendored => "built-in".to_string(),
    };
    let setup = attempt(launcher, false);
    let proc = setup.ok.then(|| attempt(launcher, true));
    Trial { bwrap, setup, proc }
}

/// The argv after `bwrap`: the parts of a real plan that touch the kernel, none of its policy.
pub fn args(with_proc: bool) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "--new-session",
        "--die-with-parent",
        "--unshare-user",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-net",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
    ]
    .map(OsString::from)
    .to_vec();
    if with_proc {
        args.extend(["--proc", "/proc"].map(OsString::from));
    }
    let true_bin = ["/usr/bin/true", "/bin/true"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("true");
    args.extend(["--cap-drop", "ALL", "--", true_bin].map(OsString::from));
    args
}

fn command(launcher: &Launcher) -> Option<Command> {
    match launcher {
        Launcher::System { path, .. } => Some(Command::new(path)),
        Launcher::Vendored => {
            // The built-in copy runs as `codex-launcher bwrap ...`, exactly as a launch enters it.
            let me: PathBuf = std::env::current_exe().ok()?;
            let mut cmd = Command::new(me);
            cmd.arg("bwrap");
            Some(cmd)
        }
    }
}

fn attempt(launcher: &Launcher, with_proc: bool) -> Attempt {
    let failed = |stderr: String| Attempt { ok: false, stderr };
    let Some(mut cmd) = command(launcher) else {
        return failed("cannot locate this executable to run its built-in bubblewrap".into());
    };
    let child = cmd
        .args(args(with_proc))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return failed(format!("cannot start bubblewrap: {e}")),
    };
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return failed(format!(
                    "bubblewrap did not finish within {}s",
                    TIMEOUT.as_secs()
                ));
            }
        }
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let mut bytes = Vec::new();
        let _ = pipe.by_ref().take(16 * 1024).read_to_end(&mut bytes);
        stderr = String::from_utf8_lossy(&bytes).trim().to_string();
    }
    Attempt {
        ok: status.success(),
        stderr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proc_run_differs_only_by_a_fresh_proc() {
        let base = args(false);
        let with = args(true);
        assert_eq!(with.len(), base.len() + 2);
        assert!(with.windows(2).any(|w| w[0] == "--proc" && w[1] == "/proc"));
        assert!(!base.iter().any(|a| a == "--proc"));
        assert!(base.iter().any(|a| a == "--unshare-user"));
    }
}
