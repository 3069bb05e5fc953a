//! `prepare-home` and `codex-run` on real files, real sandboxes and (when available) real Codex.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

struct Homes {
    s: Setup,
    shared: PathBuf,
    home: PathBuf,
    _home_dir: tempfile::TempDir,
}

fn homes() -> Homes {
    let s = setup();
    let shared = s.base.join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::set_permissions(&shared, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let home_dir = home_tempdir("cl-home-");
    let home = home_dir.path().join("state/task/codex-home");
    Homes {
        s,
        shared,
        home,
        _home_dir: home_dir,
    }
}

impl Homes {
    fn prepare(&self, extra: &[&str]) -> std::process::Output {
        let mut cmd = Command::new(bin());
        cmd.current_dir(&self.s.ws)
            .env("XDG_CACHE_HOME", &self.s.cache)
            .env_remove("CODEX_RUN_MULTI_AGENT")
            .env_remove("CODEX_RUN_MEMORY")
            .args(["prepare-home", "--json", "--shared-home"])
            .arg(&self.shared)
            .arg("--home")
            .arg(&self.home)
            .args(extra);
        // Defaults for what a test does not set itself.
        for (flag, value) in [("--outer-backend", "none"), ("--platform", "linux")] {
            if !extra.contains(&flag) {
                cmd.args([flag, value]);
            }
        }
        output(&mut cmd)
    }

    fn prepared(&self, extra: &[&str]) -> serde_json::Value {
        let out = self.prepare(extra);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        serde_json::from_str(&stdout(&out)).unwrap()
    }

    fn write_shared(&self, name: &str, text: &str) {
        let p = self.shared.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn home_text(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.home.join(name)).ok()
    }

    /// Every path under the home with its bytes (or link target), for "unchanged" checks.
    fn snapshot(&self) -> Vec<(PathBuf, String, Option<std::time::SystemTime>)> {
        let mut out = Vec::new();
        let mut stack = vec![self.home.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                let meta = std::fs::symlink_metadata(&p).unwrap();
                let content = if meta.file_type().is_symlink() {
                    format!("-> {}", std::fs::read_link(&p).unwrap().display())
                } else if meta.is_dir() {
                    stack.push(p.clone());
                    "dir".into()
                } else {
                    std::fs::read_to_string(&p).unwrap_or_default()
                };
                out.push((p, content, meta.modified().ok()));
            }
        }
        out.sort();
        out
    }
}

fn actions(report: &serde_json::Value) -> Vec<(String, String)> {
    report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let p = a["path"].as_str().unwrap();
            (
                Path::new(p)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                a["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn copies_follow_the_shared_home_through_rotation_and_deletion() {
    let h = homes();
    h.write_shared("config.toml", "model_provider = \"a\"\n[model_providers.a]\nbase_url = \"https://one.example\"\nenv_key = \"KEY_ONE\"\n");
    h.write_shared("config.json", "{\"v\":1}");
    h.write_shared("instructions.md", "be brief");
    let first = h.prepared(&[]);
    assert!(actions(&first).contains(&("config.json".into(), "copied".into())));
    let cfg = h.home_text("config.toml").unwrap();
    assert!(cfg.contains("https://one.example") && cfg.contains("KEY_ONE"));
    assert_eq!(h.home_text("instructions.md").as_deref(), Some("be brief"));

    // Rotate the provider URL and key: the per-task copy follows (MUL-2646).
    h.write_shared("config.toml", "model_provider = \"a\"\n[model_providers.a]\nbase_url = \"https://two.example\"\nenv_key = \"KEY_TWO\"\n");
    h.write_shared("config.json", "{\"v\":2}");
    let second = h.prepared(&[]);
    let cfg = h.home_text("config.toml").unwrap();
    assert!(
        cfg.contains("https://two.example") && cfg.contains("KEY_TWO") && !cfg.contains("KEY_ONE"),
        "{cfg}"
    );
    assert_eq!(h.home_text("config.json").as_deref(), Some("{\"v\":2}"));
    assert!(actions(&second).contains(&("config.json".into(), "refreshed".into())));

    // Delete the shared files: copies go; config.toml keeps only the managed blocks.
    for f in ["config.toml", "config.json", "instructions.md"] {
        std::fs::remove_file(h.shared.join(f)).unwrap();
    }
    let third = h.prepared(&[]);
    assert!(h.home_text("config.json").is_none() && h.home_text("instructions.md").is_none());
    assert!(actions(&third).contains(&("instructions.md".into(), "deleted".into())));
    let cfg = h.home_text("config.toml").unwrap();
    assert!(
        !cfg.contains("two.example") && cfg.contains("sandbox_mode = \"workspace-write\""),
        "{cfg}"
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(h.home.join("config.toml"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&h.home).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o700);
}

#[test]
fn a_second_prepare_writes_nothing() {
    let h = homes();
    h.write_shared("config.toml", "model = \"o3\"\n[features]\nx = 1\n");
    h.write_shared("auth.json", "{}");
    h.prepared(&[]);
    let before = h.snapshot();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let again = h.prepared(&[]);
    assert!(
        actions(&again).iter().all(|(_, a)| a == "unchanged"),
        "{again:#}"
    );
    assert_eq!(h.snapshot(), before, "files or mtimes changed");
}

#[test]
fn auth_and_sessions_links() {
    let h = homes();
    let auth = h.home.join("auth.json");
    h.prepared(&[]);
    assert!(
        std::fs::symlink_metadata(&auth).is_err(),
        "no shared auth.json: no link"
    );
    assert_eq!(
        std::fs::read_link(h.home.join("sessions")).unwrap(),
        h.shared.join("sessions")
    );
    assert!(
        h.shared.join("sessions").is_dir(),
        "shared sessions/ created"
    );
    // Under a sandbox the task's transcripts go to a directory of its own (the launcher copies
    // them into the shared tree, which no sandbox writes).
    h.prepared(&["--outer-backend", "landlock"]);
    let own = std::fs::symlink_metadata(h.home.join("sessions")).unwrap();
    assert!(
        own.is_dir(),
        "per-task sessions is a directory under a sandbox"
    );
    h.prepared(&[]);
    assert_eq!(
        std::fs::read_link(h.home.join("sessions")).unwrap(),
        h.shared.join("sessions"),
        "without a sandbox it is the link again"
    );

    h.write_shared("auth.json", "{\"token\":1}");
    h.prepared(&[]);
    assert_eq!(
        std::fs::read_link(&auth).unwrap(),
        h.shared.join("auth.json")
    );

    for wrong in ["link", "file", "broken"] {
        std::fs::remove_file(&auth).unwrap();
        match wrong {
            "link" => std::os::unix::fs::symlink(h.s.base.join("elsewhere"), &auth).unwrap(),
            "file" => std::fs::write(&auth, "stale copy").unwrap(),
            _ => std::os::unix::fs::symlink("/nonexistent/auth.json", &auth).unwrap(),
        }
        h.prepared(&[]);
        assert_eq!(
            std::fs::read_link(&auth).unwrap(),
            h.shared.join("auth.json"),
            "{wrong}"
        );
    }

    // The shared credentials disappear: the per-task link goes too, rather than dangle.
    std::fs::remove_file(h.shared.join("auth.json")).unwrap();
    let r = h.prepared(&[]);
    assert!(std::fs::symlink_metadata(&auth).is_err());
    assert!(actions(&r).contains(&("auth.json".into(), "deleted".into())));
}

#[test]
fn referenced_files_are_copied_and_escapes_refused() {
    let h = homes();
    h.write_shared("prompts/model.md", "instructions");
    h.write_shared(
        "config.toml",
        "model_instructions_file = \"prompts/model.md\"\n",
    );
    h.prepared(&[]);
    assert_eq!(
        h.home_text("prompts/model.md").as_deref(),
        Some("instructions")
    );

    std::fs::write(h.s.base.join("outside.md"), "secret").unwrap();
    std::os::unix::fs::symlink(h.s.base.join("outside.md"), h.shared.join("link.md")).unwrap();
    let before = h.snapshot();
    for (value, says) in [
        ("/etc/hostname", "relative path"),
        ("../outside.md", "relative path"),
        ("~/x.md", "relative path"),
        ("link.md", "symlink"),
        ("missing.md", "missing.md"),
    ] {
        h.write_shared(
            "config.toml",
            &format!("experimental_instructions_file = \"{value}\"\n"),
        );
        let out = h.prepare(&[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{value}: {err}");
        assert!(
            err.contains("experimental_instructions_file") && err.contains(says),
            "{value}: {err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert_eq!(h.snapshot(), before, "{value}: the home changed");
    }
}

#[test]
fn platform_matrix_without_an_outer_layer() {
    let h = homes();
    let r = h.prepared(&[
        "--platform",
        "macos",
        "--codex-version",
        "codex-cli 0.169.0",
    ]);
    assert_eq!(r["sandbox"]["setting"]["mode"], "danger-full-access");
    assert!(r["sandbox"]["reason"]
        .as_str()
        .unwrap()
        .contains("openai/codex#10390"));
    h.write_shared("config.toml", "windows.sandbox = \"unelevated\"\n");
    let r = h.prepared(&["--platform", "windows"]);
    assert_eq!(r["sandbox"]["setting"]["mode"], "workspace-write");
    let cfg = h.home_text("config.toml").unwrap();
    assert!(
        cfg.ends_with("\nwindows.sandbox = \"unelevated\"\n"),
        "{cfg}"
    );
    let r = h.prepared(&["--platform", "linux", "--outer-backend", "landlock"]);
    assert_eq!(r["sandbox"]["setting"]["mode"], "danger-full-access");
    assert!(h
        .home_text("config.toml")
        .unwrap()
        .contains("default_permissions = \":danger-full-access\""));
}

#[test]
fn bad_input_changes_nothing() {
    let h = homes();
    h.write_shared("config.toml", "model = \"o3\"\n");
    h.prepared(&[]);
    let before = h.snapshot();
    h.write_shared("config.toml", "model = \n[[broken");
    let out = h.prepare(&[]);
    assert_eq!(out.status.code(), Some(2), "invalid input is a usage error");
    assert!(
        stderr(&out).contains("config.toml: invalid TOML"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        stderr(&out).trim_end().lines().count(),
        1,
        "{}",
        stderr(&out)
    );
    assert_eq!(h.snapshot(), before);
    assert!(h
        .home_text("config.toml")
        .unwrap()
        .contains("model = \"o3\""));

    let mut cmd = Command::new(bin());
    cmd.args(["prepare-home", "--shared-home"])
        .arg(&h.shared)
        .args(["--home", "/tmp/cl-task-home"]);
    let out = output(&mut cmd);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("temp dir"), "{}", stderr(&out));
    assert!(!Path::new("/tmp/cl-task-home").exists());

    for args in [
        vec!["run", "--cwd", "/nonexistent/ws", "--", "true"],
        vec!["run", "--sandbox", "bogus", "--", "true"],
    ] {
        let mut cmd = Command::new(bin());
        cmd.args(&args).arg("--home").arg(&h.home);
        let out = output(cmd.args(["--shared-home"]).arg(&h.shared));
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        assert!(
            stderr(&out).contains(if args.contains(&"bogus") {
                "bogus"
            } else {
                "/nonexistent/ws"
            }),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(h.snapshot(), before);
}

#[test]
fn concurrent_prepares_never_expose_a_partial_file() {
    let h = homes();
    h.write_shared("config.toml", "model = \"v0\"\n");
    h.prepared(&[]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let path = h.home.join("config.toml");
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let text = std::fs::read_to_string(&path).expect("config.toml always exists");
                text.parse::<toml_edit::DocumentMut>()
                    .unwrap_or_else(|e| panic!("partial file: {e}\n{text}"));
                reads += 1;
            }
            reads
        })
    };
    let mut children = Vec::new();
    for i in 0..32 {
        h.write_shared(
            "config.toml",
            &format!("model = \"v{i}\"\n[features]\nx = {i}\n"),
        );
        let mut cmd = Command::new(bin());
        cmd.current_dir(&h.s.ws)
            .env("XDG_CACHE_HOME", &h.s.cache)
            .args([
                "prepare-home",
                "--outer-backend",
                "none",
                "--platform",
                "linux",
                "--shared-home",
            ])
            .arg(&h.shared)
            .arg("--home")
            .arg(&h.home)
            .stdout(std::process::Stdio::null());
        children.push(cmd.spawn().unwrap());
    }
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    h.prepared(&[]);
    let cfg = h.home_text("config.toml").unwrap();
    assert!(
        cfg.contains("model = \"v31\"") && cfg.contains("x = 31"),
        "{cfg}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&h.home)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// `codex-run` with this test's homes and `extra` options, before `--`.
fn codex_run(h: &Homes, extra: &[&str]) -> Command {
    let mut cmd = personality(&h.s.base, "codex-run");
    cmd.current_dir(&h.s.ws)
        .env("XDG_CACHE_HOME", &h.s.cache)
        .env_remove("CODEX_LAUNCHER_BACKEND")
        .arg("--shared-home")
        .arg(&h.shared)
        .arg("--home")
        .arg(&h.home)
        .args(extra);
    cmd
}

fn run_cmd(h: &Homes, extra: &[&str], script: &str) -> Command {
    let mut cmd = codex_run(h, extra);
    cmd.args(["--", "/bin/sh", "-c", script]);
    cmd
}

#[test]
fn run_sets_codex_home_and_sandboxes_the_command() {
    let script =
        "echo $CODEX_HOME; touch ./ok && echo made-ok; touch /etc/cl-run-nope || echo etc-denied";
    for uid in [None, Some(65534)] {
        let h = homes();
        let cmd = run_cmd(&h, &[], script);
        let mut cmd = match uid {
            Some(_) => match as_nobody(&cmd) {
                Ok(c) => c,
                Err(why) => return skip(&why),
            },
            None => cmd,
        };
        let out = output(&mut cmd);
        let o = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{uid:?}: {}", stderr(&out));
        assert!(o.starts_with(&format!("{}\n", h.home.display())), "{o}");
        assert!(o.contains("made-ok") && o.contains("etc-denied"), "{o}");
        assert!(h.s.ws.join("ok").exists() && !Path::new("/etc/cl-run-nope").exists());
        assert!(h.home.join("config.toml").exists());
    }
}

#[test]
fn run_with_network_off_blocks_tcp() {
    let h = homes();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = format!("/usr/bin/python3 -c 'import socket; s=socket.create_connection((\"127.0.0.1\", {port}), 2); print(\"connected\")' 2>/dev/null || echo blocked");
    let out = output(&mut run_cmd(&h, &["--network", "off"], &script));
    assert_eq!(stdout(&out).trim(), "blocked", "{}", stderr(&out));
    let out = output(&mut run_cmd(&h, &["--network", "on"], &script));
    assert_eq!(stdout(&out).trim(), "connected", "{}", stderr(&out));
}

#[test]
fn run_exit_codes() {
    let h = homes();
    assert_eq!(
        output(&mut run_cmd(&h, &[], "exit 7")).status.code(),
        Some(7)
    );
    let mut cmd = codex_run(&h, &["--", "/nonexistent/prog"]);
    let out = output(&mut cmd);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
}

#[test]
fn real_codex_runs_under_each_outer_layer() {
    let Some(codex) = std::env::var_os("CODEX_REFERENCE_BIN") else {
        return skip("CODEX_REFERENCE_BIN is not set");
    };
    for backend in ["auto", "bwrap-vendored", "landlock"] {
        let h = homes();
        h.write_shared("config.toml", "model = \"gpt-5\"\n");
        for args in [vec!["--version"], vec!["sandbox", "--", "/bin/echo", "hi"]] {
            let mut cmd = codex_run(&h, &[]);
            cmd.args(["--backend", backend, "--"])
                .arg(&codex)
                .args(&args);
            let out = output(&mut cmd);
            let (o, e) = (stdout(&out), stderr(&out));
            assert_eq!(out.status.code(), Some(0), "{backend} {args:?}: {e}");
            let want = if args[0] == "--version" {
                "codex-cli 0.169.0"
            } else {
                "hi"
            };
            assert_eq!(o.trim(), want, "{backend} {args:?}: {e}");
            let lowered = e.to_lowercase();
            assert!(
                !lowered.contains("unknown")
                    && !lowered.contains("invalid")
                    && !lowered.contains("unrecognized"),
                "{backend}: {e}"
            );
        }
    }
}
