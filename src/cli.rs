//! Command-line definitions for every personality (clap derive). Parsing only; no behaviour.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// `codex-launcher`: the multi-command form, used under any name other than the linked ones.
#[derive(Debug, Parser)]
#[command(
    name = "codex-launcher",
    bin_name = "codex-launcher",
    version,
    about = "Prepare a per-task Codex home, pick the strongest sandbox this host can enforce, and run Codex (or any task) under it",
    long_about = None,
    propagate_version = true,
)]
pub struct LauncherCli {
    #[command(subcommand)]
    pub command: LauncherCommand,
}

/// The subcommands of `codex-launcher`.
#[derive(Debug, Subcommand)]
pub enum LauncherCommand {
    /// Prepare the per-task Codex home and run a command (default: codex) sandboxed [= codex-run]
    Run(RunArgs),
    /// Drop-in for Codex's Linux sandbox helper [= codex-linux-sandbox]
    LinuxSandbox(LinuxSandboxArgs),
    /// Container PID 1: reap, forward signals, run the task sandboxed [= codex-entrypoint]
    Entrypoint(RunArgs),
    /// Prepare (or refresh) a per-task Codex home and print its path
    PrepareHome(PrepareHomeArgs),
    /// Print the host probes, backend ladder and exact launch plan without running anything
    Explain(ExplainArgs),
    /// Name every problem a run would hit here (backend, bubblewrap, state dirs, cache) with the remedy
    Doctor(DoctorArgs),
    /// Export or verify an effective config lock
    Lock(LockArgs),
    /// Create the codex-run, codex-linux-sandbox and codex-entrypoint symlinks to this binary
    Install(InstallArgs),
    /// Run the bubblewrap built into this binary with the given arguments (diagnosis, tests)
    Bwrap(BwrapArgs),
    /// Print shell completions
    Completions(CompletionsArgs),
    /// Print the manual page
    Man(ManArgs),
    /// Say what this binary contains and under which licenses (bubblewrap is LGPL-2.1-or-later)
    Licenses(LicensesArgs),
    /// List the per-task Codex homes in the launcher's state dir (id, last use, size, path)
    Tasks(TasksArgs),
    /// Remove per-task Codex homes not used for a while
    Gc(GcArgs),
}

/// `codex-launcher completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in
    #[arg(value_enum)]
    pub shell: crate::completions::Shell,
    /// The command the completions are for
    #[arg(value_enum, default_value = "codex-launcher")]
    pub program: crate::completions::Program,
}

/// `codex-launcher tasks`.
#[derive(Debug, Args)]
pub struct TasksArgs {
    /// Print the list as JSON (docs/json-schema.md)
    #[arg(long)]
    pub json: bool,
}

/// `codex-launcher gc`.
#[derive(Debug, Args)]
pub struct GcArgs {
    /// Remove the per-task homes nothing was written in for this long (30d, 12h, 90m, 2w, 1d12h)
    #[arg(long, value_name = "DURATION", required = true, value_parser = crate::tasks::parse_duration)]
    pub older_than: std::time::Duration,
    /// Print what would be removed without removing anything
    #[arg(long)]
    pub dry_run: bool,
}

/// `codex-launcher licenses`.
#[derive(Debug, Args)]
pub struct LicensesArgs {
    /// Also print the full license texts (Apache-2.0, LGPL-2.1)
    #[arg(long)]
    pub text: bool,
}

/// `codex-launcher man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// The page to print: codex-launcher, codex-run, codex-entrypoint, codex-linux-sandbox or
    /// codex-launcher-SUBCOMMAND
    #[arg(value_name = "PAGE", default_value = "codex-launcher")]
    pub page: String,
}

/// `codex-run`: the everyday launcher.
#[derive(Debug, Parser)]
#[command(
    name = "codex-run",
    bin_name = "codex-run",
    version,
    about = "Prepare the per-task Codex home, then run a command (default: codex) under the strongest available sandbox"
)]
pub struct RunCli {
    #[command(flatten)]
    pub args: RunArgs,
}

/// `codex-entrypoint`: a container's PID 1.
#[derive(Debug, Parser)]
#[command(
    name = "codex-entrypoint",
    bin_name = "codex-entrypoint",
    version,
    about = "Container PID 1: reap orphans, forward signals, and run the task under the strongest available sandbox",
    after_help = "Options can also come from environment variables: CODEX_RUN_SANDBOX, CODEX_RUN_NETWORK, CODEX_RUN_ALLOW_DOMAINS and CODEX_RUN_ALLOW_ENDPOINTS (comma-separated), CODEX_RUN_WRITABLE_ROOTS and CODEX_RUN_ALLOW_UNIX_SOCKETS (colon-separated), CODEX_RUN_CWD, CODEX_RUN_PERMISSION_PROFILE, CODEX_RUN_BACKEND, CODEX_RUN_REQUIRE_FULL_ISOLATION, CODEX_RUN_TASK_ID, CODEX_RUN_HOME, CODEX_RUN_SHARED_HOME, CODEX_RUN_CODEX, CODEX_RUN_CODEX_VERSION, CODEX_RUN_LOCK_EXPORT, CODEX_RUN_LOCK_REPLAY, CODEX_RUN_ALLOW_CODEX_VERSION_MISMATCH, CODEX_RUN_GRACE_SECONDS (default 10), CODEX_RUN_MULTI_AGENT, CODEX_RUN_MEMORY. A flag wins over its variable; an unknown CODEX_RUN_* variable is an error."
)]
pub struct EntrypointCli {
    #[command(flatten)]
    pub args: RunArgs,
}

/// `codex-linux-sandbox`: accepts exactly the arguments Codex 0.169 passes to its helper
/// (reference codex-linux-sandbox.md §2). Codex hides everything but two flags; so do we.
#[derive(Debug, Parser)]
#[command(
    name = "codex-linux-sandbox",
    bin_name = "codex-linux-sandbox",
    disable_version_flag = true,
    about = "Run a command under a filesystem and network sandbox, as Codex's Linux helper does",
    long_about = "Run a command under a filesystem and network sandbox, as Codex's Linux helper does.\n\n\
                  Filesystem isolation uses bubblewrap (or Landlock where user namespaces are blocked); \
                  syscall filtering uses seccomp."
)]
pub struct LinuxSandboxCli {
    #[command(flatten)]
    pub args: LinuxSandboxArgs,
}

/// The helper's arguments.
#[derive(Debug, Clone, Args)]
pub struct LinuxSandboxArgs {
    /// Directory that relative paths in the permission profile are resolved against; may differ
    /// from the directory the command runs in
    #[arg(long, required = true, value_name = "SANDBOX_POLICY_CWD")]
    pub sandbox_policy_cwd: PathBuf,

    /// The command's working directory (defaults to the policy cwd)
    #[arg(long, hide = true, value_name = "COMMAND_CWD")]
    pub command_cwd: Option<PathBuf>,

    /// Permission profile JSON (tagged or legacy shape)
    #[arg(long, hide = true, value_name = "PERMISSION_PROFILE")]
    pub permission_profile: Option<String>,

    /// Use the Landlock + seccomp backend instead of bubblewrap
    #[arg(long, hide = true)]
    pub use_legacy_landlock: bool,

    /// Inner stage: apply seccomp inside the sandbox, then run the command as PID 2
    #[arg(long, hide = true)]
    pub apply_seccomp_then_exec: bool,

    /// Inner stage: serve PORT on loopback in the sandbox's network namespace, relaying to the
    /// launcher's proxy socket at PATH, before the command starts
    #[arg(
        long,
        hide = true,
        value_name = "PORT=PATH",
        requires = "apply_seccomp_then_exec"
    )]
    pub egress_relay: Option<String>,

    /// Managed network proxy context (JSON); not supported
    #[arg(long, hide = true, value_name = "MANAGED_NETWORK")]
    pub managed_network: Option<String>,

    /// Proxy route spec for the inner stage; not supported
    #[arg(long, hide = true, value_name = "PROXY_ROUTE_SPEC")]
    pub proxy_route_spec: Option<String>,

    /// FD:DEST pairs to verify in the inner stage
    #[arg(long, hide = true, value_name = "VERIFY_FD_MOUNT")]
    pub verify_fd_mount: Vec<String>,

    /// Do not mount a fresh /proc, though the PID namespace is still new; for containers that
    /// refuse `--proc /proc`
    #[arg(long)]
    pub no_proc: bool,

    /// Keep the caller's PID namespace (no --as-pid-1, --unshare-pid or --proc)
    #[arg(long, hide = true)]
    pub inherit_pid_namespace: bool,

    /// Refuse instead of running when the chosen backend cannot enforce every part of the policy
    /// Which sandbox backend to use (default: the strongest this host allows).
    #[arg(
        long,
        hide = true,
        value_enum,
        env = "CODEX_LAUNCHER_BACKEND",
        default_value = "auto"
    )]
    pub backend: crate::select::BackendRequest,

    #[arg(long, hide = true, env = "CODEX_LAUNCHER_REQUIRE_FULL_ISOLATION", value_parser = clap::builder::BoolishValueParser::new())]
    pub require_full_isolation: bool,

    /// The command to run and its arguments
    #[arg(trailing_var_arg = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// `codex-launcher install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Directory for the symlinks [default: ~/.local/bin]
    #[arg(long, value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,
    /// Print what would be done without changing anything
    #[arg(long)]
    pub dry_run: bool,
    /// Directory for shell completions and manual pages [default: $XDG_DATA_HOME, else
    /// ~/.local/share]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// `codex-launcher bwrap ARGS...`: everything goes to bubblewrap, `--help` included.
#[derive(Debug, Args)]
#[command(disable_help_flag = true, disable_version_flag = true)]
pub struct BwrapArgs {
    /// Arguments for bubblewrap
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub args: Vec<OsString>,
}

/// How the sandbox for a run is described: a Codex-style sandbox mode plus extras, or a raw
/// permission profile. Shared by `run`, `explain` and `entrypoint`.
#[derive(Debug, Clone, Args)]
pub struct SandboxOptions {
    /// Sandbox mode for the command.
    #[arg(long, value_enum, default_value = "workspace-write")]
    pub sandbox: crate::policy::modes::SandboxMode,

    /// Network access: `filtered` (default) lets Codex reach its model provider (from the per-task
    /// config) and Codex and its commands reach only what --allow-domain/--allow-endpoint add,
    /// through the launcher's proxy; `on` is unrestricted; `off` is nothing, not even the model
    /// API; `proxy` (macOS) only the loopback proxy named by HTTPS_PROXY.
    #[arg(long, value_enum, default_value = "filtered")]
    pub network: crate::policy::modes::Network,

    /// With --network filtered: a domain Codex and its commands may reach through the proxy
    /// (`example.com`, `*.example.com` for subdomains, `**.example.com` for both, optional
    /// `:PORT`; repeatable). Its addresses must still be public.
    #[arg(long = "allow-domain", value_name = "DOMAIN")]
    pub allow_domains: Vec<String>,

    /// With --network filtered: exactly HOST:PORT, even on loopback or a private network (a
    /// local service; repeatable).
    #[arg(long = "allow-endpoint", value_name = "HOST:PORT")]
    pub allow_endpoints: Vec<String>,

    /// With --network filtered: answer NAME with ADDRESS instead of asking DNS (split DNS,
    /// tests). NAME must be allowed by --allow-domain or --allow-endpoint, and ADDRESS is vetted
    /// like any answer: a loopback or private one also needs --allow-endpoint.
    #[arg(long = "net-resolve", value_name = "NAME=ADDRESS")]
    pub net_resolve: Vec<String>,

    /// With --network filtered on a Landlock kernel below ABI 4 (Linux < 6.7), which cannot limit
    /// TCP: run anyway, the proxy variables routing well-behaved clients, UDP and unix sockets
    /// still refused, and direct TCP to any host open (listed in not_enforced).
    #[arg(long)]
    pub accept_unfiltered_tcp: bool,

    /// A host unix socket the command may connect to, exactly that path (repeatable; with
    /// --network filtered or off, where host unix sockets are otherwise out of reach). Enforced by
    /// Seatbelt; refused on bubblewrap and Landlock, which cannot let one socket through without
    /// opening every host socket the sandbox can see (with --network on, Linux reaches every
    /// host socket anyway).
    #[arg(long = "allow-unix-socket", value_name = "PATH")]
    pub allow_unix_sockets: Vec<PathBuf>,

    /// Another directory the command may write (repeatable).
    #[arg(long = "writable-root", value_name = "DIR")]
    pub writable_roots: Vec<PathBuf>,

    /// The workspace (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,

    /// A Codex permission profile (JSON) instead of --sandbox/--network/--writable-root.
    #[arg(long, value_name = "JSON", conflicts_with_all = ["sandbox", "network", "writable_roots", "allow_domains", "allow_endpoints", "net_resolve", "allow_unix_sockets"])]
    pub permission_profile: Option<String>,

    /// Sandbox backend (default: the strongest this host allows).
    #[arg(
        long,
        value_enum,
        env = "CODEX_LAUNCHER_BACKEND",
        default_value = "auto"
    )]
    pub backend: crate::select::BackendRequest,

    /// Refuse to run when the backend cannot enforce every part of the policy.
    #[arg(long, env = "CODEX_LAUNCHER_REQUIRE_FULL_ISOLATION", value_parser = clap::builder::BoolishValueParser::new())]
    pub require_full_isolation: bool,
}

/// `explain`: the options of `codex-run`, planned and printed (`--platform macos` prints the
/// Seatbelt plan on Linux).
#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub home: HomeOptions,

    #[command(flatten)]
    pub sandbox: SandboxOptions,

    /// The Codex binary (default: `codex` on PATH, skipping PATH entries inside the workspace).
    #[arg(long, value_name = "PATH")]
    pub codex: Option<PathBuf>,

    /// Print the plan as JSON (keys documented in the README).
    #[arg(long)]
    pub json: bool,

    /// The command the plan is for (default: codex).
    #[arg(trailing_var_arg = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,

    /// Also classify this bubblewrap error text (e.g. pasted from a failed Codex run).
    #[arg(long, value_name = "TEXT")]
    pub bwrap_stderr: Option<String>,

    /// Print FILE, a container runtime's seccomp profile (e.g. moby's default.json), with the
    /// system calls bubblewrap needs allowed, and exit.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["json", "bwrap_stderr"])]
    pub seccomp_profile: Option<std::path::PathBuf>,
}

/// Where the shared and per-task Codex homes are, and how the per-task config is made.
#[derive(Debug, Clone, Args)]
pub struct HomeOptions {
    /// The shared Codex home (default: $CODEX_HOME, else ~/.codex).
    #[arg(long, value_name = "DIR")]
    pub shared_home: Option<PathBuf>,

    /// The per-task home (default: $XDG_STATE_HOME/codex-launcher/tasks/<task-id>/codex-home).
    #[arg(long, value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Task id (default: a stable hash of the workspace path).
    #[arg(long, value_name = "ID")]
    pub task_id: Option<String>,

    /// Platform whose Codex rules apply (default: this host).
    #[arg(long, value_enum)]
    pub platform: Option<crate::home::inner_sandbox::Platform>,

    /// Codex version (default: detected from `codex --version` when a decision needs it).
    #[arg(long, value_name = "V")]
    pub codex_version: Option<String>,

    /// Override a config.toml key (TOML value), like `codex -c` (repeatable).
    #[arg(short = 'c', long = "config", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PrepareHomeArgs {
    #[command(flatten)]
    pub home: HomeOptions,

    /// The outer sandbox Codex will run in (default: what the ladder selects for a run here).
    #[arg(long, value_enum)]
    pub outer_backend: Option<crate::select::BackendRequest>,

    /// The workspace the task id is derived from (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,

    /// Network setting of the run, for the managed sandbox block.
    #[arg(long, value_enum, default_value = "on")]
    pub network: crate::policy::modes::Network,

    /// Print a JSON report of every action instead of the home path.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub home: HomeOptions,

    #[command(flatten)]
    pub sandbox: SandboxOptions,

    /// The Codex binary (default: `codex` on PATH, skipping PATH entries inside the workspace).
    #[arg(long, value_name = "PATH")]
    pub codex: Option<PathBuf>,

    /// Print the plan (as `explain` does) and the per-task home, without changing or running anything.
    #[arg(long)]
    pub dry_run: bool,

    /// With --dry-run: print JSON.
    #[arg(long, requires = "dry_run")]
    pub json: bool,

    #[command(flatten)]
    pub lock: LockOptions,

    /// The command (default: the Codex binary).
    #[arg(trailing_var_arg = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// Effective config lock options of a run (see the README, "Config lock").
#[derive(Debug, Clone, Default, Args)]
pub struct LockOptions {
    /// Write the effective config and sandbox decision to DIR/<task-id>.config.lock.toml, then run.
    #[arg(long = "lock-export", id = "lock_export", value_name = "DIR")]
    pub export: Option<PathBuf>,

    /// Use FILE's config instead of the shared config.toml; refuse to run if the regenerated
    /// config or sandbox decision differs from it.
    #[arg(
        long = "lock-replay",
        id = "lock_replay",
        value_name = "FILE",
        conflicts_with = "lock_export"
    )]
    pub replay: Option<PathBuf>,

    /// With --lock-replay: accept a lock written for another Codex version.
    #[arg(long, requires = "lock_replay")]
    pub allow_codex_version_mismatch: bool,
}

/// `codex-launcher lock`.
#[derive(Debug, Args)]
pub struct LockArgs {
    #[command(subcommand)]
    pub action: LockAction,
}

#[derive(Debug, Subcommand)]
pub enum LockAction {
    /// Prepare the per-task home as `codex-run` would and write DIR/<task-id>.config.lock.toml; run nothing
    Export {
        /// Directory for the lock file
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        #[command(flatten)]
        run: LockRunArgs,
    },
    /// Regenerate the effective config and sandbox decision from FILE and compare; change and run nothing
    Verify {
        /// The lock file
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Accept a lock written for another Codex version
        #[arg(long)]
        allow_codex_version_mismatch: bool,
        #[command(flatten)]
        run: LockRunArgs,
    },
}

/// The `codex-run` options a lock depends on.
#[derive(Debug, Args)]
pub struct LockRunArgs {
    #[command(flatten)]
    pub home: HomeOptions,

    #[command(flatten)]
    pub sandbox: SandboxOptions,

    /// The Codex binary whose version goes into the lock (default: `codex` on PATH).
    #[arg(long, value_name = "PATH")]
    pub codex: Option<PathBuf>,

    /// The command the run would start (default: the Codex binary).
    #[arg(trailing_var_arg = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

impl LockRunArgs {
    /// The run these options describe, with `lock` as its lock options.
    pub fn into_run(self, lock: LockOptions) -> RunArgs {
        RunArgs {
            home: self.home,
            sandbox: self.sandbox,
            codex: self.codex,
            dry_run: false,
            json: false,
            lock,
            command: self.command,
        }
    }
}
