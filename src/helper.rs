//! `codex-linux-sandbox`: Codex's helper contract (reference codex-linux-sandbox.md §4). Validates the
//! request, resolves the policy, and then either execs the command directly (nothing to isolate on the
//! filesystem), runs the outer bubblewrap stage, or, inside bubblewrap, the inner seccomp stage.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::backend::bwrap::{self, BwrapOptions};
use crate::backend::seccomp::{self, SeccompMode};
use crate::cli::LinuxSandboxArgs;
use crate::exec;
use crate::exit::{Failure, Outcome};
use crate::policy::glob_scan;
use crate::policy::{FileSystem, PermissionProfile, Policy, ResolveContext};
use crate::probe::bwrap as bwrap_probe;
use crate::probe::proc_mount;
use crate::synthetic;

/// A validated helper request.
struct Request {
    profile: PermissionProfile,
    policy: Policy,
    policy_cwd: PathBuf,
    command_cwd: Option<PathBuf>,
    command: Vec<OsString>,
}

/// Runs the helper; returns only when it fails before handing over to the command.
pub fn run(args: LinuxSandboxArgs) -> Outcome {
    let request = validate(&args)?;
    if args.apply_seccomp_then_exec {
        inner_stage(&request)
    } else if request.policy.is_full_disk_write() {
        direct(&request)
    } else if args.use_legacy_landlock {
        Err(Failure::refused(
            "--use-legacy-landlock with a filesystem-restricted profile needs the Landlock backend, which is not built yet (issue 4)",
        ))
    } else {
        outer_stage(&request, &args)
    }
}

fn validate(args: &LinuxSandboxArgs) -> Result<Request, Failure> {
    if args.command.is_empty() {
        return Err(Failure::usage(
            "no command given: put the command after `--`",
        ));
    }
    if args.managed_network.is_some() {
        return Err(Failure::usage(
            "--managed-network (managed network proxy mode) is not supported",
        ));
    }
    if !args.verify_fd_mount.is_empty() {
        return Err(Failure::usage("--verify-fd-mount is only meaningful for descriptor mounts, which this helper never creates"));
    }
    if args.apply_seccomp_then_exec && args.use_legacy_landlock {
        return Err(Failure::usage(
            "--apply-seccomp-then-exec cannot be combined with --use-legacy-landlock",
        ));
    }
    let json = args
        .permission_profile
        .as_deref()
        .ok_or_else(|| Failure::usage("missing --permission-profile JSON"))?;
    let profile = PermissionProfile::parse(json)
        .map_err(|e| Failure::usage(format!("--permission-profile: {e}")))?;
    let policy_cwd = absolute(&args.sandbox_policy_cwd)?;
    if !policy_cwd.is_dir() {
        return Err(Failure::usage(format!(
            "--sandbox-policy-cwd {}: not an existing directory",
            args.sandbox_policy_cwd.display()
        )));
    }
    let ctx = ResolveContext {
        policy_cwd: policy_cwd.clone(),
        tmpdir: std::env::var_os("TMPDIR").map(PathBuf::from),
    };
    let policy = Policy::resolve(&profile, &ctx);
    Ok(Request {
        profile,
        policy,
        policy_cwd,
        command_cwd: args.command_cwd.clone(),
        command: args.command.clone(),
    })
}

fn absolute(path: &Path) -> Result<PathBuf, Failure> {
    if path.as_os_str().is_empty() {
        return Err(Failure::usage("--sandbox-policy-cwd must not be empty"));
    }
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    let cwd = std::env::current_dir()
        .map_err(|e| Failure::refused(format!("cannot read the current directory: {e}")))?;
    Ok(crate::policy::resolve::normalize(&cwd.join(path)))
}

fn seccomp_mode(policy: &Policy) -> Option<SeccompMode> {
    SeccompMode::for_policy(policy.network_restricted(), policy.is_full_disk_write())
}

fn install_seccomp(mode: Option<SeccompMode>) -> Result<(), Failure> {
    if let Some(mode) = mode {
        let program = seccomp::build(mode).map_err(|e| Failure::refused(e.to_string()))?;
        seccomp::install(&program).map_err(|e| Failure::refused(e.to_string()))?;
    }
    Ok(())
}

/// Whole disk writable: no bubblewrap; only the network filter, then exec in place (reference §4).
fn direct(request: &Request) -> Outcome {
    install_seccomp(seccomp_mode(&request.policy))?;
    Err(exec::exec_command(&request.command))
}

/// Inside bubblewrap: no capabilities may remain; filter, then run the command as PID 2.
fn inner_stage(request: &Request) -> Outcome {
    if exec::holds_capabilities() {
        return Err(Failure::refused(
            "the inner stage still holds capabilities, so it is not inside the sandbox; --apply-seccomp-then-exec is for the helper's own use",
        ));
    }
    install_seccomp(seccomp_mode(&request.policy))?;
    exec::run_as_init(&request.command)
}

/// The system temp dir as Codex's helper sees it: `$TMPDIR` when set, else `/tmp`.
fn temp_dir() -> Result<PathBuf, Failure> {
    match std::env::var_os("TMPDIR").filter(|t| !t.is_empty()) {
        None => Ok(PathBuf::from("/tmp")),
        Some(t) => {
            let path = PathBuf::from(&t);
            if path.is_absolute() && path.is_dir() {
                Ok(path)
            } else {
                Err(Failure::refused(format!(
                    "TMPDIR={}: must be an absolute, existing directory",
                    path.display()
                )))
            }
        }
    }
}

/// The program bubblewrap starts inside: this binary, as `codex-linux-sandbox` either by `--argv0`
/// or, for an old bwrap without it, by the `linux-sandbox` subcommand.
fn inner_argv(request: &Request, supports_argv0: bool) -> Result<Vec<OsString>, Failure> {
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| Failure::refused(format!("cannot locate this executable: {e}")))?;
    let mut argv: Vec<OsString> = vec![exe.clone().into()];
    let named_helper = exe.file_name().is_some_and(|n| n == "codex-linux-sandbox");
    if !supports_argv0 && !named_helper {
        argv.push("linux-sandbox".into());
    }
    argv.push("--sandbox-policy-cwd".into());
    argv.push(request.policy_cwd.clone().into());
    if let Some(cc) = &request.command_cwd {
        argv.push("--command-cwd".into());
        argv.push(cc.clone().into());
    }
    argv.push("--permission-profile".into());
    argv.push(request.profile.to_canonical_json().into());
    argv.push("--apply-seccomp-then-exec".into());
    argv.push("--".into());
    argv.extend(request.command.iter().cloned());
    Ok(argv)
}

fn outer_stage(request: &Request, args: &LinuxSandboxArgs) -> Outcome {
    let FileSystem::Restricted(rules) = &request.policy.file_system else {
        unreachable!("unrestricted filesystems never reach the bubblewrap stage")
    };
    let temp = temp_dir()?;
    let uid = nix::unistd::getuid().as_raw();
    let daemon_dir = PathBuf::from(format!("/tmp/codex-daemon-{uid}"));
    let registry_dir = synthetic::registry_dir(&temp, uid);

    let mut deny_matches = Vec::new();
    for pattern in &rules.deny_globs {
        deny_matches.extend(
            glob_scan::expand(pattern, rules.glob_scan_max_depth)
                .map_err(|e| Failure::refused(e.to_string()))?,
        );
    }
    let writable = bwrap::writable_roots(rules).map_err(|e| Failure::refused(e.to_string()))?;
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let preference = bwrap_probe::Preference::from_env().map_err(Failure::usage)?;
    let choice = bwrap_probe::choose(preference, &cwd, &writable).map_err(Failure::refused)?;
    tracing::debug!(launcher = ?choice.launcher, reason = %choice.reason, "bubblewrap chosen");
    let unshare_net = request.policy.network_restricted();
    let mount_proc = !args.no_proc
        && !args.inherit_pid_namespace
        && proc_mount::proc_mount_allowed(&choice.launcher, unshare_net);

    let (info_read, info_write) =
        exec::info_pipe().map_err(|e| Failure::refused(format!("cannot create a pipe: {e}")))?;
    let options = BwrapOptions {
        policy_cwd: request.policy_cwd.clone(),
        command_cwd: request.command_cwd.clone(),
        inherit_pid_namespace: args.inherit_pid_namespace,
        mount_proc,
        unshare_net,
        supports_argv0: choice.launcher.supports_argv0(),
        daemon_dir: daemon_dir.clone(),
        registry_dir: registry_dir.clone(),
        denied_file: registry_dir.join("denied-placeholder"),
        empty_file: registry_dir.join("empty-placeholder"),
        info_fd: Some(exec::raw(&info_write)),
        inner: inner_argv(request, choice.launcher.supports_argv0())?,
    };
    let plan = bwrap::plan(rules, writable, &deny_matches, &options)
        .map_err(|e| Failure::refused(e.to_string()))?;

    // Effects start here, once the request is known to be enforceable.
    create_private_dir(&daemon_dir)?;
    create_private_dir(&registry_dir)?;
    create_placeholder(&options.denied_file, 0o000)?;
    create_placeholder(&options.empty_file, 0o444)?;
    let registration = synthetic::register(&registry_dir, &plan.synthetic).map_err(|e| {
        Failure::refused(format!(
            "cannot register mount targets in {}: {e}",
            registry_dir.display()
        ))
    })?;
    let ended = exec::supervise_bwrap(
        &choice.launcher,
        &plan.args,
        vec![info_write],
        Some(info_read),
    );
    if let Err(e) = registration.release() {
        tracing::debug!(error = %e, "mount target cleanup failed");
    }
    exec::exit_like(ended)
}

/// `mkdir` with mode 0700. An existing one must be a real directory owned by us: these live in the
/// shared `/tmp`, where another user could have planted one.
fn create_private_dir(path: &Path) -> Result<(), Failure> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    match std::fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let meta = std::fs::symlink_metadata(path)
                .map_err(|e| Failure::refused(format!("cannot inspect {}: {e}", path.display())))?;
            if meta.is_dir() && meta.uid() == nix::unistd::getuid().as_raw() {
                Ok(())
            } else {
                Err(Failure::refused(format!(
                    "{} exists but is not a directory owned by this user; remove it and retry",
                    path.display()
                )))
            }
        }
        Err(e) => Err(Failure::refused(format!(
            "cannot create {}: {e}",
            path.display()
        ))),
    }
}

/// An empty placeholder file with exactly `mode`, in our private registry dir.
fn create_placeholder(path: &Path, mode: u32) -> Result<(), Failure> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
    let fail =
        |e: std::io::Error| Failure::refused(format!("cannot prepare {}: {e}", path.display()));
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() && meta.len() == 0 && meta.mode() & 0o7777 == mode => {
            return Ok(())
        }
        Ok(_) => std::fs::remove_file(path).map_err(fail)?,
        Err(_) => {}
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(fail)?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(fail)
}
