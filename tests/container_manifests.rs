//! The deploy files are real and agree with each other: deploy/k8s passes the "restricted" Pod
//! Security Standard's rules, deploy/Dockerfile has the stages and user that
//! scripts/container-image.sh builds for tests/container_podman.rs, and .dockerignore keeps
//! target/ out of the build context without dropping what the build needs.
//!
//! YAML is read with serde_norway (a dev-dependency only: the maintained fork of serde_yaml), so
//! the manifests are parsed as Kubernetes parses them, not grepped.

mod containers;

use std::path::{Path, PathBuf};

use containers::dockerfile::{self, Stage};
use serde_json::Value;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path} is not valid YAML: {e}"))
}

fn stages() -> (Stage, Stage) {
    let stages = dockerfile::repo_dockerfile();
    assert_eq!(
        stages.len(),
        2,
        "deploy/Dockerfile: a build and a runtime stage"
    );
    (stages[0].clone(), stages[1].clone())
}

/// The runtime stage's numeric `USER uid:gid`.
fn image_user() -> (u64, u64) {
    let (_, runtime) = stages();
    let user = runtime.last("USER").expect("the runtime stage sets USER");
    let (u, g) = user.split_once(':').unwrap_or((user, user));
    let uid = u.parse().unwrap_or_else(|_| {
        panic!("USER {user:?} is not numeric: Kubernetes cannot verify runAsNonRoot against a name")
    });
    (uid, g.parse().expect("numeric group"))
}

// ---------------------------------------------------------------------------------------------
// Dockerfile and the podman test's image.

#[test]
fn dockerfile_builds_in_one_stage_and_runs_in_a_slim_non_root_one() {
    let (build, runtime) = stages();
    assert_eq!(build.name.as_deref(), Some("build"));
    assert!(
        build.base.starts_with("rust:"),
        "build stage: {}",
        build.base
    );
    assert!(
        build
            .all("RUN")
            .any(|r| r.contains("cargo build --release --locked")),
        "the build stage builds the release binary from the lock file"
    );
    assert_eq!(runtime.name.as_deref(), Some("runtime"));
    assert!(
        runtime.base.starts_with("debian:") && runtime.base.ends_with("-slim"),
        "runtime stage: {}",
        runtime.base
    );
    assert!(
        runtime.all("COPY").any(|c| c
            == "--from=build /src/target/release/codex-launcher /usr/local/bin/codex-launcher"),
        "the runtime stage copies the release binary to /usr/local/bin"
    );
    assert!(runtime.all("RUN").any(|r| r.contains("image-setup.sh")));
    let (uid, gid) = image_user();
    assert!(uid != 0 && gid != 0, "the image runs as a non-root user");
    assert_eq!(runtime.entrypoint(), ["codex-entrypoint"]);
    assert_eq!(runtime.env("HOME").as_deref(), Some("/home/codex"));
    assert_eq!(runtime.last("WORKDIR"), Some("/workspace"));
}

#[test]
fn the_podman_test_builds_the_runtime_stage_the_same_way() {
    let script = std::fs::read_to_string(repo("scripts/container-image.sh")).unwrap();
    // The same copy and the same setup script.
    assert!(script.contains(r#"install -m 0755 "$bin" "$image.tmp/usr/local/bin/codex-launcher""#));
    assert!(script.contains("deploy/image-setup.sh"));
    assert!(script.contains("/bin/sh /usr/local/lib/codex-launcher/image-setup.sh"));
    // The same suite as the runtime stage's base, taken from the Dockerfile itself.
    assert!(script.contains("FROM[[:space:]]+debian:([a-z]+)-slim"));
    // Every package the test image gets, the Dockerfile installs too (the reverse does not hold:
    // Codex's nodejs/npm stay out of CI's image).
    let (_, runtime) = stages();
    let apt: Vec<&str> = runtime
        .all("RUN")
        .filter_map(|r| r.split("apt-get install").nth(1))
        .flat_map(|r| r.split("&&").next().unwrap_or("").split_whitespace())
        .filter(|w| !w.starts_with('-'))
        .collect();
    let include = script
        .lines()
        .find_map(|l| l.strip_prefix("include="))
        .expect("container-image.sh sets include=");
    for pkg in include.split(',') {
        assert!(
            apt.contains(&pkg),
            "{pkg} is in the test image but not installed by the Dockerfile ({apt:?})"
        );
    }
    assert!(apt.contains(&"bubblewrap"));
}

#[test]
fn image_setup_creates_the_user_the_dockerfile_runs_as() {
    let setup = std::fs::read_to_string(repo("deploy/image-setup.sh")).unwrap();
    let (uid, gid) = image_user();
    assert!(
        setup.contains(&format!("useradd --uid {uid} --gid {gid}")),
        "{setup}"
    );
    assert!(setup.contains("--home-dir /home/codex"));
    assert!(setup.contains("codex-launcher install --bin-dir /usr/local/bin"));
}

/// The patterns of .dockerignore, as written (this file uses plain directory names only).
fn dockerignore() -> Vec<String> {
    std::fs::read_to_string(repo(".dockerignore"))
        .expect(".dockerignore at the repository root (the build context)")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_end_matches('/').to_string())
        .collect()
}

#[test]
fn dockerignore_keeps_target_out_and_the_sources_in() {
    let ignored = dockerignore();
    for out in ["target", ".git"] {
        assert!(
            ignored.iter().any(|p| p == out),
            "{out} must be ignored: {ignored:?}"
        );
    }
    // What the build stage reads: the manifests, the sources, the vendored bwrap crate, the
    // files compiled in with include_str!, and the setup script the runtime stage copies.
    let mut needed: Vec<String> = [
        "Cargo.toml",
        "Cargo.lock",
        "src",
        "vendor",
        "deploy/image-setup.sh",
    ]
    .map(String::from)
    .to_vec();
    needed.extend(included_files());
    for path in needed {
        let first = path.split('/').next().unwrap().to_string();
        assert!(
            !ignored.iter().any(|p| *p == path || *p == first),
            "{path} is needed by the build but .dockerignore drops it"
        );
        assert!(repo(&path).exists(), "{path} does not exist");
    }
}

/// Repository paths that `include_str!`/`include_bytes!` pull into the binary.
fn included_files() -> Vec<String> {
    let mut out = Vec::new();
    let mut dirs = vec![repo("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for part in text.split("include_str!(\"").skip(1) {
                let rel = part.split('"').next().unwrap();
                let abs = path.parent().unwrap().join(rel);
                let abs = codex_launcher::policy::resolve::normalize(&abs);
                if let Ok(inside) = abs.strip_prefix(repo("")) {
                    out.push(inside.display().to_string());
                }
            }
        }
    }
    assert!(!out.is_empty(), "expected the seatbelt profiles at least");
    out
}

// ---------------------------------------------------------------------------------------------
// Kubernetes: the restricted Pod Security Standard (kubernetes.io/docs/concepts/security/
// pod-security-standards), checked rule by rule on every container and init container.

/// A container's effective setting: its own securityContext, else the pod's.
fn setting<'a>(pod: &'a Value, container: &'a Value, key: &str) -> &'a Value {
    let own = &container["securityContext"][key];
    if own.is_null() {
        &pod["securityContext"][key]
    } else {
        own
    }
}

fn restricted_violations(pod: &Value) -> Vec<String> {
    let mut bad = Vec::new();
    for host in ["hostNetwork", "hostPID", "hostIPC"] {
        if pod[host] == true {
            bad.push(format!("{host}: true"));
        }
    }
    let allowed_volumes = [
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    ];
    for v in pod["volumes"].as_array().into_iter().flatten() {
        let kinds: Vec<&String> = v
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| *k != "name")
            .collect();
        for k in kinds {
            if !allowed_volumes.contains(&k.as_str()) {
                bad.push(format!("volume {}: {k} is not allowed", v["name"]));
            }
        }
    }
    if pod["securityContext"]["runAsUser"] == 0 {
        bad.push("pod runAsUser 0".into());
    }
    let containers = ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .flat_map(|k| pod[*k].as_array().cloned().unwrap_or_default());
    for c in containers {
        let name = c["name"].as_str().unwrap_or("?").to_string();
        let mut say = |what: String| bad.push(format!("container {name}: {what}"));
        if setting(pod, &c, "runAsNonRoot") != true {
            say("runAsNonRoot is not true".into());
        }
        if setting(pod, &c, "runAsUser") == 0 {
            say("runAsUser 0".into());
        }
        if c["securityContext"]["allowPrivilegeEscalation"] != false {
            say("allowPrivilegeEscalation is not false".into());
        }
        if c["securityContext"]["privileged"] == true {
            say("privileged".into());
        }
        let caps = &c["securityContext"]["capabilities"];
        if !caps["drop"]
            .as_array()
            .is_some_and(|d| d.iter().any(|x| x == "ALL"))
        {
            say("capabilities.drop lacks ALL".into());
        }
        for add in caps["add"].as_array().into_iter().flatten() {
            if add != "NET_BIND_SERVICE" {
                say(format!("capabilities.add {add}"));
            }
        }
        let seccomp = setting(pod, &c, "seccompProfile");
        if !["RuntimeDefault", "Localhost"].contains(&seccomp["type"].as_str().unwrap_or("")) {
            say(format!(
                "seccompProfile {seccomp} is not RuntimeDefault or Localhost"
            ));
        }
        let proc_mount = &c["securityContext"]["procMount"];
        if !(proc_mount.is_null() || proc_mount == "Default") {
            say(format!("procMount {proc_mount}"));
        }
        if c["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| !p["hostPort"].is_null() && p["hostPort"] != 0)
        {
            say("hostPort".into());
        }
    }
    bad
}

fn job_pod() -> Value {
    let job = yaml("deploy/k8s/job.yaml");
    assert_eq!(job["apiVersion"], "batch/v1");
    assert_eq!(job["kind"], "Job");
    job["spec"]["template"]["spec"].clone()
}

#[test]
fn job_passes_the_restricted_pod_security_standard() {
    let pod = job_pod();
    let bad = restricted_violations(&pod);
    assert!(bad.is_empty(), "deploy/k8s/job.yaml: {bad:#?}");
}

#[test]
fn the_checker_rejects_what_restricted_rejects() {
    let mut pod = job_pod();
    pod["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = true.into();
    pod["securityContext"]["seccompProfile"]["type"] = "Unconfined".into();
    pod["initContainers"][0]["securityContext"]["capabilities"]["add"] =
        serde_json::json!(["SYS_ADMIN"]);
    pod["volumes"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "h", "hostPath": {"path": "/"}}));
    pod["securityContext"]["runAsNonRoot"] = false.into();
    let bad = restricted_violations(&pod);
    for expected in [
        "allowPrivilegeEscalation",
        "seccompProfile",
        "capabilities.add",
        "hostPath",
        "runAsNonRoot",
    ] {
        assert!(
            bad.iter().any(|b| b.contains(expected)),
            "{expected} not caught: {bad:#?}"
        );
    }
}

#[test]
fn job_runs_the_image_as_built_on_a_real_workspace() {
    let pod = job_pod();
    let (uid, _) = image_user();
    assert_eq!(
        pod["securityContext"]["runAsUser"], uid,
        "the Dockerfile's USER"
    );
    let main = &pod["containers"][0];
    assert!(
        main["command"].is_null(),
        "the image's ENTRYPOINT (codex-entrypoint) stays PID 1"
    );
    let mounts = |c: &Value| -> Vec<(String, String)> {
        c["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                (
                    m["name"].as_str().unwrap().into(),
                    m["mountPath"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    let workdir = main["workingDir"].as_str().expect("workingDir");
    let (ws_volume, _) = mounts(main)
        .into_iter()
        .find(|(_, path)| workdir.starts_with(path.as_str()))
        .expect("the working directory is on a volume");
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == ws_volume.as_str())
        .unwrap();
    // A workspace is a checkout: a claim, or a volume an init container fills first.
    let filled = pod["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| mounts(c).iter().any(|(n, _)| *n == ws_volume));
    assert!(
        !volume["persistentVolumeClaim"].is_null() || filled,
        "the workspace volume {volume} is neither a claim nor filled by an init container"
    );
    assert!(
        filled || volume["emptyDir"].is_null(),
        "an empty emptyDir is no workspace"
    );
    // A read-only root needs HOME (per-task homes, probe cache) and /tmp on volumes.
    if main["securityContext"]["readOnlyRootFilesystem"] == true {
        let env_home = main["env"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["name"] == "HOME")
            .and_then(|e| e["value"].as_str().map(String::from))
            .unwrap_or_else(|| "/home/codex".into());
        for needed in [env_home.as_str(), "/tmp"] {
            assert!(
                mounts(main).iter().any(|(_, p)| p == needed),
                "read-only root: {needed} must be a volume"
            );
        }
    }
}

fn grace_seconds(env: &Value) -> u64 {
    let value = env
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == "CODEX_RUN_GRACE_SECONDS")
        .map(|e| e["value"].clone());
    let value = value.expect("CODEX_RUN_GRACE_SECONDS is set explicitly (its default may change)");
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("a number of seconds")
}

#[test]
fn runtimes_wait_longer_than_the_entrypoints_grace_period() {
    let pod = job_pod();
    let grace = grace_seconds(&pod["containers"][0]["env"]);
    let kubelet = pod["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("set explicitly");
    assert!(
        kubelet >= grace + 5,
        "terminationGracePeriodSeconds {kubelet} vs entrypoint grace {grace}"
    );

    let compose = yaml("deploy/compose.yaml");
    let svc = &compose["services"]["codex"];
    let grace: u64 = svc["environment"]["CODEX_RUN_GRACE_SECONDS"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("compose sets CODEX_RUN_GRACE_SECONDS");
    let stop: u64 = svc["stop_grace_period"]
        .as_str()
        .and_then(|s| s.strip_suffix('s'))
        .and_then(|s| s.parse().ok())
        .expect("compose sets stop_grace_period in seconds");
    assert!(
        stop >= grace + 5,
        "stop_grace_period {stop}s vs entrypoint grace {grace}s"
    );
    let (uid, gid) = image_user();
    assert_eq!(svc["user"], format!("{uid}:{gid}"));
}

#[test]
fn kustomization_lists_every_manifest() {
    let k = yaml("deploy/k8s/kustomization.yaml");
    let listed: Vec<&str> = k["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for entry in std::fs::read_dir(repo("deploy/k8s")).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".yaml") && name != "kustomization.yaml" {
            assert!(
                listed.contains(&name.as_str()),
                "{name} is not in kustomization.yaml"
            );
        }
    }
    let pvc = yaml("deploy/k8s/workspace-pvc.yaml");
    let pod = job_pod();
    let claim = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|v| v["persistentVolumeClaim"]["claimName"].as_str())
        .expect("the job uses a claim");
    assert_eq!(pvc["metadata"]["name"], claim);
}
