//! A shared home and a per-task home on disk, and `prepare-home` on them (the home_* tests).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{bin, home_tempdir, output, setup, Setup};

pub struct Homes {
    pub s: Setup,
    pub shared: PathBuf,
    pub home: PathBuf,
    _home_dir: tempfile::TempDir,
}

pub fn homes() -> Homes {
    let s = setup();
    let shared = s.base.join("shared");
    std::fs::create_dir_all(&shared).unwrap();
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
    /// `prepare-home --json` for this pair; outer layer `none` and platform `linux` unless given.
    pub fn prepare_cmd(&self, extra: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.current_dir(&self.s.ws)
            .env("XDG_CACHE_HOME", &self.s.cache)
            .env("XDG_STATE_HOME", self.home.parent().unwrap())
            .env_remove("CODEX_RUN_MULTI_AGENT")
            .env_remove("CODEX_RUN_MEMORY")
            .args(["prepare-home", "--json", "--shared-home"])
            .arg(&self.shared)
            .arg("--home")
            .arg(&self.home)
            .args(extra);
        for (flag, value) in [("--outer-backend", "none"), ("--platform", "linux")] {
            if !extra.contains(&flag) {
                cmd.args([flag, value]);
            }
        }
        cmd
    }

    pub fn prepare(&self, extra: &[&str]) -> Output {
        output(&mut self.prepare_cmd(extra))
    }

    pub fn write_shared(&self, name: &str, bytes: impl AsRef<[u8]>) {
        let p = self.shared.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }

    pub fn config(&self) -> Option<String> {
        std::fs::read_to_string(self.home.join("config.toml")).ok()
    }

    /// Every file under the home: path, bytes, mtime.
    pub fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>, Option<std::time::SystemTime>)> {
        let mut out = Vec::new();
        walk(&self.home, &mut out);
        out.sort();
        out
    }
}

fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>, Option<std::time::SystemTime>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let meta = std::fs::symlink_metadata(e.path()).unwrap();
        if meta.is_dir() {
            walk(&e.path(), out);
        } else {
            let bytes = if meta.is_file() {
                std::fs::read(e.path()).unwrap()
            } else {
                Vec::new()
            };
            out.push((e.path(), bytes, meta.modified().ok()));
        }
    }
}
