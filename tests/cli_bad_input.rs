//! Bad input, thrown at all four personalities the way a new user would: for each case, no panic,
//! exactly one error line and it names the input, the documented exit code (125 for `codex-run`
//! and the entrypoint's own failures; 2 for usage and 1 for refusals from the helper and the other
//! subcommands), and nothing created or changed in HOME, the XDG dirs or the workspace.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

struct Case {
    name: &'static str,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    code: i32,
    /// Text the error line must contain: the offending input.
    names: String,
}

fn case(name: &'static str, args: &[&str], code: i32, names: &str) -> Case {
    Case {
        name,
        args: args.iter().map(|a| a.to_string()).collect(),
        env: Vec::new(),
        code,
        names: names.to_string(),
    }
}

fn with_env(mut c: Case, key: &'static str, value: &str) -> Case {
    c.env.push((key, value.to_string()));
    c
}

/// The dirs a run may touch, all under one base: HOME (with a valid shared Codex home), the XDG
/// state, cache and data dirs, and the workspace.
struct World {
    _dir: tempfile::TempDir,
    base: PathBuf,
    links: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let dir = home_tempdir("cl-bad-input-");
        let base = dir.path().canonicalize().unwrap();
        for d in ["home/.codex", "state", "cache", "data", "ws"] {
            std::fs::create_dir_all(base.join(d)).unwrap();
        }
        std::fs::write(base.join("home/.codex/config.toml"), "model = \"o3\"\n").unwrap();
        World {
            _dir: dir,
            base,
            links: tempfile::tempdir().unwrap(),
        }
    }

    fn ws(&self) -> String {
        self.base.join("ws").display().to_string()
    }

    fn missing(&self) -> String {
        self.base.join("no-such-dir").display().to_string()
    }

    fn command(&self, personality: &str, case: &Case) -> Command {
        let mut cmd = if personality == "codex-launcher" {
            Command::new(bin())
        } else {
            common::personality(self.links.path(), personality)
        };
        cmd.current_dir(self.base.join("ws"))
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", self.base.join("home"))
            .env("XDG_STATE_HOME", self.base.join("state"))
            .env("XDG_CACHE_HOME", self.base.join("cache"))
            .env("XDG_DATA_HOME", self.base.join("data"))
            .env("RUST_BACKTRACE", "1")
            .args(&case.args)
            .envs(case.env.iter().map(|(k, v)| (k, v)));
        cmd
    }
}

/// Every path under `dir` with its kind, mode and content, for before/after comparison. The probe
/// cache (`$XDG_CACHE_HOME/codex-launcher`) is left out: it records facts about the host, not the
/// user's state, and a run probes the host before it validates its options.
fn snapshot(dir: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.strip_prefix(dir)
                .is_ok_and(|r| r == Path::new("cache/codex-launcher"))
            {
                continue;
            }
            let m = std::fs::symlink_metadata(&p).unwrap();
            let what = if m.is_dir() {
                stack.push(p.clone());
                "dir".to_string()
            } else if m.is_symlink() {
                format!("-> {}", std::fs::read_link(&p).unwrap().display())
            } else {
                format!("{:?}", std::fs::read(&p).unwrap())
            };
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            out.push(format!("{rel} {:o} {what}", m.mode()));
        }
    }
    out.sort();
    out
}

fn cases(w: &World) -> Vec<(&'static str, Case)> {
    let ws = w.ws();
    let missing = w.missing();
    let profile = workspace_write(Path::new(&ws));
    let run = "codex-run";
    let ep = "codex-entrypoint";
    let helper = "codex-linux-sandbox";
    let cl = "codex-launcher";
    vec![
        // codex-run: every failure of its own is 125.
        (
            run,
            case(
                "unknown sandbox mode",
                &["--sandbox", "bogus", "--", "true"],
                125,
                "bogus",
            ),
        ),
        (
            run,
            case(
                "unknown network",
                &["--network", "maybe", "--", "true"],
                125,
                "maybe",
            ),
        ),
        (
            run,
            case(
                "unknown backend",
                &["--backend", "fast", "--", "true"],
                125,
                "fast",
            ),
        ),
        (
            run,
            case(
                "unknown flag",
                &["--frobnicate", "--", "true"],
                125,
                "--frobnicate",
            ),
        ),
        (
            run,
            case(
                "missing writable root",
                &["--writable-root", &missing, "--", "true"],
                125,
                &missing,
            ),
        ),
        (
            run,
            case(
                "read-only with a writable root",
                &[
                    "--sandbox",
                    "read-only",
                    "--writable-root",
                    &ws,
                    "--",
                    "true",
                ],
                125,
                "read-only",
            ),
        ),
        (
            run,
            case(
                "empty object profile",
                &["--permission-profile", "{}", "--", "true"],
                125,
                "--permission-profile {}",
            ),
        ),
        (
            run,
            case(
                "empty array profile",
                &["--permission-profile", "[]", "--", "true"],
                125,
                "--permission-profile []",
            ),
        ),
        (
            run,
            case(
                "profile that is not JSON",
                &["--permission-profile", "not json", "--", "true"],
                125,
                "permission profile",
            ),
        ),
        (
            run,
            case(
                "missing --cwd",
                &["--cwd", &missing, "--", "true"],
                125,
                &missing,
            ),
        ),
        (
            run,
            case(
                "task id with a slash",
                &["--task-id", "../up", "--", "true"],
                125,
                "../up",
            ),
        ),
        (
            run,
            case(
                "override without a value",
                &["-c", "novalue", "--", "true"],
                125,
                "novalue",
            ),
        ),
        (
            run,
            case(
                "override with an empty key",
                &["-c", "=v", "--", "true"],
                125,
                "-c =v",
            ),
        ),
        (
            run,
            case(
                "override with an empty key segment",
                &["-c", "a..b=1", "--", "true"],
                125,
                "-c a..b=1",
            ),
        ),
        (
            run,
            case(
                "relative --home",
                &["--home", "rel/home", "--", "true"],
                125,
                "rel/home",
            ),
        ),
        (
            run,
            case(
                "missing --shared-home",
                &["--shared-home", &missing, "--", "true"],
                125,
                &missing,
            ),
        ),
        (
            run,
            case(
                "missing lock to replay",
                &[
                    "--lock-replay",
                    &format!("{missing}/x.lock.toml"),
                    "--",
                    "true",
                ],
                125,
                &missing,
            ),
        ),
        (
            run,
            case(
                "--json without --dry-run",
                &["--json", "--", "true"],
                125,
                "--dry-run",
            ),
        ),
        (
            run,
            case(
                "unknown platform",
                &["--platform", "beos", "--", "true"],
                125,
                "beos",
            ),
        ),
        (
            run,
            with_env(
                case(
                    "relative CODEX_HOME",
                    &["--", "true"],
                    125,
                    "CODEX_HOME=rel",
                ),
                "CODEX_HOME",
                "rel",
            ),
        ),
        (
            run,
            with_env(
                case("missing CODEX_HOME", &["--", "true"], 125, "CODEX_HOME="),
                "CODEX_HOME",
                &missing,
            ),
        ),
        (
            run,
            with_env(
                case("non-boolean full isolation", &["--", "true"], 125, "maybe"),
                "CODEX_LAUNCHER_REQUIRE_FULL_ISOLATION",
                "maybe",
            ),
        ),
        (
            run,
            with_env(
                case("unknown backend variable", &["--", "true"], 125, "warp"),
                "CODEX_LAUNCHER_BACKEND",
                "warp",
            ),
        ),
        (
            run,
            with_env(
                case(
                    "CODEX_RUN_* typo",
                    &["--", "true"],
                    125,
                    "CODEX_RUN_NETWROK",
                ),
                "CODEX_RUN_NETWROK",
                "off",
            ),
        ),
        // codex-entrypoint: the same scheme, options also from CODEX_RUN_*.
        (
            ep,
            with_env(
                case(
                    "misspelled variable",
                    &["--", "true"],
                    125,
                    "CODEX_RUN_NETWROK",
                ),
                "CODEX_RUN_NETWROK",
                "off",
            ),
        ),
        (
            ep,
            with_env(
                case(
                    "bad sandbox variable",
                    &["--", "true"],
                    125,
                    "CODEX_RUN_SANDBOX=bogus",
                ),
                "CODEX_RUN_SANDBOX",
                "bogus",
            ),
        ),
        (
            ep,
            with_env(
                case(
                    "negative grace period",
                    &["--", "true"],
                    125,
                    "CODEX_RUN_GRACE_SECONDS=-1",
                ),
                "CODEX_RUN_GRACE_SECONDS",
                "-1",
            ),
        ),
        (
            ep,
            with_env(
                case(
                    "non-boolean variable",
                    &["--", "true"],
                    125,
                    "CODEX_RUN_REQUIRE_FULL_ISOLATION=maybe",
                ),
                "CODEX_RUN_REQUIRE_FULL_ISOLATION",
                "maybe",
            ),
        ),
        (
            ep,
            with_env(
                case("missing cwd variable", &["--", "true"], 125, &missing),
                "CODEX_RUN_CWD",
                &missing,
            ),
        ),
        (
            ep,
            with_env(
                case("task id variable with a slash", &["--", "true"], 125, "a/b"),
                "CODEX_RUN_TASK_ID",
                "a/b",
            ),
        ),
        (
            ep,
            with_env(
                with_env(
                    case(
                        "profile and mode variables",
                        &["--", "true"],
                        125,
                        "CODEX_RUN_PERMISSION_PROFILE",
                    ),
                    "CODEX_RUN_PERMISSION_PROFILE",
                    &profile,
                ),
                "CODEX_RUN_SANDBOX",
                "read-only",
            ),
        ),
        (
            ep,
            case(
                "unknown network flag",
                &["--network", "maybe", "--", "true"],
                125,
                "maybe",
            ),
        ),
        (
            ep,
            case(
                "unknown flag",
                &["--frobnicate", "--", "true"],
                125,
                "--frobnicate",
            ),
        ),
        // codex-linux-sandbox: Codex's codes, 2 for bad input, 1 for a refused policy.
        (helper, case("no arguments", &[], 2, "--sandbox-policy-cwd")),
        (
            helper,
            case(
                "profile that is not JSON",
                &[
                    "--sandbox-policy-cwd",
                    &ws,
                    "--permission-profile",
                    "not json",
                    "--",
                    "true",
                ],
                2,
                "permission profile",
            ),
        ),
        (
            helper,
            case(
                "profile of an unknown type",
                &[
                    "--sandbox-policy-cwd",
                    &ws,
                    "--permission-profile",
                    r#"{"type":"bogus"}"#,
                    "--",
                    "true",
                ],
                2,
                "bogus",
            ),
        ),
        (
            helper,
            case(
                "unknown backend",
                &[
                    "--sandbox-policy-cwd",
                    &ws,
                    "--backend",
                    "fast",
                    "--",
                    "true",
                ],
                2,
                "fast",
            ),
        ),
        (
            helper,
            case(
                "unknown flag",
                &["--sandbox-policy-cwd", &ws, "--frobnicate"],
                2,
                "--frobnicate",
            ),
        ),
        (
            helper,
            case(
                "relative policy cwd",
                &[
                    "--sandbox-policy-cwd",
                    "rel",
                    "--permission-profile",
                    &profile,
                    "--",
                    "true",
                ],
                2,
                "rel",
            ),
        ),
        (
            helper,
            case(
                "deny glob without a prefix",
                &[
                    "--sandbox-policy-cwd",
                    &ws,
                    "--permission-profile",
                    r#"{"type":"managed","file_system":{"type":"restricted","entries":[{"path":{"type":"special","value":{"kind":"root"}},"access":"read"},{"path":{"type":"glob_pattern","pattern":"/**/*.env"},"access":"deny"}]},"network":"restricted"}"#,
                    "--",
                    "true",
                ],
                1,
                "/**/*.env",
            ),
        ),
        // Other codex-launcher subcommands: 2 for usage, 1 for refusals.
        (
            cl,
            case("unknown subcommand", &["frobnicate"], 2, "frobnicate"),
        ),
        (
            cl,
            case(
                "relative install dir",
                &["install", "--bin-dir", "relbin"],
                2,
                "relbin",
            ),
        ),
        (
            cl,
            case(
                "relative data dir",
                &["install", "--data-dir", "reldata"],
                2,
                "reldata",
            ),
        ),
        (
            cl,
            case("bad gc duration", &["gc", "--older-than=3x"], 2, "3x"),
        ),
        (
            cl,
            case("gc without a duration", &["gc"], 2, "--older-than"),
        ),
        (
            cl,
            case(
                "completions for an unknown shell",
                &["completions", "tcsh"],
                2,
                "tcsh",
            ),
        ),
        (
            cl,
            case(
                "unknown manual page",
                &["man", "codex-nope"],
                2,
                "codex-nope",
            ),
        ),
        (
            cl,
            case(
                "explain for windows",
                &["explain", "--platform", "windows"],
                2,
                "windows",
            ),
        ),
        (
            cl,
            case(
                "explain with a bad network",
                &["explain", "--network", "maybe"],
                2,
                "maybe",
            ),
        ),
        (
            cl,
            case(
                "prepare-home with a bad task id",
                &["prepare-home", "--task-id", "../up"],
                2,
                "../up",
            ),
        ),
        (
            cl,
            case(
                "prepare-home with a missing shared home",
                &["prepare-home", "--shared-home", &missing],
                2,
                &missing,
            ),
        ),
        (
            cl,
            case(
                "lock verify of a missing file",
                &[
                    "lock",
                    "verify",
                    &format!("{missing}/x.lock.toml"),
                    "--codex",
                    "/bin/true",
                ],
                1,
                &missing,
            ),
        ),
        (
            cl,
            case(
                "doctor with an unknown flag",
                &["doctor", "--frobnicate"],
                2,
                "--frobnicate",
            ),
        ),
        (
            cl,
            with_env(
                case(
                    "explain with a relative CODEX_HOME",
                    &["explain"],
                    2,
                    "CODEX_HOME=rel",
                ),
                "CODEX_HOME",
                "rel",
            ),
        ),
    ]
}

#[test]
fn bad_input_is_one_line_the_documented_code_and_changes_nothing() {
    let w = World::new();
    let cases = cases(&w);
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    for p in [
        "codex-run",
        "codex-entrypoint",
        "codex-linux-sandbox",
        "codex-launcher",
    ] {
        assert!(cases.iter().any(|(q, _)| *q == p), "no case for {p}");
    }
    let mut failures = Vec::new();
    for (personality, case) in &cases {
        let before = snapshot(&w.base);
        let out = output(&mut w.command(personality, case));
        let after = snapshot(&w.base);
        let err = stderr(&out);
        // clap puts the argument a usage error is about on the line after its `error:` line.
        let lines: Vec<&str> = err.lines().collect();
        let error_lines: Vec<String> = (0..lines.len())
            .filter(|&i| lines[i].to_lowercase().contains("error"))
            .map(|i| format!("{} {}", lines[i], lines.get(i + 1).unwrap_or(&"")))
            .collect();
        let mut wrong = Vec::new();
        if err.contains("panicked") || err.contains("stack backtrace") {
            wrong.push("panicked".to_string());
        }
        if out.status.code() != Some(case.code) {
            wrong.push(format!("exit {:?}, not {}", out.status.code(), case.code));
        }
        if error_lines.len() != 1 {
            wrong.push(format!("{} error lines", error_lines.len()));
        } else if !error_lines[0].contains(&case.names) {
            wrong.push(format!("the error line does not name {:?}", case.names));
        }
        if before != after {
            let created: Vec<_> = after.iter().filter(|l| !before.contains(l)).collect();
            let gone: Vec<_> = before.iter().filter(|l| !after.contains(l)).collect();
            wrong.push(format!("changed files: +{created:?} -{gone:?}"));
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "{personality} {} ({:?} {:?}): {}\n    stderr: {}",
                case.name,
                case.args,
                case.env,
                wrong.join("; "),
                err.trim().replace('\n', "\n            ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} bad inputs misbehaved:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
