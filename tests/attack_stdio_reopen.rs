//! A file the caller hands over on descriptors 0-2 gives a command under bubblewrap no more than
//! the descriptor does: reopened through `/proc/self/fd`, a read-only stdin file would come back
//! writable and a write-only stdout file readable (red-team round 7). Under bubblewrap such a file
//! reaches the command as a pipe the launcher feeds or drains; the command's output still lands in
//! the file complete and in order.

mod common;

use std::process::{Command, Stdio};

use common::*;

/// The helper with a profile that reads everything but `private`, writes only the workspace.
fn helper_denying(s: &Setup, backend: &str, script: &str) -> Command {
    let private = s.base.join("private");
    let profile = format!(
        r#"{{"type":"managed","file_system":{{"type":"restricted","entries":[{{"path":{{"type":"special","value":{{"kind":"root"}}}},"access":"read"}},{{"path":{{"type":"path","path":"{}"}},"access":"write"}},{{"path":{{"type":"path","path":"{}"}},"access":"deny"}}]}},"network":"restricted"}}"#,
        s.ws.display(),
        private.display()
    );
    helper_with_profile(s, backend, &profile, &["python3", "-c", script])
}

fn runs(cmd: Command) -> Vec<(&'static str, Command)> {
    let mut out = vec![("root", copy(&cmd))];
    match as_nobody(&cmd) {
        Ok(c) => out.push(("uid 65534", c)),
        Err(e) => skip(&e),
    }
    out
}

const WRITE_BACK: &str = r#"
import os, sys
data = sys.stdin.read()
try:
    fd = os.open("/proc/self/fd/0", os.O_WRONLY | os.O_TRUNC)
    os.write(fd, b"overwritten")
except OSError as e:
    pass
print(data.strip())
"#;

#[test]
fn a_read_only_stdin_file_is_not_writable_through_proc() {
    let s = setup();
    let outside = s.base.join("outside.txt");
    for backend in ["bwrap-system", "bwrap-vendored", "landlock"] {
        for (who, mut cmd) in runs(helper_denying(&s, backend, WRITE_BACK)) {
            std::fs::write(&outside, "original\n").unwrap();
            // Owned by the caller either way: only the sandbox stands between it and a write.
            std::os::unix::fs::chown(&outside, Some(if who == "root" { 0 } else { 65534 }), None)
                .unwrap();
            cmd.stdin(Stdio::from(std::fs::File::open(&outside).unwrap()));
            let out = output(&mut cmd);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{backend}, {who}: {}",
                stderr(&out)
            );
            assert_eq!(
                stdout(&out).trim(),
                "original",
                "{backend}, {who}: the command read stdin"
            );
            assert_eq!(
                std::fs::read_to_string(&outside).unwrap(),
                "original\n",
                "{backend}, {who}: the command wrote the caller's read-only stdin file"
            );
        }
    }
}

const READ_BACK: &str = r#"
import os, sys
# First, while the relay pipe is empty (later, a read from its end would take our own output).
try:
    fd = os.open("/proc/self/fd/1", os.O_RDONLY | os.O_NONBLOCK)
    print("read back:", os.read(fd, 1 << 20), file=sys.stderr, flush=True)
except OSError as e:
    pass
for i in range(2000):
    print(f"out {i}", flush=True)
    print(f"err {i}", file=sys.stderr, flush=True)
"#;

#[test]
fn a_write_only_stdout_file_is_not_readable_through_proc_and_gets_all_output_in_order() {
    let s = setup();
    let private = s.base.join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(
        &private,
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let log = private.join("log.txt");
    // Landlock cannot hide a path beneath a readable root; bubblewrap can, and must not leak it
    // through the descriptor.
    for backend in ["bwrap-system", "bwrap-vendored"] {
        for (who, mut cmd) in runs(helper_denying(&s, backend, READ_BACK)) {
            std::fs::write(&log, "SECRET\n").unwrap();
            std::os::unix::fs::chown(&log, Some(if who == "root" { 0 } else { 65534 }), None)
                .unwrap();
            let file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
            cmd.stdout(Stdio::from(file.try_clone().unwrap()))
                .stderr(Stdio::from(file));
            let out = output(&mut cmd);
            assert_eq!(out.status.code(), Some(0), "{backend}, {who}");
            let text = std::fs::read_to_string(&log).unwrap();
            assert!(
                !text.lines().skip(1).any(|l| l.contains("SECRET")),
                "{backend}, {who}: the command read the caller's write-only stdout file"
            );
            let mut expected = vec!["SECRET".to_string()];
            expected.extend(
                text.lines()
                    .nth(1)
                    .filter(|l| l.starts_with("read back"))
                    .map(String::from),
            );
            for i in 0..2000 {
                expected.push(format!("out {i}"));
                expected.push(format!("err {i}"));
            }
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(
                lines[..expected.len()],
                expected.iter().map(String::as_str).collect::<Vec<_>>()[..],
                "{backend}, {who}: output incomplete or reordered"
            );
        }
    }
}
