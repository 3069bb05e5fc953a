//! Name resolution behind a trait, so tests can answer for names like `allowed.test` without a
//! DNS server and without weakening the guard: whatever a resolver answers is still vetted by
//! `NetPolicy::vet`, so mapping a name to 127.0.0.1 only works where the test also allowed the
//! exact `127.0.0.1:port` endpoint.

use std::collections::HashMap;
use std::io::{self, ErrorKind};
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// Turns an allowed, canonical DNS name into addresses. Only ever called after the policy has
/// allowed the name (a query for a refused name would leak it).
pub trait Resolver: Send + Sync {
    fn resolve(&self, name: &str) -> io::Result<Vec<IpAddr>>;
}

/// The host's resolver (`getaddrinfo`), bounded by a timeout.
#[derive(Debug, Clone)]
pub struct SystemResolver {
    pub timeout: Duration,
}

impl Default for SystemResolver {
    fn default() -> SystemResolver {
        SystemResolver {
            timeout: Duration::from_secs(5),
        }
    }
}

impl Resolver for SystemResolver {
    fn resolve(&self, name: &str) -> io::Result<Vec<IpAddr>> {
        // getaddrinfo has no timeout of its own; a stuck lookup is abandoned to its thread
        // rather than holding the client's connection (and a connection slot) indefinitely.
        let (tx, rx) = mpsc::channel();
        let owned = name.to_string();
        thread::Builder::new()
            .name("netproxy-resolve".into())
            .spawn(move || {
                let answer = (owned.as_str(), 0u16)
                    .to_socket_addrs()
                    .map(|addrs| addrs.map(|a| a.ip()).collect::<Vec<_>>());
                let _ = tx.send(answer);
            })?;
        let mut addrs = match rx.recv_timeout(self.timeout) {
            Ok(answer) => answer?,
            Err(_) => return Err(io::Error::new(ErrorKind::TimedOut, "lookup timed out")),
        };
        // getaddrinfo lists an address once per socket type; keep the first of each.
        let mut seen = Vec::with_capacity(addrs.len());
        addrs.retain(|ip| {
            let fresh = !seen.contains(ip);
            seen.push(*ip);
            fresh
        });
        Ok(addrs)
    }
}

/// A fixed name → addresses table; unknown names fail as "not found". For tests and for a
/// launcher test mode that maps test names to loopback listeners.
#[derive(Debug, Clone, Default)]
pub struct StaticResolver {
    table: HashMap<String, Vec<IpAddr>>,
}

impl StaticResolver {
    pub fn new() -> StaticResolver {
        StaticResolver::default()
    }

    /// Answers `name` (lowercase, no trailing dot) with `addrs`.
    pub fn with(mut self, name: &str, addrs: &[IpAddr]) -> StaticResolver {
        self.table.insert(name.to_ascii_lowercase(), addrs.to_vec());
        self
    }
}

impl Resolver for StaticResolver {
    fn resolve(&self, name: &str) -> io::Result<Vec<IpAddr>> {
        self.table
            .get(name)
            .cloned()
            .ok_or_else(|| io::Error::new(ErrorKind::NotFound, "no such name"))
    }
}
