//! How a destination is spelled, reduced to one canonical form before any rule or guard sees it.
//!
//! Clients and URL parsers accept many spellings of one address (`127.1`, `2130706433`,
//! `0x7f.0.0.1`, `[::ffff:127.0.0.1]`, `EXAMPLE.com.`). If the policy compared strings, a deny
//! rule or the address guard could be dodged by respelling (reference network-proxy.md §5). So every
//! host is parsed once, the way the WHATWG URL standard (and thus browsers, curl and Node) read it,
//! and only the canonical [`Host`] is matched, logged and dialled.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A destination host in canonical form: a lowercase DNS name without trailing dot, or an IP.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A DNS name: lowercase ASCII labels of `[a-z0-9_-]`, no trailing dot, never all-numeric last
    /// label (that would be an IPv4 spelling).
    Name(String),
    /// An IP literal; IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is stored as the IPv4 it reaches.
    Ip(IpAddr),
}

/// Why a host, port or authority could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("invalid host {0:?}: not a DNS name or IP address")]
    Invalid(String),
    #[error("invalid port in {0:?}: expected a number from 1 to 65535")]
    Port(String),
    #[error("missing port in {0:?}: expected host:port")]
    MissingPort(String),
}

/// A DNS name is at most 253 characters; a label at most 63 (RFC 1035).
const MAX_NAME: usize = 253;
const MAX_LABEL: usize = 63;

impl Host {
    /// Parses a host without port: a name, an IPv4 in any inet_aton spelling, or an IPv6 literal
    /// (bracketed or not). Zone ids (`fe80::1%eth0`) and non-ASCII names are refused: clients send
    /// IDNs as punycode, and a zone id has no meaning to a proxy.
    pub fn parse(input: &str) -> Result<Host, HostError> {
        let invalid = || HostError::Invalid(input.to_string());
        if let Some(inner) = input.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or_else(invalid)?;
            return inner
                .parse::<Ipv6Addr>()
                .map(canonical_v6)
                .map_err(|_| invalid());
        }
        if input.contains(':') {
            return input
                .parse::<Ipv6Addr>()
                .map(canonical_v6)
                .map_err(|_| invalid());
        }
        let lower = input.to_ascii_lowercase();
        // One trailing dot names the same host (the DNS root); more than one is not a host.
        let name = lower.strip_suffix('.').unwrap_or(&lower);
        if name.is_empty() || name.len() > MAX_NAME {
            return Err(invalid());
        }
        let labels: Vec<&str> = name.split('.').collect();
        if ends_in_a_number(&labels) {
            // WHATWG: a host whose last label is numeric is an IPv4 address or nothing at all,
            // so `1.2.3.256` is refused rather than sent to a resolver as a name.
            return parse_ipv4_loose(&labels)
                .map(|v4| Host::Ip(IpAddr::V4(v4)))
                .ok_or_else(invalid);
        }
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= MAX_LABEL
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        };
        if !labels.iter().all(label_ok) {
            return Err(invalid());
        }
        Ok(Host::Name(name.to_string()))
    }

    /// The IP, if this host is a literal.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Ip(ip) => Some(*ip),
            Host::Name(_) => None,
        }
    }
}

impl fmt::Display for Host {
    /// The canonical spelling, bracketed for IPv6 so that `host:port` stays unambiguous.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(name) => f.write_str(name),
            Host::Ip(IpAddr::V4(v4)) => write!(f, "{v4}"),
            Host::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]"),
        }
    }
}

/// Parses `host:port` (CONNECT's authority-form). IPv6 must be bracketed.
pub fn parse_authority(input: &str) -> Result<(Host, u16), HostError> {
    match split_port(input)? {
        (host, Some(port)) => Ok((Host::parse(host)?, port)),
        (_, None) => Err(HostError::MissingPort(input.to_string())),
    }
}

/// Parses `host[:port]`, using `default_port` when none is given (a URL's authority).
pub fn parse_authority_or(input: &str, default_port: u16) -> Result<(Host, u16), HostError> {
    let (host, port) = split_port(input)?;
    Ok((Host::parse(host)?, port.unwrap_or(default_port)))
}

/// Splits an optional `:port` off; an unbracketed host may not contain `:` (bare IPv6 is
/// ambiguous with a port).
pub(crate) fn split_port(input: &str) -> Result<(&str, Option<u16>), HostError> {
    let (host, port) = if input.starts_with('[') {
        let end = input
            .find(']')
            .ok_or_else(|| HostError::Invalid(input.to_string()))?;
        let (host, rest) = input.split_at(end + 1);
        match rest {
            "" => (host, None),
            _ => match rest.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(HostError::Invalid(input.to_string())),
            },
        }
    } else {
        match input.split_once(':') {
            Some((host, port)) if !port.contains(':') => (host, Some(port)),
            Some(_) => return Err(HostError::Invalid(input.to_string())),
            None => (input, None),
        }
    };
    let port = port.map(|p| parse_port(p).ok_or_else(|| HostError::Port(input.to_string())));
    Ok((host, port.transpose()?))
}

/// A decimal port, 1..=65535, digits only (no sign, no spaces).
fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u16>().ok().filter(|p| *p != 0)
}

/// `::ffff:a.b.c.d` reaches a.b.c.d on a dual-stack socket, so it is that IPv4 address.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn canonical_v6(v6: Ipv6Addr) -> Host {
    Host::Ip(canonical_ip(IpAddr::V6(v6)))
}

/// WHATWG "ends in a number": the last label is all digits or parses as a 0x number.
fn ends_in_a_number(labels: &[&str]) -> bool {
    let Some(last) = labels.last() else {
        return false;
    };
    if !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    parse_ipv4_number(last).is_some() && (last.starts_with("0x") || last.starts_with("0X"))
}

/// The WHATWG IPv4 parser (the inet_aton grammar): 1 to 4 parts, each decimal, `0x` hex or
/// leading-zero octal; the last part fills the remaining bytes (`127.1` = 127.0.0.1,
/// `2130706433` = 127.0.0.1).
fn parse_ipv4_loose(labels: &[&str]) -> Option<Ipv4Addr> {
    if labels.is_empty() || labels.len() > 4 {
        return None;
    }
    let numbers: Vec<u64> = labels
        .iter()
        .map(|l| parse_ipv4_number(l))
        .collect::<Option<_>>()?;
    let (last, init) = numbers.split_last()?;
    if init.iter().any(|n| *n > 255) {
        return None;
    }
    let rest_bits = 8 * (4 - init.len() as u32);
    if *last >= 1u64 << rest_bits {
        return None;
    }
    let mut value = *last;
    for (i, n) in init.iter().enumerate() {
        value += n << (24 - 8 * i as u32);
    }
    Some(Ipv4Addr::from(u32::try_from(value).ok()?))
}

/// One IPv4 part. Values past u32 are refused early so `0x` followed by 40 digits cannot overflow.
fn parse_ipv4_number(part: &str) -> Option<u64> {
    if part.is_empty() {
        return None;
    }
    let (digits, radix) =
        if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            (hex, 16)
        } else if part.len() > 1 && part.starts_with('0') {
            (&part[1..], 8)
        } else {
            (part, 10)
        };
    if digits.is_empty() {
        return Some(0);
    }
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let trimmed = digits.trim_start_matches('0');
    if trimmed.len() > 11 {
        return None;
    }
    u64::from_str_radix(if trimmed.is_empty() { "0" } else { trimmed }, radix).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Host {
        Host::Ip(s.parse().unwrap())
    }

    #[test]
    fn every_spelling_of_loopback_is_one_address() {
        for spelling in [
            "127.0.0.1",
            "127.1",
            "127.0.1",
            "2130706433",
            "0x7f000001",
            "0x7f.0.0.1",
            "0X7F.1",
            "017700000001",
            "0177.0.0.1",
            "127.0.0.1.",
            "[::ffff:127.0.0.1]",
            "[::ffff:7f00:1]",
            "::ffff:127.0.0.1",
        ] {
            assert_eq!(Host::parse(spelling), Ok(ip("127.0.0.1")), "{spelling}");
        }
    }

    #[test]
    fn metadata_address_spellings_are_canonical() {
        for spelling in [
            "169.254.169.254",
            "2852039166",
            "0xa9fea9fe",
            "0251.0376.0251.0376",
        ] {
            assert_eq!(
                Host::parse(spelling),
                Ok(ip("169.254.169.254")),
                "{spelling}"
            );
        }
        assert_eq!(Host::parse("0"), Ok(ip("0.0.0.0")));
        assert_eq!(Host::parse("0x"), Ok(ip("0.0.0.0")));
    }

    #[test]
    fn names_are_lowercased_without_trailing_dot() {
        assert_eq!(
            Host::parse("Api.OpenAI.com."),
            Ok(Host::Name("api.openai.com".into()))
        );
        assert_eq!(
            Host::parse("a_b-c.test"),
            Ok(Host::Name("a_b-c.test".into()))
        );
        assert_eq!(
            Host::parse("1.2.3.example"),
            Ok(Host::Name("1.2.3.example".into()))
        );
    }

    #[test]
    fn malformed_hosts_are_refused_not_resolved() {
        for bad in [
            "",
            ".",
            "a..b",
            "example.com..",
            "1.2.3.256",
            "1.2.3.4.5",
            "256.1.1.1",
            "0x1g.1.1.1",
            "09.1.1.1",
            "exa mple.com",
            "exam\0ple.com",
            "exämple.com",
            "[::1",
            "[fe80::1%eth0]",
            "fe80::1%25eth0",
            "host/path",
            "user@host",
            "0x100000000",
        ] {
            assert!(Host::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn authorities_split_host_and_port() {
        assert_eq!(
            parse_authority("example.com:443"),
            Ok((Host::Name("example.com".into()), 443))
        );
        assert_eq!(parse_authority("[::1]:8080"), Ok((ip("::1"), 8080)));
        assert_eq!(
            parse_authority_or("example.com", 80),
            Ok((Host::Name("example.com".into()), 80))
        );
        assert!(matches!(
            parse_authority("example.com"),
            Err(HostError::MissingPort(_))
        ));
        for bad in [
            "example.com:0",
            "example.com:65536",
            "example.com:+80",
            "example.com: 80",
            "::1:80",
            "[::1]80",
            "example.com:",
        ] {
            assert!(parse_authority(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn display_round_trips_the_canonical_form() {
        for s in ["example.com", "127.0.0.1", "[::1]", "[2001:db8::1]"] {
            assert_eq!(Host::parse(s).unwrap().to_string(), s);
        }
    }
}
