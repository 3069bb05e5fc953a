//! The directories a run writes before the task starts (per-task homes, the shared home's
//! `sessions/`, the probe cache), resolved as `codex-run` and `codex-entrypoint` resolve them, and
//! whether this user can write them here. A container with a read-only root, or a non-root user
//! whose `HOME` is `/` (Docker and Kubernetes give a uid without a passwd entry `HOME=/`), refuses
//! every run at this step, long after the image was built; doctor says so up front.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// What a directory is for, which decides how much its absence costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Where the per-task Codex home is created: unwritable means every run is refused.
    TaskHome,
    /// The shared Codex home, whose `sessions/` every run creates: unwritable means refused.
    SharedHome,
    /// The probe cache: unwritable only costs a probe on every launch.
    ProbeCache,
}

/// One directory a run needs, and where its location came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Needed {
    pub role: Role,
    pub path: PathBuf,
    /// The variable that chose it (`CODEX_RUN_HOME`, `XDG_STATE_HOME`, `HOME`, ...).
    pub from: &'static str,
}

/// A needed directory and whether it can be created or written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirCheck {
    #[serde(flatten)]
    pub needed: Needed,
    /// `None` when writable; otherwise the path that refused and why.
    pub problem: Option<String>,
}

/// A location that cannot be resolved at all (neither the variable nor `HOME` is set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unresolved {
    pub role: Role,
    pub variables: &'static str,
}

/// The directories a run would write, from the environment as the entrypoint reads it (a
/// `CODEX_RUN_*` variable first, then Codex's and XDG's, then `HOME`). Only absolute values count,
/// as in `codex-run`. `cache` is the probe cache's own resolution, passed in so this stays pure.
pub fn needed(
    env: impl Fn(&str) -> Option<OsString>,
    cache: Option<PathBuf>,
) -> (Vec<Needed>, Vec<Unresolved>) {
    let abs = |var: &'static str| {
        env(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .map(|p| (p, var))
    };
    let home = |suffix: &str| abs("HOME").map(|(h, v)| (h.join(suffix), v));
    let mut found = Vec::new();
    let mut missing = Vec::new();

    let task = abs("CODEX_RUN_HOME")
        .or_else(|| abs("XDG_STATE_HOME").map(|(p, v)| (p.join("codex-launcher/tasks"), v)))
        .or_else(|| home(".local/state/codex-launcher/tasks"));
    match task {
        Some((path, from)) => found.push(Needed {
            role: Role::TaskHome,
            path,
            from,
        }),
        None => missing.push(Unresolved {
            role: Role::TaskHome,
            variables: "CODEX_RUN_HOME, XDG_STATE_HOME or HOME",
        }),
    }
    let shared = abs("CODEX_RUN_SHARED_HOME")
        .or_else(|| abs("CODEX_HOME"))
        .or_else(|| home(".codex"));
    match shared {
        Some((path, from)) => found.push(Needed {
            role: Role::SharedHome,
            path,
            from,
        }),
        None => missing.push(Unresolved {
            role: Role::SharedHome,
            variables: "CODEX_RUN_SHARED_HOME, CODEX_HOME or HOME",
        }),
    }
    if let Some(path) = cache {
        found.push(Needed {
            role: Role::ProbeCache,
            from: if env("XDG_CACHE_HOME").is_some() {
                "XDG_CACHE_HOME"
            } else {
                "HOME"
            },
            path,
        });
    }
    (found, missing)
}

/// Whether `dir` exists as a writable directory, or could be created: the nearest existing
/// ancestor must let this user write and search it. `access(2)` answers for this user and also
/// says `EROFS` on a read-only mount, which is the `--read-only` case.
pub fn check(needed: Needed) -> DirCheck {
    let problem = writable(&needed.path).err();
    DirCheck { needed, problem }
}

fn writable(dir: &Path) -> Result<(), String> {
    use nix::unistd::{access, AccessFlags};
    let mut at = dir;
    loop {
        match std::fs::metadata(at) {
            Ok(m) if !m.is_dir() => return Err(format!("{} is not a directory", at.display())),
            Ok(_) => {
                return access(at, AccessFlags::W_OK | AccessFlags::X_OK)
                    .map_err(|e| format!("{}: {}", at.display(), e.desc()))
            }
            // ENOTDIR: a file stands where a directory should; its parent shows which.
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(libc::ENOTDIR) =>
            {
                match at.parent() {
                    Some(parent) => at = parent,
                    None => return Err(format!("{}: {e}", dir.display())),
                }
            }
            Err(e) => return Err(format!("{}: {e}", at.display())),
        }
    }
}

/// True when `path` is `root` or inside it: state the sandboxed task could rewrite for the next
/// launch.
pub fn inside(path: &Path, root: &Path) -> bool {
    let norm = |p: &Path| crate::policy::resolve::normalize(p);
    root != Path::new("/") && norm(path).starts_with(norm(root))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn home_decides_everything_by_default() {
        let (found, missing) = needed(env(&[("HOME", "/home/codex")]), None);
        assert!(missing.is_empty());
        let paths: Vec<_> = found.iter().map(|n| (n.role, n.path.clone())).collect();
        assert_eq!(
            paths,
            [
                (
                    Role::TaskHome,
                    "/home/codex/.local/state/codex-launcher/tasks".into()
                ),
                (Role::SharedHome, "/home/codex/.codex".into()),
            ]
        );
    }

    #[test]
    fn entrypoint_variables_win_and_relative_values_do_not_count() {
        let vars = [
            ("HOME", "/"),
            ("CODEX_RUN_HOME", "/state/task"),
            ("CODEX_RUN_SHARED_HOME", "relative"),
            ("CODEX_HOME", "/codex"),
        ];
        let (found, _) = needed(env(&vars), Some("/cache/codex-launcher".into()));
        assert_eq!(found[0].path, Path::new("/state/task"));
        assert_eq!(found[0].from, "CODEX_RUN_HOME");
        assert_eq!(found[1].path, Path::new("/codex"));
        assert_eq!(found[1].from, "CODEX_HOME");
        assert_eq!(found[2].role, Role::ProbeCache);
    }

    #[test]
    fn no_home_is_unresolved() {
        let (found, missing) = needed(env(&[]), None);
        assert!(found.is_empty());
        assert_eq!(missing.len(), 2);
    }

    #[test]
    fn a_missing_directory_is_judged_by_its_nearest_ancestor() {
        let dir = tempfile::tempdir().unwrap();
        assert!(writable(&dir.path().join("a/b/c")).is_ok());
        let file = dir.path().join("f");
        std::fs::write(&file, "").unwrap();
        let err = writable(&file.join("below")).unwrap_err();
        assert!(err.contains("is not a directory"), "{err}");
    }

    #[test]
    fn inside_compares_normalised_paths() {
        assert!(inside(Path::new("/ws/.cache"), Path::new("/ws")));
        assert!(inside(Path::new("/ws/a/../.local"), Path::new("/ws/")));
        assert!(!inside(Path::new("/wsx"), Path::new("/ws")));
        assert!(!inside(Path::new("/home"), Path::new("/")));
    }
}
