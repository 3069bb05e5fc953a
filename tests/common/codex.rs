//! The real Codex binaries the end-to-end tests run.

use std::path::{Path, PathBuf};

use super::skip;

/// The real Codex binaries to test: `CODEX_REFERENCE_BIN` (0.169) and `CODEX_REFERENCE_BIN_0171`,
/// else the copies `.ci/run` installs under target/.
pub fn codexes() -> Vec<(String, PathBuf)> {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let mut out = Vec::new();
    for (version, var, dir) in [
        ("0.169.0", "CODEX_REFERENCE_BIN", "codex-reference"),
        (
            "0.171.0",
            "CODEX_REFERENCE_BIN_0171",
            "codex-reference-0.171",
        ),
    ] {
        let found = std::env::var_os(var).map(PathBuf::from).or_else(|| {
            let vendor = target
                .join(dir)
                .join("node_modules/@openai/codex-linux-x64/vendor");
            let bin = vendor.join("x86_64-unknown-linux-musl/bin/codex");
            bin.exists().then_some(bin)
        });
        match found {
            Some(bin) => out.push((version.to_string(), bin)),
            None if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("real Codex {version} is missing: .ci/run installs it")
            }
            None => skip(&format!("real Codex {version}: set {var}")),
        }
    }
    out
}

/// `codex-run` launching real Codex `exec` (`prompt`) in `h`'s workspace with the per-task home
/// `home` and the shared home of `h`; locks in the state dir every launch of `h` shares.
pub fn codex_exec_under_codex_run(
    h: &super::homes::Homes,
    home: &Path,
    backend: &str,
    version: &str,
    codex: &Path,
) -> std::process::Command {
    codex_exec_prompt_under_codex_run(h, home, backend, version, codex, "go")
}

/// [`codex_exec_under_codex_run`] with the first prompt `prompt`.
pub fn codex_exec_prompt_under_codex_run(
    h: &super::homes::Homes,
    home: &Path,
    backend: &str,
    version: &str,
    codex: &Path,
    prompt: &str,
) -> std::process::Command {
    let mut cmd = std::process::Command::new(super::bin());
    cmd.current_dir(&h.s.ws)
        .env("XDG_CACHE_HOME", &h.s.cache)
        .env("XDG_STATE_HOME", h.home.parent().unwrap())
        .env_remove("OPENAI_API_KEY")
        .env_remove("CODEX_API_KEY")
        .args([
            "run",
            "--backend",
            backend,
            "--codex-version",
            version,
            "--shared-home",
        ])
        .arg(&h.shared)
        .arg("--home")
        .arg(home)
        .arg("--")
        .arg(codex)
        .args(["exec", "--skip-git-repo-check", prompt])
        .stdin(std::process::Stdio::null());
    cmd
}
