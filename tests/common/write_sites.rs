//! Where the launcher writes during a launch, from `strace -ff` of it, in a form that does not
//! depend on the run: scene paths as `{ws}`, `{home}`, ..., random temp names as
//! `.codex-launcher-tmp-*`, registry entry names as `{hash}`, marker names as `{pid}`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::scene::Scene;
use super::*;

/// The syscalls that create, replace or remove a name.
pub const TRACED: &str =
    "openat,openat2,open,creat,mkdir,mkdirat,rename,renameat,renameat2,symlink,symlinkat,unlink,unlinkat,rmdir,execve,clone,clone3,fork,vfork";

/// One write the launcher made: the syscall and the normalised path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Site {
    pub call: String,
    pub path: String,
}

/// Runs `cmd` under `strace -ff` and returns every write made by launcher code: a process after it
/// executed this binary and before it executed anything else (bubblewrap, the command), and the
/// children it forked meanwhile, except those made in new namespaces.
pub fn trace(s: &Scene, cmd: &Command) -> (std::process::Output, BTreeSet<(Site, PathBuf)>) {
    let dir = s.base.join(format!("strace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let prefix = dir.join("t");
    let mut strace = Command::new("strace");
    strace
        .args(["-ff", "-qq", "-y", "-s", "4096", "-e"])
        .arg(format!("trace={TRACED}"))
        .arg("-o")
        .arg(&prefix);
    let out = output(&mut wrap(strace, cmd));
    let mut files: BTreeMap<u32, String> = BTreeMap::new();
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("t.").and_then(|p| p.parse().ok()) {
            files.insert(pid, std::fs::read_to_string(e.path()).unwrap());
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    let ours = |path: &str| {
        let p = Path::new(path);
        p == bin()
            || p.file_name().is_some_and(|n| {
                [
                    "codex-run",
                    "codex-linux-sandbox",
                    "codex-launcher",
                    "codex-entrypoint",
                ]
                .iter()
                .any(|x| n == *x)
            }) && p.starts_with(&s.base)
    };
    // Walk the process tree from the one process nobody cloned, in clone order.
    let children: BTreeSet<u32> = files
        .values()
        .flat_map(|t| t.lines())
        .filter(|l| {
            ["clone(", "clone3(", "fork(", "vfork("]
                .iter()
                .any(|c| l.starts_with(c))
        })
        .filter_map(|l| {
            l.rsplit_once(" = ")?
                .1
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect();
    let root = *files.keys().find(|p| !children.contains(p)).unwrap();
    let mut state: BTreeMap<u32, bool> = BTreeMap::from([(root, false)]);
    let mut queue = vec![root];
    let mut sites = BTreeSet::new();
    while let Some(pid) = queue.pop() {
        let mut launcher = state[&pid];
        let Some(text) = files.get(&pid) else {
            continue;
        };
        for line in text.lines() {
            let Some((call, rest)) = line.split_once('(') else {
                continue;
            };
            let ret = line.rsplit_once(" = ").map(|(_, r)| r).unwrap_or("");
            match call {
                "execve" if ret.starts_with('0') => {
                    launcher = ours(&first_string(rest).unwrap_or_default());
                }
                "clone" | "clone3" | "fork" | "vfork" => {
                    if let Some(child) = ret.split_whitespace().next().and_then(|r| r.parse().ok())
                    {
                        // A child in new namespaces is a sandbox being built (the built-in
                        // bubblewrap runs in-process, without an exec) or the userns probe.
                        let sandbox = rest.contains("CLONE_NEW");
                        state.insert(child, launcher && !sandbox);
                        queue.push(child);
                    }
                }
                _ if launcher => {
                    for path in written_paths(call, rest) {
                        sites.insert((
                            Site {
                                call: call.to_string(),
                                path: normalise(s, &path),
                            },
                            PathBuf::from(path),
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    (out, sites)
}

/// The first `"..."` argument.
fn first_string(args: &str) -> Option<String> {
    let start = args.find('"')? + 1;
    let end = start + args[start..].find('"')?;
    Some(args[start..end].to_string())
}

/// `fd</path>` (with -y) or `AT_FDCWD`, then a quoted name: the joined path.
fn at_path(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = args;
    let mut base: Option<String> = None;
    loop {
        let lt = rest.find('<');
        let quote = rest.find('"');
        match (lt, quote) {
            (Some(l), Some(q)) if l < q => {
                let end = l + rest[l..].find('>').unwrap_or(0);
                base = Some(rest[l + 1..end].to_string());
                rest = &rest[end + 1..];
            }
            (_, Some(q)) => {
                let end = q + 1 + rest[q + 1..].find('"').unwrap_or(0);
                let name = &rest[q + 1..end];
                let joined = if name.starts_with('/') {
                    name.to_string()
                } else if let Some(b) = base.take() {
                    format!("{b}/{name}")
                } else {
                    name.to_string()
                };
                out.push(joined);
                rest = &rest[end + 1..];
            }
            _ => return out,
        }
    }
}

/// The paths a traced call writes, if it writes.
fn written_paths(call: &str, args: &str) -> Vec<String> {
    let writes_flags = ["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC"];
    let paths = match call {
        "openat" | "openat2" | "open" if !writes_flags.iter().any(|f| args.contains(f)) => {
            return Vec::new()
        }
        "openat" | "openat2" | "open" | "creat" | "mkdir" | "mkdirat" | "unlink" | "unlinkat"
        | "rmdir" => at_path(args).into_iter().take(1).collect(),
        "rename" | "renameat" | "renameat2" => at_path(args).into_iter().take(2).collect(),
        // symlinkat("target", dirfd, "link"): only the link is written.
        "symlink" | "symlinkat" => at_path(args).into_iter().skip(1).take(1).collect(),
        _ => Vec::new(),
    };
    paths
        .into_iter()
        .filter(|p| {
            !["/dev/", "/proc/", "pipe:", "socket:", "anon_inode:"]
                .iter()
                .any(|x| p.starts_with(x))
        })
        .collect()
}

/// Scene paths as placeholders, varying names as patterns.
pub fn normalise(s: &Scene, path: &str) -> String {
    let mut roots = [
        (s.home.clone(), "{home}"),
        (s.shared.clone(), "{shared}"),
        (s.state.clone(), "{state}"),
        (s.cache.clone(), "{cache}"),
        (s.tmp.clone(), "{tmp}"),
        (s.ws.clone(), "{ws}"),
        (s.user.clone(), "{user}"),
        (s.outside.clone(), "{outside}"),
        (s.base.clone(), "{base}"),
    ];
    roots.sort_by_key(|(p, _)| std::cmp::Reverse(p.as_os_str().len()));
    let mut out = path.to_string();
    for (p, name) in roots {
        if let Some(rest) = path.strip_prefix(&*p.to_string_lossy()) {
            if rest.is_empty() || rest.starts_with('/') {
                out = format!("{name}{rest}");
                break;
            }
        }
    }
    out.split('/')
        .map(|c| {
            let hex = |x: &str| x.len() == 16 && x.bytes().all(|b| b.is_ascii_hexdigit());
            if c.starts_with(".codex-launcher-tmp-") {
                ".codex-launcher-tmp-*".to_string()
            } else if hex(c) {
                "{hash}".to_string()
            } else if c.strip_suffix(".lock").is_some_and(hex) {
                "{hash}.lock".to_string()
            } else if !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()) {
                "{pid}".to_string()
            } else if let Some((stem, uid)) = c.rsplit_once('-') {
                if uid.bytes().all(|b| b.is_ascii_digit()) && !uid.is_empty() {
                    format!("{stem}-{{uid}}")
                } else {
                    c.to_string()
                }
            } else {
                c.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Who answers for a write site: the attack test file that plants at it, or `OUTSIDE` for a site
/// whose directory no launch makes writable (the test checks that it is).
pub const OUTSIDE: &str = "outside every writable root";

/// Every write site a launch may have, as `(syscall pattern, path pattern, covered by)`; `*`
/// matches within one path component.
pub const COVERED: &[(&str, &str, &str)] = &[
    // The per-task home: temp files, temp trees and temp links, all under one random prefix.
    (
        "*",
        "{home}/.codex-launcher-tmp-*",
        "attack_home_temp_symlinks",
    ),
    (
        "renameat",
        "{home}/.codex-launcher-tmp-*/*",
        "attack_home_temp_symlinks",
    ),
    (
        "renameat",
        "{home}/.codex-launcher-tmp-*/*/*",
        "attack_home_temp_symlinks",
    ),
    (
        "mkdirat",
        "{home}/.codex-launcher-tmp-*/*",
        "attack_home_temp_symlinks",
    ),
    // What a prepare renames into place or removes there.
    ("*", "{home}/config.toml", "attack_home_temp_symlinks"),
    ("*", "{home}/config.json", "attack_home_temp_symlinks"),
    ("*", "{home}/instructions.md", "attack_home_temp_symlinks"),
    ("*", "{home}/AGENTS.md", "attack_home_planted_instructions"),
    (
        "*",
        "{home}/AGENTS.override.md",
        "attack_home_planted_instructions",
    ),
    ("*", "{home}/.env", "attack_home_planted_instructions"),
    ("*", "{home}/hooks.json", "attack_home_planted_instructions"),
    (
        "*",
        "{home}/*.config.toml",
        "attack_home_planted_instructions",
    ),
    (
        "*",
        "{home}/environments.toml",
        "attack_home_planted_instructions",
    ),
    (
        "*",
        "{home}/managed_config.toml",
        "attack_home_planted_instructions",
    ),
    (
        "*",
        "{home}/models_cache.json",
        "attack_home_planted_instructions",
    ),
    (
        "*",
        "{home}/version.json",
        "attack_home_planted_instructions",
    ),
    (
        "*",
        "{home}/app-server-daemon",
        "attack_home_planted_instructions",
    ),
    (
        "*",
        "{home}/app-server-daemon/settings.json",
        "attack_home_planted_instructions",
    ),
    ("*", "{home}/rules", "attack_home_planted_instructions"),
    ("*", "{home}/skills", "attack_home_planted_instructions"),
    ("*", "{home}/agents", "attack_home_planted_instructions"),
    ("*", "{home}/prompts", "attack_home_planted_instructions"),
    ("*", "{home}/sessions", "attack_home_planted_instructions"),
    (
        "*",
        "{home}/sessions.displaced-*",
        "attack_home_planted_instructions",
    ),
    ("*", "{home}/auth.json", "attack_home_planted_instructions"),
    (
        "*",
        "{home}/.codex-launcher.lock",
        "attack_home_lock_symlink",
    ),
    // Mount points removed after a run (and by the sweep after a killed one), in each root.
    ("unlinkat", "{home}/.git", "attack_leftover_mounts"),
    ("unlinkat", "{home}/.codex", "attack_leftover_mounts"),
    ("unlinkat", "{home}/.agents", "attack_leftover_mounts"),
    ("unlinkat", "{home}/.aws", "attack_leftover_mounts"),
    ("unlinkat", "{ws}/.git", "attack_leftover_mounts"),
    ("unlinkat", "{ws}/.codex", "attack_leftover_mounts"),
    ("unlinkat", "{ws}/.agents", "attack_leftover_mounts"),
    ("unlinkat", "{ws}/.aws", "attack_leftover_mounts"),
    ("unlinkat", "{tmp}/.git", "attack_leftover_mounts"),
    ("unlinkat", "{tmp}/.codex", "attack_leftover_mounts"),
    ("unlinkat", "{tmp}/.agents", "attack_leftover_mounts"),
    ("unlinkat", "{tmp}/.aws", "attack_leftover_mounts"),
    // The shared credential dir is a writable root too (a refreshed login is saved there).
    (
        "unlinkat",
        "{shared}/credentials/.git",
        "attack_leftover_mounts",
    ),
    (
        "unlinkat",
        "{shared}/credentials/.codex",
        "attack_leftover_mounts",
    ),
    (
        "unlinkat",
        "{shared}/credentials/.agents",
        "attack_leftover_mounts",
    ),
    (
        "unlinkat",
        "{shared}/credentials/.aws",
        "attack_leftover_mounts",
    ),
    // The mount-target registry in $TMPDIR, and Codex's daemon dir in /tmp.
    (
        "*",
        "{tmp}/codex-bwrap-synthetic-mount-targets-{uid}",
        "attack_registry",
    ),
    (
        "*",
        "{tmp}/codex-bwrap-synthetic-mount-targets-{uid}/lock",
        "attack_registry",
    ),
    (
        "*",
        "{tmp}/codex-bwrap-synthetic-mount-targets-{uid}/denied-placeholder",
        "attack_registry",
    ),
    (
        "*",
        "{tmp}/codex-bwrap-synthetic-mount-targets-{uid}/empty-placeholder",
        "attack_registry",
    ),
    // A placeholder is made under a fresh O_EXCL|O_NOFOLLOW temp name and renamed into place
    // (concurrent launches); the temp name cannot be predicted, so the unit tests of src/fs
    // cover it (a planted name is never opened, a planted placeholder is replaced).
    (
        "*",
        "{tmp}/codex-bwrap-synthetic-mount-targets-{uid}/.codex-launcher-tmp-*",
        "fs/tests",
    ),
    (
        "*",
        "{tmp}/codex-bwrap-synthetic-mount-targets-{uid}/{hash}",
        "attack_registry",
    ),
    (
        "*",
        "{tmp}/codex-bwrap-synthetic-mount-targets-{uid}/{hash}/{pid}",
        "attack_registry",
    ),
    // The real /tmp is shared by everything on this machine, so planting there is left to the
    // unit test that plants at a daemon dir in a private temp dir (src/synthetic_tests.rs).
    ("mkdirat", "/tmp/codex-daemon-{uid}", "synthetic_tests"),
    // Config lock export into a directory the user names (here inside the workspace).
    ("*", "{ws}/lock-export", "attack_lock_export"),
    (
        "*",
        "{ws}/lock-export/.codex-launcher-tmp-*",
        "attack_lock_export",
    ),
    (
        "*",
        "{ws}/lock-export/*.config.lock.toml",
        "attack_lock_export",
    ),
    // Launcher state outside every writable root of these launches.
    ("mkdirat", "{base}/homes/task", OUTSIDE),
    ("mkdirat", "{home}", OUTSIDE),
    ("*", "{shared}/sessions", OUTSIDE),
    // A task's transcripts copied into the shared tree after its run (src/home/sessions.rs); no
    // sandbox writes there, the attack test plants through the per-task sessions and at the tree.
    ("*", "{shared}/sessions/*", "attack_shared_sessions_links"),
    ("*", "{shared}/sessions/*/*", "attack_shared_sessions_links"),
    (
        "*",
        "{shared}/sessions/*/*/*",
        "attack_shared_sessions_links",
    ),
    (
        "*",
        "{shared}/sessions/*/*/*/*",
        "attack_shared_sessions_links",
    ),
    // Codex's commit lock for the shared login, taken while the login moves (src/home/credentials.rs).
    ("*", "{shared}/auth.json.lock", OUTSIDE),
    ("*", "{shared}/.codex-launcher-tmp-*", OUTSIDE),
    ("*", "{shared}/auth.json", OUTSIDE),
    // The credential directory: writable by Codex once the outer layer grants it.
    ("*", "{shared}/credentials", "attack_home_credentials"),
    (
        "*",
        "{shared}/credentials/.codex-launcher-tmp-*",
        "attack_home_credentials",
    ),
    (
        "*",
        "{shared}/credentials/auth.json",
        "attack_home_credentials",
    ),
    ("mkdir", "{state}", OUTSIDE),
    ("*", "{state}/codex-launcher", OUTSIDE),
    ("*", "{state}/codex-launcher/locks", OUTSIDE),
    (
        "*",
        "{state}/codex-launcher/locks/{hash}.lock",
        "attack_home_lock_symlink",
    ),
    ("*", "{state}/codex-launcher/net", "attack_egress_state"),
    (
        "*",
        "{state}/codex-launcher/net/codex-launcher-proxy.*",
        "attack_egress_state",
    ),
    (
        "*",
        "{state}/codex-launcher/net/proxy.log",
        "attack_egress_state",
    ),
    // Where the full log is moved once it reaches its cap.
    (
        "*",
        "{state}/codex-launcher/net/proxy.log.1",
        "attack_egress_state",
    ),
    // The list of transcripts copied from a per-task home, next to its lock.
    ("*", "{state}/codex-launcher/locks/*.sessions", OUTSIDE),
    // And the bytes copied for that task across launches (the per-task cap).
    (
        "*",
        "{state}/codex-launcher/locks/*.sessions-bytes",
        OUTSIDE,
    ),
    (
        "*",
        "{state}/codex-launcher/locks/.codex-launcher-tmp-*",
        OUTSIDE,
    ),
    // The sealed record of the last config decided for a home (src/home/config_memo.rs).
    (
        "*",
        "{state}/codex-launcher/locks/*.config-memo.json",
        "attack_config_memo",
    ),
    ("mkdir", "{cache}", OUTSIDE),
    ("*", "{cache}/codex-launcher", OUTSIDE),
    (
        "*",
        "{cache}/codex-launcher/.codex-launcher-tmp-*",
        "attack_probe_cache",
    ),
    ("*", "{cache}/codex-launcher/*.json", "attack_probe_cache"),
];

/// `*` matches any run of characters within one path component.
pub fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .take_while(|&i| !rest[..i].contains('/'))
                .any(|i| rest.is_char_boundary(i) && glob(tail, &rest[i..]))
        }
    }
}

/// The entry answering for `site`, if any.
pub fn covering(site: &Site) -> Option<&'static (&'static str, &'static str, &'static str)> {
    COVERED
        .iter()
        .find(|(call, path, _)| glob(call, &site.call) && glob(path, &site.path))
}
