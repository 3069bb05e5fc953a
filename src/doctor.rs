//! `codex-launcher doctor`: why user namespaces (and so bubblewrap) fail here, and what to do about
//! it. Classification is a pure function of the probed facts and, optionally, bubblewrap's stderr.

use serde::Serialize;

use crate::cli::DoctorArgs;
use crate::exit::{Failure, Outcome};
use crate::probe::host::{self, HostFacts};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Short stable id: `max_user_namespaces`, `apparmor_userns`, `seccomp_blocks_unshare`, ...
    pub cause: String,
    pub detail: String,
    pub remedy: String,
}

fn finding(cause: &str, detail: impl Into<String>, remedy: impl Into<String>) -> Finding {
    Finding {
        cause: cause.into(),
        detail: detail.into(),
        remedy: remedy.into(),
    }
}

/// An AppArmor profile that lets this binary create user namespaces (Ubuntu 24.04 and later).
pub fn apparmor_profile(binary: &str) -> String {
    format!(
        "abi <abi/4.0>,\ninclude <tunables/global>\n\nprofile codex-launcher {binary} flags=(unconfined) {{\n  userns,\n\n  include if exists <local/codex-launcher>\n}}\n"
    )
}

fn apparmor_remedy(binary: &str) -> String {
    format!(
        "allow user namespaces for this binary with an AppArmor profile:\n\
         sudo tee /etc/apparmor.d/codex-launcher >/dev/null <<'EOF'\n{}EOF\n\
         sudo apparmor_parser -r /etc/apparmor.d/codex-launcher\n\
         (or, for the whole machine: sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0)",
        apparmor_profile(binary)
    )
}

/// What stops user namespaces here, most specific cause first. Empty when they work.
pub fn classify(host: &HostFacts, bwrap_stderr: Option<&str>, binary: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let errno = host.userns.errno;
    let failed_at_mount = host
        .userns
        .failed_step
        .as_deref()
        .is_some_and(|s| s.starts_with("mount"));
    let stderr = bwrap_stderr.unwrap_or("");

    if host.max_user_namespaces == Some(0) || (errno == Some(libc::ENOSPC) && !failed_at_mount) {
        out.push(finding(
            "max_user_namespaces",
            format!(
                "user.max_user_namespaces is {}: creating a user namespace fails with ENOSPC",
                host.max_user_namespaces.map_or("exhausted".into(), |v| v.to_string())
            ),
            if host.container.is_some() {
                "the container's user namespace limit is 0; raise it on the host or runtime (sysctl user.max_user_namespaces=15000), or keep the Landlock backend"
                    .to_string()
            } else {
                "sudo sysctl -w user.max_user_namespaces=15000 (persist it in /etc/sysctl.d/99-userns.conf)".to_string()
            },
        ));
    }
    let apparmor_text = stderr.contains("RTM_NEWADDR")
        || stderr.contains("setting up uid map")
        || stderr.contains("uid map");
    if host.apparmor_restrict_userns == Some(true)
        && (failed_at_mount || errno == Some(libc::EACCES) || apparmor_text)
        || apparmor_text
    {
        out.push(finding(
            "apparmor_userns",
            "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1): the namespace is created but gets no capabilities",
            apparmor_remedy(binary),
        ));
    }
    if host.unprivileged_userns_clone == Some(false) && host.uid != 0 {
        out.push(finding(
            "unprivileged_userns_clone",
            "kernel.unprivileged_userns_clone=0 forbids user namespaces to unprivileged users",
            "sudo sysctl -w kernel.unprivileged_userns_clone=1",
        ));
    }
    if errno == Some(libc::EPERM) && !failed_at_mount && host.seccomp_mode == 2 {
        out.push(finding(
            "seccomp_blocks_unshare",
            "a seccomp filter on this process (e.g. Docker's default profile) refuses unshare(CLONE_NEWUSER) with EPERM",
            "run the container with --security-opt seccomp=unconfined (or a profile that allows unshare/clone with CLONE_NEWUSER), or keep the Landlock backend",
        ));
    }
    if errno == Some(libc::EPERM)
        && !failed_at_mount
        && host.seccomp_mode != 2
        && host.uid == 0
        && host.container.is_some()
    {
        out.push(finding(
            "no_cap_sys_admin",
            "root in a container without CAP_SYS_ADMIN cannot create namespaces",
            "grant the container a user namespace (e.g. podman --userns=auto, Kubernetes hostUsers: false) or keep the Landlock backend",
        ));
    }
    if stderr.contains("Failed to make / slave") || (failed_at_mount && out.is_empty()) {
        out.push(finding(
            "mount_propagation",
            "making / a slave mount failed inside the new namespace (a restricted container or LSM)",
            "run with a less restricted container security profile, or keep the Landlock backend",
        ));
    }
    if stderr.contains("Can't mount proc") {
        out.push(finding(
            "masked_proc",
            "the kernel refuses a fresh /proc (the container masks parts of /proc)",
            "nothing needed: the launcher keeps the PID namespace without a new /proc; to get one, run the container with an unmasked /proc (e.g. --security-opt systempaths=unconfined)",
        ));
    }
    if !host.userns.available && out.is_empty() {
        out.push(finding(
            "unknown",
            host.userns.reason(),
            "run with CODEX_LAUNCHER_LOG=debug and report the output",
        ));
    }
    if host.landlock.is_err() && !host.userns.available {
        out.push(finding(
            "landlock_unavailable",
            host.landlock.clone().unwrap_err(),
            "boot a kernel with Landlock enabled (lsm=...,landlock) so the launcher can fall back to it",
        ));
    }
    out
}

pub fn run(args: DoctorArgs) -> Outcome {
    let host = host::probe(&crate::probe::cache::CacheDir::for_launch(&[]));
    let binary = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map(|p| p.display().to_string())
        .map_err(|e| Failure::refused(format!("cannot locate this executable: {e}")))?;
    let findings = classify(&host, args.bwrap_stderr.as_deref(), &binary);
    let usable = host.userns.available || host.landlock.is_ok();
    if args.json {
        let report = serde_json::json!({
            "schema_version": crate::json_schema::SCHEMA_VERSION,
            "sandbox_available": usable,
            "user_namespaces": host.userns.available,
            "landlock_abi": host.landlock.as_ref().ok(),
            "findings": findings,
            "host": host,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serialises")
        );
    } else {
        println!("kernel {} ({}), uid {}", host.kernel, host.os, host.uid);
        println!("user namespaces: {}", host.userns.reason());
        match &host.landlock {
            Ok(abi) => println!("landlock: ABI {abi}"),
            Err(e) => println!("landlock: unavailable: {e}"),
        }
        if let Some(c) = &host.container {
            println!("container: {c}");
        }
        for f in &findings {
            println!(
                "\ncause: {}\n  {}\nremedy:\n  {}",
                f.cause,
                f.detail,
                f.remedy.replace('\n', "\n  ")
            );
        }
        if findings.is_empty() {
            println!("\nno problems found: bubblewrap can run here");
        }
    }
    Ok(if usable { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::host::UsernsVerdict;

    fn host(errno: Option<i32>, step: &str) -> HostFacts {
        HostFacts {
            os: "linux".into(),
            kernel: "6.8.0".into(),
            userns: UsernsVerdict {
                available: errno.is_none(),
                failed_step: errno.map(|_| step.into()),
                errno,
                error: errno.map(|e| format!("errno {e}")),
            },
            landlock: Ok(4),
            seccomp_mode: 0,
            no_new_privs: false,
            apparmor_restrict_userns: None,
            max_user_namespaces: Some(15000),
            unprivileged_userns_clone: None,
            uid: 1000,
            container: None,
            inside_sandbox: vec![],
        }
    }

    fn causes(f: &[Finding]) -> Vec<&str> {
        f.iter().map(|f| f.cause.as_str()).collect()
    }

    #[test]
    fn working_host_has_no_findings() {
        assert!(classify(&host(None, ""), None, "/bin/x").is_empty());
    }

    #[test]
    fn enospc_names_max_user_namespaces() {
        let mut h = host(Some(libc::ENOSPC), "unshare");
        h.max_user_namespaces = Some(0);
        let f = classify(&h, None, "/bin/x");
        assert_eq!(causes(&f), ["max_user_namespaces"]);
        assert!(f[0].remedy.contains("sysctl"));
    }

    #[test]
    fn apparmor_gets_a_profile_for_the_real_binary() {
        let mut h = host(Some(libc::EACCES), "mount(/, MS_SLAVE)");
        h.apparmor_restrict_userns = Some(true);
        let f = classify(&h, None, "/opt/cl/codex-launcher");
        assert_eq!(causes(&f), ["apparmor_userns"]);
        assert!(f[0]
            .remedy
            .contains("profile codex-launcher /opt/cl/codex-launcher"));
        assert!(f[0].remedy.contains("apparmor_parser -r"));
        let f = classify(
            &host(None, ""),
            Some("bwrap: loopback: Failed RTM_NEWADDR: Operation not permitted"),
            "/b",
        );
        assert_eq!(causes(&f), ["apparmor_userns"]);
    }

    #[test]
    fn docker_seccomp_and_masked_proc() {
        let mut h = host(Some(libc::EPERM), "unshare");
        h.seccomp_mode = 2;
        assert_eq!(
            causes(&classify(&h, None, "/b")),
            ["seccomp_blocks_unshare"]
        );
        let f = classify(
            &host(None, ""),
            Some("bwrap: Can't mount proc on /newroot/proc: Operation not permitted"),
            "/b",
        );
        assert_eq!(causes(&f), ["masked_proc"]);
        let f = classify(
            &host(None, ""),
            Some("bwrap: Failed to make / slave: Permission denied"),
            "/b",
        );
        assert_eq!(causes(&f), ["mount_propagation"]);
    }
}
