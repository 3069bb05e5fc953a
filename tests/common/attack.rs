//! Harness for the attack scenarios (`tests/attack_*.rs`): where each class runs (a forced backend
//! of the helper personality, as root and as uid 65534), control runs without any sandbox that prove
//! a scenario can see the attack succeed, and prerequisites that fail under CI instead of skipping.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

/// The system interpreter: uid 65534 cannot use a per-user one (pyenv shims under /root).
pub const PYTHON: &str = "/usr/bin/python3";

/// The backends every attack class runs on (forced, so a host change cannot skip one silently).
pub const BACKENDS: [&str; 2] = ["bwrap-system", "landlock"];

/// Root, then uid 65534.
pub const UIDS: [Option<u32>; 2] = [None, Some(65534)];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    Restricted,
    Enabled,
}

/// One launch of a scenario, named in assertion messages.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub backend: &'static str,
    pub uid: Option<u32>,
    pub network: Network,
}

/// Every backend × uid for the given networks.
pub fn targets(networks: &[Network]) -> Vec<Target> {
    let mut out = Vec::new();
    for &backend in &BACKENDS {
        for uid in UIDS {
            for &network in networks {
                out.push(Target {
                    backend,
                    uid,
                    network,
                });
            }
        }
    }
    out
}

/// Skips loudly when `check` fails, except under `CI=true`, where every prerequisite is provided
/// and a missing one is a failure (STYLE.md, Tests). True when the scenario can run.
pub fn require(check: Result<(), String>) -> bool {
    match check {
        Ok(()) => true,
        // skip() fails under CI=true itself.
        Err(why) => {
            skip(&why);
            false
        }
    }
}

/// Root is needed to run as both uids and to set up host-side state for another user.
pub fn root() -> Result<(), String> {
    if is_root() {
        Ok(())
    } else {
        Err("the attack scenarios run as root and as uid 65534; run as root".into())
    }
}

/// `program` is installed (found through PATH).
pub fn installed(program: &str) -> Result<(), String> {
    which::which(program)
        .map(|_| ())
        .map_err(|_| format!("{program} is not installed"))
}

/// The kernel's Landlock ABI is at least `abi`.
pub fn landlock_abi_at_least(abi: i64) -> Result<(), String> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_long = 1;
    // SAFETY: with the version flag the kernel reads no pointer and returns the ABI or an error.
    let found = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if found >= abi {
        Ok(())
    } else {
        Err(format!("needs Landlock ABI {abi}, the kernel has {found}"))
    }
}

/// Codex's workspace-write profile for `ws` with `network`.
pub fn profile(ws: &Path, network: Network) -> String {
    let restricted = workspace_write(ws);
    match network {
        Network::Restricted => restricted,
        Network::Enabled => {
            restricted.replace(r#""network":"restricted""#, r#""network":"enabled""#)
        }
    }
}

/// The helper personality running `argv` in `s.ws` on `t`'s backend and network (not yet as `t`'s
/// uid: wrap the final command with [`as_uid`]).
pub fn sandboxed<S: AsRef<OsStr>>(s: &Setup, t: Target, argv: &[S]) -> Command {
    let mut cmd = personality(&s.base, "codex-linux-sandbox");
    cmd.current_dir(&s.ws)
        .env("XDG_CACHE_HOME", &s.cache)
        .env_remove("CODEX_LAUNCHER_LOG")
        .env_remove("CODEX_LAUNCHER_BACKEND")
        .env_remove("CODEX_LAUNCHER_REQUIRE_FULL_ISOLATION")
        .arg("--sandbox-policy-cwd")
        .arg(&s.ws)
        .arg("--permission-profile")
        .arg(profile(&s.ws, t.network))
        .args(["--backend", t.backend, "--"])
        .args(argv);
    cmd
}

/// The same argv with no sandbox at all, in `s.ws`: the control run of a scenario.
pub fn unsandboxed<S: AsRef<OsStr>>(s: &Setup, argv: &[S]) -> Command {
    let mut cmd = Command::new(argv[0].as_ref());
    cmd.current_dir(&s.ws).args(&argv[1..]);
    cmd
}

/// `cmd` as `uid` (None: unchanged, root).
pub fn as_uid(cmd: Command, uid: Option<u32>) -> Command {
    match uid {
        None => cmd,
        Some(65534) => as_nobody(&cmd).expect("checked by require(root())"),
        Some(other) => panic!("no harness for uid {other}"),
    }
}

/// `prefix... cmd...`: runs `cmd` (with its cwd and environment) under a wrapper program.
pub fn wrapped<S: AsRef<OsStr>>(prefix: &[S], cmd: &Command) -> Command {
    let mut wrapper = Command::new(prefix[0].as_ref());
    wrapper.args(&prefix[1..]);
    wrap(wrapper, cmd)
}

/// A file of `tests/fixtures`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// `NAME:result` lines a probe printed, as (name, result) pairs, for exact assertions.
pub fn results(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, r)| (n.trim().to_owned(), r.trim().to_owned()))
        .collect()
}

/// The one result of `name` in a probe's output; panics with the output when absent.
pub fn result<'a>(lines: &'a [(String, String)], name: &str, context: &str) -> &'a str {
    lines
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, r)| r.as_str())
        .unwrap_or_else(|| panic!("{context}: no {name} line in {lines:?}"))
}

/// A name no concurrent test shares: pid and a counter.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
