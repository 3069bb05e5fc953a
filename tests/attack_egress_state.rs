//! The egress proxy's files (issue 16, trusted state as in issue 13): its directory
//! `{state}/codex-launcher/net`, the refusal log there and the per-launch socket directories. No
//! sandbox can write there (stage 1 tries from inside); planted as the launching user, as a task
//! would if the state dir were exposed, nothing makes a launch write outside, and a log that is
//! a link (symbolic or hard) to another file is refused rather than written through.

mod common;

use std::os::unix::fs::MetadataExt;

use common::scene::*;
use common::*;

#[test]
fn the_sandbox_cannot_write_the_proxy_state() {
    for variant in Variant::all() {
        let s = Scene::new(variant);
        s.codex_run_ok("true");
        let net = s.state.join("codex-launcher/net");
        assert!(
            net.join("proxy.log").is_file() || net.is_dir(),
            "{variant:?}"
        );
        let out = s.codex_run(&format!(
            "touch '{n}/planted' 2>/dev/null && echo wrote; ln -s '{v}' '{n}/proxy.log.new' 2>/dev/null && echo linked; true",
            n = net.display(),
            v = s.victim.display()
        ));
        assert_eq!(out.status.code(), Some(0), "{variant:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), "", "{variant:?}");
        assert!(!net.join("planted").exists(), "{variant:?}");
        assert_eq!(std::fs::metadata(&net).unwrap().mode() & 0o777, 0o700);
        // The launch's socket directory is gone once it ended.
        let left: Vec<_> = std::fs::read_dir(&net)
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("codex-launcher-proxy.")
            })
            .collect();
        assert!(left.is_empty(), "{variant:?}: {left:?}");
    }
}

#[test]
fn planted_links_never_carry_a_write_outside() {
    for variant in Variant::all() {
        let net_link = Scene::new(variant);
        let net = net_link.state.join("codex-launcher/net");
        // The whole directory as a link to `outside`.
        net_link.host_shell(&format!(
            "mkdir -p '{}' && ln -s '{}' '{}'",
            net.parent().unwrap().display(),
            net_link.outside.display(),
            net.display()
        ));
        let out = net_link.codex_run("true");
        assert_eq!(out.status.code(), Some(0), "{variant:?}: {}", stderr(&out));
        net_link.assert_outside_untouched();
        assert!(
            std::fs::symlink_metadata(&net).unwrap().is_dir(),
            "{variant:?}"
        );

        for plant in ["ln -s", "ln"] {
            let s = Scene::new(variant);
            s.codex_run_ok("true");
            let log = s.state.join("codex-launcher/net/proxy.log");
            s.host_shell(&format!(
                "rm -f '{l}' && {plant} '{v}' '{l}'",
                l = log.display(),
                v = s.victim.display()
            ));
            let out = s.codex_run("curl -sS -m 5 http://refused.test/ >/dev/null 2>&1; true");
            assert_ne!(
                out.status.code(),
                Some(0),
                "{variant:?} {plant}: launched anyway"
            );
            assert!(
                stderr(&out).contains("proxy log"),
                "{variant:?}: {}",
                stderr(&out)
            );
            s.assert_outside_untouched();
        }
    }
}
