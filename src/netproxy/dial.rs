//! From a canonical target to a connected socket: decide, resolve once, vet, dial the vetted
//! address. The address that was checked is the address that is dialled, so a resolver that
//! answers differently the second time (DNS rebinding) never gets a second time.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use super::decision::{Allowance, Decision, Refusal, RefusalReason, Target};
use super::host::Host;
use super::local_addrs::this_host_addresses;
use super::policy::NetPolicy;
use super::resolve::Resolver;

/// Why no upstream connection was made.
#[derive(Debug)]
pub enum DialError {
    /// The policy or the address guard refused (or the name did not resolve).
    Refused(Refusal),
    /// Every vetted address failed to connect; the last error.
    Connect(io::Error),
}

/// A connection made on the policy's behalf.
#[derive(Debug)]
pub struct Dialed {
    pub stream: TcpStream,
    /// The vetted address that answered.
    pub addr: SocketAddr,
    pub allowance: Allowance,
}

/// Decides on `target`, resolves it only if allowed, vets the answer and connects to the first
/// vetted address that accepts within `connect_timeout`.
pub fn dial(
    policy: &NetPolicy,
    resolver: &dyn Resolver,
    target: &Target,
    connect_timeout: Duration,
) -> Result<Dialed, DialError> {
    let allowance = match policy.decide(target) {
        Decision::Allowed(allowance) => allowance,
        Decision::Refused(refusal) => return Err(DialError::Refused(refusal)),
    };
    let answers: Vec<IpAddr> = match &target.host {
        Host::Ip(ip) => vec![*ip],
        Host::Name(name) => resolver.resolve(name).map_err(|e| {
            DialError::Refused(Refusal::new(
                target,
                RefusalReason::Unresolvable {
                    detail: e.to_string(),
                },
            ))
        })?,
    };
    let vetted = policy
        .vet(target, &allowance, &answers, &this_host_addresses())
        .map_err(DialError::Refused)?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for addr in vetted {
        match TcpStream::connect_timeout(&addr, connect_timeout) {
            Ok(stream) => {
                return Ok(Dialed {
                    stream,
                    addr,
                    allowance,
                })
            }
            Err(e) => last = e,
        }
    }
    Err(DialError::Connect(last))
}
