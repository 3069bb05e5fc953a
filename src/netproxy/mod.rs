//! The launcher's egress proxy (DESIGN §10, issue 16): the only way out of the sandbox's network.
//!
//! Pure parts decide: [`host`] canonicalises a destination, [`policy`] applies allow/deny rules
//! and endpoints, [`guard`] classifies resolved addresses, [`decision`] words refusals,
//! [`env`](mod@env) builds the task's proxy variables. Effectful parts are blocking threads: [`server`] (HTTP
//! CONNECT and absolute-form forwarding on loopback TCP and a unix socket), [`dial`] (resolve once,
//! vet, dial the vetted address), [`relay`] (the bwrap inner stage's TCP→unix hop), [`log`].
//!
//! What an executor does, in order:
//! 1. Build a [`NetPolicy`]: `allow`/`deny` for the user's domains, `allow_endpoint` for exact
//!    `host:port`s such as a custom provider's `127.0.0.1:P` (the only way into loopback or
//!    private space).
//! 2. [`start`] a [`ProxyConfig`] (log path, and `unix_socket` in a private directory for
//!    bwrap) before the sandbox starts; the listeners are bound when it returns.
//! 3. Hand the task [`env::proxy_env`] for the address it will see (bwrap: the relay's
//!    `127.0.0.1:PORT` inside the namespace; Landlock/Seatbelt: `handle.addr`), and allow only
//!    that port in the Landlock ruleset or Seatbelt profile.
//! 4. bwrap inner stage, inside the namespace, before starting the task: [`relay::bind`] then
//!    [`relay::spawn`] towards the bound-in unix socket.
//! 5. When the task exits: [`ProxyHandle::shutdown`] (or drop the handle).

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
mod twin;

pub use decision::{Allowance, Decision, Refusal, RefusalReason, Target};
pub use guard::{classify, AddrClass};
pub use host::{Host, HostError};
pub use policy::{NetPolicy, Rule, RuleError};
pub use resolve::{Resolver, StaticResolver, SystemResolver};
pub use server::{bind, start, Bound, Limits, ProxyConfig, ProxyError, ProxyHandle};
