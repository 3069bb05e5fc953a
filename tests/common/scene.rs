//! Two-stage attack scenes (DESIGN §8): one test tree holding everything a launch touches (workspace,
//! shared and per-task homes, state, cache and temp dirs) plus a victim tree outside every writable
//! root, so effects are asserted from the host. Each scene runs as a given uid on a given backend.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::*;

/// Who launches, and which sandbox the launch asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    pub uid: u32,
    pub backend: Backend,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The ladder's choice: the system bubblewrap here.
    Auto,
    /// `--backend bwrap-vendored`.
    Vendored,
    /// `--backend landlock`: the task can write the per-task home and the temp dir.
    Landlock,
    /// The ladder's choice where user namespaces cannot be created (Landlock).
    NoUserns,
}

impl Variant {
    /// [`Variant::all`] that launch under bubblewrap (system or vendored).
    pub fn bubblewrap() -> Vec<Variant> {
        Variant::all()
            .into_iter()
            .filter(|v| matches!(v.backend, Backend::Auto | Backend::Vendored))
            .collect()
    }

    /// Every uid and backend these tests can run here; as non-root only the caller's own uid.
    pub fn all() -> Vec<Variant> {
        let uids: Vec<u32> = if is_root() {
            vec![0, 65534]
        } else {
            vec![nix::unistd::geteuid().as_raw()]
        };
        let mut out = Vec::new();
        for uid in uids {
            for backend in [
                Backend::Auto,
                Backend::Vendored,
                Backend::Landlock,
                Backend::NoUserns,
            ] {
                if backend == Backend::NoUserns && !is_root() {
                    skip("the no-userns environment needs root");
                    continue;
                }
                out.push(Variant { uid, backend });
            }
        }
        out
    }

    /// The launcher flags that ask for this variant's backend.
    pub fn backend_args(&self) -> &'static [&'static str] {
        match self.backend {
            Backend::Vendored => &["--backend", "bwrap-vendored"],
            Backend::Landlock => &["--backend", "landlock"],
            Backend::Auto | Backend::NoUserns => &[],
        }
    }

    /// `cmd` as this variant's user, in this variant's environment.
    pub fn wrap(&self, cmd: &Command) -> Command {
        let me = nix::unistd::geteuid().as_raw();
        match (self.backend, self.uid) {
            (Backend::NoUserns, uid) => {
                without_userns(cmd, (uid != 0).then_some(uid)).expect("checked in all()")
            }
            (_, uid) if uid == me => copy(cmd),
            (_, 65534) => as_nobody(cmd).expect("checked in all()"),
            (_, uid) => panic!("cannot run as uid {uid}"),
        }
    }
}

/// A fresh tree for one scenario, owned by the variant's uid:
/// `ws` (workspace), `shared` (`CODEX_HOME`), `home` (`--home`), `state` (`XDG_STATE_HOME`),
/// `cache` (`XDG_CACHE_HOME`), `tmp` (`TMPDIR`), `user` (`HOME`), and `outside`, which no launch
/// may write: it holds `victim` and is where planted symlinks point.
pub struct Scene {
    _dir: tempfile::TempDir,
    pub variant: Variant,
    pub base: PathBuf,
    pub ws: PathBuf,
    pub shared: PathBuf,
    pub home: PathBuf,
    pub state: PathBuf,
    pub cache: PathBuf,
    pub tmp: PathBuf,
    pub user: PathBuf,
    pub outside: PathBuf,
    pub victim: PathBuf,
    before: Vec<Snap>,
}

type Snap = (PathBuf, String, u32, i64);

impl Scene {
    /// The mount-target registry a bubblewrap launch of this scene uses (in its `TMPDIR`).
    pub fn registry(&self) -> PathBuf {
        self.tmp.join(format!(
            "codex-bwrap-synthetic-mount-targets-{}",
            self.variant.uid
        ))
    }

    /// Stage 1 of an attack on a later launch: `script` as a Landlock task of the scene's user
    /// (Landlock leaves `$TMPDIR` writable and does not mediate chmod), with `$CL_REGISTRY` naming
    /// the registry. It must succeed; returns the launch's stderr.
    pub fn plant_from_a_landlock_task(&self, script: &str) -> String {
        let task = Variant {
            uid: self.variant.uid,
            backend: Backend::Landlock,
        };
        let mut cmd = self.codex_run_cmd_on(Backend::Landlock, &[], script);
        cmd.env("CL_REGISTRY", self.registry());
        let out = output(&mut task.wrap(&cmd));
        assert_eq!(out.status.code(), Some(0), "{script}: {}", stderr(&out));
        stderr(&out)
    }

    /// Puts `login` at `<shared>/auth.json` (0600, the scene's user's), as `codex login` does.
    pub fn write_shared_login(&self, login: &str) {
        let auth = self.shared.join("auth.json");
        self.host_shell(&format!(
            "printf '%s' '{login}' > '{a}' && chmod 600 '{a}'",
            a = auth.display()
        ));
    }

    pub fn new(variant: Variant) -> Scene {
        let dir = home_tempdir("cl-attack-");
        let base = dir.path().canonicalize().unwrap();
        let [ws, shared, state, cache, tmp, user, outside, homes] = [
            "ws", "shared", "state", "cache", "tmp", "user", "outside", "homes",
        ]
        .map(|n| base.join(n));
        for d in [&ws, &shared, &state, &cache, &tmp, &user, &outside, &homes] {
            std::fs::create_dir_all(d).unwrap();
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::write(shared.join("config.toml"), "model = \"o3\"\n").unwrap();
        let victim = outside.join("victim");
        std::fs::write(&victim, "victim: original bytes\n").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
        // The victim belongs to the launching user, so a write through a planted link would work.
        for p in [
            &ws,
            &shared,
            &state,
            &cache,
            &tmp,
            &user,
            &outside,
            &homes,
            &victim,
            &shared.join("config.toml"),
        ] {
            std::os::unix::fs::lchown(p, Some(variant.uid), Some(variant.uid)).unwrap_or(());
        }
        let mut scene = Scene {
            _dir: dir,
            variant,
            home: homes.join("task/codex-home"),
            base,
            ws,
            shared,
            state,
            cache,
            tmp,
            user,
            outside,
            victim,
            before: Vec::new(),
        };
        scene.before = scene.snapshot_outside();
        scene
    }

    /// A launcher command with this scene's environment (before the variant's wrapping).
    pub fn launcher(&self, personality_name: &str) -> Command {
        let mut cmd = personality(&self.base, personality_name);
        cmd.current_dir(&self.ws)
            .env("HOME", &self.user)
            .env("XDG_STATE_HOME", &self.state)
            .env("XDG_CACHE_HOME", &self.cache)
            .env("TMPDIR", &self.tmp)
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env_remove("CODEX_HOME")
            .env_remove("CODEX_LAUNCHER_BACKEND")
            .env_remove("CODEX_LAUNCHER_BWRAP")
            .env_remove("CODEX_LAUNCHER_LOG")
            .env_remove("CODEX_RUN_MULTI_AGENT")
            .env_remove("CODEX_RUN_MEMORY");
        cmd
    }

    /// `codex-run [backend] --shared-home --home [extra] -- /bin/sh -c script`, not yet wrapped.
    pub fn codex_run_cmd(&self, extra: &[&str], script: &str) -> Command {
        self.codex_run_cmd_on(self.variant.backend, extra, script)
    }

    /// [`Scene::codex_run_cmd`] asking for `backend` instead of the variant's.
    pub fn codex_run_cmd_on(&self, backend: Backend, extra: &[&str], script: &str) -> Command {
        let on = Variant {
            uid: self.variant.uid,
            backend,
        };
        let mut cmd = self.launcher("codex-run");
        cmd.args(on.backend_args())
            .arg("--shared-home")
            .arg(&self.shared)
            .arg("--home")
            .arg(&self.home)
            .args(extra)
            .args(["--", "/bin/sh", "-c", script]);
        cmd
    }

    /// Runs `script` under `codex-run` as this variant.
    pub fn codex_run(&self, script: &str) -> Output {
        output(&mut self.variant.wrap(&self.codex_run_cmd(&[], script)))
    }

    /// [`Scene::codex_run`] that must succeed; returns stdout.
    pub fn codex_run_ok(&self, script: &str) -> String {
        let out = self.codex_run(script);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{:?} {script}: {}",
            self.variant,
            stderr(&out)
        );
        stdout(&out)
    }

    /// The helper (`codex-linux-sandbox`) on `ws` with workspace-write and `TMPDIR` writable.
    pub fn helper_cmd(&self, script: &str) -> Command {
        let mut cmd = self.launcher("codex-linux-sandbox");
        let profile = r#"{"type":"managed","file_system":{"type":"restricted","entries":[{"path":{"type":"special","value":{"kind":"root"}},"access":"read"},{"path":{"type":"special","value":{"kind":"project_roots"}},"access":"write"},{"path":{"type":"special","value":{"kind":"tmpdir"}},"access":"write"}]},"network":"restricted"}"#;
        cmd.arg("--sandbox-policy-cwd")
            .arg(&self.ws)
            .arg("--permission-profile")
            .arg(profile);
        if self.variant.backend == Backend::Landlock {
            cmd.arg("--use-legacy-landlock");
        }
        if self.variant.backend == Backend::Vendored {
            cmd.env("CODEX_LAUNCHER_BWRAP", "vendored");
        }
        cmd.args(["--", "/bin/sh", "-c", script]);
        cmd
    }

    /// Runs `/bin/sh -c script` on the host (no sandbox) as the scene's user; it must succeed.
    pub fn host_shell(&self, script: &str) -> String {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", script]);
        let me = nix::unistd::geteuid().as_raw();
        let mut cmd = if self.variant.uid == me {
            cmd
        } else {
            as_nobody(&cmd).expect("only root runs other uids")
        };
        let out = output(&mut cmd);
        assert!(out.status.success(), "{script}: {}", stderr(&out));
        stdout(&out)
    }

    /// `prepare-home --json` for this scene's homes; the report.
    pub fn prepare_home(&self) -> serde_json::Value {
        let mut cmd = self.launcher("codex-launcher");
        cmd.args(["prepare-home", "--json", "--outer-backend", "none"])
            .arg("--shared-home")
            .arg(&self.shared)
            .arg("--home")
            .arg(&self.home);
        let out = output(&mut self.variant.wrap(&cmd));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        serde_json::from_str(&stdout(&out)).expect("prepare-home --json prints JSON")
    }

    /// Every file and directory under `outside`: path, content (or link target), mode, mtime.
    fn snapshot_outside(&self) -> Vec<Snap> {
        let mut out = Vec::new();
        let mut stack = vec![self.outside.clone()];
        while let Some(d) = stack.pop() {
            let meta = std::fs::symlink_metadata(&d).unwrap();
            out.push((d.clone(), "dir".into(), meta.mode(), meta.mtime()));
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                let m = std::fs::symlink_metadata(&p).unwrap();
                if m.is_dir() {
                    stack.push(p);
                } else {
                    let content = if m.file_type().is_symlink() {
                        format!("-> {}", std::fs::read_link(&p).unwrap().display())
                    } else {
                        String::from_utf8_lossy(&std::fs::read(&p).unwrap_or_default()).into_owned()
                    };
                    out.push((p, content, m.mode(), m.mtime()));
                }
            }
        }
        out.sort();
        out
    }

    /// Takes the state of `outside` now as the one to compare with (after a test adds to it).
    pub fn rebaseline(&mut self) {
        self.before = self.snapshot_outside();
    }

    /// Nothing under `outside` was created, changed, truncated or chmod-ed since the scene began.
    pub fn assert_outside_untouched(&self) {
        assert_eq!(
            self.snapshot_outside(),
            self.before,
            "{:?}: a write reached outside every writable root",
            self.variant
        );
    }

    /// A path in `outside` that does not exist: where a planted link may point to make a launch
    /// create a file.
    pub fn nonexistent_outside(&self, name: &str) -> PathBuf {
        self.outside.join(format!("created-{name}"))
    }

    /// Entries of `dir` whose names look like temp files of any launcher version.
    pub fn temp_files_in(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| {
                n.starts_with(".codex-launcher-tmp-") || n.contains(".tmp-") || n.contains(".link-")
            })
            .collect()
    }
}

/// A small deterministic generator (xorshift) so tests can vary names without a crate; the seed is
/// printed so a failure can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn from_time(label: &str) -> Rng {
        let seed = std::env::var("CL_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("{label}: CL_TEST_SEED={seed}");
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A name of lowercase letters and digits.
    pub fn name(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize] as char)
            .collect()
    }
}

/// Python inside the sandbox, for planting many entries fast.
pub fn py(code: &str) -> String {
    format!("/usr/bin/python3 -c '{}'", code.replace('\'', "'\"'\"'"))
}
