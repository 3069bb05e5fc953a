//! `completions` and `man`: what they print is accepted by the shells and by `man`, completes
//! real options, and `install` puts it where those tools look, without touching a user's own files.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

const PROGRAMS: [&str; 4] = [
    "codex-launcher",
    "codex-run",
    "codex-entrypoint",
    "codex-linux-sandbox",
];

fn launcher(args: &[&str]) -> std::process::Output {
    output(Command::new(bin()).args(args))
}

fn generated(args: &[&str], dir: &Path, file: &str) -> std::path::PathBuf {
    let out = launcher(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    assert!(!out.stdout.is_empty(), "{args:?} printed nothing");
    let path = dir.join(file);
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

/// Runs `tool args... file` and fails with its stderr unless it exits 0 silently.
fn accepted_by(tool: &str, args: &[&str], file: &Path) {
    if !Path::new("/usr/bin").join(tool).exists() && which(tool).is_none() {
        return skip(&format!("{tool} is not installed"));
    }
    let out = output(Command::new(tool).args(args).arg(file));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{tool} {args:?} {}: {}",
        file.display(),
        stderr(&out)
    );
    assert_eq!(stderr(&out), "", "{tool} warned about {}", file.display());
}

fn which(tool: &str) -> Option<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

#[test]
fn bash_accepts_every_completion_script_and_it_completes_real_options() {
    let dir = tempfile::tempdir().unwrap();
    for program in PROGRAMS {
        let file = generated(&["completions", "bash", program], dir.path(), program);
        accepted_by("bash", &["-n"], &file);
    }
    // Completing `codex-run --sand` offers `--sandbox`: the script knows the real flags.
    let file = dir.path().join("codex-run");
    let script = format!(
        "source {}; f=$(complete -p codex-run | sed 's/.*-F \\([^ ]*\\).*/\\1/'); \
         COMP_WORDS=(codex-run --sand); COMP_CWORD=1; $f codex-run --sand codex-run; \
         echo \"${{COMPREPLY[@]}}\"",
        file.display()
    );
    let out = output(Command::new("bash").args(["-c", &script]));
    assert_eq!(stdout(&out).trim(), "--sandbox", "{}", stderr(&out));
}

#[test]
fn zsh_and_fish_accept_their_completion_scripts() {
    let dir = tempfile::tempdir().unwrap();
    for program in PROGRAMS {
        let zsh = generated(
            &["completions", "zsh", program],
            dir.path(),
            &format!("_{program}"),
        );
        assert!(std::fs::read_to_string(&zsh)
            .unwrap()
            .starts_with("#compdef "));
        accepted_by("zsh", &["-n"], &zsh);
        let fish = generated(
            &["completions", "fish", program],
            dir.path(),
            &format!("{program}.fish"),
        );
        accepted_by("fish", &["--no-execute"], &fish);
    }
}

#[test]
fn man_renders_every_page_without_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let mut pages = PROGRAMS.to_vec();
    pages.extend([
        "codex-launcher-run",
        "codex-launcher-lock-export",
        "codex-launcher-install",
    ]);
    for page in pages {
        let file = generated(&["man", page], dir.path(), &format!("{page}.1"));
        accepted_by("man", &["--warnings", "-l"], &file);
        let out = output(
            Command::new("man")
                .env("MANWIDTH", "100")
                .arg("-l")
                .arg(&file),
        );
        assert!(stdout(&out).contains("NAME"), "{page}: {}", stdout(&out));
    }
    let out = launcher(&["man", "codex-nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("man codex-nope: no such page"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn no_help_page_or_completion_mentions_a_work_item() {
    let mut texts = vec![launcher(&["--help"]), launcher(&["man"])];
    for shell in ["bash", "zsh", "fish"] {
        texts.push(launcher(&["completions", shell]));
    }
    for sub in ["completions", "man", "install", "tasks", "gc", "licenses"] {
        texts.push(launcher(&[sub, "--help"]));
    }
    for out in texts {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let text = stdout(&out).to_lowercase();
        assert!(!text.contains("issue"), "{text}");
        assert!(!text.contains("not implemented"), "{text}");
    }
}

/// `install` with a private HOME, XDG_DATA_HOME and PATH.
fn install(home: &Path, extra: &[&str]) -> std::process::Output {
    output(
        Command::new(bin())
            .env("HOME", home)
            .env_remove("XDG_DATA_HOME")
            .env("PATH", "/usr/bin:/bin")
            .arg("install")
            .args(extra),
    )
}

#[test]
fn install_puts_completions_and_pages_where_the_tools_look() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let out = install(home, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let share = home.join(".local/share");
    for program in PROGRAMS {
        for rel in [
            format!("bash-completion/completions/{program}"),
            format!("zsh/site-functions/_{program}"),
            format!("fish/vendor_completions.d/{program}.fish"),
            format!("man/man1/{program}.1"),
        ] {
            assert!(share.join(&rel).is_file(), "{rel} missing");
        }
    }
    // man-db finds ../share/man next to a bin dir on PATH: no MANPATH needed.
    let out = output(
        Command::new("man")
            .env_remove("MANPATH")
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", home.join(".local/bin").display()),
            )
            .args(["-w", "codex-run"]),
    );
    assert_eq!(
        stdout(&out).trim(),
        share.join("man/man1/codex-run.1").display().to_string(),
        "{}",
        stderr(&out)
    );
}

#[test]
fn install_is_idempotent_and_never_replaces_a_users_own_file() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    assert_eq!(install(home, &[]).status.code(), Some(0));
    let snapshot = snapshot(home);
    let again = install(home, &[]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(
        stdout(&again).contains("already current"),
        "{}",
        stdout(&again)
    );
    assert_eq!(
        snapshot,
        self::snapshot(home),
        "a second install changed something"
    );

    // A completion the user wrote, and a symlink the user made, stay; nothing else changes.
    let mine = home.join(".local/share/bash-completion/completions/codex-run");
    std::fs::write(&mine, "complete -W 'mine' codex-run\n").unwrap();
    let fish = home.join(".local/share/fish/vendor_completions.d/codex-run.fish");
    std::fs::remove_file(&fish).unwrap();
    std::os::unix::fs::symlink("/dev/null", &fish).unwrap();
    let before = self::snapshot(home);
    let refused = install(home, &[]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains(&mine.display().to_string()),
        "{}",
        stderr(&refused)
    );
    assert_eq!(stderr(&refused).lines().count(), 1, "{}", stderr(&refused));
    assert_eq!(before, self::snapshot(home));
}

#[test]
fn install_dry_run_lists_every_file_and_changes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let out = install(home.path(), &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("would write ") && text.contains("man/man1/codex-run.1"),
        "{text}"
    );
    assert!(
        snapshot(home.path()).is_empty(),
        "{:?}",
        snapshot(home.path())
    );
}

#[test]
fn install_warns_when_the_bin_dir_is_not_on_path() {
    let home = tempfile::tempdir().unwrap();
    let bin_dir = home.path().join(".local/bin");
    let out = install(home.path(), &["--dry-run"]);
    let warning = format!("{} is not on PATH", bin_dir.display());
    assert!(stderr(&out).contains(&warning), "{}", stderr(&out));
    let out = output(
        Command::new(bin())
            .env("HOME", home.path())
            .env("PATH", format!("/usr/bin:{}", bin_dir.display()))
            .args(["install", "--dry-run"]),
    );
    assert_eq!(stderr(&out), "", "warned although the bin dir is on PATH");
}

#[test]
fn install_refuses_relative_directories() {
    let home = tempfile::tempdir().unwrap();
    for flag in ["--bin-dir", "--data-dir"] {
        let out = output(
            Command::new(bin())
                .current_dir(home.path())
                .env("HOME", home.path())
                .args(["install", flag, "rel"]),
        );
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(&format!("{flag} rel: must be an absolute path")));
        assert!(snapshot(home.path()).is_empty());
    }
}

/// Every path under `dir` with its kind and content (file bytes, link target).
fn snapshot(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let what = if meta.is_symlink() {
                format!("-> {}", std::fs::read_link(&p).unwrap().display())
            } else if meta.is_dir() {
                stack.push(p.clone());
                "dir".into()
            } else {
                String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned()
            };
            out.push((p.strip_prefix(dir).unwrap().display().to_string(), what));
        }
    }
    out.sort();
    out
}
