//! What a new user meets first with `codex-run`: the command starts in `--cwd`, a mistyped
//! `CODEX_HOME` is an error rather than a new empty home, bad input creates nothing, `--dry-run`
//! works without Codex installed, and the outer-layer notice is only for Codex.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// Every path under `dir` (relative), for "nothing was created" checks.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

fn run(home: &Path, cwd: &Path) -> Command {
    let mut cmd = Command::new(bin());
    cmd.current_dir(cwd)
        .env("HOME", home)
        .env("PATH", "/usr/bin:/bin")
        .env_remove("XDG_STATE_HOME")
        .env("XDG_CACHE_HOME", home.with_extension("cache"))
        .env_remove("CODEX_HOME")
        .env_remove("CODEX_LAUNCHER_BACKEND")
        .arg("run");
    cmd
}

fn fresh(s: &Setup, name: &str) -> std::path::PathBuf {
    let home = s.base.join(name);
    std::fs::create_dir_all(&home).unwrap();
    home
}

#[test]
fn the_command_starts_in_the_cwd_it_was_given() {
    let s = setup();
    let home = fresh(&s, "home");
    let elsewhere = fresh(&s, "elsewhere");
    for backend in ["bwrap-system", "landlock"] {
        let out = output(
            run(&home, &elsewhere)
                .args(["--backend", backend, "--cwd"])
                .arg(&s.ws)
                .args(["--", "pwd"]),
        );
        assert_eq!(out.status.code(), Some(0), "{backend}: {}", stderr(&out));
        assert_eq!(stdout(&out).trim(), s.ws.display().to_string(), "{backend}");
    }
}

#[test]
fn a_mistyped_codex_home_is_refused_and_nothing_is_created() {
    let s = setup();
    let home = fresh(&s, "home");
    for value in [s.base.join("no-such-codex-home"), "relative/home".into()] {
        let out = output(
            run(&home, &s.ws)
                .env("CODEX_HOME", &value)
                .args(["--", "true"]),
        );
        assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
        assert!(stderr(&out).contains("CODEX_HOME="), "{}", stderr(&out));
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
        assert!(
            !value.is_absolute() || !value.exists(),
            "{value:?} was created"
        );
        assert!(tree(&home).is_empty(), "created: {:?}", tree(&home));
    }
}

#[test]
fn bad_input_creates_no_home_and_no_sessions_dir() {
    let s = setup();
    let home = fresh(&s, "home");
    std::fs::create_dir_all(home.join(".codex")).unwrap();
    std::fs::write(home.join(".codex/config.toml"), "model = [unclosed\n").unwrap();
    let out = output(run(&home, &s.ws).args(["--", "true"]));
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert_eq!(tree(&home), vec![".codex", ".codex/config.toml"]);
    std::fs::write(home.join(".codex/config.toml"), "model = \"o3\"\n").unwrap();
    let out = output(run(&home, &s.ws).args(["-c", "novalue", "--", "true"]));
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(tree(&home), vec![".codex", ".codex/config.toml"]);
}

#[test]
fn a_dry_run_needs_no_codex_and_changes_nothing() {
    let s = setup();
    let home = fresh(&s, "home");
    let out = output(run(&home, &s.ws).args(["--dry-run", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(plan["command"][0], "codex");
    assert!(tree(&home).is_empty(), "created: {:?}", tree(&home));
}

#[test]
fn the_outer_layer_notice_is_only_for_codex() {
    let s = setup();
    let home = fresh(&s, "home");
    let out = output(run(&home, &s.ws).args(["--backend", "landlock", "--", "true"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn inputs_that_used_to_pass_silently_are_refused_with_125() {
    let s = setup();
    let home = fresh(&s, "home");
    let missing = s.base.join("missing-root");
    type Case<'a> = (Vec<String>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec!["--writable-root".into(), missing.display().to_string()],
            vec![],
            "--writable-root",
        ),
        (
            vec![
                "--sandbox".into(),
                "read-only".into(),
                "--writable-root".into(),
                s.ws.display().to_string(),
            ],
            vec![],
            "read-only",
        ),
        (
            vec!["--permission-profile".into(), "{}".into()],
            vec![],
            "empty profile",
        ),
        (
            vec!["--permission-profile".into(), "[]".into()],
            vec![],
            "empty profile",
        ),
        (
            vec![],
            vec![("CODEX_LAUNCHER_REQUIRE_FULL_ISOLATION", "maybe")],
            "maybe",
        ),
        (
            vec![],
            vec![("CODEX_RUN_NETWROK", "off")],
            "CODEX_RUN_NETWORK",
        ),
    ];
    for (args, env, says) in cases {
        let marker = s.ws.join("ran");
        let out = output(
            run(&home, &s.ws)
                .envs(env.iter().copied())
                .args(&args)
                .args(["--", "touch"])
                .arg(&marker),
        );
        assert_eq!(
            out.status.code(),
            Some(125),
            "{args:?} {env:?}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains(says),
            "{args:?} {env:?}: {}",
            stderr(&out)
        );
        assert!(!marker.exists(), "{args:?} {env:?}: the command ran");
        assert!(
            tree(&home).is_empty(),
            "{args:?}: created {:?}",
            tree(&home)
        );
    }
}

#[test]
fn codex_run_reads_the_codex_run_variables_too() {
    let s = setup();
    let home = fresh(&s, "home");
    let probe = "python3 -c 'import socket; socket.socket()' 2>/dev/null && echo socket-ok || echo socket-refused";
    let out = output(
        run(&home, &s.ws)
            .env("CODEX_RUN_NETWORK", "off")
            .args(["--", "sh", "-c", probe]),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "socket-refused");
    // A flag wins over its variable.
    let out = output(run(&home, &s.ws).env("CODEX_RUN_NETWORK", "off").args([
        "--network",
        "on",
        "--",
        "sh",
        "-c",
        probe,
    ]));
    assert_eq!(stdout(&out).trim(), "socket-ok", "{}", stderr(&out));
}

#[test]
fn a_workspace_whose_name_is_not_utf8_still_plans_and_runs() {
    use std::os::unix::ffi::OsStrExt;
    let s = setup();
    let home = fresh(&s, "home");
    let ws = s.base.join(std::ffi::OsStr::from_bytes(b"ws-\xff"));
    std::fs::create_dir_all(&ws).unwrap();
    let out = output(run(&home, &ws).args(["--dry-run", "--json", "--", "true"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("ws-\u{fffd}"), "{}", stdout(&out));
    let out = output(run(&home, &ws).args(["--", "pwd"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        out.stdout.strip_suffix(b"\n").unwrap(),
        ws.as_os_str().as_bytes()
    );
}

#[test]
fn a_dry_run_refuses_what_every_real_run_would() {
    let s = setup();
    // A user whose HOME is a directory it cannot write (`/` for a container's arbitrary uid).
    let mut cmd = Command::new(bin());
    cmd.current_dir(&s.ws)
        .env("HOME", "/")
        .env_remove("XDG_STATE_HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("CODEX_HOME")
        .args(["run", "--dry-run", "--", "true"]);
    let Ok(mut nobody) = as_nobody(&cmd) else {
        return skip("needs root to run as uid 65534");
    };
    let out = output(&mut nobody);
    assert_eq!(out.status.code(), Some(125), "{}", stdout(&out));
    assert!(stderr(&out).contains("is not writable"), "{}", stderr(&out));
}

#[test]
fn a_missing_command_is_127_before_anything_is_created() {
    let s = setup();
    let home = fresh(&s, "home");
    let out = output(run(&home, &s.ws).args(["exec", "say hi"]));
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("codex-run -- codex exec"),
        "{}",
        stderr(&out)
    );
    let out = output(run(&home, &s.ws).args(["--codex", "/nonexistent/codex"]));
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    assert!(tree(&home).is_empty(), "created: {:?}", tree(&home));
}

#[test]
fn messages_name_what_is_wrong() {
    let s = setup();
    let home = fresh(&s, "home");
    let out = output(run(&home, &s.ws).args(["--backend", "seatbelt", "--", "true"]));
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("does not exist on Linux"),
        "{}",
        stderr(&out)
    );
    // A dry run checks -c as a run does.
    std::fs::create_dir_all(home.join(".codex")).unwrap();
    let out = output(run(&home, &s.ws).args(["--dry-run", "-c", "novalue", "--", "true"]));
    assert_eq!(out.status.code(), Some(125), "{}", stdout(&out));
    assert!(stderr(&out).contains("novalue"), "{}", stderr(&out));
    // A missing lock file is named before Codex is looked for.
    let mut verify = Command::new(bin());
    verify
        .current_dir(&s.ws)
        .env("HOME", &home)
        .env("PATH", "/usr/bin:/bin")
        .args(["lock", "verify"])
        .arg(s.base.join("missing.lock.toml"));
    let out = output(&mut verify);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("missing.lock.toml"),
        "{}",
        stderr(&out)
    );
}
