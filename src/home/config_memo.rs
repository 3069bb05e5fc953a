//! The last per-task config decided for one home, kept in the launcher's state dir: a prepare whose
//! inputs are byte for byte the same (shared config, every option, this very launcher binary) takes
//! its result from here instead of parsing, editing and re-checking a config that can run to
//! thousands of lines.
//!
//! Only a complete, checked result is ever recorded, sealed with a secret no sandboxed task can
//! read ([`memo_secret`]), in the launcher's own state dir. A record that is not a private file of
//! ours, is for other inputs or does not verify is a miss: the worst it costs is a parse.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::inner_sandbox::WindowsSandbox;
use super::{home_lock, memo_secret, PrepareOptions};

/// What the decision took from the user's (overridden) config besides the text it produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    pub windows: WindowsSandbox,
    /// `sandbox_workspace_write.network_access` as the user set it.
    pub user_allows_network: bool,
    /// The file-reference keys and their values, as written.
    pub references: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    key: String,
    pub facts: Facts,
    /// The per-task config.toml decided.
    pub config: String,
    /// HMAC of the rest under the user's keyring secret ([`memo_secret`]): a record a task
    /// wrote (Landlock cannot keep a `cd ~` workspace out of the state dir) does not verify.
    seal: String,
}

impl Record {
    /// A sealed record; none without the keyring secret.
    pub fn new(key: String, facts: Facts, config: String) -> Option<Self> {
        let secret = memo_secret::secret()?;
        let facts_json = serde_json::to_vec(&facts).ok()?;
        let seal = memo_secret::seal(&secret, &[key.as_bytes(), &facts_json, config.as_bytes()]);
        Some(Self {
            key,
            facts,
            config,
            seal,
        })
    }

    fn verifies(&self) -> bool {
        let (Some(secret), Ok(facts_json)) =
            (memo_secret::secret(), serde_json::to_vec(&self.facts))
        else {
            return false;
        };
        memo_secret::verify(
            &secret,
            &[self.key.as_bytes(), &facts_json, self.config.as_bytes()],
            &self.seal,
        )
    }
}

/// Names every input of the decision: this launcher binary (a rebuild may decide differently),
/// every prepare option and the config text.
pub fn key(opts: &PrepareOptions, config_text: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(env!("CARGO_PKG_VERSION"));
    if let Ok(meta) = std::env::current_exe().and_then(std::fs::metadata) {
        use std::os::unix::fs::MetadataExt;
        h.update(format!(
            "\0{}:{}:{}:{}.{}",
            meta.dev(),
            meta.ino(),
            meta.len(),
            meta.mtime(),
            meta.mtime_nsec()
        ));
    }
    h.update(format!("\0{opts:?}\0"));
    match config_text {
        Some(text) => {
            h.update([1]);
            h.update(text);
        }
        None => h.update([0]),
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The largest record read; a config that would not fit is decided afresh each time.
const MAX_RECORD: u64 = 32 << 20;

fn file_name(stem: &str) -> String {
    format!("{stem}.config-memo.json")
}

/// The record for `home` when it was made for `key`.
pub fn load(home: &Path, key: &str) -> Option<Record> {
    let (dir, stem) = home_lock::open_state_dir(home)?;
    let bytes = dir.read_private_file(file_name(&stem), MAX_RECORD).ok()??;
    let record: Record = serde_json::from_slice(&bytes).ok()?;
    (record.key == key && record.verifies()).then_some(record)
}

/// Records `record` for `home`, replacing the last one; a failure only costs a later parse.
pub fn store(home: &Path, record: &Record) {
    let result = home_lock::state_dir(home).and_then(|(dir, stem)| {
        let bytes = serde_json::to_vec(record).unwrap_or_default();
        dir.write_file(file_name(&stem), &bytes, 0o600)
    });
    if let Err(e) = result {
        tracing::debug!(error = %e, "config memo not recorded");
    }
}
