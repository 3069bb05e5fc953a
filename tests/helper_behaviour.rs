//! The helper beyond the conformance vectors: which bubblewrap it picks (and how often it probes),
//! signals sent to its outer process, and bad input that must leave the host untouched.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;

/// `--help` of bubblewrap 0.4.0: no `--perms`, no `--argv0`.
const BWRAP_040_HELP: &str = "usage: bwrap [OPTIONS...] [--] COMMAND [ARGS...]

    --help                       Print this help
    --version                    Print version
    --args FD                    Parse NUL-separated args from FD
    --unshare-all                Unshare every namespace we support by default
    --unshare-user               Create new user namespace (may be automatically implied if not setuid)
    --unshare-pid                Create new pid namespace
    --unshare-net                Create new network namespace
    --bind SRC DEST              Bind mount the host path SRC on DEST
    --ro-bind SRC DEST           Bind mount the host path SRC readonly on DEST
    --dev-bind SRC DEST          Bind mount the host path SRC on DEST, allowing device access
    --tmpfs DEST                 Mount new tmpfs on DEST
    --dir DEST                   Create dir at DEST
    --seccomp FD                 Load and use seccomp rules from FD
    --new-session                Create a new terminal session
    --die-with-parent            Kills with SIGKILL child process (COMMAND) when bwrap or bwrap's parent dies.
    --as-pid-1                   Do not install a reaper process with PID=1
    --cap-add CAP                Add cap CAP when running as privileged user
    --cap-drop CAP               Drop cap CAP when running as privileged user
";

/// An executable `bwrap` in `dir` that counts its calls in `dir/calls` and prints `help`.
fn fake_bwrap(dir: &Path, help: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("help.txt"), help).unwrap();
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> '{d}/calls'\nif [ \"$1\" = --help ]; then cat '{d}/help.txt'; exit 0; fi\nexit 99\n",
        d = dir.display()
    );
    let path = dir.join("bwrap");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn calls(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("calls"))
        .map(|s| s.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The helper on `s.ws` with the workspace-write profile, running `script` in `/bin/sh`.
fn helper_running(s: &Setup, script: &str) -> Command {
    let mut cmd = personality(&s.base, "codex-linux-sandbox");
    cmd.current_dir(&s.ws)
        .env("XDG_CACHE_HOME", &s.cache)
        .env_remove("CODEX_LAUNCHER_LOG")
        .env_remove("CODEX_LAUNCHER_BWRAP")
        .arg("--sandbox-policy-cwd")
        .arg(&s.ws)
        .arg("--permission-profile")
        .arg(workspace_write(&s.ws))
        .args(["--", "/bin/sh", "-c", script]);
    cmd
}

/// The helper with PATH set to `path`, writing inside and outside the workspace.
fn helper(s: &Setup, path: &str) -> Command {
    let mut cmd = helper_running(
        s,
        "echo in > inside.txt && echo wrote-inside; echo out > ../outside.txt || echo outside-denied",
    );
    cmd.env("PATH", path);
    cmd
}

/// The command ran, confined to the workspace. The tests give PATH no bubblewrap but the fake
/// they check was not run, so a sandboxed run can only be the built-in bubblewrap's (asserted from
/// behaviour, not from debug log lines).
fn assert_sandboxed_by_vendored(s: &Setup, out: &std::process::Output) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(0), "stderr: {err}");
    assert!(stdout(out).contains("wrote-inside"), "{}", stdout(out));
    assert!(stdout(out).contains("outside-denied"), "{}", stdout(out));
    assert!(!s.base.join("outside.txt").exists());
}

#[test]
fn an_old_trusted_bwrap_first_on_path_falls_back_to_vendored_and_is_probed_once() {
    if !is_root() {
        return skip("needs root for the user namespace setup of this host");
    }
    let s = setup();
    let Some(root_dir) = root_only_dir() else {
        return;
    };
    let fake_dir = root_dir.path().join("oldbin");
    let fake = fake_bwrap(&fake_dir, BWRAP_040_HELP);
    std::fs::set_permissions(&fake_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    // No other bwrap on PATH: the fake is asked for --help, found too old, and never run.
    let path = fake_dir.display().to_string();
    for _ in 0..3 {
        let out = output(&mut helper(&s, &path));
        assert_sandboxed_by_vendored(&s, &out);
    }
    assert_eq!(
        calls(&fake_dir),
        vec!["--help"],
        "the fake is probed once per cache lifetime"
    );

    // A replaced file has another stamp: the cached answer no longer applies.
    let script = std::fs::read(&fake).unwrap();
    std::fs::remove_file(&fake).unwrap();
    std::fs::write(&fake, [script.as_slice(), b"\n"].concat()).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_sandboxed_by_vendored(&s, &output(&mut helper(&s, &path)));
    assert_eq!(calls(&fake_dir), vec!["--help", "--help"]);

    // A corrupt cache is ignored, never trusted.
    for entry in std::fs::read_dir(s.cache.join("codex-launcher")).unwrap() {
        std::fs::write(entry.unwrap().path(), "{ not json").unwrap();
    }
    assert_sandboxed_by_vendored(&s, &output(&mut helper(&s, &path)));
    assert_eq!(calls(&fake_dir).len(), 3);
}

#[test]
fn an_untrusted_bwrap_first_on_path_is_never_run() {
    if !is_root() {
        return skip("needs root for the user namespace setup of this host");
    }
    let s = setup();
    // Claims every feature; only where it lives (a world-writable dir) excludes it.
    let fake_dir = s.base.join("oldbin");
    fake_bwrap(&fake_dir, "--perms --as-pid-1 --argv0");
    let path = fake_dir.display().to_string();
    let out = output(&mut helper(&s, &path));
    assert_sandboxed_by_vendored(&s, &out);
    assert!(
        calls(&fake_dir).is_empty(),
        "fake ran: {:?}",
        calls(&fake_dir)
    );
}

#[test]
fn no_bwrap_on_path_uses_vendored() {
    if !is_root() {
        return skip("needs root for the user namespace setup of this host");
    }
    let s = setup();
    let empty = s.base.join("emptybin");
    std::fs::create_dir_all(&empty).unwrap();
    let out = output(&mut helper(&s, &empty.display().to_string()));
    assert_sandboxed_by_vendored(&s, &out);
}

#[test]
fn a_bwrap_under_the_cwd_is_never_executed() {
    if !is_root() {
        return skip("needs root for the user namespace setup of this host");
    }
    let s = setup();
    // It claims every feature, so only its location can exclude it.
    let fake_dir = s.ws.join("bin");
    fake_bwrap(&fake_dir, "--perms --as-pid-1 --argv0");
    for path in [
        "bin".to_string(),
        format!("{}:/usr/bin:/bin", fake_dir.display()),
    ] {
        let out = output(&mut helper(&s, &path));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(stdout(&out).contains("outside-denied"));
    }
    assert!(
        calls(&fake_dir).is_empty(),
        "fake ran: {:?}",
        calls(&fake_dir)
    );
}

#[test]
fn term_sent_to_the_outer_helper_reaches_the_command() {
    if !is_root() {
        return skip("needs root for the user namespace setup of this host");
    }
    let s = setup();
    let mut cmd = helper_running(
        &s,
        "trap 'echo got-TERM; exit 42' TERM; echo ready; while :; do sleep 0.1; done",
    );
    cmd.stdout(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "got-TERM");
    assert_eq!(status.code(), Some(42));
}

/// Every file under `dir`, relative.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            found.push(p.strip_prefix(dir).unwrap().to_path_buf());
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn bad_input_names_the_input_and_creates_nothing() {
    let s = setup();
    let tmp = s.base.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let ws = s.ws.display().to_string();
    let good = workspace_write(&s.ws);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--sandbox-policy-cwd".into(),
                ws.clone(),
                "--permission-profile".into(),
                "{oops".into(),
                "--".into(),
                "true".into(),
            ],
            "--permission-profile",
        ),
        (
            vec![
                "--sandbox-policy-cwd".into(),
                ws.clone(),
                "--permission-profile".into(),
                r#"{"type":"bogus"}"#.into(),
                "--".into(),
                "true".into(),
            ],
            "bogus",
        ),
        (
            vec![
                "--sandbox-policy-cwd".into(),
                ws.clone(),
                "--permission-profile".into(),
                good.replace(&ws, "rel/path"),
                "--".into(),
                "true".into(),
            ],
            "rel/path",
        ),
        (
            vec![
                "--sandbox-policy-cwd".into(),
                format!("{ws}/missing"),
                "--permission-profile".into(),
                good.clone(),
                "--".into(),
                "true".into(),
            ],
            "--sandbox-policy-cwd",
        ),
        (
            vec![
                "--sandbox-policy-cwd".into(),
                ws.clone(),
                "--permission-profile".into(),
                good.clone(),
            ],
            "command",
        ),
        (
            vec![
                "--sandbox-policy-cwd".into(),
                ws.clone(),
                "--permission-profile".into(),
                good.clone(),
                "--".into(),
            ],
            "command",
        ),
    ];
    for (args, names) in cases {
        let mut cmd = personality(&s.base, "codex-linux-sandbox");
        cmd.current_dir(&s.ws)
            .env("TMPDIR", &tmp)
            .env("XDG_CACHE_HOME", &s.cache)
            .env("HOME", &s.base)
            .args(&args);
        let out = output(&mut cmd);
        let err = stderr(&out);
        assert_ne!(out.status.code(), Some(0), "{args:?} succeeded");
        assert!(out.status.code().is_some(), "{args:?} died by a signal");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: not one line: {err}"
        );
        assert!(
            err.contains(names),
            "{args:?}: message does not name {names:?}: {err}"
        );
        assert!(stdout(&out).is_empty());
    }
    let expected: Vec<PathBuf> = ["cache", "codex-linux-sandbox", "tmp", "ws"]
        .iter()
        .map(PathBuf::from)
        .collect();
    assert_eq!(tree(&s.base), expected, "bad input left files behind");
}
