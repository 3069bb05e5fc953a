//! The binary skeleton: personalities by argv[0], usage errors, the vendored bubblewrap, install.

mod common;

use std::process::Command;

use common::*;

#[test]
fn each_linked_name_prints_its_own_help() {
    let dir = shared_tempdir();
    for (name, words) in [
        ("codex-run", "Usage: codex-run"),
        ("codex-linux-sandbox", "Usage: codex-linux-sandbox"),
        ("codex-entrypoint", "Usage: codex-entrypoint"),
    ] {
        let out = output(personality(dir.path(), name).arg("--help"));
        assert!(out.status.success(), "{name} --help failed");
        assert!(stdout(&out).contains(words), "{name}: {}", stdout(&out));
    }
}

#[test]
fn a_renamed_copy_behaves_as_codex_launcher() {
    let dir = shared_tempdir();
    let copy = dir.path().join("whatever-name");
    std::fs::copy(bin(), &copy).unwrap();
    // A fork in a concurrent test can briefly hold the copy's write descriptor (ETXTBSY on exec):
    // the child closes it at its exec, so a few retries suffice; a stuck one fails the test.
    let run = |arg: &str| {
        for _ in 0..100 {
            match Command::new(&copy).arg(arg).output() {
                Err(e) if e.raw_os_error() == Some(libc_etxtbsy()) => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                other => return other.unwrap(),
            }
        }
        panic!("{} stayed busy (ETXTBSY) for 2 s", copy.display())
    };
    let out = run("--help");
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("Usage: codex-launcher <COMMAND>"), "{text}");
    for sub in [
        "run",
        "linux-sandbox",
        "entrypoint",
        "prepare-home",
        "explain",
        "doctor",
        "lock",
        "install",
        "bwrap",
    ] {
        assert!(
            text.contains(&format!("\n  {sub} ")),
            "missing {sub} in {text}"
        );
    }
    let out = run("--version");
    assert_eq!(
        stdout(&out).trim(),
        format!("codex-launcher {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn unknown_flags_and_subcommands_are_usage_errors() {
    let out = output(Command::new(bin()).arg("--bogus"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unexpected argument '--bogus'"),
        "{}",
        stderr(&out)
    );
    let out = output(Command::new(bin()).arg("frobnicate"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unrecognized subcommand 'frobnicate'"),
        "{}",
        stderr(&out)
    );
    let dir = shared_tempdir();
    // codex-run answers 125 for its own failures, so they differ from the command's 1 and 2.
    let out = output(personality(dir.path(), "codex-run").arg("--bogus"));
    assert_eq!(out.status.code(), Some(125));
}

#[test]
fn vendored_bwrap_reports_its_version_and_license() {
    let out = output(Command::new(bin()).args(["bwrap", "--version"]));
    assert!(out.status.success());
    let first = stdout(&out).lines().next().unwrap_or_default().to_string();
    let version = first.strip_prefix("bubblewrap ").expect(&first);
    let parsed = semver::Version::parse(version).unwrap();
    assert!(parsed >= semver::Version::new(0, 12, 0), "{parsed}");
    assert!(stdout(&out).contains("LGPL-2.1-or-later"));
    let out = output(Command::new(bin()).args(["bwrap", "--license"]));
    assert!(stdout(&out).contains("GNU LESSER GENERAL PUBLIC LICENSE"));
}

fn libc_etxtbsy() -> i32 {
    26
}

fn perms_demo() -> Command {
    let mut cmd = Command::new(bin());
    cmd.args([
        "bwrap",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",
    ])
    .args([
        "--unshare-all",
        "--die-with-parent",
        "--perms",
        "0700",
        "--dir",
        "/tmp/x",
    ])
    .args(["--argv0", "foo", "sh", "-c", "ls -ld /tmp/x; echo $0"]);
    cmd
}

fn assert_perms_demo(out: &std::process::Output) {
    assert!(out.status.success(), "stderr: {}", stderr(out));
    let text = stdout(out);
    assert!(text.starts_with("drwx------"), "{text}");
    assert_eq!(text.lines().nth(1), Some("foo"), "{text}");
}

#[test]
fn vendored_bwrap_applies_perms_and_argv0() {
    assert_perms_demo(&output(&mut perms_demo()));
}

#[test]
fn vendored_bwrap_works_for_an_unprivileged_user() {
    match as_nobody(&perms_demo()) {
        Ok(mut cmd) => assert_perms_demo(&output(&mut cmd)),
        Err(reason) => skip(&reason),
    }
}

#[test]
fn install_is_idempotent_and_replaces_only_symlinks() {
    let dir = shared_tempdir();
    let bin_dir = dir.path().join("bin");
    let install = || {
        output(
            Command::new(bin())
                .env("XDG_DATA_HOME", dir.path().join("share"))
                .arg("install")
                .arg("--bin-dir")
                .arg(&bin_dir),
        )
    };
    let first = install();
    assert!(first.status.success(), "{}", stderr(&first));
    let snapshot = || {
        ["codex-run", "codex-linux-sandbox", "codex-entrypoint"]
            .map(|n| std::fs::read_link(bin_dir.join(n)).unwrap())
    };
    let links = snapshot();
    assert!(links.iter().all(|l| l == &bin().canonicalize().unwrap()));
    let second = install();
    assert!(second.status.success());
    assert_eq!(snapshot(), links);
    assert!(stdout(&second).contains("already correct"));

    // A link pointing elsewhere is repointed.
    std::fs::remove_file(bin_dir.join("codex-entrypoint")).unwrap();
    std::os::unix::fs::symlink("/nonexistent", bin_dir.join("codex-entrypoint")).unwrap();
    assert!(install().status.success());
    assert_eq!(snapshot(), links);

    // A regular file is never replaced, and nothing else changes either.
    std::fs::remove_file(bin_dir.join("codex-run")).unwrap();
    std::fs::write(bin_dir.join("codex-run"), "mine").unwrap();
    let refused = install();
    assert_ne!(refused.status.code(), Some(0));
    assert!(stderr(&refused).contains(&bin_dir.join("codex-run").display().to_string()));
    assert_eq!(
        std::fs::read_to_string(bin_dir.join("codex-run")).unwrap(),
        "mine"
    );
}

#[test]
fn install_dry_run_changes_nothing() {
    let dir = shared_tempdir();
    let bin_dir = dir.path().join("bin");
    let out = output(
        Command::new(bin())
            .env("XDG_DATA_HOME", dir.path().join("share"))
            .arg("install")
            .arg("--dry-run")
            .arg("--bin-dir")
            .arg(&bin_dir),
    );
    assert!(out.status.success());
    assert!(stdout(&out).contains("would create"));
    assert!(!bin_dir.exists());
}
