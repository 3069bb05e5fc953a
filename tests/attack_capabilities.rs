//! A task started by root keeps no capability on any backend: it cannot make a device node,
//! rename the host, touch the host's network interfaces or read another process's environment.
//! Effects are checked from the host.

mod common;

use std::process::{Command, Stdio};

use common::matrix::*;
use common::*;

const SECRET: &str = "cl-victim-secret-5f2a";

fn host_state() -> (String, String) {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let lo = Command::new("ip").args(["addr", "show", "lo"]).output();
    let lo = lo.map(|o| stdout(&o)).unwrap_or_default();
    (hostname, lo)
}

fn cap(status: &str, key: &str) -> u64 {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in {status}"));
    u64::from_str_radix(line.trim(), 16).unwrap()
}

#[test]
fn no_capability_survives_on_any_backend() {
    let s = setup();
    // A host process with a secret in its environment, owned by the caller.
    let mut victim = Command::new("sleep")
        .arg("60")
        .env("CL_VICTIM_SECRET", SECRET)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let script = r#"
grep -E '^(CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs):' /proc/self/status
mknod blk-dev b 7 0 2>/dev/null; echo "mknod-block=$?"
mknod chr-dev c 1 3 2>/dev/null; echo "mknod-char=$?"
hostname cl-pwned 2>/dev/null; echo "hostname=$?"
ip addr add 127.0.0.77/8 dev lo 2>/dev/null; echo "ip=$?"
tr '\0' '\n' < /proc/$CL_VICTIM/environ 2>/dev/null | grep CL_VICTIM_SECRET
echo done
"#;
    let before = host_state();
    let pid = victim.id().to_string();
    for mut launch in each_backend_and_user(&s, script, &[("CL_VICTIM", &pid)]) {
        let out = output(&mut launch.cmd);
        let (o, e) = (stdout(&out), stderr(&out));
        let label = &launch.label;
        assert!(o.contains("done"), "{label}: {o}{e}");
        for key in ["CapEff:", "CapPrm:", "CapAmb:"] {
            assert_eq!(cap(&o, key), 0, "{label}: {key}\n{o}");
        }
        if launch.uid == 0 || launch.backend != "landlock" {
            assert_eq!(cap(&o, "CapBnd:"), 0, "{label}: CapBnd\n{o}");
        } else {
            // Without a user namespace an unprivileged process cannot shrink its bounding set;
            // it holds no capability, and no_new_privs keeps exec from adding any.
            assert!(o.contains("NoNewPrivs:\t1"), "{label}: {o}");
        }
        assert!(
            !o.contains(SECRET),
            "{label}: read another process's environment: {o}"
        );
        for name in ["blk-dev", "chr-dev"] {
            assert!(
                std::fs::symlink_metadata(s.ws.join(name)).is_err(),
                "{label}: {name} was created"
            );
        }
        for probe in ["mknod-block=0", "mknod-char=0", "hostname=0", "ip=0"] {
            assert!(!o.contains(probe), "{label}: {probe}\n{o}");
        }
        assert_eq!(
            host_state(),
            before,
            "{label}: the host's name or loopback changed"
        );
    }
    let _ = victim.kill();
    let _ = victim.wait();
}
