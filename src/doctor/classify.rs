//! From probed facts to findings: what a real run would hit here, how bad it is, and the remedy
//! for the container runtime we are in. Pure: every fact is gathered by `doctor::run` first.

use std::path::PathBuf;

use serde::Serialize;

use super::bwrap_text::{self, Recognised};
use super::remedy::{self, Runtime};
use super::state_dirs::{self, DirCheck, Role, Unresolved};
use super::trial::Trial;
use crate::probe::host::{HostFacts, UsernsVerdict};

/// How much a finding costs a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Every run here is refused or fails before the task starts.
    Fails,
    /// Runs work, with less isolation than this host could give (listed under `not_enforced`)
    /// or with state the task can reach.
    Weakens,
    /// Worth knowing; costs no isolation.
    Info,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Short stable id: `max_user_namespaces`, `pivot_root_refused`, `state_dir_unwritable`, ...
    pub cause: String,
    pub severity: Severity,
    pub detail: String,
    pub remedy: String,
}

pub(super) fn finding(
    cause: &str,
    severity: Severity,
    detail: impl Into<String>,
    remedy: impl Into<String>,
) -> Finding {
    Finding {
        cause: cause.into(),
        severity,
        detail: detail.into(),
        remedy: remedy.into(),
    }
}

/// Everything doctor looked at.
#[derive(Debug, Clone)]
pub struct Facts {
    pub host: HostFacts,
    pub runtime: Runtime,
    /// `CapEff` of this process, when readable.
    pub effective_caps: Option<u64>,
    /// The bubblewrap trial, run when user namespaces work (the ladder would pick bwrap).
    pub trial: Option<Trial>,
    /// The user-namespace verdict a launch reads from the probe cache (`host` has a fresh one).
    pub cached_userns: Option<UsernsVerdict>,
    /// The cached "bwrap may mount /proc" verdict a launch would use, when it would use bwrap.
    pub cached_proc_allowed: Option<bool>,
    /// The same verdict probed afresh.
    pub fresh_proc_allowed: Option<bool>,
    pub dirs: Vec<DirCheck>,
    pub unresolved: Vec<Unresolved>,
    /// The workspace and the other writable roots a task gets.
    pub task_writable: Vec<PathBuf>,
    /// `HOME`, when set to an absolute path.
    pub home: Option<PathBuf>,
    /// This binary's real path, for the AppArmor profile.
    pub binary: String,
}

/// All findings, most serious first; within a severity, in the order a run meets them.
pub fn classify(facts: &Facts, pasted_bwrap_text: Option<&str>) -> Vec<Finding> {
    let mut out = userns(facts);
    out.extend(stale_cache(facts));
    if let Some(trial) = &facts.trial {
        out.extend(from_trial(facts, trial));
    }
    if let Some(text) = pasted_bwrap_text {
        match bwrap_text::recognise(text) {
            Some(r) => {
                let f = recognised(facts, r, text, Severity::Info);
                if !out.iter().any(|o| o.cause == f.cause) {
                    out.push(f);
                }
            }
            None => out.push(finding(
                "unrecognised_bwrap_error",
                Severity::Info,
                format!("doctor does not recognise this bubblewrap error: {}", text.trim()),
                "run the failing command with CODEX_LAUNCHER_LOG=debug and report its output together with this text",
            )),
        }
    }
    out.extend(dirs(facts));
    out.sort_by_key(|f| f.severity);
    out
}

/// Why user namespaces (and so bubblewrap) are unavailable. With Landlock to fall back on, each
/// cause only weakens the sandbox; without it, runs are refused.
fn userns(facts: &Facts) -> Vec<Finding> {
    let host = &facts.host;
    let mut out = Vec::new();
    let severity = if host.landlock.is_ok() {
        Severity::Weakens
    } else {
        Severity::Fails
    };
    let errno = host.userns.errno;
    let failed_at_mount = host
        .userns
        .failed_step
        .as_deref()
        .is_some_and(|s| s.starts_with("mount"));
    // The probe gets past unshare and mount and stops at pivot_root: Docker's default profile
    // with --cap-add SYS_ADMIN. The launcher falls back to Landlock; say why, and how to get bwrap.
    if host.userns.failed_step.as_deref() == Some("pivot_root") {
        let detail = format!(
            "creating a user namespace works but pivot_root fails ({}){}",
            host.userns.error.as_deref().unwrap_or("refused"),
            if host.seccomp_mode == 2 {
                ": the seccomp profile lets unshare through (Docker's default does with --cap-add SYS_ADMIN) but never allows pivot_root, so the launcher uses Landlock"
            } else {
                ""
            }
        );
        out.push(finding(
            "pivot_root_refused",
            severity,
            detail,
            remedy::seccomp_profile(facts.runtime, true),
        ));
        return out;
    }

    if host.max_user_namespaces == Some(0) || (errno == Some(libc::ENOSPC) && !failed_at_mount) {
        out.push(finding(
            "max_user_namespaces",
            severity,
            format!(
                "user.max_user_namespaces is {}: creating a user namespace fails with ENOSPC",
                host.max_user_namespaces
                    .map_or("exhausted".into(), |v| v.to_string())
            ),
            if host.container.is_some() {
                "the container's user namespace limit is 0; raise it on the host or runtime (sysctl user.max_user_namespaces=15000), or keep the Landlock backend"
            } else {
                "sudo sysctl -w user.max_user_namespaces=15000 (persist it in /etc/sysctl.d/99-userns.conf)"
            },
        ));
    }
    if host.apparmor_restrict_userns == Some(true)
        && (failed_at_mount || errno == Some(libc::EACCES))
    {
        out.push(apparmor(severity, &facts.binary));
    }
    if host.unprivileged_userns_clone == Some(false) && host.uid != 0 {
        out.push(finding(
            "unprivileged_userns_clone",
            severity,
            "kernel.unprivileged_userns_clone=0 forbids user namespaces to unprivileged users",
            "sudo sysctl -w kernel.unprivileged_userns_clone=1",
        ));
    }
    if errno == Some(libc::EPERM) && !failed_at_mount && host.seccomp_mode == 2 {
        out.push(finding(
            "seccomp_blocks_unshare",
            severity,
            "a seccomp filter on this process (e.g. Docker's default profile) refuses unshare(CLONE_NEWUSER) with EPERM, so the launcher uses Landlock",
            remedy::seccomp_profile(facts.runtime, false),
        ));
    }
    if errno == Some(libc::EPERM)
        && !failed_at_mount
        && host.seccomp_mode != 2
        && host.uid == 0
        && host.container.is_some()
    {
        out.push(finding(
            "no_cap_sys_admin",
            severity,
            "root in a container without CAP_SYS_ADMIN cannot create namespaces",
            "grant the container a user namespace (e.g. podman --userns=auto, Kubernetes hostUsers: false) or keep the Landlock backend",
        ));
    }
    if failed_at_mount && out.is_empty() {
        out.push(finding(
            "mount_propagation",
            severity,
            "making / a slave mount failed inside the new namespace (a restricted container or LSM)",
            "run with a less restricted container security profile, or keep the Landlock backend",
        ));
    }
    if !host.userns.available && out.is_empty() {
        out.push(finding(
            "unknown",
            severity,
            host.userns.reason(),
            "run with CODEX_LAUNCHER_LOG=debug and report the output",
        ));
    }
    if let (Err(why), false) = (&host.landlock, host.userns.available) {
        out.push(finding(
            "landlock_unavailable",
            Severity::Fails,
            why.clone(),
            "boot a kernel with Landlock enabled (lsm=...,landlock) so the launcher can fall back to it",
        ));
    }
    out
}

/// A cached verdict that no longer holds: launches trust the cache, so they either pick
/// bubblewrap where it cannot run (the run fails) or skip it where it could (a weaker sandbox).
/// The cache lives under HOME, so a volume there carries it from one container configuration to
/// the next, and it names namespaces by inode numbers, which the kernel hands out again.
fn stale_cache(facts: &Facts) -> Vec<Finding> {
    let remedy = "remove the probe cache (rm -rf ~/.cache/codex-launcher, or $XDG_CACHE_HOME/codex-launcher); the next launch probes again. A volume at HOME keeps it across containers: clear it when the container's security options change";
    let mut out = Vec::new();
    let fresh = &facts.host.userns;
    if let Some(cached) = &facts.cached_userns {
        if cached.available && !fresh.available {
            out.push(finding(
                "stale_probe_cache",
                Severity::Fails,
                format!(
                    "the probe cache says user namespaces work, but {}: launches trust the cache, pick bubblewrap and fail",
                    fresh.reason()
                ),
                remedy,
            ));
        } else if !cached.available && fresh.available {
            out.push(finding(
                "stale_probe_cache",
                Severity::Weakens,
                format!(
                    "the probe cache says {}, but user namespaces work now: launches use Landlock where bubblewrap could run",
                    cached.reason()
                ),
                remedy,
            ));
        }
    }
    let proc = facts.trial.as_ref().and_then(|t| t.proc.as_ref());
    let Some(proc) = proc else { return out };
    if facts.fresh_proc_allowed == Some(true) && !proc.ok {
        // Not the cache: the probe itself reads this refusal as success.
        out.push(finding(
            "proc_probe_misreads",
            Severity::Fails,
            format!(
                "the launcher's /proc probe takes bubblewrap's refusal ({}) for success: launches ask for a fresh /proc and fail",
                proc.stderr
            ),
            format!(
                "install the distribution's bubblewrap (apt-get install bubblewrap), whose wording the probe knows, or give bubblewrap a /proc it may mount ({}); and report this launcher bug",
                remedy::unmask_proc(facts.runtime)
            ),
        ));
    } else if facts.cached_proc_allowed == Some(true) && !proc.ok {
        out.push(finding(
            "stale_probe_cache",
            Severity::Fails,
            "the probe cache says bubblewrap may mount a fresh /proc here, but the kernel refuses it now: launches ask for one and fail",
            remedy,
        ));
    } else if facts.cached_proc_allowed == Some(false) && proc.ok {
        out.push(finding(
            "stale_probe_cache",
            Severity::Weakens,
            "the probe cache says the kernel refuses bubblewrap a fresh /proc, but it allows one now: sandboxes go without",
            remedy,
        ));
    }
    out
}

fn apparmor(severity: Severity, binary: &str) -> Finding {
    finding(
        "apparmor_userns",
        severity,
        "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1): the namespace is created but gets no capabilities",
        remedy::apparmor(binary),
    )
}

/// What the bubblewrap trial found. User namespaces work here, so the ladder picks bubblewrap:
/// a setup failure fails the run; a refused `/proc` only costs the fresh `/proc`.
fn from_trial(facts: &Facts, trial: &Trial) -> Vec<Finding> {
    if !trial.setup.ok {
        let text = &trial.setup.stderr;
        return vec![match bwrap_text::recognise(text) {
            Some(r) => recognised(facts, r, text, Severity::Fails),
            None => finding(
                "unrecognised_bwrap_error",
                Severity::Fails,
                format!(
                    "user namespaces work, but a trial run of {} failed with an error doctor does not recognise: {}",
                    trial.bwrap,
                    if text.is_empty() { "(no message)" } else { text }
                ),
                "run with CODEX_LAUNCHER_LOG=debug and report the output together with this text; until then, CODEX_RUN_BACKEND=landlock avoids bubblewrap",
            ),
        }];
    }
    match &trial.proc {
        Some(proc) if !proc.ok => {
            let r = bwrap_text::recognise(&proc.stderr).unwrap_or(Recognised::MaskedProc);
            vec![recognised(facts, r, &proc.stderr, Severity::Weakens)]
        }
        _ => Vec::new(),
    }
}

fn recognised(facts: &Facts, r: Recognised, text: &str, severity: Severity) -> Finding {
    let text = text.trim();
    let filtered = facts.host.seccomp_mode == 2;
    match r {
        Recognised::PivotRoot => finding(
            "pivot_root_refused",
            severity,
            format!(
                "bubblewrap cannot switch to the sandbox's root ({text}){}",
                if filtered {
                    ": the seccomp profile lets unshare through (Docker's default does with --cap-add SYS_ADMIN) but never allows pivot_root"
                } else {
                    ""
                }
            ),
            remedy::seccomp_profile(facts.runtime, true),
        ),
        Recognised::AmbientCaps => finding(
            "ambient_capabilities",
            severity,
            format!(
                "bubblewrap refuses to start ({text}): this process runs as uid {} yet holds capabilities{}, as podman gives them to a non-root --user with --cap-add; bubblewrap only accepts capabilities from being setuid",
                facts.host.uid,
                facts
                    .effective_caps
                    .map_or(String::new(), |c| format!(" (CapEff {c:016x})"))
            ),
            "drop --cap-add (the launcher needs no capability: user namespaces give bubblewrap its own), or run the container as root",
        ),
        Recognised::MaskedProc => finding(
            "masked_proc",
            Severity::Weakens.max(severity),
            format!(
                "the kernel refuses bubblewrap a fresh /proc ({}): the container runtime masks parts of /proc, so sandboxes keep the container's /proc (listed under not_enforced)",
                if text.is_empty() { "no message" } else { text }
            ),
            remedy::masked_proc(facts.runtime),
        ),
        Recognised::MountPropagation => finding(
            "mount_propagation",
            severity,
            format!("making / a slave mount failed inside the new namespace ({text})"),
            "run with a less restricted container security profile, or keep the Landlock backend (CODEX_RUN_BACKEND=landlock)",
        ),
        // Only where AppArmor restricts user namespaces is its profile the remedy; elsewhere a
        // refused uid map has other causes, and prescribing AppArmor would mislead.
        Recognised::AppArmor if facts.host.apparmor_restrict_userns == Some(true) => {
            apparmor(severity, &facts.binary)
        }
        Recognised::AppArmor => finding(
            "userns_restricted",
            severity,
            format!("the kernel refused an operation inside the new user namespace ({text}); AppArmor's userns restriction is not on here"),
            "check for a security module or container policy that restricts user namespaces (SELinux, a seccomp or LSM profile of the runtime), or keep the Landlock backend (CODEX_RUN_BACKEND=landlock)",
        ),
        Recognised::NamespacesRefused => finding(
            "namespaces_refused",
            severity,
            format!("bubblewrap could not create its namespaces ({text})"),
            remedy::seccomp_profile(facts.runtime, false),
        ),
    }
}

/// Directories a run writes before the task starts, and state a task could reach.
fn dirs(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    let home = facts.home.as_deref();
    for u in &facts.unresolved {
        out.push(finding(
            "state_dir_unset",
            Severity::Fails,
            format!(
                "no location for the {}: set {}",
                role_name(u.role),
                u.variables
            ),
            remedy::writable_home(facts.runtime, home, facts.host.uid),
        ));
    }
    for d in &facts.dirs {
        if let Some(problem) = &d.problem {
            let (cause, severity) = match d.needed.role {
                Role::TaskHome => ("state_dir_unwritable", Severity::Fails),
                Role::SharedHome => ("shared_home_unwritable", Severity::Fails),
                Role::ProbeCache => ("cache_dir_unwritable", Severity::Info),
            };
            out.push(finding(
                cause,
                severity,
                format!(
                    "the {} {} (from {}) cannot be created or written: {problem}{}",
                    role_name(d.needed.role),
                    d.needed.path.display(),
                    d.needed.from,
                    if severity == Severity::Fails {
                        "; every run is refused"
                    } else {
                        "; every launch probes the host again"
                    }
                ),
                remedy::writable_home(facts.runtime, home, facts.host.uid),
            ));
        }
        if let Some(root) = facts
            .task_writable
            .iter()
            .find(|r| state_dirs::inside(&d.needed.path, r))
        {
            out.push(finding(
                "state_in_workspace",
                Severity::Weakens,
                format!(
                    "the {} {} (from {}) is inside {}, which the sandboxed task can write: a task can plant what its next launch reads",
                    role_name(d.needed.role),
                    d.needed.path.display(),
                    d.needed.from,
                    root.display()
                ),
                "set HOME (or CODEX_RUN_HOME, CODEX_RUN_SHARED_HOME and XDG_CACHE_HOME) to a directory outside the workspace; podman sets HOME to the working directory for a --user without a passwd entry",
            ));
        }
    }
    out
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::TaskHome => "per-task home directory",
        Role::SharedHome => "shared Codex home",
        Role::ProbeCache => "probe cache",
    }
}
