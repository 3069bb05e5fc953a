//! The per-task Codex home (DESIGN §5, reference multica-codex-home.md): a `sessions/` of its own
//! under a sandbox ([`sessions`]; a link to the shared one without), a link to the shared
//! `auth.json`, synced copies, referenced files and the managed `config.toml`.
//!
//! `prepare` validates everything it can (shared config parses, referenced files are safe) before
//! it changes anything, so bad input leaves the per-task home as it was. Writes are atomic and a
//! per-home lock (kept outside the home) serialises concurrent prepares.
//!
//! The per-task home is writable by Codex and, under some outer layers, by the commands it runs,
//! so every prepare treats it as untrusted (DESIGN §9): it goes through [`crate::fs`], restores the
//! links, removes temp files killed prepares left, and resets everything Codex reads as
//! configuration or instructions ([`reset`]).

pub mod blocks;
pub mod config_memo;
pub mod credentials;
pub mod edit;
pub mod home_lock;
pub mod inner_sandbox;
pub mod login;
pub mod managed;
pub mod managed_keys;
pub mod memo_secret;
pub mod reset;
pub mod sessions;
pub mod sync;
pub mod token_refresh;

use std::path::{Path, PathBuf};

use inner_sandbox::{Decision, Platform, WindowsSandbox};
use managed::ManagedConfig;
use serde::Serialize;

use crate::exit::Failure;
use crate::select::Backend;

#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error("{0}")]
    Refused(String),
    /// Input the user must correct: an invalid shared config, a bad `-c` (exit 2).
    #[error("{0}")]
    Usage(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Fs(#[from] crate::fs::FsError),
}

impl HomeError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl From<HomeError> for Failure {
    fn from(e: HomeError) -> Self {
        match e {
            HomeError::Usage(m) => Failure::usage(m),
            e => Failure::refused(e.to_string()),
        }
    }
}

/// One thing prepare did (or found already right): `unchanged`, `copied`, `refreshed`, `deleted`,
/// `linked`, `reset` (something a task or Codex left where only the shared home or the launcher
/// may supply content), `displaced` (a directory with content moved to `moved_to`) or `removed`
/// (a leftover temp file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    pub path: PathBuf,
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_to: Option<PathBuf>,
}

impl Action {
    pub fn new(path: &Path, action: &'static str) -> Self {
        Self {
            path: path.to_path_buf(),
            action,
            moved_to: None,
        }
    }

    pub fn displaced(path: &Path, to: &Path) -> Self {
        Self {
            moved_to: Some(to.to_path_buf()),
            ..Self::new(path, "displaced")
        }
    }
}

#[derive(Debug, Clone)]
pub struct PrepareOptions {
    pub shared_home: PathBuf,
    pub home: PathBuf,
    /// An ancestor of `home` the user named (the state dir, or the parent of `--home`): the path
    /// up to it is opened normally, everything below it without following symlinks.
    pub home_anchor: PathBuf,
    pub platform: Platform,
    /// `codex --version` output, when known.
    pub codex_version: Option<String>,
    pub outer: Backend,
    pub network_on: bool,
    /// `-c key=value`, in order.
    pub overrides: Vec<String>,
    pub multi_agent: bool,
    pub memory: bool,
    /// A config to start from instead of the shared `config.toml` (a config lock being replayed):
    /// where it came from (for errors) and its text.
    pub config_source: Option<(PathBuf, String)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub home: PathBuf,
    pub shared_home: PathBuf,
    pub sandbox: Decision,
    /// Where the shared login lives; `dedicated` means a refresh inside a task can be saved,
    /// once the outer layer makes that directory writable.
    pub credentials: credentials::Credentials,
    pub actions: Vec<Action>,
    /// The per-task config.toml as written.
    #[serde(skip)]
    pub config: String,
}

impl Report {
    /// Whether prepare changed anything on disk.
    pub fn changed(&self) -> bool {
        self.actions.iter().any(|a| a.action != "unchanged")
    }
}

/// Everything read and checked before the first write.
struct Validated {
    /// The per-task config.toml.
    config: String,
    decision: Decision,
    /// The decision to record once it is written, when it was not taken from the record.
    memo: Option<config_memo::Record>,
    referenced: Vec<sync::Referenced>,
    config_json: Option<Vec<u8>>,
    instructions: Option<Vec<u8>>,
    resets: reset::Sources,
    auth_present: bool,
}

/// Refuses per-task homes under the temp dir (Codex refuses helper binaries there) or the shared home.
pub fn check_home_location(home: &Path, shared: &Path) -> Result<(), HomeError> {
    let normal = |p: &Path| {
        crate::policy::resolve::normalize(
            &crate::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()),
        )
    };
    let (h, s) = (normal(home), normal(shared));
    let mut temps = vec![
        PathBuf::from("/tmp"),
        PathBuf::from("/var/tmp"),
        std::env::temp_dir(),
    ];
    temps.extend(std::env::var_os("TMPDIR").map(PathBuf::from));
    for t in temps.iter().map(|t| normal(t)) {
        if h.starts_with(&t) {
            return Err(HomeError::Refused(format!(
                "per-task home {}: must not live under the temp dir {} (Codex refuses helpers there); pick another with --home or XDG_STATE_HOME",
                home.display(),
                t.display()
            )));
        }
    }
    if h.starts_with(&s) {
        return Err(HomeError::Refused(format!(
            "per-task home {} is the shared home {} or inside it; pick another with --home or XDG_STATE_HOME",
            home.display(),
            shared.display()
        )));
    }
    Ok(())
}

fn validate(opts: &PrepareOptions) -> Result<Validated, HomeError> {
    let decided = decide_config(opts)?;
    let shared = &opts.shared_home;
    let facts = decided.facts?;
    Ok(Validated {
        referenced: sync::read_referenced(&facts.references, shared)?,
        memo: decided
            .fresh
            .and_then(|key| config_memo::Record::new(key, facts, decided.config.clone())),
        config: decided.config,
        decision: decided.decision,
        config_json: sync::read_source(&shared.join("config.json"))?,
        instructions: sync::read_source(&shared.join("instructions.md"))?,
        resets: reset::Sources::read(shared)?,
        auth_present: shared.join("auth.json").exists(),
    })
}

/// The per-task config.toml [`plan`] decides for `opts`, from the config source alone: what a
/// caller that only reads the config (the egress proxy's model provider) needs, without reading
/// and checking every other shared file.
pub fn plan_config(opts: &PrepareOptions) -> Result<String, HomeError> {
    Ok(decide_config(opts)?.config)
}

/// The config source with the `-c` overrides and the managed blocks applied.
struct DecidedConfig {
    /// What the decision read from the user's config; the references' refusal is kept for
    /// whoever needs them (a caller that only wants the config text does not).
    facts: Result<config_memo::Facts, HomeError>,
    config: String,
    decision: Decision,
    /// The memo key, when this was decided afresh (not taken from the record).
    fresh: Option<String>,
}

fn decide_config(opts: &PrepareOptions) -> Result<DecidedConfig, HomeError> {
    check_home_location(&opts.home, &opts.shared_home)?;
    let shared = &opts.shared_home;
    let (config_path, config_text) = match &opts.config_source {
        Some((path, text)) => (path.clone(), Some(text.clone())),
        None => {
            let path = shared.join("config.toml");
            let text = match sync::read_source(&path)? {
                None => None,
                Some(bytes) => Some(String::from_utf8(bytes).map_err(|_| {
                    HomeError::Usage(format!("{}: not UTF-8 text", path.display()))
                })?),
            };
            (path, text)
        }
    };
    let named = |e: managed::ManagedError| match e {
        e @ managed::ManagedError::Output(_) => {
            HomeError::Refused(format!("{}: {e}", config_path.display()))
        }
        e => HomeError::Usage(format!("{}: {e}", config_path.display())),
    };
    let key = config_memo::key(opts, config_text.as_deref());
    if let Some(record) = config_memo::load(&opts.home, &key) {
        let (decision, _) =
            decide_sandbox(opts, record.facts.windows, record.facts.user_allows_network);
        return Ok(DecidedConfig {
            config: record.config,
            decision,
            facts: Ok(record.facts),
            fresh: None,
        });
    }
    let managed = managed_config(opts, None);
    let parsed = managed::parse(config_text.as_deref().unwrap_or("")).map_err(named)?;
    let parsed = managed::with_overrides(parsed, &opts.overrides, &managed).map_err(named)?;
    let windows = match opts.platform {
        Platform::Windows => {
            WindowsSandbox::classify(parsed.root().get("windows").and_then(|w| w.get("sandbox")))
        }
        _ => WindowsSandbox::Absent,
    };
    let user_allows_network = managed::user_allows_network(parsed.root());
    let (decision, managed) = decide_sandbox(opts, windows, user_allows_network);
    let applied = managed::apply_parsed(&parsed, &managed).map_err(named)?;
    Ok(DecidedConfig {
        facts: sync::reference_values(parsed.root()).map(|references| config_memo::Facts {
            windows,
            user_allows_network,
            references,
        }),
        config: applied.text,
        decision,
        fresh: Some(key),
    })
}

/// The sandbox decision for `opts`, given what it takes from the user's config, and the managed
/// settings that carry it: one function for a config decided afresh and one taken from the record.
fn decide_sandbox(
    opts: &PrepareOptions,
    windows: WindowsSandbox,
    user_allows_network: bool,
) -> (Decision, ManagedConfig) {
    let decision = inner_sandbox::decide(
        opts.outer,
        opts.network_on,
        opts.platform,
        opts.codex_version.as_deref(),
        windows,
    );
    let managed = managed_config(opts, Some(decision.setting.clone()));
    let setting = managed::effective_sandbox(&managed, user_allows_network);
    (
        Decision {
            setting,
            ..decision
        },
        managed,
    )
}

/// The managed settings for `opts`; the sandbox one once decided (a placeholder before: only
/// the multi-agent and memory switches matter for checking `-c` overrides).
fn managed_config(
    opts: &PrepareOptions,
    sandbox: Option<managed::SandboxSetting>,
) -> ManagedConfig {
    ManagedConfig {
        sandbox: sandbox.unwrap_or_else(|| {
            inner_sandbox::decide(
                opts.outer,
                opts.network_on,
                opts.platform,
                opts.codex_version.as_deref(),
                WindowsSandbox::Absent,
            )
            .setting
        }),
        multi_agent: opts.multi_agent,
        memory: opts.memory,
    }
}

/// Everything `prepare` will write, read and decided but not yet written.
pub struct Planned {
    validated: Validated,
    /// The per-task config.toml to write.
    pub config: String,
    pub decision: Decision,
}

/// Reads and validates the sources and decides the per-task config; writes nothing. (What
/// [`write`] writes comes from [`plan_locked`], decided under the per-home lock.)
pub fn plan(opts: &PrepareOptions) -> Result<Planned, HomeError> {
    let validated = validate(opts)?;
    Ok(Planned {
        config: validated.config.clone(),
        decision: validated.decision.clone(),
        validated,
    })
}

/// The per-task home, created when missing: walked from its anchor without following symlinks,
/// every directory ours, the home itself exactly 0700.
fn open_home(opts: &PrepareOptions) -> Result<(crate::fs::Dir, bool), HomeError> {
    check_home_location(&opts.home, &opts.shared_home)?;
    let below = opts.home.strip_prefix(&opts.home_anchor).map_err(|_| {
        HomeError::Refused(format!(
            "{} is not below {}",
            opts.home.display(),
            opts.home_anchor.display()
        ))
    })?;
    let created = std::fs::symlink_metadata(&opts.home).is_err();
    let home = crate::fs::Dir::anchor_creating(&opts.home_anchor)?.create_dirs(below, 0o700)?;
    if home.stat()?.mode != 0o700 {
        home.set_mode(0o700)?;
    }
    let sessions = opts.shared_home.join("sessions");
    crate::fs::create_dirs_private(&sessions).map_err(|e| HomeError::io(&sessions, e))?;
    Ok((home, created))
}

/// Gives the owner back the bits a task took from the shared home (Landlock does not mediate
/// chmod): everything below it would otherwise look missing or fail with EACCES at every launch.
/// Reported when it changes anything; the launcher's own dirs below the state dir are repaired
/// where they are opened ([`crate::fs`]).
pub fn restore_access(opts: &PrepareOptions) {
    if let Err(e) = crate::fs::repair_owner_access(&opts.shared_home) {
        tracing::debug!(error = %e, "shared home access not checked");
    }
}

/// Brings the per-task home up to date with the shared home. Nothing is written when it already is.
pub fn prepare(opts: &PrepareOptions) -> Result<Report, HomeError> {
    restore_access(opts);
    write(opts, plan_locked(opts)?)
}

/// A [`Planned`] decided while holding the per-home lock, which it keeps until [`write`].
pub struct LockedPlan {
    pub planned: Planned,
    lock: crate::fs::Lock,
}

/// Takes the per-home lock, then plans: the shared files are read while holding it, so concurrent
/// runs leave the per-task home as of the newest shared version they saw, never an older one read
/// before another run's write. (Writes nothing in the home; the lock lives in the launcher's state
/// dir.)
pub fn plan_locked(opts: &PrepareOptions) -> Result<LockedPlan, HomeError> {
    let lock = home_lock::take(&opts.home)?;
    Ok(LockedPlan {
        planned: plan(opts)?,
        lock,
    })
}

/// Carries out what [`plan_locked`] decided for `opts`, under the same lock.
pub fn write(opts: &PrepareOptions, locked: LockedPlan) -> Result<Report, HomeError> {
    write_locked(opts, locked.planned, locked.lock)
}

fn write_locked(
    opts: &PrepareOptions,
    planned: Planned,
    _lock: crate::fs::Lock,
) -> Result<Report, HomeError> {
    let Planned {
        validated: v,
        config: config_text,
        decision,
    } = planned;
    let (home, _) = open_home(opts)?;
    let shared = &opts.shared_home;
    let mut actions = Vec::new();

    sync::remove_leftovers(&home, &mut actions)?;
    if opts.outer == Backend::None {
        sync::ensure_link(
            &home,
            sessions::DIR,
            &shared.join(sessions::DIR),
            &mut actions,
        )?;
    } else {
        // What a run killed before its copy left behind.
        sessions::publish(&home, &opts.home, shared, &mut actions)?;
        sessions::ensure_dir(&home, &mut actions)?;
    }
    let credentials = credentials::ensure(shared, &mut actions)?;
    if v.auth_present {
        sync::ensure_link(&home, "auth.json", &shared.join("auth.json"), &mut actions)?;
    } else {
        // The shared credentials are gone: so is the per-task link, rather than dangling.
        sync::remove_if_present(&home, "auth.json", &mut actions)?;
    }
    for (name, bytes) in [
        ("config.json", &v.config_json),
        ("instructions.md", &v.instructions),
    ] {
        sync::sync_copy(
            &home,
            &home,
            name.as_ref(),
            bytes.as_deref(),
            sync::Wording::Sync,
            &mut actions,
        )?;
    }
    reset::apply(&home, &v.resets, &mut actions)?;
    for r in &v.referenced {
        sync::copy_referenced(&home, r, &mut actions)?;
    }
    sync::sync_copy(
        &home,
        &home,
        "config.toml".as_ref(),
        Some(config_text.as_bytes()),
        sync::Wording::Sync,
        &mut actions,
    )?;
    if let Some(record) = &v.memo {
        config_memo::store(&opts.home, record);
    }
    if decision.setting.mode == "danger-full-access" && opts.outer == Backend::None {
        tracing::warn!(reason = %decision.reason, hint = ?decision.hint, "codex runs unsandboxed (danger-full-access)");
    }
    Ok(Report {
        home: opts.home.clone(),
        shared_home: shared.clone(),
        sandbox: decision,
        credentials,
        actions,
        config: config_text,
    })
}

/// After a sandboxed run: copies the task's new transcripts into the shared `sessions/`
/// ([`sessions`]). Nothing to do when the run had no sandbox (the per-task `sessions` is a link).
pub fn publish_sessions(opts: &PrepareOptions) -> Result<Vec<Action>, HomeError> {
    let mut actions = Vec::new();
    if opts.outer == Backend::None {
        return Ok(actions);
    }
    let _lock = home_lock::take(&opts.home)?;
    let (home, _) = open_home(opts)?;
    sessions::publish(&home, &opts.home, &opts.shared_home, &mut actions)?;
    Ok(actions)
}

/// `CODEX_RUN_MULTI_AGENT=1` / `CODEX_RUN_MEMORY=1` leave Codex's own setting alone.
pub fn opted_out(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}
