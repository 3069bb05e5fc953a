//! The launcher's egress proxy (DESIGN §10, issue 16): the only way out of the sandbox's network.
//!
//! Pure parts decide: [`host`] canonicalises a destination, [`policy`] applies allow/deny rules
//! and endpoints, [`guard`] classifies resolved addresses, [`decision`] words refusals, [`env`]
//! builds the task's proxy variables. Effectful parts are blocking threads: [`server`] (HTTP
//! CONNECT and absolute-form forwarding on loopback TCP and a unix socket), [`dial`] (resolve once,
//! vet, dial the vetted address), [`relay`] (the bwrap inner stage's TCP→unix hop), [`log`].

pub mod conn;
pub mod decision;
pub mod dial;
pub mod env;
pub mod guard;
pub mod host;
pub mod http;
pub mod local_addrs;
pub mod log;
pub mod policy;
pub mod relay;
pub mod resolve;
pub mod server;
mod session;
pub mod splice;

pub use decision::{Allowance, Decision, Refusal, RefusalReason, Target};
pub use guard::{classify, AddrClass};
pub use host::{Host, HostError};
pub use policy::{NetPolicy, Rule, RuleError};
pub use resolve::{Resolver, StaticResolver, SystemResolver};
pub use server::{start, Limits, ProxyConfig, ProxyError, ProxyHandle};
