//! Which IP addresses a sandboxed task may reach without naming them: public unicast only.
//!
//! A name on the allow list can still resolve to 127.0.0.1, 10.0.0.5 or 169.254.169.254 (DNS
//! rebinding, a stale internal record, a wildcard under an attacker's zone). The proxy checks
//! every resolved address with [`classify`] and refuses the whole answer when any is non-public,
//! unless the caller allowed that exact `address:port` (see `policy::NetPolicy::allow_endpoint`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What kind of address an IP is, as far as egress is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddrClass {
    /// Globally routable unicast: the only class reachable without an explicit endpoint.
    Public,
    /// 0.0.0.0/8, `::` (connecting to 0.0.0.0 reaches this host's listeners).
    Unspecified,
    /// 127.0.0.0/8, `::1`: this host's services.
    Loopback,
    /// RFC 1918 10/8, 172.16/12, 192.168/16, and IPv6 unique-local fc00::/7 (and the deprecated
    /// site-local fec0::/10).
    Private,
    /// 100.64.0.0/10, carrier-grade NAT (also Tailscale's range).
    SharedAddressSpace,
    /// 169.254.0.0/16 and fe80::/10, including the cloud metadata address 169.254.169.254.
    LinkLocal,
    /// Cloud metadata endpoints outside link-local (Azure 168.63.129.16, AWS fd00:ec2::254,
    /// Alibaba 100.100.100.200, Oracle 192.0.0.192).
    Metadata,
    /// 224.0.0.0/4, ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// 198.18.0.0/15 (also where fake-IP DNS resolvers like Clash answer).
    Benchmarking,
    /// TEST-NET-1/2/3, 2001:db8::/32, 3fff::/20.
    Documentation,
    /// An otherwise public address configured on one of this host's interfaces (see
    /// `local_addrs`): it reaches this machine's services like loopback does.
    ThisHost,
    /// Everything else special-purpose: 192.0.0.0/24, 192.88.99.0/24, 240/4, 100::/64,
    /// 2001::/23, 64:ff9b:1::/48.
    Reserved,
}

impl AddrClass {
    /// Short stable words for refusal bodies and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            AddrClass::Public => "public",
            AddrClass::Unspecified => "unspecified",
            AddrClass::Loopback => "loopback",
            AddrClass::Private => "private",
            AddrClass::SharedAddressSpace => "shared-address-space",
            AddrClass::LinkLocal => "link-local",
            AddrClass::Metadata => "cloud-metadata",
            AddrClass::Multicast => "multicast",
            AddrClass::Broadcast => "broadcast",
            AddrClass::Benchmarking => "benchmarking",
            AddrClass::Documentation => "documentation",
            AddrClass::ThisHost => "this-host",
            AddrClass::Reserved => "reserved",
        }
    }
}

impl fmt::Display for AddrClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Classifies an address. IPv6 forms that carry an IPv4 address to a v4 host (mapped,
/// compatible, NAT64 64:ff9b::/96, 6to4 2002::/16) are judged by that IPv4 address, so
/// `[::ffff:169.254.169.254]` or `[64:ff9b::7f00:1]` are no way around the v4 rules.
pub fn classify(ip: IpAddr) -> AddrClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        // `::` and `::1` look like IPv4-compatible addresses but are v6's own.
        IpAddr::V6(v6) if v6.is_unspecified() => AddrClass::Unspecified,
        IpAddr::V6(v6) if v6.is_loopback() => AddrClass::Loopback,
        IpAddr::V6(v6) => match embedded_v4(v6) {
            // The deprecated compatible form (`::a.b.c.d`) is routed nowhere useful; refuse it
            // even when the IPv4 inside is public.
            Some(v4) if v6.segments()[..6] == [0; 6] => match classify_v4(v4) {
                AddrClass::Public => AddrClass::Reserved,
                other => other,
            },
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

/// The IPv4 address an IPv6 address stands for, if it embeds one in a form a host or gateway
/// would deliver to that IPv4 address.
pub fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    // IPv4-compatible ::a.b.c.d (deprecated, still parsed everywhere).
    if s[..6] == [0; 6] {
        return Some(low);
    }
    // NAT64 well-known prefix.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(low);
    }
    // 6to4: 2002:AABB:CCDD::/48 routes to AA.BB.CC.DD.
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

fn classify_v4(ip: Ipv4Addr) -> AddrClass {
    let [a, b, c, d] = ip.octets();
    match (a, b, c, d) {
        (0, ..) => AddrClass::Unspecified,
        (127, ..) => AddrClass::Loopback,
        (10, ..) | (172, 16..=31, ..) | (192, 168, ..) => AddrClass::Private,
        (100, 100, 100, 200) | (168, 63, 129, 16) | (192, 0, 0, 192) => AddrClass::Metadata,
        (100, 64..=127, ..) => AddrClass::SharedAddressSpace,
        (169, 254, ..) => AddrClass::LinkLocal,
        (192, 0, 2, _) | (198, 51, 100, _) | (203, 0, 113, _) => AddrClass::Documentation,
        (198, 18..=19, ..) => AddrClass::Benchmarking,
        (192, 0, 0, _) | (192, 88, 99, _) => AddrClass::Reserved,
        (224..=239, ..) => AddrClass::Multicast,
        (255, 255, 255, 255) => AddrClass::Broadcast,
        (240..=255, ..) => AddrClass::Reserved,
        _ => AddrClass::Public,
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddrClass {
    let s = ip.segments();
    if s[0] == 0xfd00 && s[1] == 0x0ec2 {
        // AWS IMDS over IPv6 (fd00:ec2::254) sits in ULA space; named for the refusal message.
        return AddrClass::Metadata;
    }
    match s[0] {
        0xff00..=0xffff => AddrClass::Multicast,
        0xfe80..=0xfebf => AddrClass::LinkLocal,
        0xfec0..=0xfeff | 0xfc00..=0xfdff => AddrClass::Private,
        0x2001 if s[1] == 0x0db8 => AddrClass::Documentation,
        0x3fff if s[1] < 0x1000 => AddrClass::Documentation,
        0x2001 if s[1] < 0x0200 => AddrClass::Reserved,
        0x0100 if s[1..4] == [0, 0, 0] => AddrClass::Reserved,
        0x0064 if s[1] == 0xff9b && s[2] == 1 => AddrClass::Reserved,
        // Only 2000::/3 is allocated global unicast; anything else (including the rest of ::/8)
        // is not a place a web request should go.
        0x2000..=0x3fff => AddrClass::Public,
        _ => AddrClass::Reserved,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> AddrClass {
        classify(s.parse().unwrap())
    }

    #[test]
    fn public_unicast_is_public() {
        for s in [
            "1.1.1.1",
            "8.8.8.8",
            "140.82.112.3",
            "2606:4700::1111",
            "2a00:1450::1",
        ] {
            assert_eq!(class(s), AddrClass::Public, "{s}");
        }
    }

    #[test]
    fn special_ranges_are_refused() {
        let cases = [
            ("0.0.0.0", AddrClass::Unspecified),
            ("0.1.2.3", AddrClass::Unspecified),
            ("::", AddrClass::Unspecified),
            ("127.0.0.1", AddrClass::Loopback),
            ("127.255.0.9", AddrClass::Loopback),
            ("::1", AddrClass::Loopback),
            ("10.1.2.3", AddrClass::Private),
            ("172.16.0.1", AddrClass::Private),
            ("172.31.255.255", AddrClass::Private),
            ("192.168.1.1", AddrClass::Private),
            ("fc00::1", AddrClass::Private),
            ("fd12:3456::1", AddrClass::Private),
            ("100.64.0.1", AddrClass::SharedAddressSpace),
            ("100.127.255.255", AddrClass::SharedAddressSpace),
            ("169.254.169.254", AddrClass::LinkLocal),
            ("fe80::1", AddrClass::LinkLocal),
            ("fd00:ec2::254", AddrClass::Metadata),
            ("168.63.129.16", AddrClass::Metadata),
            ("100.100.100.200", AddrClass::Metadata),
            ("224.0.0.1", AddrClass::Multicast),
            ("ff02::1", AddrClass::Multicast),
            ("255.255.255.255", AddrClass::Broadcast),
            ("198.18.0.1", AddrClass::Benchmarking),
            ("198.19.255.255", AddrClass::Benchmarking),
            ("192.0.2.1", AddrClass::Documentation),
            ("198.51.100.1", AddrClass::Documentation),
            ("203.0.113.1", AddrClass::Documentation),
            ("2001:db8::1", AddrClass::Documentation),
            ("240.0.0.1", AddrClass::Reserved),
            ("192.0.0.8", AddrClass::Reserved),
            ("2001::1", AddrClass::Reserved),
            ("100::1", AddrClass::Reserved),
        ];
        for (s, want) in cases {
            assert_eq!(class(s), want, "{s}");
        }
    }

    #[test]
    fn ipv6_carrying_ipv4_is_judged_as_that_ipv4() {
        for s in [
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "::ffff:10.0.0.1",
        ] {
            assert_ne!(class(s), AddrClass::Public, "{s}");
        }
        assert_eq!(class("::ffff:1.1.1.1"), AddrClass::Public);
        assert_eq!(class("64:ff9b::101:101"), AddrClass::Public);
        assert_eq!(class("2002:101:101::1"), AddrClass::Public);
        assert_eq!(class("::1.1.1.1"), AddrClass::Reserved);
    }

    #[test]
    fn edges_of_ranges_stay_public() {
        for s in [
            "172.15.255.255",
            "172.32.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "169.253.255.255",
            "11.0.0.0",
        ] {
            assert_eq!(class(s), AddrClass::Public, "{s}");
        }
    }
}
