//! macOS Seatbelt: the profile text, its `-DKEY=VALUE` parameters, the environment and the exact
//! `sandbox-exec` argv for a resolved policy (reference codex-seatbelt.md §2–§11). Pure apart from
//! reading file metadata (to canonicalise roots and find `.git` pointers), so everything here is
//! golden-tested on Linux; only the exec itself is macOS code.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use crate::hostview::FsView;

use crate::policy::resolve::normalize;
use crate::policy::{Access, Rules};

/// Never looked up on PATH: a writable PATH entry must not choose our sandbox.
pub const SANDBOX_EXEC: &str = "/usr/bin/sandbox-exec";

pub const BASE_POLICY: &str = include_str!("../../sandbox-profiles/seatbelt/base.sbpl");
pub const NETWORK_POLICY: &str = include_str!("../../sandbox-profiles/seatbelt/network.sbpl");
pub const PREFERENCES_POLICY: &str =
    include_str!("../../sandbox-profiles/seatbelt/preferences.sbpl");
pub const PLATFORM_DEFAULTS_POLICY: &str =
    include_str!("../../sandbox-profiles/seatbelt/platform_defaults.sbpl");

/// Scratch space a full process (not a file-system helper) gets with the platform defaults.
const PROCESS_PLATFORM_DEFAULTS: &str = r#"(allow file-read* (subpath "/Applications"))
(allow file-read* file-test-existence file-write* (subpath "/tmp"))
(allow file-read* file-write* (subpath "/private/tmp"))
(allow file-read* file-write* (subpath "/var/tmp"))
(allow file-read* file-write* (subpath "/private/var/tmp"))"#;

/// Names kept read-only (and uncreatable) inside every writable root, in regex order.
pub const PROTECTED_NAMES: [&str; 3] = [".git", ".agents", ".codex"];

/// Variables that mark a sandboxed process; never inherited, always set by us.
pub const SANDBOX_ENV: &str = "CODEX_SANDBOX";
pub const NETWORK_DISABLED_ENV: &str = "CODEX_SANDBOX_NETWORK_DISABLED";

/// Proxy variables whose loopback ports a proxy-only profile lets through.
pub const PROXY_ENV_KEYS: [&str; 8] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "FTP_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "ftp_proxy",
];

/// The network side of a Seatbelt profile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetworkInputs {
    /// The policy allows network access.
    pub enabled: bool,
    /// Traffic must go through the loopback proxy (no direct egress even when `enabled`).
    pub proxy_only: bool,
    /// Loopback proxy ports (from [`proxy_ports`]).
    pub proxy_ports: BTreeSet<u16>,
    /// Some proxy variable is set, usable or not.
    pub has_proxy_config: bool,
    /// Allow binding and loopback traffic (local dev servers) in proxy mode.
    pub allow_local_binding: bool,
    /// Traffic only to the launcher's own egress proxy (`--network filtered`), whose loopback
    /// port is known once the proxy binds, at launch: [`SeatbeltPlan::with_proxy_port`] renders
    /// it into `proxy_ports`. Until then the profile opens no IP egress at all.
    pub launcher_proxy: bool,
    pub unix_sockets: UnixSockets,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum UnixSockets {
    #[default]
    None,
    AllowAll,
    /// Absolute socket paths (or directories of sockets).
    Only(Vec<PathBuf>),
    /// `--allow-unix-socket`: connecting to exactly these sockets, nothing else (no bind).
    Connect(Vec<PathBuf>),
}

/// What the builder needs.
#[derive(Clone)]
pub struct SeatbeltInputs<'a> {
    /// The filesystem as planning sees it (the target machine's paths).
    pub fs: &'a dyn FsView,
    /// `None`: the filesystem is unrestricted.
    pub rules: Option<&'a Rules>,
    pub policy_cwd: &'a Path,
    pub network: NetworkInputs,
    pub command: &'a [OsString],
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeatbeltPlan {
    pub profile: String,
    /// In `-D` order.
    pub params: Vec<(String, String)>,
    /// The full argv, program first.
    pub argv: Vec<String>,
    /// Removed from the inherited environment, then `env_set` is applied.
    pub env_remove: Vec<String>,
    pub env_set: Vec<(String, String)>,
    /// `--network filtered`: what the launch-time profile is rendered from.
    #[serde(skip)]
    pub awaiting_proxy: Option<AwaitingProxy>,
}

/// A profile whose network section waits for the launcher's proxy port: the sections around it,
/// verbatim, and the section's inputs with the unix socket lines already resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwaitingProxy {
    before: String,
    network: NetworkInputs,
    unix: String,
    after: String,
}

impl SeatbeltPlan {
    /// The plan as launched once the launcher's proxy listens on loopback `port`: the profile lets
    /// TCP out to that port only. A pure function of the plan and the port; a plan that does not
    /// wait for the proxy comes back unchanged.
    pub fn with_proxy_port(&self, port: u16) -> SeatbeltPlan {
        let mut plan = self.clone();
        let Some(parts) = &self.awaiting_proxy else {
            return plan;
        };
        let mut network = parts.network.clone();
        network.proxy_ports = BTreeSet::from([port]);
        let section = network_section(&network, &parts.unix);
        plan.profile = [parts.before.as_str(), &section, &parts.after].join("\n");
        plan.argv[2].clone_from(&plan.profile);
        plan
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SeatbeltError {
    #[error("writable root {root} contains symlink component {symlink}; symlinked writable roots are not supported")]
    SymlinkedRoot { root: PathBuf, symlink: PathBuf },
    #[error("failed to inspect Seatbelt writable root {path}: {reason}")]
    Inspect { path: PathBuf, reason: String },
    #[error("{0}: Seatbelt paths must be absolute")]
    Relative(PathBuf),
}

/// Builds profile, parameters, environment and argv.
pub fn plan(inputs: &SeatbeltInputs) -> Result<SeatbeltPlan, SeatbeltError> {
    let mut params = Params::default();
    let read = read_section(inputs, &mut params);
    let (write, ancestors) = write_section(inputs, &mut params)?;
    let ancestor_lines = ancestor_denies(&ancestors, &mut params);
    let unix = unix_socket_lines(&inputs.network.unix_sockets, &mut params, inputs.fs)?;
    let network = network_section(&inputs.network, &unix);
    let mut sections = vec![BASE_POLICY.to_string(), read, write, network];
    if full_disk_read(inputs.rules) {
        sections.push(PREFERENCES_POLICY.to_string());
    }
    if inputs.rules.is_some_and(|r| r.minimal) {
        sections.push(PLATFORM_DEFAULTS_POLICY.to_string());
        sections.push(PROCESS_PLATFORM_DEFAULTS.to_string());
    }
    sections.push(deny_glob_section(inputs.rules, inputs.fs));
    sections.push(ancestor_lines);
    let profile = sections.join("\n");
    let awaiting_proxy = inputs.network.launcher_proxy.then(|| AwaitingProxy {
        before: sections[..3].join("\n"),
        network: inputs.network.clone(),
        unix,
        after: sections[4..].join("\n"),
    });

    let mut argv = vec![SANDBOX_EXEC.to_string(), "-p".into(), profile.clone()];
    argv.extend(params.list.iter().map(|(k, v)| format!("-D{k}={v}")));
    argv.push("--".into());
    argv.extend(
        inputs
            .command
            .iter()
            .map(|a| a.to_string_lossy().into_owned()),
    );
    let mut env_set = vec![(SANDBOX_ENV.to_string(), "seatbelt".to_string())];
    if !inputs.network.enabled {
        env_set.push((NETWORK_DISABLED_ENV.to_string(), "1".to_string()));
    }
    Ok(SeatbeltPlan {
        profile,
        params: params.list,
        argv,
        env_remove: vec![SANDBOX_ENV.into(), NETWORK_DISABLED_ENV.into()],
        env_set,
        awaiting_proxy,
    })
}

/// Parameters in the order they are defined; every `(param "K")` in the profile has one.
#[derive(Debug, Default)]
pub struct Params {
    pub list: Vec<(String, String)>,
}

impl Params {
    fn add(&mut self, key: String, path: &Path) -> String {
        self.list
            .push((key.clone(), path.to_string_lossy().into_owned()));
        key
    }
}

/// Whole-disk read with nothing carved out: the only case preferences may be read (their IPC
/// would otherwise leak data outside the read roots).
fn full_disk_read(rules: Option<&Rules>) -> bool {
    match rules {
        None => true,
        Some(r) => {
            r.is_full_disk_read()
                && r.paths_with(Access::Deny).is_empty()
                && r.deny_globs.is_empty()
        }
    }
}

/// Canonical when the path exists, else as given; relative paths are refused.
pub fn normalize_path_for_sandbox(path: &Path, fs: &dyn FsView) -> Result<PathBuf, SeatbeltError> {
    if !path.is_absolute() {
        return Err(SeatbeltError::Relative(path.to_path_buf()));
    }
    Ok(fs.canonicalize(path).unwrap_or_else(|| normalize(path)))
}

fn canonical(path: &Path, fs: &dyn FsView) -> PathBuf {
    normalize_path_for_sandbox(path, fs).unwrap_or_else(|_| path.to_path_buf())
}

const READ_COMMENT: &str = "; allow read-only file operations";

fn read_section(inputs: &SeatbeltInputs, params: &mut Params) -> String {
    let Some(rules) = inputs.rules else {
        return format!("{READ_COMMENT}\n(allow file-read*)");
    };
    let denied: Vec<PathBuf> = rules
        .paths_with(Access::Deny)
        .iter()
        .map(|p| canonical(p, inputs.fs))
        .collect();
    let roots: Vec<AccessRoot> = if rules.is_full_disk_read() {
        if denied.is_empty() {
            return format!("{READ_COMMENT}\n(allow file-read*)");
        }
        vec![AccessRoot::subpath(PathBuf::from("/"), denied)]
    } else {
        let mut seen = BTreeSet::new();
        let effective = rules.effective();
        rules
            .entries
            .iter()
            .filter(|(p, _)| effective.get(p.as_path()) != Some(&Access::Deny))
            .map(|(p, _)| canonical(p, inputs.fs))
            .filter(|p| seen.insert(p.clone()))
            .map(|root| {
                let excluded = denied
                    .iter()
                    .filter(|d| d.starts_with(&root))
                    .cloned()
                    .collect();
                AccessRoot::subpath(root, excluded)
            })
            .collect()
    };
    if roots.is_empty() {
        return String::new();
    }
    format!(
        "{READ_COMMENT}\n{}",
        access_block("file-read*", "READABLE_ROOT", &roots, params)
    )
}

/// One root of an access block.
#[derive(Debug, Clone)]
struct AccessRoot {
    path: PathBuf,
    /// A file (or device) root is matched exactly.
    literal: bool,
    /// Read-only carve-outs, each with the canonical target when it differs.
    excluded: Vec<(PathBuf, Option<PathBuf>)>,
    /// Names that may not even be created in the root.
    protected_names: Vec<&'static str>,
}

impl AccessRoot {
    fn subpath(path: PathBuf, excluded: Vec<PathBuf>) -> Self {
        Self {
            path,
            literal: false,
            excluded: excluded.into_iter().map(|p| (p, None)).collect(),
            protected_names: Vec::new(),
        }
    }
}

/// `(allow ACTION\n<one filter per root, joined by " ">\n)`; adds the parameters it names.
fn access_block(action: &str, prefix: &str, roots: &[AccessRoot], params: &mut Params) -> String {
    let mut filters = Vec::new();
    for (i, root) in roots.iter().enumerate() {
        let key = params.add(format!("{prefix}_{i}"), &root.path);
        let root_filter = if root.literal {
            format!("(literal (param \"{key}\"))")
        } else {
            format!("(subpath (param \"{key}\"))")
        };
        if root.excluded.is_empty() && root.protected_names.is_empty() {
            filters.push(root_filter);
            continue;
        }
        let mut parts = vec![root_filter];
        for (j, (path, resolved)) in root.excluded.iter().enumerate() {
            let key = params.add(format!("{prefix}_{i}_EXCLUDED_{j}"), path);
            parts.push(not_under(&key));
            if let Some(resolved) = resolved {
                let key = params.add(format!("{prefix}_{i}_EXCLUDED_{j}_RESOLVED"), resolved);
                parts.push(not_under(&key));
            }
        }
        for name in &root.protected_names {
            parts.push(format!(
                "(require-not (regex #\"{}\"))",
                metadata_regex(&root.path, name)
            ));
        }
        filters.push(format!("(require-all {} )", parts.join(" ")));
    }
    format!("(allow {action}\n{}\n)", filters.join(" "))
}

/// Neither the path itself (so it cannot be created) nor anything under it.
fn not_under(key: &str) -> String {
    format!("(require-not (literal (param \"{key}\"))) (require-not (subpath (param \"{key}\")))")
}

/// `^<root>/<name>(/.*)?$`, escaped for a `#"..."` string.
pub fn metadata_regex(root: &Path, name: &str) -> String {
    let root = root.to_string_lossy();
    let trimmed = root.trim_end_matches('/');
    format!("^{}/{}(/.*)?$", regex_escape(trimmed), regex_escape(name)).replace('"', "\\\"")
}

fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn write_section(
    inputs: &SeatbeltInputs,
    params: &mut Params,
) -> Result<(String, BTreeSet<PathBuf>), SeatbeltError> {
    let full = "(allow file-write* (regex #\"^/\"))".to_string();
    let Some(rules) = inputs.rules else {
        return Ok((full, BTreeSet::new()));
    };
    if rules.is_full_disk_write() {
        return Ok((full, BTreeSet::new()));
    }
    let writable = rules.paths_with(Access::Write);
    let fs = inputs.fs;
    let cwd = canonical(inputs.policy_cwd, fs);
    let mut roots = Vec::new();
    let mut ancestors = BTreeSet::new();
    for root in &writable {
        let (path, literal) = normalize_writable_root(root, fs)?;
        let excluded = if literal {
            Vec::new()
        } else {
            read_only_subpaths(rules, &path, &cwd, &writable, fs)
        };
        for (sub, _) in &excluded {
            let mut dir = sub.parent();
            while let Some(d) = dir.filter(|d| d.starts_with(&path)) {
                ancestors.insert(d.to_path_buf());
                dir = d.parent();
            }
        }
        roots.push(AccessRoot {
            path,
            literal,
            excluded,
            protected_names: if literal {
                Vec::new()
            } else {
                PROTECTED_NAMES.to_vec()
            },
        });
    }
    if roots.is_empty() {
        return Ok((String::new(), ancestors));
    }
    let mut text = access_block("file-write*", "WRITABLE_ROOT", &roots, params);
    for i in 0..roots.len() {
        // A writable root may not be deleted or replaced (say, by a symlink to elsewhere).
        text.push_str(&format!(
            "\n(deny file-write-unlink (require-all (literal (param \"WRITABLE_ROOT_{i}\")) (vnode-type DIRECTORY)))"
        ));
    }
    Ok((text, ancestors))
}

/// Resolves top-level aliases (macOS `/tmp` → `/private/tmp`), refuses symlinks below them, and
/// says whether the root is an existing non-directory (matched literally).
pub fn normalize_writable_root(
    root: &Path,
    fs: &dyn FsView,
) -> Result<(PathBuf, bool), SeatbeltError> {
    if !root.is_absolute() {
        return Err(SeatbeltError::Relative(root.to_path_buf()));
    }
    let root = normalize(root);
    let mut components = root.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n),
        _ => None,
    });
    let Some(first) = components.next() else {
        return Ok((root, false));
    };
    let top = Path::new("/").join(first);
    let mut path = fs.canonicalize(&top).unwrap_or(top);
    let mut exists = true;
    for c in components {
        path.push(c);
        if !exists {
            continue;
        }
        match fs.lstat(&path) {
            Some(m) if m.is_symlink() => {
                return Err(SeatbeltError::SymlinkedRoot {
                    root: root.clone(),
                    symlink: path,
                })
            }
            Some(_) => {}
            None => exists = false,
        }
    }
    match fs.stat(&path) {
        Some(m) => Ok((path, !m.is_dir())),
        None => Ok((path, false)),
    }
}

/// What stays read-only inside a writable root: the resolved gitdir of a `.git` pointer, `.git`,
/// `.codex` (always for the workspace, so Codex's config cannot be planted), `.agents`, then the
/// profile's own read and deny entries whose deepest writable root this is.
fn read_only_subpaths(
    rules: &Rules,
    root: &Path,
    cwd: &Path,
    writable: &[PathBuf],
    fs: &dyn FsView,
) -> Vec<(PathBuf, Option<PathBuf>)> {
    let mut list: Vec<PathBuf> = Vec::new();
    let git = root.join(".git");
    if let Some(meta) = fs.lstat(&git) {
        if let Some(gitdir) = crate::backend::bwrap::resolved_gitdir(root, fs) {
            list.push(gitdir);
        }
        if meta.is_dir() || meta.is_file() || meta.is_symlink() {
            list.push(git);
        }
    }
    let codex = root.join(".codex");
    if fs.is_dir(&codex) || root == cwd {
        list.push(codex);
    }
    let agents = root.join(".agents");
    if fs.is_dir(&agents) {
        list.push(agents);
    }
    let writable: Vec<PathBuf> = writable.iter().map(|w| canonical(w, fs)).collect();
    let deepest = |p: &Path| {
        writable
            .iter()
            .filter(|w| p.starts_with(w))
            .max_by_key(|w| w.components().count())
            .cloned()
    };
    let effective = rules.effective();
    for (path, access) in &rules.entries {
        if effective.get(path.as_path()) != Some(access) || *access == Access::Write {
            continue;
        }
        let path = canonical(path, fs);
        if path != root && path.starts_with(root) && deepest(&path).as_deref() == Some(root) {
            list.push(path);
        }
    }
    let mut seen = BTreeSet::new();
    list.retain(|p| seen.insert(p.clone()));
    list.into_iter()
        .map(|p| {
            let resolved = fs.canonicalize(&p).filter(|r| *r != p);
            (p, resolved)
        })
        .collect()
}

/// Parameters and deny lines that stop renaming a directory above a protected path (which would
/// move the protected path out from under its rule). Emitted last so no allow can reopen them.
fn ancestor_denies(ancestors: &BTreeSet<PathBuf>, params: &mut Params) -> String {
    let mut lines = Vec::new();
    for (k, dir) in ancestors.iter().enumerate() {
        let key = params.add(format!("PROTECTED_ANCESTOR_{k}"), dir);
        lines.push(format!(
            "(deny file-write-unlink (require-all (vnode-type DIRECTORY) (literal (param \"{key}\"))))"
        ));
    }
    lines.join("\n")
}

/// Loopback proxy ports named by the proxy variables in `env`, and whether any proxy variable is
/// set. Only `localhost`, `127.0.0.1` and `::1` count: Seatbelt can only name loopback by port.
pub fn proxy_ports(env: &[(String, String)]) -> (BTreeSet<u16>, bool) {
    let mut ports = BTreeSet::new();
    let mut configured = false;
    for (key, value) in env {
        if !PROXY_ENV_KEYS.contains(&key.as_str()) || value.trim().is_empty() {
            continue;
        }
        configured = true;
        if let Some(port) = loopback_port(value.trim()) {
            ports.insert(port);
        }
    }
    (ports, configured)
}

fn loopback_port(url: &str) -> Option<u16> {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    let loopback = host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1" || host == "::1";
    if !loopback {
        return None;
    }
    match port {
        Some(p) => p.parse().ok(),
        None => Some(match scheme.to_ascii_lowercase().as_str() {
            "https" => 443,
            "socks5" | "socks5h" | "socks4" | "socks4a" => 1080,
            _ => 80,
        }),
    }
}

/// `UNIX_SOCKET_PATH_k` parameters: canonical paths, deduplicated and sorted as strings.
pub fn unix_socket_params(
    paths: &[PathBuf],
    fs: &dyn FsView,
) -> Result<Vec<(String, PathBuf)>, SeatbeltError> {
    let mut by_name = BTreeMap::new();
    for p in paths {
        let p = normalize_path_for_sandbox(p, fs)?;
        by_name.insert(p.to_string_lossy().into_owned(), p);
    }
    Ok(by_name
        .into_values()
        .enumerate()
        .map(|(k, p)| (format!("UNIX_SOCKET_PATH_{k}"), p))
        .collect())
}

fn unix_socket_lines(
    sockets: &UnixSockets,
    params: &mut Params,
    fs: &dyn FsView,
) -> Result<String, SeatbeltError> {
    let domain = "(allow system-socket (socket-domain AF_UNIX))\n";
    Ok(match sockets {
        UnixSockets::None => String::new(),
        UnixSockets::Only(paths) | UnixSockets::Connect(paths) if paths.is_empty() => String::new(),
        UnixSockets::AllowAll => format!(
            "{domain}(allow network-bind (local unix-socket))\n(allow network-outbound (remote unix-socket))\n"
        ),
        UnixSockets::Only(paths) | UnixSockets::Connect(paths) => {
            let connect_only = matches!(sockets, UnixSockets::Connect(_));
            let mut out = domain.to_string();
            for (key, path) in unix_socket_params(paths, fs)? {
                params.add(key.clone(), &path);
                out.push_str(&if connect_only {
                    format!("(allow network-outbound (remote unix-socket (path-literal (param \"{key}\"))))\n")
                } else {
                    format!("(allow network-bind (local unix-socket (subpath (param \"{key}\"))))\n(allow network-outbound (remote unix-socket (subpath (param \"{key}\"))))\n")
                });
            }
            out
        }
    })
}

/// The NETWORK section (reference §7): proxy-only when a proxy is configured or required (no
/// usable port means no IP egress at all), everything when the network is on, else nothing.
pub fn network_policy(
    net: &NetworkInputs,
    params: &mut Params,
    fs: &dyn FsView,
) -> Result<String, SeatbeltError> {
    let unix = unix_socket_lines(&net.unix_sockets, params, fs)?;
    Ok(network_section(net, &unix))
}

/// The NETWORK section for `net`, its unix socket lines (`unix`) already rendered.
fn network_section(net: &NetworkInputs, unix: &str) -> String {
    let unix_block = if unix.is_empty() {
        String::new()
    } else {
        format!("; allow unix domain sockets for local IPC\n{unix}")
    };
    let proxy_mode = !net.proxy_ports.is_empty()
        || net.has_proxy_config
        || net.proxy_only
        || net.launcher_proxy
        || (!net.enabled && !unix.is_empty());
    if proxy_mode {
        let mut out = String::new();
        if net.launcher_proxy {
            out.push_str(if net.proxy_ports.is_empty() {
                "; only the launcher's egress proxy, once it is bound: until then no IP egress\n"
            } else {
                "; only the launcher's egress proxy, on the loopback port it bound for this launch\n"
            });
        }
        if net.allow_local_binding {
            out.push_str("; allow local binding and loopback traffic\n(allow network-bind (local ip \"*:*\"))\n(allow network-inbound (local ip \"localhost:*\"))\n(allow network-outbound (remote ip \"localhost:*\"))\n");
            if !net.proxy_ports.is_empty() {
                out.push_str("; allow DNS lookups while application traffic remains proxy-routed\n(allow network-outbound (remote ip \"*:53\"))\n");
            }
        }
        for port in &net.proxy_ports {
            out.push_str(&format!(
                "(allow network-outbound (remote ip \"localhost:{port}\"))\n"
            ));
        }
        out.push_str(&unix_block);
        out.push_str(NETWORK_POLICY);
        return out;
    }
    if net.enabled {
        return format!(
            "(allow network-outbound)\n(allow network-inbound)\n{unix_block}{NETWORK_POLICY}"
        );
    }
    String::new()
}

/// How a glob is matched: the path exactly, or the path and everything under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlobMode {
    Exact,
    Subtree,
}

/// A git-style glob as a Seatbelt regex (reference §10); `None` for an empty pattern.
pub fn glob_to_regex(pattern: &str, mode: GlobMode) -> Option<String> {
    if pattern.is_empty() {
        return None;
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::from("^");
    let mut saw_glob = false;
    let mut braces = 0usize;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                saw_glob = true;
                if chars.get(i + 2) == Some(&'/') {
                    out.push_str("(.*/)?");
                    i += 3;
                } else {
                    out.push_str(".*");
                    i += 2;
                }
                continue;
            }
            '*' => {
                saw_glob = true;
                out.push_str("[^/]*");
            }
            '?' => {
                saw_glob = true;
                out.push_str("[^/]");
            }
            '[' => match class_end(&chars, i) {
                Some(end) => {
                    saw_glob = true;
                    out.push_str(&class_regex(&chars[i + 1..end]));
                    i = end + 1;
                    continue;
                }
                None => out.push_str("\\["),
            },
            ']' => out.push_str("\\]"),
            '{' => {
                saw_glob = true;
                braces += 1;
                out.push('(');
            }
            ',' if braces > 0 => out.push('|'),
            '}' if braces > 0 => {
                braces -= 1;
                out.push(')');
            }
            '\\' => {
                match chars.get(i + 1) {
                    Some(next) => out.push_str(&regex_escape(&next.to_string())),
                    None => out.push_str("\\\\"),
                }
                i += 2;
                continue;
            }
            other => out.push_str(&regex_escape(&other.to_string())),
        }
        i += 1;
    }
    out.extend(std::iter::repeat_n(')', braces));
    if !saw_glob && mode == GlobMode::Subtree {
        out.push_str("(/.*)?");
    }
    out.push('$');
    Some(out)
}

/// Index of the `]` closing the class opened at `start`, if any.
fn class_end(chars: &[char], start: usize) -> Option<usize> {
    let mut j = start + 1;
    if matches!(chars.get(j), Some('!') | Some('^')) {
        j += 1;
    }
    if chars.get(j) == Some(&']') {
        j += 1; // a leading ] is a member
    }
    (j..chars.len()).find(|&k| chars[k] == ']')
}

fn class_regex(body: &[char]) -> String {
    let mut out = String::from("[");
    let mut rest = body;
    if let Some('!') = rest.first() {
        out.push('^');
        rest = &rest[1..];
    } else if let Some('^') = rest.first() {
        out.push_str("\\^");
        rest = &rest[1..];
    }
    for c in rest {
        if *c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(*c);
        }
    }
    out.push(']');
    out
}

/// Where a glob's literal part ends: before the first metacharacter, at a `/` past index 0.
fn static_prefix_end(pattern: &str) -> Option<usize> {
    let first_meta = pattern.find(['*', '?', '[', ']', '{', '\\'])?;
    pattern[..first_meta].rfind('/').filter(|&slash| slash > 0)
}

/// The pattern with its literal prefix canonicalised (symlinked directories), when that differs.
fn canonical_glob(pattern: &str, fs: &dyn FsView) -> Option<String> {
    let (prefix, suffix) = match static_prefix_end(pattern) {
        Some(end) => (&pattern[..end], &pattern[end..]),
        None if !pattern.contains(['*', '?', '[', ']', '{', '\\']) => (pattern, ""),
        None => return None,
    };
    let canonical = fs.canonicalize(Path::new(prefix))?;
    let rewritten = format!("{}{suffix}", canonical.display());
    (rewritten != pattern).then_some(rewritten)
}

fn deny_glob_section(rules: Option<&Rules>, fs: &dyn FsView) -> String {
    let Some(rules) = rules else {
        return String::new();
    };
    let mut lines = Vec::new();
    for glob in &rules.deny_globs {
        let mut candidates = BTreeSet::from([glob.clone()]);
        candidates.extend(canonical_glob(glob, fs));
        for pattern in candidates {
            let Some(regex) = glob_to_regex(&pattern, GlobMode::Subtree) else {
                continue;
            };
            let regex = regex.replace('"', "\\\"");
            lines.push(format!("(deny file-read* (regex #\"{regex}\"))"));
            lines.push(format!("(deny file-write* (regex #\"{regex}\"))"));
            // Renaming a directory above a match would move it out of the rule's reach.
            let mut ancestor = pattern.as_str();
            while let Some(slash) = ancestor.rfind('/').filter(|&s| s > 0) {
                ancestor = &ancestor[..slash];
                if let Some(exact) = glob_to_regex(ancestor, GlobMode::Exact) {
                    lines.push(format!(
                        "(deny file-write-unlink (require-all (vnode-type DIRECTORY) (regex #\"{}\")))",
                        exact.replace('"', "\\\"")
                    ));
                }
            }
        }
    }
    lines.join("\n")
}

#[cfg(test)]
#[path = "seatbelt_tests.rs"]
mod tests;
