//! Terminal input injection: the launcher runs on a pty that is its caller's controlling terminal;
//! the task pushes `cl-injected\n` with TIOCSTI (which the caller's shell would run, unsandboxed,
//! after the launcher exits) and tries TIOCLINUX. Asserted from the caller's side of the pty: no
//! byte is waiting as input afterwards. The seccomp rule must stop it on its own, on every backend
//! and network mode, whatever `dev.tty.legacy_tiocsti` says: on a closed fd the kernel answers
//! EBADF, so EPERM there proves the filter, and a request with garbage in its upper 32 bits (still
//! TIOCSTI to the kernel) must be refused too.

mod common;

use std::process::{Command, Output};

use common::attack::*;
use common::*;

fn probe() -> Vec<String> {
    vec![PYTHON.into(), fixture("tiocsti.py").display().to_string()]
}

/// `cmd` on a fresh pty as its controlling terminal, as `uid`.
fn on_pty(cmd: &Command, uid: Option<u32>) -> Output {
    let pty_run = fixture("pty_run.py").display().to_string();
    output(&mut as_uid(wrapped(&[PYTHON, &pty_run], cmd), uid))
}

/// The bytes the caller's shell would read next, from `PENDING:<hex>`.
fn pending(out: &Output) -> Vec<u8> {
    let text = stdout(out);
    let hex = text
        .lines()
        .find_map(|l| l.strip_prefix("PENDING:"))
        .unwrap_or_else(|| panic!("no PENDING line: {text}\n{}", stderr(out)));
    (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn legacy_tiocsti() -> bool {
    std::fs::read_to_string("/proc/sys/dev/tty/legacy_tiocsti").map_or(true, |v| v.trim() == "1")
}

#[test]
fn the_harness_sees_an_unsandboxed_task_inject_input() {
    if !require(root()) {
        return;
    }
    let s = setup();
    for uid in UIDS {
        let out = on_pty(&unsandboxed(&s, &probe()), uid);
        let context = format!("uid {uid:?}: {}", stdout(&out));
        let lines = results(&stdout(&out));
        // Without a filter the kernel itself answers the closed-fd probes.
        assert_eq!(result(&lines, "tiocsti_closed_fd", &context), "EBADF");
        assert_eq!(result(&lines, "tioclinux_closed_fd", &context), "EBADF");
        if legacy_tiocsti() || uid.is_none() {
            assert_eq!(result(&lines, "tiocsti", &context), "ok");
            assert!(
                pending(&out).starts_with(b"cl-injected\n"),
                "{context}: nothing injected"
            );
        } else {
            note("dev.tty.legacy_tiocsti=0: the kernel refuses TIOCSTI to uid 65534 by itself; only the seccomp errno path is checked");
        }
    }
}

#[test]
fn a_sandboxed_task_cannot_push_input_into_the_callers_terminal() {
    if !require(root()) {
        return;
    }
    for t in targets(&[Network::Restricted, Network::Enabled]) {
        let s = setup();
        let out = on_pty(&sandboxed(&s, t, &probe()), t.uid);
        let context = format!("{t:?}\nstdout: {}\nstderr: {}", stdout(&out), stderr(&out));
        assert_eq!(out.status.code(), Some(0), "{context}");
        let lines = results(&stdout(&out));
        for name in [
            "tiocsti",
            "tiocsti_closed_fd",
            "tiocsti_high_bits",
            "tioclinux_closed_fd",
        ] {
            assert_eq!(result(&lines, name, &context), "EPERM", "{name}: {context}");
        }
        // Other terminal ioctls keep working.
        assert_eq!(result(&lines, "tcgetattr", &context), "ok", "{context}");
        assert_eq!(
            pending(&out),
            b"",
            "injected input reached the caller: {context}"
        );
    }
}
