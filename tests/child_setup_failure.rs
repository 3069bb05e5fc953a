//! The child that becomes bubblewrap (outer stage) or the command (inner stage) runs in the
//! launcher's own memory until it execs (`CLONE_VM | CLONE_VFORK`). A failure on its way there is
//! reported once, ends that child alone, and the launcher exits with its code; nothing of the task
//! runs. Failures are injected with strace into the child's own syscalls, or come from a command
//! that does not exist (the inner stage's child).

mod common;

use std::process::Command;

use common::*;

/// Runs `cmd` under strace, failing the first `syscall` of every process it starts with `errno`
/// (strace's own start of the launcher does not count), and checks that the launch ended with
/// exit code 1 and `message` said once, before the command ran. None when strace is missing.
fn assert_injected_failure(s: &Setup, syscall: &str, errno: &str, message: &str) {
    if Command::new("strace").arg("-V").output().is_err() {
        return skip("strace is not installed");
    }
    // Probes warm first: a cold launch's own probe children would take the injection.
    let warm = output(&mut helper_on(s, "bwrap-system", &["true"]));
    assert_eq!(warm.status.code(), Some(0), "{warm:?}");
    let mut strace = Command::new("strace");
    strace
        .args(["-f", "-qq", "-o", "/dev/null", "-e"])
        .arg(format!("trace={syscall}"))
        .arg("-e")
        .arg(format!("inject={syscall}:error={errno}:when=1"));
    let out = output(&mut wrap(
        strace,
        &helper_on(s, "bwrap-system", &["touch", "ran"]),
    ));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = stderr(&out);
    assert_eq!(err.matches(message).count(), 1, "reported once: {err}");
    assert!(!s.ws.join("ran").exists(), "the command ran");
}

#[test]
fn a_failed_descriptor_pass_in_the_outer_child_ends_the_launch_with_its_error() {
    // dup2 is the child's alone: it installs bubblewrap's --info-fd.
    assert_injected_failure(&setup(), "dup2", "EBADF", "cannot pass descriptor 3");
}

#[test]
fn a_failed_exec_of_bubblewrap_in_the_outer_child_ends_the_launch_with_its_error() {
    assert_injected_failure(
        &setup(),
        "execve",
        "EACCES",
        "cannot exec system bubblewrap",
    );
}

#[test]
fn a_missing_command_fails_in_the_inner_child_once_with_127() {
    let s = setup();
    let out = output(&mut helper_on(&s, "bwrap-system", &["/nonexistent/prog"]));
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    let err = stderr(&out);
    assert_eq!(
        err.matches("cannot run /nonexistent/prog").count(),
        1,
        "{err}"
    );
}
