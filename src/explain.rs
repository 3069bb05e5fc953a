//! `codex-launcher explain` and `codex-run --dry-run`: build the run exactly as `codex-run` would
//! (same request builder, same probes, same plan) and print it instead of executing it.

use crate::cli::{ExplainArgs, LockOptions, RunArgs};
use crate::exit::{Failure, Outcome};
use crate::home::inner_sandbox::{self, Platform, WindowsSandbox};
use crate::home::managed::{self, ManagedConfig};
use crate::home::{self};
use crate::plan::{LaunchPlan, PlanError};
use crate::select::TargetOs;

pub fn run(args: ExplainArgs) -> Outcome {
    let target = match args.home.platform {
        None => TargetOs::host(),
        Some(Platform::Linux) => TargetOs::Linux,
        Some(Platform::Macos) => TargetOs::Macos,
        Some(Platform::Windows) => {
            return Err(Failure::usage(
                "--platform windows: there is no outer sandbox plan for Windows",
            ))
        }
    };
    let run = RunArgs {
        home: args.home,
        sandbox: args.sandbox,
        codex: args.codex,
        dry_run: true,
        json: args.json,
        lock: LockOptions::default(),
        command: args.command,
    };
    match crate::run::plan_run(&run, target) {
        Ok(planned) => {
            print(&planned.launch, args.json);
            Ok(0)
        }
        Err(PlanError::Refused(boxed)) => {
            let (refusal, host) = *boxed;
            if args.json {
                let report = serde_json::json!({
                    "schema_version": crate::json_schema::SCHEMA_VERSION,
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

/// Prints `plan` as `explain` shows it: JSON (the keys the README documents) or a few lines.
pub fn print(plan: &LaunchPlan, json: bool) {
    let inner = inner_layer(plan);
    if json {
        let mut v = plan.to_json();
        v["platform"] = serde_json::json!(plan.target);
        v["codex_home"] = serde_json::json!(plan.codex_home.as_ref().map(|h| h.to_string_lossy()));
        v["inner"] = inner;
        v["schema_version"] = serde_json::json!(crate::json_schema::SCHEMA_VERSION);
        println!(
            "{}",
            serde_json::to_string_pretty(&v).expect("plan serialises")
        );
    } else {
        print!("{}", plan.to_text());
        if let Some(home) = &plan.codex_home {
            println!("codex home: {}", home.display());
        }
        println!(
            "inner (Codex): {} ({})",
            inner["sandbox"]["mode"].as_str().unwrap_or("?"),
            inner["reason"].as_str().unwrap_or("")
        );
    }
}

/// The second layer (DESIGN §4): what the per-task config tells Codex inside this outer sandbox,
/// and the managed blocks `codex-run` would write for it.
fn inner_layer(plan: &LaunchPlan) -> serde_json::Value {
    let platform = match plan.target {
        TargetOs::Linux => Platform::Linux,
        TargetOs::Macos => Platform::Macos,
    };
    let decision = inner_sandbox::decide(
        plan.backend,
        plan.network_on,
        platform,
        None,
        WindowsSandbox::Absent,
    );
    let mut decision = decision;
    if plan
        .egress
        .as_ref()
        .is_some_and(|e| e.egress.user_allowed_any())
    {
        // As `codex-run` writes it: allowed destinations give the commands the proxy.
        if let Some(access) = decision.setting.network_access.as_mut() {
            *access = true;
        }
    }
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
