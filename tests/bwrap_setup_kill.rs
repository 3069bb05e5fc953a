//! Class: a launch killed while bubblewrap sets the sandbox up. bubblewrap's sandbox child first
//! blocks on an eventfd until its monitor has set it up; when the monitor dies before that (killed,
//! or by `--die-with-parent` when the launcher is killed), upstream leaves the child blocked for
//! ever: a process nobody reaps, holding the launcher's descriptors (on the built-in bubblewrap,
//! its memory too), and, when it was the `/proc` probe's, a launcher waiting for ever for the
//! probe's stderr to end.
//!
//! A shim preloaded into the launcher holds bubblewrap's monitor in that window for seconds (it
//! delays the first write to an eventfd), so every kill lands there. Stage 1 kills the launcher
//! or the monitor; stage 2 checks from the host that the sandbox child is gone and the launcher
//! ended. The system bubblewrap's own child is not covered: its sources are not ours to change.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Delays the first write to an eventfd anywhere in the launch (bubblewrap's monitor releasing
/// its sandbox child) by six seconds, after writing this process's pid to `$HOLD_FLAG`.
const SHIM: &str = r#"
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static char flag[4096];

__attribute__((constructor)) static void remember_flag(void) {
    const char *f = getenv("HOLD_FLAG");
    if (f) snprintf(flag, sizeof flag, "%s", f);
}

ssize_t write(int fd, const void *buf, size_t n) {
    char link[64], target[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t len = readlink(link, target, sizeof target - 1);
    if (flag[0] && len > 0) {
        target[len] = 0;
        int first = strstr(target, "eventfd") ? open(flag, O_WRONLY | O_CREAT | O_EXCL, 0644) : -1;
        if (first >= 0) {
            char pid[16];
            int m = snprintf(pid, sizeof pid, "%d\n", getpid());
            syscall(SYS_write, first, pid, m);
            close(first);
            struct timespec t = {6, 0};
            nanosleep(&t, 0);
        }
    }
    return syscall(SYS_write, fd, buf, n);
}
"#;

fn compile_shim(dir: &Path) -> Option<PathBuf> {
    let src = dir.join("hold-release.c");
    let lib = dir.join("hold-release.so");
    std::fs::write(&src, SHIM).unwrap();
    let ok = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&lib)
        .arg(&src)
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(lib)
}

/// A launch held in bubblewrap's setup: the launcher, bubblewrap's monitor and its sandbox child.
struct Held {
    launcher: Child,
    monitor: i32,
    sandbox_child: i32,
}

impl Drop for Held {
    /// Whatever a failed check left running goes, so a failure does not leave blocked processes.
    fn drop(&mut self) {
        for pid in [self.sandbox_child, self.monitor] {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
        }
        let _ = self.launcher.kill();
        let _ = self.launcher.wait();
    }
}

fn children_of(pid: i32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Starts `cmd` with the shim and waits until a monitor is held with its sandbox child blocked.
fn start_held(mut cmd: Command, shim: &Path, flag: &Path) -> Held {
    let launcher = cmd
        .env("LD_PRELOAD", shim)
        .env("HOLD_FLAG", flag)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut held = Held {
        launcher,
        monitor: 0,
        sandbox_child: 0,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while held.sandbox_child == 0 {
        assert!(
            Instant::now() < deadline,
            "no bubblewrap monitor was held (flag {})",
            flag.display()
        );
        std::thread::sleep(Duration::from_millis(20));
        if let Ok(pid) = std::fs::read_to_string(flag) {
            held.monitor = pid.trim().parse().unwrap_or(0);
            held.sandbox_child = children_of(held.monitor).first().copied().unwrap_or(0);
        }
    }
    // The child runs straight from the clone into its wait; give it time to get there.
    std::thread::sleep(Duration::from_millis(200));
    held
}

/// Whether `pid` is gone (or a zombie: dead, its parent not yet told) within `limit`.
fn dies_within(pid: i32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| rest.chars().next()));
        if matches!(state, None | Some(Some('Z'))) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether the launcher ends within `limit`, and how.
fn ends_within(launcher: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = launcher.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read_only(ws: &Path) -> String {
    format!(
        r#"{{"type":"managed","file_system":{{"type":"restricted","entries":[{{"path":{{"type":"special","value":{{"kind":"root"}}}},"access":"read"}},{{"path":{{"type":"path","path":"{}"}},"access":"read"}}]}},"network":"restricted"}}"#,
        ws.display()
    )
}

#[derive(Clone, Copy, Debug)]
enum Victim {
    Launcher,
    Monitor,
}

/// One launch on the built-in bubblewrap, held in setup, then `victim` killed.
fn built_in_case(profile_of: fn(&Path) -> String, victim: Victim, nobody: bool) {
    let s = setup();
    let Some(shim) = compile_shim(&s.base) else {
        return skip("no C compiler (cc) to build the shim");
    };
    let flag = s.ws.join("held");
    let mut cmd = helper_with_profile(&s, "bwrap-vendored", &profile_of(&s.ws), &["/usr/bin/true"]);
    if nobody {
        cmd = match as_nobody(&cmd) {
            Ok(c) => c,
            Err(e) => return skip(&e),
        };
    }
    let case = format!("{victim:?}, uid 65534: {nobody}");
    let mut held = start_held(cmd, &shim, &flag);
    let target = match victim {
        Victim::Launcher => held.launcher.id() as i32,
        Victim::Monitor => held.monitor,
    };
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(target),
        nix::sys::signal::SIGKILL,
    )
    .unwrap();
    assert!(
        dies_within(held.sandbox_child, Duration::from_secs(3)),
        "{case}: bubblewrap's sandbox child {} outlived its monitor",
        held.sandbox_child
    );
    assert!(
        dies_within(held.monitor, Duration::from_secs(3)),
        "{case}: bubblewrap's monitor {} outlived the launcher",
        held.monitor
    );
    assert!(
        ends_within(&mut held.launcher, Duration::from_secs(3)).is_some(),
        "{case}: the launcher did not end"
    );
}

#[test]
fn built_in_bubblewrap_killed_launcher_leaves_no_sandbox_child() {
    for profile in [read_only, workspace_write] {
        built_in_case(profile, Victim::Launcher, false);
    }
    built_in_case(workspace_write, Victim::Launcher, true);
}

#[test]
fn built_in_bubblewrap_killed_monitor_leaves_no_sandbox_child() {
    for profile in [read_only, workspace_write] {
        built_in_case(profile, Victim::Monitor, false);
    }
    built_in_case(workspace_write, Victim::Monitor, true);
}

/// The `/proc` probe (a first launch with an empty cache) killed in setup: the launcher neither
/// waits for ever for its stderr nor keeps its verdict, and the launch itself still runs.
#[test]
fn killed_proc_probe_does_not_hang_the_launcher() {
    if which::which("bwrap").is_err() {
        return skip("bubblewrap is not installed");
    }
    for backend in ["bwrap-system", "bwrap-vendored"] {
        let s = setup();
        let Some(shim) = compile_shim(&s.base) else {
            return skip("no C compiler (cc) to build the shim");
        };
        let flag = s.ws.join("held");
        let cmd = helper_on(&s, backend, &["/bin/sh", "-c", "echo ran > ran"]);
        let mut held = start_held(cmd, &shim, &flag);
        // The built-in bubblewrap runs in a fork of the launcher, under its command line; that
        // the launch still runs after the kill shows it was the probe's too.
        let probe = std::fs::read(format!("/proc/{}/cmdline", held.monitor)).unwrap_or_default();
        assert!(
            backend != "bwrap-system" || String::from_utf8_lossy(&probe).contains("--tmpfs\0/\0"),
            "{backend}: the held bubblewrap is not the /proc probe"
        );
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(held.monitor),
            nix::sys::signal::SIGKILL,
        )
        .unwrap();
        let status = ends_within(&mut held.launcher, Duration::from_secs(20));
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(0),
            "{backend}: the launch after a killed probe did not run"
        );
        assert!(
            s.ws.join("ran").exists(),
            "{backend}: the command did not run"
        );
        assert!(
            dies_within(held.sandbox_child, Duration::from_secs(3)),
            "{backend}: the probe's sandbox child {} outlived the launch",
            held.sandbox_child
        );
        assert!(
            !s.cache.join("codex-launcher/proc-mount-v1.json").exists(),
            "{backend}: a killed probe's verdict was cached"
        );
    }
}
