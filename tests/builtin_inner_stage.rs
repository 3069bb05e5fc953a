//! On the built-in bubblewrap, the inner stage runs in the process that set the sandbox up, where
//! bubblewrap would exec this binary again: one exec fewer per launch. That process is the
//! sandbox's PID 1 and still holds the launcher's memory and whatever descriptors the launcher
//! had, so it must keep none but stdio, and no task process may read its memory.

mod common;

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use common::scene::*;
use common::*;

/// A descriptor a careless caller leaks into the helper: the launcher's own process holds it.
const LEAKED: i32 = 7;

fn has_strace() -> bool {
    Command::new("strace").arg("-V").output().is_ok()
}

/// The successful execve lines of one warm, traced helper launch on `backend`.
fn traced_execs(s: &Setup, backend: &str) -> Vec<String> {
    let trace = s.base.join(format!("trace-{backend}"));
    // The first launch probes and fills the cache; the traced one is warm.
    let warm = output(&mut helper_on(s, backend, &["/usr/bin/true"]));
    assert_eq!(warm.status.code(), Some(0), "{backend}: {}", stderr(&warm));
    let helper = helper_on(s, backend, &["/usr/bin/true"]);
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-s", "256", "-e", "trace=execve", "-o"])
        .arg(&trace)
        .arg(helper.get_program())
        .args(helper.get_args())
        .current_dir(&s.ws)
        .env("XDG_CACHE_HOME", &s.cache)
        .env_remove("CODEX_LAUNCHER_BACKEND");
    let out = output(&mut cmd);
    assert_eq!(out.status.code(), Some(0), "{backend}: {}", stderr(&out));
    std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .filter(|l| l.contains("execve(") && l.contains("= 0"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_launcher_is_exec_d_once_on_the_built_in_bubblewrap() {
    if !has_strace() {
        return skip("strace is not installed");
    }
    let s = setup();
    // Execs of the inner stage itself (bubblewrap's own argv names it too).
    let inner = |execs: &[String]| {
        execs
            .iter()
            .filter(|l| l.contains("--apply-seccomp-then-exec") && !l.contains("bwrap\", ["))
            .count()
    };
    // The system bubblewrap has to exec the inner stage: this is what the count must see.
    if which::which("bwrap").is_ok() {
        let system = traced_execs(&s, "bwrap-system");
        assert_eq!(inner(&system), 1, "{system:#?}");
    }
    let built_in = traced_execs(&s, "bwrap-vendored");
    assert_eq!(inner(&built_in), 0, "{built_in:#?}");
    assert!(
        built_in
            .iter()
            .any(|l| l.contains("execve(\"/usr/bin/true\"")),
        "{built_in:#?}"
    );
    assert_eq!(
        built_in.len(),
        2,
        "the helper and the command: {built_in:#?}"
    );
}

/// Each of PID 1's secrets a task could try, with the outcome: `ok` or the errno.
const PROBE_INIT: &str = r#"
import ctypes, errno, os
def attempt(name, f):
    try:
        f()
        print(name + "=ok")
    except OSError as e:
        print(name + "=" + errno.errorcode[e.errno])
def read(path):
    with open(path, "rb") as f:
        f.read(1)
def mem():
    with open("/proc/1/mem", "rb") as f:
        f.seek(0x10000)
        f.read(1)
def ptrace():
    # PTRACE_SEIZE, not ATTACH: it does not stop PID 1, so a success fails the test, not hangs it.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    if libc.ptrace(0x4206, 1, None, None) != 0:
        raise OSError(ctypes.get_errno(), "ptrace")
attempt("environ", lambda: read("/proc/1/environ"))
attempt("maps", lambda: read("/proc/1/maps"))
attempt("mem", mem)
attempt("fd", lambda: os.readlink("/proc/1/fd/0"))
attempt("ptrace", ptrace)
with open("/proc/1/cmdline", "rb") as f:
    print("cmdline=" + f.read().replace(b"\0", b" ").decode(errors="replace").strip())
"#;

#[test]
fn the_task_cannot_read_its_init_on_the_built_in_bubblewrap() {
    let s = setup();
    // Network enabled: the profile whose seccomp filter is the smallest (no ptrace rule to lean on).
    let profile =
        workspace_write(&s.ws).replace(r#""network":"restricted""#, r#""network":"enabled""#);
    let probe = || {
        helper_with_profile(
            &s,
            "bwrap-vendored",
            &profile,
            &["python3", "-c", PROBE_INIT],
        )
    };
    let mut runs = vec![("root", probe())];
    match as_nobody(&probe()) {
        Ok(nobody) => runs.push(("uid 65534", nobody)),
        Err(why) => skip(&why),
    }
    for (who, mut cmd) in runs {
        let out = output(&mut cmd);
        let o = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{who}: {o}{}", stderr(&out));
        for probe in ["environ", "maps", "mem", "fd", "ptrace"] {
            let line = o
                .lines()
                .find(|l| l.starts_with(&format!("{probe}=")))
                .unwrap_or_else(|| panic!("{who}: no {probe} line in {o}"));
            assert!(
                line == format!("{probe}=EACCES") || line == format!("{probe}=EPERM"),
                "{who}: the task reached PID 1's {probe}: {line}\n{o}"
            );
        }
        // PID 1 shows the inner stage's arguments, as after an exec, not the launcher's own.
        let cmdline = o.lines().find(|l| l.starts_with("cmdline=")).unwrap_or("");
        assert!(
            cmdline.contains("--apply-seccomp-then-exec") && !cmdline.contains("--backend"),
            "{who}: {cmdline}"
        );
    }
}

#[test]
fn codex_run_s_own_arguments_stay_out_of_the_sandbox() {
    for variant in Variant::bubblewrap() {
        if variant.backend != Backend::Vendored {
            continue;
        }
        let s = Scene::new(variant);
        let cmd = s.codex_run_cmd(
            &["--allow-domain", "secret-flag.example"],
            "tr '\\0' ' ' < /proc/1/cmdline",
        );
        let out = output(&mut variant.wrap(&cmd));
        let o = stdout(&out);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{variant:?}: {o}{}",
            stderr(&out)
        );
        assert!(
            !o.contains("secret-flag.example") && !o.contains("--shared-home"),
            "{variant:?}: PID 1 shows codex-run's arguments: {o}"
        );
    }
}

/// The host pid of the sandbox init below `root` (a process whose NSpid ends in 1), if any yet.
fn sandbox_init_below(root: u32) -> Option<u32> {
    let children = |pid: u32| -> Vec<u32> {
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    };
    let mut queue = vec![root];
    while let Some(pid) = queue.pop() {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let nspid = status.lines().find(|l| l.starts_with("NSpid:"));
        if nspid.is_some_and(|l| l.split_whitespace().count() > 2 && l.ends_with("\t1")) {
            return Some(pid);
        }
        queue.extend(children(pid));
    }
    None
}

fn descriptors(pid: u32) -> Vec<i32> {
    let mut fds: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    fds.sort();
    fds
}

#[test]
fn its_init_keeps_no_descriptor_of_the_launcher() {
    if !is_root() {
        return skip("needs root to read another process's descriptors");
    }
    let s = setup();
    let ready = s.ws.join("ready");
    let script = format!("touch {}; sleep 30", ready.display());
    let mut cmd = helper_on(&s, "bwrap-vendored", &["sh", "-c", &script]);
    // A leaked directory descriptor, as in attack_inherited_fd, so the launcher holds more than
    // stdio and its own descriptors when it starts bubblewrap.
    let leaked = std::fs::File::open(&s.base).unwrap();
    let raw = leaked.as_raw_fd();
    // SAFETY: dup2 onto a fixed number in the child before exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, LEAKED) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.stdin(Stdio::null()).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !ready.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let init = sandbox_init_below(child.id());
    let fds = init.map(descriptors);
    let _ = child.kill();
    let _ = child.wait();
    let init = init.expect("no sandbox init found below the helper");
    assert_eq!(
        fds.as_deref(),
        Some(&[0, 1, 2][..]),
        "PID 1 of the sandbox (host pid {init}) holds more than stdio"
    );
}

#[test]
fn a_sandbox_whose_proc_is_denied_still_runs_on_the_built_in_bubblewrap() {
    let s = setup();
    // The host's /proc (--no-proc), denied: PID 1 cannot read its own /proc/self/stat to rewrite
    // its command line, and no task process can read that command line either.
    let profile = workspace_write(&s.ws).replace(
        r#"]},"network""#,
        r#",{"path":{"type":"path","path":"/proc"},"access":"none"}]},"network""#,
    );
    let mut cmd = helper_with_flags(
        &s,
        "bwrap-vendored",
        &profile,
        &["--no-proc"],
        &["sh", "-c", "cat /proc/1/cmdline || echo cmdline-denied"],
    );
    let out = output(&mut cmd);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("cmdline-denied"), "{}", stdout(&out));
}
