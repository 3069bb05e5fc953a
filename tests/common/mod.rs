//! Shared harness for the integration tests: the built binary, personality links, and the
//! environments DESIGN §8 asks for (unprivileged user, no user namespaces, PID 1).
#![allow(dead_code)]

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_codex-launcher"))
}

/// A command for the launcher under `name` (a symlink in `dir`, created if needed).
pub fn personality(dir: &Path, name: &str) -> Command {
    let link = dir.join(name);
    if std::fs::symlink_metadata(&link).is_err() {
        std::os::unix::fs::symlink(bin(), &link).expect("create personality link");
    }
    Command::new(link)
}

/// A temp dir that uid 65534 can use too (tempfile makes 0700 dirs owned by the caller).
pub fn shared_tempdir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("cl-test-")
        .tempdir_in(scratch_root())
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

/// Where test dirs live: not under /tmp, so tests see the same layout as a real workspace and
/// the sandbox's own /tmp handling does not interfere.
pub fn scratch_root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&root).unwrap();
    root
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Wraps `cmd` so it runs as uid/gid 65534 with no supplementary groups, or says why it cannot.
pub fn as_nobody(cmd: &Command) -> Result<Command, String> {
    if !is_root() {
        return Err("skipped: running as uid 65534 needs root".into());
    }
    let mut wrapped = Command::new("setpriv");
    wrapped.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
    wrapped.arg(cmd.get_program()).args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    Ok(wrapped)
}

/// Runs and captures; panics with the command line if it cannot be spawned at all.
pub fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot spawn {:?}: {e}", cmd))
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Prints a loud skip line (captured by the test runner, shown with --nocapture) and returns.
pub fn skip(reason: &str) {
    eprintln!("SKIPPED: {reason}");
}

pub fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}
