//! codex-launcher: prepares a per-task Codex home, picks the strongest sandbox the host can enforce,
//! and execs Codex (or any task) under it. See DESIGN.md for the architecture.

pub mod arg0;
pub mod backend;
pub mod cli;
pub mod completions;
pub mod dispatch;
pub mod doctor;
pub mod egress;
pub mod entrypoint;
pub mod exec;
pub mod exit;
pub mod explain;
pub mod fs;
pub mod helper;
pub mod home;
pub mod hostview;
pub mod install;
pub mod json_schema;
pub mod launch;
pub mod licenses;
pub mod lock;
pub mod logging;
pub mod netproxy;
pub mod plan;
pub mod policy;
pub mod probe;
pub mod proc_stat;
pub mod request;
pub mod run;
pub mod select;
pub mod synthetic;
pub mod tasks;
#[cfg(test)]
mod test_skip;
pub mod vendored_bwrap;
