//! What the caller hands over on descriptors 0-2, and how large an argv the task picks, never
//! reaches past the sandbox (red-team round 6):
//! - a directory or O_PATH descriptor on stdin/stdout/stderr would let a command under bubblewrap
//!   `openat` host files beneath none of its mounts: refused before bubblewrap starts; Landlock
//!   checks such opens itself;
//! - an O_PATH descriptor is open, not closed: the launcher starts normally with one;
//! - argv of 40000 words to a file without `#!` (libc then copies argv onto the exec's stack)
//!   runs, and the launcher that shared its memory with that child survives it.

mod common;

use std::os::unix::process::CommandExt;
use std::process::Command;

use common::*;

/// Puts `path` opened with `flags` on descriptor `fd` of the launched process.
fn with_descriptor(cmd: &mut Command, fd: i32, path: &std::path::Path, flags: i32) {
    let path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: open and dup2 only, in the child before exec.
    unsafe {
        cmd.pre_exec(move || {
            let opened = libc::open(path.as_ptr(), flags);
            if opened < 0 || libc::dup2(opened, fd) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(opened);
            Ok(())
        });
    }
}

#[test]
fn a_directory_or_path_descriptor_on_stdio_never_opens_host_files() {
    let s = setup();
    let outside = s.base.join("outside");
    std::fs::create_dir(&outside).unwrap();
    // The command creates a file relative to descriptor 1 (or 0): in `outside`, if it could.
    let through = |fd: i32| {
        format!("import os; os.open('escaped', os.O_CREAT | os.O_WRONLY, 0o644, dir_fd={fd})")
    };
    for backend in ["bwrap-system", "bwrap-vendored", "landlock"] {
        for (fd, flags, what) in [
            (1, libc::O_RDONLY | libc::O_DIRECTORY, "a directory"),
            (0, libc::O_PATH, "an O_PATH descriptor of a directory"),
        ] {
            let code = through(fd);
            let mut cmd = helper_on(&s, backend, &["python3", "-c", &code]);
            with_descriptor(&mut cmd, fd, &outside, flags);
            let out = output(&mut cmd);
            assert!(
                !outside.join("escaped").exists(),
                "{backend}, {what} on {fd}: the command created a file outside its writable root"
            );
            if backend.starts_with("bwrap") {
                assert_eq!(out.status.code(), Some(1), "{backend}: {out:?}");
                assert!(
                    stderr(&out).contains(&format!("standard descriptor {fd} is a directory")),
                    "{backend}: {}",
                    stderr(&out)
                );
            } else {
                assert_ne!(out.status.code(), Some(0), "{backend}: {out:?}");
            }
        }
    }
}

#[test]
fn an_o_path_descriptor_on_stdin_is_not_taken_for_a_closed_one() {
    let s = setup();
    let mut cmd = helper_on(&s, "landlock", &["true"]);
    with_descriptor(&mut cmd, 0, &s.ws, libc::O_PATH);
    let out = output(&mut cmd);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn a_huge_argv_to_a_script_without_shebang_runs_and_the_launcher_survives() {
    let s = setup();
    let script = s.ws.join("noshebang");
    std::fs::write(&script, "echo \"ran argc=$#\"\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let words: Vec<String> = (0..40_000).map(|i| i.to_string()).collect();
    let mut command = vec!["./noshebang"];
    command.extend(words.iter().map(String::as_str));
    // Landlock: bubblewrap refuses more than 9000 arguments itself.
    let mut cmd = helper_on(&s, "landlock", &command);
    // Leading its own process group, the launcher supervises: the child that execs shares the
    // launcher's memory until it does.
    cmd.process_group(0);
    let out = output(&mut cmd);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "ran argc=40000");
}
