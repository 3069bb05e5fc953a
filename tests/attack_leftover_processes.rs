//! Class: processes a task leaves behind when its command ends (red-team r2 03). Without a pid
//! namespace (Landlock) nothing ended them: a daemon re-planted `$CODEX_HOME/AGENTS.md` right after
//! the next prepare reset it, and kept writing with the task's rights after the launch. Stage 1, a
//! task on every backend leaves: a double-forked `setsid` daemon that ignores SIGTERM and re-plants
//! AGENTS.md, a `nohup` shell loop that keeps forking, a process in its own process group, one
//! whose main thread exited while another runs (it reads as a zombie), and one with a command
//! name that is not UTF-8, with a child (red-team r4 01).
//! Stage 2, from the host once the launch has returned: none of them is alive, and an ordinary
//! launch of the same task reads the shared AGENTS.md, not the planted one. (Under bubblewrap the
//! end of the pid namespace does the same.)

mod common;

use common::scene::*;

/// The daemons; each writes its pid to `pids/<name>` in the workspace.
fn stage1_script() -> String {
    let daemon = py(r#"
import os, signal, sys, time
if os.fork(): sys.exit(0)
os.setsid()
if os.fork(): sys.exit(0)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
open("pids/setsid", "w").write(str(os.getpid()))
for fd in (0, 1, 2): os.close(fd)
h = os.environ["CODEX_HOME"]
end = time.time() + 60
while time.time() < end:
    try:
        if not os.path.exists(h + "/AGENTS.md"):
            with open(h + "/AGENTS.md.x", "w") as f: f.write("INJECTED\n")
            os.rename(h + "/AGENTS.md.x", h + "/AGENTS.md")
        open("heartbeat", "w").write(str(time.time()))
    except OSError: pass
    time.sleep(0.001)
"#);
    // The main thread exits while another runs: the process reads as a zombie, and is not one.
    let zombie_leader = py(r#"
import ctypes, os, sys, threading, time
if os.fork(): sys.exit(0)
os.setsid()
def body():
    open("pids/zleader", "w").write(str(os.getpid()))
    time.sleep(120)
threading.Thread(target=body).start()
time.sleep(0.05)
ctypes.CDLL(None).pthread_exit(None)
"#);
    // A command name that is not UTF-8, with a child below it.
    let odd_name = py(r#"
import ctypes, os, sys, time
if os.fork(): sys.exit(0)
os.setsid()
ctypes.CDLL(None).prctl(15, b"\xff\xfe", 0, 0, 0)
open("pids/oddname", "w").write(str(os.getpid()))
if os.fork() == 0:
    open("pids/oddchild", "w").write(str(os.getpid()))
time.sleep(60)
"#);
    let all = NAMES.map(|n| format!("[ -s pids/{n} ]")).join(" && ");
    format!(
        "mkdir -p pids; {daemon}; {zombie_leader}; {odd_name}; \
         nohup sh -c 'echo $$ > pids/forker; while :; do sleep 0.01 & wait; done' >/dev/null 2>&1 & \
         setsid sh -c 'echo $$ > pids/group; exec sleep 60' >/dev/null 2>&1 & \
         for i in $(seq 100); do {all} && break; sleep 0.05; done; \
         echo left"
    )
}

/// What stage 1 leaves, each writing its pid to `pids/<name>`.
const NAMES: [&str; 6] = [
    "setsid", "forker", "group", "zleader", "oddname", "oddchild",
];

/// Whether any thread of `pid` still runs (a group whose leader exited reads as a zombie).
fn alive(pid: &str) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|task| {
            std::fs::read(task.path().join("stat")).is_ok_and(|stat| {
                let after = stat
                    .iter()
                    .rposition(|b| *b == b')')
                    .map_or(&[][..], |i| &stat[i + 1..]);
                !matches!(after.get(1), Some(b'Z' | b'X'))
            })
        })
}

#[test]
fn nothing_a_task_started_outlives_its_launch() {
    // Under bubblewrap the end of the pid namespace ends them (and the pids written are the
    // namespace's, meaningless on the host): the backends without one.
    let variants = Variant::all()
        .into_iter()
        .filter(|v| matches!(v.backend, Backend::Landlock | Backend::NoUserns));
    for variant in variants {
        let s = Scene::new(variant);
        s.host_shell(&format!(
            "echo 'shared agents' > '{}/AGENTS.md'",
            s.shared.display()
        ));
        let context = format!("{variant:?}");
        assert!(
            s.codex_run_ok(&stage1_script()).contains("left"),
            "{context}"
        );

        // Stage 2, from the host: the launch has returned; what the task started is gone.
        let mut survivors = Vec::new();
        for name in NAMES {
            let pid = std::fs::read_to_string(s.ws.join("pids").join(name)).unwrap();
            let pid = pid.trim().to_string();
            if alive(&pid) {
                survivors.push(format!("{name} ({pid})"));
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid.parse().unwrap()),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        assert_eq!(survivors, Vec::<String>::new(), "{context}");
        let seen = s.codex_run_ok("sleep 0.2; cat \"$CODEX_HOME/AGENTS.md\"");
        assert_eq!(seen, "shared agents\n", "{context}");
        s.assert_outside_untouched();
    }
}
