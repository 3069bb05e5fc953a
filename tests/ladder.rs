//! The backend ladder on real hosts: Landlock + seccomp where user namespaces are blocked, the
//! choice reported by `explain`, forced backends, `doctor`, and a warm cache that forks nothing.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

const PROBE_SCRIPT: &str = r#"echo in > in.txt && echo wrote-in
echo out > {base}/out.txt
echo x > /etc/cl-ladder-probe
cat /etc/hostname > /dev/null && echo read-hostname
/usr/bin/python3 -c '
import errno, socket
try:
    socket.socket(socket.AF_INET, socket.SOCK_STREAM); print("inet:ok")
except OSError as e:
    print("inet:" + errno.errorcode[e.errno])
'
exit 7"#;

/// The helper on the workspace-write profile running [`PROBE_SCRIPT`], with `extra` flags.
fn helper(s: &Setup, extra: &[&str]) -> Command {
    let mut cmd = personality(&s.base, "codex-linux-sandbox");
    cmd.current_dir(&s.ws)
        .env("XDG_CACHE_HOME", &s.cache)
        .env_remove("CODEX_LAUNCHER_LOG")
        .env_remove("CODEX_LAUNCHER_BACKEND")
        .arg("--sandbox-policy-cwd")
        .arg(&s.ws)
        .arg("--permission-profile")
        .arg(workspace_write(&s.ws))
        .args(extra)
        .args(["--", "/bin/sh", "-c"])
        .arg(PROBE_SCRIPT.replace("{base}", &s.base.display().to_string()));
    cmd
}

/// Item 1 of the ladder issue: what a workspace-write command may and may not do.
fn assert_workspace_write_enforced(s: &Setup, out: &std::process::Output) {
    let (o, e) = (stdout(out), stderr(out));
    assert_eq!(out.status.code(), Some(7), "stdout: {o}\nstderr: {e}");
    for line in ["wrote-in", "read-hostname", "inet:EPERM"] {
        assert!(o.contains(line), "missing {line}: {o}\nstderr: {e}");
    }
    assert!(e.contains("out.txt: Permission denied"), "{e}");
    assert!(e.contains("/etc/cl-ladder-probe: Permission denied"), "{e}");
    assert!(s.ws.join("in.txt").exists());
    assert!(!s.base.join("out.txt").exists());
    assert!(!Path::new("/etc/cl-ladder-probe").exists());
}

fn explain_json(
    s: &Setup,
    wrap: impl Fn(&Command) -> Result<Command, String>,
    extra: &[&str],
) -> Result<serde_json::Value, String> {
    let mut cmd = Command::new(bin());
    // explain plans what codex-run would do, per-task home included: give every uid a HOME it
    // can write, as a real run needs.
    cmd.current_dir(&s.ws)
        .env("HOME", &s.base)
        .env_remove("XDG_STATE_HOME")
        .env("XDG_CACHE_HOME", &s.cache)
        .env_remove("CODEX_LAUNCHER_BACKEND")
        .args(["explain", "--json", "--permission-profile"])
        .arg(workspace_write(&s.ws))
        .args(extra)
        .args(["--", "true"]);
    let out = output(&mut wrap(&cmd)?);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    Ok(serde_json::from_str(&stdout(&out)).expect("explain --json prints JSON"))
}

fn not_enforced(plan: &serde_json::Value) -> String {
    plan["not_enforced"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn landlock_enforces_workspace_write_without_user_namespaces() {
    for uid in [None, Some(65534)] {
        let s = setup();
        let cmd = match without_userns(&helper(&s, &[]), uid) {
            Ok(c) => c,
            Err(why) => return skip(&why),
        };
        assert_workspace_write_enforced(&s, &output(&mut { cmd }));
    }
}

#[test]
fn explain_reports_landlock_and_its_gaps_without_user_namespaces() {
    let s = setup();
    for uid in [None, Some(65534)] {
        let plan = match explain_json(&s, |c| without_userns(c, uid), &[]) {
            Ok(p) => p,
            Err(why) => return skip(&why),
        };
        assert_eq!(plan["backend"], "landlock", "{plan:#}");
        for step in &plan["ladder"].as_array().unwrap()[..2] {
            assert_eq!(step["verdict"], "unavailable", "{step}");
            assert!(
                step["reason"].as_str().unwrap().contains("ENOSPC"),
                "{step}"
            );
        }
        let gaps = not_enforced(&plan);
        let ws = s.ws.display();
        assert!(
            gaps.contains(&format!("{ws}/.git")) && gaps.contains(&format!("{ws}/.codex")),
            "{gaps}"
        );
        assert_eq!(plan["plan"]["kind"], "landlock");
    }
}

#[test]
fn full_isolation_refuses_landlock_with_the_reason() {
    let s = setup();
    let cmd = helper(&s, &["--require-full-isolation"]);
    let mut cmd = match without_userns(&cmd, None) {
        Ok(c) => c,
        Err(why) => return skip(&why),
    };
    let out = output(&mut cmd);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("full isolation required") && err.contains(".git"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(!s.ws.join("in.txt").exists(), "the command ran");

    // The environment variable does the same.
    let mut cmd = without_userns(&helper(&s, &[]), None).unwrap();
    let out = output(cmd.env("CODEX_LAUNCHER_REQUIRE_FULL_ISOLATION", "1"));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn explain_on_this_host_picks_system_then_vendored_bwrap() {
    if !is_root() {
        return skip("needs root for the user namespace setup of this host");
    }
    let s = setup();
    let system_ok = Command::new("/usr/bin/bwrap")
        .arg("--help")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("--perms"));
    let plan = explain_json(&s, |c| Ok(copy(c)), &[]).unwrap();
    if system_ok {
        assert_eq!(plan["backend"], "bwrap-system", "{plan:#}");
        assert_eq!(plan["not_enforced"], serde_json::json!([]));
    } else {
        skip("/usr/bin/bwrap is missing or too old: only the vendored case is checked");
    }

    // An old bwrap first on PATH: explain names why it is passed over. In a world-writable dir
    // it is not trusted (and never run); in a root-only chain it is probed and found too old.
    let trusted_root = root_only_dir();
    let mut cases = vec![(s.base.join("oldbin"), "is not trusted: ")];
    if let Some(root) = &trusted_root {
        cases.push((root.path().join("oldbin"), "lacks --perms"));
    }
    for (dir, reason) in cases {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("bwrap"),
            "#!/bin/sh\necho 'usage: bwrap --bind SRC DEST --as-pid-1'\n",
        )
        .unwrap();
        std::fs::set_permissions(
            dir.join("bwrap"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let path = format!("{}:/usr/bin:/bin", dir.display());
        let plan = explain_json(
            &s,
            |c| {
                let mut c = copy(c);
                c.env("PATH", &path);
                Ok(c)
            },
            &[],
        )
        .unwrap();
        assert_eq!(plan["backend"], "bwrap-vendored", "{plan:#}");
        assert!(
            plan["ladder"][0]["reason"]
                .as_str()
                .unwrap()
                .contains(reason),
            "{plan:#}"
        );
    }
}

#[test]
fn forced_landlock_enforces_on_this_host_too() {
    let s = setup();
    let out = output(&mut helper(&s, &["--backend", "landlock"]));
    assert_workspace_write_enforced(&s, &out);

    // From the environment, the helper refuses it: Codex's commands must not quietly get a
    // weaker sandbox than the host allows.
    let s = setup();
    let out = output(helper(&s, &[]).env("CODEX_LAUNCHER_BACKEND", "landlock"));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("CODEX_LAUNCHER_BACKEND=landlock"),
        "{}",
        stderr(&out)
    );
    let plan = explain_json(&s, |c| Ok(copy(c)), &["--backend", "landlock"]).unwrap();
    assert_eq!(plan["backend"], "landlock");
    assert_eq!(plan["ladder"][0]["verdict"], "not-requested");
}

#[test]
fn a_forced_backend_that_cannot_work_is_an_error() {
    let s = setup();
    let mut cmd = match without_userns(&helper(&s, &["--backend", "bwrap"]), None) {
        Ok(c) => c,
        Err(why) => return skip(&why),
    };
    let out = output(&mut cmd);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--backend bwrap cannot be used here"),
        "{}",
        stderr(&out)
    );
    assert!(!s.ws.join("in.txt").exists());
}

#[test]
fn a_warm_explain_forks_no_probe() {
    if Command::new("strace").arg("-V").output().is_err() {
        return skip("strace is not installed");
    }
    let s = setup();
    explain_json(&s, |c| Ok(copy(c)), &[]).unwrap();
    let trace = s.base.join("trace");
    let mut cmd = Command::new("strace");
    cmd.args([
        "-f",
        "-qq",
        "-e",
        "trace=execve,fork,vfork,clone,clone3",
        "-o",
    ])
    .arg(&trace)
    .arg(bin())
    .current_dir(&s.ws)
    .env("XDG_CACHE_HOME", &s.cache)
    .args(["explain", "--json", "--permission-profile"])
    .arg(workspace_write(&s.ws));
    let out = output(&mut cmd);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(&trace).unwrap();
    let calls: Vec<&str> = text.lines().filter(|l| !l.contains("+++ exited")).collect();
    assert_eq!(calls.len(), 1, "expected only our own execve:\n{text}");
    assert!(calls[0].contains("execve("), "{text}");
}

/// What the launcher process itself did, from an strace of a launch: how many processes it forked,
/// and for each exec that it or a child it forked made, whether the child forked or exec'd first.
#[derive(Debug, Default)]
struct LaunchTrace {
    launcher_forks: usize,
    /// The execs the launcher and its direct children made (the launcher's own first one left
    /// out), each as its argv text.
    execs: Vec<String>,
    /// Children of the launcher that forked before their first exec (a probe, a helper process).
    children_forking_before_exec: Vec<String>,
}

fn is_fork(call: &str) -> bool {
    ["clone(", "clone3(", "fork(", "vfork("]
        .iter()
        .any(|c| call.starts_with(c))
        || ["clone", "clone3", "fork", "vfork"]
            .iter()
            .any(|c| call.starts_with(&format!("<... {c} resumed>")))
}

/// Reads `strace -f -e trace=execve,fork,vfork,clone,clone3` output.
fn launch_trace(text: &str) -> LaunchTrace {
    let lines: Vec<(i32, &str)> = text
        .lines()
        .filter_map(|l| {
            let (pid, call) = l.split_once(' ')?;
            Some((pid.parse().ok()?, call.trim_start()))
        })
        .collect();
    let launcher = lines.first().map(|(pid, _)| *pid).unwrap_or(0);
    let mut trace = LaunchTrace::default();
    let mut children = Vec::new();
    for (pid, call) in &lines {
        if *pid != launcher || !is_fork(call) || call.ends_with("<unfinished ...>") {
            continue;
        }
        if let Some(child) = call
            .rsplit("= ")
            .next()
            .and_then(|r| r.trim().parse::<i32>().ok())
        {
            trace.launcher_forks += 1;
            children.push(child);
        }
    }
    let mut launcher_execs = lines
        .iter()
        .filter(|(pid, call)| *pid == launcher && call.starts_with("execve("));
    launcher_execs.next();
    trace
        .execs
        .extend(launcher_execs.map(|(_, c)| c.to_string()));
    for child in children {
        let first = lines
            .iter()
            .find(|(pid, call)| *pid == child && (call.starts_with("execve(") || is_fork(call)));
        match first {
            Some((_, call)) if call.starts_with("execve(") => trace.execs.push(call.to_string()),
            Some((_, call)) => trace.children_forking_before_exec.push(call.to_string()),
            None => trace
                .children_forking_before_exec
                .push(format!("{child}: no exec")),
        }
    }
    trace
}

/// Issue 19 item 4: a warm launch forks no probe and execs nothing but the launch. The launcher
/// forks once at most (the child that becomes bubblewrap, or the command under Landlock, while the
/// launcher waits to clean up), that child's first act is that exec, and no exec asks a program
/// for its `--help` or `--version`. What bubblewrap and the inner stage do afterwards is theirs.
#[test]
fn a_warm_helper_launch_forks_only_into_the_launch() {
    if Command::new("strace").arg("-V").output().is_err() {
        return skip("strace is not installed");
    }
    let s = setup();
    let helper = personality(&s.base, "codex-linux-sandbox")
        .get_program()
        .to_owned();
    for backend in ["auto", "landlock"] {
        let launch = |traced: Option<&Path>| {
            let mut cmd = match traced {
                Some(trace) => {
                    let mut c = Command::new("strace");
                    c.args(["-f", "-qq", "-v", "-s", "4096"])
                        .args(["-e", "trace=execve,fork,vfork,clone,clone3", "-o"])
                        .arg(trace)
                        .arg(&helper);
                    c
                }
                None => Command::new(&helper),
            };
            cmd.current_dir(&s.ws)
                .env("XDG_CACHE_HOME", &s.cache)
                .env_remove("CODEX_LAUNCHER_BACKEND")
                .env_remove("CODEX_LAUNCHER_LOG")
                .args(["--backend", backend, "--sandbox-policy-cwd"])
                .arg(&s.ws)
                .arg("--permission-profile")
                .arg(workspace_write(&s.ws))
                .args(["--", "/usr/bin/true"]);
            let out = output(&mut cmd);
            assert_eq!(out.status.code(), Some(0), "{backend}: {}", stderr(&out));
        };
        // The first launch probes and fills the cache.
        launch(None);
        let trace_path = s.base.join(format!("trace-{backend}"));
        launch(Some(&trace_path));
        let text = std::fs::read_to_string(&trace_path).unwrap();
        let trace = launch_trace(&text);
        assert!(trace.launcher_forks <= 1, "{backend}: {trace:#?}\n{text}");
        assert!(
            trace.children_forking_before_exec.is_empty(),
            "{backend}: {trace:#?}\n{text}"
        );
        assert_eq!(trace.execs.len(), 1, "{backend}: {trace:#?}\n{text}");
        let exec = &trace.execs[0];
        assert!(exec.contains("/usr/bin/true"), "{backend}: {exec}");
        assert!(
            !exec.contains("\"--help\"") && !exec.contains("\"--version\""),
            "{backend}: a probe ran: {exec}"
        );
    }
}

#[test]
fn doctor_names_the_cause_and_remedy() {
    let s = setup();
    let mut cmd = Command::new(bin());
    cmd.env("XDG_CACHE_HOME", &s.cache).args(["doctor"]);
    let mut text = match without_userns(&cmd, None) {
        Ok(c) => c,
        Err(why) => return skip(&why),
    };
    let out = output(&mut text);
    assert_eq!(
        out.status.code(),
        Some(0),
        "Landlock still works: {}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("cause: max_user_namespaces"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("sysctl"), "{}", stdout(&out));
    let out = output(&mut without_userns(cmd.arg("--json"), None).unwrap());
    let report: serde_json::Value =
        serde_json::from_str(&stdout(&out)).expect("doctor --json prints JSON");
    assert_eq!(report["findings"][0]["cause"], "max_user_namespaces");
    assert_eq!(report["user_namespaces"], false);
}
