//! Effective config lock (DESIGN §6): what a run actually used, as one canonical TOML text, and the
//! comparison of a replayed run against it. Pure: reading and writing files is the caller's job.
//!
//! Canonical means formatting does not count: keys sorted, inline and dotted tables written as
//! `[table]` sections, comments and whitespace dropped, strings and numbers in one spelling. Two
//! locks are equal exactly when their canonical texts are.

use std::path::{Path, PathBuf};

use toml_edit::{Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table, TableLike, Value};

use crate::policy::{Access, FileSystem, Policy};

pub const VERSION: i64 = 1;
pub const LAUNCHER_VERSION: &str = env!("CARGO_PKG_VERSION");
/// What `codex_version` says when Codex's version could not be found.
pub const UNKNOWN: &str = "unknown";

/// A config lock: the metadata, the effective per-task config and the sandbox decision.
#[derive(Debug, Clone)]
pub struct Lock {
    pub codex_version: String,
    pub launcher_version: String,
    /// Canonical.
    pub config: Table,
    /// Canonical.
    pub sandbox: Table,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LockError {
    #[error("failed to read config lock file {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("failed to parse config lock file {path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("unsupported config lock version {0}; expected 1")]
    Version(String),
    #[error("config lock Codex version mismatch: the lock was written for Codex {expected}, this run uses Codex {actual}; pass --allow-codex-version-mismatch to replay it anyway")]
    CodexVersion { expected: String, actual: String },
    #[error("replayed effective config does not match config lock {path}:\n{diff}")]
    Drift { path: PathBuf, diff: String },
}

/// What the sandbox section records: the backend, the resolved policy and its gaps.
pub fn sandbox_table(backend: &str, policy: &Policy, not_enforced: &[String]) -> Table {
    let mut t = Table::new();
    t.insert("backend", toml_edit::value(backend));
    let network = if policy.network_restricted() {
        "restricted"
    } else {
        "enabled"
    };
    t.insert("network", toml_edit::value(network));
    let paths = |list: Vec<PathBuf>| {
        let mut a = Array::new();
        for p in list {
            a.push(p.display().to_string());
        }
        toml_edit::value(a)
    };
    match &policy.file_system {
        FileSystem::Unrestricted => {
            t.insert("filesystem", toml_edit::value("unrestricted"));
        }
        FileSystem::Restricted(rules) => {
            t.insert("filesystem", toml_edit::value("restricted"));
            t.insert("platform_read_roots", toml_edit::value(rules.minimal));
            t.insert("readable_roots", paths(rules.paths_with(Access::Read)));
            let writable = rules.paths_with(Access::Write);
            let protected = writable
                .iter()
                .flat_map(|root| {
                    crate::backend::bwrap::PROTECTED_NAMES
                        .iter()
                        .map(move |n| root.join(n))
                })
                .collect();
            t.insert("writable_roots", paths(writable));
            t.insert("protected_paths", paths(protected));
            let mut denied: Vec<PathBuf> = rules.paths_with(Access::Deny);
            denied.extend(rules.deny_globs.iter().map(PathBuf::from));
            t.insert("denied", paths(denied));
        }
    }
    let mut gaps = Array::new();
    for g in not_enforced {
        gaps.push(g.as_str());
    }
    t.insert("not_enforced", toml_edit::value(gaps));
    canonical_table_like(&t)
}

impl Lock {
    /// The lock for an effective config text (as written to the per-task home).
    pub fn new(codex_version: &str, config_text: &str, sandbox: Table) -> Result<Self, String> {
        let doc: DocumentMut = config_text.parse().map_err(|e| format!("{e}"))?;
        Ok(Self {
            codex_version: codex_version.to_string(),
            launcher_version: LAUNCHER_VERSION.to_string(),
            config: canonical_table_like(doc.as_table()),
            sandbox: canonical_table_like(&sandbox),
        })
    }

    /// Reads a lock's text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, LockError> {
        let parse_error = |reason: String| LockError::Parse {
            path: path.to_path_buf(),
            reason,
        };
        let doc: DocumentMut = text
            .parse()
            .map_err(|e: toml_edit::TomlError| parse_error(e.message().to_string()))?;
        let root = doc.as_table();
        match root.get("version") {
            None => return Err(parse_error("missing `version`".into())),
            Some(v) if v.as_integer() == Some(VERSION) => {}
            Some(v) => {
                let shown = match v.as_value() {
                    Some(Value::String(s)) => s.value().clone(),
                    Some(other) => other.to_string().trim().to_string(),
                    None => "(a table)".into(),
                };
                return Err(LockError::Version(shown));
            }
        }
        for (key, _) in root.iter() {
            if ![
                "version",
                "codex_version",
                "launcher_version",
                "config",
                "sandbox",
            ]
            .contains(&key)
            {
                return Err(parse_error(format!("unknown key `{key}`")));
            }
        }
        let string = |key: &str| {
            root.get(key)
                .and_then(Item::as_str)
                .map(str::to_string)
                .ok_or_else(|| parse_error(format!("`{key}` must be a string")))
        };
        let table = |key: &str| {
            root.get(key)
                .and_then(Item::as_table_like)
                .map(canonical_table_like)
                .ok_or_else(|| parse_error(format!("`[{key}]` must be a table")))
        };
        Ok(Self {
            codex_version: string("codex_version")?,
            launcher_version: string("launcher_version")?,
            config: table("config")?,
            sandbox: table("sandbox")?,
        })
    }

    /// The canonical lock text.
    pub fn render(&self) -> String {
        let mut doc = DocumentMut::new();
        doc.insert("version", toml_edit::value(VERSION));
        doc.insert("codex_version", toml_edit::value(&self.codex_version));
        doc.insert("launcher_version", toml_edit::value(&self.launcher_version));
        for (key, table) in [("config", &self.config), ("sandbox", &self.sandbox)] {
            let mut t = table.clone();
            t.set_implicit(false);
            doc.insert(key, Item::Table(t));
        }
        doc.to_string()
    }

    /// The config as a standalone config.toml (what a replay starts from).
    pub fn config_text(&self) -> String {
        let mut doc = DocumentMut::new();
        *doc.as_table_mut() = self.config.clone();
        doc.to_string()
    }
}

/// Checks a replayed run (`actual`) against the lock (`expected`): the Codex version first (unless
/// a mismatch is allowed), then everything else, as a unified diff of the canonical texts.
pub fn verify(
    expected: &Lock,
    actual: &Lock,
    path: &Path,
    allow_codex_version_mismatch: bool,
) -> Result<(), LockError> {
    let mut actual = actual.clone();
    if expected.codex_version != actual.codex_version {
        if !allow_codex_version_mismatch {
            return Err(LockError::CodexVersion {
                expected: expected.codex_version.clone(),
                actual: actual.codex_version,
            });
        }
        actual.codex_version = expected.codex_version.clone();
    }
    let (want, have) = (expected.render(), actual.render());
    if want == have {
        return Ok(());
    }
    let diff = similar::TextDiff::from_lines(&want, &have)
        .unified_diff()
        .context_radius(2)
        .header("expected", "actual")
        .to_string();
    Err(LockError::Drift {
        path: path.to_path_buf(),
        diff,
    })
}

/// Keys sorted, every table a `[section]`, values respelled; an empty table keeps its header.
fn canonical_table_like(src: &dyn TableLike) -> Table {
    let mut entries: Vec<(&str, &Item)> = src.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = Table::new();
    for (key, item) in entries {
        let item = match item {
            Item::None => continue,
            Item::Table(t) => Item::Table(canonical_table_like(t)),
            Item::Value(Value::InlineTable(t)) => Item::Table(canonical_table_like(t)),
            Item::ArrayOfTables(array) => {
                let mut a = ArrayOfTables::new();
                for t in array.iter() {
                    let mut c = canonical_table_like(t);
                    c.set_implicit(false);
                    a.push(c);
                }
                Item::ArrayOfTables(a)
            }
            Item::Value(v) => Item::Value(canonical_value(v)),
        };
        out.insert(key, item);
    }
    let only_sections = out
        .iter()
        .all(|(_, i)| i.is_table() || i.is_array_of_tables());
    out.set_implicit(!out.is_empty() && only_sections);
    out
}

fn canonical_value(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::from(s.value().as_str()),
        Value::Integer(i) => Value::from(*i.value()),
        Value::Float(f) => Value::from(*f.value()),
        Value::Boolean(b) => Value::from(*b.value()),
        Value::Datetime(d) => Value::from(*d.value()),
        Value::Array(a) => {
            // One element per line, so a diff names the element that changed.
            let mut out = Array::new();
            for x in a.iter() {
                out.push_formatted(canonical_value(x).decorated("\n    ", ""));
            }
            out.set_trailing_comma(!out.is_empty());
            out.set_trailing(if out.is_empty() { "" } else { "\n" });
            Value::Array(out)
        }
        Value::InlineTable(t) => {
            let mut entries: Vec<(&str, &Value)> = t.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let mut out = InlineTable::new();
            for (k, x) in entries {
                out.insert(k, canonical_value(x));
            }
            Value::InlineTable(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(config: &str) -> Lock {
        let mut sandbox = Table::new();
        sandbox.insert("backend", toml_edit::value("bwrap-system"));
        Lock::new("0.169.0", config, sandbox).unwrap()
    }

    #[test]
    fn formatting_does_not_count() {
        let a = lock(
            "# user comment\nmodel = 'gpt-5'\n[features]\nmulti_agent = false\n[tui]\nx = { b = 2, a = 1 }\n",
        );
        let b =
            lock("features.multi_agent = false\ntui.x.a = 1\ntui.x.b = 0x2\nmodel = \"gpt-5\"\n");
        assert_eq!(a.render(), b.render());
        insta::assert_snapshot!(a.render(), @r#"
        version = 1
        codex_version = "0.169.0"
        launcher_version = "0.1.0"

        [config]
        model = "gpt-5"

        [config.features]
        multi_agent = false

        [config.tui.x]
        a = 1
        b = 2

        [sandbox]
        backend = "bwrap-system"
        "#);
    }

    #[test]
    fn render_then_parse_round_trips_and_keeps_empty_tables() {
        let a = lock("[empty]\n[[servers]]\nname = \"a\"\n[[servers]]\n");
        let text = a.render();
        let back = Lock::parse(&text, Path::new("x.toml")).unwrap();
        assert_eq!(back.render(), text);
        assert!(text.contains("[config.empty]\n"), "{text}");
        assert_eq!(
            back.config_text().parse::<DocumentMut>().unwrap()["servers"]
                .as_array_of_tables()
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn drift_is_a_unified_diff_naming_the_key() {
        let expected = lock("model = \"gpt-5\"\na = 1\nb = 2\nc = 3\nd = 4\n");
        let actual = lock("model = \"other\"\na = 1\nb = 2\nc = 3\nd = 4\n");
        let e = verify(&expected, &actual, Path::new("/l.toml"), false).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("replayed effective config does not match config lock /l.toml:\n--- expected\n+++ actual\n@@"),
            "{text}"
        );
        assert!(
            text.contains("\n c = 3\n d = 4\n-model = \"gpt-5\"\n+model = \"other\"\n"),
            "{text}"
        );
        assert!(!text.contains("a = 1"), "context radius 2: {text}");
        assert_eq!(
            verify(&expected, &expected.clone(), Path::new("/l"), false),
            Ok(())
        );
    }

    #[test]
    fn codex_version_is_checked_first_and_can_be_allowed() {
        let expected = lock("model = \"a\"\n");
        let mut actual = expected.clone();
        actual.codex_version = "0.170.0".into();
        let e = verify(&expected, &actual, Path::new("/l"), false).unwrap_err();
        assert!(matches!(e, LockError::CodexVersion { .. }));
        assert!(e.to_string().contains("--allow-codex-version-mismatch"));
        assert_eq!(verify(&expected, &actual, Path::new("/l"), true), Ok(()));
        actual.config.insert("model", toml_edit::value("b"));
        let e = verify(&expected, &actual, Path::new("/l"), true).unwrap_err();
        assert!(
            matches!(e, LockError::Drift { .. }),
            "only the version is tolerated"
        );
    }

    #[test]
    fn bad_locks_get_their_error_class() {
        let p = Path::new("/l.toml");
        let v2 =
            "version = 2\ncodex_version = \"x\"\nlauncher_version = \"y\"\n[config]\n[sandbox]\n";
        assert_eq!(
            Lock::parse(v2, p).unwrap_err().to_string(),
            "unsupported config lock version 2; expected 1"
        );
        let e = Lock::parse("garbage = = =", p).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("failed to parse config lock file /l.toml: "),
            "{e}"
        );
        for text in [
            "codex_version = \"x\"\n",
            "version = 1\ncodex_version = \"x\"\nlauncher_version = \"y\"\n[sandbox]\n",
            "version = 1\ncodex_version = \"x\"\nlauncher_version = \"y\"\nextra = 1\n[config]\n[sandbox]\n",
        ] {
            assert!(matches!(Lock::parse(text, p), Err(LockError::Parse { .. })), "{text}");
        }
    }
}
