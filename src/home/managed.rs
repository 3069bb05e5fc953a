//! The per-task `config.toml`: the user's document with the keys the launcher owns removed
//! ([`super::managed_keys`]) and Multica's managed blocks (reference multica-codex-home.md §5) put
//! where TOML lets them take effect. Pure: text in, text out.
//!
//! The user's bytes are edited at key level ([`super::edit`]): only the conflicting keys' lines
//! change (or, inside an inline table, that one value), every other byte stays, CRLF included.
//! Blocks go to the top as dotted keys, or right after the header of an existing root table they
//! set keys of (`[features]`, `[memories]`, `[agents]`, `[sandbox_workspace_write]`), since dotted
//! keys at the top cannot extend a table a header defines. The result is parsed again and checked:
//! every managed value is the effective one, and no removed key is left.

use toml::de::{DeTable, DeValue};
use toml_edit::{Item, Table, Value};

use super::blocks::{self};
pub use super::blocks::{Marker, MEMORY_CONFIG, MEMORY_FEATURE, MULTI_AGENT, SANDBOX};
use super::edit::{self, Edit, Seg};
use super::managed_keys::{self, AgentSwitch, Entry};

/// What Codex inside is told about sandboxing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SandboxSetting {
    /// `read-only`, `workspace-write` or `danger-full-access`.
    pub mode: &'static str,
    /// Only with workspace-write: `network_access` for the commands Codex runs. Off unless the
    /// user's config (or `-c`) allows it and the outer layer gives network ([`Self::network_ceiling`]).
    pub network_access: Option<bool>,
    /// Codex's built-in permission profile (`default_permissions`); set when an outer layer
    /// enforces, since `codex sandbox` follows it rather than `sandbox_mode`.
    pub default_permissions: Option<&'static str>,
    /// Whether the outer layer lets the commands have network at all.
    #[serde(skip)]
    pub network_ceiling: bool,
    /// How this Codex version spells the multi-agent switch.
    pub agent_switch: AgentSwitch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedConfig {
    pub sandbox: SandboxSetting,
    /// Turn subagents off (off with `CODEX_RUN_MULTI_AGENT=1`).
    pub multi_agent: bool,
    /// Force memories off (off with `CODEX_RUN_MEMORY=1`).
    pub memory: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManagedError {
    #[error("invalid TOML: {0}")]
    Parse(String),
    /// A `-c key=value` that cannot be applied; the argument and why.
    #[error("-c {arg}: {reason}")]
    Override { arg: String, reason: String },
    /// A root table the managed blocks set keys in is something else.
    #[error("`{0}` must be a table (Codex refuses this config too)")]
    NotATable(String),
    #[error("internal error: the managed config.toml would be wrong ({0}); nothing was written")]
    Output(String),
}

/// The user's config without BOM and managed blocks, parsed (spans kept).
pub struct Parsed {
    /// Owns the text its spans point into.
    doc: toml_edit::Document<String>,
}

impl Parsed {
    /// The root table, for reading user keys.
    pub fn root(&self) -> &Table {
        self.doc.as_table()
    }

    /// The text parsed.
    fn text(&self) -> &str {
        self.doc.raw()
    }

    fn new(text: String) -> Result<Self, ManagedError> {
        let doc = toml_edit::Document::parse(text)
            .map_err(|e| ManagedError::Parse(one_line(&e.to_string())))?;
        Ok(Self { doc })
    }

    /// Our own edit's result: a parse error there is the launcher's bug, not the user's.
    fn output(text: String) -> Result<Self, ManagedError> {
        Self::new(text).map_err(|e| match e {
            ManagedError::Parse(msg) => ManagedError::Output(msg),
            other => other,
        })
    }

    /// The file's line break: CRLF when its first line ends so.
    fn newline(&self) -> &'static str {
        newline_of(self.text())
    }
}

fn newline_of(text: &str) -> &'static str {
    match text.find('\n') {
        Some(i) if text[..i].ends_with('\r') => "\r\n",
        _ => "\n",
    }
}

/// Strips a UTF-8 BOM and the managed blocks from `user` and parses the rest.
pub fn parse(user: &str) -> Result<Parsed, ManagedError> {
    // A BOM kept in front of blocks written at the top would land mid-file, where TOML forbids it.
    let user = user.strip_prefix('\u{feff}').unwrap_or(user);
    let stripped = blocks::strip(user);
    // toml_edit skips a BOM at the start of what it parses; anywhere but the file's first bytes
    // it is invalid TOML, for Codex too.
    if stripped.starts_with('\u{feff}') {
        return Err(ManagedError::Parse(
            "a byte order mark after the start of the file".into(),
        ));
    }
    Parsed::new(stripped)
}

/// Applies `-c key=value` overrides (a TOML value, or a string when it does not parse, as Codex
/// does) to the parsed user config, key by key. Keys the launcher owns are refused.
pub fn with_overrides(
    parsed: Parsed,
    overrides: &[String],
    m: &ManagedConfig,
) -> Result<Parsed, ManagedError> {
    let mut parsed = parsed;
    for arg in overrides {
        let fail = |reason: String| ManagedError::Override {
            arg: arg.clone(),
            reason,
        };
        let Some((key, raw)) = arg.split_once('=') else {
            return Err(fail("expected key=value".into()));
        };
        let path: Vec<String> = toml_edit::Key::parse(key.trim())
            .map_err(|e| fail(format!("invalid key: {}", one_line(&e.to_string()))))?
            .iter()
            .map(|k| k.get().to_string())
            .collect();
        if path.is_empty() {
            return Err(fail("empty key".into()));
        }
        if managed_keys::overrides_managed(&path, m) {
            return Err(fail(
                "this key is managed by codex-launcher (use --sandbox/--network, CODEX_RUN_MULTI_AGENT or CODEX_RUN_MEMORY)".into(),
            ));
        }
        let value: Value = raw
            .trim()
            .parse()
            .unwrap_or_else(|_| Value::from(raw.trim()));
        let edits = edit::set(
            parsed.text(),
            parsed.root(),
            &path,
            &value,
            parsed.newline(),
        )
        .map_err(|e| fail(e.to_string()))?;
        let text = edit::apply(parsed.text(), edits);
        parsed = Parsed::new(text).map_err(|e| fail(format!("the result would not parse: {e}")))?;
    }
    Ok(parsed)
}

/// The per-task `config.toml` for `user` (the shared file's text, possibly empty).
pub fn apply(user: &str, m: &ManagedConfig) -> Result<String, ManagedError> {
    apply_parsed(&parse(user)?, m).map(|a| a.text)
}

/// The per-task config and the sandbox setting it carries (`network_access` resolved).
#[derive(Debug, Clone)]
pub struct Applied {
    pub text: String,
    pub sandbox: SandboxSetting,
}

/// Whether the user's config lets the commands Codex runs use the network (plain Codex's
/// `sandbox_workspace_write.network_access`, default off).
pub fn user_allows_network(root: &Table) -> bool {
    root.get("sandbox_workspace_write")
        .and_then(Item::as_table_like)
        .and_then(|t| t.get("network_access"))
        .and_then(Item::as_bool)
        .unwrap_or(false)
}

/// The sandbox setting Codex is told: `m`'s, with network access for its commands when the
/// outer layer gives network and the user's config asks for it.
pub fn effective_sandbox(m: &ManagedConfig, user_allows_network: bool) -> SandboxSetting {
    let mut sandbox = m.sandbox.clone();
    if let Some(default) = sandbox.network_access {
        sandbox.network_access = Some(default || (sandbox.network_ceiling && user_allows_network));
    }
    sandbox
}

/// As [`apply`], on an already parsed (and overridden) config.
pub fn apply_parsed(parsed: &Parsed, m: &ManagedConfig) -> Result<Applied, ManagedError> {
    let sandbox = effective_sandbox(m, user_allows_network(parsed.root()));
    let entries = managed_keys::entries(m, sandbox.network_access);
    let newline = parsed.newline();

    // 1. Root tables the blocks add keys to: inline ones become dotted keys; other values refuse.
    let mut tables: Vec<&'static str> = Vec::new();
    for t in entries.iter().filter_map(|e| e.table) {
        if !tables.contains(&t) {
            tables.push(t);
        }
    }
    let mut dots = Vec::new();
    for name in &tables {
        match parsed.root().get(name) {
            None | Some(Item::Table(_)) => {}
            Some(Item::Value(Value::InlineTable(_))) => dots.extend(edit::dot_inline(
                parsed.text(),
                parsed.root(),
                name,
                newline,
            )),
            Some(_) => return Err(ManagedError::NotATable((*name).to_string())),
        }
    }
    // Each edit is parsed again for the next step; a step with nothing to change reuses what
    // the previous one parsed (a 10k-line config costs a few ms per parse).
    let dotted;
    let stage: &Parsed = if dots.is_empty() {
        parsed
    } else {
        dotted = Parsed::output(edit::apply(parsed.text(), dots))?;
        &dotted
    };

    // 2. The keys the launcher owns go, wherever and however they are written.
    let paths: Vec<Vec<String>> = managed_keys::removed(m)
        .iter()
        .flat_map(|p| edit::expand(stage.root(), p))
        .collect();
    let removals = edit::remove(stage.text(), stage.root(), &paths)
        .map_err(|e| ManagedError::Output(e.to_string()))?;
    let stripped;
    let stage: &Parsed = if removals.is_empty() {
        stage
    } else {
        stripped = Parsed::output(edit::apply(stage.text(), removals))?;
        &stripped
    };
    let (text, doc) = (stage.text(), &stage.doc);

    // 3. Blocks after the headers of existing tables, then the rest at the top.
    let (inside, at_top): (Vec<&Entry>, Vec<&Entry>) = entries.iter().partition(|e| {
        e.table
            .is_some_and(|t| header_end(text, doc.as_table(), t).is_some())
    });
    let mut inserts: Vec<Edit> = Vec::new();
    for table in &tables {
        let mine: Vec<&Entry> = inside
            .iter()
            .copied()
            .filter(|e| e.table == Some(*table))
            .collect();
        if let Some(at) = header_end(text, doc.as_table(), table) {
            inserts.push(Edit {
                range: at..at,
                with: render_blocks(&mine, false, newline),
            });
        }
    }
    let rest = edit::apply(text, inserts);
    let mut groups: Vec<String> = Vec::new();
    for group in [
        &[MEMORY_FEATURE, MEMORY_CONFIG][..],
        &[MULTI_AGENT][..],
        &[SANDBOX][..],
    ] {
        let mine: Vec<&Entry> = at_top
            .iter()
            .copied()
            .filter(|e| group.contains(&e.marker))
            .collect();
        if !mine.is_empty() {
            groups.push(render_blocks(&mine, true, newline));
        }
    }
    let mut out = groups.join(newline);
    let rest = rest.trim_start_matches(['\n', '\r']);
    if !rest.is_empty() {
        out.push_str(newline);
        out.push_str(rest);
    }
    check(&out, m, &entries)?;
    Ok(Applied { text: out, sandbox })
}

/// Just after the header line of the root table `name`, when it has an explicit `[name]` header.
fn header_end(text: &str, root: &Table, name: &str) -> Option<usize> {
    let t = root.get(name)?.as_table()?;
    if t.is_implicit() || t.is_dotted() {
        return None;
    }
    t.span().map(|s| edit::lines_of(text, s).end)
}

/// Blocks for `entries` (consecutive entries of one marker share a block); dotted from the root
/// when `at_root`, relative to their table otherwise.
fn render_blocks(entries: &[&Entry], at_root: bool, newline: &str) -> String {
    let mut out = String::new();
    let mut open: Option<Marker> = None;
    for e in entries {
        if open != Some(e.marker) {
            if let Some(m) = open {
                out.push_str(m.end);
                out.push_str(newline);
            }
            out.push_str(e.marker.begin);
            out.push_str(newline);
            open = Some(e.marker);
        }
        match (at_root, e.table) {
            (true, Some(t)) => out.push_str(&format!("{t}.{} = {}", e.key, e.value)),
            _ => out.push_str(&format!("{} = {}", e.key, e.value)),
        }
        out.push_str(newline);
    }
    if let Some(m) = open {
        out.push_str(m.end);
        out.push_str(newline);
    }
    out
}

/// The result parses, every managed value is the effective one, and no removed key is left.
///
/// Parsed with the `toml` crate rather than toml_edit: its parser is the one Codex reads
/// config.toml with, and it builds no format-preserving tree (strings borrowed, no decor), so on a
/// 10k-line config it costs ~26M instructions where toml_edit's parse and drop cost ~40M. Both sit
/// on toml_parser and refuse the same documents (duplicate keys, tables defined twice, ...).
fn check(out: &str, m: &ManagedConfig, entries: &[Entry]) -> Result<(), ManagedError> {
    let doc = DeTable::parse(out).map_err(|e| ManagedError::Output(one_line(&e.to_string())))?;
    let root = doc.get_ref();
    for e in entries {
        let table = match e.table {
            None => Some(root),
            Some(t) => root.get(t).and_then(|v| v.get_ref().as_table()),
        };
        let value = table.and_then(|t| t.get(e.key)).map(|v| v.get_ref());
        if !value.is_some_and(|v| is_value(v, &e.value)) {
            return Err(ManagedError::Output(format!(
                "{} is not {}",
                e.key, e.value
            )));
        }
    }
    for pattern in managed_keys::removed(m) {
        let mut paths = Vec::new();
        expand(root, pattern, &mut Vec::new(), &mut paths);
        for path in paths {
            let ours = entries.iter().any(|e| {
                let mut p: Vec<&str> = e.table.into_iter().collect();
                p.push(e.key);
                p == path
            });
            if !ours {
                return Err(ManagedError::Output(format!(
                    "{} is still set",
                    path.join(".")
                )));
            }
        }
    }
    Ok(())
}

/// Whether `value` is the one the rendered TOML `expected` (a boolean or a string) says; any other
/// type is never the managed value.
fn is_value(value: &DeValue, expected: &str) -> bool {
    match (value, DeValue::parse(expected).map(|v| v.into_inner())) {
        (DeValue::Boolean(a), Ok(DeValue::Boolean(b))) => *a == b,
        (DeValue::String(a), Ok(DeValue::String(b))) => *a == b,
        _ => false,
    }
}

/// Every concrete path in `table` that `pattern` names (as [`edit::expand`], on the check's tree).
fn expand<'a>(
    table: &'a DeTable<'_>,
    pattern: &[Seg],
    prefix: &mut Vec<&'a str>,
    out: &mut Vec<Vec<&'a str>>,
) {
    let Some((first, rest)) = pattern.split_first() else {
        return;
    };
    let named: Vec<_> = match first {
        Seg::Key(k) => table.get_key_value(*k).into_iter().collect(),
        Seg::Any => table.iter().collect(),
    };
    for (key, item) in named {
        prefix.push(key.get_ref());
        if rest.is_empty() {
            out.push(prefix.clone());
        } else if let Some(t) = item.get_ref().as_table() {
            expand(t, rest, prefix, out);
        }
        prefix.pop();
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
#[path = "managed_tests.rs"]
mod tests;
