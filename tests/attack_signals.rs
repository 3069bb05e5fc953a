//! Signals to host processes: a task tries to kill a process of its own user that runs outside the
//! sandbox. Landlock scopes signals to the sandbox (ABI >= 6), so `kill` fails with EPERM; bwrap's
//! pid namespace hides the process (ESRCH). From the host: the process is still alive.

mod common;

use std::process::{Child, Command};

use common::attack::*;
use common::*;

/// A host process of `uid` that lives until killed.
fn victim(uid: Option<u32>) -> Child {
    let mut sleep = Command::new("sleep");
    sleep.arg("60");
    as_uid(sleep, uid).spawn().unwrap()
}

/// Still running a moment later (a delivered SIGTERM needs a little time to end it). setpriv
/// execs in place, so the child is the sleeping process itself.
fn alive(child: &mut Child) -> bool {
    std::thread::sleep(std::time::Duration::from_millis(200));
    child.try_wait().unwrap().is_none()
}

fn kill_script(pid: u32) -> Vec<String> {
    let script = format!(
        "{PYTHON} -c 'import errno, os\ntry:\n    os.kill({pid}, 15); print(\"kill:ok\")\nexcept OSError as e:\n    print(\"kill:\" + errno.errorcode[e.errno])'"
    );
    vec!["/bin/sh".into(), "-c".into(), script]
}

#[test]
fn without_a_sandbox_the_task_kills_the_victim() {
    if !require(root()) {
        return;
    }
    let s = setup();
    for uid in UIDS {
        let mut v = victim(uid);
        let out = output(&mut as_uid(unsandboxed(&s, &kill_script(v.id())), uid));
        let context = stdout(&out);
        assert_eq!(result(&results(&context), "kill", &context), "ok");
        v.wait().unwrap();
    }
}

#[test]
fn a_sandboxed_task_cannot_signal_host_processes() {
    if !require(root().and(landlock_abi_at_least(6))) {
        return;
    }
    for t in targets(&[Network::Restricted, Network::Enabled]) {
        let s = setup();
        let mut v = victim(t.uid);
        let out = output(&mut as_uid(sandboxed(&s, t, &kill_script(v.id())), t.uid));
        let context = format!("{t:?}\nstdout: {}\nstderr: {}", stdout(&out), stderr(&out));
        let expected = if t.backend == "landlock" {
            "EPERM"
        } else {
            "ESRCH"
        };
        assert_eq!(
            result(&results(&stdout(&out)), "kill", &context),
            expected,
            "{context}"
        );
        assert!(alive(&mut v), "the host process died: {context}");
        v.kill().unwrap();
        v.wait().unwrap();
    }
}
