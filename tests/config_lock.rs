//! Effective config lock (DESIGN §6) on the built binary: export, replay, drift, bad locks, Codex
//! version checks, and what never goes into a lock.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

struct Env {
    s: Setup,
    shared: PathBuf,
    home: PathBuf,
    locks: PathBuf,
    _homes: tempfile::TempDir,
}

fn env() -> Env {
    let s = setup();
    let homes = home_tempdir("cl-lock-");
    let shared = homes.path().join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(
        shared.join("config.toml"),
        "# the user's config\nmodel = \"gpt-5\"\n[tui]\nanimations = false\n",
    )
    .unwrap();
    Env {
        home: homes.path().join("task/codex-home"),
        locks: homes.path().join("locks"),
        shared,
        s,
        _homes: homes,
    }
}

/// A stand-in `codex` binary that only answers `--version`.
fn fake_codex(e: &Env, version: &str) -> PathBuf {
    let path = e.s.base.join(format!("codex-{version}"));
    std::fs::write(&path, format!("#!/bin/sh\necho 'codex-cli {version}'\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

impl Env {
    fn run(&self, extra: &[&str], script: &str) -> Command {
        let mut cmd = personality(&self.s.base, "codex-run");
        cmd.current_dir(&self.s.ws)
            .env("XDG_CACHE_HOME", &self.s.cache)
            .env_remove("CODEX_LAUNCHER_BACKEND")
            .env_remove("CODEX_RUN_MULTI_AGENT")
            .env_remove("CODEX_RUN_MEMORY")
            .arg("--shared-home")
            .arg(&self.shared)
            .arg("--home")
            .arg(&self.home)
            .args(["--task-id", "t1"])
            .args(extra)
            .args(["--", "/bin/sh", "-c", script]);
        cmd
    }

    fn lock_file(&self) -> PathBuf {
        self.locks.join("t1.config.lock.toml")
    }

    fn export(&self, extra: &[&str]) -> String {
        let mut args = vec!["--lock-export", self.locks.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = output(&mut self.run(&args, "echo exported"));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(stdout(&out), "exported\n");
        std::fs::read_to_string(self.lock_file()).unwrap()
    }

    fn replay(&self, extra: &[&str]) -> Output {
        let marker = self.s.ws.join("replayed");
        let _ = std::fs::remove_file(&marker);
        let file = self.lock_file();
        let mut args = vec!["--lock-replay", file.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = output(&mut self.run(&args, "touch replayed; echo replayed"));
        let ran = marker.exists();
        assert_eq!(
            ran,
            out.status.code() == Some(0),
            "ran iff exit 0: {}",
            stderr(&out)
        );
        out
    }
}

/// A TOML document as a JSON value: what it means, not how it is written.
fn meaning(item: &toml_edit::Item) -> serde_json::Value {
    use serde_json::Value as J;
    fn value(v: &toml_edit::Value) -> J {
        match v {
            toml_edit::Value::String(s) => J::from(s.value().as_str()),
            toml_edit::Value::Integer(i) => J::from(*i.value()),
            toml_edit::Value::Float(f) => J::from(*f.value()),
            toml_edit::Value::Boolean(b) => J::from(*b.value()),
            toml_edit::Value::Datetime(d) => J::from(d.value().to_string()),
            toml_edit::Value::Array(a) => J::Array(a.iter().map(value).collect()),
            toml_edit::Value::InlineTable(t) => {
                J::Object(t.iter().map(|(k, v)| (k.to_string(), value(v))).collect())
            }
        }
    }
    match item {
        toml_edit::Item::Value(v) => value(v),
        toml_edit::Item::Table(t) => {
            J::Object(t.iter().map(|(k, v)| (k.to_string(), meaning(v))).collect())
        }
        toml_edit::Item::ArrayOfTables(a) => J::Array(
            a.iter()
                .map(|t| J::Object(t.iter().map(|(k, v)| (k.to_string(), meaning(v))).collect()))
                .collect(),
        ),
        toml_edit::Item::None => J::Null,
    }
}

fn parse(text: &str) -> toml_edit::DocumentMut {
    text.parse().unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[test]
fn export_then_replay_on_an_unchanged_host_runs_with_the_locked_config() {
    let e = env();
    let codex = fake_codex(&e, "0.169.0");
    let lock = e.export(&[
        "--codex",
        codex.to_str().unwrap(),
        "-c",
        "model_reasoning_effort=\"high\"",
    ]);
    let doc = parse(&lock);
    assert_eq!(doc["version"].as_integer(), Some(1));
    assert_eq!(doc["codex_version"].as_str(), Some("0.169.0"));
    assert_eq!(
        doc["launcher_version"].as_str(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        doc["config"]["model_reasoning_effort"].as_str(),
        Some("high")
    );
    assert_eq!(
        doc["config"]["sandbox_mode"].as_str(),
        Some("workspace-write")
    );
    assert_eq!(doc["sandbox"]["network"].as_str(), Some("filtered"));
    assert!(
        doc["sandbox"]["network_allow"].as_array().is_some_and(|a| a
            .iter()
            .any(|d| d.as_str() == Some("chatgpt.com:443 (model provider)"))),
        "{lock}"
    );
    let ws = e.s.ws.display().to_string();
    let writable = meaning(&doc["sandbox"]["writable_roots"]);
    assert!(
        writable.as_array().unwrap().contains(&ws.clone().into()),
        "{writable}"
    );
    let protected = meaning(&doc["sandbox"]["protected_paths"]);
    assert!(protected
        .as_array()
        .unwrap()
        .contains(&format!("{ws}/.git").into()));
    let mode = std::fs::metadata(e.lock_file())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // The shared config.toml changes; the replay does not look at it.
    std::fs::write(e.shared.join("config.toml"), "model = \"something-else\"\n").unwrap();
    let out = e.replay(&[
        "--codex",
        codex.to_str().unwrap(),
        "-c",
        "model_reasoning_effort=\"high\"",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "replayed\n");
    let written = std::fs::read_to_string(e.home.join("config.toml")).unwrap();
    assert_eq!(
        meaning(parse(&written).as_item()),
        meaning(&doc["config"]),
        "{written}"
    );
}

#[test]
fn a_changed_override_is_drift_and_nothing_runs() {
    let e = env();
    e.export(&[
        "--codex-version",
        "0.169.0",
        "-c",
        "model_reasoning_effort=\"high\"",
    ]);
    let before = std::fs::read_to_string(e.home.join("config.toml")).unwrap();
    let out = e.replay(&[
        "--codex-version",
        "0.169.0",
        "-c",
        "model_reasoning_effort=\"low\"",
    ]);
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    assert!(
        err.contains("replayed effective config does not match config lock"),
        "{err}"
    );
    assert!(err.contains("--- expected\n+++ actual\n@@"), "{err}");
    assert!(
        err.contains("\n-model_reasoning_effort = \"high\"\n+model_reasoning_effort = \"low\"\n"),
        "{err}"
    );
    assert_eq!(stdout(&out), "", "nothing executed");
    let after = std::fs::read_to_string(e.home.join("config.toml")).unwrap();
    assert_eq!(before, after, "the per-task home is left as it was");
}

#[test]
fn another_backend_is_drift() {
    let e = env();
    e.export(&["--codex-version", "0.169.0"]);
    let replay = e.run(
        &[
            "--codex-version",
            "0.169.0",
            "--lock-replay",
            e.lock_file().to_str().unwrap(),
        ],
        "touch replayed",
    );
    let Ok(mut replay) = without_userns(&replay, None) else {
        return skip("the no-userns environment needs root");
    };
    let out = output(&mut replay);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(!e.s.ws.join("replayed").exists());
    let err = stderr(&out);
    assert!(
        err.contains("\n-backend = \"bwrap-system\"\n+backend = \"landlock\"\n"),
        "{err}"
    );
    assert!(
        err.contains("+sandbox_mode = \"danger-full-access\"\n"),
        "{err}"
    );
    assert!(err.contains("+    \"metadata changes"), "{err}");
}

#[test]
fn bad_lock_files_get_their_error() {
    let e = env();
    std::fs::create_dir_all(&e.locks).unwrap();
    let file = e.lock_file();
    let check = |expected: String| {
        let out = e.replay(&["--codex-version", "0.169.0"]);
        assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(
            err.starts_with(&format!("codex-run: error: {expected}")),
            "{err}"
        );
    };
    check(format!(
        "failed to read config lock file {}: No such file or directory",
        file.display()
    ));
    std::fs::write(&file, "this is = = not toml").unwrap();
    check(format!(
        "failed to parse config lock file {}: ",
        file.display()
    ));
    std::fs::write(&file, "version = 2\ncodex_version = \"0.169.0\"\nlauncher_version = \"0.1.0\"\n[config]\n[sandbox]\n").unwrap();
    check("unsupported config lock version 2; expected 1".into());
    assert!(
        !e.home.exists(),
        "a refused replay leaves no per-task home behind"
    );
}

#[test]
fn another_codex_version_is_refused_unless_allowed() {
    let e = env();
    let old = fake_codex(&e, "0.169.0");
    let new = fake_codex(&e, "0.170.0");
    e.export(&["--codex", old.to_str().unwrap()]);
    let out = e.replay(&["--codex", new.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    assert!(
        err.contains("config lock Codex version mismatch")
            && err.contains("0.169.0")
            && err.contains("0.170.0"),
        "{err}"
    );
    assert!(err.contains("--allow-codex-version-mismatch"), "{err}");
    let out = e.replay(&[
        "--codex",
        new.to_str().unwrap(),
        "--allow-codex-version-mismatch",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn real_codex_version_is_detected() {
    let Some(codex) = std::env::var_os("CODEX_REFERENCE_BIN") else {
        return skip("CODEX_REFERENCE_BIN is not set");
    };
    let e = env();
    let lock = e.export(&["--codex", Path::new(&codex).to_str().unwrap()]);
    assert!(lock.contains("codex_version = \"0.169.0\"\n"), "{lock}");
}

#[test]
fn lock_subcommands_export_and_verify_without_running() {
    let e = env();
    // The user lets commands use the network; `--network off` then takes it away.
    std::fs::write(
        e.shared.join("config.toml"),
        "model = \"gpt-5\"\n[sandbox_workspace_write]\nnetwork_access = true\n",
    )
    .unwrap();
    let launcher = |args: &[&str]| {
        let mut cmd = Command::new(bin());
        cmd.current_dir(&e.s.ws)
            .env("XDG_CACHE_HOME", &e.s.cache)
            .env_remove("CODEX_LAUNCHER_BACKEND")
            .args(["lock"])
            .args(args)
            .arg("--shared-home")
            .arg(&e.shared)
            .arg("--home")
            .arg(&e.home)
            .args([
                "--task-id",
                "t1",
                "--codex-version",
                "0.169.0",
                "--",
                "/bin/sh",
                "-c",
                "touch ran",
            ]);
        output(&mut cmd)
    };
    let out = launcher(&["export", e.locks.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), e.lock_file().display().to_string());
    let config = std::fs::read_to_string(e.home.join("config.toml")).unwrap();
    let out = launcher(&["verify", e.lock_file().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("matches"));
    std::fs::write(e.home.join("config.toml"), "edited").unwrap();
    let out = launcher(&[
        "verify",
        e.lock_file().to_str().unwrap(),
        "--network",
        "off",
    ]);
    assert_eq!(out.status.code(), Some(1));
    // The commands' network_access was already off in the lock (`filtered` with no destination
    // of the user's own), so only the sandbox's network differs.
    assert!(
        stderr(&out).contains("\n-network = \"filtered\"\n")
            && stderr(&out).contains("\n+network = \"restricted\"\n"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(e.home.join("config.toml")).unwrap(),
        "edited",
        "verify writes nothing"
    );
    assert!(!e.s.ws.join("ran").exists());
    assert!(config.contains("model = \"gpt-5\""));
}

#[test]
fn no_secrets_in_the_lock() {
    let e = env();
    std::fs::write(
        e.shared.join("auth.json"),
        "{\"OPENAI_API_KEY\":\"sk-auth-file-secret\"}",
    )
    .unwrap();
    let mut cmd = e.run(
        &[
            "--lock-export",
            e.locks.to_str().unwrap(),
            "--codex-version",
            "1.0.0",
        ],
        "true",
    );
    cmd.env("OPENAI_API_KEY", "sk-env-secret");
    let out = output(&mut cmd);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lock = std::fs::read_to_string(e.lock_file()).unwrap();
    assert!(
        !lock.contains("sk-auth-file-secret") && !lock.contains("sk-env-secret"),
        "{lock}"
    );
    assert!(!lock.contains("OPENAI_API_KEY"), "{lock}");
}
