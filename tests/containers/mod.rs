//! Harness for running `codex-entrypoint` as PID 1 of a real OCI container (DESIGN §8): podman
//! with runc over the root filesystem scripts/container-image.sh builds (deploy/Dockerfile's
//! runtime stage over a debootstrap Debian), a loopback listener in a network namespace the
//! containers join, and a process-tree reader for zombies.
#![allow(dead_code)]

pub mod dockerfile;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Skips loudly, except under `CI=true`, where a missing prerequisite fails the test.
pub fn require(check: Result<(), String>) -> bool {
    match check {
        Ok(()) => true,
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("prerequisite missing under CI: {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            false
        }
    }
}

/// Where scripts/container-image.sh left its output.
pub fn artifacts() -> PathBuf {
    std::env::var_os("CODEX_CT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/container"))
}

/// The built image and the profiles the configurations use.
pub struct Image {
    pub rootfs: PathBuf,
    pub moby_profile: PathBuf,
    /// The runtime stage's USER, HOME, WORKDIR and ENTRYPOINT, from deploy/Dockerfile.
    pub user: String,
    pub home: String,
    pub workdir: String,
    pub entrypoint: Vec<String>,
}

/// Everything a container test needs, or why it cannot run here.
pub fn image() -> Result<Image, String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("the container tests run podman as root".into());
    }
    for tool in ["podman", "runc", "ip", "timeout"] {
        which::which(tool).map_err(|_| format!("{tool} is not installed (see .ci/run)"))?;
    }
    let dir = artifacts();
    let rootfs = dir.join("image");
    let moby_profile = dir.join("moby-default.json");
    for needed in [&rootfs, &moby_profile] {
        if !needed.exists() {
            return Err(format!(
                "{} is missing: run scripts/container-image.sh target/release/codex-launcher",
                needed.display()
            ));
        }
    }
    warn_if_stale(&rootfs);
    let stages = dockerfile::repo_dockerfile();
    let runtime = stages.last().expect("deploy/Dockerfile has stages");
    Ok(Image {
        rootfs,
        moby_profile,
        user: runtime
            .last("USER")
            .expect("runtime stage sets USER")
            .into(),
        home: runtime.env("HOME").expect("runtime stage sets ENV HOME"),
        workdir: runtime
            .last("WORKDIR")
            .expect("runtime stage sets WORKDIR")
            .into(),
        entrypoint: runtime.entrypoint(),
    })
}

/// The image holds a copy of the release binary; say so when it is not this checkout's.
fn warn_if_stale(rootfs: &Path) {
    let release = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/codex-launcher");
    let recorded =
        std::fs::read_to_string(rootfs.join(".codex-ct-binary-sha256")).unwrap_or_default();
    let current = Command::new("sha256sum").arg(&release).output().ok();
    let current = current
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default();
    if recorded.trim() != current {
        eprintln!(
            "WARNING: the image's binary is not target/release/codex-launcher; rebuild it with \
             cargo build --release && scripts/container-image.sh target/release/codex-launcher"
        );
    }
}

/// podman's default ulimits (nofile 1048576, nproc 4194304) exceed what root without
/// CAP_SYS_RESOURCE may set, and runc then refuses to start the container.
pub const ULIMITS: [&str; 4] = [
    "--ulimit",
    "nofile=4096:4096",
    "--ulimit",
    "nproc=4096:4096",
];

/// A network namespace with only loopback, and a listener on it counting connections. The
/// containers join it (`--network ns:PATH`), so a task that reaches 127.0.0.1:port outside its
/// sandbox shows up here; no traffic ever leaves the machine.
pub struct Listener {
    pub ns_path: PathBuf,
    name: String,
    pub port: u16,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Listener {
    pub fn start(tag: &str) -> Listener {
        let name = format!("codex-ct-{}-{tag}", std::process::id());
        let _ = Command::new("ip").args(["netns", "delete", &name]).output();
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        run_ok(Command::new("ip").args(["netns", "exec", &name, "ip", "link", "set", "lo", "up"]));
        let ns_path = PathBuf::from(format!("/run/netns/{name}"));
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = {
            let (ns_path, hits, stop) = (ns_path.clone(), hits.clone(), stop.clone());
            std::thread::spawn(move || {
                // setns changes only this thread's network namespace.
                let ns = std::fs::File::open(&ns_path).expect("open the netns");
                nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
                let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
                listener.set_nonblocking(true).unwrap();
                tx.send(listener.local_addr().unwrap().port()).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok(_) => {
                            hits.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
        };
        let port = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("listener port");
        Listener {
            ns_path,
            name,
            port,
            hits,
            stop,
            thread: Some(thread),
        }
    }

    pub fn hits(&self) -> usize {
        // Let a connection that raced the task's exit be accepted first.
        std::thread::sleep(Duration::from_millis(100));
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .output();
    }
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A workspace directory on the host, bind-mounted into the container; every uid may write it.
pub fn workspace(tag: &str) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix(&format!("ct-{tag}-"))
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

/// A container's own root: the image as the lower layer of an overlay and a fresh upper layer,
/// mounted on the host for one `podman run`, as a runtime does for each container of an image.
/// (podman's own `--rootfs DIR:O` hands the root directory to the `--user`, which no image does.)
pub struct Overlay {
    dir: tempfile::TempDir,
    pub merged: PathBuf,
}

impl Overlay {
    /// The image with `removed` (paths inside it) deleted in the container's layer, as a
    /// Dockerfile's `RUN rm` would leave them: overlayfs whiteouts.
    pub fn of(image: &Path, removed: &[&str]) -> Overlay {
        let dir = tempfile::Builder::new()
            .prefix("ct-layer-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap();
        let (upper, work, merged) = (
            dir.path().join("upper"),
            dir.path().join("work"),
            dir.path().join("merged"),
        );
        for d in [&upper, &work, &merged] {
            std::fs::create_dir(d).unwrap();
        }
        // Directories in the upper layer shadow the image's: same mode (both are root's).
        run_ok(
            Command::new("chmod")
                .arg("--reference")
                .arg(image)
                .arg(&upper),
        );
        for path in removed {
            let rel = Path::new(path.trim_start_matches('/'));
            let mut dir = rel.parent();
            std::fs::create_dir_all(upper.join(dir.unwrap())).unwrap();
            while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
                run_ok(
                    Command::new("chmod")
                        .arg("--reference")
                        .arg(image.join(d))
                        .arg(upper.join(d)),
                );
                dir = d.parent();
            }
            run_ok(
                Command::new("mknod")
                    .arg(upper.join(rel))
                    .args(["c", "0", "0"]),
            );
        }
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            image.display(),
            upper.display(),
            work.display()
        );
        run_ok(
            Command::new("mount")
                .args(["-t", "overlay", "overlay", "-o", &opts])
                .arg(&merged),
        );
        Overlay { dir, merged }
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("--lazy")
            .arg(&self.merged)
            .output();
        let _ = &self.dir;
    }
}

/// `timeout` around a command, so one hung container cannot hang the suite.
pub fn bounded(secs: u64, program: &str) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.args(["-k", "5", &secs.to_string(), program]);
    cmd
}

pub fn output(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The host PID of a running container's PID 1.
pub fn container_pid(name: &str) -> Option<i32> {
    let out = output(Command::new("podman").args(["inspect", "--format", "{{.State.Pid}}", name]));
    text(&out.stdout).trim().parse().ok().filter(|p| *p > 0)
}

/// The zombies below `root` that are still there `gap` later: a process that exited a moment ago
/// is a zombie until its living parent (a shell waiting for its `sleep`, say) reaps it, which on a
/// loaded machine can take a while. An orphan nobody reaps stays a zombie.
pub fn lasting_zombies_below(root: i32, gap: std::time::Duration) -> Vec<String> {
    let first = zombies_below(root);
    if first.is_empty() {
        return first;
    }
    std::thread::sleep(gap);
    let second = zombies_below(root);
    first.into_iter().filter(|z| second.contains(z)).collect()
}

/// Every process below `root` (host PIDs) in state Z, as "pid comm".
pub fn zombies_below(root: i32) -> Vec<String> {
    let mut parent_of = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // comm may contain spaces and parentheses: the fields start after the last ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.split_once('(').map_or("", |(_, c)| c).to_string();
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("").to_string();
        let ppid: i32 = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        parent_of.push((pid, ppid, state, comm));
    }
    let mut below = vec![root];
    let mut found = Vec::new();
    let mut i = 0;
    while i < below.len() {
        let p = below[i];
        for (pid, ppid, state, comm) in &parent_of {
            if *ppid == p && !below.contains(pid) {
                below.push(*pid);
                if state == "Z" {
                    found.push(format!("{pid} {comm}"));
                }
            }
        }
        i += 1;
    }
    found
}

/// `KEY=value` lines a task printed.
pub fn results(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}
