//! `codex-entrypoint` as PID 1 of a real OCI container: podman + runc over deploy/Dockerfile's
//! runtime stage (built by scripts/container-image.sh), under the seccomp profiles and options
//! people run with, as root, as the image's non-root user and as a uid without a home. In each:
//! the backend `--dry-run` picks, `doctor`'s verdict, a write outside the workspace refused, the
//! network refused when off (a loopback listener outside the sandbox counts connections), exit
//! codes (7, SIGSEGV → 139, `podman stop` → the task's TERM handler's 42) and no zombies.
//!
//! Where the current binary fails a configuration, the cell is listed in `KNOWN_FAILING` with the
//! reason: the test fails when a listed check starts passing (remove the entry) and when any
//! check that is not listed fails.

mod containers;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use containers::*;

/// How the container's process is confined, as a runtime flag set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seccomp {
    /// moby's default profile, as `docker run` applies it.
    Moby,
    /// moby's default with doctor's additions (`doctor --seccomp-profile`).
    MobyPatchedByDoctor,
    /// containers/common's, as `podman run` applies it.
    PodmanDefault,
    Unconfined,
}

/// Whose defaults the run imitates: Docker gives a non-root `--user` no capabilities at all,
/// while podman turns `--cap-add` capabilities into ambient ones for a non-root user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    Docker,
    Podman,
}

#[derive(Debug, Clone, Copy)]
struct Config {
    name: &'static str,
    engine: Engine,
    seccomp: Seccomp,
    sys_admin: bool,
    read_only: bool,
    /// A tmpfs over HOME (the remedy doctor gives for a read-only root).
    home_tmpfs: bool,
    /// An image without bubblewrap installed: the built-in copy is all there is.
    without_system_bwrap: bool,
}

const BASE: Config = Config {
    name: "",
    engine: Engine::Podman,
    seccomp: Seccomp::PodmanDefault,
    sys_admin: false,
    read_only: false,
    home_tmpfs: false,
    without_system_bwrap: false,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum User {
    Root,
    /// deploy/Dockerfile's USER with its HOME.
    Image,
    /// A uid with no passwd entry: Docker and Kubernetes give it HOME=/.
    NoHome,
}

impl User {
    fn name(self) -> &'static str {
        match self {
            User::Root => "root",
            User::Image => "image-user",
            User::NoHome => "uid-4242-no-home",
        }
    }
}

const USERS: [User; 3] = [User::Root, User::Image, User::NoHome];

/// What a configuration should give a user.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    /// The task runs on one of these backends.
    Runs(&'static [&'static str]),
    /// Every run is refused before the task starts, and doctor names this cause.
    Refused(&'static str),
}

/// Checks the current binary fails in some cells, and why. `doctor`: the cause doctor must name,
/// with a `fails` verdict, while the run fails.
struct Known {
    config: &'static str,
    users: &'static [User],
    checks: &'static [&'static str],
    doctor: Option<&'static str>,
    reason: &'static str,
}

/// Remove an entry when its checks pass (the test says so); add none without a reason.
const KNOWN_FAILING: &[Known] = &[];

/// The expectation of a cell: what a correct launcher does there.
fn expected(cfg: &Config, user: User) -> (Expect, &'static str, &'static [&'static str]) {
    let no_home = user == User::NoHome && !cfg.home_tmpfs;
    if no_home || (cfg.read_only && !cfg.home_tmpfs) {
        return (
            Expect::Refused("state_dir_unwritable"),
            "fails",
            &["state_dir_unwritable"],
        );
    }
    match (cfg.seccomp, cfg.sys_admin) {
        (Seccomp::Moby, false) => (
            Expect::Runs(&["landlock"]),
            "degraded",
            &["seccomp_blocks_unshare"],
        ),
        // bwrap cannot build its root here (no pivot_root): Landlock is the strongest backend.
        (Seccomp::Moby, true) => (
            Expect::Runs(&["landlock"]),
            "degraded",
            &["pivot_root_refused"],
        ),
        _ if cfg.without_system_bwrap => (
            Expect::Runs(&["bwrap-vendored"]),
            "degraded",
            &["masked_proc"],
        ),
        // Ambient capabilities (podman's --cap-add for a non-root --user): a launcher that drops
        // them before bubblewrap gets bwrap-system; one that falls back gets Landlock.
        (Seccomp::PodmanDefault, true) if user != User::Root => {
            (Expect::Runs(&["bwrap-system", "landlock"]), "degraded", &[])
        }
        _ => (
            Expect::Runs(&["bwrap-system"]),
            "degraded",
            &["masked_proc"],
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Running one cell.

struct Cell<'a> {
    img: &'a Image,
    cfg: Config,
    user: User,
    net: &'a Listener,
    ws: tempfile::TempDir,
    profile: Option<std::path::PathBuf>,
    /// A host directory mounted at HOME, kept across containers.
    home_volume: Option<std::path::PathBuf>,
    /// Shell run in the container before it execs the command (which stays PID 1).
    prelude: Option<&'static str>,
}

impl Cell<'_> {
    fn home(&self) -> String {
        match self.user {
            User::Root => "/root".into(),
            User::Image => self.img.home.clone(),
            User::NoHome if self.cfg.home_tmpfs => self.img.home.clone(),
            User::NoHome => "/".into(),
        }
    }

    fn uid_gid(&self) -> (u32, u32) {
        match self.user {
            User::Root => (0, 0),
            User::Image => {
                let (u, g) = self
                    .img
                    .user
                    .split_once(':')
                    .unwrap_or((&self.img.user, ""));
                let u: u32 = u.parse().expect("the Dockerfile's USER is numeric");
                (u, g.parse().unwrap_or(u))
            }
            User::NoHome => (4242, 4242),
        }
    }

    /// `podman run` for this cell, running `argv` as the container's command (PID 1), in a
    /// container of its own.
    fn podman(&self, name: Option<&str>, env: &[(&str, &str)], argv: &[&str]) -> Run {
        let (uid, gid) = self.uid_gid();
        let removed: &[&str] = if self.cfg.without_system_bwrap {
            &["/usr/bin/bwrap"]
        } else {
            &[]
        };
        let root = Overlay::of(&self.img.rootfs, removed);
        let mut cmd = bounded(120, "podman");
        cmd.args(["--runtime", "runc", "run", "--rm"]).args(ULIMITS);
        cmd.arg(format!("--network=ns:{}", self.net.ns_path.display()));
        if let Some(n) = name {
            cmd.args(["--name", n]);
        }
        let mut caps: Vec<&str> = Vec::new();
        if self.cfg.engine == Engine::Docker {
            // Docker's default capability set is podman's plus these three.
            caps.extend(["MKNOD", "NET_RAW", "AUDIT_WRITE"]);
        }
        if self.cfg.sys_admin {
            caps.push("SYS_ADMIN");
        }
        if !caps.is_empty() {
            cmd.arg(format!("--cap-add={}", caps.join(",")));
        }
        match self.cfg.seccomp {
            Seccomp::Moby => {
                cmd.arg(format!(
                    "--security-opt=seccomp={}",
                    self.img.moby_profile.display()
                ));
            }
            Seccomp::MobyPatchedByDoctor => {
                let p = self.profile.as_ref().expect("patched profile");
                cmd.arg(format!("--security-opt=seccomp={}", p.display()));
            }
            Seccomp::PodmanDefault => {}
            Seccomp::Unconfined => {
                cmd.arg("--security-opt=seccomp=unconfined");
            }
        }
        if self.cfg.read_only {
            cmd.arg("--read-only");
        }
        let home = self.home();
        if self.cfg.home_tmpfs {
            // podman's way of Docker's --tmpfs DIR:uid=U,gid=G: owned by the --user.
            cmd.arg(format!("--tmpfs={home}:U"));
        }
        // Docker's --user for a non-root uid: no capabilities, not even ambient ones. podman
        // would make the added ones ambient, so start as root and drop everything like Docker.
        let docker_user = self.cfg.engine == Engine::Docker && uid != 0;
        if docker_user {
            cmd.arg("--user=0:0");
        } else {
            cmd.arg(format!("--user={uid}:{gid}"));
        }
        cmd.arg(format!("--env=HOME={home}"));
        if let Some(v) = &self.home_volume {
            cmd.arg(format!("--volume={}:{home}", v.display()));
        }
        for (k, v) in env {
            cmd.arg(format!("--env={k}={v}"));
        }
        cmd.arg(format!(
            "--volume={}:{}",
            self.ws.path().display(),
            self.img.workdir
        ));
        cmd.arg(format!("--workdir={}", self.img.workdir));
        // --rootfs is a boolean; the path is the first positional argument.
        cmd.arg("--rootfs").arg(&root.merged);
        if docker_user {
            cmd.args([
                "setpriv",
                &format!("--reuid={uid}"),
                &format!("--regid={gid}"),
                "--clear-groups",
                "--inh-caps=-all",
                "--ambient-caps=-all",
                "--",
            ]);
        }
        if let Some(prelude) = self.prelude {
            cmd.args(["sh", "-c", &format!("{prelude}\nexec \"$@\""), "sh"]);
        }
        cmd.args(argv);
        Run { cmd, _root: root }
    }

    fn entrypoint(&self, env: &[(&str, &str)], args: &[&str]) -> Run {
        let mut argv: Vec<&str> = self.img.entrypoint.iter().map(String::as_str).collect();
        argv.extend(args);
        self.podman(None, env, &argv)
    }

    fn write_script(&self, name: &str, body: &str) -> String {
        let path = self.ws.path().join(name);
        std::fs::write(&path, body).unwrap();
        format!("{}/{name}", self.img.workdir)
    }
}

/// A `podman run` and the container layer it runs on.
struct Run {
    cmd: Command,
    _root: Overlay,
}

impl Run {
    fn output(mut self) -> std::process::Output {
        output(&mut self.cmd)
    }
}

/// The task that probes containment, then exits 7.
fn contain_script(port: u16, home: &str) -> String {
    format!(
        r#"try() {{ if ( : > "$1" ) 2>/dev/null; then echo "$2=allowed"; else echo "$2=refused"; fi; }}
try /usr/local/bin/codex-ct-planted write_outside
try "{home}/codex-ct-planted" write_home
try ./codex-ct-inside write_inside
if (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null; then echo network=connected; else echo network=refused; fi
exit 7
"#
    )
}

/// The task for `podman stop`: leaves orphans behind, says it is ready, exits 42 on SIGTERM.
const STOP_SCRIPT: &str = r#"trap 'exit 42' TERM
(sleep 0.1 &)
(sh -c 'sleep 0.2 & exec true' &)
sleep 0.5
: > ./codex-ct-ready
while :; do sleep 0.1; done
"#;

/// What was seen in a cell, check by check: `Err` carries what went wrong.
type Checks = Vec<(&'static str, Result<String, String>)>;

fn run_cell(cell: &Cell, expect: &Expect, doctor: (&str, &[&str])) -> Checks {
    let mut out: Checks = Vec::new();
    let runs = matches!(expect, Expect::Runs(_));

    // The plan.
    let dry = cell
        .entrypoint(&[], &["--dry-run", "--json", "--", "true"])
        .output();
    let json: Option<serde_json::Value> = serde_json::from_slice(&dry.stdout).ok();
    let backend = json
        .as_ref()
        .and_then(|j| j["backend"].as_str().map(String::from));
    let dry_result = match expect {
        Expect::Runs(backends) => match &backend {
            Some(b) if dry.status.success() && backends.contains(&b.as_str()) => Ok(b.clone()),
            _ => Err(format!(
                "backend {backend:?} (want one of {backends:?}), exit {:?}: {}",
                dry.status.code(),
                short(&dry.stderr)
            )),
        },
        Expect::Refused(_) => {
            let refused = json.as_ref().is_some_and(|j| !j["refused"].is_null());
            if launcher_refused(&dry) || refused {
                Ok("refused".into())
            } else {
                Err(format!(
                    "--dry-run shows a runnable plan ({}) for a run that will be refused",
                    backend.as_deref().unwrap_or("?")
                ))
            }
        }
    };
    out.push(("dry_run", dry_result));

    // doctor.
    let doc = cell
        .podman(None, &[], &["codex-launcher", "doctor", "--json"])
        .output();
    let report: serde_json::Value = serde_json::from_slice(&doc.stdout).unwrap_or_default();
    let verdict = report["verdict"].as_str().unwrap_or("(none)").to_string();
    let causes: Vec<String> = report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["cause"].as_str().map(String::from))
        .collect();
    let (want_verdict, want_causes) = doctor;
    let summary = format!("{verdict} {causes:?}");
    out.push((
        "doctor",
        if verdict == want_verdict && want_causes.iter().all(|c| causes.iter().any(|x| x == c)) {
            Ok(summary)
        } else {
            Err(format!(
                "doctor says {summary}, want {want_verdict} naming {want_causes:?}; stderr: {}",
                short(&doc.stderr)
            ))
        },
    ));

    // Containment and exit 7, with the network off; then the control with it on.
    let home = cell.home();
    let script = cell.write_script("codex-ct-task.sh", &contain_script(cell.net.port, &home));
    let before = cell.net.hits();
    let task = cell
        .entrypoint(&[("CODEX_RUN_NETWORK", "off")], &["--", "bash", &script])
        .output();
    let hits = cell.net.hits() - before;
    let lines = results(&text(&task.stdout));
    let get = |k: &str| {
        lines
            .iter()
            .find(|(n, _)| n == k)
            .map_or("(missing)", |(_, v)| v.as_str())
    };
    let home_in_ws = Path::new(&home).starts_with(&cell.img.workdir);
    let task_result = if runs {
        let mut wrong = Vec::new();
        if task.status.code() != Some(7) {
            wrong.push(format!("exit {:?}, want 7", task.status.code()));
        }
        if get("write_outside") != "refused" {
            wrong.push(format!("write outside: {}", get("write_outside")));
        }
        if !home_in_ws && get("write_home") != "refused" {
            wrong.push(format!("write to HOME: {}", get("write_home")));
        }
        if get("write_inside") != "allowed" {
            wrong.push(format!("write inside: {}", get("write_inside")));
        }
        if get("network") != "refused" || hits != 0 {
            wrong.push(format!(
                "network off: {} ({hits} connections)",
                get("network")
            ));
        }
        if wrong.is_empty() {
            let on = cell
                .entrypoint(&[("CODEX_RUN_NETWORK", "on")], &["--", "bash", &script])
                .output();
            let on_lines = results(&text(&on.stdout));
            if !on_lines
                .iter()
                .any(|(k, v)| k == "network" && v == "connected")
            {
                wrong.push(format!(
                    "control: with the network on the listener was not reached: {}",
                    short(&on.stderr)
                ));
            }
        }
        if wrong.is_empty() {
            Ok("contained, exit 7".into())
        } else {
            Err(format!(
                "{}; stderr: {}",
                wrong.join("; "),
                short(&task.stderr)
            ))
        }
    } else if launcher_refused(&task) {
        Ok(format!("refused: {}", first_line(&text(&task.stderr))))
    } else {
        Err(format!(
            "want the launcher's refusal (exit 125, codex-entrypoint: error: ...), got exit {:?}: {}",
            task.status.code(),
            short(&task.stderr)
        ))
    };
    out.push(("task", task_result));
    if !runs {
        return out;
    }

    // A real segmentation fault (perl dereferencing address 1), not a kill: PID 1 of a PID
    // namespace ignores signals it has no handler for, faults excepted.
    let segv = cell
        .entrypoint(&[], &["--", "perl", "-e", "unpack(q(p), pack(q(Q), 1))"])
        .output();
    out.push((
        "segv",
        match segv.status.code() {
            Some(139) => Ok("139".into()),
            other => Err(format!("exit {other:?}, want 139: {}", short(&segv.stderr))),
        },
    ));

    // podman stop: SIGTERM to PID 1, forwarded to the task; orphans reaped meanwhile.
    out.push(("stop", stop(cell)));
    out
}

fn stop(cell: &Cell) -> Result<String, String> {
    let name = format!(
        "codex-ct-{}-{}-{}",
        std::process::id(),
        cell.cfg.name.replace('_', "-"),
        cell.user.name()
    );
    let script = cell.write_script("codex-ct-stop.sh", STOP_SCRIPT);
    let mut argv: Vec<&str> = cell.img.entrypoint.iter().map(String::as_str).collect();
    argv.extend(["--", "bash", &script]);
    let mut run = cell.podman(Some(&name), &[], &argv);
    let mut child = run
        .cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn podman run");
    // Ready, or already gone (a run that fails never gets ready).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let ready_file = cell.ws.path().join("codex-ct-ready");
    while !ready_file.exists()
        && std::time::Instant::now() < deadline
        && matches!(child.try_wait(), Ok(None))
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let ready = ready_file.exists();
    // Give the orphans time to exit and be reaped.
    std::thread::sleep(Duration::from_millis(700));
    let zombies =
        container_pid(&name).map(|pid| lasting_zombies_below(pid, Duration::from_millis(500)));
    let stopped = output(Command::new("podman").args(["stop", "-t", "30", &name]));
    let status = child.wait().expect("podman run ends");
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    let mut wrong = Vec::new();
    if !ready {
        wrong.push("the task never got ready".to_string());
    }
    match &zombies {
        Some(z) if z.is_empty() => {}
        Some(z) => wrong.push(format!("zombies: {z:?}")),
        None => wrong.push("could not find the container's PID 1".into()),
    }
    if !stopped.status.success() {
        wrong.push(format!("podman stop: {}", short(&stopped.stderr)));
    }
    if status.code() != Some(42) {
        wrong.push(format!("exit {:?}, want 42", status.code()));
    }
    if wrong.is_empty() {
        Ok("42, no zombies".into())
    } else {
        Err(format!(
            "{}; stderr: {}",
            wrong.join("; "),
            short(err.as_bytes())
        ))
    }
}

/// The launcher refused before starting the task: its own exit code for that (125, as Docker's
/// for a container that could not start) and its own message, not podman's (which also exits 125).
fn launcher_refused(out: &std::process::Output) -> bool {
    out.status.code() == Some(125) && text(&out.stderr).contains("codex-entrypoint: error:")
}

/// The end of a stderr, where the error is, kept short for the failure list.
fn short(bytes: &[u8]) -> String {
    let t = text(bytes);
    let t = t.trim();
    let start = t.char_indices().rev().nth(400).map_or(0, |(i, _)| i);
    t[start..].replace('\n', " | ")
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").chars().take(160).collect()
}

// ---------------------------------------------------------------------------------------------
// One test per configuration, every user in each.

fn matrix(cfg: Config) {
    let Some(img) = prerequisites() else { return };
    let net = Listener::start(&cfg.name.replace('_', "-"));
    let profile_dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let profile = (cfg.seccomp == Seccomp::MobyPatchedByDoctor).then(|| {
        let out = output(
            Command::new(env!("CARGO_BIN_EXE_codex-launcher"))
                .args(["doctor", "--seccomp-profile"])
                .arg(&img.moby_profile),
        );
        assert!(
            out.status.success(),
            "doctor --seccomp-profile: {}",
            short(&out.stderr)
        );
        let path = profile_dir.path().join("codex-seccomp.json");
        std::fs::write(&path, &out.stdout).unwrap();
        path
    });
    let mut problems = Vec::new();
    for user in USERS {
        let cell = Cell {
            img: &img,
            cfg,
            user,
            net: &net,
            ws: workspace(&format!("{}-{}", cfg.name, user.name())),
            profile: profile.clone(),
            home_volume: None,
            prelude: None,
        };
        check_cell(&cell, &mut problems);
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

fn prerequisites() -> Option<Image> {
    match image() {
        Ok(i) => Some(i),
        Err(why) => {
            require(Err(why));
            None
        }
    }
}

/// Runs a cell's checks against its expectation and KNOWN_FAILING; collects what disagrees.
fn check_cell(cell: &Cell, problems: &mut Vec<String>) {
    let (cfg, user) = (&cell.cfg, cell.user);
    let (expect, verdict, causes) = expected(cfg, user);
    let known = KNOWN_FAILING
        .iter()
        .find(|k| k.config == cfg.name && k.users.contains(&user));
    let (verdict, causes) = match known.and_then(|k| k.doctor) {
        // While the run fails, doctor must say so and name why.
        Some(cause) => ("fails", vec![cause]),
        None => (verdict, causes.to_vec()),
    };
    for (check, result) in run_cell(cell, &expect, (verdict, &causes)) {
        let listed = known.is_some_and(|k| k.checks.contains(&check));
        let line = format!("{} / {} / {check}", cfg.name, user.name());
        match (result, listed) {
            (Ok(v), false) => eprintln!("pass  {line}: {v}"),
            (Err(e), true) => eprintln!("known {line}: {e}"),
            (Ok(v), true) => problems.push(format!(
                "{line} now passes ({v}): remove it from KNOWN_FAILING ({})",
                known.map_or("", |k| k.reason)
            )),
            (Err(e), false) => problems.push(format!("{line}: {e}")),
        }
    }
}

/// Makes the probe cache on HOME look as if it had been written in this very container: the
/// kernel reuses namespace inode numbers, and the cache names namespaces by them, so a later
/// container often gets exactly this.
const SIMULATE_NAMESPACE_REUSE: &str = r#"ns="$(readlink /proc/self/ns/user),$(readlink /proc/self/ns/mnt),$(readlink /proc/self/ns/pid)"
found=
for f in "$HOME"/.cache/codex-launcher/*.json; do
    grep -q '"namespaces":"' "$f" 2>/dev/null || continue
    sed -i "s/\"namespaces\":\"[^\"]*\"/\"namespaces\":\"$ns\"/" "$f" && found=1
done
# Only "user namespaces work"-style verdicts are cached: after a run that found none, there is
# nothing to carry over, which is the point.
[ -n "$found" ] || echo "no cached verdict keyed by namespaces to rewrite" >&2"#;

/// HOME on a volume that outlives the container (as docs/containers.md suggests for keeping
/// sessions) carries the probe cache from one runtime configuration to the next; the second
/// must still get its own strongest backend.
fn cache_carried_over(first: Config, second: Config) {
    let Some(img) = prerequisites() else { return };
    let net = Listener::start(&second.name.replace('_', "-"));
    let home = workspace(&format!("{}-home", second.name));
    let cell = |cfg: Config, prelude| Cell {
        img: &img,
        cfg,
        user: User::Root,
        net: &net,
        ws: workspace(&format!("{}-{}", cfg.name, "root")),
        profile: None,
        home_volume: Some(home.path().to_path_buf()),
        prelude,
    };
    let primer = cell(first, None).entrypoint(&[], &["--", "true"]).output();
    assert_eq!(
        primer.status.code(),
        Some(0),
        "{} run: {}",
        first.name,
        short(&primer.stderr)
    );
    let mut problems = Vec::new();
    check_cell(&cell(second, Some(SIMULATE_NAMESPACE_REUSE)), &mut problems);
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn probe_cache_kept_from_podman_default_then_docker_default() {
    cache_carried_over(
        Config {
            name: "podman_default",
            ..BASE
        },
        Config {
            name: "stale_cache_podman_then_docker",
            engine: Engine::Docker,
            seccomp: Seccomp::Moby,
            ..BASE
        },
    );
}

#[test]
fn probe_cache_kept_from_docker_default_then_podman_default() {
    cache_carried_over(
        Config {
            name: "docker_default",
            engine: Engine::Docker,
            seccomp: Seccomp::Moby,
            ..BASE
        },
        Config {
            name: "stale_cache_docker_then_podman",
            ..BASE
        },
    );
}

#[test]
fn docker_default_profile() {
    matrix(Config {
        name: "docker_default",
        engine: Engine::Docker,
        seccomp: Seccomp::Moby,
        ..BASE
    });
}

#[test]
fn docker_default_profile_with_sys_admin() {
    matrix(Config {
        name: "docker_sys_admin",
        engine: Engine::Docker,
        seccomp: Seccomp::Moby,
        sys_admin: true,
        ..BASE
    });
}

#[test]
fn docker_with_the_profile_doctor_writes() {
    matrix(Config {
        name: "docker_doctor_profile",
        engine: Engine::Docker,
        seccomp: Seccomp::MobyPatchedByDoctor,
        ..BASE
    });
}

#[test]
fn podman_default_profile() {
    matrix(Config {
        name: "podman_default",
        ..BASE
    });
}

#[test]
fn podman_default_profile_with_sys_admin() {
    matrix(Config {
        name: "podman_sys_admin",
        sys_admin: true,
        ..BASE
    });
}

#[test]
fn podman_default_profile_with_the_built_in_bubblewrap_only() {
    matrix(Config {
        name: "podman_builtin_bwrap",
        without_system_bwrap: true,
        ..BASE
    });
}

#[test]
fn seccomp_unconfined() {
    matrix(Config {
        name: "unconfined",
        seccomp: Seccomp::Unconfined,
        ..BASE
    });
}

#[test]
fn read_only_root_with_a_workspace_volume() {
    matrix(Config {
        name: "read_only",
        read_only: true,
        ..BASE
    });
}

#[test]
fn read_only_root_with_a_tmpfs_home() {
    matrix(Config {
        name: "read_only_home_tmpfs",
        read_only: true,
        home_tmpfs: true,
        ..BASE
    });
}
