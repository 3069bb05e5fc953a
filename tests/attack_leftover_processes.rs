//! Class: processes a task leaves behind when its command ends (red-team r2 03). Without a pid
//! namespace (Landlock) nothing ended them: a daemon re-planted `$CODEX_HOME/AGENTS.md` right after
//! the next prepare reset it, and kept writing with the task's rights after the launch. Stage 1, a
//! task on every backend leaves: a double-forked `setsid` daemon that ignores SIGTERM and re-plants
//! AGENTS.md, a `nohup` shell loop that keeps forking, and a process in its own process group.
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
    format!(
        "mkdir -p pids; {daemon}; \
         nohup sh -c 'echo $$ > pids/forker; while :; do sleep 0.01 & wait; done' >/dev/null 2>&1 & \
         setsid sh -c 'echo $$ > pids/group; exec sleep 60' >/dev/null 2>&1 & \
         for i in $(seq 100); do [ -s pids/setsid ] && [ -s pids/forker ] && [ -s pids/group ] && break; sleep 0.05; done; \
         echo left"
    )
}

fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
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
        for name in ["setsid", "forker", "group"] {
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
