//! The README's quick start: exactly two commands, the second the one `.ci/run` runs, and the
//! first one's demo exits 0 on the built binary under a clean HOME, showing the refused write.
//! (`.ci/run` also runs the first command verbatim, `cargo install` included.)

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn quick_start_commands() -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Quick start"))
        .expect("README has a Quick start section");
    section
        .split("```sh\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap().trim().to_string())
        .collect()
}

#[test]
fn the_quick_start_is_two_commands_and_ci_runs_the_second() {
    let commands = quick_start_commands();
    assert_eq!(commands.len(), 2, "{commands:#?}");
    assert!(commands[0].starts_with("cargo install --locked --path . --root ~/.local && "));
    assert_eq!(commands[1], "cargo test --locked");
    let ci =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/run")).unwrap();
    assert!(
        ci.lines().any(|l| l == "cargo test --locked"),
        ".ci/run no longer runs the README's test command"
    );
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    assert!(readme.contains("npm install -g @openai/codex"));
}

#[test]
fn the_demo_exits_0_and_shows_the_refused_write() {
    let first = &quick_start_commands()[0];
    let demo = first
        .strip_prefix("cargo install --locked --path . --root ~/.local && ")
        .unwrap();
    // A clean HOME with only what `cargo install` would have put there.
    let home = home_tempdir("cl-readme-");
    let bin_dir = home.path().join(".local/bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::os::unix::fs::symlink(bin(), bin_dir.join("codex-launcher")).unwrap();
    let out = output(
        Command::new("sh")
            .args(["-c", demo])
            .current_dir(home.path())
            .env_clear()
            .env("HOME", home.path())
            .env("PATH", "/usr/bin:/bin"),
    );
    let o = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{o}{}", stderr(&out));
    assert!(o.contains("CODEX_HOME=/"), "{o}");
    assert!(o.contains("wrote ok in the workspace"), "{o}");
    assert!(o.contains("write to /etc refused by the sandbox"), "{o}");
    assert!(!Path::new("/etc/codex-demo").exists());
    assert!(home.path().join("codex-demo/ok").is_file());
    assert!(home
        .path()
        .join(".local/share/man/man1/codex-run.1")
        .is_file());
}
