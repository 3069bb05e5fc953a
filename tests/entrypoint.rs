//! `codex-entrypoint` as a container's PID 1 (DESIGN §7): reaping, signal forwarding, the grace
//! period, `CODEX_RUN_*` configuration, and Landlock where user namespaces are blocked.

mod common;

use std::process::Command;

use common::*;

struct Task {
    s: Setup,
    _homes: tempfile::TempDir,
    homes: std::path::PathBuf,
}

fn task() -> Task {
    let s = setup();
    let homes = home_tempdir("cl-ep-");
    let path = homes.path().to_path_buf();
    std::fs::create_dir_all(path.join("shared")).unwrap();
    std::fs::set_permissions(
        path.join("shared"),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    Task {
        s,
        _homes: homes,
        homes: path,
    }
}

impl Task {
    /// `codex-entrypoint [flags] -- sh -c script` in the workspace, configured by variables only
    /// (plus `extra_env`), with debug logs on stderr.
    fn cmd(&self, flags: &[&str], script: &str, extra_env: &[(&str, &str)]) -> Command {
        let mut cmd = personality(&self.s.base, "codex-entrypoint");
        for (k, _) in std::env::vars() {
            if k.starts_with("CODEX_RUN_") || k == "CODEX_LAUNCHER_BACKEND" {
                cmd.env_remove(k);
            }
        }
        cmd.current_dir(&self.s.ws)
            .env("XDG_CACHE_HOME", &self.s.cache)
            .env("CODEX_LAUNCHER_LOG", "debug")
            .env("CODEX_RUN_SHARED_HOME", self.homes.join("shared"))
            .env("CODEX_RUN_HOME", self.homes.join("task-home"))
            .envs(extra_env.iter().copied())
            .args(flags)
            .args(["--", "/bin/sh", "-c", script]);
        cmd
    }
}

/// Counts zombies in this PID namespace after the orphans had time to exit, and says who our parent is.
const ORPHANS: &str = "for i in $(seq 50); do (sleep 0.1 &) ; done; sleep 1; \
    echo zombies=$(cat /proc/[0-9]*/stat 2>/dev/null | awk '$3==\"Z\"' | wc -l); echo ppid=$PPID";

/// Outside a PID namespace: makes 51 orphans, says whether one was adopted by an ancestor of the
/// shell (the entrypoint as subreaper, not the host's init), and counts zombies whose parent is an
/// ancestor once they have all exited. Other tests' processes are not counted.
const ORPHANS_OF_ANCESTORS: &str = "anc=' '; a=$PPID; while [ \"$a\" -gt 1 ]; do anc=\"$anc$a \"; \
    a=$(cut -d')' -f2 /proc/$a/stat | awk '{print $2}'); done; \
    o=$( (sleep 0.5 >/dev/null 2>&1 & echo $!) ); for i in $(seq 50); do (sleep 0.1 &) ; done; \
    sleep 0.2; p=$(cut -d')' -f2 /proc/$o/stat | awk '{print $2}'); \
    case \"$anc\" in *\" $p \"*) echo adopted;; esac; sleep 1; z=0; \
    for f in /proc/[0-9]*/stat; do set -- $(cut -d')' -f2 $f 2>/dev/null); \
    [ \"$1\" = Z ] && case \"$anc\" in *\" $2 \"*) z=$((z+1));; esac; done; echo zombies=$z";

#[test]
fn as_pid1_it_reaps_every_orphan() {
    let t = task();
    for backend in ["landlock", "auto"] {
        let cmd = t.cmd(&[], ORPHANS, &[("CODEX_RUN_BACKEND", backend)]);
        let mut cmd = match as_pid1(&cmd) {
            Ok(c) => c,
            Err(why) => return skip(&why),
        };
        let out = output(&mut cmd);
        let o = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{backend}: {o}{}", stderr(&out));
        // No zombie is left in the PID namespace: PID 1 (us) reaped every orphan.
        assert!(o.contains("zombies=0\n"), "{backend}: {o}");
        if backend == "landlock" {
            // The command's parent is the run's Landlock supervisor (our child, PID 2); the
            // orphans still come to us, PID 1.
            assert!(o.contains("ppid=2\n"), "{o}");
        }
    }
}

#[test]
fn as_a_subreaper_it_reaps_orphans_too() {
    let t = task();
    let cmd = t.cmd(&["--backend", "landlock"], ORPHANS_OF_ANCESTORS, &[]);
    let mut runs = vec![("caller", copy(&cmd))];
    let mut nobody = copy(&cmd);
    nobody.env("CODEX_RUN_HOME", t.homes.join("nobody-home"));
    match as_nobody(&nobody) {
        Ok(c) => runs.push(("uid 65534", c)),
        Err(why) => skip(&why),
    }
    for (who, mut cmd) in runs {
        let out = output(&mut cmd);
        let o = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{who}: {}", stderr(&out));
        assert!(o.contains("adopted\n"), "{who}: orphans went to init: {o}");
        assert!(o.contains("zombies=0\n"), "{who}: {o}");
    }
}

/// Starts the entrypoint as PID 1, waits until the task says `ready`, sends `sig` to PID 1, and
/// returns the exit code.
fn signal_pid1(
    t: &Task,
    backend: &str,
    script: &str,
    sig: libc::c_int,
    grace: &str,
) -> Option<i32> {
    let cmd = t.cmd(
        &[],
        script,
        &[
            ("CODEX_RUN_BACKEND", backend),
            ("CODEX_RUN_GRACE_SECONDS", grace),
        ],
    );
    let mut cmd = as_pid1(&cmd).ok()?;
    let ready = t.s.ws.join("ready");
    let _ = std::fs::remove_file(&ready);
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let unshare = child.id();
    for _ in 0..200 {
        if ready.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(ready.exists(), "the task never started");
    let children =
        std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children")).unwrap();
    let pid1: i32 = children.split_whitespace().next().unwrap().parse().unwrap();
    // SAFETY: plain kill(2) on the entrypoint's host pid.
    assert_eq!(unsafe { libc::kill(pid1, sig) }, 0);
    child.wait().unwrap().code()
}

#[test]
fn term_to_pid1_reaches_the_task_and_its_code_comes_back() {
    let t = task();
    if !is_root() {
        return skip("a new PID namespace needs root");
    }
    let trap = "trap 'exit 42' TERM; touch ready; sleep 100 & wait";
    for backend in ["landlock", "auto"] {
        assert_eq!(
            signal_pid1(&t, backend, trap, libc::SIGTERM, "10"),
            Some(42),
            "{backend}"
        );
    }
    // USR1 is forwarded too.
    let usr1 = "trap 'exit 43' USR1; touch ready; sleep 100 & wait";
    assert_eq!(signal_pid1(&t, "auto", usr1, libc::SIGUSR1, "10"), Some(43));
}

#[test]
fn a_task_that_ignores_term_is_killed_after_the_grace_period() {
    let t = task();
    if !is_root() {
        return skip("a new PID namespace needs root");
    }
    let stubborn = "trap '' TERM; touch ready; sleep 100 & wait; sleep 100";
    for backend in ["landlock", "auto"] {
        assert_eq!(
            signal_pid1(&t, backend, stubborn, libc::SIGTERM, "1"),
            Some(137),
            "{backend}"
        );
        // The kill spared the launcher long enough to remove bubblewrap's mount points.
        for name in [".git", ".codex", ".agents", ".aws"] {
            assert!(
                std::fs::symlink_metadata(t.s.ws.join(name)).is_err(),
                "{backend}: {name} left in the workspace"
            );
        }
    }
}

#[test]
fn a_killed_task_gives_128_plus_the_signal() {
    let t = task();
    let cmd = t.cmd(&["--backend", "landlock"], "kill -KILL $$", &[]);
    let Ok(mut cmd) = as_pid1(&cmd) else {
        return skip("a new PID namespace needs root");
    };
    assert_eq!(output(&mut cmd).status.code(), Some(137));
    assert_eq!(
        output(&mut t.cmd(&[], "exit 7", &[])).status.code(),
        Some(7)
    );
}

#[test]
fn without_user_namespaces_it_picks_landlock_and_enforces() {
    let t = task();
    // Not under the test tree, which may itself be under /tmp (a writable root).
    let outside = t.homes.join("outside");
    let dry = t.cmd(&["--dry-run", "--json"], "true", &[]);
    let Ok(mut dry) = without_userns(&dry, None) else {
        return skip("the no-userns environment needs root");
    };
    let out = output(&mut dry);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(plan["backend"], "landlock", "{plan}");

    let script = format!(
        "touch inside && echo wrote-inside; touch {} 2>&1 || echo outside-denied",
        outside.display()
    );
    let run = t.cmd(&[], &script, &[]);
    let mut run = as_pid1(&without_userns(&run, None).unwrap()).unwrap();
    let out = output(&mut run);
    let o = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{o}{}", stderr(&out));
    assert!(
        o.contains("wrote-inside")
            && o.contains("Permission denied")
            && o.contains("outside-denied"),
        "{o}"
    );
    assert!(!outside.exists());
}

#[test]
fn network_off_by_variable_blocks_tcp() {
    let t = task();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = format!("/usr/bin/python3 -c 'import socket; s=socket.create_connection((\"127.0.0.1\", {port}), 2); print(\"connected\")' 2>/dev/null || echo blocked");
    for (network, expected) in [("off", "blocked"), ("on", "connected")] {
        for backend in ["landlock", "auto"] {
            let env = [
                ("CODEX_RUN_NETWORK", network),
                ("CODEX_RUN_BACKEND", backend),
            ];
            let out = output(&mut t.cmd(&[], &script, &env));
            assert_eq!(
                stdout(&out).trim(),
                expected,
                "{network} {backend}: {}",
                stderr(&out)
            );
        }
    }
    // A flag wins over its variable.
    let out = output(&mut t.cmd(
        &["--network", "on"],
        &script,
        &[("CODEX_RUN_NETWORK", "off")],
    ));
    assert_eq!(stdout(&out).trim(), "connected", "{}", stderr(&out));
}

#[test]
fn a_misspelled_variable_is_refused_before_anything_runs() {
    let t = task();
    let marker = t.s.ws.join("ran");
    let script = format!("touch {}", marker.display());
    let out = output(&mut t.cmd(&[], &script, &[("CODEX_RUN_NETWROK", "off")]));
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("codex-entrypoint: error: CODEX_RUN_NETWROK: unknown CODEX_RUN_* variable; did you mean CODEX_RUN_NETWORK?"),
        "{err}"
    );
    assert!(!marker.exists());
    assert!(!t.homes.join("task-home").exists(), "nothing is written");
}
