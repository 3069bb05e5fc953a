//! Issue 16 acceptance 1: a command reaches an allowed destination through the launcher's proxy,
//! as plain HTTP (absolute-form) and through a CONNECT tunnel, on every backend, as root and as
//! uid 65534. `--net-resolve` maps the test name to a host loopback listener, which also needs
//! `--allow-endpoint`: without it the same request is refused, so the mapping alone does not
//! weaken the guard.

mod common;

use common::net::{HostServers, HELLO};
use common::scene::{Scene, Variant};
use common::*;

#[test]
fn an_allowed_domain_is_reached_through_the_proxy_over_http_and_connect() {
    for variant in Variant::all() {
        let scene = Scene::new(variant);
        let servers = HostServers::start(&scene.outside);
        let port = servers.tcp4;
        let script = format!(
            "curl -sS -m 10 http://allowed.test:{port}/plain; echo http=$?; \
             curl -sS -m 10 -p http://allowed.test:{port}/tunnel; echo connect=$?"
        );
        let endpoint = format!("127.0.0.1:{port}");
        let flags = [
            "--allow-domain",
            "allowed.test",
            "--net-resolve",
            "allowed.test=127.0.0.1",
        ];
        let mut with_endpoint = flags.to_vec();
        with_endpoint.extend(["--allow-endpoint", &endpoint]);
        let out = output(&mut variant.wrap(&scene.codex_run_cmd(&with_endpoint, &script)));
        let said = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{variant:?}: {}", stderr(&out));
        assert!(
            said.contains("http=0") && said.contains("connect=0"),
            "{variant:?}: {said}\n{}",
            stderr(&out)
        );
        assert_eq!(said.matches(HELLO).count(), 2, "{variant:?}: {said}");
        let hits = servers.hits();
        assert!(
            hits.iter().any(|h| h.starts_with("tcp4 GET /plain")),
            "{variant:?}: {hits:?}"
        );
        assert!(
            hits.iter().any(|h| h.starts_with("tcp4 GET /tunnel")),
            "{variant:?}: {hits:?}"
        );

        // The mapping to loopback without the endpoint: refused by the address guard.
        servers.clear();
        let out = output(&mut variant.wrap(&scene.codex_run_cmd(&flags, &script)));
        let said = stdout(&out);
        assert!(!said.contains(HELLO), "{variant:?}: {said}");
        assert!(said.contains("loopback"), "{variant:?}: {said}");
        assert_eq!(servers.hits(), Vec::<String>::new(), "{variant:?}");
    }
}
