//! Remedies in the words of the container runtime we run under: the same problem is a different
//! flag in Docker, podman and a Kubernetes pod spec. Measured on podman 4.3 + runc with moby's and
//! containers/common's default profiles (docs/containers.md).

use std::path::Path;

use serde::Serialize;

/// The container runtime, as far as its markers tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Runtime {
    Docker,
    Podman,
    Kubernetes,
    /// Not a container we recognise (or none): remedies name every runtime.
    Other,
}

impl Runtime {
    /// From the markers runtimes leave: Kubernetes sets `KUBERNETES_SERVICE_HOST` in every pod
    /// (whatever runs its containers), podman writes `/run/.containerenv` and sets
    /// `container=podman`, Docker creates `/.dockerenv`.
    pub fn from_markers(
        kubernetes: bool,
        containerenv: bool,
        dockerenv: bool,
        container_var: Option<&str>,
    ) -> Self {
        if kubernetes {
            Self::Kubernetes
        } else if containerenv || container_var == Some("podman") {
            Self::Podman
        } else if dockerenv || container_var == Some("docker") {
            Self::Docker
        } else {
            Self::Other
        }
    }
}

/// An AppArmor profile that lets this binary create user namespaces (Ubuntu 24.04 and later).
pub fn apparmor_profile(binary: &str) -> String {
    format!(
        "abi <abi/4.0>,\ninclude <tunables/global>\n\nprofile codex-launcher {binary} flags=(unconfined) {{\n  userns,\n\n  include if exists <local/codex-launcher>\n}}\n"
    )
}

pub fn apparmor(binary: &str) -> String {
    format!(
        "allow user namespaces for this binary with an AppArmor profile:\n\
         sudo tee /etc/apparmor.d/codex-launcher >/dev/null <<'EOF'\n{}EOF\n\
         sudo apparmor_parser -r /etc/apparmor.d/codex-launcher\n\
         (or, for the whole machine: sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0)",
        apparmor_profile(binary)
    )
}

/// A seccomp profile that lets bubblewrap run. `pivot_root`: we got as far as pivot_root, which
/// means something (usually `--cap-add SYS_ADMIN`) let unshare through.
pub fn seccomp_profile(runtime: Runtime, pivot_root: bool) -> String {
    let make = "codex-launcher doctor --seccomp-profile DEFAULT.json > codex-seccomp.json \
                (DEFAULT.json: your runtime's default profile, e.g. moby's profiles/seccomp/default.json \
                or /usr/share/containers/seccomp.json; the result also allows clone, unshare, mount, \
                umount2 and pivot_root, which bubblewrap needs, and needs no added capability)";
    let apply = match runtime {
        Runtime::Docker => "docker run --security-opt seccomp=codex-seccomp.json (on AppArmor hosts also --security-opt apparmor=unconfined: docker-default denies mount)",
        Runtime::Podman => "podman run --security-opt seccomp=codex-seccomp.json",
        Runtime::Kubernetes => "securityContext.seccompProfile: {type: Localhost, localhostProfile: codex-seccomp.json} (the file in the kubelet's seccomp directory on each node)",
        Runtime::Other => "docker/podman run --security-opt seccomp=codex-seccomp.json, or in Kubernetes seccompProfile type Localhost",
    };
    let fallback = if pivot_root {
        "or drop --cap-add SYS_ADMIN: unshare is then refused too, and the launcher uses Landlock"
    } else {
        "or keep the Landlock backend, which this profile allows"
    };
    format!("{make}; run with {apply}; {fallback}")
}

/// The runtime's flag that stops it masking `/proc`, so bubblewrap may mount a fresh one.
pub fn unmask_proc(runtime: Runtime) -> String {
    let docker = "docker run --security-opt systempaths=unconfined";
    let podman = "podman run --security-opt unmask=ALL";
    let k8s = "securityContext.procMount: Unmasked (a user-namespaced pod: hostUsers: false)";
    match runtime {
        Runtime::Docker => docker.to_string(),
        Runtime::Podman => podman.to_string(),
        Runtime::Kubernetes => k8s.to_string(),
        Runtime::Other => format!("{docker}; {podman}; Kubernetes {k8s}"),
    }
}

/// How to give bubblewrap a `/proc` it may mount.
pub fn masked_proc(runtime: Runtime) -> String {
    format!(
        "nothing is required: sandboxes keep their PID namespace and see the container's /proc; \
         for a private /proc, unmask it: {}",
        unmask_proc(runtime)
    )
}

/// How to give the run a writable home for its state.
pub fn writable_home(runtime: Runtime, home: Option<&Path>, uid: u32) -> String {
    let target = match home {
        Some(h) if h != Path::new("/") => h.display().to_string(),
        _ => "/home/codex".to_string(),
    };
    let set_home = if home.is_none_or(|h| h == Path::new("/")) {
        format!("set HOME={target} and ")
    } else {
        String::new()
    };
    let mount = match runtime {
        Runtime::Docker => format!(
            "docker run -v codex-state:{target} (kept between containers, with the probe cache), \
             or --tmpfs {target}:uid={uid},gid={uid},mode=0700 for a throw-away one (works with --read-only)"
        ),
        // podman rejects uid=/gid= on --tmpfs; U hands it to the --user.
        Runtime::Podman => format!(
            "podman run -v codex-state:{target}:U (kept between containers, with the probe cache), \
             or --tmpfs {target}:U for a throw-away one (works with --read-only)"
        ),
        Runtime::Kubernetes => format!(
            "a volume (emptyDir, or a PersistentVolumeClaim to keep it) mounted at {target}, as deploy/k8s/job.yaml does"
        ),
        Runtime::Other => format!(
            "a writable volume at {target} (docker/podman -v or --tmpfs; a Kubernetes emptyDir)"
        ),
    };
    format!(
        "{set_home}mount {mount}; or point CODEX_RUN_HOME and CODEX_RUN_SHARED_HOME at writable \
         directories outside the workspace and /tmp"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_wins_over_the_engine_underneath() {
        assert_eq!(
            Runtime::from_markers(true, false, true, None),
            Runtime::Kubernetes
        );
        assert_eq!(
            Runtime::from_markers(false, true, false, None),
            Runtime::Podman
        );
        assert_eq!(
            Runtime::from_markers(false, false, true, None),
            Runtime::Docker
        );
        assert_eq!(
            Runtime::from_markers(false, false, false, Some("podman")),
            Runtime::Podman
        );
        assert_eq!(
            Runtime::from_markers(false, false, false, None),
            Runtime::Other
        );
    }

    #[test]
    fn masked_proc_remedy_is_the_runtimes_own_flag() {
        assert!(masked_proc(Runtime::Docker).contains("systempaths=unconfined"));
        assert!(masked_proc(Runtime::Podman).contains("unmask=ALL"));
        assert!(masked_proc(Runtime::Kubernetes).contains("procMount: Unmasked"));
        let all = masked_proc(Runtime::Other);
        assert!(all.contains("systempaths=unconfined") && all.contains("unmask=ALL"));
    }

    #[test]
    fn home_remedy_names_a_real_home_when_home_is_root() {
        let r = writable_home(Runtime::Docker, Some(Path::new("/")), 4242);
        assert!(r.starts_with("set HOME=/home/codex"), "{r}");
        assert!(r.contains("uid=4242"), "{r}");
        let r = writable_home(Runtime::Podman, Some(Path::new("/root")), 0);
        assert!(r.contains("podman run -v codex-state:/root:U"), "{r}");
        assert!(!r.contains("set HOME"), "{r}");
    }
}
