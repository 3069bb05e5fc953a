//! The proxy's port on every other local address. Landlock's port rule admits `anyhost:P`, and
//! Seatbelt's `localhost:P` may name `::1` as well as `127.0.0.1`, so a local service on
//! `127.0.0.2:P`, on one of the host's own addresses or on `[::1]:P` (P being the proxy's
//! ephemeral port on `127.0.0.1`) would be reachable from the sandbox without the proxy. So P is
//! chosen free on every IPv4 address (the kernel picks it for a wildcard bind) and on every IPv6
//! one, and both wildcards are held, never listening and never shared, for as long as the proxy
//! runs: a connection to P anywhere but `127.0.0.1` is refused at once, and no service can take P
//! meanwhile, SO_REUSEADDR or not.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Ephemeral ports tried before giving up (each is taken on IPv6 only by chance).
const ATTEMPTS: usize = 16;

/// Binds `listen`; for an ephemeral port on IPv4 loopback, one free on every local address,
/// with the wildcard holds returned alongside. No IPv6 hold where the host has no IPv6 (nothing
/// can listen there either).
pub fn bind(listen: SocketAddr) -> io::Result<(TcpListener, Vec<OwnedFd>)> {
    if listen.port() != 0 || !listen.ip().is_loopback() || !listen.is_ipv4() {
        return Ok((TcpListener::bind(listen)?, Vec::new()));
    }
    for _ in 0..ATTEMPTS {
        // Picked by the kernel for the IPv4 wildcard: free on every IPv4 address now.
        let v4 = hold(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))?;
        let port = local_port(&v4)?;
        // Shared with our own listener only: std binds listeners with SO_REUSEADDR, and the
        // hold never listens. Taken back at once, so no later bind on the port can share it.
        set_int(&v4, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
        let tcp = TcpListener::bind(SocketAddr::new(listen.ip(), port))?;
        set_int(&v4, libc::SOL_SOCKET, libc::SO_REUSEADDR, 0)?;
        match hold(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port))) {
            Ok(v6) => return Ok((tcp, vec![v4, v6])),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EADDRNOTAVAIL | libc::EAFNOSUPPORT)
                ) =>
            {
                return Ok((tcp, vec![v4]))
            }
            Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no ephemeral port free on every local IPv4 and IPv6 address",
    ))
}

/// A TCP socket bound to `addr` (IPv6 only for an IPv6 address) that does not listen.
fn hold(addr: SocketAddr) -> io::Result<OwnedFd> {
    let family = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket(2); the result is a new descriptor or -1.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is owned by nobody else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let sock = sockaddr(addr);
    if addr.is_ipv6() {
        set_int(&owned, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
    }
    // SAFETY: `sock` is a valid sockaddr of the given length, `fd` an open socket.
    let bound = unsafe {
        libc::bind(
            fd,
            (&sock.0 as *const libc::sockaddr_storage).cast(),
            sock.1,
        )
    };
    if bound != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(owned)
}

fn set_int(
    fd: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: a valid descriptor and a pointer to an int of the given size.
    let set = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if set != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The port a bound socket got.
fn local_port(fd: &OwnedFd) -> io::Result<u16> {
    // SAFETY: an all-zero sockaddr_storage is valid; getsockname fills it.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: a valid descriptor, buffer and length.
    let got = unsafe {
        libc::getsockname(
            fd.as_raw_fd(),
            (&mut storage as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    };
    if got != 0 {
        return Err(io::Error::last_os_error());
    }
    // sin_port and sin6_port sit at the same offset, in network order.
    // SAFETY: the storage holds a sockaddr_in or sockaddr_in6, both starting with family, port.
    let sin = unsafe { &*(&storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
    Ok(u16::from_be(sin.sin_port))
}

/// `addr` as a sockaddr_storage and its length.
fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is valid; the fields are then set.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for a sockaddr_in.
            let sin = unsafe {
                &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
            };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            (
                storage,
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for a sockaddr_in6.
            let sin6 = unsafe {
                &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            (
                storage,
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loud, and a failure under CI, which has IPv6 loopback.
    fn no_ipv6_loopback() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "prerequisite missing under CI: no IPv6 loopback"
        );
        eprintln!("skipped: no IPv6 loopback here");
    }

    #[test]
    fn the_proxy_port_is_held_on_ipv6_loopback_too() {
        if TcpListener::bind("[::1]:0").is_err() {
            no_ipv6_loopback();
            return;
        }
        let proxy = crate::netproxy::start(crate::netproxy::ProxyConfig::new(
            crate::netproxy::NetPolicy::new(),
        ))
        .unwrap();
        let port = proxy.addr.port();
        let taken = TcpListener::bind(("::1", port)).unwrap_err();
        assert_eq!(taken.kind(), io::ErrorKind::AddrInUse, "[::1]:{port}");
        let refused = std::net::TcpStream::connect(("::1", port)).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        drop(proxy);
        // Given back with the proxy.
        TcpListener::bind(("::1", port)).unwrap();
    }

    #[test]
    fn the_proxy_port_is_taken_on_every_other_ipv4_address() {
        let proxy = crate::netproxy::start(crate::netproxy::ProxyConfig::new(
            crate::netproxy::NetPolicy::new(),
        ))
        .unwrap();
        let port = proxy.addr.port();
        // No service can have it anywhere, even one asking to share (std's listeners do);
        // nothing answers but the proxy.
        for ip in ["127.0.0.2", "0.0.0.0"] {
            let held = hold(SocketAddr::new(ip.parse().unwrap(), port)).unwrap_err();
            assert_eq!(held.raw_os_error(), Some(libc::EADDRINUSE), "{ip}:{port}");
            let shared = TcpListener::bind((ip, port)).unwrap_err();
            assert_eq!(shared.kind(), io::ErrorKind::AddrInUse, "{ip}:{port}");
        }
        let refused = std::net::TcpStream::connect(("127.0.0.2", port)).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        std::net::TcpStream::connect(proxy.addr).unwrap();
    }

    #[test]
    fn a_port_whose_twin_is_taken_is_not_used() {
        let Ok(squatter) = TcpListener::bind("[::1]:0") else {
            no_ipv6_loopback();
            return;
        };
        let squatted = squatter.local_addr().unwrap().port();
        // The hold alone: a taken port is reported as such.
        let err = hold(SocketAddr::from((Ipv6Addr::UNSPECIFIED, squatted))).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EADDRINUSE));
        for _ in 0..50 {
            let (tcp, holds) = bind("127.0.0.1:0".parse().unwrap()).unwrap();
            assert_eq!(holds.len(), 2);
            assert_ne!(tcp.local_addr().unwrap().port(), squatted);
        }
    }
}
