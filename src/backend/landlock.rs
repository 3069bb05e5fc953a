//! The Landlock backend for hosts without user namespaces: a pure plan (which paths get which
//! rights, what the kernel cannot enforce) and the one call that applies it to this process.
//!
//! Landlock only grants; it cannot take back a subpath of a granted tree. So read-only metadata
//! inside writable roots and `none` carve-outs inside readable roots are listed as not enforced,
//! and `--require-full-isolation` turns that list into a refusal.

use std::path::{Path, PathBuf};

use landlock::{
    Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, NetPort, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreated, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};
use serde::Serialize;

use crate::backend::bwrap::{resolved_gitdir, PROTECTED_NAMES};
use crate::hostview::FsView;
use crate::policy::resolve::MINIMAL_READ_ROOTS;
use crate::policy::{Access as PolicyAccess, Rules};

/// Set for the sandboxed command, so a nested launch can tell it runs inside our Landlock domain.
pub const MARKER_ENV: &str = "CODEX_LAUNCHER_SANDBOX";

/// Character devices any command needs to write (`> /dev/null`, terminals).
const WRITABLE_DEVICES: [&str; 6] = [
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/tty",
    "/dev/ptmx",
    "/dev/pts",
];

/// What Landlock leaves shared with the host whatever the policy (each checked on a 6.18 kernel):
/// it controls paths, not metadata, and there are no namespaces on this backend.
const HOST_SHARED: [&str; 4] = [
    "metadata changes outside the writable roots: Landlock does not control chmod, chown, utime or extended attributes, so any file the task's user owns outside them (the shared auth.json, say) can be made 0666, retimed or given new xattrs; the next launch sets the launcher's own files and directories back (a login that was readable by others is reported: it may have been read) instead of refusing to start",
    "a private /proc: the host's /proc stays visible, so the task sees every host process and its command line",
    "SysV IPC (no IPC namespace): the task can attach to the host's shared memory segments, semaphores and message queues its user may use",
    "processes that outlive a killed launcher (no pid namespace): the launcher kills everything the task left when the command ends, but if the launcher itself is killed with SIGKILL, a daemon of the task keeps running, still confined, and can rewrite the per-task home until the next launch resets it",
];

/// Terminals must stay usable, and Landlock cannot tell the caller's pty from any other in
/// `/dev/pts`.
const PTS_GAP: &str = "/dev/pts: the shared pty devices are writable, so the task can open other terminals of its user and write to or read from them";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    /// Read files, list directories, execute.
    Read,
    /// Every filesystem right the ABI knows except creating device nodes.
    Write,
    /// Read and write an existing device or file, no creation.
    Device,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    #[serde(serialize_with = "crate::launch::serialize_path_lossy")]
    pub path: PathBuf,
    pub grant: Grant,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LandlockPlan {
    pub abi: u32,
    pub rules: Vec<Rule>,
    /// TCP bind and connect denied by Landlock itself (ABI ≥ 4, network restricted).
    pub restrict_tcp: bool,
    /// Ports TCP may still connect to (the egress proxy's, filled in once it is bound).
    pub connect_tcp: Vec<u16>,
    /// Abstract unix sockets and signals confined to the sandbox (ABI ≥ 6).
    pub scoped: bool,
    pub not_enforced: Vec<String>,
}

/// Plans Landlock rules for `rules`; `deny_matches` are the files deny globs expanded to.
pub fn plan(
    rules: &Rules,
    abi: u32,
    network_restricted: bool,
    deny_matches: &[PathBuf],
    daemon_dir: &Path,
    fs: &dyn FsView,
) -> LandlockPlan {
    let existing = |paths: Vec<PathBuf>| existing(paths, fs);
    let mut out = Vec::new();
    let writable: Vec<PathBuf> = existing(rules.paths_with(PolicyAccess::Write));
    if rules.is_full_disk_read() {
        out.push(Rule {
            path: "/".into(),
            grant: Grant::Read,
        });
    } else {
        let mut reads = existing(rules.paths_with(PolicyAccess::Read));
        if rules.minimal {
            reads.extend(existing(
                MINIMAL_READ_ROOTS
                    .iter()
                    .chain(&["/proc", "/dev"])
                    .map(PathBuf::from)
                    .collect(),
            ));
        }
        reads.sort();
        reads.dedup();
        out.extend(reads.into_iter().map(|path| Rule {
            path,
            grant: Grant::Read,
        }));
    }
    out.extend(writable.iter().map(|path| Rule {
        path: path.clone(),
        grant: Grant::Write,
    }));
    out.extend(
        existing(WRITABLE_DEVICES.iter().map(PathBuf::from).collect())
            .into_iter()
            .map(|path| Rule {
                path,
                grant: Grant::Device,
            }),
    );

    let granted = |p: &Path| {
        out.iter()
            .any(|r| r.grant != Grant::Device && p.starts_with(&r.path))
    };
    let in_writable = |p: &Path| writable.iter().any(|w| p.starts_with(w) && p != w);
    let mut gaps = Vec::new();
    for root in &writable {
        if fs.is_dir(root) {
            let mut names: Vec<String> = PROTECTED_NAMES
                .iter()
                .map(|n| root.join(n).display().to_string())
                .collect();
            if let Some(gitdir) = resolved_gitdir(root, fs) {
                names.push(gitdir.display().to_string());
            }
            gaps.push(format!(
                "read-only {} (inside writable root {}, stays writable)",
                names.join(", "),
                root.display()
            ));
        }
    }
    for read in rules.paths_with(PolicyAccess::Read) {
        if in_writable(&read) {
            gaps.push(format!(
                "read-only {} (inside a writable root, stays writable)",
                read.display()
            ));
        }
    }
    let mut denies = rules.paths_with(PolicyAccess::Deny);
    denies.extend(deny_matches.iter().cloned());
    for deny in denies {
        if granted(&deny) {
            gaps.push(format!(
                "deny {} (inside an allowed root, stays accessible)",
                deny.display()
            ));
        }
    }
    if granted(daemon_dir) {
        gaps.push(format!(
            "mask of the app-server socket dir {}",
            daemon_dir.display()
        ));
    }
    gaps.extend(HOST_SHARED.iter().map(|g| g.to_string()));
    if out
        .iter()
        .any(|r| r.grant == Grant::Device && r.path.starts_with("/dev/pts"))
    {
        gaps.push(PTS_GAP.into());
    }
    if abi < 3 {
        gaps.push(format!(
            "truncate(2) outside writable roots (Landlock ABI {abi} < 3)"
        ));
    }
    if abi < 6 {
        gaps.push(format!(
            "scoping of abstract unix sockets and signals (Landlock ABI {abi} < 6)"
        ));
    }
    LandlockPlan {
        abi,
        rules: out,
        restrict_tcp: network_restricted && abi >= 4,
        connect_tcp: Vec::new(),
        scoped: abi >= 6,
        not_enforced: gaps,
    }
}

fn existing(paths: Vec<PathBuf>, fs: &dyn FsView) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = paths
        .into_iter()
        .filter_map(|p| fs.canonicalize(&p))
        .collect();
    out.dedup();
    out
}

#[derive(Debug, thiserror::Error)]
pub enum LandlockError {
    #[error("Landlock: {0}")]
    Ruleset(#[from] landlock::RulesetError),
    #[error("Landlock: cannot open {path} for a rule: {source}")]
    Open {
        path: PathBuf,
        source: landlock::PathFdError,
    },
    #[error("Landlock: the kernel enforced the ruleset only partially ({0:?})")]
    Partial(RulesetStatus),
}

/// Rights the ruleset handles: every filesystem right of the ABI, so anything not granted below is
/// denied everywhere.
pub fn handled_fs(abi: u32) -> BitFlags<AccessFs> {
    AccessFs::from_all(ABI::from(abi as i32))
}

/// Creating device nodes is never granted, not even in writable roots: a node for the host's disk
/// is raw access to it. Landlock refuses `mknod` (EACCES) before the kernel checks CAP_MKNOD, so
/// this holds for a task that kept its capabilities too.
const MAKE_DEVICE: [AccessFs; 2] = [AccessFs::MakeChar, AccessFs::MakeBlock];

/// The rights `grant` gives beneath a path (a directory, or a single file when `dir` is false).
pub fn granted_fs(grant: Grant, abi: u32, dir: bool) -> BitFlags<AccessFs> {
    let all = handled_fs(abi);
    let read = AccessFs::from_read(ABI::from(abi as i32));
    let mut access = match grant {
        Grant::Read => read,
        Grant::Write => all,
        Grant::Device => {
            read | AccessFs::WriteFile | (all & (AccessFs::Truncate | AccessFs::IoctlDev))
        }
    };
    for right in MAKE_DEVICE {
        access.remove(right);
    }
    if !dir {
        access &= AccessFs::from_file(ABI::from(abi as i32));
    }
    access
}

/// Applies `plan` to this process (and everything it execs). Every requested right is a hard
/// requirement: if the kernel cannot enforce one, this fails instead of running weaker.
pub fn apply(plan: &LandlockPlan) -> Result<(), LandlockError> {
    restrict(prepare(plan)?)
}

/// Builds the ruleset for `plan` (opening every rule's path) without restricting anyone yet, so a
/// parent can do the work and a freshly forked child only has to call [`restrict`].
pub fn prepare(plan: &LandlockPlan) -> Result<RulesetCreated, LandlockError> {
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(handled_fs(plan.abi))?;
    if plan.restrict_tcp {
        ruleset = ruleset.handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)?;
    }
    if plan.scoped {
        ruleset = ruleset.scope(Scope::AbstractUnixSocket | Scope::Signal)?;
    }
    let mut created = ruleset.create()?;
    for rule in &plan.rules {
        let fd = PathFd::new(&rule.path).map_err(|source| LandlockError::Open {
            path: rule.path.clone(),
            source,
        })?;
        // What the descriptor names, not what the path names now: one lookup, and no window for
        // the path to change between the two.
        let is_dir =
            nix::sys::stat::fstat(&fd).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR);
        let access = granted_fs(rule.grant, plan.abi, is_dir);
        created = created.add_rule(PathBeneath::new(fd, access))?;
    }
    for &port in &plan.connect_tcp {
        created = created.add_rule(NetPort::new(port, AccessNet::ConnectTcp))?;
    }
    Ok(created)
}

/// Restricts this process with a prepared ruleset; fails unless the kernel enforces all of it.
pub fn restrict(created: RulesetCreated) -> Result<(), LandlockError> {
    let status = created.restrict_self()?;
    if status.ruleset != RulesetStatus::FullyEnforced {
        return Err(LandlockError::Partial(status.ruleset));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{FileSystem, PermissionProfile, Policy, ResolveContext};

    fn rules(json: &str, cwd: &Path) -> Rules {
        let profile = PermissionProfile::parse(json).unwrap();
        let ctx = ResolveContext {
            policy_cwd: cwd.into(),
            tmpdir: None,
        };
        match Policy::resolve(&profile, &ctx).file_system {
            FileSystem::Restricted(r) => r,
            FileSystem::Unrestricted => panic!("restricted expected"),
        }
    }

    #[test]
    fn workspace_write_grants_read_everywhere_and_lists_metadata_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().canonicalize().unwrap();
        let json = format!(
            r#"{{"type":"managed","file_system":{{"type":"restricted","entries":[{{"path":{{"type":"special","value":{{"kind":"root"}}}},"access":"read"}},{{"path":{{"type":"path","path":"{0}"}},"access":"write"}},{{"path":{{"type":"path","path":"{0}/secret"}},"access":"none"}}]}},"network":"restricted"}}"#,
            ws.display()
        );
        let p = plan(
            &rules(&json, &ws),
            6,
            true,
            &[],
            Path::new("/tmp/codex-daemon-0"),
            &crate::hostview::LiveFs::default(),
        );
        assert_eq!(
            p.rules[0],
            Rule {
                path: "/".into(),
                grant: Grant::Read
            }
        );
        assert_eq!(
            p.rules[1],
            Rule {
                path: ws.clone(),
                grant: Grant::Write
            }
        );
        assert!(p
            .rules
            .iter()
            .any(|r| r.path == Path::new("/dev/null") && r.grant == Grant::Device));
        assert!(p.restrict_tcp && p.scoped);
        let gaps = p.not_enforced.join("\n");
        assert!(gaps.contains(&format!("{}/.git", ws.display())), "{gaps}");
        assert!(gaps.contains(&format!("{}/.codex", ws.display())), "{gaps}");
        assert!(
            gaps.contains(&format!("deny {}/secret", ws.display())),
            "{gaps}"
        );
        assert!(!gaps.contains("ABI"), "{gaps}");
    }

    #[test]
    fn device_creation_is_handled_but_never_granted() {
        let make_device = AccessFs::MakeChar | AccessFs::MakeBlock;
        for abi in 1..=7 {
            let handled = handled_fs(abi);
            assert!(handled.contains(make_device), "ABI {abi}: {handled:?}");
            for grant in [Grant::Read, Grant::Write, Grant::Device] {
                for dir in [true, false] {
                    let granted = granted_fs(grant, abi, dir);
                    assert!(handled.contains(granted), "ABI {abi} {grant:?}");
                    assert!(
                        !granted.intersects(make_device),
                        "ABI {abi} {grant:?} dir={dir}: {granted:?}"
                    );
                }
            }
            // Everything else a workspace needs stays granted in writable roots.
            let write = granted_fs(Grant::Write, abi, true);
            assert_eq!(write, handled & !make_device, "ABI {abi}");
            assert!(write.contains(
                AccessFs::MakeReg | AccessFs::MakeDir | AccessFs::MakeFifo | AccessFs::MakeSock
            ));
        }
    }

    #[test]
    fn devices_are_opened_for_reading_and_writing_only() {
        let device = granted_fs(Grant::Device, 6, false);
        assert!(device.contains(AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::IoctlDev));
        assert!(!device.intersects(AccessFs::MakeReg | AccessFs::RemoveFile | AccessFs::RemoveDir));
        let read = granted_fs(Grant::Read, 6, true);
        assert!(!read.intersects(AccessFs::WriteFile | AccessFs::MakeReg | AccessFs::Truncate));
    }

    #[test]
    fn host_shared_state_is_always_listed() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().canonicalize().unwrap();
        let json = format!(
            r#"{{"type":"managed","file_system":{{"type":"restricted","entries":[{{"path":{{"type":"special","value":{{"kind":"root"}}}},"access":"read"}},{{"path":{{"type":"path","path":"{0}"}},"access":"write"}}]}},"network":"restricted"}}"#,
            ws.display()
        );
        for abi in [4, 6, 7] {
            let p = plan(
                &rules(&json, &ws),
                abi,
                true,
                &[],
                Path::new("/nonexistent"),
                &crate::hostview::LiveFs::default(),
            );
            let gaps = p.not_enforced.join("\n");
            for needle in [
                "chmod, chown, utime or extended attributes",
                "a private /proc",
                "SysV IPC",
                "outlive a killed launcher",
            ] {
                assert!(
                    gaps.contains(needle),
                    "ABI {abi}: {needle} missing from {gaps}"
                );
            }
            if Path::new("/dev/pts").is_dir() {
                assert!(gaps.contains("/dev/pts: the shared pty devices"), "{gaps}");
            }
        }
    }

    #[test]
    fn old_abi_reports_what_it_cannot_do() {
        let dir = tempfile::tempdir().unwrap();
        let json = r#"{"type":"managed","file_system":{"type":"restricted","entries":[{"path":{"type":"special","value":{"kind":"root"}},"access":"read"}]},"network":"restricted"}"#;
        let p = plan(
            &rules(json, dir.path()),
            2,
            true,
            &[],
            Path::new("/nonexistent"),
            &crate::hostview::LiveFs::default(),
        );
        assert!(!p.restrict_tcp && !p.scoped);
        let gaps = p.not_enforced.join("\n");
        assert!(
            gaps.contains("truncate") && gaps.contains("ABI 2 < 6"),
            "{gaps}"
        );
    }

    #[test]
    fn a_deny_outside_every_granted_root_is_enforced() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("data")).unwrap();
        let json = format!(
            r#"{{"type":"managed","file_system":{{"type":"restricted","entries":[{{"path":{{"type":"path","path":"{0}/data"}},"access":"read"}},{{"path":{{"type":"path","path":"{0}/other"}},"access":"none"}}]}},"network":"restricted"}}"#,
            root.display()
        );
        let p = plan(
            &rules(&json, &root),
            6,
            true,
            &[],
            Path::new("/nonexistent"),
            &crate::hostview::LiveFs::default(),
        );
        assert!(
            !p.not_enforced
                .iter()
                .any(|g| g.contains(&format!("{}/other", root.display()))),
            "{:?}",
            p.not_enforced
        );
    }
}
