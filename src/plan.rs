//! `LaunchPlan`: everything a sandboxed launch will do, decided before anything is done. `explain`
//! prints it; the helper (and `run`) execute the very same value.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::backend::bwrap::{self, BwrapOptions, BwrapPlan};
use crate::backend::landlock::{self, LandlockPlan};
use crate::backend::seatbelt::{self, SeatbeltPlan};
use crate::backend::seccomp::SeccompMode;
use crate::egress::{self, EgressPlan};
use crate::exit::Failure;
use crate::hostview::{FsView, HostView, LiveFs};
use crate::launch::{
    EnvSpec, ExecSpec, FdPass, FdSource, Program, Step as PreExec, Supervision, INFO_FD,
    PROXY_DIR_FD,
};
use crate::policy::glob_scan;
use crate::policy::{Access, FileSystem, Rules};
use crate::probe::bwrap::Launcher;
use crate::probe::host::HostFacts;
pub use crate::request::SandboxRequest;
use crate::select::{
    self, Backend, BackendRequest, LadderInputs, Refusal, Step, TargetOs, Verdict,
};
use crate::synthetic;

#[derive(Debug)]
pub struct LaunchPlan {
    pub backend: Backend,
    pub ladder: Vec<Step>,
    pub not_enforced: Vec<String>,
    pub seccomp: Option<SeccompMode>,
    pub plan: BackendPlan,
    pub host: HostFacts,
    pub command: Vec<OsString>,
    /// What the executor does: program, argv, environment, descriptors, pre-exec steps.
    pub exec: ExecSpec,
    /// The system planned for.
    pub target: TargetOs,
    /// Whether the command may use the network (decides Codex's own setting inside).
    pub network_on: bool,
    /// The per-task Codex home a run prepares, when this plan is a run's.
    pub codex_home: Option<PathBuf>,
    /// The egress proxy the executor starts first (`--network filtered`).
    pub egress: Option<EgressPlan>,
}

#[derive(Debug)]
pub enum BackendPlan {
    /// Exec in place: the filesystem is unrestricted, or no sandbox was asked for.
    Direct,
    Bwrap {
        launcher: Launcher,
        bwrap: BwrapPlan,
        files: BwrapFiles,
    },
    Landlock(LandlockPlan),
    Seatbelt(SeatbeltPlan),
}

/// Host files the bwrap plan refers to, created just before launch.
#[derive(Debug, Clone)]
pub struct BwrapFiles {
    pub daemon_dir: PathBuf,
    pub registry_dir: PathBuf,
    pub denied_file: PathBuf,
    pub empty_file: PathBuf,
}

/// The id root runs as inside an outer bubblewrap layer (so Codex's own bubblewrap can nest).
pub const OUTER_ROOT_SANDBOX_ID: u32 = 1000;

/// Why no plan could be made.
#[derive(Debug)]
pub enum PlanError {
    /// The ladder found no backend; carries every step's reason and what was probed.
    Refused(Box<(Refusal, HostFacts)>),
    Failed(Failure),
}

impl From<Failure> for PlanError {
    fn from(f: Failure) -> Self {
        Self::Failed(f)
    }
}

impl From<PlanError> for Failure {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::Refused(boxed) => Failure::refused(boxed.0.reason),
            PlanError::Failed(f) => f,
        }
    }
}

/// Directories no temp dir may be, or contain: `$TMPDIR` becomes a writable root, and `TMPDIR=/`
/// would make the whole disk writable without anyone asking for it.
pub(crate) const SYSTEM_DIRS: [&str; 11] = [
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/sbin", "/sys", "/usr", "/var",
];

/// Where no temp dir may be, beyond the system dirs: the trees that hold other people's and
/// services' files.
pub(crate) const SHARED_TREES: [&str; 7] =
    ["/home", "/root", "/run", "/opt", "/srv", "/mnt", "/media"];

/// The system dirs, and with `shared_trees` the shared trees too: what no temp dir may be or
/// contain, and no writable root may be or lead to.
pub(crate) fn guarded_dirs<'a>(shared_trees: bool) -> impl Iterator<Item = &'a Path> {
    let shared: &[&str] = if shared_trees { &SHARED_TREES } else { &[] };
    SYSTEM_DIRS.iter().chain(shared).map(Path::new)
}

/// Whether `path` is `/` or one of the [`guarded_dirs`].
pub(crate) fn is_guarded_dir(path: &Path, shared_trees: bool) -> bool {
    path == Path::new("/") || guarded_dirs(shared_trees).any(|d| d == path)
}

/// Refuses a `$TMPDIR` that is `/`, a system or shared directory, a parent of one, or a parent of
/// the caller's home, judged both as written and where its symlinks lead (a `TMPDIR` that is a
/// link to `/` would otherwise make the whole disk writable).
pub fn check_temp_dir(
    tmpdir: Option<&std::ffi::OsStr>,
    home: Option<&Path>,
    fs: &dyn FsView,
) -> Result<(), Failure> {
    let Some(t) = tmpdir.filter(|t| !t.is_empty()) else {
        return Ok(());
    };
    let written = crate::policy::resolve::normalize(Path::new(t));
    let resolved = fs.canonicalize(&written);
    for path in std::iter::once(&written).chain(resolved.as_ref()) {
        let guarded = guarded_dirs(true)
            .chain(home)
            .find(|dir| dir.starts_with(path) || (path == Path::new("/")));
        if let Some(dir) = guarded {
            return Err(Failure::refused(format!(
                "TMPDIR={}: the temp dir becomes a writable root, and {} is (or contains) {}; set TMPDIR to a dedicated directory such as /tmp",
                Path::new(t).display(),
                path.display(),
                dir.display()
            )));
        }
    }
    Ok(())
}

/// Refuses a writable root that only reaches `/` or a system directory through a symlink: the
/// policy named something else, and a task (or anyone) who can repoint the link would widen it.
fn check_writable_targets(rules: &Rules, fs: &dyn FsView) -> Result<(), Failure> {
    for root in rules.paths_with(Access::Write) {
        let written = crate::policy::resolve::normalize(&root);
        let Some(resolved) = fs.canonicalize(&written) else {
            continue;
        };
        if resolved != written && is_guarded_dir(&resolved, false) {
            return Err(Failure::refused(format!(
                "writable root {} leads to {} through a symlink; name the directory itself",
                root.display(),
                resolved.display()
            )));
        }
    }
    Ok(())
}

fn refused(e: impl std::fmt::Display) -> Failure {
    Failure::refused(e.to_string())
}

/// Removes mount points that killed launches left in this request's writable roots, so the plan
/// that follows is the one a clean run would get. An effect: runs and launches only, never for
/// `explain` or a dry run. A launch that cannot be bubblewrap makes no mount points, and what
/// killed ones left changes nothing in its plan: the next launch that can be bubblewrap sweeps.
pub fn sweep_leftovers(req: &SandboxRequest) {
    if !req.may_use_bwrap() {
        return;
    }
    let tmp = std::env::var_os("TMPDIR")
        .filter(|t| !t.is_empty())
        .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    if tmp.is_absolute() {
        let removed = synthetic::sweep_for_policy(&req.policy, &tmp);
        if !removed.is_empty() {
            tracing::debug!(?removed, "removed mount points left by killed launches");
        }
    }
}

/// Gathers this host's view for `req` (probes, filesystem) and plans on it: what every caller
/// that is about to run or print a launch uses. `will_create` are directories the launch creates
/// before exec; the plan treats them as existing.
pub fn plan_here(req: &SandboxRequest, will_create: Vec<PathBuf>) -> Result<LaunchPlan, PlanError> {
    let fs = LiveFs::with_planned_dirs(will_create);
    let view = crate::hostview::gather(req, &fs)?;
    plan_launch(req, &view)
}

/// Decides backend and plan for `req` on `host`: a pure function of the two (no I/O; the
/// filesystem is seen through `host.fs`).
pub fn plan_launch(req: &SandboxRequest, host: &HostView) -> Result<LaunchPlan, PlanError> {
    let plan = plan_backend(req, host)?;
    if req.require_full_isolation && !plan.not_enforced.is_empty() {
        return Err(Failure::refused(format!(
            "--require-full-isolation: the {} backend cannot enforce: {}",
            plan.backend.name(),
            plan.not_enforced.join("; ")
        ))
        .into());
    }
    Ok(plan)
}

fn plan_backend(req: &SandboxRequest, view: &HostView) -> Result<LaunchPlan, PlanError> {
    let host = view.facts.clone();
    let fs = view.fs;
    let direct = |reason: &str, seccomp| LaunchPlan::direct(req, host.clone(), reason, seccomp);
    if req.backend == BackendRequest::None {
        return Ok(direct("--backend none: no sandbox, as asked", None));
    }
    if req.target == TargetOs::Macos {
        return plan_macos(req, view);
    }
    if req.proxy_only {
        return Err(Failure::usage(
            "--network proxy: only Seatbelt (macOS) can limit traffic to a loopback proxy; use --network on or off here",
        )
        .into());
    }
    // With the network on every host socket is reachable already: nothing to enforce.
    if let Some(socket) = req
        .allow_unix_sockets
        .first()
        .filter(|_| req.policy.network_restricted())
    {
        return Err(Failure::refused(unix_socket_refusal(socket, &host.landlock)).into());
    }
    let home = view
        .env
        .iter()
        .find(|(k, _)| k == "HOME")
        .map(|(_, v)| PathBuf::from(v));
    check_temp_dir(view.tmpdir.as_deref(), home.as_deref(), fs)?;
    let network_restricted = req.policy.network_restricted();
    let seccomp = SeccompMode::for_policy(network_restricted, req.policy.is_full_disk_write());
    let rules = match &req.policy.file_system {
        FileSystem::Restricted(rules) if !req.policy.is_full_disk_write() => rules,
        _ => {
            let mut plan = direct(
                "the policy leaves the whole filesystem writable: no filesystem sandbox",
                seccomp,
            );
            plan.not_enforced.push(
                "filesystem: the whole filesystem is writable (the policy asks for it)".into(),
            );
            if seccomp.is_none() {
                plan.not_enforced.push(
                    "process isolation: no seccomp filter, no new session, capabilities kept"
                        .into(),
                );
            }
            // Descriptors the caller leaked stay out even when nothing else is restricted.
            if !plan.exec.steps.contains(&PreExec::CloseInheritedFds) {
                plan.exec.steps.insert(0, PreExec::CloseInheritedFds);
            }
            return Ok(plan);
        }
    };
    check_writable_targets(rules, fs)?;
    let protected = with_launcher_state_read_only(rules, &view.launcher_state);
    let rules = &protected;

    let uid = view.uid;
    let daemon_dir = PathBuf::from(format!("/tmp/codex-daemon-{uid}"));
    let mut deny_matches = Vec::new();
    for pattern in &rules.deny_globs {
        deny_matches
            .extend(glob_scan::expand(pattern, rules.glob_scan_max_depth, fs).map_err(refused)?);
    }
    // Only what the ladder can reach is probed: a warm bwrap launch never plans Landlock, and a
    // Landlock launch never walks PATH for bwrap.
    let bwrap_reachable = host.userns.available
        && (req.backend.allows(Backend::BwrapSystem) || req.backend.allows(Backend::BwrapVendored));
    let landlock_plan = match &host.landlock {
        Ok(abi) if !bwrap_reachable => Some(landlock::plan(
            rules,
            *abi,
            network_restricted,
            &deny_matches,
            &daemon_dir,
            fs,
        )),
        _ => None,
    };
    let writable = bwrap_reachable.then(|| bwrap::writable_roots(rules, fs));
    let inputs = LadderInputs {
        os: TargetOs::Linux,
        request: req.backend,
        userns: if host.userns.available {
            Ok(())
        } else {
            Err(host.userns.reason())
        },
        system_bwrap: match &writable {
            _ if !req.backend.allows(Backend::BwrapSystem) => Err("not probed".into()),
            None => Err("not probed".into()),
            Some(Ok(_)) => view.system_bwrap.clone(),
            Some(Err(e)) => Err(e.to_string()),
        },
        landlock: host.landlock.clone(),
        landlock_gaps: landlock_plan
            .as_ref()
            .map(|p| {
                let mut gaps = p.not_enforced.clone();
                if req.egress.is_some() {
                    gaps.extend(landlock_egress_gaps());
                }
                gaps
            })
            .unwrap_or_default(),
        require_full_isolation: req.require_full_isolation,
        inside_seatbelt: false,
    };
    let selection =
        select::select(&inputs).map_err(|r| PlanError::Refused(Box::new((r, host.clone()))))?;
    let egress_plan = req
        .egress
        .as_ref()
        .map(|e| egress_plan(e, view, selection.backend));
    let mut seccomp = seccomp;
    let (plan, not_enforced, exec) = match selection.backend {
        Backend::Landlock => {
            let plan = landlock_plan.expect("landlock chosen only with an ABI");
            let mut gaps = plan.not_enforced.clone();
            if egress_plan.is_some() {
                if plan.abi < 4 && !req.accept_unfiltered_tcp {
                    return Err(Failure::refused(format!(
                        "--network filtered: Landlock ABI {} cannot limit TCP to the proxy (needs ABI 4, Linux 6.7); use --network off, --accept-unfiltered-tcp to keep the rest of the filter with direct TCP open, or --network on",
                        plan.abi
                    ))
                    .into());
                }
                seccomp = Some(SeccompMode::ProxyOnly);
                gaps.extend(landlock_egress_gaps());
                if plan.abi < 4 {
                    gaps.push(format!(
                        "direct TCP to any host and port (--accept-unfiltered-tcp: Landlock ABI {} cannot limit it); only clients that honour the proxy variables are filtered",
                        plan.abi
                    ));
                }
            }
            let exec = landlock_exec(req, &plan, seccomp);
            (BackendPlan::Landlock(plan), gaps, exec)
        }
        Backend::BwrapSystem | Backend::BwrapVendored => {
            let launcher = selection
                .launcher
                .clone()
                .expect("bwrap steps carry a launcher");
            let writable = writable
                .expect("bwrap is chosen only when reachable")
                .map_err(refused)?;
            if egress_plan.is_some() {
                // The network namespace is the boundary; the inner stage needs TCP to its relay.
                seccomp = Some(SeccompMode::RelayOnly);
            }
            plan_bwrap(
                req,
                view,
                rules,
                writable,
                &deny_matches,
                launcher,
                daemon_dir,
                egress_plan.as_ref(),
            )?
        }
        other => {
            return Err(Failure::refused(format!("{} cannot run on Linux", other.name())).into())
        }
    };
    let mut not_enforced = not_enforced;
    if !network_restricted {
        if req.outer_layer {
            not_enforced.push(NETWORK_ON_GAP.into());
        }
        not_enforced.push(unix_socket_gap(&plan));
    }
    Ok(LaunchPlan {
        backend: selection.backend,
        ladder: selection.ladder,
        not_enforced,
        seccomp,
        plan,
        host,
        command: req.command.clone(),
        exec,
        target: req.target,
        network_on: !req.policy.network_restricted()
            || req.egress.as_ref().is_some_and(|e| e.user_allowed_any()),
        codex_home: None,
        egress: egress_plan,
    })
}

/// Where the proxy logs and keeps its socket: `$XDG_STATE_HOME/codex-launcher/net` (default
/// `~/.local/state/...`), which every plan keeps read-only, so no task can plant or rewrite them.
fn egress_dir(view: &HostView) -> PathBuf {
    let var = |name: &str| {
        view.env
            .iter()
            .find(|(k, v)| k == name && Path::new(v).is_absolute())
            .map(|(_, v)| PathBuf::from(v))
    };
    var("XDG_STATE_HOME")
        .or_else(|| var("HOME").map(|h| h.join(".local/state")))
        .unwrap_or_else(|| PathBuf::from(format!("/tmp/codex-launcher-{}", view.uid)))
        .join("codex-launcher/net")
}

fn egress_plan(e: &egress::Egress, view: &HostView, backend: Backend) -> EgressPlan {
    let dir = egress_dir(view);
    let bwrap = matches!(backend, Backend::BwrapSystem | Backend::BwrapVendored);
    EgressPlan {
        egress: e.clone(),
        log: dir.join("proxy.log"),
        socket_parent: bwrap.then(|| dir.clone()),
        task_sees: bwrap.then(|| std::net::SocketAddr::from(([127, 0, 0, 1], egress::RELAY_PORT))),
    }
}

/// What Landlock plus seccomp leave open around the proxy. Unix sockets are not among them:
/// seccomp refuses every `socket(AF_UNIX)` (a `socketpair` stays possible).
fn landlock_egress_gaps() -> Vec<String> {
    vec![
        "TCP to another host on the proxy's port number: Landlock limits connect(2) by port only"
            .to_string(),
        format!("{SHARED_PROXY_GAP} (Codex's own sandbox cannot run inside Landlock)"),
    ]
}

/// Where Codex's own sandbox cannot run inside ours (Landlock, Seatbelt), its commands go out
/// through the same proxy as Codex.
const SHARED_PROXY_GAP: &str =
    "the commands Codex runs share Codex's proxy: they can reach the model provider's endpoints too";

/// `rules` with the launcher's own state dirs read-only wherever a writable root covers them, so
/// no task can plant what the next launch reads (a deeper writable root, such as the per-task
/// home inside the state dir, stays writable). Landlock, which cannot carve a read-only hole out
/// of a writable root, then lists each as not enforced.
fn with_launcher_state_read_only(rules: &Rules, state: &[PathBuf]) -> Rules {
    let mut out = rules.clone();
    for dir in state {
        if rules.access_for(dir) == Some(Access::Write)
            && !rules.entries.iter().any(|(p, _)| p == dir)
        {
            out.entries.push((dir.clone(), Access::Read));
        }
    }
    out
}

/// `--network on`, said where it counts: the sandbox has the host's whole network.
const NETWORK_ON_GAP: &str = "network filtering (--network on): Codex and every command it runs reach any host, the host's loopback services and the cloud metadata address included";

/// Why `--allow-unix-socket` cannot be honoured on Linux. Letting the command create unix
/// sockets (seccomp refuses `socket(AF_UNIX)` under `filtered`) would let it connect to every host
/// pathname socket the sandbox can see: seccomp cannot read the path `connect(2)` names, and
/// Landlock controls pathname sockets only from ABI 9 (`LANDLOCK_ACCESS_FS_RESOLVE_UNIX`), which
/// this launcher does not use yet. A relay at the socket's path inside bubblewrap would need the
/// same `socket(AF_UNIX)`, so it opens nothing more safely.
fn unix_socket_refusal(socket: &Path, landlock: &Result<u32, String>) -> String {
    format!(
        "--allow-unix-socket {}: cannot be enforced on Linux: letting the command create unix sockets would open every host socket it can see (seccomp cannot read the path connect(2) names; Landlock limits pathname sockets only from ABI 9, {}); use --network on, which leaves all host sockets reachable",
        socket.display(),
        match landlock {
            Ok(abi) => format!("this kernel has ABI {abi}"),
            Err(_) => "this kernel has no Landlock".into(),
        }
    )
}

/// With the network on, nothing stands between the task and the host's unix sockets in readable
/// directories (a socket is reachable through a read-only mount), nor, without a network
/// namespace, the abstract ones.
fn unix_socket_gap(plan: &BackendPlan) -> String {
    let abstract_scoped = matches!(plan, BackendPlan::Landlock(p) if p.scoped);
    format!(
        "host unix sockets while the network is on: pathname sockets in readable directories (docker.sock, the D-Bus session bus, ssh-agent){} stay reachable",
        if abstract_scoped { "" } else { " and abstract sockets" },
    )
}

/// The command's own environment additions, as an [`EnvSpec`].
fn command_env(req: &SandboxRequest) -> EnvSpec {
    EnvSpec {
        set: req.env_set.clone(),
        remove: Vec::new(),
    }
}

/// Landlock has no namespaces to hide behind, so the process itself is hardened: a supervisor
/// stays in the caller's session, and the child leaves it, sheds every capability and privilege
/// gain, and only then restricts itself.
fn landlock_exec(
    req: &SandboxRequest,
    plan: &LandlockPlan,
    seccomp: Option<SeccompMode>,
) -> ExecSpec {
    let mut steps = vec![
        PreExec::CloseInheritedFds,
        PreExec::NewSession,
        PreExec::DropCapabilities,
        PreExec::NoNewPrivs,
    ];
    steps.extend(req.chdir.clone().map(PreExec::Chdir));
    steps.push(PreExec::Landlock(plan.clone()));
    steps.extend(seccomp.map(PreExec::Seccomp));
    let mut env = command_env(req);
    env.set
        .push((landlock::MARKER_ENV.into(), "landlock".into()));
    ExecSpec {
        program: Program::Command,
        argv: req.command.clone(),
        env,
        fds: Vec::new(),
        steps,
        // Codex's helper needs nothing of ours after the exec; codex-run keeps its supervisor
        // (the per-task home's lifetime is the run's).
        supervision: if req.outer_layer {
            Supervision::Supervise
        } else {
            Supervision::ReplaceUnlessGroupLeader
        },
    }
}

/// macOS: Seatbelt, or nothing when the policy restricts nothing (there is no seccomp to fall
/// back on, so a network restriction alone still needs Seatbelt).
fn plan_macos(req: &SandboxRequest, view: &HostView) -> Result<LaunchPlan, PlanError> {
    let host = view.facts.clone();
    let rules = match &req.policy.file_system {
        FileSystem::Restricted(rules) if !rules.is_full_disk_write() => Some(rules),
        _ => None,
    };
    let network_restricted =
        (req.policy.network_restricted() && req.egress.is_none()) || req.proxy_only;
    if rules.is_none() && !network_restricted {
        return Ok(LaunchPlan::direct(
            req,
            host,
            "the policy restricts neither the filesystem nor the network",
            None,
        ));
    }
    let inputs = LadderInputs {
        os: TargetOs::Macos,
        request: req.backend,
        userns: Err("not Linux".into()),
        system_bwrap: Err("not Linux".into()),
        landlock: Err("not Linux".into()),
        landlock_gaps: Vec::new(),
        require_full_isolation: req.require_full_isolation,
        inside_seatbelt: view
            .env
            .iter()
            .any(|(k, v)| k == seatbelt::SANDBOX_ENV && v == "seatbelt"),
    };
    let selection =
        select::select(&inputs).map_err(|r| PlanError::Refused(Box::new((r, host.clone()))))?;
    let (proxy_ports, has_proxy_config) = if req.proxy_only {
        seatbelt::proxy_ports(&view.env)
    } else {
        Default::default()
    };
    // `--network filtered`: TCP only to the launcher's proxy, rendered in at launch
    // (`spec_with_proxy`), once its port is bound; inherited proxy variables open nothing.
    let filtered = req.egress.is_some();
    let network = seatbelt::NetworkInputs {
        enabled: !req.policy.network_restricted() || filtered,
        proxy_only: req.proxy_only,
        proxy_ports,
        has_proxy_config,
        launcher_proxy: filtered,
        unix_sockets: seatbelt::UnixSockets::Connect(req.allow_unix_sockets.clone()),
        ..Default::default()
    };
    let plan = seatbelt::plan(&seatbelt::SeatbeltInputs {
        fs: view.fs,
        rules,
        policy_cwd: &req.policy_cwd,
        network,
        command: &req.command,
    })
    .map_err(refused)?;
    let mut env = command_env(req);
    env.remove
        .extend(plan.env_remove.iter().map(OsString::from));
    env.set.extend(
        plan.env_set
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v))),
    );
    let mut steps = vec![PreExec::CloseInheritedFds];
    steps.extend(req.chdir.clone().map(PreExec::Chdir));
    let exec = ExecSpec {
        program: Program::Path(seatbelt::SANDBOX_EXEC.into()),
        argv: plan.argv.iter().map(OsString::from).collect(),
        env,
        fds: Vec::new(),
        steps,
        supervision: Supervision::Replace,
    };
    let mut not_enforced = Vec::new();
    if filtered {
        not_enforced.push(SHARED_PROXY_GAP.to_string());
    }
    let egress = req
        .egress
        .as_ref()
        .map(|e| egress_plan(e, view, selection.backend));
    Ok(LaunchPlan {
        backend: selection.backend,
        ladder: selection.ladder,
        not_enforced,
        seccomp: None,
        plan: BackendPlan::Seatbelt(plan),
        host,
        command: req.command.clone(),
        exec,
        target: req.target,
        network_on: !req.policy.network_restricted()
            || req.egress.as_ref().is_some_and(|e| e.user_allowed_any()),
        codex_home: None,
        egress,
    })
}

#[allow(clippy::too_many_arguments)]
fn plan_bwrap(
    req: &SandboxRequest,
    view: &HostView,
    rules: &Rules,
    writable: Vec<PathBuf>,
    deny_matches: &[PathBuf],
    launcher: Launcher,
    daemon_dir: PathBuf,
    egress: Option<&EgressPlan>,
) -> Result<(BackendPlan, Vec<String>, ExecSpec), Failure> {
    let uid = view.uid;
    let temp = view.temp_dir().map_err(Failure::refused)?;
    let registry_dir = synthetic::registry_dir(&temp, uid);
    let unshare_net = req.policy.network_restricted();
    let proc_allowed = view.proc_mount_allowed;
    let mount_proc = !req.no_proc && !req.inherit_pid_namespace && proc_allowed;
    let mut not_enforced = Vec::new();
    if req.inherit_pid_namespace {
        not_enforced.push(
            "a pid namespace (--inherit-pid-namespace): the task sees, signals and outlives the caller's processes of its user".into(),
        );
    } else if req.no_proc {
        not_enforced.push(
            "a fresh /proc (--no-proc): the host's stays visible, with every process's command line".into(),
        );
    }

    if !proc_allowed && !req.no_proc && !req.inherit_pid_namespace {
        not_enforced.push(
            "a fresh /proc (the kernel refused to mount one here; the host's stays visible)".into(),
        );
    }
    let files = BwrapFiles {
        denied_file: registry_dir.join("denied-placeholder"),
        empty_file: registry_dir.join("empty-placeholder"),
        daemon_dir,
        registry_dir,
    };
    let sandbox_id = (req.outer_layer && uid == 0).then_some(OUTER_ROOT_SANDBOX_ID);
    let sandbox_uid_dirs = match sandbox_id {
        Some(id) => vec![
            PathBuf::from(format!("/tmp/codex-daemon-{id}")),
            synthetic::registry_dir(&temp, id),
        ],
        None => Vec::new(),
    };
    let options = BwrapOptions {
        policy_cwd: req.policy_cwd.clone(),
        command_cwd: req.command_cwd.clone(),
        inherit_pid_namespace: req.inherit_pid_namespace,
        mount_proc,
        unshare_net,
        supports_argv0: launcher.supports_argv0(),
        daemon_dir: files.daemon_dir.clone(),
        private_codex_dirs: req.outer_layer,
        sandbox_id,
        sandbox_uid_dirs,
        registry_dir: files.registry_dir.clone(),
        denied_file: files.denied_file.clone(),
        empty_file: files.empty_file.clone(),
        info_fd: Some(INFO_FD),
        proxy_dir_fd: egress.map(|_| PROXY_DIR_FD),
        inner: inner_argv(req, view, launcher.supports_argv0(), egress.is_some())?,
    };
    if egress.is_some_and(|e| e.egress.user_allowed_any()) {
        not_enforced.push(
            "the commands Codex runs reach the model provider's endpoints too: with destinations allowed they share Codex's proxy".into(),
        );
    }
    let bwrap = bwrap::plan(rules, writable, deny_matches, &options, view.fs).map_err(refused)?;
    let mut steps = vec![PreExec::CloseInheritedFds];
    steps.extend(req.chdir.clone().map(PreExec::Chdir));
    let mut env = command_env(req);
    let mut fds = vec![FdPass {
        fd: INFO_FD,
        source: FdSource::BwrapInfo,
    }];
    if let Some(plan) = egress {
        let relay = plan.task_sees.expect("a bwrap egress plan names the relay");
        add_proxy_env(&mut env, &plan.egress, relay);
        fds.push(FdPass {
            fd: PROXY_DIR_FD,
            source: FdSource::ProxyDir,
        });
    }
    let exec = ExecSpec {
        program: Program::Bwrap(launcher.clone()),
        argv: bwrap.args.clone(),
        env,
        fds,
        steps,
        supervision: Supervision::Supervise,
    };
    Ok((
        BackendPlan::Bwrap {
            launcher,
            bwrap,
            files,
        },
        not_enforced,
        exec,
    ))
}

/// The plan's launch once the proxy is bound at `addr`: where the task reaches the proxy
/// directly (Landlock), its variables name that port and the Landlock ruleset allows connecting
/// to it, and to nothing else. Under bubblewrap the task sees the relay, fixed in the plan.
pub fn spec_with_proxy(plan: &LaunchPlan, addr: std::net::SocketAddr) -> ExecSpec {
    let mut spec = plan.exec.clone();
    let Some(egress) = plan.egress.as_ref().filter(|e| e.task_sees.is_none()) else {
        return spec;
    };
    add_proxy_env(&mut spec.env, &egress.egress, addr);
    if let BackendPlan::Seatbelt(seatbelt) = &plan.plan {
        spec.argv = seatbelt
            .with_proxy_port(addr.port())
            .argv
            .iter()
            .map(OsString::from)
            .collect();
    }
    for step in &mut spec.steps {
        match step {
            PreExec::Landlock(landlock) if landlock.restrict_tcp => {
                landlock.connect_tcp = vec![addr.port()];
            }
            _ => {}
        }
    }
    spec
}

/// Routes the task's clients to the proxy at `addr` and drops inherited proxy settings that
/// would point elsewhere.
pub fn add_proxy_env(env: &mut EnvSpec, egress: &egress::Egress, addr: std::net::SocketAddr) {
    env.remove.extend(
        crate::netproxy::env::CLEARED
            .iter()
            .map(|k| OsString::from(*k)),
    );
    env.set.extend(
        egress
            .env(addr)
            .into_iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v))),
    );
}

/// The inner stage's own launch, inside bubblewrap: nothing inherited, the seccomp filter, then
/// the command as the child of an init that forwards signals and reaps.
pub fn inner_stage_exec(command: &[OsString], seccomp: Option<SeccompMode>) -> ExecSpec {
    let mut steps = vec![PreExec::CloseInheritedFds];
    steps.extend(seccomp.map(PreExec::Seccomp));
    ExecSpec {
        program: Program::Command,
        argv: command.to_vec(),
        env: EnvSpec::default(),
        fds: Vec::new(),
        steps,
        supervision: Supervision::Init,
    }
}

/// The program bubblewrap starts inside: this binary, as `codex-linux-sandbox` either by `--argv0`
/// or, for an old bwrap without it, by the `linux-sandbox` subcommand.
fn inner_argv(
    req: &SandboxRequest,
    view: &HostView,
    supports_argv0: bool,
    relay: bool,
) -> Result<Vec<OsString>, Failure> {
    let exe = view.current_exe.clone().map_err(Failure::refused)?;
    let mut argv: Vec<OsString> = vec![exe.clone().into()];
    let named_helper = exe.file_name().is_some_and(|n| n == "codex-linux-sandbox");
    if !supports_argv0 && !named_helper {
        argv.push("linux-sandbox".into());
    }
    argv.push("--sandbox-policy-cwd".into());
    argv.push(req.policy_cwd.clone().into());
    if let Some(cc) = &req.command_cwd {
        argv.push("--command-cwd".into());
        argv.push(cc.clone().into());
    }
    argv.push("--permission-profile".into());
    argv.push(req.profile.to_canonical_json().into());
    if relay {
        argv.push("--egress-relay".into());
        argv.push(
            format!(
                "{}={}/{}",
                egress::RELAY_PORT,
                egress::SOCKET_DIR_INSIDE,
                egress::SOCKET_NAME
            )
            .into(),
        );
    }
    argv.push("--apply-seccomp-then-exec".into());
    argv.push("--".into());
    argv.extend(req.command.iter().cloned());
    Ok(argv)
}

/// `words` quoted for a POSIX shell, so a printed plan can be read (and pasted) unambiguously:
/// the permission profile is JSON with spaces and quotes, paths may hold anything.
fn shell_words(words: &[String]) -> String {
    words
        .iter()
        .map(|w| shlex::try_quote(w).map_or_else(|_| w.into(), |q| q.into_owned()))
        .collect::<Vec<String>>()
        .join(" ")
}

fn lossy(items: &[OsString]) -> Vec<String> {
    items
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

impl BwrapFiles {
    /// Creates the private directories and placeholder files the bubblewrap argv refers to.
    pub fn create(&self) -> Result<(), Failure> {
        synthetic::create_host_files(
            &self.daemon_dir,
            &self.registry_dir,
            &[(&self.denied_file, 0o000), (&self.empty_file, 0o444)],
        )
        .map_err(|e| Failure::refused(format!("cannot prepare the sandbox's host files: {e}")))
    }
}

impl LaunchPlan {
    /// Exec `req`'s command in place, without a sandbox backend (seccomp at most), for `reason`.
    fn direct(
        req: &SandboxRequest,
        host: HostFacts,
        reason: &str,
        seccomp: Option<SeccompMode>,
    ) -> Self {
        let mut steps = Vec::new();
        if let Some(mode) = seccomp {
            steps.push(PreExec::CloseInheritedFds);
            steps.push(PreExec::NoNewPrivs);
            steps.extend(req.chdir.clone().map(PreExec::Chdir));
            steps.push(PreExec::Seccomp(mode));
        } else {
            steps.extend(req.chdir.clone().map(PreExec::Chdir));
        }
        LaunchPlan {
            backend: Backend::None,
            ladder: vec![Step {
                backend: Backend::None,
                verdict: Verdict::Chosen,
                reason: reason.into(),
            }],
            not_enforced: Vec::new(),
            seccomp,
            plan: BackendPlan::Direct,
            host,
            command: req.command.clone(),
            exec: ExecSpec {
                program: Program::Command,
                argv: req.command.clone(),
                env: command_env(req),
                fds: Vec::new(),
                steps,
                supervision: Supervision::Replace,
            },
            target: req.target,
            network_on: !req.policy.network_restricted(),
            codex_home: None,
            egress: None,
        }
    }

    pub fn to_json(&self) -> Value {
        let plan = match &self.plan {
            BackendPlan::Direct => json!({ "kind": "direct", "seccomp": self.seccomp }),
            BackendPlan::Bwrap {
                launcher, bwrap, ..
            } => json!({
                "kind": "bwrap",
                "program": match launcher {
                    Launcher::System { path, .. } => path_str(path),
                    Launcher::Vendored => "built-in bubblewrap 0.12.0".into(),
                },
                "argv": lossy(&bwrap.args),
                "synthetic_mount_targets": bwrap.synthetic,
                "seccomp": self.seccomp,
            }),
            BackendPlan::Landlock(p) => json!({
                "kind": "landlock",
                "abi": p.abi,
                "rules": p.rules,
                "restrict_tcp": p.restrict_tcp,
                "scoped_signals_and_abstract_sockets": p.scoped,
                "no_new_privs": true,
                "seccomp": self.seccomp,
            }),
            BackendPlan::Seatbelt(p) => json!({
                "kind": "seatbelt",
                "program": seatbelt::SANDBOX_EXEC,
                "profile": p.profile,
                "params": p.params.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
                "argv": p.argv,
                "env_remove": p.env_remove,
                "env_set": p.env_set.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
            }),
        };
        json!({
            "backend": self.backend.name(),
            "ladder": self.ladder,
            "egress": self.egress.as_ref().map(|e| e.to_json()),
            "launch": self.exec.to_json(),
            "plan": plan,
            "not_enforced": self.not_enforced,
            "command": lossy(&self.command),
            "host": self.host,
        })
    }

    /// A few readable lines for `explain` without `--json`.
    pub fn to_text(&self) -> String {
        let mut out = format!("backend: {}\nladder:\n", self.backend.name());
        for s in &self.ladder {
            out.push_str(&format!(
                "  {:<15} {:<13} {}\n",
                s.backend.name(),
                s.verdict.name(),
                s.reason
            ));
        }
        match &self.plan {
            BackendPlan::Direct => out.push_str("plan: exec directly\n"),
            BackendPlan::Bwrap { bwrap, .. } => {
                out.push_str(&format!(
                    "plan: bwrap {}\n",
                    shell_words(&lossy(&bwrap.args))
                ));
            }
            BackendPlan::Landlock(p) => {
                out.push_str(&format!(
                    "plan: landlock ABI {} (tcp restricted: {}, scoped: {})\n",
                    p.abi, p.restrict_tcp, p.scoped
                ));
                for r in &p.rules {
                    out.push_str(&format!("  {:?} {}\n", r.grant, r.path.display()));
                }
            }
            BackendPlan::Seatbelt(p) => {
                out.push_str(&format!(
                    "plan: {} -p <profile, {} lines>",
                    seatbelt::SANDBOX_EXEC,
                    p.profile.lines().count()
                ));
                let params: Vec<String> =
                    p.params.iter().map(|(k, v)| format!("-D{k}={v}")).collect();
                out.push_str(&format!(" {}", shell_words(&params)));
                out.push('\n');
            }
        }
        out.push_str(&format!(
            "seccomp: {}\n",
            self.seccomp.map_or("none".into(), |m| format!("{m:?}"))
        ));
        if let Some(egress) = &self.egress {
            let json = egress.to_json();
            out.push_str(&format!(
                "network: only through the launcher's proxy at {} ({})\n",
                json["proxy"].as_str().unwrap_or("?"),
                match &self.plan {
                    BackendPlan::Landlock(_) =>
                        "Landlock lets TCP connect only to the proxy's port and bind nothing; seccomp allows no socket but TCP (and a unix socketpair)",
                    BackendPlan::Seatbelt(_) =>
                        "the Seatbelt profile lets TCP out only to the proxy's loopback port, filled in when the proxy binds",
                    _ => "own network namespace; the relay on loopback inside is its only way out",
                }
            ));
            out.push_str(&format!("  proxy log: {}\n", egress.log.display()));
            let allowed = egress.egress.describe();
            if allowed.is_empty() {
                out.push_str("  allowed: nothing\n");
            }
            for line in allowed {
                out.push_str(&format!("  allowed: {line}\n"));
            }
        }
        if !self.not_enforced.is_empty() {
            out.push_str("not enforced:\n");
            for g in &self.not_enforced {
                out.push_str(&format!("  - {g}\n"));
            }
        }
        out
    }
}

#[cfg(test)]
#[path = "plan_golden_tests.rs"]
mod golden_tests;
