//! Class: a caller that ignores SIGCHLD. An ignore survives exec, so the launcher started with it:
//! the kernel reaped its children before it could wait for them (the command's exit code was
//! lost: exit 1), and the system bubblewrap, whose monitor waits for SIGCHLD on a signalfd, hung
//! for ever (Codex 0.169's helper panics: "waitpid failed for bubblewrap child"). Every
//! personality, backend and uid, each on a cold cache (the `/proc` probe runs too): the command's
//! exit code comes through, and the command starts with SIGCHLD at its default.

mod common;

use std::process::Command;
use std::time::Duration;

use common::scene::*;
use common::*;

/// `cmd`, exec'd by a process that ignores SIGCHLD.
fn ignoring_sigchld(cmd: &Command) -> Command {
    let mut wrapper = Command::new("python3");
    wrapper.args([
        "-c",
        "import os, signal, sys; signal.signal(signal.SIGCHLD, signal.SIG_IGN); os.execvp(sys.argv[1], sys.argv[1:])",
    ]);
    wrap(wrapper, cmd)
}

/// The command's ignored-signal mask as it prints it.
fn ignored_mask(out: &str) -> u64 {
    out.lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .unwrap_or_else(|| panic!("no SigIgn line in {out:?}"))
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
            let mask = ignored_mask(&stdout(&out));
            let sigchld = 1u64 << (libc::SIGCHLD - 1);
            assert_eq!(
                mask & sigchld,
                0,
                "{variant:?} {name}: SIGCHLD still ignored"
            );
        }
    }
}
