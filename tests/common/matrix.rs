//! The backends × users matrix the process-level attack tests run on: the helper personality with
//! Codex's workspace-write profile (network restricted), forced onto each backend, as root and as
//! uid 65534, plus the automatic choice where user namespaces are blocked.

use std::path::Path;
use std::process::Command;

use super::*;

/// One way to launch a sandboxed command.
pub struct Launch {
    pub label: String,
    /// The backend explain would report (`landlock` for the no-userns cases).
    pub backend: &'static str,
    pub uid: u32,
    pub cmd: Command,
}

/// The helper running `sh -c script` in `s.ws` on every backend as root and as uid 65534. `env`
/// is added to each command. Cases the host cannot provide are reported with a loud skip.
pub fn each_backend_and_user(s: &Setup, script: &str, env: &[(&str, &str)]) -> Vec<Launch> {
    let helper = |backend: &str| {
        let mut cmd = personality(&s.base, "codex-linux-sandbox");
        cmd.current_dir(&s.ws)
            .env("XDG_CACHE_HOME", &s.cache)
            .env_remove("CODEX_LAUNCHER_BACKEND")
            .envs(env.iter().copied())
            .args(["--sandbox-policy-cwd"])
            .arg(&s.ws)
            .arg("--permission-profile")
            .arg(workspace_write(&s.ws))
            .args(["--backend", backend, "--", "sh", "-c", script]);
        cmd
    };
    let mut out = Vec::new();
    for backend in ["bwrap-system", "bwrap-vendored", "landlock"] {
        let cmd = helper(backend);
        match as_nobody(&cmd) {
            Ok(nobody) => out.push(Launch {
                label: format!("{backend} as uid 65534"),
                backend,
                uid: 65534,
                cmd: nobody,
            }),
            Err(why) => skip(&why),
        }
        out.push(Launch {
            label: format!("{backend} as uid {}", nix::unistd::getuid()),
            backend,
            uid: nix::unistd::getuid().as_raw(),
            cmd,
        });
    }
    for uid in [None, Some(65534)] {
        match without_userns(&helper("auto"), uid) {
            Ok(cmd) => out.push(Launch {
                label: format!("no user namespaces, uid {}", uid.unwrap_or(0)),
                backend: "landlock",
                uid: uid.unwrap_or(0),
                cmd,
            }),
            Err(why) => skip(&why),
        }
    }
    out
}

/// A directory outside the workspace that uid 65534 could write if nothing stopped it.
pub fn victim_dir(s: &Setup) -> std::path::PathBuf {
    let dir = s.base.join("victim");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    dir
}

/// Names in `dir`, sorted, for before/after comparisons.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
