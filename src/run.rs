//! `codex-run` and `prepare-home`: resolve the homes, pick the outer sandbox, prepare the per-task
//! home for it, then exec the command (default: Codex) under that sandbox with `CODEX_HOME` set.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::cli::{HomeOptions, PrepareHomeArgs, RunArgs, SandboxOptions};
use crate::exit::{Failure, Outcome};
use crate::home::credentials::Credentials;
use crate::home::inner_sandbox::Platform;
use crate::home::{self, PrepareOptions};
use crate::lock::{self, Lock};
use crate::plan::{self, LaunchPlan, PlanError};
use crate::policy::modes::{Network, SandboxMode};
use crate::request::{self, SandboxRequest};
use crate::select::{Backend, BackendRequest, TargetOs};

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

fn absolute(flag: &str, path: &Path) -> Result<PathBuf, Failure> {
    if path.is_absolute() {
        Ok(crate::policy::resolve::normalize(path))
    } else {
        Err(Failure::usage(format!(
            "{flag} {}: must be an absolute path",
            path.display()
        )))
    }
}

/// The workspace: `--cwd` (which must exist) or the current directory.
fn workspace(cwd: Option<&Path>) -> Result<PathBuf, Failure> {
    let here = current_dir_as_named()?;
    let dir = cwd.map_or_else(|| here.clone(), |d| here.join(d));
    crate::fs::named::check(&dir).map_err(|link| {
        Failure::refused(match cwd {
            Some(d) => link.message("--cwd", d),
            None => link.message_for_cwd(&dir),
        })
    })?;
    crate::fs::canonicalize(&dir)
        .ok()
        .filter(|d| d.is_dir())
        .ok_or_else(|| {
            Failure::usage(format!(
                "--cwd {}: not an existing directory",
                dir.display()
            ))
        })
}

/// The current directory as the user reached it: the shell's `$PWD` when it names the same
/// directory as the kernel's, since `cd build` through a link a task planted in the project
/// leaves no link in the kernel's path but one in `$PWD` (red-team r5 03). Otherwise the kernel's.
fn current_dir_as_named() -> Result<PathBuf, Failure> {
    use std::os::unix::fs::MetadataExt;
    let here = std::env::current_dir()
        .map_err(|e| Failure::refused(format!("cannot read the current directory: {e}")))?;
    let id = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    Ok(match std::env::var_os("PWD").map(PathBuf::from) {
        Some(pwd)
            if pwd.is_absolute()
                && pwd != here
                && id(&pwd).is_some_and(|p| Some(p) == id(&here)) =>
        {
            pwd
        }
        _ => here,
    })
}

/// A command that cannot be found is reported before anything is created (as exit 127), with a
/// hint when it looks like a Codex subcommand given without `codex` (`codex-run exec "..."`).
fn check_command_exists(command: &[OsString], ws: &Path) -> Result<(), Failure> {
    let Some(first) = command.first() else {
        return Ok(());
    };
    let program = Path::new(first);
    let found = if program.components().count() > 1 {
        ws.join(program).exists()
    } else {
        which::which(program).is_ok()
    };
    if found {
        return Ok(());
    }
    const CODEX_SUBCOMMANDS: [&str; 9] = [
        "exec",
        "resume",
        "login",
        "logout",
        "apply",
        "mcp",
        "sandbox",
        "app-server",
        "review",
    ];
    let hint = match first.to_str() {
        Some(sub) if CODEX_SUBCOMMANDS.contains(&sub) => {
            format!("; to run Codex's `{sub}`, write codex-run -- codex {sub} ...")
        }
        _ => String::new(),
    };
    Err(Failure::not_found(format!(
        "cannot run {}: not found{hint}",
        program.display()
    )))
}

/// Refuses a directory this run could not create: its nearest existing ancestor must be a directory
/// we may write (a read-only root filesystem or a HOME we do not own fail here, before anything).
fn check_creatable(dir: &Path) -> Result<(), Failure> {
    let Some(existing) = dir
        .ancestors()
        .find(|a| std::fs::symlink_metadata(a).is_ok())
    else {
        return Ok(());
    };
    if existing == dir && existing.is_dir() {
        return Ok(());
    }
    let writable = match nix::unistd::access(existing, nix::unistd::AccessFlags::W_OK) {
        // Ours, but a task took the owner's bits away (Landlock does not mediate chmod): the run
        // gives them back (home::restore_access) rather than lock the user out of every launch.
        Err(nix::errno::Errno::EACCES) if crate::fs::owner_lacks_access(existing) => Ok(()),
        other => other,
    };
    match writable {
        Ok(()) if existing.is_dir() => Ok(()),
        Ok(()) => Err(Failure::refused(format!(
            "cannot create {}: {} is not a directory",
            dir.display(),
            existing.display()
        ))),
        Err(e) => Err(Failure::refused(format!(
            "cannot create {}: {} is not writable ({e}); set XDG_STATE_HOME (or --home) and CODEX_HOME (or --shared-home) to writable directories",
            dir.display(),
            existing.display()
        ))),
    }
}

/// `path` itself when it is an existing directory, else a usage error naming `what`.
fn existing_dir(what: &str, path: &Path) -> Result<PathBuf, Failure> {
    if path.is_dir() {
        Ok(crate::policy::resolve::normalize(path))
    } else {
        Err(Failure::usage(format!(
            "{what}={}: no such directory",
            path.display()
        )))
    }
}

/// A stable task id for a workspace: its name plus a hash of its path.
pub fn task_id_for(workspace: &Path) -> String {
    let digest = Sha256::digest(workspace.as_os_str().as_encoded_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    let name: String = workspace
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
                .take(32)
                .collect()
        })
        .unwrap_or_default();
    if name.is_empty() {
        hex
    } else {
        format!("{name}-{hex}")
    }
}

fn check_task_id(id: &str) -> Result<(), Failure> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Failure::usage(format!(
            "--task-id {id:?}: use letters, digits, '-', '_' and '.' only"
        )))
    }
}

/// Resolved shared and per-task homes.
/// The shared and per-task homes for a task in `workspace`, checked for location, as prepare
/// options; the outer layer is filled in once the ladder has chosen it.
fn task_home(
    opts: &HomeOptions,
    workspace: &Path,
    network_on: bool,
) -> Result<(PrepareOptions, String), Failure> {
    let shared = match (&opts.shared_home, std::env::var_os("CODEX_HOME")) {
        (Some(p), _) => existing_dir("--shared-home", &absolute("--shared-home", p)?)?,
        (None, Some(v)) if !v.is_empty() => {
            // Like Codex, which refuses a CODEX_HOME that does not exist: a typo must not
            // quietly start a new, empty shared home without the user's login.
            let path = PathBuf::from(&v);
            if !path.is_absolute() {
                return Err(Failure::usage(format!(
                    "CODEX_HOME={}: must be an absolute path",
                    path.display()
                )));
            }
            existing_dir("CODEX_HOME", &path)?
        }
        _ => env_path("HOME").map(|h| h.join(".codex")).ok_or_else(|| {
            Failure::usage(
                "cannot find the shared Codex home: set CODEX_HOME or HOME, or pass --shared-home",
            )
        })?,
    };
    let task_id = opts
        .task_id
        .clone()
        .unwrap_or_else(|| task_id_for(workspace));
    check_task_id(&task_id)?;
    // The anchor is the directory the user named; below it nothing is followed (home::open_home).
    let (home, home_anchor) = match &opts.home {
        Some(p) => {
            let home = absolute("--home", p)?;
            crate::fs::named::check(&home)
                .map_err(|link| Failure::refused(link.message("--home", p)))?;
            let parent = home.parent().map(Path::to_path_buf).ok_or_else(|| {
                Failure::usage(format!(
                    "--home {}: needs a parent directory",
                    home.display()
                ))
            })?;
            (home, parent)
        }
        None => {
            let (anchor, state) = match env_path("XDG_STATE_HOME") {
                Some(state) => (state.clone(), state),
                None => {
                    let h = env_path("HOME").ok_or_else(|| Failure::usage("cannot find a state dir for the per-task home: set XDG_STATE_HOME or HOME, or pass --home"))?;
                    (h.clone(), h.join(".local/state"))
                }
            };
            let home = state
                .join("codex-launcher/tasks")
                .join(&task_id)
                .join("codex-home");
            (home, anchor)
        }
    };
    home::check_home_location(&home, &shared)?;
    let prep = PrepareOptions {
        shared_home: shared,
        home,
        home_anchor,
        platform: opts.platform.unwrap_or_else(Platform::host),
        codex_version: opts.codex_version.clone(),
        outer: Backend::None,
        network_on,
        overrides: opts.overrides.clone(),
        multi_agent: !home::opted_out("CODEX_RUN_MULTI_AGENT"),
        memory: !home::opted_out("CODEX_RUN_MEMORY"),
        config_source: None,
    };
    Ok((prep, task_id))
}

/// `codex` on PATH, skipping entries inside the workspace (a repository could plant one).
fn find_codex(workspace: &Path) -> Result<PathBuf, Failure> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .filter(|d| d.is_absolute())
        .filter(|d| {
            !crate::fs::canonicalize(d)
                .unwrap_or_else(|_| d.clone())
                .starts_with(workspace)
        })
        .collect();
    let joined = std::env::join_paths(dirs).unwrap_or_default();
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    which::which_in("codex", Some(joined), cwd)
        .map_err(|_| Failure::not_found("codex not found on PATH outside the workspace; pass --codex PATH or a command after --"))
}

/// `codex` as a run would find it, or plain `codex` when none is on PATH (for `explain`, which
/// shows the plan even where the run itself would stop at "codex not found").
pub fn codex_or_placeholder(cwd: Option<&Path>) -> PathBuf {
    workspace(cwd)
        .and_then(|ws| find_codex(&ws))
        .unwrap_or_else(|_| PathBuf::from("codex"))
}

/// How far a run goes: all the way (exec), or only to the lock (`lock export` / `lock verify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    Exec,
    /// Prepare the home and write the lock; run nothing.
    ExportOnly,
    /// Compare with the lock; write and run nothing.
    VerifyOnly,
}

pub fn run(args: RunArgs) -> Outcome {
    run_until(args, Finish::Exec)
}

/// A run decided but not started: the one request builder behind `codex-run`, its `--dry-run`,
/// `explain` and the entrypoint, so all of them print or execute the same plan.
pub struct RunPlan {
    pub workspace: PathBuf,
    pub task_id: String,
    pub prep: PrepareOptions,
    pub request: SandboxRequest,
    pub launch: LaunchPlan,
}

/// Resolves the homes, the command and the outer sandbox for `args`. Creates nothing: the
/// per-task home and the shared `sessions/` are planned as the directories the run will create.
pub fn plan_run(args: &RunArgs, target: TargetOs) -> Result<RunPlan, PlanError> {
    let ws = workspace(args.sandbox.cwd.as_deref())?;
    let (mut prep, task_id) = task_home(&args.home, &ws, commands_network(&args.sandbox))?;
    if commands_network(&args.sandbox) && args.sandbox.network == Network::Filtered {
        // The user allowed destinations for Codex and its commands: the commands get the
        // network, which under this mode is the proxy and nothing else.
        prep.overrides
            .push("sandbox_workspace_write.network_access=true".into());
    }
    if !args.dry_run {
        // Before anything reads the shared home (the model provider below does).
        home::restore_access(&prep);
    }
    // What a run will create must be creatable: a dry run that promises a plan every real run
    // refuses (no writable HOME, a read-only root) helps nobody.
    for dir in [&prep.home, &prep.shared_home.join("sessions")] {
        check_creatable(dir)?;
    }
    let command = if !args.command.is_empty() {
        args.command.clone()
    } else if let Some(codex) = &args.codex {
        vec![codex.clone().into_os_string()]
    } else if args.dry_run {
        // A dry run shows the plan even where the run itself would stop at "codex not found".
        vec![codex_or_placeholder(Some(&ws)).into_os_string()]
    } else {
        vec![find_codex(&ws)?.into_os_string()]
    };
    if !args.dry_run {
        check_command_exists(&command, &ws)?;
    }
    if args.sandbox.backend == BackendRequest::None {
        request::warn_unsandboxed();
    }
    let mut sandbox = args.sandbox.clone();
    sandbox.cwd = Some(ws.clone());
    let mut request = request::for_run(&sandbox, &prep.home, &prep.shared_home, command)?;
    request.target = target;
    if let Some(egress) = request.egress.take() {
        // A replayed lock, not the shared config, is what the per-task config starts from.
        let mut source = prep.clone();
        if let Some(file) = &args.lock.replay {
            source.config_source = Some((file.clone(), read_lock(file)?.config_text()));
        }
        request.egress = Some(egress.with_provider(model_provider(&source)?));
    }
    if !args.dry_run {
        plan::sweep_leftovers(&request);
    }
    let mut will_create = vec![prep.home.clone(), prep.shared_home.join("sessions")];
    will_create.extend(crate::home::credentials::credential_dir(&prep.shared_home));
    let mut launch = plan::plan_here(&request, will_create)?;
    launch.codex_home = Some(prep.home.clone());
    prep.outer = launch.backend;
    Ok(RunPlan {
        workspace: ws,
        task_id,
        prep,
        request,
        launch,
    })
}

/// Whether the commands Codex runs may have network at all: `on`, or `filtered` with
/// destinations the user allowed (then only through the proxy).
fn commands_network(sandbox: &SandboxOptions) -> bool {
    match sandbox.network {
        Network::On | Network::Proxy => true,
        Network::Off => false,
        Network::Filtered => {
            sandbox.sandbox == SandboxMode::DangerFullAccess
                || !sandbox.allow_domains.is_empty()
                || !sandbox.allow_endpoints.is_empty()
        }
    }
}

/// Where Codex's model traffic goes, from the per-task config this run will write (the shared
/// config or replayed lock with the `-c` overrides).
fn model_provider(prep: &PrepareOptions) -> Result<crate::egress::Provider, Failure> {
    let config = home::plan_config(prep)?;
    let parsed = home::managed::parse(&config)
        .map_err(|e| Failure::refused(format!("the per-task config does not parse: {e}")))?;
    let token_url = std::env::var(crate::home::token_refresh::TOKEN_URL_VAR).ok();
    crate::egress::provider_destinations(parsed.root(), token_url.as_deref())
        .map_err(|e| Failure::usage(e.to_string()))
}

pub fn run_until(args: RunArgs, finish: Finish) -> Outcome {
    // Read once, before anything else is looked for (Codex on PATH, say); where it lies is
    // judged once the run's writable roots are known.
    let mut replayed = match &args.lock.replay {
        Some(file) => Some(read_lock(file)?),
        None => None,
    };
    let RunPlan {
        workspace: ws,
        task_id,
        mut prep,
        request,
        launch,
    } = plan_run(&args, TargetOs::host()).map_err(Failure::from)?;
    if args.dry_run {
        // The same checks of the config and -c overrides a run makes, without writing.
        home::plan(&prep)?;
        crate::explain::print(&launch, args.json);
        return Ok(0);
    }
    let replay = match &args.lock.replay {
        Some(file) => {
            refuse_lock_in_writable_root(file, &request)?;
            let lock = replayed.take().expect("read above");
            // The lock, not the shared config.toml, is what the per-task config starts from.
            prep.config_source = Some((file.clone(), lock.config_text()));
            Some((file.clone(), lock))
        }
        None => None,
    };
    let codex_version = if replay.is_some() || args.lock.export.is_some() {
        let v = prep.codex_version.clone().unwrap_or_else(|| {
            let writable: Vec<PathBuf> = match &request.policy.file_system {
                crate::policy::FileSystem::Restricted(rules) => rules
                    .paths_with(crate::policy::Access::Write)
                    .into_iter()
                    .map(|w| crate::fs::canonicalize(&w).unwrap_or(w))
                    .collect(),
                crate::policy::FileSystem::Unrestricted => vec![PathBuf::from("/")],
            };
            detect_codex_version(args.codex.as_deref(), &request.command, &ws, &writable)
        });
        if v != lock::UNKNOWN {
            prep.codex_version = Some(v.clone());
        }
        v
    } else {
        lock::UNKNOWN.to_string()
    };
    let lock_of = |config: &str| {
        let mut sandbox =
            lock::sandbox_table(launch.backend.name(), &request.policy, &launch.not_enforced);
        if let Some(egress) = &request.egress {
            // The sandbox itself has no network; what the proxy opens is the policy.
            sandbox.insert("network", toml_edit::value("filtered"));
            let allow: toml_edit::Array = egress.describe().into_iter().collect();
            sandbox.insert("network_allow", toml_edit::value(allow));
        }
        Lock::new(&codex_version, config, sandbox)
            .map_err(|e| Failure::refused(format!("the effective config does not parse: {e}")))
    };
    // Everything is read and checked before the first write into the home: bad input leaves
    // nothing behind there (the per-home lock, in the launcher's state dir, is taken first). One
    // plan, made under that lock, serves the checks and the write.
    let locked = home::plan_locked(&prep)?;
    if let Some((file, expected)) = &replay {
        let actual = lock_of(&locked.planned.config)?;
        lock::verify(
            expected,
            &actual,
            file,
            args.lock.allow_codex_version_mismatch,
        )
        .map_err(|e| Failure::refused(e.to_string()))?;
        if finish == Finish::VerifyOnly {
            println!("config lock {} matches", file.display());
            return Ok(0);
        }
    }
    let export = match &args.lock.export {
        Some(dir) => Some((dir, lock_of(&locked.planned.config)?)),
        None => None,
    };
    // The write creates the home and the shared sessions/ (under the lock, like the plan).
    let report = home::write(&prep, locked)?;
    tracing::debug!(changed = report.changed(), home = %report.home.display(), "per-task home prepared");
    if let Some((dir, lock)) = export {
        let writable = request.policy.writable_roots();
        let written = write_lock(dir, &writable, &task_id, &lock)?;
        tracing::debug!(lock = %written.display(), "config lock written");
        if finish == Finish::ExportOnly {
            println!("{}", written.display());
            return Ok(0);
        }
    }
    let runs_codex = request::runs_codex(&request.command);
    if runs_codex && args.sandbox.network == Network::Off {
        eprintln!(
            "codex-run: --network off: Codex cannot reach its model API either; it will only retry"
        );
    }
    if runs_codex
        && report.sandbox.setting.mode == "danger-full-access"
        && launch.backend != Backend::None
    {
        eprintln!("codex-run: the workspace is enforced by the outer {} sandbox; Codex runs its commands without its own sandbox inside it", launch.backend.name());
    }
    if matches!(report.credentials, Credentials::Dedicated { .. })
        && args.sandbox.network != Network::Off
    {
        refresh_login(&prep.shared_home);
    }
    crate::exec::exec_plan_then(&launch, || {
        if let Err(e) = home::publish_sessions(&prep) {
            // The next launch of this task copies what is left.
            eprintln!(
                "codex-run: warning: session transcripts not copied to the shared home yet: {e}"
            );
        }
    })
}

/// Refreshes the shared ChatGPT login when it is due, so the task starts with a fresh token and
/// concurrent tasks do not spend the same single-use refresh token (home::token_refresh). A
/// failure does not stop the task: Codex can still refresh by itself.
fn refresh_login(shared: &Path) {
    use crate::home::token_refresh::{refresh_if_due, Outcome};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let auth = shared.join(crate::home::credentials::DIR).join("auth.json");
    match refresh_if_due(shared, now) {
        Outcome::NotDue => {}
        Outcome::Refreshed => tracing::debug!(auth = %auth.display(), "ChatGPT login refreshed"),
        Outcome::LoggedOut { code } => eprintln!(
            "codex-run: the ChatGPT login in {} can no longer be refreshed ({code}): log in again with `codex login`",
            auth.display()
        ),
        Outcome::Failed { why } => eprintln!(
            "codex-run: the ChatGPT login in {} was not refreshed before the task: {why}",
            auth.display()
        ),
    }
}

/// A lock inside a writable root of this launch may have been rewritten by an earlier task (a
/// provider `base_url` swapped for one that collects the user's token, say), and a replay checks a
/// lock only against itself: refuse it.
fn refuse_lock_in_writable_root(file: &Path, request: &SandboxRequest) -> Result<(), Failure> {
    let Ok(canonical) = crate::fs::canonicalize(file) else {
        return Ok(()); // read_lock reports the missing file
    };
    let inside = request
        .policy
        .writable_roots()
        .into_iter()
        .map(|w| crate::fs::canonicalize(&w).unwrap_or(w))
        .find(|w| canonical.starts_with(w));
    match inside {
        Some(root) => Err(Failure::refused(format!(
            "config lock {} is inside the writable root {}, where a task could have changed it; review it and keep the copy you replay outside the sandbox's reach",
            file.display(),
            root.display()
        ))),
        None => Ok(()),
    }
}

/// A config lock is small; anything bigger is not one.
const MAX_LOCK_BYTES: u64 = 4 << 20;

/// Reads a config lock the user named: no symlink a task could have planted on the way, and only
/// a regular file (a FIFO would hang the launch, a device would never end).
fn read_lock(file: &Path) -> Result<Lock, Failure> {
    crate::fs::named::check(file)
        .map_err(|link| Failure::refused(link.message("--lock-replay", file)))?;
    let text = read_regular(file, MAX_LOCK_BYTES)
        .and_then(|b| String::from_utf8(b).map_err(|_| "not UTF-8 text".to_string()))
        .map_err(|reason| {
            lock::LockError::Read {
                path: file.to_path_buf(),
                reason,
            }
            .to_string()
        })
        .map_err(Failure::refused)?;
    Lock::parse(&text, file).map_err(|e| Failure::refused(e.to_string()))
}

/// The bytes of the regular file `path` (last component not followed, never blocking on a FIFO),
/// up to `max` bytes; why not, in words, for the lock's error.
fn read_regular(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    use crate::fs::{Dir, FsError, Regular};
    let reason = |e: FsError| match e {
        FsError::Io { source, .. } => source.to_string(),
        e => e.to_string(),
    };
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().ok_or("not a file name")?;
    match Dir::anchor(parent)
        .and_then(|dir| dir.read_regular(name, max))
        .map_err(reason)?
    {
        Regular::Bytes(bytes) => Ok(bytes),
        Regular::Missing => Err(std::io::Error::from_raw_os_error(libc::ENOENT).to_string()),
        Regular::NotRegular => Err("not a regular file".into()),
        Regular::Larger => Err(format!("larger than {max} bytes")),
    }
}

/// Writes `DIR/<task-id>.config.lock.toml` atomically (0600: config values can be sensitive),
/// through `fs`. DIR may lie in a root earlier tasks could write (`writable`, this run's): from
/// there on no symlink is followed.
fn write_lock(
    dir: &Path,
    writable: &[PathBuf],
    task_id: &str,
    lock: &Lock,
) -> Result<PathBuf, Failure> {
    crate::fs::named::check(dir)
        .map_err(|link| Failure::refused(link.message("--lock-export", dir)))?;
    let out = crate::fs::open_beneath(dir, writable, 0o755).map_err(|e| {
        Failure::refused(format!(
            "failed to create config lock export directory {}: {e}",
            dir.display()
        ))
    })?;
    let name = format!("{task_id}.config.lock.toml");
    let path = dir.join(&name);
    out.write_file(&name, lock.render().as_bytes(), 0o600)
        .map_err(|e| {
            Failure::refused(format!(
                "failed to write config lock to {}: {e}",
                path.display()
            ))
        })?;
    Ok(path)
}

/// Codex's version as `codex --version` prints it: of `--codex`, of the command when it is Codex,
/// else of `codex` on PATH; `unknown` when none answers.
/// Codex's version as `codex --version` prints it: of `--codex`, of the command when it is Codex,
/// else of `codex` on PATH; `unknown` when none answers. This runs on the host, outside any
/// sandbox, so it never runs a relative path or a binary inside a writable root of this launch,
/// where a task could have planted it (pass `--codex-version` for such a Codex).
fn detect_codex_version(
    codex: Option<&Path>,
    command: &[OsString],
    ws: &Path,
    writable: &[PathBuf],
) -> String {
    let program = codex.map(Path::to_path_buf).or_else(|| {
        let first = Path::new(command.first()?);
        match first.file_name()? == "codex" {
            true if first.is_absolute() => Some(first.to_path_buf()),
            true if first.components().count() > 1 => None,
            _ => find_codex(ws).ok(),
        }
    });
    let trusted = program.and_then(|p| {
        let canonical = crate::fs::canonicalize(&p).ok().filter(|c| c.is_absolute())?;
        match writable.iter().find(|w| canonical.starts_with(w)) {
            Some(root) => {
                eprintln!(
                    "codex-run: not running {} --version outside the sandbox: it lies in the writable root {}; pass --codex-version",
                    canonical.display(),
                    root.display()
                );
                None
            }
            None => Some(canonical),
        }
    });
    let version = trusted.and_then(|p| {
        let out = std::process::Command::new(&p)
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        crate::home::inner_sandbox::parse_version(&String::from_utf8_lossy(&out.stdout))
    });
    version.map_or_else(|| lock::UNKNOWN.to_string(), |v| v.to_string())
}

pub fn prepare_home(args: PrepareHomeArgs) -> Outcome {
    let ws = workspace(args.cwd.as_deref())?;
    let (mut prep, _) = task_home(
        &args.home,
        &ws,
        matches!(args.network, Network::On | Network::Proxy),
    )?;
    let (shared, home_dir) = (prep.shared_home.clone(), prep.home.clone());
    prep.outer = match args.outer_backend {
        Some(BackendRequest::Auto) | None => {
            let sandbox = SandboxOptions {
                sandbox: SandboxMode::WorkspaceWrite,
                network: args.network,
                allow_domains: vec![],
                allow_endpoints: vec![],
                net_resolve: vec![],
                accept_unfiltered_tcp: false,
                allow_unix_sockets: vec![],
                writable_roots: vec![],
                cwd: Some(ws.clone()),
                permission_profile: None,
                backend: BackendRequest::Auto,
                require_full_isolation: false,
            };
            let request = request::for_run(&sandbox, &home_dir, &shared, vec!["codex".into()])?;
            plan::plan_here(&request, Vec::new())?.backend
        }
        Some(BackendRequest::BwrapSystem) | Some(BackendRequest::Bwrap) => Backend::BwrapSystem,
        Some(BackendRequest::BwrapVendored) => Backend::BwrapVendored,
        Some(BackendRequest::Landlock) => Backend::Landlock,
        Some(BackendRequest::Seatbelt) => Backend::Seatbelt,
        Some(BackendRequest::None) => Backend::None,
    };
    let report = home::prepare(&prep)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&crate::json_schema::versioned(&report))
                .expect("report serialises")
        );
    } else {
        println!("{}", report.home.display());
    }
    Ok(0)
}
