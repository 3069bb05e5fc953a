//! The launcher's egress proxy (DESIGN §10, issue 16): the only way out of the sandbox's network.
//!
//! Pure parts decide: [`host`] canonicalises a destination, [`policy`] applies allow/deny rules
//! and endpoints, [`guard`] classifies resolved addresses, [`decision`] words refusals, [`env`]
//! builds the task's proxy variables. Effectful parts are blocking threads: [`server`] (HTTP
//! CONNECT and absolute-form forwarding on loopback TCP and a unix socket), [`dial`] (resolve once,
//! vet, dial the vetted address), [`relay`] (the bwrap inner stage's TCP→unix hop), [`log`].

pub mod decision;
pub mod guard;
pub mod host;
pub mod policy;

pub use decision::{Allowance, Decision, Refusal, RefusalReason, Target};
pub use guard::{classify, AddrClass};
pub use host::{Host, HostError};
pub use policy::{NetPolicy, Rule, RuleError};
