//! The environment that routes a task's clients through the proxy. Routing only: the network
//! namespace, Landlock port rule or Seatbelt profile is the boundary, and a client that ignores
//! these variables simply fails to connect.
//!
//! Who reads what (reference network-proxy.md §1.6, §2.6, §3):
//! - Codex itself: reqwest honours `HTTP(S)_PROXY`, `ALL_PROXY`, `NO_PROXY` in both cases, but is
//!   built without SOCKS support, so every URL here is `http://` (a `socks5h://` breaks it, Codex
//!   #20844). Its Responses WebSocket honours `HTTPS_PROXY` only in builds with Codex PR #9719
//!   (Jan 2026); older builds dial directly, fail, and fall back to HTTPS after retries.
//! - curl reads `http_proxy` only in lowercase, the rest in either case; Python, Go, Rust, git
//!   follow the same names. Node's own `fetch`/`http` need `NODE_USE_ENV_PROXY=1` (Node ≥ 24).
//! - npm: `npm_config_proxy` and `npm_config_https_proxy`; not `npm_config_http_proxy`, which
//!   npm warns about (Codex #44854). Yarn Berry: `YARN_HTTP(S)_PROXY`; not `YARN_NO_PROXY`,
//!   which makes it exit (Codex #40956).

use std::net::SocketAddr;

/// Hosts a client should reach directly when loopback inside the sandbox is the task's own.
const LOOPBACK_NO_PROXY: &str = "localhost,127.0.0.1,::1";

/// Variables that an inherited environment may carry and that would send clients to a proxy the
/// sandbox cannot reach (or, for the npm/Yarn ones, break the tool); the executor removes them.
pub const CLEARED: [&str; 8] = [
    "FTP_PROXY",
    "ftp_proxy",
    "GRPC_PROXY",
    "grpc_proxy",
    "RSYNC_PROXY",
    "npm_config_http_proxy",
    "YARN_NO_PROXY",
    "CODEX_NETWORK_PROXY_ACTIVE",
];

/// The `(name, value)` pairs to set for a task whose proxy listens at `proxy` (as seen from
/// inside the sandbox: the relay's port under bwrap, the proxy's own port otherwise).
///
/// `loopback_direct`: list loopback in `NO_PROXY`, so the task reaches its own local servers
/// directly. Pass false when an allowed endpoint is on the host's loopback (a model provider on
/// `127.0.0.1:P`): that address must go through the proxy, and a direct attempt would hit the
/// sandbox's own empty loopback (srt's `NO_PROXY=localhost` bug, claude-code #65482).
pub fn proxy_env(proxy: SocketAddr, loopback_direct: bool) -> Vec<(String, String)> {
    let url = format!("http://{proxy}");
    let no_proxy = if loopback_direct {
        LOOPBACK_NO_PROXY
    } else {
        ""
    };
    let mut env = Vec::new();
    for name in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "WS_PROXY",
        "WSS_PROXY",
    ] {
        env.push((name.to_string(), url.clone()));
        env.push((name.to_ascii_lowercase(), url.clone()));
    }
    for name in ["NO_PROXY", "no_proxy"] {
        env.push((name.to_string(), no_proxy.to_string()));
    }
    for name in [
        "npm_config_proxy",
        "npm_config_https_proxy",
        "YARN_HTTP_PROXY",
        "YARN_HTTPS_PROXY",
    ] {
        env.push((name.to_string(), url.clone()));
    }
    env.push(("NODE_USE_ENV_PROXY".to_string(), "1".to_string()));
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
        env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn both_cases_point_at_the_proxy_over_http() {
        let env = proxy_env("127.0.0.1:3128".parse().unwrap(), true);
        for name in [
            "HTTP_PROXY",
            "http_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "ALL_PROXY",
            "all_proxy",
        ] {
            assert_eq!(get(&env, name), Some("http://127.0.0.1:3128"), "{name}");
        }
        assert_eq!(get(&env, "NO_PROXY"), Some("localhost,127.0.0.1,::1"));
        assert_eq!(get(&env, "npm_config_http_proxy"), None);
        assert_eq!(get(&env, "YARN_NO_PROXY"), None);
    }

    #[test]
    fn loopback_goes_through_the_proxy_when_an_endpoint_lives_there() {
        let env = proxy_env("[::1]:3128".parse().unwrap(), false);
        assert_eq!(get(&env, "no_proxy"), Some(""));
        assert_eq!(get(&env, "https_proxy"), Some("http://[::1]:3128"));
    }

    #[test]
    fn nothing_set_is_also_cleared() {
        let env = proxy_env("127.0.0.1:1".parse().unwrap(), true);
        assert!(CLEARED.iter().all(|c| get(&env, c).is_none()));
    }
}
