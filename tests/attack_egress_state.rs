//! The egress proxy's files (issue 16, trusted state as in issue 13): its directory
//! `{state}/codex-launcher/net`, the refusal log there and the per-launch socket directories. No
//! sandbox can write there (stage 1 tries from inside); planted as the launching user, as a task
//! would if the state dir were exposed, nothing makes a launch write outside: a log that is a
//! link (symbolic or hard) to another file, or a chmod-ed one, is moved aside and a fresh log
//! made, never written through and never a lockout; one planted where the full log is moved
//! (`proxy.log.1`) is replaced, never written through.

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
            // Moved aside, never written through; the proxy (and the launch) goes on with a
            // fresh log rather than lock the user out (red-team r5 02).
            let out = s.codex_run("curl -sS -m 5 http://refused.test/ >/dev/null 2>&1; true");
            assert_eq!(
                out.status.code(),
                Some(0),
                "{variant:?} {plant}: {}",
                stderr(&out)
            );
            s.assert_outside_untouched();
            let meta = std::fs::symlink_metadata(&log).unwrap();
            assert!(meta.is_file() && meta.nlink() == 1, "{variant:?} {plant}");
            assert!(
                std::fs::read_to_string(&log)
                    .unwrap()
                    .contains("refused.test"),
                "{variant:?} {plant}: the refusal is logged in the fresh log"
            );
        }
    }
}

/// A few refused requests through the proxy; with the log filled to just under its 1 MiB cap
/// beforehand, they make the launch rotate it onto `proxy.log.1`.
const REFUSED: &str = r#"python3 - <<'EOF'
import os, socket
host, port = os.environ["http_proxy"].split("//")[1].rsplit(":", 1)
for i in range(5):
    s = socket.create_connection((host, int(port)))
    s.sendall(b"GET http://r%d.test/ HTTP/1.1\r\nHost: r%d.test\r\n\r\n" % (i, i))
    while s.recv(4096):
        pass
    s.close()
print("sent", flush=True)
EOF"#;

#[test]
fn a_link_planted_where_the_log_rotates_is_replaced_not_written() {
    for variant in Variant::all() {
        for plant in ["ln -s", "ln"] {
            let s = Scene::new(variant);
            s.codex_run_ok("true");
            let net = s.state.join("codex-launcher/net");
            let (log, rotated) = (net.join("proxy.log"), net.join("proxy.log.1"));
            s.host_shell(&format!(
                "head -c 1048000 /dev/zero | tr '\\0' x > '{l}' && {plant} '{v}' '{r}'",
                l = log.display(),
                r = rotated.display(),
                v = s.victim.display()
            ));
            let out = s.codex_run(REFUSED);
            assert_eq!(out.status.code(), Some(0), "{variant:?}: {}", stderr(&out));
            assert!(
                stdout(&out).contains("sent"),
                "{variant:?}: {}",
                stdout(&out)
            );
            s.assert_outside_untouched();
            // The planted name now holds the full log, a file of the launcher's own; the
            // refusals went to a fresh one.
            let meta = std::fs::symlink_metadata(&rotated).unwrap();
            assert!(meta.is_file(), "{variant:?} {plant}");
            assert_eq!(meta.nlink(), 1, "{variant:?} {plant}");
            assert!(
                std::fs::read(&rotated).unwrap().starts_with(b"xxxx"),
                "{variant:?} {plant}"
            );
            let fresh = std::fs::read_to_string(&log).unwrap();
            assert!(
                fresh.contains("r4.test:80 not-allowed"),
                "{variant:?}: {fresh}"
            );
            assert!(!fresh.contains("xxxx"), "{variant:?} {plant}");
        }
    }
}
