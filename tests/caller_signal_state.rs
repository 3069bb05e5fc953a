//! Class: signal state a caller hands down (an ignore and the mask survive exec).
//! - SIGCHLD ignored: the kernel reaped the launcher's children before it could wait for them (the
//!   command's exit code was lost: exit 1), and the system bubblewrap, whose monitor waits for
//!   SIGCHLD on a signalfd, hung for ever (Codex 0.169's helper panics: "waitpid failed for
//!   bubblewrap child").
//! - SIGTERM, SIGINT blocked or ignored (a `&` job of a script ignores SIGINT): a SIGTERM for the
//!   launch stayed pending in the launcher and was never passed on, the command inherited the
//!   block and the ignores (Codex's helper gives it a clean state), and under Landlock the command
//!   outlived a killed launcher (its parent-death signal is SIGTERM).
//!
//! Every personality, backend and uid, each on a cold cache (the `/proc` probe runs too).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::scene::*;
use common::*;

/// `cmd`, exec'd by a process that ignores SIGCHLD.
fn ignoring_sigchld(cmd: &Command) -> Command {
    exec_d_by("signal.signal(signal.SIGCHLD, signal.SIG_IGN)", cmd)
}

/// `cmd`, exec'd by a process that blocks SIGTERM, SIGINT and SIGCHLD and ignores SIGTERM,
/// SIGINT and SIGQUIT.
fn blocking_and_ignoring(cmd: &Command) -> Command {
    exec_d_by(
        "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGCHLD}); \
         [signal.signal(s, signal.SIG_IGN) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)]",
        cmd,
    )
}

/// `cmd`, exec'd by python after `setup`.
fn exec_d_by(setup: &str, cmd: &Command) -> Command {
    let mut wrapper = Command::new("python3");
    wrapper.args([
        "-c",
        &format!("import os, signal, sys; {setup}; os.execvp(sys.argv[1], sys.argv[1:])"),
    ]);
    wrap(wrapper, cmd)
}

/// The command's mask `name` (`SigBlk`, `SigIgn`) as it prints it.
fn mask(out: &str, name: &str) -> u64 {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .unwrap_or_else(|| panic!("no {name} line in {out:?}"))
}

fn bit(sig: i32) -> u64 {
    1u64 << (sig - 1)
}

const SCRIPT: &str = "grep SigIgn /proc/self/status; exit 3";

#[test]
fn a_caller_ignoring_sigchld_gets_the_command_s_exit_code() {
    for variant in Variant::all() {
        let scene = Scene::new(variant);
        for (name, cmd) in [
            ("helper", scene.helper_cmd(SCRIPT)),
            ("codex-run", scene.codex_run_cmd(&[], SCRIPT)),
        ] {
            let mut launch = variant.wrap(&ignoring_sigchld(&cmd));
            let out = output_within(&mut launch, Duration::from_secs(60));
            assert_eq!(
                out.status.code(),
                Some(3),
                "{variant:?} {name}: {}",
                stderr(&out)
            );
            let ignored = mask(&stdout(&out), "SigIgn");
            assert_eq!(
                ignored & bit(libc::SIGCHLD),
                0,
                "{variant:?} {name}: SIGCHLD still ignored"
            );
        }
    }
}

/// `grep` keeps the mask it is given (a shell would clear it).
const SHOW: &[&str] = &["/usr/bin/grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"];

#[test]
fn the_command_gets_a_clean_mask_and_the_stop_signals_at_their_defaults() {
    for variant in Variant::all() {
        let scene = Scene::new(variant);
        let mut helper = scene.launcher("codex-linux-sandbox");
        helper
            .args(variant.backend_args())
            .arg("--sandbox-policy-cwd")
            .arg(&scene.ws)
            .arg("--permission-profile")
            .arg(workspace_write(&scene.ws))
            .arg("--")
            .args(SHOW);
        let mut run = scene.codex_run_cmd(&[], "true");
        let mut args: Vec<_> = run.get_args().map(|a| a.to_os_string()).collect();
        // Without its `-- /bin/sh -c true`.
        args.truncate(args.len() - 4);
        run = scene.launcher("codex-run");
        run.args(args).arg("--").args(SHOW);
        for (name, cmd) in [("helper", helper), ("codex-run", run)] {
            let out = output(&mut variant.wrap(&blocking_and_ignoring(&cmd)));
            assert_eq!(
                out.status.code(),
                Some(0),
                "{variant:?} {name}: {}",
                stderr(&out)
            );
            let text = stdout(&out);
            assert_eq!(mask(&text, "SigBlk"), 0, "{variant:?} {name}: {text}");
            let stops = bit(libc::SIGTERM) | bit(libc::SIGINT) | bit(libc::SIGQUIT);
            assert_eq!(
                mask(&text, "SigIgn") & stops,
                0,
                "{variant:?} {name}: {text}"
            );
        }
    }
}

/// Whether `path` appears within `limit`.
fn appears_within(path: &std::path::Path, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while !path.exists() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

#[test]
fn a_sigterm_stops_a_launch_whose_caller_blocked_it() {
    for variant in Variant::all() {
        let scene = Scene::new(variant);
        let started = scene.ws.join("started");
        let cmd = scene.helper_cmd("touch started; exec sleep 30");
        let mut launch = variant
            .wrap(&blocking_and_ignoring(&cmd))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        assert!(
            appears_within(&started, Duration::from_secs(20)),
            "{variant:?}: never started"
        );
        // The wrappers exec, so this pid is the launcher's.
        let pid = nix::unistd::Pid::from_raw(launch.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = launch.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = launch.kill();
                let _ = launch.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(
            status.is_some(),
            "{variant:?}: SIGTERM did not stop the launch"
        );
    }
}
