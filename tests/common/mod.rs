//! Shared harness for the integration tests: the built binary, personality links, and the
//! environments DESIGN §8 asks for (unprivileged user, no user namespaces, PID 1).
#![allow(dead_code)]

pub mod attack;
pub mod codex;
pub mod homes;
pub mod listeners;
pub mod mock_model;
pub mod scene;
pub mod token_server;
pub mod write_sites;

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
/// Outside the temp dir even when the checkout sits in /tmp (as a CI clone may): tests use these
/// as HOME and workspaces, and a per-task home under the temp dir is refused.
pub fn shared_tempdir() -> tempfile::TempDir {
    shared_tempdir_in(&home_scratch_root(), "cl-test-")
}

/// A temp dir (mode 0777) for per-task homes, which must not be under the temp dir.
pub fn home_tempdir(prefix: &str) -> tempfile::TempDir {
    shared_tempdir_in(&home_scratch_root(), prefix)
}

fn shared_tempdir_in(root: &Path, prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(root)
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
    Ok(wrap(wrapped, cmd))
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

/// A test's prerequisite is missing (root, a tool, the reference Codex). Under `CI=true`, where
/// `.ci/run` provides every prerequisite, that is a failure: a skipped test must not pass CI
/// silently. Elsewhere the test is skipped, loudly and counted: a line on stderr and one in
/// `target/tmp/skipped-tests.log` (`wc -l` it after a run; `.ci/run` clears it first).
pub fn skip(reason: &str) {
    skip_or_fail(
        reason,
        under_ci(),
        &scratch_root().join("skipped-tests.log"),
    );
}

/// Whether this run is CI's (`CI=true` or `CI=1`, as CI systems set it).
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// [`skip`] with the CI decision and the log made by the caller.
pub fn skip_or_fail(reason: &str, ci: bool, log: &Path) {
    let test = std::thread::current()
        .name()
        .unwrap_or("unnamed test")
        .to_string();
    if ci {
        panic!("missing prerequisite under CI=true: {reason} ({test})");
    }
    eprintln!("SKIPPED: {reason}");
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        let _ = writeln!(f, "{test}: {reason}");
    }
}

/// Prints a note about reduced coverage that no prerequisite can change (a kernel setting); the
/// test still checks what it can, under CI too.
pub fn note(text: &str) {
    eprintln!("NOTE: {text}");
}

pub fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// Wraps `cmd` so it runs where user namespaces cannot be created (DESIGN §8), optionally as `uid`.
pub fn without_userns(cmd: &Command, uid: Option<u32>) -> Result<Command, String> {
    if !is_root() {
        return Err("skipped: the no-userns environment needs root".into());
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/no_userns.py");
    let mut wrapped = Command::new("/usr/bin/python3");
    wrapped.arg(script);
    if let Some(uid) = uid {
        wrapped.args(["--uid", &uid.to_string()]);
    }
    Ok(wrap(wrapped, cmd))
}

/// Wraps `cmd` so it runs as PID 1 of a new PID namespace with its own /proc (DESIGN §8).
pub fn as_pid1(cmd: &Command) -> Result<Command, String> {
    if !is_root() {
        return Err("skipped: a new PID namespace needs root".into());
    }
    let mut wrapped = Command::new("unshare");
    wrapped.args(["--pid", "--fork", "--mount-proc"]);
    Ok(wrap(wrapped, cmd))
}

/// `wrapper ... cmd`: the wrapper runs cmd's program and args with cmd's cwd and environment.
pub fn wrap(mut wrapper: Command, cmd: &Command) -> Command {
    wrapper.arg(cmd.get_program()).args(cmd.get_args());
    copy_context(&mut wrapper, cmd);
    wrapper
}

/// A copy of `cmd`: program, args, cwd and environment changes.
pub fn copy(cmd: &Command) -> Command {
    let mut c = Command::new(cmd.get_program());
    c.args(cmd.get_args());
    copy_context(&mut c, cmd);
    c
}

fn copy_context(into: &mut Command, from: &Command) {
    if let Some(dir) = from.get_current_dir() {
        into.current_dir(dir);
    }
    for (k, v) in from.get_envs() {
        match v {
            Some(v) => into.env(k, v),
            None => into.env_remove(k),
        };
    }
}

/// A fresh test tree usable by uid 65534 too: `base/ws` (the workspace) and `base/cache` (the probe
/// cache, for `XDG_CACHE_HOME`).
pub struct Setup {
    _dir: tempfile::TempDir,
    pub base: PathBuf,
    pub ws: PathBuf,
    pub cache: PathBuf,
}

pub fn setup() -> Setup {
    let dir = shared_tempdir();
    let base = dir.path().canonicalize().unwrap();
    let ws = base.join("ws");
    let cache = base.join("cache");
    for d in [&ws, &cache] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    Setup {
        _dir: dir,
        base,
        ws,
        cache,
    }
}

/// Codex's workspace-write profile for `ws`, network restricted.
/// The helper on `backend` with a workspace-write profile for `s.ws`, running `command` there.
pub fn helper_on(s: &Setup, backend: &str, command: &[&str]) -> Command {
    helper_with_profile(s, backend, &workspace_write(&s.ws), command)
}

/// [`helper_on`] with the permission profile JSON `profile`.
pub fn helper_with_profile(s: &Setup, backend: &str, profile: &str, command: &[&str]) -> Command {
    helper_with_flags(s, backend, profile, &[], command)
}

/// [`helper_with_profile`] with the helper's own `flags` (`--no-proc`, ...) before the command.
pub fn helper_with_flags(
    s: &Setup,
    backend: &str,
    profile: &str,
    flags: &[&str],
    command: &[&str],
) -> Command {
    let mut cmd = personality(&s.base, "codex-linux-sandbox");
    cmd.current_dir(&s.ws)
        .env("XDG_CACHE_HOME", &s.cache)
        .env_remove("CODEX_LAUNCHER_BACKEND")
        .args(["--backend", backend, "--sandbox-policy-cwd"])
        .arg(&s.ws)
        .arg("--permission-profile")
        .arg(profile)
        .args(flags)
        .arg("--")
        .args(command);
    cmd
}

pub fn workspace_write(ws: &Path) -> String {
    format!(
        r#"{{"type":"managed","file_system":{{"type":"restricted","entries":[{{"path":{{"type":"special","value":{{"kind":"root"}}}},"access":"read"}},{{"path":{{"type":"path","path":"{}"}},"access":"write"}}]}},"network":"restricted"}}"#,
        ws.display()
    )
}

/// A directory for per-task homes, which must not be under the temp dir: the target dir unless
/// the checkout itself lives in /tmp, then a shared (1777) dir under /var/lib.
pub fn home_scratch_root() -> PathBuf {
    let target = scratch_root();
    let in_temp = ["/tmp", "/var/tmp"].iter().any(|t| target.starts_with(t))
        || std::env::var_os("TMPDIR").is_some_and(|t| !t.is_empty() && target.starts_with(t));
    if !in_temp {
        return target;
    }
    let root = PathBuf::from("/var/lib/codex-launcher-tests");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o1777)).unwrap();
    root
}

/// A fresh directory that only root can change (mode 0755 in a root-owned chain, not under `$HOME`
/// or a temp dir), as a system bwrap's is: in the target dir when its chain is such a place, else
/// under /var/lib; None (after [`skip`]) when we are not root.
pub fn root_only_dir() -> Option<tempfile::TempDir> {
    use std::os::unix::fs::MetadataExt;
    let root = scratch_root();
    let chain_ok = root
        .ancestors()
        .all(|d| std::fs::metadata(d).is_ok_and(|m| m.uid() == 0 && m.mode() & 0o022 == 0));
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let in_user_dirs = [home, Some("/tmp".into()), Some("/var/tmp".into())]
        .into_iter()
        .flatten()
        .any(|d| d != Path::new("/") && root.starts_with(d));
    if !is_root() {
        skip("a root-only directory chain needs root");
        return None;
    }
    // A checkout under $HOME or /tmp (CI clones anywhere) gets its root-only dirs in /var/lib.
    let root = if chain_ok && !in_user_dirs {
        root
    } else {
        let fallback = PathBuf::from("/var/lib/codex-launcher-rootbin");
        std::fs::create_dir_all(&fallback).unwrap();
        std::fs::set_permissions(&fallback, std::fs::Permissions::from_mode(0o755)).unwrap();
        fallback
    };
    let dir = tempfile::Builder::new()
        .prefix("cl-rootbin-")
        .tempdir_in(&root)
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    Some(dir)
}

/// Runs and captures like [`output`], but kills the command (and fails) if it takes longer than
/// `limit`: a launch that blocks on a planted FIFO must fail the test, not hang it.
pub fn output_within(cmd: &mut Command, limit: std::time::Duration) -> Output {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {:?}: {e}", cmd));
    let mut pipes = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let readers = (
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = pipes.0.read_to_end(&mut v);
            v
        }),
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = pipes.1.read_to_end(&mut v);
            v
        }),
    );
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{:?} did not finish within {limit:?}", cmd);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    Output {
        status,
        stdout: readers.0.join().unwrap(),
        stderr: readers.1.join().unwrap(),
    }
}
pub mod matrix;
pub mod net;
