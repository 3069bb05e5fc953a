//! `codex-run` and `prepare-home`: resolve the homes, pick the outer sandbox, prepare the per-task
//! home for it, then exec the command (default: Codex) under that sandbox with `CODEX_HOME` set.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::cli::{HomeOptions, PrepareHomeArgs, RunArgs, SandboxOptions};
use crate::exit::{Failure, Outcome};
use crate::home::inner_sandbox::Platform;
use crate::home::{self, PrepareOptions};
use crate::lock::{self, Lock};
use crate::plan::{self, SandboxRequest};
use crate::policy::modes::{Network, SandboxMode};
use crate::probe::cache::CacheDir;
use crate::probe::host;
use crate::select::{Backend, BackendRequest};

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
    let here = std::env::current_dir()
        .map_err(|e| Failure::refused(format!("cannot read the current directory: {e}")))?;
    let dir = match cwd {
        Some(d) => here.join(d),
        None => here,
    };
    dir.canonicalize()
        .ok()
        .filter(|d| d.is_dir())
        .ok_or_else(|| {
            Failure::usage(format!(
                "--cwd {}: not an existing directory",
                dir.display()
            ))
        })
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
    let shared = match &opts.shared_home {
        Some(p) => absolute("--shared-home", p)?,
        None => env_path("CODEX_HOME")
            .or_else(|| env_path("HOME").map(|h| h.join(".codex")))
            .ok_or_else(|| Failure::usage("cannot find the shared Codex home: set CODEX_HOME or HOME, or pass --shared-home"))?,
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
            !d.canonicalize()
                .unwrap_or_else(|_| d.clone())
                .starts_with(workspace)
        })
        .collect();
    let joined = std::env::join_paths(dirs).unwrap_or_default();
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    which::which_in("codex", Some(joined), cwd)
        .map_err(|_| Failure::not_found("codex not found on PATH outside the workspace; pass --codex PATH or a command after --"))
}

/// The run's outer policy: the sandbox options plus the per-task home and the shared sessions dir,
/// which Codex must be able to write.
fn run_request(
    sandbox: &SandboxOptions,
    home: &Path,
    shared: &Path,
    command: Vec<OsString>,
) -> Result<SandboxRequest, Failure> {
    let mut opts = sandbox.clone();
    if opts.permission_profile.is_none() && opts.sandbox != SandboxMode::DangerFullAccess {
        opts.writable_roots.push(home.to_path_buf());
        opts.writable_roots.push(shared.join("sessions"));
    }
    SandboxRequest::from_options(&opts, command)
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

pub fn run_until(args: RunArgs, finish: Finish) -> Outcome {
    let ws = workspace(args.sandbox.cwd.as_deref())?;
    let (mut prep, task_id) = task_home(&args.home, &ws, args.sandbox.network != Network::Off)?;
    let (shared, home_dir) = (prep.shared_home.clone(), prep.home.clone());
    let command = if args.command.is_empty() {
        let codex = match &args.codex {
            Some(p) => p.clone(),
            None => find_codex(&ws)?,
        };
        vec![codex.into_os_string()]
    } else {
        args.command.clone()
    };
    let replay = match &args.lock.replay {
        Some(file) => {
            let lock = read_lock(file)?;
            // The lock, not the shared config.toml, is what the per-task config starts from.
            prep.config_source = Some((file.clone(), lock.config_text()));
            Some((file.clone(), lock))
        }
        None => None,
    };
    let codex_version = if replay.is_some() || args.lock.export.is_some() {
        let v = prep
            .codex_version
            .clone()
            .unwrap_or_else(|| detect_codex_version(args.codex.as_deref(), &command, &ws));
        if v != lock::UNKNOWN {
            prep.codex_version = Some(v.clone());
        }
        v
    } else {
        lock::UNKNOWN.to_string()
    };
    let mut sandbox = args.sandbox.clone();
    sandbox.cwd = Some(ws.clone());
    // The home must exist before planning (bubblewrap binds only existing roots). If this run
    // created it and then fails before exec, it goes again: bad input leaves nothing behind.
    let writes = !args.dry_run && finish != Finish::VerifyOnly;
    let created = writes && home::ensure_dirs(&prep)?;
    let undo = |f: Failure| {
        if created {
            let _ = std::fs::remove_dir(&home_dir);
        }
        f
    };
    let request = run_request(&sandbox, &home_dir, &shared, command).map_err(undo)?;
    let (info_read, info_write) = crate::exec::info_pipe()
        .map_err(|e| undo(Failure::refused(format!("cannot create a pipe: {e}"))))?;
    // TEMPORARY (issue 13): the new launch path calls this before planning.
    if let (false, Ok(tmp)) = (args.dry_run, plan::temp_dir()) {
        crate::synthetic::sweep_for_policy(&request.policy, &tmp);
    }
    let launch = plan::plan_launch(
        &request,
        host::probe(&CacheDir::for_policy(&request.policy)),
        Some(crate::exec::raw(&info_write)),
    )
    .map_err(|e| undo(e.into()))?;
    prep.outer = launch.backend;
    if args.dry_run {
        if args.json {
            let mut v = launch.to_json();
            v["codex_home"] = serde_json::json!(home_dir);
            println!(
                "{}",
                serde_json::to_string_pretty(&v).expect("plan serialises")
            );
        } else {
            println!("{}codex home: {}", launch.to_text(), home_dir.display());
        }
        return Ok(0);
    }
    let lock_of = |config: &str| {
        let sandbox =
            lock::sandbox_table(launch.backend.name(), &request.policy, &launch.not_enforced);
        Lock::new(&codex_version, config, sandbox)
            .map_err(|e| Failure::refused(format!("the effective config does not parse: {e}")))
    };
    let planned = home::plan(&prep).map_err(|e| undo(e.into()))?;
    if let Some((file, expected)) = &replay {
        let actual = lock_of(&planned.config).map_err(undo)?;
        lock::verify(
            expected,
            &actual,
            file,
            args.lock.allow_codex_version_mismatch,
        )
        .map_err(|e| undo(Failure::refused(e.to_string())))?;
        if finish == Finish::VerifyOnly {
            println!("config lock {} matches", file.display());
            return Ok(0);
        }
    }
    let report = home::write(&prep, planned).map_err(|e| undo(e.into()))?;
    tracing::debug!(changed = report.changed(), home = %report.home.display(), "per-task home prepared");
    if let Some(dir) = &args.lock.export {
        let writable = request.policy.writable_roots();
        let written = write_lock(dir, &writable, &task_id, &lock_of(&report.config)?)?;
        tracing::debug!(lock = %written.display(), "config lock written");
        if finish == Finish::ExportOnly {
            println!("{}", written.display());
            return Ok(0);
        }
    }
    if report.sandbox.setting.mode == "danger-full-access" && launch.backend != Backend::None {
        eprintln!("codex-run: the workspace is enforced by the outer {} sandbox; Codex runs its commands without its own sandbox inside it", launch.backend.name());
    }
    std::env::set_var("CODEX_HOME", &home_dir);
    crate::helper::execute(launch, info_read, info_write)
}

fn read_lock(file: &Path) -> Result<Lock, Failure> {
    let text = std::fs::read(file)
        .map_err(|e| e.to_string())
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

/// Writes `DIR/<task-id>.config.lock.toml` atomically (0600: config values can be sensitive),
/// through `fs`. DIR may lie in a root earlier tasks could write (`writable`, this run's): from
/// there on no symlink is followed.
fn write_lock(
    dir: &Path,
    writable: &[PathBuf],
    task_id: &str,
    lock: &Lock,
) -> Result<PathBuf, Failure> {
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
fn detect_codex_version(codex: Option<&Path>, command: &[OsString], ws: &Path) -> String {
    let program = codex.map(Path::to_path_buf).or_else(|| {
        let first = Path::new(command.first()?);
        if first.file_name()? == "codex" {
            which::which(first).ok()
        } else {
            find_codex(ws).ok()
        }
    });
    let version = program.and_then(|p| {
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
    let (mut prep, _) = task_home(&args.home, &ws, args.network != Network::Off)?;
    let (shared, home_dir) = (prep.shared_home.clone(), prep.home.clone());
    prep.outer = match args.outer_backend {
        Some(BackendRequest::Auto) | None => {
            let sandbox = SandboxOptions {
                sandbox: SandboxMode::WorkspaceWrite,
                network: args.network,
                writable_roots: vec![],
                cwd: Some(ws.clone()),
                permission_profile: None,
                backend: BackendRequest::Auto,
                require_full_isolation: false,
            };
            let request = run_request(&sandbox, &home_dir, &shared, vec!["codex".into()])?;
            plan::plan_launch(
                &request,
                host::probe(&CacheDir::for_policy(&request.policy)),
                None,
            )?
            .backend
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
            serde_json::to_string_pretty(&report).expect("report serialises")
        );
    } else {
        println!("{}", report.home.display());
    }
    Ok(0)
}
