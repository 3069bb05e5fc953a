//! Property tests: the proxy's host canonicaliser agrees with `std::net` wherever both read a
//! string, reads every inet_aton spelling of an IPv4 address as that address, and is stable.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use codex_launcher::netproxy::guard::{classify, AddrClass};
use codex_launcher::netproxy::Host;
use proptest::prelude::*;

/// One IPv4 part in a random base: decimal, 0x hex (either case), or leading-zero octal.
fn spell(value: u32, base: u8) -> String {
    match base % 4 {
        0 => format!("{value}"),
        1 => format!("0x{value:x}"),
        2 => format!("0X{value:X}"),
        _ => format!("0{value:o}"),
    }
}

/// Splits `ip` into `parts` inet_aton parts (the last one takes the remaining bytes).
fn parts_of(ip: Ipv4Addr, parts: usize) -> Vec<u32> {
    let o = ip.octets().map(u32::from);
    match parts {
        1 => vec![u32::from(ip)],
        2 => vec![o[0], (o[1] << 16) | (o[2] << 8) | o[3]],
        3 => vec![o[0], o[1], (o[2] << 8) | o[3]],
        _ => o.to_vec(),
    }
}

proptest! {
    #[test]
    fn std_ipv4_text_parses_to_the_same_address(ip in any::<Ipv4Addr>()) {
        prop_assert_eq!(Host::parse(&ip.to_string()), Ok(Host::Ip(IpAddr::V4(ip))));
    }

    #[test]
    fn every_inet_aton_spelling_is_the_same_address(
        ip in any::<Ipv4Addr>(),
        parts in 1usize..=4,
        bases in proptest::collection::vec(any::<u8>(), 4),
        trailing_dot in any::<bool>(),
    ) {
        let mut text = parts_of(ip, parts)
            .iter()
            .zip(&bases)
            .map(|(v, b)| spell(*v, *b))
            .collect::<Vec<_>>()
            .join(".");
        if trailing_dot {
            text.push('.');
        }
        prop_assert_eq!(Host::parse(&text), Ok(Host::Ip(IpAddr::V4(ip))), "{}", text);
    }

    #[test]
    fn std_ipv6_text_parses_to_the_same_address_mapped_folded_to_v4(ip in any::<Ipv6Addr>()) {
        let want = match ip.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(ip),
        };
        prop_assert_eq!(Host::parse(&format!("[{ip}]")), Ok(Host::Ip(want)));
        prop_assert_eq!(Host::parse(&ip.to_string()), Ok(Host::Ip(want)));
    }

    #[test]
    fn where_std_reads_dotted_text_as_ipv4_we_agree(text in "[0-9]{1,4}(\\.[0-9]{1,4}){0,4}") {
        if let Ok(std_ip) = text.parse::<Ipv4Addr>() {
            prop_assert_eq!(Host::parse(&text), Ok(Host::Ip(IpAddr::V4(std_ip))));
        }
    }

    #[test]
    fn canonical_spelling_is_a_fixed_point(text in "[a-zA-Z0-9.:\\[\\]_-]{0,40}") {
        if let Ok(host) = Host::parse(&text) {
            let again = match &host {
                Host::Ip(IpAddr::V6(v6)) => Host::parse(&v6.to_string()),
                other => Host::parse(&other.to_string()),
            };
            prop_assert_eq!(again, Ok(host));
        }
    }

    #[test]
    fn arbitrary_input_never_panics(text in "\\PC{0,64}") {
        let _ = Host::parse(&text);
    }

    #[test]
    fn mapped_v6_is_judged_like_its_v4(ip in any::<Ipv4Addr>()) {
        let mapped = IpAddr::V6(ip.to_ipv6_mapped());
        let v4_class = classify(IpAddr::V4(ip));
        prop_assert_eq!(classify(mapped), v4_class);
        let nat64 = Ipv6Addr::from((0x0064_ff9b_u128 << 96) | u128::from(u32::from(ip)));
        prop_assert_eq!(classify(IpAddr::V6(nat64)) == AddrClass::Public, v4_class == AddrClass::Public);
    }
}
