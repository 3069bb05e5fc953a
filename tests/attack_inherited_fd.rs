//! Descriptors the caller leaked never reach the sandbox: an inherited directory descriptor let a
//! task create files outside a bubblewrap sandbox through `openat`.

mod common;

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;

use common::matrix::*;
use common::*;

/// The fd number the task tries; it must stay closed inside.
const LEAKED: i32 = 7;

#[test]
fn an_inherited_directory_descriptor_is_unusable() {
    let s = setup();
    let victim = victim_dir(&s);
    let script = format!(
        r#"ls /proc/self/fd | tr '\n' ' '; echo
python3 -c '
import os
try:
    os.close(os.open("pwned-through-fd", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd={LEAKED}))
    print("openat=ok")
except OSError as e:
    print("openat-errno=%d" % e.errno)
'"#
    );
    for mut launch in each_backend_and_user(&s, &script, &[]) {
        let dir = std::fs::File::open(&victim).unwrap();
        let raw = dir.as_raw_fd();
        // SAFETY: dup2 onto a fixed number in the child before exec, as a careless caller would.
        unsafe {
            launch.cmd.pre_exec(move || {
                if libc::dup2(raw, LEAKED) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let out = output(&mut launch.cmd);
        let o = stdout(&out);
        let label = &launch.label;
        assert!(o.contains("openat-errno="), "{label}: {o}{}", stderr(&out));
        let fds: Vec<&str> = o.lines().next().unwrap_or("").split_whitespace().collect();
        assert!(
            !fds.contains(&"7"),
            "{label}: fd {LEAKED} is open inside: {o}"
        );
        assert!(
            listing(&victim).is_empty(),
            "{label}: wrote {:?}",
            listing(&victim)
        );
    }
}
