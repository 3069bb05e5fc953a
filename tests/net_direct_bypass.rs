//! Issue 16 acceptance 1: under `--network filtered` (the default) a command that bypasses the
//! proxy reaches nothing: no direct TCP over IPv4 or IPv6 to a host loopback listener, no UDP
//! datagram, not the metadata address, not a host pathname unix socket, not an abstract one. On
//! every backend, as root and as uid 65534, with and without user namespaces; asserted from the
//! host. The same script under `--network on` does reach them, so the test sees a way out when
//! there is one.

mod common;

use common::net::{direct_attempts, HostServers};
use common::scene::{Backend, Scene, Variant};
use common::*;

#[test]
fn direct_connections_bypassing_the_proxy_reach_nothing() {
    for variant in Variant::all() {
        let scene = Scene::new(variant);
        let servers = HostServers::start(&scene.outside);
        let script = direct_attempts(&servers);
        let out = output(&mut variant.wrap(&scene.codex_run_cmd(&[], &script)));
        assert_eq!(out.status.code(), Some(0), "{variant:?}: {}", stderr(&out));
        let said = stdout(&out);
        assert!(
            said.contains("abstract "),
            "{variant:?}: the script did not run: {said}"
        );
        assert_eq!(
            servers.hits(),
            Vec::<String>::new(),
            "{variant:?}: a direct attempt reached the host; the command saw:\n{said}"
        );
        assert!(
            !said.contains("unix ok")
                && !said.contains("tcp4 ok")
                && !said.contains("mptcp4 ok")
                && !["sendto", "sendmsg", "sendmmsg"]
                    .iter()
                    .any(|how| said.contains(&format!("tfo-{how} ok"))),
            "{variant:?}: {said}"
        );

        // Control: with the network on, the same attempts arrive.
        let out = output(&mut variant.wrap(&scene.codex_run_cmd(&["--network", "on"], &script)));
        assert_eq!(out.status.code(), Some(0), "{variant:?}: {}", stderr(&out));
        let hits = servers.hits();
        for expected in [
            "tcp4 GET /direct4",
            "udp4 direct-udp",
            "unix",
            "tcp4 GET /tfo-sendto",
            "tcp4 GET /tfo-sendmsg",
            "tcp4 GET /tfo-sendmmsg",
        ] {
            assert!(
                hits.iter().any(|h| h.starts_with(expected)),
                "{variant:?} --network on: {expected} missing from {hits:?}; the command saw:\n{}",
                stdout(&out)
            );
        }
        // Landlock ABI ≥ 6 scopes abstract sockets whatever the network mode.
        if matches!(variant.backend, Backend::Auto | Backend::Vendored) {
            assert!(
                hits.iter().any(|h| h == "abstract"),
                "{variant:?}: {hits:?}"
            );
        }
    }
}
