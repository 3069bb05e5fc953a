//! The one executor (DESIGN §2): interprets a [`LaunchPlan`] for every backend and stage. It
//! creates the host files a bubblewrap plan names, registers the mount points bubblewrap will
//! create, then replaces itself with the program, supervises it, or becomes the sandbox's init, as
//! the plan's [`Supervision`] says. Everything it does was decided, and can be printed, beforehand.

pub mod egress;
mod process;
pub mod reap;
mod stdio;
pub mod steps;

pub use process::{
    as_if_exec_d, block, exec_bwrap, exec_failure, exit_like, restore_mask, set_handlers, Ended,
    FORWARDED,
};
pub use steps::holds_capabilities;

use crate::exit::{Failure, Outcome};
use crate::launch::{ExecSpec, Supervision};
use crate::plan::{BackendPlan, LaunchPlan};
use crate::synthetic;

/// Carries out `plan`; returns only when it fails before the command starts.
pub fn exec_plan(plan: &LaunchPlan) -> Outcome {
    exec_plan_then(plan, || {})
}

/// [`exec_plan`], running `after` once a supervised command has ended (and before leaving with its
/// code): the launcher's work that must wait until the sandbox is gone.
pub fn exec_plan_then(plan: &LaunchPlan, after: impl FnOnce()) -> Outcome {
    if matches!(plan.plan, BackendPlan::Seatbelt(_)) && !cfg!(target_os = "macos") {
        return Err(Failure::refused(
            "seatbelt sandbox is only available on macOS",
        ));
    }
    let mut relays = stdio::Relays::default();
    let registration = match &plan.plan {
        BackendPlan::Bwrap { files, bwrap, .. } => {
            relays = stdio::guard()?;
            files.create()?;
            let registration =
                synthetic::register(&files.registry_dir, &bwrap.synthetic).map_err(|e| {
                    Failure::refused(format!(
                        "cannot register mount targets in {}: {e}",
                        files.registry_dir.display()
                    ))
                })?;
            Some(registration)
        }
        _ => None,
    };
    let ended = match &plan.egress {
        None if relays.is_empty() => exec_spec(&plan.exec)?,
        // Relays need the launcher to stay (a bubblewrap plan supervises anyway).
        None => process::supervise_with(&plan.exec, None, relays, || Ok(()))?,
        Some(egress_plan) => {
            let bound = egress::bind(egress_plan)?;
            let spec = crate::plan::spec_with_proxy(plan, bound.addr());
            let dir_fd = bound.socket_dir_fd();
            let mut running = None;
            let ended = process::supervise_with(&spec, dir_fd, relays, || {
                running = Some(bound.serve()?);
                Ok(())
            })?;
            drop(running);
            ended
        }
    };
    if let Some(registration) = registration {
        if let Err(e) = registration.release() {
            tracing::debug!(error = %e, "mount target cleanup failed");
        }
    }
    after();
    exit_like(ended)
}

/// Runs one stage's spec. Returns how a supervised child ended; a replaced or init process never
/// returns on success.
pub fn exec_spec(spec: &ExecSpec) -> Result<Ended, Failure> {
    match spec.supervision {
        Supervision::Replace => replace(spec),
        Supervision::ReplaceUnlessGroupLeader if !process::leads_process_group() => replace(spec),
        Supervision::Supervise | Supervision::ReplaceUnlessGroupLeader => process::supervise(spec),
        Supervision::Init => process::run_as_init(spec),
    }
}

/// Applies the steps here and execs; returns only on failure.
fn replace(spec: &ExecSpec) -> Result<Ended, Failure> {
    steps::apply(&spec.steps, &spec.fds, &[])?;
    Err(process::exec_program(spec))
}
