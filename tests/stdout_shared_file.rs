//! Class: a regular file as stdout, shared with others (`( launch & launch & echo ...) > log`). The
//! launcher relays a regular file through a pipe (the command must not reopen it wider through
//! `/proc/self/fd`); the relay spliced each chunk at the file offset it had read before waiting
//! for the pipe, so what the caller or another launch wrote to the same open file meanwhile was
//! overwritten: three of five lines were lost. Every backend, from the host: every line is kept.

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use common::*;

#[test]
fn launches_sharing_a_regular_stdout_with_their_caller_lose_no_line() {
    for backend in ["bwrap-system", "bwrap-vendored", "landlock"] {
        let s = setup();
        let log_path = s.base.join("log");
        let mut log = std::fs::File::create(&log_path).unwrap();
        let launches: Vec<_> = [1, 2]
            .map(|i| {
                let script = format!(
                    "sleep 0.{i}; echo launch-{i}-first; sleep 0.6; echo launch-{i}-second"
                );
                helper_on(&s, backend, &["/bin/sh", "-c", &script])
                    .stdout(Stdio::from(log.try_clone().unwrap()))
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .into_iter()
            .collect();
        std::thread::sleep(Duration::from_millis(450));
        writeln!(log, "caller-line").unwrap();
        for mut launch in launches {
            assert!(
                launch.wait().unwrap().success(),
                "{backend}: a launch failed"
            );
        }
        let text = std::fs::read_to_string(&log_path).unwrap();
        for line in [
            "launch-1-first",
            "launch-2-first",
            "caller-line",
            "launch-1-second",
            "launch-2-second",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{backend}: {line} lost from {text:?}"
            );
        }
    }
}
