//! A sandboxed task cannot type into the caller's terminal: `TIOCSTI` pushed keystrokes that ran
//! in the caller's shell after the launcher exited. The launcher runs under a real pty that is the
//! controlling terminal of a shell; from outside we check which line the shell reads next.

mod common;

use std::path::Path;
use std::process::Command;

use common::matrix::*;
use common::*;

const INJECT: &str = r#"python3 -c '
import fcntl, termios
try:
    for c in b"echo INJECTED\n":
        fcntl.ioctl(0, termios.TIOCSTI, bytes([c]))
    print("tiocsti=ok")
except OSError as e:
    print("tiocsti-errno=%d" % e.errno)
'"#;

#[test]
fn no_keystroke_reaches_the_callers_terminal() {
    let s = setup();
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pty_inject.py");
    for launch in each_backend_and_user(&s, INJECT, &[]) {
        let mut cmd = Command::new("python3");
        cmd.arg(&driver)
            .arg(launch.cmd.get_program())
            .args(launch.cmd.get_args());
        if let Some(dir) = launch.cmd.get_current_dir() {
            cmd.current_dir(dir);
        }
        for (k, v) in launch.cmd.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let out = output(&mut cmd);
        let shown = stdout(&out);
        let label = &launch.label;
        assert!(
            shown.contains("tiocsti-errno="),
            "{label}: {shown}{}",
            stderr(&out)
        );
        assert!(shown.contains("GOT:typed-by-user"), "{label}: {shown}");
        assert!(!shown.contains("GOT:echo INJECTED"), "{label}: {shown}");
    }
}
