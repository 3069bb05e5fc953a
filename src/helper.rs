//! `codex-linux-sandbox`: Codex's helper contract (reference codex-linux-sandbox.md §4). Validates the
//! request, resolves the policy, and then either execs the command directly (nothing to isolate on the
//! filesystem), runs the outer bubblewrap stage, or, inside bubblewrap, the inner seccomp stage.

use crate::backend::seccomp::SeccompMode;
use crate::cli::LinuxSandboxArgs;
use crate::exec;
use crate::exit::{Failure, Outcome};
use crate::plan;
use crate::request::{self, SandboxRequest};

/// Runs the helper; returns only when it fails before handing over to the command.
pub fn run(args: LinuxSandboxArgs) -> Outcome {
    let request = request::for_helper(&args)?;
    if args.apply_seccomp_then_exec {
        return inner_stage(&request, args.egress_relay.as_deref());
    }
    plan::sweep_leftovers(&request);
    let plan = plan::plan_here(&request, Vec::new())?;
    tracing::debug!(backend = plan.backend.name(), ladder = ?plan.ladder, "backend chosen");
    exec::exec_plan(&plan)
}

/// The inner stage run by the built-in bubblewrap's own sandbox process where it would exec this
/// binary with `argv` (see `codex_launcher_bwrap::InProcess`): everything an exec would have
/// reset is reset first, then `argv` goes through the same dispatch, with the same exit codes
/// and panics (101), as the exec'd stage's.
pub fn inner_stage_in_process(argv: Vec<std::ffi::OsString>) -> ! {
    crate::exit::drop_launcher_failure_code();
    exec::as_if_exec_d(&argv);
    let code = std::panic::catch_unwind(|| {
        crate::dispatch::run(crate::arg0::Personality::LinuxSandbox, argv)
    })
    .unwrap_or(101);
    std::process::exit(i32::from(code))
}

/// Inside bubblewrap: no capabilities may remain; filter, then run the command as PID 2.
fn inner_stage(request: &SandboxRequest, relay: Option<&str>) -> Outcome {
    // bubblewrap starts the inner stage as the sandbox's PID 1 with no capabilities; anything else
    // means it was started by hand, outside the sandbox it is meant to finish.
    let pid1 = nix::unistd::getpid().as_raw() == 1 || request.inherit_pid_namespace;
    if exec::holds_capabilities() || !pid1 {
        return Err(Failure::refused(
            "the inner stage is not inside bubblewrap's sandbox (it holds capabilities or is not the sandbox's PID 1); --apply-seccomp-then-exec is for the helper's own use",
        ));
    }
    let policy = &request.policy;
    let mut mode =
        SeccompMode::for_policy(policy.network_restricted(), policy.is_full_disk_write());
    if let Some(relay) = relay {
        start_relay(relay)?;
        // The namespace holds nothing but the relay: the command needs TCP to reach it. The
        // relay's threads started before the filter, so its unix socket stays theirs alone.
        mode = Some(SeccompMode::RelayOnly);
    }
    let spec = plan::inner_stage_exec(&request.command, mode);
    exec::exec_spec(&spec).map(|ended| match ended {
        exec::Ended::Exited(code) => code as u8,
        exec::Ended::Signaled(sig) => 128 + sig as u8,
    })
}

/// Binds `127.0.0.1:PORT` in this (the sandbox's) network namespace and relays it to the proxy's
/// socket at PATH, before anything else runs here: a client started first would find nothing.
fn start_relay(spec: &str) -> Result<(), Failure> {
    let bad = || Failure::usage(format!("--egress-relay {spec}: expected PORT=PATH"));
    // The relay's threads run without the command's seccomp filter: no process of the task may
    // attach to this one and borrow them (the command's exec makes it dumpable again).
    nix::sys::prctl::set_dumpable(false).map_err(|e| {
        Failure::refused(format!("egress relay: cannot make PID 1 undumpable: {e}"))
    })?;
    let (port, path) = spec.split_once('=').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let listener = crate::netproxy::relay::bind(port).map_err(|e| {
        Failure::refused(format!(
            "egress relay: cannot listen on 127.0.0.1:{port}: {e}"
        ))
    })?;
    crate::netproxy::relay::spawn(listener, path.into())
        .map_err(|e| Failure::refused(format!("egress relay: cannot start: {e}")))?;
    Ok(())
}
