//! `codex-launcher explain`: probes the host, walks the ladder and prints the plan a run with the
//! same options would execute, without executing anything.

use crate::cli::ExplainArgs;
use crate::exit::{Failure, Outcome};
use crate::plan::{self, PlanError, SandboxRequest};
use crate::probe::host;

pub fn run(args: ExplainArgs) -> Outcome {
    let request = SandboxRequest::from_options(&args.sandbox, args.command)?;
    match plan::plan_launch(&request, host::probe(), None) {
        Ok(plan) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&plan.to_json()).expect("plan serialises")
                );
            } else {
                print!("{}", plan.to_text());
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
