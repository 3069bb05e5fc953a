//! Issue 16: the proxy's lifetime is the task's. Its port is bound before the command starts (the
//! command's very first request is answered, not refused for want of a listener), and nothing
//! listens there once the run is over. On Landlock, where the command talks to the proxy's own
//! loopback port; under bubblewrap the socket directory is gone after the run
//! (tests/attack_egress_state.rs).

mod common;

use common::scene::{Backend, Scene, Variant};
use common::*;

#[test]
fn the_proxy_listens_from_before_the_task_until_it_ends() {
    for variant in Variant::all() {
        if !matches!(variant.backend, Backend::Landlock | Backend::NoUserns) {
            continue;
        }
        let scene = Scene::new(variant);
        let out = scene.codex_run(
            "echo \"$HTTP_PROXY\"; curl -sS -m 5 -o /dev/null -w '%{http_code}\\n' http://first.test/",
        );
        let said = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{variant:?}: {}", stderr(&out));
        let mut lines = said.lines();
        let url = lines.next().unwrap_or_default();
        let addr = url
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("{variant:?}: no proxy URL in {said}"));
        // Answered by the proxy (a refusal), not "connection refused" (000).
        assert_eq!(lines.next(), Some("403"), "{variant:?}: {said}");
        let port = addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse::<u16>().ok())
            .unwrap_or_else(|| panic!("{variant:?}: no port in {addr}"));
        // Whoever holds a listener there now, other than this test process (whose own servers
        // may have taken the freed port), kept the proxy's socket past the run.
        let here = std::env::current_exe().unwrap();
        let holders: Vec<_> = listeners::socket_holders(&listeners::listening_sockets(port))
            .into_iter()
            .filter(|exe| *exe != here)
            .collect();
        assert!(
            holders.is_empty(),
            "{variant:?}: {holders:?} still listen on {addr} after the run"
        );
    }
}
