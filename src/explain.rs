//! `codex-launcher explain`: probes the host, walks the ladder and prints the plan a run with the
//! same options would execute, without executing anything.

use crate::cli::ExplainArgs;
use crate::exit::{Failure, Outcome};
use crate::home::inner_sandbox::{self, Platform, WindowsSandbox};
use crate::home::managed::{self, ManagedConfig};
use crate::home::{self};
use crate::plan::{self, PlanError, SandboxRequest};
use crate::policy::modes::Network;
use crate::probe::cache::CacheDir;
use crate::probe::host;
use crate::select::TargetOs;

pub fn run(args: ExplainArgs) -> Outcome {
    let mut request = SandboxRequest::from_options(&args.sandbox, args.command)?;
    if let Some(target) = args.platform {
        request.target = target;
    }
    match plan::plan_launch(
        &request,
        host::probe(&CacheDir::for_policy(&request.policy)),
        None,
    ) {
        Ok(plan) => {
            let inner = inner_layer(&plan, &args.sandbox, request.target);
            if args.json {
                let mut v = plan.to_json();
                v["platform"] = serde_json::json!(request.target);
                v["inner"] = inner;
                println!(
                    "{}",
                    serde_json::to_string_pretty(&v).expect("plan serialises")
                );
            } else {
                print!("{}", plan.to_text());
                println!(
                    "inner (Codex): {} ({})",
                    inner["sandbox"]["mode"].as_str().unwrap_or("?"),
                    inner["reason"].as_str().unwrap_or("")
                );
            }
            Ok(0)
        }
        Err(PlanError::Refused(boxed)) => {
            let (refusal, host) = *boxed;
            if args.json {
                let report = serde_json::json!({
                    "backend": null,
                    "refused": refusal.reason,
                    "ladder": refusal.ladder,
                    "plan": null,
                    "not_enforced": [],
                    "host": host,
                });
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("report serialises")
                );
            }
            Err(Failure::refused(refusal.reason))
        }
        Err(PlanError::Failed(f)) => Err(f),
    }
}

/// The second layer (DESIGN §4): what the per-task config tells Codex inside this outer sandbox,
/// and the managed blocks `codex-run` would write for it.
fn inner_layer(
    plan: &crate::plan::LaunchPlan,
    opts: &crate::cli::SandboxOptions,
    target: TargetOs,
) -> serde_json::Value {
    let platform = match target {
        TargetOs::Linux => Platform::Linux,
        TargetOs::Macos => Platform::Macos,
    };
    let decision = inner_sandbox::decide(
        plan.backend,
        opts.network != Network::Off,
        platform,
        None,
        WindowsSandbox::Absent,
    );
    let managed = ManagedConfig {
        sandbox: decision.setting.clone(),
        multi_agent: !home::opted_out("CODEX_RUN_MULTI_AGENT"),
        memory: !home::opted_out("CODEX_RUN_MEMORY"),
    };
    let text = managed::apply("", &managed).unwrap_or_else(|e| format!("# {e}"));
    serde_json::json!({
        "sandbox": decision.setting,
        "reason": decision.reason,
        "hint": decision.hint,
        "managed_config": text,
    })
}
