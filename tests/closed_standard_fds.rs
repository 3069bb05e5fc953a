//! A launcher started with standard descriptors closed (a daemon, a careless caller) gives them
//! `/dev/null` before it opens anything: otherwise the first file it opens (a lock, a cache, the
//! registry) would become the command's stdin or stderr. The binary starts without std's
//! start-up (`no_main`), so this is its own code, tested here on every Linux backend.

mod common;

use std::os::unix::process::CommandExt;

use common::*;

#[test]
fn closed_stdin_and_stderr_become_dev_null_on_every_backend() {
    let s = setup();
    for backend in ["bwrap-system", "bwrap-vendored", "landlock"] {
        let mut cmd = helper_on(
            &s,
            backend,
            &[
                "sh",
                "-c",
                "readlink /proc/self/fd/0; readlink /proc/self/fd/2",
            ],
        );
        // SAFETY: only closes descriptors in the child before exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::close(0);
                libc::close(2);
                Ok(())
            });
        }
        let out = output(&mut cmd);
        assert_eq!(out.status.code(), Some(0), "{backend}: {out:?}");
        assert_eq!(
            stdout(&out).lines().collect::<Vec<_>>(),
            ["/dev/null", "/dev/null"],
            "{backend}: the command's stdin and stderr are not /dev/null"
        );
    }
}
